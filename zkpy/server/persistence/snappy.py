"""Snappy-compressed snapshot streams, in pure Python.

Java: ``SnapStream`` in SNAPPY mode wraps the snapshot in snappy-java's
``org.xerial.snappy.SnappyOutputStream`` / ``SnappyInputStream``. That is
not the framing format of the snappy project but xerial's own::

    header  8 bytes magic b"\\x82SNAPPY\\x00" | int version 1 | int compatible version 1
    blocks  (int compressed length, big-endian | one raw snappy block)*

Each raw block compresses at most 32 KiB of input (xerial's default block
size) and starts with the varint of its uncompressed length; then come
literal and copy elements (the snappy format description,
``format_description.txt``). A reader also accepts a header again between
blocks (concatenated streams), as SnappyInputStream does.

What zkpy does differently, on purpose: there is no native codec here. The
decoder is complete; the encoder is a plain greedy matcher (4-byte hashes,
one candidate per hash), valid snappy that compresses a snapshot's
repetitive records well but is slower and a little larger than the C++
library's output. Both are for snapshot files, not for a hot path.
"""

from __future__ import annotations

import logging
import struct

LOG = logging.getLogger(__name__)

__all__ = ["MAGIC", "SnappyError", "SnappyStreamReader", "SnappyStreamWriter", "compress_block",
           "decompress_block", "is_snappy_stream"]

MAGIC = b"\x82SNAPPY\x00"
_HEADER = MAGIC + struct.pack(">ii", 1, 1)
_HEADER_SIZE = len(_HEADER)  # 16
BLOCK_SIZE = 32 * 1024
_INT = struct.Struct(">i")
_U32 = struct.Struct("<I")
#: A snappy block's uncompressed length is a 32-bit varint; refuse absurd ones.
_MAX_BLOCK = 1 << 28


class SnappyError(ValueError):
    """A snappy stream or block that does not decode."""


# -- raw blocks -----------------------------------------------------------------------------


