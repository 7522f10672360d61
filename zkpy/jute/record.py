"""Declarative jute records.

Java: the classes that ``jute`` generates from ``zookeeper.jute``. A record is
declared once as an ordered list of ``(name, type)`` fields; ``record()``
builds a slotted class whose ``serialize``/``deserialize`` are compiled from
that list (no per-field dispatch at run time), plus equality and repr.
Consecutive fixed-size fields (byte, bool, int, long, and nested records
made only of those, such as Stat) are packed and unpacked by one
precompiled ``struct.Struct``: a reply's Stat is one call, not eleven.

Field types: ``"byte"``, ``"bool"``, ``"int"``, ``"long"``, ``"ustring"``,
``"buffer"``, another record class, or ``Vector(type)``.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable

from .archive import InputArchive, JuteEOFError, OutputArchive

_PRIMITIVES = {
    "byte": ("write_byte", "read_byte", 0),
    "bool": ("write_bool", "read_bool", False),
    "int": ("write_int", "read_int", 0),
    "long": ("write_long", "read_long", 0),
    "ustring": ("write_string", "read_string", None),
    "buffer": ("write_buffer", "read_buffer", None),
}

#: struct codes of the fixed-size field types (jute's bool is one byte, 0 or 1).
_FIXED_CODES = {"byte": "b", "bool": "?", "int": "i", "long": "q"}


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


def _fixed_codes(ftype: Any) -> str | None:
    """The struct codes of a fixed-size field: a primitive, or a nested
    record of fixed-size primitives only (one level, as Stat in a reply);
    None for anything else."""
    if isinstance(ftype, str):
        return _FIXED_CODES.get(ftype)
    if isinstance(ftype, type) and issubclass(ftype, Record):
        codes = [_FIXED_CODES.get(t) if isinstance(t, str) else None for _, t in ftype.FIELDS]
        return None if None in codes or not codes else "".join(codes)
    return None


def _runs(fields: tuple[tuple[str, Any], ...]) -> list:
    """The fields in order, consecutive fixed-size ones grouped in a list."""
    runs: list = []
    for field in fields:
        if _fixed_codes(field[1]) is None:
            runs.append(field)
        elif runs and isinstance(runs[-1], list):
            runs[-1].append(field)
        else:
            runs.append([field])
    return runs


def _leaves(expr: str, ftype: Any) -> list[str]:
    """The primitive values of a fixed-size field, in wire order."""
    if isinstance(ftype, str):
        return [expr]
    return [f"{expr}.{n}" for n, _ in ftype.FIELDS]


def _run_struct(run: list, env: dict) -> str:
    name = f"_S{sum(k.startswith('_S') for k in env)}"
    env[name] = struct.Struct(">" + "".join(_fixed_codes(t) for _, t in run))
    return name


def _write_fixed_run(run: list, lines: list[str], env: dict) -> None:
    packer = _run_struct(run, env)
    values = [leaf for n, t in run for leaf in _leaves(f"self.{n}", t)]
    lines.append(f"    out.buf += {packer}.pack({', '.join(values)})")


def _read_fixed_run(run: list, lines: list[str], env: dict) -> None:
    unpacker = _run_struct(run, env)
    size = env[unpacker].size
    env["_JuteEOFError"] = JuteEOFError
    targets: list[str] = []
    builds: list[str] = []
    for n, t in run:
        if isinstance(t, str):
            targets.append(f"_f_{n}")
            continue
        count = len(_leaves("", t))
        parts = [f"_t_{n}_{i}" for i in range(count)]
        targets.extend(parts)
        env[f"_R_{t.__name__}"] = t
        builds.append(f"    _f_{n} = _R_{t.__name__}({', '.join(parts)})")
    lines.append("    _p = inp.pos")
    lines.append("    _d = inp.data")
    lines.append(f"    if _p + {size} > len(_d):")
    lines.append(f"        raise _JuteEOFError(f'need {size} bytes at offset {{_p}}, have {{len(_d) - _p}}')")
    lines.append(f"    {', '.join(targets)}, = {unpacker}.unpack_from(_d, _p)")
    lines.append(f"    inp.pos = _p + {size}")
    lines.extend(builds)


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
    for run in _runs(fields):
        if isinstance(run, list):
            _write_fixed_run(run, body, env)
        else:
            _write_lines(f"self.{run[0]}", run[1], body, "    ", 0, env)
    src.extend(body or ["    pass"])

    src.append("@classmethod")
    src.append("def deserialize(cls, inp):")
    for run in _runs(fields):
        if isinstance(run, list):
            _read_fixed_run(run, src, env)
        else:
            _read_expr(run[1], src, "    ", f"_f_{run[0]}", 0, env)
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
