"""zkpy's client with SASL DIGEST-MD5 (``ZooKeeper(..., sasl=...)``, ``client_config=``).

Against real servers (zkpy; Java 3.8.0 with ``ZKPY_IT_TARGET=java``, and
tests/interop/test_client_sasl_java.py runs the core of it against Java
always): the exchange gives the session the id ``sasl:<user>`` and runs
before anything else of the connection (a request queued before connecting
already sees the id; an enforcing server accepts it), again after every
reconnect, and a failure ends the client with AuthFailed, as Java's client.
"""

from __future__ import annotations

import threading

import pytest

from zkpy.client import ACL, Id, KeeperState, Perms, SaslCredentials, States, ZKClientConfig, ZooKeeper
from zkpy.errors import AuthFailedException, NoAuthException
from zkpy.testing import wait_until

from .security import SASL_PROVIDER, new_secure_server, write_jaas
from .servers import ON_JAVA

USERS = {"bob": "bobsecret", "alice": "alicesecret", "ünï": "pässwörd"}


class Events:
    """A default watcher that records the session states it is told."""

    def __init__(self):
        self.states: list[KeeperState] = []
        self._cond = threading.Condition()

    def __call__(self, event) -> None:
        if event.path is None:
            with self._cond:
                self.states.append(event.state)
                self._cond.notify_all()

    def wait_for(self, state: KeeperState, count: int = 1, timeout: float = 10.0) -> list:
        with self._cond:
            assert self._cond.wait_for(lambda: self.states.count(state) >= count, timeout), self.states
            return list(self.states)


