"""Quota nodes and their text: shared by the server and the clients.

Java: ``org.apache.zookeeper.StatsTrack`` and ``org.apache.zookeeper.Quotas``.
A quota on path P lives in ``/zookeeper/quota/P/zookeeper_limits`` (the
limits, written by the client) and ``/zookeeper/quota/P/zookeeper_stats``
(the usage, kept by the server). Both hold StatsTrack text:
``count=N,bytes=M`` followed, when there are other keys, by ``=`` and
``;key=value`` pairs in key order, e.g.
``count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2``. A missing key
reads as -1 (no limit).
"""

from __future__ import annotations

import re

PROC_ZOOKEEPER = "/zookeeper"
QUOTA_ZOOKEEPER = "/zookeeper/quota"
LIMIT_NODE = "zookeeper_limits"
STAT_NODE = "zookeeper_stats"

COUNT = "count"
BYTES = "bytes"
COUNT_HARD_LIMIT = "countHardLimit"
BYTE_HARD_LIMIT = "byteHardLimit"

_PAIRS_SEPARATOR = re.compile(r"[,;]+")


class StatsTrack:
    """Counts and limits as text (Java: ``StatsTrack``); unknown keys are kept."""

    __slots__ = ("stats",)

    def __init__(self, text: str | bytes | None = None):
        self.stats: dict[str, int] = {}
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8", "replace")
        if not text:
            return
        for pair in _PAIRS_SEPARATOR.split(text):
            if not pair:
                continue
            # "bytes=-1=" (the separator before the extra keys) splits into
            # "bytes", "-1", "" like Java's split, which drops the trailing "".
            parts = pair.split("=")
            key = parts[0]
            value = parts[1] if len(parts) > 1 else ""
            self.stats[key] = int(value) if value.strip() else -1

    def _get(self, key: str) -> int:
        return self.stats.get(key, -1)

    @property
    def count(self) -> int:
        return self._get(COUNT)

    @count.setter
    def count(self, value: int) -> None:
        self.stats[COUNT] = value

    @property
    def bytes(self) -> int:
        return self._get(BYTES)

    @bytes.setter
    def bytes(self, value: int) -> None:
        self.stats[BYTES] = value

    @property
    def count_hard_limit(self) -> int:
        return self._get(COUNT_HARD_LIMIT)

    @count_hard_limit.setter
    def count_hard_limit(self, value: int) -> None:
        self.stats[COUNT_HARD_LIMIT] = value

    @property
    def byte_hard_limit(self) -> int:
        return self._get(BYTE_HARD_LIMIT)

    @byte_hard_limit.setter
    def byte_hard_limit(self, value: int) -> None:
        self.stats[BYTE_HARD_LIMIT] = value

    def __str__(self) -> str:
        text = f"{COUNT}={self.count},{BYTES}={self.bytes}"
        extra = sorted(k for k in self.stats if k not in (COUNT, BYTES))
        if extra:
            text += "=" + "".join(f";{key}={self.stats[key]}" for key in extra)
        return text

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8")

    def __eq__(self, other) -> bool:
        return isinstance(other, StatsTrack) and self.stats == other.stats

    def __repr__(self) -> str:
        return f"StatsTrack({str(self)!r})"


def quota_path(path: str) -> str:
    """The directory of the quota on ``path`` (Java: Quotas.quotaPath)."""
    return QUOTA_ZOOKEEPER + path


def limit_path(path: str) -> str:
    """The limits node of the quota on ``path`` (Java: Quotas.limitPath)."""
    return f"{QUOTA_ZOOKEEPER}{path}/{LIMIT_NODE}"


def stat_path(path: str) -> str:
    """The usage node of the quota on ``path`` (Java: Quotas.statPath)."""
    return f"{QUOTA_ZOOKEEPER}{path}/{STAT_NODE}"


def trim_quota_path(quota_dir: str) -> str:
    """``/zookeeper/quota/a/b`` -> ``/a/b`` (Java: Quotas.trimQuotaPath)."""
    return quota_dir[len(QUOTA_ZOOKEEPER):]


_JAVA_LONG = re.compile(r"[+-]?[0-9]+")


def java_readable(data: bytes | None) -> bool:
    """Whether Java's ``new StatsTrack(String)`` reads ``data`` without
    throwing (StatsTrack above reads leniently instead): every
    ``[,;]+``-separated pair but trailing empty ones needs a second
    ``=``-field, a long, or empty with more fields after it (``count==5``;
    ``count=`` throws). No data reads as no limits, as in 3.8 releases after
    3.8.0, which stopped a null payload from failing (3.8.0 throws)."""
    if not data:
        return True
    pairs = _PAIRS_SEPARATOR.split(bytes(data).decode("utf-8", "replace"))
    while pairs and not pairs[-1]:
        pairs.pop()  # String.split drops trailing empty strings
    for pair in pairs:
        parts = pair.split("=")
        while parts and not parts[-1]:
            parts.pop()
        if len(parts) < 2:
            return False
        value = parts[1]  # an empty one reads as -1
        if value and (not _JAVA_LONG.fullmatch(value) or not -2**63 <= int(value) < 2**63):
            return False
    return True
