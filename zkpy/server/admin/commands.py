"""The AdminServer's commands: each four-letter word as a JSON object.

Java: ``org.apache.zookeeper.server.admin.Commands`` (one ``CommandBase``
per command, registered under a primary name and aliases),
``CommandResponse`` and ``Commands.runCommand``. ZooKeeper 3.8.0's set,
names and keys (checked against a live 3.8.0 AdminServer):

=============================== ============================ ======
primary name                    aliases                      server
=============================== ============================ ======
configuration                   conf, config                 yes
connection_stat_reset           crst                         yes
connections                     cons                         yes
dirs                                                         yes
dump                                                         yes
environment                     env, envi                    no
get_trace_mask                  gtmk                         no
hash                                                         yes
initial_configuration           icfg                         yes
is_read_only                    isro                         yes
last_snapshot                   lsnp                         yes
leader                          lead                         yes
monitor                         mntr                         no
observer_connection_stat_reset  orst                         yes
observers                       obsr                         yes
ruok                                                         yes
server_stats                    srvr                         yes
set_trace_mask                  stmk                         no
stat_reset                      srst                         yes
stats                           stat                         yes
system_properties               sysp                         no
voting_view                                                  yes
watch_summary                   wchs                         yes
watches                         wchc                         yes
watches_by_path                 wchp                         yes
zabstate                                                     no
=============================== ============================ ======

"server" = the command needs a running server; without one the answer is
``{"command": <name>, "error": "This ZooKeeper instance is not currently
serving requests"}``. An unknown name answers ``{"command": <name>,
"error": "Unknown command: <name>"}``. Commands take their arguments from
the query string (``set_trace_mask?traceMask=306``). 3.8.0 has no
authentication on the AdminServer (that came in 3.9), nor the 4lw
whitelist: every command is always available.

The data comes from the building blocks of :mod:`zkpy.server.four_letter`,
so that a word and its command never disagree. A quorum role's server
supplies what only it knows through optional methods (looked up with
``getattr``, as the four-letter words do):

* ``leader_info()`` -> {"is_leader": bool, "leader_id": int, "leader_ip": str}
  (``leader``; without it: ``"error": "server is not initialized"``);
* ``voting_view()`` -> {sid: "host:quorumPort:electionPort:participant[;host:clientPort]"}
  (``voting_view``'s ``current_config``);
* ``zab_state()`` -> (voting: bool, phase: str), e.g. (True, "broadcast") (``zabstate``);
* ``synced_observers_info()`` -> (count, [observer info dicts]) or None (``observers``);
* ``reset_observer_connection_stats()`` (``observer_connection_stat_reset``);
* ``proposal_stats()`` -> {"last_buffer_size", "min_buffer_size", "max_buffer_size"}
  (a leader's ``proposal_stats`` in ``server_stats``/``stats``);
* plus the four-letter-word hooks (``peer_state``, ``extra_gauges``, ...)
  that feed ``monitor`` and friends.

What zkpy does differently, on purpose:

* ``monitor`` has the gauges of mntr but none of Java's counters and
  summaries (``proposal_count``, ``avg_fsynctime`` ...), and without a
  running server it answers the not-serving error (Java's would fail).
* ``system_properties`` lists the properties zkpy has: the runtime keys of
  ``environment`` (Python's, under Java's names), the separators, and the
  ``-D`` flags and zoo.cfg-derived properties it was started with.
* Maps keyed by a session or a path are sorted (Java's are hash-ordered),
  and ``dump`` lists only non-empty expiry buckets (as the dump word).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Callable, Optional

from .. import four_letter
from ..four_letter import NOT_SERVING, java_long

LOG = logging.getLogger(__name__)

__all__ = ["Command", "CommandResponse", "COMMANDS", "primary_names", "get_command", "run_command"]

NOT_SERVING_ERROR = NOT_SERVING.rstrip("\n")
_LONG_RE = re.compile(r"[+-]?[0-9]+\Z")
_MASK64 = (1 << 64) - 1


class CommandResponse:
    """Java's CommandResponse: the command's data, then ``command`` and ``error``.

    ``to_map`` follows Java's ``toMap``: data first, then ``command`` and
    ``error``, then the data again, so a command that put its own
    ``error`` keeps it (and its position).
    """

    def __init__(self, command: str, error: Optional[str] = None):
        self.command = command
        self.error = error
        self.data: dict[str, object] = {}

    def put(self, key: str, value: object) -> None:
        self.data[key] = value

    def put_all(self, values) -> None:
        self.data.update(values)

    def to_map(self) -> dict[str, object]:
        result = dict(self.data)
        result["command"] = self.command
        result["error"] = self.error
        result.update(self.data)
        return result


class CommandContext:
    """What a command runs against: the server (may be None), the query
    arguments, and the AdminServer (its startup config)."""

    __slots__ = ("zks", "kwargs", "admin")

    def __init__(self, zks, kwargs: dict[str, str], admin=None):
        self.zks = zks
        self.kwargs = kwargs
        self.admin = admin

    @property
    def factory(self):
        return getattr(self.zks, "cnxn_factory", None)

    def hook(self, name: str):
        method = getattr(self.zks, name, None)
        return method() if method is not None else None


class Command:
    """Java's CommandBase: names (the first is the primary one) and a body."""

    def __init__(self, names: tuple[str, ...], run: Callable[[CommandContext, CommandResponse], None],
                 server_required: bool = True):
        self.names = names
        self.primary_name = names[0]
        self.server_required = server_required
        self._run = run

    def run(self, ctx: CommandContext) -> CommandResponse:
        response = CommandResponse(self.primary_name)
        self._run(ctx, response)
        return response


