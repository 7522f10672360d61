"""A load generator that speaks ZooKeeper's client protocol over raw sockets.

Stands for no Java class: ZooKeeper ships no load generator (its
``system-test`` InstanceContainer and the outside zk-smoketest/zk-latencies
tools are the nearest); this one is built so that the generator is not the
bottleneck on a small machine:

* several worker processes (``procs``), each with ``conns`` sessions on
  blocking sockets watched by one selector, each session keeping ``depth``
  requests outstanding (pipelining: a new request goes out for every reply);
* requests are jute bytes built once (``zkpy.jute.records``); per request
  only the 12-byte frame/xid/op prefix is packed;
* a reply is read as its 16-byte header only (xid, zxid, err), checked to
  come back in request order;
* latency is taken per request from a per-batch timestamp (one clock read
  per ``send``, one per ``recv``), and each worker reports the CPU it used
  in the measured window (``getrusage``), so the report can show what one
  operation cost the generator itself.

Sessions are spread round-robin over the given servers (global connection
``g`` goes to ``servers[g % len(servers)]`` and uses key ``g % keys``).
A run has a warm-up, then a measured window; or, with ``total_ops``, it
sends exactly that many requests (a fill) and measures all of it.

Command line (a quick look at one server)::

    python -m bench.loadgen 127.0.0.1:2181 --op get --seconds 5 --prepare
"""

from __future__ import annotations

import argparse
import array
import collections
import dataclasses
import json
import logging
import multiprocessing
import queue
import resource
import selectors
import socket
import struct
import sys
import time
from typing import Optional, Sequence

from zkpy.defs import PING_XID, CreateMode, OpCode
from zkpy.errors import Code
from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.jute.records import (
    OPEN_ACL_UNSAFE, ConnectRequest, ConnectResponse, CreateRequest, GetDataRequest, SetDataRequest,
)

LOG = logging.getLogger(__name__)

_LEN = struct.Struct(">i")
#: frame length, xid, op type: the part of a request that changes per request.
_REQ_PREFIX = struct.Struct(">iii")
#: frame length, xid, zxid, err: all the generator reads of a reply.
_REPLY_HDR = struct.Struct(">iiqi")
_NOTIFICATION_XID = -1

#: Operations a run can send. ``mix`` is ``get`` with a ``write_ratio``
#: share of ``set`` (W3: 90/10).
OPS = ("get", "set", "create_seq", "mix")


class LoadError(RuntimeError):
    """A run could not start (no session) or its workers failed."""


def _now_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- one session, synchronous: setup, probes, W6/W7 ------------------------------------


def connect_payload(timeout_ms: int) -> bytes:
    """A ConnectRequest for a new session, with the readOnly=false byte."""
    out = OutputArchive()
    ConnectRequest(0, 0, timeout_ms, 0, bytes(16)).serialize(out)
    out.write_bool(False)
    return _LEN.pack(len(out.buf)) + bytes(out.buf)


def request_bytes(xid: int, op: int, body: bytes) -> bytes:
    return _REQ_PREFIX.pack(8 + len(body), xid, op) + body


def parse_connect_response(payload: bytes) -> ConnectResponse:
    return ConnectResponse.deserialize(InputArchive(payload))


