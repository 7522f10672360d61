"""The same scripted zkpy.client session against Java ZooKeeper 3.8.0 and zkpy.

Both servers start empty with extended types (TTL) enabled, so every result
must be the same: paths, Stat fields (the wall-clock times aside; session
ids are named), errors (exception classes), multi results and the watch
events each watcher saw, in order.
"""

from __future__ import annotations


import pytest

from zkpy.client import (
    CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, AddWatchMode, CreateMode, KeeperException, Op,
    Stat, WatcherType,
)
from zkpy.testing import TestingServer

from ..integration.client_util import Events, connect
from .java_zk import JavaZooKeeperServer

AVAILABLE, REASON = JavaZooKeeperServer.available()
pytestmark = [pytest.mark.interop, pytest.mark.skipif(not AVAILABLE, reason=REASON)]

FLAGS = ["-Dzookeeper.extendedTypesEnabled=true"]


def normalize(value, sessions: dict):
    """Times out, session ids named by the order they were first seen."""
    if isinstance(value, Stat):
        owner = value.ephemeralOwner
        if owner not in (0,) and owner in sessions:
            owner = sessions[owner]
        return ("Stat", value.czxid, value.mzxid, value.pzxid, value.version, value.cversion, value.aversion,
                owner, value.dataLength, value.numChildren, value.ctime == value.mtime)
    if isinstance(value, (list, tuple)):
        return type(value)(normalize(v, sessions) for v in value)
    if isinstance(value, BaseException):
        return ("error", type(value).__name__, getattr(value, "path", None),
                normalize(getattr(value, "results", None), sessions))
    if hasattr(value, "__dataclass_fields__"):  # OpResults
        return (type(value).__name__,) + tuple(normalize(getattr(value, f), sessions)
                                               for f in value.__dataclass_fields__)
    return value


