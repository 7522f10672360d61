"""zkpy.client against a zkpy server: every call, sync and async, and its errors."""

from __future__ import annotations

import itertools
import random
import threading
import time
from concurrent.futures import Future

import pytest

from zkpy.client import (
    CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, ACL, AddWatchMode, CheckResult, ClientInfo, CreateMode,
    CreateResult,
    DeleteResult, ErrorResult, EventType, GetChildrenResult, GetDataResult, Id, KeeperState, Op, Perms,
    SetDataResult, States, Stat, StaticHostProvider, WatcherType, ZooKeeper,
)
from zkpy.errors import (
    AuthFailedException, BadVersionException, Code, ConnectionLossException, InvalidACLException,
    NoAuthException, NoChildrenForEphemeralsException, NodeExistsException, NoNodeException,
    NotEmptyException, NoWatcherException, ReconfigDisabledException, SessionExpiredException,
)
from zkpy.testing import TestingServer, find_free_port, wait_until

from .client_util import Events, connect

_counter = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = TestingServer(temp_dir=tmp_path_factory.mktemp("client_api"),
                        jvm_flags=["-Dzookeeper.extendedTypesEnabled=true"])
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture
def zk(server):
    client = connect(server.connect_string)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def base(zk):
    """A fresh persistent node for the test to work under."""
    return zk.create(f"/t{next(_counter)}")


def test_create_get_set_delete(zk, base):
    path = f"{base}/n"
    assert zk.create(path, b"hello") == path
    data, stat = zk.get_data(path)
    assert data == b"hello"
    assert isinstance(stat, Stat)
    assert (stat.version, stat.dataLength, stat.numChildren, stat.ephemeralOwner) == (0, 5, 0, 0)
    assert stat.czxid == stat.mzxid
    stat2 = zk.set_data(path, b"world", version=0)
    assert stat2.version == 1 and stat2.mzxid > stat.mzxid and stat2.czxid == stat.czxid
    assert zk.exists(path) == stat2
    with pytest.raises(BadVersionException) as info:
        zk.set_data(path, b"x", version=0)
    assert info.value.path == path and info.value.code == Code.BADVERSION
    with pytest.raises(BadVersionException):
        zk.delete(path, version=5)
    zk.delete(path, version=1)
    assert zk.exists(path) is None
    with pytest.raises(NoNodeException):
        zk.get_data(path)
    # None data is kept as None (length -1 on the wire).
    zk.create(f"{base}/null", None)
    assert zk.get_data(f"{base}/null")[0] is None


def test_errors_are_keeper_exception_subclasses(zk, base):
    with pytest.raises(NodeExistsException) as info:
        zk.create(base)
    assert info.value.path == base
    with pytest.raises(NoNodeException):
        zk.create(f"{base}/missing/child")
    zk.create(f"{base}/e", mode=CreateMode.EPHEMERAL)
    with pytest.raises(NoChildrenForEphemeralsException):
        zk.create(f"{base}/e/x")
    zk.create(f"{base}/p")
    zk.create(f"{base}/p/c")
    with pytest.raises(NotEmptyException):
        zk.delete(f"{base}/p")
    with pytest.raises(NoNodeException):
        zk.delete(f"{base}/nothing")
    with pytest.raises(NoNodeException):
        zk.set_data(f"{base}/nothing", b"")
    with pytest.raises(NoNodeException):
        zk.get_children(f"{base}/nothing")
    # Refused before anything is sent, as the Java client does.
    with pytest.raises(InvalidACLException):
        zk.create(f"{base}/noacl", acl=[])
    with pytest.raises(ValueError):
        zk.create("no-slash")
    with pytest.raises(ValueError):
        zk.get_data(f"{base}/")
    with pytest.raises(ValueError):
        zk.create(f"{base}/ttl", mode=CreateMode.PERSISTENT, ttl=100)
    with pytest.raises(ValueError):
        zk.create(f"{base}/ttl", mode=CreateMode.PERSISTENT_WITH_TTL)
    # The server validates the rest.
    with pytest.raises(InvalidACLException):
        zk.create(f"{base}/badip", acl=[ACL(Perms.ALL, Id("ip", "not-an-ip"))])


