"""The LEADING role: accept learners, agree on a new epoch, ping.

Java: ``Leader`` (``lead``, ``getEpochToPropose``, ``waitForEpochAck``,
``shutdown``), ``Leader.LearnerCnxAcceptor`` and ``LearnerHandler`` with
its sender thread, and ``StateSummary`` (ZK_SPEC.md §4.3).

``lead()`` runs on the QuorumPeer thread:

1. discovery — accept learners on the quorum port; each
   :class:`LearnerHandler` reads FOLLOWERINFO/OBSERVERINFO; once a quorum
   of voters (us included) has connected, the new epoch is
   max(acceptedEpoch) + 1, persisted as our acceptedEpoch, and sent in
   LEADERINFO; a quorum of ACKEPOCHs (a learner ahead of us is refused)
   ends discovery and we persist currentEpoch;
2. broadcast — every tickTime/2 a PING to each learner; every tick the
   synced voters (a packet from them within syncLimit ticks) must still
   form a quorum of every verifier, or we step down and the peer goes
   back to LOOKING.

Interim, until the Zab issue: there is no synchronization phase (no
DIFF/TRUNC/SNAP, NEWLEADER, UPTODATE) and no proposals; the leader's
server answers four-letter words only (see
:mod:`.quorum_zookeeper_server`). The Zab issue inserts
``sync_follower`` and the NEWLEADER quorum between discovery and
broadcast, where the ``TODO(zab)`` markers are.
"""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
import time
from typing import Optional

import attrs

from ..jute.archive import JuteError
from ..jute.records import QuorumPacket
from .initial_message import format_address
from .quorum_packet import (
    ACKEPOCH, FOLLOWERINFO, LEADERINFO, OBSERVERINFO, PING, PROTOCOL_VERSION, describe, epoch_of,
    make_zxid, parse_learner_info, read_quorum_packet,
)
from .quorum_peer import ZabState
from .quorum_zookeeper_server import LeaderZooKeeperServer

LOG = logging.getLogger(__name__)

_DEATH = object()  # Java: LearnerHandler's proposalOfDeath


class QuorumTimeout(Exception):
    """A quorum did not show up in time (Java throws InterruptedException)."""


@attrs.frozen
class StateSummary:
    """A peer's (currentEpoch, last zxid) (Java: StateSummary)."""

    current_epoch: int
    last_zxid: int

    def is_more_recent_than(self, other: "StateSummary") -> bool:
        return (self.current_epoch, self.last_zxid) > (other.current_epoch, other.last_zxid)


def _close(sock: Optional[socket.socket]) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _read_exact(reader, n: int) -> bytes:
    data = reader.read(n)
    if data is None or len(data) < n:
        raise EOFError("the connection was closed")
    return data


