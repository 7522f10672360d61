"""The benchmark's workloads (issue 10) and the rows of its report.

Stands for no Java class. Each ``measure_*`` function runs one workload
once against one :class:`bench.targets.Target` and returns
``{row key: (value, details)}``; :mod:`bench.run` repeats them, A B A B,
and keeps the per-run values. :data:`ROWS` says, per row, its unit, which
direction is better, and which target (must / aim ratio zkpy/Java) it
carries, if any.

Throughput rows use the pipelined generator (:mod:`bench.loadgen`);
latency rows one session with one request outstanding; memory rows the
servers' RSS (psutil) before and after; time rows the wall clock from
launching (or killing) processes until a write is accepted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable, Optional

from bench.loadgen import LoadError, LoadResult, LoadSpec, Session, ensure_path, prepare, run_load
from bench.targets import Target
from zkpy.errors import Code

LOG = logging.getLogger(__name__)


# -- targets (ratios zkpy/Java) -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Goal:
    name: str
    must: float
    aim: Optional[float]

    def verdict(self, ratio: float, better: str) -> str:
        """"aim" (the aim line is met), "must" (only the must line),
        "met" (the must line, and there is no aim line) or "miss"."""
        def ok(limit: float) -> bool:
            return ratio >= limit if better == "higher" else ratio <= limit
        if not ok(self.must):
            return "miss"
        if self.aim is None:
            return "met"
        return "aim" if ok(self.aim) else "must"


GOALS = {
    "reads": Goal("reads", 0.5, 1.0),
    "writes": Goal("writes", 0.5, 1.0),
    "get_p50": Goal("get p50", 2.0, 1.5),
    "failover": Goal("failover", 1.5, 1.0),
    "startup": Goal("start-up", 0.5, None),
    "mem_znode": Goal("memory per znode", 1.0, 0.8),
    "mem_session": Goal("memory per session", 1.0, 0.8),
}


@dataclasses.dataclass(frozen=True)
class RowDef:
    key: str
    title: str
    unit: str
    better: str  # "higher" or "lower"
    goal: Optional[str] = None
    fmt: str = "{:,.0f}"
    topology: Optional[str] = None  # only in this topology (None: both)


CURVE_CONNECTIONS = (1, 8, 32, 128)
#: Outstanding requests in all, for the main pipelined rows and the curve:
#: the curve varies only the number of sessions they are spread over.
TOTAL_DEPTH = 256


def _rows() -> list[RowDef]:
    rows = [
        RowDef("W1", "W1 getData 100 B, pipelined, all servers", "ops/s", "higher", "reads"),
        RowDef("W2-set", "W2 setData 100 B (fsync), all servers", "ops/s", "higher", "writes"),
        RowDef("W2-set-leader", "W2 setData 100 B, via leader", "ops/s", "higher", "writes", topology="ensemble"),
        RowDef("W2-set-followers", "W2 setData 100 B, via followers", "ops/s", "higher", "writes",
               topology="ensemble"),
        RowDef("W2-seq", "W2 create-sequential 100 B (fsync), all servers", "ops/s", "higher", "writes"),
        RowDef("W3", "W3 90 % get / 10 % set, pipelined", "ops/s", "higher"),
    ]
    for op in ("get", "set"):
        for where, topo in (("server", "standalone"), ("leader", "ensemble"), ("follower", "ensemble")):
            goal = "get_p50" if op == "get" else None
            rows.append(RowDef(f"W4-{op}-{where}-p50", f"W4 {op} p50, depth 1, {where}", "ms", "lower", goal,
                               "{:.3f}", topo))
            rows.append(RowDef(f"W4-{op}-{where}-p99", f"W4 {op} p99, depth 1, {where}", "ms", "lower", None,
                               "{:.3f}", topo))
    rows += [
        RowDef("W5", "W5 leader kill -9 under writes → first write", "s", "lower", "failover", "{:.2f}",
               "ensemble"),
        RowDef("W6", "W6 cold start → write accepted on every server", "s", "lower", "startup", "{:.2f}"),
        RowDef("W7", "W7 RSS per session (2,000 sessions), per server", "bytes", "lower", "mem_session"),
        RowDef("MEM", "MEM RSS per znode (100 B znodes), per server", "bytes", "lower", "mem_znode"),
        RowDef("MEM-rss", "MEM RSS per server after the fill", "MB", "lower", None, "{:,.1f}"),
        RowDef("MEM-fill", "MEM fill rate (pipelined creates)", "ops/s", "higher", None),
    ]
    for n in CURVE_CONNECTIONS:
        rows.append(RowDef(f"C-get-{n}", f"cost curve: W1 get, {n} connection{'s' if n > 1 else ''}", "ops/s",
                           "higher"))
    for n in CURVE_CONNECTIONS:
        rows.append(RowDef(f"C-set-{n}", f"cost curve: W2 set, {n} connection{'s' if n > 1 else ''}", "ops/s",
                           "higher"))
    rows += [
        RowDef("R-0", "restart → write accepted, 0 znodes", "s", "lower", None, "{:.2f}"),
        RowDef("R-100k", "restart → write accepted, with the MEM znodes", "s", "lower", None, "{:.2f}"),
        RowDef("R-1M", "restart → write accepted, 1,000,000 znodes", "s", "lower", None, "{:.2f}"),
    ]
    return rows


ROWS = _rows()
ROW_BY_KEY = {row.key: row for row in ROWS}


# -- throughput and latency ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timing:
    warmup: float = 1.0
    seconds: float = 5.0


def layout(connections: int, procs: int = 2) -> tuple[int, int, int]:
    """(procs, sessions per proc, depth) for ``connections`` sessions with
    :data:`TOTAL_DEPTH` requests outstanding in all."""
    procs = max(1, min(procs, connections))
    return procs, connections // procs, max(1, TOTAL_DEPTH // connections)


def load_details(result: LoadResult) -> dict:
    details = result.summary()
    if result.server_cpu_seconds is not None and result.seconds > 0:
        details["server_cores"] = round(result.server_cpu_seconds / result.seconds, 2)
    return details


def run_spec(target: Target, op: str, role: str, connections: int, depth: Optional[int], timing: Timing,
             procs: int = 2) -> LoadResult:
    servers = tuple(target.addresses(role))
    if not servers:
        raise LoadError(f"{target.label} has no {role}")
    p, per_proc, d = layout(connections, procs)
    spec = LoadSpec(servers=servers, op=op, procs=p, conns=per_proc, depth=depth or d,
                    warmup=timing.warmup, seconds=timing.seconds)
    result = run_load(spec, target.pids())
    if result.errors:
        LOG.warning("%s %s: %d errors %s", target.label, op, result.errors, result.error_codes)
    return result


def _ops(result: LoadResult) -> tuple[float, dict]:
    return result.ops_per_sec, load_details(result)


#: Pipelined rows: key -> (op, role, connections).
PIPELINED = {
    "W1": ("get", "all", 8),
    "W3": ("mix", "all", 8),
    "W2-set": ("set", "all", 8),
    "W2-set-leader": ("set", "leader", 8),
    "W2-set-followers": ("set", "followers", 8),
    "W2-seq": ("create_seq", "all", 8),
}
for _n in CURVE_CONNECTIONS:
    if _n != 8:  # 8 connections is W1 / W2-set itself
        PIPELINED[f"C-get-{_n}"] = ("get", "all", _n)
        PIPELINED[f"C-set-{_n}"] = ("set", "all", _n)
#: the curve's 8-connection points are these rows
CURVE_ALIASES = {"C-get-8": "W1", "C-set-8": "W2-set"}


def measure_pipelined(key: str, target: Target, timing: Timing) -> dict:
    op, role, connections = PIPELINED[key]
    out = {key: _ops(run_spec(target, op, role, connections, None, timing))}
    for alias, source in CURVE_ALIASES.items():
        if source == key:
            out[alias] = out[key]
    return out


def measure_w4(op: str, where: str, target: Target, timing: Timing) -> dict:
    """One session, one request outstanding: p50 and p99 latency."""
    role = {"server": "all", "leader": "leader", "follower": "followers"}[where]
    servers = target.addresses(role)[:1]
    spec = LoadSpec(servers=tuple(servers), op=op, procs=1, conns=1, depth=1, warmup=timing.warmup,
                    seconds=timing.seconds)
    result = run_load(spec, target.pids())
    details = load_details(result)
    lat = result.latencies_ms
    return {f"W4-{op}-{where}-p50": (lat["p50"], details), f"W4-{op}-{where}-p99": (lat["p99"], details)}


# -- start-up, restart, memory ---------------------------------------------------------------


def measure_cold_start(target: Target) -> dict:
    """W6 on a fresh target, then R-0: restart it with (almost) no data."""
    cold = target.start_timed()
    restart = target.restart_timed()
    return {"W6": (cold, {}), "R-0": (restart, {})}


def _settled_rss(target: Target, pause: float = 1.0) -> list[int]:
    time.sleep(pause)
    return target.rss_bytes()


def measure_sessions(target: Target, sessions: int) -> dict:
    """W7: open ``sessions`` sessions spread over all servers; RSS growth
    per session, averaged over the servers."""
    target.start()
    addresses = target.addresses("all")
    opened: list[Session] = []
    try:
        # one session first, so the baseline has the server's per-session
        # machinery warmed up
        host, port = addresses[0]
        opened.append(Session(host, port))
        before = _settled_rss(target)
        for i in range(sessions):
            host, port = addresses[i % len(addresses)]
            # A long wait allowed: Java once took over 10 s for one of 2,000 creates.
            opened.append(Session(host, port, io_timeout=60.0))
        after = _settled_rss(target)
    finally:
        for session in opened:
            session.close(close_session=False)
    per_server = [(a - b) / sessions for a, b in zip(after, before)]
    value = sum(per_server) / len(per_server)
    return {"W7": (value, {"sessions": sessions, "rss_before": before, "rss_after": after})}


def fill(target: Target, znodes: int, root: str = "/mem") -> LoadResult:
    """Create ``znodes`` sequential znodes of 100 B under ``root``/seq,
    pipelined, through all servers."""
    servers = tuple(target.addresses("all"))
    spec = LoadSpec(servers=servers, op="create_seq", procs=2, conns=4, depth=32, total_ops=znodes, root=root,
                    max_seconds=3600.0)
    host, port = servers[0]
    with Session(host, port) as session:
        ensure_path(session, spec.seq_parent)
    return run_load(spec, target.pids())


def measure_memory(target: Target, znodes: int, restart_key: str = "R-100k") -> dict:
    """MEM: RSS growth per znode after ``znodes`` creates of 100 B, the RSS
    per server, the fill rate; then the restart time with those znodes."""
    target.start()
    before = _settled_rss(target)
    result = fill(target, znodes)
    if result.errors:
        raise LoadError(f"{target.label}: the fill had {result.errors} errors {result.error_codes}")
    after = _settled_rss(target)
    per_server = [(a - b) / znodes for a, b in zip(after, before)]
    details = {"znodes": znodes, "rss_before": before, "rss_after": after}
    out = {
        "MEM": (sum(per_server) / len(per_server), details),
        "MEM-rss": (sum(after) / len(after) / 2**20, details),
        "MEM-fill": (result.ops_per_sec, load_details(result)),
    }
    out[restart_key] = (target.restart_timed(), {"znodes": znodes})
    return out


def measure_restart_big(target: Target, znodes: int) -> dict:
    """R-1M: restart time with ``znodes`` znodes (the fill is not timed)."""
    out = measure_memory(target, znodes, "R-1M")
    return {"R-1M": out["R-1M"]}


# -- failover (ensemble only) ------------------------------------------------------------------


def measure_failover(target: Target, writers_per_server: int = 2, timeout: float = 60.0) -> dict:
    """W5: with sessions writing through the followers, SIGKILL the leader;
    seconds until the first write sent after the kill succeeds."""
    target.start()
    followers = target.addresses("followers")
    if not followers:
        raise LoadError(f"{target.label} has no followers")
    for host, port in followers:
        with Session(host, port) as session:
            ensure_path(session, "/w5", bytes(100))
    stop = threading.Event()
    t_kill = [None]
    first_ok: list[float] = []
    lock = threading.Lock()

    def writer(host: str, port: int) -> None:
        session = None
        while not stop.is_set():
            try:
                if session is None:
                    session = Session(host, port, io_timeout=2.0)
                sent = time.monotonic()
                err = session.set_data("/w5", bytes(100))
                now = time.monotonic()
                # only a write sent after the kill proves a new leader: one
                # sent before may have been committed by the old one
                if err == Code.OK and t_kill[0] is not None and sent > t_kill[0]:
                    with lock:
                        first_ok.append(now)
            except (OSError, LoadError):
                if session is not None:
                    session.close(close_session=False)
                session = None
                time.sleep(0.005)
        if session is not None:
            session.close()

    threads = [threading.Thread(target=writer, args=addr, daemon=True)
               for addr in followers for _ in range(writers_per_server)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # the load is running
        leader = target.servers[target.leader_index()]
        t_kill[0] = time.monotonic()
        leader.kill()
        deadline = t_kill[0] + timeout
        while not first_ok and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10.0)
    if not first_ok:
        raise LoadError(f"{target.label}: no write succeeded within {timeout}s of the leader's kill")
    return {"W5": (min(first_ok) - t_kill[0], {})}


# -- the plan ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Step:
    """One measurement: a name, the rows it fills, and how to run it once.

    ``shared``: runs on the long-lived targets (started once, prepared);
    otherwise ``run`` gets a fresh target and the driver closes it."""

    name: str
    keys: tuple[str, ...]
    run: Callable[[Target], dict]
    shared: bool


def plan(topology: str, timing: Timing, *, znodes: int, sessions: int, big_znodes: Optional[int],
         only: Optional[set[str]] = None) -> list[Step]:
    steps: list[Step] = []

    def add(name, keys, run, shared):
        keys = tuple(k for k in keys if _in_topology(k, topology))
        if not keys or (only and name not in only and not (only & set(keys))):
            return
        steps.append(Step(name, keys, run, shared))

    # Reads and mixed first, the writes after, create-sequential last: it
    # grows the tree that the other rows run on.
    order = ["W1", "W3", "W2-set", "W2-set-leader", "W2-set-followers"]
    order += [f"C-get-{n}" for n in CURVE_CONNECTIONS if n != 8]
    order += [f"C-set-{n}" for n in CURVE_CONNECTIONS if n != 8]
    for key in order:
        aliases = [a for a, s in CURVE_ALIASES.items() if s == key]
        add(key, [key, *aliases], lambda t, k=key: measure_pipelined(k, t, timing), True)
    wheres = ("server",) if topology == "standalone" else ("follower", "leader")
    for op in ("get", "set"):
        for where in wheres:
            add(f"W4-{op}-{where}", [f"W4-{op}-{where}-p50", f"W4-{op}-{where}-p99"],
                lambda t, o=op, w=where: measure_w4(o, w, t, timing), True)
    add("W2-seq", ["W2-seq"], lambda t: measure_pipelined("W2-seq", t, timing), True)
    add("W6", ["W6", "R-0"], measure_cold_start, False)
    add("W5", ["W5"], measure_failover, False)
    add("W7", ["W7"], lambda t: measure_sessions(t, sessions), False)
    add("MEM", ["MEM", "MEM-rss", "MEM-fill", "R-100k"], lambda t: measure_memory(t, znodes), False)
    if big_znodes:
        add("R-1M", ["R-1M"], lambda t: measure_restart_big(t, big_znodes), False)
    return steps


def _in_topology(key: str, topology: str) -> bool:
    row = ROW_BY_KEY[key]
    return row.topology is None or row.topology == topology


def prepare_target(target: Target) -> None:
    """The znodes the shared steps read and write."""
    prepare(target.addresses("all"))
