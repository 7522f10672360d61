"""Create, read, update, delete against a real server, as kazoo and the wire see them.

One server for the module. Each test works under its own top-level path.
The rules checked are ZK_SPEC.md §2.3 (reply zxids, failed writes consume a
zxid), §2.7 (Stat), §2.8 (create modes), §2.14 (paths) and §2.1 (frame size).
"""

from __future__ import annotations

import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError, BadVersionError, ConnectionLoss, NoChildrenForEphemeralsError, NodeExistsError,
    NoNodeError, NotEmptyError,
)
from kazoo.protocol.states import KazooState
from kazoo.security import make_acl

from zkpy.defs import OpCode
from zkpy.errors import Code
from zkpy.jute.records import OPEN_ACL_UNSAFE, Create2Response, CreateRequest, SyncRequest, SyncResponse

from . import wire
from .servers import kazoo_session

MAX_BUFFER = 0xFFFFF  # jute.maxbuffer default


def now_ms() -> int:
    return int(time.time() * 1000)


# -- create modes and sequential names ------------------------------------------------


def test_create_modes(kazoo_client):
    zk = kazoo_client
    session_id = zk.client_id[0]
    assert zk.create("/modes", b"root") == "/modes"
    assert zk.create("/modes/p", b"persistent") == "/modes/p"
    assert zk.create("/modes/e", b"ephemeral", ephemeral=True) == "/modes/e"
    seq = zk.create("/modes/s-", b"seq", sequence=True)
    eseq = zk.create("/modes/es-", b"eseq", ephemeral=True, sequence=True)
    # The suffix is the parent's cversion before this create: two children came first.
    assert seq == "/modes/s-0000000002"
    assert eseq == "/modes/es-0000000003"
    assert sorted(zk.get_children("/modes")) == ["e", "es-0000000003", "p", "s-0000000002"]
    for path, data, owner in [("/modes/p", b"persistent", 0), ("/modes/e", b"ephemeral", session_id),
                              (seq, b"seq", 0), (eseq, b"eseq", session_id)]:
        value, stat = zk.get(path)
        assert value == data
        assert stat.ephemeralOwner == owner, path


def test_sequence_counter_is_per_parent_and_counts_creates_only(kazoo_client):
    zk = kazoo_client
    zk.create("/seq")
    zk.create("/seq2")
    assert zk.create("/seq/a-", sequence=True) == "/seq/a-0000000000"
    assert zk.create("/seq/a-", sequence=True) == "/seq/a-0000000001"
    # Another parent has its own counter.
    assert zk.create("/seq2/a-", sequence=True) == "/seq2/a-0000000000"
    # Any create under the parent advances it, sequential or not.
    zk.create("/seq/plain")
    assert zk.create("/seq/b-", sequence=True) == "/seq/b-0000000003"
    # A delete does not (the persisted cversion counts creates only) ...
    zk.delete("/seq/plain")
    assert zk.create("/seq/c", sequence=True) == "/seq/c0000000004"
    # ... and neither does a failed create.
    with pytest.raises(NodeExistsError):
        zk.create("/seq/a-0000000000")
    assert zk.create("/seq/", sequence=True) == "/seq/0000000005"
    # The client-visible cversion counts creates and deletes: 6 creates + 1 delete.
    stat = zk.exists("/seq")
    assert (stat.cversion, stat.numChildren) == (7, 5)


def test_create2_returns_the_new_nodes_stat(kazoo_client):
    zk = kazoo_client
    before = now_ms()
    path, stat = zk.create("/c2", b"12345", include_data=True)
    after = now_ms()
    assert path == "/c2"
    assert stat.czxid == stat.mzxid == stat.pzxid > 0
    assert (stat.version, stat.cversion, stat.aversion) == (0, 0, 0)
    assert (stat.ephemeralOwner, stat.dataLength, stat.numChildren) == (0, 5, 0)
    assert stat.ctime == stat.mtime
    assert before - 1000 <= stat.ctime <= after + 1000
    assert zk.exists("/c2") == stat
    path, stat2 = zk.create("/c2/s-", ephemeral=True, sequence=True, include_data=True)
    assert path == "/c2/s-0000000000"
    assert stat2.ephemeralOwner == zk.client_id[0]
    assert stat2.czxid == stat.czxid + 1


