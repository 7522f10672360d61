"""File-name helpers and errors shared by the txn log and the snapshots.

Java: ``org.apache.zookeeper.server.persistence.Util`` (``makeLogName``,
``makeSnapshotName``, ``getZxidFromName``, ``sortDataDir``) and the
``IOException``s that FileTxnLog / FileSnap throw (ZK_SPEC.md §5.1).

Names are ``log.<hex>`` and ``snapshot.<hex>[.gz|.snappy]``: lower-case hex,
no ``0x``, no padding. zkpy is stricter than Java about what it accepts as
one of its files: ``log.5.tmp`` or ``snapshot.5.tmp`` (a leftover of an
interrupted atomic write) are ignored rather than parsed as zxid 5.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG = logging.getLogger(__name__)

LOG_FILE_PREFIX = "log"
SNAPSHOT_FILE_PREFIX = "snapshot"
#: The subdirectory of dataDir / dataLogDir (FileTxnSnapLog.version + VERSION).
VERSION_DIR = "version-2"
#: Compressed snapshot suffixes (SnapStream.StreamMode).
SNAPSHOT_SUFFIXES = ("", ".gz", ".snappy")

_U64 = (1 << 64) - 1


class PersistenceError(OSError):
    """A data or log directory cannot be read or written as ZooKeeper expects."""


class CorruptLogError(PersistenceError):
    """A txn log file is damaged somewhere other than a torn last write."""


class CorruptSnapshotError(PersistenceError):
    """A snapshot fails its checksum or cannot be parsed."""


def make_log_name(zxid: int) -> str:
    return f"{LOG_FILE_PREFIX}.{zxid & _U64:x}"


def make_snapshot_name(zxid: int) -> str:
    return f"{SNAPSHOT_FILE_PREFIX}.{zxid & _U64:x}"


def get_zxid_from_name(name: str, prefix: str) -> int:
    """The zxid of ``<prefix>.<hex>`` (snapshots may end in .gz/.snappy); -1 if not such a name."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != prefix:
        return -1
    if len(parts) > 2:
        if prefix != SNAPSHOT_FILE_PREFIX or len(parts) != 3 or "." + parts[2] not in SNAPSHOT_SUFFIXES:
            return -1
    hexpart = parts[1]
    if not hexpart or len(hexpart) > 16 or any(c not in "0123456789abcdefABCDEF" for c in hexpart):
        return -1
    value = int(hexpart, 16)
    if value >= 1 << 63:  # Java's Long.parseLong(s, 16) rejects these
        return -1
    return value


def sort_data_dir(directory: Path | str, prefix: str, ascending: bool = True) -> list[Path]:
    """The ``prefix`` files of ``directory`` sorted by zxid (Util.sortDataDir)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        zxid = get_zxid_from_name(name, prefix)
        if zxid >= 0:
            found.append((zxid, name))
    found.sort(reverse=not ascending)
    base = Path(directory)
    return [base / name for _, name in found]


def fsync_dir(directory: Path | str) -> None:
    """fsync a directory so a rename or unlink in it is durable (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
