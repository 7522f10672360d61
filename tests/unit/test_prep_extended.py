"""Prep for containers, TTL nodes, deleteContainer, quotas and multi sub-op types (Java 3.8.0's decisions)."""

from __future__ import annotations

import pytest

from zkpy.defs import CreateMode, OpCode
from zkpy.errors import Code
from zkpy.jute import records as R
from zkpy.jute.archive import OutputArchive
from zkpy.jute.multi import write_multi_request
from zkpy.server.data_tree import ephemeral_kind
from zkpy.server.quota import limit_path, stat_path
from zkpy.server.request import Request
from zkpy.server.txn_codec import decode_txn_record

from .test_prep import SESSION, Harness, create_req, err


class ExtHarness(Harness):
    extended_types_enabled = True


def internal_delete(h, path):
    """A deleteContainer as the ContainerManager sends it: no connection, no session."""
    request = Request(None, 0, 0, OpCode.deleteContainer, path.encode())
    h.prep.prep(request)
    if request.hdr.type != OpCode.error:
        h.apply(request)
    return request


def multi_payload(*ops):
    out = OutputArchive()
    write_multi_request(out, list(ops))
    return bytes(out.buf)


def sub_types(request):
    return [sub.type for sub in request.txn.txns]


def test_create_type_comes_from_the_op():
    h = ExtHarness()
    request, rc = h.run(OpCode.createContainer, create_req("/c", CreateMode.PERSISTENT))
    assert err(request) == 0 and request.hdr.type == OpCode.createContainer
    assert ephemeral_kind(h.zk_db.data_tree.get_node("/c").ephemeral_owner) == "container"
    request, rc = h.run(OpCode.create2, create_req("/p", CreateMode.CONTAINER))
    assert err(request) == 0 and request.hdr.type == OpCode.create2
    assert h.zk_db.data_tree.get_node("/p").ephemeral_owner == 0


@pytest.mark.parametrize("record, code", [
    (R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 5, 0), Code.BADARGUMENTS),
    (R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 5, 0x10000000000), Code.BADARGUMENTS),
    (R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 0, 100), Code.BADARGUMENTS),
    (R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 0, -1), Code.BADARGUMENTS),  # breaks Java 3.8.0
    (R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 6, 100), 0),
    (R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 5, 0xFFFFFFFFFF), 0),
])
def test_ttl_validation(record, code):
    request, rc = ExtHarness().run(OpCode.createTTL, record)
    assert err(request) == code


def test_ttl_needs_extended_types_only_for_ttl_modes():
    h = Harness()
    request, _ = h.run(OpCode.createTTL, R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 5, 100))
    assert err(request) == Code.UNIMPLEMENTED
    request, _ = h.run(OpCode.createTTL, R.CreateTTLRequest("/t", b"", R.OPEN_ACL_UNSAFE, 0, 100))
    assert err(request) == Code.BADARGUMENTS
    request, _ = h.run(OpCode.create2, create_req("/t", CreateMode.PERSISTENT_WITH_TTL))
    assert err(request) == Code.UNIMPLEMENTED


def test_delete_container():
    h = ExtHarness()
    h.run(OpCode.createContainer, create_req("/c"))
    h.run(OpCode.create, create_req("/c/kid"))
    assert err(internal_delete(h, "/c")) == Code.NOTEMPTY
    h.run(OpCode.delete, R.DeleteRequest("/c/kid", -1))
    request = internal_delete(h, "/c")
    assert err(request) == 0 and request.hdr.type == OpCode.deleteContainer
    assert request.txn == R.DeleteTxn("/c") and h.zk_db.data_tree.get_node("/c") is None
    assert err(internal_delete(h, "/c")) == Code.NONODE
    # Plain persistent nodes and TTL nodes may go this way; session ephemerals may not.
    h.run(OpCode.create, create_req("/plain"))
    assert err(internal_delete(h, "/plain")) == 0
    h.run(OpCode.createTTL, R.CreateTTLRequest("/ttl", b"", R.OPEN_ACL_UNSAFE, 5, 10))
    assert err(internal_delete(h, "/ttl")) == 0
    h.run(OpCode.create, create_req("/eph", CreateMode.EPHEMERAL))
    assert err(internal_delete(h, "/eph")) == Code.BADVERSION


