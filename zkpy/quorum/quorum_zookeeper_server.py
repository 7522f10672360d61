"""The ZooKeeperServer of each quorum role, and the read-only server.

Java: ``QuorumZooKeeperServer`` (local sessions and their upgrade,
``checkUpgradeSession``), ``LeaderZooKeeperServer``,
``LearnerZooKeeperServer``, ``FollowerZooKeeperServer`` (``logRequest``,
``commit``, ``sync``), ``ObserverZooKeeperServer`` (``commitRequest``) and
``ReadOnlyZooKeeperServer``. Each builds its chain in
``setup_request_processors`` (see :mod:`.quorum_processors`). A role's
server is created by the role, handed to the peer's connection factory
once the role serves, and shut down when the role ends; the ZKDatabase it
uses belongs to the peer and outlives it.

Sessions (:mod:`.session_trackers`): the leader owns the global ones, a
learner forwards its clients' touches in PING replies and asks the leader
(REVALIDATE) when a client resumes a session here. The owner of a session,
for SESSIONMOVED, is the server itself for the leader's own clients (Java's
``ServerCnxn.me``) and the LearnerHandler for a learner's.

What they report to four-letter words (the hooks ``four_letter`` looks
up): mntr's ``zk_peer_state`` (e.g. ``following - broadcast``), the quorum
keys of ``conf`` and its ``membership:`` block, the quorum gauges of
``mntr`` and the leader's ``Proposal sizes`` line.

Differences from Java, on purpose:

* A read-only server gives every new client a local session, whether
  ``localSessionsEnabled`` is set or not (3.8.0 refuses new read-only
  clients with a bare NOTREADONLY header unless it is set, ZK_SPEC.md §7);
  a client resuming a global session there is still refused.
* A role server takes no snapshot when it starts (Java's leader takes one
  before discovery, with whatever its log holds).
"""

from __future__ import annotations

import collections
import logging
import struct
import time
from typing import Optional

from ..defs import CreateMode, OpCode
from ..errors import Code, KeeperException
from ..jute.archive import InputArchive, JuteError
from ..jute.multi import read_multi_request
from ..jute.records import CreateRequest
from ..server.container_manager import ContainerManager
from ..server.processors.final import FinalRequestProcessor
from ..server.processors.prep import PrepRequestProcessor
from ..server.processors.sync import SyncRequestProcessor
from ..server.processors.throttler import RequestThrottler
from ..server.request import Request
from ..server.session_tracker import session_password
from ..server.zookeeper_server import SERVER_CNXN_ME, State, ZooKeeperServer
from .commit_processor import CommitProcessor
from .quorum_processors import (
    AckRequestProcessor, DiscardProcessor, FollowerRequestProcessor, LeaderRequestProcessor,
    ObserverRequestProcessor, ProposalRequestProcessor, QuorumPrep, ReadOnlyRequestProcessor,
    SendAckRequestProcessor, ToBeAppliedRequestProcessor,
)
from .session_trackers import LeaderSessionTracker, LearnerSessionTracker

LOG = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1


