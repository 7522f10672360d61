"""zkCli's commands and the way they print.

Java: ``org.apache.zookeeper.cli`` — ``CliCommand`` and one class per
command (``LsCommand``, ``CreateCommand`` ... ``WhoAmICommand``), the
``CliException`` family and ``CliWrapperException``'s messages,
``StatPrinter``, ``AclParser``, ``CommandFactory``; plus the pieces of
``org.apache.zookeeper`` they use: ``StatsTrack`` and ``Quotas`` (the quota
znodes), ``ZKUtil`` (recursive listing and delete, permission strings),
``common.PathUtils`` (the client's path check and its messages) and
``KeeperException.getMessage`` (``KeeperErrorCode = NoNode for /a``).

Every command parses its words with :mod:`zkpy.cli.cli_options` (Java's
commons-cli) and prints what ZooKeeper 3.8.0's zkCli prints, to the same
stream (e.g. ``Created /a`` goes to stderr, as in Java). The commands talk
to a :class:`zkpy.client.ZooKeeper`.

Different on purpose: where Java's command dies with an uncaught
``NumberFormatException`` (``set -v abc /a x``, ``delete -v x /a``,
``setAcl -v x``, ``redo x``), taking the interactive shell down with it,
zkpy prints the exception's first line
(``java.lang.NumberFormatException: For input string: "abc"``) and fails
the command with exit code 1; the shell goes on.
"""

from __future__ import annotations

import collections
import datetime
import re
from typing import TYPE_CHECKING, Callable, Optional, TextIO

from ..client.op import Op
from ..defs import AddWatchMode, CreateMode, Perms, WatcherType
from ..errors import Code, KeeperException, NoNodeException
from ..jute.records import ACL, OPEN_ACL_UNSAFE, Id
from ..paths import path_error
from ..quotas import (
    LIMIT_NODE, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, STAT_NODE, StatsTrack, limit_path, quota_path, stat_path, trim_quota_path,
)
from . import cli_options
from .cli_options import CommandLine, Options, OptionGroup, ParseException

if TYPE_CHECKING:  # pragma: no cover
    from ..client import ZooKeeper

__all__ = [
    "CliCommand", "CliException", "CliParseException", "CliWrapperException", "CommandNotFoundException",
    "MalformedCommandException", "MalformedPathException", "StatsTrack", "acl_parse", "command_map",
    "format_stat", "java_date", "java_hex", "keeper_message", "perm_string", "validate_path",
]


# -- CliException family ---------------------------------------------------------------------


class CliException(Exception):
    """A failed command: the message goes to stderr, ``exit_code`` becomes
    the shell's exit status."""

    def __init__(self, message: Optional[str], exit_code: int = 1):
        super().__init__(message)
        self.message = "null" if message is None else message
        self.exit_code = exit_code


class CliParseException(CliException):
    """Bad words for a command (a commons-cli error or the usage line)."""

    def __init__(self, message_or_error):
        if isinstance(message_or_error, ParseException):
            # Java wraps the ParseException: its message is the cause's toString().
            message_or_error = str(message_or_error)
        super().__init__(message_or_error)


class MalformedCommandException(CliException):
    pass


class MalformedPathException(CliException):
    pass


class CommandNotFoundException(CliException):
    def __init__(self, message: str):
        super().__init__(f"Command not found: {message}", 127)


class NumberFormatError(Exception):
    """Java's NumberFormatException (``For input string: "x"``)."""

    def __init__(self, text: Optional[str]):
        super().__init__("Cannot parse null string: null" if text is None else f'For input string: "{text}"')

    def java_text(self) -> str:
        return f"java.lang.NumberFormatException: {self.args[0]}"


class _IllegalArgument(ValueError):
    """Java's IllegalArgumentException, turned into MalformedPathException."""


# Java's KeeperException.getCodeMessage().
_CODE_MESSAGES = {
    Code.OK: "ok", Code.SYSTEMERROR: "SystemError", Code.RUNTIMEINCONSISTENCY: "RuntimeInconsistency",
    Code.DATAINCONSISTENCY: "DataInconsistency", Code.CONNECTIONLOSS: "ConnectionLoss",
    Code.MARSHALLINGERROR: "MarshallingError", Code.NEWCONFIGNOQUORUM: "NewConfigNoQuorum",
    Code.RECONFIGINPROGRESS: "ReconfigInProgress", Code.UNIMPLEMENTED: "Unimplemented",
    Code.OPERATIONTIMEOUT: "OperationTimeout", Code.BADARGUMENTS: "BadArguments", Code.APIERROR: "APIError",
    Code.NONODE: "NoNode", Code.NOAUTH: "NoAuth", Code.BADVERSION: "BadVersion",
    Code.NOCHILDRENFOREPHEMERALS: "NoChildrenForEphemerals", Code.NODEEXISTS: "NodeExists",
    Code.INVALIDACL: "InvalidACL", Code.AUTHFAILED: "AuthFailed", Code.NOTEMPTY: "Directory not empty",
    Code.SESSIONEXPIRED: "Session expired", Code.INVALIDCALLBACK: "Invalid callback",
    Code.SESSIONMOVED: "Session moved", Code.NOTREADONLY: "Not a read-only call",
    Code.EPHEMERALONLOCALSESSION: "Ephemeral node on local session", Code.NOWATCHER: "No such watcher",
    Code.RECONFIGDISABLED: "Reconfig is disabled",
    Code.SESSIONCLOSEDREQUIRESASLAUTH: "Session closed because client failed to authenticate",
    Code.QUOTAEXCEEDED: "Quota has exceeded", Code.THROTTLEDOP: "Op throttled due to high load",
}


