"""Leader election (electionAlg=3, the only one ZooKeeper 3.8 has).

Java: ``FastLeaderElection`` with ``Messenger.WorkerSender`` and
``Messenger.WorkerReceiver`` (ZK_SPEC.md §4.2). The decisions are in
:class:`.election_state.ElectionState`; this module moves notifications:

* ``look_for_leader`` runs on the QuorumPeer thread while it is LOOKING:
  a new round, our proposal to every voter, then notifications from the
  receive queue fed to the state machine, with the poll timeout doubling
  from ``zookeeper.fastleader.minNotificationInterval`` (200 ms) up to
  ``maxNotificationInterval`` (60 s) while nothing arrives, and a
  finalizeWait of 200 ms once a quorum agrees;
* WorkerSender turns queued ``ToSend`` into bytes for the connection
  manager; WorkerReceiver parses what arrives, feeds it to the election
  while we are LOOKING and answers peers that need our vote — also while
  we follow or lead, so that a restarted peer learns who leads.

The peer object it serves provides: ``my_id``, ``peer_state`` and
``set_peer_state()``, ``current_vote``, ``quorum_verifier`` and
``last_seen_quorum_verifier`` (None unless a reconfig is pending),
``is_participant``, ``last_logged_zxid()``, ``current_epoch`` and
``start_fle``.

With ``reconfigEnabled``, a notification carrying a newer config than
ours while we are LOOKING makes the peer adopt it (``process_reconfig``)
and start the election round again under it (Java shuts the election
down and starts a new one; zkpy keeps the messenger and only restarts
the round). Notifications are logged at INFO as Java does.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from typing import Optional

import attrs

from .election_state import ElectionState
from .notification import Notification, NotificationError, build_msg, parse_notification
from .quorum_cnx_manager import QuorumCnxManager
from .vote import ServerState, Vote

LOG = logging.getLogger(__name__)

#: ms to wait, once a quorum agrees, for a better vote (Java: finalizeWait).
FINALIZE_WAIT = 200
MIN_NOTIFICATION_INTERVAL = FINALIZE_WAIT
MAX_NOTIFICATION_INTERVAL = 60000

_MASK64 = (1 << 64) - 1
_CONFIG_VERSION = re.compile(r"(?:^|\n)version=([0-9a-fA-F]+)\s*$")
_WAKE = object()  # put on the receive queue to wake look_for_leader
_RESTART = object()  # a newer config arrived: start the round again under it


def _hex(value: int) -> str:
    """Java's Long.toHexString (two's complement for negatives)."""
    return f"{value & _MASK64:x}"


@attrs.frozen
class ToSend:
    """A notification to send (Java: FastLeaderElection.ToSend)."""

    leader: int
    zxid: int
    election_epoch: int
    state: ServerState
    sid: int
    peer_epoch: int
    config: bytes = b""


class FastLeaderElection:
    """Java: FastLeaderElection (see the module docstring)."""

    def __init__(self, peer, manager: QuorumCnxManager, *, min_notification_interval: int = MIN_NOTIFICATION_INTERVAL,
                 max_notification_interval: int = MAX_NOTIFICATION_INTERVAL):
        self.peer = peer
        self.manager = manager
        self.min_notification_interval = min_notification_interval
        self.max_notification_interval = max_notification_interval
        self.state = ElectionState(peer.my_id)
        self._lock = threading.Lock()  # Java: synchronized (this) around the proposal
        self.sendqueue: queue.Queue = queue.Queue()
        self.recvqueue: queue.Queue = queue.Queue()
        self.stop = False
        self.messenger = Messenger(self)

    # -- what other threads read ----------------------------------------------------------
    @property
    def logical_clock(self) -> int:
        with self._lock:
            return self.state.logical_clock

    def get_vote(self) -> Vote:
        with self._lock:
            return self.state.vote()

    def start(self) -> None:
        self.messenger.start()

    def shutdown(self) -> None:
        self.stop = True
        LOG.debug("Shutting down connection manager")
        self.manager.halt()
        LOG.debug("Shutting down messenger")
        self.messenger.halt()
        self.recvqueue.put(_WAKE)
        LOG.debug("FLE is down")

    # -- sending -------------------------------------------------------------------------------
    def _voters(self) -> list[int]:
        voters: set[int] = set()
        for qv in self._verifiers():
            voters.update(qv.voting_members)
        return sorted(voters)

    def valid_voter(self, sid: int) -> bool:
        """Java's validVoter: ``sid`` votes in the peer's current or next config
        (read live: a notification may arrive while we follow or lead)."""
        return any(sid in qv.voting_members for qv in self._verifiers())

    def _verifiers(self):
        qv = self.peer.quorum_verifier
        last_seen = getattr(self.peer, "last_seen_quorum_verifier", None)
        if last_seen is not None and last_seen.version > qv.version:
            return [qv, last_seen]
        return [qv]

    def _config_bytes(self) -> bytes:
        return str(self.peer.quorum_verifier).encode("utf-8")

    def send_notifications(self) -> None:
        """Our proposal to every voter of the current and next config, us included."""
        with self._lock:
            p = self.state.proposal
            clock = self.state.logical_clock
        config = self._config_bytes()
        for sid in self._voters():
            LOG.debug("Sending Notification: %d (n.leader), 0x%s (n.zxid), 0x%s (n.round), %d (recipient), "
                      "%d (myid), 0x%s (n.peerEpoch)", p.leader, _hex(p.zxid), _hex(clock), sid,
                      self.peer.my_id, _hex(p.epoch))
            self.sendqueue.put(ToSend(p.leader, p.zxid, clock, ServerState.LOOKING, sid, p.epoch, config))

    # -- the election ------------------------------------------------------------------------
    def _poll(self, timeout_ms: float):
        try:
            return self.recvqueue.get(timeout=timeout_ms / 1000.0)
        except queue.Empty:
            return None

    def look_for_leader(self) -> Optional[Vote]:
        """Run one election; returns the end vote (and has set the peer's
        state), or None when the election was stopped."""
        peer = self.peer
        peer.start_fle = time.monotonic()
        verifiers = self._verifiers()
        voter = peer.my_id in peer.quorum_verifier.voting_members
        participant = peer.is_participant
        init = ElectionState.initial_proposal(
            peer.my_id, participant, voter,
            peer.last_logged_zxid() if participant else 0,
            peer.current_epoch if participant else 0)
        with self._lock:
            self.state.new_round(init, verifiers, participant)
        LOG.info("New election. My id = %d, proposed zxid=0x%s", peer.my_id, _hex(init.zxid))
        self.send_notifications()
        not_timeout = self.min_notification_interval
        while peer.peer_state == ServerState.LOOKING and not self.stop:
            n = self._poll(not_timeout)
            if n is _WAKE:
                continue
            if n is _RESTART:
                LOG.info("restarting leader election")
                return None
            if n is None:
                if self.manager.have_delivered():
                    self.send_notifications()
                else:
                    self.manager.connect_all()
                not_timeout = min(not_timeout * 2, self.max_notification_interval)
                LOG.info("Notification time out: %d ms", not_timeout)
                continue
            with self._lock:
                step = self.state.receive(n)
            if step.ignored is not None:
                (LOG.warning if step.warn else LOG.debug)("%s", step.ignored)
                continue
            if step.broadcast:
                self.send_notifications()
            decision = step.decision
            if step.finalize:
                decision = self._finalize_wait()
            if decision is not None:
                peer.set_peer_state(decision.state)
                self._leave_instance(decision.vote)
                return decision.vote
        return None

    def _finalize_wait(self):
        """A quorum agrees with us: wait for anything better before deciding."""
        while True:
            n = self._poll(FINALIZE_WAIT)
            if n is None:
                with self._lock:
                    return self.state.decide()
            if n is _WAKE or n is _RESTART:
                self.recvqueue.put(n)
                return None
            with self._lock:
                better = self.state.supersedes(n)
            if better:
                self.recvqueue.put(n)
                return None

    def _leave_instance(self, vote: Vote) -> None:
        LOG.debug("About to leave FLE instance: leader=%d, zxid=0x%s, my id=%d, my state=%s", vote.id,
                  _hex(vote.zxid), self.peer.my_id, self.peer.peer_state.name)
        while True:
            try:
                self.recvqueue.get_nowait()
            except queue.Empty:
                break

    # -- WorkerReceiver's half ---------------------------------------------------------------
    def handle_message(self, sid: int, payload: bytes) -> None:
        """One frame from the connection manager (Java: WorkerReceiver.run's body)."""
        try:
            n = parse_notification(sid, payload)
        except NotificationError as e:
            LOG.error("%s", e)
            return
        if n.version <= 0x1:
            LOG.info("Backward compatibility mode (before reconfig), server id: %d", sid)
        peer = self.peer
        if n.config and getattr(peer, "reconfig_enabled", False) and self._adopt_config(n):
            return
        sender_is_voter = self.valid_voter(sid)
        my_state = peer.peer_state
        if sender_is_voter and n.state is None:
            return  # an unknown state ordinal: Java skips the message
        if sender_is_voter:
            LOG.info("Notification: my state:%s; n.sid:%d, n.state:%s, n.leader:%d, n.round:0x%s, "
                     "n.peerEpoch:0x%s, n.zxid:0x%s, message format version:0x%s, n.config version:0x%s",
                     my_state.name, n.sid, n.state.name, n.leader, _hex(n.election_epoch), _hex(n.peer_epoch),
                     _hex(n.zxid), _hex(n.version), self._config_version(n))
        if sender_is_voter and my_state == ServerState.LOOKING:
            self.recvqueue.put(n)
        with self._lock:
            reply = self.state.reply_to(n, sender_is_voter=sender_is_voter, my_state=my_state,
                                        current_vote=peer.current_vote)
        if reply is not None:
            LOG.debug("Sending new notification. My id =%d recipient=%d zxid=0x%s leader=%d", peer.my_id, sid,
                      _hex(reply.zxid), reply.leader)
            self.sendqueue.put(ToSend(reply.leader, reply.zxid, reply.election_epoch, reply.state, sid,
                                      reply.peer_epoch, self._config_bytes()))

    def _adopt_config(self, n: Notification) -> bool:
        """A LOOKING peer adopts a newer config a notification carries;
        True when the round must start again under it."""
        peer = self.peer
        try:
            received = peer.config_from_string(n.config)
        except Exception as e:  # noqa: BLE001 - a bad config is ignored, as in Java
            LOG.warning("Skipping a bad config from %d: %s", n.sid, e)
            return False
        current = peer.quorum_verifier
        if received.version <= current.version:
            return False
        LOG.info("%d Received version: %x my version: %x", peer.my_id, received.version, current.version)
        if peer.peer_state != ServerState.LOOKING:
            LOG.debug("Skip processReconfig(), state: %s", peer.peer_state.name)
            return False
        peer.process_reconfig(received, None, None, False)
        if received != current:
            self.recvqueue.put(_RESTART)
            return True
        return False

    @staticmethod
    def _config_version(n: Notification) -> str:
        if n.config is None:
            return "0"
        match = _CONFIG_VERSION.search(n.config)
        return match.group(1).lower() if match else "0"


class Messenger:
    """WorkerSender and WorkerReceiver (Java: FastLeaderElection.Messenger)."""

    def __init__(self, fle: FastLeaderElection):
        self.fle = fle
        my_id = fle.peer.my_id
        self.stopped = False
        self.ws = threading.Thread(target=self._send_loop, name=f"WorkerSender[myid={my_id}]", daemon=True)
        self.wr = threading.Thread(target=self._receive_loop, name=f"WorkerReceiver[myid={my_id}]", daemon=True)

    def start(self) -> None:
        self.ws.start()
        self.wr.start()

    def halt(self) -> None:
        self.stopped = True
        self.fle.sendqueue.put(None)
        self.fle.manager.recv_queue.wake()
        for thread in (self.ws, self.wr):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(5)

    def _send_loop(self) -> None:
        fle = self.fle
        while not self.stopped:
            try:
                m = fle.sendqueue.get(timeout=3.0)
            except queue.Empty:
                continue
            if m is None:
                continue
            fle.manager.to_send(m.sid, build_msg(m.state, m.leader, m.zxid, m.election_epoch, m.peer_epoch,
                                                 m.config))
        LOG.info("WorkerSender is down")

    def _receive_loop(self) -> None:
        fle = self.fle
        while not self.stopped:
            message = fle.manager.poll_recv_queue(3.0)
            if message is None:
                continue
            try:
                fle.handle_message(message.sid, message.buffer)
            except Exception:  # one bad message must not kill the receiver
                LOG.exception("Failed to handle a notification from %d", message.sid)
        LOG.info("WorkerReceiver is down")


__all__ = ["FastLeaderElection", "ToSend", "FINALIZE_WAIT"]
