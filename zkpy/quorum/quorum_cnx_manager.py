"""Election connections: one TCP connection per pair of peers.

Java: ``QuorumCnxManager`` with its ``Listener``, ``SendWorker`` and
``RecvWorker`` threads, and ``org.apache.zookeeper.util.CircularBlockingQueue``
(ZK_SPEC.md §4.1). Blocking sockets, a thread per direction per peer:

* the Listener accepts on our election address, reads the dialler's
  header (:mod:`.initial_message`) and keeps the connection only if the
  dialler's sid is larger than ours; otherwise it closes it and dials
  back, so the surviving connection is always the one the larger sid
  dialled;
* a dialler sends the header and hangs up itself when the remote sid is
  larger (the remote will dial back);
* per remote peer a SendWorker writes ``int length, bytes`` frames from a
  one-slot queue that keeps only the newest message, and re-sends the last
  message it sent when a new connection starts with nothing queued; a
  RecvWorker reads frames into the shared receive queue (100 slots, the
  oldest dropped when full);
* messages to ourselves never touch a socket.

What zkpy does differently, on purpose:

* When a smaller sid dials us, Java dials back the election address the
  dialler announced in its header. zkpy dials only addresses from its own
  configuration (the ``view``): a header cannot make it connect anywhere
  else. An unknown sid is refused with a warning, whether smaller or
  larger than ours (Java keeps a larger one and answers its notifications).
* The connection manager does not reach into a QuorumPeer: it is given
  its id, a ``view()`` callable (the members of the current and next
  configs) and its timeouts, so several can run in one process in tests.

With ``sslQuorum`` the connections are TLS: the ``socket_factory``
(:class:`.quorum_socket.QuorumSocketFactory`) dials them, handshake
included, and wraps what the Listener accepts, whose TLS handshake then
happens when :meth:`QuorumCnxManager.receive_connection` reads the header,
in the Listener thread under the handshake timeout (as in Java).

With quorum SASL (``quorum.auth.enableSasl``, :mod:`.quorum_auth`) the
dialler authenticates right after its header and the Listener's side checks
it before looking at the sid; both run in connection threads (at most
``quorum.cnxn.threads.size`` at once; a connection that finds none free is
closed), so a slow or silent peer holds one thread for at most the socket
timeout, never the Listener nor the manager's lock (Java:
``receiveConnectionAsync`` / ``initiateConnectionAsync``).
"""

from __future__ import annotations

import collections
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from typing import Optional

import attrs

from .initial_message import (
    OBSERVER_ID, InitialMessageError, build_initial_message, format_address, read_initial_message,
)
from .quorum_auth import NullQuorumAuthLearner, NullQuorumAuthServer, QuorumAuthLearner, QuorumAuthServer, SaslException
from .quorum_server import LearnerType, QuorumServer
from .quorum_socket import QuorumSocketFactory

LOG = logging.getLogger(__name__)

#: Largest frame a RecvWorker accepts (Java: PACKETMAXSIZE).
PACKET_MAX_SIZE = 1024 * 512
#: Java: RECV_CAPACITY and SEND_CAPACITY.
RECV_CAPACITY = 100
SEND_CAPACITY = 1

_INT = struct.Struct(">i")


class CircularBlockingQueue:
    """A bounded queue that drops its oldest element to make room.

    Java: ``org.apache.zookeeper.util.CircularBlockingQueue``. ``wake()``
    makes every blocked ``poll`` return (with None if nothing arrived), so
    a worker can notice that it was told to stop.
    """

    def __init__(self, capacity: int):
        self._items: collections.deque = collections.deque(maxlen=capacity)
        self._cond = threading.Condition()
        self._wakeups = 0
        self.dropped = 0

    def offer(self, item) -> bool:
        """Add ``item``; returns False when the oldest element was dropped for it."""
        with self._cond:
            full = len(self._items) == self._items.maxlen
            if full:
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return not full

    def poll(self, timeout: Optional[float] = None):
        with self._cond:
            wakeups = self._wakeups
            if not self._items:
                self._cond.wait_for(lambda: self._items or self._wakeups != wakeups, timeout)
            return self._items.popleft() if self._items else None

    def wake(self) -> None:
        with self._cond:
            self._wakeups += 1
            self._cond.notify_all()

    def is_empty(self) -> bool:
        with self._cond:
            return not self._items

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


