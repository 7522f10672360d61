"""What followers and observers share: finding, joining, syncing with and
hearing the leader.

Java: ``Learner`` (``findLeader``, ``connectToLeader``,
``registerWithLeader``, ``syncWithLeader``, ``request``, ``validateSession``,
``revalidate``, ``ping``, ``readPacket``/``writePacket``, ``shutdown``) and
the common part of ``Follower.followLeader`` / ``Observer.observeLeader``
(ZK_SPEC.md §4.3):

* dial the leader's quorum port (up to 5 tries, 100 ms apart, within
  initLimit ticks - or connectToLearnerMasterLimit ticks if set);
* discovery: send FOLLOWERINFO/OBSERVERINFO with ``acceptedEpoch << 32``
  and our LearnerInfo; on LEADERINFO accept a newer epoch (persisting
  acceptedEpoch) and answer ACKEPOCH with our currentEpoch, or -1 if we
  had already accepted that epoch; refuse an older one;
* synchronization: DIFF (keep our data), SNAP (replace it with the
  leader's snapshot stream) or TRUNC (cut our log back and reload), then
  the proposals and commits that follow; on NEWLEADER take a snapshot
  (SNAP/TRUNC), persist currentEpoch, log the proposals still pending and
  ACK; on UPTODATE ACK again and start serving;
* broadcast: read packets until the leader goes away (the socket times
  out after syncLimit ticks without one: the leader pings every half
  tick), then the peer goes back to LOOKING.

What zkpy does differently, on purpose: the proposals pending at NEWLEADER
are written and fsynced before its ACK, on the learner's own thread (3.8.0
queues them to its SyncRequestProcessor and may ACK first, ZOOKEEPER-3911);
their ACKs follow the NEWLEADER ACK. A learner whose sync fails before
NEWLEADER forgets its in-memory database, so that the next election reads
it again from disk rather than vote with data it never persisted.

Reconfig (Java: the reconfig parts of ``syncWithLeader``): NEWLEADER's
config becomes the last seen one and is activated at UPTODATE; a reconfig
PROPOSAL makes its config the last seen one; COMMITANDACTIVATE /
INFORMANDACTIVATE activate it (``QuorumPeer.process_reconfig``). When that
changes our role or our leader, :class:`ReconfigRoleChange` ends this role
and the peer moves to its new one.

The connection to the leader comes from the peer's
:class:`.quorum_socket.QuorumSocketFactory` (TLS with ``sslQuorum``).
"""

from __future__ import annotations

import collections
import logging
import socket
import struct
import threading
import time
from typing import Optional

from ..defs import OpCode
from ..jute.archive import DEFAULT_MAX_BUFFER, length_limit
from ..jute.records import QuorumPacket
from ..server.txn_codec import deserialize_txn
from ..server.zookeeper_server import State
from .initial_message import format_address
from .quorum_auth import SaslException
from .quorum_packet import (
    ACK, ACKEPOCH, COMMIT, COMMITANDACTIVATE, DIFF, INFORM, INFORMANDACTIVATE, LEADERINFO, NEWLEADER, PING,
    PROPOSAL, REQUEST, REVALIDATE, SNAP, TRUNC, UPTODATE, describe, epoch_of, learner_info, make_zxid,
    packet_bytes, parse_buffered_packet, read_quorum_packet,
)
from .quorum_peer import SyncMode, ZabState
from .quorum_server import QuorumServer

LOG = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1
_RECV = 65536
SNAP_SIGNATURE = "BenWasHere"


class SocketReader:
    """Buffered reads from the leader's socket, with ``unread`` for the
    bytes a snapshot reader took past the end of the snapshot."""

    def __init__(self, sock: socket.socket, max_buffer: int = DEFAULT_MAX_BUFFER):
        self.sock = sock
        self.buf = bytearray()
        self.max_buffer = max_buffer
        self._limit = length_limit(max_buffer)

    def read_packet(self) -> QuorumPacket:
        """The next packet: parsed where it lies when the buffer holds it
        whole (no copies but its data), else read piece by piece."""
        parsed = parse_buffered_packet(self.buf, self._limit)
        if parsed is None:
            return read_quorum_packet(self.read_exact, self.max_buffer)
        packet, size = parsed
        del self.buf[:size]
        return packet

    def read_exact(self, n: int) -> bytes:
        buf = self.buf
        while len(buf) < n:
            chunk = self.sock.recv(max(_RECV, n - len(buf)))
            if not chunk:
                raise EOFError("the leader closed the connection")
            buf += chunk
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (b"" at EOF), as a raw stream's read."""
        if self.buf:
            data = bytes(self.buf[:n])
            del self.buf[:n]
            return data
        return self.sock.recv(max(1, min(n, 1 << 20)))

    def unread(self, data: bytes) -> None:
        self.buf[:0] = data

    def close(self) -> None:
        self.buf.clear()


