"""Zab synchronization (ZK_SPEC.md §4.3-4.4): a learner that rejoins gets
DIFF, SNAP or TRUNC as the leader's history and its own dictate, and ends
with exactly the leader's data, compared znode by znode (data and every
Stat field) across the peers.

* DIFF: a follower down for a few writes (from the in-memory committed
  log; ``commitLogCount=10`` here) or for many (from the txn log on disk,
  ``snapshotSizeFactor=0``);
* SNAP: a follower far behind (its txns are older than the committed log
  and the log is too big to send) or with an empty disk;
* TRUNC: an old leader whose proposals never committed.
"""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from kazoo.client import KazooClient

from zkpy.testing import TestingCluster

from .zab_util import assert_same_data, freeze, kazoo, log_text, wait_until


def start_all(cluster):
    cluster.start()
    wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
    return cluster.leader()


def leader_and_a_follower(cluster):
    leader = cluster.leader()
    return leader, next(sid for sid in cluster.voters if sid != leader)


def sync_lines(cluster, leader, sid):
    return [line for line in log_text(cluster.peer(leader)).splitlines() if f"to learner {sid} " in line]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with TestingCluster(3, temp_dir=tmp_path_factory.mktemp("sync"), config={"commitLogCount": 10}) as c:
        start_all(c)
        yield c


def test_a_follower_down_for_a_few_writes_gets_a_diff(cluster):
    leader, follower = leader_and_a_follower(cluster)
    with kazoo(cluster.peer(leader)) as client:
        client.create("/diff", b"base")
        cluster.stop(follower)
        for i in range(4):
            client.create(f"/diff/n{i}", b"%d" % i)
        client.set("/diff", b"changed")
        client.delete("/diff/n0")
        cluster.start(follower)
        assert sync_lines(cluster, leader, follower)[-1].split(" - ")[-1].startswith("Sending DIFF")
        assert_same_data(cluster, expect_paths=["/diff/n3"])


def test_a_follower_that_rejoins_during_a_stream_of_writes_gets_each_one_once(cluster):
    # The leader sends proposals in batches; a learner joining in the middle
    # of one must get the proposals not yet sent exactly once (not missed,
    # not twice) and then every later one.
    leader, follower = leader_and_a_follower(cluster)
    with kazoo(cluster.peer(leader)) as client:
        client.create("/stream", b"")
        cluster.stop(follower)
        stop = threading.Event()
        written = []

        def writer():
            while not stop.is_set():
                batch = [client.create_async("/stream/n-", b"v", sequence=True) for _ in range(50)]
                written.extend(r.get(timeout=10) for r in batch)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            time.sleep(0.3)
            cluster.start(follower)
            time.sleep(0.5)
        finally:
            stop.set()
            thread.join(30)
        assert len(written) > 100
        with kazoo(cluster.peer(follower)) as on_follower:
            on_follower.sync("/stream")
            assert sorted(on_follower.get_children("/stream")) == sorted(p.rsplit("/", 1)[1] for p in written)
        assert_same_data(cluster, expect_paths=[written[-1]])
    assert "Got zxid" not in log_text(cluster.peer(follower))  # no proposal out of order or twice


def test_a_follower_far_behind_gets_a_snapshot(cluster):
    leader, follower = leader_and_a_follower(cluster)
    cluster.stop(follower)
    with kazoo(cluster.peer(leader)) as client:
        client.create("/far", b"")
        for i in range(25):  # more than the committed log holds
            client.create(f"/far/n{i}", b"x" * i, ephemeral=i % 7 == 0)
        cluster.start(follower)
        assert sync_lines(cluster, leader, follower)[-1].split(" - ")[-1].startswith("Sending SNAP")
        tree = assert_same_data(cluster, expect_paths=["/far/n24", "/far/n7"])  # ephemerals too
        assert tree["/far/n7"][1][7] == client.client_id[0]
    # The follower also got the sessions: the one that owned the ephemerals closed,
    # and every server deleted them.
    wait_until(lambda: "/far/n7" not in assert_same_data(cluster), 10, "ephemerals gone everywhere")


