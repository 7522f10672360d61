"""The fault tier proper: a 3-peer ensemble under a nemesis while clients run.

Faults (one at a time, each healed before the next, so a quorum is always
back before the next one; two at a time in the overlapping run): kill -9 of a random peer and of the leader,
SIGSTOP pauses longer than syncLimit (of a random peer and of the leader),
a clean restart, and network partitions isolating a peer or the leader
(loopback proxies in front of every peer's quorum and election ports,
``TestingCluster(partitionable=True)``). The workloads and their checks
are those of test_standalone_nemesis.py, with every acknowledged write
required on every live replica, read from each peer on its own.

Until zkpy ensembles serve client sessions these tests skip, saying so;
the check is made at run time (conftest.ensemble_serving_reason). The
nemesis itself is exercised on an ensemble in any case
(test_nemesis_heals_the_ensemble).
"""

from __future__ import annotations

import os
import time

import pytest

from zkpy.testing import TestingCluster

from .linearizability import check_register, with_stale_read
from .nemesis import ClusterTarget, Nemesis, netem_unavailable_reason
from .runner import assert_check_notices_a_lost_node, run
from .workloads import RegisterWorkload, SequentialWorkload, SetWorkload, kazoo_client, killed_client_ephemerals

pytestmark = [pytest.mark.fault, pytest.mark.timeout(420)]

TICK = 200
SYNC_LIMIT = 5  # ticks: a pause must outlast syncLimit * tickTime = 1 s
DURATION = 40.0


@pytest.fixture
def cluster(tmp_path):
    with TestingCluster(3, temp_dir=tmp_path, tick_time=TICK, sync_limit=SYNC_LIMIT, init_limit=10,
                        force_sync=True, partitionable=True) as cluster:
        cluster.start()
        yield cluster


def nemesis(cluster, kinds=None) -> Nemesis:
    # Held 1.5-3 s: longer than syncLimit (1 s), shorter than the sessions' 4 s.
    return Nemesis(ClusterTarget(cluster), kinds, interval=(1.0, 2.5), hold=(1.5, 3.0))


def test_nemesis_heals_the_ensemble(cluster):
    """Without clients: every kind of fault, then heal_all brings back a
    leader with every peer in its role (election only; runs today)."""
    target = ClusterTarget(cluster)
    assert set(target.kinds) >= {"kill", "kill-leader", "pause", "pause-leader", "partition", "partition-leader",
                                 "restart"}
    chaos = Nemesis(target, interval=(0.3, 0.8), hold=(1.2, 2.0), seed=7)
    chaos.run(15.0)
    print(chaos.line())
    assert not chaos.errors, chaos.errors
    assert len(chaos.faults) >= 5
    assert cluster.leader() is not None
    assert sorted(cluster.modes().values()) == ["follower", "follower", "leader"]
    assert not cluster.has_faults()


def test_register_is_linearizable_under_nemesis(serving_ensembles, cluster):
    """Reads are sync + getData, as the issue asks. ZooKeeper answers sync
    without asking a quorum (Java 3.8 as zkpy), so a leader that was deposed
    and has not noticed yet could serve stale data after a sync; zkpy's
    leader steps down before a new one commits (about 1.0 s against 1.25 s
    after a partition, in a direct experiment), so none is expected. If one
    shows up, the saved history (fault-run.jsonl, with the port of the
    server of each op) tells; ZKPY_FAULT_FENCED_READS=1 adds a fencing write
    before each read, which makes reads linearizable whatever sync does."""
    fenced = bool(os.environ.get("ZKPY_FAULT_FENCED_READS"))
    workload = RegisterWorkload(cluster.connect_string, clients=5, fenced_reads=fenced)
    report = run("ensemble register, mixed nemesis", ClusterTarget(cluster), [workload], nemesis(cluster), DURATION,
                 settle=5.0)
    report.assert_ok()
    corrupted, what = with_stale_read(workload.history)
    assert check_register(corrupted).valid is False, what