# -- the commands --------------------------------------------------------------------------------

def _configuration(ctx: CommandContext, r: CommandResponse) -> None:
    r.put_all(four_letter.server_conf(ctx.zks, ctx.factory))


def _connection_stat_reset(ctx: CommandContext, r: CommandResponse) -> None:
    if ctx.factory is not None:
        ctx.factory.reset_all_connection_stats()


def _connection_list(factory, brief: bool) -> list[dict[str, object]]:
    if factory is None:
        return []
    return [four_letter.connection_values(c, brief) for c in factory.connections()]


def _connections(ctx: CommandContext, r: CommandResponse) -> None:
    r.put("connections", _connection_list(ctx.factory, brief=False))
    r.put("secure_connections", _connection_list(getattr(ctx.zks, "secure_cnxn_factory", None), brief=False))


def _dirs(ctx: CommandContext, r: CommandResponse) -> None:
    r.put("datadir_size", four_letter.data_dir_size(ctx.zks))
    r.put("logdir_size", four_letter.log_dir_size(ctx.zks))


def _dump(ctx: CommandContext, r: CommandResponse) -> None:
    _count, buckets = ctx.zks.session_tracker.expiry_snapshot()
    r.put("expiry_time_to_session_ids",
          {str(when): [java_long(sid) for sid in ids] for when, ids in buckets})
    r.put("session_id_to_ephemeral_paths",
          {str(java_long(sid)): paths for sid, paths in four_letter.ephemerals_by_session(ctx.zks.zk_db.data_tree)})


def _environment(ctx: CommandContext, r: CommandResponse) -> None:
    r.put_all(four_letter.environment())


def _get_trace_mask(ctx: CommandContext, r: CommandResponse) -> None:
    r.put("tracemask", four_letter.get_trace_mask())


def _hash(ctx: CommandContext, r: CommandResponse) -> None:
    # Java's ZxidDigest, in the order Jackson writes its getters.
    r.put("digests", [{"zxid": zxid, "digest": digest, "digest_version": 2}
                      for zxid, digest in four_letter.digests(ctx.zks)])


def _initial_configuration(ctx: CommandContext, r: CommandResponse) -> None:
    r.put("initial_configuration", getattr(ctx.admin, "initial_config", None))


def _is_read_only(ctx: CommandContext, r: CommandResponse) -> None:
    r.put("read_only", bool(ctx.zks.is_read_only()))


def _last_snapshot(ctx: CommandContext, r: CommandResponse) -> None:
    info = getattr(ctx.zks.zk_db.snap_log, "last_snapshot_info", None)
    zxid = -1 if info is None else info.zxid
    r.put("zxid", f"{zxid & _MASK64:x}")
    r.put("timestamp", -1 if info is None else int(info.timestamp))  # seconds, as Java


