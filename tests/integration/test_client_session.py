"""zkpy.client sessions across failures: restarts, silent servers, expiry.

A TcpProxy sits between the client under test and the server where the test
must control the network: ``refuse()`` keeps the client away while another
client changes things, ``blackhole()`` makes the server go silent.
"""

from __future__ import annotations

import random
import time

import pytest

from zkpy.client import (
    CREATOR_ALL_ACL, AddWatchMode, CreateMode, EventType, KeeperState, States, StaticHostProvider, ZooKeeper,
)
from zkpy.errors import ConnectionLossException, SessionExpiredException
from zkpy.testing import TestingServer

from .client_util import Events, connect
from .tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = TestingServer(temp_dir=tmp_path_factory.mktemp("client_session"))
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture
def proxy(server):
    with TcpProxy(server.host, server.port) as p:
        yield p


def _states(events: Events) -> list:
    return [e.state for e in events.events if e.type == EventType.None_]


def test_reconnect_after_restart_keeps_session_and_rearms_watches(server, proxy):
    session = Events("session")
    zk = connect(proxy.address, 4000, session)
    try:
        sid, passwd = zk.get_session_id(), zk.get_session_passwd()
        zk.create("/restart", b"0")
        zk.create("/restart/eph", mode=CreateMode.EPHEMERAL)
        data_w, exist_w, child_w, persistent = (Events(n, nodes_only=True) for n in ("data", "exist", "child", "p"))
        zk.get_data("/restart", watch=data_w)
        assert zk.exists("/restart/later", watch=exist_w) is None
        zk.get_children("/restart", watch=child_w)
        zk.create("/restart/p")
        zk.add_watch("/restart/p", persistent, AddWatchMode.PERSISTENT)
        zk.add_auth_info("digest", b"alice:pw")
        zk.create("/restart/mine", b"secret", CREATOR_ALL_ACL)

        proxy.refuse()  # the client stays away until the changes below are made
        server.restart()
        session.wait_for(lambda evs: KeeperState.Disconnected in _states(session))
        assert zk.get_state() == States.CONNECTING
        with connect(server.connect_string) as other:
            other.set_data("/restart", b"1")
            other.create("/restart/later")
            other.create("/restart/p/c")
        proxy.restore()

        assert zk.wait_connected(15)
        assert (zk.get_session_id(), zk.get_session_passwd()) == (sid, passwd)
        # The watches were re-registered with the last zxid the client saw,
        # so the changes made while it was away fire now.
        assert [(e.type, e.path) for e in data_w.wait_count(1)] == [(EventType.NodeDataChanged, "/restart")]
        assert [(e.type, e.path) for e in exist_w.wait_count(1)] == [(EventType.NodeCreated, "/restart/later")]
        assert (EventType.NodeChildrenChanged, "/restart") in [(e.type, e.path) for e in child_w.wait_count(1)]
        # A persistent watch is simply re-added: it sees later changes.
        zk.set_data("/restart/p", b"again")
        persistent.wait_for(lambda evs: (EventType.NodeDataChanged, "/restart/p") in [(e.type, e.path) for e in evs])
        assert zk.exists("/restart/eph").ephemeralOwner == sid
        # The credentials were sent again on the new connection.
        assert zk.get_data("/restart/mine")[0] == b"secret"
        assert ("digest", "alice") in [(c.authScheme, c.user) for c in zk.whoami()]
        assert _states(session) == [KeeperState.SyncConnected, KeeperState.Disconnected, KeeperState.SyncConnected]
    finally:
        zk.close()


