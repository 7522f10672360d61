"""Prep validation: errors as Java, zxids consumed, and pipelined writes.

Prep is driven with real parts (DataTree, SessionTracker, auth providers)
assembled without threads or sockets.
"""

from __future__ import annotations

import gc
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from zkpy.defs import CreateMode, OpCode
from zkpy.errors import Code
from zkpy.jute import OutputArchive
from zkpy.jute import records as R
from zkpy.jute.multi import write_multi_request
from zkpy.server.auth import AuthProviders
from zkpy.server.data_tree import DataTree
from zkpy.server.processors.prep import OutstandingChanges, Prep
from zkpy.server.request import Request
from zkpy.server.session_tracker import SessionTracker

SESSION = 0x0100000000000001


class Db:
    def __init__(self):
        self.data_tree = DataTree()


class Harness:
    """The fields of ZooKeeperServer that Prep reads."""

    max_buffer = 0xFFFFF
    extended_types_enabled = False
    reconfig_enabled = False
    enforce_quota = False

    def __init__(self):
        self.zk_db = Db()
        self.outstanding_changes = OutstandingChanges()
        self.outstanding_lock = threading.RLock()
        self.session_tracker = SessionTracker(None, {}, 1000, 1)
        self.session_tracker.add_session(SESSION, 30000)
        self.auth = AuthProviders()
        self.zxid = 0
        self.prep = Prep(self)

    def next_zxid(self):
        self.zxid += 1
        return self.zxid

    def request(self, type_, record):
        payload = record.to_bytes() if hasattr(record, "to_bytes") else record
        return Request(None, SESSION, 1, type_, payload, auth_info=[R.Id("ip", "127.0.0.1")])

    def prepare(self, type_, record):
        request = self.request(type_, record)
        self.prep.prep(request)
        return request

    def apply(self, request):
        rc = self.zk_db.data_tree.process_txn(request.hdr, request.txn)
        self.outstanding_changes.applied_up_to(request.hdr.zxid)
        return rc

    def run(self, type_, record):
        request = self.prepare(type_, record)
        rc = self.apply(request)
        return request, rc


def err(request):
    return 0 if request.exception is None else int(request.exception.code)


def create_req(path, mode=CreateMode.PERSISTENT, data=b""):
    return R.CreateRequest(path, data, R.OPEN_ACL_UNSAFE, int(mode))


def test_failed_write_consumes_zxid_as_error_txn():
    h = Harness()
    request, _ = h.run(OpCode.create, create_req("/missing/child"))
    assert err(request) == Code.NONODE
    assert request.hdr.type == OpCode.error and request.txn == R.ErrorTxn(Code.NONODE)
    assert request.hdr.zxid == 1
    request, rc = h.run(OpCode.create, create_req("/a"))
    assert err(request) == 0 and rc.stat.czxid == 2


def test_java_error_codes():
    h = Harness()
    h.run(OpCode.create, create_req("/a"))
    h.run(OpCode.create, create_req("/e", CreateMode.EPHEMERAL))
    h.run(OpCode.create, create_req("/a/c"))
    cases = [
        (OpCode.create, create_req("/a"), Code.NODEEXISTS),
        (OpCode.create, create_req("/e/x"), Code.NOCHILDRENFOREPHEMERALS),
        # As Java: the parent is looked up before the whole path is validated.
        (OpCode.create, create_req("/a/"), Code.BADARGUMENTS),
        (OpCode.create, create_req("/a/."), Code.BADARGUMENTS),
        (OpCode.create, create_req("/a/\u0001"), Code.BADARGUMENTS),
        (OpCode.create, create_req("/bad/"), Code.NONODE),
        (OpCode.create, create_req("/a//b"), Code.NONODE),
        (OpCode.create, create_req("no-slash"), Code.BADARGUMENTS),
        (OpCode.create, R.CreateRequest("/x", b"", R.OPEN_ACL_UNSAFE, 7), Code.BADARGUMENTS),
        (OpCode.create, R.CreateRequest("/x", b"", [], 0), Code.INVALIDACL),
        (OpCode.create, R.CreateRequest("/x", b"", [R.ACL(31, R.Id("auth", ""))], 0), Code.INVALIDACL),
        (OpCode.createTTL, R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 5, 100), Code.UNIMPLEMENTED),
        (OpCode.delete, R.DeleteRequest("/a", -1), Code.NOTEMPTY),
        (OpCode.delete, R.DeleteRequest("/nope", -1), Code.NONODE),
        (OpCode.delete, R.DeleteRequest("/a/c", 5), Code.BADVERSION),
        (OpCode.setData, R.SetDataRequest("/a", b"", 3), Code.BADVERSION),
        (OpCode.setData, R.SetDataRequest("/nope", b"", -1), Code.NONODE),
        (OpCode.setACL, R.SetACLRequest("/a", R.OPEN_ACL_UNSAFE, 2), Code.BADVERSION),
    ]
    for type_, record, code in cases:
        request, _ = h.run(type_, record)
        assert err(request) == code, (type_, record)
        assert request.hdr.type == OpCode.error


def test_read_only_acl_blocks_writes():
    h = Harness()
    h.run(OpCode.create, R.CreateRequest("/ro", b"", R.READ_ACL_UNSAFE, 0))
    request, _ = h.run(OpCode.setData, R.SetDataRequest("/ro", b"x", -1))
    assert err(request) == Code.NOAUTH
    request, _ = h.run(OpCode.create, create_req("/ro/child"))
    assert err(request) == Code.NOAUTH