def test_create_modes(zk, base):
    seq = zk.create(f"{base}/s-", mode=CreateMode.PERSISTENT_SEQUENTIAL)
    assert seq == f"{base}/s-0000000000"
    path, stat = zk.create(f"{base}/es-", mode=CreateMode.EPHEMERAL_SEQUENTIAL, include_stat=True)
    assert path == f"{base}/es-0000000001"
    assert stat.ephemeralOwner == zk.get_session_id()
    path, stat = zk.create(f"{base}/c", b"c", mode=CreateMode.CONTAINER, include_stat=True)
    assert path == f"{base}/c" and stat.ephemeralOwner == 0 and stat.dataLength == 1
    assert zk.create(f"{base}/c2", mode=CreateMode.CONTAINER) == f"{base}/c2"
    path, stat = zk.create(f"{base}/ttl", b"t", mode=CreateMode.PERSISTENT_WITH_TTL, ttl=60000,
                           include_stat=True)
    assert path == f"{base}/ttl" and stat.ephemeralOwner == 0
    assert zk.create(f"{base}/ttls-", mode=CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=60000) == \
        f"{base}/ttls-0000000005"
    assert sorted(zk.get_children(base)) == ["c", "c2", "es-0000000001", "s-0000000000", "ttl",
                                              "ttls-0000000005"]


def test_children_counts_and_ephemerals(zk, base):
    for name in ("a", "b", "c"):
        zk.create(f"{base}/{name}")
    zk.create(f"{base}/a/x", mode=CreateMode.EPHEMERAL)
    zk.create(f"{base}/b/y", mode=CreateMode.EPHEMERAL)
    assert sorted(zk.get_children(base)) == ["a", "b", "c"]
    children, stat = zk.get_children(base, include_stat=True)
    assert sorted(children) == ["a", "b", "c"] and stat.numChildren == 3
    assert zk.get_all_children_number(base) == 5
    assert sorted(zk.get_ephemerals(base)) == [f"{base}/a/x", f"{base}/b/y"]
    assert zk.get_ephemerals(f"{base}/b") == [f"{base}/b/y"]
    assert set(zk.get_ephemerals()) >= {f"{base}/a/x", f"{base}/b/y"}
    zk.sync(base)
    with pytest.raises(ReconfigDisabledException):  # reconfigEnabled=false, as Java's default
        zk.reconfig(None, None, "server.1=127.0.0.1:2888:3888;2181")


def test_acl_auth_and_whoami(server, zk, base):
    assert zk.whoami() == [ClientInfo("ip", "127.0.0.1")]
    acl, stat = zk.get_acl(base)
    assert acl == OPEN_ACL_UNSAFE and stat.aversion == 0
    with pytest.raises(InvalidACLException):
        zk.create(f"{base}/mine", acl=CREATOR_ALL_ACL)  # no authenticated id yet
    zk.add_auth_info("digest", b"bob:secret")
    assert ClientInfo("digest", "bob") in zk.whoami()
    zk.create(f"{base}/mine", b"m", acl=CREATOR_ALL_ACL)
    acl, _ = zk.get_acl(f"{base}/mine")
    assert [(a.perms, a.id.scheme, a.id.id.split(":")[0]) for a in acl] == [(31, "digest", "bob")]
    with connect(server.connect_string) as other:
        with pytest.raises(NoAuthException):
            other.get_data(f"{base}/mine")
        other.add_auth_info("digest", "bob:secret")
        assert other.get_data(f"{base}/mine")[0] == b"m"
    with pytest.raises(BadVersionException):
        zk.set_acl(f"{base}/mine", READ_ACL_UNSAFE, version=3)
    stat = zk.set_acl(f"{base}/mine", READ_ACL_UNSAFE, version=0)
    assert stat.aversion == 1
    with pytest.raises(NoAuthException):  # no ADMIN left
        zk.set_acl(f"{base}/mine", OPEN_ACL_UNSAFE)
    with pytest.raises(NoAuthException):
        zk.set_data(f"{base}/mine", b"x")


