"""TestingServer and the conftest fixtures against the real zkpy server."""

from __future__ import annotations

from kazoo.client import KazooClient

from zkpy.testing import TestingServer


def test_fixtures(zk_server, kazoo_client):
    assert zk_server.four_letter_word("ruok") == "imok"
    assert zk_server.is_running
    kazoo_client.create("/fixture", b"data")
    assert kazoo_client.get("/fixture")[0] == b"data"


def test_restart_keeps_data_and_port(tmp_path):
    with TestingServer(temp_dir=tmp_path, force_sync=False) as server:
        port, pid = server.port, server.pid
        client = KazooClient(hosts=server.connect_string, timeout=10.0)
        client.start(timeout=15.0)
        try:
            client.create("/kept", b"v1")
        finally:
            client.stop()
            client.close()

        server.restart()
        assert server.port == port and server.pid != pid

        client = KazooClient(hosts=server.connect_string, timeout=10.0)
        client.start(timeout=15.0)
        try:
            assert client.get("/kept")[0] == b"v1"
        finally:
            client.stop()
            client.close()
        pid = server.pid
    assert server.pid is None
    assert (tmp_path / "data" / "version-2").is_dir()
