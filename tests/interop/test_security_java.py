"""The same security script against Java ZooKeeper 3.8.0 and zkpy: TLS, x509, SASL, enforced auth.

Both servers get one zoo.cfg: a plain and a secure port (PEM key and trust
stores made by the test), the x509 and sasl providers, an x509 super user,
``zookeeper.superUser`` for SASL, a super digest, DIGEST-MD5 users in a JAAS
file, and ``enforce.auth.enabled`` with the schemes sasl, x509 and digest.
The script records what a client sees (whoAmI, ACL checks, error codes,
closed connections, failed handshakes) and the two records must be equal.
``tests/integration/test_tls.py`` and ``test_sasl.py`` hold the same
checks one by one and also run against Java (``ZKPY_IT_TARGET=java``).
"""

from __future__ import annotations

import base64
import hashlib
import ssl

import pytest
from kazoo.security import make_acl

from tests.integration import kazoo_ext as kx
from tests.integration import wire
from tests.integration.security import (
    SASL_PROVIDER, X509_PROVIDER, TestPKI, client_context, kazoo_client, new_secure_server, openssl_problem,
    tls_handshake, write_jaas,
)
from tests.interop.java_zk import JavaZooKeeperServer
from zkpy.defs import OpCode
from zkpy.jute.records import GetDataRequest, GetSASLRequest, SetSASLResponse
from zkpy.testing import find_free_port

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not JavaZooKeeperServer.available()[0], reason=JavaZooKeeperServer.available()[1]),
    pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or ""),
]

puresasl_client = pytest.importorskip("puresasl.client", reason="pure-sasl (the test extra) does the SASL client side")

USERS = {"bob": "bobsecret", "alice": "alicesecret", "admin": "adminsecret"}
SUPER_DIGEST = "super:" + base64.b64encode(hashlib.sha1(b"super:superpw").digest()).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = TestPKI(tmp_path_factory.mktemp("pki"))
    pki.server = pki.issue("server", "/CN=localhost")
    pki.alice = pki.issue("alice", "/C=US/O=zkpy/OU=tests/CN=alice")
    pki.bob = pki.issue("bob", "/O=zkpy/CN=bob")
    pki.root = pki.issue("root", "/O=zkpy/CN=root")
    # A subject whose name needs Java's escapes and an OID (emailAddress).
    pki.odd = pki.issue("odd", "/C=DE/O=Acme, Inc./OU=x=y;z<w>\"q\"/CN= lead#1 /emailAddress=ops@example.com")
    return pki


