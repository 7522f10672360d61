"""Snapshots: ``version-2/snapshot.<hex zxid>`` files.

Java: ``org.apache.zookeeper.server.persistence.FileSnap`` with
``SnapStream`` (stream modes, seal, validity check) and the snapshot half of
``SerializeUtils`` / ``DataTree.serialize`` (ZK_SPEC.md §5.5).

Layout::

    FileHeader  int magic 0x5A4B534E ("ZKSN") | int version 2 | long dbid -1
    Sessions    int count | count x (long sessionId, int timeout)
    ACL cache   int count | count x (long index, vector<ACL>)
    Nodes       (ustring path, buffer data, long aclIndex, StatPersisted)*, ustring "/"
    Seal        long Adler32 of every byte before it | ustring "/"
    [Digest     long zxid | int version | long digest (a hex ustring if version < 2)
     Seal       long Adler32 of every byte before it | ustring "/"]

Writing streams through a ~1 MB buffer (a snapshot of a million nodes is
never built in memory), computes the Adler32 incrementally, writes to
``snapshot.<hex>.tmp`` and renames after fsync, so a crash never leaves a
half snapshot under the real name (Java's AtomicFileOutputStream does the
same when fsync is on).

Reading streams too; it accepts plain, ``.gz`` and ``.snappy`` files (the
checksum is over the uncompressed stream; snappy is xerial's stream format,
see :mod:`.snappy`) and an optional digest block after the first seal.

A leader's SNAP to a learner is the same body with neither header nor seal
(Java: ``ZKDatabase.serializeSnapshot`` / ``deserializeSnapshot``, ZK_SPEC.md
§4.3): :func:`write_snapshot_stream` and :func:`read_snapshot_stream`.

Deliberate differences from Java:

* zkpy writes no digest block (the stream ends after the first seal, which
  Java accepts); on read the digest is checked against its seal but its
  value is not compared with the tree.
* Snappy is zkpy's own pure-Python codec (:mod:`.snappy`), not the
  native library: reading and writing ``.snappy`` work but are slower than
  in Java. Writing ``.gz`` or ``.snappy`` is optional (``compression=``,
  Java's ``zookeeper.snapshot.compression.method``).
* The temp file is always used, also without fsync.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import time
import zlib
from pathlib import Path
from typing import NamedTuple

from ...jute.archive import JuteEOFError, JuteError, length_limit
from ...jute.records import ACL, Id, StatPersisted
from .snappy import SnappyError, SnappyStreamReader, SnappyStreamWriter, is_snappy_stream
from .util import (
    SNAPSHOT_FILE_PREFIX, CorruptSnapshotError, PersistenceError, fsync_dir, get_zxid_from_name,
    make_snapshot_name, sort_data_dir,
)

LOG = logging.getLogger(__name__)

__all__ = ["FileSnap", "SnapshotInfo", "SNAP_MAGIC", "compression_method", "is_valid_snapshot", "stream_mode",
           "write_snapshot_stream", "read_snapshot_stream"]

SNAP_MAGIC = 0x5A4B534E  # "ZKSN" = 1514885966
VERSION = 2
DBID = -1
DIGEST_VERSION = 2
#: How many snapshots deserialize() tries, newest first (FileSnap.deserialize).
MAX_SNAPSHOTS_TRIED = 100

_CHUNK = 1 << 20
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_FILE_HEADER = struct.Struct(">iiq")
_SESSION = struct.Struct(">qi")
_ACL_HEAD = struct.Struct(">qi")  # index, vector count
# aclIndex + StatPersisted(czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, pzxid)
_NODE_TAIL = struct.Struct(">qqqqqiiiqq")
_NODE_TAIL_SIZE = _NODE_TAIL.size  # 68
_SEAL_TAIL = b"\x00\x00\x00\x01/"  # ustring "/"
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_BUFFER = 0xFFFFF


class SnapshotInfo(NamedTuple):
    """Java: ``SnapshotInfo`` (zxid, timestamp in seconds)."""

    zxid: int
    timestamp: float


def stream_mode(name: str) -> str:
    """SnapStream.getStreamMode: "gz", "snappy" or "checked" (plain)."""
    parts = name.split(".")
    if len(parts) > 2:
        if parts[-1] == "gz":
            return "gz"
        if parts[-1] == "snappy":
            return "snappy"
    return "checked"


def is_valid_snapshot(path: Path) -> bool:
    """SnapStream.isValidSnapshot: the name parses and the file looks complete.

    Plain: at least 10 bytes, ending in int 1 + '/'. gz: the gzip magic.
    snappy: the xerial stream magic.
    """
    if get_zxid_from_name(path.name, SNAPSHOT_FILE_PREFIX) == -1:
        return False
    mode = stream_mode(path.name)
    try:
        with open(path, "rb") as f:
            if mode == "gz":
                return f.read(2) == _GZIP_MAGIC
            if mode == "snappy":
                return is_snappy_stream(f.read(16))
            size = os.fstat(f.fileno()).st_size
            if size < 10:
                return False
            f.seek(size - 5)
            tail = f.read(5)
    except OSError as e:
        LOG.warning("Cannot check snapshot %s: %s", path, e)
        return False
    if tail != _SEAL_TAIL:
        LOG.info("Invalid snapshot %s: it does not end with a seal", path.name)
        return False
    return True


class _ChecksummedWriter:
    """Buffers writes, flushes ~1 MB at a time, keeps a running Adler32."""

    __slots__ = ("f", "buf", "adler")

    def __init__(self, f):
        self.f = f
        self.buf = bytearray()
        self.adler = 1

    def flush_chunk(self) -> None:
        if self.buf:
            self.adler = zlib.adler32(self.buf, self.adler)
            self.f.write(self.buf)
            self.buf.clear()

    def checksum(self) -> int:
        return zlib.adler32(self.buf, self.adler)


class _ChecksummedReader:
    """Reads a stream through a buffer, with the Adler32 of every byte consumed."""

    __slots__ = ("f", "buf", "pos", "adler", "base", "max_length")

    def __init__(self, f, max_buffer: int = _MAX_BUFFER):
        self.f = f
        self.buf = b""
        self.pos = 0
        self.adler = 1
        self.base = 0  # stream offset of buf[0]
        self.max_length = length_limit(max_buffer)

    def fill(self, n: int) -> None:
        """Make at least ``n`` bytes available at ``pos`` (JuteEOFError if the stream ends)."""
        buf, pos = self.buf, self.pos
        have = len(buf) - pos
        if have >= n:
            return
        if pos:
            self.adler = zlib.adler32(memoryview(buf)[:pos], self.adler)
            self.base += pos
        chunks = [buf[pos:]]
        while have < n:
            chunk = self.f.read(max(_CHUNK, n - have))
            if not chunk:
                break
            chunks.append(chunk)
            have += len(chunk)
        self.buf = b"".join(chunks)
        self.pos = 0
        if have < n:
            raise JuteEOFError(f"snapshot ends at offset {self.base + have}, {n} bytes needed")

    def offset(self) -> int:
        return self.base + self.pos

    def checksum(self) -> int:
        """Adler32 of every byte consumed so far."""
        return zlib.adler32(memoryview(self.buf)[:self.pos], self.adler)

    def read_struct(self, st: struct.Struct) -> tuple:
        self.fill(st.size)
        values = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return values

    def read_int(self) -> int:
        return self.read_struct(_INT)[0]

    def read_long(self) -> int:
        return self.read_struct(_LONG)[0]

    def _length(self) -> int:
        length = self.read_int()
        if length < -1 or length > self.max_length:
            raise JuteError(f"Unreasonable length = {length} at offset {self.offset() - 4}")
        return length

    def read_bytes(self) -> bytes | None:
        length = self._length()
        if length == -1:
            return None
        self.fill(length)
        raw = self.buf[self.pos:self.pos + length]
        self.pos += length
        return raw

    def read_string(self) -> str | None:
        raw = self.read_bytes()
        return None if raw is None else _decode(raw)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def _encode_str(out: bytearray, value: str | None) -> None:
    if value is None:
        out += b"\xff\xff\xff\xff"
        return
    raw = value.encode("utf-8", "surrogatepass")
    out += _INT.pack(len(raw))
    out += raw


def _encode_acls(out: bytearray, acls: list[ACL] | None) -> None:
    if acls is None:
        out += b"\xff\xff\xff\xff"
        return
    out += _INT.pack(len(acls))
    for acl in acls:
        out += _INT.pack(acl.perms)
        _encode_str(out, acl.id.scheme if acl.id is not None else None)
        _encode_str(out, acl.id.id if acl.id is not None else None)


def compression_method(value: str | None) -> str | None:
    """``zookeeper.snapshot.compression.method`` as FileSnap takes it: "gz",
    "snappy" or None (plain), ignoring case; anything else is plain, as
    Java's SnapStream.StreamMode.fromString has it."""
    value = (value or "").strip().lower()
    return value if value in ("gz", "snappy") else None


