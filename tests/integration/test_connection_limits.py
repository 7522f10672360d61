"""Connection limits: zookeeper.maxCnxns (all clients) and maxClientCnxns
(per IP) refuse extra connections and leave the others served."""

from __future__ import annotations

import socket

import pytest

from zkpy.testing import TestingServer

from .wire import WireClient


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    with TestingServer(temp_dir=tmp_path_factory.mktemp("limits"),
                       config={"maxCnxns": 2, "maxClientCnxns": 0}) as server:
        server.start()
        yield server


def _refused(host: str, port: int) -> bool:
    """Whether the server closes a new connection before any handshake."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.settimeout(5)
        try:
            return sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def test_total_connection_limit(limited_server):
    host, port = limited_server.host, limited_server.port
    with WireClient(host, port) as first, WireClient(host, port) as second:
        first.handshake()
        second.handshake()
        assert _refused(host, port)
        # The two admitted sessions keep working.
        for client in (first, second):
            header, _, _ = client.create(f"/limit-{client.session_id:x}", b"x")
            assert header.err == 0
    # Once they are gone, a new client is admitted again.
    with WireClient(host, port) as third:
        third.handshake()
        assert third.session_id != 0


def test_per_ip_limit(tmp_path):
    with TestingServer(temp_dir=tmp_path, config={"maxClientCnxns": 1}) as server:
        server.start()
        with WireClient(server.host, server.port) as first:
            first.handshake()
            assert _refused(server.host, server.port)
            header, _, _ = first.create("/still-served", b"")
            assert header.err == 0
