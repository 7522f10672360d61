"""Zab's pure decisions: the sync mode a leader picks for a learner
(ZK_SPEC.md §4.4), quorum ack counting and in-order commits (§4.3), the
learner sync-limit check, and the CommitProcessor's ordering."""

from __future__ import annotations

import socket

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from zkpy.defs import OpCode
from zkpy.jute.archive import JuteError, length_limit
from zkpy.jute.records import Id, QuorumPacket, TxnHeader
from zkpy.quorum.commit_processor import CommitOrdering, needs_commit
from zkpy.quorum.proposal_tracker import AckSet, Proposal, ProposalTracker, SyncLimitCheck
from zkpy.quorum.quorum_packet import (
    ACK, COMMIT, DIFF, PING, PROPOSAL, TRUNC, make_zxid, packet_bytes, parse_buffered_packet, read_quorum_packet,
    take_buffered_acks,
)
from zkpy.quorum.quorum_verifier import QuorumMaj
from zkpy.quorum.quorum_server import QuorumServer
from zkpy.quorum.sync_plan import plan_sync
from zkpy.server.request import Request


def z(epoch, counter):
    return make_zxid(epoch, counter)


def log_of(zxids):
    return [(x, b"txn%x" % x) for x in zxids]


def apply_plan(plan, learner_history):
    """What a learner's log holds after the plan's packets (TRUNC cuts,
    PROPOSAL+COMMIT appends); None for a SNAP."""
    if plan.snap:
        return None
    history = list(learner_history)
    packets = list(plan.packets)
    kind, zxid, _ = packets[0]
    assert kind in (DIFF, TRUNC)
    if kind == TRUNC:
        history = [x for x in history if x <= zxid]
    rest = packets[1:]
    assert len(rest) % 2 == 0
    for (p_kind, p_zxid, data), (c_kind, c_zxid, _) in zip(rest[::2], rest[1::2]):
        assert (p_kind, c_kind) == (PROPOSAL, COMMIT) and p_zxid == c_zxid
        assert data == b"txn%x" % p_zxid
        assert not history or p_zxid > history[-1], "a proposal the learner already has"
        history.append(p_zxid)
    return history


# -- the sync mode (LearnerHandler.syncFollower) ---------------------------------------------

LEADER = [z(1, 1), z(1, 2), z(1, 3), z(2, 1), z(2, 2), z(3, 1), z(3, 2), z(3, 3)]


def test_a_learner_with_everything_gets_an_empty_diff():
    plan = plan_sync(z(3, 3), z(3, 3), log_of(LEADER))
    assert plan.packets == ((DIFF, z(3, 3), None),) and plan.last_zxid == z(3, 3)
    assert plan.mode == "diff"


def test_a_learner_behind_gets_the_missing_txns():
    plan = plan_sync(z(2, 1), z(3, 3), log_of(LEADER))
    assert plan.packets[0] == (DIFF, z(3, 3), None)
    assert [p[1] for p in plan.packets[1::2]] == [z(2, 2), z(3, 1), z(3, 2), z(3, 3)]
    assert plan.last_zxid == z(3, 3)


def test_an_old_leader_ahead_in_our_last_epoch_is_truncated():
    plan = plan_sync(z(3, 7), z(3, 3), log_of(LEADER))
    assert plan.packets == ((TRUNC, z(3, 3), None),) and plan.mode == "trunc"


def test_a_learner_with_txns_we_never_had_inside_our_log_is_truncated_then_diffed():
    # It has (2,3) that we lack; we went on to epoch 3.
    plan = plan_sync(z(2, 3), z(3, 3), log_of(LEADER))
    assert plan.snap  # a TRUNC would cross from epoch 2 into 3: snapshot instead
    leader = [z(2, 1), z(2, 2), z(2, 5), z(2, 6)]  # (2,3) and (2,4) never committed
    plan = plan_sync(z(2, 4), z(2, 6), log_of(leader))
    assert plan.packets[0] == (TRUNC, z(2, 2), None)
    assert apply_plan(plan, [z(2, 1), z(2, 2), z(2, 3), z(2, 4)]) == leader


