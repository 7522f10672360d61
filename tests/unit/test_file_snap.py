"""zkpy.server.persistence.file_snap (ZK_SPEC.md §5.5)."""

from __future__ import annotations

import gzip
import logging
import struct
import zlib

import pytest

from zkpy.defs import OpCode
from zkpy.jute.records import ACL, OPEN_ACL_UNSAFE, CreateTxn, Id, SetDataTxn, TxnHeader
from zkpy.server.data_tree import DataTree
from zkpy.server.persistence import file_snap as fs
from zkpy.server.persistence.file_snap import SNAP_MAGIC, FileSnap, is_valid_snapshot
from zkpy.server.persistence.util import CorruptSnapshotError, PersistenceError


def create(tree: DataTree, zxid: int, path: str, data=b"", acl=OPEN_ACL_UNSAFE, owner: int = 0) -> None:
    parent = tree.get_node(path.rsplit("/", 1)[0] or "/")
    h = TxnHeader(owner or 1, zxid, zxid, 1_000 + zxid, int(OpCode.create))
    rc = tree.process_txn(h, CreateTxn(path, data, acl, owner != 0, parent.cversion + 1))
    assert rc.err == 0


def state(tree: DataTree):
    """The nodes and the ACLs they use (indexes may differ only in unused entries)."""
    nodes = sorted(tree.snapshot_nodes(), key=lambda n: n[0])
    acls = dict(tree.acl_cache_entries())
    return nodes, {i: acls[i] for i in {n[2] for n in nodes} if i != -1}


def sample_tree() -> DataTree:
    tree = DataTree()
    create(tree, 1, "/a", b"hello")
    create(tree, 2, "/a/b", None)
    create(tree, 3, "/a/b/c", bytes(range(256)) * 4, acl=[ACL(1, Id("digest", "u:hash"))])
    create(tree, 4, "/eph", b"e", owner=0x1234)
    create(tree, 5, "/\u00e9t\u00e9", b"unicode")
    tree.process_txn(TxnHeader(1, 6, 6, 2_000, int(OpCode.setData)), SetDataTxn("/a", b"v2", 1))
    return tree


SESSIONS = {0x1234: 30000, 0x100000000000001: 4000}


@pytest.fixture
def snap_dir(tmp_path):
    d = tmp_path / "version-2"
    d.mkdir()
    return d


def test_round_trip(snap_dir):
    tree = sample_tree()
    snap = FileSnap(snap_dir)
    path = snap.serialize(tree, SESSIONS, 6)
    assert path == snap_dir / "snapshot.6"
    assert not list(snap_dir.glob("*.tmp"))
    assert is_valid_snapshot(path)
    loaded, sessions = DataTree(), {}
    assert FileSnap(snap_dir).deserialize(loaded, sessions) == 6
    assert sessions == SESSIONS
    assert state(loaded) == state(tree)
    assert loaded.get_ephemerals(0x1234) == ["/eph"]


def test_layout_of_an_empty_tree(snap_dir):
    path = FileSnap(snap_dir).serialize(DataTree(), {}, 0)
    raw = path.read_bytes()
    # Java's fresh standalone snapshot is 457 bytes; without the 20-byte digest
    # block and its 13-byte seal that is 424 (ZK_SPEC.md §5.5).
    assert len(raw) == 424
    assert raw[:16] == struct.pack(">iiq", SNAP_MAGIC, 2, -1) == bytes.fromhex("5a4b534e00000002ffffffffffffffff")
    assert raw[16:20] == b"\x00\x00\x00\x00"  # no sessions
    # ACL cache {1: [(1, world, anyone)]}
    assert raw[20:59] == (struct.pack(">iqii", 1, 1, 1, 1) + b"\x00\x00\x00\x05world" + b"\x00\x00\x00\x06anyone")
    # the root is first, named ""
    assert raw[59:67] == b"\x00\x00\x00\x00" b"\x00\x00\x00\x00"
    # "/" terminator, then the seal: Adler32 of everything before it, and "/"
    assert raw[-18:-13] == b"\x00\x00\x00\x01/"
    assert struct.unpack(">q", raw[-13:-5])[0] == zlib.adler32(raw[:-13])
    assert raw[-5:] == b"\x00\x00\x00\x01/"


