"""Persistent and persistent-recursive watches, and watches across reconnects (ZK_SPEC.md §2.10).

The basics of addWatch are in test_watches.py; this module covers what
comes with them: SetWatches2 after a server restart (standard watches fire
for what changed while the client was away, persistent ones are simply
re-armed), removeWatches/checkWatches on persistent watches, kazoo's
recipes across a restart, and the 3.8.4 rule that watch events only reach
connections that may READ the node. Runs against Java 3.8.0 too
(``ZKPY_IT_TARGET=java``), except where zkpy differs on purpose.
"""

from __future__ import annotations

import time

from kazoo.security import make_acl, make_digest_acl

from zkpy.defs import AUTH_XID, SET_WATCHES_XID, AddWatchMode, OpCode, WatcherType
from zkpy.defs import EventType as E
from zkpy.errors import Code
from zkpy.jute.records import (
    AddWatchRequest, AuthPacket, CheckWatchesRequest, RemoveWatchesRequest, SetWatches2, WatcherEvent,
)

from . import wire
from zkpy.testing import wait_until

from .servers import kazoo_session, zkpy_only
from .tcp_proxy import TcpProxy


def add_watch(client: wire.WireClient, path: str, recursive: bool = False) -> None:
    mode = AddWatchMode.PERSISTENT_RECURSIVE if recursive else AddWatchMode.PERSISTENT
    header, _, _ = client.call(OpCode.addWatch, AddWatchRequest(path, int(mode)))
    assert header.err == 0


def events_so_far(client: wire.WireClient) -> list[tuple[int, str]]:
    """Notifications queued for ``client`` before a round trip (an exists of "/").

    Events of a write go out before the write's own reply, so once the
    writer's call returned they are ahead of this request's reply."""
    header, _, events = client.exists("/")
    assert header.err == 0
    return [(e.type, e.path) for e in events]


def test_watches_survive_a_server_restart(zk_server):
    """SetWatches2 on the new connection: missed changes fire at once, before
    the xid -8 reply; persistent watches are re-armed without replay."""
    watcher = wire.connect(zk_server, timeout_ms=20000)
    try:
        session_id, passwd = watcher.session_id, watcher.passwd
        for path in ["/sw2", "/sw2/d", "/sw2/kids", "/sw2/p", "/sw2/r", "/sw2/same"]:
            assert watcher.create(path)[0].err == 0
        assert watcher.get_data("/sw2/d", watch=True)[0].err == 0
        assert watcher.get_data("/sw2/same", watch=True)[0].err == 0
        assert watcher.exists("/sw2/new", watch=True)[0].err == Code.NONODE
        assert watcher.get_children("/sw2/kids", watch=True)[0].err == 0
        add_watch(watcher, "/sw2/p")
        add_watch(watcher, "/sw2/r", recursive=True)
        last_zxid = watcher.exists("/")[0].zxid
    finally:
        watcher.close()

    zk_server.restart()
    with kazoo_session(zk_server) as writer:  # the changes the watcher misses
        writer.set("/sw2/d", b"changed")
        writer.create("/sw2/new")
        writer.create("/sw2/kids/x")
        writer.set("/sw2/p", b"missed")
        writer.create("/sw2/r/missed")

    watcher = wire.WireClient(zk_server.host, zk_server.port)
    try:
        resp, _ = watcher.handshake(session_id=session_id, passwd=passwd, last_zxid=last_zxid,
                                    timeout_ms=20000)
        assert resp.sessionId == session_id, "the session did not survive the restart"
        watcher.send_request(OpCode.setWatches2, SetWatches2(
            last_zxid, ["/sw2/d", "/sw2/same"], ["/sw2/new"], ["/sw2/kids"], ["/sw2/p"], ["/sw2/r"]),
            xid=SET_WATCHES_XID)
        frames = watcher.read_until(SET_WATCHES_XID)
        assert frames[-1][0].err == 0
        fired = {(ev.type, ev.path) for ev in (WatcherEvent.deserialize(inp) for _, inp in frames[:-1])}
        assert fired == {(E.NodeDataChanged, "/sw2/d"), (E.NodeCreated, "/sw2/new"),
                         (E.NodeChildrenChanged, "/sw2/kids")}
        assert len(frames) == 4
        with kazoo_session(zk_server) as writer:
            writer.set("/sw2/d", b"again")  # its one-shot watch already fired
            writer.set("/sw2/same", b"x")
            writer.set("/sw2/p", b"seen")
            writer.create("/sw2/r/missed/deep")
            writer.delete("/sw2/kids/x")  # fired already too
        assert events_so_far(watcher) == [
            (E.NodeDataChanged, "/sw2/same"), (E.NodeDataChanged, "/sw2/p"),
            (E.NodeCreated, "/sw2/r/missed/deep")]
    finally:
        watcher.close()