def _compressed_writer(compression: str | None, raw):
    """The stream a snapshot body is written to (SnapStream.getOutputStream)."""
    if compression == "gz":
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    if compression == "snappy":
        return SnappyStreamWriter(raw)
    return raw


def _compressed_reader(mode: str, raw):
    """The stream a snapshot body is read from (SnapStream.getInputStream)."""
    if mode == "gz":
        return gzip.GzipFile(filename="", mode="rb", fileobj=raw)
    if mode == "snappy":
        return SnappyStreamReader(raw)
    return raw


class FileSnap:
    """Writes and reads the snapshots of ``snap_dir`` (a ``version-2`` dir)."""

    def __init__(self, snap_dir: Path | str, *, compression: str | None = None, max_buffer: int = _MAX_BUFFER):
        if compression not in (None, "", "gz", "snappy"):
            raise ValueError(f"unsupported snapshot compression {compression!r} (zkpy supports gz, snappy)")
        self.snap_dir = Path(snap_dir)
        self.compression = compression or None
        self.max_buffer = max_buffer
        self.last_snapshot_info: SnapshotInfo | None = None

    # -- listing ------------------------------------------------------------------
    def find_n_recent_snapshots(self, n: int) -> list[Path]:
        """Up to ``n`` snapshot files, newest first, valid or not (FileSnap.findNRecentSnapshots)."""
        return sort_data_dir(self.snap_dir, SNAPSHOT_FILE_PREFIX, ascending=False)[:n]

    def find_n_valid_snapshots(self, n: int) -> list[Path]:
        """Up to ``n`` snapshots that pass :func:`is_valid_snapshot`, newest first."""
        found = []
        for path in sort_data_dir(self.snap_dir, SNAPSHOT_FILE_PREFIX, ascending=False):
            if is_valid_snapshot(path):
                found.append(path)
                if len(found) == n:
                    break
        return found

    def find_most_recent_snapshot(self) -> Path | None:
        found = self.find_n_valid_snapshots(1)
        return found[0] if found else None

    # -- writing ------------------------------------------------------------------
    def serialize(self, tree, sessions: dict[int, int], zxid: int, fsync: bool = True) -> Path:
        """Write ``snapshot.<hex zxid>`` from ``tree`` and ``sessions``; return its path."""
        name = make_snapshot_name(zxid) + (f".{self.compression}" if self.compression else "")
        final = self.snap_dir / name
        tmp = self.snap_dir / (name + ".tmp")
        start = time.monotonic()
        nodes = 0
        try:
            with open(tmp, "wb") as raw:
                stream = _compressed_writer(self.compression, raw)
                try:
                    nodes = self._write_stream(stream, tree, sessions)
                finally:
                    if stream is not raw:
                        stream.close()
                raw.flush()
                if fsync:
                    os.fsync(raw.fileno())
            os.replace(tmp, final)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise
        if fsync:
            fsync_dir(self.snap_dir)
        self.last_snapshot_info = SnapshotInfo(zxid, time.time())
        LOG.info("Snapshot 0x%x written to %s: %d nodes, %d sessions in %.0f ms",
                 zxid, final, nodes, len(sessions), (time.monotonic() - start) * 1000.0)
        return final

    @staticmethod
    def _write_stream(stream, tree, sessions: dict[int, int]) -> int:
        w = _ChecksummedWriter(stream)
        w.buf += _FILE_HEADER.pack(SNAP_MAGIC, VERSION, DBID)
        count = _write_body(w, tree, sessions)
        buf = w.buf
        buf += _LONG.pack(w.checksum())
        buf += _SEAL_TAIL
        w.flush_chunk()
        return count

    # -- reading ------------------------------------------------------------------
    def deserialize(self, tree, sessions: dict) -> int:
        """Load the newest good snapshot into ``tree`` and ``sessions``; its zxid, or -1 if none.

        Tries up to 100 valid snapshots, newest first; one that fails its
        checksum or does not parse is skipped with a warning. Raises
        :class:`PersistenceError` if snapshots exist but none can be loaded.
        """
        snaps = self.find_n_valid_snapshots(MAX_SNAPSHOTS_TRIED)
        if not snaps:
            return -1
        for path in snaps:
            zxid = get_zxid_from_name(path.name, SNAPSHOT_FILE_PREFIX)
            LOG.info("Reading snapshot %s", path)
            sessions.clear()
            try:
                self.load_file(path, tree, sessions)
            except (PersistenceError, JuteError, ValueError, EOFError, OSError, zlib.error) as e:
                LOG.warning("problem reading snap file %s: %s", path, e)
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                mtime = time.time()
            self.last_snapshot_info = SnapshotInfo(zxid, mtime)
            return zxid
        sessions.clear()
        raise PersistenceError(f"Not able to find valid snapshots in {self.snap_dir}")

    def load_file(self, path: Path, tree, sessions: dict) -> tuple[int, int] | None:
        """Load one snapshot file into ``tree`` and ``sessions``.

        Returns the digest block ``(zxid, digest)`` if the file has one.
        Raises :class:`CorruptSnapshotError` on a checksum or format error.
        """
        mode = stream_mode(path.name)
        with open(path, "rb", buffering=0) as raw:
            try:
                stream = _compressed_reader(mode, raw)
            except SnappyError as e:
                raise CorruptSnapshotError(f"{path}: {e}") from e
            try:
                return self._read_stream(_ChecksummedReader(stream, self.max_buffer), path, tree, sessions)
            except (JuteError, SnappyError) as e:
                raise CorruptSnapshotError(f"{path}: {e}") from e
            finally:
                if stream is not raw:
                    stream.close()

    @staticmethod
    def _read_stream(r: _ChecksummedReader, path: Path, tree, sessions: dict) -> tuple[int, int] | None:
        magic, _version, _dbid = r.read_struct(_FILE_HEADER)
        if magic != SNAP_MAGIC:
            raise CorruptSnapshotError(f"{path}: mismatching magic headers {magic} != {SNAP_MAGIC}")
        _read_body(r, path, tree, sessions)
        expected = r.checksum()
        val = r.read_long()
        r.read_string()  # the "/" of the seal
        if val != expected:
            raise CorruptSnapshotError(f"{path}: CRC corruption (seal {val & 0xFFFFFFFFFFFFFFFF:#x}, "
                                       f"computed {expected:#x})")
        digest = None
        try:
            dzxid = r.read_long()
            dversion = r.read_int()
            if dversion < 2:
                text = r.read_string()
                dvalue = int(text, 16) if text else 0
            else:
                dvalue = r.read_long()
            digest = (dzxid, dvalue)
        except JuteEOFError:
            pass  # no digest block: an older or a zkpy snapshot
        if digest is not None:
            expected = r.checksum()
            val = r.read_long()  # EOF here: a digest without its seal is an error (as Java)
            r.read_string()
            if val != expected:
                raise CorruptSnapshotError(f"{path}: CRC corruption after the digest")
        tree.end_load()
        return digest

    @staticmethod
    def _read_nodes(r: _ChecksummedReader, path, tree) -> None:
        """Nodes until the "/" terminator; the hot loop parses in the buffer directly."""
        unpack_int = _INT.unpack_from
        unpack_tail = _NODE_TAIL.unpack_from
        max_length = r.max_length
        load_node = tree.load_node
        while True:
            buf, pos = r.buf, r.pos
            end = len(buf)
            need = 4
            if pos + 4 <= end:
                plen = unpack_int(buf, pos)[0]
                if plen < 0 or plen > max_length:
                    raise CorruptSnapshotError(f"{path}: bad node path length {plen} at offset {r.offset()}")
                p_end = pos + 4 + plen
                if plen == 1 and p_end <= end and buf[pos + 4] == 0x2F:  # "/": the end of the nodes
                    r.pos = p_end
                    return
                need = 4 + plen + 4
                if p_end + 4 <= end:
                    dlen = unpack_int(buf, p_end)[0]
                    if dlen < -1 or dlen > max_length:
                        raise CorruptSnapshotError(f"{path}: bad node data length {dlen} at offset {r.offset()}")
                    d_end = p_end + 4 + (dlen if dlen > 0 else 0)
                    need = d_end - pos + _NODE_TAIL_SIZE
                    if d_end + _NODE_TAIL_SIZE <= end:
                        npath = _decode(buf[pos + 4:p_end])
                        data = None if dlen == -1 else buf[p_end + 4:d_end]
                        t = unpack_tail(buf, d_end)
                        r.pos = d_end + _NODE_TAIL_SIZE
                        try:
                            load_node(npath, data, t[0], StatPersisted(*t[1:]))
                        except ValueError as e:
                            raise CorruptSnapshotError(f"{path}: {e}") from e
                        continue
            r.fill(need)


