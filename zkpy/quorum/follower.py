"""The FOLLOWING role.

Java: ``Follower`` (``followLeader``, ``processPacket``, ``shutdown``).
Discovery, sync and pings come from :class:`.learner.Learner`; here are
the broadcast packets: a PROPOSAL is logged and acked, a COMMIT applies the
oldest logged proposal, a SYNC answers the oldest forwarded ``sync``, a
REVALIDATE answers a resumed session, a COMMITANDACTIVATE commits a
reconfig and activates its config.
"""

from __future__ import annotations

import logging
import time

from .learner import Learner, ReconfigRoleChange, designated_leader
from .quorum_packet import (
    COMMIT, COMMITANDACTIVATE, FOLLOWERINFO, PING, PROPOSAL, REVALIDATE, SYNC, UPTODATE, describe,
)
from .quorum_zookeeper_server import FollowerZooKeeperServer

LOG = logging.getLogger(__name__)


class Follower(Learner):
    info_packet = FOLLOWERINFO
    activity = "following"

    def __init__(self, peer):
        super().__init__(peer, None)
        self.zk = FollowerZooKeeperServer(peer, self)

    def follow_leader(self) -> None:
        self.learn()

    def _log_pending(self, proposals) -> list[int]:
        acks = self.zk.log_requests_now([(p.hdr, p.txn, p.payload) for p in proposals])
        proposals.clear()
        return acks

    def _after_uptodate(self, not_committed, committed) -> None:
        # What came between NEWLEADER and UPTODATE (Java: the end of syncWithLeader).
        for p in not_committed:
            self.zk.log_request(p.hdr, p.txn, p.payload)
        for zxid in committed:
            self.zk.commit(zxid)

    def process_packet(self, qp) -> None:
        t = qp.type
        if t == PING:
            self.ping(qp)
        elif t == PROPOSAL:
            p = self._parse_txn(qp)
            self._see_proposal(p)
            self.zk.log_request(p.hdr, p.txn, p.payload)
        elif t == COMMIT:
            self.zk.commit(qp.zxid)
        elif t == COMMITANDACTIVATE:
            pending = self.zk.pending_txns[0]
            qv = self._config_of(pending.txn)
            major = self.peer.process_reconfig(qv, designated_leader(qp.data), qp.zxid, True)
            self.zk.commit(qp.zxid)  # writes the new config to /zookeeper/config
            if major:
                # Unlike Java, let the reconfig's reply reach its client before
                # the role ends and closes every client connection.
                self._wait_applied(qp.zxid)
                raise ReconfigRoleChange()
        elif t == UPTODATE:
            LOG.error("Received an UPTODATE message after Follower started")
        elif t == REVALIDATE:
            self.revalidate(qp)
        elif t == SYNC:
            self.zk.sync()
        else:
            LOG.warning("Unknown packet type: %s", describe(qp))

    def _wait_applied(self, zxid: int) -> None:
        peer = self.peer
        deadline = time.monotonic() + peer.tick_time * peer.sync_limit / 1000.0
        while peer.zk_db.last_processed_zxid < zxid and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # the reply leaves through the connection's selector thread

    def shutdown(self) -> None:
        LOG.info("shutdown Follower")
        super().shutdown()
