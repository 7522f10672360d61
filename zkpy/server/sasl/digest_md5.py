"""The server side of SASL DIGEST-MD5 (RFC 2831), authentication only.

Java: the JDK's ``com.sun.security.sasl.digest.DigestMD5Server`` as
ZooKeeper creates it (``Sasl.createSaslServer("DIGEST-MD5", "zookeeper",
"zk-sasl-md5", ...)``) with ``SaslServerCallbackHandler`` answering the
password and authorization callbacks. Pure: no sockets, no clock; the nonce
source can be injected, so RFC 2831's own example replays byte for byte.

The exchange (RFC 2831 section 2):

1. the client's initial response is empty; the server answers with a
   digest-challenge (realm, nonce, ``charset=utf-8``, ``algorithm=md5-sess``;
   no qop, which means ``auth`` — the bytes Java's server sends);
2. the client sends a digest-response; the server checks it and answers
   ``rspauth=...``, proving it knows the password too. The exchange is
   then complete and :attr:`DigestMD5Server.authorization_id` is the
   authenticated user name.

What zkpy does differently, on purpose: only ``qop=auth`` is offered (Java's
default too: ZooKeeper never asks for integrity or confidentiality layers);
subsequent authentication (nonce-count > 1) is refused; the authorization
id is always the authenticated user name, as ZooKeeper's callback handler
makes it (Kerberos name rules, which it applies to every name, change
nothing for a plain user name and are not implemented).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from typing import Optional

LOG = logging.getLogger(__name__)

__all__ = ["SaslException", "DigestMD5Server", "parse_directives", "quote", "response_value",
           "DEFAULT_PROTOCOL", "DEFAULT_SERVER_NAME"]

#: ZooKeeper's service name and the fixed "host" of its DIGEST-MD5 server
#: (``SecurityUtils``): clients use ``digest-uri="zookeeper/zk-sasl-md5"``.
DEFAULT_PROTOCOL = "zookeeper"
DEFAULT_SERVER_NAME = "zk-sasl-md5"

#: Directives that may appear at most once in a digest-response (RFC 2831 2.1.2).
_SINGLE = frozenset({"username", "realm", "nonce", "cnonce", "nc", "qop", "digest-uri", "response",
                     "maxbuf", "charset", "cipher", "authzid"})
_MAX_TOKEN = 4096  # RFC 2831: a digest-response is at most 4096 bytes


class SaslException(Exception):
    """The exchange failed (Java: ``javax.security.sasl.SaslException``)."""


def parse_directives(token: bytes) -> list[tuple[str, str]]:
    """Split ``name=value, name="quoted \\"value\\""`` into (name, value) pairs.

    Names are lower-cased (they are case-insensitive); values keep their
    case, with quotes and backslash escapes removed. Empty list elements
    (``a=1,,b=2``) are allowed, as RFC 2831's ``#rule`` says. The bytes are
    read as ISO 8859-1 (one character per byte; see :func:`_as_utf8` for
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


def _as_utf8(value: str) -> str:
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


def _random_nonce() -> str:
    return base64.b64encode(os.urandom(30)).decode("ascii")


class DigestMD5Server:
    """One DIGEST-MD5 exchange, server side (Java: ``SaslServer``).

    :param password_of: the password of a user name, None if there is none
        (ZooKeeper: ``user_<name>`` in the JAAS ``Server`` section).
    :param protocol: the service of ``digest-uri`` (``zookeeper``).
    :param server_name: its host part and the realm offered (``zk-sasl-md5``).
    :param nonce_factory: makes the nonce (tests inject a fixed one).
    """

    mechanism = "DIGEST-MD5"

    def __init__(self, password_of: Callable[[str], Optional[str]], *, protocol: str = DEFAULT_PROTOCOL,
                 server_name: str = DEFAULT_SERVER_NAME, nonce_factory: Callable[[], str] = _random_nonce):
        self._password_of = password_of
        self.protocol = protocol
        self.server_name = server_name
        self.realm = server_name
        self._nonce_factory = nonce_factory
        self._nonce: Optional[str] = None
        self._step = 0
        self._complete = False
        self.authorization_id: Optional[str] = None
        #: The user name the client authenticated as (also when it failed).
        self.username: Optional[str] = None

    def is_complete(self) -> bool:
        return self._complete

    def evaluate_response(self, response: bytes) -> bytes:
        """The server's next token for the client's ``response``; raises
        :class:`SaslException` when the exchange fails."""
        if self._complete:
            raise SaslException("DIGEST-MD5: authentication is already complete")
        if self._step == 0:
            self._step = 1
            if response:
                raise SaslException("DIGEST-MD5: the client must not send an initial response")
            return self._challenge()
        if self._step == 1:
            self._step = 2  # one try only: any failure ends the exchange
            rspauth = self._check(response)
            self._complete = True
            return rspauth
        raise SaslException("DIGEST-MD5: the exchange has failed")

    # -- steps -------------------------------------------------------------------------------------

    def _challenge(self) -> bytes:
        self._nonce = self._nonce_factory()
        # Java's exact form: qop is left out, so it is "auth" (RFC 2831 2.1.1).
        return (f"realm={quote(self.realm)},nonce={quote(self._nonce)},"
                f"charset=utf-8,algorithm=md5-sess").encode("utf-8")

    def _check(self, token: bytes) -> bytes:
        if len(token) > _MAX_TOKEN:
            raise SaslException("DIGEST-MD5: the digest-response is longer than 4096 bytes")
        fields: dict[str, str] = {}
        for name, value in parse_directives(token):
            if name in fields and name in _SINGLE:
                raise SaslException(f"DIGEST-MD5: {name} appears more than once")
            fields[name] = value
        charset = fields.get("charset")
        if charset is not None and charset.lower() != "utf-8":
            raise SaslException(f"DIGEST-MD5: unsupported charset {charset!r}")
        utf8 = charset is not None
        if utf8:  # else the values stay ISO 8859-1 (RFC 2831 2.1.2)
            fields = {name: _as_utf8(value) for name, value in fields.items()}
        for required in ("username", "nonce", "cnonce", "nc", "digest-uri", "response"):
            if required not in fields:
                raise SaslException(f"DIGEST-MD5: the digest-response has no {required}")
        username = fields["username"]
        self.username = username
        if fields["nonce"] != self._nonce:
            raise SaslException("DIGEST-MD5: the nonce does not match the challenge")
        try:
            nonce_count = int(fields["nc"], 16)
        except ValueError:
            raise SaslException(f"DIGEST-MD5: bad nonce-count {fields['nc']!r}") from None
        if nonce_count != 1 or len(fields["nc"]) != 8:
            raise SaslException(f"DIGEST-MD5: nonce-count {fields['nc']!r} is not 00000001")
        qop = fields.get("qop", "auth")
        if qop != "auth":
            raise SaslException(f"DIGEST-MD5: qop {qop!r} was not offered")
        realm = fields.get("realm", "")
        if realm and realm != self.realm:
            raise SaslException(f"DIGEST-MD5: realm {realm!r} was not offered")
        digest_uri = fields["digest-uri"]
        service, _, host = digest_uri.partition("/")
        host = host.split("/", 1)[0]
        if service.lower() != self.protocol.lower() or host.lower() != self.server_name.lower():
            raise SaslException(f"DIGEST-MD5: digest-uri {digest_uri!r} is not "
                                f"{self.protocol}/{self.server_name}")
        password = self._password_of(username)
        if password is None:
            raise SaslException(f"DIGEST-MD5: cannot acquire password for {username} in realm : {self.realm}")
        authzid = fields.get("authzid")
        args = dict(username=username, realm=realm, password=password, nonce=self._nonce,
                    cnonce=fields["cnonce"], nc=fields["nc"], qop=qop, digest_uri=digest_uri,
                    authzid=authzid, utf8=utf8)
        expected = response_value(**args)
        if not hmac.compare_digest(expected, fields["response"].lower()):
            raise SaslException("DIGEST-MD5: digest response format violation. Mismatched response.")
        if authzid and authzid != username:
            LOG.info("DIGEST-MD5: %s asked for authorization id %s; %s is used (as ZooKeeper does)",
                     username, authzid, username)
        self.authorization_id = username
        return f"rspauth={response_value(**args, for_server=True)}".encode("ascii")
