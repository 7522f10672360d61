"""Shared pytest fixtures: a real zkpy server process and a kazoo client."""

from __future__ import annotations

import pytest

from zkpy.testing import TestingServer


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory):
    """A started standalone zkpy server (one per test module).

    Its zoo.cfg, dataDir and server.log live in a pytest temp dir, which
    pytest keeps after the run for post-mortems.
    """
    server = TestingServer(temp_dir=tmp_path_factory.mktemp("zk_server"))
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def kazoo_client(zk_server):
    """A connected KazooClient on ``zk_server``, stopped and closed after the test."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zk_server.connect_string, timeout=10.0)
    client.start(timeout=15.0)
    try:
        yield client
    finally:
        try:
            client.stop()
        finally:
            client.close()
