"""A record's text as Java's generated ``toString()`` writes it.

Java: ``org.apache.jute.ToStringOutputArchive`` (what every jute record's
``toString`` serializes into) and ``java.util.List.toString``. The data
tools print records this way (``zkTxnLogToolkit.sh``), so their output
can be compared with Java's line for line.

The format, quirks included: a top-level record has no braces and ends in
a newline; a nested record is ``s{...}``, a vector ``v{...}``; fields are
comma-separated; ints/longs in decimal, bools ``T``/``F``; strings get a
leading ``'`` and ``%00 %0A %0D %2C %7D %25`` escapes for NUL, LF, CR,
``,``, ``}`` and ``%``; buffers are ``#`` plus ``Integer.toHexString`` of
each *signed* byte (so 0x0A is ``a`` and 0xFF is ``ffffffff``); a null
string or buffer prints nothing.
"""

from __future__ import annotations

from typing import Any

from .record import Record, Vector

__all__ = ["to_java_string", "java_list_string", "escape_string", "escape_buffer"]

_STRING_ESCAPES = {"\0": "%00", "\n": "%0A", "\r": "%0D", ",": "%2C", "}": "%7D", "%": "%25"}


def escape_string(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + "".join(_STRING_ESCAPES.get(c, c) for c in value)


def escape_buffer(value: bytes | None) -> str:
    if not value:
        return ""
    # Integer.toHexString(byte): the byte is sign-extended to an int first.
    return "#" + "".join(f"{b:x}" if b < 0x80 else f"{b | 0xFFFFFF00:x}" for b in value)


class _Writer:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.first = True

    def _comma(self) -> None:
        if not self.first:
            self.out.append(",")
        self.first = False

    def scalar(self, text: str) -> None:
        self._comma()
        self.out.append(text)

    def value(self, kind: Any, value: Any) -> None:
        if kind in ("int", "long", "byte"):
            self.scalar(str(value))
        elif kind == "bool":
            self.scalar("T" if value else "F")
        elif kind == "ustring":
            self.scalar(escape_string(value))
        elif kind == "buffer":
            self.scalar(escape_buffer(value))
        elif isinstance(kind, Vector):
            self._comma()
            self.out.append("v{")
            self.first = True
            for item in value or ():
                self.value(kind.elem, item)
            self.out.append("}")
            self.first = False
        else:  # a nested record (tag non-empty): s{...}
            self._comma()
            self.out.append("s{")
            self.first = True
            self.fields(value)
            self.out.append("}")
            self.first = False

    def fields(self, record: Record) -> None:
        for name, kind in type(record).FIELDS:
            self.value(kind, getattr(record, name))


def to_java_string(record: Record) -> str:
    """``record.toString()`` in Java (ends with a newline)."""
    writer = _Writer()
    writer.fields(record)
    return "".join(writer.out) + "\n"


def java_list_string(records) -> str:
    """``List<Record>.toString()``: ``[a, b]`` of the records' toString."""
    if records is None:
        return "null"
    return "[" + ", ".join(to_java_string(r) for r in records) + "]"