def keeper_message(exc: KeeperException) -> str:
    """Java's ``KeeperException.getMessage()``."""
    code = exc.code
    text = _CODE_MESSAGES.get(code)
    if text is None:
        text = f"Unknown error {code.name if isinstance(code, Code) else code}"
    if exc.path:
        return f"KeeperErrorCode = {text} for {exc.path}"
    return f"KeeperErrorCode = {text}"


# CliWrapperException's friendlier texts, by error code.
_WRAPPER_MESSAGES = {
    Code.NONODE: "Node does not exist: {}",
    Code.NOCHILDRENFOREPHEMERALS: "Ephemerals cannot have children: {}",
    Code.NODEEXISTS: "Node already exists: {}",
    Code.NOTEMPTY: "Node not empty: {}",
    Code.NOTREADONLY: "Not a read-only call: {}",
    Code.INVALIDACL: "Acl is not valid : {}",
    Code.NOAUTH: "Insufficient permission : {}",
    Code.BADARGUMENTS: "Arguments are not valid : {}",
    Code.BADVERSION: "version No is not valid : {}",
    Code.RECONFIGINPROGRESS: "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)",
    Code.NEWCONFIGNOQUORUM: ("No quorum of new config is connected and up-to-date with the leader of last "
                             "commmitted config - try invoking reconfiguration after new servers are "
                             "connected and synced"),
    Code.QUOTAEXCEEDED: "Quota has exceeded : {}",
}


class CliWrapperException(CliException):
    """A failure from the client, worded as Java's CliWrapperException."""

    def __init__(self, cause: BaseException):
        if isinstance(cause, KeeperException):
            template = _WRAPPER_MESSAGES.get(cause.code)
            path = "null" if cause.path is None else cause.path
            message = template.format(path) if template else keeper_message(cause)
        else:
            message = str(cause) or None
        super().__init__(message)
        self.cause = cause


def write(stream: TextIO, text: str) -> None:
    """One write per line and a flush, as Java's autoflushing PrintStream:
    lines from the watcher thread never split a command's line, and stdout
    and stderr keep their order in a shared log."""
    stream.write(text)
    stream.flush()


# -- Java's formatting ---------------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def java_date(millis: int) -> str:
    """``new Date(millis).toString()``: ``Fri Nov 27 10:47:03 UTC 2026`` in
    the local time zone, English names whatever the locale."""
    when = datetime.datetime.fromtimestamp(millis / 1000.0).astimezone()
    zone = when.tzname() or "UTC"
    return (f"{_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when.day:02d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {zone} {when.year}")


def java_hex(value: int) -> str:
    """``Long.toHexString``: two's complement for negative values."""
    return format(value & 0xFFFFFFFFFFFFFFFF, "x")


def java_list(items) -> str:
    """``List.toString()``: ``[a, b]``."""
    return "[" + ", ".join(str(i) for i in items) + "]"


def java_string(data: Optional[bytes]) -> str:
    """``new String(data, UTF_8)`` with zkCli's ``null`` for no data."""
    if data is None:
        return "null"
    return bytes(data).decode("utf-8", errors="replace")


def format_stat(stat) -> str:
    """``StatPrinter.print``: the eleven lines zkCli prints for a Stat."""
    return "\n".join([
        f"cZxid = 0x{java_hex(stat.czxid)}",
        f"ctime = {java_date(stat.ctime)}",
        f"mZxid = 0x{java_hex(stat.mzxid)}",
        f"mtime = {java_date(stat.mtime)}",
        f"pZxid = 0x{java_hex(stat.pzxid)}",
        f"cversion = {stat.cversion}",
        f"dataVersion = {stat.version}",
        f"aclVersion = {stat.aversion}",
        f"ephemeralOwner = 0x{java_hex(stat.ephemeralOwner)}",
        f"dataLength = {stat.dataLength}",
        f"numChildren = {stat.numChildren}",
    ])


def perm_string(perms: int) -> str:
    """``ZKUtil.getPermString``: ``cdrwa`` order."""
    return "".join(ch for bit, ch in ((Perms.CREATE, "c"), (Perms.DELETE, "d"), (Perms.READ, "r"),
                                      (Perms.WRITE, "w"), (Perms.ADMIN, "a")) if perms & bit)


def _csv_string(text: str) -> str:
    """jute's ``Utils.toCSVString``."""
    escapes = {"\0": "%00", "\n": "%0A", "\r": "%0D", ",": "%2C", "}": "%7D", "%": "%25"}
    return "'" + "".join(escapes.get(ch, ch) for ch in text)


def id_to_string(ident) -> str:
    """An Id record's Java ``toString()``: ``'world,'anyone`` plus a newline."""
    return f"{_csv_string(ident.scheme)},{_csv_string(ident.id)}\n"


_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z", re.ASCII)


def java_parse_int(text: Optional[str], bits: int = 32) -> int:
    """``Integer.parseInt`` / ``Long.parseLong`` (``bits=64``): a sign and
    decimal digits, in range, nothing else."""
    if text is None or not _JAVA_INT.match(text):
        raise NumberFormatError(text)
    value = int(text)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise NumberFormatError(text)
    return value


def java_decode(text: Optional[str]) -> int:
    """``Integer.decode``: decimal, ``0x``/``#`` hex or ``0`` octal, with a sign."""
    match = re.match(r"([+-]?)(0[xX]|#|0(?=.))?(.*)\Z", text or "", re.S)
    sign, prefix, digits = match.groups()
    base = 10 if not prefix else 8 if prefix == "0" else 16
    allowed = "0123456789abcdefABCDEF"[:base] if base < 16 else "0123456789abcdefABCDEF"
    if not digits or any(c not in allowed for c in digits):
        raise NumberFormatError(text)
    value = int(digits, base) * (-1 if sign == "-" else 1)
    if not -(1 << 31) <= value < (1 << 31):
        raise NumberFormatError(text)
    return value


