"""The nemesis: faults injected on a schedule while workloads run.

Not a ZooKeeper class; Jepsen's nemeses are the model. One fault at a
time by default: the nemesis waits a random interval, injects a fault,
holds it for a random duration, heals it, and so on for the run's
duration; then it heals whatever is still broken and waits until the
servers serve again. One at a time keeps an ensemble of three with a
quorum between faults, so every acknowledged write must survive. With
``overlap=p``, a held fault gets, with probability p, a second one of
another category on another peer (a partition while a peer is paused),
started during the first's hold and healed on its own schedule: an
ensemble of three then loses its quorum for a while, and must get it back
once both are healed.

Targets adapt a server or an ensemble (``zkpy.testing``) to the faults:

* ``kill``: SIGKILL a random peer (standalone: the server), restart it
  after the hold;
* ``kill-leader``: SIGKILL the leader, restart it;
* ``pause``: SIGSTOP a random peer for longer than syncLimit, then SIGCONT;
* ``pause-leader``: the same to the leader;
* ``partition``: isolate a random peer (quorum and election links cut,
  ``TestingCluster(partitionable=True)``), then heal;
* ``partition-leader``: isolate the leader;
* ``restart``: a clean stop (SIGTERM) and start;
* ``slow``: every link to and from a random peer delayed (20-150 ms,
  jitter) with a share of chunks stalled as lost segments would be
  (the partition proxies' impairments, no root needed);
* ``netem``: ``tc netem`` delay and loss on every peer link (root, and a
  kernel with netem: tests/fault/netem.py; ``ClusterTarget(netem=True)``).

``ZKPY_FAULT_SEED`` replays a run's sequence of faults (not its timing);
a heal_all that times out names each peer's mode and its last log lines,
and the tier's conftest saves every peer's evidence (artifacts.py).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import sys
import time
from collections import Counter
from typing import Optional, Sequence

from zkpy.testing import TestingCluster, TestingServer, TestingServerError, wait_until

from . import artifacts
from .netem import Netem, peer_ports
from .netem import unavailable_reason as netem_unavailable_reason

LOG = logging.getLogger(__name__)

__all__ = ["Fault", "Nemesis", "StandaloneTarget", "ClusterTarget"]


@dataclasses.dataclass
class Fault:
    kind: str
    target: object
    start: float
    end: Optional[float] = None
    note: str = ""


class StandaloneTarget:
    """A :class:`TestingServer` under kill -9 / pause / restart."""

    kinds = ("kill", "pause", "restart")

    def __init__(self, server: TestingServer):
        self.server = server

    @property
    def connect_string(self) -> str:
        return self.server.connect_string

    def replicas(self) -> dict[str, str]:
        """Name -> connect string of each live replica, for final reads."""
        return {"standalone": self.server.connect_string}

    def inject(self, kind: str, rng: random.Random, avoid: Sequence[int] = ()):
        if kind == "kill":
            self.server.kill()
            return "server", self._start, None
        if kind == "pause":
            self.server.pause()
            return "server", self.server.resume, None
        if kind == "restart":
            self.server.stop()
            return "server", self._start, None
        raise ValueError(f"standalone servers have no fault {kind!r}")

    def _start(self) -> None:
        self.server.start()

    def heal_all(self, timeout: float = 60.0) -> None:
        try:
            if self.server.is_paused:
                self.server.resume()
            if not self.server.is_running:
                self.server.start()
            self.server.wait_serving(timeout)
        except (AssertionError, TestingServerError) as e:
            raise AssertionError(f"{e}\n{artifacts.describe([('server', self.server)])}") from e


class ClusterTarget:
    """A :class:`TestingCluster` under the ensemble faults.

    ``netem=True`` adds the ``netem`` fault when tc netem can run here
    (tests/fault/netem.py; root, and a kernel with the qdisc)."""

    def __init__(self, cluster: TestingCluster, *, restart_wait: bool = False, netem: bool = False):
        self.cluster = cluster
        self.restart_wait = restart_wait
        self.netem: Optional[Netem] = None
        if netem and not netem_unavailable_reason():
            configs = [cluster.peer(sid).config_path for sid in cluster.sids]
            self.netem = Netem(peer_ports(configs))

    @property
    def kinds(self) -> tuple[str, ...]:
        kinds = ["kill", "kill-leader", "pause", "pause-leader", "restart"]
        if self.cluster.partitionable:
            kinds += ["partition", "partition-leader", "slow"]
        if self.netem is not None:
            kinds.append("netem")
        return tuple(kinds)

    @property
    def connect_string(self) -> str:
        return self.cluster.connect_string

    def replicas(self) -> dict[str, str]:
        return {f"peer{sid}": self.cluster.peer(sid).connect_string for sid in self.cluster.sids
                if self.cluster.peer(sid).is_running}

    def _pick(self, kind: str, rng: random.Random, avoid: Sequence[int] = ()) -> int:
        # Always draw, so that a replay (same seed) draws the same numbers
        # whether or not there was a leader at that moment.
        candidates = [sid for sid in self.cluster.voters if sid not in avoid] or list(self.cluster.voters)
        sid = rng.choice(candidates)
        if kind.endswith("-leader"):
            leader = self.cluster.leader()
            if leader is not None and leader not in avoid:
                return leader
        return sid

    def inject(self, kind: str, rng: random.Random, avoid: Sequence[int] = ()):
        """Inject ``kind`` on a peer not in ``avoid``; returns (what, heal,
        the sid hit or None)."""
        cluster = self.cluster
        sid = self._pick(kind, rng, avoid)
        if kind.startswith("kill"):
            cluster.kill(sid)
            return f"peer{sid}", lambda: cluster.peer(sid).start(wait="port"), sid
        if kind.startswith("pause"):
            cluster.pause(sid)
            return f"peer{sid}", lambda: cluster.resume(sid), sid
        if kind.startswith("partition"):
            cluster.partition([sid])
            return f"peer{sid} isolated", cluster.heal, sid
        if kind == "restart":
            cluster.stop(sid)
            return f"peer{sid}", lambda: cluster.peer(sid).start(wait="port"), sid
        if kind == "slow":
            # Every link to and from one peer, both ways: delay around
            # syncLimit's fraction, and stalls as lost segments would cost.
            delay, jitter, loss = rng.uniform(0.02, 0.15), rng.uniform(0.0, 0.05), rng.uniform(0.0, 0.2)
            links = [(a, b) for a in cluster.sids for b in cluster.sids if a != b and sid in (a, b)]
            cluster.network.impair(links, delay=delay, jitter=jitter, loss=loss)
            return (f"peer{sid} links +{delay * 1000:.0f}±{jitter * 1000:.0f} ms, {loss:.0%} stalled",
                    cluster.network.unimpair, sid)
        if kind == "netem":
            assert self.netem is not None
            what = self.netem.apply(rng.uniform(10, 80), rng.uniform(0, 20), rng.uniform(0, 10))
            return f"every peer link: {what}", self.netem.clear, None
        raise ValueError(f"unknown fault {kind!r}")

    def heal_all(self, timeout: float = 60.0) -> None:
        """Undo every fault and wait until every peer serves in its role,
        so that each one can be read at the end. Polls every 0.2 s (each
        poll is a srvr per peer, logged by each); on a timeout the error
        names each peer's mode and its last log lines (artifacts.py)."""
        cluster = self.cluster
        try:
            if self.netem is not None:
                self.netem.clear()
            cluster.heal()
            if cluster.network is not None:
                cluster.network.unimpair()
            for sid in cluster.sids:
                if cluster.peer(sid).is_paused:
                    cluster.resume(sid)
            for sid in cluster.sids:
                if not cluster.peer(sid).is_running:
                    cluster.peer(sid).start(wait="port")
            wait_until(lambda: all(m in ("leader", "follower", "observer") for m in cluster.modes().values()),
                       timeout, "every peer to serve again", interval=0.2)
            for sid in cluster.sids:  # a role, and out of the not-serving window of a sync too
                cluster.peer(sid).wait_serving(timeout)
        except (AssertionError, TestingServerError) as e:
            peers = [(f"peer{sid}", cluster.peer(sid)) for sid in cluster.sids]
            raise AssertionError(f"{e}\n{artifacts.describe(peers)}") from e


