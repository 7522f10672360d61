"""Purging old snapshots and txn logs, by hand and on a timer.

Java: ``org.apache.zookeeper.server.PurgeTxnLog`` (the purge itself and the
``zkCleanup.sh`` tool, see :mod:`zkpy.cli.purge_txn_log`) and
``org.apache.zookeeper.server.DatadirCleanupManager`` (the server's
autopurge task).

The rule, as Java's: keep the ``count`` newest *valid* snapshots (count >=
3) and every txn log needed to replay from the oldest kept one (the log
holding its zxid and all later logs); delete older snapshots and older
logs. Nothing is deleted when there is no valid snapshot. Older
``snapshot.<zxid>.tmp`` files (a snapshot interrupted before its rename)
go too; Java, which has no such files, would delete them as snapshots.

Autopurge (zoo.cfg ``autopurge.purgeInterval`` in hours, 0 = off, and
``autopurge.snapRetainCount``, at least 3): a daemon thread ``PurgeTask``
runs the purge at start and then every interval, at a fixed rate (Java's
``Timer.scheduleAtFixedRate(task, 0, hours)``). A failing purge is logged
and retried at the next interval.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from .file_txn_log import get_log_files
from .util import LOG_FILE_PREFIX, SNAPSHOT_FILE_PREFIX, get_zxid_from_name, sort_data_dir

LOG = logging.getLogger(__name__)

__all__ = ["MIN_SNAP_RETAIN_COUNT", "files_to_purge", "purge", "remove_files", "DatadirCleanupManager",
           "PurgeTaskStatus"]

#: PurgeTxnLog refuses to keep fewer snapshots than this.
MIN_SNAP_RETAIN_COUNT = 3


def files_to_purge(snap_log, num: int) -> list[Path]:
    """The logs, then the snapshots, that a purge keeping ``num`` snapshots deletes.

    ``snap_log`` is a FileTxnSnapLog. Raises ValueError for ``num`` < 3.
    """
    if num < MIN_SNAP_RETAIN_COUNT:
        raise ValueError("count should be greater than or equal to 3")
    snaps = snap_log.find_n_valid_snapshots(num)
    if not snaps:
        return []
    least = get_zxid_from_name(snaps[-1].name, SNAPSHOT_FILE_PREFIX)
    logs = sort_data_dir(snap_log.data_dir, LOG_FILE_PREFIX)
    retained = set(get_log_files(logs, least))
    doomed = [f for f in logs if f not in retained and get_zxid_from_name(f.name, LOG_FILE_PREFIX) < least]
    doomed += [f for f in sort_data_dir(snap_log.snap_dir, SNAPSHOT_FILE_PREFIX)
               if get_zxid_from_name(f.name, SNAPSHOT_FILE_PREFIX) < least]
    doomed += sorted(f for f in snap_log.snap_dir.glob(SNAPSHOT_FILE_PREFIX + ".*.tmp")
                     if 0 <= get_zxid_from_name(f.name[:-len(".tmp")], SNAPSHOT_FILE_PREFIX) < least)
    return doomed


def purge(data_log_dir: Path | str, snap_dir: Path | str | None = None, num: int = MIN_SNAP_RETAIN_COUNT,
          on_remove: Optional[Callable[[Path], None]] = None) -> list[Path]:
    """PurgeTxnLog.purge(dataDir, snapDir, num): the deleted files.

    ``data_log_dir`` and ``snap_dir`` are the configured ``dataLogDir`` and
    ``dataDir`` (their ``version-2`` subdirectories hold the files; Java's
    argument order: logs first). ``on_remove(path)`` is called before each
    deletion (the command-line tool prints it). A file that cannot be
    deleted is logged and skipped.
    """
    from .file_txn_snap_log import FileTxnSnapLog  # file_txn_snap_log delegates its purge() here

    snap_log = FileTxnSnapLog(snap_dir if snap_dir is not None else data_log_dir, data_log_dir)
    try:
        return remove_files(files_to_purge(snap_log, num), on_remove)
    finally:
        snap_log.close()


def remove_files(files: list[Path], on_remove: Optional[Callable[[Path], None]] = None) -> list[Path]:
    deleted = []
    for f in files:
        if on_remove is not None:
            on_remove(f)
        LOG.info("Removing file: %s", f)
        try:
            f.unlink()
            deleted.append(f)
        except OSError as e:
            LOG.warning("Failed to remove %s: %s", f, e)
    return deleted


class PurgeTaskStatus:
    NOT_STARTED = "NOT_STARTED"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"


class DatadirCleanupManager:
    """Runs :func:`purge` every ``purge_interval`` hours (Java: DatadirCleanupManager).

    ``snap_dir`` / ``data_log_dir`` are the configured ``dataDir`` /
    ``dataLogDir``. ``clock`` and ``wait`` (an Event-like ``wait(timeout)``
    that returns True to stop) exist for tests; by default they are
    ``time.monotonic`` and the manager's stop event.
    """

    def __init__(self, snap_dir: Path | str, data_log_dir: Path | str | None, snap_retain_count: int,
                 purge_interval: int, *, clock: Callable[[], float] = time.monotonic,
                 wait: Optional[Callable[[float], bool]] = None,
                 purge_fn: Callable[..., list[Path]] = purge):
        self.snap_dir = Path(snap_dir)
        self.data_log_dir = Path(data_log_dir) if data_log_dir else self.snap_dir
        self.snap_retain_count = snap_retain_count
        self.purge_interval = purge_interval
        self.status = PurgeTaskStatus.NOT_STARTED
        self.runs = 0
        self._clock = clock
        self._stop = threading.Event()
        self._wait = wait if wait is not None else self._stop.wait
        self._purge = purge_fn
        self._thread: Optional[threading.Thread] = None
        LOG.info("autopurge.snapRetainCount set to %d", snap_retain_count)
        LOG.info("autopurge.purgeInterval set to %d", purge_interval)

    @classmethod
    def from_config(cls, config) -> "DatadirCleanupManager":
        return cls(config.data_dir, config.data_log_dir or config.data_dir, config.snap_retain_count,
                   config.purge_interval)

    @property
    def period_seconds(self) -> float:
        """The time between two purges (``purgeInterval`` hours)."""
        return self.purge_interval * 3600.0

    def start(self) -> None:
        """Schedule the task (first run now); nothing when the interval is 0 or less."""
        if self.status == PurgeTaskStatus.STARTED:
            LOG.warning("Purge task is already running.")
            return
        if self.purge_interval <= 0:
            LOG.info("Purge task is not scheduled.")
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="PurgeTask", daemon=True)
        self.status = PurgeTaskStatus.STARTED
        self._thread.start()

    def shutdown(self) -> None:
        if self.status != PurgeTaskStatus.STARTED:
            LOG.debug("Purge task not started. Ignoring shutdown!")
            return
        LOG.info("Shutting down purge task.")
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.status = PurgeTaskStatus.COMPLETED

    def _run(self) -> None:
        period = self.period_seconds
        next_run = self._clock()
        while True:
            self.run_once()
            # Fixed rate: each run is due at start + k * period, however long the purge took.
            next_run += period
            if self._wait(max(0.0, next_run - self._clock())):
                return

    def run_once(self) -> None:
        """One purge (Java: PurgeTask.run)."""
        LOG.info("Purge task started.")
        try:
            self._purge(self.data_log_dir, self.snap_dir, self.snap_retain_count)
        except Exception as e:  # noqa: BLE001 - a failed purge must not kill the task
            LOG.error("Error occurred while purging: %s", e)
        self.runs += 1
        LOG.info("Purge task completed.")