def java_split(text: str, sep: str) -> list[str]:
    """``String.split`` for a literal separator: trailing empty strings go."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts if parts or not text else []


# -- the client's path check (Java's PathUtils.validatePath) -----------------------------------


def validate_path(path: Optional[str], is_sequential: bool = False) -> None:
    """Raise MalformedPathException with Java's text for a bad path."""
    reason = path_error(path, is_sequential)
    if reason is not None:
        raise MalformedPathException(reason)


# -- ACLs ------------------------------------------------------------------------------------------

_PERM_BITS = {"r": Perms.READ, "w": Perms.WRITE, "c": Perms.CREATE, "d": Perms.DELETE, "a": Perms.ADMIN}


def acl_parse(text: str, err: TextIO) -> list:
    """``AclParser.parse``: ``scheme:id:perms[,...]``; bad entries and
    unknown permission letters are reported on ``err`` and skipped."""
    acls = []
    for entry in java_split(text, ","):
        first, last = entry.find(":"), entry.rfind(":")
        if first == -1 or first == last:
            write(err, f"{entry} does not have the form scheme:id:perm\n")
            continue
        perms = 0
        for ch in entry[last + 1:]:
            bit = _PERM_BITS.get(ch)
            if bit is None:
                write(err, f"Unknown perm type: {ch}\n")
            else:
                perms |= bit
        acls.append(ACL(int(perms), Id(entry[:first], entry[first + 1:last])))
    return acls


# -- the client, as the Java CLI sees it ------------------------------------------------------------


class JavaClient:
    """The calls the commands make, with the Java client's own checks: a
    malformed path is refused before anything is sent (MalformedPathException
    with PathUtils' text, which zkpy's client words differently)."""

    def __init__(self, zk: "ZooKeeper"):
        self.zk = zk

    def exists(self, path: str, watch: bool = False):
        validate_path(path)
        return self.zk.exists(path, watch)

    def get_data(self, path: str, watch: bool = False):
        validate_path(path)
        return self.zk.get_data(path, watch)

    def set_data(self, path: str, data: Optional[bytes], version: int = -1):
        validate_path(path)
        return self.zk.set_data(path, data, version)

    def create(self, path: str, data: Optional[bytes], acl, mode: CreateMode, ttl: int = -1) -> str:
        validate_path(path, mode.is_sequential)
        return self.zk.create(path, data, acl, mode, ttl=ttl if mode.is_ttl else -1)

    def delete(self, path: str, version: int = -1) -> None:
        validate_path(path)
        self.zk.delete(path, version)

    def get_children(self, path: str, watch: bool = False) -> list[str]:
        validate_path(path)
        return self.zk.get_children(path, watch)

    def get_children_with_stat(self, path: str, watch: bool = False):
        validate_path(path)
        return self.zk.get_children(path, watch, include_stat=True)

    def get_acl(self, path: str):
        validate_path(path)
        return self.zk.get_acl(path)

    def set_acl(self, path: str, acl, version: int = -1):
        validate_path(path)
        return self.zk.set_acl(path, acl, version)

    def sync(self, path: str) -> None:
        validate_path(path)
        self.zk.sync(path)

    def multi(self, ops):
        return self.zk.multi(ops)

    def get_config(self, watch: bool = False):
        return self.zk.get_config(watch)

    def get_ephemerals(self, prefix: str = "/") -> list[str]:
        validate_path(prefix)
        return self.zk.get_ephemerals(prefix)

    def get_all_children_number(self, path: str) -> int:
        validate_path(path)
        return self.zk.get_all_children_number(path)

    def add_auth_info(self, scheme: str, auth: Optional[bytes]) -> None:
        """Send the credential and go on without waiting, as Java: a refusal
        shows as the AuthFailed session event and fails the next commands."""
        if auth is not None:
            self.zk.add_auth_info_async(scheme, auth)
            return
        # "addauth digest": Java sends a null credential (which servers refuse);
        # zkpy's add_auth_info takes bytes only, so queue the packet directly.
        cnxn = self.zk._cnxn
        cnxn.add_auth_info(scheme, None, cnxn.new_future())

    def add_watch(self, path: str, mode: AddWatchMode) -> None:
        validate_path(path)
        self.zk.add_watch(path, True, mode)

    def remove_all_watches(self, path: str, watcher_type: WatcherType, local: bool) -> None:
        validate_path(path)
        self.zk.remove_all_watches(path, watcher_type, local)

    def whoami(self):
        # Java's ZooKeeper.whoAmI never looks at the reply's error: a failed
        # call (AuthFailed, ConnectionLoss) is an empty list, not an exception.
        try:
            return self.zk.whoami()
        except KeeperException:
            return []

    def reconfig(self, joining: Optional[str], leaving: Optional[str], members: Optional[str], version: int):
        return self.zk.reconfig(joining, leaving, members, version)

    def close(self) -> None:
        self.zk.close()


def _visit_subtree_dfs(zk: JavaClient, path: str, watch: bool, callback: Callable[[str], None]) -> None:
    """``ZKUtil.visitSubTreeDFS``: the node, then each level's children in
    sorted order before descending into them; nodes that vanish are skipped."""
    validate_path(path)
    zk.get_data(path, watch)
    callback(path)
    _visit_children(zk, path, watch, callback)


def _visit_children(zk: JavaClient, path: str, watch: bool, callback: Callable[[str], None]) -> None:
    try:
        children = sorted(zk.get_children(path, watch))
    except NoNodeException:
        return
    prefix = path if path == "/" else path + "/"
    for child in children:
        callback(prefix + child)
    for child in children:
        _visit_children(zk, prefix + child, watch, callback)


