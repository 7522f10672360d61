"""zkpy's client against Java ZooKeeper 3.8.0 with SASL DIGEST-MD5 (and TLS).

The Java server reads a JAAS ``Server`` section (as in
test_security_java.py); zkpy's client authenticates with
``sasl=("DIGEST-MD5", user, password)``. Java's DIGEST-MD5 server is the
JDK's, so this checks zkpy's client side of RFC 2831 against an
independent implementation: the id it gets, the order (a request queued
before connecting already has it), AuthFailed on a wrong password, a new
exchange after the server restarts, and SASL over TLS with a client
certificate (two ids).
"""

from __future__ import annotations

import pytest

from tests.integration.security import (
    SASL_PROVIDER, X509_PROVIDER, TestPKI, client_context, new_secure_server, openssl_problem, write_jaas,
)
from tests.integration.test_client_sasl import USERS, Events
from tests.interop.java_zk import JavaZooKeeperServer
from zkpy.client import ACL, Id, KeeperState, Perms, States, ZooKeeper
from zkpy.errors import AuthFailedException
from zkpy.testing import find_free_port

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not JavaZooKeeperServer.available()[0], reason=JavaZooKeeperServer.available()[1]),
]


@pytest.fixture(scope="module")
def java_sasl_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("java_sasl")
    jaas = write_jaas(tmp / "jaas.conf", USERS)
    server = new_secure_server({"authProvider.1": SASL_PROVIDER}, java=True, temp_dir=tmp / "server",
                               jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    try:
        yield server
    finally:
        server.close()


def ids(zk: ZooKeeper) -> list[tuple[str, str]]:
    return sorted((i.authScheme, i.user) for i in zk.whoami())


def test_login_against_java(java_sasl_server):
    events = Events()
    zk = ZooKeeper(java_sasl_server.connect_string, 4000, events, sasl=("DIGEST-MD5", "bob", USERS["bob"]))
    try:
        created = zk.create_async("/java-queued", b"q", [ACL(Perms.ALL, Id("auth", ""))])  # before connecting
        assert created.result(10) == "/java-queued"
        assert [(a.id.scheme, a.id.id) for a in zk.get_acl("/java-queued")[0]] == [("sasl", "bob")]
        assert ids(zk) == [("ip", "127.0.0.1"), ("sasl", "bob")]
        assert events.wait_for(KeeperState.SaslAuthenticated)[:2] == [KeeperState.SyncConnected,
                                                                       KeeperState.SaslAuthenticated]
    finally:
        zk.close()
    # charset=utf-8: a user name and password outside ASCII.
    with ZooKeeper(java_sasl_server.connect_string, 4000, sasl=("DIGEST-MD5", "ünï", USERS["ünï"])) as zk:
        assert ("sasl", "ünï") in ids(zk)


def test_wrong_password_against_java(java_sasl_server):
    events = Events()
    zk = ZooKeeper(java_sasl_server.connect_string, 4000, events, sasl=("DIGEST-MD5", "bob", "wrong"))
    try:
        with pytest.raises(AuthFailedException):
            zk.get_data("/")
        assert zk.get_state() is States.AUTH_FAILED
        assert KeeperState.AuthFailed in events.wait_for(KeeperState.Closed)
    finally:
        zk.close()


def test_reauthentication_after_a_java_restart(java_sasl_server):
    events = Events()
    with ZooKeeper(java_sasl_server.connect_string, 10000, events, sasl=("DIGEST-MD5", "alice", USERS["alice"])) \
            as zk:
        zk.create("/java-alice", b"a", [ACL(Perms.ALL, Id("sasl", "alice"))])
        events.wait_for(KeeperState.SaslAuthenticated)
        java_sasl_server.restart()
        events.wait_for(KeeperState.SaslAuthenticated, count=2, timeout=30)
        assert zk.get_data("/java-alice")[0] == b"a"
        assert ids(zk) == [("ip", "127.0.0.1"), ("sasl", "alice")]


@pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")
def test_sasl_over_tls_against_java(tmp_path):
    pki = TestPKI(tmp_path / "pki")
    server_cert = pki.issue("server", "/CN=localhost")
    alice = pki.issue("alice", "/O=zkpy/CN=alice")
    jaas = write_jaas(tmp_path / "jaas.conf", USERS)
    secure_port = find_free_port()
    server = new_secure_server({
        "secureClientPort": secure_port, "secureClientPortAddress": "127.0.0.1",
        "ssl.keyStore.location": server_cert.keystore, "ssl.keyStore.type": "PEM",
        "ssl.trustStore.location": pki.ca.cert, "ssl.trustStore.type": "PEM",
        "authProvider.x509": X509_PROVIDER, "authProvider.1": SASL_PROVIDER,
    }, java=True, temp_dir=tmp_path / "server", jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    try:
        with ZooKeeper(f"127.0.0.1:{secure_port}", 4000, ssl_context=client_context(pki.ca, alice),
                       sasl=("DIGEST-MD5", "bob", USERS["bob"])) as zk:
            assert ids(zk) == [("ip", "127.0.0.1"), ("sasl", "bob"), ("x509", "CN=alice,O=zkpy")]
    finally:
        server.close()
