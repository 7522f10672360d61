"""RequestThrottler: bounds the requests in flight before Prep.

Java: ``org.apache.zookeeper.server.RequestThrottler`` together with the
``globalOutstandingLimit`` back-pressure of ``ZooKeeperServer.shouldThrottle``.
Requests are passed to Prep in arrival order; while more than the limit are
in process, the throttler waits for the pipeline to drain, and the
connection factory stops reading from clients (TCP back-pressure), so memory
stays bounded under overload. Requests of closed sessions are dropped here,
as Java's throttler drops stale requests.
"""

from __future__ import annotations

import logging

from ..request import REQUEST_OF_DEATH
from .base import QueuedProcessor

LOG = logging.getLogger(__name__)


class RequestThrottler(QueuedProcessor):
    def __init__(self, zks, next_processor):
        super().__init__("RequestThrottler", zks)
        self.next = next_processor

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
            nxt.process_request(request)
            if q.empty():
                nxt.flush()  # e.g. a learner's forwards to its leader go out together
        nxt.flush()
        LOG.info("RequestThrottler shutdown")

    def shutdown(self) -> None:
        super().shutdown()
        self.next.shutdown()
