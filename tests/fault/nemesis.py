"""The nemesis: faults injected on a schedule while workloads run.

Not a ZooKeeper class; Jepsen's nemeses are the model. One fault at a
time: the nemesis waits a random interval, injects a fault, holds it for a
random duration, heals it, and so on for the run's duration; then it heals
whatever is still broken and waits until the servers serve again. One at a
time keeps an ensemble of three with a quorum between faults, so every
acknowledged write must survive.

Targets adapt a server or an ensemble (``zkpy.testing``) to the faults:

* ``kill``: SIGKILL a random peer (standalone: the server), restart it
  after the hold;
* ``kill-leader``: SIGKILL the leader, restart it;
* ``pause``: SIGSTOP a random peer for longer than syncLimit, then SIGCONT;
* ``pause-leader``: the same to the leader;
* ``partition``: isolate a random peer (quorum and election links cut,
  ``TestingCluster(partitionable=True)``), then heal;
* ``partition-leader``: isolate the leader;
* ``restart``: a clean stop (SIGTERM) and start.
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

from zkpy.testing import TestingCluster, TestingServer, wait_until

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

    def inject(self, kind: str, rng: random.Random):
        if kind == "kill":
            self.server.kill()
            return "server", self._start
        if kind == "pause":
            self.server.pause()
            return "server", self.server.resume
        if kind == "restart":
            self.server.stop()
            return "server", self._start
        raise ValueError(f"standalone servers have no fault {kind!r}")

    def _start(self) -> None:
        self.server.start()

    def heal_all(self, timeout: float = 60.0) -> None:
        if self.server.is_paused:
            self.server.resume()
        if not self.server.is_running:
            self.server.start()
        self.server.wait_serving(timeout)


class ClusterTarget:
    """A :class:`TestingCluster` under the ensemble faults."""

    def __init__(self, cluster: TestingCluster, *, restart_wait: bool = False):
        self.cluster = cluster
        self.restart_wait = restart_wait

    @property
    def kinds(self) -> tuple[str, ...]:
        kinds = ["kill", "kill-leader", "pause", "pause-leader", "restart"]
        if self.cluster.partitionable:
            kinds += ["partition", "partition-leader"]
        return tuple(kinds)

    @property
    def connect_string(self) -> str:
        return self.cluster.connect_string

    def replicas(self) -> dict[str, str]:
        return {f"peer{sid}": self.cluster.peer(sid).connect_string for sid in self.cluster.sids
                if self.cluster.peer(sid).is_running}

    def _pick(self, kind: str, rng: random.Random) -> int:
        if kind.endswith("-leader"):
            leader = self.cluster.leader()
            if leader is not None:
                return leader
        return rng.choice(self.cluster.voters)

    def inject(self, kind: str, rng: random.Random):
        cluster = self.cluster
        sid = self._pick(kind, rng)
        if kind.startswith("kill"):
            cluster.kill(sid)
            return f"peer{sid}", lambda: cluster.peer(sid).start(wait="port")
        if kind.startswith("pause"):
            cluster.pause(sid)
            return f"peer{sid}", lambda: cluster.resume(sid)
        if kind.startswith("partition"):
            cluster.partition([sid])
            return f"peer{sid} isolated", cluster.heal
        if kind == "restart":
            cluster.stop(sid)
            return f"peer{sid}", lambda: cluster.peer(sid).start(wait="port")
        raise ValueError(f"unknown fault {kind!r}")

    def heal_all(self, timeout: float = 60.0) -> None:
        self.cluster.reset_faults(timeout)
        # Every peer back in its role, so that each one can be read at the end.
        wait_until(lambda: all(m in ("leader", "follower", "observer") for m in self.cluster.modes().values()),
                   timeout, "every peer to serve again")


class Nemesis:
    """Injects ``kinds`` of faults on ``target``, one at a time."""

    def __init__(self, target, kinds: Optional[Sequence[str]] = None, *, interval: tuple[float, float] = (1.0, 3.0),
                 hold: tuple[float, float] = (0.5, 2.0), seed: Optional[int] = None):
        self.target = target
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
            self.target.heal_all(heal_timeout)
            self.healed_at = time.monotonic()

    def _one_fault(self, hold: float) -> None:
        kind = self.rng.choice(self.kinds)
        fault = Fault(kind, None, time.monotonic())
        try:
            fault.target, heal = self.target.inject(kind, self.rng)
        except Exception as e:  # noqa: BLE001 - a fault that could not be injected is reported
            self.errors.append(f"{kind}: could not inject: {e!r}")
            LOG.warning("nemesis: %s failed: %r", kind, e)
            return
        self.faults.append(fault)
        LOG.info("nemesis: %s %s for %.1f s", kind, fault.target, hold)
        time.sleep(hold)
        try:
            heal()
        except Exception as e:  # noqa: BLE001
            fault.note = f"heal failed: {e!r}"
            self.errors.append(f"{kind} {fault.target}: heal failed: {e!r}")
            LOG.warning("nemesis: healing %s %s failed: %r", kind, fault.target, e)
        fault.end = time.monotonic()

    def counts(self) -> Counter:
        return Counter(f.kind for f in self.faults)

    def line(self) -> str:
        counts = ", ".join(f"{kind} x{n}" for kind, n in sorted(self.counts().items())) or "none"
        return f"faults injected: {len(self.faults)} ({counts}); seed {self.seed}"
