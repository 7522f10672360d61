"""SASL between quorum peers: the QuorumAuthPacket exchange (DIGEST-MD5).

Java: ``org.apache.zookeeper.server.quorum.auth`` — ``QuorumAuth`` (the
constants and the packet), ``QuorumAuthServer`` / ``QuorumAuthLearner`` with
their ``Null*`` and ``Sasl*`` implementations, and
``SaslQuorumServerCallbackHandler``. Settings (zoo.cfg):
``quorum.auth.enableSasl``, ``quorum.auth.serverRequireSasl``,
``quorum.auth.learnerRequireSasl``, ``quorum.auth.server.saslLoginContext``
(JAAS section with ``user_<name>="<password>"``, default ``QuorumServer``),
``quorum.auth.learner.saslLoginContext`` (``username=`` / ``password=``,
default ``QuorumLearner``), the JAAS file from
``-Djava.security.auth.login.config``.

The exchange runs right after a quorum connection is set up (after the TLS
handshake with ``sslQuorum``), before anything else on it:

* election port: the dialler sends its header (:mod:`.initial_message`),
  then authenticates as the *learner*; the accepting peer reads the header,
  then authenticates it as the *server*;
* Zab port: the learner authenticates right after connecting to the
  leader, before FOLLOWERINFO; the leader's LearnerHandler checks it first.

Wire (ZK_SPEC.md §1.1): ``QuorumAuthPacket { long magic; int status;
buffer token }``, no length prefix. The learner sends IN_PROGRESS packets
(the first with an empty token: DIGEST-MD5 has no initial response); the
server answers IN_PROGRESS with its challenge, SUCCESS with ``rspauth``
once the exchange is complete, or ERROR. DIGEST-MD5 runs with protocol
``zookeeper-quorum`` and server name ``zk-quorum-sasl-md5`` (so
``digest-uri="zookeeper-quorum/zk-quorum-sasl-md5"``).

As in Java 3.8:

* a learner authenticates only when ``learnerRequireSasl=true`` (else it
  logs "Skipping SASL authentication" and sends nothing); a failure raises,
  and the connection is closed;
* the server looks at the first 8 bytes: not the magic number means the
  peer does not authenticate, refused when ``serverRequireSasl=true``, let
  in otherwise; a failed exchange is refused when required, else logged
  ("Maintaining learner connection despite SASL authentication failure")
  and the connection goes on;
* the server gives up after 5 rounds that do not complete (see below); a user name of
  the Kerberos form ``service/host@REALM`` is authorized only when ``host``
  is one of the ensemble's hosts;
* a missing JAAS section (or file) stops the peer at startup.

What zkpy does differently, on purpose: DIGEST-MD5 only (no Kerberos /
GSSAPI: a ``Krb5LoginModule`` section is refused at startup); a learner
section without ``username`` and ``password`` is refused at startup (Java
fails at the first connection); the server logs a warning for each peer it
lets in without authentication (Java says nothing); the leader checks a
learner in that learner's LearnerHandler thread (Java: in the thread that
accepts, so a silent learner holds up the others for up to initLimit); zkpy
reads the bytes it peeked at again through a small reader
(:class:`PrefixedReader`), where Java resets a marked stream; after 5
rounds the server refuses the peer (Java sends ERROR and lets it through;
DIGEST-MD5 needs 2).
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Iterable
from typing import Optional

from ..jute.archive import DEFAULT_MAX_BUFFER, length_limit
from ..jute.records import QuorumAuthPacket
from ..sasl.digest_md5 import DigestMD5Client, SaslException
from ..server.sasl.jaas import JaasConfigError, SaslLogin, login_section

LOG = logging.getLogger(__name__)

__all__ = [
    "QUORUM_AUTH_MAGIC_NUMBER", "IN_PROGRESS", "SUCCESS", "ERROR", "QUORUM_SERVER_PROTOCOL_NAME",
    "QUORUM_SERVER_SASL_DIGEST", "QuorumAuthServer", "QuorumAuthLearner", "NullQuorumAuthServer",
    "NullQuorumAuthLearner", "SaslQuorumAuthServer", "SaslQuorumAuthLearner", "PrefixedReader",
    "create_quorum_auth", "SaslException",
]

QUORUM_SASL_AUTH_ENABLED = "quorum.auth.enableSasl"
QUORUM_SERVER_SASL_AUTH_REQUIRED = "quorum.auth.serverRequireSasl"
QUORUM_LEARNER_SASL_AUTH_REQUIRED = "quorum.auth.learnerRequireSasl"
QUORUM_SERVER_PROTOCOL_NAME = "zookeeper-quorum"
QUORUM_SERVER_SASL_DIGEST = "zk-quorum-sasl-md5"
#: Java writes ``-0xa0dbcafecafe1234L``: the hex literal is already a
#: negative long, so the magic number on the wire is positive.
QUORUM_AUTH_MAGIC_NUMBER = 2**64 - 0xA0DBCAFECAFE1234
IN_PROGRESS, SUCCESS, ERROR = 0, 1, -1
_STATUS_NAMES = {IN_PROGRESS: "IN_PROGRESS", SUCCESS: "SUCCESS", ERROR: "ERROR"}
#: Rounds the server allows before it gives up (Java: MAX_RETRIES).
MAX_RETRIES = 5

_LONG = struct.Struct(">q")
_HEAD = struct.Struct(">qii")  # magic, status, token length


# -- reading and writing packets ------------------------------------------------------------------

def _read_fully(reader, n: int) -> bytes:
    """``n`` bytes from a reader whose ``read`` may return fewer; EOFError at the end."""
    data = b""
    while len(data) < n:
        chunk = reader.read(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes of a QuorumAuthPacket")
        data += chunk
    return data


def _read_rest(reader, head: bytes, max_buffer: int) -> QuorumAuthPacket:
    """A packet whose first bytes ``head`` (at most 16) were read already."""
    head += _read_fully(reader, _HEAD.size - len(head))
    magic, status, length = _HEAD.unpack(head)
    if length < -1 or length > length_limit(max_buffer):  # Java's checkLength
        raise OSError(f"QuorumAuthPacket: unreasonable token length {length}")
    token = None if length == -1 else _read_fully(reader, length)
    return QuorumAuthPacket(magic, status, token)


def _send(sock, status: int, token: Optional[bytes]) -> None:
    sock.sendall(QuorumAuthPacket(QUORUM_AUTH_MAGIC_NUMBER, status, token).to_bytes())


def _where(sock) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "?"
    return f"/{host}:{port}"


class PrefixedReader:
    """A reader that returns ``prefix`` first, then reads from ``reader``:
    the bytes :meth:`SaslQuorumAuthServer.authenticate` read to see whether
    a packet is a QuorumAuthPacket, given back to the protocol that follows."""

    def __init__(self, prefix: bytes, reader):
        self._prefix = prefix
        self._reader = reader

    def read(self, n: int = -1) -> bytes:
        prefix = self._prefix
        if not prefix:
            return self._reader.read(n)
        if 0 <= n <= len(prefix):
            self._prefix = prefix[n:]
            return prefix[:n]
        self._prefix = b""
        rest = self._reader.read(-1 if n < 0 else n - len(prefix))
        return prefix + (rest or b"")

    def close(self) -> None:
        self._reader.close()


# -- the null implementations ----------------------------------------------------------------------

class QuorumAuthServer:
    """The accepting side (Java: ``QuorumAuthServer``)."""

    def authenticate(self, sock, reader) -> object:
        """Authenticate the peer on ``sock``, reading through ``reader``;
        return the reader the connection continues with. Raises
        :class:`SaslException` when the peer must be refused."""
        raise NotImplementedError


class QuorumAuthLearner:
    """The dialling side (Java: ``QuorumAuthLearner``)."""

    def authenticate(self, sock, reader, host: str) -> None:
        """Authenticate to the peer on ``sock``; raises :class:`SaslException`
        (or ``OSError``) on failure."""
        raise NotImplementedError


class NullQuorumAuthServer(QuorumAuthServer):
    """No quorum SASL: nothing is read (Java: ``NullQuorumAuthServer``)."""

    def authenticate(self, sock, reader):
        return reader


class NullQuorumAuthLearner(QuorumAuthLearner):
    """No quorum SASL: nothing is sent (Java: ``NullQuorumAuthLearner``)."""

    def authenticate(self, sock, reader, host: str) -> None:
        return None


# -- SASL ------------------------------------------------------------------------------------------

class SaslQuorumAuthServer(QuorumAuthServer):
    """Checks a learner's DIGEST-MD5 login against the ``user_*`` entries of
    the server's JAAS section (Java: ``SaslQuorumAuthServer``)."""

    def __init__(self, require_sasl: bool, login: SaslLogin, authz_hosts: Iterable[str] = (),
                 max_buffer: int = DEFAULT_MAX_BUFFER):
        self.require_sasl = require_sasl
        self.login = login
        self.authz_hosts = frozenset(authz_hosts)
        self.max_buffer = max_buffer

    def _authorized(self, user: str) -> bool:
        """SaslQuorumServerCallbackHandler's authorize callback: a name of the
        form ``a/host@REALM`` must name one of the ensemble's hosts."""
        parts = re.split(r"[/@]", user)
        return len(parts) != 3 or parts[1] in self.authz_hosts

    def authenticate(self, sock, reader):
        where = _where(sock)
        answering = False  # past the first QuorumAuthPacket: a failure is answered with ERROR
        try:
            head = b""
            try:
                head = _read_fully(reader, _LONG.size)
            except EOFError:
                pass  # too short to be a QuorumAuthPacket; the protocol after us sees the EOF
            if len(head) < _LONG.size or _LONG.unpack(head)[0] != QUORUM_AUTH_MAGIC_NUMBER:
                if self.require_sasl:
                    raise SaslException("Learner not trying to authenticate and authentication is required")
                LOG.warning("Learner %s did not authenticate; letting it in as %s=false", where,
                            QUORUM_SERVER_SASL_AUTH_REQUIRED)
                return PrefixedReader(head, reader)
            token = _read_rest(reader, head, self.max_buffer).token
            answering = True
            server = self.login.create_sasl_server(protocol=QUORUM_SERVER_PROTOCOL_NAME,
                                                   server_name=QUORUM_SERVER_SASL_DIGEST)
            tries = 0
            challenge = None
            while not server.is_complete():
                challenge = server.evaluate_response(token or b"")
                if server.is_complete():
                    break
                tries += 1
                if tries > MAX_RETRIES:
                    raise SaslException(f"Failed to authenticate using SASL, server addr: {where}, "
                                        f"retries={tries} exceeded.")
                _send(sock, IN_PROGRESS, challenge)
                token = _read_rest(reader, b"", self.max_buffer).token
            user = server.authorization_id or ""
            if not self._authorized(user):
                raise SaslException(f"SASL user {user} is not authorized: its host is not one of the ensemble's")
            _send(sock, SUCCESS, challenge)
            LOG.info("Successfully completed the authentication using SASL. learner addr: %s (user %s)", where,
                     user)
            return reader
        except (SaslException, OSError, EOFError) as e:
            if answering:
                try:
                    _send(sock, ERROR, b"")  # tell the learner why the connection ends
                except OSError:
                    pass
            if self.require_sasl:
                LOG.error("Failed to authenticate using SASL, learner addr: %s: %s", where, e)
                raise SaslException(f"Failed to authenticate using SASL: {e}") from None
            LOG.warning("Failed to authenticate using SASL, learner addr: %s: %s", where, e)
            LOG.warning("Maintaining learner connection despite SASL authentication failure. server addr: %s, "
                        "%s: %s", where, QUORUM_SERVER_SASL_AUTH_REQUIRED, "false")
            return reader


