"""The RequestProcessor contract and the queue-fed thread most processors use.

Java: ``RequestProcessor`` and ``ZooKeeperCriticalThread``: a processor thread
that dies unexpectedly takes the server down rather than silently dropping
requests.
"""

from __future__ import annotations

import logging
import queue
import threading

from ..request import REQUEST_OF_DEATH, Request

LOG = logging.getLogger(__name__)


class RequestProcessor:
    def process_request(self, request: Request) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """The end of a batch of requests passed on (Java: Flushable, which
        SyncRequestProcessor calls after each group commit)."""

    def shutdown(self) -> None:
        pass


class QueuedProcessor(RequestProcessor):
    """A processor with its own thread, fed through a ``queue.SimpleQueue``
    (C-implemented: a hand-off costs a fraction of ``queue.Queue``'s
    Python-level Condition, and processors need no bound or task_done)."""

    def __init__(self, name: str, zks):
        self.name = name
        self.zks = zks
        self.queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def process_request(self, request: Request) -> None:
        self.queue.put(request)

    def shutdown(self) -> None:
        self.queue.put(REQUEST_OF_DEATH)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10)

    def _run(self) -> None:
        try:
            self.run()
        except Exception:
            self.fail_critically()

    def fail_critically(self) -> None:
        """An unexpected exception in this processor's work, on its thread
        or on a caller's it runs on: logged, and the server cannot go on."""
        LOG.exception("Unexpected exception in %s; the server cannot go on", self.name)
        self.zks.on_critical_failure(self.name)

    def run(self) -> None:
        raise NotImplementedError