@pytest.fixture(scope="module")
def sasl_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client_sasl")
    jaas = write_jaas(tmp / "jaas.conf", USERS)
    server = new_secure_server({"authProvider.1": SASL_PROVIDER}, java=ON_JAVA, temp_dir=tmp / "server",
                               jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    try:
        yield server
    finally:
        server.close()


def client(server, user=None, password=None, *, events=None, **kwargs) -> ZooKeeper:
    sasl = ("DIGEST-MD5", user, USERS[user] if password is None else password) if user else None
    return ZooKeeper(server.connect_string, 4000, events, sasl=sasl, **kwargs)


def test_login_gives_the_sasl_id_and_a_sasl_authenticated_event(sasl_server):
    events = Events()
    with client(sasl_server, "bob", events=events) as zk:
        assert sorted((i.authScheme, i.user) for i in zk.whoami()) == [("ip", "127.0.0.1"), ("sasl", "bob")]
        assert events.wait_for(KeeperState.SaslAuthenticated) == [KeeperState.SyncConnected,
                                                                   KeeperState.SaslAuthenticated]
        zk.create("/bob-only", b"b", [ACL(Perms.ALL, Id("sasl", "bob"))])
    with client(sasl_server, "alice") as alice:
        with pytest.raises(NoAuthException):
            alice.get_data("/bob-only")
    # A non-ASCII user name and password (charset=utf-8), as a SaslCredentials.
    with ZooKeeper(sasl_server.connect_string, 4000, sasl=SaslCredentials("ünï", USERS["ünï"])) as zk:
        assert ("sasl", "ünï") in [(i.authScheme, i.user) for i in zk.whoami()]


def test_requests_queued_before_connecting_wait_for_the_exchange(sasl_server):
    zk = client(sasl_server, "bob")
    try:
        # Queued at once: an "auth" ACL needs an authenticated id when the create arrives.
        created = zk.create_async("/queued-early", b"q", [ACL(Perms.ALL, Id("auth", ""))])
        assert created.result(10) == "/queued-early"
        acl, _ = zk.get_acl("/queued-early")
        assert [(a.id.scheme, a.id.id) for a in acl] == [("sasl", "bob")]
    finally:
        zk.close()


@pytest.mark.parametrize("user, password", [("bob", "wrong"), ("mallory", "nope")])
def test_a_failed_login_ends_the_client_with_auth_failed(sasl_server, user, password):
    events = Events()
    zk = ZooKeeper(sasl_server.connect_string, 4000, events, sasl=("DIGEST-MD5", user, password))
    try:
        with pytest.raises(AuthFailedException):
            zk.get_data("/")
        assert zk.get_state() is States.AUTH_FAILED
        assert events.wait_for(KeeperState.Closed) == [KeeperState.SyncConnected, KeeperState.AuthFailed,
                                                        KeeperState.Closed]
        with pytest.raises(AuthFailedException):
            zk.exists("/")
    finally:
        zk.close()


def test_a_reconnect_authenticates_again_before_the_credentials_and_requests(sasl_server):
    events = Events()
    with client(sasl_server, "bob", events=events) as zk:
        zk.create("/reauth", b"r", [ACL(Perms.ALL, Id("sasl", "bob"))])
        zk.add_auth_info("digest", b"carol:pw")
        session = zk.get_session_id()
        sasl_server.restart()  # the session outlives the server (it is in the log), the connection does not
        events.wait_for(KeeperState.SaslAuthenticated, count=2, timeout=20)
        assert zk.get_session_id() == session
        assert zk.get_data("/reauth")[0] == b"r"
        ids = sorted((i.authScheme, i.user) for i in zk.whoami())
        assert ids == [("digest", "carol"), ("ip", "127.0.0.1"), ("sasl", "bob")]
        states = events.states
        assert states[:2] == [KeeperState.SyncConnected, KeeperState.SaslAuthenticated]
        assert states[2:] == [KeeperState.Disconnected, KeeperState.SyncConnected, KeeperState.SaslAuthenticated]


def test_a_server_without_sasl_fails_the_login(tmp_path):
    """Java's client too ends with AuthFailed there: the empty answer is no digest-challenge."""
    server = new_secure_server({}, java=ON_JAVA, temp_dir=tmp_path / "server")
    try:
        zk = client(server, "bob")
        try:
            wait_until(lambda: zk.get_state() is States.AUTH_FAILED, 10, "AUTH_FAILED")
        finally:
            zk.close()
    finally:
        server.close()


def test_an_enforcing_server_accepts_the_client(tmp_path):
    jaas = write_jaas(tmp_path / "jaas.conf", USERS)
    server = new_secure_server({"authProvider.1": SASL_PROVIDER, "sessionRequireClientSASLAuth": "true"},
                               java=ON_JAVA, temp_dir=tmp_path / "server",
                               jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    try:
        with client(server, "bob") as zk:  # the first request goes out right after the exchange
            assert zk.exists("/") is not None
            zk.create("/enforced", b"e")
        events = Events()
        plain = client(server, events=events)
        try:  # no SASL: the server closes the connection at the first request
            with pytest.raises(Exception):
                plain.exists("/")
        finally:
            plain.close()
    finally:
        server.close()


def test_client_config_from_a_properties_file_and_jaas(sasl_server, tmp_path):
    jaas = tmp_path / "client_jaas.conf"
    jaas.write_text('Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                    '  username="alice"\n  password="alicesecret";\n};\n')
    props = tmp_path / "client.properties"
    props.write_text("zookeeper.sasl.client=true\nzookeeper.sasl.clientconfig=Client\n")
    cfg = ZKClientConfig(props, {"java.security.auth.login.config": str(jaas)})
    with ZooKeeper(sasl_server.connect_string, 4000, client_config=cfg) as zk:
        assert ("sasl", "alice") in [(i.authScheme, i.user) for i in zk.whoami()]
    props.write_text("zookeeper.sasl.client=false\n")  # the file overrides: no SASL
    cfg = ZKClientConfig(props, {"java.security.auth.login.config": str(jaas)})
    with ZooKeeper(sasl_server.connect_string, 4000, client_config=cfg) as zk:
        assert [i.authScheme for i in zk.whoami()] == ["ip"]
