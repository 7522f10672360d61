"""Quotas as ZooKeeper 3.8 has them: limits and stats nodes under /zookeeper/quota.

The client writes ``/zookeeper/quota/<path>/zookeeper_limits`` (what zkCli's
``setquota`` does, done here with kazoo) and creates ``zookeeper_stats``;
the server recounts the subtree into the stats node and keeps it up to
date. Hard limits (countHardLimit, byteHardLimit) refuse writes with
QUOTAEXCEEDED when ``zookeeper.enforceQuota=true``; soft ones (count,
bytes) only log. Runs against Java 3.8.0 too (``ZKPY_IT_TARGET=java``).
"""

from __future__ import annotations

import time

import pytest
from kazoo.exceptions import MarshallingError, QuotaExceededError

from . import kazoo_ext as kx
from .servers import kazoo_session, new_server, zkpy_only

QUOTA = "/zookeeper/quota"


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory):
    server = new_server(force_sync=False, temp_dir=tmp_path_factory.mktemp("zk_server"),
                        jvm_flags=["-Dzookeeper.enforceQuota=true", "-Dzookeeper.extendedTypesEnabled=true",
                                   "-Dznode.container.checkIntervalMs=100"])
    try:
        yield server
    finally:
        server.close()


def set_quota(zk, path: str, limits: str) -> None:
    """What Java's SetQuotaCommand does (minus its checks): limits, then stats."""
    zk.ensure_path(QUOTA + path)
    zk.create(f"{QUOTA}{path}/zookeeper_limits", limits.encode())
    zk.create(f"{QUOTA}{path}/zookeeper_stats", b"count=0,bytes=0")


def stats(zk, path: str) -> str:
    return zk.get(f"{QUOTA}{path}/zookeeper_stats")[0].decode()


def log_text(server) -> str:
    with open(server.log_path, encoding="utf-8", errors="replace") as f:
        return f.read()


