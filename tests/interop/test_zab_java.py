"""Zab between zkpy and Java 3.8.0 peers (ZK_SPEC.md §4.3-4.4): a Java
follower syncs from a zkpy leader by DIFF and by SNAP and serves exactly
its data; a zkpy follower does the same with a Java leader; writes sent
to a follower of either kind reach the other kind's leader. Data are
compared znode by znode (data and every Stat field) across all peers.

Also (slow) Java's failover time under the same write load as
``tests/integration/test_zab_failover.py``, for the side-by-side numbers.
"""

from __future__ import annotations

import time

import pytest

from ..integration.zab_util import WriteLoad, assert_same_data, kazoo, wait_until
from .java_zk import JavaZooKeeperServer
from .mixed import Ensemble, log, wipe, write_some

pytestmark = pytest.mark.interop

_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]


def test_a_java_follower_syncs_from_a_zkpy_leader_by_diff_and_snap(tmp_path):
    ensemble = Ensemble(tmp_path, java_sids={1})
    java = ensemble.peer(1)
    try:
        ensemble.start(3)  # the highest sid, started first: the zkpy leader
        ensemble.start(2, 1)
        ensemble.wait_all_serving()
        assert ensemble.leader() == 3 and ensemble.mode(1) == "follower"
        with kazoo(ensemble.peer(3)) as client:
            write_some(client, "/a")
            client.create("/a/eph", b"e", ephemeral=True)
            tree = assert_same_data(ensemble, expect_paths=["/a/multi", "/a/eph"])
            assert tree["/a/n2"][0] == b"in a multi"
        # Writes through the Java follower reach the zkpy leader.
        with kazoo(java) as client:
            client.create("/via-java", b"forwarded")
        assert_same_data(ensemble, expect_paths=["/via-java"])
        # DIFF: the Java follower was down for a few writes.
        java.stop()
        with kazoo(ensemble.peer(3)) as client:
            write_some(client, "/b", 5)
        java.start(wait="serving")
        assert_same_data(ensemble, expect_paths=["/b/multi"])
        assert "Getting a diff from the leader" in log(java)
        # SNAP: the Java follower lost its disk.
        java.stop()
        wipe(java)
        with kazoo(ensemble.peer(3)) as client:
            write_some(client, "/c", 3)
        java.start(wait="serving")
        assert_same_data(ensemble, expect_paths=["/c/multi", "/a/n9"])
        assert "Getting a snapshot from leader" in log(java)
        with kazoo(java) as client:
            assert client.get("/a/n0")[0] == b"changed"
    finally:
        ensemble.close()


def test_a_zkpy_follower_syncs_from_a_java_leader_by_diff_and_snap(tmp_path):
    ensemble = Ensemble(tmp_path, java_sids={3})
    zkpy = ensemble.peer(1)
    try:
        ensemble.start(3)
        ensemble.start(2, 1)
        ensemble.wait_all_serving()
        assert ensemble.leader() == 3
        with kazoo(ensemble.peer(3)) as client:
            write_some(client, "/a")
        assert_same_data(ensemble, expect_paths=["/a/multi"])
        with kazoo(zkpy) as client:
            client.create("/via-zkpy", b"forwarded", ephemeral=True)
            client.sync("/")
            assert_same_data(ensemble, expect_paths=["/via-zkpy"])
        zkpy.stop()
        with kazoo(ensemble.peer(3)) as client:
            write_some(client, "/b", 5)
        zkpy.start()
        assert_same_data(ensemble, expect_paths=["/b/multi"])
        assert "Getting a diff from the leader" in log(zkpy)
        zkpy.stop()
        wipe(zkpy)
        with kazoo(ensemble.peer(3)) as client:
            write_some(client, "/c", 3)
        zkpy.start()
        tree = assert_same_data(ensemble, expect_paths=["/c/multi", "/a/n9"])
        assert "/via-zkpy" not in tree  # its session closed: gone everywhere
        assert "Getting a snapshot from leader" in log(zkpy)
    finally:
        ensemble.close()


def java_failover(tmp_path, voters=3):
    # forceSync=no, as zkpy's TestingCluster runs: the same disk cost on both sides.
    ensemble = Ensemble(tmp_path, java_sids=set(range(1, voters + 1)), n=voters, forceSync="no")
    try:
        ensemble.start()
        ensemble.wait_all_serving()
        with WriteLoad(ensemble.connect_string) as load:
            wait_until(lambda: load.count() > 20, 60, "the write load to start")
            time.sleep(1.5)
            old = ensemble.leader()
            killed_at = time.monotonic()
            ensemble.peer(old).kill()
            first = wait_until(lambda: load.first_write_after(killed_at), 60, "a write after the leader died")
            before = load.count()
            wait_until(lambda: load.count() > before + 20, 60, "writes to go on")
        ensemble.peer(old).start(wait="serving")
        tree = assert_same_data(ensemble)
        assert not (load.paths() - set(tree))
        return first - killed_at, load.count()
    finally:
        ensemble.close()


@pytest.mark.slow
@pytest.mark.parametrize("voters", [3, 5])
def test_java_failover_time_for_comparison(tmp_path, voters):
    seconds, writes = java_failover(tmp_path, voters)
    print(f"\nJava 3.8.0 {voters} peers: failover (kill -9 of the leader -> first new write acked) "
          f"{seconds * 1000:.0f} ms; {writes} writes acknowledged")
    assert seconds < 30