def test_auth_failure_ends_the_session(server):
    events = Events()
    zk = connect(server.connect_string, watcher=events)
    try:
        with pytest.raises(AuthFailedException):
            zk.add_auth_info("no-such-scheme", b"x")
        assert events.wait_for(lambda evs: any(e.state == KeeperState.AuthFailed for e in evs))
        assert zk.get_state() == States.AUTH_FAILED
        with pytest.raises(AuthFailedException):
            zk.exists("/")
        events.wait_for(lambda evs: evs[-1].state == KeeperState.Closed)
        assert [e.state for e in events.events] == [KeeperState.SyncConnected, KeeperState.AuthFailed,
                                                     KeeperState.Closed]
    finally:
        zk.close()


def test_async_twins(zk, base):
    """Every operation's _async form returns a Future with the sync result."""
    p = f"{base}/a"
    futures = {
        "create": zk.create_async(p, b"1"),
        "create_stat": zk.create_async(f"{base}/b", b"2", include_stat=True),
        "set": zk.set_data_async(p, b"11"),
        "get": zk.get_data_async(p),
        "exists": zk.exists_async(p),
        "exists_missing": zk.exists_async(f"{base}/zz"),
        "children": zk.get_children_async(base),
        "children2": zk.get_children_async(base, include_stat=True),
        "acl": zk.get_acl_async(p),
        "set_acl": zk.set_acl_async(p, OPEN_ACL_UNSAFE, 0),
        "count": zk.get_all_children_number_async(base),
        "ephemerals": zk.get_ephemerals_async(base),
        "whoami": zk.whoami_async(),
        "sync": zk.sync_async(p),
        "multi": zk.multi_async([Op.create(f"{base}/m"), Op.check(p, 1)]),
        "multi_read": zk.multi_read_async([Op.get_data(p), Op.get_children(base)]),
        "add_watch": zk.add_watch_async(p, lambda e: None),
        "remove_all": zk.remove_all_watches_async(p),
        "config": zk.get_config_async(),
        "auth": zk.add_auth_info_async("digest", b"u:p"),
        "delete": zk.delete_async(f"{base}/b"),
        "fail": zk.get_data_async(f"{base}/missing"),
    }
    assert all(isinstance(f, Future) for f in futures.values())
    r = {name: f.result(10) if name != "fail" else f.exception(10) for name, f in futures.items()}
    assert r["create"] == p
    assert r["create_stat"][0] == f"{base}/b" and r["create_stat"][1].dataLength == 1
    assert r["set"].version == 1
    assert r["get"][0] == b"11" and r["get"][1] == r["set"]
    assert r["exists"] == r["set"] and r["exists_missing"] is None
    assert sorted(r["children"]) == ["a", "b"] and sorted(r["children2"][0]) == ["a", "b"]
    assert r["acl"] == (OPEN_ACL_UNSAFE, r["set"])
    assert r["set_acl"].aversion == 1
    assert r["count"] == 2 and r["ephemerals"] == [] and ClientInfo("ip", "127.0.0.1") in r["whoami"]
    assert r["sync"] is None and r["add_watch"] is None and r["remove_all"] is None
    assert r["multi"] == [CreateResult(f"{base}/m"), CheckResult()]
    assert isinstance(r["multi_read"][0], GetDataResult) and r["multi_read"][0].data == b"11"
    assert sorted(r["multi_read"][1].children) == ["a", "b", "m"]
    assert isinstance(r["config"][0], bytes) and isinstance(r["config"][1], Stat)
    assert r["auth"] is None and r["delete"] is None
    assert isinstance(r["fail"], NoNodeException) and r["fail"].path == f"{base}/missing"
    # The same results as the sync calls.
    assert zk.get_data(p) == r["get"][:1] + (zk.exists(p),)
    assert ClientInfo("digest", "u") in zk.whoami()

    # The twins not exercised above, with watches set through them.
    w = Events("w", nodes_only=True)
    more = {
        "exists_watch": zk.exists_async(p, watch=w),
        "children_watch": zk.get_children_async(base, watch=w),
        "remove_watches": zk.remove_watches_async(p, w, WatcherType.Data),
        "reconfig": zk.reconfig_async(None, None, "server.1=127.0.0.1:2888:3888;2181"),
        "commit": zk.transaction().set_data(p, b"12").commit_async(),
    }
    assert all(isinstance(f, Future) for f in more.values())
    assert more["exists_watch"].result(10) == r["set_acl"]
    assert sorted(more["children_watch"].result(10)) == ["a", "m"]
    assert more["remove_watches"].result(10) is None
    assert isinstance(more["reconfig"].exception(10), ReconfigDisabledException)
    assert isinstance(more["commit"].result(10)[0], SetDataResult)
    zk.create(f"{base}/later")
    assert [(e.type, e.path) for e in w.wait_count(2)] == [(EventType.DataWatchRemoved, p),
                                                           (EventType.NodeChildrenChanged, base)]


