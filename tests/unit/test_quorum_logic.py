"""Pure election logic: members, verifiers, votes, notification and
handshake bytes (ZK_SPEC.md §4.1-4.2)."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpy.quorum.initial_message import (
    PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2, InitialMessage, InitialMessageError, build_initial_message,
    parse_initial_message,
)
from zkpy.quorum.notification import NotificationError, build_msg, parse_notification
from zkpy.quorum.quorum_server import LearnerType, QuorumServer
from zkpy.quorum.quorum_verifier import QuorumHierarchical, QuorumMaj, parse_config_text, verifier_from_config
from zkpy.quorum.vote import ServerState, Vote, check_leader, term_predicate, total_order_predicate
from zkpy.server.config import ConfigException


# -- QuorumServer ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:2888:3888", "127.0.0.1:2888:3888:participant"),
    ("h1:2888:3888:observer", "h1:2888:3888:observer"),
    ("h1:2888:3888:PARTICIPANT;2181", "h1:2888:3888:participant;0.0.0.0:2181"),
    ("h1:2888:3888;10.0.0.1:2181", "h1:2888:3888:participant;10.0.0.1:2181"),
    ("[::1]:2888:3888:participant;[::1]:2181", "[::1]:2888:3888:participant;[::1]:2181"),
])
def test_server_line_round_trip(text, expected):
    server = QuorumServer.parse(1, text)
    assert str(server) == expected
    assert QuorumServer.parse(1, str(server)) == server


def test_server_line_fields():
    server = QuorumServer.parse(7, "zk7:2888:3888:observer;zk7:2181")
    assert server.id == 7
    assert server.addr == ("zk7", 2888)
    assert server.election_addr == ("zk7", 3888)
    assert server.type is LearnerType.OBSERVER
    assert server.client_addr == ("zk7", 2181)
    # A client port from clientPort= is not part of the config string.
    assert str(server.with_static_client(("0.0.0.0", 2181))) == "zk7:2888:3888:observer"


@pytest.mark.parametrize("text, message", [
    ("h1:2888", "does not have the form"),
    ("h1:2888:3888:voter", "Unrecognised peertype"),
    ("h1:2888:2888", "must be different"),
    ("h1:x:3888", "not a number"),
    ("h1:2888:3888;a;b", "server_config"),
    ("h1:2888:3888|h2:2888:3888", "Multiple address feature is disabled"),
    ("[::1:2888:3888", "no matching"),
])
def test_bad_server_lines(text, message):
    with pytest.raises(ConfigException, match=message):
        QuorumServer.parse(1, text)


def test_multi_address_sorted_as_java():
    server = QuorumServer.parse(1, "b:1:2|a:3:4", multi_address_enabled=True)
    assert str(server) == "a:3:4|b:1:2:participant"


# -- verifiers -----------------------------------------------------------------------------

def members(voters, observers=()):
    lines = {sid: f"127.0.0.1:{10000 + sid}:{20000 + sid}" for sid in voters}
    lines.update({sid: f"127.0.0.1:{10000 + sid}:{20000 + sid}:observer" for sid in observers})
    return {sid: QuorumServer.parse(sid, text) for sid, text in lines.items()}


def test_majority():
    qv = QuorumMaj(members([1, 2, 3, 4, 5], observers=[6, 7]))
    assert qv.contains_quorum({1, 2, 3})
    assert not qv.contains_quorum({1, 2})
    assert not qv.contains_quorum({1, 2, 6, 7})  # observers never count
    assert not qv.contains_quorum({1, 2, 99})    # nor do strangers
    even = QuorumMaj(members([1, 2, 3, 4]))
    assert not even.contains_quorum({1, 2})
    assert even.contains_quorum({1, 2, 3})


def test_no_voters_never_has_a_quorum():
    assert not QuorumMaj({}).contains_quorum(set())
    assert not QuorumMaj(members([], observers=[1])).contains_quorum({1})


def test_majority_config_text_is_javas():
    qv = QuorumMaj(members([2, 1], observers=[3]), version=0x100000000)
    assert str(qv) == ("server.1=127.0.0.1:10001:20001:participant\n"
                       "server.2=127.0.0.1:10002:20002:participant\n"
                       "server.3=127.0.0.1:10003:20003:observer\n"
                       "version=100000000")
    back = parse_config_text(str(qv))
    assert isinstance(back, QuorumMaj) and str(back) == str(qv) and back.version == qv.version


def hierarchical(weights=None):
    servers = {sid: f"127.0.0.1:{10000 + sid}:{20000 + sid}" for sid in range(1, 10)}
    groups = {1: "1:2:3", 2: "4:5:6", 3: "7:8:9"}
    return verifier_from_config(servers, groups, weights or {})


def test_hierarchical_needs_majorities_of_a_majority_of_groups():
    # The ZooKeeper manual's example: two servers from each of two groups.
    qv = hierarchical()
    assert isinstance(qv, QuorumHierarchical)
    assert qv.contains_quorum({1, 2, 4, 5})
    assert not qv.contains_quorum({1, 2, 3, 4})
    assert not qv.contains_quorum({1, 4, 7})
    assert not qv.contains_quorum(set())


def test_hierarchical_zero_weight_groups_are_discarded():
    qv = hierarchical({7: "0", 8: "0", 9: "0"})
    assert qv.num_groups == 2
    assert qv.get_weight(7) == 0
    assert qv.contains_quorum({1, 2, 4, 5})
    assert not qv.contains_quorum({1, 2, 7, 8, 9})
    back = parse_config_text(str(qv))
    assert str(back) == str(qv)


def test_hierarchical_rejects_voters_without_a_group():
    servers = {1: "h:1:2", 2: "h:3:4"}
    with pytest.raises(ConfigException, match="is not in a group"):
        verifier_from_config(servers, {1: "1"}, {})
    with pytest.raises(ConfigException, match="multiple groups"):
        verifier_from_config(servers, {1: "1:2", 2: "2"}, {})


# -- votes ---------------------------------------------------------------------------------

def test_total_order_epoch_then_zxid_then_sid():
    one = lambda sid: 1  # noqa: E731
    assert total_order_predicate(1, 0, 2, 3, 100, 1, one)       # epoch first
    assert total_order_predicate(1, 101, 1, 3, 100, 1, one)     # then zxid
    assert total_order_predicate(3, 100, 1, 1, 100, 1, one)     # then sid
    assert not total_order_predicate(1, 100, 1, 1, 100, 1, one)  # not strictly better
    zero = lambda sid: 0 if sid == 9 else 1  # noqa: E731
    assert not total_order_predicate(9, 10**9, 10**9, 1, 0, 0, zero)


votes_st = st.tuples(st.integers(1, 7), st.integers(-1, 5), st.integers(0, 3))  # (sid, zxid, epoch)


@given(st.lists(votes_st, min_size=3, max_size=3, unique_by=lambda v: v[0]))
def test_total_order_is_a_strict_total_order(triple):
    one = lambda sid: 1  # noqa: E731

    def beats(a, b):
        return total_order_predicate(a[0], a[1], a[2], b[0], b[1], b[2], one)

    for a in triple:
        assert not beats(a, a)
    for a, b in itertools.permutations(triple, 2):
        assert beats(a, b) != beats(b, a)  # total and asymmetric (distinct sids)
    for a, b, c in itertools.permutations(triple, 3):
        if beats(a, b) and beats(b, c):
            assert beats(a, c)


def test_vote_matching_as_java():
    looking = Vote(3, 0x100000005, 2, 1)
    assert looking.matches(Vote(3, 0x100000005, 2, 1, ServerState.FOLLOWING))
    assert not looking.matches(Vote(3, 0x100000005, 1, 1))
    settled = Vote(3, 5, 2, 1, ServerState.LEADING)
    assert settled.matches(Vote(3, 9, 7, 1, ServerState.FOLLOWING))     # only id + peer epoch
    assert not settled.matches(Vote(3, 5, 2, 2, ServerState.FOLLOWING))
    assert settled.matches(Vote(3, 5, 2, 2, ServerState.FOLLOWING, version=0))  # pre-version peer


proposal = Vote(5, 10, 1, 1)
vote_options = st.sampled_from([proposal, Vote(4, 10, 1, 1), Vote(5, 9, 1, 1), Vote(5, 10, 2, 1)])


@settings(max_examples=300)
@given(st.dictionaries(st.integers(1, 9), vote_options, max_size=9),
       st.sets(st.integers(1, 9), max_size=9), st.sets(st.integers(1, 9), max_size=9))
def test_term_predicate_means_a_quorum_of_every_verifier(votes, current, nxt):
    verifiers = [QuorumMaj(members(sorted(current))), QuorumMaj(members(sorted(nxt)))]
    agreeing = {sid for sid, v in votes.items() if v == proposal}
    result = term_predicate(votes, proposal, verifiers)
    for qv in verifiers:
        majority = len(qv.voting_members) // 2 + 1
        if result:
            assert len(agreeing & set(qv.voting_members)) >= majority
    expected = all(len(agreeing & set(qv.voting_members)) >= len(qv.voting_members) // 2 + 1
                   and qv.voting_members for qv in verifiers)
    assert result == bool(expected)


@st.composite
def hierarchical_configs(draw):
    """(voters, group of each voter, weight of each voter) for 1-7 voters in 1-3 groups."""
    n = draw(st.integers(1, 7))
    group_of = {sid: draw(st.integers(1, 3)) for sid in range(1, n + 1)}
    weight_of = {sid: draw(st.integers(0, 3)) for sid in range(1, n + 1)}
    return group_of, weight_of


def make_hierarchical(group_of, weight_of):
    groups: dict[int, list[int]] = {}
    for sid, gid in sorted(group_of.items()):
        groups.setdefault(gid, []).append(sid)
    return QuorumHierarchical(members(sorted(group_of)), groups, weight_of)


def hierarchical_oracle(group_of, weight_of, sids):
    """The ZooKeeper manual's rule, counted afresh: more than half of the
    weight in more than half of the groups that weigh anything."""
    group_weight: dict[int, int] = {}
    for sid, gid in group_of.items():
        group_weight[gid] = group_weight.get(gid, 0) + weight_of[sid]
    live = [gid for gid, w in group_weight.items() if w > 0]
    won = [gid for gid in live
           if 2 * sum(weight_of[s] for s in sids if group_of.get(s) == gid) > group_weight[gid]]
    return 2 * len(won) > len(live)


@settings(max_examples=200)
@given(hierarchical_configs(), st.data())
def test_hierarchical_quorums_follow_the_manual_and_always_intersect(config, data):
    group_of, weight_of = config
    qv = make_hierarchical(group_of, weight_of)
    voters = sorted(group_of)
    subsets = [frozenset(s for i, s in enumerate(voters) if mask >> i & 1) for mask in range(1 << len(voters))]
    quorums = [s for s in subsets if qv.contains_quorum(s)]
    assert quorums == [s for s in subsets if hierarchical_oracle(group_of, weight_of, s)]
    # Two quorums share a voter that weighs something: two leaders can never both win.
    for a, b in itertools.combinations(quorums, 2):
        assert any(weight_of[s] > 0 for s in a & b), (a, b)
    # And term_predicate over a majority and a hierarchical verifier at once
    # holds exactly when the agreeing voters are a quorum of both.
    agreeing = data.draw(st.sampled_from(subsets))
    other = data.draw(st.lists(st.sampled_from(voters), unique=True)) if voters else []
    votes = {sid: proposal if sid in agreeing else Vote(4, 10, 1, 1) for sid in voters}
    maj = QuorumMaj(members(other))
    expected = hierarchical_oracle(group_of, weight_of, agreeing) and 2 * len(agreeing & set(other)) > len(other)
    assert term_predicate(votes, proposal, [maj, qv]) == expected


def test_term_predicate_is_a_majority_not_everyone():
    qv = QuorumMaj(members([1, 2, 3]))
    votes = {1: proposal, 2: proposal, 3: Vote(3, 10, 1, 1)}
    assert term_predicate(votes, proposal, [qv])
    assert not term_predicate({1: proposal}, proposal, [qv])


def test_check_leader():
    votes = {2: Vote(2, 0, 1, 1, ServerState.LEADING), 3: Vote(2, 0, 1, 1, ServerState.FOLLOWING)}
    assert check_leader(votes, 2, 1, my_id=1, logical_clock=1)
    assert not check_leader({3: votes[3]}, 2, 1, my_id=1, logical_clock=1)    # leader unheard of
    assert not check_leader({2: Vote(2, 0, 1, 1, ServerState.FOLLOWING)}, 2, 1, 1, 1)
    assert check_leader({}, 1, 4, my_id=1, logical_clock=4)                  # ourselves, same round
    assert not check_leader({}, 1, 3, my_id=1, logical_clock=4)


# -- notification bytes ----------------------------------------------------------------------

def test_notification_layout():
    config = b"server.1=127.0.0.1:1:2:participant\nversion=0"
    data = build_msg(ServerState.FOLLOWING, 2, 0x100000003, 1, 1, config)
    assert len(data) == 44 + len(config)
    assert data[:44] == struct.pack(">iqqqqii", 1, 2, 0x100000003, 1, 1, 2, len(config))
    n = parse_notification(2, data)
    assert (n.sid, n.state, n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.version) == \
        (2, ServerState.FOLLOWING, 2, 0x100000003, 1, 1, 2)
    assert n.config == config.decode()


def test_old_notification_formats():
    n28 = parse_notification(4, struct.pack(">iqqq", 0, 4, 0x300000001, 7))
    assert n28.peer_epoch == 3 and n28.version == 0 and n28.config is None
    n40 = parse_notification(4, struct.pack(">iqqqq", 0, 4, 5, 7, 2) + b"\0\0\0\1")
    assert n40.peer_epoch == 2 and n40.version == 0   # 40 bytes: no version read
    v1 = parse_notification(4, struct.pack(">iqqqqii", 0, 4, 5, 7, 2, 1, 99))  # v1: no config
    assert v1.version == 1 and v1.config is None


@pytest.mark.parametrize("data", [
    b"\0" * 27,
    struct.pack(">iqqqqii", 0, 1, 0, 1, 0, 2, 1000),          # config longer than the message
    struct.pack(">iqqqqii", 0, 1, 0, 1, 0, 2, -1),
    struct.pack(">iqqqq", 0, 1, 0, 1, 0)[:36],                 # version cut short
])
def test_malformed_notifications_are_refused(data):
    with pytest.raises(NotificationError):
        parse_notification(1, data)


def test_unknown_state_ordinal_has_no_state():
    assert parse_notification(1, build_msg(9, 1, 0, 1, 0, b"")).state is None


@given(st.integers(0, 3), st.integers(-2**63, 2**63 - 1), st.integers(-2**63, 2**63 - 1),
       st.integers(0, 2**40), st.integers(-1, 2**31), st.text(max_size=200))
def test_notification_round_trip(state, leader, zxid, epoch, peer_epoch, config):
    raw = config.encode()
    n = parse_notification(1, build_msg(state, leader, zxid, epoch, peer_epoch, raw))
    assert (n.state_ordinal, n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.config) == \
        (state, leader, zxid, epoch, peer_epoch, config)


# -- connection header -------------------------------------------------------------------------

def test_initial_message_bytes():
    data = build_initial_message(3, [("127.0.0.1", 3888)])
    assert data == struct.pack(">qqi", PROTOCOL_VERSION_V1, 3, 14) + b"127.0.0.1:3888"
    assert parse_initial_message(data) == InitialMessage(3, (("127.0.0.1", 3888),))
    v2 = build_initial_message(3, [("a", 1), ("::1", 2)], multi_address=True)
    assert v2[:8] == struct.pack(">q", PROTOCOL_VERSION_V2)
    assert parse_initial_message(v2).addresses == (("a", 1), ("::1", 2))


def test_pre_35_header_is_a_bare_sid():
    assert parse_initial_message(struct.pack(">q", 5)) == InitialMessage(5)


@pytest.mark.parametrize("data, message", [
    (struct.pack(">qqi", -7, 1, 4) + b"a:12", "unrecognized protocol version"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 0), "Unreasonable buffer length"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 2049), "Unreasonable buffer length"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 3) + b"a:b", "Bad port number"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 5) + b"a:1:2", "Badly formed address"),
    (struct.pack(">qqi", PROTOCOL_VERSION_V1, 1, 9) + b"a:1", "Read only"),
])
def test_bad_headers(data, message):
    with pytest.raises(InitialMessageError, match=message):
        parse_initial_message(data)


# -- the LOOKING state machine (ElectionState) -------------------------------------------------

from zkpy.quorum.election_state import LONG_MIN, ElectionState, Proposal  # noqa: E402
from zkpy.quorum.notification import Notification  # noqa: E402

LOOKING, FOLLOWING, LEADING, OBSERVING = (ServerState.LOOKING, ServerState.FOLLOWING, ServerState.LEADING,
                                          ServerState.OBSERVING)


def note(sid, leader, zxid=0, round_=1, peer_epoch=0, state=LOOKING, version=2):
    return Notification(sid, int(state), leader, zxid, round_, peer_epoch, version)


def fresh(my_id=1, voters=(1, 2, 3), observers=(), zxid=0, epoch=0, clock=0):
    es = ElectionState(my_id, clock)
    qv = QuorumMaj(members(voters, observers))
    participant = my_id not in observers
    init = ElectionState.initial_proposal(my_id, participant, my_id in voters, zxid, epoch)
    es.new_round(init, [qv], participant)
    return es


def test_new_round_increments_the_clock_and_proposes_ourselves():
    es = fresh(my_id=2, zxid=5, epoch=1, clock=7)
    assert es.logical_clock == 8
    assert es.proposal == Proposal(2, 5, 1)
    assert es.recvset == {} and es.outofelection == {}


def test_a_non_voter_proposes_nobody():
    assert ElectionState.initial_proposal(4, False, False, 9, 9) == Proposal(LONG_MIN, LONG_MIN, LONG_MIN)
    assert ElectionState.initial_proposal(4, True, True, 9, 2) == Proposal(4, 9, 2)


def test_a_better_vote_in_our_round_is_adopted_and_broadcast():
    es = fresh(my_id=1)
    step = es.receive(note(3, 3))
    assert step.broadcast and not step.finalize
    assert es.proposal == Proposal(3, 0, 0)
    step = es.receive(note(2, 2))           # worse than 3: counted, nothing to send
    assert not step.broadcast and es.recvset[2].id == 2


def test_quorum_for_our_proposal_asks_for_the_finalize_wait():
    es = fresh(my_id=1)
    es.receive(note(3, 3))
    step = es.receive(note(1, 3))           # our own notification, looped back
    assert step.finalize                    # {1, 3} of 3 vote for 3
    assert es.supersedes(note(2, 2, zxid=1))      # a higher zxid beats sid 3
    assert not es.supersedes(note(2, 2))
    decision = es.decide()
    assert decision.state == FOLLOWING and decision.vote.id == 3 and decision.vote.election_epoch == 1


def test_the_leader_decides_leading():
    es = fresh(my_id=3)
    es.receive(note(3, 3))
    assert es.receive(note(1, 3)).finalize
    assert es.decide().state == LEADING


def test_a_newer_round_resets_the_votes_and_takes_the_better_of_it_and_us():
    es = fresh(my_id=2, zxid=4)
    es.receive(note(1, 1, zxid=0))
    step = es.receive(note(3, 1, zxid=0, round_=5))   # sid 3 is in round 5, voting for 1
    assert step.broadcast
    assert es.logical_clock == 5
    assert es.proposal == Proposal(2, 4, 0)           # our zxid 4 beats 1's zxid 0
    assert set(es.recvset) == {3}


def test_older_rounds_and_minus_one_zxids_are_ignored():
    es = fresh(my_id=1, clock=4)
    assert es.receive(note(2, 2, round_=3)).ignored
    assert es.receive(note(2, 2, zxid=-1, round_=5)).ignored
    assert es.logical_clock == 5 and es.recvset == {}
    minus = fresh(my_id=1, zxid=-1)
    assert "our zxid is -1" in minus.receive(note(2, 2)).ignored


def test_non_members_and_observers_do_not_count():
    es = fresh(my_id=1, voters=(1, 2, 3), observers=(4,))
    assert es.receive(note(9, 2)).warn                        # unknown sender
    assert es.receive(note(2, 4)).warn                        # proposes an observer
    assert es.receive(note(4, 3, state=OBSERVING)).ignored    # an observer speaking
    assert es.receive(note(2, 2, state=OBSERVING)).ignored
    assert es.recvset == {}


def test_a_zero_weight_server_is_never_adopted():
    servers = {sid: f"127.0.0.1:{10000 + sid}:{20000 + sid}" for sid in (1, 2, 3)}
    qv = verifier_from_config(servers, {1: "1:2:3"}, {3: "0"})
    es = ElectionState(1)
    es.new_round(Proposal(1, 0, 0), [qv])
    step = es.receive(note(3, 3, zxid=100))
    assert not step.broadcast and es.proposal.leader == 1


def test_settled_votes_of_our_round_need_the_leader_to_say_it_leads():
    es = fresh(my_id=1)
    assert es.receive(note(3, 2, state=FOLLOWING, peer_epoch=1)).decision is None
    step = es.receive(note(2, 2, state=LEADING, peer_epoch=1))
    assert step.decision is not None
    assert step.decision.state == FOLLOWING and step.decision.vote.id == 2


def test_a_late_joiner_adopts_an_established_leader_from_another_round():
    es = fresh(my_id=3, zxid=9, epoch=0)       # restarted: round 1, others settled in round 4
    assert es.receive(note(1, 2, state=FOLLOWING, round_=4, peer_epoch=2)).decision is None
    step = es.receive(note(2, 2, state=LEADING, round_=4, peer_epoch=2))
    assert step.decision.vote.id == 2 and step.decision.state == FOLLOWING
    assert es.logical_clock == 4


def test_a_late_joiner_needs_the_same_peer_epoch_from_a_quorum():
    es = fresh(my_id=3)
    es.receive(note(1, 2, state=FOLLOWING, round_=4, peer_epoch=1))
    assert es.receive(note(2, 2, state=LEADING, round_=4, peer_epoch=2)).decision is None


def test_replies_of_the_worker_receiver():
    es = fresh(my_id=2, zxid=3, epoch=1, clock=4)          # round 5
    current = Vote(3, 7, 4, 2, FOLLOWING)
    observer_note = note(9, LONG_MIN, round_=1)
    reply = es.reply_to(observer_note, sender_is_voter=False, my_state=LOOKING, current_vote=current)
    assert (reply.leader, reply.zxid, reply.election_epoch, reply.state, reply.peer_epoch) == (3, 7, 5, LOOKING, 2)
    behind = es.reply_to(note(1, 1, round_=2), sender_is_voter=True, my_state=LOOKING, current_vote=current)
    assert (behind.leader, behind.zxid, behind.election_epoch, behind.peer_epoch) == (2, 3, 5, 1)
    assert es.reply_to(note(1, 1, round_=5), sender_is_voter=True, my_state=LOOKING, current_vote=current) is None
    settled = es.reply_to(note(1, 1, round_=9), sender_is_voter=True, my_state=FOLLOWING, current_vote=current)
    assert (settled.leader, settled.election_epoch, settled.state, settled.peer_epoch) == (3, 4, FOLLOWING, 2)
    assert es.reply_to(note(1, 1, state=LEADING), sender_is_voter=True, my_state=FOLLOWING,
                       current_vote=current) is None


class SimPeer:
    """One peer of the simulated election below: ElectionState plus what
    FastLeaderElection's threads would do with it."""

    def __init__(self, sid, voters, observers, zxid, epoch):
        self.sid = sid
        self.voters = voters
        self.state = ElectionState(sid)
        self.qv = QuorumMaj(members(voters, observers))
        participant = sid in voters
        init = ElectionState.initial_proposal(sid, participant, participant, zxid, epoch)
        self.state.new_round(init, [self.qv], participant)
        self.peer_state = LOOKING
        self.current_vote = Vote(sid, zxid, -1, epoch)

    def notifications(self):
        p = self.state.proposal
        return [(to, note(self.sid, p.leader, p.zxid, self.state.logical_clock, p.epoch)) for to in self.voters]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2), st.data())
