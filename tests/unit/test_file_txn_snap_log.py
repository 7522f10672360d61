"""zkpy.server.persistence.file_txn_snap_log: restore, save, truncate, purge (ZK_SPEC.md §5.5-5.6)."""

from __future__ import annotations

import pytest

from zkpy.defs import OpCode
from zkpy.jute.records import OPEN_ACL_UNSAFE, CloseSessionTxn, CreateSessionTxn, CreateTxn, TxnHeader
from zkpy.server.data_tree import DataTree
from zkpy.server.persistence import DatadirError, FileTxnSnapLog, PersistenceError, purge
from zkpy.server.txn_codec import serialize_txn


class Db:
    """What ZKDatabase does around restore: a tree, a session map, apply_txn."""

    def __init__(self):
        self.tree = DataTree()
        self.sessions: dict[int, int] = {}
        self.applied: list[int] = []

    def apply_txn(self, hdr, txn, digest):
        if hdr.type == OpCode.createSession:
            self.sessions[hdr.clientId] = txn.timeOut
        elif hdr.type == OpCode.closeSession:
            self.sessions.pop(hdr.clientId, None)
        self.tree.process_txn(hdr, txn)
        self.applied.append(hdr.zxid)


def log_create(snap_log: FileTxnSnapLog, db: Db, zxid: int, path: str) -> None:
    parent = db.tree.get_node(path.rsplit("/", 1)[0] or "/")
    h = TxnHeader(1, zxid, zxid, zxid, int(OpCode.create))
    txn = CreateTxn(path, b"d%d" % zxid, OPEN_ACL_UNSAFE, False, parent.cversion + 1)
    snap_log.append(h, serialize_txn(h, txn))
    db.apply_txn(h, txn, None)


def snap_log_for(tmp_path, **kw) -> FileTxnSnapLog:
    return FileTxnSnapLog(tmp_path / "data", tmp_path / "log", pre_alloc_size=4096, **kw)


def test_fresh_data_dir(tmp_path):
    snap_log = snap_log_for(tmp_path)
    assert (tmp_path / "data" / "version-2").is_dir() and (tmp_path / "log" / "version-2").is_dir()
    db = Db()
    assert snap_log.restore(db.tree, db.sessions, db.apply_txn) == 0
    assert db.applied == []
    assert snap_log.get_last_logged_zxid() == -1


def test_initialize_file_and_untrusted_empty_db(tmp_path):
    snap_log = snap_log_for(tmp_path, auto_create_db=False)
    db = Db()
    assert snap_log.restore(db.tree, db.sessions, db.apply_txn) == -1
    init = tmp_path / "log" / "initialize"
    init.write_text("")
    assert snap_log.restore(db.tree, db.sessions, db.apply_txn) == 0
    assert not init.exists()


def test_restore_snapshot_then_log(tmp_path):
    snap_log = snap_log_for(tmp_path)
    db = Db()
    h = TxnHeader(0x77, 0, 1, 1, int(OpCode.createSession))
    snap_log.append(h, serialize_txn(h, CreateSessionTxn(9000)))
    db.apply_txn(h, CreateSessionTxn(9000), None)
    for z in range(2, 6):
        log_create(snap_log, db, z, f"/n{z}")
    snap_log.commit()
    snap_log.save(db.tree, db.sessions, 5)
    snap_log.roll_log()
    for z in range(6, 9):
        log_create(snap_log, db, z, f"/n{z}")
    h = TxnHeader(0x77, 0, 9, 9, int(OpCode.closeSession))
    snap_log.append(h, serialize_txn(h, CloseSessionTxn([])))
    db.apply_txn(h, CloseSessionTxn([]), None)
    snap_log.commit()
    snap_log.close()

    restored = Db()
    snap_log = snap_log_for(tmp_path)
    assert snap_log.restore(restored.tree, restored.sessions, restored.apply_txn) == 9
    assert restored.applied == [6, 7, 8, 9]
    assert restored.sessions == {}
    assert sorted(restored.tree.snapshot_nodes()) == sorted(db.tree.snapshot_nodes())

    # a restore from an older snapshot replays more of the log
    (tmp_path / "data" / "version-2" / "snapshot.5").unlink()
    with pytest.raises(PersistenceError, match="No snapshot found"):
        snap_log_for(tmp_path).restore(Db().tree, {}, Db().apply_txn)
    again = Db()
    assert snap_log_for(tmp_path, trust_empty_snapshot=True).restore(
        again.tree, again.sessions, again.apply_txn) == 9
    assert again.applied == list(range(1, 10))