def _list_subtree_bfs(zk: JavaClient, root: str) -> list[str]:
    """``ZKUtil.listSubTreeBFS``: root first, breadth first, server order."""
    tree, queue = [root], collections.deque((root,))
    while queue:
        node = queue.popleft()
        for child in zk.get_children(node):
            child_path = ("" if node == "/" else node) + "/" + child
            queue.append(child_path)
            tree.append(child_path)
    return tree


def _delete_recursive(zk: JavaClient, root: str, batch_size: int) -> bool:
    """``ZKUtil.deleteRecursive``: leaves first, in multis of ``batch_size``
    deletes (one by one when it is not positive). False when a batch failed.

    Different on purpose: always False after a failed batch. Java's callback
    releases its semaphore before it records the failure, so its last batch
    failing may still return true (zkCli then prints nothing)."""
    validate_path(root)
    tree = _list_subtree_bfs(zk, root)
    if batch_size <= 0:
        for path in reversed(tree):
            zk.delete(path, -1)
        return True
    ops = []
    for i in range(len(tree) - 1, -1, -1):
        ops.append(Op.delete(tree[i], -1))
        if len(ops) == batch_size or i == 0:
            try:
                zk.multi(ops)
            except KeeperException:
                return False  # Java stops sending batches after a failed one
            ops = []
    return True


# -- the commands ------------------------------------------------------------------------------------


class CliCommand:
    """One zkCli command (Java's ``CliCommand``): ``parse(words)`` checks the
    words (the command name first) and returns self; ``exec()`` runs it
    and returns whether it set a watch."""

    cmd_str = ""
    option_str = ""

    def __init__(self) -> None:
        self.zk: Optional[JavaClient] = None
        self.out: Optional[TextIO] = None
        self.err: Optional[TextIO] = None
        self.options = Options()
        self.cl = CommandLine()
        self.args: list[str] = []

    @property
    def usage_str(self) -> str:
        return f"{self.cmd_str} {self.option_str}"

    def bind(self, zk: JavaClient, out: TextIO, err: TextIO) -> "CliCommand":
        self.zk, self.out, self.err = zk, out, err
        return self

    def _parse(self, words: list[str]) -> None:
        try:
            self.cl = cli_options.parse(self.options, words)
        except ParseException as exc:
            raise CliParseException(exc) from None
        self.args = self.cl.args

    def _need(self, count: int) -> None:
        if len(self.args) < count:
            raise CliParseException(self.usage_str)

    #: Words the command needs, its own name included (Java checks
    #: ``args.length`` the same way in each command's parse).
    min_args = 0

    def parse(self, words: list[str]) -> "CliCommand":
        self._parse(words)
        self._need(self.min_args)
        return self

    def exec(self) -> bool:
        raise NotImplementedError

    def println(self, text: str = "") -> None:
        write(self.out, text + "\n")

    def eprintln(self, text: str = "") -> None:
        write(self.err, text + "\n")

    def _deprecated_watch(self, words: list[str], message: str) -> None:
        """``get|ls|stat path [watch]``: the third word becomes ``-w``."""
        if len(self.args) > 2:
            words = list(words)
            words[2] = "-w"
            self.eprintln(message)
            self._parse(words)


def _call(fn, *args, **kwargs):
    """Run a client call; KeeperExceptions become CliWrapperException."""
    try:
        return fn(*args, **kwargs)
    except KeeperException as exc:
        raise CliWrapperException(exc) from None
    except ValueError as exc:  # the client's IllegalArgumentException
        raise MalformedPathException(str(exc)) from None


class CloseCommand(CliCommand):
    cmd_str, option_str = "close", ""

    def exec(self) -> bool:
        self.zk.close()
        return False


class CreateCommand(CliCommand):
    cmd_str, option_str = "create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"
    min_args = 2

    def __init__(self) -> None:
        super().__init__()
        self.options.add("e", False, "ephemeral").add("s", False, "sequential")
        self.options.add("c", False, "container").add("t", True, "ttl")

    def exec(self) -> bool:
        has_e, has_s, has_c, has_t = (self.cl.has_option(o) for o in "esct")
        if has_c and (has_e or has_s):
            raise MalformedCommandException(
                "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.")
        ttl = 0
        if has_t:
            try:
                ttl = java_parse_int(self.cl.get_option_value("t"), 64)
            except NumberFormatError:
                raise MalformedCommandException("-t argument must be a long value") from None
        if has_t and has_e:
            raise MalformedCommandException("TTLs cannot be used with Ephemeral znodes")
        if has_t and has_c:
            raise MalformedCommandException("TTLs cannot be used with Container znodes")
        if has_e and has_s:
            mode = CreateMode.EPHEMERAL_SEQUENTIAL
        elif has_e:
            mode = CreateMode.EPHEMERAL
        elif has_s:
            mode = CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL if has_t else CreateMode.PERSISTENT_SEQUENTIAL
        elif has_c:
            mode = CreateMode.CONTAINER
        else:
            mode = CreateMode.PERSISTENT_WITH_TTL if has_t else CreateMode.PERSISTENT
        if has_t and not 0 < ttl <= 0x000000FFFFFFFFFF:
            raise MalformedCommandException(
                f"ttl must be positive and cannot be larger than: {0x000000FFFFFFFFFF}")
        path = self.args[1]
        data = self.args[2].encode("utf-8") if len(self.args) > 2 else None
        acl = acl_parse(self.args[3], self.err) if len(self.args) > 3 else list(OPEN_ACL_UNSAFE)
        try:
            new_path = self.zk.create(path, data, acl, mode, ttl)
        except KeeperException as exc:
            if exc.code == Code.EPHEMERALONLOCALSESSION:
                self.eprintln("Unable to create ephemeral node on a local session")
            elif exc.code == Code.INVALIDACL:
                self.eprintln(keeper_message(exc))
            raise CliWrapperException(exc) from None
        self.eprintln(f"Created {new_path}")
        return True


