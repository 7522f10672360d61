"""The request processors of the quorum roles' chains.

Java: ``LeaderRequestProcessor``, ``ProposalRequestProcessor``,
``AckRequestProcessor``, ``ToBeAppliedRequestProcessor`` (leader);
``FollowerRequestProcessor``, ``SendAckRequestProcessor`` (follower);
``ObserverRequestProcessor`` (observer); ``ReadOnlyRequestProcessor``
(read-only server); ``LearnerSyncRequest``; and the quorum half of
``PrepRequestProcessor`` (local sessions make no txn).

The chains (each role's server builds its own, see
:mod:`.quorum_zookeeper_server`):

* leader: RequestThrottler -> LeaderRequest -> Prep -> Proposal
  (-> Sync -> AckRequest) -> Commit -> ToBeApplied -> Final
* follower: RequestThrottler -> FollowerRequest -> Commit -> Final, and
  Sync -> SendAckRequest for the leader's proposals
* observer: RequestThrottler -> ObserverRequest -> Commit -> Final (and
  Sync, without acks, for the txns the leader informs it of)
* read-only: RequestThrottler -> ReadOnlyRequest -> Prep -> Final

What zkpy does differently, on purpose: LeaderRequest, FollowerRequest and
ObserverRequest run on the thread of the processor before them (the
throttler) instead of their own, one thread hop less for every request.
A create of an ephemeral node by a local session when upgrading is off is
answered EPHEMERALONLOCALSESSION at once and goes no further (3.8.0 reports
the error but still creates the node). A client's ``deleteContainer`` (op
20, the leader's own ContainerManager's op) is answered BADARGUMENTS by a
learner, not forwarded.
"""

from __future__ import annotations

import logging

from ..defs import OpCode
from ..errors import Code, KeeperException
from ..jute.records import ReplyHeader
from ..server.processors.base import QueuedProcessor, RequestProcessor
from ..server.processors.prep import Prep
from ..server.request import REQUEST_OF_DEATH, Request

LOG = logging.getLogger(__name__)

#: The ops a learner sends to the leader (Java: FollowerRequestProcessor.run).
FORWARDED_WRITES = frozenset({
    OpCode.create, OpCode.create2, OpCode.createTTL, OpCode.createContainer, OpCode.delete,
    OpCode.deleteContainer, OpCode.setData, OpCode.reconfig, OpCode.setACL, OpCode.multi, OpCode.check,
})

#: The ops a read-only server refuses (Java: ReadOnlyRequestProcessor).
READ_ONLY_REFUSED = FORWARDED_WRITES | {OpCode.sync}


class LearnerSyncRequest(Request):
    """A ``sync`` a learner forwarded: answered by a SYNC packet to that
    learner once every earlier proposal committed (Java: LearnerSyncRequest)."""

    __slots__ = ("handler",)

    def __init__(self, handler, session_id: int, cxid: int, payload, auth_info):
        super().__init__(None, session_id, cxid, OpCode.sync, payload, auth_info=auth_info, owner=handler)
        self.handler = handler


def reply_error(zks, request: Request, code: Code) -> None:
    """Answer a request with an error header only and count it finished."""
    zks.request_finished(request)
    cnxn = request.cnxn
    if cnxn is not None:
        cnxn.send_response(ReplyHeader(request.cxid, zks.zk_db.last_processed_zxid, int(code)), None)


def _upgrade_or_refuse(zks, request: Request):
    """The local-session check before a request goes on: the createSession
    that upgrades its session (or None); raises EPHEMERALONLOCALSESSION."""
    return zks.check_upgrade_session(request)


class QuorumPrep(Prep):
    """Prep that makes no txn for a local session's createSession or
    closeSession (Java: pRequest's ``isLocalSession`` checks)."""

    def prep(self, request: Request) -> None:
        if request.is_local_session and request.type in (OpCode.createSession, OpCode.closeSession):
            request.hdr = None
            request.txn = None
            return
        super().prep(request)


# -- leader ------------------------------------------------------------------------------------

class LeaderRequestProcessor(RequestProcessor):
    """Upgrades a local session that creates an ephemeral node (Java: LeaderRequestProcessor)."""

    def __init__(self, zks, next_processor):
        self.zks = zks
        self.next = next_processor

    def process_request(self, request: Request) -> None:
        try:
            upgrade = _upgrade_or_refuse(self.zks, request)
        except KeeperException as e:
            reply_error(self.zks, request, e.code)
            return
        if upgrade is not None:
            self.next.process_request(upgrade)
        self.next.process_request(request)

    def shutdown(self) -> None:
        self.next.shutdown()


class ProposalRequestProcessor(RequestProcessor):
    """Sends each txn to the followers and to our own log; everything goes
    on to the CommitProcessor first (Java: ProposalRequestProcessor)."""

    def __init__(self, zks, next_processor, sync_processor):
        self.zks = zks
        self.next = next_processor
        self.sync_processor = sync_processor

    def process_request(self, request: Request) -> None:
        leader = self.zks.leader
        if isinstance(request, LearnerSyncRequest):
            self.zks.request_finished(request)  # answered by a SYNC packet, not by Final
            leader.process_sync(request)
            return
        self.next.process_request(request)
        if request.hdr is not None:
            leader.propose(request)
            self.sync_processor.process_request(request)

    def flush(self) -> None:
        """The end of Prep's batch: its proposals go to the followers."""
        self.zks.leader.send_proposals()

    def shutdown(self) -> None:
        self.next.shutdown()
        self.sync_processor.shutdown()


