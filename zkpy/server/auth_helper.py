"""Who may use a session: enforced authentication and the SASL exchange (op 102).

Java: ``org.apache.zookeeper.server.AuthenticationHelper`` and
``ZooKeeperServer.processSasl``. :class:`ZooKeeperServer.process_packet`
hands SASL packets to :meth:`AuthenticationHelper.process_sasl` and asks
:meth:`AuthenticationHelper.enforce_authentication` before submitting any
other request (auth packets, op 100, are never refused: they are how a
client authenticates).

Settings (system properties, or zoo.cfg keys without the ``zookeeper.``):

* ``zookeeper.sessionRequireClientSASLAuth=true`` is short for
  ``zookeeper.enforce.auth.enabled=true`` + ``zookeeper.enforce.auth.schemes=sasl``;
* ``zookeeper.enforce.auth.schemes``: a comma list; a connection with an id
  of none of them that sends any request but auth or SASL (a ping too) gets
  SESSIONCLOSEDREQUIRESASLAUTH (-124) and its connection is closed — the
  session is not, it expires in its own time;
* each scheme must have a provider, else the server does not start;
* a failed SASL exchange answers AUTHFAILED (SESSIONCLOSEDREQUIRESASLAUTH when
  sasl is enforced) and closes the connection, unless
  ``zookeeper.allowSaslFailedClients=true`` and sasl is not enforced.

The SASL packets keep the request's xid; the reply is a ``SetSASLResponse``
with the server's token (null when there is none), sent also with an error.
A connection whose factory has no SASL login (no JAAS configuration) is
answered OK with a null token, as Java does (after logging an error).
"""

from __future__ import annotations

import logging

from ..errors import Code
from ..jute.archive import InputArchive
from ..jute.records import GetSASLRequest, Id, ReplyHeader, SetSASLResponse
from .config import ConfigException
from .sasl.digest_md5 import SaslException

LOG = logging.getLogger(__name__)

__all__ = ["AuthenticationHelper"]

ENFORCE_AUTH_ENABLED = "zookeeper.enforce.auth.enabled"
ENFORCE_AUTH_SCHEMES = "zookeeper.enforce.auth.schemes"
SESSION_REQUIRE_CLIENT_SASL_AUTH = "zookeeper.sessionRequireClientSASLAuth"
ALLOW_SASL_FAILED_CLIENTS = "zookeeper.allowSaslFailedClients"
_MASK64 = (1 << 64) - 1