class DeleteCommand(CliCommand):
    cmd_str, option_str = "delete", "[-v version] path"

    def __init__(self) -> None:
        super().__init__()
        self.options.add("v", True, "version")

    def parse(self, words):
        self._parse(words)
        self._need(2)
        if len(self.args) > 2:
            # "delete path version": Java warns, parses again and ignores the version.
            self.eprintln("'delete path [version]' has been deprecated. "
                          "Please use 'delete [-v version] path' instead.")
            self._parse(words)
        return self

    def exec(self) -> bool:
        path = self.args[1]
        version = java_parse_int(self.cl.get_option_value("v")) if self.cl.has_option("v") else -1
        _call(self.zk.delete, path, version)
        return False


class DeleteAllCommand(CliCommand):
    cmd_str, option_str = "deleteall", "path [-b batch size]"
    min_args = 2

    def __init__(self) -> None:
        super().__init__()
        self.options.add("b", True, "batch size")

    def exec(self) -> bool:
        batch = 1000
        if self.cl.has_option("b"):
            try:
                batch = java_parse_int(self.cl.get_option_value("b"))
            except NumberFormatError:
                raise MalformedCommandException("-b argument must be an int value") from None
        if not _call(_delete_recursive, self.zk, self.args[1], batch):
            self.eprintln("Failed to delete some node(s) in the subtree!")
        return False


class SetCommand(CliCommand):
    cmd_str, option_str = "set", "[-s] [-v version] path data"
    min_args = 3

    def __init__(self) -> None:
        super().__init__()
        self.options.add("s", False, "stats").add("v", True, "version")

    def exec(self) -> bool:
        path, data = self.args[1], self.args[2].encode("utf-8")
        version = java_parse_int(self.cl.get_option_value("v")) if self.cl.has_option("v") else -1
        stat = _call(self.zk.set_data, path, data, version)
        if self.cl.has_option("s"):
            self.println(format_stat(stat))
        return False


class GetCommand(CliCommand):
    cmd_str, option_str = "get", "[-s] [-w] path"

    def __init__(self) -> None:
        super().__init__()
        self.options.add("s", False, "stats").add("w", False, "watch")

    def parse(self, words):
        self._parse(words)
        self._need(2)
        self._deprecated_watch(words, "'get path [watch]' has been deprecated. "
                                      "Please use 'get [-s] [-w] path' instead.")
        return self

    def exec(self) -> bool:
        watch = self.cl.has_option("w")
        data, stat = _call(self.zk.get_data, self.args[1], watch)
        self.println(java_string(data))
        if self.cl.has_option("s"):
            self.println(format_stat(stat))
        return watch


class LsCommand(CliCommand):
    cmd_str, option_str = "ls", "[-s] [-w] [-R] path"

    def __init__(self) -> None:
        super().__init__()
        self.options.add("?", False, "help").add("s", False, "stat")
        self.options.add("w", False, "watch").add("R", False, "recurse")

    def parse(self, words):
        self._parse(words)
        if self.cl.has_option("?"):
            self.println(self.options.usage("ls [options] path"))
        self._deprecated_watch(words, "'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.")
        return self

    def exec(self) -> bool:
        if len(self.args) < 2:
            raise MalformedCommandException(self.usage_str)
        path = self.args[1]
        watch = self.cl.has_option("w")
        if self.cl.has_option("R"):
            _call(_visit_subtree_dfs, self.zk, path, watch, self.println)
        elif self.cl.has_option("s"):
            children, stat = _call(self.zk.get_children_with_stat, path, watch)
            self.println(java_list(sorted(children)))
            self.println(format_stat(stat))
        else:
            children = _call(self.zk.get_children, path, watch)
            self.println(java_list(sorted(children)))
        return watch


class GetAclCommand(CliCommand):
    cmd_str, option_str = "getAcl", "[-s] path"
    min_args = 2

    def __init__(self) -> None:
        super().__init__()
        self.options.add("s", False, "stats")

    def exec(self) -> bool:
        acls, stat = _call(self.zk.get_acl, self.args[1])
        for acl in acls:
            self.println(f"{id_to_string(acl.id)}: {perm_string(acl.perms)}")
        if self.cl.has_option("s"):
            self.println(format_stat(stat))
        return False


class SetAclCommand(CliCommand):
    cmd_str, option_str = "setAcl", "[-s] [-v version] [-R] path acl"
    min_args = 3

    def __init__(self) -> None:
        super().__init__()
        self.options.add("s", False, "stats").add("v", True, "version").add("R", False, "recursive")

    def exec(self) -> bool:
        path = self.args[1]
        acl = acl_parse(self.args[2], self.err)
        version = java_parse_int(self.cl.get_option_value("v")) if self.cl.has_option("v") else -1
        if self.cl.has_option("R"):
            def set_one(node: str) -> None:
                try:
                    self.zk.set_acl(node, acl, version)
                except KeeperException as exc:
                    write(self.out, keeper_message(exc))  # Java's print: no newline
            _call(_visit_subtree_dfs, self.zk, path, False, set_one)
        else:
            stat = _call(self.zk.set_acl, path, acl, version)
            if self.cl.has_option("s"):
                self.println(format_stat(stat))
        return False


class StatCommand(CliCommand):
    cmd_str, option_str = "stat", "[-w] path"

    def __init__(self) -> None:
        super().__init__()
        self.options.add("w", False, "watch")

    def parse(self, words):
        self._parse(words)
        self._need(2)
        self._deprecated_watch(words, "'stat path [watch]' has been deprecated. "
                                      "Please use 'stat [-w] path' instead.")
        return self

    def exec(self) -> bool:
        path = self.args[1]
        watch = self.cl.has_option("w")
        stat = _call(self.zk.exists, path, watch)
        if stat is None:
            raise CliWrapperException(NoNodeException(Code.NONODE, path))
        self.println(format_stat(stat))
        return watch


