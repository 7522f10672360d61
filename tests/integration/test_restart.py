"""Restarts: data, sessions and acknowledged writes survive (ZK_SPEC.md §5).

Every test has its own server (forceSync on: the TestingServer default).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState
from kazoo.security import make_acl, make_digest_acl

from zkpy.server.persistence.file_txn_log import get_log_files
from zkpy.server.persistence.util import LOG_FILE_PREFIX, SNAPSHOT_FILE_PREFIX, get_zxid_from_name

from . import wire
from .servers import kazoo_session, new_server


def version2(server) -> str:
    return os.path.join(server.data_dir, "version-2")


def files(server, prefix: str) -> list[str]:
    """``prefix.<hex>`` files in dataDir/version-2, by zxid."""
    names = [n for n in os.listdir(version2(server)) if n.startswith(prefix + ".")]
    return sorted(names, key=lambda n: get_zxid_from_name(n, prefix))


def test_restart_keeps_data_stats_and_counters(tmp_path):
    server = new_server(temp_dir=tmp_path)
    try:
        acl = [make_digest_acl("user", "secret", all=True), make_acl("world", "anyone", read=True)]
        with kazoo_session(server) as zk:
            zk.create("/app/config", b"v1", makepath=True)
            zk.set("/app/config", b"v2")
            zk.create("/app/locked", b"l", acl=acl)
            for _ in range(3):
                zk.create("/app/job-", b"", sequence=True)
            zk.delete("/app/job-0000000003")
            zk.create("/app/temp", b"", ephemeral=True)
            before = {path: zk.get(path) for path in ("/app", "/app/config", "/app/job-0000000002")}
            locked_acl = zk.get_acls("/app/locked")[0]
            last_zxid = zk.create("/app/last", include_data=True)[1].czxid
        server.restart()
        with kazoo_session(server) as zk:
            for path, (data, stat) in before.items():
                got_data, got_stat = zk.get(path)
                assert got_data == data, path
                if path != "/app":  # /app gained /app/last and lost the ephemeral since
                    assert got_stat == stat, path
            assert zk.get("/app")[1].czxid == before["/app"][1].czxid
            assert zk.get_acls("/app/locked")[0] == locked_acl
            # The closed session's ephemeral is gone; the sequence counter goes on.
            assert zk.exists("/app/temp") is None
            assert zk.create("/app/job-", sequence=True) == "/app/job-0000000007"
            # zxids continue after the last one logged (two session txns came between).
            assert zk.create("/app/next", include_data=True)[1].czxid > last_zxid
    finally:
        server.close()


def test_restart_with_a_live_session(tmp_path):
    # tickTime 500: sessions may last up to 10 s, plenty for a restart.
    server = new_server(temp_dir=tmp_path, tick_time=500)
    try:
        zk = KazooClient(hosts=server.connect_string, timeout=8.0,
                         connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5})
        states: list[str] = []
        zk.add_listener(states.append)
        zk.start(timeout=15.0)
        try:
            session_id = zk.client_id[0]
            zk.create("/live", b"", ephemeral=True)
            server.restart()
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                if states and states[-1] == KazooState.CONNECTED and zk.connected:
                    break
                time.sleep(0.05)
            # Reconnected within the timeout to the same session: never LOST.
            assert states[-2:] == [KazooState.SUSPENDED, KazooState.CONNECTED], states
            assert KazooState.LOST not in states
            assert zk.client_id[0] == session_id
            assert zk.exists("/live").ephemeralOwner == session_id
            with kazoo_session(server) as other:
                assert other.exists("/live").ephemeralOwner == session_id
        finally:
            zk.stop()
            zk.close()
        with kazoo_session(server) as other:
            assert other.exists("/live") is None
    finally:
        server.close()


def test_session_restored_from_the_log_expires_after_restart(tmp_path):
    server = new_server(temp_dir=tmp_path)  # tickTime 200: timeouts up to 4 s
    try:
        abandoned = wire.connect(server, timeout_ms=3000)
        with abandoned:
            assert abandoned.create("/orphan", flags=1)[0].err == 0
        # The socket is gone but the session is not closed; the server goes down at once.
        server.stop()
        server.start()
        with kazoo_session(server) as zk:
            assert zk.exists("/orphan").ephemeralOwner == abandoned.session_id
            gone = threading.Event()
            zk.exists("/orphan", watch=lambda event: gone.set())
            # The restored session gets its full timeout again, then expires.
            assert gone.wait(3.0 + 3.0)
            assert zk.exists("/orphan") is None
    finally:
        server.close()


@pytest.mark.parametrize("setting", [{"config": {"snapCount": 10}}, {"jvm_flags": ["-Dzookeeper.snapCount=10"]}],
                         ids=["zoo.cfg", "jvm-flag"])
def test_snapshots_are_taken_while_writing_and_loaded_on_restart(tmp_path, setting):
    server = new_server(temp_dir=tmp_path, **setting)
    try:
        snapshots_at_start = files(server, SNAPSHOT_FILE_PREFIX)
        with kazoo_session(server) as zk:
            zk.create("/snap")
            for i in range(100):
                zk.create(f"/snap/n{i:03d}", str(i).encode())
                if i % 10 == 0:
                    zk.set("/snap", str(i).encode())
            expected_root = zk.get("/snap")
        # A snapshot roughly every 5 to 10 txns, each with a log file after it.
        snapshots = files(server, SNAPSHOT_FILE_PREFIX)
        logs = files(server, LOG_FILE_PREFIX)
        assert len(snapshots) >= len(snapshots_at_start) + 8, snapshots
        assert len(logs) >= 8, logs
        server.stop()
        # Keep only the logs that the newest snapshot needs: the older txns now
        # exist in the snapshots alone, so the restart must read one.
        log_dir = Path(version2(server))
        newest = get_zxid_from_name(snapshots[-1], SNAPSHOT_FILE_PREFIX)
        needed = {p.name for p in get_log_files([log_dir / n for n in logs], newest)}
        for name in logs:
            if name not in needed:
                os.unlink(log_dir / name)
        assert len(needed) < len(logs)
        server.start()
        with kazoo_session(server) as zk:
            children = zk.get_children("/snap")
            assert sorted(children) == [f"n{i:03d}" for i in range(100)]
            assert zk.get("/snap/n099")[0] == b"99"
            assert zk.get("/snap") == expected_root
    finally:
        server.close()


def test_kill_during_a_write_burst_keeps_every_acknowledged_write(tmp_path):
    # A small snapCount: logs roll and fuzzy snapshots are written during the burst too.
    server = new_server(temp_dir=tmp_path, config={"snapCount": 300})
    acked: list[str] = []
    stop = threading.Event()
    failure: list[BaseException] = []
    try:
        zk = KazooClient(hosts=server.connect_string, timeout=10.0,
                         connection_retry={"max_tries": 0})
        zk.start(timeout=15.0)
        zk.create("/burst")

        def write_burst() -> None:
            # Windows of pipelined creates: many writes are in flight when the kill comes.
            n = 0
            try:
                while not stop.is_set():
                    window = [(f"/burst/w{n + i:06d}", zk.create_async(f"/burst/w{n + i:06d}", b"x" * 100))
                              for i in range(50)]
                    n += 50
                    for path, result in window:
                        try:
                            result.get(timeout=0 if stop.is_set() else 10)
                        except (KazooException, KazooTimeoutError):
                            # The kill: unanswered (a request kazoo queued after
                            # the connection broke is never answered at all).
                            stop.set()
                        else:
                            acked.append(path)
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                failure.append(e)

        writer = threading.Thread(target=write_burst, name="write-burst")
        writer.start()
        deadline = time.monotonic() + 10
        while len(acked) < 1500 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        writer.join(20)
        assert not writer.is_alive()
        assert not failure, failure
        zk.stop()
        zk.close()
        assert len(acked) >= 1500

        server.start()
        with kazoo_session(server) as check:
            present = set(check.get_children("/burst"))
        missing = [p for p in acked if p.rsplit("/", 1)[1] not in present]
        assert missing == [], f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        # Writes are acknowledged in order, so what survived is a prefix with no holes.
        numbers = sorted(int(name[1:]) for name in present)
        assert numbers == list(range(len(numbers)))
    finally:
        stop.set()
        server.close()


def test_a_clean_stop_lets_a_running_snapshot_finish(tmp_path):
    # The process used to end as soon as a stop began, cutting off a
    # background snapshot (its .tmp left behind) and the rest of the shutdown.
    server = new_server(temp_dir=tmp_path, config={"snapCount": 2000},
                        jvm_flags=["-Dzookeeper.snapshot.compression.method=snappy"])  # a slow codec
    try:
        tmp_seen = False
        with kazoo_session(server) as zk:
            zk.create("/big")
            deadline = time.monotonic() + 60
            n = 0
            while not tmp_seen and time.monotonic() < deadline:
                pending = [zk.create_async(f"/big/n{n + i:06d}", b"x" * 100) for i in range(500)]
                for result in pending:
                    result.get(timeout=30)
                n += 500
                tmp_seen = any(name.endswith(".tmp") for name in os.listdir(version2(server)))
        assert tmp_seen, "no snapshot was caught in progress"
        server.stop()  # SIGTERM while the snapshot is written
        assert server.returncode == 0
        names = os.listdir(version2(server))
        assert not [name for name in names if name.endswith(".tmp")], names
        assert "Snapshot 0x" in open(server.log_path, encoding="utf-8", errors="replace").read()
    finally:
        server.close()