def _leader(ctx: CommandContext, r: CommandResponse) -> None:
    info = ctx.hook("leader_info")
    if info is None:
        r.put("error", "server is not initialized")
    else:
        r.put_all(info)


def _monitor(ctx: CommandContext, r: CommandResponse) -> None:
    r.put_all(four_letter.monitor_values(ctx.zks, ctx.factory))


def _observer_connection_stat_reset(ctx: CommandContext, r: CommandResponse) -> None:
    ctx.hook("reset_observer_connection_stats")


def _observers(ctx: CommandContext, r: CommandResponse) -> None:
    info = ctx.hook("synced_observers_info")
    count, observers = info if info is not None else (0, [])
    r.put("synced_observers", count)
    r.put("observers", list(observers))


def _ruok(ctx: CommandContext, r: CommandResponse) -> None:
    pass


def server_stats_values(zks) -> dict[str, object]:
    """ServerStats as Jackson writes it (the keys are its getters, snake-cased)."""
    stats = zks.stats
    factory = getattr(zks, "cnxn_factory", None)
    txn_log = getattr(zks.zk_db.snap_log, "txn_log", None)
    return {
        "packets_sent": stats.packets_sent,
        "packets_received": stats.packets_received,
        "fsync_threshold_exceed_count": getattr(txn_log, "fsync_threshold_exceed_count", 0),
        "client_response_stats": _client_response(stats),
        "data_dir_size": four_letter.data_dir_size(zks),
        "log_dir_size": four_letter.log_dir_size(zks),
        "provider_null": False,
        "server_state": zks.server_state(),
        "last_processed_zxid": zks.zk_db.data_tree.last_processed_zxid,
        "outstanding_requests": zks.outstanding_requests(),
        "avg_latency": stats.avg_latency,
        "max_latency": stats.max_latency,
        "min_latency": stats.min_latency or 0,
        "num_alive_client_connections": len(factory.connections()) if factory is not None else 0,
        "auth_failed_count": stats.auth_failed_count,
        "non_mtlsremote_conn_count": 0,
        "non_mtlslocal_conn_count": 0,
        "uptime": stats.uptime_ms,
    }


def _client_response(stats) -> dict[str, int]:
    return {
        "last_buffer_size": stats.last_client_response_size,
        "min_buffer_size": stats.min_client_response_size,
        "max_buffer_size": stats.max_client_response_size,
    }


def _server_stats(ctx: CommandContext, r: CommandResponse) -> None:
    LOG.info("running stat")
    zks = ctx.zks
    r.put("version", four_letter.version_string())
    r.put("read_only", bool(zks.is_read_only()))
    r.put("server_stats", server_stats_values(zks))
    r.put("client_response", _client_response(zks.stats))
    proposal_stats = ctx.hook("proposal_stats")
    if proposal_stats is not None:
        r.put("proposal_stats", proposal_stats)
    r.put("node_count", four_letter.znode_count(zks))


def _set_trace_mask(ctx: CommandContext, r: CommandResponse) -> None:
    text = ctx.kwargs.get("traceMask")
    if text is None:
        r.put("error", "setTraceMask requires long traceMask argument")
        return
    if not _LONG_RE.match(text) or not -(1 << 63) <= int(text) < (1 << 63):  # Long.parseLong
        r.put("error", f"setTraceMask requires long traceMask argument, got {text}")
        return
    mask = int(text)
    four_letter.set_trace_mask(mask)
    r.put("tracemask", mask)


def _stat_reset(ctx: CommandContext, r: CommandResponse) -> None:
    ctx.zks.stats.reset()


def _stats(ctx: CommandContext, r: CommandResponse) -> None:
    _server_stats(ctx, r)
    r.put("connections", _connection_list(ctx.factory, brief=True))
    r.put("secure_connections", _connection_list(getattr(ctx.zks, "secure_cnxn_factory", None), brief=True))


def system_properties(config) -> dict[str, str]:
    """What zkpy has of Java's System.getProperties(), sorted by name."""
    props = {k: v for k, v in four_letter.environment()
             if k not in ("zookeeper.version", "host.name") and not k.startswith("os.memory.")}
    props.update({"file.separator": os.sep, "path.separator": os.pathsep, "line.separator": "\n"})
    properties = getattr(config, "properties", None)
    if properties is not None:
        props.update(properties.as_dict())
    return dict(sorted(props.items()))