class QuorumZooKeeperServer(ZooKeeperServer):
    """Base of the role servers (Java: QuorumZooKeeperServer)."""

    mode = "quorum"

    def __init__(self, peer):
        cfg = peer.config
        super().__init__(
            peer.zk_db, tick_time=cfg.tick_time, min_session_timeout=cfg.min_session_timeout,
            max_session_timeout=cfg.max_session_timeout, server_id=peer.my_id, snap_count=cfg.snap_count,
            global_outstanding_limit=cfg.global_outstanding_limit, max_buffer=cfg.jute_max_buffer,
            super_digest=cfg.super_digest, skip_acl=cfg.skip_acl,
            extended_types_enabled=cfg.extended_types_enabled, reconfig_enabled=cfg.reconfig_enabled,
            enforce_quota=cfg.enforce_quota, config=cfg,
        )
        self.peer = peer
        self.local_sessions_enabled = cfg.local_sessions_enabled
        self.local_sessions_upgrading_enabled = cfg.local_sessions_upgrading_enabled
        self.commit_processor: Optional[CommitProcessor] = None

    # -- lifecycle -------------------------------------------------------------------------------
    def create_session_tracker(self) -> None:
        raise NotImplementedError

    def startup(self) -> None:
        """Start the tracker and the chain; no snapshot (see the module docstring).
        Clients come only once the peer hands us to its connection factory."""
        if self.state is not State.INITIAL:
            return
        self._hzxid = max(self._hzxid, self.zk_db.last_processed_zxid)
        if self.session_tracker is None:
            self.create_session_tracker()
        self.session_tracker.start()
        self.setup_request_processors()
        self.state = State.RUNNING
        LOG.info("%s server started (sid %d), zxid 0x%x", self.mode, self.server_id, self._hzxid)

    def shutdown(self) -> None:
        """Stop the chain, then bring the tree up to what the log holds
        (Java: ZooKeeperServer.shutdown(false) -> fastForwardDataBase), so
        that the next election sees every txn we logged."""
        if self.state is State.SHUTDOWN:
            return
        super().shutdown()
        if self.first_processor is not None and self.zk_db.initialized:
            try:
                self.zk_db.fast_forward_database()
            except Exception:  # noqa: BLE001 - the next role reloads from disk if this fails
                LOG.exception("Error updating DB")
                self.zk_db.clear()

    def on_critical_failure(self, thread_name: str) -> None:
        """A processor thread of a role died: end the role, not the process
        (the peer elects again and reloads what it logged)."""
        LOG.error("Critical thread %s died; leaving the %s role", thread_name, self.mode)
        self.state = State.ERROR
        self.peer.role_failed(self)

    # -- requests ---------------------------------------------------------------------------------
    def count_request_in(self) -> None:
        """A request enters the chain past the throttler (from the leader or
        a learner): Final counts every request out."""
        with self._count_lock:
            self._outstanding += 1
            self._in_process += 1

    def submit_request(self, request: Request) -> None:
        self.set_local_session_flag(request)
        super().submit_request(request)

    def set_local_session_flag(self, request: Request) -> None:
        """Java: setLocalSessionFlag."""
        if request.type == OpCode.createSession:
            if self.local_sessions_enabled:
                request.is_local_session = True
        elif request.type == OpCode.closeSession:
            if self.session_tracker.is_local_session(request.session_id):
                request.is_local_session = True

    def expire(self, session) -> None:
        LOG.info("Expiring session 0x%x", session.session_id & _MASK64)
        request = Request(None, session.session_id, 0, OpCode.closeSession, None)
        request.is_local_session = self.session_tracker.is_local_session(session.session_id)
        self.submit_internal(request)

    def process_local_session(self, request: Request) -> None:
        """A local session's close reached Final (no txn): forget it here."""
        if request.type == OpCode.closeSession:
            self.session_tracker.remove_session(request.session_id)
            if request.cnxn is None:
                self.close_session_connection(request.session_id)

    def process_txn(self, request: Request):
        # One step with the committed log: a leader picking a learner's
        # sync mode must never see the tree ahead of that log.
        with self.zk_db.log_lock:
            return super().process_txn(request)

    def apply_txn(self, hdr, txn, payload: Optional[bytes] = None):
        """Apply a txn of the leader's straight to the database (a learner in sync)."""
        request = Request(None, hdr.clientId, hdr.cxid, hdr.type, None)
        request.hdr = hdr
        request.txn = txn
        request.zxid = hdr.zxid
        request.txn_bytes = payload
        return self.process_txn(request)

    def check_upgrade_session(self, request: Request) -> Optional[Request]:
        """A local session creating an ephemeral node becomes global first:
        the createSession request that does it, or None (Java:
        checkUpgradeSession)."""
        t = request.type
        if t not in (OpCode.create, OpCode.create2, OpCode.multi):
            return None
        tracker = self.session_tracker
        if not tracker.is_local_session(request.session_id):
            return None
        try:
            inp = InputArchive(request.payload or b"", max_buffer=self.max_buffer)
            if t == OpCode.multi:
                flags = [op.flags for op_type, op in read_multi_request(inp)
                         if op_type in (OpCode.create, OpCode.create2)]
            else:
                flags = [CreateRequest.deserialize(inp).flags]
        except (JuteError, ValueError, UnicodeError):
            return None  # Prep answers the malformed request
        if not any(_is_ephemeral(f) for f in flags):
            return None
        if not self.local_sessions_upgrading_enabled:
            raise KeeperException(Code.EPHEMERALONLOCALSESSION)
        timeout = tracker.upgrade_session(request.session_id)
        if timeout < 0:
            return None
        upgrade = Request(None, request.session_id, 0, OpCode.createSession, struct.pack(">i", timeout))
        self.count_request_in()
        return upgrade

    # -- sessions ---------------------------------------------------------------------------------
    def reopen_session(self, cnxn, session_id: int, passwd, timeout: int) -> None:
        if passwd != session_password(session_id):
            LOG.info("Invalid session password for 0x%x from %s", session_id & _MASK64, cnxn.remote)
            self.finish_session_init(cnxn, False)
            return
        self.revalidate_session(cnxn, session_id, timeout)

    def revalidate_session(self, cnxn, session_id: int, timeout: int) -> None:
        self.finish_session_init(cnxn, self.session_tracker.touch_session(session_id, timeout))

    def local_session_count(self) -> int:
        tracker = self.session_tracker
        return tracker.local_session_count() if tracker is not None else 0

    # -- four-letter-word hooks -----------------------------------------------------------------
    def peer_state(self) -> str:
        return self.peer.detailed_peer_state()

    def quorum_conf_entries(self) -> list[tuple[str, object]]:
        """Java: QuorumZooKeeperServer.dumpConf, the keys after serverId."""
        peer = self.peer
        me = peer.quorum_verifier.all_members.get(peer.my_id)
        election_ports = "|".join(str(p) for _, p in me.election_addrs) if me else ""
        quorum_ports = "|".join(str(p) for _, p in me.addrs) if me else ""
        return [
            ("initLimit", peer.init_limit),
            ("syncLimit", peer.sync_limit),
            ("electionAlg", 3),
            ("electionPort", election_ports),
            ("quorumPort", quorum_ports),
            ("peerType", 0 if peer.is_participant else 1),
        ]

    def membership_text(self) -> str:
        return str(self.peer.quorum_verifier)

    def extra_gauges(self) -> list[tuple[str, object]]:
        return [("quorum_size", len(self.peer.quorum_verifier.voting_members))]


