"""Quorum SASL (zkpy.quorum.quorum_auth): the QuorumAuthPacket exchange over
real socket pairs, the JAAS sections and the zoo.cfg keys."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from zkpy.quorum.quorum_auth import (
    ERROR, IN_PROGRESS, QUORUM_AUTH_MAGIC_NUMBER, SUCCESS, NullQuorumAuthServer, SaslException,
    SaslQuorumAuthLearner, SaslQuorumAuthServer, create_quorum_auth,
)
from zkpy.sasl.digest_md5 import DigestMD5Client
from zkpy.server.config import ConfigException, ServerConfig, SystemProperties
from zkpy.server.sasl.jaas import JaasConfigError, SaslLogin, parse_jaas

JAAS = """
QuorumServer {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_test="test" user_other="secret";
};
QuorumLearner {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="test" password="test";
};
"""


def _login(text=JAAS) -> SaslLogin:
    return SaslLogin("QuorumServer", parse_jaas(text)["QuorumServer"])


class _Pair:
    """Two connected loopback TCP sockets with 5 s timeouts and a buffered reader on each."""

    def __init__(self):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.a = socket.create_connection(listener.getsockname())
            self.b, _ = listener.accept()
        for s in (self.a, self.b):
            s.settimeout(5)
        self.ra, self.rb = self.a.makefile("rb"), self.b.makefile("rb")

    def close(self):
        for f in (self.ra, self.rb, self.a, self.b):
            f.close()


@pytest.fixture
def pair():
    p = _Pair()
    yield p
    p.close()


def _serve(server, sock, reader, out):
    try:
        out["reader"] = server.authenticate(sock, reader)
    except SaslException as e:
        out["error"] = e


def _exchange(pair, server, learner):
    out = {}
    t = threading.Thread(target=_serve, args=(server, pair.b, pair.rb, out))
    t.start()
    try:
        learner.authenticate(pair.a, pair.ra, "peer")
    except SaslException as e:
        out["learner_error"] = e
        pair.a.shutdown(socket.SHUT_RDWR)  # as the learner closes its connection
    t.join(10)
    assert not t.is_alive()
    return out


def test_magic_number_is_javas_negated_hex_literal():
    # Java: -0xa0dbcafecafe1234L, whose hex literal is already negative.
    assert struct.pack(">q", QUORUM_AUTH_MAGIC_NUMBER).hex() == "5f2435013501edcc"


def test_a_learner_with_the_right_password_is_let_in_and_the_stream_goes_on(pair):
    server = SaslQuorumAuthServer(True, _login())
    out = _exchange(pair, server, SaslQuorumAuthLearner(True, "test", "test"))
    assert "error" not in out and "learner_error" not in out
    pair.a.sendall(b"after auth")  # the protocol that follows reads exactly its own bytes
    assert out["reader"].read(10) == b"after auth"


def test_the_learners_first_packet_is_in_progress_with_an_empty_token(pair):
    learner = SaslQuorumAuthLearner(True, "test", "test")
    t = threading.Thread(target=lambda: pytest.raises(SaslException, learner.authenticate, pair.a, pair.ra, "x"))
    t.start()
    first = pair.rb.read(16)
    pair.b.shutdown(socket.SHUT_RDWR)
    t.join(10)
    assert first == struct.pack(">qii", QUORUM_AUTH_MAGIC_NUMBER, IN_PROGRESS, 0)


def test_a_wrong_password_is_refused_on_both_sides(pair):
    server = SaslQuorumAuthServer(True, _login())
    out = _exchange(pair, server, SaslQuorumAuthLearner(True, "test", "wrong"))
    assert "Mismatched response" in str(out["error"])
    assert "Authentication failed" in str(out["learner_error"])


def test_an_unknown_user_is_refused(pair):
    out = _exchange(pair, SaslQuorumAuthServer(True, _login()), SaslQuorumAuthLearner(True, "nobody", "x"))
    assert "cannot acquire password" in str(out["error"])


def test_a_failed_login_is_let_through_when_the_server_does_not_require_sasl(pair, caplog):
    out = _exchange(pair, SaslQuorumAuthServer(False, _login()), SaslQuorumAuthLearner(True, "test", "wrong"))
    assert "error" not in out and "reader" in out
    assert "learner_error" in out  # the learner was told ERROR and gives up itself
    assert "Maintaining learner connection despite SASL authentication failure" in caplog.text


@pytest.mark.parametrize("required", [True, False])
def test_a_peer_that_does_not_authenticate(pair, caplog, required):
    out = {}
    t = threading.Thread(target=_serve, args=(SaslQuorumAuthServer(required, _login()), pair.b, pair.rb, out))
    t.start()
    header = b"\xff\xff\xff\xff\xff\xff\x00\x00 rest of a header"  # not a QuorumAuthPacket
    pair.a.sendall(header)
    t.join(10)
    if required:
        assert "Learner not trying to authenticate" in str(out["error"])
    else:
        assert out["reader"].read(len(header)) == header
        assert "did not authenticate" in caplog.text


def test_a_learner_that_does_not_require_sasl_sends_nothing(pair, caplog):
    caplog.set_level("INFO", logger="zkpy.quorum.quorum_auth")
    SaslQuorumAuthLearner(False, "test", "test").authenticate(pair.a, pair.ra, "x")
    pair.a.sendall(b"x")
    assert pair.rb.read(1) == b"x"
    assert "Skipping SASL authentication as quorum.auth.learnerRequireSasl=false" in caplog.text


def test_a_silent_peer_costs_the_server_at_most_the_socket_timeout(pair):
    pair.b.settimeout(0.3)
    out = {}
    _serve(SaslQuorumAuthServer(True, _login()), pair.b, pair.rb, out)
    assert "timed out" in str(out["error"])


def test_the_server_answers_error_to_a_bad_token(pair):
    out = {}
    t = threading.Thread(target=_serve, args=(SaslQuorumAuthServer(True, _login()), pair.b, pair.rb, out))
    t.start()
    pair.a.sendall(struct.pack(">qii", QUORUM_AUTH_MAGIC_NUMBER, IN_PROGRESS, 3) + b"abc")
    head = pair.ra.read(12)
    t.join(10)
    assert struct.unpack(">qi", head) == (QUORUM_AUTH_MAGIC_NUMBER, ERROR)
    assert "initial response" in str(out["error"])


def test_a_kerberos_style_name_must_name_an_ensemble_host(pair):
    jaas = JAAS.replace('user_other="secret"', 'user_zk/evil.example@R="pw"')
    server = SaslQuorumAuthServer(True, _login(jaas), authz_hosts={"127.0.0.1"})
    out = _exchange(pair, server, SaslQuorumAuthLearner(True, "zk/evil.example@R", "pw"))
    assert "not authorized" in str(out["error"])


def test_the_exchange_byte_by_byte(pair):
    """IN_PROGRESS(empty) -> IN_PROGRESS(challenge) -> IN_PROGRESS(response) -> SUCCESS(rspauth),
    DIGEST-MD5 with digest-uri zookeeper-quorum/zk-quorum-sasl-md5 and realm zk-quorum-sasl-md5."""
    out = {}
    t = threading.Thread(target=_serve, args=(SaslQuorumAuthServer(True, _login()), pair.b, pair.rb, out))
    t.start()

    def packet():
        magic, status, length = struct.unpack(">qii", pair.ra.read(16))
        assert magic == QUORUM_AUTH_MAGIC_NUMBER
        return status, pair.ra.read(length)

    client = DigestMD5Client("test", "test", protocol="zookeeper-quorum", server_name="zk-quorum-sasl-md5")
    pair.a.sendall(struct.pack(">qii", QUORUM_AUTH_MAGIC_NUMBER, IN_PROGRESS, 0))
    status, challenge = packet()
    assert status == IN_PROGRESS and b'realm="zk-quorum-sasl-md5"' in challenge
    response = client.evaluate_challenge(challenge)
    assert b'digest-uri="zookeeper-quorum/zk-quorum-sasl-md5"' in response
    pair.a.sendall(struct.pack(">qii", QUORUM_AUTH_MAGIC_NUMBER, IN_PROGRESS, len(response)) + response)
    status, rspauth = packet()
    assert status == SUCCESS and rspauth.startswith(b"rspauth=")
    client.evaluate_challenge(rspauth)  # raises unless the server proved it knows the password
    t.join(10)
    assert "reader" in out


# -- configuration --------------------------------------------------------------------------------

def _config(tmp_path, jaas=JAAS, **entries):
    jaas_file = tmp_path / "jaas.conf"
    jaas_file.write_text(jaas)
    props = SystemProperties({"java.security.auth.login.config": str(jaas_file)})
    raw = {"dataDir": str(tmp_path / "data"), "tickTime": "2000"}
    raw.update(entries)
    return ServerConfig.from_properties(raw, system_properties=props)


def test_no_sasl_by_default(tmp_path):
    server, _learner = create_quorum_auth(_config(tmp_path))
    assert isinstance(server, NullQuorumAuthServer)


@pytest.mark.parametrize("size, effective", [("2", 20), ("20", 20), ("32", 32)])
def test_quorum_cnxn_threads_size_is_20_at_least(tmp_path, size, effective):
    # Java 3.8's QuorumPeer.setQuorumCnxnThreadsSize keeps its default unless given more.
    assert _config(tmp_path, **{"quorum.cnxn.threads.size": size}).quorum_cnxn_threads_size == effective


def test_sasl_from_the_jaas_sections(tmp_path):
    cfg = _config(tmp_path, **{"quorum.auth.enableSasl": "true", "quorum.auth.learnerRequireSasl": "true"})
    server, learner = create_quorum_auth(cfg)
    assert (server.require_sasl, learner.require_sasl, learner.username) == (False, True, "test")
    assert server.login.credentials == {"test": "test", "other": "secret"}


def test_a_missing_section_stops_the_peer(tmp_path):
    cfg = _config(tmp_path, **{"quorum.auth.enableSasl": "true", "quorum.auth.learner.saslLoginContext": "Nope"})
    with pytest.raises(JaasConfigError, match="section 'Nope' could not be found"):
        create_quorum_auth(cfg)


def test_kerberos_is_refused(tmp_path):
    jaas = JAAS.replace("org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_test",
                        "com.sun.security.auth.module.Krb5LoginModule required\n    user_test")
    with pytest.raises(JaasConfigError, match="Kerberos"):
        create_quorum_auth(_config(tmp_path, jaas, **{"quorum.auth.enableSasl": "true"}))


@pytest.mark.parametrize("entries, message", [
    ({"quorum.auth.serverRequireSasl": "true"}, "quorum.auth.enableSasl is disabled, so cannot enable "
                                                "quorum.auth.serverRequireSasl"),
    ({"quorum.auth.learnerRequireSasl": "true"}, "quorum.auth.enableSasl is disabled, so cannot enable "
                                                 "quorum.auth.learnerRequireSasl"),
    ({"quorum.auth.enableSasl": "true", "quorum.auth.serverRequireSasl": "true"},
     "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"),
    ({"quorum.auth.enableSasl": "yes"}, "Invalid option yes for quorum.auth.enableSasl"),
    ({"quorum.cnxn.threads.size": "many"}, "quorum.cnxn.threads.size"),
])
def test_bad_quorum_auth_settings(tmp_path, entries, message):
    with pytest.raises(ConfigException, match=message):
        _config(tmp_path, **entries)
