"""Jute archives and records: golden bytes from Java 3.8.0 and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkpy.jute import InputArchive, JuteEOFError, JuteError, OutputArchive
from zkpy.jute import records as R
from zkpy.jute.multi import read_multi_request, write_multi_request
from zkpy.jute.record import Record, Vector

GOLDEN = dict(
    line.split(" ", 1)
    for line in (Path(__file__).parent / "golden" / "java-3.8.0.txt").read_text().splitlines()
    if line.strip()
)

ACL2 = [R.ACL(31, R.Id("world", "anyone")), R.ACL(1, R.Id("digest", "bob:Zm9v"))]

# The same values Golden.java serializes.
JAVA_RECORDS = {
    "Stat": R.Stat(1, 2, 1700000000000, 1700000000001, 3, 4, 5, 0x0100000000000001, 6, 7, 8),
    "StatPersisted": R.StatPersisted(1, 2, 1700000000000, 1700000000001, 3, 4, 5, -(1 << 63), 8),
    "CreateRequest": R.CreateRequest("/a/\u00e9\u4e2d", b"hello", ACL2, 3),
    "CreateRequestNulls": R.CreateRequest("/n", None, ACL2, 0),
    "ConnectRequest": R.ConnectRequest(0, 0x123456789, 30000, 0x0100000000000004, bytes(16)),
    "ConnectResponse": R.ConnectResponse(0, 30000, 0x01000007293A0004, bytes(range(1, 17))),
    "ReplyHeader": R.ReplyHeader(-1, -1, 0),
    "WatcherEvent": R.WatcherEvent(3, 3, "/a"),
    "SetWatches": R.SetWatches(5, ["/d"], ["/e1", "/e2"], []),
    "GetChildren2Response": R.GetChildren2Response(["x", "y"], R.Stat()),
    "TxnHeader": R.TxnHeader(0x01000007293A0000, 7, 0x100000002, 1700000000000, 1),
    "CreateTxn": R.CreateTxn("/a", b"v", ACL2, True, 3),
    "CloseSessionTxn": R.CloseSessionTxn(["/e1", "/e2"]),
    "MultiTxn": R.MultiTxn([R.Txn(2, bytes.fromhex("000000022f61")), R.Txn(-1, bytes.fromhex("ffffff9b"))]),
    "QuorumPacket": R.QuorumPacket(2, 0x100000001, b"\x01\x02", None),
    "LearnerInfo": R.LearnerInfo(3, 0x10000, -1),
    "FileHeader": R.FileHeader(0x5A4B4C47, 2, 0),
    "WhoAmIResponse": R.WhoAmIResponse([R.ClientInfo("ip", "127.0.0.1")]),
}


@pytest.mark.parametrize("name", sorted(JAVA_RECORDS))
def test_bytes_match_java(name):
    record = JAVA_RECORDS[name]
    assert record.to_bytes().hex() == GOLDEN[name]
    assert type(record).from_bytes(bytes.fromhex(GOLDEN[name])) == record


def test_spec_create_example():
    # ZK_SPEC.md §8: create /a "hello" OPEN_ACL_UNSAFE, xid 1.
    payload = R.RequestHeader(1, 1).to_bytes() + R.CreateRequest("/a", b"hello", R.OPEN_ACL_UNSAFE, 0).to_bytes()
    assert payload.hex() == (
        "00000001" "00000001" "00000002" "2f61" "00000005" "68656c6c6f"
        "00000001" "0000001f" "00000005" "776f726c64" "00000006" "616e796f6e65" "00000000"
    )


def test_stat_sizes():
    assert len(R.Stat().to_bytes()) == 68
    assert len(R.StatPersisted().to_bytes()) == 60
    assert len(R.ReplyHeader().to_bytes()) == 16


def test_short_input_is_eof():
    with pytest.raises(JuteEOFError):
        R.Stat.from_bytes(bytes(67))


def test_unreasonable_lengths_are_rejected():
    # A hostile string length must not make the reader allocate it.
    with pytest.raises(JuteError):
        R.SyncRequest.from_bytes(b"\x7f\xff\xff\xff")
    with pytest.raises(JuteError):
        R.SyncRequest.from_bytes(b"\xff\xff\xff\xfe")
    with pytest.raises(JuteError):
        R.GetChildrenResponse.from_bytes(b"\x7f\xff\xff\xff")


def test_null_vs_empty():
    assert R.GetChildrenResponse(None).to_bytes() == b"\xff\xff\xff\xff"
    assert R.GetChildrenResponse([]).to_bytes() == b"\x00\x00\x00\x00"
    assert R.GetChildrenResponse.from_bytes(b"\xff\xff\xff\xff").children is None
    assert R.GetDataResponse.from_bytes(b"\xff\xff\xff\xff" + bytes(68)).data is None


def test_invalid_utf8_decodes_like_java():
    inp = InputArchive(b"\x00\x00\x00\x02\xff\xfe")
    assert inp.read_string() == "\ufffd\ufffd"


def test_multi_request_round_trip():
    ops = [(1, R.CreateRequest("/x", b"", R.OPEN_ACL_UNSAFE, 0)), (13, R.CheckVersionRequest("/a", 3)),
           (2, R.DeleteRequest("/y", -1)), (5, R.SetDataRequest("/z", b"d", 1))]
    out = OutputArchive()
    write_multi_request(out, ops)
    assert read_multi_request(InputArchive(bytes(out.buf))) == ops


ints = st.integers(-(1 << 31), (1 << 31) - 1)
longs = st.integers(-(1 << 63), (1 << 63) - 1)
texts = st.one_of(st.none(), st.text(max_size=20))
blobs = st.one_of(st.none(), st.binary(max_size=40))
ids = st.builds(R.Id, st.text(max_size=8), st.text(max_size=8))
acls = st.builds(R.ACL, ints, ids)


@given(st.builds(R.Stat, longs, longs, longs, longs, ints, ints, ints, longs, ints, ints, longs))
def test_stat_round_trip(stat):
    assert R.Stat.from_bytes(stat.to_bytes()) == stat


@given(st.builds(R.CreateRequest, texts, blobs, st.one_of(st.none(), st.lists(acls, max_size=4)), ints))
def test_create_request_round_trip(record):
    assert R.CreateRequest.from_bytes(record.to_bytes()) == record


@given(st.builds(R.SetWatches2, longs, *[st.one_of(st.none(), st.lists(st.text(max_size=10), max_size=4))] * 5))
def test_set_watches2_round_trip(record):
    assert R.SetWatches2.from_bytes(record.to_bytes()) == record


# -- every record: a round trip built from its declared fields ------------------------------

_PRIMITIVE_VALUES = {
    "byte": st.integers(-128, 127),
    "bool": st.booleans(),
    "int": ints,
    "long": longs,
    "ustring": texts,
    "buffer": blobs,
}


def _field_values(ftype):
    if isinstance(ftype, str):
        return _PRIMITIVE_VALUES[ftype]
    if isinstance(ftype, Vector):
        return st.one_of(st.none(), st.lists(_field_values(ftype.elem), max_size=3))
    return _record_values(ftype)


def _record_values(cls):
    return st.builds(cls, **{name: _field_values(ftype) for name, ftype in cls.FIELDS})


EVERY_RECORD = sorted(
    (cls for cls in vars(R).values() if isinstance(cls, type) and issubclass(cls, Record) and cls is not Record),
    key=lambda cls: cls.__name__,
)


def test_every_record_is_covered():
    # The client protocol, the data model, the txn log and the quorum packets.
    names = {cls.__name__ for cls in EVERY_RECORD}
    assert {"Stat", "StatPersisted", "ConnectRequest", "ConnectResponse", "CreateRequest", "SetWatches2",
            "TxnHeader", "CreateTxn", "MultiTxn", "FileHeader", "QuorumPacket"} <= names
    assert len(EVERY_RECORD) >= 60


def _reference_bytes(value, ftype) -> bytes:
    """A field written one primitive at a time by OutputArchive's own
    writers: what the records' precompiled structs must reproduce."""
    out = OutputArchive()

    def write(v, t):
        if isinstance(t, str):
            getattr(out, {"byte": "write_byte", "bool": "write_bool", "int": "write_int", "long": "write_long",
                          "ustring": "write_string", "buffer": "write_buffer"}[t])(v)
        elif isinstance(t, Vector):
            if v is None:
                out.write_int(-1)
            else:
                out.write_int(len(v))
                for item in v:
                    write(item, t.elem)
        else:
            for name, sub in t.FIELDS:
                write(getattr(v, name), sub)

    write(value, ftype)
    return bytes(out.buf)