def test_a_learner_older_than_the_committed_log_uses_the_txn_log_or_a_snapshot():
    committed = log_of(LEADER[4:])
    disk = log_of(LEADER)
    plan = plan_sync(z(1, 2), z(3, 3), committed, txn_log=disk)
    assert apply_plan(plan, LEADER[:2]) == LEADER
    assert plan_sync(z(1, 2), z(3, 3), committed, txn_log=None).snap          # txn-log sync off / too big
    assert plan_sync(z(1, 2), z(3, 3), committed, txn_log=log_of(LEADER[2:])).snap  # log starts too late
    gap = log_of(LEADER[:3])  # ends at (1,3); the committed log starts at (2,2)
    assert plan_sync(z(1, 2), z(3, 3), committed, txn_log=gap).snap


def test_force_snapshot_and_an_empty_learner():
    assert plan_sync(z(3, 3), z(3, 3), log_of(LEADER), force_snap=True).snap
    plan = plan_sync(0, z(3, 3), log_of(LEADER[3:]))
    assert plan.snap and plan.last_zxid == z(3, 3) and plan.packets == ()


def test_an_epoch_start_zxid_is_diffed_from_there():
    # A learner that synced epoch 3 with no txn yet reports (3, 0).
    plan = plan_sync(z(3, 0), z(3, 3), log_of(LEADER))
    assert plan.packets[0] == (DIFF, z(3, 3), None)
    assert apply_plan(plan, LEADER[:5]) == LEADER
    # A leader whose epoch just started and has no txn in it yet.
    plan = plan_sync(z(2, 2), z(4, 0), log_of(LEADER[:5]))
    assert plan.packets == ((DIFF, z(2, 2), None),)


@st.composite
def histories(draw):
    """A leader's history and a learner's: a common prefix, then the learner
    may have an old leader's uncommitted tail at the end of the epoch it
    stopped in (logs are gap-free: only past our last txn of that epoch)."""
    epochs = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    leader = []
    epoch = 0
    for count in epochs:
        epoch += draw(st.integers(1, 2))
        leader += [z(epoch, c) for c in range(1, count + 1)]
    cut = draw(st.integers(0, len(leader)))
    learner = leader[:cut]
    if learner and draw(st.booleans()):
        last = learner[-1]
        e = last >> 32
        top = max(x for x in leader if x >> 32 == e)
        assume(last == top)
        extra = draw(st.integers(1, 3))
        learner += [z(e, (top & 0xFFFFFFFF) + i) for i in range(1, extra + 1)]
    return leader, learner


@settings(max_examples=400, deadline=None)
@given(histories(), st.integers(0, 12), st.integers(0, 12), st.booleans())
def test_any_non_snapshot_plan_leaves_the_learner_with_exactly_the_leaders_history(h, keep, disk_from, epoch_start):
    leader, learner = h
    committed = log_of(leader[len(leader) - min(keep, len(leader)):])
    disk = log_of(leader[min(disk_from, len(leader)):])
    last_processed = leader[-1]
    if epoch_start:
        last_processed = z((leader[-1] >> 32) + 1, 0)  # the leader's new epoch has begun
    peer = learner[-1] if learner else 0
    plan = plan_sync(peer, last_processed, committed, txn_log=disk)
    result = apply_plan(plan, learner)
    if result is not None:
        assert result == leader
        assert plan.last_zxid == leader[-1]  # where forwarding starts
    else:
        assert plan.last_zxid == last_processed


@settings(max_examples=200, deadline=None)
@given(histories())
def test_a_learner_that_has_the_whole_committed_log_is_never_sent_a_snapshot(h):
    leader, learner = h
    assume(learner and learner[-1] in leader)
    plan = plan_sync(learner[-1], leader[-1], log_of(leader))
    assert not plan.snap