def _write_body(w: _ChecksummedWriter, tree, sessions: dict[int, int]) -> int:
    """Sessions, ACL cache, nodes and the "/" that ends them; the node count."""
    buf = w.buf
    session_items = list(sessions.items())  # a copy: the map may change meanwhile
    buf += _INT.pack(len(session_items))
    for sid, timeout in session_items:
        buf += _SESSION.pack(sid, timeout)
    entries = tree.acl_cache_entries()
    buf += _INT.pack(len(entries))
    for index, acls in entries:
        buf += _LONG.pack(index)
        _encode_acls(buf, acls)
    pack_tail = _NODE_TAIL.pack
    pack_int = _INT.pack
    count = 0
    for path, data, acl_index, st in tree.snapshot_nodes():
        raw = path.encode("utf-8", "surrogatepass")
        buf += pack_int(len(raw))
        buf += raw
        if data is None:
            buf += b"\xff\xff\xff\xff"
        else:
            buf += pack_int(len(data))
            buf += data
        buf += pack_tail(acl_index, st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion,
                         st.aversion, st.ephemeralOwner, st.pzxid)
        count += 1
        if len(buf) >= _CHUNK:
            w.flush_chunk()
    buf += _SEAL_TAIL  # the "/" that ends the nodes
    return count


