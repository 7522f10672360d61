"""Four-letter words answered on the client port.

Java: ``org.apache.zookeeper.server.command.*`` (one class per word),
``FourLetterCommands`` (the codes and the whitelist), ``ZooTrace`` (the
trace mask of gtmk/stmk), ``Environment`` (envi) and the dump methods of
``ServerStats``, ``ServerCnxn``, ``DataTree``, ``WatchManager``,
``SessionTrackerImpl``/``ExpiryQueue`` and ``NIOServerCnxnFactory``
(ZK_SPEC.md §3). The connection factory detects a word and calls
:func:`run`, which returns the text to send; the connection is closed
after it.

Java 3.8.0's texts are kept byte for byte, including its quirks: a word
that is not whitelisted (``ruok`` too) answers ``<word> is not executed
because it is not in the whitelist.``; ``wchs``/``wchc``/``wchp`` show only
data (and exist) watches while ``mntr``'s ``zk_watch_count`` counts child
watches too; ``zk_znode_count`` and ``zk_approximate_data_size`` count the
root twice (Java's DataTree keeps it under both "" and "/").

What zkpy does differently, on purpose:

* ``envi``'s ``java.*`` keys describe the Python runtime: ``java.version``
  is the Python version, ``java.vendor`` the implementation (CPython),
  ``java.home`` ``sys.prefix``, ``java.class.path`` ``sys.path`` joined
  with ``:``, ``java.library.path`` ``LD_LIBRARY_PATH`` plus Python's
  LIBDIR, ``java.compiler`` the compiler Python was built with. The memory
  lines keep Java's ``NNNMB`` shape: ``os.memory.total`` is this process's
  resident size, ``os.memory.max`` the machine's memory and
  ``os.memory.free`` what the machine has available (Python has no heap
  limit to report).
* ``mntr`` prints Java's gauges (in Java's order) but none of Java's
  Prometheus-style counters and summaries (``zk_proposal_count``,
  ``zk_avg_fsynctime`` ...): zkpy does not keep them.
  ``zk_connection_drop_probability``, ``zk_outstanding_tls_handshake``
  and the ``zk_non_mtls_*`` counts are always 0 (no connection throttling
  by drop, no TLS port).
* ``dump`` lists only non-empty session buckets (Java's ExpiryQueue keeps
  emptied buckets until their time passes).

The data behind the words (``server_conf``, ``connection_values``,
``monitor_values``, ``watch_summary``, ``watches_by_session``,
``watches_by_path``, ``digests``, ``environment`` ...) is gathered by the
building blocks at the end of this module, which the AdminServer's JSON
commands (:mod:`zkpy.server.admin.commands`) and the Prometheus gauges use
too, so that a word, its command and its metric never disagree.

A quorum role's server supplies its own parts through optional methods,
all looked up with ``getattr``:

* ``peer_state()`` -> str: mntr's ``zk_peer_state`` (e.g. "following - broadcast");
* ``extra_gauges()`` -> [(key, value)]: more mntr gauges (quorum_size, learners ...);
* ``quorum_conf_entries()`` -> [(key, value)]: conf keys after ``serverId``
  (initLimit, syncLimit, electionAlg, electionPort, quorumPort, peerType);
* ``membership_text()`` -> str or None: conf's ``membership: `` block;
* ``proposal_sizes()`` -> "last/min/max" or None: the leader's srvr/stat line;
* ``local_session_count()`` -> int: mntr's ``zk_local_sessions``.
"""

from __future__ import annotations

import getpass
import logging
import os
import platform
import resource
import socket
import sys
import sysconfig
import tempfile
import threading
import time

from .. import ZOOKEEPER_VERSION, __version__
from .server_stats import java_double
from .session_tracker import now_ms

LOG = logging.getLogger(__name__)

WORDS = frozenset({
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr",
    "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash",
})
#: The telnet interrupt (IAC IP IAC DO) is a "command" too; whitelisted, it just closes.
TELNET_CLOSE = "telnet close"
_TELNET_CLOSE_CODE = b"\xff\xf4\xff\xfd"
_CODES = {w.encode("ascii") for w in WORDS} | {_TELNET_CLOSE_CODE}

NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"

