"""ACL checks and the built-in authentication providers.

Java: ``ServerAuthenticationProvider`` with ``IPAuthenticationProvider`` and
``DigestAuthenticationProvider``, ``ProviderRegistry``, and the ACL helpers
``ZooKeeperServer.checkACL`` / ``PrepRequestProcessor.fixupACL``
(ZK_SPEC.md §2.9). Pure functions over lists of ``Id``/``ACL``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress

from ..errors import Code, KeeperException
from ..jute.records import ACL, Id


def digest_id(user_password: str) -> str:
    """``user:base64(sha1(user:password))``, as DigestAuthenticationProvider."""
    user = user_password.split(":", 1)[0]
    digest = base64.b64encode(hashlib.sha1(user_password.encode("utf-8")).digest()).decode("ascii")
    return f"{user}:{digest}"


class IPAuthenticationProvider:
    scheme = "ip"
    authenticated = False

    def handle_auth(self, client_ip: str, auth: bytes) -> list[Id] | None:
        return [Id("ip", client_ip)]

    @staticmethod
    def _network(spec: str):
        try:
            return ipaddress.ip_network(spec, strict=False)
        except ValueError:
            return None

    def is_valid(self, id_: str) -> bool:
        return self._network(id_) is not None

    def matches(self, caller: str, acl_id: str) -> bool:
        net = self._network(acl_id)
        if net is None:
            return False
        try:
            return ipaddress.ip_address(caller) in net
        except ValueError:
            return False


class DigestAuthenticationProvider:
    scheme = "digest"
    authenticated = True

    def __init__(self, super_digest: str | None = None):
        self.super_digest = super_digest

    def handle_auth(self, client_ip: str, auth: bytes) -> list[Id] | None:
        text = auth.decode("utf-8", "replace")
        ident = digest_id(text)
        ids = [Id("digest", ident)]
        if self.super_digest and ident == self.super_digest:
            ids.append(Id("super", ""))
        return ids

    def is_valid(self, id_: str) -> bool:
        return len(id_.split(":")) == 2

    def matches(self, caller: str, acl_id: str) -> bool:
        return caller == acl_id


class AuthProviders:
    """The provider registry of one server."""

    def __init__(self, super_digest: str | None = None, skip_acl: bool = False):
        self.skip_acl = skip_acl
        self.providers = {
            "ip": IPAuthenticationProvider(),
            "digest": DigestAuthenticationProvider(super_digest),
        }

    def authenticate(self, scheme: str, client_ip: str, auth: bytes) -> list[Id] | None:
        """The ids an auth packet adds, or None when it fails (AUTHFAILED)."""
        provider = self.providers.get(scheme)
        if provider is None:
            return None
        return provider.handle_auth(client_ip, auth)

    def check_acl(self, acl: list[ACL] | None, perm: int, ids: list[Id]) -> None:
        """Raise NOAUTH unless ``ids`` grant ``perm`` under ``acl``."""
        if self.skip_acl or not acl:
            return
        for ident in ids:
            if ident.scheme == "super":
                return
        for entry in acl:
            if not entry.perms & perm:
                continue
            acl_id = entry.id
            if acl_id.scheme == "world" and acl_id.id == "anyone":
                return
            provider = self.providers.get(acl_id.scheme)
            if provider is None:
                continue
            for ident in ids:
                if ident.scheme == acl_id.scheme and provider.matches(ident.id, acl_id.id):
                    return
        raise KeeperException(Code.NOAUTH)

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
