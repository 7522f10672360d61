"""The server side of SASL DIGEST-MD5 (RFC 2831), authentication only.

The RFC 2831 primitives (directive parsing, the response digest) are shared
with the client in :mod:`zkpy.sasl.digest_md5`.

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

import hmac
import logging
from collections.abc import Callable
from typing import Optional

from ...sasl.digest_md5 import (
    DEFAULT_PROTOCOL, DEFAULT_SERVER_NAME, SaslException, as_utf8, parse_directives, quote, random_nonce,
    response_value,
)

LOG = logging.getLogger(__name__)

# The RFC 2831 primitives live in zkpy.sasl.digest_md5 (the client uses them too); re-exported here.
__all__ = ["SaslException", "DigestMD5Server", "parse_directives", "quote", "response_value",
           "DEFAULT_PROTOCOL", "DEFAULT_SERVER_NAME"]

#: Directives that may appear at most once in a digest-response (RFC 2831 2.1.2).
_SINGLE = frozenset({"username", "realm", "nonce", "cnonce", "nc", "qop", "digest-uri", "response",
                     "maxbuf", "charset", "cipher", "authzid"})
_MAX_TOKEN = 4096  # RFC 2831: a digest-response is at most 4096 bytes


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
                 server_name: str = DEFAULT_SERVER_NAME, nonce_factory: Callable[[], str] = random_nonce):
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
            fields = {name: as_utf8(value) for name, value in fields.items()}
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
