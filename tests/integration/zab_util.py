"""Helpers for the Zab tests: clients bound to one peer, whole-tree dumps
compared znode by znode, and waiting."""

from __future__ import annotations

import contextlib
import socket
import time

from kazoo.client import KazooClient


def wait_until(predicate, timeout=20.0, what="condition", cluster=None, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = ""
            if cluster is not None:
                detail = f" modes={cluster.modes()}\n" + "\n".join(
                    f"--- peer {sid}:\n{cluster.log_tail(sid, 15)}" for sid in cluster.sids)
            raise AssertionError(f"timed out waiting for {what}{detail}")
        time.sleep(interval)


@contextlib.contextmanager
def kazoo(hosts, timeout=10.0, **kwargs):
    """A started KazooClient on ``hosts`` (a connect string or something with
    ``connect_string``), stopped and closed afterwards."""
    if not isinstance(hosts, str):
        hosts = hosts.connect_string
    client = KazooClient(hosts=hosts, timeout=timeout, **kwargs)
    client.start(timeout=20)
    try:
        yield client
    finally:
        try:
            client.stop()
        finally:
            client.close()


def dump_tree(client, root="/") -> dict[str, tuple]:
    """Every znode under ``root`` but /zookeeper: path -> (data, stat)."""
    out = {}
    stack = [root]
    while stack:
        path = stack.pop()
        data, stat = client.get(path)
        out[path] = (data, tuple(stat))
        for child in client.get_children(path):
            child_path = (path.rstrip("/") + "/" + child)
            if child_path != "/zookeeper":
                stack.append(child_path)
    return out


def dump_peer(server) -> dict[str, tuple]:
    """The tree as ``server`` alone serves it, after a ``sync``."""
    with kazoo(server) as client:
        client.sync("/")
        return dump_tree(client)


def assert_same_data(cluster, sids=None, expect_paths=()):
    """Every peer serves the very same znodes (data and every Stat field)."""
    sids = list(sids or [sid for sid in cluster.sids if cluster.peer(sid).is_running])
    dumps = {sid: dump_peer(cluster.peer(sid)) for sid in sids}
    first = dumps[sids[0]]
    for path in expect_paths:
        assert path in first, f"{path} missing on peer {sids[0]}"
    for sid in sids[1:]:
        if dumps[sid] != first:
            only_a = sorted(set(first) - set(dumps[sid]))
            only_b = sorted(set(dumps[sid]) - set(first))
            differ = sorted(p for p in set(first) & set(dumps[sid]) if first[p] != dumps[sid][p])
            raise AssertionError(f"peer {sid} differs from peer {sids[0]}: only on {sids[0]}: {only_a[:5]}, "
                                 f"only on {sid}: {only_b[:5]}, different: "
                                 f"{[(p, first[p], dumps[sid][p]) for p in differ[:3]]}")
    return first


def freeze(pid: int) -> None:
    """SIGSTOP a process and wait until every thread of it has stopped."""
    import os
    import signal

    os.kill(pid, signal.SIGSTOP)

    def stopped() -> bool:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        return False
        except FileNotFoundError:
            pass
        return True

    wait_until(stopped, 5, f"process {pid} to stop", interval=0.01)


def log_text(server) -> str:
    with open(server.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class WriteLoad:
    """Writers that create sequential znodes under ``root`` as fast as they
    can, each through its own client on ``hosts``, and remember every
    create the server acknowledged (and when)."""

    def __init__(self, hosts: str, root: str = "/load", writers: int = 3, session_timeout: float = 10.0):
        import threading

        self.hosts = hosts
        self.root = root
        self.acked: list[tuple[float, float, str]] = []  # (sent, acknowledged, path)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i, session_timeout), daemon=True)
                         for i in range(writers)]
        self.errors = 0

    def __enter__(self) -> "WriteLoad":
        with kazoo(self.hosts) as client:
            client.ensure_path(self.root)
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self, n: int, session_timeout: float) -> None:
        from kazoo.retry import KazooRetry

        client = KazooClient(hosts=self.hosts, timeout=session_timeout,
                             connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.2))
        client.start(timeout=30)
        try:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    path = client.create(f"{self.root}/w{n}-", b"%d" % n, sequence=True)
                except Exception:  # noqa: BLE001 - connection loss while the leader changes
                    self.errors += 1
                    time.sleep(0.02)
                    continue
                with self._lock:
                    self.acked.append((sent, time.monotonic(), path))
        finally:
            client.stop()
            client.close()

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def first_write_after(self, t: float):
        """When the first write sent after ``t`` was acknowledged (None: none yet)."""
        with self._lock:
            later = [acked for sent, acked, _ in self.acked if sent > t]
        return min(later) if later else None

    def paths(self) -> set[str]:
        with self._lock:
            return {p for _, _, p in self.acked}


def peer_ports(cluster, sid):
    """(quorum port, election port) of peer ``sid``, from its zoo.cfg."""
    _host, quorum, election = cluster.peer(sid).build_config()[f"server.{sid}"].split(":")[:3]
    return int(quorum), int(election)


def closed_by_peer(sock, timeout=5.0) -> bool:
    """True when the other end closes (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