def test_a_follower_with_an_empty_disk_gets_a_snapshot_and_keeps_it(cluster):
    leader, follower = leader_and_a_follower(cluster)
    cluster.stop(follower)
    shutil.rmtree(os.path.join(cluster.peer(follower).data_dir, "version-2"))
    with kazoo(cluster.peer(leader)) as client:
        client.create("/wiped", b"w")
    cluster.start(follower)
    assert sync_lines(cluster, leader, follower)[-1].split(" - ")[-1].startswith("Sending SNAP")
    assert_same_data(cluster, expect_paths=["/wiped"])
    # What it was sent is on its disk now: restarted, it needs only a DIFF.
    cluster.stop(follower)
    with kazoo(cluster.peer(leader)) as client:
        client.create("/wiped/after", b"a")
    cluster.start(follower)
    assert sync_lines(cluster, leader, follower)[-1].split(" - ")[-1].startswith("Sending DIFF")
    assert_same_data(cluster, expect_paths=["/wiped/after"])


def test_an_old_leader_with_uncommitted_proposals_is_truncated(cluster):
    old_leader = cluster.leader()
    others = [sid for sid in cluster.voters if sid != old_leader]
    client = KazooClient(hosts=cluster.peer(old_leader).connect_string, timeout=10)
    client.start(timeout=20)
    try:
        client.create("/trunc", b"committed")
        for sid in others:  # silent, not gone: the leader leads on for syncLimit ticks
            freeze(cluster.peer(sid).pid)
        try:
            # Proposed and logged by the leader alone: never committed.
            pending = [client.create_async(f"/trunc/lost{i}", b"u") for i in range(5)]
            time.sleep(0.4)
            cluster.kill(old_leader)
        finally:
            # Killed while frozen: the proposals waiting in their sockets die unread.
            for sid in others:
                cluster.kill(sid)
    finally:
        client.stop()
        client.close()
    assert not any(p.successful() for p in pending if p.ready())
    for sid in others:
        cluster.start(sid, wait=False)
    new_leader = wait_until(lambda: cluster.leader() if cluster.leader() in others else None, 30,
                            "a leader among the two", cluster)
    cluster.start(old_leader)
    assert sync_lines(cluster, new_leader, old_leader)[-1].split(" - ")[-1].startswith("Sending TRUNC")
    with kazoo(cluster.connect_string) as client:
        client.create("/trunc/after", b"a")
    tree = assert_same_data(cluster, expect_paths=["/trunc", "/trunc/after"])
    assert not [p for p in tree if "lost" in p]
    assert "Truncating log to get in sync with the leader" in log_text(cluster.peer(old_leader))


def test_a_follower_far_behind_gets_a_diff_from_the_txn_log(tmp_path):
    config = {"commitLogCount": 10, "snapshotSizeFactor": 0}  # 0: any log size may be sent
    with TestingCluster(3, temp_dir=tmp_path, config=config) as cluster:
        leader = start_all(cluster)
        follower = next(sid for sid in cluster.voters if sid != leader)
        with kazoo(cluster.peer(leader)) as client:
            client.create("/log", b"")
            cluster.stop(follower)
            for i in range(30):
                client.create(f"/log/n{i}", b"%d" % i)
            cluster.start(follower)
            assert sync_lines(cluster, leader, follower)[-1].split(" - ")[-1].startswith("Sending DIFF")
            assert_same_data(cluster, expect_paths=["/log/n29"])
        # A restarted leader refills its committed log from its own log.
        cluster.stop(leader)
        new_leader = cluster.wait_for_leader()
        cluster.start(leader)
        assert sync_lines(cluster, new_leader, leader)[-1].split(" - ")[-1].startswith("Sending DIFF")
        assert_same_data(cluster, expect_paths=["/log/n29"])