def test_clients_cannot_send_delete_container():
    h = ExtHarness()
    h.run(OpCode.createContainer, create_req("/c"))
    request = Request(object(), SESSION, 1, OpCode.deleteContainer, b"/c")  # from a connection
    h.prep.prep(request)
    assert err(request) == Code.BADARGUMENTS and request.hdr.type == OpCode.error


def test_multi_sub_op_types_follow_the_flags():
    h = ExtHarness()
    request = h.prepare(OpCode.multi, multi_payload(
        (OpCode.create2, create_req("/a")),
        (OpCode.create, create_req("/b", CreateMode.CONTAINER)),
        (OpCode.createContainer, create_req("/c", CreateMode.PERSISTENT)),
        (OpCode.createTTL, R.CreateTTLRequest("/d", b"", R.OPEN_ACL_UNSAFE, 0, 100)),
        (OpCode.createTTL, R.CreateTTLRequest("/e", b"", R.OPEN_ACL_UNSAFE, 5, 100)),
        (OpCode.create, create_req("/f", 9))))
    assert sub_types(request) == [OpCode.create, OpCode.createContainer, OpCode.create, OpCode.create,
                                  OpCode.createTTL, OpCode.error]
    # Unknown flags pass the rebuild (as PERSISTENT) and then fail the create itself.
    assert decode_txn_record(OpCode.error, request.txn.txns[5].data) == R.ErrorTxn(Code.BADARGUMENTS)


def test_multi_with_ttl_flags_on_a_create_fails_the_request():
    h = ExtHarness()
    request = h.prepare(OpCode.multi,
                        multi_payload((OpCode.create, create_req("/t", CreateMode.PERSISTENT_WITH_TTL))))
    assert err(request) == Code.MARSHALLINGERROR
    assert request.hdr.type == OpCode.error and request.hdr.zxid == 1


def test_multi_with_reads_fails_the_request():
    h = ExtHarness()
    request = h.prepare(OpCode.multi, multi_payload((OpCode.create, create_req("/x")),
                                                     (OpCode.getData, R.GetDataRequest("/", False))))
    assert err(request) == Code.MARSHALLINGERROR and request.hdr.type == OpCode.error
    assert not h.outstanding_changes.queue


def test_quota_is_enforced_in_prep():
    h = ExtHarness()
    h.enforce_quota = True
    h.run(OpCode.create, create_req("/q"))
    h.run(OpCode.create, create_req("/zookeeper/quota/q"))
    limits = b"count=-1,bytes=-1=;byteHardLimit=4;countHardLimit=2"
    h.run(OpCode.create, R.CreateRequest(limit_path("/q"), limits, R.OPEN_ACL_UNSAFE, 0))
    h.run(OpCode.create, R.CreateRequest(stat_path("/q"), b"count=0,bytes=0", R.OPEN_ACL_UNSAFE, 0))
    request, _ = h.run(OpCode.create, create_req("/q/a", data=b"abc"))
    assert err(request) == 0
    request, _ = h.run(OpCode.create, create_req("/q/b"))
    assert err(request) == Code.QUOTAEXCEEDED and request.hdr.type == OpCode.error
    request, _ = h.run(OpCode.setData, R.SetDataRequest("/q/a", b"abcde", -1))
    assert err(request) == Code.QUOTAEXCEEDED
    request, _ = h.run(OpCode.setData, R.SetDataRequest("/q", b"a", -1))
    assert err(request) == 0
    # The check comes after the ACL check and before the version check (as Java).
    request, _ = h.run(OpCode.setData, R.SetDataRequest("/q/a", b"abcdefgh", 99))
    assert err(request) == Code.QUOTAEXCEEDED
    h.enforce_quota = False
    request, _ = h.run(OpCode.create, create_req("/q/b"))
    assert err(request) == 0