class SyncCommand(CliCommand):
    cmd_str, option_str = "sync", "path"
    min_args = 2

    def exec(self) -> bool:
        try:
            self.zk.sync(self.args[1])
        except KeeperException as exc:
            self.println(f"Sync has failed. rc={int(exc.code)}")
        else:
            self.println("Sync is OK")
        return False


class SetQuotaCommand(CliCommand):
    cmd_str, option_str = "setquota", "-n|-b|-N|-B val path"
    min_args = 2

    def __init__(self) -> None:
        super().__init__()
        group = OptionGroup([cli_options.Option("n", True, "num soft quota"),
                             cli_options.Option("b", True, "bytes soft quota"),
                             cli_options.Option("N", True, "num hard quota"),
                             cli_options.Option("B", True, "bytes hard quota")], required=True)
        self.options.add_group(group)

    def exec(self) -> bool:
        path = self.args[1]
        if path.startswith(QUOTA_ZOOKEEPER):
            self.eprintln(f"cannot set a quota under the path: {QUOTA_ZOOKEEPER}")
            return False
        quota = StatsTrack()
        quota.count, quota.bytes, quota.count_hard_limit, quota.byte_hard_limit = -1, -1, -1, -1
        if not self._check_option_values(quota):
            return False
        try:
            self._create_quota(path, quota)
        except _IllegalArgument as exc:
            raise MalformedPathException(str(exc)) from None
        except KeeperException as exc:
            raise CliWrapperException(exc) from None
        return False

    def _check_option_values(self, quota: StatsTrack) -> bool:
        try:
            for opt, bits, attr in (("n", 32, "count"), ("b", 64, "bytes"),
                                    ("N", 32, "count_hard_limit"), ("B", 64, "byte_hard_limit")):
                if not self.cl.has_option(opt):
                    continue
                value = java_parse_int(self.cl.get_option_value(opt), bits)
                if opt in "nN" and value <= 0:
                    self.eprintln("the num quota must be greater than zero")
                    return False
                if opt in "bB" and value < 0:
                    self.eprintln("the bytes quota must be greater than or equal to zero")
                    return False
                setattr(quota, attr, value)
        except NumberFormatError:
            self.eprintln("NumberFormatException happens when parsing the option value")
            return False
        return True

    def _create_quota(self, path: str, quota: StatsTrack) -> None:
        zk = self.zk
        if zk.exists(path) is None:
            raise _IllegalArgument(f"{path} does not exist.")
        self._check_child_quota(path)
        self._check_parent_quota(path)
        if zk.exists(QUOTA_ZOOKEEPER) is None:
            try:
                zk.create(PROC_ZOOKEEPER, None, list(OPEN_ACL_UNSAFE), CreateMode.PERSISTENT)
                zk.create(QUOTA_ZOOKEEPER, None, list(OPEN_ACL_UNSAFE), CreateMode.PERSISTENT)
            except KeeperException as exc:
                if exc.code != Code.NODEEXISTS:
                    raise
        node = QUOTA_ZOOKEEPER
        for part in java_split(path, "/")[1:]:
            node = f"{node}/{part}"
            if zk.exists(node) is None:
                try:
                    zk.create(node, None, list(OPEN_ACL_UNSAFE), CreateMode.PERSISTENT)
                except KeeperException as exc:
                    if exc.code != Code.NODEEXISTS:
                        raise
        stats_node, limits_node = f"{node}/{STAT_NODE}", f"{node}/{LIMIT_NODE}"
        if zk.exists(limits_node) is None:
            zk.create(limits_node, quota.to_bytes(), list(OPEN_ACL_UNSAFE), CreateMode.PERSISTENT)
            stats = StatsTrack()
            stats.count, stats.bytes = 0, 0
            zk.create(stats_node, stats.to_bytes(), list(OPEN_ACL_UNSAFE), CreateMode.PERSISTENT)
            limits = StatsTrack(zk.get_data(limits_node)[0])
            self._warn_if_exceeded(limits, StatsTrack(zk.get_data(stats_node)[0]))
        else:
            limits = StatsTrack(zk.get_data(limits_node)[0])
            for attr in ("count", "bytes", "count_hard_limit", "byte_hard_limit"):
                if getattr(quota, attr) > -1:
                    setattr(limits, attr, getattr(quota, attr))
            self._warn_if_exceeded(limits, StatsTrack(zk.get_data(stats_node)[0]))
            zk.set_data(limits_node, limits.to_bytes(), -1)

    def _warn_if_exceeded(self, quota: StatsTrack, stats: StatsTrack) -> None:
        # Java prints these on System.out whatever the command's stream.
        if (-1 < quota.count < stats.count) or (-1 < quota.count_hard_limit < stats.count):
            self.println(f"[Warning]: the count quota you create is less than the existing count:{stats.count}")
        if (-1 < quota.bytes < stats.bytes) or (-1 < quota.byte_hard_limit < stats.bytes):
            self.println(f"[Warning]: the bytes quota you create is less than the existing bytes:{stats.bytes}")

    def _check_child_quota(self, path: str) -> None:
        own = QUOTA_ZOOKEEPER + path

        def check(node: str) -> None:
            try:
                children = self.zk.get_children(node)
            except NoNodeException:
                return
            if node != own and LIMIT_NODE in children:
                raise _IllegalArgument(f"{path} has a child {trim_quota_path(node)} which has a quota")

        try:
            _visit_subtree_dfs(self.zk, quota_path(path), False, check)
        except NoNodeException:
            pass

    def _check_parent_quota(self, path: str) -> None:
        parts = java_split(path, "/")
        node = QUOTA_ZOOKEEPER
        for part in parts[1:-1]:
            node = f"{node}/{part}"
            try:
                children = self.zk.get_children(node)
            except NoNodeException:
                return
            if not children:
                return
            if node != quota_path(path) and LIMIT_NODE in children:
                raise _IllegalArgument(f"{path} has a parent {trim_quota_path(node)} which has a quota")