def test_create2_on_the_wire(zk_server):
    with wire.session(zk_server) as c:
        header, resp, _ = c.call(OpCode.create2, CreateRequest("/c2wire", b"ab", OPEN_ACL_UNSAFE, 0),
                                 Create2Response)
        assert header.err == 0
        assert resp.path == "/c2wire"
        assert resp.stat.czxid == header.zxid and resp.stat.dataLength == 2


# -- get / set / delete ------------------------------------------------------------------


def test_get_set_delete_with_versions(kazoo_client):
    zk = kazoo_client
    zk.create("/v", b"one")
    value, stat = zk.get("/v")
    assert (value, stat.version) == (b"one", 0)
    stat = zk.set("/v", b"two", version=0)
    assert stat.version == 1
    with pytest.raises(BadVersionError):
        zk.set("/v", b"three", version=0)
    assert zk.get("/v")[0] == b"two"
    stat = zk.set("/v", b"any")  # -1: any version
    assert stat.version == 2
    with pytest.raises(BadVersionError):
        zk.delete("/v", version=1)
    assert zk.exists("/v") is not None
    zk.delete("/v", version=2)
    assert zk.exists("/v") is None
    with pytest.raises(NoNodeError):
        zk.get("/v")
    with pytest.raises(NoNodeError):
        zk.set("/v", b"x")
    with pytest.raises(NoNodeError):
        zk.delete("/v")


def test_empty_and_null_data(kazoo_client):
    zk = kazoo_client
    zk.create("/empty", b"")
    value, stat = zk.get("/empty")
    assert value == b"" and stat.dataLength == 0
    zk.set("/empty", b"x")
    zk.set("/empty", b"")
    assert zk.get("/empty")[0] == b""


def test_exists_on_missing_node(kazoo_client):
    assert kazoo_client.exists("/no/such/node") is None
    assert kazoo_client.exists("/nosuch") is None


def test_exists_missing_on_the_wire(zk_server):
    with wire.session(zk_server) as c:
        header, resp, _ = c.exists("/nosuch")
        # NONODE with the header alone; a read carries the last processed zxid.
        assert header.err == Code.NONODE and resp is None
        assert header.zxid > 0


