"""Quotas: StatsTrack text (as Java 3.8.0 writes it), quota paths, the check, DataTree stats."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkpy.defs import OpCode
from zkpy.errors import Code, KeeperException
from zkpy.jute import records as R
from zkpy.server.data_tree import DataTree
from zkpy.server.quota import (
    QuotaPaths, StatsTrack, check_quota, check_tree_quota, java_readable, limit_path, quota_path, stat_path,
    trim_quota_path,
)


# -- StatsTrack ------------------------------------------------------------------------------


def test_stats_track_text_as_java_writes_it():
    # Bytes observed from Java 3.8.0 (zkCli setquota / the server's zookeeper_stats).
    stats = StatsTrack()
    stats.count, stats.bytes = 0, 0
    assert str(stats) == "count=0,bytes=0"
    limits = StatsTrack()
    limits.count_hard_limit = 2
    assert str(limits) == "count=-1,bytes=-1=;countHardLimit=2"
    limits.byte_hard_limit = -1
    assert limits.to_bytes() == b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2"


def test_stats_track_parsing():
    track = StatsTrack(b"count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3")
    assert (track.count, track.bytes, track.byte_hard_limit, track.count_hard_limit) == (-1, -1, 10, 3)
    old_style = StatsTrack("count=5,bytes=100")  # 3.4-3.6 limits: soft only
    assert (old_style.count, old_style.bytes, old_style.count_hard_limit) == (5, 100, -1)
    assert StatsTrack("").stats == {} and StatsTrack(None).count == -1
    assert StatsTrack("count=,bytes=3").count == -1
    assert StatsTrack("count=1;;bytes=2,,").bytes == 2
    assert StatsTrack("future=7").stats == {"future": 7}
    with pytest.raises(ValueError):
        StatsTrack("count=lots")


@given(st.dictionaries(st.sampled_from(["count", "bytes", "countHardLimit", "byteHardLimit", "x"]),
                       st.integers(-1, 2**62)))
def test_stats_track_round_trip(values):
    track = StatsTrack()
    track.stats.update(values)
    again = StatsTrack(str(track))
    for key in ("count", "bytes"):
        values.setdefault(key, -1)
    assert again.stats == values


def test_quota_paths():
    assert quota_path("/a/b") == "/zookeeper/quota/a/b"
    assert limit_path("/a/b") == "/zookeeper/quota/a/b/zookeeper_limits"
    assert stat_path("/a") == "/zookeeper/quota/a/zookeeper_stats"
    assert trim_quota_path("/zookeeper/quota/a/b") == "/a/b"
    paths = QuotaPaths()
    assert paths.max_prefix("/a") is None
    paths.add("/a")
    paths.add("/a/b/c")
    paths.add("/")  # the root never carries a quota
    assert paths.max_prefix("/a") == "/a"
    assert paths.max_prefix("/a/b") == "/a"
    assert paths.max_prefix("/a/b/c/d") == "/a/b/c"
    assert paths.max_prefix("/ab") is None  # component-wise, not string prefixes
    assert paths.max_prefix("/") is None
    paths.discard("/a")
    assert paths.max_prefix("/a/b") is None


# -- the check ---------------------------------------------------------------------------------


def limits(text):
    return StatsTrack(text)


@pytest.mark.parametrize("limit, current, bytes_diff, count_diff, raises", [
    ("count=-1,bytes=-1=;countHardLimit=2", "count=2,bytes=0", 0, 1, True),
    ("count=-1,bytes=-1=;countHardLimit=2", "count=1,bytes=0", 0, 1, False),
    ("count=-1,bytes=-1=;byteHardLimit=10", "count=1,bytes=8", 3, 1, True),
    ("count=-1,bytes=-1=;byteHardLimit=10", "count=1,bytes=8", 2, 1, False),
    ("count=-1,bytes=-1=;byteHardLimit=10", "count=1,bytes=20", -1, 0, True),  # still above
    ("count=-1,bytes=-1=;byteHardLimit=10", "count=1,bytes=20", 0, 0, False),  # nothing changes
    ("count=1,bytes=1", "count=5,bytes=5", 5, 1, False),  # soft limits only warn
    # A hard limit wins over a soft one of the same kind.
    ("count=1,bytes=-1=;countHardLimit=10", "count=5,bytes=5", 0, 1, False),
])
def test_check_quota(limit, current, bytes_diff, count_diff, raises):
    if raises:
        with pytest.raises(KeeperException) as info:
            check_quota("/q", limits(limit), StatsTrack(current), bytes_diff, count_diff, enforce=True)
        assert info.value.code == Code.QUOTAEXCEEDED
    else:
        check_quota("/q", limits(limit), StatsTrack(current), bytes_diff, count_diff, enforce=True)
    # Without zookeeper.enforceQuota nothing is refused.
    check_quota("/q", limits(limit), StatsTrack(current), bytes_diff, count_diff, enforce=False)


def test_excess_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="zkpy.server.quota"):
        check_quota("/soft", limits("count=1,bytes=-1"), StatsTrack("count=1,bytes=0"), 0, 1, enforce=False)
    assert "Quota exceeded: /soft [current count=2, softCountLimit=1]" in caplog.text


# -- the DataTree keeps the stats ---------------------------------------------------------------


class Tree:
    def __init__(self):
        self.tree = DataTree()
        self.zxid = 0

    def txn(self, type_, record):
        self.zxid += 1
        rc = self.tree.process_txn(R.TxnHeader(0x100, 1, self.zxid, 1000, type_), record)
        assert rc.err == 0, rc.err
        return rc

    def create(self, path, data=b""):
        return self.txn(OpCode.create, R.CreateTxn(path, data, R.OPEN_ACL_UNSAFE, False, -1))

    def set(self, path, data):
        return self.txn(OpCode.setData, R.SetDataTxn(path, data, 1))

    def delete(self, path):
        return self.txn(OpCode.delete, R.DeleteTxn(path))

    def stats(self, path):
        return str(StatsTrack(self.tree.get_node(stat_path(path)).data))

    def set_quota(self, path, limit_text):
        """What Java's client does for setquota: the quota dirs, limits, then stats."""
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            quota_dir = "/zookeeper/quota/" + "/".join(parts[:i])
            if self.tree.get_node(quota_dir) is None:
                self.create(quota_dir)
        self.create(limit_path(path), limit_text.encode())
        self.create(stat_path(path), b"count=0,bytes=0")


