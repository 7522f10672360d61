"""Hostile clients on the client port.

* A fuzzer (hypothesis, tests/fault/client_fuzz.py) over the connect
  handshake and every request decoder, against a real server over
  sockets: no escaped exception, no crash, no effect on a control session.
  A shorter run is in the normal tier (tests/integration/test_client_fuzz.py).
* A client that pipelines reads of a large node and never reads the
  replies cannot grow the server's memory without bound: its outgoing
  buffer is capped, then the connection is dropped.
* Connections beyond maxClientCnxns from one address are refused while
  the admitted ones stay served.
"""

from __future__ import annotations

import socket
import time

import psutil
import pytest
from hypothesis import given

from zkpy.defs import OpCode
from zkpy.jute.archive import OutputArchive
from zkpy.jute.records import GetDataRequest, RequestHeader
from zkpy.testing import TestingServer, wait_until

from tests.integration.wire import ConnectionClosed, WireClient

from .client_fuzz import KAZOO_USES_RANDOM, FuzzTarget, fuzz_settings, handshakes, request_frames
from .workloads import kazoo_client

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    with TestingServer(temp_dir=tmp_path_factory.mktemp("fuzz"), jvm_flags=[FuzzTarget.super_digest_flag()],
                       config={"maxClientCnxns": 0}) as server:
        target = FuzzTarget(server)
        try:
            yield target
        finally:
            target.close()


@KAZOO_USES_RANDOM
def test_fuzzed_handshakes(fuzz_target):
    fuzz_target.reset_counts()

    @fuzz_settings(2000)
    @given(handshakes())
    def fuzz(data):
        fuzz_target.send_handshake(data)

    fuzz()
    fuzz_target.check()
    print(f"handshake fuzz: {fuzz_target.examples} connections")


@KAZOO_USES_RANDOM
def test_fuzzed_requests(fuzz_target):
    fuzz_target.reset_counts()

    @fuzz_settings(3000)
    @given(request_frames())
    def fuzz(payloads):
        fuzz_target.send_requests(payloads)

    fuzz()
    fuzz_target.check()
    print(f"request fuzz: {fuzz_target.examples} sessions, {fuzz_target.replies} replies read, "
          f"{fuzz_target.closed_by_server} sessions closed by the server")


def test_a_client_that_never_reads_is_disconnected_and_memory_stays_bounded(tmp_path):
    big = b"x" * 1_000_000
    with TestingServer(temp_dir=tmp_path) as server, kazoo_client(server.connect_string) as control:
        control.create("/big", big)
        process = psutil.Process(server.pid)
        baseline = process.memory_info().rss
        hostile = WireClient(server.host, server.port)
        hostile.handshake(timeout_ms=30000)
        hostile.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        out = OutputArchive()
        RequestHeader(1, OpCode.getData).serialize(out)
        GetDataRequest("/big", False).serialize(out)
        frames = (len(out.buf).to_bytes(4, "big") + bytes(out.buf)) * 100
        hostile.sock.settimeout(0.2)
        peak, sent, dropped = baseline, 0, None
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                try:
                    hostile.sock.sendall(frames)
                    sent += 100
                except socket.timeout:
                    pass  # the server is not reading just now
                except OSError as e:
                    dropped = e
                    break
                peak = max(peak, process.memory_info().rss)
                # Never let a regression eat the machine: stop well before that.
                assert peak - baseline < 300 << 20, f"server RSS grew by {(peak - baseline) >> 20} MB"
        finally:
            hostile.close()
        grown = (peak - baseline) >> 20
        print(f"never-reading client: {sent} getData of 1 MB sent, dropped by the server ({dropped!r}); "
              f"server RSS grew by at most {grown} MB")
        assert dropped is not None, f"the server still had the connection after {sent} unread 1 MB replies"
        assert grown < 100
        assert "bytes of replies not read" in server.log_tail(200)
        # Only that connection went: the control session goes on, and so could the hostile one's session.
        assert control.get("/big")[0] == big
        with WireClient(server.host, server.port) as again:
            resumed, _ = again.handshake(session_id=hostile.session_id, passwd=hostile.passwd, timeout_ms=30000)
            assert resumed.sessionId == hostile.session_id


def test_connections_beyond_max_client_cnxns_are_refused(tmp_path):
    """Java's default, 60 from one address: the 61st is closed at once, the
    60 stay served, and a freed slot can be taken again."""
    with TestingServer(temp_dir=tmp_path) as server:
        clients = []
        try:
            for _ in range(60):
                client = WireClient(server.host, server.port)
                clients.append(client)
                client.handshake()
            with socket.create_connection((server.host, server.port), timeout=5) as extra:
                extra.settimeout(5)
                try:
                    assert extra.recv(1) == b""
                except ConnectionResetError:
                    pass
            for client in clients[::7]:
                assert client.exists("/")[0].err == 0
            clients.pop().close()

            def connect_again() -> bool:
                client = WireClient(server.host, server.port)
                try:
                    client.handshake()
                except (ConnectionClosed, OSError):
                    client.close()
                    return False
                clients.append(client)
                return True

            wait_until(connect_again, 5, "a new connection in the freed slot")
        finally:
            for client in clients:
                client.close()
        assert "Too many connections from 127.0.0.1 - max is 60" in server.log_tail(300)

