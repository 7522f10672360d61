"""zkpy.client's pure parts: connect strings, host order, watch tables, SetWatches batches."""

from __future__ import annotations

import random
import time

import pytest

from zkpy.client import EventType, KeeperState, WatchedEvent, WatcherType
from zkpy.client.client_cnxn import SET_WATCHES_MAX_LENGTH, ClientCnxn, SendThread
from zkpy.client.host_provider import ConnectStringParser, StaticHostProvider
from zkpy.client.watch_manager import (
    ChildWatchRegistration, DataWatchRegistration, ExistsWatchRegistration, ZKWatchManager,
)
from zkpy.defs import OpCode
from zkpy.errors import Code, NoNodeException, NoWatcherException


@pytest.mark.parametrize("text, hosts, chroot", [
    ("h1:2181", [("h1", 2181)], None),
    ("h1", [("h1", 2181)], None),
    ("h1:", [("h1", 2181)], None),
    ("h1:1,h2:2/app", [("h1", 1), ("h2", 2)], "/app"),
    (" h1:1 , ,h2:2/", [("h1", 1), ("h2", 2)], None),
    ("[::1]:2182,[fe80::1]/a/b", [("::1", 2182), ("fe80::1", 2181)], "/a/b"),
])
def test_connect_string(text, hosts, chroot):
    parsed = ConnectStringParser(text)
    assert parsed.server_addresses == hosts
    assert parsed.chroot_path == chroot


@pytest.mark.parametrize("text", ["", "/app", "h1:2181/app/", "h1:2181//x", "h1:x"])
def test_bad_connect_string(text):
    with pytest.raises(ValueError):
        ConnectStringParser(text)


def _no_resolve(host, port, type=None):
    raise OSError("no DNS in unit tests")


def test_host_provider_round_robin_and_spin_delay():
    addresses = [(f"h{i}", 2181) for i in range(4)]
    provider = StaticHostProvider(addresses, rng=random.Random(3), resolver=_no_resolve)
    assert sorted(provider.addresses) == addresses  # shuffled, nothing lost
    first_round = [provider.next(50) for _ in range(4)]
    assert first_round == provider.addresses
    # Back at the first server without a connection: one spin delay.
    started = time.monotonic()
    assert provider.next(50) == provider.addresses[0]
    assert time.monotonic() - started >= 0.045
    provider.next(0)
    provider.on_connected()  # the second server is now the last good one
    started = time.monotonic()
    for _ in range(3):
        provider.next(50)
    assert time.monotonic() - started < 0.04
    provider.next(50)  # the second server again: a full round
    assert time.monotonic() - started >= 0.045


def test_host_provider_shuffles_the_servers():
    """Clients of one connect string spread over the ensemble (Java shuffles
    once per client): the first server differs from client to client."""
    addresses = [(f"h{i}", 2181) for i in range(4)]
    seeded = {StaticHostProvider(addresses, rng=random.Random(s), resolver=_no_resolve).addresses[0]
              for s in range(40)}
    assert seeded == set(addresses)
    # The default random source, too (24 orders: 30 equal ones by chance is ~1e-40).
    orders = {tuple(StaticHostProvider(addresses, resolver=_no_resolve).addresses) for _ in range(30)}
    assert len(orders) > 1


def test_host_provider_resolves_and_interrupt():
    provider = StaticHostProvider([("localhost", 2181)])
    assert provider.next(0) in (("127.0.0.1", 2181), ("::1", 2181))
    provider.interrupt()
    started = time.monotonic()
    provider.next(5000)  # single host: would sleep 5 s, but was interrupted
    assert time.monotonic() - started < 1


def test_materialize_one_shot_and_persistent():
    wm = ZKWatchManager(default_watcher="default")
    ExistsWatchRegistration(wm, "exist", "/a").register(Code.NONODE)
    DataWatchRegistration(wm, "data", "/a").register(Code.OK)
    DataWatchRegistration(wm, "failed", "/a").register(Code.NONODE)  # no watch on failure
    ChildWatchRegistration(wm, "child", "/a").register(Code.OK)
    wm.add(wm.persistent_watches, "/a", "persistent")
    wm.add(wm.persistent_recursive_watches, "/", "recursive")
    assert wm.materialize(KeeperState.SyncConnected, EventType.NodeCreated, "/a") == [
        "data", "exist", "persistent", "recursive"]
    assert wm.materialize(KeeperState.SyncConnected, EventType.NodeCreated, "/a") == ["persistent", "recursive"]
    # Recursive watchers never get child events.
    assert wm.materialize(KeeperState.SyncConnected, EventType.NodeChildrenChanged, "/a") == [
        "child", "persistent"]
    assert wm.materialize(KeeperState.SyncConnected, EventType.NodeDeleted, "/a/b/c") == ["recursive"]
    # Session events go to everyone, the default watcher first.
    DataWatchRegistration(wm, "data", "/x").register(Code.OK)
    assert wm.materialize(KeeperState.Disconnected, EventType.None_, None) == [
        "default", "data", "persistent", "recursive"]
    assert wm.get_data_watch_list() == ["/x"]  # kept: they are re-registered on reconnect