class ReconfigRoleChange(Exception):
    """A reconfig changed our role or our leader: this role ends (Java
    throws "changes proposed in reconfig")."""

    def __init__(self) -> None:
        super().__init__("changes proposed in reconfig")


def designated_leader(data: Optional[bytes]) -> int:
    """The designated leader's sid at the head of a COMMITANDACTIVATE /
    INFORMANDACTIVATE."""
    return struct.unpack_from(">q", data or b"", 0)[0]


class PacketInFlight:
    """A proposal received during sync (Java: Learner.PacketInFlight)."""

    __slots__ = ("hdr", "txn", "payload")

    def __init__(self, hdr, txn, payload: bytes):
        self.hdr = hdr
        self.txn = txn
        self.payload = payload


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
        self.reader: Optional[SocketReader] = None
        self._write_lock = threading.Lock()
        self._unflushed = bytearray()  # packets written with flush=False
        self._shutdown = False
        self.leader_protocol_version = 0x01
        self.leader_sid: Optional[int] = None
        self.pending_revalidations: dict[int, object] = {}
        self.last_queued = 0

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
                    # With sslQuorum the TLS handshake runs here, under the initLimit timeout.
                    sock = peer.quorum_socket_factory.connect(
                        address, min(connect_timeout_ms, remaining) / 1000.0,
                        peer.tick_time * peer.init_limit / 1000.0)
                except OSError as e:
                    last_error = e
                    continue
                self.sock = sock
                self.reader = SocketReader(sock, self.peer.config.jute_max_buffer)
                LOG.info("%s is connected to the leader at %s", peer.my_id, format_address(*address))
                try:  # quorum SASL, before FOLLOWERINFO (Java: authLearner.authenticate); not retried
                    peer.auth_learner.authenticate(sock, self.reader, format_address(*address))
                except SaslException as e:
                    raise OSError(f"SASL authentication with the leader failed: {e}") from None
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
        reader = self.reader
        if reader is None:
            raise OSError("not connected to the leader")
        return reader.read_packet()

    def write_packet(self, packet: Optional[QuorumPacket], flush: bool = True) -> None:
        """Send ``packet``; with ``flush=False`` it waits in a buffer for the
        next flush (Java: writePacket(pp, flush) on a buffered stream), so a
        group of ACKs goes out in one send."""
        with self._write_lock:
            sock = self.sock
            if sock is None:
                self._unflushed.clear()
                raise OSError("not connected to the leader")
            if packet is not None:
                self._unflushed += packet_bytes(packet)
            if flush and self._unflushed:
                data = bytes(self._unflushed)
                self._unflushed.clear()
                sock.sendall(data)

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

    def ack(self, zxid: int, flush: bool = True) -> None:
        self.write_packet(QuorumPacket(ACK, zxid, None, None), flush)

    def request(self, request, flush: bool = True) -> None:
        """Forward a client request to the leader (Java: Learner.request);
        ``flush=False`` leaves it for the next flush."""
        payload = request.payload
        body = struct.pack(">qii", request.session_id, request.cxid, request.type)
        if payload:
            body += bytes(payload)
        auth = list(request.auth_info) if request.auth_info else None
        self.write_packet(QuorumPacket(REQUEST, -1, body, auth), flush)

    def validate_session(self, cnxn, session_id: int, timeout: int) -> None:
        """Ask the leader whether a resumed session is alive (Java: validateSession)."""
        LOG.info("Revalidating client: 0x%x", session_id & _MASK64)
        self.pending_revalidations[session_id] = cnxn
        self.write_packet(QuorumPacket(REVALIDATE, -1, struct.pack(">qi", session_id, timeout), None))

    def revalidate(self, qp: QuorumPacket) -> None:
        """The leader's answer to a REVALIDATE (Java: revalidate)."""
        data = qp.data or b""
        session_id = struct.unpack_from(">q", data, 0)[0]
        valid = len(data) > 8 and data[8] != 0
        cnxn = self.pending_revalidations.pop(session_id, None)
        if cnxn is None:
            LOG.warning("Missing session 0x%x for validation", session_id & _MASK64)
            return
        self.zk.finish_session_init(cnxn, valid)

    def ping(self, qp: QuorumPacket) -> None:
        """Answer the leader's PING with the sessions our clients touched."""
        touches = self.zk.touch_snapshot()
        data = b"".join(struct.pack(">qi", sid, timeout) for sid, timeout in touches.items())
        self.write_packet(QuorumPacket(PING, qp.zxid, data, qp.authinfo))

    def process_packet(self, qp: QuorumPacket) -> None:
        raise NotImplementedError

    def _parse_txn(self, qp: QuorumPacket, skip: int = 0) -> PacketInFlight:
        data = (qp.data or b"")[skip:]
        hdr, txn, _digest = deserialize_txn(data)
        expected = self.last_queued + 1
        if hdr.zxid != expected and not (hdr.zxid & 0xFFFFFFFF == 1 and epoch_of(hdr.zxid) > epoch_of(expected)):
            LOG.warning("Got zxid 0x%x expected 0x%x", hdr.zxid & _MASK64, (self.last_queued + 1) & _MASK64)
        self.last_queued = hdr.zxid
        return PacketInFlight(hdr, txn, bytes(data))

    # -- reconfig ------------------------------------------------------------------------------
    def _config_of(self, txn):
        return self.peer.config_from_string(bytes(txn.data or b"").decode("utf-8"))

    def _see_proposal(self, pif: PacketInFlight) -> None:
        """A reconfig proposal: its config is the last seen one."""
        if pif.hdr.type == OpCode.reconfig:
            self.peer.set_last_seen_quorum_verifier(self._config_of(pif.txn), True)

    def _activate(self, txn, qp: QuorumPacket) -> None:
        """COMMITANDACTIVATE / INFORMANDACTIVATE: the new config is active."""
        if self.peer.process_reconfig(self._config_of(txn), designated_leader(qp.data), qp.zxid, True):
            raise ReconfigRoleChange()

    # -- synchronization -------------------------------------------------------------------------
    def sync_with_leader(self, new_leader_zxid: int) -> None:
        """DIFF/SNAP/TRUNC, then proposals and commits until UPTODATE (Java: syncWithLeader)."""
        peer = self.peer
        zk = self.zk
        zk_db = peer.zk_db
        new_epoch = epoch_of(new_leader_zxid)
        qp = self.read_packet()
        snapshot_needed = True
        if qp.type == DIFF:
            LOG.info("Getting a diff from the leader 0x%x", qp.zxid & _MASK64)
            peer.set_sync_mode(SyncMode.DIFF)
            snapshot_needed = False
        elif qp.type == SNAP:
            peer.set_sync_mode(SyncMode.SNAP)
            LOG.info("Getting a snapshot from leader 0x%x", qp.zxid & _MASK64)
            signature = zk_db.deserialize_snapshot(self.reader, qp.zxid)
            self.reader.unread(zk_db.snapshot_leftover)
            zk_db.snapshot_leftover = b""
            if signature != SNAP_SIGNATURE:
                LOG.error("Missing signature. Got %s", signature)
                raise OSError("Missing signature")
        elif qp.type == TRUNC:
            peer.set_sync_mode(SyncMode.TRUNC)
            LOG.warning("Truncating log to get in sync with the leader 0x%x", qp.zxid & _MASK64)
            if not zk_db.truncate_log(qp.zxid):
                LOG.error("Not able to truncate the log 0x%x", qp.zxid & _MASK64)
                raise OSError(f"Not able to truncate the log 0x{qp.zxid & _MASK64:x}")
            zk_db.set_last_processed_zxid(qp.zxid)
        else:
            LOG.error("Got unexpected packet from leader: %s, exiting ... ", describe(qp))
            raise OSError(f"unexpected packet {describe(qp)} where DIFF, SNAP or TRUNC belongs")
        zk_db.init_config_node(str(peer.quorum_verifier), peer.quorum_verifier.version)
        zk.set_zxid(zk_db.last_processed_zxid)
        zk.create_session_tracker()
        self.last_queued = zk_db.last_processed_zxid
        not_committed: collections.deque[PacketInFlight] = collections.deque()
        committed: collections.deque[int] = collections.deque()
        write_to_txn_log = not snapshot_needed
        new_leader_qv = None
        while self.is_running():
            qp = self.read_packet()
            t = qp.type
            if t == PROPOSAL:
                pif = self._parse_txn(qp)
                self._see_proposal(pif)
                not_committed.append(pif)
            elif t in (COMMIT, COMMITANDACTIVATE):
                if t == COMMITANDACTIVATE:
                    pif = not_committed[0] if not_committed else None
                    if pif is not None and pif.hdr.zxid == qp.zxid and pif.hdr.type == OpCode.reconfig:
                        self._activate(pif.txn, qp)
                if not write_to_txn_log:
                    pif = not_committed[0] if not_committed else None
                    if pif is None or pif.hdr.zxid != qp.zxid:
                        LOG.warning("Committing 0x%x, but next proposal is 0x%x", qp.zxid & _MASK64,
                                    (pif.hdr.zxid if pif else -1) & _MASK64)
                    else:
                        zk.apply_txn(pif.hdr, pif.txn, pif.payload)
                        not_committed.popleft()
                else:
                    committed.append(qp.zxid)
            elif t in (INFORM, INFORMANDACTIVATE):
                pif = self._parse_txn(qp, 8 if t == INFORMANDACTIVATE else 0)
                if t == INFORMANDACTIVATE:
                    self._activate(pif.txn, qp)
                if not write_to_txn_log:
                    zk.apply_txn(pif.hdr, pif.txn, pif.payload)
                else:
                    not_committed.append(pif)
                    committed.append(qp.zxid)
            elif t == UPTODATE:
                LOG.info("Learner received UPTODATE message")
                if new_leader_qv is not None and peer.process_reconfig(new_leader_qv, None, None, True):
                    raise ReconfigRoleChange()
                break
            elif t == NEWLEADER:
                LOG.info("Learner received NEWLEADER message")
                if qp.data and len(qp.data) > 1 and peer.reconfig_enabled:
                    try:
                        new_leader_qv = peer.config_from_string(bytes(qp.data).decode("utf-8"))
                        peer.set_last_seen_quorum_verifier(new_leader_qv, True)
                        LOG.info("Setting new quorum verifier %s", new_leader_qv)
                    except Exception:  # noqa: BLE001 - as Java, a bad config does not stop the sync
                        LOG.warning("Bad config in NEWLEADER", exc_info=True)
                if snapshot_needed:
                    zk.take_snapshot()
                peer.set_current_epoch(new_epoch)
                write_to_txn_log = True
                self.sock.settimeout(peer.tick_time * peer.sync_limit / 1000.0)
                peer.set_sync_mode(SyncMode.NONE)
                zk.startup()  # the chain runs; clients come at UPTODATE
                acks = self._log_pending(not_committed)
                self.ack(new_leader_zxid)
                for zxid in acks:
                    self.ack(zxid)
            elif t != PING:  # pings are answered once in broadcast (Java ignores them here too)
                LOG.warning("Unexpected packet during sync: %s", describe(qp))
        if not write_to_txn_log:
            raise OSError("UPTODATE before NEWLEADER: a pre-Zab-1.0 leader is not supported")
        self.ack(make_zxid(new_epoch, 0))
        peer.set_zk_server(zk)
        peer.update_election_vote(new_epoch)
        self._after_uptodate(not_committed, committed)

    def _log_pending(self, proposals) -> list[int]:
        """Followers log (and drop) the proposals pending at NEWLEADER; an
        observer keeps them, to apply with their COMMITs after UPTODATE (a
        DIFF's txns: Java clears packetsNotCommitted for followers only)."""
        return []

    def _after_uptodate(self, not_committed, committed) -> None:
        raise NotImplementedError

    # -- the role ------------------------------------------------------------------------------
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
        synced = False
        try:
            self.connect_to_leader(server)
            new_epoch_zxid = self.register_with_leader(self.info_packet)
            new_epoch = epoch_of(new_epoch_zxid)
            if new_epoch < peer.accepted_epoch:
                LOG.error("Proposed leader epoch %x is less than our accepted epoch %x", new_epoch_zxid,
                          peer.accepted_epoch)
                raise OSError("Error: Epoch of leader is lower")
            self.leader_sid = server.id
            peer.set_zab_state(ZabState.SYNCHRONIZATION)
            try:
                self.sync_with_leader(new_epoch_zxid)
            finally:
                synced = self.zk.state is not State.INITIAL
                if not synced:
                    # Our tree may hold a half-read snapshot or txns never
                    # persisted: read it again from disk before voting.
                    peer.zk_db.clear()
            peer.set_zab_state(ZabState.BROADCAST)
            while self.is_running():
                self.process_packet(self.read_packet())
        except Exception as e:
            if self.is_running():
                LOG.warning("Exception when %s the leader: %s", self.activity, e,
                            exc_info=not isinstance(e, (OSError, EOFError)))
            self.close_socket()
        finally:
            if self.reader is not None:
                self.reader.close()

    def close_socket(self) -> None:
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
        self.close_socket()
        self.zk.shutdown()
