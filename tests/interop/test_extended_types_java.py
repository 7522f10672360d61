"""Container and TTL nodes cross between Java ZooKeeper 3.8.0 and zkpy in the data directory.

Neither kind is marked in the txn or the snapshot other than by the node's
ephemeralOwner (ZK_SPEC.md §2.8): Long.MIN_VALUE for a container,
0xFF00000000000000 | ttl for a TTL node, while clients see 0 for both. So
each server writes a snapshot holding one container and one TTL node (each
kept alive by a child), the snapshot is read raw to check the encoding, and
the other server, started on that data directory, must treat them as what
they are: its ContainerManager deletes each once its last child goes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.integration import kazoo_ext as kx
from zkpy.defs import CONTAINER_EPHEMERAL_OWNER, TTL_OWNER_MASK
from zkpy.server.data_tree import DataTree
from zkpy.server.persistence.file_snap import FileSnap
from zkpy.testing import TestingServer

from .java_zk import JavaZooKeeperServer

AVAILABLE, REASON = JavaZooKeeperServer.available()
pytestmark = [pytest.mark.interop, pytest.mark.skipif(not AVAILABLE, reason=REASON)]

FLAGS = ["-Dzookeeper.extendedTypesEnabled=true", "-Dznode.container.checkIntervalMs=100"]
TTL_MS = 100
# snapCount 2: a snapshot every few txns, so the padding writes below are
# followed by one that holds the nodes.
CONF = {"snapCount": 2}


def make_server(kind: str, root: Path, data: Path):
    if kind == "java":
        return JavaZooKeeperServer({**CONF, "dataDir": str(data)}, temp_dir=root / "java", jvm_flags=FLAGS)
    return TestingServer(temp_dir=root / "zkpy", data_dir=data, config=CONF, jvm_flags=FLAGS,
                         force_sync=False)


def session(server) -> KazooClient:
    zk = KazooClient(hosts=server.connect_string, timeout=10)
    zk.start(timeout=20)
    return zk


def write_nodes(server, prefix: str) -> None:
    zk = session(server)
    try:
        kx.create_container(zk, f"/{prefix}-container", b"c")
        zk.create(f"/{prefix}-container/kid")
        kx.create_ttl(zk, f"/{prefix}-ttl", b"t", ttl=TTL_MS)
        zk.create(f"/{prefix}-ttl/kid")
        for i in range(6):
            zk.create(f"/{prefix}-pad{i}")
        for path in (f"/{prefix}-container", f"/{prefix}-ttl"):
            assert zk.exists(path).ephemeralOwner == 0  # what clients see
    finally:
        zk.stop()
        zk.close()


def snapshot_owners(data: Path, prefix: str) -> tuple[int, int]:
    tree, sessions = DataTree(), {}
    assert FileSnap(data / "version-2").deserialize(tree, sessions) > 0
    return (tree.get_node(f"/{prefix}-container").ephemeral_owner,
            tree.get_node(f"/{prefix}-ttl").ephemeral_owner)


def wait_gone(zk: KazooClient, path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while zk.exists(path) is not None:
        assert time.monotonic() < deadline, f"{path} was never deleted"
        time.sleep(0.05)


@pytest.mark.parametrize("writer, reader", [("java", "zkpy"), ("zkpy", "java")])
def test_container_and_ttl_nodes_survive_the_other_server(tmp_path, writer, reader):
    data = tmp_path / "data"
    with make_server(writer, tmp_path, data) as server:  # started by the with
        write_nodes(server, writer)
    assert snapshot_owners(data, writer) == (CONTAINER_EPHEMERAL_OWNER, TTL_OWNER_MASK | TTL_MS)
    with make_server(reader, tmp_path, data) as server:
        zk = session(server)
        try:
            time.sleep(0.5)  # several container checks: with their kids, both stay
            for kind in ("container", "ttl"):
                path = f"/{writer}-{kind}"
                stat = zk.exists(path)
                assert stat is not None and stat.ephemeralOwner == 0, (path, stat)
                zk.delete(f"{path}/kid")
                wait_gone(zk, path)
            assert zk.exists(f"/{writer}-pad0") is not None  # plain nodes are left alone
        finally:
            zk.stop()
            zk.close()
