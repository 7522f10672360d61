"""Fixtures of the example suite: kazoo clients on whatever the zkpy plugin
started for the test (``zk_connect_string``: the standalone ``zk_server``,
or the ``zk_cluster`` of a test marked ``@pytest.mark.zk_cluster``).

Nothing else is needed: ``pip install zkpy-server kazoo`` brings the plugin,
which pytest loads by itself.
"""

import pytest
from kazoo.client import KazooClient


@pytest.fixture
def make_client(zk_connect_string):
    """A factory of connected kazoo clients, all closed after the test."""
    clients = []

    def make(**kwargs):
        client = KazooClient(hosts=zk_connect_string, timeout=kwargs.pop("timeout", 10.0), **kwargs)
        client.start(timeout=15.0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()
        client.close()


@pytest.fixture
def zk(make_client):
    """One connected kazoo client."""
    return make_client()