def test_every_operation_has_an_async_twin():
    """The API's rule: each call that talks to the server has an ``_async``
    form taking the same arguments (the Future's result is the sync result)."""
    import inspect

    local = {"close", "get_chroot", "get_last_zxid", "get_session_id", "get_session_passwd", "get_session_timeout",
             "get_state", "register", "transaction", "update_server_list", "wait_connected"}
    public = {n for n in dir(ZooKeeper) if not n.startswith("_")}
    operations = {n for n in public if not n.endswith("_async")} - local
    assert {"create", "delete", "exists", "get_data", "set_data", "get_children", "get_acl", "set_acl", "sync",
            "multi", "multi_read", "add_watch", "remove_watches", "remove_all_watches", "get_ephemerals",
            "get_all_children_number", "whoami", "add_auth_info", "get_config", "reconfig"} <= operations
    for name in sorted(operations):
        twin = getattr(ZooKeeper, f"{name}_async", None)
        assert twin is not None, f"{name} has no {name}_async"
        assert inspect.signature(twin).parameters == inspect.signature(getattr(ZooKeeper, name)).parameters, name
    assert {n[:-len("_async")] for n in public if n.endswith("_async")} == operations


def test_transaction(zk, base):
    results = (zk.transaction().create(f"{base}/t1", b"x").set_data(base, b"v").check(base, 1)
               .delete(f"{base}/t1").commit())
    assert [type(r) for r in results] == [CreateResult, SetDataResult, CheckResult, DeleteResult]
    assert results[0].path == f"{base}/t1" and results[1].stat.version == 1
    with pytest.raises(BadVersionException) as info:
        zk.transaction().create(f"{base}/t2").check(base, 99).create(f"{base}/t3").commit()
    assert info.value.results == [ErrorResult(0), ErrorResult(Code.BADVERSION), ErrorResult(Code.RUNTIMEINCONSISTENCY)]
    assert zk.exists(f"{base}/t2") is None  # nothing applied
    future = zk.transaction().delete(f"{base}/nope").commit_async()
    exc = future.exception(10)
    assert isinstance(exc, NoNodeException) and exc.results == [ErrorResult(Code.NONODE)]
    assert zk.multi([]) == []
    with pytest.raises(ValueError):
        zk.multi([Op.create(f"{base}/x"), Op.get_data(base)])
    results = zk.multi_read([Op.get_data(base), Op.get_children(f"{base}/nope"), Op.get_children(base)])
    assert results[0].data == b"v" and results[1] == ErrorResult(Code.NONODE)
    assert results[2] == GetChildrenResult([])
    created = zk.multi([Op.create(f"{base}/s-", mode=CreateMode.PERSISTENT_SEQUENTIAL),
                        Op.create(f"{base}/c", mode=CreateMode.CONTAINER)])
    assert created[0] == CreateResult(f"{base}/s-0000000001")  # cversion counts creates only
    assert created[1].path == f"{base}/c" and created[1].stat.czxid > 0


