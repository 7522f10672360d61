"""The client's connection: one socket, a send thread and an event thread.

Java: ``org.apache.zookeeper.ClientCnxn`` (with ``SendThread``,
``EventThread``, ``Packet``) and ``ClientCnxnSocketNIO``.

* The **SendThread** owns the socket (non-blocking, driven by a selector
  with a wake-up socketpair). It connects to the host provider's next
  server, sends the ConnectRequest (with the canBeReadOnly byte; session id
  and password to resume a session), and only once the ConnectResponse is in
  sends the stored credentials (AuthPacket, xid -4), the watches to
  re-register (SetWatches, or SetWatches2 when persistent watches exist,
  in batches of ~128 KB of paths) and then the queued requests. Each request
  gets its xid when it is written and joins the pending queue; replies must
  come back in that order (a mismatch is fatal for the connection, as in
  Java). It pings when nothing was sent for a third of the negotiated
  timeout, and drops the connection when nothing was heard for two thirds
  (the read timeout) or the handshake takes longer than timeout/number of
  hosts, then tries the next host. A ConnectResponse with timeout 0 means
  the session expired: state CLOSED, an ``Expired`` event, and every later
  call fails with SessionExpiredException; an auth failure (xid -4, err
  AUTHFAILED) ends the same way with ``AuthFailed`` / AuthFailedException.
  While connected to a read-only server it probes the other servers with
  ``isro`` (100 ms doubling to 60 s) and moves to one that answers ``rw``.
* The **EventThread** runs, one at a time and in the order the server sent
  them, the watchers of each event (the watcher set is computed when the
  event arrives) and the done-callbacks of each completed request.

Completion (different on purpose): a request's result is a
:class:`ZooKeeperFuture`. The send thread sets its result as soon as the
reply is read (so ``result()`` returns even when called from a watcher or
callback, and a synchronous call inside a watcher cannot deadlock); the
future's done-callbacks run on the event thread at the reply's place among
the watch events. A callback added while the future is still waiting for
its turn on the event thread (in particular, one added from another
callback) keeps that place.

Also different on purpose: the session-state event ``Closed`` is delivered
after ``Expired`` and ``AuthFailed`` too (it is the last event of every
session), and no ``Disconnected`` on an explicit close; the state becomes
CONNECTING as soon as a connection is lost (Java reports CONNECTED until the
next attempt starts); the reconnect delays (0-1 s at random, plus the host
provider's 1 s after a full round) are Java's but cut short by ``close()``;
the SetWatches packets get ordinary xids, as Java's client sends them.

TLS (Java: ``zookeeper.client.secure=true`` with ``ClientCnxnSocketNetty``):
given an ``ssl.SSLContext``, the send thread wraps each new socket once TCP
is connected and steps the handshake in its selector loop, still
non-blocking, before it sends the ConnectRequest; the handshake counts
against the connect timeout. The server name checked is the host of the
connect string (a context with ``check_hostname=False`` skips that).

SASL (Java: ``ZooKeeperSaslClient`` driven by ``ClientCnxn``): given
credentials, each connection runs a DIGEST-MD5 exchange right after the
ConnectResponse (:mod:`zkpy.client.zookeeper_sasl_client`). Its packets (op
102, ordinary xids) are written directly, and nothing else of the
connection is sent until it ends — credentials, watches, pings and queued
requests wait, as Java's ``tunnelAuthInProgress`` makes them. Success
queues a ``SaslAuthenticated`` event; failure (a wrong password, a server
without SASL, an error reply) ends the client as an auth failure does:
state AUTH_FAILED, an ``AuthFailed`` event, every request failing with
AuthFailedException.
"""

from __future__ import annotations

import collections
import enum
import errno
import itertools
import logging
import queue
import random
import selectors
import socket
import ssl
import struct
import threading
import time
from concurrent.futures import Future
from typing import Callable, Optional

from ..defs import (
    AUTH_XID, NOTIFICATION_XID, PING_XID, SET_WATCHES_XID, EventType, KeeperState, OpCode, op_name,
)
from ..errors import Code, KeeperException, NoWatcherException
from ..jute.archive import DEFAULT_MAX_BUFFER, InputArchive, JuteError, OutputArchive
from ..jute.multi import read_multi_response, write_multi_request
from ..jute.records import (
    AuthPacket, ConnectRequest, ConnectResponse, GetSASLRequest, ReplyHeader, RequestHeader, SetSASLResponse,
    SetWatches, SetWatches2, WatcherEvent,
)
from .watch_manager import WatchDeregistration, WatchRegistration, ZKWatchManager
from .watcher import WatchedEvent
from .zookeeper_sasl_client import SaslCredentials, SaslState, ZooKeeperSaslClient

LOG = logging.getLogger(__name__)

#: Java's SET_WATCHES_MAX_LENGTH: paths per SetWatches packet, in characters.
SET_WATCHES_MAX_LENGTH = 128 * 1024
#: Longest reply accepted (Java's client default for jute.maxbuffer).
DEFAULT_MAX_PACKET_LENGTH = DEFAULT_MAX_BUFFER
#: Ping at least this often even with a long session timeout (ms).
MAX_SEND_PING_INTERVAL = 10000
MIN_PING_RW_TIMEOUT = 100
MAX_PING_RW_TIMEOUT = 60000

