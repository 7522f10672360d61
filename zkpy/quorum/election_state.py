"""The decisions of FastLeaderElection, as a state machine without I/O.

Java: the body of ``FastLeaderElection.lookForLeader`` (one notification
at a time), ``updateProposal``/``getVote``, ``getInitId`` & co., the
finalizeWait check, and the replies ``Messenger.WorkerReceiver`` sends.
:class:`ElectionState` holds what FastLeaderElection keeps: the logical
clock (it survives from one election to the next), the proposal, and the
round's ``recvset`` and ``outofelection`` vote maps. Feeding it a
:class:`~.notification.Notification` returns a :class:`Step` that says what
the election thread must do: broadcast the new proposal, run the
finalizeWait, or stop with a decision. No sockets, threads or clocks, so
it can be driven exhaustively from tests (ZK_SPEC.md §4.2).

Votes are built as Java builds them, including ``Vote.version``, because
``Vote.equals`` (our :meth:`Vote.matches`) compares settled votes
differently when one side has version 0: Java's 4- and 5-argument Vote
constructors give version 0, the 6-argument one the notification's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import attrs

from .notification import Notification
from .quorum_verifier import QuorumVerifier
from .vote import ServerState, Vote, check_leader, term_predicate, total_order_predicate

#: Long.MIN_VALUE: the id, zxid and epoch a non-voter proposes.
LONG_MIN = -(2**63)


@attrs.frozen
class Proposal:
    """What this peer currently proposes (Java: proposedLeader/Zxid/Epoch)."""

    leader: int
    zxid: int
    epoch: int


@attrs.frozen
class Decision:
    """The end of an election: the state to enter and the vote to keep."""

    state: ServerState
    vote: Vote


@attrs.frozen
class Step:
    """What one notification asks of the election thread."""

    #: The proposal changed (or a newer round began): send it to every voter.
    broadcast: bool = False
    #: A quorum agrees with our proposal: wait finalizeWait for better votes.
    finalize: bool = False
    #: The election is over (a settled quorum was found).
    decision: Optional[Decision] = None
    #: Why the notification was not counted (for the log), if it was not.
    ignored: Optional[str] = None
    #: Whether that reason deserves a warning (Java logs non-members at WARN).
    warn: bool = False


@attrs.frozen
class Reply:
    """A notification the WorkerReceiver sends back to the sender."""

    leader: int
    zxid: int
    election_epoch: int
    state: ServerState
    peer_epoch: int


class ElectionState:
    """FastLeaderElection's state between notifications (see module doc)."""

    def __init__(self, my_id: int, logical_clock: int = 0):
        self.my_id = my_id
        self.logical_clock = logical_clock
        self.proposal = Proposal(-1, -1, -1)
        self.init = Proposal(-1, -1, -1)
        self.verifiers: list[QuorumVerifier] = []
        self.learning_state = ServerState.FOLLOWING
        self.recvset: dict[int, Vote] = {}
        self.outofelection: dict[int, Vote] = {}

    # -- starting a round ------------------------------------------------------------------
    @staticmethod
    def initial_proposal(my_id: int, participant: bool, voter: bool, last_logged_zxid: int,
                         current_epoch: int) -> Proposal:
        """Java's getInitId / getInitLastLoggedZxid / getPeerEpoch: a voter
        proposes itself; a non-voter proposes nobody (Long.MIN_VALUE)."""
        return Proposal(my_id if voter else LONG_MIN,
                        last_logged_zxid if participant else LONG_MIN,
                        current_epoch if participant else LONG_MIN)

    def new_round(self, init: Proposal, verifiers: Sequence[QuorumVerifier], participant: bool = True) -> Proposal:
        """Enter LOOKING: a new logical clock, our own proposal, empty vote
        maps. ``verifiers`` are the current config and, during a reconfig,
        the next; quorums must hold in all of them."""
        if not verifiers:
            raise ValueError("an election needs at least one quorum verifier")
        self.logical_clock += 1
        self.init = init
        self.proposal = init
        self.verifiers = list(verifiers)
        self.learning_state = ServerState.FOLLOWING if participant else ServerState.OBSERVING
        self.recvset = {}
        self.outofelection = {}
        return self.proposal

    # -- the decisions -----------------------------------------------------------------------
    def voters(self) -> set[int]:
        """The current and next voting views (Java: getCurrentAndNextConfigVoters)."""
        voters: set[int] = set()
        for qv in self.verifiers:
            voters.update(qv.voting_members)
        return voters

    def valid_voter(self, sid: int) -> bool:
        """Java's validVoter: ``sid`` votes in the current or the next config."""
        return sid in self.voters()

    def update_proposal(self, leader: int, zxid: int, epoch: int) -> None:
        """Java's updateProposal: what we propose (and broadcast) from now on."""
        self.proposal = Proposal(leader, zxid, epoch)

    def _beats(self, leader: int, zxid: int, epoch: int, than: Proposal) -> bool:
        return total_order_predicate(leader, zxid, epoch, than.leader, than.zxid, than.epoch,
                                     self.verifiers[0].get_weight)

    def proposal_vote(self) -> Vote:
        """The proposal as counted in recvset (Java: the vote handed to getVoteTracker)."""
        p = self.proposal
        return Vote(p.leader, p.zxid, self.logical_clock, p.epoch, version=0)

    def receive(self, n: Notification) -> Step:
        """One notification taken from the receive queue while LOOKING."""
        if not self.valid_voter(n.leader):
            return Step(ignored=f"Ignoring notification for non-cluster member sid {n.leader} from sid {n.sid}",
                        warn=True)
        if not self.valid_voter(n.sid):
            return Step(ignored=f"Ignoring notification for sid {n.leader} from non-quorum member sid {n.sid}",
                        warn=True)
        state = n.state
        if state is None:
            return Step(ignored=f"Notification state unrecognized: {n.state_ordinal} from {n.sid}", warn=True)
        if state == ServerState.LOOKING:
            return self._receive_looking(n)
        if state == ServerState.OBSERVING:
            return Step(ignored=f"Notification from observer: {n.sid}")
        return self._receive_settled(n)

    def _receive_looking(self, n: Notification) -> Step:
        if self.init.zxid == -1:
            return Step(ignored="Ignoring notification as our zxid is -1")
        if n.zxid == -1:
            return Step(ignored=f"Ignoring notification from member with -1 zxid {n.sid}")
        broadcast = False
        if n.election_epoch > self.logical_clock:
            # A newer round: join it, forgetting the votes of ours.
            self.logical_clock = n.election_epoch
            self.recvset.clear()
            if self._beats(n.leader, n.zxid, n.peer_epoch, self.init):
                self.update_proposal(n.leader, n.zxid, n.peer_epoch)
            else:
                self.update_proposal(self.init.leader, self.init.zxid, self.init.epoch)
            broadcast = True
        elif n.election_epoch < self.logical_clock:
            return Step(ignored=f"Notification election epoch 0x{n.election_epoch:x} is smaller than "
                                f"logicalclock 0x{self.logical_clock:x}")
        elif self._beats(n.leader, n.zxid, n.peer_epoch, self.proposal):
            self.update_proposal(n.leader, n.zxid, n.peer_epoch)
            broadcast = True
        self.recvset[n.sid] = Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, version=0)
        quorum = term_predicate(self.recvset, self.proposal_vote(), self.verifiers)
        return Step(broadcast=broadcast, finalize=quorum)

    def _receive_settled(self, n: Notification) -> Step:
        """A FOLLOWING or LEADING peer told us whom it follows."""
        settled = Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.state, n.version)
        if n.election_epoch == self.logical_clock:
            # Same round: it counts together with the LOOKING votes.
            self.recvset[n.sid] = Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.state, version=0)
            if (term_predicate(self.recvset, settled, self.verifiers)
                    and check_leader(self.recvset, n.leader, n.election_epoch, self.my_id, self.logical_clock)):
                return Step(decision=self._decision(n.leader, n))
        # A late joiner: does a quorum already follow this leader? (ZOOKEEPER-1732)
        self.outofelection[n.sid] = settled
        if (term_predicate(self.outofelection, settled, self.verifiers)
                and check_leader(self.outofelection, n.leader, n.election_epoch, self.my_id, self.logical_clock)):
            self.logical_clock = n.election_epoch
            return Step(decision=self._decision(n.leader, n))
        return Step()

    def _state_for(self, leader: int) -> ServerState:
        return ServerState.LEADING if leader == self.my_id else self.learning_state

    def _decision(self, leader: int, n: Notification) -> Decision:
        return Decision(self._state_for(leader), Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, version=0))

    def supersedes(self, n: Notification) -> bool:
        """During finalizeWait: does ``n`` propose something better than our
        proposal? (Then it goes back on the queue and the round goes on.)"""
        return self._beats(n.leader, n.zxid, n.peer_epoch, self.proposal)

    def decide(self) -> Decision:
        """finalizeWait passed quietly: our proposal wins."""
        p = self.proposal
        return Decision(self._state_for(p.leader), Vote(p.leader, p.zxid, self.logical_clock, p.epoch, version=0))

    def vote(self) -> Vote:
        """Java's getVote: the proposal with no election epoch."""
        p = self.proposal
        return Vote(p.leader, p.zxid, -1, p.epoch, version=0)

    # -- what the WorkerReceiver answers ----------------------------------------------------
    def reply_to(self, n: Notification, *, sender_is_voter: bool, my_state: ServerState,
                 current_vote: Vote) -> Optional[Reply]:
        """The notification WorkerReceiver sends back on receiving ``n``, if any.

        * a non-voter (an observer) gets our current vote at once;
        * when we are LOOKING, a LOOKING voter of an older round gets our proposal;
        * when we are not LOOKING, a LOOKING voter gets the leader we follow,
          with the vote's own election epoch.
        """
        if not sender_is_voter:
            return Reply(current_vote.id, current_vote.zxid, self.logical_clock, my_state, current_vote.peer_epoch)
        if n.state is None or n.state != ServerState.LOOKING:
            return None
        if my_state == ServerState.LOOKING:
            if n.election_epoch < self.logical_clock:
                p = self.proposal
                return Reply(p.leader, p.zxid, self.logical_clock, my_state, p.epoch)
            return None
        return Reply(current_vote.id, current_vote.zxid, current_vote.election_epoch, my_state,
                     current_vote.peer_epoch)
