"""The client's security parts without sockets: the DIGEST-MD5 client
(RFC 2831), the per-connection SASL state machine, and ZKClientConfig
(properties, -D flags, the JAAS Client section, the TLS context).
"""

from __future__ import annotations

import ssl

import pytest

from zkpy.client.zk_client_config import ClientConfigError, ZKClientConfig
from zkpy.client.zookeeper_sasl_client import SaslCredentials, SaslState, ZooKeeperSaslClient, sasl_credentials
from zkpy.errors import Code
from zkpy.sasl.digest_md5 import DigestMD5Client, SaslException, parse_directives
from zkpy.server.sasl.digest_md5 import DigestMD5Server

# RFC 2831 section 4: "chris" / "secret" at elwood.innosoft.com, IMAP.
RFC_CHALLENGE = b'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8'
RFC_CNONCE = "OA6MHXh6VqTrRk"


def rfc_client(password: str = "secret") -> DigestMD5Client:
    return DigestMD5Client("chris", password, protocol="imap", server_name="elwood.innosoft.com",
                           cnonce_factory=lambda: RFC_CNONCE)


def test_rfc2831_example_replays_on_the_client_side():
    client = rfc_client()
    assert not client.has_initial_response()
    response = dict(parse_directives(client.evaluate_challenge(RFC_CHALLENGE)))
    assert response["response"] == "d388dad90d4bbd760a152321f2143af7"  # the RFC's value
    assert (response["username"], response["realm"], response["nonce"], response["cnonce"], response["nc"],
            response["digest-uri"], response["qop"], response["charset"]) == (
        "chris", "elwood.innosoft.com", "OA6MG9tEQGm2hh", RFC_CNONCE, "00000001", "imap/elwood.innosoft.com",
        "auth", "utf-8")
    assert not client.is_complete()
    assert client.evaluate_challenge(b"rspauth=ea40f60335c427b5527b84dbabcdfffd") == b""
    assert client.is_complete()


def test_a_wrong_rspauth_means_the_server_does_not_know_the_password():
    client = rfc_client()
    client.evaluate_challenge(RFC_CHALLENGE)
    with pytest.raises(SaslException, match="rspauth"):
        client.evaluate_challenge(b"rspauth=00000000000000000000000000000000")
    client = rfc_client()
    client.evaluate_challenge(RFC_CHALLENGE)
    with pytest.raises(SaslException, match="Expecting 'rspauth'"):
        client.evaluate_challenge(None)  # an error reply carries no token


@pytest.mark.parametrize("user, password", [("bob", "bobsecret"), ("ünï", "pässwörd"), ('q"uo\\te', 'p"w')])
def test_client_and_server_complete_each_other(user, password):
    server = DigestMD5Server({user: password}.get)
    client = DigestMD5Client(user, password)
    response = client.evaluate_challenge(server.evaluate_response(b""))
    client.evaluate_challenge(server.evaluate_response(response))
    assert client.is_complete() and server.is_complete() and server.authorization_id == user


def test_the_server_refuses_a_wrong_password():
    server = DigestMD5Server({"bob": "bobsecret"}.get)
    client = DigestMD5Client("bob", "nope")
    response = client.evaluate_challenge(server.evaluate_response(b""))
    with pytest.raises(SaslException, match="Mismatched response"):
        server.evaluate_response(response)


@pytest.mark.parametrize("challenge, message", [
    (b"", "no digest-challenge"),
    (b'realm="r",algorithm=md5-sess', "no nonce"),
    (b'nonce="n"', "md5-sess"),
    (b'nonce="n",algorithm=md5-sess,qop="auth-conf"', "not auth"),
    (b'nonce="n",nonce="m",algorithm=md5-sess', "more than once"),
    (b'nonce="n",algorithm=md5-sess,charset=latin1', "charset"),
])
def test_challenges_the_client_refuses(challenge, message):
    with pytest.raises(SaslException, match=message):
        DigestMD5Client("bob", "pw").evaluate_challenge(challenge)


def test_zookeeper_sasl_client_states():
    server = DigestMD5Server({"bob": "bobsecret"}.get)
    sasl = ZooKeeperSaslClient(SaslCredentials("bob", "bobsecret"))
    assert sasl.state is SaslState.INITIAL and sasl.in_progress
    token = sasl.initial_token()
    assert token == b"" and sasl.state is SaslState.INTERMEDIATE
    token = sasl.respond_to_server(0, server.evaluate_response(token))
    assert token and sasl.in_progress
    assert sasl.respond_to_server(0, server.evaluate_response(token)) is None
    assert sasl.state is SaslState.COMPLETE and not sasl.in_progress

    failed = ZooKeeperSaslClient(SaslCredentials("bob", "x"))
    failed.initial_token()
    assert failed.respond_to_server(int(Code.AUTHFAILED), None) is None
    assert failed.state is SaslState.FAILED and "-115" in failed.failure


