"""Four-letter words: zkpy answers in the shape Java ZooKeeper 3.8.0 does.

A Java server and a zkpy server each get the same small kazoo session (two
clients, nodes, an ephemeral, data/exist/child watches), kept open while
every word is asked of both. The answers are compared after masking what
depends on time, ports, paths, session ids and versions: same lines or keys
in the same order, same fixed texts. ``hash`` is compared by value: zkpy
replays Java's own data directory and must log the digests Java printed.
"""

from __future__ import annotations

import re
import socket
import struct

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from tests.interop.java_zk import JavaZooKeeperServer
from zkpy.server.persistence.file_txn_snap_log import FileTxnSnapLog
from zkpy.server.zk_database import ZKDatabase
from zkpy.testing import TestingServer, four_letter_word

pytestmark = pytest.mark.interop

_OK, _REASON = JavaZooKeeperServer.available()
if not _OK:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_REASON)]

#: Java's mntr has, after the gauges, its Prometheus-style counters and
#: summaries. zkpy keeps none of them (it has no such metrics registry;
#: ZK_SPEC §3.2: "a faithful re-implementation only needs the gauges").
#: Counters, by name:
NOT_KEPT_COUNTERS = {
    "proposal_count", "watch_bytes", "outstanding_changes_removed", "throttled_ops",
    "stale_requests_dropped", "large_requests_rejected", "insecure_admin_count", "connection_rejected",
    "cnxn_closed_without_zk_server_running", "sessionless_connections_expired", "looking_count",
    "dead_watchers_queued", "stale_requests", "connection_drop_count", "learner_proposal_received_count",
    "digest_mismatches_count", "dead_watchers_cleared", "response_packet_cache_hits", "bytes_received_count",
    "add_dead_watcher_stall_time", "request_throttle_wait_count",
    "requests_not_forwarded_to_commit_processor", "response_packet_cache_misses", "ensemble_auth_success",
    "prep_processor_request_queued", "learner_commit_received_count", "stale_replies",
    "connection_request_count", "response_bytes", "ensemble_auth_fail", "diff_count",
    "response_packet_get_children_cache_misses", "connection_revalidate_count",
    "quit_leading_due_to_disloyal_voter", "snap_count", "unrecoverable_error_count", "unsuccessful_handshake",
    "commit_count", "stale_sessions_expired", "response_packet_get_children_cache_hits",
    "sync_processor_request_queued", "outstanding_changes_queued", "request_commit_queued",
    "ensemble_auth_skip", "skip_learner_request_to_next_processor_count", "tls_handshake_exceeded",
    "revalidate_count",
}
#: ... and summaries, each printed as zk_{avg,min,max,cnt,sum}_X (plus
#: zk_p50/p95/p99/p999_X for the percentile ones). Per-namespace summaries
#: (zk_*_X_read_per_namespace ...) come from the paths a session used.
_SUMMARY = re.compile(r"^(avg|min|max|cnt|sum|p50|p95|p99|p999)_(?P<name>.+)$")
#: Gauges Java prints and zkpy prints too: the key set must be the same.
GAUGES = {
    "ephemerals_count", "num_alive_connections", "avg_latency", "outstanding_requests", "znode_count",
    "global_sessions", "non_mtls_remote_conn_count", "last_client_response_size", "packets_sent",
    "packets_received", "max_client_response_size", "connection_drop_probability", "watch_count",
    "auth_failed_count", "min_latency", "max_file_descriptor_count", "approximate_data_size",
    "open_file_descriptor_count", "local_sessions", "uptime", "max_latency", "outstanding_tls_handshake",
    "min_client_response_size", "non_mtls_local_conn_count",
}
DATE = re.compile(r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \S+ \d{4}")


class Side:
    """One server with the same kazoo session applied."""

    def __init__(self, server):
        self.server = server
        self.c1 = KazooClient(hosts=server.connect_string)
        self.c2 = KazooClient(hosts=server.connect_string)
        self.c1.start()
        c1 = self.c1
        c1.create("/a", b"hello")
        c1.create("/a/b", b"x" * 10)
        c1.create("/e", b"", ephemeral=True)
        c1.get("/a", watch=lambda e: None)
        c1.get_children("/a", watch=lambda e: None)
        c1.exists("/nope", watch=lambda e: None)
        self.c2.start()
        self.c2.get("/a", watch=lambda e: None)
        self.sids = {f"{c.client_id[0] & (2**64 - 1):x}": name for c, name in ((c1, "S1"), (self.c2, "S2"))}
        self.ports = {str(c._connection._socket.getsockname()[1]): name
                      for c, name in ((c1, "P1"), (self.c2, "P2"))}

    def ask(self, word: str, payload: bytes = b"") -> str:
        return four_letter_word(self.server.host, self.server.port, word, payload=payload)

    def label(self, text: str) -> str:
        """Session ids and client ports as S1/S2/P1/P2, the asker's port as P0."""
        for sid, name in self.sids.items():
            text = text.replace(f"0x{sid}", name)
        for port, name in self.ports.items():
            text = re.sub(rf"/127\.0\.0\.1:{port}\b", f"/IP:{name}", text)
        return re.sub(r"/127\.0\.0\.1:\d+", "/IP:P0", text)

    def close(self):
        for c in (self.c1, self.c2):
            c.stop()
            c.close()


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    java = JavaZooKeeperServer(temp_dir=tmp_path_factory.mktemp("java_4lw"))
    zkpy = TestingServer(temp_dir=tmp_path_factory.mktemp("zkpy_4lw"))
    opened = []
    try:
        java.start()
        zkpy.start()
        for server in (java, zkpy):
            opened.append(Side(server))
        yield opened
    finally:
        for side in opened:
            side.close()
        java.close()
        zkpy.close()


def both(sides, word, payload=b""):
    return [side.ask(word, payload) for side in sides]


def mask_numbers(text: str) -> str:
    return re.sub(r"\d+", "N", text)


# -- exact texts -------------------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [("ruok", "imok"), ("isro", "rw"), ("gtmk", "306"),
                                            ("hash", "")])
