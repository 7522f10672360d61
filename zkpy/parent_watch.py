"""A test server exits when the process that started it is gone.

Stands for no Java class: Curator's ``TestingServer`` runs inside the
test's own JVM and dies with it. A zkpy test server is a child process
(:mod:`zkpy.testing`), so it watches its parent instead:
:class:`~zkpy.testing.TestingServer` puts the test process's pid in
``ZKPY_PARENT_PID``, and once this process's parent is no longer that pid
(the test process died, even by SIGKILL, and the server was re-parented to
init or a subreaper) the server exits at once, without a clean shutdown:
nobody is left to use it and its data is throw-away. When that pid is not
the server's parent to begin with (a wrapper script in between), the
server exits once that pid no longer exists.

Linux's ``PR_SET_PDEATHSIG`` (which :mod:`zkpy.testing` also sets when it
starts a server from the main thread) is immediate, but it fires when the
*thread* that forked the child exits, so a server started from a worker
thread cannot have it; this watch works whatever thread started the server,
on any POSIX system, within :data:`INTERVAL` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Optional

import psutil

LOG = logging.getLogger(__name__)

ENV = "ZKPY_PARENT_PID"
INTERVAL = 0.2
EXIT_STATUS = 70  # distinct from a config error (2) or a failed start (1, 3)


def start_from_env(environ: Mapping[str, str] = os.environ) -> Optional[threading.Thread]:
    """Start watching the parent named by ``ZKPY_PARENT_PID``; None when it
    is unset or empty (a server not started by zkpy.testing)."""
    value = environ.get(ENV, "").strip()
    # Not handed on: anything this process might start is not a test server's.
    os.environ.pop(ENV, None)
    if not value:
        return None
    try:
        parent = int(value)
    except ValueError:
        LOG.warning("ignoring %s=%r: not a pid", ENV, value)
        return None
    direct = os.getppid() == parent
    if not direct and not _exists(parent):  # it died before we got here
        _exit(parent)
    thread = threading.Thread(target=_watch, args=(parent, direct), name="parent-watch", daemon=True)
    thread.start()
    return thread


def _exists(pid: int) -> bool:
    """Alive: a zombie (dead, not yet reaped by a wrapper) counts as gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # someone else's process we may not inspect: it exists


def _watch(parent: int, direct: bool) -> None:
    while True:
        time.sleep(INTERVAL)
        # The parent's own pid cannot be reused while we are its child;
        # a further ancestor's can, but not within a test run's seconds.
        if (os.getppid() != parent) if direct else not _exists(parent):
            _exit(parent)


def _exit(parent: int) -> None:
    # No logging and no flush: both take locks another thread may hold
    # forever (it is writing to a pipe nobody reads any more). One raw
    # write, then no shutdown either, for the same reason.
    try:
        os.write(2, f"the process {parent} that started this test server is gone; exiting\n".encode())
    except OSError:
        pass
    finally:
        os._exit(EXIT_STATUS)
