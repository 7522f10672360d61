"""On-disk state: txn logs, snapshots and the data directory that holds them.

Java: ``org.apache.zookeeper.server.persistence`` (ZK_SPEC.md §5).
"""

from .file_snap import FileSnap, SnapshotInfo
from .file_txn_log import FileTxnLog, LogEntry, TxnIterator
from .file_txn_snap_log import DatadirError, FileTxnSnapLog, purge
from .util import CorruptLogError, CorruptSnapshotError, PersistenceError

__all__ = [
    "FileSnap", "SnapshotInfo", "FileTxnLog", "LogEntry", "TxnIterator", "FileTxnSnapLog", "DatadirError",
    "purge", "CorruptLogError", "CorruptSnapshotError", "PersistenceError",
]
