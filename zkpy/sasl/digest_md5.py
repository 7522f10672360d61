"""SASL DIGEST-MD5 (RFC 2831): the shared primitives and the client side.

Java: the JDK's ``com.sun.security.sasl.digest.DigestMD5Base`` (directive
parsing, the response digest) and ``DigestMD5Client`` as ZooKeeper's client
creates it (``Sasl.createSaslClient({"DIGEST-MD5"}, user, "zookeeper",
"zk-sasl-md5", ...)`` in ``ZooKeeperSaslClient``). The server side, which
imports the primitives from here, is :mod:`zkpy.server.sasl.digest_md5`.
Pure: no sockets, no clock; the cnonce source can be injected, so RFC 2831's
own example (section 4) replays byte for byte.

The client's part of the exchange (RFC 2831 section 2):

1. no initial response: the client sends an empty token first;
2. the server's digest-challenge (realm, nonce, ``algorithm=md5-sess``,
   perhaps ``qop`` and ``charset=utf-8``) is answered with a
   digest-response proving the password;
3. the server's ``rspauth=...`` is checked (the server proves it knows the
   password too); then :meth:`DigestMD5Client.is_complete` is True.

What zkpy does differently, on purpose: only ``qop=auth`` (authentication,
no integrity or confidentiality layer: ZooKeeper never asks for one); no
``authzid`` is sent (ZooKeeper's server uses the user name as the id in any
case); the first realm offered is used (the JDK asks a callback, which
ZooKeeper's answers with the first one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Optional

__all__ = ["SaslException", "DigestMD5Client", "parse_directives", "quote", "response_value", "random_nonce", "as_utf8",
           "DEFAULT_PROTOCOL", "DEFAULT_SERVER_NAME"]

#: ZooKeeper's service name and the fixed "host" of its DIGEST-MD5 server
#: (``SecurityUtils``): clients use ``digest-uri="zookeeper/zk-sasl-md5"``.
DEFAULT_PROTOCOL = "zookeeper"
DEFAULT_SERVER_NAME = "zk-sasl-md5"
#: RFC 2831 2.1.1: a digest-challenge is at most 2048 bytes.
MAX_CHALLENGE = 2048


class SaslException(Exception):
    """The exchange failed (Java: ``javax.security.sasl.SaslException``)."""


def parse_directives(token: bytes) -> list[tuple[str, str]]:
    """Split ``name=value, name="quoted \\"value\\""`` into (name, value) pairs.

    Names are lower-cased (they are case-insensitive); values keep their
    case, with quotes and backslash escapes removed. Empty list elements
    (``a=1,,b=2``) are allowed, as RFC 2831's ``#rule`` says. The bytes are
    read as ISO 8859-1 (one character per byte; see :func:`as_utf8` for
    charset=utf-8). Raises :class:`SaslException` on a malformed token.
    """
    text = token.decode("latin-1")
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in "= \t\r\n,":
            i += 1
        name = text[start:i].lower()
        while i < n and text[i] in " \t\r\n":
            i += 1
        if not name or i >= n or text[i] != "=":
            raise SaslException(f"DIGEST-MD5: malformed directive near {text[start:start + 20]!r}")
        i += 1
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            value = []
            while True:
                if i >= n:
                    raise SaslException(f"DIGEST-MD5: unterminated quoted value of {name}")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    value.append(text[i + 1])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    value.append(c)
                    i += 1
            pairs.append((name, "".join(value)))
        else:
            start = i
            while i < n and text[i] not in ", \t\r\n":
                i += 1
            pairs.append((name, text[start:i]))
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n and text[i] != ",":
            raise SaslException(f"DIGEST-MD5: expected ',' after {name}")
    return pairs


def quote(value: str) -> str:
    """A quoted-string with ``"`` and ``\\`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encode(text: str, utf8: bool) -> bytes:
    """RFC 2831 2.1.2.1: with charset=utf-8, a string that fits ISO 8859-1 is
    hashed as ISO 8859-1, any other as UTF-8; without it, ISO 8859-1."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        if not utf8:
            raise SaslException("DIGEST-MD5: a non-ISO-8859-1 name or password needs charset=utf-8") from None
        return text.encode("utf-8")


def as_utf8(value: str) -> str:
    """A value parsed as ISO 8859-1, read again as the UTF-8 it was sent as."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        raise SaslException("DIGEST-MD5: charset=utf-8, but a value is not UTF-8") from None


def _hex_md5(data: bytes) -> bytes:
    return hashlib.md5(data).hexdigest().encode("ascii")


def response_value(*, username: str, realm: str, password: str, nonce: str, cnonce: str, nc: str,
                   qop: str, digest_uri: str, authzid: Optional[str] = None, utf8: bool = True,
                   for_server: bool = False) -> str:
    """The ``response`` value of RFC 2831 2.1.2.1 (``for_server``: the
    ``rspauth`` value of 2.1.3, whose A2 lacks "AUTHENTICATE")."""
    def raw(value: str) -> bytes:  # the bytes that were on the wire
        return value.encode("utf-8" if utf8 else "latin-1")

    user_realm_pass = b":".join((_encode(username, utf8), _encode(realm, utf8), _encode(password, utf8)))
    a1 = hashlib.md5(user_realm_pass).digest() + b":" + raw(nonce) + b":" + raw(cnonce)
    if authzid:
        a1 += b":" + raw(authzid)
    a2 = (b"" if for_server else b"AUTHENTICATE") + b":" + raw(digest_uri)
    if qop in ("auth-int", "auth-conf"):
        a2 += b":00000000000000000000000000000000"
    kd = b":".join((_hex_md5(a1), raw(nonce), raw(nc), raw(cnonce), raw(qop), _hex_md5(a2)))
    return _hex_md5(kd).decode("ascii")


