"""zkpy.testing_network.PeerNetwork: the proxies that partition test ensembles.

Real loopback sockets, a tiny echo/recording server as the target: what a
peer would see through its proxy when the link is open, blackholed,
refused, and healed again.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from zkpy.testing import wait_until
from zkpy.testing_network import BLACKHOLE, OPEN, REFUSE, PeerNetwork


class Target:
    """Accepts connections; echoes what it reads, records it, and
    half-closes when the dialler half-closes."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.listener.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    conn.shutdown(socket.SHUT_WR)
                    return
                self.received.append(data)
                conn.sendall(data)

    def close(self):
        self._stop = True
        self.listener.close()


@pytest.fixture
def target():
    t = Target()
    yield t
    t.close()


@pytest.fixture
def net():
    with PeerNetwork() as network:
        yield network


def dial(port, timeout=2.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_an_open_link_forwards_both_ways(net, target):
    port = net.add_link(1, 2, "election", target.port)
    assert net.state(1, 2) == OPEN
    with dial(port) as sock:
        sock.sendall(b"hello")
        assert recv_exact(sock, 5) == b"hello"
        big = bytes(range(256)) * 4096  # 1 MiB: more than one buffer's worth
        sock.sendall(big)
        assert recv_exact(sock, len(big)) == big
    assert net.connection_count(1, 2) in (0, 1)


def test_bytes_sent_before_a_hang_up_still_arrive(net, target):
    # A smaller sid's election dialler sends its header and closes at once.
    port = net.add_link(1, 2, "election", target.port)
    with dial(port) as sock:
        sock.sendall(b"header")
        sock.shutdown(socket.SHUT_WR)
        assert recv_exact(sock, 6) == b"header"
        assert sock.recv(10) == b""  # the target's EOF came through
    wait_until(lambda: net.connection_count(1, 2) == 0, 5, "the pair to close")


def test_a_blackhole_is_silent_and_heal_delivers_what_was_held(net, target):
    port = net.add_link(1, 2, "quorum", target.port)
    with dial(port) as live:
        live.sendall(b"before")
        assert recv_exact(live, 6) == b"before"
        net.set_state([(1, 2)], BLACKHOLE)
        assert net.state(1, 2) == BLACKHOLE
        live.sendall(b"during")
        held = dial(port)                  # a new connection is accepted, but goes nowhere
        held.sendall(b"new")
        time.sleep(0.3)
        live.settimeout(0.3)
        with pytest.raises(socket.timeout):
            live.recv(10)
        assert b"during" not in b"".join(target.received)
        accepted = target.accepted
        assert accepted == 1               # the held connection never reached the target
        net.heal()
        live.settimeout(2)
        assert recv_exact(live, 6) == b"during"
        assert recv_exact(held, 3) == b"new"
        assert target.accepted == 2
        held.close()


def test_refuse_closes_connections_and_turns_new_ones_away(net, target):
    port = net.add_link(2, 1, "election", target.port)
    other = net.add_link(3, 1, "election", target.port)
    with dial(port) as cut, dial(other) as kept:
        cut.sendall(b"x")
        assert recv_exact(cut, 1) == b"x"
        net.set_state([(2, 1)], REFUSE)
        assert cut.recv(10) == b""         # closed under it
        with dial(port) as again:
            assert again.recv(10) == b""   # accepted and closed at once
        kept.sendall(b"still")             # other links are untouched
        assert recv_exact(kept, 5) == b"still"
        net.heal()
        with dial(port) as healed:
            healed.sendall(b"back")
            assert recv_exact(healed, 4) == b"back"


def test_a_dead_target_closes_the_dialler(net):
    port = net.add_link(1, 2, "quorum", 1)  # nothing listens on port 1
    with dial(port) as sock:
        assert sock.recv(10) == b""


def test_bad_state_and_closed_network():
    network = PeerNetwork()
    with pytest.raises(ValueError):
        network.set_state([(1, 2)], "sideways")
    with pytest.raises(KeyError):
        network.state(1, 2)
    network.close()
    network.close()  # idempotent
    with pytest.raises(RuntimeError):
        network.add_link(1, 2, "quorum", 1)


def test_proxies_never_take_a_port_to_avoid(target, monkeypatch):
    # The peers' ports are chosen (bind 0, release) before the peers bind
    # them, and the kernel may hand such a port straight back to a proxy:
    # make it do so for the first proxy, which must then take another.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        avoided = probe.getsockname()[1]
    handed_out = []

    class KernelHandsOutTheAvoidedPortFirst(socket.socket):
        def bind(self, address):
            if address[1] == 0 and not handed_out:
                handed_out.append(avoided)
                address = (address[0], avoided)
            return super().bind(address)

    with PeerNetwork(avoid_ports=[avoided]) as network:
        monkeypatch.setattr(socket, "socket", KernelHandsOutTheAvoidedPortFirst)
        port = network.add_link(1, 2, "quorum", target.port)
        monkeypatch.undo()
        assert handed_out == [avoided] and port != avoided
        with dial(port) as sock:       # and the link works
            sock.sendall(b"ok")
            assert recv_exact(sock, 2) == b"ok"


def test_an_impaired_link_delays_in_order_and_unimpair_ends_it(net, target):
    port = net.add_link(1, 2, "quorum", target.port)
    with dial(port) as sock:
        net.impair([(1, 2)], delay=0.15)
        assert net.impairment(1, 2).delay == 0.15
        start = time.monotonic()
        sock.sendall(b"ping")
        assert recv_exact(sock, 4) == b"ping"
        took = time.monotonic() - start
        assert 0.3 <= took < 1.5, took  # delayed on the way there and back

        # "Loss" of every chunk costs an rto on top, and nothing overtakes.
        net.impair([(1, 2)], delay=0.0, loss=1.0, rto=0.1)
        start = time.monotonic()
        expected = b""
        for i in range(20):
            chunk = f"{i:03d};".encode()
            expected += chunk
            sock.sendall(chunk)
            time.sleep(0.005)
        assert recv_exact(sock, len(expected)) == expected
        assert time.monotonic() - start >= 0.2

        net.heal()  # states only
        assert net.impairment(1, 2) is not None
        net.unimpair()
        assert net.impairment(1, 2) is None
        start = time.monotonic()
        sock.sendall(b"fast")
        assert recv_exact(sock, 4) == b"fast"
        assert time.monotonic() - start < 0.1
        big = bytes(range(256)) * 4096
        net.impair([(1, 2)], delay=0.01, jitter=0.01)
        sock.sendall(big)  # more than the proxy buffers: reading pauses, nothing lost
        assert recv_exact(sock, len(big)) == big


def test_an_impaired_link_passes_the_hang_up_after_the_data(net, target):
    port = net.add_link(1, 2, "election", target.port)
    net.impair([(1, 2)], delay=0.1)
    with dial(port) as sock:
        sock.sendall(b"header")
        sock.shutdown(socket.SHUT_WR)
        assert recv_exact(sock, 6) == b"header"
        assert sock.recv(10) == b""
    with pytest.raises(ValueError):
        net.impair([(1, 2)], loss=2.0)