def test_fixed_answers(sides, word, expected):
    assert both(sides, word) == [expected, expected]


def test_stmk_then_gtmk(sides):
    try:
        assert both(sides, "stmk", struct.pack(">q", 1234)) == ["1234", "1234"]
        assert both(sides, "gtmk") == ["1234", "1234"]
    finally:
        both(sides, "stmk", struct.pack(">q", 306))


def test_wchs(sides):
    java, zkpy = both(sides, "wchs")
    assert java == zkpy == "2 connections watching 2 paths\nTotal watches:3\n"


@pytest.mark.parametrize("word", ["wchc", "wchp"])
def test_wchc_wchp(sides, word):
    # Blocks, and the lines within one, come in hash order in Java: compare
    # them as sets (each block: its header, then its lines sorted).
    def blocks(side, text):
        assert text.endswith("\n\n")
        body = side.label(text[:-2])
        return sorted("\n".join([head] + sorted(lines))
                      for head, *lines in (block.split("\n") for block in re.split(r"\n(?!\t)", body)))
    java, zkpy = (blocks(side, side.ask(word)) for side in sides)
    assert java == zkpy
    if word == "wchc":
        assert java == ["S1\n\t/a\n\t/nope", "S2\n\t/a"]


# -- srvr, stat, cons ----------------------------------------------------------------------------

def _srvr_shape(side, text):
    lines = side.label(text).splitlines()
    assert lines[0].startswith("Zookeeper version: 3.8.0-")
    shape = ["Zookeeper version: V"]
    for line in lines[1:]:
        key, sep, value = line.partition(": ")
        if key in ("Mode", "Clients:") or not sep:
            shape.append(line)
        elif key == "Latency min/avg/max":
            assert re.fullmatch(r"\d+/\d+\.\d+/\d+", value), value
            shape.append(f"{key}: N/D/N")
        else:
            shape.append(f"{key}: {mask_numbers(value)}")
    return shape


def test_srvr(sides):
    java, zkpy = (_srvr_shape(side, side.ask("srvr")) for side in sides)
    assert java == zkpy
    assert "Mode: standalone" in java and "Zxid: NxN" in java


def test_srvr_same_counts(sides):
    # Same session on both: same zxid, node count, connection count.
    def values(side):
        text = side.ask("srvr")
        return {k: v for k, v in (line.split(": ", 1) for line in text.splitlines()[1:])
                if k in ("Zxid", "Node count", "Connections", "Outstanding", "Mode")}
    java, zkpy = (values(side) for side in sides)
    assert java == zkpy


def test_stat(sides):
    def shape(side):
        lines = _srvr_shape(side, side.ask("stat"))
        clients = lines.index("Clients:")
        blank = lines.index("")
        cnxns = sorted(mask_numbers(line) for line in lines[clients + 1:blank])
        return lines[:clients + 1] + cnxns + lines[blank:]
    java, zkpy = (shape(side) for side in sides)
    assert java == zkpy
    assert java.count(" /IP:PN[N](queued=N,recved=N,sent=N)") == 3