def test_stats_node_counts_the_existing_subtree():
    t = Tree()
    t.create("/q", b"12")
    t.create("/q/a", b"345")
    t.set_quota("/q", "count=-1,bytes=-1=;countHardLimit=10")
    assert t.stats("/q") == "count=2,bytes=5"
    stat = t.tree.get_node(stat_path("/q")).stat()
    assert stat.version == 0 and stat.dataLength == len("count=2,bytes=5")


def test_stats_follow_creates_sets_and_deletes():
    t = Tree()
    t.create("/q")
    t.set_quota("/q", "count=-1,bytes=-1=;countHardLimit=10")
    t.create("/q/a", b"abc")
    t.create("/q/a/b", b"de")
    assert t.stats("/q") == "count=3,bytes=5"
    t.set("/q/a", b"abcdef")
    assert t.stats("/q") == "count=3,bytes=8"
    t.set("/q/a", None)
    assert t.stats("/q") == "count=3,bytes=2"
    t.delete("/q/a/b")
    assert t.stats("/q") == "count=2,bytes=0"
    t.create("/qq", b"x")  # not below /q
    assert t.stats("/q") == "count=2,bytes=0"
    mzxid = t.tree.get_node(stat_path("/q")).mzxid
    assert mzxid < t.zxid  # updated in place, not by a txn


def test_nested_quotas_count_in_the_deepest_one():
    t = Tree()
    t.create("/q")
    t.create("/q/inner")
    t.set_quota("/q", "count=100,bytes=-1")
    t.set_quota("/q/inner", "count=100,bytes=-1")
    t.create("/q/inner/x", b"1")
    t.create("/q/y", b"22")
    assert t.stats("/q/inner") == "count=2,bytes=1"
    assert t.stats("/q") == "count=3,bytes=2"  # as Java: only the deepest quota is updated


