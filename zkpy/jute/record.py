"""Declarative jute records.

Java: the classes that ``jute`` generates from ``zookeeper.jute``. A record is
declared once as an ordered list of ``(name, type)`` fields; ``record()``
builds a slotted class whose ``serialize``/``deserialize`` are compiled from
that list (no per-field dispatch at run time), plus equality and repr.

Field types: ``"byte"``, ``"bool"``, ``"int"``, ``"long"``, ``"ustring"``,
``"buffer"``, another record class, or ``Vector(type)``.
"""

from __future__ import annotations

from typing import Any, Iterable

from .archive import InputArchive, OutputArchive

_PRIMITIVES = {
    "byte": ("write_byte", "read_byte", 0),
    "bool": ("write_bool", "read_bool", False),
    "int": ("write_int", "read_int", 0),
    "long": ("write_long", "read_long", 0),
    "ustring": ("write_string", "read_string", None),
    "buffer": ("write_buffer", "read_buffer", None),
}


class Vector:
    """A ``vector<T>`` field: a list, or None for the null vector (-1)."""

    __slots__ = ("elem",)

    def __init__(self, elem: Any):
        self.elem = elem


class Record:
    """Base of every generated record."""

    __slots__ = ()
    FIELDS: tuple[tuple[str, Any], ...] = ()

    def serialize(self, out: OutputArchive) -> None:  # replaced per class
        raise NotImplementedError

    @classmethod
    def deserialize(cls, inp: InputArchive) -> "Record":  # replaced per class
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        out = OutputArchive()
        self.serialize(out)
        return bytes(out.buf)

    @classmethod
    def from_bytes(cls, data: bytes, max_buffer: int | None = None):
        inp = InputArchive(data) if max_buffer is None else InputArchive(data, max_buffer=max_buffer)
        return cls.deserialize(inp)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(_freeze(getattr(self, n)) for n in self.__slots__))

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({body})"

    def copy(self):  # replaced per class: a shallow copy, field by field
        raise NotImplementedError

    def replace(self, **changes: Any):
        values = {n: getattr(self, n) for n in self.__slots__}
        values.update(changes)
        return type(self)(**values)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _write_lines(expr: str, ftype: Any, lines: list[str], indent: str, depth: int, env: dict) -> None:
    if isinstance(ftype, str):
        lines.append(f"{indent}out.{_PRIMITIVES[ftype][0]}({expr})")
    elif isinstance(ftype, Vector):
        item = f"_e{depth}"
        lines.append(f"{indent}if {expr} is None:")
        lines.append(f"{indent}    out.write_int(-1)")
        lines.append(f"{indent}else:")
        lines.append(f"{indent}    out.write_int(len({expr}))")
        lines.append(f"{indent}    for {item} in {expr}:")
        _write_lines(item, ftype.elem, lines, indent + "        ", depth + 1, env)
    else:
        lines.append(f"{indent}{expr}.serialize(out)")


def _read_expr(ftype: Any, lines: list[str], indent: str, target: str, depth: int, env: dict) -> None:
    if isinstance(ftype, str):
        lines.append(f"{indent}{target} = inp.{_PRIMITIVES[ftype][1]}()")
    elif isinstance(ftype, Vector):
        count, acc = f"_n{depth}", f"_v{depth}"
        lines.append(f"{indent}{count} = inp.read_count()")
        lines.append(f"{indent}if {count} == -1:")
        lines.append(f"{indent}    {target} = None")
        lines.append(f"{indent}else:")
        lines.append(f"{indent}    {acc} = []")
        lines.append(f"{indent}    for _ in range({count}):")
        _read_expr(ftype.elem, lines, indent + "        ", f"_x{depth}", depth + 1, env)
        lines.append(f"{indent}        {acc}.append(_x{depth})")
        lines.append(f"{indent}    {target} = {acc}")
    else:
        name = f"_R_{ftype.__name__}"
        env[name] = ftype
        lines.append(f"{indent}{target} = {name}.deserialize(inp)")


def _default(ftype: Any) -> Any:
    if isinstance(ftype, str):
        return _PRIMITIVES[ftype][2]
    return None


def record(name: str, fields: Iterable[tuple[str, Any]], doc: str | None = None) -> type[Record]:
    """Build the record class ``name`` with the given ordered fields."""
    fields = tuple(fields)
    names = [f for f, _ in fields]
    env: dict[str, Any] = {}
    src: list[str] = []

    params = ", ".join(f"{n}=_D_{n}" for n in names)
    for n, t in fields:
        env[f"_D_{n}"] = _default(t)
    src.append(f"def __init__(self{', ' if params else ''}{params}):")
    src.extend(f"    self.{n} = {n}" for n in names)
    if not names:
        src.append("    pass")

    src.append("def serialize(self, out):")
    body: list[str] = []
    for n, t in fields:
        _write_lines(f"self.{n}", t, body, "    ", 0, env)
    src.extend(body or ["    pass"])

    src.append("@classmethod")
    src.append("def deserialize(cls, inp):")
    for n, t in fields:
        _read_expr(t, src, "    ", f"_f_{n}", 0, env)
    src.append(f"    return cls({', '.join(f'_f_{n}' for n in names)})")

    src.append("def copy(self):")
    src.append(f"    return type(self)({', '.join(f'self.{n}' for n in names)})")

    exec("\n".join(src), env)  # noqa: S102 - code built from the field list above
    cls = type(
        name,
        (Record,),
        {
            "__slots__": tuple(names),
            "FIELDS": fields,
            "__init__": env["__init__"],
            "serialize": env["serialize"],
            "deserialize": env["deserialize"],
            "copy": env["copy"],
            "__doc__": doc or f"Jute record {name}: " + ", ".join(f"{n}" for n in names) + ".",
        },
    )
    return cls
