"""Every four-letter word of a real zkpy server, as a user reads it.

One server per module with ``4lw.commands.whitelist=*`` (the conftest
``zk_server``), one with the default whitelist, and a bare connection
factory with no ZooKeeperServer behind it (a peer that is LOOKING).
With ``ZKPY_IT_TARGET=java`` the same assertions run against Java 3.8.0
(except the zkpy-only ones: its envi values, the in-process factory).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import resource
import socket
import struct
import time

import pytest
from kazoo.client import KazooClient

import zkpy
from zkpy.server.cnxn_factory import NIOServerCnxnFactory
from zkpy.server.four_letter import NOT_SERVING
from zkpy.testing import four_letter_word

from .servers import ON_JAVA, new_server, zkpy_only

GAUGES = [
    "ephemerals_count", "num_alive_connections", "avg_latency", "outstanding_requests", "znode_count",
    "global_sessions", "non_mtls_remote_conn_count", "last_client_response_size", "packets_sent",
    "packets_received", "max_client_response_size", "connection_drop_probability", "watch_count",
    "auth_failed_count", "min_latency", "max_file_descriptor_count", "approximate_data_size",
    "open_file_descriptor_count", "local_sessions", "uptime", "max_latency", "outstanding_tls_handshake",
    "min_client_response_size", "non_mtls_local_conn_count",
]
ENVI_KEYS = [
    "zookeeper.version", "host.name", "java.version", "java.vendor", "java.home", "java.class.path",
    "java.library.path", "java.io.tmpdir", "java.compiler", "os.name", "os.arch", "os.version",
    "user.name", "user.home", "user.dir", "os.memory.free", "os.memory.max", "os.memory.total",
]
CONF_KEYS = [
    "clientPort", "secureClientPort", "dataDir", "dataDirSize", "dataLogDir", "dataLogSize", "tickTime",
    "maxClientCnxns", "minSessionTimeout", "maxSessionTimeout", "clientPortListenBacklog", "serverId",
]
SRVR_KEYS = ["Latency min/avg/max", "Received", "Sent", "Connections", "Outstanding", "Zxid", "Mode",
             "Node count"]
BRIEF_CNXN = re.compile(r"^ /127\.0\.0\.1:(\d+)\[([0-9a-f]+)\]\(queued=(\d+),recved=(\d+),sent=(\d+)\)$")
FULL_CNXN = re.compile(
    r"^ /127\.0\.0\.1:(?P<port>\d+)\[(?P<ops>[0-9a-f]+)\]\(queued=(?P<queued>\d+),recved=(?P<recved>\d+),"
    r"sent=(?P<sent>\d+)(?:,sid=0x(?P<sid>[0-9a-f]+),lop=(?P<lop>\w+),est=(?P<est>\d+),to=(?P<to>\d+)"
    r"(?:,lcxid=0x(?P<lcxid>[0-9a-f]+))?,lzxid=0x(?P<lzxid>[0-9a-f]+),lresp=(?P<lresp>\d+),"
    r"llat=(?P<llat>\d+),minlat=(?P<minlat>\d+),avglat=(?P<avglat>\d+),maxlat=(?P<maxlat>\d+))?\)$")
DATE = r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \S+ \d{4}"
# Java 3.8's version shape, which kazoo's server_version() parses; zkpy's is
# 3.8.0-zkpy-<its version> (Debian's Java: 3.8.0-${mvngit.commit.id}).
VERSION = re.compile(r"3\.8\.0-(?P<build>\S+), built on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
ZKPY_BUILD = f"zkpy-{zkpy.__version__}"


def flw(server, word: str, payload: bytes = b"") -> str:
    return four_letter_word(server.host, server.port, word, payload=payload)


def raw_exchange(server, data: bytes) -> bytes:
    """Send raw bytes, half-close, read until the server closes."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def srvr_fields(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert lines[0].startswith("Zookeeper version: 3.8.0-")
    return dict(line.split(": ", 1) for line in lines[1:] if ": " in line)


def mntr(server) -> dict[str, str]:
    text = flw(server, "mntr")
    assert text.endswith("\n")
    pairs = [line.split("\t") for line in text.splitlines()]
    assert all(len(p) == 2 for p in pairs), text
    return dict(pairs)


def session_hex(client: KazooClient) -> str:
    return f"{client.client_id[0] & (2**64 - 1):x}"