def _is_ephemeral(flags: int) -> bool:
    try:
        return CreateMode(flags).is_ephemeral
    except ValueError:
        return False


class LeaderZooKeeperServer(QuorumZooKeeperServer):
    """Java: LeaderZooKeeperServer."""

    mode = "leader"

    def __init__(self, peer, leader):
        super().__init__(peer)
        self.leader = leader
        self.leader_start = time.monotonic()
        self.prep_processor: Optional[PrepRequestProcessor] = None
        self.container_manager: Optional[ContainerManager] = None

    def create_session_tracker(self) -> None:
        self.session_tracker = LeaderSessionTracker(self, self.zk_db.sessions_with_timeouts, self.tick_time,
                                                    self.server_id, self.local_sessions_enabled)

    def setup_request_processors(self) -> None:
        final = FinalRequestProcessor(self)
        to_be_applied = ToBeAppliedRequestProcessor(self.leader, final)
        self.commit_processor = CommitProcessor(self, to_be_applied, match_syncs=False, inline_commits=True)
        self.commit_processor.start()
        sync = SyncRequestProcessor(self, AckRequestProcessor(self.leader), snap_count=self.snap_count)
        sync.start()
        proposal = ProposalRequestProcessor(self, self.commit_processor, sync)
        prep = PrepRequestProcessor(self, proposal)
        prep.prep = QuorumPrep(self)
        prep.start()
        self.prep_processor = prep
        leader_request = LeaderRequestProcessor(self, prep)
        throttler = RequestThrottler(self, leader_request)
        throttler.start()
        self.first_processor = throttler

    def startup(self) -> None:
        super().startup()
        cfg = self.config
        self.container_manager = ContainerManager(
            self.zk_db, self.submit_internal, cfg.container_check_interval_ms, cfg.container_max_per_minute,
            cfg.container_max_never_used_interval_ms)
        self.container_manager.start()

    def shutdown(self) -> None:
        if self.container_manager is not None:
            self.container_manager.stop()
        super().shutdown()

    def submit_learner_request(self, request: Request) -> None:
        """A learner's request goes straight to Prep: its server did the
        session checks, and no local-session upgrade applies here (Java:
        submitLearnerRequest)."""
        if self.prep_processor is None or self.state is not State.RUNNING:
            return
        self.count_request_in()
        self.prep_processor.process_request(request)

    def revalidate_session(self, cnxn, session_id: int, timeout: int) -> None:
        super().revalidate_session(cnxn, session_id, timeout)
        # Ours now, unless a LearnerHandler takes it back (Java: revalidateSession).
        self.session_tracker.set_owner(session_id, SERVER_CNXN_ME)

    def check_if_valid_global_session(self, session_id: int, timeout: int) -> bool:
        tracker = self.session_tracker
        if self.local_sessions_enabled and not tracker.is_global_session(session_id):
            return False
        return tracker.touch_session(session_id, timeout)

    def touch(self, session_id: int, timeout: int) -> None:
        self.session_tracker.touch_session(session_id, timeout)

    # -- four-letter words ------------------------------------------------------------------------
    def proposal_sizes(self) -> str:
        return self.leader.proposal_stats.text()

    def extra_gauges(self) -> list[tuple[str, object]]:
        leader = self.leader
        handlers = leader.learner_handlers()
        followers = [h for h in leader.forwarding_followers() if h.synced()]
        observers = [h for h in leader.observing_learners() if h.synced()]
        stats = leader.proposal_stats
        return super().extra_gauges() + [
            ("learners", len(handlers)),
            ("synced_followers", len(followers)),
            ("synced_non_voting_followers", 0),
            ("synced_observers", len(observers)),
            ("pending_syncs", leader.pending_sync_count()),
            ("leader_uptime", int((time.monotonic() - self.leader_start) * 1000)),
            ("last_proposal_size", stats.last),
            ("max_proposal_size", stats.max),
            ("min_proposal_size", stats.min),
        ]


