"""Votes and the pure decisions of leader election.

Java: ``org.apache.zookeeper.server.quorum.Vote``, ``QuorumPeer.ServerState``
and the decision methods of ``FastLeaderElection`` (``totalOrderPredicate``,
``termPredicate`` with ``SyncedLearnerTracker.hasAllQuorums``,
``checkLeader``). No sockets, threads or clocks here: the election thread
calls these, and tests can call them exhaustively.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping

import attrs

from .quorum_verifier import QuorumVerifier

#: Notification.CURRENTVERSION: the format with a config.
NOTIFICATION_VERSION = 0x2


class ServerState(enum.IntEnum):
    """A peer's state; the ordinal travels in notifications."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3


@attrs.frozen
class Vote:
    """A proposal: ``id`` for leader, with its last zxid and epoch."""

    id: int
    zxid: int
    election_epoch: int = -1
    peer_epoch: int = -1
    state: ServerState = ServerState.LOOKING
    version: int = NOTIFICATION_VERSION

    def matches(self, other: "Vote") -> bool:
        """Java's ``Vote.equals``: while either side is LOOKING, the whole
        vote must agree; between settled peers, the leader id and its epoch
        (just the id when only one side is a pre-version vote). Not an
        equivalence relation, hence not ``__eq__``."""
        if self.state == ServerState.LOOKING or other.state == ServerState.LOOKING:
            return (self.id == other.id and self.zxid == other.zxid
                    and self.election_epoch == other.election_epoch
                    and self.peer_epoch == other.peer_epoch)
        if (self.version > 0) != (other.version > 0):
            return self.id == other.id
        return self.id == other.id and self.peer_epoch == other.peer_epoch


def total_order_predicate(new_id: int, new_zxid: int, new_epoch: int,
                          cur_id: int, cur_zxid: int, cur_epoch: int,
                          weight: Callable[[int], int]) -> bool:
    """Whether the vote (new_*) beats the current one (cur_*): a higher
    epoch, then a higher zxid, then a higher sid; a proposed leader of
    weight 0 never wins."""
    if weight(new_id) == 0:
        return False
    return (new_epoch, new_zxid, new_id) > (cur_epoch, cur_zxid, cur_id)


def term_predicate(votes: Mapping[int, Vote], vote: Vote, verifiers: Iterable[QuorumVerifier]) -> bool:
    """Whether the peers whose vote matches ``vote`` form a quorum of every
    verifier held (the current one and, during a reconfig, the next)."""
    agreeing = {sid for sid, v in votes.items() if vote.matches(v)}
    verifiers = list(verifiers)
    return bool(verifiers) and all(qv.contains_quorum(agreeing) for qv in verifiers)


def check_leader(votes: Mapping[int, Vote], leader: int, election_epoch: int,
                 my_id: int, logical_clock: int) -> bool:
    """A settled peer's vote can only be trusted if the leader it names is
    known to lead: another peer must have told us it is LEADING; if the
    leader is us, the vote must be from our own election round."""
    if leader != my_id:
        leader_vote = votes.get(leader)
        return leader_vote is not None and leader_vote.state == ServerState.LEADING
    return logical_clock == election_epoch