_LEN = struct.Struct(">i")
#: A non-blocking send or recv that could not proceed (plain or TLS).
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_CLIENT_NUMBERS = itertools.count(1)  # thread names: zkpy-<n>-SendThread


class States(enum.Enum):
    """The client's connection state (Java's ``ZooKeeper.States``)."""

    CONNECTING = "CONNECTING"
    ASSOCIATING = "ASSOCIATING"
    CONNECTED = "CONNECTED"
    CONNECTEDREADONLY = "CONNECTEDREADONLY"
    CLOSED = "CLOSED"
    AUTH_FAILED = "AUTH_FAILED"
    NOT_CONNECTED = "NOT_CONNECTED"

    def is_alive(self) -> bool:
        return self not in (States.CLOSED, States.AUTH_FAILED)

    def is_connected(self) -> bool:
        return self in (States.CONNECTED, States.CONNECTEDREADONLY)


class ZooKeeperFuture(Future):
    """A ``concurrent.futures.Future`` whose done-callbacks run on the
    client's event thread, in server order (see the module docstring)."""

    def __init__(self, event_thread: "EventThread"):
        super().__init__()
        self._event_thread = event_thread
        self._cb_lock = threading.Lock()
        self._zk_callbacks: list = []
        self._delivered = False
        # Requests cannot be taken back once queued.
        self.set_running_or_notify_cancel()

    def add_done_callback(self, fn: Callable[["ZooKeeperFuture"], object]) -> None:
        with self._cb_lock:
            if not self._delivered:
                self._zk_callbacks.append(fn)
                return
        self._event_thread.queue_callback(fn, self)

    def _deliver(self) -> None:
        """On the event thread, at the reply's place: run the callbacks so far."""
        with self._cb_lock:
            callbacks, self._zk_callbacks = self._zk_callbacks, []
            self._delivered = True
        for fn in callbacks:
            _run_callback(fn, self)


def _run_callback(fn, future) -> None:
    try:
        fn(future)
    except Exception:  # noqa: BLE001 - a user callback must not kill the event thread
        LOG.exception("Error in a callback of %r", future)


class Packet:
    """One request and, later, its reply (Java's ``ClientCnxn.Packet``).

    ``on_reply(response)`` turns a successful reply into the future's value;
    ``on_error(err)`` (optional) may turn an error into a value (exists on a
    missing node) or return None to raise KeeperException(err, client_path).
    """

    __slots__ = (
        "header", "request", "response_cls", "response", "err", "zxid", "client_path",
        "watch_registration", "watch_deregistration", "future", "on_reply", "on_error",
    )

    def __init__(self, header: Optional[RequestHeader], request=None, response_cls=None,
                 client_path: Optional[str] = None, future: Optional[ZooKeeperFuture] = None,
                 on_reply: Optional[Callable] = None, on_error: Optional[Callable] = None,
                 watch_registration: Optional[WatchRegistration] = None,
                 watch_deregistration: Optional[WatchDeregistration] = None):
        self.header = header
        self.request = request
        self.response_cls = response_cls
        self.response = None
        self.err = 0
        self.zxid = -1
        self.client_path = client_path
        self.future = future
        self.on_reply = on_reply
        self.on_error = on_error
        self.watch_registration = watch_registration
        self.watch_deregistration = watch_deregistration

    def encode(self) -> bytearray:
        out = OutputArchive()
        out.write_int(0)  # the length, patched below
        if self.header is not None:
            self.header.serialize(out)
        if self.request is not None:
            self.request.serialize(out)
        buf = out.buf
        _LEN.pack_into(buf, 0, len(buf) - 4)
        return buf

    def __repr__(self) -> str:
        op = op_name(self.header.type) if self.header is not None else "connect"
        xid = self.header.xid if self.header is not None else None
        return f"<Packet {op} xid={xid} path={self.client_path!r} err={self.err}>"


class MultiRequest:
    """A MultiOperationRecord, written like a record: (type, record) pairs."""

    __slots__ = ("ops",)

    def __init__(self, ops: list[tuple[int, object]]):
        self.ops = ops

    def serialize(self, out: OutputArchive) -> None:
        write_multi_request(out, self.ops)


class MultiResponse:
    """Reads a MultiResponse into a list of (type, err, body)."""

    @staticmethod
    def deserialize(inp: InputArchive):
        return read_multi_response(inp)


class _ConnectRequestWithReadOnly:
    """ConnectRequest followed by the readOnly byte (ZK_SPEC.md §2.2)."""

    __slots__ = ("request", "read_only")

    def __init__(self, request, read_only: bool):
        self.request = request
        self.read_only = read_only

    def serialize(self, out: OutputArchive) -> None:
        self.request.serialize(out)
        out.write_bool(self.read_only)


class SessionExpiredError(IOError):
    """The server said the session is gone (ConnectResponse timeout <= 0)."""


class SessionTimeoutError(IOError):
    """Nothing heard from the server within the read (or connect) timeout."""


class EndOfStreamError(IOError):
    """The server closed the connection."""


class RWServerFoundError(IOError):
    """A read-write server was found while connected read-only."""


_DEATH = object()


