"""Which server the integration tests run against: zkpy (default) or Java.

The integration tests assert Apache ZooKeeper 3.8's behaviour, so they can
be pointed at Java ZooKeeper 3.8.0 to check that they do::

    ZKPY_IT_TARGET=java .venv/bin/python -m pytest tests/integration -q

:func:`new_server` builds a :class:`zkpy.testing.TestingServer`, or with
``ZKPY_IT_TARGET=java`` a :class:`tests.interop.java_zk.JavaZooKeeperServer`
with the same settings (both have ``start/stop/restart/kill/close``,
``connect_string``, ``host``, ``port``, ``data_dir``, ``log_tail``). Tests
of zkpy-only behaviour (its log messages, its torn-write repair) carry
:data:`zkpy_only`; they are skipped only in such a Java run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Optional

import pytest

from zkpy.testing import TestingServer

TARGET = os.environ.get("ZKPY_IT_TARGET", "zkpy")
if TARGET not in ("zkpy", "java"):
    raise RuntimeError(f"ZKPY_IT_TARGET must be 'zkpy' or 'java', not {TARGET!r}")
ON_JAVA = TARGET == "java"

zkpy_only = pytest.mark.skipif(ON_JAVA, reason="zkpy-specific behaviour; ZKPY_IT_TARGET=java")


def new_server(*, tick_time: int = 200, config: Optional[Mapping[str, object]] = None,
               jvm_flags: Sequence[str] = (), force_sync: bool = True, temp_dir=None, start: bool = True):
    """A started server (unless ``start=False``) of the selected kind."""
    if ON_JAVA:
        from tests.interop.java_zk import JavaZooKeeperServer, skip_unless_available

        skip_unless_available()
        conf = dict(config or {})
        if not force_sync:
            conf.setdefault("forceSync", "no")
        server = JavaZooKeeperServer(conf, tick_time=tick_time, jvm_flags=list(jvm_flags), temp_dir=temp_dir)
    else:
        server = TestingServer(tick_time=tick_time, config=config, jvm_flags=list(jvm_flags),
                               force_sync=force_sync, temp_dir=temp_dir)
    if start:
        try:
            server.start()
        except BaseException:
            server.close()
            raise
    return server


@contextlib.contextmanager
def kazoo_session(server, *, timeout: float = 10.0, **kwargs):
    """A started KazooClient on ``server``; stopped and closed on exit."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=server.connect_string, timeout=timeout, **kwargs)
    client.start(timeout=15.0)
    try:
        yield client
    finally:
        try:
            client.stop()
        finally:
            client.close()
