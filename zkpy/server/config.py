"""Server configuration: zoo.cfg plus Java system properties.

Stands for Java's ``QuorumPeerConfig.parse`` / ``ServerConfig`` (the part
that reads ``zoo.cfg``), ``java.util.Properties.load`` (the file format) and
``System.getProperty`` (the system properties ZooKeeper reads), as used by
``QuorumPeerMain`` in ZooKeeper 3.8.

What Java does, and zkpy with it:

* ``zoo.cfg`` is a Java properties file, read as ISO-8859-1; keys and values
  are trimmed.
* Keys that ``QuorumPeerConfig`` knows set fields (``tickTime``,
  ``dataDir`` ...). Every other key ``K`` becomes the system property
  ``zookeeper.K`` (``snapCount`` -> ``zookeeper.snapCount``), and it
  overrides a ``-Dzookeeper.K`` given on the command line, because Java
  calls ``System.setProperty`` after the JVM has started.
* System properties come from ``-Dname=value`` words. Java's start scripts
  put them in ``$SERVER_JVMFLAGS`` and ``$JVMFLAGS``; zkpy reads the same
  environment variables (``SERVER_JVMFLAGS`` first, so ``JVMFLAGS`` wins
  on a clash, as on the ``java`` command line ``zkServer.sh`` builds).
* A relative ``dataDir`` / ``dataLogDir`` is resolved against the process's
  working directory.
* ``dataDir/myid`` is read whenever it exists (also when standalone), and an
  invalid one is an error, as in Java.
* ``dynamicConfigFile`` holds the membership (``server.N``, ``group.N``,
  ``weight.N``; then zoo.cfg may not), its version is the file name's hex
  suffix (``zoo.cfg.dynamic.100000000``) and a ``version`` line inside is
  an error; ``<zoo.cfg>.dynamic.next``, if there, is a proposed config not
  yet committed (Java: the end of ``QuorumPeerConfig.parse``). The quorum
  peer writes these files (:mod:`zkpy.quorum.dynamic_config`).

What zkpy does differently, on purpose:

* A ``zoo.cfg`` key that already is the full name of a system property zkpy
  knows (``readonlymode.enabled``, ``jute.maxbuffer`` or any
  ``zookeeper.*`` key such as ``zookeeper.snapCount``) is used as that
  property. Java would set ``zookeeper.readonlymode.enabled`` etc., which
  nothing reads; zkpy logs a warning saying so. Such an entry is only a
  default: a ``-D`` flag for the same property wins.
* ``tickTime`` must be positive (Java only rejects 0 and then fails on the
  session timeouts). Integer values are reported as errors naming the key.
* ``server.N`` / ``group.N`` / ``weight.N`` lines are kept raw (only roles
  are looked at, to decide standalone vs. quorum); they never become
  system properties. The quorum code parses them.
* Paths are stored absolute.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Optional

import attrs

LOG = logging.getLogger(__name__)

__all__ = [
    "ConfigException",
    "SystemProperties",
    "ServerConfig",
    "parse_properties",
    "format_properties",
    "load_properties",
    "FOUR_LETTER_WORDS",
    "QUORUM_PEER_CONFIG_KEYS",
    "ZKPY_PROPERTY_NAMES",
    "UNSET_SERVER_ID",
]

#: Java's ``QuorumPeerConfig.UNSET_SERVERID``.
UNSET_SERVER_ID = -1

#: Every four-letter word ZooKeeper 3.8 knows (``FourLetterCommands``).
FOUR_LETTER_WORDS = frozenset(
    {
        "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok",
        "stmk", "srst", "srvr", "stat", "wchc", "wchp", "wchs", "mntr",
        "isro", "hash",
    }
)

#: zoo.cfg keys ``QuorumPeerConfig.parseProperties`` handles itself; any other
#: key K becomes the system property ``zookeeper.K``.
QUORUM_PEER_CONFIG_KEYS = frozenset(
    {
        "dataDir", "dataLogDir", "clientPort", "localSessionsEnabled",
        "localSessionsUpgradingEnabled", "clientPortAddress",
        "secureClientPort", "secureClientPortAddress", "observerMasterPort",
        "clientPortListenBacklog", "tickTime", "maxClientCnxns",
        "minSessionTimeout", "maxSessionTimeout", "initLimit",
        "connectToLearnerMasterLimit", "syncLimit", "electionAlg",
        "quorumListenOnAllIPs", "peerType", "syncEnabled",
        "dynamicConfigFile", "autopurge.snapRetainCount",
        "autopurge.purgeInterval", "standaloneEnabled", "reconfigEnabled",
        "sslQuorum", "portUnification", "sslQuorumReloadCertFiles",
        "quorum.auth.enableSasl", "quorum.auth.serverRequireSasl",
        "quorum.auth.learnerRequireSasl",
        "quorum.auth.learner.saslLoginContext",
        "quorum.auth.server.saslLoginContext",
        "quorum.auth.kerberos.servicePrincipal", "quorum.cnxn.threads.size",
        "jvm.pause.info-threshold.ms", "jvm.pause.warn-threshold.ms",
        "jvm.pause.sleep.time.ms", "jvm.pause.monitor",
        "metricsProvider.className", "quorum.portUnification",
        "multiAddress.enabled", "multiAddress.reachabilityCheckTimeoutMs",
        "multiAddress.reachabilityCheckEnabled", "oraclePath",
    }
)

#: Prefixes of known QuorumPeerConfig keys (``metricsProvider.*``).
_QUORUM_PEER_CONFIG_PREFIXES = ("metricsProvider.",)

#: Dynamic-membership keys: kept raw, never system properties.
_MEMBERSHIP_PREFIXES = ("server.", "group.", "weight.")
_MEMBERSHIP_KEYS = frozenset({"version"})

#: System properties without the ``zookeeper.`` prefix that zkpy reads. A
#: zoo.cfg key with one of these names (or starting with ``zookeeper.``) is
#: taken as that property (a zkpy extension; see the module docstring).
ZKPY_PROPERTY_NAMES = frozenset({
    "readonlymode.enabled", "jute.maxbuffer", "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute", "znode.container.maxNeverUsedIntervalMs",
})

_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class ConfigException(Exception):
    """A bad configuration (Java's ``QuorumPeerConfig.ConfigException``)."""


# --------------------------------------------------------------------------
# java.util.Properties
# --------------------------------------------------------------------------

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_WHITESPACE = " \t\f"


def _logical_lines(text: str) -> Iterable[str]:
    """Yield the logical lines of a properties file (Java's ``LineReader``).

    Comment and blank lines are dropped; a line ending in an odd number of
    backslashes continues on the next one, whose leading whitespace is
    skipped.
    """
    for _lineno, line in _numbered_logical_lines(text):
        yield line


def _numbered_logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """:func:`_logical_lines` with the (1-based) number of the physical line each starts on."""
    physical = re.split(r"\r\n|\r|\n", text)
    pending: Optional[str] = None
    start = 0
    for lineno, line in enumerate(physical, 1):
        if pending is None:
            start = lineno
            stripped = line.lstrip(_WHITESPACE)
            if not stripped or stripped[0] in "#!":
                continue
        else:
            stripped = line.lstrip(_WHITESPACE)
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        if trailing % 2 == 1:
            pending = (pending or "") + stripped[:-1]
            continue
        yield start, (pending or "") + stripped
        pending = None
    if pending:
        yield start, pending


def _unescape(text: str, where: str) -> str:
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= n:
            break
        c = text[i]
        if c == "u":
            digits = text[i + 1:i + 5]
            if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ConfigException(f"Malformed \\uxxxx encoding in {where}")
            out.append(chr(int(digits, 16)))
            i += 5
            continue
        out.append(_ESCAPES.get(c, c))
        i += 1
    result = "".join(out)
    if "\\u" in text:
        # Java strings are UTF-16: a \uD8xx\uDCxx pair is one character.
        result = result.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
    return result


def _split_key_value(line: str) -> tuple[str, str]:
    """Split one logical line into raw (still escaped) key and value."""
    i = 0
    n = len(line)
    key_end = n
    value_start = n
    has_separator = False
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in "=:":
            key_end = i
            value_start = i + 1
            has_separator = True
            break
        if c in _WHITESPACE:
            key_end = i
            value_start = i + 1
            break
        i += 1
    rest = line[value_start:].lstrip(_WHITESPACE)
    if not has_separator and rest and rest[0] in "=:":
        rest = rest[1:].lstrip(_WHITESPACE)
    return line[:key_end], rest


def parse_properties(text: str, source: str = "<string>",
                     line_numbers: Optional[dict[str, int]] = None) -> dict[str, str]:
    """Parse properties-file text as ``java.util.Properties.load`` does.

    Supports ``key=value``, ``key: value`` and ``key value``; ``#`` and ``!``
    comment lines; backslash line continuation; the escapes ``\\t \\n \\r \\f
    \\uXXXX`` and ``\\<any>``. Keys and values are returned as Java stores
    them (values keep trailing whitespace); a later duplicate key wins.
    ``line_numbers``, if given, receives each key's line (the last one).
    """
    props: dict[str, str] = {}
    for lineno, line in _numbered_logical_lines(text):
        raw_key, raw_value = _split_key_value(line)
        key = _unescape(raw_key, f"{source} line {lineno} (key {raw_key!r})")
        props[key] = _unescape(raw_value, f"{source} line {lineno} (key {key!r})")
        if line_numbers is not None:
            line_numbers[key] = lineno
    return props


def _escape(text: str, is_key: bool) -> str:
    out = []
    for i, c in enumerate(text):
        if c == "\\":
            out.append("\\\\")
        elif c == "\t":
            out.append("\\t")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\f":
            out.append("\\f")
        elif c in "=:#!" or (c == " " and (is_key or i == 0)):
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) > 0x7E:
            out.append("".join(f"\\u{unit:04x}" for unit in _utf16_units(c)))
        else:
            out.append(c)
    return "".join(out)