# -- ack counting (Leader.processAck / tryToCommit) ----------------------------------------------

def maj(*sids, observers=()):
    servers = {sid: QuorumServer.parse(sid, f"127.0.0.1:{2000 + sid}:{3000 + sid}") for sid in sids}
    for sid in observers:
        servers[sid] = QuorumServer.parse(sid, f"127.0.0.1:{2000 + sid}:{3000 + sid}:observer")
    return QuorumMaj(servers)


def test_a_proposal_commits_with_a_majority_of_voters_only():
    qv = maj(1, 2, 3, observers=(4,))
    tracker = ProposalTracker(z(1, 0))
    tracker.propose(Proposal(z(1, 1), None, "r1", [qv]))
    assert tracker.ack(1, z(1, 1)) == []
    assert tracker.ack(4, z(1, 1)) == []  # an observer's ack counts for nothing
    assert tracker.ack(1, z(1, 1)) == []  # nor does a duplicate
    done = tracker.ack(3, z(1, 1))
    assert [p.request for p in done] == ["r1"] and tracker.last_committed == z(1, 1)
    assert tracker.ack(2, z(1, 1)) == []  # late acks are ignored


def test_commits_happen_in_zxid_order_even_when_acks_do_not():
    qv = maj(1, 2, 3)
    tracker = ProposalTracker(z(1, 0))
    for c in (1, 2, 3):
        tracker.propose(Proposal(z(1, c), None, c, [qv]))
    assert tracker.ack(1, z(1, 3)) == [] and tracker.ack(2, z(1, 3)) == []  # 3 has a quorum, 1 has not
    assert tracker.ack(1, z(1, 2)) == []
    assert [p.request for p in tracker.ack(1, z(1, 1))] == []
    assert [p.request for p in tracker.ack(2, z(1, 1))] == [1]
    assert [p.request for p in tracker.ack(2, z(1, 2))] == [2, 3]
    assert len(tracker) == 0 and tracker.ack(3, 0x100000000) == []


def test_every_verifier_must_have_its_quorum():
    old, new = maj(1, 2, 3), maj(3, 4, 5)
    acks = AckSet([old, new])
    for sid in (1, 2, 3):
        acks.add_ack(sid)
    assert not acks.has_all_quorums()
    acks.add_ack(4)
    assert acks.has_all_quorums() and acks.acked_sids() == {1, 2, 3, 4}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 8)), max_size=60))
def test_committed_zxids_are_always_a_prefix_in_order(acks):
    qv = maj(1, 2, 3, 4, 5)
    tracker = ProposalTracker(z(1, 0))
    for c in range(1, 9):
        tracker.propose(Proposal(z(1, c), None, c, [qv]))
    committed = []
    acked = {c: set() for c in range(1, 9)}
    for sid, c in acks:
        acked[c].add(sid)
        committed += [p.request for p in tracker.ack(sid, z(1, c))]
    assert committed == list(range(1, len(committed) + 1))
    # A proposal is committed exactly when it and every earlier one had 3 acks.
    expected = 0
    while expected < 8 and len(acked[expected + 1]) >= 3:
        expected += 1
    assert len(committed) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.lists(st.integers(0, 9), max_size=6)), max_size=25))
def test_acks_counted_in_a_batch_commit_as_acks_counted_one_by_one(batches):
    # One read can bring a follower's ACKs together (and a group commit the
    # leader's own): counting them at once must commit the same proposals,
    # in the same order, at the same point as counting them singly.
    qv = maj(1, 2, 3, 4, 5)
    singly, batched = ProposalTracker(z(1, 0)), ProposalTracker(z(1, 0))
    for tracker in (singly, batched):
        for c in range(1, 9):
            tracker.propose(Proposal(z(1, c), None, c, [qv]))
    for sid, counters in batches:
        zxids = [z(1, c) for c in counters]  # counter 0: an epoch start, 9: unknown
        one_by_one = [p.request for x in zxids for p in singly.ack(sid, x)]
        assert [p.request for p in batched.ack_all(sid, zxids)] == one_by_one
        assert batched.last_committed == singly.last_committed