class Leader:
    """Java: Leader (see the module docstring)."""

    def __init__(self, peer):
        self.peer = peer
        self.zk = LeaderZooKeeperServer(peer, self)
        self._lock = threading.Condition()  # learners and the tick loop
        self._learners: list[LearnerHandler] = []
        self._epoch_cond = threading.Condition()  # Java: synchronized (connectingFollowers)
        self.connecting_followers: set[int] = set()
        self.waiting_for_new_epoch = True
        self.epoch = -1
        self._ack_cond = threading.Condition()  # Java: synchronized (electingFollowers)
        self.electing_followers: set[int] = set()
        self.election_finished = False
        self.leader_state_summary = StateSummary(-1, -1)
        self.last_proposed = 0
        self._follower_counter = -1
        self.is_shutdown = False
        self.cnx_acceptor: Optional[LearnerCnxAcceptor] = None
        self.server_sockets = self._bind()

    # -- sockets ---------------------------------------------------------------------------
    def _bind(self) -> list[socket.socket]:
        peer = self.peer
        addresses = list(peer.quorum_address().addrs)
        if peer.quorum_listen_on_all_ips:
            addresses = [("::" if ":" in host else "0.0.0.0", port) for host, port in addresses]
        sockets = []
        for host, port in addresses:
            server = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            try:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((host, port))
                server.listen(128)
                sockets.append(server)
            except OSError as e:
                server.close()
                LOG.warning("Failed to bind to %s: %s", format_address(host, port), e)
        if not sockets:
            raise OSError("Leader failed to initialize any of the following sockets: "
                          + ", ".join(format_address(h, p) for h, p in addresses))
        return sockets

    # -- learners ----------------------------------------------------------------------------
    def add_learner_handler(self, handler: "LearnerHandler") -> None:
        with self._lock:
            self._learners.append(handler)

    def remove_learner_handler(self, handler: "LearnerHandler") -> None:
        with self._lock:
            if handler in self._learners:
                self._learners.remove(handler)

    def learner_handlers(self) -> list["LearnerHandler"]:
        with self._lock:
            return list(self._learners)

    def next_follower_counter(self) -> int:
        """A local id for a learner that sent no sid (Java: getAndDecrementFollowerCounter)."""
        with self._lock:
            value = self._follower_counter
            self._follower_counter -= 1
            return value

    def is_participant(self, sid: int) -> bool:
        return sid in self.peer.quorum_verifier.voting_members

    def tick_of_next_ack_deadline(self) -> int:
        return self.peer.tick + self.peer.sync_limit

    def tick_of_initial_ack_deadline(self) -> int:
        return self.peer.tick + self.peer.init_limit + self.peer.sync_limit

    def _init_timeout(self) -> float:
        return self.peer.init_limit * self.peer.tick_time / 1000.0

    # -- discovery -----------------------------------------------------------------------------
    def get_epoch_to_propose(self, sid: int, last_accepted_epoch: int) -> int:
        """Collect acceptedEpochs until a quorum of voters (us included) has
        connected; the new epoch is one more than the largest."""
        peer = self.peer
        with self._epoch_cond:
            if not self.waiting_for_new_epoch:
                return self.epoch
            if last_accepted_epoch >= self.epoch:
                self.epoch = last_accepted_epoch + 1
            if self.is_participant(sid):
                self.connecting_followers.add(sid)
            if peer.my_id in self.connecting_followers and \
                    peer.quorum_verifier.contains_quorum(self.connecting_followers):
                self.waiting_for_new_epoch = False
                peer.set_accepted_epoch(self.epoch)
                self._epoch_cond.notify_all()
            else:
                self._epoch_cond.wait_for(lambda: not self.waiting_for_new_epoch or self.is_shutdown,
                                          self._init_timeout())
                if self.waiting_for_new_epoch:
                    raise QuorumTimeout("Timeout while waiting for epoch from quorum")
            return self.epoch

    def wait_for_epoch_ack(self, sid: int, ss: StateSummary) -> None:
        """Count ACKEPOCHs until a quorum of voters (us included) acked."""
        peer = self.peer
        with self._ack_cond:
            if self.election_finished:
                return
            if ss.current_epoch != -1:
                if ss.is_more_recent_than(self.leader_state_summary):
                    raise OSError(f"Follower is ahead of the leader, leader summary: "
                                  f"{self.leader_state_summary.current_epoch} (current epoch), "
                                  f"{self.leader_state_summary.last_zxid} (last zxid)")
                if ss.last_zxid != -1 and self.is_participant(sid):
                    self.electing_followers.add(sid)
            if peer.my_id in self.electing_followers and \
                    peer.quorum_verifier.contains_quorum(self.electing_followers):
                self.election_finished = True
                self._ack_cond.notify_all()
            else:
                self._ack_cond.wait_for(lambda: self.election_finished or self.is_shutdown, self._init_timeout())
                if not self.election_finished:
                    raise QuorumTimeout("Timeout while waiting for epoch to be acked by quorum")

    # -- the role ------------------------------------------------------------------------------
    def lead(self) -> None:
        peer = self.peer
        peer.end_fle = time.monotonic()
        took = int((peer.end_fle - peer.start_fle) * 1000) if peer.start_fle else 0
        peer.election_time_taken = took
        LOG.info("LEADING - LEADER ELECTION TOOK - %d MS", took)
        peer.start_fle = peer.end_fle = 0
        peer.set_zab_state(ZabState.DISCOVERY)
        peer.tick = 0
        self.leader_state_summary = StateSummary(peer.current_epoch, peer.zk_db.last_processed_zxid)
        self.cnx_acceptor = LearnerCnxAcceptor(self)
        self.cnx_acceptor.start()
        epoch = self.get_epoch_to_propose(peer.my_id, peer.accepted_epoch)
        zxid = make_zxid(epoch, 0)
        self.zk.set_zxid(zxid)
        self.last_proposed = zxid
        LOG.info("NEWLEADER proposal has Zxid of %x", zxid)
        self.wait_for_epoch_ack(peer.my_id, self.leader_state_summary)
        peer.set_current_epoch(epoch)
        # TODO(zab): SYNCHRONIZATION - NEWLEADER to each learner after its sync,
        # then waitForNewLeaderAck, before the server starts.
        peer.update_election_vote(epoch)
        self.zk.startup()
        peer.set_zk_server(self.zk)
        peer.set_zab_state(ZabState.BROADCAST)
        self._broadcast_loop()

    def _broadcast_loop(self) -> None:
        peer = self.peer
        tick_skip = True  # we ping twice a tick: the tick advances every other round
        shutdown_message = None
        while True:
            with self._lock:
                end = time.monotonic() + peer.tick_time / 2000.0
                while not self.is_shutdown:
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        break
                    self._lock.wait(remaining)
                if self.is_shutdown:
                    return
                if not tick_skip:
                    peer.tick += 1
                synced = {peer.my_id} | {h.sid for h in self._learners if h.sid is not None and h.synced()}
                if not peer.running or not self.zk.is_running():
                    shutdown_message = "Unexpected internal error"
                    break
                if not tick_skip and not all(qv.contains_quorum(synced) for qv in peer.verifiers()):
                    shutdown_message = ("Not sufficient followers synced, only synced with sids: [ "
                                        + ",".join("[" + ", ".join(str(s) for s in sorted(synced)) + "]"
                                                   for _ in peer.verifiers()) + " ]")
                    break
                tick_skip = not tick_skip
                handlers = list(self._learners)
            for handler in handlers:
                handler.ping()
        if shutdown_message is not None:
            self.shutdown(shutdown_message)

    def shutdown(self, reason: str) -> None:
        LOG.info("Shutting down")
        with self._lock:
            if self.is_shutdown:
                return
            self.is_shutdown = True
            self._lock.notify_all()
        LOG.info("Shutdown called. For the reason %s", reason)
        for cond in (self._epoch_cond, self._ack_cond):
            with cond:
                cond.notify_all()
        if self.cnx_acceptor is not None:
            self.cnx_acceptor.halt()
        else:
            for server in self.server_sockets:
                _close(server)
        self.peer.set_zk_server(None)
        self.zk.shutdown()
        with self._lock:
            handlers = list(self._learners)
            self._learners.clear()
        for handler in handlers:
            handler.shutdown()


