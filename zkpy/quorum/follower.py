"""The FOLLOWING role.

Java: ``Follower`` (``followLeader``, ``processPacket``, ``shutdown``).
Discovery, sync and pings come from :class:`.learner.Learner`; here are
the broadcast packets: a PROPOSAL is logged and acked, a COMMIT applies the
oldest logged proposal, a SYNC answers the oldest forwarded ``sync``, a
REVALIDATE answers a resumed session.
"""

from __future__ import annotations

import logging

from .learner import Learner
from .quorum_packet import COMMIT, FOLLOWERINFO, PING, PROPOSAL, REVALIDATE, SYNC, UPTODATE, describe
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
            self.zk.log_request(p.hdr, p.txn, p.payload)
        elif t == COMMIT:
            self.zk.commit(qp.zxid)
        elif t == UPTODATE:
            LOG.error("Received an UPTODATE message after Follower started")
        elif t == REVALIDATE:
            self.revalidate(qp)
        elif t == SYNC:
            self.zk.sync()
        else:
            LOG.warning("Unknown packet type: %s", describe(qp))

    def shutdown(self) -> None:
        LOG.info("shutdown Follower")
        super().shutdown()