class Session:
    """One synchronous session on a raw socket (setup and one-off probes).

    ``call`` sends one request and returns the reply's (err, body bytes)."""

    def __init__(self, host: str, port: int, *, timeout_ms: int = 30000, io_timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        self.xid = 0
        try:
            self.sock.sendall(connect_payload(timeout_ms))
            resp = parse_connect_response(self._read_frame())
        except BaseException:
            self.sock.close()
            raise
        if resp.timeOut <= 0:
            self.sock.close()
            raise LoadError(f"{host}:{port} refused the session")
        self.session_id = resp.sessionId

    def _read_frame(self) -> bytes:
        while True:
            if len(self._buf) >= 4:
                (length,) = _LEN.unpack_from(self._buf, 0)
                if len(self._buf) >= 4 + length:
                    frame = self._buf[4:4 + length]
                    self._buf = self._buf[4 + length:]
                    return frame
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buf += chunk

    def call(self, op: int, body: bytes = b"") -> tuple[int, bytes]:
        self.xid += 1
        xid = self.xid
        self.sock.sendall(request_bytes(xid, int(op), body))
        while True:
            frame = self._read_frame()
            reply_xid, _zxid, err = struct.unpack_from(">iqi", frame, 0)
            if reply_xid == xid:
                return err, frame[16:]
            if reply_xid != _NOTIFICATION_XID:
                raise LoadError(f"reply xid {reply_xid}, expected {xid}")

    def create(self, path: str, data: bytes = b"", mode: int = CreateMode.PERSISTENT) -> int:
        return self.call(OpCode.create, CreateRequest(path, data, OPEN_ACL_UNSAFE, int(mode)).to_bytes())[0]

    def set_data(self, path: str, data: bytes) -> int:
        return self.call(OpCode.setData, SetDataRequest(path, data, -1).to_bytes())[0]

    def get_data(self, path: str) -> int:
        return self.call(OpCode.getData, GetDataRequest(path, False).to_bytes())[0]

    def close(self, *, close_session: bool = True) -> None:
        try:
            if close_session:
                self.call(OpCode.closeSession)
        except (OSError, LoadError):
            pass
        finally:
            self.sock.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ensure_path(session: Session, path: str, data: bytes = b"") -> None:
    """Create ``path`` (and missing parents); an existing node is fine."""
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        err = session.create("/" + "/".join(parts[:i]), data if i == len(parts) else b"")
        if err not in (Code.OK, Code.NODEEXISTS):
            raise LoadError(f"create {'/'.join(parts[:i])}: error {Code(err).name}")


# -- the run description and its result ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoadSpec:
    """What one run sends. ``procs * conns`` sessions in all."""

    servers: tuple[tuple[str, int], ...]
    op: str = "get"
    procs: int = 2
    conns: int = 4
    depth: int = 32
    warmup: float = 1.0
    seconds: float = 5.0
    #: send exactly this many requests in all (a fill) instead of a timed window
    total_ops: Optional[int] = None
    data_size: int = 100
    root: str = "/bench"
    keys: int = 16
    write_ratio: float = 0.1
    session_timeout_ms: int = 30000
    #: a bound on any run, fill or not, so a stuck server cannot hang the bench
    max_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {OPS}, not {self.op!r}")
        if self.procs < 1 or self.conns < 1 or self.depth < 1 or not self.servers:
            raise ValueError("procs, conns and depth must be >= 1 and servers non-empty")

    @property
    def connections(self) -> int:
        return self.procs * self.conns

    def key_path(self, g: int) -> str:
        return f"{self.root}/k{g % self.keys}"

    @property
    def seq_parent(self) -> str:
        return f"{self.root}/seq"


@dataclasses.dataclass
class LoadResult:
    spec: LoadSpec
    ops: int
    errors: int
    seconds: float
    latencies_ms: dict  # p50, p90, p99, p999, max
    gen_cpu_seconds: float
    server_cpu_seconds: Optional[float] = None
    error_codes: dict = dataclasses.field(default_factory=dict)

    @property
    def ops_per_sec(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def gen_cpu_us_per_op(self) -> float:
        return 1e6 * self.gen_cpu_seconds / self.ops if self.ops else float("nan")

    @property
    def server_cpu_us_per_op(self) -> Optional[float]:
        if self.server_cpu_seconds is None or not self.ops:
            return None
        return 1e6 * self.server_cpu_seconds / self.ops

    def summary(self) -> dict:
        return {
            "op": self.spec.op, "connections": self.spec.connections, "depth": self.spec.depth,
            "ops": self.ops, "errors": self.errors, "seconds": round(self.seconds, 3),
            "ops_per_sec": round(self.ops_per_sec, 1),
            "latency_ms": {k: round(v, 4) for k, v in self.latencies_ms.items()},
            "gen_cpu_us_per_op": round(self.gen_cpu_us_per_op, 2),
            "server_cpu_us_per_op": (None if self.server_cpu_us_per_op is None
                                     else round(self.server_cpu_us_per_op, 2)),
            "error_codes": self.error_codes,
        }


def percentiles(values: Sequence[float]) -> dict:
    """p50/p90/p99/p99.9/max of ``values`` (nearest rank); empty -> {}."""
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, int(q * n + 0.5) - 1))]

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "p999": rank(0.999), "max": ordered[-1]}


# -- the worker process ------------------------------------------------------------------


