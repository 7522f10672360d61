"""ACLs and authentication (ZK_SPEC.md §2.9): schemes, permissions, auth packets, whoAmI.

The module's server has a super digest (``zookeeper.DigestAuthenticationProvider.superDigest``
for ``super:superpw``). Tests marked ``zkpy_only`` check the security fix
zkpy takes from ZooKeeper 3.8.4 that the Java reference (Debian's 3.8.0
package) lacks; everything else runs against Java 3.8.0 too
(``ZKPY_IT_TARGET=java``).
"""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from kazoo.exceptions import (
    AuthFailedError, BadVersionError, InvalidACLError, NoAuthError, NoNodeError, NoWatcherError,
)
from kazoo.protocol.states import KazooState
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id, make_acl, make_digest_acl

from zkpy.defs import AUTH_XID, OpCode
from zkpy.errors import Code
from zkpy.jute.records import AuthPacket, CreateRequest, OPEN_ACL_UNSAFE as WIRE_OPEN_ACL

from . import kazoo_ext as kx
from . import wire
from .servers import kazoo_session, new_server, zkpy_only


def java_digest(user: str, password: str) -> str:
    """DigestAuthenticationProvider.generateDigest, written out."""
    sha1 = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(sha1).decode()}"


SUPER_DIGEST = java_digest("super", "superpw")


