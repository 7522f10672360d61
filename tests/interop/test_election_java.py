"""Election and discovery in a mixed ensemble: zkpy peers with a Java 3.8.0
peer (ZK_SPEC.md §4.1-4.3).

Both sides elect the same leader and get through discovery together: the
learners' FOLLOWERINFO and ACKEPOCH reach the leader, the leader's
LEADERINFO reaches the learners, and the new epoch lands in every peer's
acceptedEpoch file. Synchronization and broadcast between the two kinds
are tested in ``test_zab_java.py``.
"""

from __future__ import annotations

import os
import time

import pytest

from zkpy.testing import TestingServer, four_letter_word

from .java_zk import JavaZooKeeperServer, free_ports

pytestmark = pytest.mark.interop

_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]

TICK, INIT, SYNC = 200, 10, 5


def wait_until(predicate, timeout, what, logs=()):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            tails = "\n".join(f"--- {name}:\n{tail()}" for name, tail in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.1)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def mixed_ensemble(tmp_path, java_sids):
    ports = free_ports(6)
    conf = {f"server.{sid}": f"127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}" for i, sid in enumerate((1, 2, 3))}
    conf.update(initLimit=INIT, syncLimit=SYNC)
    peers = {}
    for sid in (1, 2, 3):
        if sid in java_sids:
            peers[sid] = JavaZooKeeperServer(conf, myid=sid, tick_time=TICK, temp_dir=tmp_path / f"java{sid}")
        else:
            peers[sid] = TestingServer(tick_time=TICK, config=dict(conf, standaloneEnabled="false"), myid=sid,
                                       temp_dir=tmp_path / f"zkpy{sid}")
    return peers


def srvr(peer) -> str:
    try:
        return four_letter_word("127.0.0.1", peer.port, "srvr", timeout=2.0)
    except OSError:  # not listening yet
        return ""


def epoch_path(peer, name):
    return os.path.join(peer.data_dir, "version-2", name)


def test_zkpy_followers_elect_and_discover_with_a_java_leader(tmp_path):
    peers = mixed_ensemble(tmp_path, java_sids={3})
    java = peers[3]
    logs = [(f"peer {sid}", peer.log_tail) for sid, peer in peers.items()]
    try:
        java.start(wait="port")                 # sid 3, the highest: everyone votes for it
        peers[1].start(wait=None)
        peers[2].start(wait=None)
        # zkpy learners report "follower" once they acked the Java leader's epoch.
        for sid in (1, 2):
            wait_until(lambda sid=sid: "Mode: follower" in srvr(peers[sid]),
                       30, f"zkpy peer {sid} to follow", logs)
        # Java got past waitForEpochAck: it only then picks a sync mode per learner.
        wait_until(lambda: "Synchronizing with Learner sid: 1" in read(java.log_path).decode(errors="replace")
                   and "Synchronizing with Learner sid: 2" in read(java.log_path).decode(errors="replace"),
                   15, "the Java leader to finish discovery", logs)
        text = read(java.log_path).decode(errors="replace")
        assert "LEADING - LEADER ELECTION TOOK" in text
        assert "Follower is ahead" not in text and "is not ACKEPOCH" not in text
        # The epoch Java proposed (max acceptedEpoch + 1 = 1) is accepted everywhere.
        for sid in (1, 2, 3):
            assert read(epoch_path(peers[sid], "acceptedEpoch")) == b"1", sid
        assert read(epoch_path(java, "currentEpoch")) == b"1"
    finally:
        for peer in peers.values():
            peer.close()


def test_java_followers_elect_a_zkpy_leader_and_accept_its_epoch(tmp_path):
    peers = mixed_ensemble(tmp_path, java_sids={1, 2})
    zkpy = peers[3]
    logs = [(f"peer {sid}", peer.log_tail) for sid, peer in peers.items()]
    try:
        zkpy.start(wait="port")
        peers[1].start(wait=None)
        peers[2].start(wait=None)
        # The zkpy leader counts Java's ACKEPOCHs: it reports "leader" only
        # once a quorum of voters acked the new epoch.
        wait_until(lambda: "Mode: leader" in srvr(zkpy), 40,
                   "the zkpy peer to lead", logs)
        for sid in (1, 2):
            wait_until(lambda sid=sid: read(epoch_path(peers[sid], "acceptedEpoch")) == b"1", 15,
                       f"Java peer {sid} to accept epoch 1", logs)
            assert "FOLLOWING - LEADER ELECTION TOOK" in read(peers[sid].log_path).decode(errors="replace")
        assert read(epoch_path(zkpy, "currentEpoch")) == b"1"
    finally:
        for peer in peers.values():
            peer.close()
