"""zkpy.server.persistence.file_txn_log (ZK_SPEC.md §5.2, §8)."""

from __future__ import annotations

import logging
import os
import struct
import zlib

import pytest

from zkpy.defs import OpCode
from zkpy.jute.records import CreateSessionTxn, CreateTxn, OPEN_ACL_UNSAFE, SetDataTxn, TxnDigest, TxnHeader
from zkpy.server.persistence import file_txn_log as ftl
from zkpy.server.persistence.file_txn_log import FileTxnLog, calculate_file_size_with_padding
from zkpy.server.persistence.util import CorruptLogError, PersistenceError, make_log_name
from zkpy.server.txn_codec import serialize_txn

HEADER = bytes.fromhex("5a4b4c47" "00000002" "0000000000000000")
SPEC_ENTRY = bytes.fromhex(
    "000000008ebe08fd" "00000030"
    "01000007293a0000" "00000000" "0000000000000001" "000001a21c155058" "fffffff6"
    "00003a98"
    "00000002" "0000000051c6d660"
    "42"
)


def txn(zxid: int, data: bytes = b"v") -> tuple[TxnHeader, bytes]:
    h = TxnHeader(0x42, zxid & 0x7FFFFFFF, zxid, 1_000 + zxid, int(OpCode.setData))
    return h, serialize_txn(h, SetDataTxn("/node", data, zxid & 0x7FFFFFFF), TxnDigest(2, zxid * 1000))


def write(log: FileTxnLog, zxids, data: bytes = b"v") -> None:
    for z in zxids:
        log.append(*txn(z, data))
    log.commit()


def zxids(it) -> list[int]:
    return [e.hdr.zxid for e in it]


def entry_offsets(path, count: int) -> list[int]:
    """Offsets of the first ``count`` entries of a log file."""
    raw = path.read_bytes()
    offs, off = [], 16
    for _ in range(count):
        offs.append(off)
        (length,) = struct.unpack_from(">i", raw, off + 8)
        off += 13 + length
    return offs


