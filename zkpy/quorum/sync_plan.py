"""The leader's choice of how to bring one learner up to date: DIFF, TRUNC or SNAP.

Java: ``LearnerHandler.syncFollower`` and ``queueCommittedProposals``
(ZK_SPEC.md §4.4). Pure: it sees zxids and txn bytes, never a socket, a
lock or a file. The caller hands it the learner's last zxid (its ACKEPOCH),
the leader's lastProcessedZxid, the in-memory committed log and, when the
learner is older than that, an iterable over the txn log on disk; it gets
back the packets to queue before forwarding starts, or "send a snapshot".

The cases, in Java's order:

1. ``forceSnapshotSync``: SNAP.
2. the learner has exactly what we have: an empty DIFF.
3. the learner has txns past the end of our committed log (an old leader's
   proposals that never committed), and its zxid is not an epoch start:
   TRUNC to the end of our log.
4. its zxid is within the committed log: walk it. Found: DIFF, then
   PROPOSAL+COMMIT for each later txn. Not found, but a later txn of the
   same epoch is: it has txns we lack, TRUNC to the txn before them, then
   the proposals. A TRUNC across an epoch boundary is never sent: SNAP.
5. its zxid is older than the committed log: the same walk over the txn
   log on disk up to the committed log's start, then the committed log.
   A log that does not reach back to the learner's zxid, or a gap between
   the two: SNAP.
6. anything else: SNAP.

``SyncPlan.last_zxid`` is where the learner stands once the packets are
applied; the leader forwards every proposal after it (``startForwarding``).
For a SNAP it is the leader's lastProcessedZxid, the SNAP packet's zxid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional

import attrs

from .quorum_packet import COMMIT, DIFF, PROPOSAL, TRUNC, epoch_of

#: One txn as the planner sees it: (zxid, the PROPOSAL data: TxnHeader + record).
Proposal = tuple[int, bytes]
#: A packet to queue: (type, zxid, data).
Packet = tuple[int, int, Optional[bytes]]


@attrs.frozen
class SyncPlan:
    """What to send a learner before its NEWLEADER (see the module docstring)."""

    snap: bool
    packets: tuple[Packet, ...]
    last_zxid: int

    @property
    def mode(self) -> str:
        """"snap", "diff" or "trunc" (the first packet's kind)."""
        if self.snap:
            return "snap"
        return "trunc" if self.packets and self.packets[0][0] == TRUNC else "diff"


def is_epoch_start(zxid: int) -> bool:
    """A zxid with counter 0: a new leader's first zxid, never a txn's."""
    return zxid & 0xFFFFFFFF == 0


class _Queuer:
    """queueCommittedProposals: walks proposals after the learner's zxid,
    deciding on the first one between DIFF and TRUNC."""

    def __init__(self, peer_last_zxid: int):
        self.packets: list[Packet] = []
        self.need_op_packet = True
        self.queued_zxid = peer_last_zxid

    def queue(self, proposals: Iterable[Proposal], peer_last_zxid: int, max_zxid: Optional[int],
              last_committed_zxid: int) -> int:
        new_epoch_peer = is_epoch_start(peer_last_zxid)
        queued = peer_last_zxid
        prev = -1
        for zxid, data in proposals:
            if max_zxid is not None and zxid > max_zxid:
                break
            if zxid < peer_last_zxid:
                prev = zxid
                continue
            if self.need_op_packet:
                if zxid == peer_last_zxid:
                    # The learner's last txn is in our history: it misses only what follows.
                    self.packets.append((DIFF, last_committed_zxid, None))
                    self.need_op_packet = False
                    continue
                if new_epoch_peer:
                    # An epoch-start zxid is no txn we could find: DIFF from there.
                    self.packets.append((DIFF, last_committed_zxid, None))
                    self.need_op_packet = False
                elif zxid > peer_last_zxid:
                    # The learner has txns we never had (an old leader's).
                    if epoch_of(zxid) != epoch_of(peer_last_zxid):
                        return queued  # a TRUNC across epochs would break the learner: SNAP
                    self.packets.append((TRUNC, prev, None))
                    self.need_op_packet = False
            if zxid <= queued:
                continue
            self.packets.append((PROPOSAL, zxid, data))
            self.packets.append((COMMIT, zxid, None))
            queued = zxid
        if self.need_op_packet and new_epoch_peer:
            # Our history ends before the learner's epoch start: nothing to send.
            self.packets.append((DIFF, last_committed_zxid, None))
            self.need_op_packet = False
        self.queued_zxid = queued
        return queued


def plan_sync(peer_last_zxid: int, last_processed_zxid: int, committed_log: Sequence[Proposal],
              txn_log: Optional[Iterable[Proposal]] = None, force_snap: bool = False) -> SyncPlan:
    """Decide how to sync a learner whose last zxid is ``peer_last_zxid``.

    ``committed_log`` is the leader's in-memory committed log, oldest first.
    ``txn_log``, when not None, yields the logged txns from the log file
    covering ``peer_last_zxid`` on (it may start earlier; Java's
    ``readTxnLog(zxid, false)``); None means txn-log sync is off or the log
    is too big to send (``snapshotSizeFactor``).
    """
    snap = SyncPlan(True, (), last_processed_zxid)
    if committed_log:
        min_committed, max_committed = committed_log[0][0], committed_log[-1][0]
    else:
        min_committed = max_committed = last_processed_zxid
    if force_snap:
        return snap
    if last_processed_zxid == peer_last_zxid:
        return SyncPlan(False, ((DIFF, peer_last_zxid, None),), peer_last_zxid)
    if peer_last_zxid > max_committed and not is_epoch_start(peer_last_zxid):
        return SyncPlan(False, ((TRUNC, max_committed, None),), max_committed)
    queuer = _Queuer(peer_last_zxid)
    if min_committed <= peer_last_zxid <= max_committed:
        current = queuer.queue(committed_log, peer_last_zxid, None, max_committed)
    elif peer_last_zxid < min_committed and txn_log is not None:
        entries = iter(txn_log)
        first = next(entries, None)
        if first is None or first[0] > peer_last_zxid:
            return snap  # the log on disk does not reach back to the learner
        current = queuer.queue(_chain(first, entries), peer_last_zxid, min_committed, max_committed)
        if current < min_committed:
            return snap  # a gap between the txn log's end and the committed log
        current = queuer.queue(committed_log, current, None, max_committed)
    else:
        return snap
    if queuer.need_op_packet:
        return snap  # Java's "unhandled scenario": fall back to a snapshot
    return SyncPlan(False, tuple(queuer.packets), current)


def _chain(first: Proposal, rest: Iterable[Proposal]) -> Iterable[Proposal]:
    yield first
    yield from rest