def test_simulated_election_elects_the_highest_epoch_zxid_sid(n_voters, n_observers, data):
    """Any delivery order on a network that delivers within finalizeWait:
    every peer decides, all on the voter with the highest (epoch, zxid, sid),
    which alone leads; observers observe."""
    voters = list(range(1, n_voters + 1))
    observers = list(range(n_voters + 1, n_voters + n_observers + 1))
    facts = {sid: (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 3))) for sid in voters}
    peers = {sid: SimPeer(sid, voters, observers, facts.get(sid, (0, 0))[1], facts.get(sid, (0, 0))[0])
             for sid in voters + observers}
    network = [m for p in peers.values() for m in p.notifications()]
    steps = 0
    while any(p.peer_state == LOOKING for p in peers.values()):
        steps += 1
        assert steps < 5000, "the election did not converge"
        if not network:
            # Quiet network: the undecided peers' poll times out and they re-send.
            network += [m for p in peers.values() if p.peer_state == LOOKING for m in p.notifications()]
            continue
        to, n = network.pop(data.draw(st.integers(0, len(network) - 1)))
        peer = peers[to]
        sender_is_voter = n.sid in voters
        reply = peer.state.reply_to(n, sender_is_voter=sender_is_voter, my_state=peer.peer_state,
                                    current_vote=peer.current_vote)
        if reply is not None:
            network.append((n.sid, Notification(to, int(reply.state), reply.leader, reply.zxid,
                                                 reply.election_epoch, reply.peer_epoch, 2)))
        if peer.peer_state != LOOKING or not sender_is_voter:
            continue
        step = peer.state.receive(n)
        if step.broadcast:
            network += peer.notifications()
        decision = step.decision
        if step.finalize and not any(dest == to and peer.state.supersedes(m) for dest, m in network):
            decision = peer.state.decide()
        if decision is not None:
            peer.peer_state = decision.state
            peer.current_vote = decision.vote
    best = max(voters, key=lambda sid: (facts[sid][0], facts[sid][1], sid))
    for sid, peer in peers.items():
        assert peer.current_vote.id == best
        expected = LEADING if sid == best else (OBSERVING if sid in observers else FOLLOWING)
        assert peer.peer_state == expected