@attrs.frozen
class Message:
    """A frame received from ``sid`` (Java: QuorumCnxManager.Message)."""

    buffer: bytes
    sid: int


def _set_sock_opts(sock: socket.socket, timeout_ms: int, keep_alive: bool) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if keep_alive:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.settimeout(timeout_ms / 1000.0 if timeout_ms > 0 else None)


def _close_socket(sock: Optional[socket.socket]) -> None:
    if sock is None:
        return
    try:
        # shutdown() wakes a thread blocked in recv() on this socket; close() alone does not.
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _read_exact(reader, n: int) -> bytes:
    data = reader.read(n)
    if data is None or len(data) < n:
        raise EOFError(f"connection closed after {0 if not data else len(data)} of {n} bytes")
    return data


class QuorumCnxManager:
    """Election connections of one peer (see the module docstring).

    :param my_id: our sid.
    :param view: returns the members we may dial (current and next config),
        by sid; it must contain ``my_id`` (our election address comes from it).
    :param socket_timeout_ms: read timeout while handshaking (Java: tickTime
        × syncLimit); established connections block without a timeout.
    :param cnx_timeout_ms: connect timeout (``zookeeper.cnxTimeout``).
    :param listen_on_all_ips: bind the election port on every interface.
    :param bind_retries: attempts to bind the election port, a second
        apart (``zookeeper.electionPortBindRetry``; 0 = forever).
    :param on_listener_failure: called once the listener gives up binding;
        Java exits the process (code 14).
    :param socket_factory: makes the sockets (TLS with ``sslQuorum``);
        plain TCP when None.
    :param auth_server, auth_learner: quorum SASL (:mod:`.quorum_auth`); none when None.
    :param connection_threads: > 0: dial and accept in connection threads,
        at most this many at once (Java: with quorum SASL, ``quorum.cnxn.threads.size``).
    """

    def __init__(self, my_id: int, view: Callable[[], Mapping[int, QuorumServer]], *,
                 socket_timeout_ms: int = 10000, cnx_timeout_ms: int = 5000, listen_on_all_ips: bool = False,
                 bind_retries: int = 3, multi_address: bool = False, tcp_keep_alive: bool = False,
                 on_listener_failure: Optional[Callable[[], None]] = None,
                 socket_factory: Optional[QuorumSocketFactory] = None,
                 auth_server: Optional[QuorumAuthServer] = None, auth_learner: Optional[QuorumAuthLearner] = None,
                 connection_threads: int = 0):
        self.my_id = my_id
        self.view = view
        self.socket_timeout_ms = socket_timeout_ms
        self.cnx_timeout_ms = cnx_timeout_ms
        self.listen_on_all_ips = listen_on_all_ips
        self.bind_retries = bind_retries
        self.multi_address = multi_address
        self.tcp_keep_alive = tcp_keep_alive
        self.on_listener_failure = on_listener_failure
        self.socket_factory = socket_factory or QuorumSocketFactory()
        self.auth_server = auth_server or NullQuorumAuthServer()
        self.auth_learner = auth_learner or NullQuorumAuthLearner()
        self.connection_threads = connection_threads
        self._connection_slots = threading.BoundedSemaphore(max(1, connection_threads))
        self._connection_thread_count = 0
        self._in_progress: set[int] = set()  # sids being dialled in a connection thread
        self.sender_worker_map: dict[int, SendWorker] = {}
        # Every worker pair ever started, so that halt() also waits for ones
        # that a newer connection replaced and that are still winding down.
        self._all_workers: list[threading.Thread] = []
        self.queue_send_map: dict[int, CircularBlockingQueue] = {}
        self.last_message_sent: dict[int, bytes] = {}
        self.recv_queue = CircularBlockingQueue(RECV_CAPACITY)
        self._lock = threading.RLock()  # Java: the manager's monitor (connectOne is synchronized)
        self._observer_counter = -1
        self.shutdown = False
        self.listener = Listener(self)

    # -- addresses ------------------------------------------------------------------------
    def my_server(self) -> QuorumServer:
        me = self.view().get(self.my_id)
        if me is None:
            raise ValueError(f"My id {self.my_id} not in the peer list")
        return me

    # -- sending ----------------------------------------------------------------------------
    def to_send(self, sid: int, message: bytes) -> None:
        """Queue ``message`` for ``sid`` and make sure a connection exists."""
        if self.shutdown:
            return
        if sid == self.my_id:
            self.add_to_recv_queue(Message(message, sid))
            return
        with self._lock:
            queue = self.queue_send_map.get(sid)
            if queue is None:
                queue = self.queue_send_map[sid] = CircularBlockingQueue(SEND_CAPACITY)
        if not queue.offer(message):
            LOG.debug("Replaced an unsent message to %d with a newer one", sid)
        self.connect_one(sid)

    def add_to_recv_queue(self, message: Message) -> None:
        if not self.recv_queue.offer(message):
            LOG.debug("Receive queue full: dropped the oldest message")

    def poll_recv_queue(self, timeout: float) -> Optional[Message]:
        return self.recv_queue.poll(timeout)

    def have_delivered(self) -> bool:
        """Java's haveDelivered: true as soon as one send queue is empty."""
        with self._lock:
            queues = list(self.queue_send_map.values())
        return any(q.is_empty() for q in queues)

    # -- dialling ---------------------------------------------------------------------------
    def connect_all(self) -> None:
        """Try to connect to every peer we have messages for."""
        with self._lock:
            sids = list(self.queue_send_map)
        for sid in sids:
            self.connect_one(sid)

    def connect_one(self, sid: int) -> bool:
        """Dial ``sid`` at the address our config gives, unless connected."""
        with self._lock:
            if self.shutdown:
                return False
            if sid in self.sender_worker_map:
                LOG.debug("There is a connection already for server %d", sid)
                return True
            server = self.view().get(sid)
            if server is None:
                LOG.warning("Invalid server id: %d", sid)
                return False
            if not self.connection_threads:
                return self._initiate_connection(sid, server)
            # SASL may take a while: dial in a connection thread (Java: initiateConnectionAsync).
            if sid in self._in_progress:
                LOG.debug("Connection request to server id: %d is already in progress", sid)
                return True
            self._in_progress.add(sid)
        if not self._in_connection_thread(self._initiate_connection_async, sid, server):
            with self._lock:
                self._in_progress.discard(sid)
            return False
        return True

    def _initiate_connection_async(self, sid: int, server: QuorumServer) -> None:
        try:
            self._initiate_connection(sid, server)
        finally:
            with self._lock:
                self._in_progress.discard(sid)

    def _in_connection_thread(self, target, *args) -> bool:
        """Run ``target`` in a new connection thread if fewer than
        ``connection_threads`` run (Java: the connection executor, whose
        SynchronousQueue refuses work when every thread is busy)."""
        if not self._connection_slots.acquire(blocking=False):
            LOG.error("No free quorum connection thread (quorum.cnxn.threads.size=%d)", self.connection_threads)
            return False

        def run() -> None:
            try:
                target(*args)
            except Exception:  # noqa: BLE001 - a connection thread must not die silently
                LOG.exception("Unexpected exception in a quorum connection thread")
            finally:
                self._connection_slots.release()

        self._connection_thread_count += 1
        name = f"QuorumConnectionThread-[myid={self.my_id}]-{self._connection_thread_count}"
        threading.Thread(target=run, name=name, daemon=True).start()
        return True

    def _initiate_connection(self, sid: int, server: QuorumServer) -> bool:
        for address in server.election_addrs:
            sock = None
            try:
                LOG.debug("Opening channel to server %d", sid)
                # TLS: the handshake runs here, under the read timeout (Java: connectOne).
                sock = self.socket_factory.connect(
                    address, self.cnx_timeout_ms / 1000.0,
                    self.socket_timeout_ms / 1000.0 if self.socket_timeout_ms > 0 else None,
                    keep_alive=self.tcp_keep_alive)
            except OSError as e:
                LOG.warning("Cannot open channel to %d at election address %s: %s", sid,
                            format_address(*address), e)
                _close_socket(sock)
                continue
            try:
                return self._start_connection(sock, sid, server, address)
            except (OSError, EOFError, SaslException) as e:
                LOG.error("Exception while connecting, id: %d, addr: %s, closing learner connection: %s", sid,
                          format_address(*address), e)
                _close_socket(sock)
        return False

    def _start_connection(self, sock: socket.socket, sid: int, server: QuorumServer, address) -> bool:
        """Send our header and authenticate; keep the connection only if we
        have the larger sid."""
        me = self.my_server()
        addresses = me.election_addrs if self.multi_address else me.election_addrs[:1]
        sock.sendall(build_initial_message(self.my_id, addresses, multi_address=self.multi_address))
        reader = sock.makefile("rb")
        if server.type is LearnerType.PARTICIPANT:  # Java: only to members of the voting view
            try:
                self.auth_learner.authenticate(sock, reader, format_address(*address))
            except BaseException:
                reader.close()
                raise
        if sid > self.my_id:
            LOG.info("Have smaller server identifier, so dropping the connection: (myId:%d --> sid:%d)",
                     self.my_id, sid)
            reader.close()
            _close_socket(sock)
            return False
        self._start_workers(sock, reader, sid)
        return True

    def _start_workers(self, sock: socket.socket, reader, sid: int) -> None:
        with self._lock:
            if self.shutdown:
                _close_socket(sock)
                return
            sw = SendWorker(self, sock, sid)
            rw = RecvWorker(self, sock, reader, sid, sw)
            sw.recv_worker = rw
            old = self.sender_worker_map.get(sid)
            if old is not None:
                old.finish()
            self.sender_worker_map[sid] = sw
            self._all_workers = [w for w in self._all_workers if w.is_alive()] + [sw, rw]
            if sid not in self.queue_send_map:
                self.queue_send_map[sid] = CircularBlockingQueue(SEND_CAPACITY)
            sw.start()
            rw.start()

    # -- accepting --------------------------------------------------------------------------
    def receive_connection(self, sock: socket.socket) -> None:
        """A dialler connected to our Listener: read its header, then keep,
        drop or answer the connection (Java: handleConnection)."""
        reader = sock.makefile("rb")
        try:
            header = read_initial_message(lambda n: _read_exact(reader, n))
        except (OSError, EOFError, InitialMessageError) as e:
            LOG.warning("Exception reading or writing challenge: %s", e)
            reader.close()
            _close_socket(sock)
            return
        sid = header.sid
        if sid != OBSERVER_ID and sid < self.my_id and sid not in self.view():
            # As Java: a larger unknown sid (a peer joining by reconfig) is
            # kept, our election answers it; a smaller one would have to be
            # dialled back, which we cannot without its address.
            LOG.warning("Refusing an election connection from sid %d, which is not in the configuration", sid)
            reader.close()
            _close_socket(sock)
            return
        try:
            reader = self.auth_server.authenticate(sock, reader)
        except (SaslException, OSError, EOFError) as e:
            LOG.error("Exception handling connection from sid %d, closing server connection: %s", sid, e)
            reader.close()
            _close_socket(sock)
            return
        if sid == OBSERVER_ID:
            # An observer with no id of its own: give it a local negative one.
            with self._lock:
                sid = self._observer_counter
                self._observer_counter -= 1
        LOG.debug("Received connection request from %s (sid %d)", header.addresses, sid)
        if sid < self.my_id:
            # The larger sid dials: drop this one and dial back (at the address
            # *our* config has for it, not the one the header announced).
            with self._lock:
                sw = self.sender_worker_map.get(sid)
            if sw is not None:
                sw.finish()
            LOG.debug("Create new connection to server: %d", sid)
            reader.close()
            _close_socket(sock)
            self.connect_one(sid)
        elif sid == self.my_id:
            LOG.warning("We got a connection request from a server with our own ID. This should be either "
                        "a configuration error, or a bug.")
            reader.close()
            _close_socket(sock)
        else:
            self._start_workers(sock, reader, sid)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.listener.start()

    def halt(self) -> None:
        """Stop the listener and every worker (Java: halt)."""
        with self._lock:
            self.shutdown = True
            workers = list(self.sender_worker_map.values())
            every_worker = list(self._all_workers)
        LOG.debug("Halting listener")
        self.listener.halt()
        for sw in workers:
            sw.finish()
        self.recv_queue.wake()
        for worker in every_worker:
            if worker is not threading.current_thread():
                worker.join(5)
        if self.listener.is_alive() and self.listener is not threading.current_thread():
            self.listener.join(5)
        LOG.debug("All connection processing threads are down")

    def connected_sids(self) -> list[int]:
        with self._lock:
            return sorted(self.sender_worker_map)