def local_port(client: KazooClient) -> int:
    return client._connection._socket.getsockname()[1]


def wait_no_watches(server, timeout: float = 5.0) -> None:
    """Let the watches of an earlier test's closed session go away."""
    deadline = time.monotonic() + timeout
    while mntr(server)["zk_watch_count"] != "0":
        assert time.monotonic() < deadline, flw(server, "wchc")
        time.sleep(0.02)


@pytest.fixture
def client(zk_server):
    c = KazooClient(hosts=zk_server.connect_string, timeout=10.0)
    c.start(timeout=15.0)
    try:
        yield c
    finally:
        c.stop()
        c.close()


# -- simple words ----------------------------------------------------------------------------

def test_ruok_isro_gtmk(zk_server):
    assert flw(zk_server, "ruok") == "imok"
    assert flw(zk_server, "isro") == "rw"
    assert flw(zk_server, "gtmk") == "306"


def test_stmk_sets_the_trace_mask_then_gtmk_reads_it(zk_server):
    try:
        assert flw(zk_server, "stmk", struct.pack(">q", 0x1234)) == str(0x1234)
        assert flw(zk_server, "gtmk") == str(0x1234)
        assert flw(zk_server, "stmk", struct.pack(">q", -1)) == "-1"
        assert flw(zk_server, "gtmk") == "-1"
        if not ON_JAVA:
            # zkpy waits for a mask that comes in a later segment (Java reads once and fails).
            with socket.create_connection((zk_server.host, zk_server.port), timeout=5) as sock:
                sock.sendall(b"stmk")
                time.sleep(0.2)
                sock.sendall(struct.pack(">q", 77))
                sock.shutdown(socket.SHUT_WR)
                assert sock.recv(100) == b"77"
    finally:
        assert flw(zk_server, "stmk", struct.pack(">q", 306)) == "306"


def test_envi(zk_server):
    text = flw(zk_server, "envi")
    lines = text.splitlines()
    assert lines[0] == "Environment:" and text.endswith("\n")
    env = dict(line.split("=", 1) for line in lines[1:])
    assert [line.split("=", 1)[0] for line in lines[1:]] == ENVI_KEYS
    version = VERSION.fullmatch(env["zookeeper.version"])
    assert version, env["zookeeper.version"]
    assert ON_JAVA or version["build"] == ZKPY_BUILD
    assert env["os.name"] == platform.system()
    assert os.path.realpath(env["user.dir"]) == os.path.realpath(zk_server.temp_dir)
    for key in ("os.memory.free", "os.memory.max", "os.memory.total"):
        assert re.fullmatch(r"\d+MB", env[key]), env[key]
    assert int(env["os.memory.total"][:-2]) > 0
    if not ON_JAVA:  # zkpy describes its Python runtime in the java.* keys
        assert env["java.version"] == platform.python_version()
        assert env["java.vendor"] == platform.python_implementation()


def test_kazoo_server_version(client):
    assert client.server_version() == (3, 8, 0)


# -- srvr / stat / mntr / cons -------------------------------------------------------------

def test_srvr_counts_nodes_and_connections(zk_server, client):
    text = flw(zk_server, "srvr")
    version = VERSION.fullmatch(text.splitlines()[0].removeprefix("Zookeeper version: "))
    assert version, text
    assert ON_JAVA or version["build"] == ZKPY_BUILD
    before = srvr_fields(text)
    assert list(before) == SRVR_KEYS
    assert before["Mode"] == "standalone"
    assert re.fullmatch(r"\d+/\d+\.\d+(E-?\d+)?/\d+", before["Latency min/avg/max"])
    client.create("/srvr-a", b"x")
    client.create("/srvr-a/b", b"y")
    other = KazooClient(hosts=zk_server.connect_string)
    other.start()
    try:
        after = srvr_fields(flw(zk_server, "srvr"))
        assert int(after["Node count"]) == int(before["Node count"]) + 2
        assert int(after["Connections"]) == int(before["Connections"]) + 1
        assert int(after["Zxid"], 16) >= int(before["Zxid"], 16) + 3  # 2 creates + a session
        assert int(after["Received"]) > int(before["Received"])
    finally:
        other.stop()
        other.close()
    # zkpy's tree counts the root once, Java twice: srvr follows Java.
    assert int(after["Node count"]) == int(mntr(zk_server)["zk_znode_count"])


