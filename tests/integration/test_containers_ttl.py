"""Container and TTL nodes, and the ContainerManager that removes them (ZK_SPEC.md §2.8).

The module's server runs with ``zookeeper.extendedTypesEnabled=true`` and a
container check every 100 ms (``znode.container.checkIntervalMs``), so a
node due for deletion is gone within a fraction of a second. kazoo cannot
create these node types; ``kazoo_ext`` sends the requests on a kazoo
session. Runs against Java 3.8.0 too (``ZKPY_IT_TARGET=java``).
"""

from __future__ import annotations

import time

import pytest
from kazoo.exceptions import BadArgumentsError, NoNodeError, NotEmptyError, UnimplementedError

from . import kazoo_ext as kx
from .servers import kazoo_session, new_server

CHECK_INTERVAL_MS = 100
FLAGS = ["-Dzookeeper.extendedTypesEnabled=true", f"-Dznode.container.checkIntervalMs={CHECK_INTERVAL_MS}"]
CONTAINER_OWNER = -0x8000000000000000


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory):
    server = new_server(jvm_flags=FLAGS, force_sync=False, temp_dir=tmp_path_factory.mktemp("zk_server"))
    try:
        yield server
    finally:
        server.close()


def wait_gone(zk, path: str, timeout: float = 5.0) -> float:
    """Seconds until ``path`` disappears; fails after ``timeout``."""
    start = time.monotonic()
    while zk.exists(path) is not None:
        assert time.monotonic() - start < timeout, f"{path} still exists after {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - start


def stays(zk, path: str, seconds: float = 5 * CHECK_INTERVAL_MS / 1000) -> bool:
    """True if ``path`` still exists after several container checks."""
    time.sleep(seconds)
    return zk.exists(path) is not None


# -- containers --------------------------------------------------------------------------------


def test_container_goes_when_its_last_child_goes(kazoo_client):
    zk = kazoo_client
    path, stat = kx.create_container(zk, "/c1", b"data")
    assert path == "/c1"
    assert (stat.ephemeralOwner, stat.dataLength, stat.cversion) == (0, 4, 0)
    zk.create("/c1/a")
    zk.create("/c1/b", ephemeral=True)
    zk.delete("/c1/a")
    assert stays(zk, "/c1"), "a container with a child was deleted"
    zk.delete("/c1/b")
    wait_gone(zk, "/c1")


def test_unused_container_stays(kazoo_client):
    """Only a container that has had children is deleted (persisted cversion > 0)."""
    zk = kazoo_client
    kx.create_container(zk, "/c2")
    assert stays(zk, "/c2")
    zk.delete("/c2")


def test_container_watchers_see_the_delete(kazoo_client):
    zk = kazoo_client
    kx.create_container(zk, "/c3")
    zk.create("/c3/x")
    events = []
    zk.exists("/c3", watch=events.append)
    zk.delete("/c3/x")
    wait_gone(zk, "/c3")
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(e.type, e.path) for e in events] == [("DELETED", "/c3")]


def test_container_in_multi_and_create_flags(kazoo_client):
    zk = kazoo_client
    # In a multi the CONTAINER flag makes a createContainer (a create2-style result).
    results = kx.multi(zk, kx.Create("/c4", b"", kx.OPEN_ACL_UNSAFE, kx.CONTAINER),
                       kx.Create("/c4/kid", b"", kx.OPEN_ACL_UNSAFE, 0),
                       kx.Delete("/c4/kid", -1))
    assert results[0][0] == "/c4" and results[1:] == ["/c4/kid", True]
    wait_gone(zk, "/c4")
    # create2 (op 15) with the CONTAINER flag makes a plain persistent node.
    path, _ = kx.create2(zk, "/c5", b"", kx.CONTAINER)
    zk.create("/c5/kid")
    zk.delete("/c5/kid")
    assert stays(zk, "/c5")
    zk.delete("/c5")


def test_container_cannot_be_deleted_while_it_has_children(kazoo_client):
    zk = kazoo_client
    kx.create_container(zk, "/c6")
    zk.create("/c6/kid")
    with pytest.raises(NotEmptyError):
        zk.delete("/c6")
    zk.delete("/c6/kid")
    wait_gone(zk, "/c6")
    with pytest.raises(NoNodeError):
        zk.delete("/c6")