def _system_properties(ctx: CommandContext, r: CommandResponse) -> None:
    config = getattr(ctx.admin, "config", None)
    if config is None:
        config = getattr(ctx.zks, "config", None)
    r.put_all(system_properties(config))


def _voting_view(ctx: CommandContext, r: CommandResponse) -> None:
    view = ctx.hook("voting_view")
    r.put("current_config", {str(sid): text for sid, text in sorted((view or {}).items())})


def _watch_summary(ctx: CommandContext, r: CommandResponse) -> None:
    connections, paths, total = four_letter.watch_summary(ctx.zks)
    r.put("num_connections", connections)
    r.put("num_paths", paths)
    r.put("num_total_watches", total)


def _watches(ctx: CommandContext, r: CommandResponse) -> None:
    r.put("session_id_to_watched_paths",
          {str(java_long(sid)): paths for sid, paths in four_letter.watches_by_session(ctx.zks)})


def _watches_by_path(ctx: CommandContext, r: CommandResponse) -> None:
    r.put("path_to_session_ids",
          {path: [java_long(sid) for sid in sids] for path, sids in four_letter.watches_by_path(ctx.zks)})


def _zabstate(ctx: CommandContext, r: CommandResponse) -> None:
    state = ctx.hook("zab_state") if ctx.zks is not None else None
    voting, phase = state if state is not None else (False, "")
    r.put("voting", bool(voting))
    r.put("zabstate", phase)


_ALL = [
    Command(("connection_stat_reset", "crst"), _connection_stat_reset),
    Command(("configuration", "conf", "config"), _configuration),
    Command(("connections", "cons"), _connections),
    Command(("hash",), _hash),
    Command(("dirs",), _dirs),
    Command(("dump",), _dump),
    Command(("environment", "env", "envi"), _environment, server_required=False),
    Command(("get_trace_mask", "gtmk"), _get_trace_mask, server_required=False),
    Command(("initial_configuration", "icfg"), _initial_configuration),
    Command(("is_read_only", "isro"), _is_read_only),
    Command(("last_snapshot", "lsnp"), _last_snapshot),
    Command(("leader", "lead"), _leader),
    Command(("monitor", "mntr"), _monitor, server_required=False),
    Command(("observer_connection_stat_reset", "orst"), _observer_connection_stat_reset),
    Command(("ruok",), _ruok),
    Command(("set_trace_mask", "stmk"), _set_trace_mask, server_required=False),
    Command(("server_stats", "srvr"), _server_stats),
    Command(("stats", "stat"), _stats),
    Command(("stat_reset", "srst"), _stat_reset),
    Command(("observers", "obsr"), _observers),
    Command(("system_properties", "sysp"), _system_properties, server_required=False),
    Command(("voting_view",), _voting_view),
    Command(("watches", "wchc"), _watches),
    Command(("watches_by_path", "wchp"), _watches_by_path),
    Command(("watch_summary", "wchs"), _watch_summary),
    Command(("zabstate",), _zabstate, server_required=False),
]

#: Every name (primary and alias) -> its command (Java: Commands.commands).
COMMANDS: dict[str, Command] = {name: command for command in _ALL for name in command.names}


def primary_names() -> list[str]:
    """The primary names, sorted (the AdminServer's listing page)."""
    return sorted(command.primary_name for command in _ALL)


def get_command(name: str) -> Optional[Command]:
    return COMMANDS.get(name)


def run_command(name: str, zks, kwargs: Optional[dict[str, str]] = None, admin=None) -> CommandResponse:
    """Java's Commands.runCommand: unknown names and a missing server become errors."""
    command = COMMANDS.get(name)
    if command is None:
        return CommandResponse(name, f"Unknown command: {name}")
    running = zks is not None and zks.is_running()
    if command.server_required and not running:
        return CommandResponse(name, NOT_SERVING_ERROR)
    if command is COMMANDS["monitor"] and zks is None:
        return CommandResponse(name, NOT_SERVING_ERROR)
    return command.run(CommandContext(zks, dict(kwargs or {}), admin))
