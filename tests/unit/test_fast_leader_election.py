"""FastLeaderElection's threads around the pure ElectionState (ZK_SPEC.md
§4.2): the poll timeout that doubles up to maxNotificationInterval, the
choice between re-sending and reconnecting on an empty poll, the
finalizeWait re-check, and the Messenger's WorkerReceiver answering
through the WorkerSender. A fake peer and a fake connection manager stand
in for QuorumPeer and QuorumCnxManager, so nothing here waits on a socket."""

from __future__ import annotations

import threading

import pytest

from zkpy.quorum.fast_leader_election import FastLeaderElection, ToSend
from zkpy.quorum.notification import Notification, build_msg, parse_notification
from zkpy.quorum.quorum_cnx_manager import RECV_CAPACITY, CircularBlockingQueue, Message
from zkpy.quorum.quorum_server import QuorumServer
from zkpy.quorum.quorum_verifier import QuorumMaj
from zkpy.quorum.vote import ServerState, Vote

pytestmark = pytest.mark.timeout(60)

LOOKING, FOLLOWING = ServerState.LOOKING, ServerState.FOLLOWING


def verifier(voters=(1, 2, 3), observers=()):
    lines = {sid: f"127.0.0.1:{10000 + sid}:{20000 + sid}" for sid in voters}
    lines.update({sid: f"127.0.0.1:{10000 + sid}:{20000 + sid}:observer" for sid in observers})
    return QuorumMaj({sid: QuorumServer.parse(sid, text) for sid, text in lines.items()})


class FakePeer:
    """What FastLeaderElection reads of a QuorumPeer."""

    def __init__(self, my_id, qv, zxid=0, epoch=0):
        self.my_id = my_id
        self.quorum_verifier = qv
        self.last_seen_quorum_verifier = qv
        self.is_participant = my_id in qv.voting_members
        self.current_epoch = epoch
        self.current_vote = Vote(my_id, zxid, -1, epoch, version=0)
        self.peer_state = LOOKING
        self.start_fle = 0.0
        self._zxid = zxid

    def last_logged_zxid(self):
        return self._zxid

    def set_peer_state(self, state):
        self.peer_state = state


class FakeManager:
    """What FastLeaderElection asks of a QuorumCnxManager."""

    def __init__(self):
        self.recv_queue = CircularBlockingQueue(RECV_CAPACITY)
        self.sent: list[tuple[int, bytes]] = []
        self.delivered = False
        self.connect_all_calls = 0
        self._cond = threading.Condition()

    def to_send(self, sid, message):
        with self._cond:
            self.sent.append((sid, message))
            self._cond.notify_all()

    def poll_recv_queue(self, timeout):
        return self.recv_queue.poll(timeout)

    def have_delivered(self):
        return self.delivered

    def connect_all(self):
        self.connect_all_calls += 1

    def halt(self):
        pass


def drain(q):
    items = []
    while not q.empty():
        items.append(q.get_nowait())
    return items


def note(sid, leader, round_=1, zxid=0, peer_epoch=0, state=LOOKING):
    return Notification(sid, int(state), leader, zxid, round_, peer_epoch, 2)


def test_empty_polls_double_the_timeout_up_to_the_maximum_and_reconnect_or_resend():
    peer = FakePeer(1, verifier())
    manager = FakeManager()
    fle = FastLeaderElection(peer, manager)
    timeouts = []
    sent_before_poll = []

    def poll(timeout_ms):                 # nothing ever arrives, without waiting for it
        timeouts.append(timeout_ms)
        sent_before_poll.append(len(drain(fle.sendqueue)))
        manager.delivered = len(timeouts) > 3
        if len(timeouts) == 12:
            peer.peer_state = FOLLOWING   # ends the loop

    fle._poll = poll
    assert fle.look_for_leader() is None
    # Java: notTimeout starts at minNotificationInterval (200 ms), doubles, stops at 60 s.
    assert timeouts == [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000]
    # Undelivered messages: reconnect (connectAll); delivered: send the proposal to every voter again.
    assert manager.connect_all_calls == 3
    assert sent_before_poll == [3, 0, 0, 0] + [3] * 8


def test_the_notification_intervals_come_from_the_peer_settings():
    peer = FakePeer(1, verifier())
    fle = FastLeaderElection(peer, FakeManager(), min_notification_interval=50, max_notification_interval=300)
    timeouts = []

    def poll(timeout_ms):
        timeouts.append(timeout_ms)
        if len(timeouts) == 5:
            peer.peer_state = FOLLOWING

    fle._poll = poll
    fle.look_for_leader()
    assert timeouts == [50, 100, 200, 300, 300]


def test_finalize_wait_puts_back_a_better_vote_and_the_round_goes_on():
    # Peer 1 hears 2 and itself vote for 2 (a quorum of three), but during
    # the finalizeWait a vote for 3 arrives: it is put back and the election
    # ends on 3, not 2.
    peer = FakePeer(1, verifier())
    fle = FastLeaderElection(peer, FakeManager())
    for n in (note(2, 2), note(1, 2), note(3, 3), note(2, 3)):
        fle.recvqueue.put(n)
    vote = fle.look_for_leader()
    assert (vote.id, vote.election_epoch) == (3, 1)
    assert peer.peer_state == FOLLOWING
    proposals = [m.leader for m in drain(fle.sendqueue)]
    assert proposals == [1, 1, 1, 2, 2, 2, 3, 3, 3]     # each new proposal to every voter, us included
    assert fle.recvqueue.empty()                        # leaveInstance: nothing left over