def _utf16_units(c: str) -> list[int]:
    data = c.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def format_properties(props: Mapping[str, object], header: Optional[str] = None) -> str:
    """Render a mapping as properties-file text (``Properties.store``),
    ASCII only, so that :func:`parse_properties` reads it back unchanged."""
    lines = []
    if header:
        lines.extend(f"# {line}" for line in header.splitlines())
    for key, value in props.items():
        lines.append(f"{_escape(str(key), True)}={_escape(str(value), False)}")
    return "\n".join(lines) + "\n"


def load_properties(path: str | os.PathLike, line_numbers: Optional[dict[str, int]] = None) -> dict[str, str]:
    """Read a properties file (ISO-8859-1, as ``Properties.load(InputStream)``)."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_properties(data.decode("latin-1"), source=os.fspath(path), line_numbers=line_numbers)


# --------------------------------------------------------------------------
# Java number parsing
# --------------------------------------------------------------------------

def _parse_java_int(text: str, lo: int = _INT_MIN, hi: int = _INT_MAX) -> int:
    """``Integer.parseInt`` / ``Long.parseLong``: ``[+-]?[0-9]+`` in range."""
    if not _INT_RE.match(text):
        raise ValueError(f"For input string: {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"out of range: {text!r}")
    return value


def _decode_java_int(text: str, lo: int = _INT_MIN, hi: int = _INT_MAX) -> int:
    """``Integer.decode`` / ``Long.decode`` (used by ``Integer.getInteger``).

    Accepts an optional sign, then ``0x``/``0X``/``#`` hex, a leading ``0``
    for octal, or decimal.
    """
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s[:2].lower() == "0x":
        base, digits = 16, s[2:]
    elif s[:1] == "#":
        base, digits = 16, s[1:]
    elif s[:1] == "0" and len(s) > 1:
        base, digits = 8, s[1:]
    else:
        base, digits = 10, s
    if not digits or digits[0] in "+-" or not all(
        c in "0123456789abcdefABCDEF"[: base + (6 if base == 16 else 0)] for c in digits
    ):
        raise ValueError(f"For input string: {text!r}")
    value = sign * int(digits, base)
    if not lo <= value <= hi:
        raise ValueError(f"out of range: {text!r}")
    return value


# --------------------------------------------------------------------------
# System properties
# --------------------------------------------------------------------------

class SystemProperties:
    """The Java system properties a zkpy server process sees.

    Stands for ``System.getProperty`` and friends. Built from ``-D`` words
    (see :meth:`from_environ`) and then from zoo.cfg (see
    :meth:`ServerConfig.from_properties`). Values are strings; the typed
    getters follow the Java call sites ZooKeeper uses.
    """

    JVMFLAGS_VARIABLES = ("SERVER_JVMFLAGS", "JVMFLAGS")

    def __init__(self, props: Mapping[str, str] | None = None) -> None:
        self._props: dict[str, str] = dict(props or {})

    @staticmethod
    def parse_jvm_flags(flags: str) -> dict[str, str]:
        """The ``-Dname=value`` words of a JVM command line (``-Dname`` = "")."""
        try:
            words = shlex.split(flags)
        except ValueError:
            LOG.warning("Unbalanced quotes in JVM flags %r; splitting on whitespace", flags)
            words = flags.split()
        props: dict[str, str] = {}
        for word in words:
            if not word.startswith("-D") or len(word) == 2:
                continue
            name, _, value = word[2:].partition("=")
            props[name] = value
        return props

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "SystemProperties":
        """Properties from ``$SERVER_JVMFLAGS`` then ``$JVMFLAGS`` (later wins)."""
        env = os.environ if environ is None else environ
        props: dict[str, str] = {}
        for var in cls.JVMFLAGS_VARIABLES:
            flags = env.get(var)
            if flags:
                props.update(cls.parse_jvm_flags(flags))
        return cls(props)

    # -- mapping-ish access ---------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._props

    def __len__(self) -> int:
        return len(self._props)

    def __repr__(self) -> str:
        return f"SystemProperties({self._props!r})"

    def as_dict(self) -> dict[str, str]:
        """A copy of all properties."""
        return dict(self._props)

    def set(self, name: str, value: str) -> None:
        """``System.setProperty``."""
        self._props[name] = str(value)

    def set_default(self, name: str, value: str) -> None:
        """Set ``name`` only if it is not set yet."""
        self._props.setdefault(name, str(value))

    def clear(self, name: str) -> None:
        """``System.clearProperty``."""
        self._props.pop(name, None)

    # -- typed getters --------------------------------------------------------

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """``System.getProperty(name, default)``."""
        return self._props.get(name, default)

    def get_bool(self, name: str, default: bool = False) -> bool:
        """``Boolean.parseBoolean(System.getProperty(name))``: only "true"
        (any case) is true; ``default`` when unset (``Boolean.getBoolean``
        when ``default`` is False)."""
        value = self._props.get(name)
        if value is None:
            return default
        return value.lower() == "true"

    def get_int(self, name: str, default: int) -> int:
        """``Integer.getInteger(name, default)``: decimal, hex (0x, #) or
        octal (leading 0); ``default`` if unset or invalid (with a warning)."""
        return self._get_number(name, default, _INT_MIN, _INT_MAX)

    def get_long(self, name: str, default: int) -> int:
        """``Long.getLong(name, default)``, like :meth:`get_int` for 64 bits."""
        return self._get_number(name, default, _LONG_MIN, _LONG_MAX)

    def _get_number(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self._props.get(name)
        if value is None:
            return default
        try:
            return _decode_java_int(value, lo, hi)
        except ValueError:
            LOG.warning(
                "System property %s=%r is not a valid number; using the default %d",
                name, value, default,
            )
            return default


# --------------------------------------------------------------------------
# ServerConfig
# --------------------------------------------------------------------------

def _server_role(value: str) -> str:
    """The role of a ``server.N`` line: "participant" or "observer"."""
    address = value.split(";", 1)[0].split("|", 1)[0].strip()
    last = address.rsplit(":", 1)[-1].strip().lower()
    return "observer" if last == "observer" else "participant"


def _server_client_address(value: str) -> Optional[tuple[Optional[str], str]]:
    """The ``;[clientHost:]clientPort`` part of a server line, raw."""
    if ";" not in value:
        return None
    client = value.split(";", 1)[1].strip()
    if not client:
        return None
    if client.startswith("["):
        host, _, port = client[1:].partition("]")
        return host, port.lstrip(":")
    if ":" in client:
        host, port = client.rsplit(":", 1)
        return host, port
    return None, client


def _read_myid(data_dir: str) -> int:
    """``QuorumPeerConfig.setupMyId``: first line of ``dataDir/myid`` as a
    long, untrimmed; ``UNSET_SERVER_ID`` if there is no such file."""
    path = os.path.join(data_dir, "myid")
    if not os.path.isfile(path):
        return UNSET_SERVER_ID
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", errors="replace")
    lines = re.split(r"\r\n|\r|\n", data)
    first = lines[0] if data else None
    try:
        if first is None:
            raise ValueError("empty file")
        return _parse_java_int(first, _LONG_MIN, _LONG_MAX)
    except ValueError:
        raise ConfigException(f"serverid {first} is not a number (in {path})") from None


class _EntryTracker(dict):
    """The zoo.cfg entries, remembering which one is being parsed (for the
    line number of an error)."""

    current: Optional[str] = None

    def items(self):  # type: ignore[override]
        for key, value in super().items():
            self.current = key
            yield key, value


@attrs.define(kw_only=True)
class ServerConfig:
    """A parsed zoo.cfg: Java's ``QuorumPeerConfig`` fields plus the system
    properties ZooKeeper's server reads.

    Build one with :meth:`parse` (a file) or :meth:`from_properties` (a
    mapping). Durations are in milliseconds unless named otherwise.
    """

    # -- where it came from ---------------------------------------------------
    config_path: Optional[str] = None
    #: All zoo.cfg entries, keys and values trimmed.
    raw: dict[str, str] = attrs.field(factory=dict)
    properties: SystemProperties = attrs.field(factory=SystemProperties)

    # -- QuorumPeerConfig fields ---------------------------------------------
    tick_time: int = 3000
    init_limit: int = 0
    sync_limit: int = 0
    connect_to_learner_master_limit: int = 0
    data_dir: str = ""
    data_log_dir: str = ""
    #: 0 = not set (no plain client listener).
    client_port: int = 0
    #: The host from ``clientPortAddress``; None = all interfaces.
    client_port_address: Optional[str] = None
    secure_client_port: int = 0
    secure_client_port_address: Optional[str] = None
    observer_master_port: int = 0
    client_port_listen_backlog: int = -1
    max_client_cnxns: int = 60
    min_session_timeout: int = -1
    max_session_timeout: int = -1
    election_alg: int = 3
    #: "participant" or "observer".
    peer_type: str = "participant"
    quorum_listen_on_all_ips: bool = False
    sync_enabled: bool = True
    dynamic_config_file: Optional[str] = None
    snap_retain_count: int = 3
    #: Hours between purges; 0 = never.
    purge_interval: int = 0
    standalone_enabled: bool = True
    reconfig_enabled: bool = False
    local_sessions_enabled: bool = False
    local_sessions_upgrading_enabled: bool = False
    multi_address_enabled: bool = False
    #: ``sslQuorum``: the peers talk TLS (``ssl.quorum.*`` settings, :mod:`zkpy.quorum.quorum_socket`).
    ssl_quorum: bool = False
    #: ``portUnification``: the quorum ports accept TLS and plaintext alike.
    port_unification: bool = False
    #: Quorum SASL (:mod:`zkpy.quorum.quorum_auth`): ``quorum.auth.enableSasl``,
    #: ``.serverRequireSasl``, ``.learnerRequireSasl``, the JAAS sections
    #: ``quorum.auth.server.saslLoginContext`` / ``quorum.auth.learner.saslLoginContext``,
    #: ``quorum.auth.kerberos.servicePrincipal`` (kept, unused: no Kerberos) and
    #: ``quorum.cnxn.threads.size`` (election connections authenticating at once; 20 at
    #: least, as Java ignores smaller values).
    quorum_enable_sasl: bool = False
    quorum_server_require_sasl: bool = False
    quorum_learner_require_sasl: bool = False
    quorum_server_login_context: str = "QuorumServer"
    quorum_learner_login_context: str = "QuorumLearner"
    quorum_service_principal: str = "zkquorum/localhost"
    quorum_cnxn_threads_size: int = 20
    #: ``server.N`` values, raw, by N.
    servers: dict[int, str] = attrs.field(factory=dict)
    #: ``group.N`` values, raw, by N.
    groups: dict[int, str] = attrs.field(factory=dict)
    #: ``weight.N`` values, raw, by N.
    weights: dict[int, str] = attrs.field(factory=dict)
    #: The ``version`` key of the membership (hex string), if any.
    membership_version: Optional[str] = None
    #: The text of ``<zoo.cfg>.dynamic.next``: a proposed config not yet
    #: committed when the peer stopped (None: there is none).
    next_dynamic_config: Optional[str] = None
    #: From ``dataDir/myid``; ``UNSET_SERVER_ID`` (-1) when there is none.
    server_id: int = UNSET_SERVER_ID

    # -- from system properties ----------------------------------------------
    snap_count: int = 100000
    #: ``zookeeper.snapSizeLimitInKb``; <= 0 disables the size trigger.
    snap_size_limit_kb: int = 4194304
    #: Txn-log preallocation block, in KB (``zookeeper.preAllocSize``).
    pre_alloc_size_kb: int = 65536
    global_outstanding_limit: int = 1000
    force_sync: bool = True
    jute_max_buffer: int = 0xFFFFF
    four_letter_word_whitelist: frozenset[str] = frozenset({"srvr"})
    read_only_mode_enabled: bool = False
    extended_types_enabled: bool = False
    #: ``zookeeper.enforceQuota``: refuse writes past a hard quota limit.
    enforce_quota: bool = False
    #: ContainerManager: ``znode.container.checkIntervalMs``, ``.maxPerMinute``,
    #: ``.maxNeverUsedIntervalMs`` (0 = never-used containers are kept).
    container_check_interval_ms: int = 60000
    container_max_per_minute: int = 10000
    container_max_never_used_interval_ms: int = 0
    super_digest: Optional[str] = None
    skip_acl: bool = False
    digest_enabled: bool = True
    close_session_txn_enabled: bool = True
    snapshot_compression_method: str = ""
    commit_log_count: int = 500
    #: ``zookeeper.maxCnxns``: total client connections; 0 = unlimited.
    max_cnxns: int = 0
    #: ``zookeeper.nio.sessionlessCnxnTimeout``: ms a connection may stay without a session.
    sessionless_cnxn_timeout: int = 10000
    datadir_autocreate: bool = True
    admin_enable_server: bool = True
    admin_server_address: str = "0.0.0.0"
    admin_server_port: int = 8080

    # ------------------------------------------------------------------------

    @property
    def voting_members(self) -> dict[int, str]:
        """``server.N`` entries whose role is participant."""
        return {sid: v for sid, v in self.servers.items() if _server_role(v) == "participant"}

    @property
    def observing_members(self) -> dict[int, str]:
        """``server.N`` entries whose role is observer."""
        return {sid: v for sid, v in self.servers.items() if _server_role(v) == "observer"}

    @property
    def is_distributed(self) -> bool:
        """Java's ``isDistributed``: a quorum with several voters, or any
        voter when ``standaloneEnabled=false``."""
        voters = len(self.voting_members)
        return voters > 0 and (not self.standalone_enabled or voters > 1)

    @property
    def is_standalone(self) -> bool:
        """True when ``QuorumPeerMain`` would run ``ZooKeeperServerMain``."""
        return not self.is_distributed

    @property
    def client_address(self) -> Optional[tuple[str, int]]:
        """(host, port) to listen on for clients, or None if no clientPort.
        The host is "0.0.0.0" when ``clientPortAddress`` is not set."""
        if not self.client_port:
            return None
        return (self.client_port_address or "0.0.0.0", self.client_port)

    @property
    def secure_client_address(self) -> Optional[tuple[str, int]]:
        """(host, port) of the TLS client listener, or None if no
        ``secureClientPort``; the host is "0.0.0.0" when
        ``secureClientPortAddress`` is not set (as in Java)."""
        if not self.secure_client_port:
            return None
        return (self.secure_client_port_address or "0.0.0.0", self.secure_client_port)

    @property
    def pre_alloc_size(self) -> int:
        """The txn-log preallocation block in bytes."""
        return self.pre_alloc_size_kb * 1024

    def is_4lw_enabled(self, command: str) -> bool:
        """``FourLetterCommands.isEnabled``."""
        return command in self.four_letter_word_whitelist

    # ------------------------------------------------------------------------

    @classmethod
    def parse(
        cls,
        path: str | os.PathLike,
        *,
        environ: Mapping[str, str] | None = None,
        system_properties: SystemProperties | None = None,
    ) -> "ServerConfig":
        """Read and parse a zoo.cfg file (``QuorumPeerConfig.parse``).

        System properties start from ``system_properties`` if given, else
        from the ``-D`` flags in ``environ`` (default ``os.environ``).
        """
        path_str = os.fspath(path)
        LOG.info("Reading configuration from: %s", path_str)
        if not os.path.isabs(path_str) and not path_str.startswith("./"):
            LOG.warning("%s is relative. Prepend ./ to indicate that you're sure!", path_str)
        if not os.path.exists(path_str):
            raise ConfigException(f"Error processing {path_str}: {path_str} file is missing")
        line_numbers: dict[str, int] = {}
        try:
            props = load_properties(path_str, line_numbers)
        except OSError as e:
            raise ConfigException(f"Error processing {path_str}: {e}") from e
        except ConfigException as e:
            raise ConfigException(f"Error processing {path_str}: {e}") from None
        config_path = os.path.abspath(path_str)
        try:
            return cls.from_properties(
                props,
                config_path=config_path,
                environ=environ,
                system_properties=system_properties,
            )
        except ConfigException as e:
            # Name the line of the entry that failed, so the operator can go straight to it.
            line = line_numbers.get(getattr(e, "key", None) or "")
            prefix = f"Error processing {config_path}: "
            if line is None or not str(e).startswith(prefix):
                raise
            error = ConfigException(f"Error processing {config_path} line {line}: {str(e)[len(prefix):]}")
            error.key = e.key  # type: ignore[attr-defined]
            raise error from None

    @classmethod
    def from_properties(
        cls,
        props: Mapping[str, str],
        *,
        config_path: Optional[str] = None,
        environ: Mapping[str, str] | None = None,
        system_properties: SystemProperties | None = None,
    ) -> "ServerConfig":
        """Build a config from zoo.cfg entries (``parseProperties``)."""
        where = config_path or "<properties>"
        sysprops = (
            system_properties
            if system_properties is not None
            else SystemProperties.from_environ(environ)
        )
        raw = {str(k).strip(): str(v).strip() for k, v in props.items()}
        cfg = cls(config_path=config_path, raw=raw, properties=sysprops)
        entries = _EntryTracker(raw)
        try:
            cfg._parse_entries(entries, where)
            entries.current = None
            cfg._apply_system_properties()
            cfg._check()
        except ConfigException as e:
            msg = str(e)
            if not msg.startswith("Error processing"):
                msg = f"Error processing {where}: {msg}"
            error = ConfigException(msg)
            #: The zoo.cfg key whose entry was rejected (None: not one entry's fault).
            error.key = entries.current  # type: ignore[attr-defined]
            raise error from None
        return cfg

    # -- parsing steps --------------------------------------------------------

    def _parse_entries(self, raw: Mapping[str, str], where: str) -> None:
        def to_int(key: str, value: str) -> int:
            try:
                return _parse_java_int(value)
            except ValueError:
                raise ConfigException(f"{key}: {value!r} is not an integer") from None

        def to_bool(key: str, value: str) -> bool:
            if value.lower() == "true":
                return True
            if value.lower() == "false":
                return False
            raise ConfigException(f"Invalid option {value} for {key}. Choose 'true' or 'false.'")

        int_fields = {
            "clientPort": "client_port",
            "secureClientPort": "secure_client_port",
            "observerMasterPort": "observer_master_port",
            "clientPortListenBacklog": "client_port_listen_backlog",
            "tickTime": "tick_time",
            "maxClientCnxns": "max_client_cnxns",
            "minSessionTimeout": "min_session_timeout",
            "maxSessionTimeout": "max_session_timeout",
            "initLimit": "init_limit",
            "connectToLearnerMasterLimit": "connect_to_learner_master_limit",
            "syncLimit": "sync_limit",
            "electionAlg": "election_alg",
            "autopurge.snapRetainCount": "snap_retain_count",
            "autopurge.purgeInterval": "purge_interval",
            "quorum.cnxn.threads.size": "quorum_cnxn_threads_size",
        }
        bool_fields = {
            "localSessionsEnabled": "local_sessions_enabled",
            "localSessionsUpgradingEnabled": "local_sessions_upgrading_enabled",
            "quorumListenOnAllIPs": "quorum_listen_on_all_ips",
            "syncEnabled": "sync_enabled",
            "standaloneEnabled": "standalone_enabled",
            "reconfigEnabled": "reconfig_enabled",
            "multiAddress.enabled": "multi_address_enabled",
            "sslQuorum": "ssl_quorum",
            "portUnification": "port_unification",
            "quorum.auth.enableSasl": "quorum_enable_sasl",
            "quorum.auth.serverRequireSasl": "quorum_server_require_sasl",
            "quorum.auth.learnerRequireSasl": "quorum_learner_require_sasl",
        }
        str_fields = {
            "quorum.auth.server.saslLoginContext": "quorum_server_login_context",
            "quorum.auth.learner.saslLoginContext": "quorum_learner_login_context",
            "quorum.auth.kerberos.servicePrincipal": "quorum_service_principal",
        }
        has_dynamic_file = "dynamicConfigFile" in raw

        for key, value in raw.items():
            if key in int_fields:
                setattr(self, int_fields[key], to_int(key, value))
                if key == "electionAlg" and self.election_alg != 3:
                    raise ConfigException("Invalid electionAlg value. Only 3 is supported.")
            elif key in bool_fields:
                setattr(self, bool_fields[key], to_bool(key, value))
            elif key in str_fields:
                setattr(self, str_fields[key], value)
            elif key == "dataDir":
                self.data_dir = self._resolve_dir(key, value)
            elif key == "dataLogDir":
                self.data_log_dir = self._resolve_dir(key, value)
            elif key == "clientPortAddress":
                self.client_port_address = value
            elif key == "secureClientPortAddress":
                self.secure_client_port_address = value
            elif key == "peerType":
                if value.lower() not in ("observer", "participant"):
                    raise ConfigException(f"Unrecognised peertype: {value}")
                self.peer_type = value.lower()
            elif key == "dynamicConfigFile":
                self.dynamic_config_file = value
            elif key.startswith(_MEMBERSHIP_PREFIXES) or key in _MEMBERSHIP_KEYS:
                if has_dynamic_file:
                    raise ConfigException(
                        f"parameter: {key} must be in a separate dynamic config file"
                    )
                self._parse_membership_entry(key, value)
            elif key.startswith(("group", "weight")) and has_dynamic_file:
                raise ConfigException(f"parameter: {key} must be in a separate dynamic config file")
            elif key in QUORUM_PEER_CONFIG_KEYS or key.startswith(_QUORUM_PEER_CONFIG_PREFIXES):
                # Known to Java, not (yet) used by zkpy: kept in ``raw``.
                pass
            elif key in ZKPY_PROPERTY_NAMES or key.startswith("zookeeper."):
                LOG.warning(
                    "%s: %s is a system property name; Java ZooKeeper would set "
                    "zookeeper.%s (and ignore it), zkpy uses it as %s unless -D%s is given",
                    where, key, key, key, key,
                )
                self.properties.set_default(key, value)
            else:
                name = "zookeeper." + key
                old = self.properties.get(name)
                if old is not None and old != value:
                    LOG.info("zoo.cfg %s=%s overrides -D%s=%s (as in Java)", key, value, name, old)
                self.properties.set(name, value)

    def _check_quorum_auth(self) -> None:
        """Java's checks after ``parseProperties``' loop: a peer that requires
        SASL must have it enabled, and one that requires it of learners must
        itself authenticate as a learner (else it could never join)."""
        enabled = "quorum.auth.enableSasl"
        server, learner = "quorum.auth.serverRequireSasl", "quorum.auth.learnerRequireSasl"
        if not self.quorum_enable_sasl and self.quorum_server_require_sasl:
            raise ConfigException(f"{enabled} is disabled, so cannot enable {server}")
        if not self.quorum_enable_sasl and self.quorum_learner_require_sasl:
            raise ConfigException(f"{enabled} is disabled, so cannot enable {learner}")
        if not self.quorum_learner_require_sasl and self.quorum_server_require_sasl:
            raise ConfigException(f"{learner} is disabled, so cannot enable {server}")
        # Java's QuorumPeer.setQuorumCnxnThreadsSize takes only values above its default, 20.
        self.quorum_cnxn_threads_size = max(self.quorum_cnxn_threads_size, 20)

    def _parse_membership_entry(self, key: str, value: str) -> None:
        if key == "version":
            self.membership_version = value
            return
        prefix, _, ident = key.partition(".")
        try:
            sid = _parse_java_int(ident, _LONG_MIN, _LONG_MAX)
        except ValueError:
            raise ConfigException(f"{key}: {ident!r} is not a number") from None
        table = {"server": self.servers, "group": self.groups, "weight": self.weights}[prefix]
        table[sid] = value

    @staticmethod
    def _resolve_dir(key: str, value: str) -> str:
        if not value:
            raise ConfigException(f"{key} is empty")
        if not os.path.isabs(value) and not value.startswith("./"):
            LOG.warning("%s is relative. Prepend ./ to indicate that you're sure!", value)
        return os.path.abspath(value)

    def _apply_system_properties(self) -> None:
        p = self.properties
        snap_count = p.get_int("zookeeper.snapCount", 100000)
        if snap_count < 2:
            LOG.warning("SnapCount should be 2 or more. Now, snapCount is reset to 2")
            snap_count = 2
        self.snap_count = snap_count
        self.snap_size_limit_kb = p.get_long("zookeeper.snapSizeLimitInKb", 4194304)
        self.pre_alloc_size_kb = p.get_long("zookeeper.preAllocSize", 65536)
        self.global_outstanding_limit = p.get_int("zookeeper.globalOutstandingLimit", 1000)
        self.force_sync = p.get("zookeeper.forceSync", "yes") != "no"
        self.skip_acl = p.get("zookeeper.skipACL", "no") == "yes"
        self.jute_max_buffer = p.get_int("jute.maxbuffer", 0xFFFFF)
        self.read_only_mode_enabled = p.get_bool("readonlymode.enabled")
        self.extended_types_enabled = p.get_bool("zookeeper.extendedTypesEnabled")
        self.enforce_quota = p.get_bool("zookeeper.enforceQuota")
        self.container_check_interval_ms = p.get_int("znode.container.checkIntervalMs", 60000)
        self.container_max_per_minute = p.get_int("znode.container.maxPerMinute", 10000)
        self.container_max_never_used_interval_ms = p.get_long("znode.container.maxNeverUsedIntervalMs", 0)
        self.super_digest = p.get("zookeeper.DigestAuthenticationProvider.superDigest")
        self.digest_enabled = p.get_bool("zookeeper.digest.enabled", True)
        self.close_session_txn_enabled = p.get_bool("zookeeper.closeSessionTxn.enabled", True)
        self.snapshot_compression_method = p.get("zookeeper.snapshot.compression.method", "") or ""
        self.commit_log_count = p.get_int("zookeeper.commitLogCount", 500)
        self.max_cnxns = p.get_int("zookeeper.maxCnxns", 0)
        self.sessionless_cnxn_timeout = p.get_int("zookeeper.nio.sessionlessCnxnTimeout", 10000)
        self.datadir_autocreate = p.get_bool("zookeeper.datadir.autocreate", True)
        self.admin_enable_server = p.get_bool("zookeeper.admin.enableServer", True)
        self.admin_server_address = p.get("zookeeper.admin.serverAddress", "0.0.0.0") or "0.0.0.0"
        self.admin_server_port = p.get_int("zookeeper.admin.serverPort", 8080)
        self.four_letter_word_whitelist = self._four_letter_word_whitelist(p)

    @staticmethod
    def _four_letter_word_whitelist(p: SystemProperties) -> frozenset[str]:
        """``FourLetterCommands.isEnabled``'s whitelist: the comma list
        (``*`` = all known words), plus ``isro`` when
        ``readonlymode.enabled`` is exactly "true", plus always ``srvr``."""
        enabled: set[str] = set()
        spec = p.get("zookeeper.4lw.commands.whitelist")
        if spec is not None:
            for word in spec.split(","):
                word = word.strip()
                if word == "*":
                    enabled |= FOUR_LETTER_WORDS
                    break
                if word:
                    enabled.add(word)
        if p.get("readonlymode.enabled", "false") == "true":
            enabled.add("isro")
        enabled.add("srvr")
        return frozenset(enabled)

    def _check(self) -> None:
        self._check_quorum_auth()
        if self.snap_retain_count < 3:
            LOG.warning(
                "Invalid autopurge.snapRetainCount: %d. Defaulting to 3", self.snap_retain_count
            )
            self.snap_retain_count = 3
        if not self.data_dir:
            raise ConfigException("dataDir is not set")
        if not self.data_log_dir:
            self.data_log_dir = self.data_dir
        ports = (("clientPort", self.client_port), ("secureClientPort", self.secure_client_port))
        for key, port in ports:
            if not 0 <= port <= 65535:
                raise ConfigException(f"{key}: port out of range: {port}")
        if self.client_port == 0:
            LOG.info("clientPort is not set")
            if self.client_port_address is not None:
                raise ConfigException("clientPortAddress is set but clientPort is not set")
        if self.secure_client_port == 0 and self.secure_client_port_address is not None:
            raise ConfigException("secureClientPortAddress is set but secureClientPort is not set")
        if self.tick_time == 0:
            raise ConfigException("tickTime is not set")
        if self.tick_time < 0:
            raise ConfigException(f"tickTime: {self.tick_time} must be positive")
        if self.min_session_timeout == -1:
            self.min_session_timeout = 2 * self.tick_time
        if self.max_session_timeout == -1:
            self.max_session_timeout = 20 * self.tick_time
        if self.min_session_timeout > self.max_session_timeout:
            raise ConfigException(
                f"minSessionTimeout ({self.min_session_timeout}) must not be larger "
                f"than maxSessionTimeout ({self.max_session_timeout})"
            )
        self._check_membership()
        self.server_id = _read_myid(self.data_dir)
        self._setup_client_port_from_server_line()
        if self.is_distributed:
            if self.server_id != UNSET_SERVER_ID and self.server_id in self.servers:
                role = _server_role(self.servers[self.server_id])
                if role != self.peer_type:
                    LOG.warning(
                        "Peer type from servers list (%s) doesn't match peerType (%s). "
                        "Defaulting to servers list.", role, self.peer_type,
                    )
                    self.peer_type = role
            if self.init_limit == 0:
                raise ConfigException("initLimit is not set")
            if self.sync_limit == 0:
                raise ConfigException("syncLimit is not set")
            if self.server_id == UNSET_SERVER_ID:
                raise ConfigException(
                    f"myid file is missing ({os.path.join(self.data_dir, 'myid')})"
                )

    def _check_membership(self) -> None:
        """The role counts ``QuorumPeerConfig.parseDynamicConfig`` checks."""
        if self.dynamic_config_file is not None:
            self._load_dynamic_config_file()
        voters = len(self.voting_members)
        observers = len(self.observing_members)
        if voters == 0:
            if not self.standalone_enabled:
                raise ConfigException(
                    "standaloneEnabled = false then number of participants should be >0"
                )
            if observers > 0:
                raise ConfigException("Observers w/o participants is an invalid configuration")
        elif voters == 1 and self.standalone_enabled:
            LOG.error("Invalid configuration, only one server specified (ignoring)")
            if observers > 0:
                raise ConfigException("Observers w/o quorum is an invalid configuration")
        elif voters <= 2:
            LOG.warning("No server failure will be tolerated. You need at least 3 servers.")
        elif voters % 2 == 0:
            LOG.warning("Non-optimal configuration, consider an odd number of servers.")

    def _load_dynamic_config_file(self) -> None:
        """The membership from ``dynamicConfigFile`` (its version is the
        file name's hex suffix, 0 without one) and a pending next config
        from ``<zoo.cfg>.dynamic.next`` (Java: the end of QuorumPeerConfig.parse)."""
        path = self.dynamic_config_file
        try:
            props = load_properties(path)
        except (OSError, ConfigException) as e:
            raise ConfigException(f"Error processing {path}: {e}") from None
        if "version" in props:
            raise ConfigException("dynamic file shouldn't have version inside")
        for key, value in props.items():
            key, value = key.strip(), value.strip()
            if key.startswith(_MEMBERSHIP_PREFIXES):
                self._parse_membership_entry(key, value)
            else:
                LOG.warning("%s: %s does not belong in a dynamic config file; ignored", path, key)
        suffix = path.rsplit(".", 1)[-1] if "." in os.path.basename(path) else ""
        try:
            self.membership_version = f"{int(suffix, 16):x}"
        except ValueError:
            self.membership_version = None
        if self.config_path is not None:
            next_path = self.config_path + ".dynamic.next"
            if os.path.exists(next_path):
                try:
                    with open(next_path, encoding="latin-1") as f:
                        self.next_dynamic_config = f.read()
                except OSError as e:
                    LOG.warning("NextQuorumVerifier is initiated to null: %s", e)

    def _setup_client_port_from_server_line(self) -> None:
        """``setupClientPort``, simplified: a ``;[host:]port`` on this
        server's line supplies the client port when zoo.cfg has none."""
        if self.server_id == UNSET_SERVER_ID or self.server_id not in self.servers:
            return
        client = _server_client_address(self.servers[self.server_id])
        if client is None:
            return
        host, port_text = client
        try:
            port = _parse_java_int(port_text)
        except ValueError:
            raise ConfigException(
                f"server.{self.server_id}: client port {port_text!r} is not an integer"
            ) from None
        if self.client_port and self.client_port != port:
            raise ConfigException(
                f"client address for this server (id = {self.server_id}) in static config "
                f"file is port {self.client_port} is different from client address found "
                f"in dynamic file: port {port}"
            )
        if not 0 < port <= 65535:
            raise ConfigException(f"server.{self.server_id}: port out of range: {port}")
        self.client_port = port
        if host and host not in ("0.0.0.0", "::"):
            self.client_port_address = host
