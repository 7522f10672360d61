"""Zab broadcast on a running ensemble (ZK_SPEC.md §4.3): three voters and
an observer, shared by the module's tests.

Writes go through any server and are read back from every server; the
observer serves reads and forwards writes; ``sync`` catches a server up;
a session's reads never overtake its writes on a follower; sessions are
the leader's (ephemerals vanish everywhere when one expires) and move
between servers on reconnect.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from kazoo.client import KazooClient

from zkpy.defs import OpCode
from zkpy.testing import TestingCluster

from . import kazoo_ext
from .wire import WireClient
from .zab_util import assert_same_data, freeze, kazoo, log_text, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    config = {"znode.container.checkIntervalMs": 200}  # the leader's ContainerManager, quickly
    with TestingCluster(3, observers=1, temp_dir=tmp_path_factory.mktemp("zab"), config=config) as c:
        c.start()
        wait_until(lambda: all(c.modes().values()), what="every peer serving", cluster=c)
        yield c


def followers(cluster):
    leader = cluster.leader()
    return [sid for sid in cluster.voters if sid != leader]


def test_roles_and_writes_through_any_server_are_read_back_everywhere(cluster):
    modes = cluster.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader", "observer"]
    assert modes[4] == "observer"
    for sid in cluster.sids:
        with kazoo(cluster.peer(sid)) as client:
            client.ensure_path("/any")
            client.create(f"/any/via{sid}", f"from {sid}".encode())
            client.set(f"/any/via{sid}", f"set via {sid}".encode())
    tree = assert_same_data(cluster, expect_paths=[f"/any/via{sid}" for sid in cluster.sids])
    assert tree["/any/via4"][0] == b"set via 4"
    assert tree["/any"][1][9] == 4  # numChildren
    srvr = cluster.peer(cluster.leader()).four_letter_word("srvr")
    last, low, high = srvr.split("Proposal sizes last/min/max: ")[1].split()[0].split("/")
    assert 0 < int(low) <= int(last) <= int(high)


def test_the_observer_serves_reads_and_forwards_writes_without_voting(cluster):
    observer = cluster.peer(4)
    with kazoo(observer) as client:
        client.create("/observed", b"o")
        assert client.get("/observed")[0] == b"o"
    with kazoo(cluster.peer(cluster.leader())) as client:
        assert client.get("/observed")[0] == b"o"
    leader_mntr = cluster.peer(cluster.leader()).four_letter_word("mntr")
    assert "zk_synced_observers\t1" in leader_mntr and "zk_synced_followers\t2" in leader_mntr
    assert "zk_peer_state\tobserving - broadcast" in observer.four_letter_word("mntr")


def test_sync_brings_a_learner_up_to_date_before_it_answers(cluster):
    leader = cluster.peer(cluster.leader())
    follower = cluster.peer(followers(cluster)[0])
    with kazoo(leader) as writer, kazoo(follower) as reader, kazoo(cluster.peer(4)) as observer_reader:
        for i in range(20):
            writer.create(f"/sync{i}", b"v")
            reader.sync("/")
            assert reader.exists(f"/sync{i}") is not None
            observer_reader.sync("/")
            assert observer_reader.exists(f"/sync{i}") is not None


def test_a_sessions_reads_never_overtake_its_writes_on_a_learner(cluster):
    for sid in (followers(cluster)[0], 4):
        with kazoo(cluster.peer(sid)) as client:
            for i in range(30):
                path = f"/order{sid}_{i}"
                created = client.create_async(path, b"x")
                seen = client.exists_async(path)
                data = client.get_async(path)
                children = client.get_children_async("/")
                created.get(timeout=10)
                assert seen.get(timeout=10) is not None, path
                assert data.get(timeout=10)[0] == b"x"
                assert path[1:] in children.get(timeout=10)


def test_writes_are_applied_in_the_same_order_everywhere(cluster):
    """Concurrent writers on every server; every peer ends with the same
    versions and data (the commit order), znode by znode."""
    errors = []

    def writer(sid):
        try:
            with kazoo(cluster.peer(sid)) as client:
                client.ensure_path("/race")
                for i in range(25):
                    client.set("/race", f"{sid}-{i}".encode())
                    client.create("/race/n", b"", sequence=True)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(sid,)) for sid in cluster.sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    tree = assert_same_data(cluster, expect_paths=["/race"])
    assert tree["/race"][1][4] == 100  # version: 4 writers x 25 setData
    assert len([p for p in tree if p.startswith("/race/n")]) == 100


def test_an_expired_session_s_ephemerals_vanish_on_every_server(cluster):
    follower = cluster.peer(followers(cluster)[0])
    client = WireClient(follower.host, follower.port)
    try:
        resp, _ = client.handshake(timeout_ms=2500)
        assert resp.timeOut == 2500
        header, _, _ = client.create("/eph", b"e", flags=1)
        assert header.err == 0
        for sid in cluster.sids:
            with kazoo(cluster.peer(sid)) as reader:
                reader.sync("/")
                assert reader.get("/eph")[1].ephemeralOwner == resp.sessionId
        gone = cluster.peer(cluster.leader()).four_letter_word("dump")
        assert f"0x{resp.sessionId:x}" in gone
    finally:
        client.close()  # no closeSession: the leader must expire it
    for sid in cluster.sids:
        with kazoo(cluster.peer(sid)) as reader:
            wait_until(lambda r=reader: (r.sync("/"), r.exists("/eph"))[1] is None, 10,
                       f"the ephemeral gone on peer {sid}")
    assert "Expiring session 0x%x" % resp.sessionId in log_text(cluster.peer(cluster.leader()))


def test_a_session_moves_between_servers_and_keeps_its_ephemerals(cluster):
    first, second = followers(cluster)[0], 4
    c1 = KazooClient(hosts=cluster.peer(first).connect_string, timeout=6)
    c1.start(timeout=20)
    try:
        c1.create("/moving", b"m", ephemeral=True)
        session_id, passwd = c1.client_id
        c2 = KazooClient(hosts=cluster.peer(second).connect_string, timeout=6, client_id=(session_id, passwd))
        c2.start(timeout=20)  # the observer asks the leader (REVALIDATE); the session is now its
        try:
            assert c2.client_id[0] == session_id
            c2.set("/moving", b"moved")
            assert c2.get("/moving")[1].ephemeralOwner == session_id
            # The leader is the third home of the same session.
            c3 = KazooClient(hosts=cluster.peer(cluster.leader()).connect_string, timeout=6,
                             client_id=(session_id, passwd))
            c3.start(timeout=20)
            try:
                c3.set("/moving", b"on the leader")
                assert c3.get("/moving")[0] == b"on the leader"
            finally:
                c3.stop()
                c3.close()  # closeSession: the ephemeral goes
        finally:
            c2.stop()
            c2.close()
    finally:
        c1.stop()
        c1.close()
    with kazoo(cluster.peer(first)) as reader:
        reader.sync("/")
        assert reader.exists("/moving") is None


def test_a_resumed_session_that_expired_is_refused_by_a_learner(cluster):
    follower = cluster.peer(followers(cluster)[0])
    with WireClient(follower.host, follower.port) as client:
        resp, _ = client.handshake(timeout_ms=400, session_id=0x0123456789, passwd=bytes(16))
        assert resp.timeOut == 0 and resp.sessionId == 0  # invalid: expired


def test_the_leader_removes_empty_containers_for_everyone(cluster):
    follower = cluster.peer(followers(cluster)[0])
    with kazoo(follower) as client:
        kazoo_ext.create_container(client, "/box")
        client.create("/box/item", b"")
        client.delete("/box/item")
        wait_until(lambda: (client.sync("/"), client.exists("/box"))[1] is None, 10, "the container removed")
        kazoo_ext.create_container(client, "/unused-box")  # never had a child: kept
    # A client's own deleteContainer (op 20) is refused by the learner, not
    # forwarded to the leader as if it were the leader's ContainerManager's.
    with WireClient(follower.host, follower.port) as raw:
        raw.handshake()
        xid = raw.send_request(OpCode.deleteContainer, body=b"/unused-box")
        header, _ = raw.read_reply()
        assert (header.xid, header.err) == (xid, -8)
    assert "/unused-box" in assert_same_data(cluster)


def test_a_follower_that_stops_acking_is_dropped_and_rejoins(cluster):
    leader = cluster.leader()
    lagging = followers(cluster)[0]
    pid = cluster.peer(lagging).pid
    freeze(pid)  # alive but silent: no ACK, no PING reply
    try:
        with kazoo(cluster.peer(leader)) as client:
            for i in range(5):  # the leader and the other follower are a quorum
                client.create(f"/lag{i}", b"l")
            # Dropped after syncLimit ticks: by the proposal timeout or the read timeout.
            wait_until(lambda: "zk_synced_followers\t1" in cluster.peer(leader).four_letter_word("mntr"), 10,
                       "the leader to drop the silent follower", cluster)
            assert "zk_learners\t2" in cluster.peer(leader).four_letter_word("mntr")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: cluster.mode(lagging) == "follower", 30, "the follower back", cluster)
    assert_same_data(cluster, expect_paths=["/lag4"])


def test_leader_serves_no_keeps_clients_off_the_leader(tmp_path):
    with TestingCluster(3, temp_dir=tmp_path, config={"leaderServes": "no"}) as cluster:
        cluster.start(wait=False)
        wait_until(lambda: sorted(m for m in cluster.modes().values() if m) == ["follower", "follower"], 30,
                   "two followers", cluster)
        leader = next(sid for sid, mode in cluster.modes().items() if mode is None)
        assert "not currently serving" in cluster.peer(leader).four_letter_word("srvr")
        assert "leaderServes=no" in log_text(cluster.peer(leader))
        client = KazooClient(hosts=cluster.peer(leader).connect_string, timeout=2)
        try:
            with pytest.raises(Exception):
                client.start(timeout=3)
        finally:
            client.stop()
            client.close()
        with kazoo(cluster.connect_string) as client:  # the followers serve, the leader leads
            client.create("/served", b"by a follower")
        assert_same_data(cluster, sids=[sid for sid in cluster.voters if sid != leader], expect_paths=["/served"])


@pytest.mark.slow
def test_five_voters_and_two_observers(tmp_path):
    with TestingCluster(5, observers=2, temp_dir=tmp_path) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        assert sorted(cluster.modes().values()) == ["follower"] * 4 + ["leader"] + ["observer"] * 2
        for sid in cluster.sids:
            with kazoo(cluster.peer(sid)) as client:
                client.create(f"/via{sid}", b"%d" % sid, ephemeral=sid % 2 == 0)
                assert_same_data(cluster, expect_paths=[f"/via{sid}"])
        # Two voters down: three of five still form a quorum, observers still serve.
        old_leader = cluster.leader()
        down = [old_leader, next(sid for sid in cluster.voters if sid != old_leader)]
        for sid in down:
            cluster.stop(sid)
        wait_until(lambda: cluster.leader() not in (None, *down), 30, "a new leader", cluster)
        with kazoo(cluster.peer(6)) as client:
            client.create("/after", b"a")
        for sid in down:
            cluster.start(sid)
        tree = assert_same_data(cluster, expect_paths=["/after", "/via1", "/via7"])
        assert not [p for p in tree if p in ("/via2", "/via4", "/via6")]  # closed sessions' ephemerals