def test_removing_the_limits_node_ends_the_quota():
    t = Tree()
    t.create("/q")
    t.set_quota("/q", "count=1,bytes=-1")
    t.delete(limit_path("/q"))
    t.create("/q/a")
    assert t.stats("/q") == "count=1,bytes=0"
    assert t.tree.max_prefix_with_quota("/q/a") is None


def test_quotas_are_rebuilt_after_a_snapshot_load():
    t = Tree()
    t.create("/q", b"1")
    t.set_quota("/q", "count=-1,bytes=-1=;countHardLimit=3")
    t.create("/q/a", b"22")
    # A stale stats node (as a fuzzy snapshot may hold) is recounted on load.
    t.tree.get_node(stat_path("/q")).data = b"count=99,bytes=99"
    loaded = DataTree()
    loaded.begin_load()
    loaded.load_acl_cache(t.tree.acl_cache_entries())
    for path, data, acl, stat in t.tree.snapshot_nodes():
        loaded.load_node(path, data, acl, stat)
    loaded.end_load()
    assert str(StatsTrack(loaded.get_node(stat_path("/q")).data)) == "count=2,bytes=3"
    assert loaded.max_prefix_with_quota("/q/a") == "/q"


def test_check_tree_quota():
    t = Tree()
    t.create("/q")
    t.set_quota("/q", "count=-1,bytes=-1=;countHardLimit=2;byteHardLimit=4")
    t.create("/q/a", b"abc")
    with pytest.raises(KeeperException):
        check_tree_quota(t.tree, "/q/b", None, b"", enforce=True, create=True)  # a third node
    with pytest.raises(KeeperException):
        check_tree_quota(t.tree, "/q/a", b"abc", b"abcde", enforce=True, create=False)  # 5 bytes
    check_tree_quota(t.tree, "/q/a", b"abc", b"abcd", enforce=True, create=False)
    check_tree_quota(t.tree, "/elsewhere/x", None, b"x" * 100, enforce=True, create=True)
    check_tree_quota(t.tree, "/q/b", None, b"", enforce=False, create=True)


@pytest.mark.parametrize("text, readable", [
    # Observed on Java 3.8.0: a create under a quota with these limits and
    # zookeeper.enforceQuota=true succeeds, or fails with MARSHALLINGERROR.
    (b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2", True), (b"", True), (None, True),
    (b"count==5", True), (b"=5", True), (b"count=1=2", True), (b"count=+3", True), (b",,,", True),
    (b"count=5,,", True),
    (b"garbage", False), (b"count=", False), (b",count=1", False), (b"count= 5", False),
    (b"count=5_0", False), (b"count=99999999999999999999", False),
])
def test_java_readable(text, readable):
    assert java_readable(text) is readable


def test_unreadable_quota_fails_only_when_enforced():
    t = Tree()
    t.create("/q")
    t.set_quota("/q", "count=-1,bytes=-1=;byteHardLimit=10")
    t.tree.get_node(limit_path("/q")).data = b"count="
    with pytest.raises(ValueError):  # the request's MARSHALLINGERROR
        check_tree_quota(t.tree, "/q/a", None, b"", enforce=True, create=True)
    check_tree_quota(t.tree, "/q/a", None, b"", enforce=False, create=True)
    # Unreadable stats matter only to a change the limits limit.
    t.tree.get_node(limit_path("/q")).data = b"count=-1,bytes=-1=;byteHardLimit=10"
    for stats in (b"garbage", b"count=abc"):  # read leniently / not at all by zkpy's StatsTrack
        t.tree.get_node(stat_path("/q")).data = stats
        check_tree_quota(t.tree, "/q/a", None, b"", enforce=True, create=True)
        with pytest.raises(ValueError, match="unreadable quota stats"):
            check_tree_quota(t.tree, "/q/a", None, b"x", enforce=True, create=True)
        check_tree_quota(t.tree, "/q/a", None, b"x", enforce=False, create=True)  # logged only
