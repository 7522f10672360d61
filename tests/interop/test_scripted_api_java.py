"""One scripted kazoo session of the 3.5+ API, against Java 3.8.0 and zkpy.

ACLs and authentication (digest, ip with CIDR, auth, super, AUTHFAILED),
multi and multiRead, TTL and container nodes (with the ContainerManager
deleting them), quotas with ``zookeeper.enforceQuota``, getEphemerals,
getAllChildrenNumber, whoAmI, the /zookeeper nodes and the
watch-management ops. Both servers run with the same flags and start
empty, so every result (error classes, Stat fields but times, zxids
included) must be the same. The helpers come from test_scripted_session.py.

Left out on purpose, where zkpy differs from Java 3.8.0 by design:
``exists`` on a node the caller may not read (NOAUTH since 3.8.4), the
order of whoAmI's list (a hash set in Java; compared sorted here), a lone
``check`` and createTTL with flags 0 and ttl -1 (both break Java 3.8.0's
request pipeline).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import namedtuple

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import make_acl, make_digest_acl

from tests.integration import kazoo_ext as kx
from tests.integration.wire import WireClient
from zkpy.defs import AUTH_XID, CreateMode, OpCode
from zkpy.jute.records import AuthPacket
from zkpy.testing import TestingServer

from .java_zk import JavaZooKeeperServer
from .test_scripted_session import normalize, run_against

AVAILABLE, REASON = JavaZooKeeperServer.available()
pytestmark = [pytest.mark.interop, pytest.mark.skipif(not AVAILABLE, reason=REASON)]

SUPER_DIGEST = "super:" + base64.b64encode(hashlib.sha1(b"super:secret").digest()).decode()
FLAGS = [
    "-Dzookeeper.extendedTypesEnabled=true",
    "-Dznode.container.checkIntervalMs=200",
    "-Dzookeeper.enforceQuota=true",
    f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}",
]
OPEN = kx.OPEN_ACL_UNSAFE
QUOTA = "/zookeeper/quota"


class _Raw(namedtuple("_Raw", "type body")):
    """Any op with a raw body; the reply body is not parsed."""

    def serialize(self):
        return self.body

    @classmethod
    def deserialize(cls, buf, offset):
        return "ok"


def _connect_string(zk: KazooClient) -> str:
    return ",".join(f"{host}:{port}" for host, port in zk.hosts)


def _wait_gone(zk: KazooClient, path: str) -> str:
    deadline = time.monotonic() + 10
    while zk.exists(path) is not None:
        if time.monotonic() > deadline:
            return "still there"
        time.sleep(0.05)
    return "gone"


def script(zk: KazooClient) -> list:
    out = []
    session_id = zk.client_id[0]
    others = []

    def session(timeout: float = 10.0, **kwargs) -> KazooClient:
        client = KazooClient(hosts=_connect_string(zk), timeout=timeout, **kwargs)
        client.start(timeout=20)
        others.append(client)
        return client

    def step(name, fn, *args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except KazooException as e:
            result = ("error", type(e).__name__)
        if isinstance(result, list):
            result = [("error", type(r).__name__) if isinstance(r, Exception) else r for r in result]
        out.append((name, normalize(result, session_id)))

    try:
        # -- ACLs and authentication ------------------------------------------------------
        step("whoami", lambda: sorted(kx.whoami(zk)))
        step("auth-digest", zk.add_auth, "digest", "bob:secret")
        step("whoami-digest", lambda: sorted(kx.whoami(zk)))
        step("create-auth-acl", zk.create, "/a", b"x", acl=[make_acl("auth", "", all=True)])
        step("getacl-auth", zk.get_acls, "/a")
        step("create-ip-cidr", zk.create, "/ip", b"",
             acl=[make_acl("ip", "127.0.0.0/8", read=True, write=True)])
        step("get-ip-cidr", zk.get, "/ip")
        step("create-under-ip-nocreate", zk.create, "/ip/child")
        step("create-ip-bad-prefix", zk.create, "/ipx", b"", acl=[make_acl("ip", "127.0.0.0/33", all=True)])
        step("create-ip-v6", zk.create, "/ipx", b"", acl=[make_acl("ip", "::1", all=True)])
        step("create-ip-other", zk.create, "/ip3", b"", acl=[make_acl("ip", "10.0.0.0/8", all=True)])
        step("get-ip-other", zk.get, "/ip3")
        step("children-ip-other", zk.get_children, "/ip3")
        step("getacl-ip-other", zk.get_acls, "/ip3")
        step("create-unknown-scheme", zk.create, "/u", b"", acl=[make_acl("foo", "bar", all=True)])
        step("create-digest-bad", zk.create, "/u", b"", acl=[make_acl("digest", "nocolon", all=True)])
        step("create-world-other", zk.create, "/u", b"", acl=[make_acl("world", "someone", all=True)])
        step("create-empty-acl", kx.create2, zk, "/u", b"", acl=[])
        step("setacl-badversion", zk.set_acls, "/a", [make_acl("world", "anyone", all=True)], version=5)
        step("setacl", zk.set_acls, "/a", [make_acl("world", "anyone", read=True)], version=0)
        step("setacl-noadmin", zk.set_acls, "/a", [make_acl("world", "anyone", all=True)])
        step("set-readonly", zk.set, "/a", b"y")
        step("getacl-readonly", zk.get_acls, "/a")
        step("create-digest", zk.create, "/d", b"x",
             acl=[make_digest_acl("bob", "secret", read=True, admin=True)])
        step("create-under-digest", zk.create, "/d/c")
        other = session()
        step("other-get", other.get, "/d")
        step("other-getacl", other.get_acls, "/d")
        step("other-set", other.set, "/d", b"y")
        step("other-auth-bob", other.add_auth, "digest", "bob:secret")
        step("other-getacl-bob", other.get_acls, "/d")
        root = session(auth_data=[("digest", "super:secret")])
        step("super-whoami", lambda: sorted(kx.whoami(root)))
        step("super-set", root.set, "/d", b"by root")
        step("super-create", root.create, "/d/c")
        step("super-delete", root.delete, "/d/c")
        # AUTHFAILED on a raw connection (kazoo would reconnect with new
        # sessions and resend the auth, a timing-dependent number of txns).
        # The short session outlives its closed connection until it expires.
        step("auth-unknown-scheme", _failed_auth, zk)
        step("auth-failed-session-lives", lambda: zk.exists("/failing") is not None)
        step("auth-failed-session-expires", _wait_gone, zk, "/failing")

        # -- multi, multiRead, check -----------------------------------------------------
        step("multi-ok", kx.multi, zk, kx.Create("/m", b"", OPEN, 0), kx.Create2("/m/c", b"d", OPEN, 0),
             kx.SetData("/m", b"z", -1), kx.CheckVersion("/m", 1), kx.Delete("/m/c", -1))
        step("multi-fail", kx.multi, zk, kx.Create("/m2", b"", OPEN, 0), kx.Delete("/nonexist", -1),
             kx.SetData("/m", b"q", -1))
        step("multi-fail-applied-nothing", zk.exists, "/m2")
        step("multi-noauth", kx.multi, zk, kx.Create("/m3", b"", OPEN, 0), kx.SetData("/a", b"z", -1))
        step("multi-badacl", kx.multi, zk, kx.Create("/m4", b"", [], 0))
        step("multi-badversion-check", kx.multi, zk, kx.CheckVersion("/m", 7))
        step("multi-ttl-container", kx.multi, zk,
             kx.CreateTTL("/mttl", b"", OPEN, kx.PERSISTENT_WITH_TTL, 100000),
             kx.Create("/mcont", b"", OPEN, kx.CONTAINER))
        step("multi-create-ttl-flags", kx.multi, zk, kx.Create("/mt", b"", OPEN, kx.PERSISTENT_WITH_TTL))
        step("multi-create-bad-flags", kx.multi, zk, kx.Create("/mb", b"", OPEN, 9))
        step("multi-with-read", kx.multi, zk, kx.Create("/mr", b"", OPEN, 0), kx.GetDataOp("/m"))
        step("multi-read", kx.multi_read, zk, kx.GetDataOp("/m"), kx.GetChildrenOp("/m"),
             kx.GetDataOp("/nope"), kx.GetDataOp("/ip3"), kx.GetChildrenOp("/ip3"))
        step("multi-read-with-write", kx.multi_read, zk, kx.Create("/mr", b"", OPEN, 0))
        step("multi-empty", kx.multi, zk)

        # -- TTL and container nodes ---------------------------------------------------------
        step("ttl", kx.create_ttl, zk, "/ttl", b"t", 300)
        step("ttl-zero", kx.create_ttl, zk, "/ttl0", b"t", 0)
        step("ttl-too-big", kx.create_ttl, zk, "/ttl0", b"t", 1 << 40)
        step("ttl-without-ttl-flags", kx.call, zk, kx.CreateTTL("/ttl1", b"", OPEN, 0, 100))
        step("ttl-sequential", kx.create_ttl, zk, "/ttls-", b"", 100000, sequence=True)
        step("create2-ttl-flags", kx.create2, zk, "/ttlf", b"", kx.PERSISTENT_WITH_TTL)
        step("create2-container-flags", kx.create2, zk, "/cf", b"", kx.CONTAINER)
        step("create2-bad-flags", kx.create2, zk, "/bf", b"", 7)
        step("container", kx.create_container, zk, "/cont", b"c")
        step("container-flags-0", kx.call, zk, kx.CreateContainer("/cont0", b"", OPEN, 0))
        step("container-child", zk.create, "/cont/child", b"")
        step("container-ephemeral-child", zk.create, "/cont/e", b"", ephemeral=True)
        step("ttl-child", zk.create, "/ttl/child")
        step("client-delete-container", kx.call, zk, _Raw(20, b"/cont"))
        step("delete-ttl-child", zk.delete, "/ttl/child")
        step("ttl-expired", _wait_gone, zk, "/ttl")
        step("delete-container-child", zk.delete, "/cont/child")
        step("delete-container-e", zk.delete, "/cont/e")
        step("container-deleted", _wait_gone, zk, "/cont")
        step("unused-container", kx.create_container, zk, "/cont2", b"")
        step("root-children", lambda: sorted(zk.get_children("/")))
        step("unused-container-stays", zk.exists, "/cont2")

        # -- ephemerals, counts, /zookeeper, watches -----------------------------------------
        step("ephemeral", zk.create, "/eph1", b"", ephemeral=True)
        step("ephemeral-seq", zk.create, "/m/eph-", b"", ephemeral=True, sequence=True)
        step("delete-not-empty", zk.delete, "/m")
        step("get-ephemerals", lambda: sorted(kx.get_ephemerals(zk, "/")))
        step("get-ephemerals-prefix", lambda: sorted(kx.get_ephemerals(zk, "/m")))
        step("get-ephemerals-empty-prefix", lambda: sorted(kx.get_ephemerals(zk, "")))
        step("all-children-root", kx.get_all_children_number, zk, "/")
        step("all-children-zookeeper", kx.get_all_children_number, zk, "/zookeeper")
        step("all-children-missing", kx.get_all_children_number, zk, "/missing")
        step("all-children-noread", kx.get_all_children_number, zk, "/ip3")
        step("zookeeper-children", lambda: sorted(zk.get_children("/zookeeper")))
        step("zookeeper", zk.get, "/zookeeper")
        step("zookeeper-quota", zk.get, QUOTA)
        step("zookeeper-config-acl", zk.get_acls, "/zookeeper/config")
        step("zookeeper-quota-acl", zk.get_acls, QUOTA)
        for path in ("/", "/zookeeper", QUOTA, "/zookeeper/config"):
            step(f"delete-special-{path}", zk.delete, path)
            step(f"multi-delete-special-{path}", kx.multi, zk, kx.Delete(path, -1))
        step("create-zookeeper-quota", zk.create, QUOTA)
        step("get-ephemerals-blank-prefix", lambda: sorted(kx.get_ephemerals(zk, "  ")))
        step("get-ephemerals-padded-root", lambda: sorted(kx.get_ephemerals(zk, " / ")))
        step("get-ephemerals-padded-prefix", kx.get_ephemerals, zk, " /m")
        step("check-watches-none", kx.check_watches, zk, "/m")
        step("add-watch-recursive", kx.add_watch, zk, "/m", True)
        step("check-watches-data", kx.check_watches, zk, "/m", 2)
        step("check-watches-children", kx.check_watches, zk, "/m", 1)
        step("check-watches-bad-type", kx.check_watches, zk, "/m", 4)
        step("remove-watches", kx.remove_watches, zk, "/m", 3)
        step("remove-watches-again", kx.remove_watches, zk, "/m", 3)
        step("add-watch-missing", kx.add_watch, zk, "/missing", False)
        step("add-watch-noread", kx.add_watch, zk, "/ip3", False)
        step("add-watch-bad-mode", kx.call, zk, kx._AddWatch("/m", 5))

        # -- quotas --------------------------------------------------------------------------
        step("quota-node", zk.create, "/q", b"")
        step("quota-limits", zk.create, f"{QUOTA}/q/zookeeper_limits",
             b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3", makepath=True)
        step("quota-stats", zk.create, f"{QUOTA}/q/zookeeper_stats", b"count=0,bytes=0")
        step("quota-stats-counted", zk.get, f"{QUOTA}/q/zookeeper_stats")
        step("quota-create-1", zk.create, "/q/1", b"abc")
        step("quota-create-2", zk.create, "/q/2", b"abc")
        step("quota-create-3", zk.create, "/q/3", b"abc")
        step("quota-multi-create", kx.multi, zk, kx.Create("/q/4", b"", OPEN, 0))
        step("quota-stats-after-creates", zk.get, f"{QUOTA}/q/zookeeper_stats")
        step("quota-set", zk.set, "/q/1", b"abcdef")
        step("quota-stats-after-set", zk.get, f"{QUOTA}/q/zookeeper_stats")
        step("quota-byte-limit", zk.set, f"{QUOTA}/q/zookeeper_limits",
             b"count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=-1")
        step("quota-set-too-big", zk.set, "/q/1", b"abcdefghijklmn")
        step("quota-create-too-big", zk.create, "/q/big", b"abcdefghijklmn")
        step("quota-set-small", zk.set, "/q/1", b"a")
        step("quota-delete", zk.delete, "/q/2")
        step("quota-stats-after-delete", zk.get, f"{QUOTA}/q/zookeeper_stats")
        step("quota-soft", zk.set, f"{QUOTA}/q/zookeeper_limits", b"count=1,bytes=1")
        step("quota-create-over-soft", zk.create, "/q/4", b"abcd")
        step("quota-stats-final", zk.get, f"{QUOTA}/q/zookeeper_stats")
        step("quota-remove-limits", zk.delete, f"{QUOTA}/q/zookeeper_limits")
        step("quota-create-unlimited", zk.create, "/q/5", b"")
        step("quota-stats-frozen", zk.get, f"{QUOTA}/q/zookeeper_stats")
        # What the server deletes counts too: a closed session's ephemerals,
        # containers and TTL nodes; and unreadable limits fail every write.
        step("quota2-node", zk.create, "/q2", b"")
        step("quota2-limits", zk.create, f"{QUOTA}/q2/zookeeper_limits",
             b"count=-1,bytes=-1=;countHardLimit=10", makepath=True)
        step("quota2-stats", zk.create, f"{QUOTA}/q2/zookeeper_stats", b"count=0,bytes=0")
        leaving = session()
        step("quota2-ephemeral", leaving.create, "/q2/eph", b"12345", ephemeral=True)
        step("quota2-stats-ephemeral", zk.get, f"{QUOTA}/q2/zookeeper_stats")
        leaving.stop()
        step("quota2-stats-session-closed", zk.get, f"{QUOTA}/q2/zookeeper_stats")
        step("quota2-container", kx.create_container, zk, "/q2/c", b"ab")
        step("quota2-container-kid", zk.create, "/q2/c/kid", b"cd")
        step("quota2-container-kid-delete", zk.delete, "/q2/c/kid")
        step("quota2-container-gone", _wait_gone, zk, "/q2/c")
        step("quota2-ttl", kx.create_ttl, zk, "/q2/t", b"xyz", 200)
        step("quota2-ttl-gone", _wait_gone, zk, "/q2/t")
        step("quota2-stats-server-deletes", zk.get, f"{QUOTA}/q2/zookeeper_stats")
        for i, limits in enumerate([b"garbage", b"count=", b"count= 5", b"count==5", b"=5", b",,,"]):
            step(f"quota2-limits-{i}", zk.set, f"{QUOTA}/q2/zookeeper_limits", limits)
            step(f"quota2-create-{i}", zk.create, f"/q2/n{i}")
            step(f"quota2-multi-{i}", kx.multi, zk, kx.SetData("/q2", b"x", -1),
                 kx.Create(f"/q2/m{i}", b"", OPEN, 0))
        step("quota2-stats-final", zk.get, f"{QUOTA}/q2/zookeeper_stats")
        step("final-root", zk.exists, "/")
    finally:
        for client in others:
            client.stop()
            client.close()
    return out


def _failed_auth(zk: KazooClient) -> tuple:
    """A 1 s session creates /failing, then sends an auth packet of an
    unknown scheme: (its reply header, whether the server closed the socket)."""
    host, port = zk.hosts[0]
    with WireClient(host, port) as client:
        client.handshake(timeout_ms=1000)
        assert client.create("/failing", flags=CreateMode.EPHEMERAL)[0].err == 0
        client.send_request(OpCode.auth, AuthPacket(0, "nosuch", b"x"), xid=AUTH_XID)
        header, _ = client.read_reply()
        client.expect_closed()
        return header.xid, header.zxid, header.err, "closed"


@pytest.fixture(scope="module")
def results():
    with JavaZooKeeperServer(start=True, jvm_flags=FLAGS) as java:
        java_results = run_against(java.connect_string, script)
    with TestingServer(start=True, force_sync=False, jvm_flags=FLAGS) as zkpy_server:
        zkpy_results = run_against(zkpy_server.connect_string, script)
    return java_results, zkpy_results


def test_same_steps(results):
    java_results, zkpy_results = results
    assert [name for name, _ in zkpy_results] == [name for name, _ in java_results]


def test_every_step_matches_java(results):
    java_results, zkpy_results = results
    mismatches = [(java, ours) for java, ours in zip(java_results, zkpy_results) if java != ours]
    assert not mismatches, "\n".join(f"java: {j}\nzkpy: {z}" for j, z in mismatches)


def test_the_script_exercised_the_errors(results):
    """The script must really hit each error it is about (on Java, the reference)."""
    java_results, _ = results
    errors = {value[1] for _, value in java_results if isinstance(value, tuple) and value[:1] == ("error",)}
    assert dict(java_results)["auth-unknown-scheme"] == (AUTH_XID, 0, -115, "closed")
    for name in ("NoAuthError", "InvalidACLError", "BadVersionError", "BadArgumentsError",
                 "MarshallingError", "NoWatcherError", "QuotaExceededError", "NoNodeError", "NotEmptyError"):
        assert name in errors, name
    assert dict(java_results)["container-deleted"] == "gone"
    assert dict(java_results)["ttl-expired"] == "gone"
    assert dict(java_results)[f"delete-special-{QUOTA}"] == ("error", "BadArgumentsError")
    assert dict(java_results)["quota2-create-0"] == ("error", "MarshallingError")
    assert dict(java_results)["quota2-create-3"] == "/q2/n3"
    assert dict(java_results)["quota2-ttl-gone"] == "gone"
