"""CommitProcessor: holds writes until they commit, reads behind their session's writes.

Java: ``org.apache.zookeeper.server.quorum.CommitProcessor``. Every role
with a quorum (leader, follower, observer) has one between the part of the
chain that sees client requests and FinalRequestProcessor. Two streams come
in: the requests of this server's clients (``process_request``), and the
committed txns (``commit``): on the leader the very request objects it
proposed, on a learner the txns of the leader's COMMIT/INFORM packets.

The ordering rule (:class:`CommitOrdering`, pure):

* a request that needs a commit (a write, a global session's create or
  close, and on learners a ``sync``) waits until its commit arrives;
* any other request of a session that has a request waiting queues behind
  it, so a read never overtakes an earlier write of the same session and
  replies leave in request order per connection;
* other reads go on at once;
* a committed txn goes on at once, in commit order; when it is the head
  of the waiting queue of its session (same session id and cxid) the
  waiting request takes the txn and goes on in its place (it has the
  connection to answer), followed by the reads that queued behind it.

zkpy keeps both streams in one queue, in arrival order (Java uses two
queues and a pool of workers), and whoever holds the processor's lock
takes the queue's items off in that order: the commit order and each
session's order need no more than that. The holder is the processor's own
thread, woken for each item, except on the leader (``inline_commits``):
there the thread that counted a quorum's acks runs the commits itself
when the lock is free, and wakes the processor's thread only when it is
not. A write waiting for its commit wakes nobody, since the commit's runner
takes it off first. Handing each commit to the thread cost a wake-up and a
turn of the GIL between a quorum's ack and the client's reply
(bench/NOTES.md).
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Optional

from ..defs import OpCode
from ..server.cnxn_factory import reply_batch
from ..server.processors.base import QueuedProcessor
from ..server.request import REQUEST_OF_DEATH, Request

LOG = logging.getLogger(__name__)

#: Items handled per reply batch at most.
_BATCH = 256

#: Items that arrive while a committing thread runs commits inline, run
#: there too at most (a few milliseconds of work); the rest are the
#: processor thread's. None at all cost ~7 % of the leader's writes.
_INLINE_EXTRA = 1000

_WRITES = frozenset({
    OpCode.create, OpCode.create2, OpCode.createTTL, OpCode.createContainer, OpCode.delete,
    OpCode.deleteContainer, OpCode.setData, OpCode.reconfig, OpCode.multi, OpCode.setACL, OpCode.check,
})


def needs_commit(request: Request, match_syncs: bool) -> bool:
    """Java: CommitProcessor.needCommit."""
    t = request.type
    if t in _WRITES:
        return True
    if t == OpCode.sync:
        return match_syncs
    if t in (OpCode.createSession, OpCode.closeSession):
        return not request.is_local_session
    return False


class CommitOrdering:
    """The decisions of the CommitProcessor, without its thread."""

    def __init__(self, match_syncs: bool):
        self.match_syncs = match_syncs
        self.pending: dict[int, collections.deque[Request]] = {}

    def waiting(self) -> int:
        return sum(len(q) for q in self.pending.values())

    def submit(self, request: Request) -> list[Request]:
        """A local request arrives; what may go on now."""
        queue = self.pending.get(request.session_id)
        if queue is not None:
            queue.append(request)
            return []
        if needs_commit(request, self.match_syncs):
            self.pending[request.session_id] = collections.deque((request,))
            return []
        return [request]

    def commit(self, committed: Request) -> list[Request]:
        """A committed txn (or a matched sync) arrives; what goes on now, in order."""
        sid = committed.session_id
        queue = self.pending.get(sid)
        if queue is None:
            return [committed]
        head = queue[0]
        if head is not committed and (head.cxid != committed.cxid or not needs_commit(head, self.match_syncs)):
            # Not ours (say, a closeSession the leader issued for an expired
            # session): it goes on by itself; our queue keeps waiting.
            return [committed]
        queue.popleft()
        if head is not committed:
            head.hdr = committed.hdr
            head.txn = committed.txn
            head.zxid = committed.zxid
            head.txn_bytes = committed.txn_bytes
        ready = [head]
        while queue and not needs_commit(queue[0], self.match_syncs):
            ready.append(queue.popleft())
        if not queue:
            del self.pending[sid]
        return ready


class _Commit:
    """Committed txns, in commit order, as one queue item."""

    __slots__ = ("requests", "remote")

    def __init__(self, requests: list, remote: bool):
        self.requests = requests
        self.remote = remote


class CommitProcessor(QueuedProcessor):
    """:class:`CommitOrdering` with its thread and queue (see the module docstring)."""

    def __init__(self, zks, next_processor, match_syncs: bool, name: Optional[str] = None,
                 inline_commits: bool = False):
        super().__init__(name or f"CommitProcessor:{zks.server_id}", zks)
        self.next = next_processor
        self.ordering = CommitOrdering(match_syncs)
        self.inline_commits = inline_commits
        # Both streams, in arrival order. Only the holder of _lock takes
        # items off and runs them (see the module docstring); the queue
        # inherited from QueuedProcessor only wakes the thread.
        self._items: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._stopped = False

    def process_request(self, request: Request) -> None:
        self._items.append(request)
        if not self.inline_commits or not needs_commit(request, self.ordering.match_syncs):
            self.queue.put(None)
        # else: it waits for its commit in any case, and whoever runs that
        # commit takes this request off first.

    def commit(self, request: Request, remote: bool = False) -> None:
        """Queue a committed txn; ``remote`` when it came from the leader (a
        request this server never counted in)."""
        self.commit_all([request], remote)

    def commit_all(self, requests: list, remote: bool = False) -> None:
        """Queue txns committed together, in commit order (the caller holds
        the lock that orders commits). With ``inline_commits``, the caller
        then calls :meth:`run_commits` once it holds no lock."""
        self._items.append(_Commit(requests, remote))
        if not self.inline_commits:
            self.queue.put(None)

    def run_commits(self) -> None:
        """Run what is queued on this thread when the CommitProcessor thread
        is idle, else leave it to that thread. A commit handed to the thread
        costs a wake-up and a turn of the GIL; on a busy leader that is
        milliseconds between a quorum's ack and the client's reply."""
        if self._lock.acquire(blocking=False):
            try:
                # What is queued now and a bounded part of what keeps coming:
                # the caller (a LearnerHandler, Sync) has its own work to go
                # back to, such as reading its follower's ACKs.
                self._drain(len(self._items) + _INLINE_EXTRA)
            except Exception:
                self.fail_critically()  # as on our thread: not the caller's to handle
                return
            finally:
                self._lock.release()
            if not self._items:
                return
        self.queue.put(None)

    def run(self) -> None:
        wake = self.queue.get
        lock = self._lock
        while True:
            wake()
            with lock:
                self._drain()
                if self._stopped:
                    break
        LOG.info("CommitProcessor exited loop!")

    def _drain(self, budget: Optional[int] = None) -> None:
        """Run queued items, in order (call with ``_lock``): all of them, or
        ``budget`` at most; never past the request of death."""
        if self._stopped:
            return
        items = self._items
        if budget is None:
            budget = -1  # no bound
        popleft = items.popleft
        ordering = self.ordering
        nxt = self.next
        while items and budget:
            # Up to a bound of items is one reply batch: one send per
            # connection, and replies never wait long.
            with reply_batch():
                for _ in range(_BATCH):
                    if not budget:
                        break
                    budget -= 1
                    try:
                        item = popleft()
                    except IndexError:
                        break
                    if item is REQUEST_OF_DEATH:
                        self._stopped = True
                        nxt.flush()
                        return
                    if isinstance(item, _Commit):
                        for committed in item.requests:
                            ready = ordering.commit(committed)
                            if item.remote and ready and ready[0] is committed:
                                self.zks.count_request_in()  # Final counts every request out
                            for request in ready:
                                nxt.process_request(request)
                    else:
                        for request in ordering.submit(item):
                            nxt.process_request(request)
                nxt.flush()

    def shutdown(self) -> None:
        self._items.append(REQUEST_OF_DEATH)
        self.queue.put(None)
        thread = self._thread
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(10)
        self.next.shutdown()
