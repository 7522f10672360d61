"""zkpy.server.txn_codec: txn payloads (ZK_SPEC.md §5.3, §8)."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpy.defs import OpCode
from zkpy.jute.archive import OutputArchive
from zkpy.jute.records import (
    ACL, OPEN_ACL_UNSAFE, CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn,
    CreateTTLTxn, CreateTxn, CreateTxnV0, DeleteTxn, ErrorTxn, Id, MultiTxn, SetACLTxn, SetDataTxn, Txn,
    TxnDigest, TxnHeader,
)
from zkpy.server.txn_codec import (
    TXN_RECORDS, TxnCodecError, decode_multi, decode_txn_record, deserialize_txn, encode_multi,
    serialize_record, serialize_txn,
)

# ZK_SPEC.md §8: the first entry of a fresh 3.8.0 standalone server's log.
SPEC_PAYLOAD = bytes.fromhex(
    "01000007293a0000" "00000000" "0000000000000001" "000001a21c155058" "fffffff6"
    "00003a98"
    "00000002" "0000000051c6d660"
)


def hdr(type_: int, zxid: int = 5) -> TxnHeader:
    return TxnHeader(0x1234, 7, zxid, 1_700_000_000_000, int(type_))


def test_spec_create_session_payload_bytes():
    h = TxnHeader(0x01000007293A0000, 0, 1, 0x1A21C155058, int(OpCode.createSession))
    payload = serialize_txn(h, CreateSessionTxn(15000), TxnDigest(2, 1371985504))
    assert payload == SPEC_PAYLOAD
    assert len(payload) == 48
    assert zlib.adler32(payload) == 0x8EBE08FD
    assert deserialize_txn(payload) == (h, CreateSessionTxn(15000), TxnDigest(2, 1371985504))


def test_record_table():
    assert TXN_RECORDS[-10] is CreateSessionTxn
    assert TXN_RECORDS[-11] is CloseSessionTxn
    assert TXN_RECORDS[1] is TXN_RECORDS[15] is CreateTxn
    assert TXN_RECORDS[19] is CreateContainerTxn
    assert TXN_RECORDS[21] is CreateTTLTxn
    assert TXN_RECORDS[2] is TXN_RECORDS[20] is DeleteTxn
    assert TXN_RECORDS[5] is TXN_RECORDS[16] is SetDataTxn
    assert TXN_RECORDS[7] is SetACLTxn
    assert TXN_RECORDS[13] is CheckVersionTxn
    assert TXN_RECORDS[14] is MultiTxn
    assert TXN_RECORDS[-1] is ErrorTxn


SAMPLES = [
    (OpCode.createSession, CreateSessionTxn(30000)),
    (OpCode.closeSession, CloseSessionTxn(["/e1", "/a/e2"])),
    (OpCode.closeSession, CloseSessionTxn([])),
    (OpCode.create, CreateTxn("/a", b"hello", OPEN_ACL_UNSAFE, False, 3)),
    (OpCode.create2, CreateTxn("/eph", None, [ACL(1, Id("digest", "u:x"))], True, 1)),
    (OpCode.createContainer, CreateContainerTxn("/c", b"", OPEN_ACL_UNSAFE, 2)),
    (OpCode.createTTL, CreateTTLTxn("/t", b"x", OPEN_ACL_UNSAFE, 4, 60000)),
    (OpCode.delete, DeleteTxn("/a")),
    (OpCode.deleteContainer, DeleteTxn("/c")),
    (OpCode.setData, SetDataTxn("/a", b"\x00\xff", 9)),
    (OpCode.reconfig, SetDataTxn("/zookeeper/config", b"server.1=...", -1)),
    (OpCode.setACL, SetACLTxn("/a", OPEN_ACL_UNSAFE, 2)),
]


@pytest.mark.parametrize("type_,record", SAMPLES, ids=lambda v: getattr(v, "name", type(v).__name__))
@pytest.mark.parametrize("with_digest", [False, True])
def test_round_trip(type_, record, with_digest):
    digest = TxnDigest(2, -123456789) if with_digest else None
    h = hdr(type_)
    payload = serialize_txn(h, record, digest)
    assert deserialize_txn(payload) == (h, record, digest)


def test_error_txn_never_carries_digest():
    h = hdr(OpCode.error)
    payload = serialize_txn(h, ErrorTxn(-101), TxnDigest(2, 99))
    assert len(payload) == 36  # header + int (ZK_SPEC.md §5.3)
    assert deserialize_txn(payload) == (h, ErrorTxn(-101), None)


def test_multi_round_trip_and_failed_multi_shape():
    ops = [
        (OpCode.create, CreateTxn("/m", b"1", OPEN_ACL_UNSAFE, False, 1)),
        (OpCode.check, CheckVersionTxn("/m", 0)),
        (OpCode.setData, SetDataTxn("/m", b"2", 1)),
        (OpCode.delete, DeleteTxn("/m")),
        (OpCode.error, ErrorTxn(-2)),
    ]
    multi = encode_multi(ops)
    assert [t.type for t in multi.txns] == [1, 13, 5, 2, -1]
    assert multi.txns[1].data == serialize_record(CheckVersionTxn("/m", 0))
    h = hdr(OpCode.multi)
    payload = serialize_txn(h, multi, TxnDigest(2, 1))
    h2, rec, dig = deserialize_txn(payload)
    assert (h2, rec, dig) == (h, multi, TxnDigest(2, 1))
    assert decode_multi(rec) == [(int(t), r) for t, r in ops]


def test_create_v0_fallback():
    v0 = CreateTxnV0("/old", b"d", OPEN_ACL_UNSAFE, True)
    payload = serialize_txn(hdr(OpCode.create), v0)
    h, rec, dig = deserialize_txn(payload)
    assert rec == CreateTxn("/old", b"d", OPEN_ACL_UNSAFE, True, -1)
    assert dig is None
    assert decode_txn_record(1, serialize_record(v0)) == CreateTxn("/old", b"d", OPEN_ACL_UNSAFE, True, -1)


def test_close_session_without_record():
    h = hdr(OpCode.closeSession)
    payload = serialize_txn(h, None)
    assert len(payload) == 32
    assert deserialize_txn(payload) == (h, CloseSessionTxn(None), None)
    assert decode_txn_record(-11, b"") == CloseSessionTxn(None)


def test_close_session_with_digest_always_writes_vector():
    h = hdr(OpCode.closeSession)
    payload = serialize_txn(h, None, TxnDigest(2, 5))
    assert payload[32:36] == b"\x00\x00\x00\x00"  # an empty vector, not the digest
    assert deserialize_txn(payload) == (h, CloseSessionTxn([]), TxnDigest(2, 5))


def test_short_trailer_is_not_a_digest():
    payload = serialize_txn(hdr(OpCode.delete), DeleteTxn("/x")) + b"\x00\x00\x00"
    assert deserialize_txn(payload)[2] is None


def test_errors():
    with pytest.raises(TxnCodecError):
        deserialize_txn(b"\x00" * 10)
    with pytest.raises(TxnCodecError, match="Unsupported"):
        deserialize_txn(serialize_txn(hdr(99), None))
    with pytest.raises(TxnCodecError):
        # a setData cut in the middle of its data buffer
        deserialize_txn(serialize_txn(hdr(OpCode.setData), SetDataTxn("/a", b"0123456789", 1))[:-8])
    with pytest.raises(TxnCodecError):
        decode_txn_record(42, b"")
    out = OutputArchive()
    out.write_string("/x")
    with pytest.raises(TxnCodecError):
        decode_txn_record(int(OpCode.setData), bytes(out.buf))  # no data, no version


_paths = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).map(lambda s: "/" + s)
_bytes = st.one_of(st.none(), st.binary(max_size=64))
_acls = st.lists(st.builds(ACL, st.integers(0, 31), st.builds(Id, st.sampled_from(["world", "digest", "ip"]),
                                                                st.text(max_size=10))), max_size=3)
_i32 = st.integers(-(2**31), 2**31 - 1)
_i64 = st.integers(-(2**63), 2**63 - 1)
_records = st.one_of(
    st.tuples(st.just(1), st.builds(CreateTxn, _paths, _bytes, _acls, st.booleans(), _i32)),
    st.tuples(st.just(21), st.builds(CreateTTLTxn, _paths, _bytes, _acls, _i32, _i64)),
    st.tuples(st.just(5), st.builds(SetDataTxn, _paths, _bytes, _i32)),
    st.tuples(st.just(7), st.builds(SetACLTxn, _paths, _acls, _i32)),
    st.tuples(st.just(2), st.builds(DeleteTxn, _paths)),
    st.tuples(st.just(-11), st.builds(CloseSessionTxn, st.lists(_paths, max_size=3))),
)


@settings(max_examples=60, deadline=None)
@given(_records, st.one_of(st.none(), st.builds(TxnDigest, _i32, _i64)), _i64, _i32, _i64)
def test_round_trip_property(type_record, digest, client, cxid, zxid):
    type_, record = type_record
    h = TxnHeader(client, cxid, zxid, 1, type_)
    assert deserialize_txn(serialize_txn(h, record, digest)) == (h, record, digest)


def test_multi_sub_txn_bytes_are_plain_records():
    multi = MultiTxn([Txn(2, serialize_record(DeleteTxn("/q")))])
    assert encode_multi([(OpCode.delete, DeleteTxn("/q"))]) == multi