class ListQuotaCommand(CliCommand):
    cmd_str, option_str = "listquota", "path"
    min_args = 2

    def exec(self) -> bool:
        path = self.args[1]
        self.eprintln(f"absolute path is {limit_path(path)}")
        try:
            limits = StatsTrack(self.zk.get_data(limit_path(path))[0])
            stats = StatsTrack(self.zk.get_data(stat_path(path))[0])
        except NoNodeException:
            self.eprintln(f"quota for {path} does not exist.")
            return False
        except KeeperException as exc:
            raise CliWrapperException(exc) from None
        self.println(f"Output quota for {path} {limits}")
        self.println(f"Output stat for {path} {stats}")
        return False


class DelQuotaCommand(CliCommand):
    cmd_str, option_str = "delquota", "[-n|-b|-N|-B] path"
    min_args = 2

    def __init__(self) -> None:
        super().__init__()
        self.options.add_group(OptionGroup([cli_options.Option("n", False, "num soft quota"),
                                            cli_options.Option("b", False, "bytes soft quota"),
                                            cli_options.Option("N", False, "num hard quota"),
                                            cli_options.Option("B", False, "bytes hard quota")]))

    def exec(self) -> bool:
        path = self.args[1]
        flags = [o for o in "nbNB" if self.cl.has_option(o)]
        try:
            self._del_quota(path, flags)
        except NoNodeException:
            self.eprintln(f"quota for {path} does not exist.")
        except KeeperException as exc:
            raise CliWrapperException(exc) from None
        return False

    def _del_quota(self, path: str, flags: list[str]) -> None:
        zk = self.zk
        parent, limits_node = quota_path(path), limit_path(path)
        if zk.exists(limits_node) is None:
            self.println(f"Quota does not exist for {path}")
            return
        limits = StatsTrack(zk.get_data(limits_node)[0])
        if not flags:
            for child in zk.get_children(parent):
                zk.delete(f"{parent}/{child}", -1)
            self._trim(parent)
            return
        for opt, attr in (("n", "count"), ("b", "bytes"), ("N", "count_hard_limit"), ("B", "byte_hard_limit")):
            if opt in flags:
                setattr(limits, attr, -1)
        zk.set_data(limits_node, limits.to_bytes(), -1)

    def _trim(self, path: str) -> None:
        """Remove the now empty quota nodes up to /zookeeper/quota."""
        while path != QUOTA_ZOOKEEPER:
            if self.zk.get_children(path):
                return
            self.zk.delete(path, -1)
            path = path[:path.rfind("/")]


class AddAuthCommand(CliCommand):
    cmd_str, option_str = "addauth", "scheme auth"
    min_args = 2

    def exec(self) -> bool:
        auth = self.args[2].encode("utf-8") if len(self.args) >= 3 else None
        self.zk.add_auth_info(self.args[1], auth)
        return False


class ReconfigCommand(CliCommand):
    cmd_str = "reconfig"
    option_str = ("[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | "
                  "[-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]")

    def __init__(self) -> None:
        super().__init__()
        self.options.add("s", False, "stats").add("v", True, "required current config version")
        self.options.add("file", True, "path of config file to parse for membership")
        self.options.add("members", True, "comma-separated list of config strings for non-incremental reconfig")
        self.options.add("add", True, "comma-separated list of config strings for new servers")
        self.options.add("remove", True, "comma-separated list of server IDs to remove")
        self.joining = self.leaving = self.members = None
        self.version = -1

    def parse(self, words):
        self._parse(words)
        has = self.cl.has_option
        if not (has("file") or has("members")) and not has("add") and not has("remove"):
            raise CliParseException(self.usage_str)
        self.version = -1
        if has("v"):
            value = self.cl.get_option_value("v")
            if not re.fullmatch(r"[+-]?[0-9a-fA-F]{1,16}", value, re.ASCII):  # Long.parseLong(v, 16)
                raise CliParseException("-v must be followed by a long (configuration version)")
            self.version = int(value, 16)
        if (has("file") or has("members")) and (has("add") or has("remove")):
            raise CliParseException("Can't use -file or -members together with -add or -remove (mixing "
                                    "incremental and non-incremental modes is not allowed)")
        if has("file") and has("members"):
            raise CliParseException("Can't use -file and -members together (conflicting non-incremental modes)")
        self.joining = self.cl.get_option_value("add").lower() if has("add") else None
        self.leaving = self.cl.get_option_value("remove").lower() if has("remove") else None
        self.members = None
        if has("members"):
            self.members = self.cl.get_option_value("members").lower()
        elif has("file"):
            path = self.cl.get_option_value("file")
            try:
                with open(path, encoding="utf-8") as f:
                    entries = _properties(f.read())
            except OSError as exc:
                raise CliParseException(f"Error processing {path}{path} ({exc.strerror})") from None
            # What QuorumMaj.toString() gives for the file's servers (version 0).
            servers = sorted(((k.strip(), v.strip()) for k, v in entries if k.strip().startswith("server.")),
                             key=lambda kv: int(kv[0][7:]) if kv[0][7:].isdigit() else 0)
            self.members = "".join(f"{k}={v}\n" for k, v in servers) + "version=0"
        return self

    def exec(self) -> bool:
        config, stat = _call(self.zk.reconfig, self.joining, self.leaving, self.members, self.version)
        self.println("Committed new configuration:\n" + java_string(config))
        if self.cl.has_option("s"):
            self.println(format_stat(stat))
        return False


