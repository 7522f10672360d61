"""The pid-file half of ``bin/zkServer.sh``: is the server running, stop it.

Java: the ``start``/``stop`` branches of ``bin/zkServer.sh`` (``kill -0``
and ``kill``). Beyond the shell script, a pid file is trusted only when its
pid is a live zkpy server process (psutil reads its command line), so a
stale pid file left by a crash, whose pid now belongs to some other
program, is recognised and removed instead of blocking ``start`` or
having ``stop`` signal a stranger.

``python -m zkpy.cli.server_control running PIDFILE`` exits 0 when the
server runs (printing its pid), 1 otherwise; ``stop PIDFILE [TIMEOUT]``
sends SIGTERM, waits up to TIMEOUT seconds (``$ZOO_STOP_TIMEOUT``, default
10) for the process to end, then SIGKILLs it, and removes the pid file.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import psutil


def read_pid(pid_file: str) -> Optional[int]:
    try:
        with open(pid_file, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def server_process(pid_file: str) -> Optional[psutil.Process]:
    """The live zkpy server the pid file names, or None."""
    pid = read_pid(pid_file)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if not any("zkpy" in part for part in cmdline):
        return None
    return proc


def _remove(pid_file: str) -> None:
    try:
        os.remove(pid_file)
    except FileNotFoundError:
        pass


def running(pid_file: str) -> int:
    proc = server_process(pid_file)
    if proc is not None:
        print(proc.pid)
        return 0
    if os.path.exists(pid_file):
        sys.stderr.write(f"Removing stale pid file {pid_file} (pid {read_pid(pid_file)} is not a zkpy server)\n")
        _remove(pid_file)
    return 1


def stop(pid_file: str, timeout: float = 10.0) -> int:
    if not os.path.exists(pid_file):
        print(f"no zookeeper to stop (could not find file {pid_file})")
        return 0
    proc = server_process(pid_file)
    if proc is None:
        print(f"no zookeeper running as process {read_pid(pid_file)}; removed the stale pid file")
        _remove(pid_file)
        return 0
    try:
        proc.send_signal(signal.SIGTERM)
        _gone, alive = psutil.wait_procs([proc], timeout=timeout)
        for straggler in alive:
            straggler.kill()
        psutil.wait_procs(alive, timeout=5)
    except psutil.NoSuchProcess:
        pass
    _remove(pid_file)
    print("STOPPED")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == "running":
        return running(argv[1])
    if len(argv) >= 2 and argv[0] == "stop":
        timeout = float(argv[2]) if len(argv) > 2 and argv[2] else 10.0
        return stop(argv[1], timeout)
    sys.stderr.write("Usage: python -m zkpy.cli.server_control {running|stop} PIDFILE [TIMEOUT]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
