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
between threads costs a GIL switch; on a busy leader, skipping this one
raised the writes it takes by about a tenth. Order holds: while the thread
holds a request, every later one queues behind it, and one lock passes
requests on one at a time. What went on from a caller's thread is flushed
(a learner's forwards, sent together) when that thread's reply batch ends,
or at once outside one.
"""

from __future__ import annotations

import logging
import threading

from ..cnxn_factory import flush_at_batch_end
from ..request import REQUEST_OF_DEATH
from .base import QueuedProcessor

LOG = logging.getLogger(__name__)


class RequestThrottler(QueuedProcessor):
    def __init__(self, zks, next_processor):
        super().__init__("RequestThrottler", zks)
        self.next = next_processor
        self._passing = threading.Lock()  # one request passed on at a time, in order
        self._held = 0  # requests queued for the thread or being passed on by it

    def process_request(self, request) -> None:
        zks = self.zks
        with self._passing:
            limit = zks.global_outstanding_limit
            if not self._held and (limit <= 0 or zks.enter_if_in_process_below(limit)):
                self.next.process_request(request)
                direct = True
            else:
                self._held += 1
                direct = False
        if not direct:
            self.queue.put(request)
        elif not flush_at_batch_end(self):
            self.flush()

    def flush(self) -> None:
        with self._passing:
            self.next.flush()

    def run(self) -> None:
        zks = self.zks
        q = self.queue
        get = q.get
        nxt = self.next
        while True:
            request = get()
            if request is REQUEST_OF_DEATH:
                break
            limit = zks.global_outstanding_limit
            if limit > 0:
                zks.wait_for_in_process_below(limit)
            with self._passing:
                nxt.process_request(request)
                self._held -= 1
                if q.empty():
                    nxt.flush()  # e.g. a learner's forwards to its leader go out together
        self.flush()
        LOG.info("RequestThrottler shutdown")

    def shutdown(self) -> None:
        super().shutdown()
        self.next.shutdown()