def test_restore_repairs_torn_log_tail(tmp_path):
    snap_log = snap_log_for(tmp_path)
    db = Db()
    snap_log.save(db.tree, db.sessions, 0)
    for z in range(1, 4):
        log_create(snap_log, db, z, f"/n{z}")
    snap_log.commit()
    snap_log.close()
    log_file = tmp_path / "log" / "version-2" / "log.1"
    raw = bytearray(log_file.read_bytes())
    end = len(bytes(raw).rstrip(b"\0"))
    raw[end - 5] ^= 0xFF  # damage the last entry; 'B' and the zeros after it intact
    log_file.write_bytes(bytes(raw))
    restored = Db()
    snap_log = snap_log_for(tmp_path)
    assert snap_log.restore(restored.tree, restored.sessions, restored.apply_txn) == 2
    h = TxnHeader(1, 3, 3, 3, int(OpCode.create))
    snap_log.append(h, serialize_txn(h, CreateTxn("/n3", b"", OPEN_ACL_UNSAFE, False, -1)))
    snap_log.commit()
    snap_log.close()
    assert [e.hdr.zxid for e in snap_log_for(tmp_path).read_txn_log(1)] == [1, 2, 3]


def test_truncate_log(tmp_path):
    snap_log = snap_log_for(tmp_path)
    db = Db()
    for z in range(1, 10):
        log_create(snap_log, db, z, f"/n{z}")
        if z == 4:
            snap_log.commit()
            snap_log.roll_log()
    snap_log.commit()
    assert snap_log.truncate_log(6)
    assert snap_log.get_last_logged_zxid() == 6
    log_create(snap_log, Db(), 7, "/x")
    snap_log.commit()
    assert [e.hdr.zxid for e in snap_log.read_txn_log(1)] == [1, 2, 3, 4, 5, 6, 7]
    snap_log.close()


def test_purge_keeps_n_snapshots_and_needed_logs(tmp_path):
    snap_log = snap_log_for(tmp_path)
    db = Db()
    zxid = 0
    for _ in range(5):  # 5 x (3 txns in a new log file, then a snapshot)
        snap_log.roll_log()
        for _ in range(3):
            zxid += 1
            log_create(snap_log, db, zxid, f"/n{zxid}")
        snap_log.commit()
        snap_log.save(db.tree, db.sessions, zxid)
    snap_log.roll_log()
    zxid += 1
    log_create(snap_log, db, zxid, "/last")
    snap_log.commit()
    logs = lambda: [p.name for p in snap_log.txn_log.list_logs()]  # noqa: E731
    snaps = lambda: [p.name for p in snap_log.find_n_recent_snapshots(100)]  # noqa: E731
    assert logs() == ["log.1", "log.4", "log.7", "log.a", "log.d", "log.10"]
    assert snaps() == ["snapshot.f", "snapshot.c", "snapshot.9", "snapshot.6", "snapshot.3"]
    with pytest.raises(ValueError):
        snap_log.purge(2)
    deleted = snap_log.purge(3)
    assert sorted(p.name for p in deleted) == ["log.1", "log.4", "snapshot.3", "snapshot.6"]
    assert snaps() == ["snapshot.f", "snapshot.c", "snapshot.9"]
    assert logs() == ["log.7", "log.a", "log.d", "log.10"]  # log.7 holds txn 9
    snap_log.close()
    restored = Db()
    snap_log = snap_log_for(tmp_path)
    assert snap_log.restore(restored.tree, restored.sessions, restored.apply_txn) == 16
    assert purge(tmp_path / "data", tmp_path / "log", 3) == []
    snap_log.close()


def test_separate_dirs_must_not_mix(tmp_path):
    snap_log_for(tmp_path).save(DataTree(), {}, 0)
    (tmp_path / "log" / "version-2" / "snapshot.0").write_bytes(b"x")
    with pytest.raises(DatadirError, match="Log directory has snapshot files"):
        snap_log_for(tmp_path)


def test_no_autocreate(tmp_path):
    with pytest.raises(DatadirError, match="autocreate"):
        FileTxnSnapLog(tmp_path / "missing", autocreate=False)


def test_same_dir_for_logs_and_snapshots(tmp_path):
    snap_log = FileTxnSnapLog(tmp_path, pre_alloc_size=0)
    db = Db()
    snap_log.save(db.tree, db.sessions, 0)
    log_create(snap_log, db, 1, "/a")
    snap_log.commit()
    snap_log.close()
    assert sorted(p.name for p in (tmp_path / "version-2").iterdir()) == ["log.1", "snapshot.0"]
    restored = Db()
    assert FileTxnSnapLog(tmp_path).restore(restored.tree, restored.sessions, restored.apply_txn) == 1