def test_stat_lists_clients(zk_server, client):
    client.get("/")
    text = flw(zk_server, "stat")
    lines = text.splitlines()
    assert lines[1] == "Clients:"
    blank = lines.index("")
    clients = [BRIEF_CNXN.match(line) for line in lines[2:blank]]
    assert all(clients), lines[2:blank]
    mine = [m for m in clients if int(m.group(1)) == local_port(client)]
    assert len(mine) == 1 and mine[0].group(2) == "1"  # interested in reads
    assert int(mine[0].group(4)) >= 2  # connect + get
    # The connection asking is listed too: it reads no more (0), and has sent nothing yet.
    assert any(m.group(2) == "0" and m.group(4) == "1" and m.group(5) == "0" for m in clients)
    stats = dict(line.split(": ", 1) for line in lines[blank + 1:])
    assert list(stats) == SRVR_KEYS
    assert int(stats["Connections"]) == len(clients)


def test_mntr_gauges(zk_server, client):
    wait_no_watches(zk_server)
    first = mntr(zk_server)
    assert list(first)[:2] == ["zk_version", "zk_server_state"]
    assert first["zk_server_state"] == "standalone"
    assert first["zk_version"].startswith("3.8.0-")
    # Java's gauges come first, in its hash-map order; Java then prints
    # counters and summaries zkpy does not keep.
    assert list(first)[2:2 + len(GAUGES)] == ["zk_" + g for g in GAUGES]
    assert ON_JAVA or len(first) == 2 + len(GAUGES)
    assert first["zk_avg_latency"] == "0.0" or "." in first["zk_avg_latency"]
    assert int(first["zk_open_file_descriptor_count"]) > 0
    assert int(first["zk_max_file_descriptor_count"]) == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert first["zk_connection_drop_probability"] == "0.0"

    client.create("/mntr-eph", b"12345", ephemeral=True)
    client.get("/mntr-eph", watch=lambda e: None)
    client.get_children("/", watch=lambda e: None)
    time.sleep(0.05)
    second = mntr(zk_server)
    assert int(second["zk_znode_count"]) == int(first["zk_znode_count"]) + 1
    assert int(second["zk_ephemerals_count"]) == int(first["zk_ephemerals_count"]) + 1
    assert int(second["zk_approximate_data_size"]) == int(first["zk_approximate_data_size"]) + len("/mntr-eph") + 5
    assert int(second["zk_watch_count"]) == int(first["zk_watch_count"]) + 2
    assert int(second["zk_global_sessions"]) >= 1
    assert int(second["zk_num_alive_connections"]) >= 2  # kazoo + this mntr
    assert int(second["zk_uptime"]) > int(first["zk_uptime"])
    assert int(second["zk_packets_received"]) > int(first["zk_packets_received"])
    # The getChildren reply of "/" is the largest so far, a bare header the smallest.
    assert int(second["zk_max_client_response_size"]) >= int(second["zk_last_client_response_size"]) >= 16
    assert int(second["zk_min_client_response_size"]) >= 16


def test_cons_then_crst(zk_server, client):
    for i in range(3):
        client.create(f"/cons-{i}")
    client.exists("/cons-0")
    lines = flw(zk_server, "cons").split("\n")
    assert lines[-2:] == ["", ""]  # a blank line closes the list
    found = [FULL_CNXN.match(line) for line in lines[:-2]]
    assert all(found), lines
    mine = [m for m in found if m.group("port") == str(local_port(client))]
    assert len(mine) == 1
    m = mine[0]
    assert m.group("sid") == session_hex(client)
    assert m.group("lop") == "EXIS"
    assert int(m.group("recved")) >= 5 and int(m.group("sent")) >= 5
    assert m.group("to") == "4000"  # kazoo asks 10 s; maxSessionTimeout is 20 ticks
    assert abs(int(m.group("est")) / 1000 - time.time()) < 60

    assert flw(zk_server, "crst") == "Connection stats reset.\n"
    lines = flw(zk_server, "cons").split("\n")
    m = next(FULL_CNXN.match(line) for line in lines if f":{local_port(client)}[" in line)
    # A ping may have come in between; nothing else did.
    assert int(m.group("recved")) <= 1 and int(m.group("sent")) <= 1
    assert m.group("lop") in ("NA", "PING")
    if m.group("lop") == "NA":
        assert m.group("lcxid") is None and m.group("lzxid") == "ffffffffffffffff"
        assert m.group("lresp") == "0" and m.group("maxlat") == "0"


