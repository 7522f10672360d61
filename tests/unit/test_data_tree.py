"""DataTree: Stat rules, txn application, watches, fuzzy snapshot view."""

from __future__ import annotations

import pytest

from zkpy.defs import EventType, OpCode
from zkpy.errors import Code, KeeperException
from zkpy.jute import records as R
from zkpy.server.data_tree import DataTree
from zkpy.server.txn_codec import encode_multi


class Recorder:
    def __init__(self):
        self.events = []

    def process(self, event, acl=None):
        self.events.append((event.type, event.path))


def hdr(zxid, type_, session=0x100, time=1000):
    return R.TxnHeader(session, 1, zxid, time, type_)


def create(tree, zxid, path, data=b"", ephemeral=False, session=0x100, parent_cversion=-1):
    return tree.process_txn(hdr(zxid, OpCode.create, session),
                            R.CreateTxn(path, data, R.OPEN_ACL_UNSAFE, ephemeral, parent_cversion))


def test_builtin_nodes():
    tree = DataTree()
    assert sorted(tree.nodes) == ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
    assert tree.get_acl(tree.get_node("/zookeeper/config")) == R.READ_ACL_UNSAFE
    assert tree.get_node("/").stat() == R.Stat(0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)


def test_client_cversion_counts_creates_and_deletes():
    tree = DataTree()
    create(tree, 1, "/p")
    create(tree, 2, "/p/a")
    create(tree, 3, "/p/b")
    tree.process_txn(hdr(4, OpCode.delete), R.DeleteTxn("/p/a"))
    node = tree.get_node("/p")
    assert node.cversion == 2  # persisted: creates only
    stat = node.stat()
    assert stat.cversion == 3 and stat.numChildren == 1 and stat.pzxid == 4
    assert stat.czxid == 1 and stat.mzxid == 1


def test_set_data_and_acl_stat():
    tree = DataTree()
    create(tree, 1, "/a", b"x")
    rc = tree.process_txn(hdr(2, OpCode.setData, time=5000), R.SetDataTxn("/a", b"hello", 1))
    assert (rc.stat.version, rc.stat.mzxid, rc.stat.mtime, rc.stat.dataLength) == (1, 2, 5000, 5)
    rc = tree.process_txn(hdr(3, OpCode.setACL), R.SetACLTxn("/a", R.READ_ACL_UNSAFE, 1))
    assert rc.stat.aversion == 1
    assert tree.get_acl(tree.get_node("/a")) == R.READ_ACL_UNSAFE
    assert tree.last_processed_zxid == 3


def test_errors_are_results_not_exceptions():
    tree = DataTree()
    assert create(tree, 1, "/x/y").err == Code.NONODE
    create(tree, 2, "/a")
    assert create(tree, 3, "/a").err == Code.NODEEXISTS
    assert tree.last_processed_zxid == 3


def test_replayed_create_still_moves_parent_cversion():
    # A fuzzy snapshot may already contain the node a replayed create makes.
    tree = DataTree()
    create(tree, 1, "/p")
    create(tree, 2, "/p/c", parent_cversion=1)
    tree.get_node("/p").cversion = 0  # the snapshot caught /p before the create
    assert create(tree, 2, "/p/c", parent_cversion=1).err == Code.NODEEXISTS
    assert tree.get_node("/p").cversion == 1 and tree.get_node("/p").pzxid == 2


def test_ephemerals_removed_by_close_session():
    tree = DataTree()
    create(tree, 1, "/e1", ephemeral=True, session=7)
    create(tree, 2, "/e2", ephemeral=True, session=7)
    create(tree, 3, "/other", ephemeral=True, session=8)
    assert tree.get_node("/e1").stat().ephemeralOwner == 7
    tree.process_txn(hdr(4, OpCode.closeSession, session=7), R.CloseSessionTxn(["/e1", "/e2"]))
    assert tree.get_node("/e1") is None and tree.get_node("/e2") is None
    assert tree.get_ephemerals(7) == [] and tree.get_ephemerals(8) == ["/other"]


