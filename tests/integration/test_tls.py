"""TLS on the secureClientPort, beside the plain clientPort, with x509 client certificates.

One server per configuration (module-scoped): the main one has a plain and a
secure port, ``ssl.clientAuth=need`` (the default), a PEM key store and trust
store, the x509 and sasl providers, a super digest and an x509 super user.
Certificates are made by the test (:mod:`tests.integration.security`).
Everything runs against Java 3.8.0 too (``ZKPY_IT_TARGET=java``) except
what is marked zkpy-only (how soon zkpy drops a stalled handshake, its
startup messages).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import time

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl, make_digest_acl

from zkpy.client import ZooKeeper
from zkpy.testing import TestingServer, TestingServerError, find_free_port

from . import kazoo_ext as kx
from .security import (
    SASL_PROVIDER, X509_PROVIDER, TestPKI, client_context, kazoo_client, new_secure_server, openssl_problem,
    tls_four_letter_word, tls_handshake, write_jaas,
)
from .servers import ON_JAVA, zkpy_only

pytestmark = pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")

SUPER_PW = "superpw"
# DigestAuthenticationProvider.generateDigest("super:superpw"), written out.
SUPER_DIGEST = "super:" + base64.b64encode(hashlib.sha1(f"super:{SUPER_PW}".encode()).digest()).decode()
ALICE = "CN=alice,OU=tests,O=zkpy,C=US"
ROOT = "CN=root,O=zkpy"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = TestPKI(tmp_path_factory.mktemp("pki"))
    pki.server = pki.issue("server", "/CN=localhost")
    pki.alice = pki.issue("alice", "/C=US/O=zkpy/OU=tests/CN=alice")
    pki.bob = pki.issue("bob", "/O=zkpy/CN=bob")
    pki.root = pki.issue("root", "/O=zkpy/CN=root")
    pki.mallory = pki.issue("mallory", "/O=zkpy/CN=alice", untrusted=True)  # alice's name, wrong CA
    return pki


def tls_config(pki, secure_port: int, **extra) -> dict:
    return {
        "secureClientPort": secure_port, "secureClientPortAddress": "127.0.0.1",
        "ssl.keyStore.location": pki.server.keystore, "ssl.keyStore.type": "PEM",
        "ssl.trustStore.location": pki.ca.cert, "ssl.trustStore.type": "PEM",
        "authProvider.x509": X509_PROVIDER, "authProvider.1": SASL_PROVIDER,
        "DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
        "X509AuthenticationProvider.superUser": ROOT,
        "nio.sessionlessCnxnTimeout": 1500,  # zkpy: how long a stalled handshake may hold its socket
        **extra,
    }


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls_server")
    jaas = write_jaas(tmp / "jaas.conf", {"bob": "bobsecret"})
    secure_port = find_free_port()
    server = new_secure_server(tls_config(pki, secure_port), java=ON_JAVA, temp_dir=tmp / "server",
                               jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    server.secure_port = secure_port
    try:
        yield server
    finally:
        server.close()


def test_client_certificate_is_the_x509_identity(tls_server, pki):
    with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.alice) as alice:
        assert sorted(kx.whoami(alice)) == [("ip", "127.0.0.1"), ("x509", ALICE)]
        alice.create("/alice-only", b"secret", acl=[make_acl("x509", ALICE, all=True)])
        assert alice.get("/alice-only")[0] == b"secret"
        acl, _ = alice.get_acls("/alice-only")
        assert [(a.id.scheme, a.id.id, a.perms) for a in acl] == [("x509", ALICE, 31)]
    with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.bob) as bob:
        assert sorted(kx.whoami(bob)) == [("ip", "127.0.0.1"), ("x509", "CN=bob,O=zkpy")]
        with pytest.raises(NoAuthError):
            bob.get("/alice-only")
        # The "auth" scheme expands to the connection's x509 id.
        bob.create("/bob-auth", b"b", acl=[make_acl("auth", "", all=True)])
        acl, _ = bob.get_acls("/bob-auth")
        assert [(a.id.scheme, a.id.id) for a in acl] == [("x509", "CN=bob,O=zkpy")]


def test_x509_super_user_and_super_digest_cross_ports(tls_server, pki):
    with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.alice) as alice:
        alice.create("/x509-locked", b"v", acl=[make_acl("x509", ALICE, read=True)])
    with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.root) as root:
        # Its ids are super:<subject> and x509:<subject>; whoAmI shows "" for super (no provider).
        assert sorted(kx.whoami(root)) == [("ip", "127.0.0.1"), ("super", ""), ("x509", ROOT)]
        assert root.get("/x509-locked")[0] == b"v"
    # The plain port serves the same tree; its clients have no x509 id, but the super digest works there.
    with kazoo_client(tls_server.port) as plain:
        with pytest.raises(NoAuthError):
            plain.get("/x509-locked")
        plain.add_auth("digest", f"super:{SUPER_PW}")
        assert plain.get("/x509-locked")[0] == b"v"
        plain.create("/digest-locked", b"d", acl=[make_digest_acl("carol", "pw", all=True)])
    with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.alice, auth_data=[("digest", f"super:{SUPER_PW}")]) \
            as tls_super:
        assert tls_super.get("/digest-locked")[0] == b"d"
        assert ("super", "") in kx.whoami(tls_super)


def test_certificates_the_server_must_refuse(tls_server, pki):
    no_cert = tls_handshake(tls_server.secure_port, client_context(pki.ca))
    assert isinstance(no_cert, (ssl.SSLError, ConnectionError)), no_cert
    untrusted = tls_handshake(tls_server.secure_port, client_context(pki.ca, pki.mallory))
    assert isinstance(untrusted, (ssl.SSLError, ConnectionError)), untrusted
    good = tls_handshake(tls_server.secure_port, client_context(pki.ca, pki.alice))
    assert isinstance(good, ssl.SSLSocket), good
    good.close()


def test_tls_1_2_only_by_default(tls_server, pki):
    """ssl.protocol defaults to TLSv1.2 and ssl.enabledProtocols to just that (Java 3.8)."""
    sock = tls_handshake(tls_server.secure_port, client_context(pki.ca, pki.alice))
    assert isinstance(sock, ssl.SSLSocket), sock
    assert sock.version() == "TLSv1.2"
    sock.close()
    only13 = client_context(pki.ca, pki.alice)
    only13.minimum_version = ssl.TLSVersion.TLSv1_3
    assert isinstance(tls_handshake(tls_server.secure_port, only13), (ssl.SSLError, ConnectionError))


def test_four_letter_words_over_tls(tls_server, pki):
    assert tls_four_letter_word(tls_server.secure_port, client_context(pki.ca, pki.alice), "ruok") == "imok"
    conf = tls_server.four_letter_word("conf")
    assert f"secureClientPort={tls_server.secure_port}\n" in conf
    assert f"clientPort={tls_server.port}\n" in conf


def test_plain_client_on_the_secure_port_is_dropped(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.secure_port), timeout=5) as sock:
        sock.sendall(b"\x00\x00\x00\x2c" + bytes(44))  # a ConnectRequest, not a ClientHello
        sock.settimeout(5)
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b"" or data[0] == 0x15  # closed, or a TLS alert record first
    assert tls_server.four_letter_word("ruok") == "imok"


def test_stalled_handshakes_do_not_stall_the_server(tls_server, pki):
    stalled = []
    try:
        for partial in (b"", b"\x16\x03\x01\x02\x00\x01"):  # nothing; half a ClientHello
            sock = socket.create_connection(("127.0.0.1", tls_server.secure_port), timeout=5)
            sock.sendall(partial)
            stalled.append(sock)
        started = time.monotonic()
        with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.alice) as alice:
            alice.ensure_path("/while-stalled")
        with kazoo_client(tls_server.port) as plain:
            assert plain.exists("/while-stalled")
        assert time.monotonic() - started < 5
        if not ON_JAVA:  # zkpy drops them after zookeeper.nio.sessionlessCnxnTimeout (1.5 s here)
            for sock in stalled:
                sock.settimeout(5)
                try:
                    data = sock.recv(100)  # socket.timeout here: the server kept it open
                except ConnectionResetError:
                    data = b""
                assert data == b""
            assert time.monotonic() - started < 4.5
    finally:
        for sock in stalled:
            sock.close()


def test_zkpy_client_with_ssl_context(tls_server, pki):
    ctx = client_context(pki.ca, pki.alice)  # checks the server's name (localhost, 127.0.0.1) too
    zk = ZooKeeper(f"127.0.0.1:{tls_server.secure_port}", 4000, ssl_context=ctx)
    try:
        from zkpy.defs import CreateMode
        from zkpy.jute.records import OPEN_ACL_UNSAFE

        zk.create("/from-zkpy-client", b"tls", OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)
        assert zk.get_data("/from-zkpy-client")[0] == b"tls"
        assert sorted((c.authScheme, c.user) for c in zk.whoami()) == [("ip", "127.0.0.1"), ("x509", ALICE)]
    finally:
        zk.close()


def test_large_payloads_both_ways(tls_server, pki):
    """Nearly jute.maxbuffer each way: many TLS records, writes that must wait and be retried."""
    data = bytes(range(256)) * 3800  # 972800 bytes
    with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.alice) as alice:
        alice.create("/big", data)
        results = [alice.get_async("/big") for _ in range(4)]  # replies queue up behind each other
        assert all(r.get(timeout=20)[0] == data for r in results)
    zk = ZooKeeper(f"127.0.0.1:{tls_server.secure_port}", 4000, ssl_context=client_context(pki.ca, pki.alice))
    try:
        assert zk.get_data("/big")[0] == data
    finally:
        zk.close()


def test_tls_and_sasl_together(tls_server, pki):
    sasl = {"mechanism": "DIGEST-MD5", "username": "bob", "password": "bobsecret"}
    with kazoo_client(tls_server.secure_port, ca=pki.ca, cert=pki.alice, sasl_options=sasl) as both:
        assert sorted(kx.whoami(both)) == [("ip", "127.0.0.1"), ("sasl", "bob"), ("x509", ALICE)]


def test_secure_port_alone(pki, tmp_path):
    """No clientPort at all: the server serves TLS clients only."""
    secure_port = find_free_port()
    config = tls_config(pki, secure_port, clientPort=None, clientPortAddress=None)
    server = new_secure_server(config, java=ON_JAVA, temp_dir=tmp_path, start=False)
    try:
        server.start(wait=None)
        deadline = time.monotonic() + 30
        ctx = client_context(pki.ca, pki.alice)
        while True:
            try:
                if tls_four_letter_word(secure_port, ctx, "ruok") == "imok":
                    break
            except OSError:
                pass
            assert server.is_running and time.monotonic() < deadline, "the secure port never answered ruok"
            time.sleep(0.1)
        with kazoo_client(secure_port, ca=pki.ca, cert=pki.alice) as alice:
            alice.create("/only-tls", b"t")
            assert sorted(kx.whoami(alice)) == [("ip", "127.0.0.1"), ("x509", ALICE)]
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    finally:
        server.close()


# -- ssl.clientAuth=want, TLS 1.3 enabled -----------------------------------------------------------------

@pytest.fixture(scope="module")
def want_server(pki, tmp_path_factory):
    secure_port = find_free_port()
    # TLS 1.3 needs a TLS 1.3 suite named: Java 3.8.0's default suites have none.
    extra = {"ssl.clientAuth": "want", "ssl.enabledProtocols": "TLSv1.2,TLSv1.3",
             "ssl.ciphersuites": "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}
    server = new_secure_server(tls_config(pki, secure_port, **extra), java=ON_JAVA,
                               temp_dir=tmp_path_factory.mktemp("want_server"))
    server.secure_port = secure_port
    try:
        yield server
    finally:
        server.close()


def test_client_auth_want_makes_the_certificate_optional(want_server, pki):
    with kazoo_client(want_server.secure_port, ca=pki.ca) as anonymous:
        assert kx.whoami(anonymous) == [("ip", "127.0.0.1")]
    with kazoo_client(want_server.secure_port, ca=pki.ca, cert=pki.alice) as alice:
        assert sorted(kx.whoami(alice)) == [("ip", "127.0.0.1"), ("x509", ALICE)]
    # A certificate that is there must still be trusted.
    assert isinstance(tls_handshake(want_server.secure_port, client_context(pki.ca, pki.mallory)),
                      (ssl.SSLError, ConnectionError))


# -- configurations that do not start -------------------------------------------------------------------

@zkpy_only
@pytest.mark.parametrize("extra, message", [
    ({"ssl.keyStore.location": "/nonexistent/server.pem"}, "Failed to create KeyManager"),
    ({"ssl.keyStore.type": "JKS"}, "JKS stores are not supported by zkpy"),
    ({"ssl.clientAuth": "sometimes"}, "ssl.clientAuth"),
])
def test_bad_tls_settings_stop_the_server(pki, tmp_path, extra, message):
    server = TestingServer(config=tls_config(pki, find_free_port(), **extra), temp_dir=tmp_path, start_timeout=10)
    try:
        with pytest.raises(TestingServerError):
            server.start()
        # zkpy fails fast; Java 3.8 starts and fails each TLS connection (see zkpy.server.ssl_config).
        assert server.returncode == 1
        assert message in server.log_tail(5)
    finally:
        server.close()


def test_tls_1_3_when_enabled(want_server, pki):
    sock = tls_handshake(want_server.secure_port, client_context(pki.ca, pki.alice))
    assert isinstance(sock, ssl.SSLSocket), sock
    assert sock.version() == "TLSv1.3"
    sock.close()
    zk = ZooKeeper(f"127.0.0.1:{want_server.secure_port}", 4000, ssl_context=client_context(pki.ca, pki.alice))
    try:
        assert sorted((c.authScheme, c.user) for c in zk.whoami()) == [("ip", "127.0.0.1"), ("x509", ALICE)]
    finally:
        zk.close()
