"""Packets on the quorum (Zab) port.

Java: the packet-type constants of ``Leader`` (``Leader.FOLLOWERINFO`` ...),
``QuorumPacket`` (jute, in :mod:`zkpy.jute.records`) and the socket halves
of ``Learner.readPacket``/``writePacket`` and ``LearnerHandler``. On this
socket a packet is a bare jute ``QuorumPacket`` with no length prefix
(ZK_SPEC.md §4.3), so a reader has to follow the record field by field.
Sans-I/O like :mod:`.initial_message`: reading takes a ``read_exact(n)``
callable.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..jute.archive import DEFAULT_MAX_BUFFER, JuteError, length_limit
from ..jute.records import Id, LearnerInfo, QuorumPacket

REQUEST = 1
PROPOSAL = 2
ACK = 3
COMMIT = 4
PING = 5
REVALIDATE = 6
SYNC = 7
INFORM = 8
COMMITANDACTIVATE = 9
NEWLEADER = 10
FOLLOWERINFO = 11
UPTODATE = 12
DIFF = 13
TRUNC = 14
SNAP = 15
OBSERVERINFO = 16
LEADERINFO = 17
ACKEPOCH = 18
INFORMANDACTIVATE = 19

NAMES = {
    REQUEST: "REQUEST", PROPOSAL: "PROPOSAL", ACK: "ACK", COMMIT: "COMMIT", PING: "PING",
    REVALIDATE: "REVALIDATE", SYNC: "SYNC", INFORM: "INFORM", COMMITANDACTIVATE: "COMMITANDACTIVATE",
    NEWLEADER: "NEWLEADER", FOLLOWERINFO: "FOLLOWERINFO", UPTODATE: "UPTODATE", DIFF: "DIFF",
    TRUNC: "TRUNC", SNAP: "SNAP", OBSERVERINFO: "OBSERVERINFO", LEADERINFO: "LEADERINFO",
    ACKEPOCH: "ACKEPOCH", INFORMANDACTIVATE: "INFORMANDACTIVATE",
}

#: The Zab 1.0 protocol version learners and leaders announce.
PROTOCOL_VERSION = 0x10000

_HEAD = struct.Struct(">iqi")  # type, zxid, data length
_INT = struct.Struct(">i")
_BARE_PACKET_SIZE = _HEAD.size + 4  # no data (-1), no auth info (-1)
_ONE_READ_LIMIT = 1 << 16  # larger data is not copied again to split off the count


def packet_name(packet_type: int) -> str:
    return NAMES.get(packet_type, "UNKNOWN")


def describe(packet: QuorumPacket) -> str:
    """A log line for a packet (Java: LearnerHandler.packetToString, shortened)."""
    size = -1 if packet.data is None else len(packet.data)
    return f"{packet_name(packet.type)} zxid=0x{packet.zxid & 0xFFFFFFFFFFFFFFFF:x} data={size}B"


def make_zxid(epoch: int, counter: int) -> int:
    """Java: ZxidUtils.makeZxid."""
    return (epoch << 32) | (counter & 0xFFFFFFFF)


def epoch_of(zxid: int) -> int:
    """Java: ZxidUtils.getEpochFromZxid (an arithmetic shift, as Java's >>)."""
    return zxid >> 32


def read_quorum_packet(read_exact: Callable[[int], bytes], max_buffer: int = DEFAULT_MAX_BUFFER) -> QuorumPacket:
    """One QuorumPacket from a stream; ``read_exact`` raises on EOF.

    Lengths are checked as Java's BinaryInputArchive does (jute.maxbuffer
    plus the same again as extra), so a garbage length cannot make us
    allocate gigabytes.
    """
    limit = length_limit(max_buffer)
    packet_type, zxid, length = _HEAD.unpack(read_exact(_HEAD.size))
    if length < -1 or length > limit:
        raise JuteError(f"Unreasonable length = {length}")
    if length == -1:
        data = None
        tail = read_exact(4)
    elif length <= _ONE_READ_LIMIT:
        # Data and the auth-info count in one read: two reads per packet
        # (ACKs, PROPOSALs, COMMITs come by the thousand), not three.
        chunk = read_exact(length + 4)
        data, tail = chunk[:length], chunk[length:]
    else:
        data = read_exact(length)
        tail = read_exact(4)
    (count,) = _INT.unpack(tail)
    if count < -1 or count > limit:
        raise JuteError(f"Unreasonable vector count = {count}")
    authinfo = None
    if count >= 0:
        authinfo = []
        for _ in range(count):
            scheme, ident = (_read_ustring(read_exact, limit), _read_ustring(read_exact, limit))
            authinfo.append(Id(scheme, ident))
    return QuorumPacket(packet_type, zxid, data, authinfo)


#: An ACK as learners send it in the broadcast phase: type, zxid, a null
#: data buffer (-1) and a null auth-info vector (-1).
_PLAIN_ACK = struct.Struct(">iqii")


def take_buffered_acks(reader) -> list[int]:
    """The zxids of the plain ACKs at the head of what a buffered reader
    (``peek``/``read``) holds, taken off it; [] when the next packet is
    something else, is not whole yet, or the stream ended. Waits for data
    only when the reader holds none."""
    size = _PLAIN_ACK.size
    held = reader.peek(size)
    last = len(held) - size
    offset = 0
    zxids = []
    while offset <= last:
        packet_type, zxid, length, auth_count = _PLAIN_ACK.unpack_from(held, offset)
        if packet_type != ACK or length != -1 or auth_count != -1:
            break
        zxids.append(zxid)
        offset += size
    if offset:
        reader.read(offset)
    return zxids


def parse_buffered_packet(buf: bytearray, limit: int = length_limit(DEFAULT_MAX_BUFFER)):
    """(packet, its size) when ``buf`` starts with a whole packet without
    auth info (PROPOSALs, COMMITs, PINGs: what a learner reads by the
    thousand), parsed in place; None otherwise, and for a length over
    ``limit`` (see :func:`~zkpy.jute.archive.length_limit`), which
    :func:`read_quorum_packet` then reads and refuses."""
    size = len(buf)
    if size < _BARE_PACKET_SIZE:
        return None
    packet_type, zxid, length = _HEAD.unpack_from(buf)
    if length == -1:
        if _INT.unpack_from(buf, _HEAD.size)[0] != -1:
            return None
        return QuorumPacket(packet_type, zxid, None, None), _BARE_PACKET_SIZE
    data_end = _HEAD.size + length
    if length < 0 or size < data_end + 4 or length > limit or _INT.unpack_from(buf, data_end)[0] != -1:
        return None
    return QuorumPacket(packet_type, zxid, bytes(memoryview(buf)[_HEAD.size:data_end]), None), data_end + 4


def packet_bytes(packet: QuorumPacket) -> bytes:
    """A packet's wire bytes: one struct pack for the usual packet without
    auth info (the generic jute writer costs several times more, and the
    leader writes each PROPOSAL and COMMIT once per follower)."""
    if packet.authinfo is not None:
        return packet.to_bytes()
    data = packet.data
    if data is None:
        return _HEAD.pack(packet.type, packet.zxid, -1) + _NULL_VECTOR
    return b"".join((_HEAD.pack(packet.type, packet.zxid, len(data)), data, _NULL_VECTOR))


_NULL_VECTOR = _INT.pack(-1)


def _read_ustring(read_exact: Callable[[int], bytes], limit: int):
    (length,) = _INT.unpack(read_exact(4))
    if length < -1 or length > limit:
        raise JuteError(f"Unreasonable length = {length}")
    if length == -1:
        return None
    return read_exact(length).decode("utf-8", "replace")


def learner_info(sid: int, config_version: int) -> bytes:
    """FOLLOWERINFO/OBSERVERINFO data (Java: Learner.registerWithLeader)."""
    return LearnerInfo(sid, PROTOCOL_VERSION, config_version).to_bytes()


def parse_learner_info(data: bytes | None) -> tuple[int | None, int, int | None]:
    """(sid, protocolVersion, configVersion) from LearnerInfo bytes, as far
    as they go: Java reads each field only when the data is long enough
    (older learners send only a sid). A missing sid is None."""
    if not data:
        return None, 0, None
    sid = struct.unpack_from(">q", data, 0)[0] if len(data) >= 8 else None
    version = struct.unpack_from(">i", data, 8)[0] if len(data) >= 12 else 0
    config_version = struct.unpack_from(">q", data, 12)[0] if len(data) >= 20 else None
    return sid, version, config_version
