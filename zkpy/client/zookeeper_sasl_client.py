"""SASL authentication of one client connection (DIGEST-MD5).

Java: ``org.apache.zookeeper.client.ZooKeeperSaslClient`` (its states and
``respondToServer``) with the JDK's DIGEST-MD5 client
(:class:`zkpy.sasl.digest_md5.DigestMD5Client`). Sans-I/O: the send thread
(:mod:`zkpy.client.client_cnxn`) carries the tokens in SASL packets (op
102, ``GetSASLRequest`` / ``SetSASLResponse``) and asks this object what to
send next.

As in Java, one object per connection: a new exchange runs after every
(re)connect, once the ConnectResponse is in and before any other request of
the connection goes out (credentials, watches and queued requests wait).
The exchange ends ``COMPLETE`` (the session has the id ``sasl:<user>``;
event ``SaslAuthenticated``) or ``FAILED`` (the client ends with
``AuthFailed``, as Java's does).

What zkpy does differently, on purpose: only DIGEST-MD5 (no GSSAPI, so no
Kerberos login, ticket renewal or server principal); the credentials are
given directly (:class:`SaslCredentials`) or read from a JAAS ``Client``
section by :class:`zkpy.client.zk_client_config.ZKClientConfig`; a server
error on a SASL packet fails the exchange at once (Java's client gets there
too, one step later, when the missing token fails the mechanism).
"""

from __future__ import annotations

import enum
import logging
from typing import Optional, Union

import attrs

from ..sasl.digest_md5 import DEFAULT_PROTOCOL, DigestMD5Client, SaslException

LOG = logging.getLogger(__name__)

__all__ = ["SaslCredentials", "SaslState", "ZooKeeperSaslClient", "sasl_credentials"]


@attrs.frozen
class SaslCredentials:
    """Who to authenticate as: ``ZooKeeper(..., sasl=SaslCredentials("bob", "secret"))``.

    :param protocol: the service name in ``digest-uri`` (Java's
        ``zookeeper.sasl.client.username``, default ``zookeeper``).
    """

    username: str
    password: str = attrs.field(repr=False)
    mechanism: str = "DIGEST-MD5"
    protocol: str = DEFAULT_PROTOCOL

    def __attrs_post_init__(self) -> None:
        if self.mechanism.upper() != "DIGEST-MD5":
            raise ValueError(f"SASL mechanism {self.mechanism!r}: zkpy's client has DIGEST-MD5 only "
                             "(no GSSAPI/Kerberos)")


SaslArg = Union[SaslCredentials, tuple, None]


def sasl_credentials(value: SaslArg) -> Optional[SaslCredentials]:
    """``ZooKeeper``'s ``sasl`` argument: a :class:`SaslCredentials`, a
    ``(mechanism, username, password)`` tuple, or None."""
    if value is None or isinstance(value, SaslCredentials):
        return value
    if isinstance(value, tuple) and len(value) == 3:
        mechanism, username, password = value
        return SaslCredentials(str(username), str(password), str(mechanism))
    raise TypeError("sasl must be SaslCredentials(username, password) or a (\"DIGEST-MD5\", username, password) "
                    f"tuple, not {value!r}")


class SaslState(enum.Enum):
    """Java's ``ZooKeeperSaslClient.SaslState``."""

    INITIAL = "INITIAL"
    INTERMEDIATE = "INTERMEDIATE"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


class ZooKeeperSaslClient:
    """The SASL exchange of one connection (see the module docstring)."""

    def __init__(self, credentials: SaslCredentials):
        self.credentials = credentials
        self.state = SaslState.INITIAL
        self._mechanism = DigestMD5Client(credentials.username, credentials.password,
                                          protocol=credentials.protocol)
        #: Why the exchange failed (for the log and the AuthFailed report).
        self.failure: Optional[str] = None

    @property
    def in_progress(self) -> bool:
        """True while requests other than SASL packets must wait."""
        return self.state in (SaslState.INITIAL, SaslState.INTERMEDIATE)

    def initial_token(self) -> bytes:
        """The first token (Java's ``initialize``): DIGEST-MD5 has no initial
        response, so it is empty."""
        if self.state is not SaslState.INITIAL:
            raise SaslException(f"the SASL exchange has already started ({self.state.value})")
        self.state = SaslState.INTERMEDIATE
        return b""

    def respond_to_server(self, err: int, server_token: Optional[bytes]) -> Optional[bytes]:
        """The server answered a SASL packet with error code ``err`` and
        ``server_token``: the next token to send, or None when the exchange
        has ended (see :attr:`state`)."""
        if self.state is not SaslState.INTERMEDIATE:
            raise SaslException(f"a SASL reply while the exchange is {self.state.value}")
        if err != 0:
            return self._fail(f"the server answered the SASL packet with error {err}")
        try:
            token = self._mechanism.evaluate_challenge(server_token)
        except SaslException as e:
            return self._fail(str(e))
        if self._mechanism.is_complete():
            # DIGEST-MD5 ends on the client's side: no last packet from the server.
            self.state = SaslState.COMPLETE
            LOG.info("SASL (DIGEST-MD5) authentication of %s succeeded", self.credentials.username)
            return None
        return token

    def _fail(self, why: str) -> None:
        self.state = SaslState.FAILED
        self.failure = why
        # WARNING, not ERROR: the AuthFailed event is the report (zkCli prints ERROR lines on its console).
        LOG.warning("SASL authentication of %s failed: %s", self.credentials.username, why)
        return None
