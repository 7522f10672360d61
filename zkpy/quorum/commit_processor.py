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

zkpy runs this on one thread fed by one queue of both streams (Java uses a
pool of workers and two queues): it keeps the commit order and each
session's order without locks.
"""

from __future__ import annotations

import collections
import logging
import queue
from typing import Optional

from ..defs import OpCode
from ..server.cnxn_factory import reply_batch
from ..server.processors.base import QueuedProcessor
from ..server.request import REQUEST_OF_DEATH, Request

LOG = logging.getLogger(__name__)

#: Items handled per reply batch at most.
_BATCH = 256

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
    """The thread around :class:`CommitOrdering` (see the module docstring)."""

    def __init__(self, zks, next_processor, match_syncs: bool, name: Optional[str] = None):
        super().__init__(name or f"CommitProcessor:{zks.server_id}", zks)
        self.next = next_processor
        self.ordering = CommitOrdering(match_syncs)

    def commit(self, request: Request, remote: bool = False) -> None:
        """Queue a committed txn; ``remote`` when it came from the leader (a
        request this server never counted in)."""
        self.queue.put(_Commit([request], remote))

    def commit_all(self, requests: list) -> None:
        """Queue txns the leader committed together, in commit order."""
        self.queue.put(_Commit(requests, False))

    def run(self) -> None:
        get, get_nowait = self.queue.get, self.queue.get_nowait
        ordering = self.ordering
        nxt = self.next
        item = get()
        while item is not REQUEST_OF_DEATH:
            # What is queued now (up to a bound, so replies never wait long)
            # is one reply batch: one send per connection.
            with reply_batch():
                for _ in range(_BATCH):
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
                    try:
                        item = get_nowait()
                    except queue.Empty:
                        item = None
                        break
                    if item is REQUEST_OF_DEATH:
                        break
                nxt.flush()
            if item is None:
                item = get()
        LOG.info("CommitProcessor exited loop!")

    def shutdown(self) -> None:
        super().shutdown()
        self.next.shutdown()
