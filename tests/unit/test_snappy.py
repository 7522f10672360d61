"""zkpy.server.persistence.snappy and ``.snappy`` snapshots (ZK_SPEC.md §5.1, §5.5).

Java 3.8 writes them with snappy-java's SnappyOutputStream; the interop
tier (``tests/interop/test_mixed_ensemble_java.py``) reads Java's files
and has Java read zkpy's.
"""

from __future__ import annotations

import io
import os
import random
import struct

import pytest

from zkpy.server.persistence.file_snap import FileSnap, compression_method, is_valid_snapshot
from zkpy.server.persistence.snappy import (
    MAGIC, SnappyError, SnappyStreamReader, SnappyStreamWriter, compress_block, decompress_block,
)
from zkpy.server.persistence.util import CorruptSnapshotError

from .test_file_snap import SESSIONS, sample_tree, state

#: A block with every element kind, built by hand from the format description:
#: varint 21 | literal "abcd" | copy1 len 4 off 4 | copy2 len 5 off 1 (overlapping)
#: | copy4 len 4 off 13 | literal "!!!!"
HAND_BLOCK = (bytes([21]) + bytes([3 << 2]) + b"abcd" + bytes([0x01, 4])
              + bytes([(4 << 2) | 2, 1, 0]) + bytes([(3 << 2) | 3]) + struct.pack("<I", 13)
              + bytes([3 << 2]) + b"!!!!")


def test_decodes_every_element_kind():
    assert decompress_block(HAND_BLOCK) == b"abcdabcd" + b"ddddd" + b"abcd" + b"!!!!"


def test_long_literal_lengths():
    data = os.urandom(70_000 // 2)
    block = compress_block(data)
    assert decompress_block(block) == data
    assert block[3] == (61 << 2)  # a literal whose length takes two more bytes


@pytest.mark.parametrize("bad", [
    b"",                                  # no length
    bytes([5]) + bytes([3 << 2]) + b"ab",  # literal runs past the end
    bytes([4]) + bytes([0x01, 9]),        # copy before any output
    bytes([9]) + bytes([3 << 2]) + b"abcd",  # decodes to fewer bytes than announced
])
def test_corrupt_blocks_raise(bad):
    with pytest.raises(SnappyError):
        decompress_block(bad)


def test_compressor_round_trips_and_compresses():
    rng = random.Random(8)
    for n in (0, 1, 3, 4, 5, 63, 64, 65, 1000, 32768, 65535):
        for data in (bytes(rng.choice(b"ab\x00") for _ in range(n)), rng.randbytes(n), b"x" * n):
            assert decompress_block(compress_block(data)) == data
    records = b"".join(b"/app/node-%05d\x00\x00\x00\x01" % i + bytes(40) for i in range(500))
    assert len(compress_block(records[:32768])) < 32768 // 3


def test_stream_round_trip_in_blocks_and_concatenated():
    data = bytes(random.Random(1).choice(b"abc") for _ in range(100_000))
    out = io.BytesIO()
    writer = SnappyStreamWriter(out)
    for i in range(0, len(data), 7_001):
        writer.write(data[i:i + 7_001])
    writer.close()
    raw = out.getvalue()
    assert raw.startswith(MAGIC + struct.pack(">ii", 1, 1))
    first = struct.unpack(">i", raw[16:20])[0]
    assert len(decompress_block(raw[20:20 + first])) == 32 * 1024  # xerial's block size
    reader = SnappyStreamReader(io.BytesIO(raw + raw))  # a second stream, header included
    got = b"".join(iter(lambda: reader.read(5_000), b""))
    assert got == data + data


def test_truncated_stream_raises():
    out = io.BytesIO()
    writer = SnappyStreamWriter(out)
    writer.write(b"hello world" * 100)
    writer.close()
    with pytest.raises(SnappyError):
        SnappyStreamReader(io.BytesIO(out.getvalue()[:-3])).read()


def test_snappy_snapshot_round_trip(tmp_path):
    snap = FileSnap(tmp_path, compression="snappy")
    tree = sample_tree()
    path = snap.serialize(tree, dict(SESSIONS), 0x10)
    assert path.name == "snapshot.10.snappy" and is_valid_snapshot(path)
    loaded, sessions = type(tree)(), {}
    assert FileSnap(tmp_path).deserialize(loaded, sessions) == 0x10
    assert sessions == SESSIONS and state(loaded) == state(tree)


def test_corrupt_snappy_snapshot_falls_back_to_an_older_one(tmp_path):
    snap = FileSnap(tmp_path, compression="snappy")
    tree = sample_tree()
    snap.serialize(tree, {}, 0x5)
    newest = snap.serialize(tree, {}, 0x6)
    raw = bytearray(newest.read_bytes())
    raw[40] ^= 0xFF
    newest.write_bytes(bytes(raw))
    with pytest.raises(CorruptSnapshotError):
        snap.load_file(newest, type(tree)(), {})
    assert FileSnap(tmp_path).deserialize(type(tree)(), {}) == 0x5
    (tmp_path / "snapshot.7.snappy").write_bytes(b"not snappy at all")
    assert not is_valid_snapshot(tmp_path / "snapshot.7.snappy")


@pytest.mark.parametrize("value, expected", [
    ("gz", "gz"), ("SNAPPY", "snappy"), ("", None), (None, None), ("lz4", None), ("checked", None),
])
def test_compression_method_property(value, expected):
    assert compression_method(value) == expected