def patch(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.fixture
def log_dir(tmp_path):
    d = tmp_path / "version-2"
    d.mkdir()
    return d


def test_spec_example_exact_bytes(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    h = TxnHeader(0x01000007293A0000, 0, 1, 0x1A21C155058, int(OpCode.createSession))
    assert log.append(h, serialize_txn(h, CreateSessionTxn(15000), TxnDigest(2, 1371985504)))
    log.commit()
    log.close()
    assert (log_dir / "log.1").read_bytes() == HEADER + SPEC_ENTRY
    [entry] = list(FileTxnLog(log_dir).read(1))
    assert entry.hdr == h and entry.txn == CreateSessionTxn(15000)
    assert entry.digest == TxnDigest(2, 1371985504)
    assert entry.payload == SPEC_ENTRY[12:-1]


def test_preallocated_file_size_and_padding(log_dir):
    log = FileTxnLog(log_dir)  # default 64 MiB
    h = TxnHeader(1, 0, 1, 0, int(OpCode.createSession))
    log.append(h, serialize_txn(h, CreateSessionTxn(15000), TxnDigest(2, 1371985504)))
    log.commit()
    path = log_dir / "log.1"
    assert path.stat().st_size == 64 * 1024 * 1024 + 16  # 67,108,880 as Java [obs]
    with open(path, "rb") as f:
        assert f.read(16 + len(SPEC_ENTRY))[:16] == HEADER
    log.close()
    assert [e.hdr.zxid for e in FileTxnLog(log_dir).read(0)] == [1]


def test_padding_grows_in_chunks(log_dir):
    chunk = 8192
    log = FileTxnLog(log_dir, pre_alloc_size=chunk)
    path = log_dir / "log.1"
    sizes = []
    for z in range(1, 200):
        log.append(*txn(z, b"x" * 100))
        log.commit()
        sizes.append(path.stat().st_size)
    log.close()
    assert sizes[0] == 16 + chunk
    assert all(s >= 16 + chunk for s in sizes)
    # the file is always ahead of the data, grown in whole chunks
    assert set(s % chunk for s in sizes[1:]) <= {16, 0}
    assert zxids(FileTxnLog(log_dir).read(1)) == list(range(1, 200))


def test_calculate_file_size_with_padding():
    assert calculate_file_size_with_padding(16, 16, 100) == 116
    assert calculate_file_size_with_padding(10, 5000, 100) == 5000  # not yet within 4 KiB
    assert calculate_file_size_with_padding(4000, 5000, 100) == 5100
    assert calculate_file_size_with_padding(7000, 5000, 1000) == 8000  # beyond: next multiple
    assert calculate_file_size_with_padding(4000, 5000, 0) == 5000  # disabled


def test_round_trip_and_read_from_zxid_across_files(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 6))
    log.roll_log()
    write(log, range(6, 11))
    log.roll_log()
    write(log, range(11, 14))
    log.close()
    assert [p.name for p in log.list_logs()] == ["log.1", "log.6", "log.b"]
    reader = FileTxnLog(log_dir)
    assert zxids(reader.read(1)) == list(range(1, 14))
    assert zxids(reader.read(0)) == list(range(1, 14))
    assert zxids(reader.read(4)) == list(range(4, 14))
    assert zxids(reader.read(6)) == list(range(6, 14))
    assert zxids(reader.read(8)) == list(range(8, 14))
    assert zxids(reader.read(13)) == [13]
    assert zxids(reader.read(14)) == []
    # without fast-forward the iterator starts at the covering file
    assert zxids(reader.read(8, fast_forward=False))[0] == 6
    assert zxids(reader.read(6, fast_forward=False))[0] == 1  # Java also opens the file below
    assert reader.get_last_logged_zxid() == 13
    assert [p.name for p in reader.get_log_files(7)] == ["log.6", "log.b"]
    assert [p.name for p in reader.get_log_files(0)] == ["log.1", "log.6", "log.b"]
    e = next(iter(reader.read(3)))
    assert e.txn == SetDataTxn("/node", b"v", 3) and e.digest == TxnDigest(2, 3000)


def test_group_commit_fsyncs_once_per_file(log_dir, monkeypatch):
    synced = []
    monkeypatch.setattr(ftl, "_fdatasync", lambda fd: synced.append(fd))
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    for z in range(1, 50):
        log.append(*txn(z))
    assert synced == []
    log.commit()
    assert len(synced) == 1
    log.append(*txn(50))
    log.roll_log()
    log.append(*txn(51))
    log.commit()  # the rolled file and the new one
    assert len(synced) == 3
    assert log.last_fsync_ms >= 0
    log.close()
    synced.clear()
    log = FileTxnLog(log_dir, pre_alloc_size=0, force_sync=False)
    write(log, [52])
    assert synced == []
    log.close()
    assert zxids(FileTxnLog(log_dir).read(1)) == list(range(1, 53))


def test_writes_are_buffered_until_commit(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    log.append(*txn(1))
    assert (log_dir / "log.1").stat().st_size == 16  # header only, entry still buffered
    log.commit()
    assert (log_dir / "log.1").stat().st_size > 16
    log.close()


def test_warns_when_zxid_goes_backwards(log_dir, caplog):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    with caplog.at_level(logging.WARNING, logger=ftl.__name__):
        write(log, [5, 5])
    assert "Current zxid 0x5 is <= 0x5" in caplog.text
    log.close()


def test_size_limit_rolls(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0, size_limit=200)
    for z in range(1, 20):
        write(log, [z], b"y" * 40)
    log.close()
    assert len(log.list_logs()) > 3
    assert zxids(FileTxnLog(log_dir).read(1)) == list(range(1, 20))


def test_rejects_payloads_readers_would_refuse(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0, max_buffer=1024)
    h, _ = txn(1)
    with pytest.raises(ValueError):
        log.append(h, b"")
    with pytest.raises(ValueError):
        log.append(h, b"x" * 3000)
    log.close()


# -- end detection and damage ------------------------------------------------------

def test_zero_padding_ends_file_cleanly(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=1 << 20)
    write(log, range(1, 4))
    log.close()
    assert (log_dir / "log.1").stat().st_size == (1 << 20) + 16
    assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2, 3]


def test_torn_last_entry_is_truncated(log_dir, caplog):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 6), b"payload")
    log.close()
    path = log_dir / "log.1"
    offs = entry_offsets(path, 5)
    size = path.stat().st_size
    patch(path, offs[4] + 30, b"\xde\xad")  # damage the payload of the last entry, 'B' intact
    with caplog.at_level(logging.WARNING):
        assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2, 3, 4]
        assert FileTxnLog(log_dir).get_last_logged_zxid() == 4
    assert "Torn write" in caplog.text
    assert path.stat().st_size == size  # reads never modify the file
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    log.recover()
    assert path.stat().st_size == offs[4]
    write(log, [5, 6])  # the next append opens log.5
    log.close()
    assert [p.name for p in log.list_logs()] == ["log.1", "log.5"]
    assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2, 3, 4, 5, 6]