def _cons_lines(side, text):
    assert text.endswith("\n\n")
    out = []
    for line in side.label(text).splitlines():
        if not line:
            continue
        # Keep field names, labels, lop and interest ops; mask counters and times.
        out.append(re.sub(r"\b(queued|recved|sent|est|to|lcxid|lzxid|lresp|llat|minlat|avglat|maxlat)=[^,)]+",
                          r"\1=X", line))
    return sorted(out)


def test_cons(sides):
    java, zkpy = (_cons_lines(side, side.ask("cons")) for side in sides)
    assert java == zkpy
    assert any("sid=S1,lop=EXIS" in line for line in java)
    assert any("sid=S2,lop=GETD" in line for line in java)


def test_crst_then_cons(sides):
    assert both(sides, "crst") == ["Connection stats reset.\n"] * 2
    java, zkpy = (_cons_lines(side, side.ask("cons")) for side in sides)
    # A ping may come in between on either side; compare without the session lines' lop.
    strip = [re.sub(r"lop=\w+", "lop=L", line) for line in java]
    assert strip == [re.sub(r"lop=\w+", "lop=L", line) for line in zkpy]


def test_srst(sides):
    assert both(sides, "srst") == ["Server stats reset.\n"] * 2


# -- mntr, conf, envi, dirs, dump ------------------------------------------------------------

def _mntr(side):
    pairs = [line.split("\t") for line in side.ask("mntr").splitlines()]
    assert all(len(p) == 2 for p in pairs)
    return [(k[3:], v) for k, v in pairs]


def test_mntr(sides):
    java, zkpy = (_mntr(side) for side in sides)
    assert [k for k, _ in java[:2]] == [k for k, _ in zkpy[:2]] == ["version", "server_state"]
    assert java[1] == zkpy[1] == ("server_state", "standalone")
    java_keys = {k for k, _ in java[2:]}
    not_kept = {k for k in java_keys - GAUGES if k in NOT_KEPT_COUNTERS or _SUMMARY.match(k)}
    assert java_keys - not_kept == GAUGES, java_keys - not_kept - GAUGES
    assert [k for k, _ in zkpy[2:]] == [k for k, _ in java[2:2 + len(GAUGES)]]  # Java's gauges come first
    java_values, zkpy_values = dict(java), dict(zkpy)
    for key in GAUGES:
        # Integers stay integers, doubles stay doubles.
        assert ("." in java_values[key]) == ("." in zkpy_values[key]), key
    for key in ("znode_count", "ephemerals_count", "watch_count", "global_sessions", "approximate_data_size",
                "outstanding_requests", "local_sessions", "max_client_response_size", "auth_failed_count"):
        assert java_values[key] == zkpy_values[key], key


def test_conf(sides):
    java, zkpy = ([line.split("=", 1) for line in text.splitlines()] for text in both(sides, "conf"))
    assert [k for k, _ in java] == [k for k, _ in zkpy]
    java_d, zkpy_d = dict(java), dict(zkpy)
    for key in ("secureClientPort", "tickTime", "maxClientCnxns", "minSessionTimeout", "maxSessionTimeout",
                "clientPortListenBacklog", "serverId"):
        assert java_d[key] == zkpy_d[key], key
    assert java_d["dataDir"].endswith("/version-2") and zkpy_d["dataDir"].endswith("/version-2")
    assert java_d["clientPort"] == str(sides[0].server.port)
    assert zkpy_d["clientPort"] == str(sides[1].server.port)


def test_envi(sides):
    java, zkpy = ([line.split("=", 1) for line in text.splitlines()[1:]] for text in both(sides, "envi"))
    assert [k for k, _ in java] == [k for k, _ in zkpy]
    assert all(text.startswith("Environment:\n") for text in both(sides, "envi"))
    for (key, jv), (_, zv) in zip(java, zkpy):
        if key.startswith("os.memory."):
            assert re.fullmatch(r"\d+MB", jv) and re.fullmatch(r"\d+MB", zv)
        if key in ("os.name", "os.arch", "os.version", "user.name", "user.home", "host.name",
                   "java.io.tmpdir"):
            assert jv == zv, key


def test_dirs(sides):
    shapes = [mask_numbers(text) for text in both(sides, "dirs")]
    assert shapes[0] == shapes[1] == "datadir_size: N\nlogdir_size: N\n"


