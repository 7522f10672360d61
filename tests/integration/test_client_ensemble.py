"""zkpy.client on a three-peer zkpy ensemble: a session moves to another
server when its server stops, and a ``can_be_read_only`` client reads from
a peer that lost its quorum, then moves to a read-write server.

Which server a client talks to is read from the server side (the ``cons``
four-letter word lists each connection's session id), as an operator would.
"""

from __future__ import annotations

import random

import pytest

from zkpy.client import CreateMode, EventType, KeeperState, States, StaticHostProvider, ZooKeeper
from zkpy.errors import NotReadOnlyException
from zkpy.testing import TestingCluster

from .client_util import Events, connect
from .zab_util import wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with TestingCluster(3, temp_dir=tmp_path_factory.mktemp("client_ensemble"),
                        jvm_flags=["-Dreadonlymode.enabled=true"]) as c:
        c.start()
        wait_until(lambda: all(c.modes().values()), what="every peer serving", cluster=c)
        yield c


def _session_states(events: Events) -> list:
    return [e.state for e in events.events if e.type == EventType.None_]


def _serving(cluster, session_id: int) -> list[int]:
    """The peers that have a connection of this session."""
    tag = f"sid=0x{session_id:x},"
    found = []
    for sid in cluster.sids:
        try:
            if tag in cluster.peer(sid).four_letter_word("cons"):
                found.append(sid)
        except OSError:
            pass  # a stopped peer
    return found


def _provider_starting_at(cluster, first: int) -> StaticHostProvider:
    """A StaticHostProvider of the whole ensemble whose shuffle put ``first`` first."""
    addresses = [(cluster.peer(sid).host, cluster.peer(sid).port) for sid in cluster.sids]
    for seed in range(200):
        provider = StaticHostProvider(addresses, rng=random.Random(seed))
        if provider.addresses[0] == addresses[first - 1]:
            return provider
    raise AssertionError("no seed puts the peer first")


def test_session_moves_to_another_server_when_its_server_stops(cluster):
    leader = cluster.wait_for_leader()
    follower = cluster.followers()[0]
    session = Events("session")
    zk = ZooKeeper(cluster.connect_string, 4000, session, host_provider=_provider_starting_at(cluster, follower))
    try:
        assert zk.wait_connected(15)
        sid, passwd = zk.get_session_id(), zk.get_session_passwd()
        assert _serving(cluster, sid) == [follower]
        zk.create("/moving", b"0")
        zk.create("/moving/eph", mode=CreateMode.EPHEMERAL)
        data_w, child_w = Events("data", nodes_only=True), Events("child", nodes_only=True)
        zk.get_data("/moving", watch=data_w)
        zk.get_children("/moving", watch=child_w)

        cluster.stop(follower)
        # The client finds one of the two remaining peers and resumes its
        # session there: same id and password, no expiry, no new session.
        assert session.wait_for(lambda evs: _session_states(session)[-1:] == [KeeperState.SyncConnected]
                                and KeeperState.Disconnected in _session_states(session), 20)
        assert (zk.get_session_id(), zk.get_session_passwd()) == (sid, passwd)
        assert zk.get_state() == States.CONNECTED
        moved_to = wait_until(lambda: _serving(cluster, sid), 10, "the session on another peer", cluster)
        assert moved_to in ([leader], [p for p in cluster.sids if p not in (leader, follower)])
        # Its ephemeral node is still its own, and the watches came along.
        assert zk.exists("/moving/eph").ephemeralOwner == sid
        with connect(cluster.peer(leader).connect_string) as other:
            other.set_data("/moving", b"1")
            other.create("/moving/new")
        assert [(e.type, e.path) for e in data_w.wait_count(1)] == [(EventType.NodeDataChanged, "/moving")]
        assert [(e.type, e.path) for e in child_w.wait_count(1)] == [(EventType.NodeChildrenChanged, "/moving")]
        # The new server is not behind what the client saw: its own writes are there.
        assert zk.get_data("/moving")[0] == b"1"
        assert _session_states(session) == [KeeperState.SyncConnected, KeeperState.Disconnected,
                                            KeeperState.SyncConnected]
    finally:
        zk.close()
        cluster.start(follower)
    with connect(cluster.connect_string) as other:
        assert other.exists("/moving/eph") is None  # close() ended the moved session


def test_can_be_read_only_client_reads_from_a_lone_peer_then_moves_to_read_write(cluster):
    lone = cluster.sids[-1]
    with connect(cluster.connect_string) as setup:
        setup.create("/ro-client", b"before")
    for sid in cluster.sids:
        if sid != lone:
            cluster.stop(sid)
    try:
        wait_until(lambda: cluster.peer(lone).four_letter_word("isro") == "ro", 30, "read-only mode", cluster)
        session = Events("session")
        zk = ZooKeeper(cluster.connect_string, 4000, session, can_be_read_only=True)
        plain = ZooKeeper(cluster.connect_string, 4000)
        try:
            assert zk.wait_connected(15) and zk.get_state() == States.CONNECTEDREADONLY
            # The state changes before the event thread delivers its event.
            assert session.wait_for(lambda evs: _session_states(session), 5)
            assert _session_states(session) == [KeeperState.ConnectedReadOnly]
            assert zk.get_data("/ro-client")[0] == b"before"
            with pytest.raises(NotReadOnlyException):
                zk.create("/ro-client/no")
            # A client without canBeReadOnly is not let in.
            assert not plain.wait_connected(1)
            ro_session = zk.get_session_id()
            for sid in cluster.sids:
                if sid != lone:
                    cluster.start(sid, wait=False)
            # The read-only client probes the others and moves to a read-write
            # server with a new session (it never met one before).
            assert session.wait_for(lambda evs: KeeperState.SyncConnected in _session_states(session), 60)
            assert zk.get_state() == States.CONNECTED and zk.get_session_id() != ro_session
            assert zk.create("/ro-client/after") == "/ro-client/after"
            assert plain.wait_connected(30)
            # Another client's write, maybe through another server: ZooKeeper
            # promises it to this client only after a sync.
            plain.sync("/ro-client")
            assert sorted(plain.get_children("/ro-client")) == ["after"]
        finally:
            zk.close()
            plain.close()
    finally:
        for sid in cluster.sids:
            if not cluster.peer(sid).is_running:
                cluster.start(sid, wait=False)