def test_one_shot_watches(zk, base):
    data_w, exist_w, child_w, default_w = Events("data"), Events("exist"), Events("child"), Events("default")
    zk.register(default_w)
    zk.create(f"{base}/d", b"1")
    zk.get_data(f"{base}/d", watch=data_w)
    assert zk.exists(f"{base}/new", watch=exist_w) is None
    zk.get_children(base, watch=child_w)
    zk.get_data(f"{base}/d", watch=True)  # the default watcher, as Java's boolean watch
    zk.set_data(f"{base}/d", b"2")
    zk.set_data(f"{base}/d", b"3")  # one-shot: no second event
    zk.create(f"{base}/new")
    data_w.wait_count(1), exist_w.wait_count(1), child_w.wait_count(1), default_w.wait_count(1)
    assert [(e.type, e.path) for e in data_w.settle()] == [(EventType.NodeDataChanged, f"{base}/d")]
    assert [(e.type, e.path) for e in exist_w.events] == [(EventType.NodeCreated, f"{base}/new")]
    assert [(e.type, e.path) for e in child_w.events] == [(EventType.NodeChildrenChanged, base)]
    assert [(e.type, e.state) for e in default_w.events] == [(EventType.NodeDataChanged, KeeperState.SyncConnected)]
    # Delete fires both the data and the child watch of the node, once per watcher.
    both = Events("both")
    zk.get_data(f"{base}/new", watch=both)
    zk.get_children(f"{base}/new", watch=both)
    zk.delete(f"{base}/new")
    assert [(e.type, e.path) for e in both.settle()] == [(EventType.NodeDeleted, f"{base}/new")]
    # A failed getData leaves no watch; exists on a missing node does.
    ghost = Events("ghost")
    with pytest.raises(NoNodeException):
        zk.get_data(f"{base}/ghost", watch=ghost)
    zk.create(f"{base}/ghost")
    assert ghost.settle() == []
    assert all(t.endswith("-EventThread") for w in (data_w, exist_w, child_w) for t in w.threads)


def test_persistent_and_recursive_watches(zk, base):
    # Separate paths: a 3.8 server keeps one watch mode per (connection, path).
    persistent, recursive = Events("persistent"), Events("recursive")
    zk.create(f"{base}/p")
    zk.create(f"{base}/r")
    zk.add_watch(f"{base}/p", persistent)
    zk.add_watch(f"{base}/r", recursive, mode=AddWatchMode.PERSISTENT_RECURSIVE)
    for root in (f"{base}/p", f"{base}/r"):
        zk.create(f"{root}/a")
        zk.create(f"{root}/a/b", b"1")
        zk.set_data(f"{root}/a/b", b"2")
        zk.set_data(root, b"x")
        zk.set_data(root, b"y")
        zk.delete(f"{root}/a/b")
    p, r = f"{base}/p", f"{base}/r"
    persistent.wait_count(3)
    recursive.wait_count(6)
    # Persistent: the exact path only, every time, child events included.
    assert [(e.type, e.path) for e in persistent.settle()] == [
        (EventType.NodeChildrenChanged, p), (EventType.NodeDataChanged, p), (EventType.NodeDataChanged, p)]
    # Recursive: the path and every descendant, never NodeChildrenChanged.
    assert [(e.type, e.path) for e in recursive.settle()] == [
        (EventType.NodeCreated, f"{r}/a"), (EventType.NodeCreated, f"{r}/a/b"),
        (EventType.NodeDataChanged, f"{r}/a/b"), (EventType.NodeDataChanged, r),
        (EventType.NodeDataChanged, r), (EventType.NodeDeleted, f"{r}/a/b")]
    # A plain child watch on a descendant must not leak NodeChildrenChanged
    # to the recursive watcher.
    child = Events("child")
    zk.get_children(f"{r}/a", watch=child)
    zk.create(f"{r}/a/c")
    assert [e.type for e in child.wait_count(1)] == [EventType.NodeChildrenChanged]
    assert [(e.type, e.path) for e in recursive.wait_count(7)[6:]] == [(EventType.NodeCreated, f"{r}/a/c")]
    assert len(recursive.settle()) == 7
    with pytest.raises(ValueError):
        zk.add_watch(base, False)