#: ZooTrace's default text trace mask: CLIENT_REQUEST | SERVER_PACKET | SESSION | WARNING.
DEFAULT_TRACE_MASK = 2 | 16 | 32 | 256
_MASK64 = (1 << 64) - 1

_trace_lock = threading.Lock()
_trace_mask = DEFAULT_TRACE_MASK


def is_command(word: bytes) -> bool:
    """Whether a connection's first four bytes are a four-letter word."""
    return word in _CODES


def command_name(word: bytes) -> str:
    """The name Java gives the word (``telnet close`` for the telnet code)."""
    return TELNET_CLOSE if word == _TELNET_CLOSE_CODE else word.decode("latin-1")


def is_enabled(command: str, whitelist) -> bool:
    """``FourLetterCommands.isEnabled``; a ``None`` whitelist allows all.

    Java's ``*`` also enables the telnet interrupt; the configured set holds
    only the words, so a set with all of them counts as ``*``."""
    if whitelist is None or command in whitelist:
        return True
    return command == TELNET_CLOSE and WORDS <= whitelist


def version_string() -> str:
    """``zookeeper.version`` in Java 3.8's shape (``<version>-<git id>, built
    on yyyy-MM-dd HH:mm UTC``); kazoo's server_version() parses the numbers.
    zkpy has no build stamp, so the date is the epoch."""
    return f"{ZOOKEEPER_VERSION}-zkpy-{__version__}, built on 1970-01-01 00:00 UTC"


def get_trace_mask() -> int:
    with _trace_lock:
        return _trace_mask


def set_trace_mask(mask: int) -> None:
    global _trace_mask
    with _trace_lock:
        _trace_mask = mask


def run(command: str, factory, cnxn, arg: int | None = None) -> str:
    """The reply to ``command`` (whitelist applied); ``arg`` is stmk's mask."""
    if command != TELNET_CLOSE and command not in WORDS:
        return ""
    if not is_enabled(command, factory.four_letter_whitelist):
        LOG.debug("Command %s is not executed because it is not in the whitelist.", command)
        return f"{command} is not executed because it is not in the whitelist.\n"
    if command == TELNET_CLOSE:
        return ""
    LOG.info("Processing %s command from %s", command, cnxn.remote if cnxn is not None else "?")
    return _COMMANDS[command](_Context(factory, cnxn, arg))


class _Context:
    __slots__ = ("factory", "cnxn", "arg", "zks")

    def __init__(self, factory, cnxn, arg):
        self.factory = factory
        self.cnxn = cnxn
        self.arg = arg
        self.zks = factory.zks

    @property
    def running(self) -> bool:
        return self.zks is not None and self.zks.is_running()


# -- the words -----------------------------------------------------------------------------------

def _ruok(ctx: _Context) -> str:
    return "imok"


def _isro(ctx: _Context) -> str:
    if not ctx.running:
        return "null"
    return "ro" if ctx.zks.is_read_only() else "rw"


def _gtmk(ctx: _Context) -> str:
    return str(get_trace_mask())


def _stmk(ctx: _Context) -> str:
    set_trace_mask(ctx.arg)
    return str(ctx.arg)


def _envi(ctx: _Context) -> str:
    return "Environment:\n" + "".join(f"{k}={v}\n" for k, v in environment())


def _srvr(ctx: _Context) -> str:
    return _stat(ctx, with_clients=False)


def _stat(ctx: _Context, with_clients: bool = True) -> str:
    if not ctx.running:
        return NOT_SERVING
    zks, factory = ctx.zks, ctx.factory
    stats = zks.stats
    lines = [f"Zookeeper version: {version_string()}"]
    if zks.is_read_only():
        lines.append("READ-ONLY mode; serving only read-only clients")
    if with_clients:
        lines.append("Clients:")
        lines.extend(connection_info(c, brief=True) for c in factory.connections())
        lines.append("")
    lines += [
        f"Latency min/avg/max: {stats.latency_text()}",
        f"Received: {stats.packets_received}",
        f"Sent: {stats.packets_sent}",
        f"Connections: {len(factory.connections())}",
        f"Outstanding: {zks.outstanding_requests()}",
        f"Zxid: 0x{zks.zk_db.data_tree.last_processed_zxid & _MASK64:x}",
        f"Mode: {zks.server_state()}",
        f"Node count: {znode_count(zks)}",
    ]
    proposal_sizes = _hook(zks, "proposal_sizes")
    if proposal_sizes is not None:
        lines.append(f"Proposal sizes last/min/max: {proposal_sizes}")
    return "\n".join(lines) + "\n"


