"""Client workloads for the fault tier, each recording a history.

Every workload runs a few client threads, one kazoo session each, against
a connect string (a standalone server or an ensemble), and records each
operation as an :class:`~tests.fault.linearizability.Op` with its
invocation and completion times (``time.monotonic``) and its outcome:
``ok``; ``fail`` when the server answered with an error, so nothing
happened; ``info`` when the client cannot know (connection lost, session
expired mid-flight, no answer within the op timeout) -- such an op may
still take effect later. At the end a workload checks its history against
what the servers hold:

* :class:`RegisterWorkload`: reads after ``sync`` (in an ensemble after a
  fencing write too, see ``fenced_reads``), blind ``setData``
  and CAS (``setData`` with the version last read), each register a znode;
  the history must be linearizable (``tests.fault.linearizability``). Keys
  rotate so that each key's history stays short and holds few
  indeterminate ops (which make the search exponential).
* :class:`SetWorkload`: unique persistent creates; every acknowledged one
  must be on every live replica at the end; indeterminate ones are counted
  apart (present or not).
* :class:`SequentialWorkload`: sequential creates under a parent that gets
  nothing else; each client's acknowledged numbers strictly increase, and
  every acknowledged number is in the final listing on every live replica,
  holding the data of the create that got it.

Not a ZooKeeper class: Jepsen's ZooKeeper test (register, set) and its
"independent keys" are the model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import Counter
from typing import Callable, Optional

from kazoo import exceptions as ke
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError

from .linearizability import BADVERSION, FAIL, INFO, OK, Op, check_register

LOG = logging.getLogger(__name__)

__all__ = ["Workload", "RegisterWorkload", "SetWorkload", "SequentialWorkload", "WorkloadResult", "new_client",
           "kazoo_client", "outcome_of"]

#: Errors after which the client cannot know whether the request was applied.
_INDETERMINATE = (ke.ConnectionLoss, ke.SessionExpiredError, ke.OperationTimeoutError, ke.SessionMovedError,
                  ke.ConnectionDropped, ke.RequestTimeoutError, KazooTimeoutError, OSError)


def outcome_of(exc: BaseException) -> str:
    """``info`` for errors that leave the outcome open, ``fail`` for an
    error answer from the server (it did nothing). Anything else is a bug
    in the workload: re-raised, so that the run reports it."""
    if isinstance(exc, _INDETERMINATE):
        return INFO
    if isinstance(exc, ke.ZookeeperError):
        return FAIL
    if isinstance(exc, ke.KazooException):
        return INFO  # the client's own states (stopped, connection dropped ...)
    raise exc


def new_client(hosts: str, session_timeout: float = 8.0, *, read_only: bool = False) -> KazooClient:
    """A started kazoo client that reconnects fast (kazoo's default backoff
    grows to an hour) and never retries a command on its own (a retried
    write would hide what the history must show)."""
    client = KazooClient(hosts=hosts, timeout=session_timeout, read_only=read_only,
                         connection_retry=dict(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5))
    client.start(timeout=30)
    return client


def _server_of(client: KazooClient) -> str:
    """The port of the server the client is connected to, for post-mortems
    (kazoo keeps it private)."""
    try:
        return str(client._connection._socket.getpeername()[1])  # noqa: SLF001
    except (AttributeError, OSError, TypeError, IndexError):
        return ""


@contextlib.contextmanager
def kazoo_client(hosts: str, session_timeout: float = 8.0):
    """:func:`new_client`, stopped and closed on exit."""
    client = new_client(hosts, session_timeout)
    try:
        yield client
    finally:
        _close(client)


def _close(client: Optional[KazooClient]) -> None:
    if client is None:
        return
    try:
        client.stop()
    except Exception:  # noqa: BLE001 - best effort at teardown
        pass
    try:
        client.close()
    except Exception:  # noqa: BLE001
        pass


@dataclasses.dataclass
class WorkloadResult:
    """What a workload reports: its op counts and its checker's verdict."""

    name: str
    ok: int
    failed: int
    info: int
    valid: Optional[bool]
    verdict: str
    details: list[str] = dataclasses.field(default_factory=list)
    #: ok ops completed after the nemesis healed everything (liveness).
    ok_after_heal: int = 0

    def line(self) -> str:
        return (f"{self.name}: ops ok={self.ok} failed={self.failed} indeterminate={self.info} "
                f"(ok after heal: {self.ok_after_heal}); checker: {self.verdict}")