def test_kazoo_recipes_see_changes_made_while_disconnected(zk_server):
    """kazoo's DataWatch/ChildrenWatch re-read on reconnect (kazoo sends no
    SetWatches); the session must survive the restart for that."""
    with TcpProxy(zk_server.host, zk_server.port) as proxy:
        with kazoo_session(zk_server) as writer:
            writer.create("/kw", b"v1")
            with kazoo_session(Address(proxy.address), timeout=20.0) as zk:
                data, children = [], []
                zk.DataWatch("/kw", lambda d, stat: data.append(d))
                zk.ChildrenWatch("/kw", lambda c: children.append(sorted(c)))
                session_id = zk.client_id[0]
                wait_until(lambda: data == [b"v1"] and children == [[]])
                proxy.refuse()
                proxy.drop_connections()
                zk_server.restart()
                writer.set("/kw", b"v2")
                writer.create("/kw/kid")
                proxy.restore()
                wait_until(lambda: data[-1:] == [b"v2"] and children[-1:] == [["kid"]], timeout=20)
                assert zk.client_id[0] == session_id
                writer.set("/kw", b"v3")  # and the re-set watches are live again
                wait_until(lambda: data[-1:] == [b"v3"])


class Address:
    """What kazoo_session needs of a server: its connect string (here, the proxy's)."""

    def __init__(self, connect_string: str):
        self.connect_string = connect_string


def test_remove_and_check_persistent_watches(zk_server):
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        assert writer.create("/rp")[0].err == 0

        def watches(op, kind):
            cls = CheckWatchesRequest if op == OpCode.checkWatches else RemoveWatchesRequest
            return watcher.call(op, cls("/rp", int(kind)))[0].err

        add_watch(watcher, "/rp")
        # A persistent watch sits in both the data and the child tables.
        assert watches(OpCode.checkWatches, WatcherType.Data) == 0
        assert watches(OpCode.checkWatches, WatcherType.Children) == 0
        assert watches(OpCode.removeWatches, WatcherType.Children) == 0
        assert watches(OpCode.checkWatches, WatcherType.Children) == Code.NOWATCHER
        assert writer.create("/rp/kid")[0].err == 0  # no child event any more...
        assert writer.set_data("/rp", b"x")[0].err == 0  # ...data events still come
        assert events_so_far(watcher) == [(E.NodeDataChanged, "/rp")]
        assert watches(OpCode.removeWatches, WatcherType.Any) == 0
        assert watches(OpCode.removeWatches, WatcherType.Any) == Code.NOWATCHER
        assert writer.set_data("/rp", b"y")[0].err == 0
        assert events_so_far(watcher) == []
        # Unknown watcher types fail like Java's RuntimeException.
        assert watches(OpCode.checkWatches, 4) == Code.MARSHALLINGERROR
        add_watch(watcher, "/rp", recursive=True)
        assert watcher.call(OpCode.addWatch, AddWatchRequest("/rp", 7))[0].err == Code.MARSHALLINGERROR


def test_recursive_watch_on_the_root(zk_server):
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        add_watch(watcher, "/", recursive=True)
        assert writer.create("/rr")[0].err == 0
        assert writer.create("/rr/a")[0].err == 0
        assert writer.set_data("/rr/a", b"1")[0].err == 0
        assert writer.delete("/rr/a")[0].err == 0
        assert events_so_far(watcher) == [(E.NodeCreated, "/rr"), (E.NodeCreated, "/rr/a"),
                                          (E.NodeDataChanged, "/rr/a"), (E.NodeDeleted, "/rr/a")]


def test_persistent_watches_end_with_the_connection(zk_server):
    with wire.session(zk_server) as writer:
        watcher = wire.connect(zk_server, timeout_ms=20000)
        add_watch(watcher, "/pc", recursive=True)
        watcher.close()
        time.sleep(0.3)
        assert writer.create("/pc")[0].err == 0
        # A new connection of the same session does not inherit them.
        again = wire.WireClient(zk_server.host, zk_server.port)
        try:
            resp, _ = again.handshake(session_id=watcher.session_id, passwd=watcher.passwd, timeout_ms=20000)
            assert resp.timeOut > 0
            assert writer.create("/pc/a")[0].err == 0
            assert events_so_far(again) == []
            again.close_session()
        finally:
            again.close()


