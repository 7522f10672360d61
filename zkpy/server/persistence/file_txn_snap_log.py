"""The data directory as a whole: snapshots + txn logs, restore, purge.

Java: ``org.apache.zookeeper.server.persistence.FileTxnSnapLog`` and
``org.apache.zookeeper.server.PurgeTxnLog`` (ZK_SPEC.md §5.1, §5.5, §5.6).

``<data_dir>/version-2`` holds the snapshots, ``<data_log_dir>/version-2``
the txn logs (``data_log_dir`` defaults to ``data_dir``); both are created
when missing (``zookeeper.datadir.autocreate``).

Deliberate differences from Java:

* ``restore`` does not itself write ``snapshot.0`` for a brand-new data dir:
  it returns 0 and the caller (ZKDatabase / ZooKeeperServer.loadData) takes
  the startup snapshot, as Java's server does right after loading anyway.
* ``restore`` first repairs a torn last write of the newest log (see
  file_txn_log), which Java would reject as a CRC error.
* Replay is done by the ``apply_txn(hdr, record, digest)`` callback the
  caller supplies (Java: ``processTransaction`` + ``PlayBackListener``), and
  the caller sets the tree's lastProcessedZxid from the returned value.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Optional

from ...jute.records import TxnDigest, TxnHeader
from .file_snap import FileSnap
from .file_txn_log import DEFAULT_MAX_BUFFER, DEFAULT_PRE_ALLOC_SIZE, FileTxnLog, TxnIterator, get_log_files
from .util import (
    LOG_FILE_PREFIX, SNAPSHOT_FILE_PREFIX, VERSION_DIR, PersistenceError, sort_data_dir,
)

LOG = logging.getLogger(__name__)

__all__ = ["FileTxnSnapLog", "DatadirError", "purge", "EMPTY_SNAPSHOT_WARNING"]

EMPTY_SNAPSHOT_WARNING = "No snapshot found, but there are log entries. "
#: PurgeTxnLog refuses to keep fewer snapshots than this.
MIN_SNAP_RETAIN_COUNT = 3

ApplyTxn = Callable[[TxnHeader, object, Optional[TxnDigest]], None]


class DatadirError(PersistenceError):
    """The data / log directory is missing, unwritable or mixed up (Java: DatadirException)."""


class FileTxnSnapLog:
    """Snapshots in ``<data_dir>/version-2``, txn logs in ``<data_log_dir>/version-2``."""

    def __init__(self, data_dir: Path | str, data_log_dir: Path | str | None = None, *,
                 force_sync: bool = True, pre_alloc_size: int = DEFAULT_PRE_ALLOC_SIZE,
                 max_buffer: int = DEFAULT_MAX_BUFFER, autocreate: bool = True,
                 auto_create_db: bool = True, trust_empty_snapshot: bool = False,
                 snapshot_compression: str | None = None, txn_log_size_limit: int = -1):
        self.snap_dir = Path(data_dir) / VERSION_DIR
        self.data_dir = Path(data_log_dir if data_log_dir is not None else data_dir) / VERSION_DIR
        self.auto_create_db = auto_create_db  # zookeeper.db.autocreate
        self.trust_empty_snapshot = trust_empty_snapshot  # zookeeper.snapshot.trust.empty
        for d, what in ((self.data_dir, "data"), (self.snap_dir, "snapshot")):
            if not d.exists():
                if not autocreate:
                    raise DatadirError(f"Missing {what} directory {d}, automatic data directory creation is "
                                       f"disabled (zookeeper.datadir.autocreate is false). Please create this "
                                       f"directory manually.")
                d.mkdir(parents=True, exist_ok=True)
            if not os.access(d, os.W_OK):
                raise DatadirError(f"Cannot write to {what} directory {d}")
        if self.data_dir.resolve() != self.snap_dir.resolve():
            if sort_data_dir(self.data_dir, SNAPSHOT_FILE_PREFIX):
                raise DatadirError("Log directory has snapshot files. Check if dataLogDir and dataDir "
                                   "configuration is correct.")
            if sort_data_dir(self.snap_dir, LOG_FILE_PREFIX):
                raise DatadirError("Snapshot directory has log files. Check if dataLogDir and dataDir "
                                   "configuration is correct.")
        self._txn_log_args = dict(force_sync=force_sync, pre_alloc_size=pre_alloc_size, max_buffer=max_buffer,
                                  size_limit=txn_log_size_limit)
        self.txn_log = FileTxnLog(self.data_dir, **self._txn_log_args)
        self.snap_log = FileSnap(self.snap_dir, compression=snapshot_compression, max_buffer=max_buffer)

    # -- restore ------------------------------------------------------------------
    def restore(self, tree, sessions: dict[int, int], apply_txn: ApplyTxn) -> int:
        """Load the newest snapshot, replay the later txns; the last zxid.

        Returns the snapshot's zxid when no txn follows it, 0 for a brand-new
        data dir (nothing at all; the caller should write snapshot.0), and -1
        for an empty data dir that must not be trusted (auto_create_db off and
        no ``initialize`` file). Raises PersistenceError when logs exist
        without any snapshot (unless ``trust_empty_snapshot``).
        """
        snap_zxid = self.snap_log.deserialize(tree, sessions)
        self.txn_log.recover()
        init_file = self.data_dir.parent / "initialize"
        try:
            init_file.unlink()
            LOG.info("Initialize file found, an empty database will not block voting participation")
            trust_empty_db = True
        except FileNotFoundError:
            trust_empty_db = self.auto_create_db
        if snap_zxid == -1:
            if self.txn_log.get_last_logged_zxid() != -1:
                if not self.trust_empty_snapshot:
                    raise PersistenceError(EMPTY_SNAPSHOT_WARNING + "Something is broken!")
                LOG.warning("%sThis should only be allowed during upgrading.", EMPTY_SNAPSHOT_WARNING)
                return self.fast_forward_from_edits(0, apply_txn)
            if trust_empty_db:
                return 0
            LOG.warning("Unexpected empty data tree, setting zxid to -1")
            return -1
        return self.fast_forward_from_edits(snap_zxid, apply_txn)

    def fast_forward_from_edits(self, last_processed_zxid: int, apply_txn: ApplyTxn) -> int:
        """Replay every logged txn after ``last_processed_zxid``; the highest zxid seen."""
        highest = last_processed_zxid
        loaded = 0
        with self.txn_log.read(last_processed_zxid + 1) as itr:
            for hdr, txn, digest, _payload in itr:
                if hdr.zxid < highest and highest != 0:
                    LOG.error("0x%x(highestZxid) > 0x%x(next log) for type %d", highest, hdr.zxid, hdr.type)
                else:
                    highest = hdr.zxid
                apply_txn(hdr, txn, digest)
                loaded += 1
        LOG.info("%d txns loaded from the logs, last zxid 0x%x", loaded, highest)
        return highest

    def read_txn_log(self, zxid: int, fast_forward: bool = True) -> TxnIterator:
        return self.txn_log.read(zxid, fast_forward)

    # -- writing ------------------------------------------------------------------
    def append(self, hdr: TxnHeader, payload: bytes) -> bool:
        return self.txn_log.append(hdr, payload)

    def commit(self) -> None:
        self.txn_log.commit()

    def roll_log(self) -> None:
        self.txn_log.roll_log()

    def get_txn_log_elapsed_sync_time(self) -> float:
        return self.txn_log.last_fsync_ms

    def save(self, tree, sessions: dict[int, int], zxid: int, fsync: bool = True) -> Path:
        """Write the snapshot ``snapshot.<hex zxid>`` (zxid = the tree's lastProcessedZxid)."""
        LOG.info("Snapshotting: 0x%x to %s", zxid, self.snap_dir)
        return self.snap_log.serialize(tree, sessions, zxid, fsync)

    def truncate_log(self, zxid: int) -> bool:
        """Remove every logged txn after ``zxid`` (TRUNC from a leader)."""
        self.txn_log.close()
        truncated = self.txn_log.truncate(zxid)
        self.txn_log = FileTxnLog(self.data_dir, **self._txn_log_args)
        return truncated

    def get_last_logged_zxid(self) -> int:
        return self.txn_log.get_last_logged_zxid()

    def close(self) -> None:
        self.txn_log.close()

    # -- listing ------------------------------------------------------------------
    def find_most_recent_snapshot(self) -> Path | None:
        return self.snap_log.find_most_recent_snapshot()

    def find_n_recent_snapshots(self, n: int) -> list[Path]:
        return self.snap_log.find_n_recent_snapshots(n)

    def find_n_valid_snapshots(self, n: int) -> list[Path]:
        return self.snap_log.find_n_valid_snapshots(n)

    def get_snapshot_logs(self, zxid: int) -> list[Path]:
        """The log files needed to replay from a snapshot at ``zxid``."""
        return get_log_files(self.txn_log.list_logs(), zxid)

    @property
    def last_snapshot_info(self):
        return self.snap_log.last_snapshot_info

    # -- purge --------------------------------------------------------------------
    def purge(self, snap_retain_count: int = MIN_SNAP_RETAIN_COUNT) -> list[Path]:
        """Keep the N newest valid snapshots and the logs to replay from the
        oldest kept one; the deleted paths (see :mod:`.purge_txn_log`). Raises
        ValueError for N < 3."""
        from .purge_txn_log import files_to_purge, remove_files

        return remove_files(files_to_purge(self, snap_retain_count))


def purge(data_dir: Path | str, data_log_dir: Path | str | None = None,
          snap_retain_count: int = MIN_SNAP_RETAIN_COUNT) -> list[Path]:
    """PurgeTxnLog.purge with dataDir first (see :func:`.purge_txn_log.purge`)."""
    from .purge_txn_log import purge as purge_txn_log

    return purge_txn_log(data_log_dir if data_log_dir is not None else data_dir, data_dir, snap_retain_count)
