"""ZKDatabase for the quorum roles: the SNAP stream (ZK_SPEC.md §4.3 step 5),
TRUNC, fast-forwarding over logged-but-uncommitted txns, and reading the
txn log from a zxid for a DIFF (§4.4)."""

from __future__ import annotations

import io

import pytest

from zkpy.defs import OpCode
from zkpy.jute.archive import OutputArchive
from zkpy.jute.records import OPEN_ACL_UNSAFE, CreateSessionTxn, CreateTxn, SetDataTxn, TxnHeader
from zkpy.server.persistence import FileTxnSnapLog
from zkpy.server.persistence.file_snap import read_snapshot_stream, write_snapshot_stream
from zkpy.server.persistence.util import CorruptSnapshotError
from zkpy.server.txn_codec import serialize_txn
from zkpy.server.zk_database import ZKDatabase

E = 1 << 32


def new_db(tmp_path) -> ZKDatabase:
    db = ZKDatabase(FileTxnSnapLog(tmp_path / "data", pre_alloc_size=4096))
    db.load_database()
    db.take_snapshot()
    return db


def log_and_apply(db: ZKDatabase, hdr, txn, apply=True) -> None:
    db.snap_log.append(hdr, serialize_txn(hdr, txn))
    db.commit()
    if apply:
        db.process_txn(hdr, txn)
        db.add_committed_proposal(hdr, txn)


def create(db, zxid, path, data=b"x", apply=True):
    parent = db.data_tree.get_node(path.rsplit("/", 1)[0] or "/")
    txn = CreateTxn(path, data, OPEN_ACL_UNSAFE, False, parent.cversion + 1)
    log_and_apply(db, TxnHeader(7, zxid & 0xFF, zxid, 1000 + zxid, int(OpCode.create)), txn, apply)


def tree_state(db):
    tree = db.data_tree
    return {p: (n.data, n.stat_persisted()) for p, n in tree.nodes.items()}


class Trickle(io.RawIOBase):
    """A socket-like stream: at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int = 7):
        self.data = data
        self.pos = 0
        self.step = step

    def read(self, n=-1):
        chunk = self.data[self.pos:self.pos + min(n, self.step)]
        self.pos += len(chunk)
        return chunk


def test_the_snap_stream_round_trips_and_leaves_what_follows(tmp_path):
    db = new_db(tmp_path / "leader")
    log_and_apply(db, TxnHeader(0x42, 0, E + 1, 1, int(OpCode.createSession)), CreateSessionTxn(4000))
    db.sessions_with_timeouts[0x42] = 4000
    for i in range(2, 40):
        create(db, E + i, f"/n{i}", b"%d" % i)
    out = io.BytesIO()
    assert write_snapshot_stream(out, db.data_tree, db.sessions_with_timeouts) == 4 + 38
    body = out.getvalue()
    assert body[:4] == b"\x00\x00\x00\x01"  # the session count, no file header
    trailer = OutputArchive()
    trailer.write_string("BenWasHere")
    learner = new_db(tmp_path / "learner")
    for stream in (Trickle(body + bytes(trailer.buf) + b"NEXT PACKET"),
                   io.BytesIO(body + bytes(trailer.buf) + b"NEXT PACKET")):
        signature = learner.deserialize_snapshot(stream, E + 39)
        assert signature == "BenWasHere"
        # What the reader took past the signature is handed back, not lost.
        assert learner.snapshot_leftover + b"".join(iter(lambda: stream.read(100), b"")) == b"NEXT PACKET"
    assert tree_state(learner) == tree_state(db)
    assert learner.sessions_with_timeouts == {0x42: 4000}
    assert learner.last_processed_zxid == E + 39
    with pytest.raises(CorruptSnapshotError):
        read_snapshot_stream(io.BytesIO(body[:-30]), learner.data_tree, {})


def test_truncate_log_cuts_uncommitted_txns_and_reloads(tmp_path):
    db = new_db(tmp_path)
    for i in range(1, 6):
        create(db, E + i, f"/c{i}")
    for i in range(6, 9):  # proposals logged by an old leader, never committed
        create(db, E + i, f"/lost{i}", apply=False)
    assert db.fast_forward_database() == E + 8  # a role that ends applies its log
    assert db.data_tree.get_node("/lost8") is not None
    assert db.truncate_log(E + 5)
    assert db.last_processed_zxid == E + 5
    assert db.data_tree.get_node("/lost6") is None and db.data_tree.get_node("/c5") is not None
    assert db.snap_log.get_last_logged_zxid() == E + 5
    create(db, 2 * E + 1, "/next")  # the log goes on after the cut
    again = ZKDatabase(FileTxnSnapLog(tmp_path / "data", pre_alloc_size=4096))
    assert again.load_database() == 2 * E + 1
    assert again.data_tree.get_node("/lost7") is None


def test_truncate_removes_a_snapshot_newer_than_the_cut(tmp_path):
    db = new_db(tmp_path)
    for i in range(1, 4):
        create(db, E + i, f"/c{i}")
    db.take_snapshot()  # snapshot.100000003
    assert db.truncate_log(E + 2)
    assert [p.name for p in db.snap_log.find_n_valid_snapshots(10)] == ["snapshot.0"]
    assert db.data_tree.get_node("/c3") is None


def test_proposals_from_the_txn_log(tmp_path):
    db = new_db(tmp_path)
    for i in range(1, 6):
        create(db, E + i, f"/c{i}")
    log_and_apply(db, TxnHeader(7, 9, E + 6, 1, int(OpCode.setData)), SetDataTxn("/c1", b"v", 1))
    entries = db.proposals_from_txn_log(E + 3, 0)
    zxids = [z for z, _ in entries]
    assert zxids[0] <= E + 3 and zxids[-1] == E + 6  # from the file covering E+3 on
    payloads = dict(db.proposals_from_txn_log(E + 3, 0))
    assert payloads[E + 6] == serialize_txn(TxnHeader(7, 9, E + 6, 1, int(OpCode.setData)),
                                           SetDataTxn("/c1", b"v", 1))
    assert db.proposals_from_txn_log(E + 3, 10) is None  # bigger than the limit
    assert db.proposals_from_txn_log(E + 3, -1) is None  # txn-log sync off
    assert [z for z, _ in db.committed_proposals()] == [E + i for i in range(1, 7)]