def _java_split(text: str, sep: str) -> list[str]:
    """``String.split``: trailing empty strings are dropped."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


class AuthenticationHelper:
    """The authentication rules of one server.

    :param auth: the server's provider registry (checks that enforced
        schemes exist; knows the SASL super users).
    :param properties: the SystemProperties; None means nothing enforced.
    """

    def __init__(self, auth, properties=None):
        self.auth = auth
        self.enforce_auth_enabled = False
        self.enforce_auth_schemes: list[str] = []
        self.allow_sasl_failed_clients = False
        if properties is not None:
            if (properties.get(SESSION_REQUIRE_CLIENT_SASL_AUTH) or "false").lower() == "true":
                self.enforce_auth_enabled = True
                self.enforce_auth_schemes = ["sasl"]
            else:
                self.enforce_auth_enabled = (properties.get(ENFORCE_AUTH_ENABLED) or "false").lower() == "true"
                schemes = properties.get(ENFORCE_AUTH_SCHEMES)
                if schemes is not None:
                    self.enforce_auth_schemes = [s.strip() for s in _java_split(schemes, ",")]
            self.allow_sasl_failed_clients = properties.get_bool(ALLOW_SASL_FAILED_CLIENTS)
        LOG.info("%s = %s, %s = %s", ENFORCE_AUTH_ENABLED, str(self.enforce_auth_enabled).lower(),
                 ENFORCE_AUTH_SCHEMES, self.enforce_auth_schemes)
        self._validate()
        self.sasl_auth_required = self.enforce_auth_enabled and "sasl" in self.enforce_auth_schemes

    def _validate(self) -> None:
        if not self.enforce_auth_enabled:
            return
        if not self.enforce_auth_schemes:
            raise ConfigException(f"{ENFORCE_AUTH_ENABLED} is true {ENFORCE_AUTH_SCHEMES} must be  configured.")
        for scheme in self.enforce_auth_schemes:
            if scheme not in self.auth.providers:
                hint = ""
                if scheme in ("sasl", "x509"):
                    hint = (f" (add authProvider.1=org.apache.zookeeper.server.auth."
                            f"{'SASL' if scheme == 'sasl' else 'X509'}AuthenticationProvider)")
                raise ConfigException(f"Authentication scheme {scheme} is not available.{hint}")

    # -- enforcement ----------------------------------------------------------------------------------

    def is_authenticated(self, cnxn) -> bool:
        schemes = self.enforce_auth_schemes
        return any(ident.scheme in schemes for ident in cnxn.auth_info)

    def enforce_authentication(self, cnxn, xid: int) -> bool:
        """True when the request may go on; else the client has been told
        SESSIONCLOSEDREQUIRESASLAUTH and its connection is closing."""
        if not self.enforce_auth_enabled or self.is_authenticated(cnxn):
            return True
        cnxn.send_response(ReplyHeader(xid, 0, int(Code.SESSIONCLOSEDREQUIRESASLAUTH)), None)
        LOG.error("Client authentication scheme(s) %s does not match with any of the expected authentication "
                  "scheme %s, closing session.", [i.scheme for i in cnxn.auth_info], self.enforce_auth_schemes)
        cnxn.close("not authenticated")
        return False

    # -- SASL ----------------------------------------------------------------------------------------

    def process_sasl(self, cnxn, xid: int, body, max_buffer: int) -> None:
        """One SASL packet (Java: ZooKeeperServer.processSasl)."""
        request = GetSASLRequest.deserialize(InputArchive(body, max_buffer=max_buffer))
        token = request.token or b""
        response_token = None
        server = getattr(cnxn, "sasl_server", None)
        if server is None:
            login = getattr(cnxn.factory, "sasl_login", None)
            if login is not None:
                server = cnxn.sasl_server = login.create_sasl_server()
        if server is None:
            LOG.error("cnxn.saslServer is null: cnxn object did not initialize its saslServer properly.")
        else:
            try:
                response_token = server.evaluate_response(token)
                if server.is_complete():
                    self._add_sasl_ids(cnxn, server.authorization_id)
            except SaslException as e:
                LOG.warning("Client %s failed to SASL authenticate: %s", cnxn.remote, e)
                if self.allow_sasl_failed_clients and not self.sasl_auth_required:
                    LOG.warning("Maintaining client connection despite SASL authentication failure.")
                else:
                    if self.sasl_auth_required:
                        LOG.warning("Closing client connection due to server requires client SASL "
                                    "authenticaiton,but client SASL authentication has failed, or client is "
                                    "not configured with SASL authentication.")
                        err = Code.SESSIONCLOSEDREQUIRESASLAUTH
                    else:
                        LOG.warning("Closing client connection due to SASL authentication failure.")
                        err = Code.AUTHFAILED
                    cnxn.send_response(ReplyHeader(xid, 0, int(err)), SetSASLResponse(None))
                    cnxn.close("SASL authentication failed")
                    return
        cnxn.send_response(ReplyHeader(xid, 0, 0), SetSASLResponse(response_token))

    def _add_sasl_ids(self, cnxn, authorization_id: str) -> None:
        LOG.info("Session 0x%x: adding SASL authorization for authorizationID: %s",
                 cnxn.session_id & _MASK64, authorization_id)
        ids = [Id("sasl", authorization_id)]
        if authorization_id in self.auth.sasl_super_users:
            ids.append(Id("super", ""))
            LOG.info("Session 0x%x: Authenticated Id '%s' as super user", cnxn.session_id & _MASK64,
                     authorization_id)
        for ident in ids:
            if ident not in cnxn.auth_info:
                cnxn.auth_info.append(ident)