def test_nested_containers_go_bottom_up(kazoo_client):
    zk = kazoo_client
    kx.create_container(zk, "/c7")
    kx.create_container(zk, "/c7/inner")
    zk.create("/c7/inner/leaf")
    zk.delete("/c7/inner/leaf")
    wait_gone(zk, "/c7/inner")
    wait_gone(zk, "/c7")  # its last child (the inner container) went


# -- TTL nodes -----------------------------------------------------------------------------------


def test_ttl_node_expires(kazoo_client):
    zk = kazoo_client
    path, stat = kx.create_ttl(zk, "/t1", b"v", ttl=300)
    assert path == "/t1" and stat.ephemeralOwner == 0 and stat.dataLength == 1
    assert zk.get("/t1")[0] == b"v"
    waited = wait_gone(zk, "/t1")
    assert waited > 0.2  # not before its ttl (300 ms after mtime)


def test_ttl_counts_from_the_last_modification(kazoo_client):
    zk = kazoo_client
    kx.create_ttl(zk, "/t2", b"", ttl=1200)
    for _ in range(5):  # 1.5 s in all, each set well inside the ttl
        time.sleep(0.3)
        zk.set("/t2", b"touch")
    assert zk.exists("/t2") is not None
    wait_gone(zk, "/t2")


def test_ttl_node_with_children_stays(kazoo_client):
    zk = kazoo_client
    kx.create_ttl(zk, "/t3", b"", ttl=100)
    zk.create("/t3/kid")
    assert stays(zk, "/t3")
    zk.delete("/t3/kid")
    wait_gone(zk, "/t3")


def test_sequential_ttl_node(kazoo_client):
    zk = kazoo_client
    zk.create("/tseq")
    path, _ = kx.create_ttl(zk, "/tseq/n-", b"", ttl=200, sequence=True)
    assert path == "/tseq/n-0000000000"
    wait_gone(zk, path)
    assert zk.exists("/tseq") is not None  # a plain parent is never touched
    zk.delete("/tseq")


def test_ttl_validation(kazoo_client):
    zk = kazoo_client
    max_ttl = 0xFFFFFFFFFF
    for ttl in (0, -5, max_ttl + 1):
        with pytest.raises(BadArgumentsError):
            kx.create_ttl(zk, "/tbad", b"", ttl=ttl)
    # createTTL without TTL flags, and TTL flags on a plain create2.
    with pytest.raises(BadArgumentsError):
        kx.call(zk, kx.CreateTTL("/tbad", b"", kx.OPEN_ACL_UNSAFE, 0, 1000))
    with pytest.raises(BadArgumentsError):
        kx.create2(zk, "/tbad", b"", kx.PERSISTENT_WITH_TTL)
    assert zk.exists("/tbad") is None
    path, _ = kx.create_ttl(zk, "/tmax", b"", ttl=max_ttl)
    assert stays(zk, "/tmax")
    zk.delete("/tmax")


def test_ttl_in_multi(kazoo_client):
    zk = kazoo_client
    results = kx.multi(zk, kx.CreateTTL("/t4", b"", kx.OPEN_ACL_UNSAFE, kx.PERSISTENT_WITH_TTL, 200),
                       kx.SetData("/t4", b"x", -1))
    assert results[0][0] == "/t4" and results[1].version == 1
    wait_gone(zk, "/t4")


def test_manager_deletes_survive_a_restart(zk_server):
    """The deletes are txns like any other: logged, and replayed on restart."""
    with kazoo_session(zk_server) as zk:
        kx.create_container(zk, "/c8")
        zk.create("/c8/kid")
        zk.delete("/c8/kid")
        wait_gone(zk, "/c8")
        last = zk.create("/after")
    zk_server.restart()
    with kazoo_session(zk_server) as zk:
        assert zk.exists("/c8") is None
        assert zk.exists(last) is not None
        zk.delete(last)


# -- without extended types --------------------------------------------------------------------


def test_ttl_needs_extended_types(tmp_path):
    server = new_server(force_sync=False, temp_dir=tmp_path)
    try:
        with kazoo_session(server) as zk:
            with pytest.raises(UnimplementedError):
                kx.create_ttl(zk, "/t", b"", ttl=1000)
            assert zk.exists("/t") is None
            # Containers need no extended types.
            assert kx.create_container(zk, "/c")[0] == "/c"
    finally:
        server.close()