def test_last_watch_mode_on_a_path_wins(zk_server):
    """As 3.8.0: a standard data watch set over a persistent one makes it
    one-shot (3.9 would keep both, ZOOKEEPER-4466), and a recursive add
    over a persistent one makes it recursive."""
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        assert writer.create("/pd")[0].err == 0
        add_watch(watcher, "/pd")
        assert watcher.get_data("/pd", watch=True)[0].err == 0
        for data in (b"1", b"2", b"3"):
            assert writer.set_data("/pd", data)[0].err == 0
        # One data event; the child-table half of the persistent watch stays.
        assert writer.create("/pd/kid")[0].err == 0
        assert events_so_far(watcher) == [(E.NodeDataChanged, "/pd"), (E.NodeChildrenChanged, "/pd")]

        assert writer.create("/pr")[0].err == 0
        add_watch(watcher, "/pr")
        add_watch(watcher, "/pr", recursive=True)
        assert writer.create("/pr/kid")[0].err == 0
        assert writer.set_data("/pr/kid", b"x")[0].err == 0
        assert events_so_far(watcher) == [(E.NodeCreated, "/pr/kid"), (E.NodeDataChanged, "/pr/kid")]


def test_recursive_watch_reveals_only_readable_nodes(zk_server):
    """CVE-2024-23944, fixed in 3.8.4 (and in Debian's 3.8.0-11+deb12u2, the
    Java reference here): a recursive watch on an open node must not report
    what happens to descendants its connection may not read."""
    with wire.session(zk_server) as writer, wire.session(zk_server) as watcher:
        secret = [make_digest_acl("owner", "pw", all=True)]
        assert writer.create("/acl-r")[0].err == 0
        add_watch(watcher, "/acl-r", recursive=True)
        with kazoo_session(zk_server, auth_data=[("digest", "owner:pw")]) as owner:
            owner.create("/acl-r/open", b"")
            owner.create("/acl-r/secret", b"", acl=secret)
            owner.set("/acl-r/open", b"x")
            owner.set("/acl-r/secret", b"x")
            owner.create("/acl-r/secret/kid", b"")  # readable itself, under a secret parent
            owner.delete("/acl-r/secret/kid")
            owner.delete("/acl-r/secret")
            owner.delete("/acl-r/open")
        assert events_so_far(watcher) == [
            (E.NodeCreated, "/acl-r/open"), (E.NodeDataChanged, "/acl-r/open"),
            (E.NodeCreated, "/acl-r/secret/kid"), (E.NodeDeleted, "/acl-r/secret/kid"),
            (E.NodeDeleted, "/acl-r/open")]
        # Authenticated as the owner, the same connection hears everything.
        watcher.send_request(OpCode.auth, AuthPacket(0, "digest", b"owner:pw"), xid=AUTH_XID)
        assert watcher.read_reply()[0].err == 0
        with kazoo_session(zk_server, auth_data=[("digest", "owner:pw")]) as owner:
            owner.create("/acl-r/secret", b"", acl=secret)
        assert events_so_far(watcher) == [(E.NodeCreated, "/acl-r/secret")]


@zkpy_only
def test_set_watches_does_not_reveal_unreadable_changes(zk_server):
    """zkpy applies the READ filter to the events SetWatches fires as well
    (Java's fix covers live events only)."""
    with wire.session(zk_server) as watcher, kazoo_session(zk_server) as writer:
        writer.create("/sx", acl=[make_acl("world", "anyone", read=True, write=True, admin=True)])
        relative = watcher.exists("/sx")[0].zxid
        writer.set("/sx", b"changed")
        writer.set_acls("/sx", [make_digest_acl("owner", "pw", all=True)])
        writer.create("/sx-new", acl=[make_digest_acl("owner", "pw", all=True)])
        watcher.send_request(OpCode.setWatches2, SetWatches2(relative, ["/sx"], ["/sx-new"], [], [], []),
                             xid=SET_WATCHES_XID)
        frames = watcher.read_until(SET_WATCHES_XID)
        assert [h.xid for h, _ in frames] == [SET_WATCHES_XID]