def script(connect_string: str) -> list:
    out = []
    sessions: dict = {}

    def step(name, fn, *args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except (KeeperException, ValueError) as e:
            result = e
        out.append((name, normalize(result, sessions)))

    def events(name, recorder: Events):
        out.append((name, [(str(e.type.name), e.path) for e in recorder.settle(0.3)]))

    zk = connect(connect_string, 10000)
    sessions[zk.get_session_id()] = "zk"
    w = {n: Events(n, nodes_only=True) for n in ("data", "exist", "child", "persistent", "recursive", "removed")}
    try:
        step("create", zk.create, "/s", b"v")
        step("create-exists", zk.create, "/s")
        for _ in range(3):
            step("create-seq", zk.create, "/s/child-", b"", mode=CreateMode.PERSISTENT_SEQUENTIAL)
        step("children", lambda: sorted(zk.get_children("/s")))
        step("children2", lambda: (sorted(zk.get_children("/s", include_stat=True)[0]),
                                   zk.get_children("/s", include_stat=True)[1]))
        step("get-watch", zk.get_data, "/s", w["data"])
        step("exists-watch-missing", zk.exists, "/later", w["exist"])
        step("children-watch", lambda: sorted(zk.get_children("/s", w["child"])))
        step("set", zk.set_data, "/s", b"w", 0)
        step("set-badversion", zk.set_data, "/s", b"x", 0)
        step("create-later", zk.create, "/later", b"l", include_stat=True)
        step("delete-child", zk.delete, "/s/child-0000000001", 0)
        step("delete-notempty", zk.delete, "/s")
        step("create-noparent", zk.create, "/nope/x")
        step("create-ephemeral", zk.create, "/e", b"", mode=CreateMode.EPHEMERAL, include_stat=True)
        step("create-under-ephemeral", zk.create, "/e/x")
        step("create-ephemeral-seq", zk.create, "/es-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)
        step("create-container", zk.create, "/c", b"c", mode=CreateMode.CONTAINER, include_stat=True)
        step("create-ttl", zk.create, "/ttl", b"t", mode=CreateMode.PERSISTENT_WITH_TTL, ttl=100000,
             include_stat=True)
        step("create-ttl-seq", zk.create, "/ttl-", mode=CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=5000)
        step("create-bad-char", zk.create, "/s/\u0001")
        step("exists", zk.exists, "/s")
        step("exists-missing", zk.exists, "/missing")
        step("get", zk.get_data, "/s")
        step("null-data", lambda: zk.create("/nulldata", None) and zk.get_data("/nulldata"))
        step("multi-ok", zk.multi, [Op.create("/t1", b"x"), Op.set_data("/s", b"m"), Op.check("/s", 2),
                                    Op.delete("/t1"), Op.create("/t-", mode=CreateMode.PERSISTENT_SEQUENTIAL)])
        step("multi-fail", lambda: zk.transaction().create("/t2").check("/s", 99).create("/t3").commit())
        step("multi-fail-later", lambda: zk.transaction().create("/t2").delete("/missing").commit())
        step("multi-read", zk.multi_read, [Op.get_data("/s"), Op.get_children("/missing"), Op.get_data("/later")])
        step("multi-container-ttl", zk.multi, [
            Op.create("/mc", mode=CreateMode.CONTAINER),
            Op.create("/mt", mode=CreateMode.PERSISTENT_WITH_TTL, ttl=1000)])
        step("get-acl", zk.get_acl, "/s")
        step("set-acl-badversion", zk.set_acl, "/s", OPEN_ACL_UNSAFE, 5)
        step("set-acl", zk.set_acl, "/s", OPEN_ACL_UNSAFE, 0)
        step("create-readonly", zk.create, "/ro", b"r", READ_ACL_UNSAFE)
        step("set-noauth", zk.set_data, "/ro", b"w")
        step("create-creator-noauth", zk.create, "/mine", b"", CREATOR_ALL_ACL)
        step("auth", zk.add_auth_info, "digest", b"bob:secret")
        step("whoami", lambda: sorted((c.authScheme, c.user) for c in zk.whoami()))
        step("create-creator", zk.create, "/mine", b"", CREATOR_ALL_ACL)
        step("get-acl-digest", lambda: [(a.perms, a.id.scheme) for a in zk.get_acl("/mine")[0]])
        step("ephemerals", lambda: sorted(zk.get_ephemerals()))
        step("ephemerals-prefix", zk.get_ephemerals, "/es")
        step("all-children", zk.get_all_children_number, "/")
        step("sync", zk.sync, "/s")
        step("config", zk.get_config)
        step("reconfig-disabled", zk.reconfig, None, None, "server.1=127.0.0.1:2888:3888:participant;2181")

        # Persistent and recursive watches, and removing watches.
        step("create-w", zk.create, "/w")
        step("add-watch", zk.add_watch, "/w", w["persistent"], AddWatchMode.PERSISTENT)
        step("add-watch-recursive", zk.add_watch, "/", w["recursive"], AddWatchMode.PERSISTENT_RECURSIVE)
        step("w-child", zk.create, "/w/a")
        step("w-grandchild", zk.create, "/w/a/b", b"1")
        step("w-set", zk.set_data, "/w", b"2")
        step("w-set-deep", zk.set_data, "/w/a/b", b"3")
        step("w-delete-deep", zk.delete, "/w/a/b")
        step("get-watch-removed", zk.get_data, "/w/a", w["removed"])
        step("remove-watches", zk.remove_watches, "/w/a", w["removed"], WatcherType.Data)
        step("remove-watches-none", zk.remove_watches, "/w/a", w["removed"], WatcherType.Data)
        step("remove-all-children-none", zk.remove_all_watches, "/w", WatcherType.Children)
        step("remove-persistent", zk.remove_watches, "/w", w["persistent"], WatcherType.Any)
        step("w-set-after-remove", zk.set_data, "/w", b"4")
        for name, recorder in w.items():
            events(f"events-{name}", recorder)

        # A chrooted client.
        with connect(connect_string + "/s", 10000) as cz:
            sessions[cz.get_session_id()] = "cz"
            chroot_w = Events("chroot", nodes_only=True)
            step("chroot-create", cz.create, "/x", b"1")
            step("chroot-seq", cz.create, "/q-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)
            step("chroot-children", lambda: sorted(cz.get_children("/", chroot_w)))
            step("chroot-exists-root", cz.exists, "/")
            step("chroot-get-watch", cz.get_data, "/x", chroot_w)
            step("chroot-multi", cz.multi, [Op.create("/y"), Op.set_data("/x", b"2")])
            step("chroot-ephemerals", cz.get_ephemerals)
            step("chroot-missing", cz.get_data, "/missing")
            events("events-chroot", chroot_w)

        # Another session's view of ours, then our close.
        other = connect(connect_string, 10000)
        sessions[other.get_session_id()] = "other"
        gone = Events("gone", nodes_only=True)
        step("other-sees-ephemeral", other.exists, "/e", gone)
        step("other-get-digest-noauth", other.get_data, "/mine")
        zk.close()
        step("after-close", zk.exists, "/")
        events("events-gone", gone)
        step("other-after-close", other.exists, "/e")
        step("final-root", other.exists, "/")
        other.close()
    finally:
        zk.close()
    return out


@pytest.fixture(scope="module")
def java_server(tmp_path_factory):
    with JavaZooKeeperServer(temp_dir=tmp_path_factory.mktemp("java_client"), jvm_flags=FLAGS) as server:
        yield server


@pytest.fixture(scope="module")
def zkpy_server(tmp_path_factory):
    with TestingServer(temp_dir=tmp_path_factory.mktemp("zkpy_client"), jvm_flags=FLAGS) as server:
        yield server


@pytest.fixture(scope="module")
def java_results(java_server):
    return script(java_server.connect_string)


@pytest.fixture(scope="module")
def zkpy_results(zkpy_server):
    return script(zkpy_server.connect_string)


def test_same_results_on_java_and_zkpy(java_results, zkpy_results):
    assert [name for name, _ in zkpy_results] == [name for name, _ in java_results]
    for (name, java), (_, ours) in zip(java_results, zkpy_results):
        assert ours == java, f"step {name!r}: zkpy {ours!r} != java {java!r}"


def test_script_is_meaningful(java_results):
    """The script exercises what it claims (guards against a vacuous comparison)."""
    results = dict(java_results)
    assert results["create"] == "/s"
    assert results["create-exists"][:2] == ("error", "NodeExistsException")
    assert results["multi-fail"][:2] == ("error", "BadVersionException")
    assert results["events-recursive"][0] == ("NodeCreated", "/w/a")
    assert results["events-data"] == [("NodeDataChanged", "/s")]
    assert results["after-close"][:2] == ("error", "SessionExpiredException")
    assert results["reconfig-disabled"][:2] == ("error", "ReconfigDisabledException")
    assert results["auth"] is None and ("digest", "bob") in results["whoami"]


def watch_modes_on_one_path(connect_string: str) -> dict:
    """One session, two watch modes on the same path: what each watcher sees."""
    def seen(recorder):
        return [(e.type.name, e.path) for e in recorder.settle(0.3)]

    out = {}
    with connect(connect_string, 10000) as zk:
        zk.create("/modes1")
        persistent, standard = Events("p", nodes_only=True), Events("s", nodes_only=True)
        zk.add_watch("/modes1", persistent, AddWatchMode.PERSISTENT)
        zk.get_data("/modes1", standard)
        zk.set_data("/modes1", b"1")
        zk.set_data("/modes1", b"2")
        zk.create("/modes1/c")
        out["persistent, then a getData watch"] = (seen(persistent), seen(standard))
        zk.create("/modes2")
        persistent, recursive = Events("p", nodes_only=True), Events("r", nodes_only=True)
        zk.add_watch("/modes2", persistent, AddWatchMode.PERSISTENT)
        zk.add_watch("/modes2", recursive, AddWatchMode.PERSISTENT_RECURSIVE)
        zk.create("/modes2/c")
        zk.set_data("/modes2", b"x")
        out["persistent, then recursive"] = (seen(persistent), seen(recursive))
    return out


def test_watch_modes_on_one_path_match_java(java_server, zkpy_server):
    assert watch_modes_on_one_path(zkpy_server.connect_string) == \
        watch_modes_on_one_path(java_server.connect_string)
