"""QuorumCnxManager over loopback, several managers in one process
(ZK_SPEC.md §4.1): who keeps the connection, the one-slot send queue,
the re-sent last message, and whom a manager is willing to dial."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from zkpy.quorum.initial_message import build_initial_message
from zkpy.quorum.quorum_cnx_manager import RECV_CAPACITY, CircularBlockingQueue, Message, QuorumCnxManager
from zkpy.quorum.quorum_server import QuorumServer
from zkpy.testing import find_free_ports, wait_until

pytestmark = pytest.mark.timeout(60)


def receive(manager, timeout=5.0):
    message = manager.poll_recv_queue(timeout)
    assert message is not None, f"manager {manager.my_id} received nothing"
    return message


class Ensemble:
    """A view shared by managers (and fakes) on loopback ports."""

    def __init__(self, sids):
        ports = find_free_ports(len(sids))
        self.members = {sid: QuorumServer.parse(sid, f"127.0.0.1:1:{port}") for sid, port in zip(sids, ports)}
        self.managers: dict[int, QuorumCnxManager] = {}

    def view(self):
        return self.members

    def start(self, sid, **kwargs) -> QuorumCnxManager:
        manager = QuorumCnxManager(sid, self.view, socket_timeout_ms=2000, cnx_timeout_ms=2000, **kwargs)
        manager.start()
        assert manager.listener.bound.wait(5) and manager.listener.address is not None
        self.managers[sid] = manager
        return manager

    def port(self, sid):
        return self.members[sid].election_addr[1]

    def close(self):
        for manager in self.managers.values():
            manager.halt()


_WORKER_NAMES = ("ListenerThread", "SendWorker:", "RecvWorker:")


@pytest.fixture
def ensemble():
    ens = Ensemble([1, 2, 3, 7])
    try:
        yield ens
    finally:
        ens.close()
    # halt() leaves no connection thread behind.
    left = [t.name for t in threading.enumerate() if t.name.startswith(_WORKER_NAMES)]
    assert left == []


def test_circular_queue_keeps_the_newest():
    q = CircularBlockingQueue(2)
    assert q.offer(1) and q.offer(2)
    assert not q.offer(3)                 # 1 dropped to make room
    assert [q.poll(0), q.poll(0), q.poll(0)] == [2, 3, None]
    assert q.dropped == 1
    waiter = threading.Thread(target=lambda: q.poll(30))
    waiter.start()
    q.wake()                              # a blocked poll returns on wake()
    waiter.join(5)
    assert not waiter.is_alive()


def test_the_receive_queue_holds_the_newest_hundred_messages():
    manager = QuorumCnxManager(1, lambda: {})        # never started: no socket
    for i in range(RECV_CAPACITY + 5):
        manager.add_to_recv_queue(Message(b"%d" % i, 2))
    assert len(manager.recv_queue) == RECV_CAPACITY == 100
    assert manager.poll_recv_queue(0).buffer == b"5"   # the five oldest were dropped


def test_only_the_larger_sid_keeps_a_connection(ensemble):
    m1, m2 = ensemble.start(1), ensemble.start(2)
    m1.to_send(2, b"from 1")              # 1 dials 2, hangs up; 2 dials back
    message = receive(m2)
    assert (message.buffer, message.sid) == (b"from 1", 1)
    wait_until(lambda: m1.connected_sids() == [2] and m2.connected_sids() == [1], what="one connection each")
    # The surviving socket is the one 2 dialled: on 1's side its local port is 1's election port.
    assert m1.sender_worker_map[2].sock.getsockname()[1] == ensemble.port(1)
    assert m2.sender_worker_map[1].sock.getpeername()[1] == ensemble.port(1)
    m2.to_send(1, b"from 2")
    assert receive(m1).buffer == b"from 2"
    # A message to ourselves never touches a socket.
    m1.to_send(1, b"self")
    assert receive(m1).buffer == b"self"


def test_send_queue_keeps_only_the_newest_message(ensemble):
    m3 = ensemble.start(3)
    for i in range(5):
        m3.to_send(2, f"vote {i}".encode())   # 2 is down: the queue keeps the newest
    assert len(m3.queue_send_map[2]) == 1
    assert not m3.have_delivered()
    m2 = ensemble.start(2)
    m3.connect_all()
    assert receive(m2).buffer == b"vote 4"
    assert m2.poll_recv_queue(0.3) is None
    wait_until(m3.have_delivered, what="the queue to drain")


def test_last_message_is_sent_again_on_a_new_connection(ensemble):
    m1, m2 = ensemble.start(1), ensemble.start(2)
    m2.to_send(1, b"latest vote")
    assert receive(m1).buffer == b"latest vote"
    wait_until(lambda: 1 in m2.connected_sids(), what="2's connection to 1")
    m2.sender_worker_map[1].finish()       # the connection breaks
    wait_until(lambda: 2 not in m1.connected_sids(), what="1 to notice")
    assert m2.connect_one(1)
    again = receive(m1)                    # re-sent: the peer may have lost it
    assert (again.buffer, again.sid) == (b"latest vote", 2)


def _dial(port, header):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(header)
    return sock


def test_a_smaller_sid_is_dialled_back_at_our_configured_address_only(ensemble):
    # sid 1 is "configured" at a listener we own; the dialler claims another address.
    configured = socket.create_server(("127.0.0.1", ensemble.port(1)))
    announced = socket.create_server(("127.0.0.1", 0))
    configured.settimeout(5)
    announced.settimeout(0.5)
    ensemble.start(3)
    try:
        with _dial(ensemble.port(3), build_initial_message(1, [announced.getsockname()[:2]])) as dialler:
            assert dialler.recv(1) == b""          # 3 hangs up on the smaller sid ...
        conn, _ = configured.accept()              # ... and dials the address its config has
        with conn:
            conn.settimeout(5)
            header = conn.recv(64)
            assert struct.unpack_from(">qq", header) == (-65536, 3)
        with pytest.raises(socket.timeout):
            announced.accept()                      # never the announced one
    finally:
        configured.close()
        announced.close()


def test_unknown_and_own_sids_are_refused(ensemble):
    m7 = ensemble.start(7)
    del ensemble.members[1]                         # sid 1 is not in 7's config any more
    with _dial(ensemble.port(7), build_initial_message(1, [("127.0.0.1", 9)])) as sock:
        assert sock.recv(1) == b""
    with _dial(ensemble.port(7), build_initial_message(7, [("127.0.0.1", 9)])) as sock:
        assert sock.recv(1) == b""
    assert m7.connected_sids() == []
    assert not m7.connect_one(5)                    # nor does it dial ids it does not know
    # A larger unknown sid is kept, as Java keeps it: a peer joining by reconfig.
    with _dial(ensemble.port(7), build_initial_message(99, [("127.0.0.1", 9)])) as sock:
        wait_until(lambda: m7.connected_sids() == [99], what="the joining peer's connection")


def test_a_larger_sid_is_kept_and_bad_frames_drop_it(ensemble):
    m2 = ensemble.start(2)
    sock = _dial(ensemble.port(2), build_initial_message(3, [("127.0.0.1", ensemble.port(3))]))
    try:
        sock.sendall(struct.pack(">i", 5) + b"hello")
        message = receive(m2)
        assert (message.buffer, message.sid) == (b"hello", 3)
        assert m2.connected_sids() == [3]
        sock.sendall(struct.pack(">i", 600 * 1024))     # over PACKETMAXSIZE
        wait_until(lambda: m2.connected_sids() == [], what="the connection to be dropped")
        sock.settimeout(5)
        assert sock.recv(1) == b""
    finally:
        sock.close()


def test_halt_stops_every_thread(ensemble):
    m1, m2 = ensemble.start(1), ensemble.start(2)
    m1.to_send(2, b"x")
    receive(m2)
    wait_until(lambda: m1.connected_sids() == [2], what="connection")
    workers = [m1.listener, m1.sender_worker_map[2], m1.sender_worker_map[2].recv_worker]
    m1.halt()
    for thread in workers:
        thread.join(5)
        assert not thread.is_alive(), thread.name
    m1.to_send(2, b"after halt")                    # ignored, no reconnect
    assert m1.connected_sids() == []


def test_quorum_listen_on_all_ips_binds_the_wildcard(ensemble):
    m2 = ensemble.start(2, listen_on_all_ips=True)
    assert m2.listener.address == ("0.0.0.0", ensemble.port(2))
    m3 = ensemble.start(3)
    m3.to_send(2, b"over the wildcard")
    assert receive(m2).buffer == b"over the wildcard"