def test_srst_resets_server_stats(zk_server, client):
    for i in range(5):
        client.create(f"/srst-{i}")
    before = srvr_fields(flw(zk_server, "srvr"))
    assert int(before["Received"]) >= 6
    assert flw(zk_server, "srst") == "Server stats reset.\n"
    after = srvr_fields(flw(zk_server, "srvr"))
    # Only this srvr (and perhaps a ping) since the reset.
    assert int(after["Received"]) <= 2
    assert int(after["Sent"]) <= 2
    assert int(after["Node count"]) == int(before["Node count"])
    assert mntr(zk_server)["zk_last_client_response_size"] in ("-1", "16")


# -- watches, dump, conf, dirs, hash --------------------------------------------------------

def test_watch_words(zk_server, client):
    wait_no_watches(zk_server)
    client.create("/w1", b"")
    client.get("/w1", watch=lambda e: None)  # data watch
    client.exists("/w-missing", watch=lambda e: None)  # exist watch, in the data table
    client.get_children("/w1", watch=lambda e: None)  # child watch: not in wchs/wchc/wchp
    sid = session_hex(client)
    time.sleep(0.05)
    wchs = flw(zk_server, "wchs")
    assert wchs == "1 connections watching 2 paths\nTotal watches:2\n"
    # Java lists paths in hash order; zkpy sorts them.
    wchc = flw(zk_server, "wchc")
    assert wchc in (f"0x{sid}\n\t/w-missing\n\t/w1\n\n", f"0x{sid}\n\t/w1\n\t/w-missing\n\n")
    wchp = flw(zk_server, "wchp")
    assert wchp in (f"/w-missing\n\t0x{sid}\n/w1\n\t0x{sid}\n\n", f"/w1\n\t0x{sid}\n/w-missing\n\t0x{sid}\n\n")
    assert mntr(zk_server)["zk_watch_count"] == "3"
    client.set("/w1", b"fired")  # the data watch fires and is gone
    time.sleep(0.05)
    assert flw(zk_server, "wchs") == "1 connections watching 1 paths\nTotal watches:1\n"


def test_dump(zk_server, client):
    client.create("/dump-eph", ephemeral=True)
    client.create("/dump-eph2", ephemeral=True)
    sid = session_hex(client)
    text = flw(zk_server, "dump")
    lines = text.splitlines()
    assert lines[0] == "SessionTracker dump:"
    assert re.fullmatch(r"Session Sets \(\d+\)/\(\d+\):", lines[1])
    eph = lines.index("ephemeral nodes dump:")
    conns = lines.index("Connections dump:")
    session_part = lines[2:eph]
    assert f"\t0x{sid}" in session_part
    assert all(re.fullmatch(rf"\d+ expire at {DATE}:", line) or line.startswith("\t0x")
               for line in session_part), session_part
    assert re.fullmatch(r"Sessions with Ephemerals \(\d+\):", lines[eph + 1])
    at = lines.index(f"0x{sid}:")
    assert lines[at + 1:at + 3] == ["\t/dump-eph", "\t/dump-eph2"]
    assert re.fullmatch(r"Connections Sets \(\d+\)/\(\d+\):", lines[conns + 1])
    assert f"\tip: /127.0.0.1:{local_port(client)} sessionId: 0x{sid}" in lines[conns + 2:]
    assert any(re.fullmatch(r"\tip: /127\.0\.0\.1:\d+ sessionId: 0x0", line) for line in lines[conns + 2:])


def _version2_size(server) -> int:
    root = os.path.join(server.data_dir, "version-2")
    return sum(os.path.getsize(os.path.join(root, f)) for f in os.listdir(root))