class EventThread(threading.Thread):
    """Delivers watch events and done-callbacks, one at a time, in order."""

    def __init__(self, watch_manager: ZKWatchManager, name: str):
        super().__init__(name=name, daemon=True)
        self._watch_manager = watch_manager
        self._queue: "queue.SimpleQueue" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._session_state = KeeperState.Disconnected
        self._was_killed = False
        self._is_running = False
        self._pending = 0  # items queued and not yet taken

    def queue_event(self, event: WatchedEvent, materialized: Optional[list] = None) -> None:
        with self._lock:
            if event.type == EventType.None_:
                # Repeated session states are told once (Java's rule).
                if self._session_state == event.state:
                    return
                self._session_state = event.state
            if materialized is None:
                materialized = self._watch_manager.materialize(event.state, event.type, event.path)
            # Under the lock: two threads queueing events keep one order.
            self._pending += 1
            self._queue.put(("event", materialized, event))

    def queue_completion(self, future: ZooKeeperFuture) -> None:
        """The reply's place in the stream: run the future's callbacks there."""
        self._put_or_run(("completion", future))

    def queue_callback(self, fn, future) -> None:
        self._put_or_run(("callback", fn, future))

    def queue_event_of_death(self) -> None:
        self._put(_DEATH)

    def _put(self, item) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(item)

    def _put_or_run(self, item) -> None:
        with self._lock:
            run_now = self._was_killed and not self._is_running
            if not run_now:
                self._pending += 1
                self._queue.put(item)
        if run_now:  # the thread is gone: nobody else would run it
            self._process(item)

    def run(self) -> None:
        with self._lock:
            self._is_running = True
        while True:
            item = self._queue.get()
            with self._lock:
                self._pending -= 1
            if item is _DEATH:
                with self._lock:
                    self._was_killed = True
            else:
                self._process(item)
            with self._lock:
                if self._was_killed and self._pending == 0:
                    self._is_running = False
                    break
        LOG.debug("EventThread shut down")

    @staticmethod
    def _process(item) -> None:
        kind = item[0]
        if kind == "event":
            _, watchers, event = item
            for watcher in watchers:
                try:
                    watcher(event)
                except Exception:  # noqa: BLE001 - a watcher must not kill the event thread
                    LOG.exception("Error while calling watcher %r with %s", watcher, event)
        elif kind == "completion":
            item[1]._deliver()
        else:
            _run_callback(item[1], item[2])


