"""The fault tier's own tooling: what a failed run leaves behind, and replays.

A failed run is only worth something if it says why: heal_all's error
must name each peer's mode and its log lines that are not the polling's
four-letter-word chatter, artifacts.save must keep each peer's full log,
zoo.cfg, myid and version-2 listing, and ZKPY_FAULT_SEED must replay the
same sequence of faults.
"""

from __future__ import annotations

import os

import pytest

from zkpy.testing import TestingCluster, wait_until

from . import artifacts
from .nemesis import ClusterTarget, Nemesis
from .netem import peer_ports

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]


def test_heal_all_failure_names_each_peer_and_saves_the_evidence(tmp_path, monkeypatch):
    with TestingCluster(3, temp_dir=tmp_path / "cluster", tick_time=200, sync_limit=5, init_limit=10,
                        partitionable=True) as cluster:
        cluster.start()
        # netem's filters: every peer's own quorum and election ports, and
        # the proxy ports the others dial (2 + 2 x 2 per peer).
        ports = peer_ports([cluster.peer(sid).config_path for sid in cluster.sids])
        assert len(ports) == 18, ports
        assert cluster._quorum_ports[1] in ports and cluster._election_ports[3] in ports
        cluster.partition([1], [2], [3])
        # Until syncLimit runs out the old roles still answer srvr: wait for
        # every peer to give its role up, or heal_all would find them serving.
        wait_until(lambda: not any(m in ("leader", "follower") for m in cluster.modes().values()), 20,
                   "every peer to leave its role")
        # A partition that heal_all cannot heal: no peer can ever lead.
        monkeypatch.setattr(cluster, "heal", lambda: None)
        with pytest.raises(AssertionError) as failure:
            ClusterTarget(cluster).heal_all(timeout=3.0)
        message = str(failure.value)
        assert "timed out after 3.0 s waiting for every peer to serve again" in message
        for sid in (1, 2, 3):
            header = next(line for line in message.splitlines() if line.startswith(f"--- peer{sid}: "))
            assert "leader" not in header.split(";")[0] and "follower" not in header.split(";")[0], header
        assert "Processing srvr command" not in message
        assert "LOOKING" in message  # the election's own log lines are what is left

        saved = artifacts.save(str(tmp_path / "evidence"), [cluster.peer(sid) for sid in cluster.sids])
        for sid in (1, 2, 3):
            peer_dir = os.path.join(saved, f"peer{sid}")
            with open(os.path.join(peer_dir, "myid"), encoding="ascii") as f:
                assert f.read().strip() == str(sid)
            with open(os.path.join(peer_dir, "zoo.cfg"), encoding="utf-8") as f:
                assert "server.1=" in f.read()
            with open(os.path.join(peer_dir, "server.log"), encoding="utf-8", errors="replace") as f:
                log = f.read()
            # The whole log, from the server's first line on, chatter included.
            assert log.startswith(open(cluster.peer(sid).log_path, encoding="utf-8", errors="replace").read(200))
            assert "version-2:" in open(os.path.join(peer_dir, "version-2.txt"), encoding="utf-8").read()
        assert "peer1: " in open(os.path.join(saved, "servers.txt"), encoding="utf-8").read()

        monkeypatch.undo()
        cluster.reset_faults(30)
        assert sorted(cluster.modes().values()) == ["follower", "follower", "leader"]


class _Recorder:
    """A target that only records what the nemesis asks of it."""

    kinds = ("kill", "pause", "partition")

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def inject(self, kind, rng, avoid=()):
        victim = rng.choice([sid for sid in (1, 2, 3) if sid not in avoid])
        self.calls.append((kind, victim))
        return f"peer{victim}", lambda: None, victim

    def heal_all(self, timeout):
        pass


def test_seed_from_the_environment_replays_the_faults(monkeypatch):
    monkeypatch.setenv("ZKPY_FAULT_SEED", "12345")
    runs = []
    for _ in range(2):
        target = _Recorder()
        nemesis = Nemesis(target, interval=(0.001, 0.002), hold=(0.001, 0.002))
        assert nemesis.seed == 12345
        nemesis.run(0.3)
        runs.append(target.calls)
    assert len(runs[0]) >= 20
    n = min(len(runs[0]), len(runs[1]))
    assert runs[0][:n] == runs[1][:n]
    monkeypatch.delenv("ZKPY_FAULT_SEED")
    other = _Recorder()
    Nemesis(other, interval=(0.001, 0.002), hold=(0.001, 0.002), seed=54321).run(0.3)
    assert other.calls[:n] != runs[0][:n]


def test_overlapping_faults_are_of_another_kind_on_another_peer():
    target = _Recorder()
    nemesis = Nemesis(target, interval=(0.001, 0.002), hold=(0.01, 0.02), seed=3, overlap=1.0)
    nemesis.run(0.5)
    assert nemesis.overlapping() >= 5
    for first, second in zip(nemesis.faults, nemesis.faults[1:]):
        if second.note.startswith("overlaps"):
            assert second.kind != first.kind and second.target != first.target, (first, second)
            assert second.start < first.end  # injected while the first was held
    assert "overlapping another" in nemesis.line()
