"""The LEADING role: discovery, synchronization and broadcast (Zab 1.0).

Java: ``Leader`` (``lead``, ``getEpochToPropose``, ``waitForEpochAck``,
``waitForNewLeaderAck``, ``propose``, ``processAck``, ``tryToCommit``,
``commit``, ``inform``, ``processSync``, ``startForwarding``,
``revalidateSession``, ``touch``, ``shutdown``), ``Leader.LearnerCnxAcceptor``,
``LearnerHandler`` with its sender thread, ``ProposalStats`` and
``StateSummary`` (ZK_SPEC.md §4.3-4.4).

``lead()`` runs on the QuorumPeer thread:

1. discovery - accept learners on the quorum port; each
   :class:`LearnerHandler` reads FOLLOWERINFO/OBSERVERINFO; once a quorum
   of voters (us included) has connected, the new epoch is
   max(acceptedEpoch) + 1, persisted as our acceptedEpoch, and sent in
   LEADERINFO; a quorum of ACKEPOCHs (a learner ahead of us is refused)
   ends discovery and we persist currentEpoch;
2. synchronization - each handler picks DIFF, TRUNC or SNAP for its
   learner (:func:`.sync_plan.plan_sync`, under the leader's lock and the
   database's log lock, so that no proposal or commit slips between the
   plan and the start of forwarding), queues NEWLEADER and waits for its
   ack; a quorum of NEWLEADER acks (ours included) starts our server, and
   each handler then sends UPTODATE;
3. broadcast - a txn is proposed to the followers and logged here; when
   the acks of a quorum (ours after our fsync) are in, it commits in zxid
   order: COMMIT to followers, INFORM to observers, and on to our
   CommitProcessor. Every tickTime/2 a PING goes to each learner; one that
   leaves a proposal un-acked for syncLimit ticks is dropped; every tick
   the synced voters must still form a quorum, or we step down and the
   peer goes back to LOOKING.

Reconfig (``reconfigEnabled=true``; Java: the reconfig parts of ``lead``,
``startZkServer``, ``propose``, ``tryToCommit``, ``getDesignatedLeader``,
``commitAndActivate``, ``informAndActivate``, ``isQuorumSynced``): a
leader whose config still has version 0 gives it the new epoch's first
zxid as version and sends it in NEWLEADER; a reconfig proposal (a
SetDataTxn on /zookeeper/config under op 16) makes its config the last
seen one, so that it and every later proposal wait for a quorum of both
the old and the new config; on commit the new config is activated here
and sent as COMMITANDACTIVATE (followers) / INFORMANDACTIVATE (observers)
with the designated leader: us if we stay a voter, else the new voter
that acked the most outstanding proposals; a leader that is not the
designated one commits nothing more and steps down when its followers
leave for the new leader.

What zkpy does differently, on purpose: no learner sync throttling, no
observer masters; the SNAP is streamed
straight from the live tree (fuzzy, like Java's), the txns after its zxid
follow it as proposals and commits. Work is done per batch where Java
does it per packet (the wire is the same): the proposals of one Prep
batch and the COMMITs of one batch of acks are serialized once and queued
as one item per learner; a LearnerHandler counts every ACK its reader
holds under one lock, and our own acks come once per group commit.
"""

from __future__ import annotations

import collections
import logging
import queue
import socket
import struct
import threading
import time
from typing import Optional

import attrs

from ..defs import OpCode
from ..jute.archive import JuteError, OutputArchive
from ..jute.records import QuorumPacket
from ..server.request import Request
from ..server.txn_codec import serialize_txn
from .initial_message import format_address
from .proposal_tracker import AckSet, Proposal, ProposalTracker, SyncLimitCheck
from .quorum_auth import SaslException
from .quorum_cnx_manager import _close_socket, _read_exact
from .quorum_packet import (
    ACK, ACKEPOCH, COMMIT, COMMITANDACTIVATE, FOLLOWERINFO, INFORM, INFORMANDACTIVATE, LEADERINFO, NEWLEADER,
    OBSERVERINFO, PING, PROPOSAL,
    PROTOCOL_VERSION, REQUEST, REVALIDATE, SNAP, SYNC, UPTODATE, describe, epoch_of, make_zxid,
    packet_bytes, parse_learner_info, read_quorum_packet, take_buffered_acks,
)
from .quorum_peer import SyncMode, ZabState
from .quorum_processors import LearnerSyncRequest
from .quorum_zookeeper_server import LeaderZooKeeperServer
from .sync_plan import plan_sync

LOG = logging.getLogger(__name__)

_DEATH = object()  # Java: LearnerHandler's proposalOfDeath
#: Packets a LearnerHandler writes with one send at the most.
_SEND_BATCH = 512
_MASK64 = (1 << 64) - 1
#: The signature after a SNAP stream (Java: LearnerHandler, "BenWasHere").
SNAP_SIGNATURE = "BenWasHere"


class QuorumTimeout(Exception):
    """A quorum did not show up in time (Java throws InterruptedException)."""


class XidRolloverException(Exception):
    """The zxid counter is exhausted: a new epoch is needed (ZOOKEEPER-1277)."""


@attrs.frozen
class StateSummary:
    """A peer's (currentEpoch, last zxid) (Java: StateSummary)."""

    current_epoch: int
    last_zxid: int

    def is_more_recent_than(self, other: "StateSummary") -> bool:
        return (self.current_epoch, self.last_zxid) > (other.current_epoch, other.last_zxid)