def _cons(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    return "".join(connection_info(c, brief=False) + "\n" for c in ctx.factory.connections()) + "\n"


def _crst(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    ctx.factory.reset_all_connection_stats()
    return "Connection stats reset.\n"


def _srst(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    ctx.zks.stats.reset()
    reset_proposal_stats = getattr(ctx.zks, "reset_proposal_stats", None)
    if reset_proposal_stats is not None:
        reset_proposal_stats()
    return "Server stats reset.\n"


def _conf(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    zks = ctx.zks
    entries = conf_entries(zks, ctx.factory) + list(_hook(zks, "quorum_conf_entries") or ())
    text = "".join(f"{k}={v}\n" for k, v in entries)
    membership = _hook(zks, "membership_text")
    if membership is not None:
        text += "membership: \n" + membership
    return text


def _dirs(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    return f"datadir_size: {data_dir_size(ctx.zks)}\nlogdir_size: {log_dir_size(ctx.zks)}\n"


def _mntr(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    return "".join(f"zk_{k}\t{_metric_text(v)}\n" for k, v in monitor_values(ctx.zks, ctx.factory))


def _wchs(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    connections, paths, total = watch_summary(ctx.zks)
    return f"{connections} connections watching {paths} paths\nTotal watches:{total}\n"


def _wchc(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    out = []
    for session_id, paths in watches_by_session(ctx.zks):
        out.append(f"0x{session_id:x}\n")
        out.extend(f"\t{path}\n" for path in paths)
    return "".join(out) + "\n"


def _wchp(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    out = []
    for path, session_ids in watches_by_path(ctx.zks):
        out.append(f"{path}\n")
        out.extend(f"\t0x{sid:x}\n" for sid in session_ids)
    return "".join(out) + "\n"


def _dump(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING
    zks = ctx.zks
    out = ["SessionTracker dump:\n"]
    count, buckets = zks.session_tracker.expiry_snapshot()
    out.append(_expiry_dump("Session", count, [(t, [f"0x{sid & _MASK64:x}" for sid in ids])
                                               for t, ids in buckets]))
    out.append("ephemeral nodes dump:\n")
    ephemerals = ephemerals_by_session(zks.zk_db.data_tree)
    out.append(f"Sessions with Ephemerals ({len(ephemerals)}):\n")
    for sid, paths in ephemerals:
        out.append(f"0x{sid & _MASK64:x}:\n")
        out.extend(f"\t{path}\n" for path in paths)
    out.append("Connections dump:\n")
    cnxns = ctx.factory.connections()
    out.append(_expiry_dump("Connections", len(cnxns), _connection_buckets(ctx.factory, cnxns)))
    return "".join(out)


def _hash(ctx: _Context) -> str:
    if not ctx.running:
        return NOT_SERVING.rstrip("\n")  # Java's DigestCommand uses print, not println
    return "".join(f"{zxid & _MASK64:x}: {digest}\n" for zxid, digest in digests(ctx.zks))


_COMMANDS = {
    "ruok": _ruok, "isro": _isro, "gtmk": _gtmk, "stmk": _stmk, "envi": _envi,
    "srvr": _srvr, "stat": _stat, "cons": _cons, "crst": _crst, "srst": _srst,
    "conf": _conf, "dirs": _dirs, "mntr": _mntr, "wchs": _wchs, "wchc": _wchc,
    "wchp": _wchp, "dump": _dump, "hash": _hash,
}
assert set(_COMMANDS) == WORDS


# -- building blocks (also for the admin server and the quorum roles) -------------------------

def _hook(zks, name: str):
    method = getattr(zks, name, None)
    return method() if method is not None else None


def znode_count(zks) -> int:
    """Java's DataTree.getNodeCount: the root is in its map twice ("" and "/")."""
    return zks.zk_db.data_tree.node_count() + 1


def approximate_data_size(zks) -> int:
    """Java's DataTree.approximateDataSize: path lengths plus data lengths,
    where the root's second key "/" adds one."""
    return zks.zk_db.data_tree.approximate_data_size + 1


def _dir_size(path) -> int:
    """Bytes in the files under ``path`` (Java: ZooKeeperServer.getDirSize)."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=True):
                total += _dir_size(entry.path)
            else:
                total += entry.stat().st_size
        except OSError:
            pass
    return total


def data_dir_size(zks) -> int:
    return _dir_size(zks.zk_db.snap_log.snap_dir)


def log_dir_size(zks) -> int:
    return _dir_size(zks.zk_db.snap_log.data_dir)


def server_conf(zks, factory) -> dict[str, object]:
    """Java's ZooKeeperServerConf (``ZooKeeperServer.getConf().toMap()``):
    the admin server's ``configuration``, and the base of the conf word."""
    snap_log = zks.zk_db.snap_log
    server_id = 0 if zks.server_state() == "standalone" else zks.server_id
    return {
        "client_port": factory.port if factory is not None else -1,
        "data_dir": os.path.abspath(snap_log.snap_dir),
        "data_log_dir": os.path.abspath(snap_log.data_dir),
        "tick_time": zks.tick_time,
        "max_client_cnxns": factory.max_client_cnxns if factory is not None else 0,
        "min_session_timeout": zks.min_session_timeout,
        "max_session_timeout": zks.max_session_timeout,
        "server_id": server_id,
        "client_port_listen_backlog": getattr(factory, "listen_backlog", -1),
    }


def conf_entries(zks, factory) -> list[tuple[str, object]]:
    """ZooKeeperServer.dumpConf's keys, in Java's order; a quorum role adds
    its own after these (see the module docstring)."""
    conf = server_conf(zks, factory)
    return [
        ("clientPort", conf["client_port"]),
        ("secureClientPort", getattr(getattr(zks, "secure_cnxn_factory", None), "port", -1)),
        ("dataDir", conf["data_dir"]),
        ("dataDirSize", data_dir_size(zks)),
        ("dataLogDir", conf["data_log_dir"]),
        ("dataLogSize", log_dir_size(zks)),
        ("tickTime", conf["tick_time"]),
        ("maxClientCnxns", conf["max_client_cnxns"]),
        ("minSessionTimeout", conf["min_session_timeout"]),
        ("maxSessionTimeout", conf["max_session_timeout"]),
        ("clientPortListenBacklog", conf["client_port_listen_backlog"]),
        ("serverId", conf["server_id"]),
    ]


def watch_summary(zks) -> tuple[int, int, int]:
    """(connections watching, paths watched, total watches) of the data
    watches: Java's DataTree.getWatchesSummary (wchs, ``watch_summary``)."""
    watches = zks.zk_db.data_tree.data_watches
    by_watcher = watches.by_watcher()
    total = sum(len(paths) for paths in by_watcher.values())
    return len(by_watcher), watches.path_count(), total


def watches_by_session(zks) -> list[tuple[int, list[str]]]:
    """(session id, sorted watched paths) by session: DataTree.getWatches (wchc, ``watches``)."""
    by_watcher = zks.zk_db.data_tree.data_watches.by_watcher()
    return sorted((_session_of(watcher), paths) for watcher, paths in by_watcher.items())


def watches_by_path(zks) -> list[tuple[str, list[int]]]:
    """(path, sorted session ids) by path: DataTree.getWatchesByPath (wchp, ``watches_by_path``)."""
    by_path = zks.zk_db.data_tree.data_watches.by_path()
    return [(path, sorted(_session_of(w) for w in by_path[path])) for path in sorted(by_path)]


def digests(zks) -> list[tuple[int, int]]:
    """(zxid, tree digest) every 128th zxid: DataTree.getDigestLog (hash)."""
    digest_log = getattr(zks.zk_db, "digest_log", None)
    return list(digest_log()) if digest_log is not None else []


def _fd_counts() -> tuple[int, int]:
    try:
        import psutil
        open_fds = psutil.Process().num_fds()
    except Exception:  # psutil missing or /proc unreadable: count our fd dir
        try:
            open_fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            open_fds = -1
    max_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if max_fds == resource.RLIM_INFINITY:
        max_fds = -1
    return open_fds, max_fds


def monitor_values(zks, factory) -> list[tuple[str, object]]:
    """mntr's keys and values, without the ``zk_`` prefix: version and state
    (and a quorum peer's ``peer_state``), then the gauges in the order Java
    3.8.0's metrics map prints them."""
    values: list[tuple[str, object]] = [("version", version_string()), ("server_state", zks.server_state())]
    peer_state = _hook(zks, "peer_state")
    if peer_state is not None:
        values.append(("peer_state", peer_state))
    stats = zks.stats
    tree = zks.zk_db.data_tree
    open_fds, max_fds = _fd_counts()
    local_sessions = _hook(zks, "local_session_count") or 0
    connections = len(factory.connections()) if factory is not None else 0
    values += [
        ("ephemerals_count", tree.ephemeral_count()),
        ("num_alive_connections", connections),
        ("avg_latency", stats.avg_latency),
        ("outstanding_requests", zks.outstanding_requests()),
        ("znode_count", znode_count(zks)),
        ("global_sessions", len(zks.zk_db.sessions_with_timeouts)),
        ("non_mtls_remote_conn_count", 0),
        ("last_client_response_size", stats.last_client_response_size),
        ("packets_sent", stats.packets_sent),
        ("packets_received", stats.packets_received),
        ("max_client_response_size", stats.max_client_response_size),
        ("connection_drop_probability", 0.0),
        ("watch_count", tree.watch_count()),
        ("auth_failed_count", stats.auth_failed_count),
        ("min_latency", stats.min_latency or 0),
        ("max_file_descriptor_count", max_fds),
        ("approximate_data_size", approximate_data_size(zks)),
        ("open_file_descriptor_count", open_fds),
        ("local_sessions", local_sessions),
        ("uptime", stats.uptime_ms),
        ("max_latency", stats.max_latency),
        ("outstanding_tls_handshake", 0),
        ("min_client_response_size", stats.min_client_response_size),
        ("non_mtls_local_conn_count", 0),
    ]
    values += list(_hook(zks, "extra_gauges") or ())
    return values


def _metric_text(value) -> str:
    """MonitorCommand.print: integers as integers, other numbers as Java doubles."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def java_address(ip: str, port: int) -> str:
    """InetSocketAddress.toString for an accepted socket: ``/ip:port``
    (IPv6 in Java's full, unabbreviated hex groups)."""
    if ":" in ip:
        import ipaddress
        host, _, scope = ip.partition("%")
        try:
            groups = ipaddress.IPv6Address(host).exploded.split(":")
            ip = ":".join(f"{int(g, 16):x}" for g in groups) + (f"%{scope}" if scope else "")
        except ValueError:
            pass
    return f"/{ip}:{port}"


def _session_of(watcher) -> int:
    return getattr(watcher, "session_id", 0) & _MASK64


def connection_values(cnxn, brief: bool) -> dict[str, object]:
    """ServerCnxn.getConnectionInfo: the admin server's connection objects,
    and what the cons/stat lines print."""
    info: dict[str, object] = {
        "remote_socket_address": _host_port(cnxn.client_ip, cnxn.client_port),
        "interest_ops": cnxn.interest_ops(),
        "outstanding_requests": cnxn.outstanding,
        "packets_received": cnxn.packets_received,
        "packets_sent": cnxn.packets_sent,
    }
    if not brief:
        count = cnxn.latency_count
        info.update({
            "session_id": java_long(cnxn.session_id),
            "last_operation": cnxn.last_op,
            "established": int(cnxn.established * 1000),
            "session_timeout": cnxn.session_timeout,
            "last_cxid": cnxn.last_cxid,
            "last_zxid": cnxn.last_zxid,
            "last_response_time": cnxn.last_response_time,
            "last_latency": cnxn.last_latency,
            "min_latency": cnxn.min_latency or 0,
            "avg_latency": cnxn.total_latency // count if count else 0,
            "max_latency": cnxn.max_latency,
        })
    return info


def java_long(value: int) -> int:
    """An unsigned 64-bit value (a session id) as Java's signed long."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _host_port(ip: str, port: int) -> str:
    """``host:port`` as Java's admin server prints a remote address (IPv6 in brackets)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def connection_info(cnxn, brief: bool) -> str:
    """ServerCnxn.dumpConnectionInfo (without its trailing newline)."""
    info = connection_values(cnxn, brief)
    parts = [f" {java_address(cnxn.client_ip, cnxn.client_port)}[{info['interest_ops']:x}]"
             f"(queued={info['outstanding_requests']},recved={info['packets_received']},"
             f"sent={info['packets_sent']}"]
    if not brief and cnxn.session_id:
        parts.append(f",sid=0x{info['session_id'] & _MASK64:x},lop={info['last_operation']},"
                     f"est={info['established']}")
        if info["session_timeout"]:
            parts.append(f",to={info['session_timeout']}")
        if info["last_cxid"] >= 0:
            parts.append(f",lcxid=0x{info['last_cxid']:x}")
        parts.append(f",lzxid=0x{info['last_zxid'] & _MASK64:x},lresp={info['last_response_time']},"
                     f"llat={info['last_latency']},minlat={info['min_latency']},avglat={info['avg_latency']},"
                     f"maxlat={info['max_latency']}")
    parts.append(")")
    return "".join(parts)


def ephemerals_by_session(tree) -> list[tuple[int, list[str]]]:
    """(session id, sorted paths) per session that owns ephemerals."""
    # list()/set() copy in one C call each, so a concurrent create or delete
    # on the processor thread cannot break the iteration.
    return sorted((sid, sorted(set(paths))) for sid, paths in list(tree.ephemerals.items()))


def _java_date(elapsed_ms: int) -> str:
    """Time.elapsedTimeToDate(t).toString(): ``Fri Nov 27 10:43:50 UTC 2026``."""
    wall = time.time() + (elapsed_ms - now_ms()) / 1000.0
    return time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(wall))


def _expiry_dump(prefix: str, elements: int, buckets: list[tuple[int, list[str]]]) -> str:
    """ExpiryQueue.dump, after Java's ``<prefix> `` (Session / Connections)."""
    out = [f"{prefix} Sets ({len(buckets)})/({elements}):\n"]
    for when, items in buckets:
        out.append(f"{len(items)} expire at {_java_date(when)}:\n")
        out.extend(f"\t{item}\n" for item in items)
    return "".join(out)


def _connection_buckets(factory, cnxns) -> list[tuple[int, list[str]]]:
    """The factory's connection expiry queue, rebuilt from each connection's
    last read: Java buckets by (last read + session timeout, or the
    sessionless timeout) rounded up to the sessionless timeout."""
    interval = max(1, int(factory.sessionless_timeout * 1000))
    buckets: dict[int, list[str]] = {}
    for c in cnxns:
        timeout = c.session_timeout or interval
        when = ((c.last_active_ms + timeout) // interval + 1) * interval
        buckets.setdefault(when, []).append(
            f"ip: {java_address(c.client_ip, c.client_port)} sessionId: 0x{c.session_id & _MASK64:x}")
    return sorted(buckets.items())


# -- envi ------------------------------------------------------------------------------------------

_ARCH = {"x86_64": "amd64", "AMD64": "amd64", "i686": "x86", "i386": "x86"}


def _mb(n: int) -> str:
    return f"{n // (1024 * 1024)}MB"


def environment() -> list[tuple[str, str]]:
    """Java's Environment.list(), with the Python runtime in the java.* keys
    (see the module docstring)."""
    try:
        host = socket.getfqdn(socket.gethostname())
    except OSError:
        host = "<NA>"
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry and no $USER
        user = "<NA>"
    lib_path = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        lib_path.append(libdir)
    try:
        import psutil
        vm = psutil.virtual_memory()
        free, total_machine = vm.available, vm.total
        rss = psutil.Process().memory_info().rss
    except Exception:  # no psutil: fall back to what /proc-less POSIX gives
        free = total_machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    machine = platform.machine()
    return [
        ("zookeeper.version", version_string()),
        ("host.name", host),
        ("java.version", platform.python_version()),
        ("java.vendor", platform.python_implementation()),
        ("java.home", sys.prefix),
        ("java.class.path", os.pathsep.join(sys.path)),
        ("java.library.path", os.pathsep.join(lib_path)),
        ("java.io.tmpdir", tempfile.gettempdir()),
        ("java.compiler", platform.python_compiler() or "<NA>"),
        ("os.name", platform.system()),
        ("os.arch", _ARCH.get(machine, machine)),
        ("os.version", platform.release()),
        ("user.name", user),
        ("user.home", os.path.expanduser("~")),
        ("user.dir", os.getcwd()),
        ("os.memory.free", _mb(free)),
        ("os.memory.max", _mb(total_machine)),
        ("os.memory.total", _mb(rss)),
    ]