def test_dump(sides):
    def shape(side):
        text = side.label(side.ask("dump"))
        text = DATE.sub("DATE", text)
        lines = text.splitlines()
        eph = lines.index("ephemeral nodes dump:")
        conns = lines.index("Connections dump:")
        sessions = sorted(line for line in lines[2:eph] if line.startswith("\t"))
        connections = sorted(line for line in lines[conns + 2:] if line.startswith("\t"))
        headers = [mask_numbers(lines[1]), mask_numbers(lines[conns + 1])]
        buckets = {mask_numbers(line) for line in lines[2:eph] + lines[conns + 2:] if not line.startswith("\t")}
        return lines[0], headers, sessions, lines[eph:conns + 1], connections, buckets
    java, zkpy = (shape(side) for side in sides)
    assert java[0] == zkpy[0] == "SessionTracker dump:"
    assert java[1] == zkpy[1] == ["Session Sets (N)/(N):", "Connections Sets (N)/(N):"]
    assert java[2] == zkpy[2] == ["\tS1", "\tS2"]
    assert java[3] == zkpy[3] == ["ephemeral nodes dump:", "Sessions with Ephemerals (1):", "S1:", "\t/e",
                                  "Connections dump:"]
    assert java[4] == zkpy[4] == ["\tip: /IP:P0 sessionId: 0x0", "\tip: /IP:P1 sessionId: S1",
                                  "\tip: /IP:P2 sessionId: S2"]
    assert java[5] == zkpy[5] == {"N expire at DATE:"}


# -- whitelist, unknown words, and hash values -------------------------------------------------

def _raw(server, data: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_unknown_and_telnet_close(sides):
    for side in sides:
        assert _raw(side.server, b"kill") == b""
        assert _raw(side.server, b"\xff\xf4\xff\xfd") == b""


def test_default_whitelist(tmp_path):
    words = ["ruok", "stat", "mntr", "conf", "cons", "envi", "isro", "dump", "wchs", "wchc", "wchp",
             "crst", "srst", "dirs", "gtmk", "hash"]
    answers = []
    with JavaZooKeeperServer({"4lw.commands.whitelist": None}, temp_dir=tmp_path / "java") as java, \
            TestingServer(temp_dir=tmp_path / "zkpy", config={"4lw.commands.whitelist": None}) as zkpy:
        for server in (java, zkpy):
            got = {w: four_letter_word(server.host, server.port, w) for w in words}
            got["stmk"] = four_letter_word(server.host, server.port, "stmk", payload=struct.pack(">q", 7))
            got["telnet"] = _raw(server, b"\xff\xf4\xff\xfd").decode()
            got["srvr"] = four_letter_word(server.host, server.port, "srvr").splitlines()[-1]
            answers.append(got)
    assert answers[0] == answers[1]
    assert answers[0]["ruok"] == "ruok is not executed because it is not in the whitelist.\n"
    assert answers[0]["telnet"] == "telnet close is not executed because it is not in the whitelist.\n"


def test_hash_matches_java_digest(tmp_path):
    """Past zxid 0x80 Java prints a digest line; replaying Java's own data
    directory, zkpy must log the very same digest."""
    with JavaZooKeeperServer(temp_dir=tmp_path / "java", keep_data=True) as java:
        c = KazooClient(hosts=java.connect_string)
        c.start()
        try:
            c.create("/eph", b"e", ephemeral=True)
            c.create("/p", b"parent")
            for i in range(40):
                c.create(f"/p/n{i}", b"d" * i)
            for i in range(20):
                c.set(f"/p/n{i}", b"changed")
            c.set_acls("/p/n0", [make_digest_acl("u", "p", all=True)])
            t = c.transaction()
            t.create("/m", b"multi")
            t.delete("/p/n39")
            t.set_data("/p/n1", b"again")
            t.commit()
            c.create("/ttl-parent", b"", makepath=True)
        finally:
            c.stop()  # closeSession removes /eph
            c.close()
        c = KazooClient(hosts=java.connect_string)
        c.start()
        try:
            while int(java.four_letter_word("srvr").split("Zxid: ")[1].split()[0], 16) < 0x81:
                c.create("/fill-", sequence=True)
        finally:
            c.stop()
            c.close()
        java_hash = java.four_letter_word("hash")
        assert re.fullmatch(r"80: \d+\n", java_hash), java_hash
        db = ZKDatabase(FileTxnSnapLog(java.data_dir, java.data_dir))
        db.load_database()
        try:
            assert "".join(f"{z:x}: {d}\n" for z, d in db.digest_log()) == java_hash
        finally:
            db.close()