def test_sasl_argument_forms():
    assert sasl_credentials(("DIGEST-MD5", "bob", "pw")) == SaslCredentials("bob", "pw")
    assert sasl_credentials(None) is None
    with pytest.raises(ValueError, match="DIGEST-MD5 only"):
        sasl_credentials(("GSSAPI", "bob", "pw"))
    with pytest.raises(TypeError):
        sasl_credentials(("bob", "pw"))
    assert "pw" not in repr(SaslCredentials("bob", "pw"))


# -- ZKClientConfig ----------------------------------------------------------------------------------------

JAAS = """
// zkCli's login
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="bob"
    password="${bob.password}";
};
Other {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="alice"
    password="alicesecret";
};
Kerberos {
    com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;
};
"""


def test_flags_then_file_as_zkcli_sh_passes_them(tmp_path):
    props = tmp_path / "client.properties"
    props.write_text("zookeeper.client.secure = true \nzookeeper.sasl.clientconfig=Other\n")
    env = {"CLIENT_JVMFLAGS": "-Dzookeeper.sasl.clientconfig=Client -Da=client -Xmx1g",
           "JVMFLAGS": "-Da=jvm -Dzookeeper.client.secure=false"}
    cfg = ZKClientConfig.from_environ(props, env)
    assert cfg.get("a") == "jvm"  # $JVMFLAGS comes after $CLIENT_JVMFLAGS
    assert cfg.is_secure() and cfg.get("zookeeper.sasl.clientconfig") == "Other"  # the file wins, trimmed
    assert not ZKClientConfig.from_environ(None, env).is_secure()
    with pytest.raises(ClientConfigError, match="file is missing"):
        ZKClientConfig(tmp_path / "nope.properties")


def test_jaas_client_section(tmp_path):
    jaas = tmp_path / "jaas.conf"
    jaas.write_text(JAAS)
    base = {"java.security.auth.login.config": str(jaas), "bob.password": "bobsecret"}
    assert ZKClientConfig(None, base).sasl_credentials() == SaslCredentials("bob", "bobsecret")
    other = ZKClientConfig(None, {**base, "zookeeper.sasl.clientconfig": "Other",
                                  "zookeeper.sasl.client.username": "zk"}).sasl_credentials()
    assert (other.username, other.protocol) == ("alice", "zk")
    assert ZKClientConfig(None, {**base, "zookeeper.sasl.client": "false"}).sasl_credentials() is None
    assert ZKClientConfig(None, {}).sasl_credentials() is None
    with pytest.raises(ClientConfigError, match="No JAAS configuration section named 'Missing'"):
        ZKClientConfig(None, {**base, "zookeeper.sasl.clientconfig": "Missing"}).sasl_credentials()
    with pytest.raises(ClientConfigError, match="DIGEST-MD5 only"):
        ZKClientConfig(None, {**base, "zookeeper.sasl.clientconfig": "Kerberos"}).sasl_credentials()
    with pytest.raises(ClientConfigError, match="cannot authenticate"):
        ZKClientConfig(None, {"java.security.auth.login.config": str(tmp_path / "none")}).sasl_credentials()
    # A JAAS file without the default section: no SASL, as in Java.
    (tmp_path / "server-only.conf").write_text("Server { org.apache.zookeeper.server.auth.DigestLoginModule "
                                               "required user_bob=\"x\"; };")
    assert ZKClientConfig(None, {"java.security.auth.login.config": str(tmp_path / "server-only.conf")}
                          ).sasl_credentials() is None


def test_tls_context_from_properties(tmp_path):
    from zkpy.testing_tls import make_tls_files, openssl_problem

    assert ZKClientConfig(None, {}).ssl_context() is None
    if openssl_problem():
        pytest.skip(openssl_problem())
    files = make_tls_files(tmp_path / "tls")
    ctx = ZKClientConfig(None, {
        "zookeeper.client.secure": "true",
        "zookeeper.ssl.keyStore.location": files.client_keystore, "zookeeper.ssl.keyStore.type": "PEM",
        "zookeeper.ssl.trustStore.location": files.ca_file, "zookeeper.ssl.trustStore.type": "PEM",
    }).ssl_context()
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_2  # Java 3.8.0's default: TLSv1.2
    assert len(ctx.get_ca_certs()) == 1
    no_check = ZKClientConfig(None, {"zookeeper.client.secure": "true", "zookeeper.ssl.hostnameVerification":
                                     "false", "zookeeper.ssl.trustStore.location": files.ca_file}).ssl_context()
    assert not no_check.check_hostname
    with pytest.raises(ClientConfigError, match="only PEM"):
        ZKClientConfig(None, {"zookeeper.client.secure": "true",
                              "zookeeper.ssl.trustStore.location": "/etc/ca.jks"}).ssl_context()
