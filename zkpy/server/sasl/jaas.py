"""The JAAS login file and the server's SASL login.

Java: ``sun.security.provider.ConfigFile`` (the file format of
``-Djava.security.auth.login.config``), ``ServerCnxnFactory.configureSaslLogin``
and ``org.apache.zookeeper.server.auth.SaslServerCallbackHandler``. A
ZooKeeper server reads the section named by ``zookeeper.sasl.serverconfig``
(default ``Server``); each option ``user_<name>="<password>"`` of its entries
is a DIGEST-MD5 user::

    Server {
        org.apache.zookeeper.server.auth.DigestLoginModule required
        user_super="adminsecret"
        user_bob="bobsecret";
    };

As in Java, there is no SASL when neither ``java.security.auth.login.config``
nor ``zookeeper.sasl.serverconfig`` is set, nor when the file has no such
section; when the file cannot be read or parsed (or only the section name is
set), the server does not start.
The quorum's sections (``QuorumServer``, ``QuorumLearner``) are read with
:func:`login_section` (see :mod:`zkpy.quorum.quorum_auth`).
The user ``super`` gets the password ``zookeeper.SASLAuthenticationProvider.superPassword``
when that property is set.

What zkpy does differently, on purpose: the login modules are not run.
``DigestLoginModule`` (the DIGEST-MD5 one) needs nothing; a section that
names Kerberos' ``Krb5LoginModule``, or any other module, is refused at
startup with a clear message: zkpy has no GSSAPI. ``${name}`` in a value is
expanded from the system properties, as Java does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Optional

import attrs

from .digest_md5 import DEFAULT_PROTOCOL, DEFAULT_SERVER_NAME, DigestMD5Server

LOG = logging.getLogger(__name__)

__all__ = ["JaasConfigError", "AppConfigurationEntry", "parse_jaas", "load_jaas", "SaslLogin",
           "configure_sasl_login", "login_section", "DIGEST_LOGIN_MODULE", "LOGIN_CONFIG_PROPERTY",
           "SERVER_SECTION_PROPERTY"]

LOGIN_CONFIG_PROPERTY = "java.security.auth.login.config"
SERVER_SECTION_PROPERTY = "zookeeper.sasl.serverconfig"
SUPER_PASSWORD_PROPERTY = "zookeeper.SASLAuthenticationProvider.superPassword"
DIGEST_LOGIN_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
_KERBEROS_MODULES = ("com.sun.security.auth.module.Krb5LoginModule",)
_FLAGS = ("required", "requisite", "sufficient", "optional")
_USER_PREFIX = "user_"


class JaasConfigError(OSError):
    """A JAAS file zkpy cannot use (Java: the IOException that stops the
    server in ``configureSaslLogin``)."""


@attrs.frozen
class AppConfigurationEntry:
    """One login-module line of a section (Java: ``AppConfigurationEntry``)."""

    login_module: str
    flag: str
    options: Mapping[str, str]


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|\#[^\n]*|/\*.*?\*/)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<punct>[{};=])
  | (?P<word>[^\s{};="]+)
""", re.VERBOSE | re.DOTALL)


