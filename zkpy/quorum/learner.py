"""What followers and observers share: finding, joining and hearing the leader.

Java: ``Learner`` (``findLeader``, ``connectToLeader``,
``registerWithLeader``, ``readPacket``/``writePacket``, ``ping``,
``shutdown``) and the common part of ``Follower.followLeader`` /
``Observer.observeLeader`` (ZK_SPEC.md §4.3):

* dial the leader's quorum port (up to 5 tries, 100 ms apart, within
  initLimit ticks — or connectToLearnerMasterLimit ticks if set);
* send FOLLOWERINFO/OBSERVERINFO with ``acceptedEpoch << 32`` and our
  LearnerInfo; on LEADERINFO accept a newer epoch (persisting
  acceptedEpoch) and answer ACKEPOCH with our currentEpoch, or -1 if we
  had already accepted that epoch; refuse an older one;
* then read packets until the leader goes away: the socket times out
  after syncLimit ticks without a packet (the leader pings every half
  tick), and the peer goes back to LOOKING.

Interim, until the Zab issue: no synchronization (DIFF/TRUNC/SNAP,
NEWLEADER, UPTODATE) and no proposals; after discovery the learner's
server answers four-letter words only (see :mod:`.quorum_zookeeper_server`)
and the learner answers pings. ``TODO(zab)`` marks where sync goes.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import Optional

from ..jute.records import QuorumPacket
from .initial_message import format_address
from .quorum_packet import (
    ACKEPOCH, LEADERINFO, NEWLEADER, PING, describe, epoch_of, learner_info, make_zxid, read_quorum_packet,
)
from .quorum_peer import ZabState
from .quorum_server import QuorumServer

LOG = logging.getLogger(__name__)


def _read_exact(reader, n: int) -> bytes:
    data = reader.read(n)
    if data is None or len(data) < n:
        raise EOFError("the leader closed the connection")
    return data


class Learner:
    """Java: Learner (see the module docstring)."""

    #: FOLLOWERINFO or OBSERVERINFO.
    info_packet = 0
    #: For log lines: "following" / "observing".
    activity = "learning"

    def __init__(self, peer, zk):
        self.peer = peer
        self.zk = zk
        self.sock: Optional[socket.socket] = None
        self.reader = None
        self._write_lock = threading.Lock()
        self._shutdown = False
        self.leader_protocol_version = 0x01
        self.leader_sid: Optional[int] = None

    def is_running(self) -> bool:
        return self.peer.running and not self._shutdown

    # -- finding and dialling the leader -------------------------------------------------------
    def find_leader(self) -> QuorumServer:
        vote = self.peer.current_vote
        server = self.peer.view().get(vote.id)
        if server is None:
            LOG.warning("Couldn't find the leader with id = %d", vote.id)
            raise OSError(f"Couldn't find the leader with id = {vote.id}")
        return server

    def connect_to_leader(self, server: QuorumServer) -> None:
        peer = self.peer
        limit = peer.connect_to_learner_master_limit or peer.init_limit
        connect_timeout_ms = peer.tick_time * limit
        delay_ms = peer.leader_connect_delay_ms
        start = time.monotonic()
        last_error: Optional[OSError] = None
        for tries in range(5):
            if not self.is_running():
                raise OSError("learner shut down while connecting")
            remaining = connect_timeout_ms - int((time.monotonic() - start) * 1000)
            if remaining <= 0:
                LOG.error("connectToLeader exceeded on retries.")
                raise OSError("connectToLeader exceeded on retries.")
            for address in server.addrs:
                try:
                    sock = socket.create_connection(address, timeout=min(connect_timeout_ms, remaining) / 1000.0)
                except OSError as e:
                    last_error = e
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(peer.tick_time * peer.init_limit / 1000.0)
                self.sock = sock
                self.reader = sock.makefile("rb")
                LOG.info("%s is connected to the leader at %s", peer.my_id, format_address(*address))
                return
            remaining = connect_timeout_ms - int((time.monotonic() - start) * 1000)
            where = ", ".join(format_address(*a) for a in server.addrs)
            if remaining <= delay_ms:
                LOG.error("Unexpected exception, connectToLeader exceeded. tries=%d, remaining init limit=%d, "
                          "connecting to %s: %s", tries, remaining, where, last_error)
                raise last_error or OSError("connectToLeader exceeded")
            if tries >= 4:
                LOG.error("Unexpected exception, retries exceeded. tries=%d, remaining init limit=%d, "
                          "connecting to %s: %s", tries, remaining, where, last_error)
                raise last_error or OSError("connectToLeader retries exceeded")
            LOG.warning("Unexpected exception, tries=%d, remaining init limit=%d, connecting to %s: %s",
                        tries, remaining, where, last_error)
            time.sleep(delay_ms / 1000.0)
        raise last_error or OSError("could not connect to the leader")

    # -- packets -----------------------------------------------------------------------------
    def read_packet(self) -> QuorumPacket:
        return read_quorum_packet(lambda n: _read_exact(self.reader, n), self.peer.config.jute_max_buffer)

    def write_packet(self, packet: QuorumPacket) -> None:
        with self._write_lock:
            sock = self.sock
            if sock is None:
                raise OSError("not connected to the leader")
            sock.sendall(packet.to_bytes())

    def register_with_leader(self, packet_type: int) -> int:
        """Discovery, learner side: returns the new epoch's first zxid."""
        peer = self.peer
        last_logged_zxid = peer.last_logged_zxid()
        self.write_packet(QuorumPacket(packet_type, make_zxid(peer.accepted_epoch, 0),
                                       learner_info(peer.my_id, peer.quorum_verifier.version), None))
        qp = self.read_packet()
        new_epoch = epoch_of(qp.zxid)
        if qp.type == LEADERINFO:
            data = qp.data or b""
            self.leader_protocol_version = struct.unpack_from(">i", data, 0)[0] if len(data) >= 4 else 0
            if new_epoch > peer.accepted_epoch:
                ack_epoch = peer.current_epoch
                peer.set_accepted_epoch(new_epoch)
            elif new_epoch == peer.accepted_epoch:
                # We acked this epoch before: acking it again could lose the
                # updates of a follower ahead of us, so answer -1.
                ack_epoch = -1
            else:
                raise OSError(f"Leaders epoch, {new_epoch} is less than accepted epoch, {peer.accepted_epoch}")
            self.write_packet(QuorumPacket(ACKEPOCH, last_logged_zxid, struct.pack(">i", ack_epoch), None))
            return make_zxid(new_epoch, 0)
        if new_epoch > peer.accepted_epoch:
            peer.set_accepted_epoch(new_epoch)
        if qp.type != NEWLEADER:
            LOG.error("First packet should have been NEWLEADER")
            raise OSError("First packet should have been NEWLEADER")
        return qp.zxid

    def ping(self, qp: QuorumPacket) -> None:
        """Answer the leader's PING with the sessions we saw (none yet)."""
        # TODO(zab): the (session id, timeout) touches of our session tracker.
        self.write_packet(QuorumPacket(PING, qp.zxid, b"", qp.authinfo))

    def process_packet(self, qp: QuorumPacket) -> None:
        if qp.type == PING:
            self.ping(qp)
        else:
            # TODO(zab): PROPOSAL, COMMIT, INFORM, SYNC, REVALIDATE ...
            LOG.warning("Unknown packet type: %s", describe(qp))

    # -- the role ------------------------------------------------------------------------------
    def _start_serving(self, new_epoch: int) -> None:
        """Discovery is over: report the new epoch in our vote and let our
        server answer (interim: four-letter words only)."""
        peer = self.peer
        self.sock.settimeout(peer.tick_time * peer.sync_limit / 1000.0)
        peer.update_election_vote(new_epoch)
        self.zk.startup()
        peer.set_zk_server(self.zk)

    def learn(self) -> None:
        """The body of followLeader / observeLeader."""
        peer = self.peer
        peer.end_fle = time.monotonic()
        took = int((peer.end_fle - peer.start_fle) * 1000) if peer.start_fle else 0
        peer.election_time_taken = took
        LOG.info("%s - LEADER ELECTION TOOK - %d MS", peer.peer_state.name, took)
        peer.start_fle = peer.end_fle = 0
        peer.set_zab_state(ZabState.DISCOVERY)
        server = self.find_leader()
        try:
            self.connect_to_leader(server)
            new_epoch_zxid = self.register_with_leader(self.info_packet)
            new_epoch = epoch_of(new_epoch_zxid)
            if new_epoch < peer.accepted_epoch:
                LOG.error("Proposed leader epoch %x is less than our accepted epoch %x", new_epoch_zxid,
                          peer.accepted_epoch)
                raise OSError("Error: Epoch of leader is lower")
            self.leader_sid = server.id
            # TODO(zab): SYNCHRONIZATION - syncWithLeader(new_epoch_zxid).
            self._start_serving(new_epoch)
            peer.set_zab_state(ZabState.BROADCAST)
            while self.is_running():
                self.process_packet(self.read_packet())
        except Exception as e:
            if self.is_running():
                LOG.warning("Exception when %s the leader: %s", self.activity, e,
                            exc_info=not isinstance(e, (OSError, EOFError)))
            self._close_socket()
        finally:
            if self.reader is not None:
                try:
                    self.reader.close()
                except OSError:
                    pass

    def _close_socket(self) -> None:
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    def shutdown(self) -> None:
        self._shutdown = True
        self.peer.set_zk_server(None)
        self._close_socket()
        self.zk.shutdown()