class LearnerZooKeeperServer(QuorumZooKeeperServer):
    """What followers and observers share (Java: LearnerZooKeeperServer)."""

    def __init__(self, peer, learner):
        super().__init__(peer)
        self.learner = learner
        self.pending_syncs: collections.deque[Request] = collections.deque()
        self.sync_processor: Optional[SyncRequestProcessor] = None

    def create_session_tracker(self) -> None:
        self.session_tracker = LearnerSessionTracker(self, self.zk_db.sessions_with_timeouts, self.tick_time,
                                                     self.server_id, self.local_sessions_enabled)

    def touch_snapshot(self) -> dict[int, int]:
        tracker = self.session_tracker
        return tracker.touch_snapshot() if tracker is not None else {}

    def revalidate_session(self, cnxn, session_id: int, timeout: int) -> None:
        if self.session_tracker.is_local_session(session_id):
            super().revalidate_session(cnxn, session_id, timeout)
        else:
            try:
                self.learner.validate_session(cnxn, session_id, timeout)
            except OSError as e:
                LOG.warning("Could not revalidate session 0x%x with the leader: %s", session_id & _MASK64, e)
                cnxn.close("leader unreachable")

    def sync(self) -> None:
        """The leader's SYNC: the oldest forwarded sync may be answered (Java: sync)."""
        if not self.pending_syncs:
            LOG.warning("Not expecting a sync.")
            return
        self.commit_processor.commit(self.pending_syncs.popleft())


class FollowerZooKeeperServer(LearnerZooKeeperServer):
    """Java: FollowerZooKeeperServer."""

    mode = "follower"

    def __init__(self, peer, learner):
        super().__init__(peer, learner)
        self.pending_txns: collections.deque[Request] = collections.deque()

    def setup_request_processors(self) -> None:
        final = FinalRequestProcessor(self)
        self.commit_processor = CommitProcessor(self, final, match_syncs=True)
        self.commit_processor.start()
        follower_request = FollowerRequestProcessor(self, self.commit_processor)
        throttler = RequestThrottler(self, follower_request)
        throttler.start()
        self.first_processor = throttler
        self.sync_processor = SyncRequestProcessor(self, SendAckRequestProcessor(self.learner),
                                                   snap_count=self.snap_count)
        self.sync_processor.start()

    def shutdown(self) -> None:
        sync = self.sync_processor
        if sync is not None and self.state is not State.SHUTDOWN:
            sync.shutdown()
        super().shutdown()

    @staticmethod
    def make_request(hdr, txn, payload: Optional[bytes]) -> Request:
        request = Request(None, hdr.clientId, hdr.cxid, hdr.type, None)
        request.hdr = hdr
        request.txn = txn
        request.zxid = hdr.zxid
        request.txn_bytes = payload
        return request

    def log_request(self, hdr, txn, payload: Optional[bytes]) -> None:
        """A PROPOSAL: log it, then ACK it (Java: logRequest)."""
        request = self.make_request(hdr, txn, payload)
        self.pending_txns.append(request)
        self.sync_processor.process_request(request)

    def log_requests_now(self, proposals) -> list[int]:
        """Log (and fsync) proposals before the NEWLEADER ack, on the
        caller's thread; the zxids to ACK once that ack is sent."""
        zxids = []
        for hdr, txn, payload in proposals:
            request = self.make_request(hdr, txn, payload)
            self.zk_db.append(request)
            self.pending_txns.append(request)
            zxids.append(hdr.zxid)
        if zxids:
            self.zk_db.commit()
        return zxids

    def commit(self, zxid: int) -> None:
        """A COMMIT: the oldest logged proposal must be that zxid (Java: commit)."""
        if not self.pending_txns:
            LOG.warning("Committing 0x%x without seeing txn", zxid)
            return
        first = self.pending_txns[0].hdr.zxid
        if first != zxid:
            LOG.error("Committing zxid 0x%x but next pending txn 0x%x", zxid, first)
            raise OSError(f"commit of 0x{zxid:x} does not match the next pending txn 0x{first:x}")
        self.commit_processor.commit(self.pending_txns.popleft(), remote=True)

    def extra_gauges(self) -> list[tuple[str, object]]:
        return super().extra_gauges() + [("synced_observers", 0)]


