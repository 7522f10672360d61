"""Election bytes against a live Java 3.8.0 peer (ZK_SPEC.md §4.1-4.2).

The test plays peer 3 of a three-peer ensemble whose peer 1 is Java:
it decodes the connection header Java dials with and the notifications
Java sends, and checks that Java decodes zkpy's: Java logs the fields it
read and, since sid 3 beats sid 1, switches its vote to 3.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

from zkpy.quorum.initial_message import build_initial_message, read_initial_message
from zkpy.quorum.notification import build_msg, parse_notification
from zkpy.quorum.quorum_verifier import verifier_from_config
from zkpy.quorum.vote import ServerState

from .java_zk import JavaZooKeeperServer, free_ports

pytestmark = pytest.mark.interop

_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data


def _read_message(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">i", _read_exact(sock, 4))
    assert 0 < length <= 524288, length
    return _read_exact(sock, length)


@pytest.fixture
def java_peer_and_listener():
    q1, e1, q2, e2, q3, e3 = free_ports(6)
    servers = {1: f"127.0.0.1:{q1}:{e1}", 2: f"127.0.0.1:{q2}:{e2}", 3: f"127.0.0.1:{q3}:{e3}"}
    listener = socket.create_server(("127.0.0.1", e3))
    listener.settimeout(30)
    conf = {f"server.{sid}": line for sid, line in servers.items()}
    conf.update(initLimit=10, syncLimit=5)
    java = JavaZooKeeperServer(conf, myid=1)
    try:
        java.start(wait="port")
        yield java, listener, servers, e1
    finally:
        listener.close()
        java.close()


def test_java_header_and_notifications_decode_and_ours_are_understood(java_peer_and_listener):
    java, listener, servers, java_election_port = java_peer_and_listener
    expected_config = str(verifier_from_config(servers, {}, {}))

    # Java (sid 1) dials us (sid 3): it sends its header, then drops the
    # connection because the larger sid must dial.
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(30)
        raw_header = bytearray()

        def read_exact(n):
            raw_header.extend(_read_exact(conn, n))
            return bytes(raw_header[-n:])

        header = read_initial_message(read_exact)
        assert header.sid == 1
        assert header.addresses == (("127.0.0.1", java_election_port),)
        assert conn.recv(1) == b""
        # zkpy frames the same header byte for byte (V1, no multiAddress).
        assert bytes(raw_header) == build_initial_message(1, [("127.0.0.1", java_election_port)])

    with socket.create_connection(("127.0.0.1", java_election_port), timeout=30) as sock:
        sock.sendall(build_initial_message(3, [("127.0.0.1", listener.getsockname()[1])]))
        raw_first = _read_message(sock)
        first = parse_notification(1, raw_first)
        assert first.state == ServerState.LOOKING
        assert (first.leader, first.zxid, first.peer_epoch, first.version) == (1, 0, 0, 2)
        assert first.election_epoch >= 1
        # Java's config text and zkpy's QuorumMaj text are the same bytes.
        assert first.config == expected_config
        # zkpy encodes the same notification byte for byte.
        assert raw_first == build_msg(ServerState.LOOKING, 1, 0, first.election_epoch, 0, expected_config.encode())

        ours = build_msg(ServerState.LOOKING, 3, 0, first.election_epoch, 0, expected_config.encode())
        sock.sendall(struct.pack(">i", len(ours)) + ours)
        deadline = time.monotonic() + 30
        while True:
            raw = _read_message(sock)
            n = parse_notification(1, raw)
            if n.leader == 3:
                break
            assert time.monotonic() < deadline, "Java never adopted the vote for sid 3"
        assert (n.state, n.zxid, n.election_epoch, n.peer_epoch) == \
            (ServerState.LOOKING, 0, first.election_epoch, 0)
        assert raw == ours                  # Java's vote for 3, byte for byte the one zkpy sent

    deadline = time.monotonic() + 10
    needle = (f"n.sid:3, n.state:LOOKING, n.leader:3, n.round:0x{first.election_epoch:x}, "
              "n.peerEpoch:0x0, n.zxid:0x0, message format version:0x2, n.config version:0x0")
    while needle not in open(java.log_path, encoding="utf-8", errors="replace").read():
        assert time.monotonic() < deadline, f"Java did not log {needle!r}:\n{java.log_tail()}"
        time.sleep(0.2)


LONG_MIN = -(2**63)


class ElectionProbe:
    """Plays sids 3 (a voter) and 4 (an observer) of a 1, 2, 3 + observer 4
    ensemble against peer 1 alone, over its election port."""

    def __init__(self, port, config):
        self.port = port
        self.config = config.encode()
        self.socks = {}

    def connect(self, sid):
        deadline = time.monotonic() + 15
        while True:                         # the election port opens just after the client port
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=15)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "peer 1's election port never opened"
                time.sleep(0.05)
        sock.sendall(build_initial_message(sid, [("127.0.0.1", 9)]))  # larger sid than 1: it stays up
        self.socks[sid] = sock
        return sock

    def send(self, sid, state, leader, zxid, round_, peer_epoch):
        message = build_msg(state, leader, zxid, round_, peer_epoch, self.config)
        self.socks[sid].sendall(struct.pack(">i", len(message)) + message)

    def read(self, sid):
        return _read_message(self.socks[sid])

    def close(self):
        for sock in self.socks.values():
            sock.close()


def _peer_under_test(kind, tmp_path):
    q1, e1, q2, e2, q3, e3, q4, e4 = free_ports(8)
    conf = {"server.1": f"127.0.0.1:{q1}:{e1}", "server.2": f"127.0.0.1:{q2}:{e2}",
            "server.3": f"127.0.0.1:{q3}:{e3}", "server.4": f"127.0.0.1:{q4}:{e4}:observer",
            # A follower of our (absent) leader keeps trying initLimit ticks: time to probe it.
            "initLimit": 30, "syncLimit": 5}
    if kind == "java":
        peer = JavaZooKeeperServer(conf, myid=1, tick_time=200, temp_dir=tmp_path / "java")
    else:
        from zkpy.testing import TestingServer

        peer = TestingServer(tick_time=200, config=dict(conf, standaloneEnabled="false"), myid=1,
                             temp_dir=tmp_path / "zkpy")
    servers = {sid: conf[f"server.{sid}"] for sid in (1, 2, 3, 4)}
    return peer, e1, str(verifier_from_config(servers, {}, {}))


@pytest.mark.parametrize("kind", ["java", "zkpy"])
def test_the_worker_receiver_answers_as_java_does(kind, tmp_path):
    """The same script against Java 3.8 and zkpy as peer 1, the same bytes back:
    a non-voter gets the current vote at once; a better vote in our round is
    adopted and sent to every voter; once settled, a LOOKING voter learns the
    leader with the round it was elected in."""
    peer, election_port, config = _peer_under_test(kind, tmp_path)
    probe = ElectionProbe(election_port, config)
    try:
        peer.start(wait="port")
        probe.connect(3)
        first = parse_notification(1, probe.read(3))
        r = first.election_epoch
        assert probe.config and first.config == config
        assert build_msg(ServerState.LOOKING, 1, 0, r, 0, probe.config) == \
            build_msg(first.state, first.leader, first.zxid, r, first.peer_epoch, first.config.encode())

        # An observer (not a voter) is answered with the current vote at once;
        # nothing else is ever sent to it.
        probe.connect(4)
        probe.send(4, ServerState.LOOKING, LONG_MIN, LONG_MIN, 1, LONG_MIN)
        assert probe.read(4) == build_msg(ServerState.LOOKING, 1, 0, r, 0, probe.config)

        # A better vote (sid 3) in our round: adopted and sent back to us (after
        # any re-send of the old one); with its own loopback vote, 1 and 3 are a quorum.
        probe.send(3, ServerState.LOOKING, 3, 0, r, 0)
        deadline = time.monotonic() + 15
        while (raw := probe.read(3)) != build_msg(ServerState.LOOKING, 3, 0, r, 0, probe.config):
            assert parse_notification(1, raw).leader == 1, raw
            assert time.monotonic() < deadline, "peer 1 never adopted the vote for 3"

        # After the finalizeWait (200 ms of quiet) peer 1 follows 3, which never
        # answers on its quorum port. A LOOKING voter is then told: FOLLOWING 3,
        # elected in round r. (Any notification during the finalizeWait restarts
        # it: probe slowly.)
        following = build_msg(ServerState.FOLLOWING, 3, 0, r, 0, probe.config)
        probe.socks[3].settimeout(1.0)
        time.sleep(0.5)
        deadline = time.monotonic() + 5
        while True:
            assert time.monotonic() < deadline, "peer 1 never said it follows 3"
            probe.send(3, ServerState.LOOKING, 3, 0, r, 0)
            try:
                raw = probe.read(3)
            except TimeoutError:
                continue                    # still in its finalizeWait: no answer to a vote it has
            if parse_notification(1, raw).state != ServerState.LOOKING:
                break
        assert raw == following
        # The observer is answered with the same vote (its round: the logical clock, r).
        probe.send(4, ServerState.LOOKING, LONG_MIN, LONG_MIN, 1, LONG_MIN)
        assert probe.read(4) == following
    finally:
        probe.close()
        peer.close()