# -- quorum packets ---------------------------------------------------------------------------

from zkpy.jute.records import Id, QuorumPacket  # noqa: E402
from zkpy.quorum import quorum_packet as qp  # noqa: E402


def _reader(data):
    pos = 0

    def read_exact(n):
        nonlocal pos
        if pos + n > len(data):
            raise EOFError
        chunk = data[pos:pos + n]
        pos += n
        return chunk
    return read_exact


@given(st.integers(-2**31, 2**31 - 1), st.integers(-2**63, 2**63 - 1), st.none() | st.binary(max_size=64),
       st.none() | st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=3))
def test_quorum_packet_stream_round_trip(ptype, zxid, data, auth):
    packet = QuorumPacket(ptype, zxid, data, None if auth is None else [Id(a, b) for a, b in auth])
    raw = packet.to_bytes()
    assert qp.read_quorum_packet(_reader(raw)) == packet


def test_learner_info_and_zab_bytes():
    info = qp.learner_info(3, 0x100000000)
    assert info == struct.pack(">qiq", 3, 0x10000, 0x100000000)
    assert qp.parse_learner_info(info) == (3, 0x10000, 0x100000000)
    assert qp.parse_learner_info(struct.pack(">q", 5)) == (5, 0, None)   # a pre-3.4 learner
    assert qp.parse_learner_info(None) == (None, 0, None)
    # FOLLOWERINFO as Java 3.8 frames it: type 11, acceptedEpoch<<32, LearnerInfo, null authinfo.
    raw = QuorumPacket(qp.FOLLOWERINFO, qp.make_zxid(2, 0), info, None).to_bytes()
    assert raw == struct.pack(">iqi", 11, 2 << 32, 20) + info + struct.pack(">i", -1)
    assert qp.epoch_of(qp.make_zxid(7, 5)) == 7


def test_quorum_packet_reader_refuses_absurd_lengths():
    with pytest.raises(ValueError, match="Unreasonable length"):
        qp.read_quorum_packet(_reader(struct.pack(">iqi", 5, 0, 1 << 30)))