def decompress_block(data: bytes | bytearray | memoryview) -> bytes:
    """Decode one raw snappy block."""
    data = memoryview(data)
    n = len(data)
    length = shift = pos = 0
    while True:
        if pos >= n or shift > 28:
            raise SnappyError("bad length varint")
        b = data[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    if length > _MAX_BLOCK:
        raise SnappyError(f"block of {length} bytes is too large")
    out = bytearray()
    while pos < n:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                if pos + extra > n:
                    raise SnappyError("truncated literal length")
                size = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            size += 1
            if pos + size > n:
                raise SnappyError("truncated literal")
            out += data[pos:pos + size]
            pos += size
            continue
        if kind == 1:  # copy, 1-byte offset
            if pos >= n:
                raise SnappyError("truncated copy")
            size = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:  # copy, 2-byte offset
            if pos + 2 > n:
                raise SnappyError("truncated copy")
            size = (tag >> 2) + 1
            offset = data[pos] | (data[pos + 1] << 8)
            pos += 2
        else:  # copy, 4-byte offset
            if pos + 4 > n:
                raise SnappyError("truncated copy")
            size = (tag >> 2) + 1
            offset = _U32.unpack_from(data, pos)[0]
            pos += 4
        start = len(out) - offset
        if offset == 0 or start < 0:
            raise SnappyError(f"copy offset {offset} outside the output")
        if offset >= size:
            out += out[start:start + size]
        else:  # overlapping: the copied bytes repeat with period ``offset``
            pattern = bytes(out[start:])
            out += (pattern * (size // offset + 1))[:size]
    if len(out) != length:
        raise SnappyError(f"block decodes to {len(out)} bytes, its header says {length}")
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(out: bytearray, data: bytes, start: int, end: int) -> None:
    size = end - start - 1
    if size < 60:
        out.append(size << 2)
    else:
        nbytes = (size.bit_length() + 7) // 8
        out.append((59 + nbytes) << 2)
        out += size.to_bytes(nbytes, "little")
    out += data[start:end]


def _copy(out: bytearray, offset: int, size: int) -> None:
    # Copies of up to 64 bytes with a 2-byte offset (offsets stay within a 32 KiB block).
    while size > 0:
        take = min(size, 64)
        out.append(((take - 1) << 2) | 2)
        out += offset.to_bytes(2, "little")
        size -= take


def compress_block(data: bytes) -> bytes:
    """Encode ``data`` (at most 64 KiB) as one raw snappy block."""
    n = len(data)
    if n > 0xFFFF:
        raise ValueError("compress_block takes at most 64 KiB")
    out = bytearray(_varint(n))
    table: dict[bytes, int] = {}
    literal_start = pos = 0
    limit = n - 4
    while pos <= limit:
        key = data[pos:pos + 4]
        candidate = table.get(key)
        table[key] = pos
        if candidate is None:
            pos += 1
            continue
        end = pos + 4
        while end < n and data[end] == data[end - pos + candidate]:
            end += 1
        if literal_start < pos:
            _literal(out, data, literal_start, pos)
        _copy(out, pos - candidate, end - pos)
        pos = literal_start = end
    if literal_start < n:
        _literal(out, data, literal_start, n)
    return bytes(out)


# -- xerial streams ---------------------------------------------------------------------------


def is_snappy_stream(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts a xerial snappy stream."""
    return head[:len(MAGIC)] == MAGIC


class SnappyStreamReader:
    """``read(n)`` of the data in a xerial SnappyOutputStream (Java: SnappyInputStream)."""

    def __init__(self, fileobj):
        self._f = fileobj
        self._buf = b""
        self._pos = 0
        header = self._read_exactly(_HEADER_SIZE, "the stream header")
        if not is_snappy_stream(header):
            raise SnappyError("not a snappy stream (bad magic)")

    def _read_exactly(self, n: int, what: str, eof_ok: bool = False) -> bytes | None:
        chunks, have = [], 0
        while have < n:
            chunk = self._f.read(n - have)
            if not chunk:
                if eof_ok and have == 0:
                    return None
                raise SnappyError(f"the stream ends inside {what}")
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)

    def _next_block(self) -> bool:
        while True:
            head = self._read_exactly(4, "a block length", eof_ok=True)
            if head is None:
                return False
            if head == MAGIC[:4]:  # a concatenated stream: its header again
                rest = self._read_exactly(_HEADER_SIZE - 4, "a stream header")
                if not is_snappy_stream(head + rest):
                    raise SnappyError("bad magic inside the stream")
                continue
            size = _INT.unpack(head)[0]
            if size < 0 or size > _MAX_BLOCK:
                raise SnappyError(f"bad block length {size}")
            self._buf = decompress_block(self._read_exactly(size, "a block"))
            self._pos = 0
            if self._buf:
                return True

    def read(self, n: int = -1) -> bytes:
        parts = []
        while n < 0 or n > 0:
            if self._pos >= len(self._buf) and not self._next_block():
                break
            end = len(self._buf) if n < 0 else min(len(self._buf), self._pos + n)
            parts.append(self._buf[self._pos:end])
            if n > 0:
                n -= end - self._pos
            self._pos = end
        return b"".join(parts)

    def close(self) -> None:
        """Does not close the underlying file (as GzipFile with a fileobj)."""
        self._buf = b""


class SnappyStreamWriter:
    """Writes what SnappyInputStream reads: the header, then a block per 32 KiB."""

    def __init__(self, fileobj, block_size: int = BLOCK_SIZE):
        self._f = fileobj
        self._block_size = block_size
        self._pending = bytearray()
        self._f.write(_HEADER)

    def write(self, data) -> int:
        self._pending += data
        size = self._block_size
        if len(self._pending) >= size:
            view = memoryview(self._pending)
            full = len(view) - len(view) % size
            for start in range(0, full, size):
                self._write_block(bytes(view[start:start + size]))
            view.release()
            del self._pending[:full]
        return len(data)

    def _write_block(self, block: bytes) -> None:
        compressed = compress_block(block)
        self._f.write(_INT.pack(len(compressed)))
        self._f.write(compressed)

    def close(self) -> None:
        """Writes the last block; does not close the underlying file."""
        if self._pending:
            self._write_block(bytes(self._pending))
            self._pending.clear()