def test_get_children_with_stat(kazoo_client):
    zk = kazoo_client
    zk.create("/kids")
    for name in ("a", "b", "c"):
        zk.create(f"/kids/{name}", name.encode())
    children, stat = zk.get_children("/kids", include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert stat.numChildren == 3 and stat.cversion == 3
    assert stat.pzxid == zk.exists("/kids/c").czxid
    assert zk.get_children("/kids/a") == []
    with pytest.raises(NoNodeError):
        zk.get_children("/kids/zz")


def test_error_codes(kazoo_client):
    zk = kazoo_client
    zk.create("/errs")
    with pytest.raises(NodeExistsError):
        zk.create("/errs")
    with pytest.raises(NoNodeError):
        zk.create("/errs/missing/child")
    zk.create("/errs/child")
    with pytest.raises(NotEmptyError):
        zk.delete("/errs")
    zk.create("/errs/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/errs/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/errs/eph/seq-", sequence=True)
    # Deleting recursively works bottom-up.
    zk.delete("/errs", recursive=True)
    assert zk.exists("/errs") is None


def test_invalid_paths_are_bad_arguments(zk_server, kazoo_client):
    # kazoo normalises "//" and trailing slashes itself; a control character reaches the server.
    with pytest.raises(BadArgumentsError):
        kazoo_client.create("/bad\u0001")
    kazoo_client.create("/inv")
    with wire.session(zk_server) as c:
        # The parent is looked up before the path is validated (as Java), so
        # every parent here exists.
        for path in ["relative", "", "/inv/", "//inv", "/inv/.", "/inv/..", "/inv/nul\0byte",
                     "/inv/\u0001", "/inv/\u007f", "/inv/\ufff0", "/inv/\ue000"]:
            header, _, _ = c.create(path)
            assert header.err == Code.BADARGUMENTS == -8, repr(path)
        assert c.create("/inv/.x")[0].err == 0  # dots are fine inside a name
        # With a missing parent it is NONODE first.
        assert c.create("/missing/")[0].err == Code.NONODE
        # A sequential name is validated after the suffix is added.
        header, resp, _ = c.create("/inv/", flags=2)
        assert (header.err, resp.path) == (0, "/inv/0000000001")
    assert sorted(kazoo_client.get_children("/inv")) == [".x", "0000000001"]


# -- Stat fields --------------------------------------------------------------------------


def test_stat_fields_through_a_nodes_life(kazoo_client):
    zk = kazoo_client
    before = now_ms()
    zk.create("/st", b"abc")
    created = zk.exists("/st")
    assert created.czxid == created.mzxid == created.pzxid
    assert (created.version, created.cversion, created.aversion) == (0, 0, 0)
    assert (created.dataLength, created.numChildren, created.ephemeralOwner) == (3, 0, 0)
    assert created.ctime == created.mtime and before - 1000 <= created.ctime <= now_ms() + 1000

    time.sleep(0.01)
    set_stat = zk.set("/st", b"abcdef")
    assert set_stat.czxid == created.czxid and set_stat.ctime == created.ctime
    assert set_stat.mzxid > created.mzxid and set_stat.mtime >= created.mtime
    assert set_stat.pzxid == created.pzxid  # data changes leave pzxid alone
    assert (set_stat.version, set_stat.dataLength) == (1, 6)

    child = zk.create("/st/kid", include_data=True)[1]
    parent = zk.exists("/st")
    assert parent.pzxid == child.czxid
    assert (parent.cversion, parent.numChildren) == (1, 1)
    assert (parent.mzxid, parent.version) == (set_stat.mzxid, 1)  # a child is not a data change

    zk.delete("/st/kid")
    after_delete = zk.exists("/st")
    assert after_delete.pzxid > child.czxid
    assert (after_delete.cversion, after_delete.numChildren) == (2, 0)
    # The delete was the last write: the next one gets pzxid + 1.
    assert zk.create("/st/next", include_data=True)[1].czxid == after_delete.pzxid + 1

    acl_stat = zk.set_acls("/st", [make_acl("world", "anyone", all=True)], version=0)
    assert acl_stat.aversion == 1 and acl_stat.version == 1
    with pytest.raises(BadVersionError):
        zk.set_acls("/st", [make_acl("world", "anyone", all=True)], version=0)


def test_ephemeral_owner_is_the_session(zk_server, kazoo_client):
    kazoo_client.create("/own", b"")
    stat = kazoo_client.create("/own/e", ephemeral=True, include_data=True)[1]
    assert stat.ephemeralOwner == kazoo_client.client_id[0] != 0
    with kazoo_session(zk_server) as other:
        assert other.exists("/own/e").ephemeralOwner == kazoo_client.client_id[0]


# -- zxids ---------------------------------------------------------------------------------


def test_failed_writes_consume_a_zxid(kazoo_client):
    zk = kazoo_client
    first = zk.create("/fz", include_data=True)[1].czxid
    with pytest.raises(NodeExistsError):
        zk.create("/fz")
    second = zk.create("/fz2", include_data=True)[1].czxid
    assert second == first + 2  # the failed create was an error txn with its own zxid
    with pytest.raises(BadVersionError):
        zk.set("/fz", b"x", version=7)
    with pytest.raises(NoNodeError):
        zk.delete("/fz-missing")
    third = zk.create("/fz3", include_data=True)[1].czxid
    assert third == second + 3


def test_reply_zxids_on_the_wire(zk_server):
    with wire.session(zk_server) as c:
        ok, _, _ = c.create("/wz")
        assert ok.err == 0 and ok.zxid > 0
        failed, _, _ = c.create("/wz")
        assert (failed.err, failed.zxid) == (Code.NODEEXISTS, ok.zxid + 1)
        bad_version, _, _ = c.set_data("/wz", b"", version=5)
        assert (bad_version.err, bad_version.zxid) == (Code.BADVERSION, ok.zxid + 2)
        # Reads report the last processed zxid; they consume none.
        read, resp, _ = c.get_data("/wz")
        assert (read.err, read.zxid) == (0, ok.zxid + 2)
        assert resp.stat.mzxid == ok.zxid
        assert c.ping().zxid == ok.zxid + 2
        deleted, _, _ = c.delete("/wz")
        assert (deleted.err, deleted.zxid) == (0, ok.zxid + 3)


def test_sync(zk_server, kazoo_client):
    assert kazoo_client.sync("/") == "/"
    kazoo_client.create("/synced", b"1")
    assert kazoo_client.sync("/synced") == "/synced"
    with wire.session(zk_server) as c:
        header, resp, _ = c.call(OpCode.sync, SyncRequest("/synced"), SyncResponse)
        assert header.err == 0 and resp.path == "/synced"


# -- sizes ----------------------------------------------------------------------------------


def test_data_just_below_the_max_buffer(kazoo_client):
    zk = kazoo_client
    big = bytes(range(256)) * ((MAX_BUFFER - 300) // 256)
    zk.create("/big", big)
    value, stat = zk.get("/big")
    assert value == big and stat.dataLength == len(big)
    bigger = b"\xab" * (MAX_BUFFER - 200)
    zk.set("/big", bigger)
    assert zk.get("/big")[0] == bigger


def test_frame_just_at_the_max_buffer_is_accepted(zk_server):
    with wire.session(zk_server) as c:
        # RequestHeader, path, data length, ACL [(31, world:anyone)], flags: the rest is data.
        fixed = 8 + (4 + len("/edge")) + 4 + (4 + 4 + 4 + len("world") + 4 + len("anyone")) + 4
        header, _, _ = c.create("/edge", b"e" * (MAX_BUFFER - fixed))
        assert header.err == 0
        header, resp, _ = c.get_data("/edge")
        assert len(resp.data) == MAX_BUFFER - fixed


def test_data_above_the_max_buffer_closes_the_connection(zk_server, kazoo_client):
    with kazoo_session(zk_server) as bystander:
        with wire.session(zk_server) as c:
            c.send_request(OpCode.create, CreateRequest("/huge", b"h" * MAX_BUFFER, OPEN_ACL_UNSAFE, 0))
            assert c.expect_closed(2.0) == b""
        # kazoo sees a connection loss, reconnects to the same session and carries on.
        session_id = kazoo_client.client_id[0]
        with pytest.raises(ConnectionLoss):
            kazoo_client.create("/huge2", b"h" * (MAX_BUFFER + 1))
        deadline = time.monotonic() + 10
        while kazoo_client.state != KazooState.CONNECTED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kazoo_client.exists("/huge2") is None
        assert kazoo_client.client_id[0] == session_id
        assert bystander.exists("/huge") is None
        bystander.create("/after-huge", b"ok")
        assert kazoo_client.get("/after-huge")[0] == b"ok"


def test_pipelined_reads_never_overtake_the_sessions_writes(kazoo_client):
    # Reads of a session with nothing in flight are answered on the selector
    # thread; one queued behind a write of the same session must wait for it.
    zk = kazoo_client
    zk.ensure_path("/pipelined")
    for i in range(50):
        path = f"/pipelined/n{i}"
        created = zk.create_async(path, b"one")
        seen = zk.exists_async(path)
        changed = zk.set_async(path, b"two")
        data = zk.get_async(path)
        children = zk.get_children_async("/pipelined")
        created.get(timeout=10)
        assert seen.get(timeout=10) is not None, path
        assert changed.get(timeout=10).version == 1
        value, stat = data.get(timeout=10)
        assert (value, stat.version) == (b"two", 1), path
        assert f"n{i}" in children.get(timeout=10)