@pytest.mark.parametrize("cls", EVERY_RECORD, ids=lambda cls: cls.__name__)
def test_every_record_round_trips(cls):
    @settings(max_examples=25, deadline=None)
    @given(_record_values(cls))
    def round_trip(record):
        data = record.to_bytes()
        assert data == _reference_bytes(record, cls)
        back = cls.from_bytes(data)
        assert back == record
        assert back.to_bytes() == data
        # Nothing left over, nothing missing: input cut anywhere (inside a
        # packed run of ints and longs too) is an EOF, never a short record.
        for cut in sorted({len(data) - 1, *range(0, len(data) - 1, 5)}):
            if cut >= 0:
                with pytest.raises(JuteEOFError):
                    cls.from_bytes(data[:cut])

    round_trip()


def test_opcodes_are_javas_ints_with_names():
    from zkpy.defs import CLIENT_OPS, OpCode, op_name
    assert (OpCode.setData, OpCode.createSession, OpCode.whoAmI) == (5, -10, 107)
    assert op_name(OpCode.setData) == "setData" and op_name(-11) == "closeSession"
    assert op_name(999) == "999"  # unknown: the number
    assert OpCode.notification not in CLIENT_OPS and {OpCode.multiRead, OpCode.closeSession} <= CLIENT_OPS


def test_a_record_nesting_a_record_that_nests_stat_round_trips():
    # Only a record of plain ints and longs is packed into its parent's
    # struct; one that nests another record keeps its own codec.
    from zkpy.jute.record import record
    inner = record("InnerForTest", [("a", "int"), ("stat", R.Stat)])
    outer = record("OuterForTest", [("x", "long"), ("inner", inner), ("y", "bool")])
    value = outer(1, inner(2, R.Stat(*range(11))), True)
    data = value.to_bytes()
    assert data == _reference_bytes(value, outer) and len(data) == 8 + 4 + 68 + 1
    assert outer.from_bytes(data) == value
