"""Watches: every watch type, one-shot delivery, paths, ordering (ZK_SPEC.md §2.10).

Standard watches (getData, exists, getChildren) are driven with kazoo,
which delivers events on its own thread, so the tests collect them in a
queue. The rest is checked frame by frame with the raw client: the ordering
guarantee (a write's notifications go out before the write's own reply),
SetWatches after a reconnect, persistent and persistent-recursive watches
(addWatch) and checkWatches/removeWatches, which kazoo does not offer.
"""

from __future__ import annotations

import queue

import pytest
from kazoo.protocol.states import EventType

from zkpy.defs import EventType as WireEventType
from zkpy.defs import AddWatchMode, KeeperState, OpCode, WatcherType
from zkpy.errors import Code
from zkpy.jute.records import (
    OPEN_ACL_UNSAFE, AddWatchRequest, CheckWatchesRequest, CreateRequest, RemoveWatchesRequest, SetDataRequest,
    SetWatches, WatcherEvent,
)

from . import wire
from .servers import kazoo_session

QUIET = 0.3  # how long to wait to be sure that no (further) event comes


class Events:
    """A kazoo watch callback that records (type, path) pairs."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()

    def __call__(self, event) -> None:
        self.queue.put((event.type, event.path, event.state))

    def next(self, timeout: float = 5.0):
        try:
            kind, path, state = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no watch event arrived") from None
        assert state == "CONNECTED"
        return kind, path

    def assert_none(self, wait: float = QUIET) -> None:
        try:
            event = self.queue.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected watch event {event}")


@pytest.fixture
def writer(zk_server):
    """A second session that makes the changes the watches see."""
    with kazoo_session(zk_server) as client:
        yield client


def test_data_watch_fires_on_set_and_delete(kazoo_client, writer):
    zk = kazoo_client
    zk.create("/dw", b"0")
    events = Events()
    assert zk.get("/dw", watch=events)[0] == b"0"
    writer.set("/dw", b"1")
    assert events.next() == (EventType.CHANGED, "/dw")
    events.assert_none()
    zk.get("/dw", watch=events)
    writer.delete("/dw")
    assert events.next() == (EventType.DELETED, "/dw")
    events.assert_none()


def test_watch_is_one_shot(kazoo_client, writer):
    zk = kazoo_client
    zk.create("/once", b"0")
    events = Events()
    zk.get("/once", watch=events)
    for i in range(3):
        writer.set("/once", str(i).encode())
    assert events.next() == (EventType.CHANGED, "/once")
    events.assert_none()
    # Re-registering arms it again, once more.
    zk.get("/once", watch=events)
    writer.set("/once", b"again")
    writer.set("/once", b"and again")
    assert events.next() == (EventType.CHANGED, "/once")
    events.assert_none()


def test_exists_watch_on_a_missing_node_fires_created(kazoo_client, writer):
    zk = kazoo_client
    events = Events()
    assert zk.exists("/later", watch=events) is None
    writer.create("/later", b"x")
    assert events.next() == (EventType.CREATED, "/later")
    events.assert_none()


def test_exists_watch_on_an_existing_node(kazoo_client, writer):
    zk = kazoo_client
    zk.create("/ex", b"")
    events = Events()
    assert zk.exists("/ex", watch=events) is not None
    writer.set("/ex", b"changed")
    assert events.next() == (EventType.CHANGED, "/ex")
    assert zk.exists("/ex", watch=events) is not None
    writer.delete("/ex")
    assert events.next() == (EventType.DELETED, "/ex")
    events.assert_none()


def test_child_watch_fires_on_create_and_delete_of_a_child(kazoo_client, writer):
    zk = kazoo_client
    zk.create("/cw")
    events = Events()
    assert zk.get_children("/cw", watch=events) == []
    writer.create("/cw/a")
    assert events.next() == (EventType.CHILD, "/cw")
    zk.get_children("/cw", watch=events)
    writer.set("/cw/a", b"data")  # a child's data is not the parent's children
    writer.set("/cw", b"data")  # nor is the parent's own data
    events.assert_none()
    writer.delete("/cw/a")
    assert events.next() == (EventType.CHILD, "/cw")
    events.assert_none()


def test_child_watch_fires_deleted_when_the_parent_goes(kazoo_client, writer):
    zk = kazoo_client
    zk.create("/cwp")
    child_events, data_events = Events(), Events()
    zk.get_children("/cwp", watch=child_events)
    zk.get("/cwp", watch=data_events)
    writer.delete("/cwp")
    assert child_events.next() == (EventType.DELETED, "/cwp")
    assert data_events.next() == (EventType.DELETED, "/cwp")
    child_events.assert_none()
    data_events.assert_none(0)


def test_ephemeral_sequential_paths_in_events(kazoo_client, writer):
    zk = kazoo_client
    zk.create("/q")
    events = Events()
    zk.get_children("/q", watch=events)
    path = writer.create("/q/item-", ephemeral=True, sequence=True)
    assert events.next() == (EventType.CHILD, "/q")
    node_events = Events()
    zk.exists(path, watch=node_events)
    writer.delete(path)
    assert node_events.next() == (EventType.DELETED, "/q/item-0000000000")


def test_watches_of_other_paths_do_not_fire(kazoo_client, writer):
    zk = kazoo_client
    zk.create("/iso")
    zk.create("/iso/a")
    zk.create("/iso/ab")
    events = Events()
    zk.get("/iso/a", watch=events)
    zk.get_children("/iso/a", watch=events)
    writer.set("/iso/ab", b"x")
    writer.create("/iso/ab/c")
    writer.create("/iso/b")
    events.assert_none()


# -- on the wire ------------------------------------------------------------------------------


def test_one_notification_per_connection_and_path(zk_server):
    """A connection watching a node twice (getData and exists) gets one event."""
    with wire.session(zk_server) as watcher, wire.session(zk_server) as other:
        assert watcher.create("/dup")[0].err == 0
        assert watcher.get_data("/dup", watch=True)[0].err == 0
        assert watcher.exists("/dup", watch=True)[0].err == 0
        assert other.set_data("/dup", b"x")[0].err == 0
        header, _, events = watcher.exists("/dup")  # any request: the event comes before its reply
        assert [(e.type, e.state, e.path) for e in events] == [
            (WireEventType.NodeDataChanged, KeeperState.SyncConnected, "/dup")]


def test_get_data_on_a_missing_node_sets_no_watch(zk_server):
    with wire.session(zk_server) as watcher, wire.session(zk_server) as other:
        header, _, _ = watcher.get_data("/ghost", watch=True)
        assert header.err == Code.NONODE
        header, _, _ = watcher.get_children("/ghost", watch=True)
        assert header.err == Code.NONODE
        assert other.create("/ghost")[0].err == 0
        assert other.create("/ghost/kid")[0].err == 0
        _, _, events = watcher.exists("/")
        assert events == []


def test_notification_comes_before_the_reply_of_the_write(zk_server):
    with wire.session(zk_server) as a:
        assert a.create("/order", b"0")[0].err == 0
        assert a.get_data("/order", watch=True)[0].err == 0
        assert a.get_children("/order", watch=True)[0].err == 0
        # A's own setData: the NodeDataChanged frame (xid -1) precedes the reply.
        xid = a.send_request(OpCode.setData, SetDataRequest("/order", b"1", -1))
        frames = a.read_until(xid)
        assert [h.xid for h, _ in frames] == [wire.NOTIFICATION_XID, xid]
        header, inp = frames[0]
        assert (header.zxid, header.err) == (-1, 0)
        event = WatcherEvent.deserialize(inp)
        assert (event.type, event.state, event.path) == (
            WireEventType.NodeDataChanged, KeeperState.SyncConnected, "/order")
        assert frames[1][0].err == 0
        # Same for A's own create under a watched parent.
        xid = a.send_request(OpCode.create, CreateRequest("/order/child", b"", OPEN_ACL_UNSAFE, 0))
        frames = a.read_until(xid)
        assert [h.xid for h, _ in frames] == [wire.NOTIFICATION_XID, xid]
        assert WatcherEvent.deserialize(frames[0][1]).type == WireEventType.NodeChildrenChanged



def test_set_watches_after_reconnect(zk_server):
    """SetWatches (xid -8) fires what was missed since relativeZxid, before its reply, and re-arms the rest."""
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        for path in ["/sw", "/sw/data", "/sw/gone", "/sw/kids", "/sw/same"]:
            assert writer.create(path)[0].err == 0
        relative = writer.exists("/sw")[0].zxid  # what the watcher "saw" before its reconnect
        assert writer.set_data("/sw/data", b"changed")[0].err == 0
        assert writer.delete("/sw/gone")[0].err == 0
        assert writer.create("/sw/kids/x")[0].err == 0
        assert writer.create("/sw/new")[0].err == 0
        watcher.send_request(OpCode.setWatches, SetWatches(
            relative, ["/sw/data", "/sw/gone", "/sw/same"], ["/sw/new", "/sw/notyet"], ["/sw/kids"]), xid=-8)
        frames = watcher.read_until(-8)
        assert frames[-1][0].err == 0
        events = {(e.type, e.path) for e in (WatcherEvent.deserialize(inp) for _, inp in frames[:-1])}
        assert events == {
            (WireEventType.NodeDataChanged, "/sw/data"), (WireEventType.NodeDeleted, "/sw/gone"),
            (WireEventType.NodeCreated, "/sw/new"), (WireEventType.NodeChildrenChanged, "/sw/kids"),
        }
        assert len(frames) == 5
        # The watches with nothing missed are armed now.
        assert writer.set_data("/sw/same", b"x")[0].err == 0
        assert writer.create("/sw/notyet")[0].err == 0
        assert writer.create("/sw/kids/y")[0].err == 0  # /sw/kids already fired: no more
        _, _, events = watcher.exists("/")
        assert [(e.type, e.path) for e in events] == [
            (WireEventType.NodeDataChanged, "/sw/same"), (WireEventType.NodeCreated, "/sw/notyet")]


def add_watch(client: wire.WireClient, path: str, mode: AddWatchMode) -> None:
    header, _, _ = client.call(OpCode.addWatch, AddWatchRequest(path, int(mode)))
    assert header.err == 0


def test_persistent_watch(zk_server):
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        add_watch(watcher, "/pw", AddWatchMode.PERSISTENT)
        for step in [lambda: writer.create("/pw"), lambda: writer.set_data("/pw", b"1"),
                     lambda: writer.set_data("/pw", b"2"), lambda: writer.create("/pw/c"),
                     lambda: writer.set_data("/pw/c", b"not watched"), lambda: writer.delete("/pw/c"),
                     lambda: writer.delete("/pw"), lambda: writer.create("/pw")]:
            assert step()[0].err == 0
        _, _, events = watcher.exists("/")
        assert [(e.type, e.path) for e in events] == [
            (WireEventType.NodeCreated, "/pw"), (WireEventType.NodeDataChanged, "/pw"),
            (WireEventType.NodeDataChanged, "/pw"), (WireEventType.NodeChildrenChanged, "/pw"),
            (WireEventType.NodeChildrenChanged, "/pw"), (WireEventType.NodeDeleted, "/pw"),
            (WireEventType.NodeCreated, "/pw"),
        ]


def test_persistent_recursive_watch(zk_server):
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        add_watch(watcher, "/pr", AddWatchMode.PERSISTENT_RECURSIVE)
        for step in [lambda: writer.create("/pr"), lambda: writer.create("/pr/a"),
                     lambda: writer.set_data("/pr/a", b"1"), lambda: writer.create("/pr/a/b"),
                     lambda: writer.delete("/pr/a/b"), lambda: writer.create("/prx"),
                     lambda: writer.set_data("/pr", b"top")]:
            assert step()[0].err == 0
        _, _, events = watcher.exists("/")
        # No NodeChildrenChanged from a recursive watch; /prx is not below /pr.
        assert [(e.type, e.path) for e in events] == [
            (WireEventType.NodeCreated, "/pr"), (WireEventType.NodeCreated, "/pr/a"),
            (WireEventType.NodeDataChanged, "/pr/a"), (WireEventType.NodeCreated, "/pr/a/b"),
            (WireEventType.NodeDeleted, "/pr/a/b"), (WireEventType.NodeDataChanged, "/pr"),
        ]


def test_check_and_remove_watches(zk_server):
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        assert writer.create("/rw")[0].err == 0
        assert watcher.get_data("/rw", watch=True)[0].err == 0

        def check(op, kind):
            record = (CheckWatchesRequest if op == OpCode.checkWatches else RemoveWatchesRequest)("/rw", int(kind))
            return watcher.call(op, record)[0].err

        assert check(OpCode.checkWatches, WatcherType.Data) == 0
        assert check(OpCode.checkWatches, WatcherType.Children) == Code.NOWATCHER
        assert check(OpCode.removeWatches, WatcherType.Any) == 0
        assert check(OpCode.checkWatches, WatcherType.Data) == Code.NOWATCHER
        assert check(OpCode.removeWatches, WatcherType.Data) == Code.NOWATCHER
        assert writer.set_data("/rw", b"x")[0].err == 0
        assert watcher.exists("/")[2] == []
