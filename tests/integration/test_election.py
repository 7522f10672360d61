"""Leader election and discovery between real peer processes on loopback
(ZK_SPEC.md §4.1-4.3, §4.5), driven through zkpy.testing.TestingCluster.

A peer counts as leader/follower/observer when ``srvr`` says so: the leader
once a quorum of voters synced with it, a learner once it is up to date.
tickTime is 200 ms, initLimit 10 and syncLimit 5 ticks.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import psutil
import pytest

from zkpy.testing import TestingCluster, TestingServer

from .zab_util import wait_until


def epoch_file(cluster, sid, name):
    path = os.path.join(cluster.peer(sid).data_dir, "version-2", name)
    with open(path, "rb") as f:
        return f.read()


def write_epochs(cluster, sid, accepted, current):
    version_dir = os.path.join(cluster.peer(sid).data_dir, "version-2")
    os.makedirs(version_dir, exist_ok=True)
    for name, value in (("acceptedEpoch", accepted), ("currentEpoch", current)):
        with open(os.path.join(version_dir, name), "w") as f:
            f.write(str(value))


@pytest.fixture
def cluster3():
    with TestingCluster(3) as cluster:
        yield cluster


def test_three_peers_elect_the_highest_sid_and_agree_on_an_epoch(cluster3):
    cluster = cluster3
    cluster.start(3, wait=False)            # sid 3 first: everyone hears it as soon as they start
    cluster.start(1, 2, wait=False)
    assert cluster.wait_for_leader() == 3
    wait_until(lambda: cluster.modes() == {1: "follower", 2: "follower", 3: "leader"}, what="all settled",
               cluster=cluster)
    srvr = cluster.peer(3).four_letter_word("srvr")
    assert "Mode: leader" in srvr and "Proposal sizes last/min/max: -1/-1/-1" in srvr
    assert "Mode: follower" in cluster.peer(1).four_letter_word("srvr")
    assert "\nMode: leader\n" in cluster.peer(3).four_letter_word("stat")
    assert "\nMode: follower\n" in cluster.peer(2).four_letter_word("stat")
    assert "zk_peer_state\tleading - broadcast" in cluster.peer(3).four_letter_word("mntr")
    assert "zk_peer_state\tfollowing - broadcast" in cluster.peer(2).four_letter_word("mntr")
    conf = cluster.peer(1).four_letter_word("conf")
    assert "serverId=1\n" in conf and "electionAlg=3\n" in conf and "peerType=0\n" in conf
    assert conf.rstrip().endswith("version=0") and "server.3=127.0.0.1:" in conf
    # Discovery: new epoch = max(acceptedEpoch) + 1 = 1, accepted by all; the
    # leader made it current after discovery, the learners on NEWLEADER.
    for sid in (1, 2, 3):
        assert epoch_file(cluster, sid, "acceptedEpoch") == b"1"
        assert epoch_file(cluster, sid, "currentEpoch") == b"1"
    log = open(cluster.peer(2).log_path).read()
    assert "[myid:2]" in log and "[WorkerReceiver[myid=2]:" in log and "[QuorumPeer[myid=2](plain=" in log


def test_five_peers_elect_exactly_one_leader_the_highest_sid():
    with TestingCluster(5) as cluster:
        cluster.start(5, wait=False)
        cluster.start(1, 2, 3, 4, wait=False)
        assert cluster.wait_for_leader() == 5
        wait_until(lambda: sorted(map(str, cluster.modes().values())) == ["follower"] * 4 + ["leader"],
                   what="one leader, four followers", cluster=cluster)
        for sid in cluster.sids:
            assert epoch_file(cluster, sid, "currentEpoch") == b"1"


def test_an_idle_ensemble_keeps_its_leader(cluster3):
    # Nothing but pings flows: the leader's to the learners (every half tick)
    # and their answers. Without either, someone times out after syncLimit
    # ticks (1 s) and the ensemble elects again (a new epoch).
    cluster = cluster3
    cluster.start()
    leader = cluster.wait_for_leader()
    wait_until(lambda: all(cluster.modes().values()), what="all settled", cluster=cluster)

    def state():
        elections = {}
        for sid in cluster.sids:
            with open(cluster.peer(sid).log_path) as f:
                elections[sid] = f.read().count("New election.")
        epochs = {sid: epoch_file(cluster, sid, "acceptedEpoch") for sid in cluster.sids}
        return cluster.modes(), elections, epochs

    before = state()
    time.sleep(3.0)
    assert state() == before
    assert "zk_synced_followers\t2" in cluster.peer(leader).four_letter_word("mntr")


def listening_addresses(pid):
    proc = psutil.Process(pid)
    connections = proc.net_connections(kind="tcp") if hasattr(proc, "net_connections") else proc.connections("tcp")
    return {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}


def test_quorum_listen_on_all_ips_binds_the_quorum_and_election_ports_everywhere():
    with TestingCluster(1, config={"quorumListenOnAllIPs": "true"}) as cluster:
        cluster.start()                     # a one-peer ensemble leads, so it listens on both
        _, quorum, election = cluster.peer(1).build_config()["server.1"].split(":")
        listening = listening_addresses(cluster.peer(1).pid)
        assert ("0.0.0.0", int(quorum)) in listening and ("0.0.0.0", int(election)) in listening
    with TestingCluster(1) as cluster:      # the default: the configured address only
        cluster.start()
        _, quorum, election = cluster.peer(1).build_config()["server.1"].split(":")
        listening = listening_addresses(cluster.peer(1).pid)
        assert ("127.0.0.1", int(quorum)) in listening and ("127.0.0.1", int(election)) in listening


def test_the_highest_epoch_wins_before_the_highest_sid(cluster3):
    cluster = cluster3
    write_epochs(cluster, 1, accepted=3, current=3)
    cluster.start(1, wait=False)
    cluster.start(2, 3, wait=False)
    assert cluster.wait_for_leader() == 1
    wait_until(lambda: epoch_file(cluster, 2, "acceptedEpoch") == b"4", what="epoch 4 accepted",
               cluster=cluster)
    assert epoch_file(cluster, 1, "currentEpoch") == b"4"


def test_the_highest_zxid_wins_before_the_highest_sid(tmp_path):
    with TestingCluster(3, temp_dir=tmp_path / "cluster") as cluster:
        # Give peer 2 five transactions (session, 3 creates, close: zxid 0x5) with a
        # standalone server on its dataDir.
        from kazoo.client import KazooClient
        with TestingServer(temp_dir=tmp_path / "standalone", data_dir=cluster.peer(2).data_dir) as server:
            client = KazooClient(server.connect_string)
            client.start(timeout=15)
            try:
                for i in range(3):
                    client.create(f"/n{i}")
            finally:
                client.stop()
                client.close()
        cluster.start(2, wait=False)
        cluster.start(1, 3, wait=False)
        assert cluster.wait_for_leader() == 2
        # The leader's last zxid is its new epoch's start (as Java's), and
        # every peer has its three nodes.
        assert "Zxid: 0x100000000" in cluster.peer(2).four_letter_word("srvr")
        for sid in (1, 2, 3):
            wait_until(lambda sid=sid: "Node count: 8" in cluster.peer(sid).four_letter_word("srvr"),
                       what=f"peer {sid} synced", cluster=cluster)


def test_peers_started_one_by_one_converge(cluster3):
    cluster = cluster3
    cluster.start(1, wait=False)
    time.sleep(1.0)
    assert cluster.modes() == {1: None, 2: None, 3: None}   # one of three is no quorum
    cluster.start(2, wait=False)
    assert cluster.wait_for_leader() == 2
    cluster.start(3)                        # a latecomer follows the established leader
    assert cluster.modes() == {1: "follower", 2: "leader", 3: "follower"}


def test_killing_the_leader_elects_another_and_the_old_one_rejoins_as_follower(cluster3):
    cluster = cluster3
    cluster.start(3, wait=False)
    cluster.start(1, 2, wait=False)
    old = cluster.wait_for_leader()
    cluster.kill(old)
    new = cluster.wait_for_leader()
    assert new != old
    rest = [sid for sid in cluster.sids if sid not in (old, new)]
    assert cluster.modes()[rest[0]] == "follower"
    cluster.start(old)
    wait_until(lambda: cluster.mode(old) == "follower", what="the old leader to follow", cluster=cluster)
    assert cluster.leader() == new
    # The new leader's epoch (2) reached the returning peer through discovery.
    assert epoch_file(cluster, old, "acceptedEpoch") == b"2"


def test_a_leader_without_a_quorum_steps_down(cluster3):
    cluster = cluster3
    cluster.start()
    leader = cluster.wait_for_leader()
    # wait_for_leader needs only a majority settled; here both followers must be.
    wait_until(lambda: sorted(map(str, cluster.modes().values())) == ["follower", "follower", "leader"],
               what="both followers synced", cluster=cluster)
    followers = [sid for sid in cluster.sids if sid != leader]
    cluster.kill(followers[0])
    time.sleep(0.5)
    assert cluster.leader() == leader       # two of three still are a quorum
    cluster.kill(followers[1])
    wait_until(lambda: cluster.mode(leader) is None, timeout=10, what="the leader to step down", cluster=cluster)
    def looking_again():
        with open(cluster.peer(leader).log_path) as f:
            text = f.read()
        return text if "LOOKING" in text.split("Shutdown called")[-1] else None

    log = wait_until(looking_again, timeout=10, what="the old leader to look again", cluster=cluster)
    assert "Not sufficient followers synced" in log or "GOODBYE" in log


def test_a_follower_that_loses_its_leader_looks_again(cluster3):
    cluster = cluster3
    cluster.start()
    leader = cluster.wait_for_leader()
    follower = next(sid for sid in cluster.sids if sid != leader)
    other = next(sid for sid in cluster.sids if sid not in (leader, follower))
    cluster.kill(other)
    cluster.stop(leader)                    # a clean stop this time
    assert cluster.peer(leader).returncode == 0
    wait_until(lambda: cluster.mode(follower) is None, timeout=10, what="the follower to look", cluster=cluster)
    time.sleep(1.0)
    assert cluster.mode(follower) is None   # alone it cannot elect anyone


def test_a_hung_leader_is_replaced_and_steps_down_when_it_wakes(cluster3):
    cluster = cluster3
    cluster.start()
    old = cluster.wait_for_leader()
    pid = cluster.peer(old).pid
    os.kill(pid, signal.SIGSTOP)            # alive but silent: learners time out after syncLimit ticks
    try:
        new = wait_until(lambda: next((sid for sid, mode in cluster.modes().items() if mode == "leader"), None),
                         timeout=15, what="a new leader", cluster=cluster)
        assert new != old
    finally:
        os.kill(pid, signal.SIGCONT)
    # Its learners are gone: it steps down and follows the new leader.
    wait_until(lambda: cluster.mode(old) == "follower", what="the old leader to follow", cluster=cluster)
    assert cluster.leader() == new


def test_hierarchical_quorum_with_a_zero_weight_voter():
    # One group of three; peer 3 weighs nothing: it can never lead, and
    # peers 1 and 2 together are the only quorum.
    with TestingCluster(3, config={"group.1": "1:2:3", "weight.3": "0"}) as cluster:
        cluster.start(3, wait=False)
        cluster.start(1, 2, wait=False)
        assert cluster.wait_for_leader() == 2
        wait_until(lambda: cluster.mode(3) == "follower", what="peer 3 to follow", cluster=cluster)
        assert "group.1=1:2:3\nweight.1=1\nweight.2=1\nweight.3=0\nversion=0" in \
            cluster.peer(1).four_letter_word("conf")
        cluster.kill(1)                     # 2 and 3 weigh 1 of 2: no quorum
        wait_until(lambda: cluster.modes() == {1: None, 2: None, 3: None}, timeout=10,
                   what="the leader to step down", cluster=cluster)


def test_an_unbindable_election_port_ends_the_process_with_code_14():
    with TestingCluster(3, config={"electionPortBindRetry": 1}) as cluster:
        peer = cluster.peer(1)
        election_port = int(peer.build_config()["server.1"].split(":")[2])
        with socket.create_server(("127.0.0.1", election_port)):
            peer.start(wait=None)
            wait_until(lambda: peer.returncode is not None, timeout=15, what="the peer to exit")
        assert peer.returncode == 14
        assert "won't be able to participate in leader election" in peer.log_tail(30)


def test_a_myid_missing_from_the_servers_is_refused(tmp_path):
    lines = {f"server.{sid}": f"127.0.0.1:{port}:{port + 1}" for sid, port in ((1, 1), (2, 3))}
    peer = TestingServer(temp_dir=tmp_path, myid=9, config=dict(lines, initLimit=5, syncLimit=2))
    try:
        peer.start(wait=None)
        wait_until(lambda: peer.returncode is not None, timeout=15, what="the peer to exit")
        assert peer.returncode == 1
        assert "My id 9 not in the peer list" in peer.log_tail(10)
    finally:
        peer.close()


def test_an_observer_never_leads():
    with TestingCluster(3, observers=1) as cluster:
        cluster.start()
        wait_until(lambda: cluster.mode(4) == "observer", what="the observer", cluster=cluster)
        first = cluster.leader()
        assert "observer_master_id\t" + str(first) in cluster.peer(4).four_letter_word("mntr")
        assert "\nMode: observer\n" in cluster.peer(4).four_letter_word("stat")
        cluster.kill(first)
        second = cluster.wait_for_leader()
        assert second in (1, 2, 3) and second != first
        wait_until(lambda: cluster.mode(4) == "observer", what="the observer to follow the new leader",
                   cluster=cluster)
        cluster.kill(second)                # one voter left: nobody leads, not even the observer
        wait_until(lambda: cluster.leader() is None and cluster.mode(4) is None, timeout=10,
                   what="the ensemble to lose its leader", cluster=cluster)
        time.sleep(1.5)
        assert cluster.modes()[4] is None


def test_a_one_peer_ensemble_leads_itself():
    with TestingCluster(1) as cluster:      # standaloneEnabled=false
        cluster.start()
        assert cluster.leader() == 1
        assert "zk_peer_state\tleading - broadcast" in cluster.peer(1).four_letter_word("mntr")


def best_vote(cluster, sids):
    """The peer FastLeaderElection must pick among ``sids``: the highest
    (currentEpoch, last zxid, sid); read while they serve. (A learner that
    synced by SNAP after the leader started holds the epoch's first zxid,
    one that synced earlier by DIFF its last txn's: they differ.)"""
    def vote(sid):
        srvr = cluster.peer(sid).four_letter_word("srvr")
        zxid = int(srvr.split("Zxid: ")[1].split()[0], 16)
        return int(epoch_file(cluster, sid, "currentEpoch")), zxid, sid

    return max(vote(sid) for sid in sids)[2]


@pytest.mark.slow
def test_five_peers_elect_the_highest_vote_and_survive_two_leader_crashes():
    with TestingCluster(5) as cluster:
        cluster.start(5, wait=False)
        cluster.start(1, 2, 3, 4, wait=False)
        assert cluster.wait_for_leader() == 5
        wait_until(lambda: all(cluster.modes().values()), what="all five serving", cluster=cluster)
        expected = best_vote(cluster, [1, 2, 3, 4])
        cluster.kill(5)
        assert cluster.wait_for_leader() == expected
        wait_until(lambda: all(m for sid, m in cluster.modes().items() if sid != 5), what="four serving",
                   cluster=cluster)
        alive = [sid for sid in (1, 2, 3, 4) if sid != expected]
        second = best_vote(cluster, alive)
        cluster.kill(expected)
        assert cluster.wait_for_leader() == second
        cluster.kill(second)                 # two of five: no quorum
        wait_until(lambda: all(m is None for m in cluster.modes().values()), timeout=10,
                   what="no leader", cluster=cluster)
        cluster.start(5, wait=False)         # three again: 5's epoch is behind, one of the others leads
        leader = cluster.wait_for_leader()
        assert leader != 5 and leader in alive
        wait_until(lambda: cluster.mode(5) == "follower", what="5 following", cluster=cluster)


# One order in the quick run, the others with the slow tests.
@pytest.mark.parametrize("seed", [3] + [pytest.param(seed, marks=pytest.mark.slow) for seed in (0, 1, 2, 4)])
def test_random_start_order_converges(seed):
    import random

    rng = random.Random(seed)
    with TestingCluster(5) as cluster:
        order = cluster.sids[:]
        rng.shuffle(order)
        for sid in order:
            cluster.start(sid, wait=False)
            time.sleep(rng.random() * 0.5)
        leader = cluster.wait_for_leader()
        wait_until(lambda: sum(m == "follower" for m in cluster.modes().values()) == 4,
                   what="four followers", cluster=cluster)
        assert cluster.leader() == leader