def _tokens(text: str, source: str):
    pos = 0
    line = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise JaasConfigError(f"{source}:{line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup
        value = m.group()
        if kind == "quoted":
            yield "word", re.sub(r"\\(.)", r"\1", value[1:-1]), line
        elif kind in ("punct", "word"):
            yield (value if kind == "punct" else "word"), value, line
        line += value.count("\n")
        pos = m.end()


def _expand(value: str, properties, source: str) -> str:
    """``${name}`` from the system properties (Java's PropertyExpander)."""
    def one(m: re.Match) -> str:
        name = m.group(1)
        found = properties.get(name) if properties is not None else None
        if found is None:
            raise JaasConfigError(f"{source}: unable to expand ${{{name}}}: no such system property")
        return found
    return re.sub(r"\$\{([^}]*)\}", one, value)


def parse_jaas(text: str, source: str = "<jaas>", properties=None) -> dict[str, list[AppConfigurationEntry]]:
    """Sections of a JAAS login file: ``Name { Module Flag key=value ...; ... };``."""
    tokens = list(_tokens(text, source))
    sections: dict[str, list[AppConfigurationEntry]] = {}
    i = 0

    def expect(kind: str) -> tuple[str, int]:
        nonlocal i
        if i >= len(tokens):
            raise JaasConfigError(f"{source}: expected {kind!r} at the end of the file")
        got_kind, value, line = tokens[i]
        if got_kind != kind:
            raise JaasConfigError(f"{source}:{line}: expected {kind!r}, found {value!r}")
        i += 1
        return value, line

    while i < len(tokens):
        name, line = expect("word")
        if name in sections:
            raise JaasConfigError(f"{source}:{line}: section {name} appears twice")
        expect("{")
        entries: list[AppConfigurationEntry] = []
        while i < len(tokens) and tokens[i][0] != "}":
            module, _ = expect("word")
            flag, flag_line = expect("word")
            if flag.lower() not in _FLAGS:
                raise JaasConfigError(f"{source}:{flag_line}: invalid control flag {flag!r} "
                                      f"(one of {', '.join(_FLAGS)})")
            options: dict[str, str] = {}
            while i < len(tokens) and tokens[i][0] != ";":
                key, _ = expect("word")
                expect("=")
                value, _ = expect("word")
                options[key] = _expand(value, properties, source)
            expect(";")
            entries.append(AppConfigurationEntry(module, flag.lower(), options))
        expect("}")
        expect(";")
        sections[name] = entries
    return sections


def load_jaas(path: str, properties=None) -> dict[str, list[AppConfigurationEntry]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise JaasConfigError(f"cannot read the JAAS configuration {path}: {e.strerror or e}") from None
    return parse_jaas(text, path, properties)


class SaslLogin:
    """The server's SASL login: the DIGEST-MD5 users of its JAAS section
    (Java: ``Login`` with ``SaslServerCallbackHandler``); makes one
    :class:`DigestMD5Server` per connection."""

    def __init__(self, section: str, entries: list[AppConfigurationEntry], super_password: Optional[str] = None):
        self.section = section
        self.credentials: dict[str, str] = {}
        for entry in entries:
            for key, value in entry.options.items():
                if key.startswith(_USER_PREFIX):
                    self.credentials[key[len(_USER_PREFIX):]] = value
        self.super_password = super_password

    def password_of(self, user: str) -> Optional[str]:
        """SaslServerCallbackHandler's name and password callbacks."""
        if user == "super" and self.super_password is not None:
            return self.super_password
        password = self.credentials.get(user)
        if password is None:
            LOG.warning("User '%s' not found in list of DIGEST-MD5 authenticateable users.", user)
        return password

    def create_sasl_server(self, *, protocol: str = DEFAULT_PROTOCOL,
                           server_name: str = DEFAULT_SERVER_NAME) -> DigestMD5Server:
        """Java: ``new ZooKeeperSaslServer(login)`` (client port: ``zookeeper`` /
        ``zk-sasl-md5``); the quorum uses its own names
        (:mod:`zkpy.quorum.quorum_auth`)."""
        return DigestMD5Server(self.password_of, protocol=protocol, server_name=server_name)


def _check_login_modules(section: str, entries: list[AppConfigurationEntry]) -> None:
    """Only DigestLoginModule: zkpy has no Kerberos."""
    for entry in entries:
        if entry.login_module in _KERBEROS_MODULES:
            raise JaasConfigError(
                f"JAAS section '{section}' uses {entry.login_module}: Kerberos (GSSAPI) is not supported "
                f"by zkpy; use {DIGEST_LOGIN_MODULE} (DIGEST-MD5)")
        if entry.login_module != DIGEST_LOGIN_MODULE:
            raise JaasConfigError(
                "Could not configure server because SASL configuration did not allow the ZooKeeper server "
                f"to authenticate itself properly: no login module {entry.login_module} in zkpy "
                f"(it knows {DIGEST_LOGIN_MODULE} only)")


def login_section(properties, section: str) -> list[AppConfigurationEntry]:
    """The entries of JAAS section ``section`` of the file
    ``java.security.auth.login.config`` names (the quorum's ``QuorumServer``
    and ``QuorumLearner``). Raises :class:`JaasConfigError` when there is no
    file, no such section, or a login module other than DigestLoginModule
    (Java: the SaslException of ``SaslQuorumAuthServer`` / ``SaslQuorumAuthLearner``)."""
    jaas_file = properties.get(LOGIN_CONFIG_PROPERTY)
    entries = None
    if jaas_file is not None:
        entries = load_jaas(jaas_file, properties).get(section)
    if not entries:
        where = f"'{jaas_file}'" if jaas_file is not None else f"no file: -D{LOGIN_CONFIG_PROPERTY} is not set"
        raise JaasConfigError(f"SASL-authentication failed because the specified JAAS configuration section "
                              f"'{section}' could not be found ({where}).")
    _check_login_modules(section, entries)
    return entries


def configure_sasl_login(properties) -> Optional[SaslLogin]:
    """``ServerCnxnFactory.configureSaslLogin``: the login, or None when
    there is no SASL. Raises :class:`JaasConfigError` (the server does not
    start) when the JAAS configuration cannot be read although
    ``java.security.auth.login.config`` or ``zookeeper.sasl.serverconfig``
    asks for one; a readable file without the section means no SASL, as in
    Java."""
    section = properties.get(SERVER_SECTION_PROPERTY, "Server")
    explicit_section = properties.get(SERVER_SECTION_PROPERTY)
    jaas_file = properties.get(LOGIN_CONFIG_PROPERTY)
    entries = None
    load_error: Optional[JaasConfigError] = None
    if jaas_file is None:
        load_error = JaasConfigError("no java.security.auth.login.config")  # Java: no configuration at all
    else:
        try:
            entries = load_jaas(jaas_file, properties).get(section)
        except JaasConfigError as e:
            load_error = e
    if entries is None:
        if load_error is None:
            LOG.warning("%s has no section '%s': no SASL (as in Java)", jaas_file, section)
            return None
        if jaas_file is None and explicit_section is None:
            return None
        msg = f"No JAAS configuration section named '{section}' was found"
        if jaas_file is not None:
            msg += f" in '{jaas_file}'."
        if explicit_section is not None:
            msg += f" But {SERVER_SECTION_PROPERTY} was set."
        if jaas_file is not None:
            msg += f" ({load_error})"
        LOG.error(msg)
        raise JaasConfigError(msg)
    _check_login_modules(section, entries)
    login = SaslLogin(section, entries, properties.get(SUPER_PASSWORD_PROPERTY))
    LOG.info("SASL: DIGEST-MD5 with %d user(s) from section '%s' of %s", len(login.credentials), section,
             jaas_file)
    return login