class ClientCnxn:
    """The connection of one ZooKeeper handle (see the module docstring)."""

    def __init__(self, chroot: Optional[str], host_provider, session_timeout: int,
                 watch_manager: ZKWatchManager, session_id: int = 0, session_passwd: Optional[bytes] = None,
                 can_be_read_only: bool = False, max_packet_length: int = DEFAULT_MAX_PACKET_LENGTH,
                 name: Optional[str] = None, ssl_context: Optional[ssl.SSLContext] = None,
                 sasl: Optional[SaslCredentials] = None):
        self.chroot = chroot
        #: TLS for every connection of this client (None: plain TCP).
        self.ssl_context = ssl_context
        #: SASL credentials: every connection authenticates with them first (None: no SASL).
        self.sasl = sasl
        self.host_provider = host_provider
        self.session_timeout = session_timeout
        self.watch_manager = watch_manager
        self.session_id = session_id
        self.session_passwd = session_passwd if session_passwd is not None else bytes(16)
        self.read_only = can_be_read_only
        self.max_packet_length = max_packet_length
        self.negotiated_session_timeout = 0
        self.connect_timeout = session_timeout / max(1, host_provider.size())
        self.read_timeout = session_timeout * 2 / 3
        self.last_zxid = 0
        #: False until a read-write server accepted us: a session id from a
        #: read-only server is not valid elsewhere, so 0 is sent instead.
        self.seen_rw_server_before = False
        self.closing = False
        self.auth_info: list[tuple[str, bytes]] = []
        self._state = States.NOT_CONNECTED
        self._state_cond = threading.Condition()
        self._outgoing: collections.deque[Packet] = collections.deque()
        self._outgoing_lock = threading.Lock()
        self._xid = 1
        self._xid_lock = threading.Lock()
        name = name or f"zkpy-{next(_CLIENT_NUMBERS)}"
        self.event_thread = EventThread(watch_manager, name=f"{name}-EventThread")
        self.send_thread = SendThread(self, name=f"{name}-SendThread")
        self._set_state(States.CONNECTING)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.send_thread.start()
        self.event_thread.start()

    def close(self) -> None:
        """Close the session (closeSession, then stop the threads)."""
        LOG.debug("Closing client for session: 0x%x", self.session_id)
        try:
            packet = self.queue_packet(RequestHeader(0, OpCode.closeSession), future=self.new_future(),
                                       on_reply=lambda rsp: None)
            try:
                packet.future.result()
            except KeeperException as e:
                LOG.debug("closeSession of 0x%x: %s", self.session_id, e)
        finally:
            self.disconnect()

    def disconnect(self) -> None:
        """Stop the send thread (and, after its last events, the event thread)."""
        self.send_thread.close()
        if threading.current_thread() is not self.send_thread:
            self.send_thread.join()

    # -- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> States:
        return self._state

    def _set_state(self, new: States) -> None:
        with self._state_cond:
            if not self._state.is_alive() and new == States.CONNECTING:
                raise IOError("Connection has already been closed and reconnection is not allowed")
            self._state = new
            self._state_cond.notify_all()

    def wait_for_state(self, predicate: Callable[[States], bool], timeout: Optional[float]) -> bool:
        with self._state_cond:
            return self._state_cond.wait_for(lambda: predicate(self._state), timeout)

    # -- requests ---------------------------------------------------------------------------------

    def new_future(self) -> ZooKeeperFuture:
        return ZooKeeperFuture(self.event_thread)

    def get_xid(self) -> int:
        with self._xid_lock:
            # Negative xids are special (-1 notification, -2 ping, -4 auth ...).
            if self._xid == 0x7FFFFFFF:
                self._xid = 1
            xid = self._xid
            self._xid += 1
            return xid

    def submit(self, op_type: int, request, response_cls, client_path: Optional[str],
               on_reply: Callable, on_error: Optional[Callable] = None,
               watch_registration: Optional[WatchRegistration] = None,
               watch_deregistration: Optional[WatchDeregistration] = None) -> ZooKeeperFuture:
        """Queue a request; its future gets ``on_reply(response)``'s value."""
        packet = self.queue_packet(
            RequestHeader(0, op_type), request, response_cls, client_path, self.new_future(),
            on_reply, on_error, watch_registration, watch_deregistration)
        return packet.future

    def queue_packet(self, header: RequestHeader, request=None, response_cls=None,
                     client_path: Optional[str] = None, future: Optional[ZooKeeperFuture] = None,
                     on_reply: Optional[Callable] = None, on_error: Optional[Callable] = None,
                     watch_registration=None, watch_deregistration=None) -> Packet:
        packet = Packet(header, request, response_cls, client_path, future, on_reply, on_error,
                        watch_registration, watch_deregistration)
        with self._outgoing_lock:
            if not self._state.is_alive() or self.closing:
                self.con_loss_packet(packet)
            else:
                if header.type == OpCode.closeSession:
                    self.closing = True
                self._outgoing.append(packet)
        if self.closing:
            self.send_thread.interrupt_sleep()
        self.send_thread.wakeup()
        return packet

    def add_auth_info(self, scheme: str, auth: bytes, future: Optional[ZooKeeperFuture]) -> Packet:
        packet = Packet(RequestHeader(AUTH_XID, OpCode.auth), AuthPacket(0, scheme, auth), None, None,
                        future, on_reply=lambda rsp: None)
        with self._outgoing_lock:
            if not self._state.is_alive():
                self.con_loss_packet(packet)
                return packet
            self.auth_info.append((scheme, auth))
            self._outgoing.append(packet)
        self.send_thread.wakeup()
        return packet

    def con_loss_packet(self, packet: Packet) -> None:
        """Fail a packet that will get no reply; the error says why."""
        state = self._state
        if state == States.AUTH_FAILED:
            packet.err = Code.AUTHFAILED
        elif state == States.CLOSED:
            packet.err = Code.SESSIONEXPIRED
        else:
            packet.err = Code.CONNECTIONLOSS
        self.finish_packet(packet)

    def finish_packet(self, packet: Packet) -> None:
        """Register/unregister watches, then complete the packet's future."""
        err = packet.err
        if packet.watch_registration is not None:
            packet.watch_registration.register(err)
        if packet.watch_deregistration is not None:
            dereg = packet.watch_deregistration
            try:
                removed = dereg.unregister(err)
                for kind, watchers in removed.items():
                    if watchers:
                        state = KeeperState.SyncConnected
                        if err in (Code.SESSIONEXPIRED, Code.CONNECTIONLOSS):
                            state = KeeperState.Disconnected
                        self.event_thread.queue_event(WatchedEvent(kind, state, dereg.client_path), watchers)
                        # A local removal succeeds even without the server.
                        packet.err = Code.OK
            except NoWatcherException:
                packet.err = Code.NOWATCHER
            except KeeperException as e:
                packet.err = int(e.code)
        future = packet.future
        if future is None:
            return
        try:
            if packet.err != Code.OK:
                value = packet.on_error(packet.err) if packet.on_error is not None else None
                if value is None:
                    future.set_exception(KeeperException.create(packet.err, packet.client_path))
                else:
                    future.set_result(value.value if isinstance(value, _Value) else value)
            else:
                future.set_result(packet.on_reply(packet.response) if packet.on_reply else None)
        except BaseException as e:  # noqa: BLE001 - on_reply may raise (multi); the future carries it
            if not future.done():
                future.set_exception(e)
        self.event_thread.queue_completion(future)

    # -- helpers for the send thread ---------------------------------------------------------------

    def take_outgoing(self) -> Optional[Packet]:
        with self._outgoing_lock:
            return self._outgoing.popleft() if self._outgoing else None

    def has_outgoing(self) -> bool:
        return bool(self._outgoing)

    def push_front(self, packets: list[Packet]) -> None:
        with self._outgoing_lock:
            self._outgoing.extendleft(reversed(packets))

    def fail_outgoing(self) -> None:
        with self._outgoing_lock:
            packets = list(self._outgoing)
            self._outgoing.clear()
            for packet in packets:
                self.con_loss_packet(packet)

    def strip_chroot(self, server_path: Optional[str]) -> Optional[str]:
        chroot = self.chroot
        if chroot is None or server_path is None:
            return server_path
        if server_path == chroot:
            return "/"
        if server_path.startswith(chroot) and server_path[len(chroot)] == "/":
            return server_path[len(chroot):]
        # Outside the chroot (/zookeeper/config): keep it whole.
        return server_path