def test_remove_watches(zk, base):
    w1, w2 = Events("w1"), Events("w2")
    zk.get_data(base, watch=w1)
    zk.get_children(base, watch=w1)
    zk.get_data(base, watch=w2)
    zk.remove_watches(base, w1, watcher_type=2)  # Data
    assert [(e.type, e.path) for e in w1.wait_count(1)] == [(EventType.DataWatchRemoved, base)]
    zk.set_data(base, b"x")
    w2.wait_count(1)
    assert [e.type for e in w1.settle()] == [EventType.DataWatchRemoved]
    with pytest.raises(NoWatcherException):
        zk.remove_watches(base, w1, watcher_type=2)
    zk.remove_all_watches(base, watcher_type=1)  # Children
    assert [e.type for e in w1.wait_count(2)] == [EventType.DataWatchRemoved, EventType.ChildWatchRemoved]
    zk.create(f"{base}/c")
    assert len(w1.settle()) == 2
    p = Events("p")
    zk.add_watch(base, p)
    zk.remove_watches(base, p)  # Any
    assert [e.type for e in p.wait_count(1)] == [EventType.PersistentWatchRemoved]
    with pytest.raises(NoWatcherException):
        zk.remove_all_watches(base)
    # local=True removes client-side regardless of the server.
    loc = Events("local")
    zk.get_data(base, watch=loc)
    zk.remove_watches(base, loc, local=True)
    assert [e.type for e in loc.wait_count(1)] == [EventType.DataWatchRemoved]


def test_callbacks_and_events_in_server_order(server, zk, base):
    """Done-callbacks and watch events reach the event thread in the order
    the server sent them, even when the callbacks are added late."""
    order = []
    gate, blocked = threading.Event(), threading.Event()

    def block(_future):
        blocked.set()
        gate.wait(10)

    # Hold the event thread so everything below queues up behind this callback.
    zk.sync_async(base).add_done_callback(block)
    assert blocked.wait(10)
    watcher = lambda e: order.append(("event", e.type.name, e.path))
    zk.exists(f"{base}/x", watch=watcher)
    f1 = zk.create_async(f"{base}/x", b"1")   # fires NodeCreated before its own reply
    zk.get_data(f"{base}/x", watch=watcher)
    f2 = zk.set_data_async(f"{base}/x", b"2")  # NodeDataChanged, then the reply
    f3 = zk.get_children_async(base)
    for f in (f1, f2, f3):
        f.result(10)  # every reply is in; the callbacks are added only now
    f1.add_done_callback(lambda f: order.append(("create", f.result())))
    f2.add_done_callback(lambda f: order.append(("set", f.result().version)))
    f3.add_done_callback(lambda f: order.append(("children", f.result())))

    def chain(_f):  # a call made from a callback keeps its place too
        order.append(("chain-start",))
        zk.get_data_async(f"{base}/x").add_done_callback(lambda f: order.append(("chained", f.result()[0])))
    f3.add_done_callback(chain)
    gate.set()
    end = time.monotonic() + 10
    while len(order) < 7 and time.monotonic() < end:
        time.sleep(0.01)
    assert order == [
        ("event", "NodeCreated", f"{base}/x"), ("create", f"{base}/x"),
        ("event", "NodeDataChanged", f"{base}/x"), ("set", 1),
        ("children", ["x"]), ("chain-start",), ("chained", b"2"),
    ]


def test_sync_call_inside_watcher_and_callback(zk, base):
    results = Events("results")

    def watcher(event):
        if event.path is None:
            return  # session events (Closed at the end)
        # A synchronous call from the event thread must not deadlock.
        data, _ = zk.get_data(event.path, watch=watcher)
        results((event.type, data))

    zk.create(f"{base}/n", b"0")
    zk.get_data(f"{base}/n", watch=watcher)
    zk.set_data(f"{base}/n", b"1")
    results.wait_count(1)
    zk.set_data(f"{base}/n", b"2")  # the watch was re-set from inside the watcher
    assert results.wait_count(2) == [(EventType.NodeDataChanged, b"1"), (EventType.NodeDataChanged, b"2")]

    def callback(future):
        results(("cb", zk.exists(f"{base}/n").version, zk.get_children_async(base).result(5)))

    zk.sync_async(base).add_done_callback(callback)
    assert results.wait_count(3)[2] == ("cb", 2, ["n"])


