"""A restarted zkpy observer catches up with a zkpy leader (ZK_SPEC.md §4.3).

A DIFF's PROPOSAL/COMMIT pairs reach an observer before NEWLEADER; it
applies them after UPTODATE (Java's Learner.syncWithLeader keeps
packetsNotCommitted for observers; only followers log and drop them at
NEWLEADER). The same with a Java leader is in
``tests/interop/test_mixed_ensemble_java.py``.
"""

from __future__ import annotations

from zkpy.testing import TestingCluster

from .zab_util import assert_same_data, kazoo, log_text, wait_until


def test_a_restarted_observer_gets_the_txns_of_a_diff(tmp_path):
    with TestingCluster(3, observers=1, temp_dir=tmp_path) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        observer, voter = cluster.observers[0], cluster.voters[0]
        assert cluster.modes()[observer] == "observer"
        with kazoo(cluster.peer(observer)) as client:
            client.create("/before", b"b")
        cluster.stop(observer)
        with kazoo(cluster.peer(voter)) as client:
            for i in range(5):
                client.create(f"/missed{i}", b"%d" % i)
        seen = len(log_text(cluster.peer(observer)))
        cluster.start(observer)
        assert_same_data(cluster, expect_paths=["/before", "/missed4"])
        assert "Getting a diff from the leader" in log_text(cluster.peer(observer))[seen:]
