"""SASL DIGEST-MD5 on the client protocol (op 102), the sasl ACL scheme, and enforced authentication.

Users come from a JAAS ``Server`` section written by the test
(``-Djava.security.auth.login.config``); ``authProvider.1`` loads the sasl
provider. kazoo (with pure-sasl) does the successful logins; the failures
and the packets themselves are checked on the wire (kazoo's own handling of
a failed SASL login is a crashed connection thread). One server per
configuration; everything runs against Java 3.8.0 too
(``ZKPY_IT_TARGET=java``) except the zkpy-only startup messages.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError, SessionClosedRequireSaslError
from kazoo.security import make_acl, make_digest_acl

from zkpy.defs import AUTH_XID, OpCode
from zkpy.errors import Code
from zkpy.jute.records import AuthPacket, GetDataRequest, GetSASLRequest, SetSASLResponse
from zkpy.testing import TestingServer, TestingServerError

from . import kazoo_ext as kx
from . import wire
from .security import SASL_PROVIDER, kazoo_client, new_secure_server, write_jaas
from .servers import ON_JAVA, zkpy_only

puresasl_client = pytest.importorskip("puresasl.client", reason="pure-sasl (the test extra) does kazoo's SASL")
puresasl_mechanisms = pytest.importorskip("puresasl.mechanisms")

USERS = {"bob": "bobsecret", "alice": "alicesecret", "admin": "adminsecret", "super": "jaas-super-pw"}
SUPER_PW = "superpw"
SUPER_DIGEST = "super:" + base64.b64encode(hashlib.sha1(f"super:{SUPER_PW}".encode()).digest()).decode()


def sasl_options(user: str, password: str | None = None) -> dict:
    return {"mechanism": "DIGEST-MD5", "username": user, "password": USERS[user] if password is None else password}


def sasl_login(client: wire.WireClient, user: str, password: str) -> list[tuple[int, int, bytes | None]]:
    """A DIGEST-MD5 exchange on the wire, as kazoo does it (pure-sasl computes
    the client side): [(reply xid, err, server token)] per SASL packet; stops
    at the first error."""
    sasl = puresasl_client.SASLClient("zk-sasl-md5", service="zookeeper", mechanism="DIGEST-MD5",
                                      username=user, password=password)
    replies = []
    token = sasl.process(None) or b""
    while True:
        xid = client.send_request(OpCode.sasl, GetSASLRequest(token))
        header, inp = client.read_reply()
        assert header.xid == xid
        server_token = SetSASLResponse.deserialize(inp).token
        replies.append((header.xid, header.err, server_token))
        if header.err != 0 or sasl.complete:
            return replies
        token = sasl.process(server_token)
        if sasl.complete and not token:
            return replies


@pytest.fixture(scope="module")
def sasl_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sasl_server")
    jaas = write_jaas(tmp / "jaas.conf", USERS)
    server = new_secure_server(
        {"authProvider.1": SASL_PROVIDER, "superUser": "admin",
         "DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
         "SASLAuthenticationProvider.superPassword": "override-pw"},
        java=ON_JAVA, temp_dir=tmp / "server", jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    try:
        yield server
    finally:
        server.close()


def test_digest_md5_login_is_the_sasl_identity(sasl_server):
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("bob")) as bob:
        assert sorted(kx.whoami(bob)) == [("ip", "127.0.0.1"), ("sasl", "bob")]
        bob.create("/bob-only", b"b", acl=[make_acl("sasl", "bob", all=True)])
        bob.create("/bob-auth", b"b", acl=[make_acl("auth", "", all=True)])  # "auth" expands to sasl:bob
        assert [(a.id.scheme, a.id.id) for a in bob.get_acls("/bob-auth")[0]] == [("sasl", "bob")]
        assert bob.get("/bob-only")[0] == b"b"
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("alice")) as alice:
        with pytest.raises(NoAuthError):
            alice.get("/bob-only")
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("bob")) as bob_again:
        assert bob_again.get("/bob-only")[0] == b"b"


def test_sasl_packets_on_the_wire(sasl_server):
    with wire.session(sasl_server) as client:
        replies = sasl_login(client, "bob", "bobsecret")
        assert [(xid, err) for xid, err, _ in replies] == [(1, 0), (2, 0)]  # the requests' own xids
        challenge = dict(puresasl_mechanisms.DigestMD5Mechanism.parse_challenge(replies[0][2]))
        # Java 3.8's challenge: realm="zk-sasl-md5",nonce="<40 base64 chars>",charset=utf-8,algorithm=md5-sess
        assert sorted(challenge) == ["algorithm", "charset", "nonce", "realm"]
        assert challenge["realm"] == b"zk-sasl-md5" and challenge["algorithm"] == b"md5-sess"
        assert challenge["charset"] == b"utf-8" and len(challenge["nonce"]) == 40
        assert replies[1][2].startswith(b"rspauth=")
        header, response, _ = client.get_data("/")
        assert header.err == 0 and header.xid == 3


@pytest.mark.parametrize("user, password", [("bob", "wrong"), ("mallory", "anything")])
def test_failed_login_is_authfailed_and_closes_the_connection(sasl_server, user, password):
    with wire.session(sasl_server) as client:
        replies = sasl_login(client, user, password)
        assert [(xid, err, token) for xid, err, token in replies] == [(1, 0, replies[0][2]),
                                                                       (2, int(Code.AUTHFAILED), None)]
        client.expect_closed()


def test_sasl_super_user_and_super_digest(sasl_server):
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("bob")) as bob:
        bob.create("/bob-secret", b"s", acl=[make_acl("sasl", "bob", read=True)])
    # zookeeper.superUser=admin: the SASL user admin is super.
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("admin")) as admin:
        assert sorted(kx.whoami(admin)) == [("ip", "127.0.0.1"), ("sasl", "admin"), ("super", "")]
        assert admin.get("/bob-secret")[0] == b"s"
        admin.create("/carol-digest", b"c", acl=[make_digest_acl("carol", "pw", all=True)])
        assert admin.get("/carol-digest")[0] == b"c"
    # The super digest works on a client that logged in with SASL as someone else.
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("alice"),
                      auth_data=[("digest", f"super:{SUPER_PW}")]) as alice_super:
        assert alice_super.get("/bob-secret")[0] == b"s"
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("alice")) as alice:
        with pytest.raises(NoAuthError):
            alice.get("/bob-secret")


def test_super_password_replaces_the_jaas_password_of_super(sasl_server):
    """zookeeper.SASLAuthenticationProvider.superPassword is the password of user "super"."""
    with kazoo_client(sasl_server.port, sasl_options=sasl_options("super", "override-pw")) as su:
        # Not a super user for all that: zookeeper.superUser names admin.
        assert sorted(kx.whoami(su)) == [("ip", "127.0.0.1"), ("sasl", "super")]
    with wire.session(sasl_server) as client:
        assert sasl_login(client, "super", USERS["super"])[-1][1] == int(Code.AUTHFAILED)


def test_addauth_sasl_is_refused(sasl_server):
    with kazoo_client(sasl_server.port) as zk:
        with pytest.raises(AuthFailedError):
            zk.add_auth("sasl", "bob")


# -- no JAAS configuration -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    server = new_secure_server({}, java=ON_JAVA, temp_dir=tmp_path_factory.mktemp("plain_server"))
    try:
        yield server
    finally:
        server.close()


def test_without_jaas_sasl_is_answered_with_a_null_token(plain_server):
    with wire.session(plain_server) as client:
        xid = client.send_request(OpCode.sasl, GetSASLRequest(b""))
        header, inp = client.read_reply()
        assert (header.xid, header.err) == (xid, 0)
        assert SetSASLResponse.deserialize(inp).token is None
        assert client.get_data("/")[0].err == 0  # the connection goes on


def test_without_the_sasl_provider_sasl_acls_are_invalid(plain_server):
    with kazoo_client(plain_server.port) as zk:
        with pytest.raises(InvalidACLError):
            zk.create("/sasl-acl", acl=[make_acl("sasl", "bob", all=True)])


# -- enforced authentication -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def enforcing_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("enforcing_server")
    jaas = write_jaas(tmp / "jaas.conf", USERS)
    server = new_secure_server(
        {"authProvider.1": SASL_PROVIDER, "enforce.auth.enabled": "true", "enforce.auth.schemes": "sasl,digest"},
        java=ON_JAVA, temp_dir=tmp / "server", jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("request_kind", ["getData", "ping"])
def test_unauthenticated_requests_close_the_connection(enforcing_server, request_kind):
    with wire.WireClient(enforcing_server.host, enforcing_server.port) as client:
        resp, _ = client.handshake(timeout_ms=4000)
        assert resp.timeOut > 0  # connecting is allowed
        if request_kind == "ping":
            xid = client.send_request(OpCode.ping, xid=-2)
        else:
            xid = client.send_request(OpCode.getData, GetDataRequest("/", False))
        header, inp = client.read_reply()
        assert (header.xid, header.err) == (xid, int(Code.SESSIONCLOSEDREQUIRESASLAUTH))
        assert inp.remaining() == 0
        client.expect_closed()
        session_id, passwd = client.session_id, client.passwd
    # Only the connection went: the session can be resumed (and is refused again).
    with wire.WireClient(enforcing_server.host, enforcing_server.port) as again:
        resp, _ = again.handshake(timeout_ms=4000, session_id=session_id, passwd=passwd)
        assert resp.timeOut > 0 and resp.sessionId == session_id
        header, _, _ = again.get_data("/")
        assert header.err == int(Code.SESSIONCLOSEDREQUIRESASLAUTH)
        again.expect_closed()


def test_sasl_or_digest_satisfies_the_enforced_schemes(enforcing_server):
    with kazoo_client(enforcing_server.port, sasl_options=sasl_options("bob")) as bob:
        assert bob.get("/")[1].numChildren >= 1
    with kazoo_client(enforcing_server.port, auth_data=[("digest", "carol:pw")]) as carol:
        assert carol.get("/")[1].numChildren >= 1
    with kazoo_client(enforcing_server.port) as nobody:
        with pytest.raises(SessionClosedRequireSaslError):
            nobody.get("/")
    with wire.session(enforcing_server) as client:  # an auth packet is never refused
        client.send_request(OpCode.auth, AuthPacket(0, "ip", b""), xid=AUTH_XID)
        header, _ = client.read_reply()
        assert (header.xid, header.err) == (AUTH_XID, 0)
        assert client.get_data("/")[0].err == int(Code.SESSIONCLOSEDREQUIRESASLAUTH)  # ip is not enforced


def test_failed_sasl_when_sasl_is_enforced(enforcing_server):
    with wire.session(enforcing_server) as client:
        replies = sasl_login(client, "bob", "wrong")
        assert replies[-1][:2] == (2, int(Code.SESSIONCLOSEDREQUIRESASLAUTH))
        client.expect_closed()


# -- configurations that do not start -------------------------------------------------------------------

@zkpy_only
def test_bad_sasl_settings_stop_the_server(tmp_path):
    cases = [
        # zookeeper.enforce.auth.* naming a scheme without provider: Java's IllegalArgumentException, exit 2.
        ({"sessionRequireClientSASLAuth": "true"}, [], 2, "Authentication scheme sasl is not available"),
        ({"enforce.auth.enabled": "true"}, [], 2, "zookeeper.enforce.auth.schemes must be  configured"),
        # A JAAS file that cannot be read: Java's IOException, exit 1 (a readable one without the
        # Server section just means no SASL).
        ({}, [f"-Djava.security.auth.login.config={tmp_path / 'missing.conf'}"], 1,
         "No JAAS configuration section named 'Server' was found"),
    ]
    for n, (config, flags, code, message) in enumerate(cases):
        server = TestingServer(config=config, jvm_flags=flags, temp_dir=tmp_path / str(n), start_timeout=10)
        try:
            with pytest.raises(TestingServerError):
                server.start()
            assert server.returncode == code, server.log_tail()
            assert message in server.log_tail(5)
        finally:
            server.close()