def settled(events: list, count: int, quiet: float = 0.3) -> list:
    """``events`` once ``count`` have arrived (kazoo calls watchers on its
    own thread) and nothing more came for ``quiet`` seconds."""
    deadline = time.monotonic() + 5
    while len(events) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(quiet)
    return [(e.type, e.path) for e in events]


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory):
    server = new_server(force_sync=False, temp_dir=tmp_path_factory.mktemp("zk_server"),
                        jvm_flags=[f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"])
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def other(zk_server):
    """A second session, not authenticated."""
    with kazoo_session(zk_server) as client:
        yield client


def test_world_anyone_is_the_default(kazoo_client):
    zk = kazoo_client
    zk.create("/open")
    acl, stat = zk.get_acls("/open")
    assert acl == OPEN_ACL_UNSAFE and stat.aversion == 0


def test_permissions_per_operation(kazoo_client):
    zk = kazoo_client
    zk.create("/perm")
    for name, perms in {"r": dict(read=True), "w": dict(write=True), "c": dict(create=True),
                        "d": dict(delete=True, create=True), "a": dict(admin=True)}.items():
        zk.create(f"/perm/{name}", b"x", acl=[make_acl("world", "anyone", **perms)])
    with pytest.raises(NoAuthError):
        zk.get("/perm/w")
    with pytest.raises(NoAuthError):
        zk.get_children("/perm/c")
    assert zk.get("/perm/r")[0] == b"x"
    with pytest.raises(NoAuthError):
        zk.set("/perm/r", b"y")
    assert zk.set("/perm/w", b"y").version == 1
    with pytest.raises(NoAuthError):
        zk.create("/perm/r/kid")  # CREATE is checked on the parent
    zk.create("/perm/c/kid")
    with pytest.raises(NoAuthError):
        zk.delete("/perm/c/kid")  # DELETE on the parent, which only has CREATE
    zk.create("/perm/d/kid", acl=[make_acl("world", "anyone", read=True)])
    zk.delete("/perm/d/kid")  # the node's own ACL does not matter for delete
    with pytest.raises(NoAuthError):
        zk.set_acls("/perm/r", OPEN_ACL_UNSAFE)
    assert zk.set_acls("/perm/a", OPEN_ACL_UNSAFE).aversion == 1
    # getACL needs READ or ADMIN; WRITE alone is not enough.
    with pytest.raises(NoAuthError):
        zk.get_acls("/perm/w")
    assert zk.get_acls("/perm/r")[0] == [make_acl("world", "anyone", read=True)]


def test_digest_acl(kazoo_client, other):
    zk = kazoo_client
    acl = make_digest_acl("alice", "secret", all=True)
    assert acl.id.id == java_digest("alice", "secret")
    zk.create("/dig", b"private", acl=[acl])
    for call in (lambda: other.get("/dig"), lambda: other.get_children("/dig"),
                 lambda: other.set("/dig", b"x"), lambda: other.create("/dig/kid"),
                 lambda: other.get_acls("/dig")):
        with pytest.raises(NoAuthError):
            call()
    other.add_auth("digest", "alice:wrong")  # accepted: it is just another identity
    with pytest.raises(NoAuthError):
        other.get("/dig")
    other.add_auth("digest", "alice:secret")
    assert other.get("/dig")[0] == b"private"
    other.create("/dig/kid")
    assert other.get_acls("/dig")[0] == [acl]


def test_get_acl_masks_digests_without_admin(kazoo_client, other):
    zk = kazoo_client
    zk.create("/masked", acl=[make_digest_acl("bob", "pw", all=True), make_acl("world", "anyone", read=True)])
    acl, _ = other.get_acls("/masked")
    assert acl == [ACL(31, Id("digest", "bob:x")), make_acl("world", "anyone", read=True)]
    other.add_auth("digest", "bob:pw")
    assert other.get_acls("/masked")[0][0] == make_digest_acl("bob", "pw", all=True)


def test_auth_scheme_expands_to_the_callers_identities(zk_server, other):
    with pytest.raises(InvalidACLError):  # no authenticated identity (ip does not count)
        other.create("/authacl", acl=[make_acl("auth", "", all=True)])
    with kazoo_session(zk_server, auth_data=[("digest", "u1:p1"), ("digest", "u2:p2")]) as zk:
        zk.create("/authacl", acl=[make_acl("auth", "", read=True, admin=True)])
        acl, _ = zk.get_acls("/authacl")
        assert sorted(a.id.id for a in acl) == sorted([java_digest("u1", "p1"), java_digest("u2", "p2")])
        assert {(a.perms, a.id.scheme) for a in acl} == {(17, "digest")}
    with pytest.raises(NoAuthError):
        other.get("/authacl")


def test_ip_acls(kazoo_client, other):
    zk = kazoo_client
    zk.create("/ip")
    zk.create("/ip/local", b"l", acl=[make_acl("ip", "127.0.0.0/8", all=True)])
    zk.create("/ip/exact", b"e", acl=[make_acl("ip", "127.0.0.1", all=True)])
    zk.create("/ip/far", b"f", acl=[make_acl("ip", "10.0.0.0/8", all=True)])
    zk.create("/ip/all", b"a", acl=[make_acl("ip", "1.2.3.4/0", read=True)])
    assert other.get("/ip/local")[0] == b"l"
    assert other.get("/ip/exact")[0] == b"e"
    assert other.get("/ip/all")[0] == b"a"
    with pytest.raises(NoAuthError):
        other.get("/ip/far")
    for bad in ("127.0.0.1/33", "256.0.0.1", "127.0.0", "::1", "10.0.0.0/x", "localhost"):
        with pytest.raises(InvalidACLError):
            zk.create("/ip/bad", acl=[make_acl("ip", bad, all=True)])


def test_invalid_acls(kazoo_client):
    zk = kazoo_client
    with pytest.raises(InvalidACLError):
        kx.create2(zk, "/invalid", acl=[])  # kazoo's create() would send OPEN_ACL_UNSAFE instead
    for acl in ([make_acl("nosuch", "x", all=True)], [make_acl("world", "someone", all=True)],
                [make_acl("digest", "nocolon", all=True)], [make_acl("digest", "user:", all=True)]):
        with pytest.raises(InvalidACLError):
            zk.create("/invalid", acl=acl)
    zk.create("/valid")
    with pytest.raises(InvalidACLError):
        zk.set_acls("/valid", [])
    assert zk.exists("/invalid") is None


def test_set_acl_versions(kazoo_client):
    zk = kazoo_client
    zk.create("/av")
    assert zk.set_acls("/av", OPEN_ACL_UNSAFE, version=0).aversion == 1
    with pytest.raises(BadVersionError):
        zk.set_acls("/av", OPEN_ACL_UNSAFE, version=0)
    stat = zk.set_acls("/av", [make_acl("world", "anyone", read=True, admin=True)], version=-1)
    assert (stat.aversion, stat.version, stat.cversion) == (2, 0, 0)
    with pytest.raises(NoNodeError):
        zk.set_acls("/av-missing", OPEN_ACL_UNSAFE)


def test_super_digest(zk_server, kazoo_client):
    zk = kazoo_client
    zk.create("/locked", b"top secret", acl=[make_digest_acl("nobody", "x", read=True)])
    with kazoo_session(zk_server, auth_data=[("digest", "super:superpw")]) as root:
        assert root.get("/locked")[0] == b"top secret"
        root.set("/locked", b"changed")
        root.create("/locked/kid")
        root.delete("/locked/kid")
        assert root.get_acls("/locked")[0] == [make_digest_acl("nobody", "x", read=True)]
        root.delete("/locked")
        assert sorted(kx.whoami(root)) == [("digest", "super"), ("ip", "127.0.0.1"), ("super", "")]
    with kazoo_session(zk_server, auth_data=[("digest", "super:wrong")]) as not_root:
        not_root.create("/locked", acl=[make_digest_acl("nobody", "x", read=True)])
        with pytest.raises(NoAuthError):
            not_root.get("/locked")


def test_who_am_i(zk_server):
    with kazoo_session(zk_server) as zk:
        assert kx.whoami(zk) == [("ip", "127.0.0.1")]
        zk.add_auth("digest", "carol:pw")
        zk.add_auth("digest", "carol:pw")  # the same identity is kept once
        zk.add_auth("digest", "dave:pw")
        assert sorted(kx.whoami(zk)) == [("digest", "carol"), ("digest", "dave"), ("ip", "127.0.0.1")]


def test_unknown_auth_scheme_fails_the_connection(zk_server):
    with kazoo_session(zk_server) as zk:
        with pytest.raises(AuthFailedError):
            zk.add_auth("nosuch", "whatever")
        deadline = time.monotonic() + 5
        while zk.state != KazooState.LOST and time.monotonic() < deadline:
            time.sleep(0.05)
        assert zk.state == KazooState.LOST


def test_auth_failure_closes_the_connection_not_the_session(zk_server, other):
    """AUTHFAILED (xid -4, zxid 0), then the socket closes; the session lives on until it expires."""
    client = wire.connect(zk_server, timeout_ms=1000)
    try:
        session_id, passwd = client.session_id, client.passwd
        header, _, _ = client.call(OpCode.create, CreateRequest("/authfail-eph", b"", WIRE_OPEN_ACL, 1))
        assert header.err == 0
        client.send_request(OpCode.auth, AuthPacket(0, "nosuch", b"x"), xid=AUTH_XID)
        header, _ = client.read_reply()
        assert (header.xid, header.zxid, header.err) == (AUTH_XID, 0, Code.AUTHFAILED)
        client.expect_closed()
    finally:
        client.close()
    assert other.exists("/authfail-eph") is not None
    # The session can be resumed on a new connection...
    with wire.WireClient(zk_server.host, zk_server.port) as again:
        resp, _ = again.handshake(session_id=session_id, passwd=passwd, timeout_ms=1000)
        assert resp.sessionId == session_id and resp.timeOut > 0
    # ...and, left alone, it expires and its ephemeral goes.
    deadline = time.monotonic() + 10
    while other.exists("/authfail-eph") is not None:
        assert time.monotonic() < deadline, "the session never expired"
        time.sleep(0.1)


def test_digest_auth_on_the_wire(zk_server):
    with wire.session(zk_server) as client:
        client.send_request(OpCode.auth, AuthPacket(0, "digest", b"eve:pw"), xid=AUTH_XID)
        header, _ = client.read_reply()
        assert (header.xid, header.zxid, header.err) == (AUTH_XID, 0, 0)
        assert client.exists("/")[0].err == 0  # the connection stays


# -- security fixes from later 3.8 releases -----------------------------------------------------


@zkpy_only
def test_exists_needs_read_on_an_existing_node(kazoo_client, other):
    zk = kazoo_client
    zk.create("/hidden", acl=[make_digest_acl("owner", "pw", all=True)])
    with pytest.raises(NoAuthError):
        other.exists("/hidden")
    with pytest.raises(NoAuthError):
        other.exists("/hidden", watch=lambda event: None)
    with pytest.raises(NoWatcherError):  # the refused exists left no watch behind
        kx.check_watches(other, "/hidden")
    assert other.exists("/hidden-missing") is None  # a missing node is still just missing
    other.add_auth("digest", "owner:pw")
    assert other.exists("/hidden") is not None


def test_watch_events_need_read(kazoo_client, other):
    """The CVE-2024-23944 fix (3.8.4; Debian's 3.8.0 package carries it too)."""
    zk = kazoo_client
    events = []
    assert other.exists("/w-secret", watch=events.append) is None
    other.get_children("/", watch=events.append)
    zk.create("/w-secret", b"", acl=[make_digest_acl("owner", "pw", all=True)])
    # The root is readable: its NodeChildrenChanged arrives; the NodeCreated
    # of a node the watcher may not read does not.
    assert settled(events, 1) == [("CHILD", "/")]


def test_watch_events_reach_readers(kazoo_client, other):
    zk = kazoo_client
    other.add_auth("digest", "reader:pw")
    events = []
    assert other.exists("/w-shared", watch=events.append) is None
    zk.create("/w-shared", b"", acl=[make_digest_acl("reader", "pw", read=True),
                                     make_acl("world", "anyone", write=True)])
    assert settled(events, 1) == [("CREATED", "/w-shared")]


def test_super_user_with_server_without_super_digest(tmp_path):
    """Without a superDigest nobody is super, not even a user called super."""
    server = new_server(force_sync=False, temp_dir=tmp_path)
    try:
        with kazoo_session(server, auth_data=[("digest", "super:superpw")]) as zk:
            zk.create("/x", acl=[make_digest_acl("nobody", "x", read=True)])
            with pytest.raises(NoAuthError):
                zk.get("/x")
    finally:
        server.close()
