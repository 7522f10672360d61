"""getEphemerals, getAllChildrenNumber, whoAmI and the /zookeeper subtree (ZK_SPEC.md §2.5).

kazoo has none of these ops; ``kazoo_ext`` sends them on a kazoo session.
Runs against Java 3.8.0 too (``ZKPY_IT_TARGET=java``).
"""

from __future__ import annotations

import pytest
from kazoo.exceptions import BadArgumentsError, NodeExistsError, NoAuthError, NoNodeError
from kazoo.security import make_acl

from . import kazoo_ext as kx
from .servers import kazoo_session


def test_get_ephemerals(zk_server, kazoo_client):
    zk = kazoo_client
    zk.create("/eph")
    zk.create("/eph/a", ephemeral=True)
    zk.create("/eph/ab", ephemeral=True)
    zk.create("/eph/b-", ephemeral=True, sequence=True)
    zk.create("/eph/persistent")
    zk.create("/ephx", ephemeral=True)
    with kazoo_session(zk_server) as other:
        other.create("/eph/others", ephemeral=True)
        assert kx.get_ephemerals(other, "/") == ["/eph/others"]
    mine = ["/eph/a", "/eph/ab", "/eph/b-0000000002", "/ephx"]
    assert sorted(kx.get_ephemerals(zk, "/")) == mine
    assert sorted(kx.get_ephemerals(zk, "")) == mine
    assert sorted(kx.get_ephemerals(zk, "/eph/a")) == ["/eph/a", "/eph/ab"]  # a string prefix
    assert sorted(kx.get_ephemerals(zk, "/eph")) == mine
    # Java trims the prefix to see whether it asks for everything...
    assert sorted(kx.get_ephemerals(zk, "  ")) == mine
    assert sorted(kx.get_ephemerals(zk, " / ")) == mine
    # ...but filters with it as it came.
    assert kx.get_ephemerals(zk, " /eph") == []
    assert kx.get_ephemerals(zk, "/nothing") == []
    zk.delete("/eph/a")
    assert "/eph/a" not in kx.get_ephemerals(zk, "/")


def test_get_all_children_number(kazoo_client):
    zk = kazoo_client
    zk.create("/count")
    assert kx.get_all_children_number(zk, "/count") == 0
    for path in ("/count/a", "/count/a/b", "/count/a/b/c", "/count/d"):
        zk.create(path)
    assert kx.get_all_children_number(zk, "/count") == 4
    assert kx.get_all_children_number(zk, "/count/a") == 2
    assert kx.get_all_children_number(zk, "/zookeeper") == 2
    # The root: every node but itself (Java counts its map minus "" and "/").
    top = zk.get_children("/")
    assert kx.get_all_children_number(zk, "/") == sum(1 + kx.get_all_children_number(zk, "/" + name)
                                                       for name in top)
    with pytest.raises(NoNodeError):
        kx.get_all_children_number(zk, "/count/missing")
    zk.create("/count/closed", acl=[make_acl("ip", "10.255.255.1", all=True)])
    with pytest.raises(NoAuthError):
        kx.get_all_children_number(zk, "/count/closed")


def test_who_am_i(kazoo_client):
    assert kx.whoami(kazoo_client) == [("ip", "127.0.0.1")]


def test_zookeeper_subtree(kazoo_client):
    zk = kazoo_client
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    data, stat = zk.get("/zookeeper")
    assert data == b"" and (stat.czxid, stat.mzxid, stat.version, stat.numChildren) == (0, 0, 0, 2)
    acl, stat = zk.get_acls("/zookeeper/config")
    assert acl == [make_acl("world", "anyone", read=True)] and stat.aversion == -1
    assert zk.get("/zookeeper/config")[0] == b""
    acl, stat = zk.get_acls("/zookeeper/quota")
    assert acl == [make_acl("world", "anyone", all=True)] and stat.aversion == 0
    assert zk.get_children("/zookeeper/quota") == []
    with pytest.raises(NoAuthError):
        zk.set("/zookeeper/config", b"x")
    with pytest.raises(NoAuthError):
        zk.create("/zookeeper/config/x")


def test_root_and_zookeeper_nodes_cannot_be_deleted(kazoo_client):
    """BADARGUMENTS before any other check, in a multi too (Java: isSpecialPath)."""
    zk = kazoo_client
    for path in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        with pytest.raises(BadArgumentsError):
            zk.delete(path)
        with pytest.raises(BadArgumentsError):
            zk.delete(path, version=42)
        results = kx.multi(zk, kx.Delete(path, -1))
        assert isinstance(results[0], BadArgumentsError), (path, results)
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    with pytest.raises(NodeExistsError):  # creating one is an ordinary create
        zk.create("/zookeeper/quota")
    # What lies under them is ordinary too.
    zk.create("/zookeeper/quota/mine")
    zk.delete("/zookeeper/quota/mine")