def test_sync_limit_check():
    check = SyncLimitCheck(1000)
    check.update_proposal(5, 0)  # not started: ignored
    assert check.check(10_000)
    check.start()
    check.update_proposal(6, 100)
    check.update_proposal(7, 900)
    assert check.check(1050)
    assert not check.check(1100)
    check.update_ack(6)
    assert check.check(1850) and not check.check(1900)
    check.update_ack(7)
    assert check.check(99_999)


# -- CommitProcessor ordering -----------------------------------------------------------------

def req(session, cxid, op):
    return Request(object(), session, cxid, op, b"")


def committed_copy(request):
    other = Request(None, request.session_id, request.cxid, request.type, None)
    other.hdr = TxnHeader(request.session_id, request.cxid, 0x100000000 | request.cxid, 0, request.type)
    other.zxid = other.hdr.zxid
    return other


def test_reads_wait_behind_their_sessions_write_only():
    order = CommitOrdering(match_syncs=True)
    w1 = req(1, 1, OpCode.create)
    r1 = req(1, 2, OpCode.getData)
    r2 = req(2, 1, OpCode.getData)
    w2 = req(1, 3, OpCode.setData)
    r3 = req(1, 4, OpCode.exists)
    assert order.submit(w1) == [] and order.submit(r1) == []
    assert order.submit(r2) == [r2]  # another session is not held up
    assert order.submit(w2) == [] and order.submit(r3) == []
    c1 = committed_copy(w1)
    ready = order.commit(c1)
    assert ready == [w1, r1] and w1.hdr is c1.hdr  # the waiting request takes the txn
    assert order.commit(committed_copy(w2)) == [w2, r3]
    assert order.pending == {}


def test_a_commit_of_another_server_goes_on_alone():
    order = CommitOrdering(match_syncs=True)
    w = req(1, 5, OpCode.delete)
    order.submit(w)
    foreign = committed_copy(req(1, 0, OpCode.closeSession))  # the leader expired the session
    assert order.commit(foreign) == [foreign]
    other = committed_copy(req(9, 1, OpCode.create))
    assert order.commit(other) == [other]
    assert order.commit(committed_copy(w)) == [w]


def test_leader_commits_are_the_very_requests_and_syncs_need_no_commit():
    order = CommitOrdering(match_syncs=False)
    w = req(1, 1, OpCode.create)
    s = req(1, 2, OpCode.sync)
    assert order.submit(w) == [] and order.submit(s) == []
    assert order.commit(w) == [w, s]
    assert order.submit(req(1, 3, OpCode.sync))[0].cxid == 3


def test_local_sessions_need_no_commit():
    local = req(1, 0, OpCode.createSession)
    local.is_local_session = True
    assert not needs_commit(local, True)
    assert needs_commit(req(1, 0, OpCode.createSession), True)
    assert needs_commit(req(1, 0, OpCode.sync), True) and not needs_commit(req(1, 0, OpCode.sync), False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.booleans()), max_size=40), st.randoms())