def test_without_a_better_vote_the_finalize_wait_decides():
    peer = FakePeer(3, verifier())
    fle = FastLeaderElection(peer, FakeManager())
    for n in (note(3, 3), note(1, 3), note(2, 2)):     # 2's own vote is worse: it does not delay us
        fle.recvqueue.put(n)
    vote = fle.look_for_leader()
    assert vote.id == 3 and peer.peer_state == ServerState.LEADING


def test_observing_notifications_are_ignored_and_the_election_waits_for_voters():
    peer = FakePeer(1, verifier(observers=(4,)))
    fle = FastLeaderElection(peer, FakeManager())
    fle.recvqueue.put(note(4, 3, state=ServerState.OBSERVING))
    fle.recvqueue.put(note(2, 3, state=ServerState.OBSERVING))
    polls = []
    real_poll = fle._poll

    def poll(timeout_ms):
        n = real_poll(0)
        polls.append(n)
        if n is None:
            peer.peer_state = FOLLOWING
        return n

    fle._poll = poll
    assert fle.look_for_leader() is None
    assert len(polls) == 3 and fle.state.recvset == {} and fle.state.proposal.leader == 1


def sent_notifications(manager, count, timeout=5.0):
    with manager._cond:
        assert manager._cond.wait_for(lambda: len(manager.sent) >= count, timeout), manager.sent
        return [(sid, parse_notification(sid, raw), raw) for sid, raw in manager.sent]


def test_the_worker_receiver_answers_through_the_worker_sender_as_java():
    qv = verifier(observers=(4,))
    peer = FakePeer(2, qv, zxid=7, epoch=1)
    manager = FakeManager()
    fle = FastLeaderElection(peer, manager)
    fle.state.logical_clock = 4
    fle.state.new_round(fle.state.initial_proposal(2, True, True, 7, 1), [qv])   # round 5, proposing 2
    config = str(qv).encode()
    fle.start()
    try:
        # A malformed frame is dropped; the receiver lives on.
        manager.recv_queue.offer(Message(b"\0" * 10, 1))
        # LOOKING voter of an older round: it goes to the election, and gets our proposal back.
        manager.recv_queue.offer(Message(build_msg(LOOKING, 1, 0, 2, 0, config), 1))
        (sid, _, raw), = sent_notifications(manager, 1)
        assert sid == 1 and raw == build_msg(LOOKING, 2, 7, 5, 1, config)
        assert fle.recvqueue.get(timeout=5).sid == 1
        # Same round: counted, no answer.
        manager.recv_queue.offer(Message(build_msg(LOOKING, 3, 0, 5, 0, config), 3))
        assert fle.recvqueue.get(timeout=5).sid == 3
        # A non-voter (the observer) gets our current vote (not the proposal) at once, and is not counted.
        fle.state.update_proposal(3, 9, 1)
        manager.recv_queue.offer(Message(build_msg(LOOKING, -(2**63), -(2**63), 1, -(2**63), config), 4))
        sent = sent_notifications(manager, 2)
        assert sent[1][0] == 4 and sent[1][2] == build_msg(LOOKING, 2, 7, 5, 1, config)
        # Settled: a LOOKING voter learns whom we follow, with the vote's own round.
        peer.current_vote = Vote(3, 0x100000000, 6, 1, version=0)
        peer.peer_state = FOLLOWING
        manager.recv_queue.offer(Message(build_msg(LOOKING, 1, 0, 9, 0, config), 1))
        sent = sent_notifications(manager, 3)
        assert sent[2][0] == 1 and sent[2][2] == build_msg(FOLLOWING, 3, 0x100000000, 6, 1, config)
        # ... while a settled voter's notification gets no answer.
        manager.recv_queue.offer(Message(build_msg(ServerState.LEADING, 3, 0, 6, 1, config), 3))
        manager.recv_queue.offer(Message(build_msg(LOOKING, 1, 0, 9, 0, config), 1))
        assert len(sent_notifications(manager, 4)) == 4
        assert fle.recvqueue.empty()
    finally:
        fle.shutdown()
    assert not fle.messenger.ws.is_alive() and not fle.messenger.wr.is_alive()


def test_send_notifications_reach_every_voter_of_the_current_and_next_config():
    current = verifier(voters=(1, 2, 3), observers=(4,))
    nxt = verifier(voters=(1, 2, 5))
    nxt.version = 0x100000002
    peer = FakePeer(1, current)
    peer.last_seen_quorum_verifier = nxt
    fle = FastLeaderElection(peer, FakeManager())
    fle.state.new_round(fle.state.initial_proposal(1, True, True, 0, 0), [current, nxt])
    fle.send_notifications()
    messages = drain(fle.sendqueue)
    assert sorted(m.sid for m in messages) == [1, 2, 3, 5]        # no observer
    assert {m.config for m in messages} == {str(current).encode()}
    assert all(isinstance(m, ToSend) and m.state == LOOKING and m.election_epoch == 1 for m in messages)
    assert fle.valid_voter(5) and not fle.valid_voter(4)
