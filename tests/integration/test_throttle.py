"""globalOutstandingLimit: the server slows clients down, it never drops requests.

Java: ``zookeeper.globalOutstandingLimit`` (zoo.cfg ``globalOutstandingLimit``)
makes the server stop reading from clients while too many requests are in
flight. With a limit of 10 and thousands of pipelined requests from several
connections, every request must still be answered, each connection's
replies in its request order, and a read must see the write that its own
session sent just before it.
"""

from __future__ import annotations

import threading

import pytest

from zkpy.defs import OpCode
from zkpy.jute.records import (
    OPEN_ACL_UNSAFE, CreateRequest, CreateResponse, GetDataRequest, GetDataResponse, SyncRequest,
)

from . import wire
from .servers import kazoo_session, new_server

CONNECTIONS = 4
PAIRS = 300  # create + getData per pair


@pytest.fixture
def throttled_server(tmp_path):
    server = new_server(temp_dir=tmp_path, config={"globalOutstandingLimit": 10})
    try:
        yield server
    finally:
        server.close()


def test_pipelined_requests_are_all_answered_in_order(throttled_server):
    with kazoo_session(throttled_server) as zk:
        zk.create("/t")
    clients = [wire.connect(throttled_server, timeout_ms=4000) for _ in range(CONNECTIONS)]
    errors: list[BaseException] = []
    results: dict[int, list] = {}

    def send_all(k: int, client: wire.WireClient) -> None:
        try:
            for i in range(PAIRS):
                path = f"/t/c{k}-{i:04d}"
                client.send_request(OpCode.create, CreateRequest(path, path.encode(), OPEN_ACL_UNSAFE, 0))
                client.send_request(OpCode.getData, GetDataRequest(path, False))
            client.send_request(OpCode.sync, SyncRequest("/t"))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def read_all(k: int, client: wire.WireClient) -> None:
        got = []
        try:
            for _ in range(2 * PAIRS + 1):
                header, inp = client.read_reply()
                body = None
                if header.err == 0 and header.xid <= 2 * PAIRS:
                    body = (CreateResponse if header.xid % 2 else GetDataResponse).deserialize(inp)
                got.append((header, body))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        results[k] = got

    try:
        threads = []
        for k, client in enumerate(clients):
            threads.append(threading.Thread(target=send_all, args=(k, client), name=f"send-{k}"))
            threads.append(threading.Thread(target=read_all, args=(k, client), name=f"read-{k}"))
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "replies stopped coming"
        assert not errors, errors
        for k in range(CONNECTIONS):
            got = results[k]
            assert [h.xid for h, _ in got] == list(range(1, 2 * PAIRS + 2)), f"connection {k}: order"
            assert [h.err for h, _ in got] == [0] * (2 * PAIRS + 1), f"connection {k}: errors"
            zxids = [h.zxid for h, _ in got]
            assert zxids == sorted(zxids)
            for i in range(PAIRS):
                path = f"/t/c{k}-{i:04d}"
                created, read = got[2 * i][1], got[2 * i + 1][1]
                assert created.path == path
                assert read.data == path.encode() and read.stat.czxid == got[2 * i][0].zxid
    finally:
        for client in clients:
            client.close()
    with kazoo_session(throttled_server) as zk:
        assert len(zk.get_children("/t")) == CONNECTIONS * PAIRS
