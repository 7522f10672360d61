"""The AdminServer and the Prometheus /metrics endpoint of a real zkpy server.

Queried over HTTP with urllib, as an operator's script would. One server
per module, with the AdminServer on a free port and the Prometheus
provider on another; a kazoo client creates nodes, an ephemeral and
watches, and the JSON must report them (and agree with the four-letter
words, which share the data gathering).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient

from zkpy.server.admin.commands import primary_names, run_command
from zkpy.testing import TestingServer, find_free_port

# Java 3.8.0's listing page (checked against a live one), in its order.
JAVA_PRIMARY_NAMES = [
    "configuration", "connection_stat_reset", "connections", "dirs", "dump", "environment", "get_trace_mask",
    "hash", "initial_configuration", "is_read_only", "last_snapshot", "leader", "monitor",
    "observer_connection_stat_reset", "observers", "ruok", "server_stats", "set_trace_mask", "stat_reset",
    "stats", "system_properties", "voting_view", "watch_summary", "watches", "watches_by_path", "zabstate",
]
# alias -> primary name, as registered by Java 3.8.0's Commands.
JAVA_ALIASES = {
    "crst": "connection_stat_reset", "conf": "configuration", "config": "configuration", "cons": "connections",
    "env": "environment", "envi": "environment", "gtmk": "get_trace_mask", "icfg": "initial_configuration",
    "isro": "is_read_only", "lsnp": "last_snapshot", "lead": "leader", "mntr": "monitor",
    "orst": "observer_connection_stat_reset", "stmk": "set_trace_mask", "srvr": "server_stats",
    "stat": "stats", "srst": "stat_reset", "obsr": "observers", "sysp": "system_properties",
    "wchc": "watches", "wchs": "watch_summary", "wchp": "watches_by_path",
}
SERVER_STATS_KEYS = [
    "packets_sent", "packets_received", "fsync_threshold_exceed_count", "client_response_stats",
    "data_dir_size", "log_dir_size", "provider_null", "server_state", "last_processed_zxid",
    "outstanding_requests", "avg_latency", "max_latency", "min_latency", "num_alive_client_connections",
    "auth_failed_count", "non_mtlsremote_conn_count", "non_mtlslocal_conn_count", "uptime",
]
CONNECTION_KEYS = [
    "remote_socket_address", "interest_ops", "outstanding_requests", "packets_received", "packets_sent",
    "session_id", "last_operation", "established", "session_timeout", "last_cxid", "last_zxid",
    "last_response_time", "last_latency", "min_latency", "avg_latency", "max_latency",
]
PROMETHEUS = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    metrics_port = find_free_port()
    srv = TestingServer(temp_dir=tmp_path_factory.mktemp("admin"), admin_port=find_free_port(),
                        config={"metricsProvider.className": PROMETHEUS,
                                "metricsProvider.httpHost": "127.0.0.1",
                                "metricsProvider.httpPort": metrics_port})
    srv.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture
def client(server):
    zk = KazooClient(hosts=server.connect_string, timeout=10.0)
    zk.start(timeout=15.0)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def get(url: str, method: str = "GET") -> tuple[int, dict, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def session_id(zk: KazooClient) -> int:
    sid = zk.client_id[0]
    return sid - (1 << 64) if sid >= 1 << 63 else sid


# -- the listing and the HTTP surface ---------------------------------------------------------

def test_listing_page_links_every_primary_name_like_java(server):
    status, headers, body = get(server.admin_url)
    assert status == 200
    assert primary_names() == JAVA_PRIMARY_NAMES
    assert body == "".join(f'<a href="/commands/{n}">{n}</a>\n<br/>\n' for n in JAVA_PRIMARY_NAMES)
    assert get(server.admin_url + "/")[2] == body


def test_json_is_written_the_way_jackson_pretty_prints_it(server):
    status, headers, body = get(server.admin_url + "/ruok")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == '{\n  "command" : "ruok",\n  "error" : null\n}'
    # a nested object and an empty array, byte for byte as Java's Jackson writes them
    body = get(server.admin_url + "/stats")[2]
    assert '  "client_response" : {\n    "last_buffer_size" : ' in body
    assert '"secure_connections" : [ ],' in body


def test_every_alias_runs_its_primary_command(server):
    for alias, primary in JAVA_ALIASES.items():
        if primary in ("set_trace_mask", "stat_reset", "connection_stat_reset"):
            continue  # they change state; covered below
        assert server.admin_command(alias)["command"] == primary, alias


def test_unknown_command_and_unknown_paths(server):
    assert server.admin_command("nonexistent") == {"command": "nonexistent",
                                                   "error": "Unknown command: nonexistent"}
    assert server.admin_command("CONF")["error"] == "Unknown command: CONF"  # names are case sensitive
    assert get(server.admin_url + "/%72uok")[2] == get(server.admin_url + "/ruok")[2]  # decoded, as Jetty
    assert get(server.admin_url.replace("/commands", "/"))[0] == 404
    assert get(server.admin_url + "x")[0] == 404
    assert get(server.admin_url + "/ruok", method="POST")[0] == 405
    status, headers, body = get(server.admin_url + "/ruok", method="HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) == 42


# -- what the commands report -----------------------------------------------------------------

def test_connections_dump_and_watches_report_the_clients_session(server, client):
    client.create("/adm-eph", b"e", ephemeral=True)
    client.create("/adm-a", b"hello")
    client.get("/adm-a", watch=lambda event: None)
    client.exists("/adm-missing", watch=lambda event: None)
    sid = session_id(client)

    cons = server.admin_command("connections")
    mine = [c for c in cons["connections"] if c["session_id"] == sid]
    assert len(mine) == 1 and list(mine[0]) == CONNECTION_KEYS
    assert mine[0]["remote_socket_address"].startswith("127.0.0.1:")
    assert mine[0]["last_operation"] == "EXIS" and mine[0]["session_timeout"] > 0
    assert cons["secure_connections"] == [] and cons["error"] is None

    dump = server.admin_command("dump")
    assert dump["session_id_to_ephemeral_paths"][str(sid)] == ["/adm-eph"]
    assert any(sid in sids for sids in dump["expiry_time_to_session_ids"].values())

    assert server.admin_command("watches")["session_id_to_watched_paths"][str(sid)] == \
        ["/adm-a", "/adm-missing"]
    by_path = server.admin_command("watches_by_path")["path_to_session_ids"]
    assert by_path["/adm-a"] == [sid] and by_path["/adm-missing"] == [sid]
    summary = server.admin_command("watch_summary")
    assert (summary["num_connections"], summary["num_paths"], summary["num_total_watches"]) == (1, 2, 2)
    # the four-letter word says the same (one data gathering for both)
    assert server.four_letter_word("wchs") == "1 connections watching 2 paths\nTotal watches:2\n"

    stats = server.admin_command("stats")
    assert list(stats["server_stats"]) == SERVER_STATS_KEYS
    assert stats["server_stats"]["server_state"] == "standalone"
    assert stats["node_count"] == int(
        [line for line in server.four_letter_word("srvr").splitlines() if line.startswith("Node count")][0]
        .split(": ")[1])
    brief = [c for c in stats["connections"] if c["remote_socket_address"] == mine[0]["remote_socket_address"]]
    assert list(brief[0]) == CONNECTION_KEYS[:5]


def test_monitor_matches_mntr(server, client):
    client.ensure_path("/adm-monitor/child")
    monitor = server.admin_command("monitor")
    mntr = dict(line.split("\t", 1) for line in server.four_letter_word("mntr").splitlines())
    assert [f"zk_{k}" for k in monitor if k not in ("command", "error")] == list(mntr)
    for key in ("znode_count", "ephemerals_count", "watch_count", "global_sessions", "server_state"):
        assert str(monitor[key]) == mntr[f"zk_{key}"], key
    assert isinstance(monitor["avg_latency"], float) and isinstance(monitor["znode_count"], int)


def test_configuration_dirs_snapshot_and_initial_configuration(server):
    conf = server.admin_command("configuration")
    assert conf["client_port"] == server.port and conf["tick_time"] == 200
    assert conf["data_dir"].endswith("/version-2") and conf["server_id"] == 0
    assert conf["min_session_timeout"] == 400 and conf["max_session_timeout"] == 4000
    dirs = server.admin_command("dirs")
    assert dirs["datadir_size"] > 0 and dirs["logdir_size"] > 0
    snap = server.admin_command("last_snapshot")
    assert snap["zxid"] == "0" and isinstance(snap["timestamp"], int)  # the startup snapshot, seconds
    with open(server.config_path, encoding="ascii") as f:
        assert server.admin_command("initial_configuration")["initial_configuration"] == f.read()
    assert server.admin_command("is_read_only")["read_only"] is False


def test_quorum_only_commands_answer_as_a_standalone_java_server(server):
    assert server.admin_command("leader") == {"error": "server is not initialized", "command": "leader"}
    assert server.admin_command("voting_view")["current_config"] == {}
    assert server.admin_command("zabstate") == {"voting": False, "zabstate": "", "command": "zabstate",
                                                "error": None}
    assert server.admin_command("observers")["observers"] == []
    assert server.admin_command("observer_connection_stat_reset")["error"] is None


def test_environment_and_system_properties(server):
    env = server.admin_command("environment")
    envi = dict(line.split("=", 1) for line in server.four_letter_word("envi").splitlines()[1:])
    assert [k for k in env if k not in ("command", "error")] == list(envi)
    props = server.admin_command("system_properties")
    keys = [k for k in props if k not in ("command", "error")]
    assert keys == sorted(keys)
    assert props["zookeeper.4lw.commands.whitelist"] == "*"  # from zoo.cfg's 4lw.commands.whitelist


def test_trace_mask_and_resets(server, client):
    assert server.admin_command("set_trace_mask") == {
        "error": "setTraceMask requires long traceMask argument", "command": "set_trace_mask"}
    assert server.admin_command("stmk", traceMask="x1")["error"] == \
        "setTraceMask requires long traceMask argument, got x1"
    assert server.admin_command("set_trace_mask", traceMask=16)["tracemask"] == 16
    assert server.admin_command("gtmk")["tracemask"] == 16
    assert server.four_letter_word("gtmk") == "16"
    server.admin_command("stmk", traceMask=306)

    client.get_children("/")
    assert server.admin_command("server_stats")["server_stats"]["packets_received"] > 0
    assert server.admin_command("stat_reset")["error"] is None
    assert server.admin_command("server_stats")["server_stats"]["packets_received"] == 0
    assert server.admin_command("connection_stat_reset")["error"] is None
    assert all(c["packets_received"] == 0 for c in server.admin_command("connections")["connections"])


def test_hash_lists_the_digest_of_every_128th_zxid(server, client):
    while server.admin_command("server_stats")["server_stats"]["last_processed_zxid"] < 130:
        client.create("/adm-hash-", b"", sequence=True)
    digests = server.admin_command("hash")["digests"]
    assert digests and digests[0]["zxid"] == 128 and list(digests[0]) == ["zxid", "digest", "digest_version"]
    assert server.four_letter_word("hash").startswith(f"80: {digests[0]['digest']}\n")


def test_commands_without_a_server():
    # A quorum peer that is LOOKING has no server: those that need one say so (Java's text).
    assert run_command("stats", None).to_map() == {
        "command": "stats", "error": "This ZooKeeper instance is not currently serving requests"}
    assert run_command("environment", None).to_map()["error"] is None
    assert run_command("zabstate", None).to_map()["zabstate"] == ""


# -- /metrics -------------------------------------------------------------------------------------

def test_prometheus_metrics_are_the_mntr_gauges(server, client):
    client.ensure_path("/adm-metrics")
    status, headers, body = get(server.metrics_url)
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            samples.setdefault(name, {})["type"] = kind
        elif not line.startswith("#"):
            name, value = line.split(" ")
            samples.setdefault(name, {})["value"] = float(value)
    mntr = dict(line.split("\t", 1) for line in server.four_letter_word("mntr").splitlines())
    gauges = [k[3:] for k in mntr if k not in ("zk_version", "zk_server_state")]
    for name in gauges:
        assert samples[name]["type"] == "gauge", name
    for name in ("znode_count", "ephemerals_count", "watch_count", "global_sessions"):
        assert samples[name]["value"] == float(mntr[f"zk_{name}"]), name
    assert "zk_znode_count" not in samples  # Java's names have no zk_ prefix
    assert samples["process_open_fds"]["value"] > 0
    before = samples["znode_count"]["value"]
    client.create("/adm-metrics/one")
    assert f"znode_count {before + 1}\n" in get(server.metrics_url)[2]


def test_prometheus_endpoint_paths(server):
    assert get(server.metrics_url.replace("/metrics", "/"))[0] == 404
    body = get(server.metrics_url + "?name[]=znode_count")[2]
    assert body.startswith("# HELP znode_count znode_count\n# TYPE znode_count gauge\nznode_count ")
    assert body.count("# TYPE") == 1


# -- TestingServer's admin port -----------------------------------------------------------------

def test_testing_server_keeps_the_admin_server_off_unless_asked():
    off = TestingServer()
    on = TestingServer(admin_port=12345)
    try:
        assert off.build_config()["admin.enableServer"] == "false" and off.admin_url is None
        cfg = on.build_config()
        assert (cfg["admin.enableServer"], cfg["admin.serverPort"]) == ("true", "12345")
        assert on.admin_url == "http://127.0.0.1:12345/commands"
    finally:
        off.close()
        on.close()