class ObserverZooKeeperServer(LearnerZooKeeperServer):
    """Java: ObserverZooKeeperServer."""

    mode = "observer"

    def setup_request_processors(self) -> None:
        final = FinalRequestProcessor(self)
        self.commit_processor = CommitProcessor(self, final, match_syncs=True)
        self.commit_processor.start()
        observer_request = ObserverRequestProcessor(self, self.commit_processor)
        throttler = RequestThrottler(self, observer_request)
        throttler.start()
        self.first_processor = throttler
        if self.config.sync_enabled:
            self.sync_processor = SyncRequestProcessor(self, DiscardProcessor(), snap_count=self.snap_count)
            self.sync_processor.start()

    def shutdown(self) -> None:
        sync = self.sync_processor
        if sync is not None and self.state is not State.SHUTDOWN:
            sync.shutdown()
        super().shutdown()

    def commit_request(self, request: Request) -> None:
        """An INFORM: log it (syncEnabled) and apply it (Java: commitRequest)."""
        if self.sync_processor is not None:
            self.sync_processor.process_request(request)
        self.commit_processor.commit(request, remote=True)

    def extra_gauges(self) -> list[tuple[str, object]]:
        return super().extra_gauges() + [("observer_master_id", self.peer.current_vote.id)]


class ReadOnlyZooKeeperServer(QuorumZooKeeperServer):
    """Serves reads from the local database while the peer has no quorum
    (Java: ReadOnlyZooKeeperServer; see the module docstring)."""

    mode = "read-only"

    def create_session_tracker(self) -> None:
        self.session_tracker = LearnerSessionTracker(self, self.zk_db.sessions_with_timeouts, self.tick_time,
                                                     self.server_id, local_sessions_enabled=True)

    def setup_request_processors(self) -> None:
        final = FinalRequestProcessor(self)
        prep = PrepRequestProcessor(self, final)
        prep.prep = QuorumPrep(self)
        prep.start()
        read_only = ReadOnlyRequestProcessor(self, prep)
        read_only.start()
        throttler = RequestThrottler(self, read_only)
        throttler.start()
        self.first_processor = throttler

    def shutdown(self) -> None:
        if self.state is State.SHUTDOWN:
            return
        ZooKeeperServer.shutdown(self)  # nothing was logged: no fast-forward

    def is_read_only(self) -> bool:
        return True

    def accepts_client(self, read_only_client: bool) -> bool:
        if not read_only_client:
            LOG.info("Refusing session request for not-read-only client")
        return read_only_client

    def set_local_session_flag(self, request: Request) -> None:
        if request.type == OpCode.createSession:
            request.is_local_session = True
        elif request.type == OpCode.closeSession:
            if self.session_tracker.is_local_session(request.session_id):
                request.is_local_session = True
            else:
                LOG.warning("Submitting global closeSession request for session 0x%x in ReadOnly mode",
                            request.session_id & _MASK64)

    def reopen_session(self, cnxn, session_id: int, passwd, timeout: int) -> None:
        if self.session_tracker.is_global_session(session_id):
            LOG.info("Refusing global session reconnection in RO mode %s", cnxn.remote)
            cnxn.close("global session in read-only mode")
            return
        super().reopen_session(cnxn, session_id, passwd, timeout)

    def extra_gauges(self) -> list[tuple[str, object]]:
        return super().extra_gauges()