def test_first_append_recovers_automatically(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    write(log, range(1, 4))
    log.close()
    path = log_dir / "log.1"
    off = entry_offsets(path, 3)[2]
    patch(path, off, b"\x00\x00\x00\x00\x12\x34\x56\x78")  # wrong checksum, at EOF
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    write(log, [3])
    log.close()
    assert path.stat().st_size == off
    assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2, 3]


def test_corrupt_middle_entry_raises_with_file_and_offset(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 6), b"payload")
    log.close()
    path = log_dir / "log.1"
    offs = entry_offsets(path, 5)
    size = path.stat().st_size
    patch(path, offs[2] + 30, b"\xde\xad")
    with pytest.raises(CorruptLogError) as err:
        list(FileTxnLog(log_dir).read(1))
    assert str(path) in str(err.value) and f"offset {offs[2]}" in str(err.value)
    log = FileTxnLog(log_dir)
    with pytest.raises(CorruptLogError):
        log.recover()
    with pytest.raises(CorruptLogError):
        log.get_last_logged_zxid()
    assert path.stat().st_size == size  # nothing was cut


def test_bad_last_entry_of_older_file_is_corruption(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 4))
    log.roll_log()
    write(log, range(4, 6))
    log.close()
    path = log_dir / "log.1"
    off = entry_offsets(path, 3)[2]
    patch(path, off + 20, b"\xff")
    assert zxids(FileTxnLog(log_dir).read(4)) == [4, 5]  # log.1 is not needed
    with pytest.raises(CorruptLogError, match="log.1"):
        list(FileTxnLog(log_dir).read(1))


def test_missing_B_ends_the_file(log_dir, caplog):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 6))
    log.roll_log()
    write(log, range(6, 8))
    log.close()
    path = log_dir / "log.1"
    offs = entry_offsets(path, 5)
    b_pos = offs[3] - 1  # the 'B' of entry 3
    assert path.read_bytes()[b_pos] == 0x42
    patch(path, b_pos, b"X")
    with caplog.at_level(logging.WARNING):
        # Java: a partial write ends that file; reading goes on with the next one
        assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2, 6, 7]
    assert "partial" in caplog.text


def test_missing_B_at_end_of_newest_file_is_torn(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 4))
    log.close()
    path = log_dir / "log.1"
    raw = path.read_bytes()
    end = len(raw.rstrip(b"\0"))
    last = entry_offsets(path, 3)[2]
    patch(path, end - 1, b"\x00")  # the last 'B' never made it
    assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2]
    FileTxnLog(log_dir).recover()
    assert path.stat().st_size == last


def test_eof_inside_last_entry(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    write(log, range(1, 4))
    log.close()
    path = log_dir / "log.1"
    size = path.stat().st_size
    last = entry_offsets(path, 3)[2]
    os.truncate(path, size - 5)
    assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2]
    FileTxnLog(log_dir).recover()
    assert path.stat().st_size == last


@pytest.mark.parametrize("bad_len", [-7, 0x7FFFFFF0])
def test_unreasonable_length(log_dir, bad_len):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 5))
    log.close()
    path = log_dir / "log.1"
    offs = entry_offsets(path, 4)
    original = path.read_bytes()
    # in the last entry, followed by zeros: a torn write
    patch(path, offs[3] + 8, struct.pack(">i", bad_len))
    assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2, 3]
    # in a middle entry: corruption
    path.write_bytes(original)
    patch(path, offs[1] + 8, struct.pack(">i", bad_len))
    with pytest.raises(CorruptLogError, match=f"offset {offs[1]}"):
        list(FileTxnLog(log_dir).read(1))


def test_bad_magic_names_the_file(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    write(log, [1])
    log.close()
    patch(log_dir / "log.1", 0, b"ZKSN")
    with pytest.raises(CorruptLogError, match="log.1.*invalid magic"):
        list(FileTxnLog(log_dir).read(1))


def test_truncated_header_of_newest_file(log_dir, caplog):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    write(log, [1, 2])
    log.close()
    (log_dir / "log.3").write_bytes(HEADER[:7])  # crash right after creating log.3
    with caplog.at_level(logging.WARNING):
        assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2]
        assert FileTxnLog(log_dir).get_last_logged_zxid() == 2
    assert "log.3" in caplog.text
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    log.recover()
    assert not (log_dir / "log.3").exists()
    # a short header in an older file is corruption
    (log_dir / "log.0").write_bytes(b"")
    with pytest.raises(CorruptLogError, match="log.0"):
        list(FileTxnLog(log_dir).read(0))