class ProposalStats:
    """Sizes of the proposals sent (Java: ProposalStats / BufferStats; -1 until one)."""

    def __init__(self) -> None:
        self.last = self.min = self.max = -1

    def set_last_buffer_size(self, size: int) -> None:
        self.last = size
        self.min = size if self.min < 0 else min(self.min, size)
        self.max = max(self.max, size)

    def text(self) -> str:
        return f"{self.last}/{self.min}/{self.max}"




class _CommitBatch:
    """What one batch of acks commits: the COMMITs' bytes for the
    followers and the requests for the leader's CommitProcessor."""

    __slots__ = ("wires", "requests")

    def __init__(self) -> None:
        self.wires: list[bytes] = []
        self.requests: list[Request] = []


class Leader:
    """Java: Leader (see the module docstring)."""

    def __init__(self, peer):
        self.peer = peer
        self.zk = LeaderZooKeeperServer(peer, self)
        self._lock = threading.Condition()  # learners and the tick loop
        self._learners: list[LearnerHandler] = []
        self._recheck = False
        self._epoch_cond = threading.Condition()  # Java: synchronized (connectingFollowers)
        self.connecting_followers: set[int] = set()
        self.waiting_for_new_epoch = True
        self.epoch = -1
        self._ack_cond = threading.Condition()  # Java: synchronized (electingFollowers)
        self.electing_followers: set[int] = set()
        self.election_finished = False
        self.leader_state_summary = StateSummary(-1, -1)
        # -- synchronization: the NEWLEADER proposal's acks
        self._new_leader_cond = threading.Condition()
        self.new_leader_zxid = -1
        self.new_leader_acks: Optional[AckSet] = None
        self.quorum_formed = False
        self.started = threading.Event()
        # -- broadcast (Java: synchronized (this) and the forwarding lists)
        self.zab_lock = threading.RLock()
        self.proposals = ProposalTracker()
        self.to_be_applied: collections.deque[Proposal] = collections.deque()
        self._forwarding: list[LearnerHandler] = []
        self._observing: list[LearnerHandler] = []
        self.pending_syncs: dict[int, list[LearnerSyncRequest]] = {}
        self._unsent: list[tuple[int, bytes]] = []  # proposals (zxid, wire) not yet queued for the followers
        self.last_proposed = 0
        self.allowed_to_commit = True
        self.proposal_stats = ProposalStats()
        props = peer.config.properties
        self.force_snap_sync = props.get_bool("zookeeper.forceSnapshotSync", False)
        self.snapshot_size_factor = _float_property(props.get("zookeeper.snapshotSizeFactor", None), 0.33)
        self.leader_serves = props.get("zookeeper.leaderServes", "yes") != "no"
        self._follower_counter = -1
        self.is_shutdown = False
        self.cnx_acceptor: Optional[LearnerCnxAcceptor] = None
        self.server_sockets = self._bind()

    # -- sockets ---------------------------------------------------------------------------
    def _bind(self) -> list[socket.socket]:
        peer = self.peer
        addresses = list(peer.quorum_address().addrs)
        if peer.quorum_listen_on_all_ips:
            addresses = [("::" if ":" in host else "0.0.0.0", port) for host, port in addresses]
        sockets = []
        if peer.quorum_socket_factory.wraps_accepted:
            LOG.info(peer.quorum_socket_factory.describe_listener())
        for host, port in addresses:
            server = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            try:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((host, port))
                server.listen(128)
                sockets.append(server)
            except OSError as e:
                server.close()
                LOG.warning("Failed to bind to %s: %s", format_address(host, port), e)
        if not sockets:
            raise OSError("Leader failed to initialize any of the following sockets: "
                          + ", ".join(format_address(h, p) for h, p in addresses))
        return sockets

    # -- learners ----------------------------------------------------------------------------
    def add_learner_handler(self, handler: "LearnerHandler") -> None:
        with self._lock:
            self._learners.append(handler)

    def remove_learner_handler(self, handler: "LearnerHandler") -> None:
        with self.zab_lock:
            if handler in self._forwarding:
                self._forwarding.remove(handler)
            if handler in self._observing:
                self._observing.remove(handler)
        with self._lock:
            if handler in self._learners:
                self._learners.remove(handler)
            self._recheck = True  # is there still a quorum? (see _broadcast_loop)
            self._lock.notify_all()

    def learner_handlers(self) -> list["LearnerHandler"]:
        with self._lock:
            return list(self._learners)

    def forwarding_followers(self) -> list["LearnerHandler"]:
        with self.zab_lock:
            return list(self._forwarding)

    def observing_learners(self) -> list["LearnerHandler"]:
        with self.zab_lock:
            return list(self._observing)

    def next_follower_counter(self) -> int:
        """A local id for a learner that sent no sid (Java: getAndDecrementFollowerCounter)."""
        with self._lock:
            value = self._follower_counter
            self._follower_counter -= 1
            return value

    def is_participant(self, sid: int) -> bool:
        return sid in self.peer.quorum_verifier.voting_members

    def tick_of_next_ack_deadline(self) -> int:
        return self.peer.tick + self.peer.sync_limit

    def tick_of_initial_ack_deadline(self) -> int:
        return self.peer.tick + self.peer.init_limit + self.peer.sync_limit

    def _init_timeout(self) -> float:
        return self.peer.init_limit * self.peer.tick_time / 1000.0

    def sync_timeout_ms(self) -> int:
        return self.peer.sync_limit * self.peer.tick_time

    # -- discovery -----------------------------------------------------------------------------
    def get_epoch_to_propose(self, sid: int, last_accepted_epoch: int) -> int:
        """Collect acceptedEpochs until a quorum of voters (us included) has
        connected; the new epoch is one more than the largest."""
        peer = self.peer
        with self._epoch_cond:
            if not self.waiting_for_new_epoch:
                return self.epoch
            if last_accepted_epoch >= self.epoch:
                self.epoch = last_accepted_epoch + 1
            if self.is_participant(sid):
                self.connecting_followers.add(sid)
            if peer.my_id in self.connecting_followers and \
                    peer.quorum_verifier.contains_quorum(self.connecting_followers):
                self.waiting_for_new_epoch = False
                peer.set_accepted_epoch(self.epoch)
                self._epoch_cond.notify_all()
            else:
                self._epoch_cond.wait_for(lambda: not self.waiting_for_new_epoch or self.is_shutdown,
                                          self._init_timeout())
                if self.waiting_for_new_epoch:
                    raise QuorumTimeout("Timeout while waiting for epoch from quorum")
            return self.epoch

    def wait_for_epoch_ack(self, sid: int, ss: StateSummary) -> None:
        """Count ACKEPOCHs until a quorum of voters (us included) acked."""
        peer = self.peer
        with self._ack_cond:
            if self.election_finished:
                return
            if ss.current_epoch != -1:
                if ss.is_more_recent_than(self.leader_state_summary):
                    raise OSError(f"Follower is ahead of the leader, leader summary: "
                                  f"{self.leader_state_summary.current_epoch} (current epoch), "
                                  f"{self.leader_state_summary.last_zxid} (last zxid)")
                if ss.last_zxid != -1 and self.is_participant(sid):
                    self.electing_followers.add(sid)
            if peer.my_id in self.electing_followers and \
                    peer.quorum_verifier.contains_quorum(self.electing_followers):
                self.election_finished = True
                self._ack_cond.notify_all()
            else:
                self._ack_cond.wait_for(lambda: self.election_finished or self.is_shutdown, self._init_timeout())
                if not self.election_finished:
                    raise QuorumTimeout("Timeout while waiting for epoch to be acked by quorum")

    # -- synchronization -------------------------------------------------------------------------
    def wait_for_new_leader_ack(self, sid: int, zxid: int) -> None:
        """Count NEWLEADER acks until every verifier has a quorum (ours included)."""
        with self._new_leader_cond:
            if self.quorum_formed:
                return
            if zxid != self.new_leader_zxid:
                LOG.error("NEWLEADER ACK from sid: %d is from a different epoch - current 0x%x received 0x%x",
                          sid, self.new_leader_zxid & _MASK64, zxid & _MASK64)
                return
            if self.new_leader_acks.add_ack(sid):
                self.quorum_formed = True
                self._new_leader_cond.notify_all()
                return
            self._new_leader_cond.wait_for(lambda: self.quorum_formed or self.is_shutdown, self._init_timeout())
            if not self.quorum_formed:
                raise QuorumTimeout("Timeout while waiting for NEWLEADER to be acked by quorum")

    def wait_for_startup(self) -> None:
        """A LearnerHandler sends UPTODATE only once our server runs."""
        deadline = time.monotonic() + self._init_timeout()
        while not self.started.wait(0.05):
            if self.is_shutdown or time.monotonic() > deadline:
                raise QuorumTimeout("the leader did not start")

    def sync_learner(self, handler: "LearnerHandler", peer_last_zxid: int):
        """Pick the learner's sync mode and queue its packets, then forward
        it every later proposal (Java: syncFollower + startForwarding). A
        SNAP's stream is written by the caller, outside the locks."""
        zk_db = self.peer.zk_db
        with self.zab_lock:
            with zk_db.log_lock:
                last_processed = zk_db.last_processed_zxid
                committed = zk_db.committed_proposals()
                txn_log = None
                if peer_last_zxid < (committed[0][0] if committed else last_processed):
                    txn_log = zk_db.proposals_from_txn_log(
                        peer_last_zxid, zk_db.txn_log_size_limit(self.snapshot_size_factor))
                LOG.info("Synchronizing with Learner sid: %s maxCommittedLog=0x%x minCommittedLog=0x%x "
                         "lastProcessedZxid=0x%x peerLastZxid=0x%x", handler.sid,
                         committed[-1][0] if committed else last_processed,
                         committed[0][0] if committed else last_processed, last_processed, peer_last_zxid)
                plan = plan_sync(peer_last_zxid, last_processed, committed, txn_log, self.force_snap_sync)
                if txn_log is not None and hasattr(txn_log, "close"):
                    txn_log.close()
                for packet_type, zxid, data in plan.packets:
                    handler.queue_packet(QuorumPacket(packet_type, zxid, data, None))
            LOG.info("Sending %s to learner %s (last zxid 0x%x)", plan.mode.upper(), handler.sid,
                     plan.last_zxid & _MASK64)
            self.start_forwarding(handler, plan.last_zxid)
        return plan

    def start_forwarding(self, handler: "LearnerHandler", last_seen_zxid: int) -> int:
        """Queue the committed-but-unapplied and the outstanding proposals the
        learner lacks, then send it every new one (Java: startForwarding)."""
        with self.zab_lock:
            self.send_proposals()  # so that the unsent are neither missed nor sent twice
            if self.last_proposed > last_seen_zxid:
                for p in self.to_be_applied:
                    if p.zxid <= last_seen_zxid:
                        continue
                    handler.queue_packet(p.packet)
                    handler.queue_packet(QuorumPacket(COMMIT, p.zxid, None, None))
                if handler.is_participant:
                    for p in self.proposals.after(last_seen_zxid):
                        handler.queue_packet(p.packet)
            if handler.is_participant:
                self._forwarding.append(handler)
            else:
                self._observing.append(handler)
            return self.last_proposed

    def config_bytes(self) -> bytes:
        """NEWLEADER's config: the last seen one (Java: getQuorumVerifierBytes)."""
        return str(self.peer.get_last_seen_quorum_verifier()).encode("utf-8")

    # -- reconfig ------------------------------------------------------------------------------
    def is_quorum_synced(self, qv) -> bool:
        """Do the voters of ``qv`` that are synced with us (us included) form
        a quorum of ``qv``? (Java: isQuorumSynced)"""
        peer = self.peer
        ids = {peer.my_id} if peer.my_id in qv.voting_members else set()
        with self.zab_lock:
            ids |= {h.sid for h in self._forwarding if h.synced() and h.sid in qv.voting_members}
        return qv.contains_quorum(ids)

    def get_designated_leader(self, ack_set: AckSet, zxid: int, later=()) -> int:
        """Who leads once the new config (``ack_set``'s last verifier) is
        active: us if we remain a voter at the same quorum address, else the
        new voter that acked the reconfig and most of the proposals after
        it (Java: getDesignatedLeader)."""
        peer = self.peer
        new_qv = ack_set.verifiers[-1]
        me = new_qv.voting_members.get(peer.my_id)
        if me is not None and me.addr == peer.quorum_address().addr:
            return peer.my_id
        candidates = set(ack_set.acks[-1])
        candidates.discard(peer.my_id)
        if not candidates:
            return peer.my_id
        current = min(candidates)
        for proposal in list(later) + self.proposals.after(zxid):
            if proposal.zxid <= zxid:
                continue
            for acked in proposal.ack_set.acks:
                candidates &= acked
                if not candidates:
                    return current
                current = min(candidates)
                if len(candidates) == 1:
                    return current
        return current

    def _commit_and_activate(self, proposal: Proposal, later) -> None:
        """Commit a reconfig: activate the new config here and on every
        learner (Java: the reconfig branch of tryToCommit)."""
        peer = self.peer
        zxid = proposal.zxid
        designated = self.get_designated_leader(proposal.ack_set, zxid, later)
        new_qv = proposal.ack_set.verifiers[-1]
        peer.process_reconfig(new_qv, designated, self.zk.get_zxid(), True)
        if designated != peer.my_id:
            LOG.info("Committing a reconfiguration (reconfigEnabled=%s); this leader is not the designated "
                     "leader anymore, setting allowedToCommit=false", peer.reconfig_enabled)
            self.allowed_to_commit = False
        leader_bytes = struct.pack(">q", designated)
        packet = QuorumPacket(COMMITANDACTIVATE, zxid, leader_bytes, None)
        for handler in self._forwarding:
            handler.queue_packet(packet)
        if self._observing:
            inform = QuorumPacket(INFORMANDACTIVATE, zxid, leader_bytes + proposal.packet.data, None)
            for handler in self._observing:
                handler.queue_packet(inform)

    # -- broadcast -----------------------------------------------------------------------------
    def propose(self, request: Request) -> Proposal:
        """Propose a txn (Java: propose). The followers get it with the
        batch :meth:`send_proposals` sends."""
        zxid = request.hdr.zxid
        if zxid & 0xFFFFFFFF == 0xFFFFFFFF:
            msg = "zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start"
            self.shutdown(msg)
            raise XidRolloverException(msg)
        data = request.txn_bytes
        if data is None:
            data = request.txn_bytes = serialize_txn(request.hdr, request.txn)
        packet = QuorumPacket(PROPOSAL, zxid, data, None)
        wire = packet_bytes(packet)  # once, for every follower
        with self.zab_lock:
            if request.hdr.type == OpCode.reconfig:
                # From now on proposals wait for the old and the new config.
                peer = self.peer
                peer.set_last_seen_quorum_verifier(peer.config_from_string(request.txn.data.decode("utf-8")), True)
            self.proposal_stats.set_last_buffer_size(len(data))
            proposal = Proposal(zxid, packet, request, self.peer.verifiers())
            self.last_proposed = zxid
            self.proposals.propose(proposal)
            self._unsent.append((zxid, wire))
        return proposal

    def send_proposals(self) -> None:
        """Queue the proposals made since the last call for every follower,
        as one batch each (Prep calls this when its queue is empty, or
        every few dozen requests under a steady stream)."""
        with self.zab_lock:
            unsent = self._unsent
            if not unsent:
                return
            self._unsent = []
            zxids = tuple(zxid for zxid, _ in unsent)
            wire = b"".join(w for _, w in unsent)
            for handler in self._forwarding:
                handler.queue_wire(wire, zxids)

    def process_ack(self, sid: int, zxid: int) -> None:
        """An ack from a peer (us too, after our fsync) (Java: processAck)."""
        self.process_acks(sid, (zxid,))

    def process_acks(self, sid: int, zxids) -> None:
        """A peer's acks, in the order it sent them: the acks one read or
        one group commit brings are counted under one lock."""
        with self.zab_lock:
            if not self.allowed_to_commit:
                return
            ready = self.proposals.ack_all(sid, zxids)
            batch = _CommitBatch()
            for i, proposal in enumerate(ready):
                if not self.allowed_to_commit:
                    # A reconfig handed the leadership on: the rest is the new leader's.
                    break
                self._commit(proposal, ready[i + 1:], batch)
            self._send_commits(batch)
        if ready:
            # Applied and answered on this thread, outside the lock, unless
            # the CommitProcessor's thread is busy already.
            self.zk.commit_processor.run_commits()

    def _commit(self, proposal: Proposal, later, batch: _CommitBatch) -> None:
        """Commit one proposal into ``batch``, which the caller sends as a
        whole (call with the lock)."""
        zxid = proposal.zxid
        self.to_be_applied.append(proposal)
        request = proposal.request
        syncs = self.pending_syncs.pop(zxid, ())
        if request is not None and request.hdr is not None and request.hdr.type == OpCode.reconfig:
            self._send_commits(batch)  # the commits before it go first
            self._commit_and_activate(proposal, later)
            self.zk.commit_processor.commit(request)
        else:
            batch.wires.append(packet_bytes(QuorumPacket(COMMIT, zxid, None, None)))
            batch.requests.append(request)
            if self._observing:
                inform = QuorumPacket(INFORM, zxid, proposal.packet.data, None)
                for handler in self._observing:
                    handler.queue_packet(inform)
        if syncs:
            self._send_commits(batch)  # a learner's SYNC answer follows the COMMITs it waited for
            for r in syncs:
                self.send_sync(r)

    def _send_commits(self, batch: _CommitBatch) -> None:
        """COMMITs to every follower as one send each; the requests to our
        CommitProcessor as one item."""
        if self._unsent:
            # Our own ack can commit before Prep's batch ends, when we alone
            # are a quorum (a zero-weight follower): a PROPOSAL goes first.
            self.send_proposals()
        if batch.wires:
            wire = b"".join(batch.wires)
            for handler in self._forwarding:
                handler.queue_wire(wire)
            batch.wires = []
        if batch.requests:
            self.zk.commit_processor.commit_all(batch.requests)
            batch.requests = []

    def applied(self, zxids: list[int]) -> None:
        """Final applied these committed txns, in order (Java:
        ToBeAppliedRequestProcessor)."""
        with self.zab_lock:
            to_be_applied = self.to_be_applied
            for zxid in zxids:
                if to_be_applied and to_be_applied[0].zxid == zxid:
                    to_be_applied.popleft()
                else:
                    LOG.error("Committed request not found on toBeApplied: 0x%x", zxid & _MASK64)

    def process_sync(self, request: LearnerSyncRequest) -> None:
        """A learner's sync is answered once everything proposed before it
        committed (Java: processSync)."""
        with self.zab_lock:
            if not len(self.proposals):
                self.send_sync(request)
            else:
                self.pending_syncs.setdefault(self.last_proposed, []).append(request)

    @staticmethod
    def send_sync(request: LearnerSyncRequest) -> None:
        request.handler.queue_packet(QuorumPacket(SYNC, 0, None, None))

    def pending_sync_count(self) -> int:
        with self.zab_lock:
            return sum(len(v) for v in self.pending_syncs.values())

    def revalidate_session(self, qp: QuorumPacket, handler: "LearnerHandler") -> None:
        """A learner's client resumes a session: is it alive? It now belongs
        to that learner (Java: revalidateSession)."""
        data = qp.data or b""
        session_id, timeout = struct.unpack_from(">qi", data, 0)
        valid = self.zk.check_if_valid_global_session(session_id, timeout)
        if valid:
            self.zk.session_tracker.set_owner(session_id, handler)
        LOG.debug("Session 0x%x is valid: %s", session_id & _MASK64, valid)
        handler.queue_packet(QuorumPacket(REVALIDATE, qp.zxid, struct.pack(">q?", session_id, valid), None))

    # -- the role ------------------------------------------------------------------------------
    def lead(self) -> None:
        peer = self.peer
        peer.end_fle = time.monotonic()
        took = int((peer.end_fle - peer.start_fle) * 1000) if peer.start_fle else 0
        peer.election_time_taken = took
        LOG.info("LEADING - LEADER ELECTION TOOK - %d MS", took)
        peer.start_fle = peer.end_fle = 0
        peer.set_zab_state(ZabState.DISCOVERY)
        peer.tick = 0
        self.leader_state_summary = StateSummary(peer.current_epoch, peer.zk_db.last_processed_zxid)
        self.cnx_acceptor = LearnerCnxAcceptor(self)
        self.cnx_acceptor.start()
        epoch = self.get_epoch_to_propose(peer.my_id, peer.accepted_epoch)
        zxid = make_zxid(epoch, 0)
        self.zk.set_zxid(zxid)
        current, last_seen = peer.quorum_verifier, peer.get_last_seen_quorum_verifier()
        if peer.reconfig_enabled and current.version == 0 and last_seen.version == 0:
            # A config from zoo.cfg has no version: it gets this epoch's first
            # zxid, and becomes a dynamic config file once NEWLEADER is acked.
            new_qv = peer.config_from_string(str(current))
            new_qv.version = zxid
            peer.set_last_seen_quorum_verifier(new_qv, True)
        with self._new_leader_cond:
            self.new_leader_zxid = zxid
            self.new_leader_acks = AckSet(peer.verifiers())
        with self.zab_lock:
            self.last_proposed = zxid
        LOG.info("NEWLEADER proposal has Zxid of %x", zxid)
        self.wait_for_epoch_ack(peer.my_id, self.leader_state_summary)
        peer.set_current_epoch(epoch)
        peer.set_zab_state(ZabState.SYNCHRONIZATION)
        try:
            self.wait_for_new_leader_ack(peer.my_id, zxid)
        except QuorumTimeout:
            synced = sorted(self.new_leader_acks.acked_sids()) if self.new_leader_acks else []
            self.shutdown("Waiting for a quorum of followers, only synced with sids: [ "
                          + ",".join(str(s) for s in synced) + " ]")
            return
        self.start_zk_server()
        peer.set_zab_state(ZabState.BROADCAST)
        self._broadcast_loop()

    def start_zk_server(self) -> None:
        """Java: startZkServer."""
        peer = self.peer
        with self.zab_lock:
            zxid = self.zk.get_zxid()
            self.proposals.last_committed = zxid
            if peer.reconfig_enabled:
                # The config NEWLEADER carried is now acked by a quorum: activate it.
                designated = self.get_designated_leader(self.new_leader_acks, zxid)
                peer.process_reconfig(peer.get_last_seen_quorum_verifier(), designated, zxid, True)
                if designated != peer.my_id:
                    LOG.warning("This leader is not the designated leader, it will be initialized with "
                                "allowedToCommit = false")
                    self.allowed_to_commit = False
            peer.zk_db.init_config_node(str(peer.quorum_verifier), peer.quorum_verifier.version)
            self.zk.startup()
            peer.update_election_vote(self.epoch)
            peer.zk_db.set_last_processed_zxid(zxid)
        if self.leader_serves:
            peer.set_zk_server(self.zk)
        else:
            LOG.info("leaderServes=no: the leader serves no clients")
            peer.set_admin_zk_server(self.zk)
        self.started.set()

    def _broadcast_loop(self) -> None:
        """Ping every half tick; step down once the synced voters are no quorum.

        Unlike Java, the tick follows the clock (a leader that was stopped,
        say by SIGSTOP, finds every deadline passed at once), and a learner
        that goes away makes us check at once instead of at the next tick:
        an old leader that lost its quorum stops serving stale reads sooner.
        """
        peer = self.peer
        half_tick = peer.tick_time / 2000.0
        start = time.monotonic()
        next_round = start + half_tick
        shutdown_message = None
        while True:
            with self._lock:
                while not self.is_shutdown and not self._recheck:
                    remaining = next_round - time.monotonic()
                    if remaining <= 0:
                        break
                    self._lock.wait(remaining)
                if self.is_shutdown:
                    return
                self._recheck = False
                now = time.monotonic()
                rounds = int((now - start) / half_tick)
                peer.tick = max(peer.tick, rounds // 2)
                ping = now >= next_round
                if ping:
                    next_round = start + (rounds + 1) * half_tick
                synced = {peer.my_id} | {h.sid for h in self._learners
                                         if h.sid is not None and h.is_participant and h.synced()}
                if not peer.running or not self.zk.is_running():
                    shutdown_message = "Unexpected internal error"
                    break
                if not all(qv.contains_quorum(synced) for qv in peer.verifiers()):
                    shutdown_message = ("Not sufficient followers synced, only synced with sids: [ "
                                        + ",".join("[" + ", ".join(str(s) for s in sorted(synced)) + "]"
                                                   for _ in peer.verifiers()) + " ]")
                    break
                handlers = list(self._learners) if ping else []
            for handler in handlers:
                handler.ping()
        if shutdown_message is not None:
            self.shutdown(shutdown_message)

    def shutdown(self, reason: str) -> None:
        LOG.info("Shutting down")
        with self._lock:
            if self.is_shutdown:
                return
            self.is_shutdown = True
            self._lock.notify_all()
        LOG.info("Shutdown called. For the reason %s", reason)
        for cond in (self._epoch_cond, self._ack_cond, self._new_leader_cond):
            with cond:
                cond.notify_all()
        if self.cnx_acceptor is not None:
            self.cnx_acceptor.halt()
        else:
            for server in self.server_sockets:
                _close_socket(server)
        self.peer.set_zk_server(None)
        with self.zab_lock:
            self.allowed_to_commit = False
        self.zk.shutdown()
        with self._lock:
            handlers = list(self._learners)
            self._learners.clear()
        for handler in handlers:
            handler.shutdown()


def _float_property(value, default: float) -> float:
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        LOG.warning("Invalid value %r, using the default %s", value, default)
        return default


class LearnerCnxAcceptor:
    """Accepts learners on the quorum port (Java: Leader.LearnerCnxAcceptor)."""

    def __init__(self, leader: Leader):
        self.leader = leader
        self._stop = False
        self._threads = []
        for server in leader.server_sockets:
            host, port = server.getsockname()[:2]
            self._threads.append(threading.Thread(target=self._run, args=(server,), daemon=True,
                                                  name=f"LearnerCnxAcceptor-{format_address(host, port)}"))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _run(self, server: socket.socket) -> None:
        peer = self.leader.peer
        while not self._stop:
            try:
                sock, _addr = server.accept()
            except OSError:
                if self._stop:
                    break
                LOG.warning("Exception while accepting follower", exc_info=True)
                time.sleep(0.1)
                continue
            if self._stop:
                _close_socket(sock)
                break
            sock.settimeout(peer.tick_time * peer.init_limit / 1000.0)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # With sslQuorum / portUnification, TLS detection and handshake happen on
            # the LearnerHandler's first read, in its thread (as in Java), not here.
            sock = peer.quorum_socket_factory.accepted(sock)
            try:
                LearnerHandler(sock, self.leader).start()
            except OSError as e:  # the learner hung up before we looked at it
                LOG.warning("Could not start a LearnerHandler: %s", e)
                _close_socket(sock)

    def halt(self) -> None:
        self._stop = True
        for server in self.leader.server_sockets:
            _close_socket(server)  # shutdown() wakes the blocked accept()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(5)


class _SocketWriter:
    """``write`` for the snapshot writer: straight to the learner's socket."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def write(self, data) -> None:
        self.sock.sendall(data)


class LearnerHandler(threading.Thread):
    """The leader's side of one learner (Java: LearnerHandler)."""

    def __init__(self, sock: socket.socket, leader: Leader):
        host, port = sock.getpeername()[:2]
        self.remote = "/" + format_address(host, port)
        super().__init__(name=f"LearnerHandler-{self.remote}", daemon=True)
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.leader = leader
        self.sid: Optional[int] = None
        self.version = 0x1
        self.is_participant = True
        self.tick_of_next_ack_deadline = leader.tick_of_initial_ack_deadline()
        self.sync_limit_check = SyncLimitCheck(leader.sync_timeout_ms())
        self.sync_mode = SyncMode.NONE
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._sending_started = False
        self._running = True
        self._closed = False
        self._shutdown_lock = threading.Lock()
        self._sender: Optional[threading.Thread] = None
        self._max_buffer = leader.peer.config.jute_max_buffer

    def __repr__(self) -> str:
        return f"LearnerHandler(sid={self.sid}, {self.remote})"

    @property
    def forwarding(self) -> bool:
        """Past discovery (Java: in forwardingFollowers / observingLearners)."""
        return self._sending_started and self._running

    def synced(self) -> bool:
        """Still alive and heard from within syncLimit ticks (Java: synced)."""
        return self.is_alive() and self._running and self.leader.peer.tick <= self.tick_of_next_ack_deadline

    def _read(self) -> QuorumPacket:
        return read_quorum_packet(lambda n: _read_exact(self.reader, n), self._max_buffer)

    def _write(self, packet: QuorumPacket) -> None:
        self.sock.sendall(packet_bytes(packet))

    def run(self) -> None:
        leader = self.leader
        peer = leader.peer
        try:
            # Quorum SASL first (Java does it in LearnerHandler's constructor, in the acceptor thread).
            try:
                self.reader = peer.auth_server.authenticate(self.sock, self.reader)
            except SaslException as e:
                LOG.error("Server failed to authenticate quorum learner, addr: %s, closing connection: %s",
                          self.remote, e)
                return
            leader.add_learner_handler(self)
            qp = self._read()
            if qp.type not in (FOLLOWERINFO, OBSERVERINFO):
                LOG.error("First packet %s is not FOLLOWERINFO or OBSERVERINFO!", describe(qp))
                return
            sid, version, config_version = parse_learner_info(qp.data)
            self.sid = sid if sid is not None else leader.next_follower_counter()
            self.version = version
            if config_version is not None and config_version > peer.quorum_verifier.version:
                raise OSError("Follower is ahead of the leader (has a later activated configuration)")
            info = peer.view().get(self.sid)
            if info is None:
                LOG.info("Follower sid: %d not in the current config %x", self.sid, peer.quorum_verifier.version)
            else:
                LOG.info("Follower sid: %d : info : %s", self.sid, info)
            if qp.type == OBSERVERINFO:
                self.is_participant = False
            last_accepted_epoch = epoch_of(qp.zxid)
            new_epoch = leader.get_epoch_to_propose(self.sid, last_accepted_epoch)
            new_leader_zxid = make_zxid(new_epoch, 0)
            if self.version < PROTOCOL_VERSION:
                # A pre-Zab-1.0 learner: no LEADERINFO/ACKEPOCH, derive its summary.
                ss = StateSummary(epoch_of(qp.zxid), qp.zxid)
                leader.wait_for_epoch_ack(self.sid, ss)
            else:
                self._write(QuorumPacket(LEADERINFO, new_leader_zxid, struct.pack(">i", PROTOCOL_VERSION), None))
                ack = self._read()
                if ack.type != ACKEPOCH:
                    LOG.error("%s is not ACKEPOCH", describe(ack))
                    return
                data = ack.data or b""
                if len(data) < 4:
                    raise OSError(f"ACKEPOCH from {self.sid} carries no epoch")
                ss = StateSummary(struct.unpack_from(">i", data, 0)[0], ack.zxid)
                leader.wait_for_epoch_ack(self.sid, ss)
            self._synchronize(ss.last_zxid, new_leader_zxid)
            self._serve()
        except QuorumTimeout as e:
            LOG.warning("Learner %s: %s", self.sid, e)
        except (OSError, EOFError, JuteError, struct.error) as e:
            if self._running and not leader.is_shutdown:
                LOG.warning("Unexpected exception causing shutdown while sock still open: %s", e)
        finally:
            LOG.warning("******* GOODBYE %s ********", self.remote)
            self.shutdown()
            try:
                self.reader.close()
            except OSError:
                pass

    def _synchronize(self, peer_last_zxid: int, new_leader_zxid: int) -> None:
        """DIFF/TRUNC/SNAP, NEWLEADER, its ack, UPTODATE (ZK_SPEC.md §4.3 steps 4-7)."""
        leader = self.leader
        peer = leader.peer
        plan = leader.sync_learner(self, peer_last_zxid)
        self.sync_mode = SyncMode(plan.mode)
        if plan.snap:
            LOG.info("Sending snapshot last zxid of peer is 0x%x, zxid of leader is 0x%x, send zxid of db "
                     "as 0x%x", peer_last_zxid & _MASK64, new_leader_zxid & _MASK64, plan.last_zxid & _MASK64)
            self._write(QuorumPacket(SNAP, plan.last_zxid, None, None))
            peer.zk_db.serialize_snapshot(_SocketWriter(self.sock))
            out = OutputArchive()
            out.write_string(SNAP_SIGNATURE)
            self.sock.sendall(bytes(out.buf))
        if self.version < PROTOCOL_VERSION:
            self._write(QuorumPacket(NEWLEADER, new_leader_zxid, None, None))
        else:
            self.queue_packet(QuorumPacket(NEWLEADER, new_leader_zxid, leader.config_bytes(), None))
        self._start_sending()
        qp = self._read()
        if qp.type != ACK:
            LOG.error("Next packet was supposed to be an ACK, but received packet: %s", describe(qp))
            raise EOFError("no NEWLEADER ack")
        LOG.debug("Received NEWLEADER-ACK message from %s", self.sid)
        leader.wait_for_new_leader_ack(self.sid, qp.zxid)
        self.sync_limit_check.start()
        self.sync_mode = SyncMode.NONE
        self.sock.settimeout(peer.tick_time * peer.sync_limit / 1000.0)
        leader.wait_for_startup()
        self.tick_of_next_ack_deadline = leader.tick_of_next_ack_deadline()
        self.queue_packet(QuorumPacket(UPTODATE, -1, None, None))

    def _serve(self) -> None:
        """Broadcast phase: acks, pings, revalidations and forwarded requests."""
        leader = self.leader
        # A buffered reader can show what it holds: the ACKs a follower's
        # group commit sent together are taken and counted together.
        batched = hasattr(self.reader, "peek")
        while self._running:
            if batched:
                zxids = take_buffered_acks(self.reader)
                if zxids:
                    self.tick_of_next_ack_deadline = leader.tick_of_next_ack_deadline()
                    self.sync_limit_check.update_ack(zxids[-1])
                    leader.process_acks(self.sid, zxids)
                    continue
            qp = self._read()
            self.tick_of_next_ack_deadline = leader.tick_of_next_ack_deadline()
            t = qp.type
            if t == ACK:
                self.sync_limit_check.update_ack(qp.zxid)
                leader.process_ack(self.sid, qp.zxid)
            elif t == PING:
                self._touches(qp.data)
            elif t == REVALIDATE:
                leader.revalidate_session(qp, self)
            elif t == REQUEST:
                self._request(qp)
            else:
                LOG.warning("unexpected quorum packet, type: %s", describe(qp))

    def _request(self, qp: QuorumPacket) -> None:
        data = qp.data or b""
        session_id, cxid, op = struct.unpack_from(">qii", data, 0)
        body = data[16:]
        auth = list(qp.authinfo or ())
        if op == OpCode.sync:
            request: Request = LearnerSyncRequest(self, session_id, cxid, body, auth)
        else:
            request = Request(None, session_id, cxid, op, body, auth_info=auth, owner=self)
        self.leader.zk.submit_learner_request(request)

    def _touches(self, data: Optional[bytes]) -> None:
        """A learner's PING lists (session id, timeout) pairs it saw activity on."""
        data = data or b""
        zk = self.leader.zk
        for offset in range(0, len(data) - 11, 12):
            session_id, timeout = struct.unpack_from(">qi", data, offset)
            zk.touch(session_id, timeout)

    def _start_sending(self) -> None:
        self._sender = threading.Thread(target=self._send_packets, name=f"Sender-{self.remote}", daemon=True)
        self._sender.start()
        self._sending_started = True

    def _send_packets(self) -> None:
        """Write queued packets, all that are queued in one send (Java's
        sendPackets flushes its buffered stream when the queue is empty)."""
        check = self.sync_limit_check
        q = self._queue
        finished = False
        while not finished:
            batch = []
            proposed = []
            wire, zxids = q.get()
            while True:
                if wire is _DEATH:
                    finished = True
                    break
                if zxids:
                    proposed.extend(zxids)
                batch.append(wire)
                if len(batch) >= _SEND_BATCH:
                    break
                try:
                    wire, zxids = q.get_nowait()
                except queue.Empty:
                    break
            if proposed:
                check.update_proposals(proposed, time.monotonic() * 1000.0)
            if not batch:
                continue
            try:
                self.sock.sendall(b"".join(batch))
            except OSError as e:
                if self._running:
                    LOG.warning("Unexpected exception at %s: %s", self.remote, e)
                self.shutdown()
                break

    def queue_packet(self, packet: QuorumPacket) -> None:
        """Queue a packet for the Sender."""
        self.queue_wire(packet_bytes(packet), (packet.zxid,) if packet.type == PROPOSAL else ())

    def queue_wire(self, wire: bytes, proposed: tuple = ()) -> None:
        """Queue packets already in wire form (made once for every
        learner); ``proposed``, the zxids of the PROPOSALs among them, for
        the sync-limit check."""
        self._queue.put((wire, proposed))

    def ping(self) -> None:
        """Queue a PING with the last proposed zxid (only once sending started);
        drop a learner that left a proposal un-acked for syncLimit ticks."""
        if not self._sending_started or not self._running:
            return
        if self.sync_limit_check.check(time.monotonic() * 1000.0):
            self.queue_packet(QuorumPacket(PING, self.leader.last_proposed, None, None))
        else:
            LOG.warning("Closing connection to peer due to transaction timeout.")
            self.shutdown()

    def shutdown(self) -> None:
        with self._shutdown_lock:
            if self._closed:
                return
            self._closed = True
            self._running = False
        self._queue.put((_DEATH, ()))
        _close_socket(self.sock)  # wakes our thread's blocked read; it closes the reader itself
        self.leader.remove_learner_handler(self)
