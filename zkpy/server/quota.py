"""Quotas: the StatsTrack text format, the quota paths, and the quota check.

Java: ``org.apache.zookeeper.StatsTrack``, ``org.apache.zookeeper.Quotas``,
``org.apache.zookeeper.common.PathTrie`` (only ``findMaxPrefix`` is needed)
and ``ZooKeeperServer.checkQuota`` (3.8). A quota on path P lives in
``/zookeeper/quota/P/zookeeper_limits`` (the limits, written by the client)
and ``/zookeeper/quota/P/zookeeper_stats`` (the usage, kept up to date by
the DataTree). Both hold StatsTrack text: ``count=N,bytes=M`` followed,
when there are other keys, by ``=`` and ``;key=value`` pairs in key order,
e.g. ``count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2``. A missing
key reads as -1 (no limit).

``count``/``bytes`` in the limits node are soft limits (a warning is
logged when exceeded), ``countHardLimit``/``byteHardLimit`` hard ones (the
write is refused with QUOTAEXCEEDED when ``zookeeper.enforceQuota=true``).

Differences on purpose: Java 3.8 logs nothing at all when
``zookeeper.enforceQuota`` is false; zkpy still logs the "Quota exceeded"
warning then (as ZooKeeper up to 3.6 did), because a soft limit that
nobody hears about is useless. Everything else follows Java, including
that the check reads the applied tree, not the writes still in the
pipeline.
"""

from __future__ import annotations

import logging
import time

from ..errors import Code, KeeperException

LOG = logging.getLogger(__name__)

from ..quotas import (  # noqa: F401 - re-exported for the server's users
    BYTE_HARD_LIMIT, BYTES, COUNT, COUNT_HARD_LIMIT, LIMIT_NODE, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, STAT_NODE,
    StatsTrack, java_readable, limit_path, quota_path, stat_path, trim_quota_path,
)


class QuotaPaths:
    """The paths that carry a quota (Java keeps them in a PathTrie).

    ``max_prefix`` is the longest quota path that is ``path`` itself or one
    of its ancestors, compared component by component; None when there is
    none (the root never counts, as in Java).
    """

    def __init__(self) -> None:
        self._paths: set[str] = set()

    def add(self, path: str) -> None:
        if path not in ("", "/"):
            self._paths.add(path)

    def discard(self, path: str) -> None:
        self._paths.discard(path)

    def clear(self) -> None:
        self._paths.clear()

    def __contains__(self, path: str) -> bool:
        return path in self._paths

    def __len__(self) -> int:
        return len(self._paths)

    def __iter__(self):
        return iter(sorted(self._paths))

    def max_prefix(self, path: str) -> str | None:
        paths = self._paths
        if not paths:
            return None
        while path and path != "/":
            if path in paths:
                return path
            path = path[:path.rfind("/")]
        return None


class RateLogger:
    """Logs a message, then at most one summary per interval while it repeats.

    Java: ``org.apache.zookeeper.server.RateLogger`` (used for quota warnings).
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 0.1):
        self._logger = logger
        self._interval = interval_s
        self._msg: str | None = None
        self._count = 0
        self._last = 0.0

    def rate_limit_log(self, msg: str) -> None:
        now = time.monotonic()
        if msg == self._msg and now - self._last < self._interval:
            self._count += 1
            return
        if self._count and self._msg is not None:
            self._logger.warning("[%d times] Message: %s", self._count, self._msg)
        self._msg = msg
        self._count = 0
        self._last = now
        self._logger.warning("Message: %s", msg)


_RATE_LOGGER = RateLogger(LOG)


def check_tree_quota(tree, path: str, last_data: bytes | None, data: bytes | None, enforce: bool,
                     create: bool) -> None:
    """Check a create (``create``) or a setData of ``path`` against the
    quota above it in ``tree`` (Java: ZooKeeperServer.checkQuota)."""
    prefix = tree.max_prefix_with_quota(path)
    if prefix is None:
        return
    new_bytes = len(data) if data else 0
    if create:
        bytes_diff, count_diff = new_bytes, 1
    else:
        bytes_diff, count_diff = new_bytes - (len(last_data) if last_data else 0), 0
    limit_node = tree.get_node(limit_path(prefix))
    stat_node = tree.get_node(stat_path(prefix))
    if limit_node is None or stat_node is None:
        LOG.error("Missing quota node for %s", prefix)
        return
    limits, current = _read_stats(limit_node.data), _read_stats(stat_node.data)
    if enforce:
        # Java's StatsTrack throws on text it cannot read, which fails the
        # whole request (a multi too) with MARSHALLINGERROR; the stats only
        # matter when a limit applies to the change.
        if limits is None or not java_readable(limit_node.data):
            raise ValueError(f"unreadable quota limits for {prefix}: {limit_node.data!r}")
        if (applies(limits, bytes_diff, count_diff)
                and (current is None or not java_readable(stat_node.data))):
            raise ValueError(f"unreadable quota stats for {prefix}: {stat_node.data!r}")
    elif limits is None or current is None:
        LOG.warning("Unreadable quota for %s: %r / %r", prefix, limit_node.data, stat_node.data)
        return
    check_quota(prefix, limits, current, bytes_diff, count_diff, enforce)


def _read_stats(data: bytes | None) -> StatsTrack | None:
    """A quota node's StatsTrack; None when its text is unreadable."""
    try:
        return StatsTrack(data)
    except ValueError:
        return None


def applies(limits: StatsTrack, bytes_diff: int, count_diff: int) -> bool:
    """Whether ``limits`` limit a change of this many nodes and bytes at all."""
    return bool((count_diff and (limits.count > -1 or limits.count_hard_limit > -1))
                or (bytes_diff and (limits.bytes > -1 or limits.byte_hard_limit > -1)))


def check_quota(prefix: str, limits: StatsTrack, current: StatsTrack, bytes_diff: int, count_diff: int,
                enforce: bool) -> None:
    """Would a change of ``count_diff`` nodes and ``bytes_diff`` bytes under
    the quota on ``prefix`` exceed it? Logs soft and hard excesses; raises
    QUOTAEXCEEDED for a hard one when ``enforce`` (Java: checkQuota)."""
    if count_diff and (limits.count > -1 or limits.count_hard_limit > -1):
        new_count = current.count + count_diff
        hard = limits.count_hard_limit > -1
        limit = limits.count_hard_limit if hard else limits.count
        if new_count > limit:
            _RATE_LOGGER.rate_limit_log(f"Quota exceeded: {prefix} [current count={new_count}, "
                                        f"{'hard' if hard else 'soft'}CountLimit={limit}]")
            if hard and enforce:
                raise KeeperException(Code.QUOTAEXCEEDED, prefix)
    if bytes_diff and (limits.bytes > -1 or limits.byte_hard_limit > -1):
        new_bytes = current.bytes + bytes_diff
        hard = limits.byte_hard_limit > -1
        limit = limits.byte_hard_limit if hard else limits.bytes
        if new_bytes > limit:
            _RATE_LOGGER.rate_limit_log(f"Quota exceeded: {prefix} [current bytes={new_bytes}, "
                                        f"{'hard' if hard else 'soft'}ByteLimit={limit}]")
            if hard and enforce:
                raise KeeperException(Code.QUOTAEXCEEDED, prefix)