def test_streaming_with_small_chunks(snap_dir, monkeypatch):
    monkeypatch.setattr(fs, "_CHUNK", 997)  # odd-sized chunks: records straddle refills
    tree = DataTree()
    for i in range(300):
        create(tree, i + 1, f"/n{i}", b"d" * (i % 50))
    path = FileSnap(snap_dir).serialize(tree, SESSIONS, 300)
    assert zlib.adler32(path.read_bytes()[:-13]) == struct.unpack(">q", path.read_bytes()[-13:-5])[0]
    loaded, sessions = DataTree(), {}
    assert FileSnap(snap_dir).deserialize(loaded, sessions) == 300
    assert state(loaded) == state(tree)


def test_checksum_failure_falls_back_to_older_snapshot(snap_dir, caplog):
    old = sample_tree()
    snap = FileSnap(snap_dir)
    snap.serialize(old, {1: 5000}, 6)
    newer = sample_tree()
    create(newer, 7, "/new", b"n")
    path = snap.serialize(newer, {2: 6000}, 7)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # corrupt the middle; the end still looks valid
    path.write_bytes(bytes(raw))
    assert is_valid_snapshot(path)
    loaded, sessions = DataTree(), {}
    with caplog.at_level(logging.WARNING):
        assert FileSnap(snap_dir).deserialize(loaded, sessions) == 6
    assert "snapshot.7" in caplog.text
    assert sessions == {1: 5000}
    assert state(loaded) == state(old)


