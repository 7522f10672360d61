"""SyncRequestProcessor: logs txns to disk with group commit, triggers snapshots.

Java: ``org.apache.zookeeper.server.SyncRequestProcessor``. Txns are appended
as they arrive; one fsync covers everything appended while the queue was
non-empty (or ``max_batch_size`` requests), and only then are the requests
passed on, so nothing is acknowledged before it is durable. Reads that
arrive while writes wait for the fsync wait behind them, keeping replies in
request order. Every ``snapCount/2 + random(snapCount/2)`` txns the log is
rolled and a snapshot is taken in a background thread.
"""

from __future__ import annotations

import logging
import queue
import random
import threading

from ..cnxn_factory import reply_batch
from ..request import REQUEST_OF_DEATH
from .base import QueuedProcessor

LOG = logging.getLogger(__name__)


class SyncRequestProcessor(QueuedProcessor):
    def __init__(self, zks, next_processor, snap_count: int = 100000, max_batch_size: int = 1000):
        super().__init__("SyncThread:%d" % zks.server_id, zks)
        self.next = next_processor
        self.snap_count = max(snap_count, 2)
        self.max_batch_size = max_batch_size
        self._rand_roll = random.randrange(self.snap_count // 2)
        self._log_count = 0
        self._snapshot_running = threading.Lock()
        self._snapshot_thread: threading.Thread | None = None

    def run(self) -> None:
        to_flush = []
        q = self.queue
        zk_db = self.zks.zk_db
        nxt = self.next
        while True:
            if to_flush:
                try:
                    request = q.get_nowait()
                except queue.Empty:
                    self._flush(to_flush)
                    continue
            else:
                request = q.get()
            if request is REQUEST_OF_DEATH:
                break
            if request.hdr is not None:
                zk_db.append(request)
                self._log_count += 1
                if self._log_count > self.snap_count // 2 + self._rand_roll:
                    self._start_snapshot()
                to_flush.append(request)
            elif to_flush:
                to_flush.append(request)
            else:
                # Nothing waits for an fsync: a read goes straight on.
                nxt.process_request(request)
                nxt.flush()
                continue
            if len(to_flush) >= self.max_batch_size:
                self._flush(to_flush)
        if to_flush:
            self._flush(to_flush)
        LOG.info("SyncRequestProcessor exited!")

    def _flush(self, to_flush: list) -> None:
        self.zks.zk_db.commit()
        nxt = self.next
        with reply_batch():  # the group's replies: one send per connection
            for request in to_flush:
                nxt.process_request(request)
        nxt.flush()
        to_flush.clear()

    def _start_snapshot(self) -> None:
        self._rand_roll = random.randrange(self.snap_count // 2)
        self._log_count = 0
        self.zks.zk_db.roll_log()
        if not self._snapshot_running.acquire(blocking=False):
            LOG.warning("Too busy to snap, skipping")
            return

        def take() -> None:
            try:
                self.zks.take_snapshot()
            except Exception:
                LOG.exception("Unexpected exception while taking a snapshot")
            finally:
                self._snapshot_running.release()

        self._snapshot_thread = threading.Thread(target=take, name="Snapshot Thread", daemon=True)
        self._snapshot_thread.start()

    def shutdown(self) -> None:
        super().shutdown()
        # A clean stop lets a running snapshot finish rather than leave its
        # temporary file behind (only kill -9 should do that).
        snapshot = self._snapshot_thread
        if snapshot is not None and snapshot is not threading.current_thread():
            snapshot.join(timeout=60)
            if snapshot.is_alive():
                LOG.warning("snapshot still running at shutdown; its temporary file may remain")
        self.next.shutdown()