class Listener(threading.Thread):
    """Accepts election connections (Java: QuorumCnxManager.Listener)."""

    def __init__(self, manager: QuorumCnxManager):
        super().__init__(name="ListenerThread", daemon=True)
        self.manager = manager
        self._server: Optional[socket.socket] = None
        self._halted = False
        #: Set once the election port is bound (or binding was given up).
        self.bound = threading.Event()
        self.address: Optional[tuple[str, int]] = None

    def _bind(self) -> Optional[socket.socket]:
        manager = self.manager
        host, port = manager.my_server().election_addr
        if manager.listen_on_all_ips:
            host = "::" if ":" in host else "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        attempts = 0
        if manager.socket_factory.wraps_accepted:
            LOG.info(manager.socket_factory.describe_listener())
        while not self._halted:
            attempts += 1
            server = socket.socket(family, socket.SOCK_STREAM)
            try:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((host, port))
                server.listen(128)
                LOG.info("%d is accepting connections now, my election bind port: %s", manager.my_id,
                         format_address(host, port))
                return server
            except OSError as e:
                server.close()
                LOG.error("Exception while listening to address %s: %s", format_address(host, port), e)
                if manager.bind_retries and attempts >= manager.bind_retries:
                    LOG.error("Leaving listener thread for address %s after %d errors. Use "
                              "zookeeper.electionPortBindRetry property to increase retry count.",
                              format_address(host, port), attempts)
                    return None
                time.sleep(1.0)
        return None

    def run(self) -> None:
        server = self._bind()
        self._server = server
        if server is not None:
            self.address = server.getsockname()[:2]
        self.bound.set()
        if server is None:
            if not self._halted:
                LOG.error("As I'm leaving the listener thread, I won't be able to participate in leader "
                          "election any longer: %s", format_address(*self.manager.my_server().election_addr))
                if self.manager.on_listener_failure is not None:
                    self.manager.on_listener_failure()
            return
        try:
            while not self._halted:
                try:
                    sock, addr = server.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self._halted:
                        break
                    LOG.warning("Exception while accepting election connections", exc_info=True)
                    time.sleep(0.1)
                    continue
                LOG.info("Received connection request from %s", format_address(*addr[:2]))
                _set_sock_opts(sock, self.manager.socket_timeout_ms, self.manager.tcp_keep_alive)
                sock = self.manager.socket_factory.accepted(sock)
                if not self.manager.connection_threads:
                    self.manager.receive_connection(sock)
                elif not self.manager._in_connection_thread(self.manager.receive_connection, sock):
                    _close_socket(sock)  # Java: the executor refused it
        finally:
            try:
                server.close()
            except OSError:
                pass
        LOG.info("Leaving listener thread")

    def halt(self) -> None:
        self._halted = True
        server = self._server
        if server is not None:
            _close_socket(server)  # shutdown() wakes the blocked accept()
        if self.is_alive() and self is not threading.current_thread():
            self.join(5)


