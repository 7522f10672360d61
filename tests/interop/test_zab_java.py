"""Zab between zkpy and Java 3.8.0 peers (ZK_SPEC.md §4.3-4.4): a Java
follower syncs from a zkpy leader by DIFF and by SNAP and serves exactly
its data; a zkpy follower does the same with a Java leader; writes sent
to a follower of either kind reach the other kind's leader. Data are
compared znode by znode (data and every Stat field) across all peers.

Also (slow) Java's failover time under the same write load as
``tests/integration/test_zab_failover.py``, for the side-by-side numbers.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from zkpy.testing import TestingServer, four_letter_word

from ..integration.zab_util import WriteLoad, assert_same_data, kazoo, wait_until
from .java_zk import JavaZooKeeperServer, free_ports

pytestmark = pytest.mark.interop

_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]

TICK, INIT, SYNC = 200, 10, 5


class Ensemble:
    """Three peers, each zkpy or Java, with the TestingCluster methods the
    helpers use (``sids``, ``peer``, ``modes``, ``log_tail``, ``connect_string``)."""

    def __init__(self, tmp_path, java_sids, n=3, **extra_conf):
        ports = free_ports(2 * n)
        self.sids = list(range(1, n + 1))
        conf = {f"server.{sid}": f"127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}" for i, sid in enumerate(self.sids)}
        conf.update(initLimit=INIT, syncLimit=SYNC, **extra_conf)
        self.peers = {}
        for sid in self.sids:
            if sid in java_sids:
                self.peers[sid] = JavaZooKeeperServer(conf, myid=sid, tick_time=TICK,
                                                      temp_dir=tmp_path / f"java{sid}")
            else:
                self.peers[sid] = TestingServer(tick_time=TICK, config=dict(conf, standaloneEnabled="false"),
                                                myid=sid, temp_dir=tmp_path / f"zkpy{sid}", force_sync=False)

    def peer(self, sid):
        return self.peers[sid]

    @property
    def connect_string(self):
        return ",".join(p.connect_string for p in self.peers.values())

    def mode(self, sid):
        peer = self.peers[sid]
        if not peer.is_running:
            return None
        try:
            text = four_letter_word("127.0.0.1", peer.port, "srvr", timeout=2.0)
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
        return None

    def modes(self):
        return {sid: self.mode(sid) for sid in self.sids}

    def leader(self):
        leaders = [sid for sid, mode in self.modes().items() if mode == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def log_tail(self, sid, lines=30):
        return self.peers[sid].log_tail(lines)

    def start(self, *sids):
        for sid in sids or self.sids:
            self.peers[sid].start(wait="port")

    def wait_all_serving(self, timeout=60):
        wait_until(lambda: all(self.modes().values()), timeout, "every peer serving", self)

    def close(self):
        for peer in self.peers.values():
            peer.close()


def log(peer) -> str:
    with open(peer.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def write_some(client, root, n=10):
    client.ensure_path(root)
    for i in range(n):
        client.create(f"{root}/n{i}", b"%d" % i)
    client.create(f"{root}/seq-", b"s", sequence=True)
    client.set(f"{root}/n0", b"changed")
    client.delete(f"{root}/n1")
    t = client.transaction()
    t.create(f"{root}/multi", b"m")
    t.set_data(f"{root}/n2", b"in a multi")
    t.commit()


def wipe(peer):
    shutil.rmtree(os.path.join(peer.data_dir, "version-2"))


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