class SaslQuorumAuthLearner(QuorumAuthLearner):
    """Logs in to a peer with the ``username`` / ``password`` of the learner's
    JAAS section (Java: ``SaslQuorumAuthLearner``)."""

    def __init__(self, require_sasl: bool, username: str, password: str, max_buffer: int = DEFAULT_MAX_BUFFER):
        self.require_sasl = require_sasl
        self.username = username
        self._password = password
        self.max_buffer = max_buffer

    def authenticate(self, sock, reader, host: str) -> None:
        if not self.require_sasl:
            LOG.info("Skipping SASL authentication as %s=%s", QUORUM_LEARNER_SASL_AUTH_REQUIRED, "false")
            return
        where = _where(sock)
        client = DigestMD5Client(self.username, self._password, protocol=QUORUM_SERVER_PROTOCOL_NAME,
                                 server_name=QUORUM_SERVER_SASL_DIGEST)
        try:
            _send(sock, IN_PROGRESS, b"")
            packet = _read_rest(reader, b"", self.max_buffer)
            while not client.is_complete():
                if packet.status == ERROR:
                    raise SaslException(f"Authentication failed against server addr: {where}")
                if packet.status not in (SUCCESS, IN_PROGRESS):
                    LOG.warning("Unknown status:%d!", packet.status)
                    raise SaslException(f"Authentication failed against server addr: {where}")
                if packet.token is None:
                    raise SaslException("Error in authenticating with a Zookeeper Quorum member: the quorum "
                                        "member's saslToken is null.")
                response = client.evaluate_challenge(packet.token)
                if packet.status == SUCCESS:
                    if not client.is_complete() or response:
                        raise SaslException("Protocol error: attempting to send response after completion")
                    break
                _send(sock, IN_PROGRESS, response)
                packet = _read_rest(reader, b"", self.max_buffer)
        except EOFError as e:
            raise SaslException(f"Authentication failed against server addr: {where}: {e}") from None
        if packet.status != SUCCESS:
            raise SaslException(f"Authentication failed against server addr: {where}, qpStatus: "
                                f"{_STATUS_NAMES.get(packet.status, packet.status)}")
        LOG.info("Successfully completed the authentication using SASL. server addr: %s, status: SUCCESS", where)