def wait_for_log(server, text: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while text not in log_text(server):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_layout(kazoo_client):
    zk = kazoo_client
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    data, stat = zk.get(QUOTA)
    assert data == b"" and stat.czxid == 0


def test_stats_count_the_subtree_and_follow_changes(kazoo_client):
    zk = kazoo_client
    zk.create("/q1", b"12")
    zk.create("/q1/a", b"345")
    set_quota(zk, "/q1", "count=-1,bytes=-1=;countHardLimit=100")
    assert stats(zk, "/q1") == "count=2,bytes=5"
    stat_before = zk.exists(f"{QUOTA}/q1/zookeeper_stats")
    zk.create("/q1/a/b", b"67")
    zk.set("/q1/a", b"3456789")
    assert stats(zk, "/q1") == "count=3,bytes=11"
    zk.delete("/q1/a/b")
    zk.set("/q1", None)
    assert stats(zk, "/q1") == "count=2,bytes=7"
    zk.create("/q1x", b"not below /q1")
    assert stats(zk, "/q1") == "count=2,bytes=7"
    # Updated in place: no txn, no version change.
    stat_after = zk.exists(f"{QUOTA}/q1/zookeeper_stats")
    assert (stat_after.version, stat_after.mzxid) == (stat_before.version, stat_before.mzxid)


def test_count_hard_limit(kazoo_client):
    zk = kazoo_client
    zk.create("/q2")
    set_quota(zk, "/q2", "count=-1,bytes=-1=;countHardLimit=3")
    zk.create("/q2/a")
    zk.create("/q2/b")
    with pytest.raises(QuotaExceededError):
        zk.create("/q2/c")
    with pytest.raises(QuotaExceededError):
        zk.create("/q2/a/deeper")
    results = kx.multi(zk, kx.Create("/q2/m", b"", kx.OPEN_ACL_UNSAFE, 0))
    assert isinstance(results[0], QuotaExceededError)
    zk.set("/q2/a", b"data is not counted")
    assert stats(zk, "/q2") == "count=3,bytes=19"
    zk.delete("/q2/b")
    zk.create("/q2/c")  # room again


def test_byte_hard_limit(kazoo_client):
    zk = kazoo_client
    zk.create("/q3")
    set_quota(zk, "/q3", "count=-1,bytes=-1=;byteHardLimit=10")
    zk.create("/q3/a", b"12345")
    with pytest.raises(QuotaExceededError):
        zk.create("/q3/b", b"123456")
    with pytest.raises(QuotaExceededError):
        zk.set("/q3/a", b"12345678901")
    zk.set("/q3/a", b"1234567890")
    zk.create("/q3/empty")
    zk.set("/q3/a", b"")
    assert stats(zk, "/q3") == "count=3,bytes=0"
    assert zk.get("/q3/a")[0] == b""


def test_soft_limits_only_log(zk_server, kazoo_client):
    zk = kazoo_client
    zk.create("/q4")
    set_quota(zk, "/q4", "count=2,bytes=4")
    zk.create("/q4/a", b"123")
    zk.create("/q4/b", b"45")  # over both soft limits: allowed
    assert stats(zk, "/q4") == "count=3,bytes=5"
    assert wait_for_log(zk_server, "Quota exceeded: /q4")


def test_removing_the_limits_ends_the_quota(kazoo_client):
    zk = kazoo_client
    zk.create("/q5")
    set_quota(zk, "/q5", "count=-1,bytes=-1=;countHardLimit=1")
    with pytest.raises(QuotaExceededError):
        zk.create("/q5/a")
    zk.delete(f"{QUOTA}/q5/zookeeper_limits")
    zk.create("/q5/a")
    assert stats(zk, "/q5") == "count=1,bytes=0"  # no longer kept up to date


def test_changed_limits_apply_at_once(kazoo_client):
    zk = kazoo_client
    zk.create("/q6")
    set_quota(zk, "/q6", "count=-1,bytes=-1=;countHardLimit=1")
    with pytest.raises(QuotaExceededError):
        zk.create("/q6/a")
    zk.set(f"{QUOTA}/q6/zookeeper_limits", b"count=-1,bytes=-1=;countHardLimit=2")
    zk.create("/q6/a")


def wait_gone(zk, path: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while zk.exists(path) is not None:
        assert time.monotonic() < deadline, f"{path} is still there"
        time.sleep(0.05)


def test_stats_follow_every_kind_of_delete(zk_server, kazoo_client):
    """Ephemerals of a closed session, containers and TTL nodes the server
    removes, and the ops of a multi all count."""
    zk = kazoo_client
    zk.create("/q8")
    set_quota(zk, "/q8", "count=-1,bytes=-1=;countHardLimit=10")
    with kazoo_session(zk_server) as other:
        other.create("/q8/eph", b"12345", ephemeral=True)
        assert stats(zk, "/q8") == "count=2,bytes=5"
    assert stats(zk, "/q8") == "count=1,bytes=0"
    kx.create_container(zk, "/q8/c", b"ab")
    zk.create("/q8/c/kid", b"cd")
    assert stats(zk, "/q8") == "count=3,bytes=4"
    zk.delete("/q8/c/kid")
    wait_gone(zk, "/q8/c")
    kx.create_ttl(zk, "/q8/t", b"xyz", ttl=100)
    assert stats(zk, "/q8") == "count=2,bytes=3"
    wait_gone(zk, "/q8/t")
    assert stats(zk, "/q8") == "count=1,bytes=0"
    kx.multi(zk, kx.Create("/q8/m1", b"1", kx.OPEN_ACL_UNSAFE, 0), kx.Create("/q8/m2", b"22", kx.OPEN_ACL_UNSAFE, 0),
             kx.SetData("/q8/m1", b"111", -1), kx.Delete("/q8/m2", -1))
    assert stats(zk, "/q8") == "count=2,bytes=3"


def test_unreadable_limits_fail_writes_when_enforced(kazoo_client):
    """Java's StatsTrack cannot read them: every write under the quota is a
    MARSHALLINGERROR (a whole multi too), and consumes its zxid."""
    zk = kazoo_client
    zk.create("/q9")
    set_quota(zk, "/q9", "count=-1,bytes=-1=;countHardLimit=10")
    for i, limits in enumerate((b"garbage", b"count=", b",count=1", b"count= 5", b"count=5_0",
                                b"count=99999999999999999999")):
        before = zk.set(f"{QUOTA}/q9/zookeeper_limits", limits).mzxid
        with pytest.raises(MarshallingError):
            zk.create("/q9/a")
        with pytest.raises(MarshallingError):
            zk.set("/q9", b"x")
        with pytest.raises(MarshallingError):
            kx.multi(zk, kx.SetData("/q9", b"y", -1), kx.Create("/q9/b", b"", kx.OPEN_ACL_UNSAFE, 0))
        assert zk.get("/q9")[0] == b"" and zk.get_children("/q9") == []
        # Three error txns, then this create outside the quota.
        assert zk.exists(zk.create(f"/q9-probe{i}")).czxid == before + 4, limits
    # What Java reads: empty values are -1, extra "=" parts are ignored.
    for limits in (b"count==5", b"=5", b"count=1=2", b"count=+3", b",,,", b"", b"count=5,,"):
        zk.set(f"{QUOTA}/q9/zookeeper_limits", limits)
        zk.set("/q9", limits)
    assert stats(zk, "/q9") == "count=1,bytes=9"


def test_quota_survives_a_restart(zk_server):
    with kazoo_session(zk_server) as zk:
        zk.create("/q7", b"abc")
        set_quota(zk, "/q7", "count=-1,bytes=-1=;countHardLimit=2")
        zk.create("/q7/a", b"de")
    zk_server.restart()
    with kazoo_session(zk_server) as zk:
        assert stats(zk, "/q7") == "count=2,bytes=5"
        with pytest.raises(QuotaExceededError):
            zk.create("/q7/b")


def test_hard_limits_are_not_enforced_without_enforce_quota(tmp_path):
    server = new_server(force_sync=False, temp_dir=tmp_path)
    try:
        with kazoo_session(server) as zk:
            zk.create("/q")
            set_quota(zk, "/q", "count=-1,bytes=-1=;countHardLimit=1;byteHardLimit=1")
            zk.create("/q/a", b"123")
            assert stats(zk, "/q") == "count=2,bytes=3"
            # Nor are limits read: unreadable ones stop nothing.
            zk.set(f"{QUOTA}/q/zookeeper_limits", b"garbage")
            zk.create("/q/b", b"4")
            assert stats(zk, "/q") == "count=3,bytes=4"
    finally:
        server.close()


@zkpy_only
def test_excess_is_logged_without_enforce_quota(tmp_path):
    """Java 3.8 says nothing when enforceQuota is off; zkpy still warns."""
    server = new_server(force_sync=False, temp_dir=tmp_path)
    try:
        with kazoo_session(server) as zk:
            zk.create("/q")
            set_quota(zk, "/q", "count=-1,bytes=-1=;countHardLimit=1")
            zk.create("/q/a")
        assert wait_for_log(server, "Quota exceeded: /q [current count=2, hardCountLimit=1]")
    finally:
        server.close()
