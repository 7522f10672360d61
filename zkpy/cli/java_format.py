"""Java's text conventions that ZooKeeper's tools print, for zkpy's tools.

Not a ZooKeeper class: the bits of the JDK whose output shows in
``zkTxnLogToolkit.sh``, ``zkSnapShotToolkit.sh`` and ``zkCleanup.sh`` —
``Date.toString()``, ``DateFormat`` in the US English locale, and the
iteration order of ``HashMap`` / ``HashSet`` (which decides the order in
which Java's SnapshotFormatter walks children and sessions). With them,
zkpy's tools print what Java's print for the same file.

Dates use the process's local time zone, as the JVM's default does
(``TZ``); the zone's name is the C library's abbreviation, which matches
Java's for the usual zones (UTC, CET/CEST, EST ...).
"""

from __future__ import annotations

import time
from typing import Callable, Hashable, Iterable, TypeVar

__all__ = [
    "java_string_hash", "java_long_hash", "java_hash_order", "date_to_string", "short_long_date_time",
    "medium_date_time",
]

K = TypeVar("K", bound=Hashable)

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def java_string_hash(text: str) -> int:
    """``String.hashCode()``: over UTF-16 code units, 32-bit wrapping."""
    h = 0
    data = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return _int32(h)


def java_long_hash(value: int) -> int:
    """``Long.hashCode()``: ``(int) (v ^ (v >>> 32))``."""
    value &= 0xFFFFFFFFFFFFFFFF
    return _int32(value ^ (value >> 32))


def java_hash_order(keys: Iterable[K], hash_fn: Callable[[K], int], initial_capacity: int = 16) -> list[K]:
    """The iteration order of a ``HashMap``/``HashSet`` filled with ``keys``
    in this order (distinct keys), created with ``initial_capacity``.

    Simulates the table: index ``(h ^ h >>> 16) & (capacity - 1)``, a new
    entry at the tail of its bucket, doubling when the size exceeds 3/4 of
    the capacity or when a bucket reaches 9 entries in a table smaller than
    64 (where Java would rather grow than build a tree). Buckets that Java
    turns into trees (9+ colliding keys in a table of 64 or more) keep
    insertion order here, an approximation.
    """
    capacity = 1
    while capacity < max(initial_capacity, 1):
        capacity <<= 1
    threshold = int(capacity * 0.75)
    buckets: dict[int, list[tuple[int, K]]] = {}

    def resize() -> None:
        nonlocal capacity, threshold, buckets
        capacity <<= 1
        threshold = int(capacity * 0.75)
        grown: dict[int, list[tuple[int, K]]] = {}
        for index in sorted(buckets):
            for entry in buckets[index]:
                grown.setdefault(entry[0] & (capacity - 1), []).append(entry)
        buckets = grown

    size = 0
    for key in keys:
        h = hash_fn(key) & 0xFFFFFFFF
        spread = h ^ (h >> 16)
        bucket = buckets.setdefault(spread & (capacity - 1), [])
        bucket.append((spread, key))
        if len(bucket) >= 9 and capacity < 64:
            resize()
        size += 1
        if size > threshold:
            resize()
    return [key for index in sorted(buckets) for _spread, key in buckets[index]]


def _local(ms: int) -> time.struct_time:
    return time.localtime(ms / 1000.0)


def date_to_string(ms: int) -> str:
    """``new Date(ms).toString()``: ``Thu Jan 01 00:00:00 UTC 1970``."""
    t = _local(ms)
    return (f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d} {time.strftime('%Z', t)} {t.tm_year}")


def _clock_12(t: time.struct_time) -> str:
    hour = t.tm_hour % 12 or 12
    return f"{hour}:{t.tm_min:02d}:{t.tm_sec:02d} {'AM' if t.tm_hour < 12 else 'PM'}"


def short_long_date_time(ms: int) -> str:
    """``DateFormat.getDateTimeInstance(SHORT, LONG)`` (en_US): ``11/27/26, 11:00:44 AM UTC``."""
    t = _local(ms)
    return f"{t.tm_mon}/{t.tm_mday}/{t.tm_year % 100:02d}, {_clock_12(t)} {time.strftime('%Z', t)}"


def medium_date_time(ms: int) -> str:
    """``DateFormat.getDateTimeInstance()`` (MEDIUM, en_US): ``Nov 27, 2026, 11:01:33 AM``."""
    t = _local(ms)
    return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday}, {t.tm_year}, {_clock_12(t)}"
