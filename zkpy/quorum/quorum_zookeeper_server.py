"""The ZooKeeperServer of each quorum role.

Java: ``QuorumZooKeeperServer`` and its subclasses ``LeaderZooKeeperServer``,
``FollowerZooKeeperServer`` and ``ObserverZooKeeperServer`` (``getState``
is "leader" / "follower" / "observer"). A role's server is created by the
role, handed to the peer's connection factory once the role is
established, and shut down when the role ends; the ZKDatabase it uses
belongs to the peer and outlives it.

What they report to four-letter words (the hooks ``four_letter`` looks
up): mntr's ``zk_peer_state`` (e.g. ``following - broadcast``), the quorum
keys of ``conf`` and its ``membership:`` block, the quorum gauges of
``mntr`` and the leader's ``Proposal sizes`` line.

Interim, until the Zab issue adds data sync and broadcast: a role server
has no request-processor chain; it is "running" for four-letter words
(so ``srvr`` reports ``Mode: leader|follower|observer``) but refuses client
sessions, closing the connection as Java does when no server runs. The
Zab issue replaces :meth:`QuorumZooKeeperServer.startup` and
``process_connect_request`` with the real chains.
"""

from __future__ import annotations

import logging
import time

from ..server.session_tracker import SessionTracker
from ..server.zookeeper_server import State, ZooKeeperServer

LOG = logging.getLogger(__name__)


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

    # -- lifecycle (interim: see the module docstring) ------------------------------------------
    def startup(self) -> None:
        self._hzxid = self.zk_db.last_processed_zxid
        # Not started: there are no client sessions yet; the tracker is here
        # for the four-letter words that list sessions.
        self.session_tracker = SessionTracker(self, self.zk_db.sessions_with_timeouts, self.tick_time,
                                              self.server_id)
        self.state = State.RUNNING
        LOG.info("%s server started (sid %d), zxid 0x%x; not serving clients until Zab sync exists",
                 self.mode, self.server_id, self._hzxid)

    def process_connect_request(self, cnxn, payload: bytes) -> None:
        LOG.info("Refusing session request from %s: the %s does not serve clients yet", cnxn.remote, self.mode)
        cnxn.close("quorum role without a request chain")

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


class LeaderZooKeeperServer(QuorumZooKeeperServer):
    """Java: LeaderZooKeeperServer."""

    mode = "leader"

    def __init__(self, peer, leader):
        super().__init__(peer)
        self.leader = leader
        self.leader_start = time.monotonic()

    def proposal_sizes(self) -> str:
        # Java's BufferStats start at -1; no proposals exist before Zab broadcast.
        return "-1/-1/-1"

    def extra_gauges(self) -> list[tuple[str, object]]:
        handlers = self.leader.learner_handlers()
        followers = [h for h in handlers if h.forwarding and h.synced() and h.is_participant]
        observers = [h for h in handlers if h.forwarding and h.synced() and not h.is_participant]
        return super().extra_gauges() + [
            ("learners", len(handlers)),
            ("synced_followers", len(followers)),
            ("synced_non_voting_followers", 0),
            ("synced_observers", len(observers)),
            ("pending_syncs", 0),
            ("leader_uptime", int((time.monotonic() - self.leader_start) * 1000)),
            ("last_proposal_size", -1),
            ("max_proposal_size", -1),
            ("min_proposal_size", -1),
        ]


class FollowerZooKeeperServer(QuorumZooKeeperServer):
    """Java: FollowerZooKeeperServer."""

    mode = "follower"

    def extra_gauges(self) -> list[tuple[str, object]]:
        return super().extra_gauges() + [("synced_observers", 0)]


class ObserverZooKeeperServer(QuorumZooKeeperServer):
    """Java: ObserverZooKeeperServer."""

    mode = "observer"

    def extra_gauges(self) -> list[tuple[str, object]]:
        return super().extra_gauges() + [("observer_master_id", self.peer.current_vote.id)]
