"""multi (op 14), multiRead (op 22) and check (ZK_SPEC.md §2.6).

A multi is all or nothing: on failure every op reports an error (0 before
the failing op, its code, RUNTIMEINCONSISTENCY after it), nothing is
applied, no watch fires, and the multi still consumes one zxid. kazoo's
``transaction()`` covers the 3.4 ops; ``kazoo_ext.multi`` sends the rest.
Runs against Java 3.8.0 too (``ZKPY_IT_TARGET=java``).
"""

from __future__ import annotations

import pytest
from kazoo.exceptions import (
    BadVersionError, InvalidACLError, MarshallingError, NoAuthError, NodeExistsError, NoNodeError,
    NotEmptyError,
)
from kazoo.security import make_acl

from . import kazoo_ext as kx
from zkpy.testing import wait_until

from .servers import kazoo_session, zkpy_only

OPEN = kx.OPEN_ACL_UNSAFE


def names(results):
    return [type(r).__name__ if isinstance(r, Exception) else r for r in results]


def test_transaction_applies_every_op(kazoo_client):
    zk = kazoo_client
    zk.create("/m1", b"v0")
    t = zk.transaction()
    t.create("/m1/a", b"a")
    t.create("/m1/s-", b"", sequence=True)
    t.set_data("/m1", b"v1")
    t.check("/m1", 1)
    t.create("/m1/e", b"", ephemeral=True)
    t.delete("/m1/a")
    results = t.commit()
    assert results[:2] == ["/m1/a", "/m1/s-0000000001"]
    stat = results[2]
    assert (stat.version, stat.dataLength, stat.numChildren) == (1, 2, 2)
    assert results[3:] == [True, "/m1/e", True]
    assert sorted(zk.get_children("/m1")) == ["e", "s-0000000001"]
    assert zk.get("/m1")[0] == b"v1"
    assert zk.exists("/m1/e").ephemeralOwner == zk.client_id[0]
    # All ops carry the multi's one zxid.
    assert zk.exists("/m1/e").czxid == zk.exists("/m1/s-0000000001").czxid == zk.exists("/m1").mzxid


@pytest.mark.parametrize("bad_op, error", [
    (lambda t: t.create("/m2/exists"), NodeExistsError),
    (lambda t: t.create("/nope/child"), NoNodeError),
    (lambda t: t.delete("/m2/missing"), NoNodeError),
    (lambda t: t.delete("/m2"), NotEmptyError),
    (lambda t: t.set_data("/m2/exists", b"", version=7), BadVersionError),
    (lambda t: t.check("/m2/exists", 3), BadVersionError),
    (lambda t: t.check("/m2/missing", 0), NoNodeError),
    (lambda t: t.create("/m2/noacl", acl=[]), InvalidACLError),
    (lambda t: t.set_data("/m2/readonly", b"x"), NoAuthError),
])
def test_failed_transaction_applies_nothing(kazoo_client, bad_op, error):
    zk = kazoo_client
    zk.ensure_path("/m2/exists")
    if zk.exists("/m2/readonly") is None:
        zk.create("/m2/readonly", acl=[make_acl("world", "anyone", read=True)])
    before = zk.exists("/m2")
    last_zxid = zk.set("/m2/exists", b"").mzxid
    t = zk.transaction()
    t.create("/m2/new")
    t.set_data("/m2/exists", b"changed")
    bad_op(t)
    t.delete("/m2/exists")
    results = t.commit()
    assert names(results) == ["RolledBackError", "RolledBackError", error.__name__, "RuntimeInconsistency"]
    assert zk.exists("/m2/new") is None
    assert zk.get("/m2/exists")[0] == b""
    assert zk.exists("/m2").cversion == before.cversion
    # The failed multi consumed exactly one zxid.
    assert zk.create("/m2/probe") and zk.exists("/m2/probe").czxid == last_zxid + 2
    zk.delete("/m2/probe")


def test_failed_multi_fires_no_watch(kazoo_client, zk_server):
    zk = kazoo_client
    zk.create("/m3")
    with kazoo_session(zk_server) as other:
        events = []
        other.get_children("/m3", watch=events.append)
        other.get("/m3", watch=events.append)
        t = zk.transaction()
        t.create("/m3/a")
        t.set_data("/m3", b"x")
        t.check("/m3", 5)
        assert names(t.commit())[2] == "BadVersionError"
        other.sync("/m3")  # any write's events precede later replies
        assert events == []
        t = zk.transaction()
        t.create("/m3/a")
        t.set_data("/m3", b"x")
        t.commit()
        # kazoo runs watch callbacks on its own thread, after the sync reply.
        wait_until(lambda: len(events) >= 2, what="both watch events")
        assert sorted((e.type, e.path) for e in events) == [("CHANGED", "/m3"), ("CHILD", "/m3")]


