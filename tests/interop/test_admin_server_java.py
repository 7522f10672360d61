"""The AdminServer: zkpy answers every command as Java ZooKeeper 3.8.0's does.

A Java server (with its Jetty AdminServer) and a zkpy server each get the
same kazoo session (nodes, an ephemeral, data and exist watches), kept
open while every command is asked of both over HTTP. Compared: the
listing page byte for byte, the names and aliases, the JSON keys in
Java's order (nested too), and the values that do not depend on time,
ports, paths, session ids or the runtime. Fixed answers (ruok, leader,
unknown command, argument errors ...) must be the same bytes.

Debian's package does not put the servlet API on ZooKeeper's class path
(Java then logs "Unable to load jetty, not starting JettyAdminServer"), so
the Java server here gets /usr/share/java/servlet-api.jar added.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient

from tests.interop.java_zk import JavaZooKeeperServer
from zkpy.testing import TestingServer, find_free_port

pytestmark = pytest.mark.interop

SERVLET_API = "/usr/share/java/servlet-api.jar"
_OK, _REASON = JavaZooKeeperServer.available()
if _OK and not os.path.isfile(SERVLET_API):
    _OK, _REASON = False, f"Java's AdminServer needs the servlet API ({SERVLET_API}, package libservlet-api-java)"
if not _OK:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_REASON)]


class JavaWithAdmin(JavaZooKeeperServer):
    @staticmethod
    def classpath(extra_first=()):
        return JavaZooKeeperServer.classpath([*extra_first, SERVLET_API])


def http(base: str, path: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, ""


class Side:
    """One server, its AdminServer URL and its kazoo session."""

    def __init__(self, name, server, admin_port):
        self.name = name
        self.server = server
        self.base = f"http://127.0.0.1:{admin_port}"
        self.zk = None

    def raw(self, command: str) -> str:
        status, body = http(self.base, "/commands/" + command)
        assert status == 200, (self.name, command, status)
        return body

    def cmd(self, command: str) -> dict:
        return json.loads(self.raw(command))

    @property
    def session(self) -> int:
        sid = self.zk.client_id[0]
        return sid - (1 << 64) if sid >= 1 << 63 else sid


def script(zk: KazooClient) -> None:
    zk.create("/admin-a", b"hello")
    zk.create("/admin-a/b", b"")
    zk.create("/admin-eph", b"e", ephemeral=True)
    zk.set("/admin-a", b"v2")
    zk.get("/admin-a", watch=lambda e: None)
    zk.exists("/admin-missing", watch=lambda e: None)
    zk.get("/admin-eph", watch=lambda e: None)


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    java_admin, zkpy_admin = find_free_port(), find_free_port()
    java = JavaWithAdmin({"admin.enableServer": "true", "admin.serverPort": java_admin,
                          "admin.serverAddress": "127.0.0.1"},
                         temp_dir=tmp_path_factory.mktemp("java-admin"))
    zkpy = TestingServer(temp_dir=tmp_path_factory.mktemp("zkpy-admin"), admin_port=zkpy_admin)
    servers, clients, pair = [java, zkpy], [], []
    try:
        for name, server, port in (("java", java, java_admin), ("zkpy", zkpy, zkpy_admin)):
            server.start()
            side = Side(name, server, port)
            side.zk = KazooClient(hosts=server.connect_string, timeout=10.0)
            clients.append(side.zk)
            side.zk.start(timeout=30.0)
            script(side.zk)
            pair.append(side)
        yield pair
    finally:
        for zk in clients:
            zk.stop()
            zk.close()
        for server in servers:
            server.close()


def shape(value):
    """The structure of a JSON value: keys, element shapes, scalar types.

    Keys are sorted: Jackson lists a bean's getter-made keys in the order
    reflection returns the getters, which the JVM does not fix (CI once saw
    ServerStats' provider_null move), and JSON objects are unordered anyway.
    """
    if isinstance(value, dict):
        return sorted((k, shape(v)) for k, v in value.items())
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def by_session(mapping: dict, side: Side) -> dict:
    """A map keyed by session id, with this side's session as "S"."""
    return {("S" if k == str(side.session) else k): v for k, v in mapping.items()}


def test_listing_page_is_the_same(sides):
    java, zkpy = sides
    assert http(zkpy.base, "/commands") == http(java.base, "/commands")
    assert http(zkpy.base, "/commands/") == http(java.base, "/commands/")


def test_fixed_answers_are_the_same_bytes(sides):
    java, zkpy = sides
    for command in ("ruok", "leader", "lead", "voting_view", "zabstate", "observers", "is_read_only",
                    "watch_summary", "nonexistent", "CONF", "set_trace_mask", "stmk?traceMask=abc",
                    "observer_connection_stat_reset", "hash", "get_trace_mask", "ruok/extra"):
        assert zkpy.raw(command) == java.raw(command), command


def test_aliases_name_the_same_primary_command(sides):
    java, zkpy = sides
    aliases = ["crst", "conf", "config", "cons", "env", "envi", "gtmk", "icfg", "isro", "lsnp", "lead", "mntr",
               "orst", "srvr", "stat", "obsr", "sysp", "wchc", "wchs", "wchp", "dirs", "dump", "hash"]
    for alias in aliases:
        assert zkpy.cmd(alias)["command"] == java.cmd(alias)["command"], alias


def test_every_command_has_javas_keys(sides):
    java, zkpy = sides
    names = [line.split('"')[1].rsplit("/", 1)[1]
             for line in http(java.base, "/commands")[1].splitlines() if line.startswith("<a")]
    assert len(names) == 26
    skip = {"monitor", "system_properties", "dump", "watches", "watches_by_path", "set_trace_mask"}
    for name in names:
        if name in skip:
            continue
        assert shape(zkpy.cmd(name)) == shape(java.cmd(name)), name


def test_session_data_is_the_same(sides):
    java, zkpy = sides
    j, z = java.cmd("dump"), zkpy.cmd("dump")
    assert by_session(z["session_id_to_ephemeral_paths"], zkpy) == \
        by_session(j["session_id_to_ephemeral_paths"], java) == {"S": ["/admin-eph"]}
    for side, dump in ((java, j), (zkpy, z)):
        buckets = [ids for ids in dump["expiry_time_to_session_ids"].values() if ids]
        assert buckets == [[side.session]], side.name
    # Java's sets are hash-ordered, zkpy's sorted (on purpose): compare as sets
    zw = by_session(zkpy.cmd("watches")["session_id_to_watched_paths"], zkpy)
    jw = by_session(java.cmd("watches")["session_id_to_watched_paths"], java)
    assert zw["S"] == sorted(zw["S"]) and {k: sorted(v) for k, v in jw.items()} == zw
    zw = zkpy.cmd("watches_by_path")["path_to_session_ids"]
    jw = java.cmd("watches_by_path")["path_to_session_ids"]
    assert {p: ["S" for _ in ids] for p, ids in zw.items()} == {p: ["S" for _ in ids] for p, ids in jw.items()}

    jc, zc = java.cmd("connections")["connections"], zkpy.cmd("connections")["connections"]
    assert [c["session_id"] for c in jc] == [java.session] and [c["session_id"] for c in zc] == [zkpy.session]
    for key in ("session_timeout", "interest_ops"):
        assert zc[0][key] == jc[0][key], key
    # kazoo's background pings (and an earlier connection_stat_reset's "NA")
    # race with this read, on each side independently: the last-request
    # fields are comparable only when neither side's last request was one.
    if {zc[0]["last_operation"], jc[0]["last_operation"]}.isdisjoint({"PING", "NA"}):
        for key in ("last_operation", "last_zxid", "last_cxid"):
            assert zc[0][key] == jc[0][key], key


def test_server_values_that_must_agree(sides):
    java, zkpy = sides
    j, z = java.cmd("stats"), zkpy.cmd("stats")
    assert z["node_count"] == j["node_count"] and z["read_only"] == j["read_only"] is False
    for key in ("server_state", "last_processed_zxid", "outstanding_requests", "num_alive_client_connections",
                "provider_null"):
        assert z["server_stats"][key] == j["server_stats"][key], key
    jc, zc = java.cmd("configuration"), zkpy.cmd("configuration")
    for key in ("tick_time", "max_client_cnxns", "min_session_timeout", "max_session_timeout", "server_id",
                "client_port_listen_backlog"):
        assert zc[key] == jc[key], key
    assert zc["client_port"] == zkpy.server.port and jc["client_port"] == java.server.port
    assert zkpy.cmd("last_snapshot")["zxid"] == java.cmd("last_snapshot")["zxid"] == "0"
    for side in sides:
        with open(side.server.config_path, encoding="ascii") as f:
            assert side.cmd("initial_configuration")["initial_configuration"] == f.read(), side.name


def test_monitor_has_javas_gauges_in_javas_order(sides):
    java, zkpy = sides
    j, z = java.cmd("monitor"), zkpy.cmd("monitor")
    zkeys = [k for k in z if k not in ("command", "error")]
    assert zkeys == list(j)[:len(zkeys)]  # Java continues with counters zkpy does not keep
    for key in ("server_state", "znode_count", "ephemerals_count", "watch_count", "global_sessions",
                "approximate_data_size", "num_alive_connections", "outstanding_requests"):
        assert z[key] == j[key], key
    assert [type(z[k]) for k in zkeys] == [type(j[k]) for k in zkeys]


def test_environment_and_system_properties(sides):
    java, zkpy = sides
    assert list(zkpy.cmd("environment")) == list(java.cmd("environment"))
    jp, zp = java.cmd("system_properties"), zkpy.cmd("system_properties")
    for props in (jp, zp):
        keys = [k for k in props if k not in ("command", "error")]
        assert keys == sorted(keys)
    common = {"java.version", "java.home", "os.name", "os.arch", "user.dir", "user.home", "file.separator",
              "path.separator", "line.separator", "java.io.tmpdir"}
    assert common <= set(zp) and common <= set(jp)
    assert zp["os.name"] == jp["os.name"] and zp["file.separator"] == jp["file.separator"]


def test_trace_mask_and_resets_behave_alike(sides):
    java, zkpy = sides
    for side in sides:
        assert side.cmd("set_trace_mask?traceMask=16")["tracemask"] == 16
        assert side.cmd("gtmk")["tracemask"] == 16
        side.cmd("stmk?traceMask=306")
        assert side.cmd("stat_reset")["error"] is None
        assert side.cmd("server_stats")["server_stats"]["packets_received"] == 0
        assert side.cmd("connection_stat_reset")["error"] is None
        assert side.cmd("connections")["connections"][0]["packets_received"] == 0
    assert zkpy.raw("set_trace_mask?traceMask=12") == java.raw("set_trace_mask?traceMask=12")


def test_http_errors(sides):
    java, zkpy = sides
    for path, method in (("/", "GET"), ("/commandsx", "GET"), ("/commands/ruok", "POST")):
        assert http(zkpy.base, path, method)[0] == http(java.base, path, method)[0], (path, method)