def _read_body(r: _ChecksummedReader, path, tree, sessions: dict) -> None:
    count = r.read_int()
    if count < 0:
        raise CorruptSnapshotError(f"{path}: negative session count {count}")
    for _ in range(count):
        sid, timeout = r.read_struct(_SESSION)
        sessions[sid] = timeout
    count = r.read_int()
    if count < 0:
        raise CorruptSnapshotError(f"{path}: negative ACL cache size {count}")
    entries = []
    for _ in range(count):
        index, n = r.read_struct(_ACL_HEAD)
        if n < 0:
            raise CorruptSnapshotError(f"{path}: missing acls for ACL cache index {index}")
        acls = []
        for _ in range(n):
            perms = r.read_int()
            scheme = r.read_string()
            ident = r.read_string()
            acls.append(ACL(perms, Id(scheme, ident)))
        entries.append((index, acls))
    tree.begin_load()
    tree.load_acl_cache(entries)
    FileSnap._read_nodes(r, path, tree)


def write_snapshot_stream(stream, tree, sessions: dict[int, int]) -> int:
    """Write the DataTree and sessions as a leader streams them after SNAP
    (Java: ZKDatabase.serializeSnapshot): the snapshot file's body with no
    header and no seal (ZK_SPEC.md §4.3). The caller writes the "BenWasHere"
    signature after it. Returns the node count."""
    w = _ChecksummedWriter(stream)
    count = _write_body(w, tree, sessions)
    w.flush_chunk()
    return count


def read_snapshot_stream(stream, tree, sessions: dict, max_buffer: int = _MAX_BUFFER) -> tuple[str | None, bytes]:
    """Load a SNAP stream (see :func:`write_snapshot_stream`) into ``tree``
    and ``sessions`` (cleared first), then read the ustring that follows it.

    ``stream.read(n)`` may return fewer bytes than asked (a socket). Returns
    (that string, the bytes read past it), so that the caller can put the
    over-read back. Raises :class:`CorruptSnapshotError` on bad data.
    """
    r = _ChecksummedReader(stream, max_buffer)
    sessions.clear()
    try:
        _read_body(r, "the leader's snapshot", tree, sessions)
        tree.end_load()
        signature = r.read_string()
    except (JuteError, ValueError) as e:
        raise CorruptSnapshotError(f"the leader's snapshot: {e}") from e
    return signature, bytes(r.buf[r.pos:])