# -- from the configuration ----------------------------------------------------------------------------

def create_quorum_auth(config, authz_hosts: Iterable[str] = ()) -> tuple[QuorumAuthServer, QuorumAuthLearner]:
    """The peer's auth server and learner (Java: ``QuorumPeer.initialize``).
    Raises :class:`~zkpy.server.sasl.jaas.JaasConfigError` when SASL is
    enabled and the JAAS sections cannot be used."""
    if not config.quorum_enable_sasl:
        return NullQuorumAuthServer(), NullQuorumAuthLearner()
    props = config.properties
    server_entries = login_section(props, config.quorum_server_login_context)
    learner_entries = login_section(props, config.quorum_learner_login_context)
    username = password = None
    for entry in learner_entries:
        username = entry.options.get("username", username)
        password = entry.options.get("password", password)
    if username is None or password is None:
        raise JaasConfigError(f"JAAS section '{config.quorum_learner_login_context}' has no username and password "
                              "(DigestLoginModule options username=\"...\" password=\"...\")")
    login = SaslLogin(config.quorum_server_login_context, server_entries)
    LOG.info("Quorum SASL: DIGEST-MD5, serverRequireSasl=%s, learnerRequireSasl=%s, %d user(s) in '%s', "
             "learning as '%s' from '%s'", str(config.quorum_server_require_sasl).lower(),
             str(config.quorum_learner_require_sasl).lower(), len(login.credentials),
             config.quorum_server_login_context, username, config.quorum_learner_login_context)
    return (SaslQuorumAuthServer(config.quorum_server_require_sasl, login, authz_hosts, config.jute_max_buffer),
            SaslQuorumAuthLearner(config.quorum_learner_require_sasl, username, password, config.jute_max_buffer))