class AckRequestProcessor(RequestProcessor):
    """The leader's own ack, once its log holds the txn (Java: AckRequestProcessor)."""

    def __init__(self, leader):
        self.leader = leader
        self._zxids: list[int] = []  # the group commit's txns, acked at its flush

    def process_request(self, request: Request) -> None:
        self._zxids.append(request.hdr.zxid)

    def flush(self) -> None:
        """The end of a group commit: ack its txns together (only the
        SyncThread calls this processor)."""
        zxids = self._zxids
        if zxids:
            self._zxids = []
            self.leader.process_acks(self.leader.peer.my_id, zxids)


class ToBeAppliedRequestProcessor(RequestProcessor):
    """After Final applied a committed txn, forget it in the leader's
    toBeApplied list (Java: Leader.ToBeAppliedRequestProcessor)."""

    def __init__(self, leader, next_processor):
        self.leader = leader
        self.next = next_processor
        self._applied: list[int] = []  # zxids Final applied in this CommitProcessor batch

    def process_request(self, request: Request) -> None:
        self.next.process_request(request)
        if request.hdr is not None:
            self._applied.append(request.hdr.zxid)

    def flush(self) -> None:
        """The end of the CommitProcessor's batch: forget what it applied
        under one lock (a learner syncing meanwhile skips what its DIFF
        already has, as Java's startForwarding does)."""
        applied = self._applied
        if applied:
            self._applied = []
            self.leader.applied(applied)

    def shutdown(self) -> None:
        self.next.shutdown()


# -- learners ----------------------------------------------------------------------------------

class LearnerRequestProcessor(RequestProcessor):
    """Every request goes to the CommitProcessor; writes, global session
    creates/closes and syncs also to the leader (Java: FollowerRequestProcessor
    and ObserverRequestProcessor, which differ only in their names)."""

    def __init__(self, zks, next_processor):
        self.zks = zks
        self.next = next_processor

    def process_request(self, request: Request) -> None:
        zks = self.zks
        if request.type == OpCode.deleteContainer and request.cnxn is not None:
            # Only the leader's ContainerManager sends these; on the leader a
            # forwarded one would look like its own.
            reply_error(zks, request, Code.BADARGUMENTS)
            return
        try:
            upgrade = _upgrade_or_refuse(zks, request)
        except KeeperException as e:
            reply_error(zks, request, e.code)
            return
        # Forwards wait in the learner's buffer for flush(), which the
        # throttler calls when its queue runs dry: one send for a burst.
        try:
            if upgrade is not None:
                self.next.process_request(upgrade)
                zks.learner.request(upgrade, flush=False)
            self.next.process_request(request)
            t = request.type
            if t == OpCode.sync:
                zks.pending_syncs.append(request)
                zks.learner.request(request, flush=False)
            elif t in FORWARDED_WRITES:
                zks.learner.request(request, flush=False)
            elif t in (OpCode.createSession, OpCode.closeSession) and not request.is_local_session:
                zks.learner.request(request, flush=False)
        except OSError as e:
            # The leader is gone: the role ends and the session's client reconnects.
            LOG.warning("Could not forward %r to the leader: %s", request, e)

    def flush(self) -> None:
        try:
            self.zks.learner.write_packet(None, flush=True)
        except OSError as e:
            LOG.warning("Could not forward requests to the leader: %s", e)

    def shutdown(self) -> None:
        self.next.shutdown()


class FollowerRequestProcessor(LearnerRequestProcessor):
    """Java: FollowerRequestProcessor."""


class ObserverRequestProcessor(LearnerRequestProcessor):
    """Java: ObserverRequestProcessor."""


class SendAckRequestProcessor(RequestProcessor):
    """ACK each proposal once logged (Java: SendAckRequestProcessor)."""

    def __init__(self, learner):
        self.learner = learner

    def process_request(self, request: Request) -> None:
        if request.type == OpCode.sync or request.hdr is None:
            return
        try:
            self.learner.ack(request.hdr.zxid, flush=False)
        except OSError as e:
            LOG.warning("Closing connection to leader, exception during packet send: %s", e)
            self.learner.close_socket()

    def flush(self) -> None:
        """The end of a group commit: its ACKs go out together."""
        try:
            self.learner.write_packet(None, flush=True)
        except OSError as e:
            LOG.warning("Closing connection to leader, exception during packet send: %s", e)
            self.learner.close_socket()


class DiscardProcessor(RequestProcessor):
    """The end of an observer's SyncRequestProcessor: logged is all it needs."""

    def process_request(self, request: Request) -> None:
        pass


# -- read-only ---------------------------------------------------------------------------------

class ReadOnlyRequestProcessor(QueuedProcessor):
    """Answers every state change NOTREADONLY with the last processed zxid,
    passes reads on (Java: ReadOnlyRequestProcessor)."""

    def __init__(self, zks, next_processor):
        super().__init__(f"ReadOnlyRequestProcessor:{zks.server_id}", zks)
        self.next = next_processor

    def run(self) -> None:
        get = self.queue.get
        zks = self.zks
        nxt = self.next
        while True:
            request = get()
            if request is REQUEST_OF_DEATH:
                break
            t = request.type
            if t in READ_ONLY_REFUSED or (
                    t in (OpCode.createSession, OpCode.closeSession) and not request.is_local_session):
                reply_error(zks, request, Code.NOTREADONLY)
                continue
            nxt.process_request(request)
        LOG.info("ReadOnlyRequestProcessor exited loop!")

    def shutdown(self) -> None:
        super().shutdown()
        self.next.shutdown()
