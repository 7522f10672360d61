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
        header = read_initial_message(lambda n: _read_exact(conn, n))
        assert header.sid == 1
        assert header.addresses == (("127.0.0.1", java_election_port),)
        assert conn.recv(1) == b""

    with socket.create_connection(("127.0.0.1", java_election_port), timeout=30) as sock:
        sock.sendall(build_initial_message(3, [("127.0.0.1", listener.getsockname()[1])]))
        first = parse_notification(1, _read_message(sock))
        assert first.state == ServerState.LOOKING
        assert (first.leader, first.zxid, first.peer_epoch, first.version) == (1, 0, 0, 2)
        assert first.election_epoch >= 1
        # Java's config text and zkpy's QuorumMaj text are the same bytes.
        assert first.config == expected_config

        ours = build_msg(ServerState.LOOKING, 3, 0, first.election_epoch, 0, expected_config.encode())
        sock.sendall(struct.pack(">i", len(ours)) + ours)
        deadline = time.monotonic() + 30
        while True:
            n = parse_notification(1, _read_message(sock))
            if n.leader == 3:
                break
            assert time.monotonic() < deadline, "Java never adopted the vote for sid 3"
        assert (n.state, n.zxid, n.election_epoch, n.peer_epoch) == \
            (ServerState.LOOKING, 0, first.election_epoch, 0)

    deadline = time.monotonic() + 10
    needle = (f"n.sid:3, n.state:LOOKING, n.leader:3, n.round:0x{first.election_epoch:x}, "
              "n.peerEpoch:0x0, n.zxid:0x0, message format version:0x2, n.config version:0x0")
    while needle not in open(java.log_path, encoding="utf-8", errors="replace").read():
        assert time.monotonic() < deadline, f"Java did not log {needle!r}:\n{java.log_tail()}"
        time.sleep(0.2)
