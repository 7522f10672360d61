"""ContainerManager: deletes empty container nodes and expired TTL nodes.

Java: ``org.apache.zookeeper.server.ContainerManager``. A timer thread wakes
every ``znode.container.checkIntervalMs`` (default 60000 ms), picks the
candidates and submits one deleteContainer request (op 20, the bare path as
payload, no session) per candidate into the normal request pipeline, at
most ``znode.container.maxPerMinute`` (default 10000) per minute. Whether a
delete really happens is decided by Prep against the latest state: a
container that got a child in the meantime fails with NOTEMPTY, harmlessly.

Candidates (``container_candidates``, a pure function of the tree and the
wall clock):

* a container with no children that has had one (persisted cversion > 0),
  so that a fresh container is not deleted before it is used; with
  ``znode.container.maxNeverUsedIntervalMs`` > 0, also a never-used one
  whose mtime is older than that;
* a TTL node with no children whose mtime is more than its ttl ago.

Java runs it on the leader only (standalone: on the one server); the class
takes the database and a submit function, so any role's server can run it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..defs import OpCode
from .data_tree import DataTree, ephemeral_kind, ttl_of
from .request import Request

LOG = logging.getLogger(__name__)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def container_candidates(tree: DataTree, now_ms: int, max_never_used_interval_ms: int = 0) -> list[str]:
    """The containers and TTL nodes due for deletion at ``now_ms`` (Java: getCandidates)."""
    candidates: list[str] = []
    for path in tree.container_paths():
        node = tree.get_node(path)
        if node is None or node.children:
            continue
        if node.cversion > 0:
            candidates.append(path)
        elif max_never_used_interval_ms and now_ms - node.mtime > max_never_used_interval_ms:
            candidates.append(path)
    for path in tree.ttl_paths():
        node = tree.get_node(path)
        if node is None or node.children or ephemeral_kind(node.ephemeral_owner) != "ttl":
            continue
        ttl = ttl_of(node.ephemeral_owner)
        if ttl and now_ms - node.mtime > ttl:
            candidates.append(path)
    return candidates


class ContainerManager:
    """The timer thread around ``container_candidates``."""

    def __init__(self, zk_db, submit: Callable[[Request], None], check_interval_ms: int = 60000,
                 max_per_minute: int = 10000, max_never_used_interval_ms: int = 0):
        self.zk_db = zk_db
        self.submit = submit
        self.check_interval_ms = check_interval_ms
        self.max_per_minute = max_per_minute
        self.max_never_used_interval_ms = max_never_used_interval_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        LOG.info("Using checkIntervalMs=%d maxPerMinute=%d maxNeverUsedIntervalMs=%d",
                 check_interval_ms, max_per_minute, max_never_used_interval_ms)

    def start(self) -> None:
        """Start the timer; the first check runs one interval from now."""
        if self._thread is not None:
            return
        if self.check_interval_ms <= 0:
            LOG.error("znode.container.checkIntervalMs=%d: containers and TTL nodes will not be cleaned up",
                      self.check_interval_ms)
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ContainerManagerTask", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def _run(self) -> None:
        interval = self.check_interval_ms / 1000
        next_run = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_run - time.monotonic())):
            try:
                self.check_containers()
            except Exception:  # noqa: BLE001 - the timer must survive, as Java's does
                LOG.exception("Error checking containers")
            # Fixed rate, but a slow pass does not cause a burst of catch-up runs.
            next_run = max(next_run + interval, time.monotonic())

    def min_interval_ms(self) -> float:
        return 60000 / self.max_per_minute

    def candidates(self) -> list[str]:
        return container_candidates(self.zk_db.data_tree, wall_ms(), self.max_never_used_interval_ms)

    def check_containers(self) -> None:
        """One pass: submit a deleteContainer for each candidate, paced."""
        if self.max_per_minute <= 0:
            LOG.error("znode.container.maxPerMinute=%d: no container is deleted", self.max_per_minute)
            return
        min_interval = self.min_interval_ms() / 1000
        for path in self.candidates():
            if self._stop.is_set():
                return
            start = time.monotonic()
            LOG.info("Attempting to delete candidate container: %s", path)
            try:
                self.submit(Request(None, 0, 0, OpCode.deleteContainer, path.encode("utf-8")))
            except Exception:  # noqa: BLE001 - one failed submit must not stop the pass
                LOG.exception("Could not delete container: %s", path)
            wait = min_interval - (time.monotonic() - start)
            if wait > 0 and self._stop.wait(wait):
                return