def test_each_session_sees_its_requests_in_order_whatever_the_commit_timing(ops, rnd):
    order = CommitOrdering(match_syncs=True)
    out = []
    writes = []
    cxids = {1: 0, 2: 0, 3: 0}
    events = []
    for session, is_write in ops:
        cxids[session] += 1
        r = req(session, cxids[session], OpCode.setData if is_write else OpCode.getData)
        events.append(("submit", r))
        if is_write:
            writes.append(r)
    # Commits arrive in write order, interleaved at random with later submits.
    commit_at = sorted(rnd.randint(i, len(events)) for i in range(len(writes)))
    timeline = []
    w = 0
    for i, event in enumerate(events):
        while w < len(writes) and commit_at[w] <= i and writes[w] in [e[1] for e in timeline]:
            timeline.append(("commit", writes[w]))
            w += 1
        timeline.append(event)
    timeline += [("commit", x) for x in writes[w:]]
    for kind, r in timeline:
        out += order.submit(r) if kind == "submit" else order.commit(r)
    assert sorted(map(id, out)) == sorted(id(e[1]) for e in events)
    for session in (1, 2, 3):
        seen = [r.cxid for r in out if r.session_id == session]
        assert seen == sorted(seen)


# -- packet bytes a learner sends (ZK_SPEC.md §4.3 table, §8) ----------------------------------

class _Sock:
    def __init__(self):
        self.sent = b""

    def sendall(self, data):
        self.sent += bytes(data)


class _Zk:
    def __init__(self, touches):
        self.touches = touches
        self.finished = []

    def touch_snapshot(self):
        return self.touches

    def finish_session_init(self, cnxn, valid):
        self.finished.append((cnxn, valid))


def learner_with(zk):
    from zkpy.quorum.learner import Learner

    learner = Learner(None, zk)
    learner.sock = _Sock()
    return learner


def test_learner_packets_are_javas_bytes():
    from zkpy.jute.records import Id, QuorumPacket
    from zkpy.quorum.quorum_packet import PING, REVALIDATE

    learner = learner_with(_Zk({0x0100000000000001: 4000}))
    learner.ack(0x100000000)
    assert learner.sock.sent == bytes.fromhex("00000003" "0000000100000000" "ffffffff" "ffffffff")
    learner.sock.sent = b""
    learner.ping(QuorumPacket(PING, 0x100000005, None, None))
    assert learner.sock.sent == bytes.fromhex(
        "00000005" "0000000100000005" "0000000c" "0100000000000001" "00000fa0" "ffffffff")
    learner.sock.sent = b""
    request = Request(None, 0x0100000000000001, 7, OpCode.create, b"BODY", auth_info=[Id("ip", "1.2.3.4")])
    learner.request(request)
    assert learner.sock.sent == bytes.fromhex(
        "00000001" "ffffffffffffffff" "00000014" "0100000000000001" "00000007" "00000001") + b"BODY" + \
        bytes.fromhex("00000001" "00000002") + b"ip" + bytes.fromhex("00000007") + b"1.2.3.4"
    learner.sock.sent = b""
    learner.validate_session("cnxn", 0x0100000000000001, 4000)
    assert learner.sock.sent == bytes.fromhex(
        "00000006" "ffffffffffffffff" "0000000c" "0100000000000001" "00000fa0" "ffffffff")
    # The leader's answer: long session id, boolean valid.
    learner.revalidate(QuorumPacket(REVALIDATE, -1, bytes.fromhex("0100000000000001" "01"), None))
    assert learner.zk.finished == [("cnxn", True)]


@given(st.integers(1, 19), st.integers(-(1 << 63), (1 << 63) - 1), st.none() | st.binary(max_size=64),
       st.none() | st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=3))
def test_packet_bytes_are_the_jute_records_bytes(packet_type, zxid, data, auth):
    authinfo = None if auth is None else [Id(scheme, ident) for scheme, ident in auth]
    packet = QuorumPacket(packet_type, zxid, data, authinfo)
    wire = packet_bytes(packet)
    assert wire == packet.to_bytes()
    pos = 0

    def read_exact(n):
        nonlocal pos
        pos += n
        return wire[pos - n:pos]

    assert read_quorum_packet(read_exact) == packet and pos == len(wire)


