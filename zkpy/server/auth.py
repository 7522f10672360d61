"""ACL checks and the authentication providers.

Java: ``ServerAuthenticationProvider`` with ``IPAuthenticationProvider``,
``DigestAuthenticationProvider``, ``X509AuthenticationProvider`` and
``SASLAuthenticationProvider``, ``ProviderRegistry``, and the ACL helpers
``ZooKeeperServer.checkACL`` / ``PrepRequestProcessor.fixupACL``
(ZK_SPEC.md §2.9). Pure functions over lists of ``Id``/``ACL``.

The ip scheme is Java 3.8.0's: IPv4 only, ``a.b.c.d`` or ``a.b.c.d/bits``
(each part a Java int in range, so ``010`` is 10); a client connected over
IPv6 never matches an ip ACL.

As in Java, ``ip`` and ``digest`` are always there (``digest`` unless
``zookeeper.DigestAuthenticationProvider.enabled=false``) and the others only
when a system property ``zookeeper.authProvider.<anything>`` (zoo.cfg:
``authProvider.1=...``) names their Java class, e.g.
``org.apache.zookeeper.server.auth.SASLAuthenticationProvider``. Other class
names cannot be loaded (a warning, as Java's "Problems loading").
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re

from ..errors import Code, KeeperException
from ..jute.records import ACL, Id
from .x509_principal import X509NameError, is_valid_name, subject_rfc2253

LOG = logging.getLogger(__name__)

AUTH_PROVIDER_PREFIX = "zookeeper.authProvider."
X509_PROVIDER_CLASS = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"
SASL_PROVIDER_CLASS = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
X509_SUPER_USER_PROPERTY = "zookeeper.X509AuthenticationProvider.superUser"
SUPER_USER_PROPERTY = "zookeeper.superUser"


def digest_id(user_password: str) -> str:
    """``user:base64(sha1(user:password))``, as DigestAuthenticationProvider."""
    user = user_password.split(":", 1)[0]
    digest = base64.b64encode(hashlib.sha1(user_password.encode("utf-8")).digest()).decode("ascii")
    return f"{user}:{digest}"


_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z")


def _java_int(text: str) -> int | None:
    """Integer.parseInt, or None where it would throw."""
    if not _JAVA_INT.match(text):
        return None
    value = int(text)
    return value if -(2**31) <= value < 2**31 else None


def _v4_bytes(addr: str) -> bytes | None:
    parts = addr.split(".")
    if len(parts) != 4:
        return None
    out = []
    for part in parts:
        value = _java_int(part)
        if value is None or not 0 <= value <= 255:
            return None
        out.append(value)
    return bytes(out)


def _ip_spec(spec: str) -> tuple[bytes, int] | None:
    """(address bytes, prefix bits) of an ip ACL id, or None if invalid."""
    addr, _, bits_text = spec.partition("/")
    raw = _v4_bytes(addr)
    if raw is None:
        return None
    bits = len(raw) * 8
    if "/" in spec:
        bits = _java_int(bits_text)
        if bits is None or not 0 <= bits <= len(raw) * 8:
            return None
    return raw, bits


def _masked(raw: bytes, bits: int) -> int:
    value = int.from_bytes(raw, "big")
    total = len(raw) * 8
    return value >> (total - bits) if bits else 0


class IPAuthenticationProvider:
    scheme = "ip"
    authenticated = False

    def handle_auth(self, client_ip: str, auth: bytes, cnxn=None) -> list[Id] | None:
        return [Id("ip", client_ip)]

    def is_valid(self, id_: str) -> bool:
        return _ip_spec(id_) is not None

    def matches(self, caller: str, acl_id: str) -> bool:
        spec = _ip_spec(acl_id)
        if spec is None:
            return False
        raw, bits = spec
        caller_raw = _v4_bytes(caller)
        return caller_raw is not None and _masked(caller_raw, bits) == _masked(raw, bits)


class DigestAuthenticationProvider:
    scheme = "digest"
    authenticated = True

    def __init__(self, super_digest: str | None = None):
        self.super_digest = super_digest

    def handle_auth(self, client_ip: str, auth: bytes, cnxn=None) -> list[Id] | None:
        text = auth.decode("utf-8", "replace")
        ident = digest_id(text)
        ids = [Id("digest", ident)]
        if self.super_digest and ident == self.super_digest:
            ids.insert(0, Id("super", ""))  # Java adds it first (whoAmI shows the order)
        return ids

    def is_valid(self, id_: str) -> bool:
        parts = id_.split(":")
        while parts and not parts[-1]:  # Java's split drops trailing empty strings
            parts.pop()
        return len(parts) == 2

    def matches(self, caller: str, acl_id: str) -> bool:
        return caller == acl_id


class X509AuthenticationProvider:
    """The x509 scheme: a TLS client is the subject of its certificate
    (``X500Principal.getName()``, e.g. ``CN=alice,OU=ops,O=example``).

    The certificate chain was checked against the trust store during the
    handshake; as in Java, without a configured trust store
    (``zookeeper.ssl.trustStore.location``) no one is authenticated. The
    subject equal to ``zookeeper.X509AuthenticationProvider.superUser`` also
    gets ``super:<subject>``, and that subject matches every x509 ACL.
    """

    scheme = "x509"
    authenticated = True

    def __init__(self, super_user: str | None = None, has_trust_store: bool = True):
        self.super_user = super_user
        self.has_trust_store = has_trust_store

    def handle_auth(self, client_ip: str, auth: bytes, cnxn=None) -> list[Id] | None:
        der = getattr(cnxn, "client_certificate", None)
        if not der:
            return None
        if not self.has_trust_store:
            LOG.error("No trust manager available to authenticate session 0x%x",
                      getattr(cnxn, "session_id", 0) & ((1 << 64) - 1))
            return None
        try:
            client_id = subject_rfc2253(der)
        except X509NameError as e:
            LOG.error("Cannot read the subject of the client certificate of %s: %s",
                      getattr(cnxn, "remote", "?"), e)
            return None
        ids = []
        if self.super_user is not None and client_id == self.super_user:
            ids.append(Id("super", client_id))
            LOG.info("Authenticated Id '%s' as super user", client_id)
        ids.append(Id("x509", client_id))
        LOG.info("Authenticated Id '%s' for Scheme 'x509'", client_id)
        return ids

    def is_valid(self, id_: str) -> bool:
        return is_valid_name(id_)

    def matches(self, caller: str, acl_id: str) -> bool:
        if self.super_user is not None and caller == self.super_user:
            return True
        return caller == acl_id


_KERBEROS_NAME = re.compile(r"[^/@]*(/[^/@]*)?@[^/@]*\Z")


class SASLAuthenticationProvider:
    """The sasl scheme: the id is the user name a SASL exchange (op 102)
    authenticated; an ``addauth sasl`` packet always fails. The id
    ``super`` matches every sasl ACL, and so does every id when the ACL
    names ``zookeeper.letAnySaslUserDoX``."""

    scheme = "sasl"
    authenticated = True

    def __init__(self, let_any_sasl_user_do_x: str | None = None):
        self.let_any_sasl_user_do_x = let_any_sasl_user_do_x

    def handle_auth(self, client_ip: str, auth: bytes, cnxn=None) -> list[Id] | None:
        return None

    def is_valid(self, id_: str) -> bool:
        # Java: new KerberosName(id) throws only for a malformed name with '@'.
        return "@" not in id_ or _KERBEROS_NAME.match(id_) is not None

    def matches(self, caller: str, acl_id: str) -> bool:
        if caller == "super" or caller == acl_id:
            return True
        return self.let_any_sasl_user_do_x is not None and acl_id == self.let_any_sasl_user_do_x


def _provider_from_class(class_name: str, properties, super_digest: str | None):
    """Java's ``Class.forName(...).newInstance()`` for the classes zkpy has."""
    if class_name == X509_PROVIDER_CLASS:
        return X509AuthenticationProvider(properties.get(X509_SUPER_USER_PROPERTY),
                                          bool(properties.get("zookeeper.ssl.trustStore.location")))
    if class_name == SASL_PROVIDER_CLASS:
        return SASLAuthenticationProvider(properties.get("zookeeper.letAnySaslUserDoX"))
    if class_name == "org.apache.zookeeper.server.auth.DigestAuthenticationProvider":
        return DigestAuthenticationProvider(super_digest)
    if class_name == "org.apache.zookeeper.server.auth.IPAuthenticationProvider":
        return IPAuthenticationProvider()
    return None


