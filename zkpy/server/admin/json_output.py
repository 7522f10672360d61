"""JSON text as the AdminServer writes it.

Java: ``org.apache.zookeeper.server.admin.JsonOutputter`` (Jackson with
``INDENT_OUTPUT``: the ``DefaultPrettyPrinter``). The layout is Jackson's,
so that a diff against Java's answer shows only the values: objects one
field per line, ``"key" : value``, two spaces per object level; arrays on
one line, ``[ a, b ]`` (an object inside an array opens on the same line);
empty ones ``{ }`` and ``[ ]``; no newline at the end. Strings are escaped
as Jackson does (``"``, ``\\``, control characters; everything else,
``/`` and non-ASCII included, is written as is); floats as Java doubles.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..server_stats import java_double

__all__ = ["to_json", "quote_as_string"]

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_as_string(text: str) -> str:
    """Jackson's JsonStringEncoder.quoteAsString: the escaped text, without quotes."""
    out = []
    for c in text:
        escaped = _ESCAPES.get(c)
        if escaped is not None:
            out.append(escaped)
        elif c < " ":
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _string(text: str) -> str:
    return f'"{quote_as_string(text)}"'


def _value(value: object, level: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{ }"
        inner = "  " * (level + 1)
        fields = ",\n".join(f"{inner}{_string(str(k))} : {_value(v, level + 1)}" for k, v in value.items())
        return "{\n" + fields + "\n" + "  " * level + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        if not value:
            return "[ ]"
        # Jackson's array indenter is inline: elements keep the array's level.
        return "[ " + ", ".join(_value(v, level) for v in value) + " ]"
    return _string(str(value))


def to_json(value: object) -> str:
    """``value`` (dicts, lists, str, int, float, bool, None) as Jackson's pretty JSON."""
    return _value(value, 0)
