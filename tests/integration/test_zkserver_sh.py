"""bin/zkServer.sh drives a zkpy server as Java's script drives ZooKeeper."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from zkpy.testing import find_free_port, four_letter_word, wait_until

ZKSERVER = os.path.join(os.path.dirname(__file__), "..", "..", "bin", "zkServer.sh")


@pytest.fixture
def script_env(tmp_path):
    port = find_free_port()
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=200\ndataDir={tmp_path / 'data'}\nclientPort={port}\n"
                   "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n")
    env = dict(os.environ, ZOO_LOG_DIR=str(tmp_path / "logs"))
    pid_file = tmp_path / "data" / "zookeeper_server.pid"
    yield cfg, port, env, pid_file
    # Never leave a server behind, whatever the test did.
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def run(env, *args):
    return subprocess.run(["bash", ZKSERVER, *args], env=env, capture_output=True, text=True, timeout=60)


def test_start_status_stop(script_env):
    cfg, port, env, pid_file = script_env
    started = run(env, "start", str(cfg))
    assert started.returncode == 0, started.stderr
    assert "Starting zookeeper ... STARTED" in started.stdout
    assert f"Using config: {cfg}" in started.stderr
    assert pid_file.exists()

    status = run(env, "status", str(cfg))
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "Mode: standalone"
    assert f"Client port found: {port}." in status.stderr
    # Default whitelist (srvr only): Java 3.8 refuses even ruok.
    assert four_letter_word("127.0.0.1", port, "ruok") == \
        "ruok is not executed because it is not in the whitelist.\n"

    again = run(env, "start", str(cfg))
    assert again.returncode == 1
    assert "already running as process" in again.stdout

    stopped = run(env, "stop", str(cfg))
    assert stopped.returncode == 0
    assert "Stopping zookeeper ... STOPPED" in stopped.stdout
    assert not pid_file.exists()

    status = run(env, "status", str(cfg))
    assert status.returncode == 1
    assert "Error contacting service. It is probably not running." in status.stderr


def test_stop_without_server_and_missing_config(script_env, tmp_path):
    cfg, _port, env, pid_file = script_env
    stopped = run(env, "stop", str(cfg))
    assert stopped.returncode == 0
    assert "no zookeeper to stop" in stopped.stdout
    missing = run(env, "start", str(tmp_path / "nope.cfg"))
    assert missing.returncode == 1
    assert "not found" in missing.stderr
    usage = run(env, "bogus")
    assert usage.returncode == 1
    assert "Usage:" in usage.stderr


def test_stale_pid_file_does_not_block_start(script_env):
    cfg, port, env, pid_file = script_env
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    # A crash left a pid file behind whose pid now belongs to another program.
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        pid_file.write_text(str(stranger.pid))
        stopped = run(env, "stop", str(cfg))
        assert "removed the stale pid file" in stopped.stdout
        assert stranger.poll() is None          # the stranger was not signalled
        pid_file.write_text(str(stranger.pid))
        started = run(env, "start", str(cfg))
        assert "STARTED" in started.stdout, started.stdout + started.stderr
        assert int(pid_file.read_text()) != stranger.pid
        assert four_letter_word("127.0.0.1", port, "srvr").startswith("Zookeeper version")
    finally:
        stranger.kill()
        stranger.wait()
    stopped = run(env, "stop", str(cfg))
    assert "STOPPED" in stopped.stdout


def test_daemon_logs_to_a_rolling_file(script_env, tmp_path):
    cfg, port, env, pid_file = script_env
    assert run(env, "start", str(cfg)).returncode == 0
    try:
        logs = tmp_path / "logs"
        log_files = wait_until(lambda: [p for p in logs.iterdir() if p.suffix == ".log"], what="a .log file")
        assert log_files[0].name.startswith("zookeeper-")
        wait_until(lambda: "binding to port" in log_files[0].read_text(), what="the start-up line")
    finally:
        assert "STOPPED" in run(env, "stop", str(cfg)).stdout
