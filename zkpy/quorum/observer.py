"""The OBSERVING role: a learner that never votes.

Java: ``Observer`` (``observeLeader``, ``processPacket``, ``shutdown``).
It registers with OBSERVERINFO, so the leader never counts it in a
quorum. zkpy observers always learn from the leader (no observer masters).
"""

from __future__ import annotations

import logging

from .learner import Learner
from .quorum_packet import OBSERVERINFO
from .quorum_zookeeper_server import ObserverZooKeeperServer

LOG = logging.getLogger(__name__)


class Observer(Learner):
    info_packet = OBSERVERINFO
    activity = "observing"

    def __init__(self, peer):
        super().__init__(peer, ObserverZooKeeperServer(peer))

    def observe_leader(self) -> None:
        LOG.info("Observing leader %d", self.peer.current_vote.id)
        self.learn()

    def shutdown(self) -> None:
        LOG.info("shutdown Observer")
        super().shutdown()