def test_conf_and_dirs(zk_server):
    text = flw(zk_server, "conf")
    pairs = [line.split("=", 1) for line in text.splitlines()]
    assert [k for k, _ in pairs] == CONF_KEYS
    conf = dict(pairs)
    assert conf["clientPort"] == str(zk_server.port)
    assert conf["secureClientPort"] == "-1"
    assert os.path.realpath(conf["dataDir"]) == os.path.realpath(os.path.join(zk_server.data_dir, "version-2"))
    assert conf["dataLogDir"] == conf["dataDir"]
    assert conf["tickTime"] == "200"
    assert (conf["minSessionTimeout"], conf["maxSessionTimeout"]) == ("400", "4000")
    assert conf["maxClientCnxns"] == "60"
    assert conf["clientPortListenBacklog"] == "-1"
    assert conf["serverId"] == "0"
    size = _version2_size(zk_server)
    assert int(conf["dataDirSize"]) == size and int(conf["dataLogSize"]) == size
    assert size >= 64 * 1024 * 1024  # the preallocated txn log
    assert flw(zk_server, "dirs") == f"datadir_size: {size}\nlogdir_size: {size}\n"


def test_hash_logs_every_128th_zxid(zk_server, client):
    zxid = int(srvr_fields(flw(zk_server, "srvr"))["Zxid"], 16)
    logged = [line for line in flw(zk_server, "hash").splitlines()]
    assert len(logged) == zxid // 128
    # Enough writes to pass the next multiple of 128.
    target = (zxid // 128 + 1) * 128
    client.ensure_path("/hash")
    results = [client.create_async(f"/hash/n{i}", b"v") for i in range(target - zxid)]
    for r in results:
        r.get(timeout=10)
    lines = flw(zk_server, "hash").splitlines()
    assert len(lines) == target // 128
    last_zxid, _, digest = lines[-1].partition(": ")
    assert int(last_zxid, 16) == target and int(digest) > 0


# -- what is not a command, and the whitelist ------------------------------------------------

def test_unknown_word_closes_without_output(zk_server):
    assert raw_exchange(zk_server, b"kill") == b""
    assert raw_exchange(zk_server, b"\xff\xf4\xff\xfd") == b""  # telnet close, whitelisted
    assert flw(zk_server, "ruok") == "imok"


@pytest.fixture(scope="module")
def default_server(tmp_path_factory):
    server = new_server(temp_dir=tmp_path_factory.mktemp("zk_default_wl"),
                        config={"4lw.commands.whitelist": None})
    try:
        yield server
    finally:
        server.close()


def test_default_whitelist_only_srvr(default_server):
    assert srvr_fields(flw(default_server, "srvr"))["Mode"] == "standalone"
    for word in ("ruok", "stat", "mntr", "conf", "cons", "envi", "isro", "dump", "wchs", "wchc", "wchp",
                 "crst", "srst", "dirs", "gtmk", "hash"):
        assert flw(default_server, word) == f"{word} is not executed because it is not in the whitelist.\n"
    assert flw(default_server, "stmk", struct.pack(">q", 1)) == \
        "stmk is not executed because it is not in the whitelist.\n"
    assert raw_exchange(default_server, b"\xff\xf4\xff\xfd") == \
        b"telnet close is not executed because it is not in the whitelist.\n"
    assert raw_exchange(default_server, b"kill") == b""
    # Refused words are still counted as packets, as in Java.
    assert int(srvr_fields(flw(default_server, "srvr"))["Received"]) >= 18


def test_whitelist_from_config(tmp_path):
    with contextlib.closing(new_server(temp_dir=tmp_path, config={"4lw.commands.whitelist": "ruok, mntr"})) \
            as server:
        assert flw(server, "ruok") == "imok"
        assert mntr(server)["zk_server_state"] == "standalone"
        assert flw(server, "srvr").startswith("Zookeeper version:")  # always allowed
        assert flw(server, "cons") == "cons is not executed because it is not in the whitelist.\n"


# -- a factory with no server behind it (a peer while LOOKING) ------------------------------

@zkpy_only
def test_words_while_not_serving():
    factory = NIOServerCnxnFactory("127.0.0.1", 0, four_letter_whitelist=None)
    factory.start()
    try:
        class Addr:
            host, port = "127.0.0.1", factory.port
        assert flw(Addr, "ruok") == "imok"
        assert flw(Addr, "isro") == "null"
        assert flw(Addr, "hash") == NOT_SERVING.rstrip("\n")
        for word in ("srvr", "stat", "mntr", "conf", "cons", "dump", "wchs", "wchc", "wchp", "crst",
                     "srst", "dirs"):
            assert flw(Addr, word) == NOT_SERVING, word
        assert flw(Addr, "envi").startswith("Environment:\nzookeeper.version=3.8.0-zkpy-")
        assert flw(Addr, "gtmk").isdigit()
    finally:
        factory.shutdown()