def start(kind: str, pki, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"{kind}_server")
    jaas = write_jaas(tmp / "jaas.conf", USERS)
    secure_port = find_free_port()
    config = {
        "secureClientPort": secure_port, "secureClientPortAddress": "127.0.0.1",
        "ssl.keyStore.location": pki.server.keystore, "ssl.keyStore.type": "PEM",
        "ssl.trustStore.location": pki.ca.cert, "ssl.trustStore.type": "PEM",
        "authProvider.x509": X509_PROVIDER, "authProvider.1": SASL_PROVIDER,
        "X509AuthenticationProvider.superUser": "CN=root,O=zkpy", "superUser": "admin",
        "DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
        "enforce.auth.enabled": "true", "enforce.auth.schemes": "sasl,x509,digest",
    }
    server = new_secure_server(config, java=kind == "java", temp_dir=tmp / "server",
                               jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    server.secure_port = secure_port
    return server


@pytest.fixture(scope="module")
def servers(pki, tmp_path_factory):
    started = []
    try:
        for kind in ("java", "zkpy"):
            started.append(start(kind, pki, tmp_path_factory))
        yield dict(zip(("java", "zkpy"), started))
    finally:
        for server in started:
            server.close()


def _outcome(fn):
    """The result of ``fn()``, or the name of the exception it raised."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the exception's kind is the observation
        return type(e).__name__


def _wire_sasl(server, user, password):
    """[(xid, err, token kind)] of a DIGEST-MD5 exchange on the wire, and whether the server then closed."""
    sasl = puresasl_client.SASLClient("zk-sasl-md5", service="zookeeper", mechanism="DIGEST-MD5",
                                      username=user, password=password)
    out = []
    with wire.session(server) as client:
        token = b""
        while True:
            xid = client.send_request(OpCode.sasl, GetSASLRequest(token))
            header, inp = client.read_reply()
            server_token = SetSASLResponse.deserialize(inp).token
            kind = None if server_token is None else server_token.split(b"=", 1)[0].decode()
            out.append((header.xid, header.err, kind))
            if header.err or sasl.complete:
                break
            token = sasl.process(server_token)
            if sasl.complete and not token:
                break
        closed = out[-1][1] != 0 and client.expect_closed() is not None
    return out, closed


def _unauthenticated_get(server):
    with wire.WireClient(server.host, server.port) as client:
        client.handshake(timeout_ms=4000)
        xid = client.send_request(OpCode.getData, GetDataRequest("/", False))
        header, _ = client.read_reply()
        client.expect_closed()
        return header.xid == xid, header.err


def script(server, pki) -> dict:
    """What a client sees; Java's and zkpy's must be the same."""
    seen = {}
    tls = dict(ca=pki.ca)
    with kazoo_client(server.secure_port, cert=pki.alice, **tls) as alice:
        seen["tls alice whoami"] = sorted(kx.whoami(alice))
        alice.create("/x509", b"a", acl=[make_acl("x509", "CN=alice,OU=tests,O=zkpy,C=US", all=True)])
        alice.create("/auth", b"a", acl=[make_acl("auth", "", all=True)])
        seen["auth acl"] = [(a.id.scheme, a.id.id, a.perms) for a in alice.get_acls("/auth")[0]]
    with kazoo_client(server.secure_port, cert=pki.odd, **tls) as odd:
        seen["odd subject whoami"] = sorted(kx.whoami(odd))
    with kazoo_client(server.secure_port, cert=pki.bob, **tls) as bob:
        seen["bob reads alice's x509 node"] = _outcome(lambda: bob.get("/x509")[0])
    with kazoo_client(server.secure_port, cert=pki.root, **tls) as root:
        seen["x509 super whoami"] = sorted(kx.whoami(root))
        seen["x509 super reads"] = _outcome(lambda: root.get("/x509")[0])
    with kazoo_client(server.port, sasl_options={"mechanism": "DIGEST-MD5", "username": "bob",
                                                 "password": USERS["bob"]}) as sasl_bob:
        seen["sasl bob whoami"] = sorted(kx.whoami(sasl_bob))
        sasl_bob.create("/sasl", b"s", acl=[make_acl("sasl", "bob", read=True, write=True)])
        seen["sasl bob reads alice's x509 node"] = _outcome(lambda: sasl_bob.get("/x509")[0])
    with kazoo_client(server.port, sasl_options={"mechanism": "DIGEST-MD5", "username": "admin",
                                                 "password": USERS["admin"]}) as admin:
        seen["sasl super whoami"] = sorted(kx.whoami(admin))
        seen["sasl super reads"] = _outcome(lambda: admin.get("/sasl")[0])
    with kazoo_client(server.secure_port, cert=pki.alice, sasl_options={
            "mechanism": "DIGEST-MD5", "username": "alice", "password": USERS["alice"]}, **tls) as both:
        seen["tls+sasl whoami"] = sorted(kx.whoami(both))
        seen["sasl alice reads bob's node"] = _outcome(lambda: both.get("/sasl")[0])
    with kazoo_client(server.port, auth_data=[("digest", "super:superpw")]) as digest_super:
        seen["digest super reads both"] = [digest_super.get("/x509")[0], digest_super.get("/sasl")[0]]
    seen["wire sasl good"] = _wire_sasl(server, "bob", USERS["bob"])
    seen["wire sasl wrong password"] = _wire_sasl(server, "bob", "nope")
    seen["wire sasl unknown user"] = _wire_sasl(server, "mallory", "nope")
    seen["unauthenticated getData"] = _unauthenticated_get(server)
    no_cert = tls_handshake(server.secure_port, client_context(pki.ca))
    seen["handshake without certificate fails"] = not isinstance(no_cert, ssl.SSLSocket)
    untrusted = tls_handshake(server.secure_port, client_context(pki.ca, pki.issue("m", "/CN=m", untrusted=True)))
    seen["handshake with untrusted certificate fails"] = not isinstance(untrusted, ssl.SSLSocket)
    only13 = client_context(pki.ca, pki.alice)
    only13.minimum_version = ssl.TLSVersion.TLSv1_3
    result = tls_handshake(server.secure_port, only13)
    seen["TLS 1.3 only client"] = "handshake ok" if isinstance(result, ssl.SSLSocket) else "refused"
    for sock in (no_cert, untrusted, result):
        if isinstance(sock, ssl.SSLSocket):
            sock.close()
    return seen


def test_security_script_matches_java(servers, pki):
    java = script(servers["java"], pki)
    zkpy = script(servers["zkpy"], pki)
    assert zkpy == java
    # And what the script saw is what ZooKeeper promises (so equal also means right):
    assert java["tls alice whoami"] == [("ip", "127.0.0.1"), ("x509", "CN=alice,OU=tests,O=zkpy,C=US")]
    assert java["bob reads alice's x509 node"] == "NoAuthError"
    # sasl is an enforced scheme here, so a failed login is SESSIONCLOSEDREQUIRESASLAUTH, not AUTHFAILED.
    assert java["wire sasl wrong password"] == ([(1, 0, "realm"), (2, -124, None)], True)
    assert java["unauthenticated getData"] == (True, -124)


def test_digest_generator_matches_java():
    import shutil
    import subprocess
    import sys

    args = ["super:superpw", "bob:s3cr:et", "nocolon"]  # ASCII: Java decodes argv by the locale
    java = subprocess.run([shutil.which("java") or "java", "-cp", JavaZooKeeperServer.classpath(),
                           "org.apache.zookeeper.server.auth.DigestAuthenticationProvider", *args],
                          capture_output=True, text=True, check=True)
    zkpy = subprocess.run([sys.executable, "-m", "zkpy.cli.digest", *args], capture_output=True, text=True,
                          check=True)
    assert zkpy.stdout == java.stdout
    assert java.stdout.startswith(f"super:superpw->{SUPER_DIGEST}\n")
