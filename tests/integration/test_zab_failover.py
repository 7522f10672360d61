"""Leader failure under a write load (ZK_SPEC.md §4.3): kill -9 of the
leader loses no acknowledged write, the others elect and serve, and the
old leader rejoins with the same data. The failover time (leader killed ->
first write sent after it acknowledged) is printed; ``tests/interop/
test_zab_java.py`` measures Java 3.8.0's the same way on the same machine.
"""

from __future__ import annotations

import time

import pytest

from zkpy.testing import TestingCluster

from .zab_util import WriteLoad, assert_same_data, wait_until


def failover_under_load(cluster, kill, leader_of, load_seconds=1.5):
    """Kill the leader while writers write; returns (failover seconds, acked paths)."""
    with WriteLoad(cluster.connect_string) as load:
        wait_until(lambda: load.count() > 20, 30, "the write load to start")
        time.sleep(load_seconds)
        old_leader = leader_of()
        killed_at = time.monotonic()
        kill(old_leader)
        first = wait_until(lambda: load.first_write_after(killed_at), 60, "a write after the leader died")
        before = load.count()
        wait_until(lambda: load.count() > before + 20, 30, "writes to go on")
    return first - killed_at, old_leader, load.paths()


@pytest.mark.slow
@pytest.mark.parametrize("voters", [3, 5])
def test_killing_the_leader_under_load_loses_no_acknowledged_write(tmp_path, voters):
    with TestingCluster(voters, temp_dir=tmp_path) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        seconds, old_leader, acked = failover_under_load(cluster, cluster.kill, cluster.leader)
        print(f"\nzkpy {voters} peers: failover (kill -9 of the leader -> first new write acked) "
              f"{seconds * 1000:.0f} ms; {len(acked)} writes acknowledged")
        new_leader = cluster.leader()
        assert new_leader not in (None, old_leader)
        cluster.start(old_leader)
        tree = assert_same_data(cluster)
        missing = sorted(acked - set(tree))
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        assert seconds < 15
