"""Authentication providers and the ACL check (ZK_SPEC.md §2.9), as Java 3.8.0 decides."""

from __future__ import annotations

import pytest

from zkpy.errors import Code, KeeperException
from zkpy.jute.records import ACL, Id, OPEN_ACL_UNSAFE
from zkpy.server.auth import AuthProviders, DigestAuthenticationProvider, IPAuthenticationProvider, digest_id


@pytest.mark.parametrize("spec, valid", [
    ("127.0.0.1", True), ("10.0.0.0/8", True), ("0.0.0.0/0", True), ("1.2.3.4/32", True),
    ("010.0.0.1", True),  # Integer.parseInt("010") is 10
    ("+1.2.3.4", True),
    ("1.2.3.4/33", False), ("1.2.3.4/-1", False), ("1.2.3.4/", False), ("1.2.3", False),
    ("1.2.3.4.5", False), ("256.1.1.1", False), ("a.b.c.d", False), ("::1", False),
    ("fe80::/10", False), ("1.2.3.4/255.0.0.0", False), ("", False),
])
def test_ip_is_valid(spec, valid):
    assert IPAuthenticationProvider().is_valid(spec) is valid


@pytest.mark.parametrize("caller, spec, matches", [
    ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.1", "127.0.0.0/8", True),
    ("127.1.2.3", "127.255.255.255/8", True),  # host bits of the ACL are masked off
    ("128.0.0.1", "127.0.0.0/8", False),
    ("10.1.2.3", "10.1.2.0/23", True),
    ("10.1.4.3", "10.1.2.0/23", False),
    ("192.168.1.1", "1.1.1.1/0", True),
    ("::1", "127.0.0.1", False),  # 3.8.0 knows IPv4 only
    ("127.0.0.1", "not-an-ip", False),
])
def test_ip_matches(caller, spec, matches):
    assert IPAuthenticationProvider().matches(caller, spec) is matches


def test_digest():
    # The value Java's DigestAuthenticationProvider.generateDigest gives for these.
    assert digest_id("super:test") == "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
    provider = DigestAuthenticationProvider("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
    assert provider.handle_auth("127.0.0.1", b"super:test") == [
        Id("super", ""), Id("digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU=")]
    assert provider.handle_auth("127.0.0.1", b"bob:pw") == [Id("digest", digest_id("bob:pw"))]
    for spec, valid in [("u:d", True), ("u:", False), (":", False), ("u", False), ("a:b:c", False),
                        (":d", True)]:
        assert provider.is_valid(spec) is valid, spec


def test_unknown_scheme_fails_authentication():
    auth = AuthProviders()
    assert auth.authenticate("nosuch", "127.0.0.1", b"x") is None
    assert auth.authenticate("ip", "10.0.0.1", b"") == [Id("ip", "10.0.0.1")]


def test_check_acl():
    auth = AuthProviders()
    ip = [Id("ip", "127.0.0.1")]
    read_only = [ACL(1, Id("world", "anyone"))]
    assert auth.allows(read_only, 1, ip) and not auth.allows(read_only, 2, ip)
    assert auth.allows(read_only, 3, ip)  # any shared bit: Java's rule
    assert auth.allows([], 2, ip) and auth.allows(None, 2, ip)  # no ACL: no check
    with pytest.raises(KeeperException) as info:
        auth.check_acl([ACL(31, Id("ip", "10.0.0.0/8"))], 1, ip)
    assert info.value.code == Code.NOAUTH
    assert auth.allows([ACL(31, Id("ip", "10.0.0.0/8"))], 1, ip + [Id("super", "")])
    assert AuthProviders(skip_acl=True).allows([ACL(1, Id("ip", "10.0.0.0/8"))], 31, ip)
    assert not auth.allows([ACL(31, Id("nosuch", "x"))], 1, ip + [Id("nosuch", "x")])


def test_fixup_acl():
    auth = AuthProviders()
    me = [Id("ip", "127.0.0.1"), Id("digest", "u:h1"), Id("digest", "u2:h2")]
    assert auth.fixup_acl("/p", me, OPEN_ACL_UNSAFE + OPEN_ACL_UNSAFE) == OPEN_ACL_UNSAFE
    assert auth.fixup_acl("/p", me, [ACL(5, Id("auth", ""))]) == [ACL(5, me[1]), ACL(5, me[2])]
    for bad in ([], None, [ACL(31, Id("auth", ""))], [ACL(31, Id("world", "everyone"))],
                [ACL(31, Id("ip", "1.2.3.4/40"))], [ACL(31, Id("x509", "CN=a"))]):
        ids = me[:1] if bad == [ACL(31, Id("auth", ""))] else me
        with pytest.raises(KeeperException) as info:
            auth.fixup_acl("/p", ids, bad)
        assert info.value.code == Code.INVALIDACL