def test_incomplete_newest_snapshot_is_skipped(snap_dir):
    snap = FileSnap(snap_dir)
    snap.serialize(sample_tree(), {}, 6)
    full = snap.serialize(sample_tree(), {}, 9).read_bytes()
    (snap_dir / "snapshot.9").write_bytes(full[: len(full) // 2])  # a half-written file
    (snap_dir / "snapshot.a").write_bytes(b"short")
    assert not is_valid_snapshot(snap_dir / "snapshot.9")
    assert not is_valid_snapshot(snap_dir / "snapshot.a")
    assert snap.find_most_recent_snapshot() == snap_dir / "snapshot.6"
    assert [p.name for p in snap.find_n_recent_snapshots(2)] == ["snapshot.a", "snapshot.9"]
    assert FileSnap(snap_dir).deserialize(DataTree(), {}) == 6


def test_no_snapshot_and_no_good_snapshot(snap_dir):
    assert FileSnap(snap_dir).deserialize(DataTree(), {}) == -1
    path = FileSnap(snap_dir).serialize(sample_tree(), {}, 3)
    raw = bytearray(path.read_bytes())
    raw[30] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(PersistenceError, match="Not able to find valid snapshots"):
        FileSnap(snap_dir).deserialize(DataTree(), {})
    with pytest.raises(CorruptSnapshotError, match="CRC corruption"):
        FileSnap(snap_dir).load_file(path, DataTree(), {})


def test_bad_magic(snap_dir):
    path = FileSnap(snap_dir).serialize(DataTree(), {}, 1)
    raw = path.read_bytes()
    path.write_bytes(b"ZKLG" + raw[4:])
    with pytest.raises(CorruptSnapshotError, match="magic"):
        FileSnap(snap_dir).load_file(path, DataTree(), {})


def test_gz_snapshot_read(snap_dir):
    tree = sample_tree()
    plain = FileSnap(snap_dir).serialize(tree, SESSIONS, 6).read_bytes()
    (snap_dir / "snapshot.6").unlink()
    # as Java's gz mode writes it: the checksum is over the uncompressed stream
    (snap_dir / "snapshot.8.gz").write_bytes(gzip.compress(plain))
    assert is_valid_snapshot(snap_dir / "snapshot.8.gz")
    loaded, sessions = DataTree(), {}
    assert FileSnap(snap_dir).deserialize(loaded, sessions) == 8
    assert state(loaded) == state(tree) and sessions == SESSIONS


def test_gz_snapshot_write(snap_dir):
    tree = sample_tree()
    path = FileSnap(snap_dir, compression="gz").serialize(tree, {}, 0x10)
    assert path.name == "snapshot.10.gz"
    assert gzip.decompress(path.read_bytes())[:4] == b"ZKSN"
    loaded = DataTree()
    assert FileSnap(snap_dir).deserialize(loaded, {}) == 0x10
    assert state(loaded) == state(tree)


def with_digest(plain: bytes, zxid: int = 6, digest: int = 12345, good_seal: bool = True) -> bytes:
    body = plain + struct.pack(">qiq", zxid, 2, digest)
    crc = zlib.adler32(body)  # cumulative from byte 0, across the first seal
    return body + struct.pack(">q", crc if good_seal else crc ^ 1) + b"\x00\x00\x00\x01/"


def test_digest_block_is_accepted_and_its_seal_checked(snap_dir):
    tree = sample_tree()
    plain = FileSnap(snap_dir).serialize(tree, {}, 6).read_bytes()
    path = snap_dir / "snapshot.6"
    path.write_bytes(with_digest(plain))
    loaded = DataTree()
    assert FileSnap(snap_dir).load_file(path, loaded, {}) == (6, 12345)
    assert state(loaded) == state(tree)
    path.write_bytes(with_digest(plain, good_seal=False))
    with pytest.raises(CorruptSnapshotError):
        FileSnap(snap_dir).load_file(path, DataTree(), {})
    # a digest without its second seal is not a valid stream (as Java)
    path.write_bytes(plain + struct.pack(">qiq", 6, 2, 1) + b"\x00\x00\x00\x01/")
    with pytest.raises(CorruptSnapshotError):
        FileSnap(snap_dir).load_file(path, DataTree(), {})


def test_node_without_parent_is_rejected(snap_dir):
    class Orphans:
        def acl_cache_entries(self):
            return []

        def snapshot_nodes(self):
            from zkpy.jute.records import StatPersisted
            yield "", b"", -1, StatPersisted()
            yield "/x/y", b"", -1, StatPersisted()

    path = FileSnap(snap_dir).serialize(Orphans(), {}, 1)
    with pytest.raises(CorruptSnapshotError, match="parent"):
        FileSnap(snap_dir).load_file(path, DataTree(), {})


def test_failed_write_leaves_nothing_behind(snap_dir):
    class Broken:
        def acl_cache_entries(self):
            return []

        def snapshot_nodes(self):
            from zkpy.jute.records import StatPersisted
            yield "", b"", -1, StatPersisted()
            raise OSError("disk full")

    FileSnap(snap_dir).serialize(DataTree(), {}, 1)
    with pytest.raises(OSError, match="disk full"):
        FileSnap(snap_dir).serialize(Broken(), {}, 2)
    assert sorted(p.name for p in snap_dir.iterdir()) == ["snapshot.1"]


def test_fuzzy_snapshot_while_tree_changes(snap_dir):
    tree = DataTree()
    for i in range(50):
        create(tree, i + 1, f"/n{i}")
    real = tree.snapshot_nodes

    def mutating():
        for k, item in enumerate(real()):
            if k == 10:
                create(tree, 1000, "/late")
            yield item

    tree.snapshot_nodes = mutating
    FileSnap(snap_dir).serialize(tree, {}, 50)
    loaded = DataTree()
    assert FileSnap(snap_dir).deserialize(loaded, {}) == 50
    assert loaded.get_node("/n49") is not None


def test_snapshot_names_and_order(snap_dir):
    snap = FileSnap(snap_dir)
    for z in (1, 0x20, 0x100000000, 3):
        snap.serialize(DataTree(), {}, z)
    (snap_dir / "snapshot.5.tmp").write_bytes(b"junk")
    (snap_dir / "snapshotX").write_bytes(b"junk")
    assert [p.name for p in snap.find_n_recent_snapshots(10)] == [
        "snapshot.100000000", "snapshot.20", "snapshot.3", "snapshot.1"]
    assert [p.name for p in snap.find_n_valid_snapshots(2)] == ["snapshot.100000000", "snapshot.20"]
    assert snap.find_most_recent_snapshot().name == "snapshot.100000000"
