"""Txn payload encoding and decoding.

Java: ``org.apache.zookeeper.server.util.SerializeUtils`` (``deserializeTxn``)
and the txn half of ``org.apache.zookeeper.server.Request``
(``getSerializeData``), plus the sub-txn decoding that ``DataTree.processTxn``
does for ``MultiTxn`` (ZK_SPEC.md §5.3).

A txn payload is ``TxnHeader | type-specific record | optional TxnDigest``.
The same bytes are the txn log entry payload and the PROPOSAL / INFORM data.

Deliberate differences from Java:

* A closeSession txn whose record is absent (old logs, or
  ``zookeeper.closeSessionTxn.enabled=false``) decodes to
  ``CloseSessionTxn(paths2Delete=None)`` instead of Java's ``null`` record:
  ``None`` means "not recorded: delete every ephemeral of the session".
* ``decode_txn_record`` applies the CreateTxnV0 fallback to sub-txns too
  (Java only does so for a top-level create); it can only help.
* A digest is read whenever at least 12 bytes follow the record, whatever the
  txn type (as Java does); ``serialize_txn`` never writes one after an error
  txn (as Java's writer does not).
"""

from __future__ import annotations

import logging
import struct
from typing import Iterable

from ..defs import OpCode
from ..jute.archive import InputArchive, JuteEOFError, JuteError, OutputArchive
from ..jute.record import Record
from ..jute.records import (
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTTLTxn, CreateTxn,
    CreateTxnV0, DeleteTxn, ErrorTxn, MultiTxn, SetACLTxn, SetDataTxn, Txn, TxnDigest, TxnHeader,
)

LOG = logging.getLogger(__name__)

__all__ = [
    "TXN_RECORDS", "TxnCodecError", "decode_txn_record", "deserialize_txn", "serialize_txn",
    "encode_multi", "decode_multi", "serialize_record", "TXN_HEADER_SIZE",
]

#: TxnHeader.type -> the record class that follows the header (ZK_SPEC.md §5.3).
TXN_RECORDS: dict[int, type] = {
    int(OpCode.createSession): CreateSessionTxn,
    int(OpCode.closeSession): CloseSessionTxn,
    int(OpCode.create): CreateTxn,
    int(OpCode.create2): CreateTxn,
    int(OpCode.createContainer): CreateContainerTxn,
    int(OpCode.createTTL): CreateTTLTxn,
    int(OpCode.delete): DeleteTxn,
    int(OpCode.deleteContainer): DeleteTxn,
    int(OpCode.setData): SetDataTxn,
    int(OpCode.reconfig): SetDataTxn,
    int(OpCode.setACL): SetACLTxn,
    int(OpCode.check): CheckVersionTxn,
    int(OpCode.multi): MultiTxn,
    int(OpCode.error): ErrorTxn,
}

# TxnHeader: clientId long, cxid int, zxid long, time long, type int.
_HDR = struct.Struct(">qiqqi")
TXN_HEADER_SIZE = _HDR.size  # 32
_DIGEST = struct.Struct(">iq")
_CREATE = int(OpCode.create)
_CREATE2 = int(OpCode.create2)
_CLOSE_SESSION = int(OpCode.closeSession)
_ERROR = int(OpCode.error)


class TxnCodecError(JuteError):
    """A txn payload could not be decoded (unknown type, short record...)."""


def _read_record(inp: InputArchive, txn_type: int):
    """Read the record for ``txn_type`` at ``inp.pos``, with Java's fallbacks."""
    cls = TXN_RECORDS.get(txn_type)
    if cls is None:
        raise TxnCodecError(f"Unsupported Txn with type={txn_type}")
    start = inp.pos
    try:
        return cls.deserialize(inp)
    except JuteEOFError:
        if txn_type in (_CREATE, _CREATE2):
            # Perhaps a V0 create: no parentCVersion. -1 makes the tree use
            # the parent's current cversion + 1.
            inp.pos = start
            v0 = CreateTxnV0.deserialize(inp)
            return CreateTxn(v0.path, v0.data, v0.acl, v0.ephemeral, -1)
        if txn_type == _CLOSE_SESSION:
            # Written before CloseSessionTxn existed (or with it disabled).
            inp.pos = start
            return CloseSessionTxn(None)
        raise


