"""The same scripted kazoo session against Java ZooKeeper 3.8.0 and zkpy.

Both servers start empty, so every write (including the failed ones, which
consume a zxid as an error txn) must get the same zxid, and every Stat the
same fields; only the wall-clock times differ. Errors must be the same
exception classes.
"""

from __future__ import annotations

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import make_acl, make_digest_acl

from zkpy.testing import TestingServer

from .java_zk import JavaZooKeeperServer

AVAILABLE, REASON = JavaZooKeeperServer.available()
pytestmark = [pytest.mark.interop, pytest.mark.skipif(not AVAILABLE, reason=REASON)]


def normalize(value, session_id):
    """Make a result comparable across servers: times out, session ids named."""
    if hasattr(value, "czxid") and hasattr(value, "numChildren"):
        owner = value.ephemeralOwner
        return ("Stat", value.czxid, value.mzxid, value.pzxid, value.version, value.cversion,
                value.aversion, "session" if owner == session_id else owner, value.dataLength,
                value.numChildren, value.ctime == value.mtime)
    if isinstance(value, tuple):
        return tuple(normalize(v, session_id) for v in value)
    if isinstance(value, list):
        return [normalize(v, session_id) for v in value]
    return value


def script(zk: KazooClient) -> list:
    """Run the session; returns one entry per step: result or error class."""
    out = []

    def step(name, fn, *args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except KazooException as e:
            result = ("error", type(e).__name__)
        out.append((name, normalize(result, zk.client_id[0])))

    step("create", zk.create, "/s", b"v")
    step("create-exists", zk.create, "/s")
    for _ in range(3):
        step("create-seq", zk.create, "/s/child-", b"", sequence=True)
    step("children", lambda: sorted(zk.get_children("/s")))
    step("set", zk.set, "/s", b"w", version=0)
    step("set-badversion", zk.set, "/s", b"x", version=0)
    step("delete-notempty", zk.delete, "/s")
    step("create-noparent", zk.create, "/nope/x")
    step("create-ephemeral", zk.create, "/e", ephemeral=True)
    step("create-under-ephemeral", zk.create, "/e/x")
    step("exists-missing", zk.exists, "/missing")
    step("exists", zk.exists, "/s")
    # kazoo normalizes "//", "/." and trailing slashes itself; a control
    # character reaches the server.
    step("create-bad-char", zk.create, "/s/\u0001")
    step("create-bad-char-seq", zk.create, "/s/\u0001", sequence=True)
    step("create2", zk.create, "/c2", b"data", include_data=True)
    step("create-ephemeral-seq", zk.create, "/es-", ephemeral=True, sequence=True)

    def failing_multi():
        t = zk.transaction()
        t.create("/t1")
        t.check("/s", 99)
        t.create("/t3")
        return [type(r).__name__ if isinstance(r, Exception) else r for r in t.commit()]

    step("multi-failing", failing_multi)

    def good_multi():
        t = zk.transaction()
        t.create("/t2", b"x")
        t.set_data("/s", b"multi")
        t.check("/s", 2)
        t.delete("/t2")
        return [type(r).__name__ if isinstance(r, Exception) else r for r in t.commit()]

    step("multi-ok", good_multi)
    step("get", zk.get, "/s")
    step("get-acl", zk.get_acls, "/s")
    step("delete-version", zk.delete, "/s/child-0000000001", version=0)
    step("create-seq-after-delete", zk.create, "/s/child-", b"", sequence=True)
    step("children2", lambda: (sorted(zk.get_children("/s", include_data=True)[0]),
                               zk.get_children("/s", include_data=True)[1]))
    step("sync", zk.sync, "/s")
    step("create-readonly", zk.create, "/ro", b"r", acl=[make_acl("world", "anyone", read=True)])
    step("set-noauth", zk.set, "/ro", b"w")
    step("create-under-noauth", zk.create, "/ro/x")
    step("set-acl-badversion", zk.set_acls, "/s", [make_acl("world", "anyone", all=True)], version=5)
    step("set-acl", zk.set_acls, "/s", [make_acl("world", "anyone", all=True)], version=0)
    step("create-empty-acl", zk.create, "/noacl", b"", acl=[])
    step("create-bad-ip-acl", zk.create, "/badip", b"", acl=[make_acl("ip", "not-an-ip", all=True)])
    step("create-digest-acl", zk.create, "/dig", b"", acl=[make_digest_acl("bob", "secret", all=True)])
    step("get-digest-acl", zk.get_acls, "/dig")
    step("get-digest-noauth", zk.get, "/dig")
    step("zookeeper-children", lambda: sorted(zk.get_children("/zookeeper")))
    step("zookeeper-config", zk.get, "/zookeeper/config")
    step("root", zk.get, "/")
    step("null-data", zk.create, "/nulldata", None, include_data=True)
    step("big-data", lambda: zk.create("/big", b"x" * 1_000_000, include_data=True)[1].dataLength)
    step("delete-missing", zk.delete, "/missing")
    step("delete", zk.delete, "/c2", version=0)
    step("exists-after-delete", zk.exists, "/c2")
    step("final-root", zk.exists, "/")
    return out


def run_against(connect_string: str, script=script) -> list:
    """Run ``script`` on a new kazoo session to ``connect_string``."""
    zk = KazooClient(hosts=connect_string, timeout=10)
    zk.start(timeout=20)
    try:
        return script(zk)
    finally:
        zk.stop()
        zk.close()


@pytest.fixture(scope="module")
def results():
    with JavaZooKeeperServer(start=True) as java:
        java_results = run_against(java.connect_string)
    with TestingServer(start=True, force_sync=False) as zkpy_server:
        zkpy_results = run_against(zkpy_server.connect_string)
    return java_results, zkpy_results


def test_same_steps(results):
    java_results, zkpy_results = results
    assert [name for name, _ in zkpy_results] == [name for name, _ in java_results]


def test_every_step_matches_java(results):
    java_results, zkpy_results = results
    mismatches = [(java, ours) for java, ours in zip(java_results, zkpy_results) if java != ours]
    assert not mismatches, "\n".join(f"java: {j}\nzkpy: {z}" for j, z in mismatches)