class _Value:
    """Wraps a legitimate None returned by ``on_error`` (exists: no node)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


NONE_RESULT = _Value(None)


class SendThread(threading.Thread):
    """Owns the socket: connects, writes requests, reads replies, pings."""

    def __init__(self, cnxn: ClientCnxn, name: str):
        super().__init__(name=name, daemon=True)
        self.cnxn = cnxn
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._close_event = threading.Event()
        self._sock: Optional[socket.socket] = None
        self._connecting = False
        self._handshaking = False
        self._handshake_want = selectors.EVENT_READ
        self._server_host: Optional[str] = None
        self._primed = False
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._interest = 0
        self._pending: collections.deque[Packet] = collections.deque()
        self._auth_pending: collections.deque[Packet] = collections.deque()
        #: This connection's SASL exchange and the xid of its last packet.
        self._sasl: Optional[ZooKeeperSaslClient] = None
        self._sasl_xid = 0
        self._is_first_connect = True
        self._last_send = self._last_heard = time.monotonic()
        self._rw_server: Optional[tuple[str, int]] = None
        self._ping_rw_timeout = MIN_PING_RW_TIMEOUT
        self._last_ping_rw = time.monotonic()
        self.remote_address: Optional[tuple] = None
        self.local_address: Optional[tuple] = None

    # -- control from other threads ------------------------------------------------------------------

    def wakeup(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (buffer full) or closed

    def interrupt_sleep(self) -> None:
        """Cut short a wait before reconnecting: the client is closing."""
        self._close_event.set()
        interrupt = getattr(self.cnxn.host_provider, "interrupt", None)
        if interrupt is not None:
            interrupt()

    def close(self) -> None:
        """Move to CLOSED and stop the loop (Java's SendThread.close)."""
        try:
            self.cnxn._set_state(States.CLOSED)
        except IOError:
            pass
        self.interrupt_sleep()
        self.wakeup()

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._loop()
        except BaseException:  # noqa: BLE001 - a bug here must not leave callers waiting forever
            LOG.exception("SendThread of session 0x%x failed", self.cnxn.session_id)
            with self.cnxn._state_cond:
                self.cnxn._state = States.CLOSED
                self.cnxn._state_cond.notify_all()
        finally:
            self._shutdown()

    def _loop(self) -> None:
        cnxn = self.cnxn
        server_address = None
        while cnxn.state.is_alive():
            try:
                if self._sock is None:
                    if cnxn.closing:
                        break
                    if self._rw_server is not None:
                        server_address, self._rw_server = self._rw_server, None
                    else:
                        server_address = cnxn.host_provider.next(1000)
                    if not cnxn.state.is_alive() or cnxn.closing:
                        break
                    self._start_connect(server_address)
                    self._last_send = self._last_heard = time.monotonic()
                now = time.monotonic()
                idle_recv = (now - self._last_heard) * 1000
                if cnxn.state.is_connected():
                    to = cnxn.read_timeout - idle_recv
                else:
                    to = cnxn.connect_timeout - idle_recv
                if to <= 0:
                    raise SessionTimeoutError(
                        f"Client session timed out, have not heard from server in {idle_recv:.0f}ms "
                        f"for session id 0x{cnxn.session_id:x}")
                if cnxn.state.is_connected():
                    idle_send = (now - self._last_send) * 1000
                    # The 1 s margin keeps a second ping from being missed.
                    to_next_ping = cnxn.read_timeout / 2 - idle_send - (1000 if idle_send > 1000 else 0)
                    if to_next_ping <= 0 or idle_send > MAX_SEND_PING_INTERVAL:
                        self._send_ping()
                        self._last_send = now
                    else:
                        to = min(to, to_next_ping)
                if cnxn.state == States.CONNECTEDREADONLY:
                    idle_rw = (now - self._last_ping_rw) * 1000
                    if idle_rw >= self._ping_rw_timeout:
                        self._last_ping_rw = now
                        idle_rw = 0
                        self._ping_rw_timeout = min(2 * self._ping_rw_timeout, MAX_PING_RW_TIMEOUT)
                        self._ping_rw_server()
                    to = min(to, self._ping_rw_timeout - idle_rw)
                self._do_transport(max(to, 0))
            except Exception as e:  # noqa: BLE001 - any failure means: drop this connection
                if cnxn.closing:
                    LOG.debug("Exception while closing send thread for session 0x%x: %s", cnxn.session_id, e)
                    break
                if isinstance(e, (OSError, JuteError)):
                    LOG.info("Session 0x%x for server %s, closing socket connection and attempting "
                             "reconnect: %s", cnxn.session_id, _fmt(server_address), e)
                else:
                    LOG.warning("Session 0x%x for server %s, unexpected error, closing socket connection "
                                "and attempting reconnect", cnxn.session_id, _fmt(server_address),
                                exc_info=True)
                self._clean_and_notify_state()

    def _shutdown(self) -> None:
        cnxn = self.cnxn
        self._cleanup()
        try:
            self._selector.close()
        finally:
            self._wake_r.close()
            self._wake_w.close()
        if cnxn.state.is_alive() and not cnxn.closing:
            cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, KeeperState.Disconnected, None))
        cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, KeeperState.Closed, None))
        cnxn.event_thread.queue_event_of_death()
        LOG.debug("SendThread exited loop for session: 0x%x", cnxn.session_id)

    # -- connecting ----------------------------------------------------------------------------------

    def _start_connect(self, address: tuple[str, int]) -> None:
        cnxn = self.cnxn
        if not self._is_first_connect:
            # Spread reconnecting clients out, as Java does (0-1 s).
            if self._close_event.wait(random.random()):
                raise IOError("closing")
        cnxn._set_state(States.CONNECTING)
        LOG.info("Opening socket connection to server %s", _fmt(address))
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = sock.connect_ex((host, port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._server_host = host
        self._inbuf.clear()
        self._outbuf.clear()
        self._primed = False
        self._interest = 0
        if rc == 0:
            self._connecting = False
            self._on_tcp_connected()
        elif rc in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            self._connecting = True
        else:
            raise ConnectionError(rc, f"{errno.errorcode.get(rc, rc)} connecting to {_fmt(address)}")

    def _on_tcp_connected(self) -> None:
        try:
            self.remote_address = self._sock.getpeername()
            self.local_address = self._sock.getsockname()
        except OSError:
            pass
        self._last_send = self._last_heard = time.monotonic()
        context = self.cnxn.ssl_context
        if context is None:
            self._prime_connection()
            return
        # The SSLSocket takes over the descriptor: register it afresh.
        if self._interest:
            self._selector.unregister(self._sock)
            self._interest = 0
        self._sock = context.wrap_socket(self._sock, server_hostname=self._server_host,
                                         do_handshake_on_connect=False)
        self._handshaking = True
        self._do_handshake()

    def _do_handshake(self) -> None:
        """One step of the TLS handshake; primes the connection when it is done."""
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            self._handshake_want = selectors.EVENT_READ
            return
        except ssl.SSLWantWriteError:
            self._handshake_want = selectors.EVENT_WRITE
            return
        self._handshaking = False
        LOG.debug("TLS handshake with %s done (%s)", _fmt(self.remote_address), self._sock.version())
        self._prime_connection()

    def _prime_connection(self) -> None:
        """Queue the handshake, then credentials and watches, ahead of requests."""
        cnxn = self.cnxn
        LOG.info("Socket connection established, initiating session, client: %s, server: %s",
                 _fmt(self.local_address), _fmt(self.remote_address))
        self._is_first_connect = False
        session_id = cnxn.session_id if cnxn.seen_rw_server_before else 0
        request = ConnectRequest(0, cnxn.last_zxid, cnxn.session_timeout, session_id, cnxn.session_passwd)
        connect = Packet(None, _ConnectRequestWithReadOnly(request, cnxn.read_only))
        front: list[Packet] = []
        with cnxn._outgoing_lock:
            auth_info = list(cnxn.auth_info)
        for scheme, auth in auth_info:
            front.append(Packet(RequestHeader(AUTH_XID, OpCode.auth), AuthPacket(0, scheme, auth)))
        if not cnxn.watch_manager.disable_auto_watch_reset:
            front.extend(self._set_watches_packets())
        cnxn.push_front(front)
        self._outbuf += connect.encode()
        self._flush()

    def _set_watches_packets(self) -> list[Packet]:
        wm = self.cnxn.watch_manager
        prepend = self._prepend_chroot
        lists = [
            [prepend(p) for p in wm.get_data_watch_list()],
            [prepend(p) for p in wm.get_exist_watch_list()],
            [prepend(p) for p in wm.get_child_watch_list()],
            [prepend(p) for p in wm.get_persistent_watch_list()],
            [prepend(p) for p in wm.get_persistent_recursive_watch_list()],
        ]
        packets = []
        positions = [0] * 5
        while any(positions[i] < len(lists[i]) for i in range(5)):
            batch: list[list[str]] = [[], [], [], [], []]
            length = 0
            # Like Java, a batch may overshoot by its last path.
            while length < SET_WATCHES_MAX_LENGTH:
                for i in range(5):
                    if positions[i] < len(lists[i]):
                        path = lists[i][positions[i]]
                        positions[i] += 1
                        batch[i].append(path)
                        length += len(path)
                        break
                else:
                    break
            zxid = self.cnxn.last_zxid
            if not batch[3] and not batch[4]:
                record, op = SetWatches(zxid, batch[0], batch[1], batch[2]), OpCode.setWatches
            else:
                record, op = SetWatches2(zxid, *batch), OpCode.setWatches2
            # The xid is replaced by a normal one when sent, as Java's client does.
            packets.append(Packet(RequestHeader(SET_WATCHES_XID, op), record))
        return packets

    def _prepend_chroot(self, path: str) -> str:
        chroot = self.cnxn.chroot
        if chroot is None:
            return path
        return chroot if path == "/" else chroot + path

    def _read_connect_result(self, frame: bytes) -> None:
        inp = InputArchive(frame, max_buffer=self.cnxn.max_packet_length)
        response = ConnectResponse.deserialize(inp)
        is_ro = False
        try:
            is_ro = inp.read_bool()
        except JuteError:
            LOG.warning("Connected to an old server; r-o mode will be unavailable")
        self._primed = True
        self._on_connected(response.timeOut, response.sessionId, response.passwd, is_ro)

    def _on_connected(self, negotiated: int, session_id: int, passwd: bytes, is_ro: bool) -> None:
        cnxn = self.cnxn
        cnxn.negotiated_session_timeout = negotiated
        if negotiated <= 0:
            cnxn._set_state(States.CLOSED)
            cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, KeeperState.Expired, None))
            raise SessionExpiredError(
                f"Unable to reconnect to ZooKeeper service, session 0x{cnxn.session_id:x} has expired")
        if not cnxn.read_only and is_ro:
            LOG.error("Read/write client got connected to read-only server")
        cnxn.read_timeout = negotiated * 2 / 3
        cnxn.connect_timeout = negotiated / max(1, cnxn.host_provider.size())
        cnxn.host_provider.on_connected()
        cnxn.session_id = session_id
        cnxn.session_passwd = passwd
        cnxn._set_state(States.CONNECTEDREADONLY if is_ro else States.CONNECTED)
        cnxn.seen_rw_server_before |= not is_ro
        LOG.info("Session establishment complete on server %s, session id = 0x%x, negotiated timeout = %d%s",
                 _fmt(self.remote_address), session_id, negotiated, " (READ-ONLY mode)" if is_ro else "")
        state = KeeperState.ConnectedReadOnly if is_ro else KeeperState.SyncConnected
        cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, state, None))
        if cnxn.sasl is not None:
            # A fresh exchange per connection: the server forgets ids with the connection.
            self._sasl = ZooKeeperSaslClient(cnxn.sasl)
            self._send_sasl_token(self._sasl.initial_token())

    # -- SASL -----------------------------------------------------------------------------------------

    def _send_sasl_token(self, token: bytes) -> None:
        """Write a SASL packet ahead of everything queued (Java: ``sendPacket``)."""
        self._sasl_xid = self.cnxn.get_xid()
        self._outbuf += Packet(RequestHeader(self._sasl_xid, OpCode.sasl), GetSASLRequest(token)).encode()
        self._flush()

    def _read_sasl_response(self, reply: ReplyHeader, inp: InputArchive) -> None:
        cnxn = self.cnxn
        sasl = self._sasl
        if reply.xid != self._sasl_xid:
            raise IOError(f"Xid out of order during SASL authentication. Got Xid {reply.xid}, "
                          f"expected Xid {self._sasl_xid}")
        token = None
        try:
            token = SetSASLResponse.deserialize(inp).token
        except JuteError:
            if reply.err == 0:
                raise
        next_token = sasl.respond_to_server(reply.err, token)
        if next_token is not None:
            self._send_sasl_token(next_token)
        elif sasl.state is SaslState.COMPLETE:
            cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, KeeperState.SaslAuthenticated, None))
            # What waited for the exchange may go now.
            self._fill_outbuf()
            self._flush()
        else:
            cnxn._set_state(States.AUTH_FAILED)
            cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, KeeperState.AuthFailed, None))

    # -- I/O ------------------------------------------------------------------------------------------

    def _do_transport(self, timeout_ms: float) -> None:
        sock = self._sock
        if self._primed:
            self._fill_outbuf()
            self._flush()
        if self._handshaking:
            want = self._handshake_want
        else:
            want = selectors.EVENT_WRITE if self._connecting else selectors.EVENT_READ
            if self._outbuf:
                want |= selectors.EVENT_WRITE
        if want != self._interest:
            if self._interest:
                self._selector.modify(sock, want)
            else:
                self._selector.register(sock, want)
            self._interest = want
        for key, mask in self._selector.select(timeout_ms / 1000.0):
            if key.data == "wake":
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                continue
            if self._connecting:
                if mask & selectors.EVENT_WRITE:
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise ConnectionError(err, f"{errno.errorcode.get(err, err)} connecting")
                    self._connecting = False
                    self._on_tcp_connected()
                continue
            if self._handshaking:
                self._do_handshake()
                continue
            if mask & selectors.EVENT_READ:
                self._do_read()
            if mask & selectors.EVENT_WRITE and self._sock is not None:
                self._flush()

    def _fill_outbuf(self) -> None:
        """Encode queued packets (assigning xids) into the output buffer."""
        cnxn = self.cnxn
        if self._sasl is not None and self._sasl.in_progress:
            return  # only SASL packets until the exchange ends
        while len(self._outbuf) < 65536:
            packet = cnxn.take_outgoing()
            if packet is None:
                return
            header = packet.header
            if header.type not in (OpCode.ping, OpCode.auth):
                header.xid = cnxn.get_xid()
            self._outbuf += packet.encode()
            if header.type == OpCode.auth:
                self._auth_pending.append(packet)
            elif header.type != OpCode.ping:
                self._pending.append(packet)

    def _flush(self) -> None:
        if not self._outbuf or self._sock is None or self._connecting or self._handshaking:
            return
        try:
            sent = self._sock.send(self._outbuf)
        except _WOULD_BLOCK:
            # TLS: the next try offers the same bytes again (the buffer only grows), as OpenSSL requires.
            return
        if sent:
            del self._outbuf[:sent]
            self._last_send = time.monotonic()

    def _do_read(self) -> None:
        try:
            data = self._sock.recv(262144)
            if data and isinstance(self._sock, ssl.SSLSocket):
                # Bytes OpenSSL has already decrypted wake no selector.
                while self._sock.pending():
                    data += self._sock.recv(262144)
        except _WOULD_BLOCK:
            return
        if not data:
            raise EndOfStreamError(
                f"Unable to read additional data from server sessionid 0x{self.cnxn.session_id:x}, "
                "likely server has closed socket")
        buf = self._inbuf
        buf += data
        pos = 0
        try:
            while len(buf) - pos >= 4:
                (length,) = _LEN.unpack_from(buf, pos)
                if length < 0 or length >= self.cnxn.max_packet_length:
                    raise IOError(f"Packet len {length} is out of range!")
                if len(buf) - pos - 4 < length:
                    break
                frame = bytes(buf[pos + 4:pos + 4 + length])
                pos += 4 + length
                self._last_heard = time.monotonic()
                if not self._primed:
                    self._read_connect_result(frame)
                    # Requests may go now that the session is established.
                    self._fill_outbuf()
                    self._flush()
                else:
                    self._read_response(frame)
                if not self.cnxn.state.is_alive():
                    break
        finally:
            del buf[:pos]

    def _read_response(self, frame: bytes) -> None:
        cnxn = self.cnxn
        inp = InputArchive(frame, max_buffer=cnxn.max_packet_length)
        reply = ReplyHeader.deserialize(inp)
        xid = reply.xid
        if xid == PING_XID:
            return
        if xid == AUTH_XID:
            packet = self._auth_pending.popleft() if self._auth_pending else None
            if reply.err == Code.AUTHFAILED:
                cnxn._set_state(States.AUTH_FAILED)
                cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, KeeperState.AuthFailed, None))
            if packet is not None:
                packet.err = reply.err
                cnxn.finish_packet(packet)
            return
        if xid == NOTIFICATION_XID:
            event = WatcherEvent.deserialize(inp)
            path = cnxn.strip_chroot(event.path)
            cnxn.event_thread.queue_event(WatchedEvent.from_wire(event.type, event.state, path))
            return
        if self._sasl is not None and self._sasl.in_progress:
            self._read_sasl_response(reply, inp)
            return
        if not self._pending:
            raise IOError(f"Nothing in the queue, but got {xid}")
        packet = self._pending.popleft()
        if packet.header.xid != xid:
            packet.err = Code.CONNECTIONLOSS
            cnxn.finish_packet(packet)
            raise IOError(f"Xid out of order. Got Xid {xid} with err {reply.err} expected Xid "
                          f"{packet.header.xid} for a packet with details: {packet!r}")
        packet.err = reply.err
        packet.zxid = reply.zxid
        if reply.zxid > 0:
            cnxn.last_zxid = reply.zxid
        if packet.response_cls is not None and reply.err == 0:
            try:
                packet.response = packet.response_cls.deserialize(inp)
            except JuteError:
                packet.err = Code.MARSHALLINGERROR
                cnxn.finish_packet(packet)
                raise
        cnxn.finish_packet(packet)

    def _send_ping(self) -> None:
        with self.cnxn._outgoing_lock:
            self.cnxn._outgoing.append(Packet(RequestHeader(PING_XID, OpCode.ping)))

    def _ping_rw_server(self) -> None:
        address = self.cnxn.host_provider.next(0)
        LOG.info("Checking server %s for being r/w. Timeout %d", _fmt(address), self._ping_rw_timeout)
        result = None
        try:
            with socket.create_connection(address, timeout=1.0) as raw:
                context = self.cnxn.ssl_context
                sock = raw if context is None else context.wrap_socket(raw, server_hostname=address[0])
                sock.settimeout(1.0)
                sock.sendall(b"isro")
                sock.shutdown(socket.SHUT_WR)
                data = b""
                while b"\n" not in data:
                    chunk = sock.recv(64)
                    if not chunk:
                        break
                    data += chunk
                result = data.split(b"\n", 1)[0].decode("ascii", "replace")
        except ConnectionRefusedError:
            pass  # that server is not up
        except OSError as e:
            LOG.warning("Exception while seeking for r/w server: %s", e)
        if result == "rw":
            self._ping_rw_timeout = MIN_PING_RW_TIMEOUT
            self._rw_server = address
            raise RWServerFoundError(f"Majority server found at {_fmt(address)}")

    # -- failure ----------------------------------------------------------------------------------------

    def _cleanup(self) -> None:
        """Close the socket and fail every request that can get no reply."""
        sock = self._sock
        if sock is not None:
            if self._interest:
                try:
                    self._selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
            try:
                sock.close()
            except OSError:
                pass
        self._sock = None
        self._connecting = False
        self._handshaking = False
        self._primed = False
        self._sasl = None
        self._interest = 0
        self._inbuf.clear()
        self._outbuf.clear()
        cnxn = self.cnxn
        while self._pending:
            cnxn.con_loss_packet(self._pending.popleft())
        while self._auth_pending:
            cnxn.con_loss_packet(self._auth_pending.popleft())
        cnxn.fail_outgoing()

    def _clean_and_notify_state(self) -> None:
        self._cleanup()
        if self.cnxn.state.is_alive():
            try:
                # Java stays CONNECTED until the next attempt starts; say so now.
                self.cnxn._set_state(States.CONNECTING)
            except IOError:
                return  # closed meanwhile
            self.cnxn.event_thread.queue_event(WatchedEvent(EventType.None_, KeeperState.Disconnected, None))
        self._last_send = self._last_heard = time.monotonic()


def _fmt(address) -> str:
    if not address:
        return str(address)
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