class AuthProviders:
    """The provider registry of one server (Java: ``ProviderRegistry``).

    :param properties: the SystemProperties (``zookeeper.authProvider.*``,
        the super users); None gives just ip and digest.
    """

    def __init__(self, super_digest: str | None = None, skip_acl: bool = False, properties=None):
        self.skip_acl = skip_acl
        self.providers = {"ip": IPAuthenticationProvider()}
        if properties is None or properties.get_bool("zookeeper.DigestAuthenticationProvider.enabled", True):
            self.providers["digest"] = DigestAuthenticationProvider(super_digest)
        #: SASL authorization ids that are super users (``zookeeper.superUser``, ``zookeeper.superUser.*``).
        self.sasl_super_users: frozenset[str] = frozenset()
        if properties is None:
            return
        super_users = set()
        for name, value in sorted(properties.as_dict().items()):
            if name.startswith(AUTH_PROVIDER_PREFIX):
                provider = _provider_from_class(value.strip(), properties, super_digest)
                if provider is None:
                    LOG.warning("Problems loading %s: zkpy has no such authentication provider", value)
                else:
                    self.providers[provider.scheme] = provider
            elif name == SUPER_USER_PROPERTY or name.startswith(SUPER_USER_PROPERTY + "."):
                super_users.add(value)
        self.sasl_super_users = frozenset(super_users)

    def user_name(self, ident: Id) -> str:
        """The user whoAmI shows for an id (Java: ``AuthUtil.getUser``): the
        digest user without its hash, "" for a scheme with no provider
        (``super``), else the id."""
        if ident.scheme not in self.providers:
            return ""
        return ident.id.split(":")[0] if ident.scheme == "digest" else ident.id

    def authenticate(self, scheme: str, client_ip: str, auth: bytes, cnxn=None) -> list[Id] | None:
        """The ids an auth packet adds, or None when it fails (AUTHFAILED).
        ``cnxn`` is the connection (x509 reads its client certificate)."""
        provider = self.providers.get(scheme)
        if provider is None:
            return None
        return provider.handle_auth(client_ip, auth, cnxn=cnxn)

    def check_acl(self, acl: list[ACL] | None, perm: int, ids: list[Id]) -> None:
        """Raise NOAUTH unless ``ids`` grant ``perm`` under ``acl``."""
        if not self.allows(acl, perm, ids):
            raise KeeperException(Code.NOAUTH)

    def allows(self, acl: list[ACL] | None, perm: int, ids: list[Id]) -> bool:
        """Do ``ids`` grant ``perm`` under ``acl``? (Java: checkACL without the throw)"""
        if self.skip_acl or not acl:
            return True
        perm = int(perm)  # an int mask: ``int & Perms`` would build a Flag each time
        for ident in ids:
            if ident.scheme == "super":
                return True
        for entry in acl:
            if not entry.perms & perm:
                continue
            acl_id = entry.id
            if acl_id.scheme == "world" and acl_id.id == "anyone":
                return True
            provider = self.providers.get(acl_id.scheme)
            if provider is None:
                continue
            for ident in ids:
                if ident.scheme == acl_id.scheme and provider.matches(ident.id, acl_id.id):
                    return True
        return False

    def fixup_acl(self, path: str, ids: list[Id], acls: list[ACL] | None) -> list[ACL]:
        """Validate ``acls`` and expand ``auth`` entries (raise INVALIDACL)."""
        unique: list[ACL] = []
        for entry in acls or ():
            if entry not in unique:
                unique.append(entry)
        if not unique:
            raise KeeperException(Code.INVALIDACL, path)
        result: list[ACL] = []
        for entry in unique:
            acl_id = entry.id
            if acl_id is None or acl_id.scheme is None:
                raise KeeperException(Code.INVALIDACL, path)
            if acl_id.scheme == "world" and acl_id.id == "anyone":
                result.append(entry)
            elif acl_id.scheme == "auth":
                expanded = False
                for ident in ids:
                    provider = self.providers.get(ident.scheme)
                    if provider is not None and provider.authenticated:
                        expanded = True
                        result.append(ACL(entry.perms, ident))
                if not expanded:
                    raise KeeperException(Code.INVALIDACL, path)
            else:
                provider = self.providers.get(acl_id.scheme)
                if provider is None or acl_id.id is None or not provider.is_valid(acl_id.id):
                    raise KeeperException(Code.INVALIDACL, path)
                result.append(entry)
        return result
