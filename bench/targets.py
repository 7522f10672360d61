"""What the benchmark runs against: a *target* is one implementation (zkpy
or Java ZooKeeper 3.8) in one topology (standalone, or a 3-peer ensemble).

Stands for no Java class. Both implementations are started the same way
and with the same zoo.cfg entries (:data:`BENCH_CONFIG`: tickTime 2000 as
in zoo_sample.cfg, fsync on, ``maxClientCnxns=0``); each server is a
:class:`zkpy.testing.TestingServer` or a
:class:`zkpy.testing_java.JavaZooKeeperServer` in a temporary directory.
Java runs as zkServer.sh runs it (default GC and JIT; ``-Xmx1000m`` as the
upstream zkEnv.sh), not with the quick-start flags the interop tests use.

A target answers the questions the workloads ask: the client addresses by
role (all / leader / followers), the server pids (for RSS and CPU), and the
time from launching its processes until a write is accepted on every
server (cold start, restart).

ENSEMBLE HOOK: :class:`EnsembleTarget` is written for both implementations;
:func:`probe_zkpy_ensemble` decides whether zkpy's ensemble serves clients
yet (a write accepted through every peer). Until it does, ``make bench``
(``--topology auto``) runs the standalone targets and says why in the report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Optional

import psutil

from bench.loadgen import LoadError, Session
from zkpy.errors import Code
from zkpy.cli.four_letter_word_main import srvr_mode
from zkpy.testing import TestingCluster, TestingServer, find_free_ports, four_letter_word
from zkpy.testing_java import JavaZooKeeperServer

LOG = logging.getLogger(__name__)

IMPLS = ("zkpy", "java")
TOPOLOGIES = ("standalone", "ensemble")

#: zoo.cfg entries for every server of every target.
BENCH_CONFIG = {"maxClientCnxns": 0}
TICK_TIME = 2000
INIT_LIMIT, SYNC_LIMIT = 10, 5
JAVA_HEAP_MB = 1000


def java_available() -> tuple[bool, str]:
    return JavaZooKeeperServer.available()


def _new_server(impl: str, *, config: Optional[dict] = None, myid: Optional[int] = None,
                port: Optional[int] = None, heap_mb: int = JAVA_HEAP_MB):
    cfg = dict(BENCH_CONFIG)
    cfg.update(config or {})
    if impl == "zkpy":
        return TestingServer(port, tick_time=TICK_TIME, config=cfg, myid=myid, force_sync=True,
                             start_timeout=120.0)
    if impl == "java":
        return JavaZooKeeperServer(cfg, port=port, tick_time=TICK_TIME, myid=myid, heap_mb=heap_mb,
                                   tuned_for_tests=False, start_timeout=120.0)
    raise ValueError(f"impl must be one of {IMPLS}, not {impl!r}")


def wait_write_accepted(host: str, port: int, deadline: float, tag: str, *, every: float = 0.02,
                        attempt_timeout: float = 5.0) -> float:
    """Return the monotonic time at which a new session on ``host:port``
    first had a create accepted.

    Attempts overlap: a new one starts every ``every`` seconds while older
    ones wait for their answer, because a server that is starting may take
    a connection and never answer it (Java 3.8 does, now and then); a
    serial poll would then measure its own timeout, not the server."""
    done = threading.Event()
    successes: list[float] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        try:
            with Session(host, port, io_timeout=attempt_timeout) as session:
                err = session.create(f"/bench-probe-{tag}-{n}")
                if err in (Code.OK, Code.NODEEXISTS):
                    with lock:
                        successes.append(time.monotonic())
                    done.set()
        except (OSError, LoadError):
            pass

    threads: list[threading.Thread] = []
    n = 0
    while not done.is_set():
        if time.monotonic() >= deadline:
            raise LoadError(f"no write accepted on {host}:{port} in time")
        threads = [t for t in threads if t.is_alive()]
        if len(threads) < 50:
            thread = threading.Thread(target=attempt, args=(n,), daemon=True)
            thread.start()
            threads.append(thread)
            n += 1
        done.wait(every)
    with lock:
        return min(successes)


class Target:
    """One implementation in one topology; ``servers`` in sid order."""

    topology = "?"

    def __init__(self, impl: str, servers: list, heap_mb: int = JAVA_HEAP_MB) -> None:
        self.impl = impl
        self.servers = servers
        self.heap_mb = heap_mb

    @property
    def label(self) -> str:
        return f"{self.impl} {self.topology}"

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> "Target":
        """Start and wait until a write is accepted on every server."""
        self.start_timed()
        return self

    def start_timed(self, timeout: float = 120.0) -> float:
        """Launch every process at once; seconds until each server has
        accepted a write (W6 cold start, restart time)."""
        t0 = time.monotonic()
        for server in self.servers:
            server.start(wait=None)
        deadline = t0 + timeout
        tag = uuid.uuid4().hex[:12]
        done = [wait_write_accepted(s.host, s.port, deadline, f"{tag}-{i}") for i, s in enumerate(self.servers)]
        return max(done) - t0

    def restart_timed(self, timeout: float = 600.0) -> float:
        """Stop every server cleanly, then :meth:`start_timed`."""
        for server in self.servers:
            server.stop()
        return self.start_timed(timeout)

    def close(self) -> None:
        for server in self.servers:
            try:
                server.close()
            except Exception:  # noqa: BLE001 - close the others too
                LOG.exception("closing %s", server)

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the workloads ask ---------------------------------------------------

    def addresses(self, role: str = "all") -> list[tuple[str, int]]:
        """Client addresses: ``all``, ``leader`` or ``followers`` (empty
        when the topology has none)."""
        chosen = self.servers
        if role == "leader":
            chosen = [self.servers[self.leader_index()]]
        elif role == "followers":
            leader = self.leader_index()
            chosen = [s for i, s in enumerate(self.servers) if i != leader]
        elif role != "all":
            raise ValueError(role)
        return [(s.host, s.port) for s in chosen]

    def leader_index(self) -> int:
        return 0

    def pids(self) -> list[int]:
        return [s.pid for s in self.servers if s.pid is not None]

    def rss_bytes(self) -> list[int]:
        """Resident set size of each server process."""
        return [psutil.Process(pid).memory_info().rss for pid in self.pids()]


class StandaloneTarget(Target):
    topology = "standalone"

    def __init__(self, impl: str, heap_mb: int = JAVA_HEAP_MB) -> None:
        super().__init__(impl, [_new_server(impl, heap_mb=heap_mb)], heap_mb)

    def addresses(self, role: str = "all") -> list[tuple[str, int]]:
        # A standalone server is its own leader and has no followers.
        return [] if role == "followers" else super().addresses("all")


class EnsembleTarget(Target):
    """Three voting peers on loopback (``server.1..3``)."""

    topology = "ensemble"

    def __init__(self, impl: str, n: int = 3, heap_mb: int = JAVA_HEAP_MB) -> None:
        self._cluster = None
        if impl == "zkpy":
            self._cluster = TestingCluster(n, tick_time=TICK_TIME, init_limit=INIT_LIMIT, sync_limit=SYNC_LIMIT,
                                           config=BENCH_CONFIG, force_sync=True, start_timeout=120.0)
            servers = [self._cluster.peer(sid) for sid in self._cluster.sids]
        else:
            ports = find_free_ports(2 * n)
            members = {f"server.{sid}": f"127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}"
                       for i, sid in enumerate(range(1, n + 1))}
            conf = dict(members, initLimit=INIT_LIMIT, syncLimit=SYNC_LIMIT)
            servers = [_new_server(impl, config=conf, myid=sid, heap_mb=heap_mb) for sid in range(1, n + 1)]
        super().__init__(impl, servers, heap_mb)

    def mode(self, index: int) -> Optional[str]:
        server = self.servers[index]
        try:
            return srvr_mode(four_letter_word(server.host, server.port, "srvr", timeout=2.0))
        except OSError:
            return None

    def leader_index(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            leaders = [i for i in range(len(self.servers)) if self.servers[i].is_running and self.mode(i) == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            if time.monotonic() >= deadline:
                raise LoadError(f"{self.label}: no single leader")
            time.sleep(0.05)

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
        else:
            super().close()


def make_target(impl: str, topology: str, heap_mb: int = JAVA_HEAP_MB) -> Target:
    if topology == "standalone":
        return StandaloneTarget(impl, heap_mb)
    if topology == "ensemble":
        return EnsembleTarget(impl, heap_mb=heap_mb)
    raise ValueError(f"topology must be one of {TOPOLOGIES}, not {topology!r}")


def probe_zkpy_ensemble(timeout: float = 30.0) -> tuple[bool, str]:
    """(True, "") when a 3-peer zkpy ensemble elects a leader and accepts a
    write through every peer within ``timeout``; else (False, why)."""
    target = None
    try:
        target = EnsembleTarget("zkpy")
        seconds = target.start_timed(timeout)
        return True, f"a write was accepted on every peer {seconds:.1f} s after launch"
    except Exception as e:  # noqa: BLE001 - any failure means: not ready
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        modes = {}
        if target is not None:
            modes = {i + 1: target.mode(i) for i in range(len(target.servers))}
        return False, f"{type(e).__name__}: {first}; peers' srvr modes {modes}"
    finally:
        if target is not None:
            target.close()


def raise_nofile_limit() -> tuple[int, int]:
    """Raise this process's (and so its children's) open-file limit to the
    hard limit, as W7 needs for thousands of sessions."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def describe_machine() -> dict:
    """Facts for the report's header."""
    import platform
    import subprocess
    import sys

    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    java = "not installed"
    ok, _ = java_available()
    if ok:
        try:
            out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
            java = (out.stderr or out.stdout).splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError, IndexError):
            java = "?"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "java": java,
        "loadavg": os.getloadavg(),
    }
