"""The write-ahead txn log: ``version-2/log.<hex zxid of first txn>`` files.

Java: ``org.apache.zookeeper.server.persistence.FileTxnLog`` (with its
``FileTxnIterator``) and ``FilePadding`` (ZK_SPEC.md §5.2).

File layout::

    FileHeader  int magic 0x5A4B4C47 ("ZKLG") | int version 2 | long dbid 0
    Entry*      long Adler32(payload) | int len | payload | byte 'B'
    zero bytes  up to the preallocated size

The payload is ``txn_codec.serialize_txn`` output. Writes are buffered;
``commit()`` flushes and fsyncs every file written since the last commit
(group commit: append a batch, then commit once). ``roll_log()`` makes the
next append open a new file.

End of a file, as Java: EOF or ``len == 0`` (the zero padding); a missing
trailing 'B' (a partial write). A checksum mismatch or an unreasonable
length is an error (:class:`CorruptLogError`, naming file and offset).

Deliberate differences from Java:

* Torn writes. When the damaged entry is the last thing in the newest log
  file (a checksum mismatch followed only by zero bytes or EOF, an EOF
  inside an entry, a missing 'B' followed only by zeros, or an unreasonable
  length after which no valid entry can be found and the remaining data
  would fit in one entry), it is the write that a crash interrupted before
  its fsync returned, so nobody was acknowledged for it: reads stop there
  with a warning, and ``recover()`` (run before the first append and by
  FileTxnSnapLog.restore) truncates it away. Java would refuse to start on
  such a checksum mismatch.
* A newest log file shorter than its 16-byte header (crash right after
  creation) is ignored by reads and deleted by ``recover()``.
* ``get_last_logged_zxid()`` returns the zxid of the last txn actually found;
  Java returns the newest file's name zxid when that file has no txns.
* The padding and the size limit count the logical write position (buffered
  bytes included); Java uses the flushed channel position and file length.
* ``truncate()`` deletes the later files before cutting the covering one, so
  a crash in the middle leaves a consistent prefix; it removes every txn with
  a zxid greater than the one given, even if that exact zxid is absent.
* An append whose payload a reader would reject as too long raises
  ``ValueError`` instead of writing an unreadable log.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Iterator, NamedTuple

from ...jute.archive import DEFAULT_MAX_BUFFER, length_limit
from ...jute.records import TxnDigest, TxnHeader
from ..txn_codec import TxnCodecError, deserialize_txn, serialize_txn
from .util import (
    LOG_FILE_PREFIX, CorruptLogError, PersistenceError, fsync_dir, get_zxid_from_name, make_log_name,
    sort_data_dir,
)

LOG = logging.getLogger(__name__)

__all__ = [
    "FileTxnLog", "TxnIterator", "LogEntry", "TXNLOG_MAGIC", "VERSION", "DEFAULT_PRE_ALLOC_SIZE",
    "calculate_file_size_with_padding", "get_log_files",
]

TXNLOG_MAGIC = 0x5A4B4C47  # "ZKLG" = 1514884167
VERSION = 2
DBID = 0
DEFAULT_PRE_ALLOC_SIZE = 64 * 1024 * 1024  # zookeeper.preAllocSize 65536 KB
DEFAULT_FSYNC_WARNING_MS = 1000  # zookeeper.fsync.warningthresholdms
DEFAULT_WRITE_BUFFER = 64 * 1024

_FILE_HEADER = struct.Struct(">iiq")
_ENTRY_HEAD = struct.Struct(">qi")
_ZXID_IN_PAYLOAD = struct.Struct(">q")  # TxnHeader.zxid at payload offset 12
_HEADER_SIZE = _FILE_HEADER.size  # 16
_B = 0x42
_READ_BUFFER = 1 << 20

_fdatasync = getattr(os, "fdatasync", os.fsync)


class LogEntry(NamedTuple):
    """One txn read from the log."""

    hdr: TxnHeader
    txn: object
    digest: TxnDigest | None
    payload: bytes


def calculate_file_size_with_padding(position: int, file_size: int, pre_alloc_size: int) -> int:
    """FilePadding.calculateFileSizeWithPadding: the size to grow the file to."""
    if pre_alloc_size > 0 and position + 4096 >= file_size:
        if position > file_size:
            file_size = position + pre_alloc_size
            file_size -= file_size % pre_alloc_size
        else:
            file_size += pre_alloc_size
    return file_size


def get_log_files(log_files: list[Path], snapshot_zxid: int) -> list[Path]:
    """FileTxnLog.getLogFiles: the log holding ``snapshot_zxid`` and every later one.

    ``log_files`` is sorted ascending; the result starts with the file with
    the largest start zxid <= ``snapshot_zxid`` (or with the first file).
    """
    log_zxid = 0
    for f in log_files:
        fzxid = get_zxid_from_name(f.name, LOG_FILE_PREFIX)
        if fzxid > snapshot_zxid:
            break
        if fzxid > log_zxid:
            log_zxid = fzxid
    return [f for f in log_files if get_zxid_from_name(f.name, LOG_FILE_PREFIX) >= log_zxid]


def _all_zero_from(path: Path, offset: int) -> bool:
    """True if every byte of the file from ``offset`` to EOF is zero (holes count as zero)."""
    pos = offset
    seek_data = getattr(os, "SEEK_DATA", None)
    fd = os.open(path, os.O_RDONLY)  # our own fd: lseek must not move a reader's offset
    try:
        while True:
            if seek_data is not None:
                try:
                    pos = os.lseek(fd, pos, seek_data)  # skip holes (the sparse preallocation)
                except OSError:
                    return True  # ENXIO: nothing but a hole after pos
            chunk = os.pread(fd, _READ_BUFFER, pos)
            if not chunk:
                return True
            if chunk.strip(b"\0"):
                return False
            pos += len(chunk)
    finally:
        os.close(fd)


def _valid_entry_at(region: bytes, y: int, max_length: int) -> bool:
    if y + 13 > len(region):
        return False
    crc, length = _ENTRY_HEAD.unpack_from(region, y)
    if length <= 0 or length > max_length:
        return False
    end = y + 12 + length
    if end >= len(region) or region[end] != _B:
        return False
    return zlib.adler32(region[y + 12:end]) == crc


class _LogFileReader:
    """Reads the entries of one log file and remembers how and where it ended.

    ``end`` is None while entries remain, then one of: ``eof`` (clean),
    ``zero`` (len 0: the padding), ``partial`` (EOF inside an entry),
    ``no_B``, ``bad_len``, ``bad_crc``, ``short_header``. ``end_offset`` is the
    offset of the first byte that is not part of a valid entry; ``torn`` is
    True when the end is a torn last write of the newest file.
    """

    def __init__(self, path: Path, max_length: int, newest: bool):
        self.path = path
        self.max_length = max_length
        self.newest = newest
        self.end: str | None = None
        self.end_offset = 0
        self.torn = False
        self.offset = 0  # offset of the next entry
        self.entry_offset = 0  # offset of the entry last returned
        self._f = open(path, "rb", buffering=_READ_BUFFER)
        try:
            head = self._f.read(_HEADER_SIZE)
            if len(head) < _HEADER_SIZE:
                if not newest:
                    raise CorruptLogError(
                        f"Transaction log {path} is truncated: {len(head)} bytes, shorter than its header")
                LOG.warning("Newest txn log %s has only %d bytes (crash while creating it?); ignoring it",
                            path, len(head))
                self._finish("short_header", 0, torn=True)
                return
            magic, _version, _dbid = _FILE_HEADER.unpack(head)
            if magic != TXNLOG_MAGIC:
                raise CorruptLogError(
                    f"Transaction log: {path} has invalid magic number {magic} != {TXNLOG_MAGIC}")
            self.offset = _HEADER_SIZE
        except BaseException:
            self._f.close()
            raise

    def close(self) -> None:
        self._f.close()

    def _finish(self, reason: str, offset: int, torn: bool = False) -> None:
        self.end = reason
        self.end_offset = offset
        self.torn = torn

    def _bad(self, reason: str, offset: int, entry_end: int | None) -> None:
        """A damaged entry at ``offset``: a torn last write, or corruption."""
        if reason == "no_B":
            torn = self.newest and _all_zero_from(self.path, entry_end)
            if not torn:
                LOG.warning("Last transaction was partial: %s offset %d has no trailing 'B'; "
                            "ignoring the rest of the file", self.path, offset)
        elif reason == "bad_crc":
            torn = self.newest and _all_zero_from(self.path, entry_end)
            if not torn:
                raise CorruptLogError(f"CRC check failed in {self.path} at offset {offset}")
        else:  # bad_len
            torn = self.newest and self._tail_is_one_entry(offset)
            if not torn:
                raise CorruptLogError(f"Unreasonable entry length in {self.path} at offset {offset}")
        if torn:
            LOG.warning("Torn write at the end of %s, offset %d (%s): ignoring it", self.path, offset, reason)
        self._finish(reason, offset, torn)

    def _tail_is_one_entry(self, offset: int) -> bool:
        """No valid entry follows ``offset`` and what follows fits in one entry."""
        span = 12 + self.max_length + 1
        if not _all_zero_from(self.path, offset + span):
            return False
        region = os.pread(self._f.fileno(), span, offset)
        last = len(region.rstrip(b"\0"))
        return not any(_valid_entry_at(region, y, self.max_length) for y in range(1, last))

    def next_payload(self) -> bytes | None:
        """The next entry's payload, or None at the end of the file."""
        if self.end is not None:
            return None
        f = self._f
        off = self.offset
        head = f.read(12)
        if len(head) < 12:
            if not head or not head.strip(b"\0"):
                self._finish("eof", off)
            else:
                self._partial(off)
            return None
        crc, length = _ENTRY_HEAD.unpack(head)
        if length == 0:
            self._finish("zero", off)  # the preallocated zeros: end of file
            if not self.newest and not _all_zero_from(self.path, off):
                LOG.warning("Txn log %s has data after the zero length at offset %d; it is ignored, "
                            "as Java does", self.path, off)
            return None
        if length < 0 or length > self.max_length:
            self._bad("bad_len", off, None)
            return None
        body = f.read(length + 1)
        if len(body) < length + 1:
            self._partial(off)
            return None
        if body[length] != _B:
            self._bad("no_B", off, off + 13 + length)
            return None
        payload = body[:length]
        if zlib.adler32(payload) != crc:
            self._bad("bad_crc", off, off + 13 + length)
            return None
        self.entry_offset = off
        self.offset = off + 13 + length
        return payload

    def _partial(self, off: int) -> None:
        if self.newest:
            LOG.warning("Torn write at the end of %s, offset %d (file ends inside an entry): ignoring it",
                        self.path, off)
        else:
            LOG.warning("Last transaction was partial: %s ends inside the entry at offset %d", self.path, off)
        self._finish("partial", off, torn=self.newest)