def test_last_logged_zxid(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    assert log.get_last_logged_zxid() == -1
    write(log, [1, 2, 3])
    assert log.get_last_logged_zxid() == 3
    log.append(*txn(4))  # buffered: still counted (the writer flushes first)
    assert log.get_last_logged_zxid() == 4
    log.close()
    # an empty newest file (header only) does not hide the older txns
    (log_dir / "log.5").write_bytes(HEADER)
    assert FileTxnLog(log_dir).get_last_logged_zxid() == 4


# -- truncate ---------------------------------------------------------------------

def test_truncate_inside_a_file_and_drop_later_files(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 6))
    log.roll_log()
    write(log, range(6, 11))
    log.roll_log()
    write(log, range(11, 14))
    log.close()
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    assert log.truncate(7)
    assert [p.name for p in log.list_logs()] == ["log.1", "log.6"]
    assert zxids(log.read(1)) == list(range(1, 8))
    assert log.get_last_logged_zxid() == 7
    # appending after a truncate continues in a new file
    write(log, [8, 9])
    log.close()
    assert zxids(FileTxnLog(log_dir).read(1)) == list(range(1, 10))


def test_truncate_edges(log_dir):
    with pytest.raises(PersistenceError, match="No log files found to truncate"):
        FileTxnLog(log_dir).truncate(5)
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    write(log, range(1, 4))
    log.roll_log()
    write(log, range(4, 6))
    log.close()
    log = FileTxnLog(log_dir)
    assert log.truncate(5)  # nothing after 5: only the padding goes
    assert zxids(log.read(1)) == [1, 2, 3, 4, 5]
    assert log.truncate(3)  # exactly at a file boundary
    assert [p.name for p in log.list_logs()] == ["log.1"]
    assert zxids(log.read(1)) == [1, 2, 3]
    assert log.truncate(2)
    assert zxids(log.read(1)) == [1, 2]
    assert log.truncate(0)  # before everything: log.1 holds only later txns and goes
    assert log.list_logs() == []
    assert log.get_last_logged_zxid() == -1


def test_truncate_while_writing(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 10))
    log.truncate(4)
    write(log, [5])
    log.close()
    assert zxids(FileTxnLog(log_dir).read(1)) == [1, 2, 3, 4, 5]


def test_log_file_name_is_hex_of_first_zxid(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    write(log, [0x100000001, 0x100000002])
    log.close()
    assert (log_dir / "log.100000001").exists()
    assert make_log_name(0x100000001) == "log.100000001"


def test_checksum_is_adler32_of_payload_only(log_dir):
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    h, payload = txn(1, b"abc")
    log.append(h, payload)
    log.close()
    raw = (log_dir / "log.1").read_bytes()
    crc, length = struct.unpack_from(">qi", raw, 16)
    assert crc == zlib.adler32(payload) and length == len(payload)
    assert raw[28:28 + length] == payload and raw[28 + length:] == b"B"


def test_create_txn_v0_in_log_is_read(log_dir):
    # an old-format create (no parentCVersion) as a 3.4 server wrote it
    from zkpy.jute.records import CreateTxnV0
    h = TxnHeader(1, 1, 1, 1, int(OpCode.create))
    log = FileTxnLog(log_dir, pre_alloc_size=0)
    log.append(h, serialize_txn(h, CreateTxnV0("/v0", b"", OPEN_ACL_UNSAFE, False)))
    log.close()
    [e] = list(FileTxnLog(log_dir).read(1))
    assert e.txn == CreateTxn("/v0", b"", OPEN_ACL_UNSAFE, False, -1) and e.digest is None


def test_zeroed_entry_in_older_file_ends_it_with_a_warning(log_dir, caplog):
    log = FileTxnLog(log_dir, pre_alloc_size=4096)
    write(log, range(1, 4))
    log.roll_log()
    write(log, [4])
    log.close()
    path = log_dir / "log.1"
    off = entry_offsets(path, 3)[1]
    patch(path, off, b"\0" * 12)  # checksum and len of entry 2 wiped
    with caplog.at_level(logging.WARNING):
        assert zxids(FileTxnLog(log_dir).read(1)) == [1, 4]  # Java: len 0 ends the file
    assert f"data after the zero length at offset {off}" in caplog.text