def test_materialize_clears_when_auto_reset_is_disabled():
    wm = ZKWatchManager(disable_auto_watch_reset=True)
    DataWatchRegistration(wm, "data", "/x").register(Code.OK)
    assert wm.materialize(KeeperState.SyncConnected, EventType.None_, None) == ["data"]
    assert wm.get_data_watch_list() == ["/x"]
    assert wm.materialize(KeeperState.Disconnected, EventType.None_, None) == ["data"]
    assert wm.get_data_watch_list() == []


def test_remove_watcher():
    wm = ZKWatchManager()
    DataWatchRegistration(wm, "w1", "/a").register(Code.OK)
    ExistsWatchRegistration(wm, "w1", "/a").register(Code.NONODE)
    ChildWatchRegistration(wm, "w1", "/a").register(Code.OK)
    DataWatchRegistration(wm, "w2", "/a").register(Code.OK)
    with pytest.raises(NoWatcherException):
        wm.remove_watcher("/a", "w3", WatcherType.Any, False, Code.OK)
    with pytest.raises(NoNodeException):  # the server's error wins unless local
        wm.remove_watcher("/a", "w1", WatcherType.Data, False, Code.NONODE)
    removed = wm.remove_watcher("/a", "w1", WatcherType.Data, False, Code.OK)
    assert removed[EventType.DataWatchRemoved] == ["w1"] and removed[EventType.ChildWatchRemoved] == []
    removed = wm.remove_watcher("/a", None, WatcherType.Any, True, Code.CONNECTIONLOSS)
    assert removed[EventType.DataWatchRemoved] == ["w2"] and removed[EventType.ChildWatchRemoved] == ["w1"]
    assert wm.get_data_watch_list() == wm.get_child_watch_list() == []


class _Provider:
    def size(self):
        return 1


def test_set_watches_batches_and_chroot():
    wm = ZKWatchManager()
    long_paths = [f"/{i:04d}" + "x" * 1000 for i in range(300)]  # ~300 KB of paths
    for p in long_paths:
        DataWatchRegistration(wm, "w", p).register(Code.OK)
    ChildWatchRegistration(wm, "w", "/").register(Code.OK)
    cnxn = ClientCnxn("/app", _Provider(), 10000, wm)
    cnxn.last_zxid = 42
    packets = SendThread._set_watches_packets(cnxn.send_thread)
    assert len(packets) == 3
    assert all(p.header.type == OpCode.setWatches for p in packets)
    records = [p.request for p in packets]
    assert all(r.relativeZxid == 42 for r in records)
    sent = [w for r in records for w in r.dataWatches]
    assert sent == ["/app" + p for p in long_paths]
    assert sum(len(w) for w in records[0].dataWatches) < SET_WATCHES_MAX_LENGTH + 1100
    assert records[-1].childWatches == ["/app"]
    wm.add(wm.persistent_recursive_watches, "/r", "w")
    packets = SendThread._set_watches_packets(cnxn.send_thread)
    assert packets[-1].header.type == OpCode.setWatches2
    assert packets[-1].request.persistentRecursiveWatches == ["/app/r"]


def test_strip_chroot():
    cnxn = ClientCnxn("/app", _Provider(), 10000, ZKWatchManager())
    assert cnxn.strip_chroot("/app") == "/"
    assert cnxn.strip_chroot("/app/x/y") == "/x/y"
    assert cnxn.strip_chroot("/apple") == "/apple"  # not under the chroot
    assert cnxn.strip_chroot("/zookeeper/config") == "/zookeeper/config"


def test_watched_event_str_is_javas():
    event = WatchedEvent(EventType.None_, KeeperState.SyncConnected, None)
    assert str(event) == "WatchedEvent state:SyncConnected type:None path:null"
    event = WatchedEvent(EventType.NodeDataChanged, KeeperState.SyncConnected, "/a")
    assert str(event) == "WatchedEvent state:SyncConnected type:NodeDataChanged path:/a"
