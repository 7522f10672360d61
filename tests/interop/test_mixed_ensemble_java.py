"""Mixed ensembles of zkpy and Java 3.8.0 peers on loopback (issue #8).

Two mixes, 2 Java + 1 zkpy and 1 Java + 2 zkpy, each run as real
processes. The highest sid wins an election at equal zxids and is started
first, so the first leader is sid 3: zkpy in the first mix, Java in the
second. Each mix then

* replicates writes both ways: a write through every server is read back
  from every server after ``sync``, data and every Stat field equal;
* survives a kill -9 of its leader (so once a zkpy leader dies, once a
  Java one) under a write load that loses no acknowledged write; the other
  two (the other kind) elect and go on serving; the killed peer restarts
  and rejoins with identical data;
* resyncs a restarted learner by DIFF (a few txns missed) and by SNAP (more
  than the leader's committed log holds, with txn-log sync off), the kind
  of sync read from the learner's log. Before the failover the learner is
  of the other kind than the leader, after it the killed old leader is
  the learner, so both directions are covered in each mix.

Also observers of one kind with participants of the other, and zkpy on a
data directory that a Java ensemble peer wrote.
"""

from __future__ import annotations

import time

import pytest

from ..integration.zab_util import WriteLoad, assert_same_data, dump_tree, kazoo, wait_until
from .java_zk import JavaZooKeeperServer
from .mixed import Ensemble, LogMark, sync_kinds, write_some

pytestmark = pytest.mark.interop

_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]

#: The leader's in-memory committed log keeps COMMIT_LOG txns (Java 3.8.0
#: raises any smaller zookeeper.commitLogCount to 500); with txn-log sync
#: off (snapshotSizeFactor < 0, read by both kinds) a learner that missed
#: more gets a SNAP, one that missed fewer a DIFF.
COMMIT_LOG = 500
SYNC_FLAGS = ("-Dzookeeper.snapshotSizeFactor=-1",)

MIXES = {
    "2java+1zkpy": {1, 2},  # sid 3, the first leader, is zkpy
    "1java+2zkpy": {3},     # sid 3, the first leader, is Java
}


def start_with_leader_3(ensemble: Ensemble) -> None:
    ensemble.start(3)  # the highest sid, up first: every peer votes for it
    ensemble.start(1, 2)
    ensemble.wait_all_serving()
    assert ensemble.leader() == 3, ensemble.modes()


def writes_through_every_server(ensemble: Ensemble, tag: str, sids=None) -> None:
    """Write through each of ``sids``, then read it all back from each of
    them after ``sync``: the same znodes, data and Stat (only under the
    roots written, so that a write load elsewhere does not matter)."""
    sids = list(sids or ensemble.sids)
    roots = [f"/{tag}-via-{sid}-{ensemble.kind(sid)}" for sid in sids]
    for sid, root in zip(sids, roots):
        with kazoo(ensemble.peer(sid)) as client:
            write_some(client, root, 3)
    seen = {}
    for sid in sids:
        with kazoo(ensemble.peer(sid)) as client:
            client.sync("/")
            seen[sid] = {path: node for root in roots for path, node in dump_tree(client, root).items()}
    for root in roots:
        assert f"{root}/multi" in seen[sids[0]], f"{root}/multi missing on peer {sids[0]}"
    for sid in sids[1:]:
        assert seen[sid] == seen[sids[0]], f"peers {sids[0]} and {sid} differ under {roots}"


def assert_same_config_node(ensemble: Ensemble) -> bytes:
    """/zookeeper/config: the same text, ACL and Stat on every peer of either
    kind, but mtime, which each peer sets when it starts (Java too)."""
    seen = {}
    for sid in ensemble.sids:
        with kazoo(ensemble.peer(sid)) as client:
            data, stat = client.get("/zookeeper/config")
            fields = tuple(stat)
            seen[sid] = (data, fields[:3] + fields[4:], client.get_acls("/zookeeper/config")[0])
    first = seen[ensemble.sids[0]]
    assert all(node == first for node in seen.values()), seen
    return first[0]


def resync(ensemble: Ensemble, sid: int, missed: int, tag: str) -> list[str]:
    """Stop ``sid``, write ``missed`` txns elsewhere, restart it; the syncs it logged."""
    peer = ensemble.peer(sid)
    other = next(s for s in ensemble.sids if s != sid and ensemble.peer(s).is_running)
    peer.stop()
    with kazoo(ensemble.peer(other)) as client:
        client.ensure_path(f"/{tag}")  # one txn
        # pipelined: hundreds of creates in well under a second
        for result in [client.create_async(f"/{tag}/n{i}", b"%d" % i) for i in range(missed - 1)]:
            result.get(timeout=30)
    mark = LogMark(peer)
    peer.start(wait="serving")
    assert_same_data(ensemble, expect_paths=[f"/{tag}/n{missed - 2}"])
    return sync_kinds(mark.new())