class SendWorker(threading.Thread):
    """Writes frames to one peer (Java: QuorumCnxManager.SendWorker)."""

    def __init__(self, manager: QuorumCnxManager, sock: socket.socket, sid: int):
        super().__init__(name=f"SendWorker:{sid}", daemon=True)
        self.manager = manager
        self.sock = sock
        self.sid = sid
        self.recv_worker: Optional[RecvWorker] = None
        self.running = True
        self._finished = False
        self._finish_lock = threading.Lock()

    def finish(self) -> None:
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        LOG.debug("Calling SendWorker.finish for %d", self.sid)
        self.running = False
        _close_socket(self.sock)
        queue = self.manager.queue_send_map.get(self.sid)
        if queue is not None:
            queue.wake()
        if self.recv_worker is not None:
            self.recv_worker.finish()
        with self.manager._lock:
            if self.manager.sender_worker_map.get(self.sid) is self:
                del self.manager.sender_worker_map[self.sid]

    def send(self, message: bytes) -> None:
        self.sock.sendall(_INT.pack(len(message)) + message)

    def run(self) -> None:
        manager = self.manager
        try:
            queue = manager.queue_send_map.get(self.sid)
            if queue is None or queue.is_empty():
                # A new connection with nothing queued: the peer may have lost
                # our last message with the old connection, so send it again.
                last = manager.last_message_sent.get(self.sid)
                if last is not None:
                    LOG.debug("Attempting to send lastMessage to sid=%d", self.sid)
                    self.send(last)
            while self.running and not manager.shutdown:
                queue = manager.queue_send_map.get(self.sid)
                if queue is None:
                    LOG.error("No queue of incoming messages for server %d", self.sid)
                    break
                message = queue.poll(1.0)
                if message is not None and self.running:
                    manager.last_message_sent[self.sid] = message
                    self.send(message)
        except OSError as e:
            if self.running:
                LOG.warning("Exception when using channel: for id %d my id = %d: %s", self.sid, manager.my_id, e)
        finally:
            self.finish()
            LOG.debug("Send worker leaving thread id %d my id = %d", self.sid, manager.my_id)