def test_multi_is_all_or_nothing():
    tree = DataTree()
    ok = encode_multi([(OpCode.create, R.CreateTxn("/m1", b"", R.OPEN_ACL_UNSAFE, False, 1)),
                       (OpCode.create, R.CreateTxn("/m2", b"", R.OPEN_ACL_UNSAFE, False, 2))])
    rc = tree.process_txn(hdr(1, OpCode.multi), ok)
    assert rc.err == 0 and tree.get_node("/m2") is not None
    failed = encode_multi([(OpCode.create, R.CreateTxn("/m3", b"", R.OPEN_ACL_UNSAFE, False, 3)),
                           (OpCode.error, R.ErrorTxn(Code.BADVERSION)),
                           (OpCode.error, R.ErrorTxn(Code.RUNTIMEINCONSISTENCY))])
    rc = tree.process_txn(hdr(2, OpCode.multi), failed)
    assert tree.get_node("/m3") is None
    assert [r.err for r in rc.multi_result] == [0, Code.BADVERSION, Code.RUNTIMEINCONSISTENCY]
    assert rc.err == Code.BADVERSION


def test_watches_fire_once_with_java_types():
    tree = DataTree()
    w = Recorder()
    with pytest.raises(KeeperException):
        tree.stat_node("/a", w)  # exists watch on a missing node
    tree.get_children("/", w)
    create(tree, 1, "/a")
    assert w.events == [(EventType.NodeCreated, "/a"), (EventType.NodeChildrenChanged, "/")]
    w.events.clear()
    tree.get_data("/a", w)
    tree.get_children("/a", w)
    tree.process_txn(hdr(2, OpCode.delete), R.DeleteTxn("/a"))
    # Data and child watch on the same path: one NodeDeleted for the watcher.
    assert w.events == [(EventType.NodeDeleted, "/a")]
    create(tree, 3, "/a")
    assert w.events == [(EventType.NodeDeleted, "/a")]


def test_persistent_recursive_watch():
    tree = DataTree()
    w = Recorder()
    from zkpy.server.watch_manager import PERSISTENT_RECURSIVE
    tree.data_watches.add_watch("/r", w, PERSISTENT_RECURSIVE)
    tree.child_watches.add_watch("/r", w, PERSISTENT_RECURSIVE)
    create(tree, 1, "/r")
    create(tree, 2, "/r/x")
    tree.process_txn(hdr(3, OpCode.setData), R.SetDataTxn("/r/x", b"1", 1))
    assert w.events == [(EventType.NodeCreated, "/r"), (EventType.NodeCreated, "/r/x"),
                        (EventType.NodeDataChanged, "/r/x")]


def test_snapshot_nodes_parent_first_and_survives_mutation():
    tree = DataTree()
    for i, path in enumerate(["/a", "/a/b", "/a/b/c", "/d"], start=1):
        create(tree, i, path)
    seen = []
    for path, data, acl, stat in tree.snapshot_nodes():
        # Mutating the tree while the snapshot walks it must not raise.
        create(tree, 100 + len(seen), f"/new{len(seen)}")
        parent = path.rsplit("/", 1)[0]
        assert path == "" or parent in seen or parent == ""
        seen.append(path)
    assert seen[0] == ""
    assert {"/a", "/a/b", "/a/b/c", "/d", "/zookeeper", "/zookeeper/config"} <= set(seen)
    assert not any(p.startswith("/new") for p in seen)


def test_load_rejects_orphans_and_restores():
    tree = DataTree()
    create(tree, 1, "/a", b"x")
    nodes = list(tree.snapshot_nodes())
    acls = tree.acl_cache_entries()
    other = DataTree()
    other.begin_load()
    other.load_acl_cache(acls)
    for node in nodes:
        other.load_node(*node)
    other.end_load()
    assert other.get_node("/a").stat() == tree.get_node("/a").stat()
    assert other.get_data("/a")[0] == b"x"
    broken = DataTree()
    broken.begin_load()
    with pytest.raises(ValueError):
        broken.load_node("/x/y", b"", -1, R.StatPersisted())