class _Conn:
    """One pipelined session inside a worker."""

    __slots__ = ("sock", "buf", "xid", "expect", "sent_at", "pattern", "npattern", "quota", "closing",
                 "last_send", "timeout_ms")

    def __init__(self, host: str, port: int, spec: LoadSpec, g: int, quota: Optional[int]):
        self.sock = socket.create_connection((host, port), timeout=30.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.xid = 0
        self.expect = 1
        self.sent_at: collections.deque = collections.deque()
        data = bytes(spec.data_size)
        key = spec.key_path(g)
        get = (int(OpCode.getData), GetDataRequest(key, False).to_bytes())
        set_ = (int(OpCode.setData), SetDataRequest(key, data, -1).to_bytes())
        if spec.op == "get":
            pattern = [get]
        elif spec.op == "set":
            pattern = [set_]
        elif spec.op == "create_seq":
            body = CreateRequest(spec.seq_parent + "/s-", data, OPEN_ACL_UNSAFE,
                                 int(CreateMode.PERSISTENT_SEQUENTIAL)).to_bytes()
            pattern = [(int(OpCode.create), body)]
        else:  # mix: writes spread evenly through a cycle of 100
            r = spec.write_ratio
            pattern = [set_ if int((i + 1) * r) > int(i * r) else get for i in range(100)]
        self.pattern = pattern
        self.npattern = len(pattern)
        self.quota = quota
        self.closing = False
        self.last_send = 0.0
        self.timeout_ms = 0  # the session timeout the server granted

    def handshake(self, timeout_ms: int) -> int:
        """Open the session; returns the timeout the server granted (ms)."""
        self.sock.sendall(connect_payload(timeout_ms))
        while True:
            if len(self.buf) >= 4:
                (length,) = _LEN.unpack_from(self.buf, 0)
                if len(self.buf) >= 4 + length:
                    resp = parse_connect_response(self.buf[4:4 + length])
                    self.buf = self.buf[4 + length:]
                    if resp.timeOut <= 0:
                        raise LoadError("the server refused the session")
                    self.timeout_ms = resp.timeOut
                    return resp.timeOut
            chunk = self.sock.recv(65536)
            if not chunk:
                raise LoadError("the server closed the connection during the handshake")
            self.buf += chunk

    def send(self, k: int, now: float) -> int:
        """Send up to ``k`` requests (fewer when the quota runs out)."""
        if self.quota is not None:
            k = min(k, self.quota)
            self.quota -= k
        if k <= 0:
            return 0
        pack = _REQ_PREFIX.pack
        pattern = self.pattern
        npattern = self.npattern
        xid = self.xid
        parts = []
        for _ in range(k):
            xid += 1
            op, body = pattern[xid % npattern]
            parts.append(pack(8 + len(body), xid, op))
            parts.append(body)
        self.xid = xid
        self.sent_at.extend([now] * k)
        self.sock.sendall(b"".join(parts))
        self.last_send = now
        return k

    def ping(self, now: float) -> None:
        try:
            self.sock.sendall(_REQ_PREFIX.pack(8, PING_XID, int(OpCode.ping)))
        except OSError as e:
            raise LoadError(f"the server closed a connection during the run ({e})") from e
        self.last_send = now


def ping_idle(conns: Sequence[_Conn], now: float) -> int:
    """Ping each session that has sent nothing for a third of the timeout
    the server granted it (the Java client's interval), as a real client
    keeps its session: a connection that finished its share of a fill waits
    for the others, and the server expires a session that stays silent for
    its timeout. Returns how many were pinged."""
    pinged = 0
    for conn in conns:
        if now - conn.last_send >= conn.timeout_ms / 3000.0:
            conn.ping(now)
            pinged += 1
    return pinged


def _worker(spec: LoadSpec, index: int, results: "multiprocessing.Queue", go: "multiprocessing.Event",
            t0_value: "multiprocessing.Value") -> None:
    try:
        _worker_run(spec, index, results, go, t0_value)
    except BaseException as e:  # noqa: BLE001 - reported to the driver, which fails the run
        results.put(("failed", index, f"{type(e).__name__}: {e}"))


def _worker_run(spec, index, results, go, t0_value) -> None:
    quota_each = None
    conns: list[_Conn] = []
    nserv = len(spec.servers)
    for c in range(spec.conns):
        g = index * spec.conns + c
        if spec.total_ops is not None:
            # split total_ops exactly over all connections
            total_conns = spec.connections
            quota_each = spec.total_ops // total_conns + (1 if g < spec.total_ops % total_conns else 0)
        host, port = spec.servers[g % nserv]
        conn = _Conn(host, port, spec, g, quota_each)
        conns.append(conn)
        conn.handshake(spec.session_timeout_ms)
    for conn in conns:
        conn.sock.settimeout(None)
    results.put(("ready", index, None))
    if not go.wait(120.0):
        raise LoadError("no start signal")
    t0 = t0_value.value
    fill = spec.total_ops is not None
    t_start = t0 if fill else t0 + spec.warmup
    t_end = t0 + spec.max_seconds if fill else t_start + spec.seconds
    while time.monotonic() < t0:
        time.sleep(0.0005)

    sel = selectors.DefaultSelector()
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    now = time.monotonic()
    for conn in conns:
        conn.send(spec.depth, now)

    lat = array.array("d")
    lat_append = lat.append
    ops = 0
    errors = 0
    error_codes: dict[int, int] = {}
    cpu_start = _now_cpu() if fill else None
    cpu_end = None
    t_last = now
    sending = True
    unpack_len = _LEN.unpack_from
    unpack_hdr = _REPLY_HDR.unpack_from
    drain_deadline = None
    outstanding = sum(len(c.sent_at) for c in conns)
    refill = max(1, spec.depth // 4)
    # Checked often enough that no session stays silent past half its timeout.
    ping_check_every = min(1.0, min(c.timeout_ms for c in conns) / 6000.0)
    next_ping_check = now + ping_check_every

    while True:
        now = time.monotonic()
        if now >= next_ping_check:
            next_ping_check = now + ping_check_every
            ping_idle(conns, now)
        if cpu_start is None and now >= t_start:
            cpu_start = _now_cpu()
        if sending and now >= t_end:
            sending = False
        if not sending:
            if cpu_end is None:
                cpu_end = _now_cpu()
            if drain_deadline is None:
                drain_deadline = now + 15.0
            if outstanding == 0 or now >= drain_deadline:
                break
        if fill and outstanding == 0 and all(c.quota == 0 for c in conns):
            break
        for key, _mask in sel.select(0.05):
            conn = key.data
            chunk = conn.sock.recv(262144)
            if not chunk:
                raise LoadError("the server closed a connection during the run")
            now = time.monotonic()
            buf = conn.buf + chunk if conn.buf else chunk
            n = len(buf)
            pos = 0
            k = 0
            sent_at = conn.sent_at
            in_window = t_start <= now < t_end
            while n - pos >= 4:
                end = pos + 4 + unpack_len(buf, pos)[0]
                if end > n:
                    break
                _length, xid, _zxid, err = unpack_hdr(buf, pos)
                pos = end
                if xid == _NOTIFICATION_XID or xid == PING_XID:
                    continue
                sent = sent_at.popleft()
                k += 1
                if xid != conn.expect:
                    raise LoadError(f"reply xid {xid} out of order (expected {conn.expect})")
                conn.expect = xid + 1
                if err:
                    errors += 1
                    error_codes[err] = error_codes.get(err, 0) + 1
                if in_window:
                    ops += 1
                    if sent >= t_start:
                        lat_append(now - sent)
            conn.buf = buf[pos:] if pos < n else b""
            outstanding -= k
            if k:
                t_last = now
                # Refill in batches, not one request per reply: a send per
                # reply would make the generator's syscalls the bottleneck.
                free = spec.depth - len(sent_at)
                if sending and free >= refill:
                    outstanding += conn.send(free, now)
    if cpu_end is None:
        cpu_end = _now_cpu()
    if fill:
        t_end = t_last
    # Close the sessions (not just the sockets): leftover sessions would
    # cost the server until they expire, in the middle of the next run.
    for conn in conns:
        conn.buf = b""
        try:
            conn.sock.settimeout(10.0)
            conn.sock.sendall(request_bytes(conn.xid + 1, int(OpCode.closeSession), b""))
        except OSError:
            pass
    # Both servers answer closeSession and then close the connection.
    deadline = time.monotonic() + 10.0
    for conn in conns:
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                conn.sock.settimeout(remaining)
                if not conn.sock.recv(65536):
                    break
        except OSError:
            pass
        conn.sock.close()
    results.put(("result", index, {
        "ops": ops, "errors": errors, "error_codes": error_codes, "lat": lat.tobytes(),
        "cpu": cpu_end - cpu_start, "t_start": t_start, "t_end": t_end, "lost": outstanding,
    }))


# -- the driver ------------------------------------------------------------------------------


def _server_cpu(pids: Sequence[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run_load(spec: LoadSpec, server_pids: Sequence[int] = ()) -> LoadResult:
    """Run ``spec`` with ``spec.procs`` worker processes; measure the
    servers' CPU (``server_pids``) over the same window."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    go = ctx.Event()
    t0_value = ctx.Value("d", 0.0)
    workers = [ctx.Process(target=_worker, args=(spec, i, results, go, t0_value), daemon=True)
               for i in range(spec.procs)]
    for w in workers:
        w.start()
    try:
        ready = 0
        while ready < spec.procs:
            kind, index, detail = _get(results, 60.0, "workers to open their sessions")
            if kind == "failed":
                raise LoadError(f"worker {index}: {detail}")
            ready += 1
        fill = spec.total_ops is not None
        t0 = time.monotonic() + 0.05
        t0_value.value = t0
        go.set()
        server_cpu = None
        if server_pids and not fill:
            _sleep_until(t0 + spec.warmup)
            cpu0 = _server_cpu(server_pids)
            _sleep_until(t0 + spec.warmup + spec.seconds)
            server_cpu = _server_cpu(server_pids) - cpu0
        elif server_pids:
            cpu0 = _server_cpu(server_pids)
        parts = []
        wait = spec.max_seconds + 60.0 if fill else spec.warmup + spec.seconds + 60.0
        while len(parts) < spec.procs:
            kind, index, detail = _get(results, wait, "workers to finish")
            if kind == "failed":
                raise LoadError(f"worker {index}: {detail}")
            parts.append(detail)
        if server_pids and fill:
            server_cpu = _server_cpu(server_pids) - cpu0
    finally:
        for w in workers:
            w.join(timeout=10.0)
            if w.is_alive():
                w.kill()
                w.join()
    lat = array.array("d")
    for part in parts:
        lat.frombytes(part["lat"])
    codes: dict[str, int] = {}
    for part in parts:
        for code, count in part["error_codes"].items():
            name = Code(code).name if code in Code._value2member_map_ else str(code)
            codes[name] = codes.get(name, 0) + count
    if fill:
        seconds = max(p["t_end"] for p in parts) - t0
    else:
        seconds = spec.seconds
    lost = sum(p["lost"] for p in parts)
    if lost:
        LOG.warning("%d requests never answered", lost)
    return LoadResult(
        spec=spec,
        ops=sum(p["ops"] for p in parts),
        errors=sum(p["errors"] for p in parts) + lost,
        seconds=seconds,
        latencies_ms={k: v * 1000.0 for k, v in percentiles(lat).items()},
        gen_cpu_seconds=sum(p["cpu"] for p in parts),
        server_cpu_seconds=server_cpu,
        error_codes=codes,
    )


def _get(results, timeout: float, what: str):
    try:
        return results.get(timeout=timeout)
    except queue.Empty:
        raise LoadError(f"timed out waiting for {what}") from None


def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def prepare(servers: Sequence[tuple[str, int]], spec: Optional[LoadSpec] = None) -> None:
    """Create the znodes a run reads and writes: ``root/k0..`` (data_size
    bytes each) and the parent of the sequential nodes."""
    spec = spec or LoadSpec(servers=tuple(servers))
    host, port = servers[0]
    with Session(host, port) as session:
        ensure_path(session, spec.root)
        for i in range(spec.keys):
            ensure_path(session, f"{spec.root}/k{i}", bytes(spec.data_size))
        ensure_path(session, spec.seq_parent)


def _parse_server(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("servers", nargs="+", help="host:port of each server to spread sessions over")
    parser.add_argument("--op", choices=OPS, default="get")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--conns", type=int, default=4, help="sessions per process")
    parser.add_argument("--depth", type=int, default=32, help="outstanding requests per session")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--total-ops", type=int, default=None)
    parser.add_argument("--data-size", type=int, default=100)
    parser.add_argument("--prepare", action="store_true", help="create the znodes first")
    args = parser.parse_args(argv)
    servers = tuple(_parse_server(s) for s in args.servers)
    spec = LoadSpec(servers=servers, op=args.op, procs=args.procs, conns=args.conns, depth=args.depth,
                    warmup=args.warmup, seconds=args.seconds, total_ops=args.total_ops,
                    data_size=args.data_size)
    if args.prepare:
        prepare(servers, spec)
    result = run_load(spec)
    json.dump(result.summary(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if result.ops > 0 and result.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
