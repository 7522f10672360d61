"""TestingServer and the conftest fixtures against the real zkpy server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from zkpy.testing import TestingServer, wait_until

from .servers import kazoo_session


def test_fixtures(zk_server, kazoo_client):
    assert zk_server.four_letter_word("ruok") == "imok"
    assert zk_server.is_running
    kazoo_client.create("/fixture", b"data")
    assert kazoo_client.get("/fixture")[0] == b"data"


def test_restart_keeps_data_and_port(tmp_path):
    with TestingServer(temp_dir=tmp_path, force_sync=False) as server:
        port, pid = server.port, server.pid
        with kazoo_session(server) as client:
            client.create("/kept", b"v1")

        server.restart()
        assert server.port == port and server.pid != pid

        with kazoo_session(server) as client:
            assert client.get("/kept")[0] == b"v1"
        pid = server.pid
    assert server.pid is None
    assert (tmp_path / "data" / "version-2").is_dir()


# -- a server started from a worker thread --------------------------------------------------------------
# PR_SET_PDEATHSIG fires when the thread that forked the child exits, so it
# cannot keep such a server tied to the test process; the server's own
# watch on its parent pid (zkpy.parent_watch) does.

def _alive(pid: int, create_time: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.create_time() == create_time and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_server_started_from_a_thread_outlives_the_thread(tmp_path):
    server = TestingServer(temp_dir=tmp_path, force_sync=False)
    try:
        starter = threading.Thread(target=server.start)
        starter.start()
        starter.join(30)
        assert server.is_running
        time.sleep(1.0)                         # SIGKILL from PDEATHSIG would be immediate
        assert server.is_running, server.log_tail(20)
        assert server.four_letter_word("ruok") == "imok"
    finally:
        server.close()
    assert server.returncode == 0               # stopped by close(), cleanly


THREAD_STARTER = textwrap.dedent(
    """
    import json, sys, threading, time
    import psutil
    from zkpy.testing import TestingServer

    class Wrapped(TestingServer):
        # A wrapper script between the test process and the server: the
        # server's parent is the shell, which does not exec it.
        def command(self):
            return ["/bin/sh", "-c", '"$0" "$@"; exit $?'] + super().command()

    cls = Wrapped if sys.argv[2] == "wrapped" else TestingServer
    server = cls(temp_dir=sys.argv[1], force_sync=False)
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    procs = [psutil.Process(server.pid)] + psutil.Process(server.pid).children(recursive=True)
    print(json.dumps([[p.pid, p.create_time()] for p in procs]), flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("how", ["direct", "wrapped"])
def test_a_server_started_from_a_thread_dies_with_its_killed_parent(tmp_path, how):
    child = subprocess.Popen([sys.executable, "-c", THREAD_STARTER, str(tmp_path), how], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    procs = []
    try:
        line = child.stdout.readline()
        assert line.startswith("["), line + child.stdout.read() if child.poll() is not None else line
        procs = json.loads(line)
        assert len(procs) == (2 if how == "wrapped" else 1)
        time.sleep(0.5)                         # the starting thread is long gone
        assert all(_alive(pid, created) for pid, created in procs)
        child.kill()                            # no finalisers, no atexit
        child.wait(10)
        wait_until(lambda: not any(_alive(pid, created) for pid, created in procs), 5,
                   f"{procs} to die with their parent")
        assert "that started this test server is gone; exiting" in (tmp_path / "server.log").read_text()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pid, created in procs:
            if _alive(pid, created):
                os.kill(pid, signal.SIGKILL)