def test_sequential_suffix_uses_persisted_cversion():
    h = Harness()
    h.run(OpCode.create, create_req("/q"))
    first, rc1 = h.run(OpCode.create, create_req("/q/n-", CreateMode.PERSISTENT_SEQUENTIAL))
    h.run(OpCode.delete, R.DeleteRequest(rc1.path, -1))
    second, rc2 = h.run(OpCode.create, create_req("/q/n-", CreateMode.PERSISTENT_SEQUENTIAL))
    assert (rc1.path, rc2.path) == ("/q/n-0000000000", "/q/n-0000000001")


def test_multi_failure_rolls_back_pending_changes():
    h = Harness()
    out = OutputArchive()
    write_multi_request(out, [(OpCode.create, create_req("/m")), (OpCode.check, R.CheckVersionRequest("/m", 5)),
                              (OpCode.create, create_req("/n"))])
    request = h.prepare(OpCode.multi, bytes(out.buf))
    assert request.hdr.type == OpCode.multi
    assert [t.type for t in request.txn.txns] == [OpCode.create, OpCode.error, OpCode.error]
    # The rolled-back create of /m must not be visible to the next request.
    follow = h.prepare(OpCode.create, create_req("/m/child"))
    assert err(follow) == Code.NONODE
    h.apply(request)
    h.apply(follow)
    assert h.zk_db.data_tree.get_node("/m") is None


def test_close_session_lists_ephemerals_including_pending_ones():
    h = Harness()
    h.run(OpCode.create, create_req("/e1", CreateMode.EPHEMERAL))
    pending = h.prepare(OpCode.create, create_req("/e2", CreateMode.EPHEMERAL))
    close = h.prepare(OpCode.closeSession, b"")
    assert close.txn.paths2Delete == ["/e1", "/e2"]
    h.apply(pending)
    h.apply(close)
    assert h.zk_db.data_tree.get_ephemerals(SESSION) == []


# -- pipelining: prepping ahead of the tree gives the same txns ---------------
names = st.sampled_from(["/a", "/b", "/a/x", "/a/y", "/b/z", "/a/x/q"])
ops = st.one_of(
    st.tuples(st.just(OpCode.create), names, st.sampled_from([0, 1, 2])),
    st.tuples(st.just(OpCode.delete), names, st.sampled_from([-1, 0, 1])),
    st.tuples(st.just(OpCode.setData), names, st.sampled_from([-1, 0, 1])),
)


def to_record(op):
    type_, path, arg = op
    if type_ == OpCode.create:
        return R.CreateRequest(path, b"d", R.OPEN_ACL_UNSAFE, arg)
    if type_ == OpCode.delete:
        return R.DeleteRequest(path, arg)
    return R.SetDataRequest(path, b"v", arg)


@settings(max_examples=150, deadline=None)
@given(st.lists(ops, max_size=25))
def test_prep_ahead_of_apply_matches_prep_after_apply(sequence):
    serial, piped = Harness(), Harness()
    serial_txns = []
    for op in sequence:
        request, _ = serial.run(op[0], to_record(op))
        serial_txns.append((request.hdr.type, request.txn))
    prepared = [piped.prepare(op[0], to_record(op)) for op in sequence]
    piped_txns = [(r.hdr.type, r.txn) for r in prepared]
    for request in prepared:
        piped.apply(request)
    # Creation times differ between runs; compare the records themselves.
    assert piped_txns == serial_txns
    tree_a, tree_b = serial.zk_db.data_tree, piped.zk_db.data_tree
    assert sorted(tree_a.nodes) == sorted(tree_b.nodes)
    for path in tree_a.nodes:
        a, b = tree_a.nodes[path].stat(), tree_b.nodes[path].stat()
        assert (a.version, a.cversion, a.numChildren, a.czxid, a.mzxid, a.pzxid) == \
               (b.version, b.cversion, b.numChildren, b.czxid, b.mzxid, b.pzxid)
    assert not piped.outstanding_changes.queue and not piped.outstanding_changes.by_path


def test_a_failed_write_leaves_no_reference_cycle():
    # The server raises the GC threshold: a request kept alive by a cycle
    # (exception -> traceback -> frame -> request) would hold its payload.
    h = Harness()
    h.run(OpCode.create, create_req("/cyc"))
    gc.collect()
    gc.disable()
    try:
        for cxid in range(20):
            request = h.prepare(OpCode.setData, R.SetDataRequest("/cyc", b"y" * 1000, 99))
            assert err(request) == Code.BADVERSION
        del request
        assert gc.collect() == 0
    finally:
        gc.enable()


class _Cnxn:
    """What Final touches of a connection."""

    requests_done = 0

    def __init__(self):
        self.replies = []

    def send_response(self, header, body=None):
        self.replies.append(header.err)

    def update_stats(self, *args):
        pass


class _FinalServer:
    """What Final touches of ZooKeeperServer, over the Prep harness."""

    def __init__(self, harness):
        self.harness = harness
        self.zk_db = harness.zk_db

    def process_txn(self, request):
        return self.harness.apply(request)

    def request_finished(self, request):
        pass


def test_a_failed_write_answered_by_final_leaves_no_reference_cycle():
    from zkpy.server.processors.final import FinalRequestProcessor

    h = Harness()
    h.run(OpCode.create, create_req("/cyc"))
    final = FinalRequestProcessor(_FinalServer(h))
    cnxn = _Cnxn()
    gc.collect()
    gc.disable()
    try:
        for cxid in range(20):
            request = h.request(OpCode.setData, R.SetDataRequest("/cyc", b"y" * 1000, 99))
            request.cnxn = cnxn
            h.prep.prep(request)
            final.process_request(request)
        del request
        assert cnxn.replies == [int(Code.BADVERSION)] * 20
        assert gc.collect() == 0
    finally:
        gc.enable()