class TxnIterator:
    """Iterates :class:`LogEntry` over the log files (Java: FileTxnIterator).

    Starts at the first txn with zxid >= ``zxid`` when ``fast_forward``, else
    at the first txn of the log file covering ``zxid``.
    """

    def __init__(self, log_dir: Path, zxid: int, fast_forward: bool = True, max_length: int | None = None):
        self.log_dir = Path(log_dir)
        self.zxid = zxid
        self.fast_forward = fast_forward
        self.max_length = max_length if max_length is not None else length_limit(DEFAULT_MAX_BUFFER)
        all_logs = sort_data_dir(self.log_dir, LOG_FILE_PREFIX, ascending=False)
        self._newest = all_logs[0] if all_logs else None
        if fast_forward:
            # only the file that can hold zxid and the later ones
            files = get_log_files(all_logs[::-1], zxid)
        else:
            # as Java: every file >= zxid, then the one below it (so the first
            # txn returned tells whether the log reaches back to zxid)
            files = []
            for f in all_logs:
                files.append(f)
                if get_zxid_from_name(f.name, LOG_FILE_PREFIX) < zxid:
                    break
            files.reverse()
        self._files = files
        self.files = list(files)
        self._reader: _LogFileReader | None = None
        self.log_file: Path | None = None

    def storage_size(self) -> int:
        """Total size of the files this iterator covers (FileTxnIterator.getStorageSize)."""
        total = 0
        for f in self.files:
            try:
                total += f.stat().st_size
            except OSError:
                pass
        return total

    def __iter__(self) -> Iterator[LogEntry]:
        return self

    def __next__(self) -> LogEntry:
        while True:
            if self._reader is None:
                if not self._files:
                    raise StopIteration
                path = self._files.pop(0)
                self.log_file = path
                self._reader = _LogFileReader(path, self.max_length, newest=(path == self._newest))
            reader = self._reader
            payload = reader.next_payload()
            if payload is None:
                reader.close()
                self._reader = None
                continue
            try:
                hdr, txn, digest = deserialize_txn(payload)
            except TxnCodecError as e:
                raise CorruptLogError(f"Undecodable txn in {reader.path} at offset {reader.entry_offset}: {e}") from e
            if self.fast_forward and hdr.zxid < self.zxid:
                continue
            return LogEntry(hdr, txn, digest, payload)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._files = []

    def __enter__(self) -> "TxnIterator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class FileTxnLog:
    """Appends txns to ``log.<zxid>`` files in ``log_dir`` (a ``version-2`` dir) and reads them back."""

    def __init__(self, log_dir: Path | str, *, pre_alloc_size: int = DEFAULT_PRE_ALLOC_SIZE,
                 force_sync: bool = True, max_buffer: int = DEFAULT_MAX_BUFFER,
                 size_limit: int = -1, fsync_warning_threshold_ms: float = DEFAULT_FSYNC_WARNING_MS,
                 write_buffer_size: int = DEFAULT_WRITE_BUFFER):
        self.log_dir = Path(log_dir)
        self.pre_alloc_size = pre_alloc_size
        self.force_sync = force_sync
        self.max_buffer = max_buffer
        self.max_length = length_limit(max_buffer)
        self.size_limit = size_limit  # zookeeper.txnLogSizeLimitInKb * 1024; -1 = none
        self.fsync_warning_threshold_ms = fsync_warning_threshold_ms
        self.write_buffer_size = write_buffer_size
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._file: Path | None = None
        self._buf = bytearray()
        self._position = 0  # logical write position in the current file
        self._file_size = 0  # preallocated size of the current file
        self._to_sync: list[int] = []  # rolled files awaiting the next commit's fsync
        self._recovered = False
        self.last_zxid_seen = 0
        self.last_fsync_ms = 0.0
        self.fsync_threshold_exceed_count = 0
        self.prev_logs_running_total = 0

    # -- writing ----------------------------------------------------------------
    def append(self, hdr: TxnHeader, payload: bytes) -> bool:
        """Buffer one entry; ``payload`` is ``serialize_txn(hdr, txn, digest)``."""
        length = len(payload)
        if length == 0 or length > self.max_length:
            raise ValueError(f"txn 0x{hdr.zxid:x}: a payload of {length} bytes cannot be logged "
                             f"(readers accept 1..{self.max_length})")
        with self._lock:
            zxid = hdr.zxid
            if zxid <= self.last_zxid_seen:
                LOG.warning("Current zxid 0x%x is <= 0x%x for type %d", zxid, self.last_zxid_seen, hdr.type)
            else:
                self.last_zxid_seen = zxid
            if self._fd is None:
                self._open_new_file(zxid)
            new_size = calculate_file_size_with_padding(self._position, self._file_size, self.pre_alloc_size)
            if new_size != self._file_size:
                os.pwrite(self._fd, b"\0", new_size - 1)
                self._file_size = new_size
            buf = self._buf
            buf += _ENTRY_HEAD.pack(zlib.adler32(payload), length)
            buf += payload
            buf.append(_B)
            self._position += 13 + length
            if len(buf) >= self.write_buffer_size:
                self._flush_buffer()
        return True

    def append_txn(self, hdr: TxnHeader, txn, digest: TxnDigest | None = None) -> bool:
        """Serialize and append a txn; convenience for tests and tools."""
        return self.append(hdr, serialize_txn(hdr, txn, digest))

    def _open_new_file(self, zxid: int) -> None:
        if not self._recovered:
            self._recover_locked()
        path = self.log_dir / make_log_name(zxid)
        LOG.info("Creating new log file: %s", path.name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            header = _FILE_HEADER.pack(TXNLOG_MAGIC, VERSION, DBID)
            os.write(fd, header)  # the magic goes out before any padding
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._file = path
        self._position = _HEADER_SIZE
        self._file_size = _HEADER_SIZE

    def _flush_buffer(self) -> None:
        buf = self._buf
        if not buf or self._fd is None:
            return
        start = self._position - len(buf)  # file offset of the first buffered entry
        try:
            with memoryview(buf) as mv:
                done = 0
                while done < len(mv):
                    done += os.write(self._fd, mv[done:])
        except OSError as e:
            # A full or failing disk. No buffered entry was acknowledged (that
            # waits for commit), so drop them all and cut the file back to the
            # last whole entry: later reads (a reload, an election) then see a
            # clean log instead of retrying this write, and appends can go on
            # once there is room. (A new buffer: a view of the old one may live on.)
            self._buf = bytearray()
            self._position = start
            try:
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
                self._file_size = start
            except OSError as e2:
                LOG.error("Cannot cut %s back to offset %d after a failed write: %s", self._file, start, e2)
            LOG.error("Writing to %s failed (%s); dropped the txns not yet written", self._file, e)
            raise
        buf.clear()

    def commit(self) -> None:
        """Flush everything appended and fsync it (one fsync per file: group commit)."""
        with self._lock:
            self._flush_buffer()
            fds = list(self._to_sync)
            if self._fd is not None:
                fds.append(self._fd)
            if self.force_sync and fds:
                start = time.monotonic()
                for fd in fds:
                    _fdatasync(fd)
                self.last_fsync_ms = (time.monotonic() - start) * 1000.0
                if self.last_fsync_ms > self.fsync_warning_threshold_ms:
                    self.fsync_threshold_exceed_count += 1
                    LOG.warning("fsync-ing the write ahead log in %s took %.0fms which will adversely "
                                "effect operation latency. File size is %d bytes.",
                                threading.current_thread().name, self.last_fsync_ms, self._file_size)
            for fd in self._to_sync:
                os.close(fd)
            self._to_sync.clear()
            if self.size_limit > 0 and self.get_current_log_size() > self.size_limit:
                LOG.debug("Log size limit reached: %d", self.get_current_log_size())
                self._roll_locked()

    def roll_log(self) -> None:
        """Make the next append start a new file (the current one is fsynced at the next commit)."""
        with self._lock:
            self._roll_locked()

    def _roll_locked(self) -> None:
        if self._fd is None:
            return
        self._flush_buffer()
        self.prev_logs_running_total += self._position
        self._to_sync.append(self._fd)
        self._fd = None
        self._file = None
        self._position = 0
        self._file_size = 0

    def close(self) -> None:
        """Flush (without fsync, as Java) and close every open file."""
        with self._lock:
            self._flush_buffer()
            for fd in self._to_sync:
                os.close(fd)
            self._to_sync.clear()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self._file = None
                self._position = 0
                self._file_size = 0

    def get_current_log_size(self) -> int:
        """Bytes written (buffered included) to the current file; 0 if none is open."""
        return self._position if self._fd is not None else 0

    def get_total_log_size(self) -> int:
        return self.prev_logs_running_total + self.get_current_log_size()

    def set_total_log_size(self, size: int) -> None:
        self.prev_logs_running_total = size

    @property
    def current_file(self) -> Path | None:
        return self._file

    # -- reading ----------------------------------------------------------------
    def list_logs(self) -> list[Path]:
        """All ``log.<hex>`` files, ascending by zxid."""
        return sort_data_dir(self.log_dir, LOG_FILE_PREFIX)

    def get_log_files(self, snapshot_zxid: int) -> list[Path]:
        """The logs needed to replay from ``snapshot_zxid`` (FileTxnLog.getLogFiles)."""
        return get_log_files(self.list_logs(), snapshot_zxid)

    def read(self, zxid: int, fast_forward: bool = True) -> TxnIterator:
        """Iterate the txns from ``zxid`` on (see :class:`TxnIterator`)."""
        with self._lock:
            self._flush_buffer()
        return TxnIterator(self.log_dir, zxid, fast_forward, self.max_length)

    def get_last_logged_zxid(self) -> int:
        """The zxid of the last txn in the logs, -1 if there is none."""
        with self._lock:
            self._flush_buffer()
        logs = sort_data_dir(self.log_dir, LOG_FILE_PREFIX, ascending=False)
        for path in logs:
            last = None
            reader = _LogFileReader(path, self.max_length, newest=(path == logs[0]))
            try:
                while True:
                    payload = reader.next_payload()
                    if payload is None:
                        break
                    if len(payload) < 20:
                        raise CorruptLogError(f"Undecodable txn in {path} at offset {reader.entry_offset}")
                    last = _ZXID_IN_PAYLOAD.unpack_from(payload, 12)[0]
            finally:
                reader.close()
            if last is not None:
                return last
        return -1

    # -- repair -----------------------------------------------------------------
    def recover(self) -> None:
        """Cut a torn last write off the newest log file (and drop a header-less one).

        Called automatically before the first append; FileTxnSnapLog.restore
        calls it before replaying. Does nothing while a file is open for writing.
        """
        with self._lock:
            if self._fd is not None:
                LOG.warning("recover() called while %s is open for writing; skipped", self._file)
                return
            self._recover_locked()

    def _recover_locked(self) -> None:
        logs = self.list_logs()
        while logs:
            newest = logs[-1]
            reader = _LogFileReader(newest, self.max_length, newest=True)
            try:
                while reader.next_payload() is not None:
                    pass
            finally:
                reader.close()
            if reader.end == "short_header":
                LOG.warning("Removing txn log %s: it ends inside its header", newest)
                newest.unlink()
                fsync_dir(self.log_dir)
                logs.pop()
                continue  # the previous file is the newest now; check its tail too
            if reader.torn:
                LOG.warning("Truncating torn last write in %s at offset %d", newest, reader.end_offset)
                self._truncate_file(newest, reader.end_offset)
            break
        self._recovered = True

    @staticmethod
    def _truncate_file(path: Path, size: int) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def truncate(self, zxid: int) -> bool:
        """Remove every txn with a zxid greater than ``zxid`` (for a leader's TRUNC)."""
        with self._lock:
            self.close()
            logs = self.list_logs()
            if not logs:
                raise PersistenceError(
                    "No log files found to truncate! This could happen if you still have snapshots from an "
                    "old setup or log files were deleted accidentally or dataLogDir was changed in zoo.cfg.")
            keep = [p for p in logs if get_zxid_from_name(p.name, LOG_FILE_PREFIX) <= zxid]
            later = [p for p in logs if get_zxid_from_name(p.name, LOG_FILE_PREFIX) > zxid]
            for path in reversed(later):  # newest first: a crash leaves a consistent prefix
                LOG.info("Truncating txn log: removing %s", path)
                path.unlink()
            if later:
                fsync_dir(self.log_dir)
            if keep:
                target = keep[-1]
                reader = _LogFileReader(target, self.max_length, newest=True)
                cut = None
                try:
                    while True:
                        payload = reader.next_payload()
                        if payload is None:
                            break
                        if _ZXID_IN_PAYLOAD.unpack_from(payload, 12)[0] > zxid:
                            cut = reader.entry_offset
                            break
                finally:
                    reader.close()
                if cut is None:
                    cut = reader.end_offset
                if reader.end == "short_header":
                    LOG.warning("Removing txn log %s: it ends inside its header", target)
                    target.unlink()
                    fsync_dir(self.log_dir)
                else:
                    LOG.info("Truncating txn log %s at offset %d (after zxid 0x%x)", target, cut, zxid)
                    self._truncate_file(target, cut)
            self.last_zxid_seen = min(self.last_zxid_seen, zxid)
            self._recovered = True
            return True
