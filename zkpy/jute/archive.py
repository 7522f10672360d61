"""Jute binary archives.

Java: ``org.apache.jute.BinaryInputArchive`` / ``BinaryOutputArchive``
(ZK_SPEC.md §1). Big-endian ints and longs, length-prefixed strings and
buffers with -1 for null, count-prefixed vectors. The reader checks every
length against ``jute.maxbuffer`` + extra, as Java's ``checkLength`` does,
so a hostile length cannot make it allocate gigabytes.
"""

from __future__ import annotations

import struct

INT = struct.Struct(">i")
LONG = struct.Struct(">q")
UINT = struct.Struct(">I")
BYTE = struct.Struct(">b")

#: Java's default ``jute.maxbuffer`` (0xFFFFF).
DEFAULT_MAX_BUFFER = 0xFFFFF


def length_limit(max_buffer: int) -> int:
    """The longest length or count a reader accepts: ``jute.maxbuffer``
    plus the extra size, which defaults to maxbuffer and is never below
    1024 (Java: BinaryInputArchive.checkLength)."""
    return max_buffer + max(max_buffer, 1024)


class JuteError(ValueError):
    """A record could not be decoded: short input, bad length, bad field."""


class JuteEOFError(JuteError, EOFError):
    """The input ended before the record did (Java's EOFException)."""


class OutputArchive:
    """Appends jute-encoded fields to a bytearray (BinaryOutputArchive)."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def write_byte(self, value: int) -> None:
        self.buf += BYTE.pack(value)

    def write_bool(self, value: bool) -> None:
        self.buf.append(1 if value else 0)

    def write_int(self, value: int) -> None:
        self.buf += INT.pack(value)

    def write_long(self, value: int) -> None:
        self.buf += LONG.pack(value)

    def write_string(self, value: str | None) -> None:
        if value is None:
            self.buf += INT.pack(-1)
            return
        raw = value.encode("utf-8", "surrogatepass")
        self.buf += INT.pack(len(raw))
        self.buf += raw

    def write_buffer(self, value: bytes | None) -> None:
        if value is None:
            self.buf += INT.pack(-1)
            return
        self.buf += INT.pack(len(value))
        self.buf += value

    def write_raw(self, value: bytes) -> None:
        self.buf += value

    def to_bytes(self) -> bytes:
        return bytes(self.buf)


class InputArchive:
    """Reads jute-encoded fields from bytes (BinaryInputArchive)."""

    __slots__ = ("data", "pos", "max_length")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0, max_buffer: int = DEFAULT_MAX_BUFFER):
        self.data = data
        self.pos = pos
        self.max_length = length_limit(max_buffer)

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, n: int) -> bytes:
        start = self.pos
        end = start + n
        if end > len(self.data):
            raise JuteEOFError(f"need {n} bytes at offset {start}, have {len(self.data) - start}")
        self.pos = end
        return self.data[start:end]

    def read_byte(self) -> int:
        return BYTE.unpack(self._take(1))[0]

    def read_bool(self) -> bool:
        return self._take(1)[0] != 0

    def read_int(self) -> int:
        pos = self.pos
        if pos + 4 > len(self.data):
            raise JuteEOFError(f"need 4 bytes at offset {pos}")
        self.pos = pos + 4
        return INT.unpack_from(self.data, pos)[0]

    def read_long(self) -> int:
        pos = self.pos
        if pos + 8 > len(self.data):
            raise JuteEOFError(f"need 8 bytes at offset {pos}")
        self.pos = pos + 8
        return LONG.unpack_from(self.data, pos)[0]

    def _read_sized(self) -> bytes | None:
        """A length-prefixed run of bytes (-1: None), checked as Java checks
        it; one method for strings and buffers, read inline (every request
        has a path and most a buffer)."""
        data = self.data
        pos = self.pos
        end = pos + 4
        if end > len(data):
            raise JuteEOFError(f"need 4 bytes at offset {pos}")
        (length,) = INT.unpack_from(data, pos)
        if length < -1 or length > self.max_length:
            self.pos = end
            raise JuteError(f"Unreasonable length = {length}")
        if length == -1:
            self.pos = end
            return None
        stop = end + length
        if stop > len(data):
            self.pos = end
            raise JuteEOFError(f"need {length} bytes at offset {end}, have {len(data) - end}")
        self.pos = stop
        return bytes(data[end:stop])

    def read_string(self) -> str | None:
        raw = self._read_sized()
        if raw is None:
            return None
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            # Java's String(bytes, UTF_8) replaces malformed input with U+FFFD.
            return raw.decode("utf-8", "replace")

    def read_buffer(self) -> bytes | None:
        return self._read_sized()

    def read_count(self) -> int:
        """A vector's element count (-1 is a null vector)."""
        count = self.read_int()
        if count < -1 or count > self.max_length:
            raise JuteError(f"Unreasonable vector count = {count}")
        return count