class GetConfigCommand(CliCommand):
    cmd_str, option_str = "config", "[-c] [-w] [-s]"
    min_args = 1

    def __init__(self) -> None:
        super().__init__()
        self.options.add("s", False, "stats").add("w", False, "watch").add("c", False, "client connection string")

    def exec(self) -> bool:
        watch = self.cl.has_option("w")
        data, stat = _call(self.zk.get_config, watch)
        text = java_string(data)
        self.println(client_config_str(text) if self.cl.has_option("c") else text)
        if self.cl.has_option("s"):
            self.println(format_stat(stat))
        return watch


class RemoveWatchesCommand(CliCommand):
    cmd_str, option_str = "removewatches", "path [-c|-d|-a] [-l]"
    min_args = 2

    def __init__(self) -> None:
        super().__init__()
        self.options.add("c", False, "child watcher type").add("d", False, "data watcher type")
        self.options.add("a", False, "any watcher type")
        self.options.add("l", False, "remove locally when there is no server connection")

    def exec(self) -> bool:
        wtype = WatcherType.Any
        if self.cl.has_option("c"):
            wtype = WatcherType.Children
        elif self.cl.has_option("d"):
            wtype = WatcherType.Data
        _call(self.zk.remove_all_watches, self.args[1], wtype, self.cl.has_option("l"))
        return True


class GetEphemeralsCommand(CliCommand):
    cmd_str, option_str = "getEphemerals", "path"

    def exec(self) -> bool:
        prefix = self.args[1] if len(self.args) >= 2 else "/"
        self.println(java_list(_call(self.zk.get_ephemerals, prefix)))
        return False


class GetAllChildrenNumberCommand(CliCommand):
    cmd_str, option_str = "getAllChildrenNumber", "path"

    def exec(self) -> bool:
        if len(self.args) < 2:
            raise MalformedCommandException(self.usage_str)
        self.println(str(_call(self.zk.get_all_children_number, self.args[1])))
        return False


class VersionCommand(CliCommand):
    cmd_str, option_str = "version", ""
    min_args = 1

    def exec(self) -> bool:
        from ..server.four_letter import version_string

        self.println(f"ZooKeeper CLI version: {version_string()}")
        return False


class AddWatchCommand(CliCommand):
    cmd_str = "addWatch"
    option_str = ("[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - "
                  "default is PERSISTENT_RECURSIVE")

    def __init__(self) -> None:
        super().__init__()
        self.options.add("m", True, "")
        self.mode = AddWatchMode.PERSISTENT_RECURSIVE

    def parse(self, words):
        self._parse(words)
        self._need(2)
        self.mode = AddWatchMode.PERSISTENT_RECURSIVE
        if self.cl.has_option("m"):
            try:
                self.mode = AddWatchMode[self.cl.get_option_value("m").upper()]
            except KeyError:
                raise CliParseException(self.usage_str) from None
        return self

    def exec(self) -> bool:
        _call(self.zk.add_watch, self.args[1], self.mode)
        return False


class WhoAmICommand(CliCommand):
    cmd_str, option_str = "whoami", ""

    def exec(self) -> bool:
        infos = _call(self.zk.whoami)
        self.println("Auth scheme: User")
        for info in infos:
            self.println(f"{info.authScheme}: {info.user}")
        return False


# -- config -c (Java's ConfigUtils.getClientConfigStr) ------------------------------------------------


def _java_string_hash(text: str) -> int:
    """``String.hashCode()`` (over UTF-16 code units), as an unsigned 32-bit value."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h


def _properties(text: str) -> list[tuple[str, str]]:
    """A small ``java.util.Properties.load`` (key=value, key:value, key value,
    # and ! comments), in the order Java's Properties map iterates: by
    hash bucket, as its ConcurrentHashMap does."""
    entries: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"((?:[^=:\s\\]|\\.)*)\s*[=:]?\s*(.*)\Z", line)
        if match is None:
            continue
        key, value = match.group(1), match.group(2)
        entries[key] = value
    size = 16
    while len(entries) >= size * 3 // 4:
        size *= 2

    def bucket(key: str) -> int:
        h = _java_string_hash(key)
        return (h ^ (h >> 16)) & 0x7FFFFFFF & (size - 1)

    items = list(entries.items())
    order = sorted(range(len(items)), key=lambda i: (bucket(items[i][0]), i))
    return [items[i] for i in order]


def client_config_str(config: str) -> str:
    """``ConfigUtils.getClientConfigStr``: ``<version> host:port,host:port``
    (the client addresses of the servers in a dynamic config)."""
    version = ""
    addresses = []
    for key, value in _properties(config):
        key, value = key.strip(), value.strip()
        if key == "version":
            version = value
        if not key.startswith("server."):
            continue
        server, _, client = value.partition(";")
        if len(server.split(":")) < 3:
            continue  # Java's QuorumServer refuses it (and prints a stack trace)
        client = client.strip()
        if not client:
            addresses.append("")  # Java still adds the comma
            continue
        host, sep, port = client.rpartition(":")
        addresses.append(f"{host if sep else '0.0.0.0'}:{port}")
    return f"{version} {','.join(addresses)}"


# -- the command table ------------------------------------------------------------------------------------

_COMMAND_CLASSES = (
    CloseCommand, CreateCommand, DeleteCommand, DeleteAllCommand, SetCommand, GetCommand, LsCommand,
    GetAclCommand, SetAclCommand, StatCommand, SyncCommand, SetQuotaCommand, ListQuotaCommand,
    DelQuotaCommand, AddAuthCommand, ReconfigCommand, GetConfigCommand, RemoveWatchesCommand,
    GetEphemeralsCommand, GetAllChildrenNumberCommand, VersionCommand, AddWatchCommand, WhoAmICommand,
)


def command_map() -> dict[str, CliCommand]:
    """A fresh instance of every command, by name (Java's ``commandMapCli``)."""
    return {cls.cmd_str: cls() for cls in _COMMAND_CLASSES}
