"""Autopurge (autopurge.purgeInterval / autopurge.snapRetainCount).

The interval is in hours, so no test waits for a second run. What is
checked instead, honestly: a real server started on a data dir full of
snapshots purges it right away (Java's timer runs the task at once, then
every interval), and the schedule itself — one purge at start, the next
ones ``purgeInterval`` hours apart at a fixed rate — is checked on the
DatadirCleanupManager with a fake clock.
"""

from __future__ import annotations

import time
from pathlib import Path

from kazoo.client import KazooClient

from zkpy.server.config import ServerConfig
from zkpy.server.persistence.purge_txn_log import DatadirCleanupManager, PurgeTaskStatus, purge
from zkpy.server.persistence.util import sort_data_dir
from zkpy.testing import TestingServer


def snapshots(data: Path) -> list[Path]:
    return sort_data_dir(data / "version-2", "snapshot")


def fill(data: Path, tmp_path: Path, name: str) -> None:
    """A data dir with many snapshots and logs, written by a real server (snapCount=10)."""
    with TestingServer(data_dir=data, temp_dir=tmp_path / name, config={"snapCount": 10}) as server:
        zk = KazooClient(hosts=server.connect_string)
        zk.start(timeout=15.0)
        try:
            for i in range(60):
                zk.create(f"/auto-{i}", b"x")
        finally:
            zk.stop()
            zk.close()


def test_server_purges_at_start_and_keeps_its_data(tmp_path):
    data = tmp_path / "data"
    fill(data, tmp_path, "fill")
    before = snapshots(data)
    assert len(before) >= 6
    server = TestingServer(data_dir=data, temp_dir=tmp_path / "auto",
                           config={"autopurge.purgeInterval": 1, "autopurge.snapRetainCount": 3})
    with server:
        deadline = time.monotonic() + 20
        while "Purge task completed." not in server.log_tail(400) and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log_tail(400)
        assert "autopurge.snapRetainCount set to 3" in log and "autopurge.purgeInterval set to 1" in log
        assert "Purge task started." in log and "Purge task completed." in log
        after = snapshots(data)
        # the 3 newest it found, plus (maybe) the snapshot this start wrote
        assert len(after) <= 4 and set(before[-3:]) <= set(after)
        assert not set(before[:-3]) & set(after)
        zk = KazooClient(hosts=server.connect_string)
        zk.start(timeout=15.0)
        try:
            assert len([c for c in zk.get_children("/") if c.startswith("auto-")]) == 60
        finally:
            zk.stop()
            zk.close()
    # and a restart from what is left still has everything
    with TestingServer(data_dir=data, temp_dir=tmp_path / "again") as server:
        assert "Node count: 65\n" in server.four_letter_word("srvr")  # 60 + 5 built-in (root twice)


def test_no_purge_task_by_default(tmp_path):
    with TestingServer(temp_dir=tmp_path) as server:
        assert "Purge task is not scheduled." in server.log_tail(200)


def test_purge_function_on_a_real_data_dir(tmp_path):
    data = tmp_path / "data"
    fill(data, tmp_path, "fill")
    snaps = snapshots(data)
    stale, fresh = data / "version-2" / "snapshot.1.tmp", data / "version-2" / "snapshot.fffff.tmp"
    stale.write_bytes(b"cut short")  # an interrupted snapshot, older than every kept one
    fresh.write_bytes(b"in progress")
    deleted = purge(data, data, 3)
    assert snapshots(data) == snaps[-3:]
    assert not stale.exists() and fresh.exists() and stale in deleted
    assert {p.name for p in deleted if p.name.startswith("snapshot")} == {s.name for s in snaps[:-3]} | {stale.name}
    assert purge(data, data, 3) == []  # nothing more to do


class FakeClock:
    """A clock that moves only when the purge task waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.now += timeout
        return len(self.waits) >= 3  # stop after three intervals


def test_schedule_is_at_once_then_every_interval_at_a_fixed_rate():
    clock = FakeClock()
    runs: list[tuple[float, tuple]] = []

    def slow_purge(*args):
        runs.append((clock.now, args))
        clock.now += 120.0  # a purge that takes two minutes does not shift the schedule

    manager = DatadirCleanupManager("/snaps", "/logs", 5, 2, clock=clock, wait=clock.wait, purge_fn=slow_purge)
    assert manager.period_seconds == 2 * 3600
    manager._run()  # the PurgeTask thread's body
    assert [t for t, _ in runs] == [1000.0, 1000.0 + 7200, 1000.0 + 2 * 7200]
    assert clock.waits == [7200 - 120.0] * 3
    assert runs[0][1] == (Path("/logs"), Path("/snaps"), 5)  # PurgeTxnLog.purge(logs, snaps, count)


def test_manager_from_config_and_thread(tmp_path):
    cfg = ServerConfig.from_properties({"dataDir": str(tmp_path / "d"), "dataLogDir": str(tmp_path / "l"),
                                        "clientPort": "2181", "autopurge.purgeInterval": "3",
                                        "autopurge.snapRetainCount": "1"})
    manager = DatadirCleanupManager.from_config(cfg)
    assert (manager.snap_retain_count, manager.purge_interval, manager.period_seconds) == (3, 3, 3 * 3600.0)
    assert (manager.snap_dir, manager.data_log_dir) == (tmp_path / "d", tmp_path / "l")
    ran = []
    real = DatadirCleanupManager(tmp_path / "d", tmp_path / "l", 3, 1, purge_fn=lambda *a: ran.append(a))
    real.start()
    deadline = time.monotonic() + 5
    while not ran and time.monotonic() < deadline:
        time.sleep(0.01)
    assert real.status == PurgeTaskStatus.STARTED and len(ran) == 1 and real._thread.name == "PurgeTask"
    real.shutdown()
    assert real.status == PurgeTaskStatus.COMPLETED and not real._thread.is_alive()
    off = DatadirCleanupManager(tmp_path / "d", None, 3, 0, purge_fn=lambda *a: ran.append(a))
    off.start()
    assert off.status == PurgeTaskStatus.NOT_STARTED and len(ran) == 1