class Nemesis:
    """Injects ``kinds`` of faults on ``target``, one at a time."""

    def __init__(self, target, kinds: Optional[Sequence[str]] = None, *, interval: tuple[float, float] = (1.0, 3.0),
                 hold: tuple[float, float] = (0.5, 2.0), seed: Optional[int] = None, overlap: float = 0.0):
        """``overlap``: the probability that a second fault, of another
        category and on another peer, starts while a fault is held (and
        may outlast it), e.g. a partition while a peer is paused."""
        self.target = target
        self.overlap = overlap
        self.kinds = tuple(kinds or target.kinds)
        unknown = set(self.kinds) - set(target.kinds)
        if unknown:
            raise ValueError(f"{type(target).__name__} cannot inject {sorted(unknown)}")
        self.interval = interval
        self.hold = hold
        if seed is None:  # ZKPY_FAULT_SEED replays a run's fault sequence (not its timing)
            seed = int(os.environ.get("ZKPY_FAULT_SEED") or random.randrange(1 << 30))
        self.seed = seed
        self.rng = random.Random(self.seed)
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self.healed_at: Optional[float] = None

    def run(self, duration: float, heal_timeout: float = 90.0) -> None:
        """Inject faults for ``duration`` seconds, then heal everything and
        wait until the servers serve. Runs in the calling thread: servers
        die with the thread that started them (PR_SET_PDEATHSIG), so
        restarts must come from the test's own thread."""
        LOG.info("nemesis seed %d, faults %s", self.seed, self.kinds)
        # Up front, so that a run that fails or hangs can still be replayed
        # with ZKPY_FAULT_SEED (pytest shows it with the failure's output).
        sys.stderr.write(f"nemesis seed {self.seed} (replay: ZKPY_FAULT_SEED={self.seed})\n")
        sys.stderr.flush()
        deadline = time.monotonic() + duration
        try:
            while True:
                pause = self.rng.uniform(*self.interval)
                if time.monotonic() + pause >= deadline:
                    time.sleep(max(0.0, deadline - time.monotonic()))
                    break
                time.sleep(pause)
                self._one_fault(self.rng.uniform(*self.hold))  # may end a little after the deadline
        finally:
            try:
                self.target.heal_all(heal_timeout)
            except AssertionError as e:
                raise AssertionError(f"{self.line()} (replay: ZKPY_FAULT_SEED={self.seed}); "
                                     f"last faults: {self.timeline(5)}\n{e}") from e
            self.healed_at = time.monotonic()

    def _one_fault(self, hold: float) -> None:
        kind = self.rng.choice(self.kinds)
        first = self._inject(kind, hold)
        if first is None:
            return
        # heal-at time -> (fault, heal); a second fault may start meanwhile.
        pending = [(first[0].start + hold, first)]
        if self.overlap and self.rng.random() < self.overlap:
            others = [k for k in self.kinds if _category(k) != _category(kind)]
            second_kind = self.rng.choice(others) if others else None
            at = first[0].start + self.rng.uniform(0.2, 0.8) * hold
            second_hold = self.rng.uniform(*self.hold)
            if second_kind is not None:
                time.sleep(max(0.0, at - time.monotonic()))
                second = self._inject(second_kind, second_hold, avoid=[first[2]] if first[2] is not None else [])
                if second is not None:
                    second[0].note = f"overlaps {kind} {first[0].target}"
                    pending.append((second[0].start + second_hold, second))
        for due, (fault, heal, _) in sorted(pending, key=lambda p: p[0]):
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                heal()
            except Exception as e:  # noqa: BLE001
                fault.note = (fault.note + "; " if fault.note else "") + f"heal failed: {e!r}"
                self.errors.append(f"{fault.kind} {fault.target}: heal failed: {e!r}")
                LOG.warning("nemesis: healing %s %s failed: %r", fault.kind, fault.target, e)
            fault.end = time.monotonic()

    def _inject(self, kind: str, hold: float, avoid: Sequence[int] = ()):
        fault = Fault(kind, None, time.monotonic())
        try:
            fault.target, heal, sid = self.target.inject(kind, self.rng, avoid)
        except Exception as e:  # noqa: BLE001 - a fault that could not be injected is reported
            self.errors.append(f"{kind}: could not inject: {e!r}")
            LOG.warning("nemesis: %s failed: %r", kind, e)
            return None
        self.faults.append(fault)
        LOG.info("nemesis: %s %s for %.1f s", kind, fault.target, hold)
        return fault, heal, sid

    def overlapping(self) -> int:
        """How many faults were injected while another was held."""
        return sum(1 for f in self.faults if f.note.startswith("overlaps"))

    def timeline(self, last: int = 5) -> str:
        """The ``last`` faults: kind, target, start and hold (s from the first)."""
        if not self.faults:
            return "none"
        t0 = self.faults[0].start
        return "; ".join(f"{f.kind} {f.target} at {f.start - t0:.1f} s"
                         f"{'' if f.end is None else f' for {f.end - f.start:.1f} s'}{' ' + f.note if f.note else ''}"
                         for f in self.faults[-last:])

    def counts(self) -> Counter:
        return Counter(f.kind for f in self.faults)

    def line(self) -> str:
        counts = ", ".join(f"{kind} x{n}" for kind, n in sorted(self.counts().items())) or "none"
        overlapping = f", {self.overlapping()} overlapping another" if self.overlap else ""
        return f"faults injected: {len(self.faults)} ({counts}{overlapping}); seed {self.seed}"


def _category(kind: str) -> str:
    """kill-leader -> kill: faults of one category do not overlap (a second
    partition would replace the first)."""
    return kind.split("-")[0]