class LearnerCnxAcceptor:
    """Accepts learners on the quorum port (Java: Leader.LearnerCnxAcceptor)."""

    def __init__(self, leader: Leader):
        self.leader = leader
        self._stop = False
        self._threads = []
        for server in leader.server_sockets:
            host, port = server.getsockname()[:2]
            self._threads.append(threading.Thread(target=self._run, args=(server,), daemon=True,
                                                  name=f"LearnerCnxAcceptor-{format_address(host, port)}"))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _run(self, server: socket.socket) -> None:
        peer = self.leader.peer
        while not self._stop:
            try:
                sock, _addr = server.accept()
            except OSError:
                if self._stop:
                    break
                LOG.warning("Exception while accepting follower", exc_info=True)
                time.sleep(0.1)
                continue
            if self._stop:
                _close(sock)
                break
            sock.settimeout(peer.tick_time * peer.init_limit / 1000.0)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                LearnerHandler(sock, self.leader).start()
            except OSError as e:  # the learner hung up before we looked at it
                LOG.warning("Could not start a LearnerHandler: %s", e)
                _close(sock)

    def halt(self) -> None:
        self._stop = True
        for server in self.leader.server_sockets:
            _close(server)  # shutdown() wakes the blocked accept()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(5)


class LearnerHandler(threading.Thread):
    """The leader's side of one learner (Java: LearnerHandler)."""

    def __init__(self, sock: socket.socket, leader: Leader):
        host, port = sock.getpeername()[:2]
        self.remote = "/" + format_address(host, port)
        super().__init__(name=f"LearnerHandler-{self.remote}", daemon=True)
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.leader = leader
        self.sid: Optional[int] = None
        self.version = 0x1
        self.is_participant = True
        self.tick_of_next_ack_deadline = leader.tick_of_initial_ack_deadline()
        self._queue: queue.Queue = queue.Queue()
        self._sending_started = False
        self._running = True
        self._closed = False
        self._shutdown_lock = threading.Lock()
        self._sender: Optional[threading.Thread] = None
        self._max_buffer = leader.peer.config.jute_max_buffer

    @property
    def forwarding(self) -> bool:
        """Past discovery (Java: in forwardingFollowers / observingLearners)."""
        return self._sending_started and self._running

    def synced(self) -> bool:
        """Still alive and heard from within syncLimit ticks (Java: synced)."""
        return self.is_alive() and self._running and self.leader.peer.tick <= self.tick_of_next_ack_deadline

    def _read(self) -> QuorumPacket:
        return read_quorum_packet(lambda n: _read_exact(self.reader, n), self._max_buffer)

    def _write(self, packet: QuorumPacket) -> None:
        self.sock.sendall(packet.to_bytes())

    def run(self) -> None:
        leader = self.leader
        peer = leader.peer
        try:
            leader.add_learner_handler(self)
            qp = self._read()
            if qp.type not in (FOLLOWERINFO, OBSERVERINFO):
                LOG.error("First packet %s is not FOLLOWERINFO or OBSERVERINFO!", describe(qp))
                return
            sid, version, config_version = parse_learner_info(qp.data)
            self.sid = sid if sid is not None else leader.next_follower_counter()
            self.version = version
            if config_version is not None and config_version > peer.quorum_verifier.version:
                raise OSError("Follower is ahead of the leader (has a later activated configuration)")
            info = peer.view().get(self.sid)
            if info is None:
                LOG.info("Follower sid: %d not in the current config %x", self.sid, peer.quorum_verifier.version)
            else:
                LOG.info("Follower sid: %d : info : %s", self.sid, info)
            if qp.type == OBSERVERINFO:
                self.is_participant = False
            last_accepted_epoch = epoch_of(qp.zxid)
            new_epoch = leader.get_epoch_to_propose(self.sid, last_accepted_epoch)
            new_leader_zxid = make_zxid(new_epoch, 0)
            if self.version < PROTOCOL_VERSION:
                # A pre-Zab-1.0 learner: no LEADERINFO/ACKEPOCH, derive its summary.
                ss = StateSummary(epoch_of(qp.zxid), qp.zxid)
                leader.wait_for_epoch_ack(self.sid, ss)
            else:
                self._write(QuorumPacket(LEADERINFO, new_leader_zxid, struct.pack(">i", PROTOCOL_VERSION), None))
                ack = self._read()
                if ack.type != ACKEPOCH:
                    LOG.error("%s is not ACKEPOCH", describe(ack))
                    return
                data = ack.data or b""
                if len(data) < 4:
                    raise OSError(f"ACKEPOCH from {self.sid} carries no epoch")
                ss = StateSummary(struct.unpack_from(">i", data, 0)[0], ack.zxid)
                leader.wait_for_epoch_ack(self.sid, ss)
            # TODO(zab): syncFollower(ss.last_zxid) - DIFF/TRUNC/SNAP, NEWLEADER, wait for its ACK, UPTODATE.
            self._start_sending()
            self.sock.settimeout(peer.tick_time * peer.sync_limit / 1000.0)
            while self._running:
                qp = self._read()
                self.tick_of_next_ack_deadline = leader.tick_of_next_ack_deadline()
                if qp.type == PING:
                    self._touches(qp.data)
                else:
                    LOG.warning("Unexpected packet from learner %s: %s", self.sid, describe(qp))
        except QuorumTimeout as e:
            LOG.warning("Learner %s: %s", self.sid, e)
        except (OSError, EOFError, JuteError, struct.error) as e:
            if self._running and not leader.is_shutdown:
                LOG.warning("Unexpected exception causing shutdown while sock still open: %s", e)
        finally:
            LOG.warning("******* GOODBYE %s ********", self.remote)
            self.shutdown()
            try:
                self.reader.close()
            except OSError:
                pass

    def _touches(self, data: Optional[bytes]) -> None:
        """A learner's PING lists (session id, timeout) pairs it saw activity on."""
        data = data or b""
        # TODO(zab): touch the sessions in the leader's session tracker.
        for offset in range(0, len(data) - 11, 12):
            session_id, timeout = struct.unpack_from(">qi", data, offset)
            LOG.debug("Touch from learner %s: session 0x%x timeout %d", self.sid, session_id, timeout)

    def _start_sending(self) -> None:
        self._sender = threading.Thread(target=self._send_packets, name=f"Sender-{self.remote}", daemon=True)
        self._sender.start()
        self._sending_started = True

    def _send_packets(self) -> None:
        while True:
            packet = self._queue.get()
            if packet is _DEATH:
                break
            try:
                self._write(packet)
            except OSError as e:
                if self._running:
                    LOG.warning("Unexpected exception at %s: %s", self.remote, e)
                self.shutdown()
                break

    def queue_packet(self, packet: QuorumPacket) -> None:
        self._queue.put(packet)

    def ping(self) -> None:
        """Queue a PING with the last proposed zxid (only once sending started)."""
        if not self._sending_started or not self._running:
            return
        self.queue_packet(QuorumPacket(PING, self.leader.last_proposed, None, None))

    def shutdown(self) -> None:
        with self._shutdown_lock:
            if self._closed:
                return
            self._closed = True
            self._running = False
        self._queue.put(_DEATH)
        _close(self.sock)  # wakes our thread's blocked read; it closes the reader itself
        self.leader.remove_learner_handler(self)