def decode_txn_record(txn_type: int, data: bytes | bytearray | memoryview | None) -> Record:
    """Decode a record of ``txn_type`` from ``data`` (e.g. a MultiTxn's ``Txn.data``)."""
    inp = InputArchive(data if data is not None else b"")
    try:
        return _read_record(inp, txn_type)
    except TxnCodecError:
        raise
    except JuteError as e:
        raise TxnCodecError(f"cannot decode txn record of type {txn_type}: {e}") from e


def serialize_record(record: Record) -> bytes:
    """The bytes of one record (for ``Txn.data`` inside a MultiTxn)."""
    out = OutputArchive()
    record.serialize(out)
    return bytes(out.buf)


def serialize_txn(hdr: TxnHeader, txn: Record | None, digest: TxnDigest | None = None) -> bytes:
    """Header + record + optional digest: the log entry / proposal payload.

    An error txn never carries a digest (Java does not write one). A
    closeSession txn that has a digest always gets its record, even if
    ``txn`` is None (an empty vector), so that a Java reader does not read
    the digest as the paths2Delete vector.
    """
    out = OutputArchive()
    out.buf += _HDR.pack(hdr.clientId, hdr.cxid, hdr.zxid, hdr.time, hdr.type)
    if hdr.type == _CLOSE_SESSION and digest is not None:
        if txn is None or txn.paths2Delete is None:
            txn = CloseSessionTxn([])
    if txn is not None:
        txn.serialize(out)
    if digest is not None and hdr.type != _ERROR:
        out.buf += _DIGEST.pack(digest.version, digest.treeDigest)
    return bytes(out.buf)


def deserialize_txn(payload: bytes | bytearray | memoryview) -> tuple[TxnHeader, Record | None, TxnDigest | None]:
    """Split a txn payload into ``(TxnHeader, record, TxnDigest | None)``.

    The digest is present iff at least 12 bytes remain after the record.
    Raises :class:`TxnCodecError` on a short header, an unknown type or a
    record that does not parse.
    """
    if len(payload) < TXN_HEADER_SIZE:
        raise TxnCodecError(f"txn payload of {len(payload)} bytes is shorter than a TxnHeader")
    hdr = TxnHeader(*_HDR.unpack_from(payload, 0))
    inp = InputArchive(payload, TXN_HEADER_SIZE)
    try:
        record = _read_record(inp, hdr.type)
    except TxnCodecError:
        raise
    except JuteError as e:
        raise TxnCodecError(f"cannot decode txn 0x{hdr.zxid & 0xFFFFFFFFFFFFFFFF:x} type {hdr.type}: {e}") from e
    digest = None
    remaining = len(payload) - inp.pos
    if remaining >= _DIGEST.size:
        digest = TxnDigest(*_DIGEST.unpack_from(payload, inp.pos))
        if remaining > _DIGEST.size:
            LOG.debug("txn 0x%x has %d unexpected trailing bytes", hdr.zxid, remaining - _DIGEST.size)
    elif remaining:
        LOG.debug("txn 0x%x has %d trailing bytes, too few for a digest", hdr.zxid, remaining)
    return hdr, record, digest


def encode_multi(ops: Iterable[tuple[int, Record]]) -> MultiTxn:
    """Build a MultiTxn from ``(type, record)`` sub-txns."""
    return MultiTxn([Txn(int(t), serialize_record(rec)) for t, rec in ops])


def decode_multi(multi: MultiTxn) -> list[tuple[int, Record]]:
    """The ``(type, record)`` sub-txns of a MultiTxn (inverse of :func:`encode_multi`)."""
    return [(sub.type, decode_txn_record(sub.type, sub.data)) for sub in (multi.txns or [])]
