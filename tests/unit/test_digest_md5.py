"""The DIGEST-MD5 server (RFC 2831) that SASL on the client port uses.

RFC 2831's own example (section 4) replays byte for byte; pure-sasl (the
library kazoo uses) completes an exchange with it; and every way a
digest-response can be wrong ends the exchange with a SaslException.
"""

from __future__ import annotations

import hashlib

import pytest

from zkpy.server.sasl.digest_md5 import DigestMD5Server, SaslException, parse_directives, quote, response_value

# RFC 2831 section 4: "chris" / "secret" at elwood.innosoft.com, IMAP.
RFC_NONCE = "OA6MG9tEQGm2hh"
RFC_RESPONSE = (b'charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",'
                b'nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",'
                b'response=d388dad90d4bbd760a152321f2143af7,qop=auth')


def rfc_server(passwords=None) -> DigestMD5Server:
    passwords = {"chris": "secret"} if passwords is None else passwords
    return DigestMD5Server(passwords.get, protocol="imap", server_name="elwood.innosoft.com",
                           nonce_factory=lambda: RFC_NONCE)


def test_rfc2831_example_authenticates_and_proves_the_server():
    server = rfc_server()
    challenge = dict(parse_directives(server.evaluate_response(b"")))
    assert challenge == {"realm": "elwood.innosoft.com", "nonce": RFC_NONCE, "charset": "utf-8",
                         "algorithm": "md5-sess"}  # as Java's: no qop, i.e. "auth"
    assert not server.is_complete()
    assert server.evaluate_response(RFC_RESPONSE) == b"rspauth=ea40f60335c427b5527b84dbabcdfffd"
    assert server.is_complete()
    assert server.authorization_id == "chris"


def test_response_value_matches_the_rfc_by_hand():
    # The formula written out once more, independently of the module.
    def h(b):
        return hashlib.md5(b).digest()

    def hx(b):
        return hashlib.md5(b).hexdigest().encode()

    a1 = h(b"chris:elwood.innosoft.com:secret") + b":OA6MG9tEQGm2hh:OA6MHXh6VqTrRk"
    a2 = b"AUTHENTICATE:imap/elwood.innosoft.com"
    expected = hx(hx(a1) + b":OA6MG9tEQGm2hh:00000001:OA6MHXh6VqTrRk:auth:" + hx(a2)).decode()
    assert expected == "d388dad90d4bbd760a152321f2143af7"
    assert response_value(username="chris", realm="elwood.innosoft.com", password="secret", nonce=RFC_NONCE,
                          cnonce="OA6MHXh6VqTrRk", nc="00000001", qop="auth",
                          digest_uri="imap/elwood.innosoft.com") == expected


def test_pure_sasl_client_completes_against_the_server():
    puresasl_client = pytest.importorskip("puresasl.client", reason="pure-sasl is in the test extra")
    server = DigestMD5Server({"bob": "bobsecret"}.get)
    client = puresasl_client.SASLClient("zk-sasl-md5", service="zookeeper", mechanism="DIGEST-MD5",
                                        username="bob", password="bobsecret")
    first = client.process(None) or b""
    assert first == b""  # DIGEST-MD5 has no initial response
    response = client.process(server.evaluate_response(first))
    final = server.evaluate_response(response)
    assert final.startswith(b"rspauth=")
    client.process(final)  # raises if the server's proof is wrong
    assert client.complete and server.is_complete()
    assert server.authorization_id == "bob"


def _rfc_response_with(**changes) -> bytes:
    fields = dict(parse_directives(RFC_RESPONSE))
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return ",".join(f"{k}={quote(v)}" for k, v in fields.items()).encode()


@pytest.mark.parametrize("changes, message", [
    ({"response": "d388dad90d4bbd760a152321f2143af8"}, "Mismatched response"),
    ({"nonce": "somethingelse"}, "nonce does not match"),
    ({"nc": "00000002"}, "nonce-count"),
    ({"qop": "auth-int"}, "qop"),
    ({"realm": "evil.example.com"}, "realm"),
    ({"digest_uri": "imap/other.host"}, "digest-uri"),
    ({"digest_uri": "ldap/elwood.innosoft.com"}, "digest-uri"),
    ({"charset": "iso-8859-1"}, "charset"),
    ({"cnonce": None}, "no cnonce"),
    ({"username": None}, "no username"),
    ({"response": None}, "no response"),
])
def test_a_wrong_digest_response_fails(changes, message):
    server = rfc_server()
    server.evaluate_response(b"")
    with pytest.raises(SaslException, match=message):
        server.evaluate_response(_rfc_response_with(**changes))
    assert not server.is_complete() and server.authorization_id is None
    with pytest.raises(SaslException):  # one try only
        server.evaluate_response(RFC_RESPONSE)


