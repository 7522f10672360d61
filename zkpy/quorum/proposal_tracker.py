"""Counting acks: when a proposal, or a new leader, has its quorum.

Java: ``SyncedLearnerTracker`` (an ack set per quorum verifier),
``Leader.Proposal``, the bookkeeping of ``Leader.processAck`` /
``tryToCommit`` (``outstandingProposals``, ``lastCommitted``) and
``LearnerHandler.SyncLimitCheck``. Pure: no sockets, threads or clocks
(times are passed in; SyncLimitCheck has a lock, as Java's is synchronized).

A proposal commits once the acks of voting members (the leader's own
included) form a quorum of every verifier it waits for, and only after
every earlier proposal committed: commits happen in zxid order. Unlike
Java, which relies on acks arriving in order, :meth:`ProposalTracker.ack`
also commits the later proposals that were only waiting for an earlier one.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from typing import Any, Optional


class AckSet:
    """The acks of one proposal, checked against each verifier (Java:
    SyncedLearnerTracker). Only voting members count."""

    __slots__ = ("verifiers", "acks", "done")

    def __init__(self, verifiers: Sequence[Any]):
        self.verifiers = list(verifiers)
        self.acks: list[set[int]] = [set() for _ in self.verifiers]
        #: Every verifier has its quorum: kept by add_ack, so the commit
        #: loop reads a flag instead of counting again for each ack.
        self.done = False

    def add_ack(self, sid: int) -> bool:
        """Count ``sid``'s ack; True once every verifier has its quorum."""
        done = True
        for qv, acked in zip(self.verifiers, self.acks):
            if sid in qv.voting_members:
                acked.add(sid)
            if done and not qv.contains_quorum(acked):
                done = False
        self.done = done
        return done

    def has_sid(self, sid: int) -> bool:
        return any(sid in acked for acked in self.acks)

    def has_all_quorums(self) -> bool:
        return all(qv.contains_quorum(acked) for qv, acked in zip(self.verifiers, self.acks))

    def acked_sids(self) -> set[int]:
        out: set[int] = set()
        for acked in self.acks:
            out |= acked
        return out


class Proposal:
    """A proposed txn waiting for its quorum (Java: Leader.Proposal)."""

    __slots__ = ("zxid", "packet", "request", "ack_set")

    def __init__(self, zxid: int, packet: Any, request: Any, verifiers: Sequence[Any]):
        self.zxid = zxid
        self.packet = packet
        self.request = request
        self.ack_set = AckSet(verifiers)

    def __repr__(self) -> str:
        return f"Proposal(0x{self.zxid:x}, acks={sorted(self.ack_set.acked_sids())})"


class ProposalTracker:
    """Outstanding proposals in zxid order and the last committed zxid."""

    def __init__(self, last_committed: int = 0):
        self.outstanding: dict[int, Proposal] = {}  # by zxid
        # In zxid order. Not the dict's own order: a dict emptied from the
        # front keeps the holes until it grows again, and finding its first
        # key then walks them all (microseconds per commit under load).
        self._in_order: collections.deque[Proposal] = collections.deque()
        self.last_committed = last_committed

    def __len__(self) -> int:
        return len(self.outstanding)

    def propose(self, proposal: Proposal) -> None:
        if self._in_order and proposal.zxid <= self._in_order[-1].zxid:
            raise ValueError(f"proposal 0x{proposal.zxid:x} is not after the last one")
        self.outstanding[proposal.zxid] = proposal
        self._in_order.append(proposal)

    def get(self, zxid: int) -> Optional[Proposal]:
        return self.outstanding.get(zxid)

    def ack(self, sid: int, zxid: int) -> list[Proposal]:
        """Record ``sid``'s ack of ``zxid``; return the proposals that commit
        now, oldest first (none if the ack is stale or unknown)."""
        return self.ack_all(sid, (zxid,))

    def ack_all(self, sid: int, zxids) -> list[Proposal]:
        """:meth:`ack` for several acks of one peer, in the order it sent
        them: the proposals that commit once all are counted, oldest first
        (the same as acking one by one and joining what each returned)."""
        outstanding = self.outstanding
        last_committed = self.last_committed
        counted = False
        for zxid in zxids:
            # An epoch start (NEWLEADER/UPTODATE ack), a stale or an unknown
            # zxid acks no proposal.
            if zxid & 0xFFFFFFFF == 0 or zxid <= last_committed:
                continue
            proposal = outstanding.get(zxid)
            if proposal is not None:
                proposal.ack_set.add_ack(sid)
                counted = True
        return self.committable() if counted else []

    def committable(self) -> list[Proposal]:
        """Pop, in order, every leading proposal that has its quorums."""
        done: list[Proposal] = []
        in_order = self._in_order
        while in_order and in_order[0].ack_set.done:
            proposal = in_order.popleft()
            del self.outstanding[proposal.zxid]
            self.last_committed = proposal.zxid
            done.append(proposal)
        return done

    def after(self, zxid: int) -> list[Proposal]:
        """The outstanding proposals with a zxid greater than ``zxid``, in order."""
        return [p for p in self._in_order if p.zxid > zxid]


class SyncLimitCheck:
    """Is a learner acking fast enough? (Java: LearnerHandler.SyncLimitCheck)

    Remembers when the oldest un-acked proposal was sent to the learner;
    the learner is too slow once that is ``limit_ms`` ago.
    """

    def __init__(self, limit_ms: float):
        self.limit_ms = limit_ms
        self._started = False
        self._sent: collections.deque[tuple[int, float]] = collections.deque()  # (zxid, send time ms), in order
        # The sender appends while the reader pops and the ping looks at the
        # head: three threads, one lock (Java: synchronized methods).
        self._lock = threading.Lock()

    def start(self) -> None:
        self._started = True

    def update_proposal(self, zxid: int, now_ms: float) -> None:
        self.update_proposals((zxid,), now_ms)

    def update_proposals(self, zxids, now_ms: float) -> None:
        """Proposals sent together, at ``now_ms``."""
        if self._started:
            with self._lock:
                sent = self._sent
                for zxid in zxids:
                    if not sent or zxid > sent[-1][0]:  # a proposal sent again keeps its first time
                        sent.append((zxid, now_ms))

    def update_ack(self, zxid: int) -> None:
        """An ack acknowledges that zxid and, as acks come in order, all before it."""
        with self._lock:
            sent = self._sent
            while sent and sent[0][0] <= zxid:
                sent.popleft()

    def check(self, now_ms: float) -> bool:
        with self._lock:
            if not self._sent:
                return True
            oldest_time = self._sent[0][1]
        return now_ms - oldest_time < self.limit_ms