def test_later_ops_see_earlier_ones(kazoo_client):
    zk = kazoo_client
    results = kx.multi(zk, kx.Create("/m4", b"", OPEN, 0), kx.Create("/m4/a", b"", OPEN, 0),
                       kx.Create("/m4/a/b", b"", OPEN, 0), kx.SetData("/m4/a/b", b"1", 0),
                       kx.CheckVersion("/m4/a/b", 1), kx.Delete("/m4/a/b", 1), kx.Delete("/m4/a", -1))
    assert names(results[:3]) == ["/m4", "/m4/a", "/m4/a/b"]
    assert results[3].version == 1 and results[4:] == [True, True, True]
    assert zk.get_children("/m4") == []
    # ...and a failure late in the multi undoes the early ones too.
    results = kx.multi(zk, kx.Create("/m4/x", b"", OPEN, 0), kx.Delete("/m4/x", -1),
                       kx.Delete("/m4/x", -1))
    assert names(results) == ["RolledBackError", "RolledBackError", "NoNodeError"]


def test_create2_result_types(kazoo_client):
    """In a multi, create2 answers like create (Java rebuilds the op from its flags)."""
    zk = kazoo_client
    results = kx.multi(zk, kx.Create2("/m5", b"abc", OPEN, 0))
    assert results == ["/m5"]


def test_bad_paths_and_flags_in_multi(kazoo_client):
    zk = kazoo_client
    assert names(kx.multi(zk, kx.Create("/m6\u0001", b"", OPEN, 0))) == ["BadArgumentsError"]
    assert names(kx.multi(zk, kx.Create("/m6", b"", OPEN, 9))) == ["BadArgumentsError"]
    assert names(kx.multi(zk, kx.Delete("relative", -1))) == ["BadArgumentsError"]
    assert zk.exists("/m6") is None


def test_empty_multi(kazoo_client):
    assert kx.multi(kazoo_client) == []


def test_reads_and_writes_do_not_mix(kazoo_client):
    zk = kazoo_client
    with pytest.raises(MarshallingError):
        kx.multi(zk, kx.Create("/m7", b"", OPEN, 0), kx.GetDataOp("/"))
    with pytest.raises(MarshallingError):
        kx.multi(zk, kx.GetDataOp("/"))
    with pytest.raises(MarshallingError):
        kx.multi_read(zk, kx.Create("/m7", b"", OPEN, 0))
    assert zk.exists("/m7") is None


def test_multi_read(kazoo_client):
    zk = kazoo_client
    zk.create("/r1", b"data")
    zk.create("/r1/a")
    zk.create("/r1/secret", b"s", acl=[make_acl("ip", "10.255.255.1", all=True)])
    results = kx.multi_read(zk, kx.GetDataOp("/r1"), kx.GetChildrenOp("/r1"), kx.GetDataOp("/r1/none"),
                            kx.GetDataOp("/r1/secret"), kx.GetChildrenOp("/r1/a"))
    data, stat = results[0]
    assert data == b"data" and stat.numChildren == 2
    assert sorted(results[1]) == ["a", "secret"]
    assert names(results[2:4]) == ["NoNodeError", "NoAuthError"]
    assert results[4] == []


@zkpy_only
def test_check_outside_multi(kazoo_client):
    """A lone check (op 13): Java 3.8.0's server breaks on it; zkpy answers it."""
    zk = kazoo_client
    zk.create("/k1", b"x")

    class Check(kx.CheckVersion):
        @classmethod
        def deserialize(cls, buf, offset):
            return kx._read_stat(buf, offset)[0]

    stat = kx.call(zk, Check("/k1", 0))
    assert stat.version == 0 and stat.dataLength == 1
    with pytest.raises(BadVersionError):
        kx.call(zk, Check("/k1", 4))
    with pytest.raises(NoNodeError):
        kx.call(zk, Check("/k1/none", -1))
    assert zk.exists("/k1") is not None  # and the server is still there