def test_register_under_overlapping_faults_and_slow_links(serving_ensembles, cluster):
    """Two faults at a time (of different kinds, on different peers: a
    partition while a peer is paused...), slow links (the proxies' delay and
    stalls) and, where it can run, tc netem: the ensemble loses its quorum
    for a while, and must come back once both are healed with a
    linearizable history."""
    workload = RegisterWorkload(cluster.connect_string, clients=4)
    target = ClusterTarget(cluster, netem=True)
    kinds = ["kill", "kill-leader", "pause", "pause-leader", "partition", "partition-leader", "slow"]
    kinds += ["netem"] if target.netem is not None else []
    chaos = Nemesis(target, kinds, interval=(0.5, 1.5), hold=(1.5, 3.0), overlap=0.6)
    report = run("ensemble register, overlapping faults + slow links", target, [workload], chaos, 30.0,
                 settle=5.0)
    report.assert_ok()
    assert chaos.overlapping() >= 1, report.text()
    assert not chaos.errors, report.text()


@pytest.mark.parametrize("how", ["slow", "netem"])
def test_slow_peer_links_slow_down_writes(cluster, how):
    """Delayed peer links (proxy impairments, or tc netem where it can run)
    make every quorum write wait: a proposal and its ack cross them."""
    target = ClusterTarget(cluster, netem=how == "netem")
    if how == "netem" and target.netem is None:
        pytest.skip(f"tc netem: {netem_unavailable_reason()}")

    def write_time(zk) -> float:
        best = float("inf")
        for i in range(5):
            start = time.monotonic()
            zk.set("/slow", str(i).encode())
            best = min(best, time.monotonic() - start)
        return best

    with kazoo_client(cluster.connect_string) as zk:
        zk.create("/slow", b"")
        before = write_time(zk)
        try:
            if how == "slow":
                cluster.network.impair([(a, b) for a in cluster.sids for b in cluster.sids if a != b], delay=0.1)
            else:
                target.netem.apply(100)
            during = write_time(zk)
        finally:
            target.heal_all(30)
        after = write_time(zk)
    assert before < 0.1 and after < 0.1, (before, after)
    assert during >= 0.19, (before, during)  # at least a proposal out and an ack back, 100 ms each


def test_acknowledged_creates_are_on_every_replica_under_nemesis(serving_ensembles, cluster):
    workloads = [SetWorkload(cluster.connect_string, clients=3), SequentialWorkload(cluster.connect_string, clients=3)]
    report = run("ensemble set + sequential, mixed nemesis", ClusterTarget(cluster), workloads, nemesis(cluster),
                 DURATION, settle=5.0)
    report.assert_ok()
    assert all("3 live replica" in result.verdict for result in report.results), report.text()
    for workload in workloads:
        assert_check_notices_a_lost_node(workload, ClusterTarget(cluster))


def test_ephemerals_of_a_killed_client_vanish_on_every_replica(serving_ensembles, cluster):
    timeout = 3.0  # within [2, 20] ticks: negotiated as asked
    slack = 2 * TICK / 1000 + 1.5  # tick-bucketed expiry, then a closeSession proposal and commit
    target = ClusterTarget(cluster)
    outcome = killed_client_ephemerals(cluster.connect_string, target.replicas(), session_timeout=timeout)
    print(f"ephemerals of killed client session {outcome['session']}: gone after {outcome['gone']}")
    for replica, gone in outcome["gone"].items():
        assert gone is not None and timeout * 0.5 <= gone <= timeout + slack, (replica, outcome)


@pytest.mark.skipif(not os.environ.get("ZKPY_FAULT_LONG_SECONDS"),
                    reason="the long mixed run is opt-in: set ZKPY_FAULT_LONG_SECONDS (e.g. 600)")
@pytest.mark.timeout(0)
def test_long_mixed_nemesis(serving_ensembles, cluster):
    """Every workload at once under every fault, for ZKPY_FAULT_LONG_SECONDS
    (ZKPY_FAULT_OVERLAP=p: two faults at a time with probability p)."""
    duration = float(os.environ["ZKPY_FAULT_LONG_SECONDS"])
    overlap = float(os.environ.get("ZKPY_FAULT_OVERLAP") or 0)
    hosts = cluster.connect_string
    fenced = bool(os.environ.get("ZKPY_FAULT_FENCED_READS"))
    workloads = [RegisterWorkload(hosts, clients=4, keys=5000, fenced_reads=fenced), SetWorkload(hosts, clients=2),
                 SequentialWorkload(hosts, clients=2)]
    target = ClusterTarget(cluster)
    chaos = Nemesis(target, interval=(1.0, 2.5), hold=(1.5, 3.0), overlap=overlap)
    report = run(f"ensemble long mixed run ({duration:.0f} s)", target, workloads, chaos, duration, settle=10.0)
    report.assert_ok()