@pytest.mark.parametrize("java_sids", MIXES.values(), ids=MIXES.keys())
def test_mixed_ensemble_replicates_fails_over_and_resyncs(tmp_path, java_sids):
    with Ensemble(tmp_path, java_sids, jvm_flags=SYNC_FLAGS, forceSync="no") as ensemble:
        start_with_leader_3(ensemble)
        first_kind = ensemble.kind(3)
        assert first_kind == ("zkpy" if 3 not in java_sids else "java")
        writes_through_every_server(ensemble, "before")
        assert assert_same_config_node(ensemble).endswith(b"version=0")

        # A learner of the other kind than the leader: DIFF, then SNAP.
        learner = 1
        assert ensemble.kind(learner) != first_kind
        assert resync(ensemble, learner, 5, "diff1") == ["DIFF"]
        assert resync(ensemble, learner, COMMIT_LOG + 20, "snap1") == ["SNAP"]
        assert ensemble.leader() == 3

        # kill -9 the leader under a write load through every server.
        with WriteLoad(ensemble.connect_string) as load:
            wait_until(lambda: load.count() > 20, 30, "the write load to start", ensemble)
            killed_at = time.monotonic()
            ensemble.peer(3).kill()
            # Whichever of 1 and 2 logged more wins (the higher sid only at equal zxids).
            wait_until(lambda: ensemble.mode(3) is None and ensemble.leader() in (1, 2)
                       and "follower" in (ensemble.mode(1), ensemble.mode(2)), 30,
                       "peers 1 and 2 to elect a leader", ensemble)
            new_leader = ensemble.leader()
            assert ensemble.kind(new_leader) != first_kind
            wait_until(lambda: load.first_write_after(killed_at), 30, "a write acknowledged by the new leader",
                       ensemble)
            before = load.count()
            wait_until(lambda: load.count() > before + 20, 30, "writes to go on", ensemble)
            writes_through_every_server(ensemble, "after-kill", sids=[1, 2])
            mark = LogMark(ensemble.peer(3))
            ensemble.peer(3).start(wait="serving")  # rejoins while the load goes on
            assert ensemble.mode(3) == "follower"
            wait_until(lambda: load.count() > before + 60, 30, "writes after the rejoin", ensemble)
        assert sync_kinds(mark.new()), "the old leader logged no sync"
        tree = assert_same_data(ensemble)
        lost = load.paths() - set(tree)
        assert not lost, f"acknowledged writes lost: {sorted(lost)[:5]}"

        # The old leader, now a learner of the other kind's leader: DIFF, then SNAP.
        assert resync(ensemble, 3, 5, "diff3") == ["DIFF"]
        assert resync(ensemble, 3, COMMIT_LOG + 20, "snap3") == ["SNAP"]
        assert ensemble.leader() == new_leader
        writes_through_every_server(ensemble, "end")


OBSERVER_MIXES = {
    "java-observer+zkpy-participants": {3},
    "zkpy-observer+java-participants": {1, 2},
}


@pytest.mark.parametrize("java_sids", OBSERVER_MIXES.values(), ids=OBSERVER_MIXES.keys())
def test_observer_of_one_kind_with_participants_of_the_other(tmp_path, java_sids):
    with Ensemble(tmp_path, java_sids, observers={3}, forceSync="no") as ensemble:
        observer = ensemble.peer(3)
        ensemble.start(2, 1, 3)
        ensemble.wait_all_serving()
        assert ensemble.modes() == {1: "follower", 2: "leader", 3: "observer"}
        assert ensemble.kind(3) != ensemble.kind(2)
        assert b":observer\n" in assert_same_config_node(ensemble)
        # The observer forwards writes and serves reads; every server agrees.
        writes_through_every_server(ensemble, "obs")
        with kazoo(observer) as client:
            client.create("/eph-via-observer", b"e", ephemeral=True)
            client.sync("/")
            assert client.get("/obs-via-2-" + ensemble.kind(2) + "/n0")[0] == b"changed"
            tree = assert_same_data(ensemble, expect_paths=["/eph-via-observer"])
            assert tree["/eph-via-observer"][1][7] == client.client_id[0]  # ephemeralOwner
        assert "/eph-via-observer" not in assert_same_data(ensemble)  # its session closed everywhere
        # A restarted observer catches up by DIFF.
        assert resync(ensemble, 3, 5, "while-observer-down") == ["DIFF"]
        assert ensemble.mode(3) == "observer"