@pytest.mark.parametrize("size", [0, 1 << 16, (1 << 16) + 1, 300_000])
def test_read_quorum_packet_around_the_one_read_limit(size):
    packet = QuorumPacket(PROPOSAL, 7, bytes(range(256)) * (size // 256) + b"x" * (size % 256),
                          [Id("digest", "u:p")])
    wire = packet_bytes(packet)
    reads = []
    pos = 0

    def read_exact(n):
        nonlocal pos
        reads.append(n)
        pos += n
        return wire[pos - n:pos]

    assert read_quorum_packet(read_exact) == packet and pos == len(wire)
    # Data and count in one read up to the limit; above it, no second copy of the data.
    assert reads[1] == (size + 4 if size <= 1 << 16 else size)


def test_a_leader_takes_the_buffered_acks_of_a_follower_in_one_go():
    # A real socket and the buffered reader a LearnerHandler reads with: the
    # plain ACKs at the head come off together, the PING after them stays
    # for the packet-by-packet reader, and half an ACK is left until whole.
    leader_side, follower_side = socket.socketpair()
    try:
        reader = leader_side.makefile("rb")
        acks = [QuorumPacket(ACK, z(1, c), None, None) for c in (1, 2, 3)]
        ping = QuorumPacket(PING, z(1, 3), None, None)
        follower_side.sendall(b"".join(packet_bytes(p) for p in acks) + packet_bytes(ping))
        assert take_buffered_acks(reader) == [z(1, 1), z(1, 2), z(1, 3)]
        assert take_buffered_acks(reader) == []  # the PING is next
        assert read_quorum_packet(reader.read) == ping
        # An ACK carrying data or auth info is not a plain one: read it whole.
        odd = QuorumPacket(ACK, z(1, 4), b"\x00", None)
        follower_side.sendall(packet_bytes(odd))
        assert take_buffered_acks(reader) == []
        assert read_quorum_packet(reader.read) == odd
        wire = packet_bytes(QuorumPacket(ACK, z(1, 5), None, None))
        follower_side.sendall(wire[:7])
        assert take_buffered_acks(reader) == []  # only 7 of its 20 bytes are here
        follower_side.sendall(wire[7:])
        assert read_quorum_packet(reader.read).zxid == z(1, 5)
        follower_side.close()
        assert take_buffered_acks(reader) == []  # the end of the stream
    finally:
        leader_side.close()
        follower_side.close()


@given(st.integers(1, 19), st.integers(-(1 << 63), (1 << 63) - 1), st.none() | st.binary(max_size=64),
       st.booleans(), st.binary(max_size=30))
def test_a_learner_parses_a_whole_buffered_packet_in_place(packet_type, zxid, data, with_auth, rest):
    packet = QuorumPacket(packet_type, zxid, data, [Id("digest", "u:p")] if with_auth else None)
    wire = packet_bytes(packet)
    parsed = parse_buffered_packet(bytearray(wire + rest))
    if with_auth:
        assert parsed is None  # auth info: the piece-by-piece reader
    else:
        assert parsed == (packet, len(wire))
    for cut in range(len(wire)):
        assert parse_buffered_packet(bytearray(wire[:cut])) is None  # not whole yet


def test_a_bad_length_in_a_buffered_packet_is_left_to_the_reader_that_refuses_it():
    wire = bytearray(packet_bytes(QuorumPacket(PROPOSAL, 1, b"x" * 8, None)))
    wire[12:16] = (0x7FFFFFFF).to_bytes(4, "big")
    assert parse_buffered_packet(wire, limit=length_limit(1024)) is None
    with pytest.raises(JuteError, match="Unreasonable length"):
        read_quorum_packet(lambda n, _w=iter([bytes(wire[:16])]): next(_w), max_buffer=1024)


# -- what the leader queues for each learner (Leader.propose/send_proposals/process_acks) --------

class _Wire:
    """A LearnerHandler's queue, recorded as the packets it would send."""

    is_participant = True

    def __init__(self):
        self.data = bytearray()

    def queue_wire(self, wire, proposed=()):
        self.data += wire

    def queue_packet(self, packet):
        self.data += packet_bytes(packet)

    def packets(self):
        out, buf = [], bytearray(self.data)
        while buf:
            packet, size = parse_buffered_packet(buf)
            out.append((packet.type, packet.zxid & 0xFFFFFFFF))
            del buf[:size]
        return out


def _bare_leader(qv):
    """A Leader with its broadcast bookkeeping only (no peer sockets)."""
    import collections
    import threading
    import types

    from zkpy.quorum.leader import Leader, ProposalStats

    leader = object.__new__(Leader)
    leader.peer = types.SimpleNamespace(verifiers=lambda: [qv])
    committed = []
    leader.zk = types.SimpleNamespace(commit_processor=types.SimpleNamespace(commit=committed.append,
                                                                         commit_all=committed.extend,
                                                                         run_commits=lambda: None))
    leader.zab_lock = threading.RLock()
    leader.proposals = ProposalTracker()
    leader.to_be_applied = collections.deque()
    leader._forwarding, leader._observing, leader._unsent = [], [], []
    leader.pending_syncs = {}
    leader.last_proposed = 0
    leader.allowed_to_commit = True
    leader.proposal_stats = ProposalStats()
    return leader, committed


def _txn_request(counter):
    request = Request(None, 1, counter, OpCode.setData, b"")
    request.hdr = TxnHeader(1, counter, z(1, counter), 0, OpCode.setData)
    request.txn_bytes = b"txn%d" % counter
    return request


def test_a_learner_joining_between_a_proposal_and_its_send_gets_it_once():
    leader, _ = _bare_leader(maj(1, 2, 3))
    old, new = _Wire(), _Wire()
    leader._forwarding.append(old)
    leader.propose(_txn_request(1))
    leader.propose(_txn_request(2))  # proposed, not yet sent to anyone
    leader.start_forwarding(new, z(1, 0))
    leader.propose(_txn_request(3))
    leader.send_proposals()
    assert old.packets() == [(PROPOSAL, 1), (PROPOSAL, 2), (PROPOSAL, 3)]
    assert new.packets() == [(PROPOSAL, 1), (PROPOSAL, 2), (PROPOSAL, 3)]


def test_commits_go_out_in_order_after_their_proposals_and_before_a_waiting_sync():
    from zkpy.quorum.quorum_processors import LearnerSyncRequest
    from zkpy.quorum.quorum_packet import SYNC

    leader, committed = _bare_leader(maj(1, 2, 3))
    follower = _Wire()
    leader._forwarding.append(follower)
    for c in (1, 2, 3):
        leader.propose(_txn_request(c))
    leader.send_proposals()
    leader.process_sync(LearnerSyncRequest(follower, 7, 1, b"", []))  # waits for zxid 3
    leader.process_acks(1, [z(1, 1), z(1, 2), z(1, 3)])
    assert committed == []  # one ack of three
    leader.process_acks(2, [z(1, 1), z(1, 2), z(1, 3)])
    assert [r.cxid for r in committed] == [1, 2, 3]
    assert follower.packets() == [(PROPOSAL, 1), (PROPOSAL, 2), (PROPOSAL, 3),
                                  (COMMIT, 1), (COMMIT, 2), (COMMIT, 3), (SYNC, 0)]


def test_a_proposal_the_leader_alone_commits_reaches_a_follower_before_its_commit():
    # A leader that is a quorum by itself (its follower has no vote) commits
    # on its own ack, which can come before Prep's batch ends and sends.
    leader, committed = _bare_leader(maj(1))
    follower = _Wire()
    leader._forwarding.append(follower)
    leader.propose(_txn_request(1))
    leader.process_acks(1, [z(1, 1)])
    assert [r.cxid for r in committed] == [1]
    leader.send_proposals()
    assert follower.packets() == [(PROPOSAL, 1), (COMMIT, 1)]
