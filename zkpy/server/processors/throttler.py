"""RequestThrottler: bounds the requests in flight before Prep.

Java: ``org.apache.zookeeper.server.RequestThrottler`` together with the
``globalOutstandingLimit`` back-pressure of ``ZooKeeperServer.shouldThrottle``.
Requests are passed to Prep in arrival order; while more than the limit are
in process, the throttler waits for the pipeline to drain, and the
connection factory stops reading from clients (TCP back-pressure), so memory
stays bounded under overload. Requests of closed sessions are dropped here,
as Java's throttler drops stale requests.

What zkpy does differently, on purpose: Java hands every request to the
throttler's thread. zkpy passes a request on from the caller's thread
(usually the selector's) when the throttler holds nothing and the pipeline
has room, and queues it for the thread only when it has to wait. A hand-off
between threads costs a wake-up and a turn of the GIL, which on a busy
leader is a millisecond or more of every request's latency
(bench/NOTES.md). Order holds: while the thread holds a request, every
later one queues behind it (``_held`` counts them, and a request is counted
before it is queued and uncounted after it went on). Only where the next
processor has nothing to flush (the leader's, the standalone and the
read-only chains): a learner's next processor buffers the requests it
forwards and writes them to the leader on flush, a blocking write that
must not stall the selector, so on learners every request takes the
thread, as in Java.
"""

from __future__ import annotations

import logging
import threading

from ..request import REQUEST_OF_DEATH
from .base import QueuedProcessor, RequestProcessor

LOG = logging.getLogger(__name__)


class RequestThrottler(QueuedProcessor):
    def __init__(self, zks, next_processor):
        super().__init__("RequestThrottler", zks)
        self.next = next_processor
        # Requests queued for the thread and not yet passed on by it. Only
        # the slow path changes it (under the lock); the fast path reads it.
        self._held = 0
        self._held_lock = threading.Lock()
        self._direct = type(next_processor).flush is RequestProcessor.flush

    def process_request(self, request) -> None:
        zks = self.zks
        limit = zks.global_outstanding_limit
        if self._direct and not self._held and (limit <= 0 or zks.enter_if_in_process_below(limit)):
            # Nothing waits in the throttler, and the pipeline has room.
            try:
                self.next.process_request(request)
            except Exception:
                self.fail_critically()  # as on our thread: not the caller's to handle
            return
        with self._held_lock:
            self._held += 1
        self.queue.put(request)

    def run(self) -> None:
        zks = self.zks
        q = self.queue
        get = q.get
        nxt = self.next
        held_lock = self._held_lock
        while True:
            request = get()
            if request is REQUEST_OF_DEATH:
                break
            limit = zks.global_outstanding_limit
            if limit > 0:
                zks.wait_for_in_process_below(limit)
            nxt.process_request(request)
            with held_lock:
                self._held -= 1
            if q.empty():
                nxt.flush()  # e.g. a learner's forwards to its leader go out together
        nxt.flush()
        LOG.info("RequestThrottler shutdown")

    def shutdown(self) -> None:
        super().shutdown()
        self.next.shutdown()