def random_nonce() -> str:
    """30 random bytes in base64 (a nonce or cnonce)."""
    return base64.b64encode(os.urandom(30)).decode("ascii")


class DigestMD5Client:
    """One DIGEST-MD5 exchange, client side (Java: ``SaslClient``).

    :param username: the authentication id.
    :param password: its password.
    :param protocol: the service of ``digest-uri`` (``zookeeper``; Java:
        ``zookeeper.sasl.client.username``).
    :param server_name: its host part (``zk-sasl-md5``, fixed in ZooKeeper).
    :param cnonce_factory: makes the cnonce (tests inject a fixed one).
    """

    mechanism = "DIGEST-MD5"

    def __init__(self, username: str, password: str, *, protocol: str = DEFAULT_PROTOCOL,
                 server_name: str = DEFAULT_SERVER_NAME, cnonce_factory: Callable[[], str] = random_nonce):
        self.username = username
        self._password = password
        self.digest_uri = f"{protocol}/{server_name}"
        self._cnonce_factory = cnonce_factory
        self._step = 0
        self._complete = False
        self._expected_rspauth: Optional[str] = None

    @staticmethod
    def has_initial_response() -> bool:
        """False: the client's first token is empty (Java's DIGEST-MD5 too)."""
        return False

    def is_complete(self) -> bool:
        return self._complete

    def evaluate_challenge(self, challenge: Optional[bytes]) -> bytes:
        """The client's next token for the server's ``challenge``: the
        digest-response, then (after checking ``rspauth``) an empty token.
        Raises :class:`SaslException` when the exchange cannot go on."""
        if self._complete:
            raise SaslException("DIGEST-MD5: authentication is already complete")
        challenge = challenge or b""
        if self._step == 0:
            self._step = 1
            return self._respond(challenge)
        if self._step == 1:
            self._step = 2
            self._check_rspauth(challenge)
            self._complete = True
            return b""
        raise SaslException("DIGEST-MD5: the exchange has failed")

    # -- steps -------------------------------------------------------------------------------------

    def _respond(self, challenge: bytes) -> bytes:
        if not challenge:
            raise SaslException("DIGEST-MD5: the server sent no digest-challenge (is SASL configured there?)")
        if len(challenge) > MAX_CHALLENGE:
            raise SaslException("DIGEST-MD5: the digest-challenge is longer than 2048 bytes")
        realms: list[str] = []
        fields: dict[str, str] = {}
        for name, value in parse_directives(challenge):
            if name == "realm":
                realms.append(value)
            elif name in fields and name in ("nonce", "qop", "charset", "algorithm", "maxbuf", "stale"):
                raise SaslException(f"DIGEST-MD5: {name} appears more than once in the digest-challenge")
            else:
                fields[name] = value
        utf8 = fields.get("charset", "").lower() == "utf-8"
        if "charset" in fields and not utf8:
            raise SaslException(f"DIGEST-MD5: unsupported charset {fields['charset']!r}")
        if utf8:
            realms = [as_utf8(realm) for realm in realms]
            fields = {name: as_utf8(value) for name, value in fields.items()}
        nonce = fields.get("nonce")
        if not nonce:
            raise SaslException("DIGEST-MD5: the digest-challenge has no nonce")
        if fields.get("algorithm", "").lower() != "md5-sess":
            raise SaslException("DIGEST-MD5: the digest-challenge does not offer algorithm=md5-sess")
        offered = [q.strip() for q in fields.get("qop", "auth").split(",")]
        if "auth" not in offered:
            raise SaslException(f"DIGEST-MD5: the server offers qop {fields['qop']!r}, not auth")
        realm = realms[0] if realms else ""
        cnonce = self._cnonce_factory()
        nc = "00000001"
        args = dict(username=self.username, realm=realm, password=self._password, nonce=nonce, cnonce=cnonce,
                    nc=nc, qop="auth", digest_uri=self.digest_uri, utf8=utf8)
        response = response_value(**args)
        self._expected_rspauth = response_value(**args, for_server=True)
        # The JDK client's order of directives.
        parts = ["charset=utf-8"] if utf8 else []
        parts.append(f"username={quote(self.username)}")
        if realms:
            parts.append(f"realm={quote(realm)}")
        parts += [f"nonce={quote(nonce)}", f"nc={nc}", f"cnonce={quote(cnonce)}",
                  f"digest-uri={quote(self.digest_uri)}", "maxbuf=65536", f"response={response}", "qop=auth"]
        text = ",".join(parts)
        return text.encode("utf-8") if utf8 else _encode(text, False)

    def _check_rspauth(self, token: bytes) -> None:
        try:
            fields = dict(parse_directives(token))
        except SaslException:
            fields = {}
        rspauth = fields.get("rspauth")
        if rspauth is None:
            raise SaslException("DIGEST-MD5: Authentication failed. Expecting 'rspauth' authentication "
                                "success message")
        if not hmac.compare_digest(rspauth.lower(), self._expected_rspauth or ""):
            raise SaslException("DIGEST-MD5: the server's rspauth is wrong: it does not know the password")