class Workload:
    """Client threads running :meth:`operation` in a loop until stopped."""

    name = "workload"

    def __init__(self, hosts: str, *, clients: int = 4, root: str = "/fault", session_timeout: float = 8.0,
                 op_timeout: float = 5.0, pause: float = 0.0):
        self.hosts = hosts
        self.clients = clients
        self.root = f"{root}/{self.name}"
        self.session_timeout = session_timeout
        self.op_timeout = op_timeout
        #: Seconds each client sleeps between ops (0: as fast as it can).
        self.pause = pause
        self.history: list[Op] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []
        self.heal_time: Optional[float] = None

    # -- to override -----------------------------------------------------------------------
    def setup(self, client: KazooClient) -> None:
        client.ensure_path(self.root)

    def operation(self, worker: int, client: KazooClient, n: int) -> None:
        raise NotImplementedError

    def check(self, readers: dict[str, KazooClient]) -> WorkloadResult:
        raise NotImplementedError

    # -- running ---------------------------------------------------------------------------
    def start(self, admin: KazooClient) -> None:
        self.setup(admin)
        for worker in range(self.clients):
            thread = threading.Thread(target=self._run, args=(worker,), name=f"{self.name}-{worker}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            self._errors.append(f"client threads still running after {timeout}s: {stuck}")

    def _run(self, worker: int) -> None:
        client: Optional[KazooClient] = None
        n = 0
        try:
            while not self._stop.is_set():
                if client is None:  # kazoo itself starts a new session after an expiry
                    try:
                        client = new_client(self.hosts, self.session_timeout)
                    except Exception as e:  # noqa: BLE001 - the servers may be down for a while
                        LOG.info("%s-%d: cannot connect yet: %r", self.name, worker, e)
                        self._stop.wait(0.2)
                        continue
                n += 1
                self.operation(worker, client, n)
                if self.pause:
                    self._stop.wait(self.pause)
        except Exception as e:  # noqa: BLE001 - reported by check(), never lost
            LOG.exception("%s-%d crashed", self.name, worker)
            self._errors.append(f"{self.name}-{worker} crashed: {e!r}")
        finally:
            _close(client)

    def _call(self, fn: Callable[[], object]):
        """Run ``fn`` (which returns a kazoo async result) with the op timeout."""
        return fn().get(timeout=self.op_timeout)

    def record(self, op: Op) -> None:
        with self._lock:
            self.history.append(op)

    def counts(self) -> Counter:
        return Counter(op.status for op in self.history)

    def _result(self, valid: Optional[bool], verdict: str, details: list[str]) -> WorkloadResult:
        counts = self.counts()
        after = 0
        if self.heal_time is not None:
            after = sum(1 for op in self.history if op.status == OK and op.invoke >= self.heal_time)
        if self._errors:
            valid = False
            details = self._errors + details
            verdict = f"{verdict}; client errors"
        return WorkloadResult(self.name, counts[OK], counts[FAIL], counts[INFO], valid, verdict, details, after)


class RegisterWorkload(Workload):
    """Registers (znodes) read after sync, written blind and by CAS."""

    name = "register"

    def __init__(self, hosts: str, *, keys: int = 1000, ops_per_key: int = 150, max_info_per_key: int = 3,
                 fenced_reads: bool = False, **kwargs):
        super().__init__(hosts, **kwargs)
        #: Precede each sync + getData with a write to the client's own fence
        #: node. ZooKeeper answers ``sync`` without asking a quorum, so a
        #: leader that was deposed (isolated, or paused) and has not noticed
        #: yet serves stale data after a sync -- Java 3.8 as zkpy. A fence
        #: write cannot commit there, and once it has committed anywhere, the
        #: session's next read sees every write acknowledged before the read
        #: began: fenced reads are linearizable in an ensemble too.
        self.fenced_reads = fenced_reads
        self.keys = keys
        self.ops_per_key = ops_per_key
        self.max_info_per_key = max_info_per_key
        self._key = 0
        self._key_ops = Counter()
        self._key_info = Counter()
        self._last_version: dict[tuple[int, int], int] = {}
        self.exhausted = False

    def path(self, key: int) -> str:
        return f"{self.root}/r{key:05d}"

    def fence(self, worker: int) -> str:
        return f"{self.root}-fence/c{worker:02d}"

    def setup(self, client: KazooClient) -> None:
        super().setup(client)
        for worker in range(self.clients):
            client.ensure_path(self.fence(worker))
        tx = None
        for key in range(self.keys):
            if tx is None:
                tx = client.transaction()
            tx.create(self.path(key), b"")
            if key % 100 == 99 or key == self.keys - 1:
                results = tx.commit()
                bad = [r for r in results if isinstance(r, Exception)]
                assert not bad, f"cannot create the registers: {bad[:3]}"
                tx = None

    def _next_key(self) -> Optional[int]:
        with self._lock:
            if self._key >= self.keys:
                return None
            key = self._key
            self._key_ops[key] += 1
            if self._key_ops[key] >= self.ops_per_key:
                self._key += 1
            return key

    def _indeterminate(self, key: int) -> None:
        with self._lock:
            self._key_info[key] += 1
            if self._key_info[key] >= self.max_info_per_key and self._key == key:
                self._key += 1

    def operation(self, worker: int, client: KazooClient, n: int) -> None:
        key = self._next_key()
        if key is None:
            self.exhausted = True
            self._stop.wait(0.1)
            return
        path = self.path(key)
        known = self._last_version.get((worker, key))
        roll = (n * 7919 + worker * 104729) % 10
        if known is None or roll < 4:
            f, value = "read", None
        elif roll < 6:
            f, value = "write", b"w%d-%d" % (worker, n)
        else:
            f, value = "cas", (known, b"c%d-%d" % (worker, n))
        invoke = time.monotonic()
        output = None
        try:
            if f == "read":
                if self.fenced_reads:
                    self._call(lambda: client.set_async(self.fence(worker), b"%d" % n))
                self._call(lambda: client.sync_async(path))
                data, stat = self._call(lambda: client.get_async(path))
                output = (data, stat.version)
                self._last_version[(worker, key)] = stat.version
            elif f == "write":
                output = self._call(lambda: client.set_async(path, value, -1)).version
            else:
                try:
                    output = self._call(lambda: client.set_async(path, value[1], value[0])).version
                except ke.BadVersionError:
                    output = BADVERSION
                    self._last_version.pop((worker, key), None)
            status = OK
        except Exception as e:  # noqa: BLE001 - every outcome is recorded
            status = outcome_of(e)
            if status == INFO and f != "read":
                self._indeterminate(key)
            output = None
        complete = time.monotonic()
        self.record(Op(worker, f, key, value, output, status, invoke, complete if status != INFO else None,
                       _server_of(client)))

    def check(self, readers: dict[str, KazooClient]) -> WorkloadResult:
        result = check_register(self.history, (b"", 0))
        details = [] if result.valid else [result.detail]
        verdict = f"{result.verdict} ({result.ops} ops on {result.keys} keys, {result.steps} search steps)"
        if self.fenced_reads:
            verdict += "; reads fenced"
        if self.exhausted:
            details.append(f"all {self.keys} registers used up: the run outlasted the workload")
        # And every replica ends with the same registers.
        contents = {}
        for name, reader in readers.items():
            reader.sync(self.root)
            keys = sorted({op.key for op in self.history})
            contents[name] = [reader.get(self.path(k))[1].version for k in keys]
        if len({tuple(v) for v in contents.values()}) > 1:
            details.append(f"replicas disagree on the register versions: {contents}")
            return self._result(False, verdict + "; replicas disagree", details)
        return self._result(result.valid, verdict, details)


class SetWorkload(Workload):
    """Unique persistent creates: none acknowledged may be lost."""

    name = "set"

    def operation(self, worker: int, client: KazooClient, n: int) -> None:
        path = f"{self.root}/e{worker:02d}-{n:06d}"
        invoke = time.monotonic()
        try:
            self._call(lambda: client.create_async(path, b"%d" % n))
            status = OK
        except Exception as e:  # noqa: BLE001
            status = outcome_of(e)
        complete = time.monotonic()
        self.record(Op(worker, "add", path.rsplit("/", 1)[1], None, None, status, invoke,
                       complete if status != INFO else None))

    def check(self, readers: dict[str, KazooClient]) -> WorkloadResult:
        acked = {op.key for op in self.history if op.status == OK}
        unsure = {op.key for op in self.history if op.status == INFO}
        attempted = {op.key for op in self.history}
        details: list[str] = []
        valid = True
        present_unsure = set()
        for name, reader in readers.items():
            reader.sync(self.root)
            present = set(reader.get_children(self.root))
            lost = acked - present
            stray = present - attempted
            if lost:
                valid = False
                details.append(f"{name}: {len(lost)} acknowledged creates missing, e.g. {sorted(lost)[:5]}")
            if stray:
                valid = False
                details.append(f"{name}: {len(stray)} nodes nobody created, e.g. {sorted(stray)[:5]}")
            present_unsure |= present & unsure
        verdict = (f"{'every' if valid else 'NOT every'} acknowledged create present on all "
                   f"{len(readers)} live replica(s); {len(acked)} acknowledged, {len(unsure)} indeterminate "
                   f"({len(present_unsure)} of them present)")
        return self._result(valid, verdict, details)


class SequentialWorkload(Workload):
    """Sequential creates under a parent that gets nothing else."""

    name = "sequential"

    def operation(self, worker: int, client: KazooClient, n: int) -> None:
        data = b"%d-%d" % (worker, n)
        invoke = time.monotonic()
        output = None
        try:
            path = self._call(lambda: client.create_async(f"{self.root}/s-", data, sequence=True))
            output = int(path[-10:])
            status = OK
        except Exception as e:  # noqa: BLE001
            status = outcome_of(e)
        complete = time.monotonic()
        self.record(Op(worker, "create-seq", None, data, output, status, invoke,
                       complete if status != INFO else None))

    def check(self, readers: dict[str, KazooClient]) -> WorkloadResult:
        details: list[str] = []
        valid = True
        acked = [op for op in self.history if op.status == OK]
        by_worker: dict[int, list[int]] = {}
        for op in sorted(acked, key=lambda op: op.invoke):
            by_worker.setdefault(op.process, []).append(op.output)
        for worker, numbers in by_worker.items():
            bad = [(a, b) for a, b in zip(numbers, numbers[1:]) if b <= a]
            if bad:
                valid = False
                details.append(f"client {worker}: numbers do not increase: {bad[:5]}")
        numbers = Counter(op.output for op in acked)
        dup = [n for n, c in numbers.items() if c > 1]
        if dup:
            valid = False
            details.append(f"numbers given twice: {dup[:5]}")
        expected = {op.output: op.value for op in acked}
        attempted = {op.value for op in self.history}
        unsure = sum(1 for op in self.history if op.status == INFO)
        for name, reader in readers.items():
            reader.sync(self.root)
            listing = {int(child[-10:]): child for child in reader.get_children(self.root)}
            missing = sorted(set(expected) - set(listing))
            if missing:
                valid = False
                details.append(f"{name}: {len(missing)} acknowledged numbers missing, e.g. {missing[:5]}")
            wrong, stray = [], []
            items = sorted(listing.items())
            datas = []
            for i in range(0, len(items), 500):  # pipelined: tens of thousands of nodes
                batch = [reader.get_async(f"{self.root}/{child}") for _, child in items[i:i + 500]]
                datas += [result.get(timeout=30)[0] for result in batch]
            for (number, child), data in zip(items, datas):
                if number in expected and data != expected[number]:
                    wrong.append((number, data, expected[number]))
                elif data not in attempted:
                    stray.append((number, data))
            if wrong or stray:
                valid = False
                details.append(f"{name}: nodes with the wrong data {wrong[:3]}, unknown nodes {stray[:3]}")
        verdict = (f"{'per-client increasing, all acknowledged present' if valid else 'VIOLATED'} on "
                   f"{len(readers)} live replica(s); {len(acked)} acknowledged, {unsure} indeterminate")
        return self._result(valid, verdict, details)


_EPHEMERAL_CLIENT = """
import sys, time
from kazoo.client import KazooClient
hosts, parent, timeout, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
zk = KazooClient(hosts=hosts, timeout=timeout)
zk.start(timeout=30)
for i in range(count):
    zk.create(f"{parent}/eph-{i:03d}", b"", ephemeral=True)
print("ready 0x%x" % zk.client_id[0], flush=True)
time.sleep(3600)
"""


def killed_client_ephemerals(hosts: str, replicas: dict[str, str], *, parent: str = "/fault/ephemerals",
                             session_timeout: float = 3.0, count: int = 5, limit: float = 30.0) -> dict:
    """Start a client process that creates ``count`` ephemerals, SIGKILL it,
    and time how long each live replica keeps them. Returns the session id,
    and per replica the seconds from the kill until its listing was empty
    (None if still there after ``limit``)."""
    import subprocess
    import sys

    with kazoo_client(hosts) as zk:
        zk.ensure_path(parent)
        for child in zk.get_children(parent):
            zk.delete(f"{parent}/{child}")
    proc = subprocess.Popen([sys.executable, "-c", _EPHEMERAL_CLIENT, hosts, parent, str(session_timeout),
                             str(count)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    readers = {}
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), f"the ephemeral client did not start: {line!r}"
        session = line.split()[1]
        for name, replica in replicas.items():
            readers[name] = new_client(replica)
            readers[name].sync(parent)
            present = len(readers[name].get_children(parent))
            assert present == count, f"{name} has {present} of the {count} ephemerals before the kill"
        proc.kill()
        killed = time.monotonic()
        proc.wait()
        gone: dict[str, Optional[float]] = {name: None for name in readers}
        while time.monotonic() - killed < limit and None in gone.values():
            for name, reader in readers.items():
                if gone[name] is None and not reader.get_children(parent):
                    gone[name] = time.monotonic() - killed
            time.sleep(0.05)
        return {"session": session, "gone": gone}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers.values():
            _close(reader)
