"""The tree digest behind the ``hash`` four-letter word (ZK_SPEC.md §5.4).

The value Java prints is checked in tests/interop/test_four_letter_java.py
(zkpy replays Java's log and must log the same digest); here the running
sum must always equal a digest computed from scratch.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zkpy.defs import OpCode
from zkpy.jute import records as R
from zkpy.server.data_tree import DataTree
from zkpy.server.digest import DigestTracker, tree_digest
from zkpy.server.txn_codec import encode_multi


def hdr(zxid: int, op: int, session: int = 5, time: int = 1000) -> R.TxnHeader:
    return R.TxnHeader(session, zxid, zxid, time, op)


def test_empty_tree_digest_is_javas():
    assert tree_digest(DataTree()) == 1371985504  # observed on Java 3.8.0


def test_running_digest_matches_a_full_one_after_every_kind_of_txn():
    tree, tracker = DataTree(), DigestTracker(interval=4)
    txns = [
        (OpCode.createSession, R.CreateSessionTxn(4000)),
        (OpCode.create, R.CreateTxn("/p", b"parent", R.OPEN_ACL_UNSAFE, False, -1)),
        (OpCode.create, R.CreateTxn("/p/e", b"eph", R.OPEN_ACL_UNSAFE, True, -1)),
        (OpCode.create, R.CreateTxn("/p/q", None, R.OPEN_ACL_UNSAFE, False, -1)),
        (OpCode.setData, R.SetDataTxn("/p", b"changed", 1)),
        (OpCode.setACL, R.SetACLTxn("/p/q", R.READ_ACL_UNSAFE, 1)),
        (OpCode.multi, encode_multi([(OpCode.create, R.CreateTxn("/m", b"1", R.OPEN_ACL_UNSAFE, False, -1)),
                                     (OpCode.delete, R.DeleteTxn("/p/q")),
                                     (OpCode.setData, R.SetDataTxn("/p", b"again", 2))])),
        (OpCode.create, R.CreateTxn("/p", b"dup", R.OPEN_ACL_UNSAFE, False, -1)),  # NODEEXISTS
        (OpCode.setData, R.SetDataTxn("/zookeeper/config", b"x", 1)),  # internal: counts 0
        (OpCode.closeSession, R.CloseSessionTxn(["/p/e"])),
        (OpCode.error, R.ErrorTxn(-101)),
        (OpCode.delete, R.DeleteTxn("/m")),
    ]
    seen = set()
    for zxid, (op, txn) in enumerate(txns, start=1):
        tracker.process_txn(tree, hdr(zxid, op), txn)
        assert tracker.digest == tree_digest(tree), (zxid, op)
        seen.add(tracker.digest)
    assert len(seen) > 5  # the digest really moves
    assert "/p/e" not in tree.nodes and "/m" not in tree.nodes
    assert [z for z, _ in tracker.digest_log()] == [4, 8, 12]


def test_digest_log_is_bounded():
    tree, tracker = DataTree(), DigestTracker(interval=1, limit=3)
    for zxid in range(1, 8):
        tracker.process_txn(tree, hdr(zxid, OpCode.create),
                            R.CreateTxn(f"/n{zxid}", b"", R.OPEN_ACL_UNSAFE, False, -1))
    assert [z for z, _ in tracker.digest_log()] == [5, 6, 7]


_PATHS = ["/a", "/a/b", "/a/b/c", "/d", "/d/e"]


@st.composite
def _txn(draw):
    path = draw(st.sampled_from(_PATHS))
    kind = draw(st.sampled_from(["create", "ephemeral", "set", "delete", "acl", "multi", "close"]))
    data = draw(st.binary(max_size=8))
    if kind in ("create", "ephemeral"):
        return OpCode.create, R.CreateTxn(path, data, R.OPEN_ACL_UNSAFE, kind == "ephemeral", -1)
    if kind == "set":
        return OpCode.setData, R.SetDataTxn(path, data, draw(st.integers(0, 3)))
    if kind == "delete":
        return OpCode.delete, R.DeleteTxn(path)
    if kind == "acl":
        return OpCode.setACL, R.SetACLTxn(path, R.READ_ACL_UNSAFE, draw(st.integers(0, 3)))
    if kind == "close":
        return OpCode.closeSession, R.CloseSessionTxn([])
    return OpCode.multi, encode_multi([(OpCode.setData, R.SetDataTxn(path, data, 1)),
                                       (OpCode.create, R.CreateTxn(path + "/m", b"", R.OPEN_ACL_UNSAFE, False, -1))])


@settings(max_examples=150, deadline=None)
@given(st.lists(_txn(), max_size=40))
def test_running_digest_matches_a_full_one_for_any_history(txns):
    # Each node keeps its last digest for the next txn that touches it: a
    # history of re-created, re-set and deleted nodes must not fool it.
    tree, tracker = DataTree(), DigestTracker()
    for zxid, (op, txn) in enumerate(txns, start=1):
        tracker.process_txn(tree, hdr(zxid, op), txn)
        assert tracker.digest == tree_digest(tree), (zxid, op, txn)
