"""The FOLLOWING role.

Java: ``Follower`` (``followLeader``, ``processPacket``, ``shutdown``).
Discovery and pings come from :class:`.learner.Learner`; the Zab issue
adds proposals and commits to :meth:`Follower.process_packet`.
"""

from __future__ import annotations

import logging

from .learner import Learner
from .quorum_packet import FOLLOWERINFO
from .quorum_zookeeper_server import FollowerZooKeeperServer

LOG = logging.getLogger(__name__)


class Follower(Learner):
    info_packet = FOLLOWERINFO
    activity = "following"

    def __init__(self, peer):
        super().__init__(peer, FollowerZooKeeperServer(peer))

    def follow_leader(self) -> None:
        self.learn()

    def shutdown(self) -> None:
        LOG.info("shutdown Follower")
        super().shutdown()
