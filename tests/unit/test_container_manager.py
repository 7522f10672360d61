"""ContainerManager: which containers and TTL nodes are due, pacing, the timer."""

from __future__ import annotations

import threading
import time

from zkpy.defs import CONTAINER_EPHEMERAL_OWNER, TTL_OWNER_MASK, OpCode
from zkpy.jute import records as R
from zkpy.server.container_manager import ContainerManager, container_candidates
from zkpy.server.data_tree import DataTree

T0 = 1_000_000  # the txn time (ms) of every node below


class Db:
    def __init__(self):
        self.data_tree = DataTree()
        self.zxid = 0

    def txn(self, type_, record, time_ms=T0):
        self.zxid += 1
        rc = self.data_tree.process_txn(R.TxnHeader(0x100, 1, self.zxid, time_ms, type_), record)
        assert rc.err == 0
        return rc

    def container(self, path):
        self.txn(OpCode.createContainer, R.CreateContainerTxn(path, b"", R.OPEN_ACL_UNSAFE, -1))

    def ttl(self, path, ttl, time_ms=T0):
        self.txn(OpCode.createTTL, R.CreateTTLTxn(path, b"", R.OPEN_ACL_UNSAFE, -1, ttl), time_ms)

    def create(self, path, ephemeral=False):
        self.txn(OpCode.create, R.CreateTxn(path, b"", R.OPEN_ACL_UNSAFE, ephemeral, -1))

    def delete(self, path):
        self.txn(OpCode.delete, R.DeleteTxn(path))

    def set(self, path, time_ms):
        self.txn(OpCode.setData, R.SetDataTxn(path, b"x", 1), time_ms)


def test_container_candidates():
    db = Db()
    db.container("/fresh")  # never had a child
    db.container("/used")
    db.create("/used/kid")
    db.delete("/used/kid")
    db.container("/busy")
    db.create("/busy/kid")
    db.create("/plain")
    db.create("/plain/kid")
    db.delete("/plain/kid")
    assert db.data_tree.get_node("/fresh").stat().ephemeralOwner == 0
    assert db.data_tree.get_node("/fresh").ephemeral_owner == CONTAINER_EPHEMERAL_OWNER
    assert container_candidates(db.data_tree, T0 + 10**9) == ["/used"]
    # znode.container.maxNeverUsedIntervalMs: never-used ones older than it go too.
    assert sorted(container_candidates(db.data_tree, T0 + 5000, 1000)) == ["/fresh", "/used"]
    assert container_candidates(db.data_tree, T0 + 500, 1000) == ["/used"]


def test_ttl_candidates():
    db = Db()
    db.ttl("/t", 1000)
    db.ttl("/parent", 1000)
    db.create("/parent/kid")
    db.ttl("/touched", 1000)
    db.set("/touched", T0 + 900)
    tree = db.data_tree
    # 0xFF00000000000000 | ttl in the tree (and the snapshot); 0 for clients.
    assert tree.get_node("/t").ephemeral_owner == TTL_OWNER_MASK | 1000 == -0x0100000000000000 + 1000
    assert tree.get_node("/t").stat().ephemeralOwner == 0
    assert container_candidates(tree, T0 + 1000) == []  # not more than ttl yet
    assert container_candidates(tree, T0 + 1001) == ["/t"]
    assert sorted(container_candidates(tree, T0 + 1901)) == ["/t", "/touched"]
    db.delete("/parent/kid")
    assert sorted(container_candidates(tree, T0 + 1901)) == ["/parent", "/t", "/touched"]
    db.delete("/t")
    assert "/t" not in container_candidates(tree, T0 + 10**6)


class Recorder:
    def __init__(self):
        self.requests = []
        self.times = []
        self.event = threading.Event()

    def __call__(self, request):
        self.requests.append(request)
        self.times.append(time.monotonic())
        self.event.set()


def test_check_submits_paced_delete_container_requests():
    db = Db()
    for name in "abc":
        db.container(f"/{name}")
        db.create(f"/{name}/kid")
        db.delete(f"/{name}/kid")
    submit = Recorder()
    manager = ContainerManager(db, submit, check_interval_ms=60000, max_per_minute=600)  # 100 ms apart
    manager.check_containers()
    assert sorted(r.payload for r in submit.requests) == [b"/a", b"/b", b"/c"]
    for request in submit.requests:
        assert request.type == OpCode.deleteContainer
        assert (request.session_id, request.cxid, request.cnxn) == (0, 0, None)
    gaps = [b - a for a, b in zip(submit.times, submit.times[1:])]
    assert min(gaps) >= 0.09


def test_no_limit_means_no_deletes():
    db = Db()
    db.container("/a")
    db.create("/a/kid")
    db.delete("/a/kid")
    submit = Recorder()
    ContainerManager(db, submit, max_per_minute=0).check_containers()  # Java divides by zero here
    assert submit.requests == []


def test_timer_runs_every_interval_until_stopped():
    db = Db()
    db.container("/a")
    db.create("/a/kid")
    db.delete("/a/kid")
    submit = Recorder()
    manager = ContainerManager(db, submit, check_interval_ms=50)
    start = time.monotonic()
    manager.start()
    try:
        assert submit.event.wait(5)
        assert submit.times[0] - start >= 0.045  # the first check waits one interval
        deadline = time.monotonic() + 5
        while len(submit.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(submit.requests) >= 3  # the candidate stays until a delete is applied
    finally:
        manager.stop()
    count = len(submit.requests)
    time.sleep(0.2)
    assert len(submit.requests) == count
    assert not any(t.name == "ContainerManagerTask" for t in threading.enumerate())