def test_silent_server_read_timeout_moves_to_next_host(server, proxy):
    # Proxy first, then the server itself: after the read timeout the client
    # must give up on the silent proxy and resume the session directly.
    provider = next(p for p in (StaticHostProvider([("127.0.0.1", proxy.port), (server.host, server.port)],
                                                   rng=random.Random(seed)) for seed in range(100))
                    if p.addresses[0][1] == proxy.port)
    session = Events("session")
    # 4000 ms: the read timeout (2/3) leaves 1.3 s to reconnect, more than
    # the client's random reconnect delay (up to 1 s, as Java's).
    zk = ZooKeeper(f"{proxy.address},{server.connect_string}", 4000, session, host_provider=provider)
    try:
        assert zk.wait_connected(10)
        sid = zk.get_session_id()
        zk.create("/silent", b"0")
        w = Events("w", nodes_only=True)
        zk.get_data("/silent", watch=w)
        proxy.blackhole()
        started = time.monotonic()
        pending = zk.get_data_async("/silent")  # goes into the silence
        assert isinstance(pending.exception(10), ConnectionLossException)
        waited = time.monotonic() - started
        # Read timeout = 2/3 of the negotiated 4000 ms.
        assert 2.0 < waited < 4.0, waited
        with connect(server.connect_string) as other:
            other.set_data("/silent", b"1")
        assert zk.wait_connected(10)
        assert zk.get_session_id() == sid
        assert [(e.type, e.path) for e in w.wait_count(1)] == [(EventType.NodeDataChanged, "/silent")]
        assert zk.get_data("/silent")[0] == b"1"
        assert _states(session) == [KeeperState.SyncConnected, KeeperState.Disconnected, KeeperState.SyncConnected]
    finally:
        zk.close()


def test_session_expiry(server, proxy):
    session = Events("session")
    zk = connect(proxy.address, 1000, session)
    try:
        assert zk.get_session_timeout() == 1000
        zk.create("/expiring", mode=CreateMode.EPHEMERAL)
        with connect(server.connect_string) as observer:
            gone = Events("gone", nodes_only=True)
            observer.exists("/expiring", watch=gone)
            proxy.blackhole()
            pending = zk.exists_async("/expiring")
            # The server expires the silent session and deletes its ephemeral.
            assert [(e.type, e.path) for e in gone.wait_count(1, timeout=15)] == [
                (EventType.NodeDeleted, "/expiring")]
            assert isinstance(pending.exception(10), ConnectionLossException)
            proxy.restore()
            assert session.wait_for(lambda evs: KeeperState.Expired in _states(session), 15)
            assert zk.get_state() == States.CLOSED
            with pytest.raises(SessionExpiredException):
                zk.exists("/")
            with pytest.raises(SessionExpiredException):
                zk.create_async("/x").result(5)
            session.wait_for(lambda evs: KeeperState.Closed in _states(session))
            assert _states(session) == [KeeperState.SyncConnected, KeeperState.Disconnected,
                                        KeeperState.Expired, KeeperState.Closed]
            assert observer.exists("/expiring") is None
    finally:
        zk.close()  # nothing to do: already closed
    assert zk.get_state() == States.CLOSED


def test_resume_session_by_id_and_close_it(server):
    session = Events("session")
    first = connect(server.connect_string, 4000, session)
    try:
        first.create("/shared-eph", mode=CreateMode.EPHEMERAL)
        sid, passwd = first.get_session_id(), first.get_session_passwd()
        second = connect(server.connect_string, 4000, session_id=sid, session_passwd=passwd)
        try:
            assert second.get_session_id() == sid
            assert second.get_ephemerals() == ["/shared-eph"]
        finally:
            second.close()  # ends the session both handles share
        # The first handle was cut off when the second took the session; on
        # reconnecting it learns that the session is gone.
        assert session.wait_for(lambda evs: KeeperState.Expired in _states(session), 15)
        with pytest.raises(SessionExpiredException):
            first.get_data("/")
    finally:
        first.close()
    with connect(server.connect_string) as other:
        assert other.exists("/shared-eph") is None


def test_wrong_password_expires(server):
    zk = connect(server.connect_string, 4000)
    sid = zk.get_session_id()
    try:
        session = Events("session")
        wrong = ZooKeeper(server.connect_string, 4000, session, session_id=sid, session_passwd=b"x" * 16)
        try:
            assert session.wait_for(lambda evs: KeeperState.Expired in _states(session), 15)
            assert wrong.get_state() == States.CLOSED
        finally:
            wrong.close()
    finally:
        zk.close()
