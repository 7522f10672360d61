"""The OBSERVING role: a learner that never votes.

Java: ``Observer`` (``observeLeader``, ``processPacket``, ``shutdown``).
It registers with OBSERVERINFO, so the leader never counts it in a
quorum, and it hears committed txns as INFORM packets (no PROPOSAL, no
ACK); an INFORMANDACTIVATE also activates a reconfig's config (which
may make us a participant: the role then ends). zkpy observers always learn from the leader (no observer masters).
"""

from __future__ import annotations

import logging

from .learner import Learner, ReconfigRoleChange, designated_leader
from .quorum_packet import (
    COMMIT, INFORM, INFORMANDACTIVATE, OBSERVERINFO, PING, PROPOSAL, REVALIDATE, SYNC, UPTODATE, describe,
)
from .quorum_zookeeper_server import FollowerZooKeeperServer, ObserverZooKeeperServer

LOG = logging.getLogger(__name__)


class Observer(Learner):
    info_packet = OBSERVERINFO
    activity = "observing"

    def __init__(self, peer):
        super().__init__(peer, None)
        self.zk = ObserverZooKeeperServer(peer, self)

    def observe_leader(self) -> None:
        LOG.info("Observing leader %d", self.peer.current_vote.id)
        self.learn()

    def _after_uptodate(self, not_committed, committed) -> None:
        # Txns that came between NEWLEADER and UPTODATE, matched with their commits.
        for p in not_committed:
            zxid = committed[0] if committed else None
            if p.hdr.zxid != zxid:
                # An old leader's outstanding proposal, never committed.
                LOG.warning("Committing 0x%x, but next proposal is 0x%x", (zxid or 0), p.hdr.zxid)
                continue
            committed.popleft()
            self.zk.commit_request(FollowerZooKeeperServer.make_request(p.hdr, p.txn, p.payload))

    def process_packet(self, qp) -> None:
        t = qp.type
        if t == PING:
            self.ping(qp)
        elif t == INFORM:
            p = self._parse_txn(qp)
            self.zk.commit_request(FollowerZooKeeperServer.make_request(p.hdr, p.txn, p.payload))
        elif t == INFORMANDACTIVATE:
            p = self._parse_txn(qp, 8)
            self.zk.commit_request(FollowerZooKeeperServer.make_request(p.hdr, p.txn, p.payload))
            if self.peer.process_reconfig(self._config_of(p.txn), designated_leader(qp.data), qp.zxid, True):
                raise ReconfigRoleChange()
        elif t in (PROPOSAL, COMMIT):
            LOG.warning("Ignoring %s", describe(qp))
        elif t == UPTODATE:
            LOG.error("Received an UPTODATE message after Observer started")
        elif t == REVALIDATE:
            self.revalidate(qp)
        elif t == SYNC:
            self.zk.sync()
        else:
            LOG.warning("Unknown packet type: %s", describe(qp))

    def shutdown(self) -> None:
        LOG.info("shutdown Observer")
        super().shutdown()
