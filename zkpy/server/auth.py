"""ACL checks and the built-in authentication providers.

Java: ``ServerAuthenticationProvider`` with ``IPAuthenticationProvider`` and
``DigestAuthenticationProvider``, ``ProviderRegistry``, and the ACL helpers
``ZooKeeperServer.checkACL`` / ``PrepRequestProcessor.fixupACL``
(ZK_SPEC.md §2.9). Pure functions over lists of ``Id``/``ACL``.

The ip scheme is Java 3.8.0's: IPv4 only, ``a.b.c.d`` or ``a.b.c.d/bits``
(each part a Java int in range, so ``010`` is 10); a client connected over
IPv6 never matches an ip ACL.
"""

from __future__ import annotations

import base64
import hashlib
import re

from ..errors import Code, KeeperException
from ..jute.records import ACL, Id


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

    def handle_auth(self, client_ip: str, auth: bytes) -> list[Id] | None:
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

    def handle_auth(self, client_ip: str, auth: bytes) -> list[Id] | None:
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
        if not self.allows(acl, perm, ids):
            raise KeeperException(Code.NOAUTH)

    def allows(self, acl: list[ACL] | None, perm: int, ids: list[Id]) -> bool:
        """Do ``ids`` grant ``perm`` under ``acl``? (Java: checkACL without the throw)"""
        if self.skip_acl or not acl:
            return True
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