def test_chroot(server, zk, base):
    events = Events("chroot")
    with connect(server.connect_string + base, watcher=events) as cz:
        assert cz.get_chroot() == base
        assert cz.exists("/") == zk.exists(base)
        assert cz.create("/x", b"1") == "/x"
        assert zk.get_data(f"{base}/x")[0] == b"1"
        assert cz.create("/s-", mode=CreateMode.EPHEMERAL_SEQUENTIAL) == "/s-0000000001"
        assert cz.create("/y", include_stat=True)[0] == "/y"
        assert sorted(cz.get_children("/")) == ["s-0000000001", "x", "y"]
        assert cz.get_ephemerals() == ["/s-0000000001"]
        assert cz.get_all_children_number("/") == 3
        cz.get_data("/x", watch=True)
        cz.get_children("/", watch=True)
        zk.set_data(f"{base}/x", b"2")
        zk.create(f"{base}/z")
        assert [(e.type, e.path) for e in events.wait_count(3)[1:]] == [
            (EventType.NodeDataChanged, "/x"), (EventType.NodeChildrenChanged, "/")]
        recursive = Events("recursive")
        cz.add_watch("/", recursive, mode=AddWatchMode.PERSISTENT_RECURSIVE)
        zk.set_data(f"{base}/x", b"3")
        zk.create(f"{base}/z/zz")
        assert [(e.type, e.path) for e in recursive.wait_count(2)] == [
            (EventType.NodeDataChanged, "/x"), (EventType.NodeCreated, "/z/zz")]
        zk.delete(f"{base}/z/zz")
        assert cz.multi([Op.create("/m"), Op.delete("/z")]) == [CreateResult("/m"), DeleteResult()]
        assert cz.transaction().create("/q-", mode=CreateMode.PERSISTENT_SEQUENTIAL).commit() == \
            [CreateResult("/q-0000000005")]
        with pytest.raises(NoNodeException) as info:
            cz.get_data("/missing")
        assert info.value.path == "/missing"
        cz.delete("/x")
        assert zk.exists(f"{base}/x") is None
        # get_config is never chrooted.
        assert cz.get_config()[1] == zk.get_config()[1]


def test_close_ends_session(server, base):
    events = Events()
    with connect(server.connect_string) as observer:
        zk = connect(server.connect_string, watcher=events)
        zk.create(f"{base}/eph", mode=CreateMode.EPHEMERAL)
        w = Events("w")
        observer.exists(f"{base}/eph", watch=w)
        with zk:
            pass  # the context manager closes
        assert zk.get_state() == States.CLOSED
        # Gone for another client as soon as close() returned.
        assert observer.exists(f"{base}/eph") is None
        assert [(e.type, e.path) for e in w.wait_count(1)] == [(EventType.NodeDeleted, f"{base}/eph")]
        assert events.wait_for(lambda evs: evs and evs[-1].state == KeeperState.Closed)
        assert [e.state for e in events.events] == [KeeperState.SyncConnected, KeeperState.Closed]
        with pytest.raises(SessionExpiredException):  # Java says "expired" after close too
            zk.exists("/")
        zk.close()  # a second close does nothing


def test_dead_host_first(server):
    dead = f"127.0.0.1:{find_free_port()}"
    provider = None
    for seed in range(100):
        candidate = StaticHostProvider([("127.0.0.1", int(dead.split(":")[1])), (server.host, server.port)],
                                       rng=random.Random(seed))
        if candidate.addresses[0][1] != server.port:
            provider = candidate
            break
    assert provider is not None
    events = Events()
    zk = ZooKeeper(f"{dead},{server.connect_string}", 10000, events, host_provider=provider)
    try:
        assert zk.wait_connected(10)
        assert zk.exists("/") is not None
        # Nothing but SyncConnected: a refused first host is not a disconnection.
        # (The event thread may deliver it a moment after wait_connected returns.)
        wait_until(lambda: events.events, 10, "the SyncConnected event")
        assert [e.state for e in events.events] == [KeeperState.SyncConnected]
    finally:
        zk.close()


def test_calls_before_connection_wait_for_it(server):
    zk = ZooKeeper(server.connect_string, 10000)
    try:
        # Queued while CONNECTING, sent once the session is established.
        assert zk.exists("/") is not None
        assert zk.get_state() == States.CONNECTED
    finally:
        zk.close()


def test_nothing_listening_gives_connection_loss():
    zk = ZooKeeper(f"127.0.0.1:{find_free_port()}", 2000)
    try:
        with pytest.raises(ConnectionLossException):
            zk.exists("/")
        assert zk.get_state() == States.CONNECTING
    finally:
        zk.close()
    assert zk.get_state() == States.CLOSED