def test_wrong_password_and_unknown_user_fail():
    server = rfc_server({"chris": "not-secret"})
    server.evaluate_response(b"")
    with pytest.raises(SaslException, match="Mismatched response"):
        server.evaluate_response(RFC_RESPONSE)
    server = rfc_server({})
    server.evaluate_response(b"")
    with pytest.raises(SaslException, match="cannot acquire password for chris"):
        server.evaluate_response(RFC_RESPONSE)


def test_protocol_order_is_enforced():
    server = rfc_server()
    with pytest.raises(SaslException, match="initial response"):
        server.evaluate_response(b"username=chris")
    server = rfc_server()
    server.evaluate_response(b"")
    server.evaluate_response(RFC_RESPONSE)
    with pytest.raises(SaslException, match="already complete"):
        server.evaluate_response(b"")


def test_duplicate_directive_is_refused():
    server = rfc_server()
    server.evaluate_response(b"")
    with pytest.raises(SaslException, match="more than once"):
        server.evaluate_response(RFC_RESPONSE + b',username="chris"')


def test_authzid_does_not_change_the_authorization_id():
    """ZooKeeper's callback handler authorizes the authenticated name, whatever authzid asks for."""
    server = rfc_server()
    server.evaluate_response(b"")
    args = dict(username="chris", realm="elwood.innosoft.com", password="secret", nonce=RFC_NONCE,
                cnonce="c1", nc="00000001", qop="auth", digest_uri="imap/elwood.innosoft.com", authzid="root")
    token = (f'charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="{RFC_NONCE}",nc=00000001,'
             f'cnonce="c1",digest-uri="imap/elwood.innosoft.com",authzid="root",qop=auth,'
             f'response={response_value(**args)}').encode()
    assert server.evaluate_response(token) == f"rspauth={response_value(**args, for_server=True)}".encode()
    assert server.authorization_id == "chris"


def test_utf8_user_name_and_password():
    """charset=utf-8: names that fit ISO 8859-1 are hashed as such, others as UTF-8 (RFC 2831 2.1.2.1)."""
    for user, password in (("jörg", "pässword"), ("user-名前", "пароль")):
        server = DigestMD5Server({user: password}.get, nonce_factory=lambda: "n1")
        server.evaluate_response(b"")
        args = dict(username=user, realm="zk-sasl-md5", password=password, nonce="n1", cnonce="c1",
                    nc="00000001", qop="auth", digest_uri="zookeeper/zk-sasl-md5")
        token = (f'charset=utf-8,username={quote(user)},realm="zk-sasl-md5",nonce="n1",nc=00000001,cnonce="c1",'
                 f'digest-uri="zookeeper/zk-sasl-md5",qop=auth,response={response_value(**args)}').encode("utf-8")
        assert server.evaluate_response(token).startswith(b"rspauth=")
        assert server.authorization_id == user
    latin = hashlib.md5("jörg:zk-sasl-md5:pässword".encode("latin-1")).digest()
    assert response_value(username="jörg", realm="zk-sasl-md5", password="pässword", nonce="n", cnonce="c",
                          nc="00000001", qop="auth", digest_uri="d") == hashlib.md5(
        hashlib.md5(latin + b":n:c").hexdigest().encode() + b":n:00000001:c:auth:"
        + hashlib.md5(b"AUTHENTICATE:d").hexdigest().encode()).hexdigest()


@pytest.mark.parametrize("token, expected", [
    (b'a=1,b="two"', [("a", "1"), ("b", "two")]),
    (b' A = 1 , , b = "x\\"y\\\\z" ,', [("a", "1"), ("b", 'x"y\\z')]),
    (b'realm="a,b",qop="auth,auth-int"', [("realm", "a,b"), ("qop", "auth,auth-int")]),
    (b"", []),
])
def test_parse_directives(token, expected):
    assert parse_directives(token) == expected


@pytest.mark.parametrize("token", [b"novalue", b'a="unterminated', b"a=1 b=2", b"=1"])
def test_parse_directives_rejects_malformed_tokens(token):
    with pytest.raises(SaslException):
        parse_directives(token)


def test_nonces_are_fresh():
    a, b = DigestMD5Server({}.get), DigestMD5Server({}.get)
    assert dict(parse_directives(a.evaluate_response(b"")))["nonce"] != \
        dict(parse_directives(b.evaluate_response(b"")))["nonce"]