class RecvWorker(threading.Thread):
    """Reads frames from one peer (Java: QuorumCnxManager.RecvWorker)."""

    def __init__(self, manager: QuorumCnxManager, sock: socket.socket, reader, sid: int, sender: SendWorker):
        super().__init__(name=f"RecvWorker:{sid}", daemon=True)
        self.manager = manager
        self.sock = sock
        self.reader = reader
        self.sid = sid
        self.sender = sender
        self.running = True
        # An established connection may be idle for long: no read timeout.
        try:
            sock.settimeout(None)
        except OSError:
            pass

    def finish(self) -> None:
        self.running = False

    def run(self) -> None:
        manager = self.manager
        try:
            while self.running and not manager.shutdown:
                (length,) = _INT.unpack(_read_exact(self.reader, 4))
                if length <= 0 or length > PACKET_MAX_SIZE:
                    raise OSError(f"Received packet with invalid packet: {length}")
                message = _read_exact(self.reader, length)
                if self.running:
                    manager.add_to_recv_queue(Message(message, self.sid))
        except (OSError, EOFError, ValueError) as e:
            if self.running and not manager.shutdown:
                LOG.warning("Connection broken for id %d, my id = %d: %s", self.sid, manager.my_id, e)
        finally:
            self.running = False
            self.sender.finish()
            try:
                self.reader.close()
            except OSError:
                pass
