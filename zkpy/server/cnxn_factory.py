"""Client connections: one selector thread for every socket.

Java: ``NIOServerCnxnFactory`` (accept and selector threads) and
``NIOServerCnxn``. One thread accepts, reads and writes with ``selectors``;
thousands of sessions do not mean thousands of threads. Complete frames
are handed to the ZooKeeperServer on that thread; a reply is written by
the thread that produces it straight to the non-blocking socket, or by the
selector thread when a processor thread's batch holds several connections
(:class:`reply_batch`), and what does not fit waits in the connection's
queue for the selector, up to ``max_outgoing_bytes``: a client that does
not read its replies is disconnected there (Java's NIO server queues without
bound). Real closes happen on the selector thread only.

Replies are batched: inside a ``reply_batch()`` scope (the selector thread
around each wake-up, the Sync/Commit threads around each group of requests)
a thread queues what it produces per connection and, when the scope ends,
each connection's share goes out with one ``send()``: written by the
thread itself, or by the selector thread when a processor thread's batch
holds several connections. Java's selector thread likewise writes queued
replies in bulk; one system call per reply was the largest single cost of
a busy zkpy server.

The factory outlives a role's server: ``set_zk_server`` hands it a new
one, and while there is none it still answers four-letter words.

TLS (the ``secureClientPort``): the same class, given an ``ssl_context``.
Java needs ``NettyServerCnxnFactory`` for TLS; zkpy keeps one selector
design for both ports, because the only differences are where bytes are
read and written: each accepted socket is wrapped (non-blocking,
``do_handshake_on_connect=False``) and the handshake is stepped on the
selector thread whenever the socket is ready, so a client that stalls in
its handshake holds no thread (the sessionless-connection sweep closes it).
After the handshake, as Java's ``CertificateVerifier``, a client
certificate is handed to the x509 provider (``zookeeper.ssl.authProvider``),
whose id joins the connection's auth info; a failure closes the connection.
An OpenSSL connection must not be read and written by two threads at once,
so TLS reads take the connection's output lock, which writes hold anyway.
A plain and a secure factory can serve the same ZooKeeperServer together.
"""

from __future__ import annotations

import collections
import logging
import selectors
import socket
import ssl
import struct
import threading
import time

from ..defs import NOTIFICATION_XID, KeeperState
from ..jute.archive import JuteError, OutputArchive
from ..jute.records import ReplyHeader, WatcherEvent
from . import four_letter
from .session_tracker import now_ms

LOG = logging.getLogger(__name__)

_LEN = struct.Struct(">i")
_MASK64 = (1 << 64) - 1
_RECV_SIZE = 65536
#: A non-blocking send or recv that could not proceed (plain or TLS).
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

#: Per thread: the connections whose replies wait for the end of the
#: thread's reply batch (``cnxns`` is None outside a batch);
#: ``on_selector`` is set on selector threads.
_batch = threading.local()
_batch.cnxns = None


def _current_batch():
    return getattr(_batch, "cnxns", None)


class reply_batch:
    """A scope in which this thread's replies are queued per connection and
    written with one ``send()`` per connection when the scope ends. Nested
    scopes join the outermost one.

    On a selector thread, or for a single connection, the scope's thread
    writes. Otherwise it hands the connections to their selector thread,
    with one wake-up (as Java's processor threads hand replies to the
    selector): every ``send()`` lets go of the GIL, and on a busy server
    a processor thread waited for it again after each one, milliseconds
    per batch with the apply of the next commits waiting behind it."""

    __slots__ = ("_outermost",)

    def __enter__(self) -> None:
        self._outermost = _current_batch() is None
        if self._outermost:
            _batch.cnxns = []

    def __exit__(self, *exc) -> None:
        if self._outermost:
            cnxns = _batch.cnxns
            _batch.cnxns = None
            if len(cnxns) > 1 and not getattr(_batch, "on_selector", False):
                by_factory: dict = {}
                for cnxn in cnxns:
                    by_factory.setdefault(cnxn.factory, []).append(cnxn)
                for factory, group in by_factory.items():
                    factory.request_flush(group)
                return
            for cnxn in cnxns:
                cnxn.flush_batched()


class NIOServerCnxn:
    """One client connection (Java: NIOServerCnxn)."""

    def __init__(self, factory: "NIOServerCnxnFactory", sock: socket.socket, addr):
        self.factory = factory
        self.sock = sock
        self.remote = f"{addr[0]}:{addr[1]}"
        self.client_ip = addr[0]
        self.client_port = addr[1]
        self.inbuf = bytearray()
        self._out: collections.deque[bytes] = collections.deque()
        self._out_lock = threading.Lock()
        self._out_bytes = 0  # bytes in _out, capped by factory.max_outgoing_bytes
        self._overflowed = False
        #: The socket took less than offered: the selector writes the rest.
        self._blocked = False
        #: Some thread's reply batch holds output of this connection.
        self._batched = False
        #: Requests of this connection handed to the processor chain, and
        #: those Final has answered; equal when nothing is in flight. Each
        #: counter has one writer (the selector thread; the Final thread).
        self.requests_submitted = 0
        self.requests_done = 0
        self.initialized = False
        self.paused = False
        self.closing = False
        self.closed = False
        self.session_id = 0
        self.session_timeout = 0
        self.is_old_client = False
        self.can_be_read_only = False
        self.auth_info = []
        from ..jute.records import Id
        self.auth_info.append(Id("ip", self.client_ip))
        self.owner = self  # Java's cnxn "owner" for SESSIONMOVED checks
        self.established = time.time()
        self.created = time.monotonic()
        self.last_active_ms = now_ms()  # for the dump 4lw's connection buckets
        self.outstanding = 0  # requests read and not answered yet (Java: outstandingCount)
        self.packets_received = 0
        self.packets_sent = 0
        self.last_op = "NA"
        self.last_cxid = -1
        self.last_zxid = -1
        self.last_response_time = 0
        self.last_latency = 0
        self.min_latency = None
        self.max_latency = 0
        self.total_latency = 0
        self.latency_count = 0
        self.throttled = False
        #: TLS: the socket is an SSLSocket; ``handshaking`` until its handshake is done.
        self.secure = False
        self.handshaking = False
        self.handshake_want = selectors.EVENT_READ
        #: TLS: the client's certificate (DER), when it sent one.
        self.client_certificate: bytes | None = None
        #: The SASL exchange of this connection (made on its first SASL packet).
        self.sasl_server = None

    # -- identity used by watch tables ---------------------------------------------------
    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"NIOServerCnxn({self.remote}, session=0x{self.session_id & _MASK64:x})"

    # -- output -----------------------------------------------------------------------------
    def send_payload(self, payload: bytes) -> None:
        """Frame and send one packet (the ConnectResponse)."""
        self.packets_sent += 1
        self.factory.packet_sent()
        self.send_buffer(_LEN.pack(len(payload)) + payload)

    def send_buffer(self, data: bytes) -> None:
        if self.closed or self._overflowed:
            return
        batch = _current_batch()
        with self._out_lock:
            if batch is None and not self._out:
                sent = self._send_now(data)
                if sent < 0 or sent == len(data):
                    return
                data = data[sent:]
                self._blocked = True
            self._out.append(data)
            self._out_bytes += len(data)
            if self._out_bytes > self.factory.max_outgoing_bytes:
                self._drop_output()
                return
            if batch is not None:
                if not self._batched:
                    self._batched = True
                    batch.append(self)
                return
        self.factory.request_write(self)

    def _send_now(self, data: bytes) -> int:
        """One non-blocking send under ``_out_lock``: the bytes taken, or -1
        when the connection failed (its close is requested)."""
        try:
            return self.sock.send(data)
        except _WOULD_BLOCK:
            # TLS: the retry must offer the same bytes again (OpenSSL's rule).
            return 0
        except OSError as e:
            LOG.debug("send to %s failed: %s", self.remote, e)
            self._out.clear()
            self._out_bytes = 0
            self.factory.request_close(self)
            return -1

    def flush_batched(self) -> None:
        """The end of a reply batch: write what is queued, in one send."""
        with self._out_lock:
            self._batched = False
            if self._blocked or not self._out or self.closed:
                return  # the selector is already writing, or nothing to do
            out = self._out
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            sent = self._send_now(data)
            if sent < 0:
                return
            if sent == len(data):
                self._out_bytes = 0
                return
            out.append(data[sent:])
            self._out_bytes = len(data) - sent
            self._blocked = True
        self.factory.request_write(self)

    def _drop_output(self) -> None:
        """A client that does not read its replies: drop them and the
        connection (not the session) rather than queue without bound.
        Java's NIO server has no such cap. Called with _out_lock held."""
        LOG.warning("Closing connection from %s (session 0x%x): %d bytes of replies not read, more than %d",
                    self.remote, self.session_id & _MASK64, self._out_bytes, self.factory.max_outgoing_bytes)
        self._overflowed = True
        self._out.clear()
        self._out_bytes = 0
        self.closing = True
        self.factory.request_close(self)

    def send_response(self, header: ReplyHeader, body=None) -> None:
        out = OutputArchive()
        out.write_int(0)  # length, filled in below
        header.serialize(out)
        if body is not None:
            body.serialize(out)
        buf = out.buf
        _LEN.pack_into(buf, 0, len(buf) - 4)
        if header.xid > 0 and self.outstanding > 0:
            self.outstanding -= 1
        self.packets_sent += 1
        self.factory.packet_sent(len(buf) - 4)
        self.send_buffer(bytes(buf))

    def process(self, event, acl=None) -> None:
        """Deliver a watch event, unless this connection may not READ a node
        with ``acl`` (Java 3.8.4: ServerCnxn.process(WatchedEvent, List<ACL>))."""
        if acl is not None:
            zks = self.factory.zks
            if zks is not None and not zks.may_read(acl, self.auth_info):
                return
        self.process_event(event.type, event.path, event.state)

    def process_event(self, event_type: int, path: str, state: int = KeeperState.SyncConnected) -> None:
        self.send_response(ReplyHeader(NOTIFICATION_XID, -1, 0), WatcherEvent(int(event_type), int(state), path))

    def flush_some(self) -> bool:
        """Write queued output (selector thread); True when all is written."""
        with self._out_lock:
            while self._out:
                data = self._out[0]
                try:
                    sent = self.sock.send(data)
                except _WOULD_BLOCK:
                    self._blocked = True
                    return False
                except OSError:
                    self._out.clear()
                    self._out_bytes = 0
                    self._blocked = False
                    return True
                self._out_bytes -= sent
                if sent < len(data):
                    self._out[0] = data[sent:]
                    self._blocked = True
                    return False
                self._out.popleft()
            self._blocked = False
            return True

    def has_output(self) -> bool:
        with self._out_lock:
            return bool(self._out)

    # -- input control ------------------------------------------------------------------------
    def pause_recv(self) -> None:
        self.paused = True

    def resume_recv(self) -> None:
        self.paused = False
        self.factory.request_resume(self)

    def close(self, reason: str = "") -> None:
        """Close after what is queued has been written."""
        if not self.closing:
            LOG.debug("closing %r: %s", self, reason)
        self.closing = True
        self.factory.request_close(self)

    # -- stats ----------------------------------------------------------------------------------
    def update_stats(self, request, op: str, zxid: int) -> None:
        self.last_op = op
        self.last_cxid = request.cxid
        self.last_zxid = zxid
        now = time.monotonic()
        latency = int((now - request.create_time) * 1000)
        self.last_response_time = now_ms()  # Java: Time.currentElapsedTime()
        self.last_latency = latency
        if self.min_latency is None or latency < self.min_latency:
            self.min_latency = latency
        self.max_latency = max(self.max_latency, latency)
        self.total_latency += latency
        self.latency_count += 1

    def reset_stats(self) -> None:
        """What ``crst`` does to each connection (Java: ServerCnxn.resetStats)."""
        self.packets_received = self.packets_sent = 0
        self.min_latency, self.max_latency, self.total_latency, self.latency_count = None, 0, 0, 0
        self.last_op, self.last_cxid, self.last_zxid = "NA", -1, -1
        self.last_response_time = self.last_latency = 0

    def queued_count(self) -> int:
        with self._out_lock:
            return len(self._out)

    def interest_ops(self) -> int:
        """Java's SelectionKey interest ops: 1 = read, 4 = write, 0 = neither
        (a closing connection, e.g. the one running a four-letter word)."""
        if self.closing or self.closed:
            return 0
        ops = 0 if (self.paused or self.throttled) else 1
        return ops | 4 if self.has_output() else ops


class NIOServerCnxnFactory:
    """Accepts clients and moves their bytes (Java: NIOServerCnxnFactory)."""

    def __init__(self, host: str, port: int, *, max_client_cnxns: int = 60, max_buffer: int = 0xFFFFF,
                 sessionless_timeout_ms: int = 10000, listen_backlog: int = -1, four_letter_whitelist=None,
                 max_cnxns: int = 0, ssl_context: ssl.SSLContext | None = None,
                 x509_auth_provider: str = "x509", sasl_login=None):
        #: The server-side TLS context of a secure port (None: plain).
        self.ssl_context = ssl_context
        self.secure = ssl_context is not None
        #: The scheme whose provider names client certificates (``zookeeper.ssl.authProvider``).
        self.x509_auth_provider = x509_auth_provider
        #: The SASL login (:class:`zkpy.server.sasl.jaas.SaslLogin`), None without JAAS.
        self.sasl_login = sasl_login
        self.max_client_cnxns = max_client_cnxns
        #: ``zookeeper.maxCnxns``: all connections together; 0 = no limit.
        self.max_cnxns = max_cnxns
        self.max_buffer = max_buffer
        #: Replies queued for one connection beyond this close it (a client that does not read).
        self.max_outgoing_bytes = max(16 << 20, 4 * max_buffer)
        self.sessionless_timeout = sessionless_timeout_ms / 1000.0
        self.four_letter_whitelist = four_letter_whitelist
        self.listen_backlog = listen_backlog
        self.zks = None
        #: The QuorumPeer this factory serves in an ensemble (set by the peer), else None.
        self.quorum_peer = None
        self.cnxns: set[NIOServerCnxn] = set()
        self.session_map: dict[int, NIOServerCnxn] = {}
        self._per_ip: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._pending: collections.deque[tuple[str, NIOServerCnxn]] = collections.deque()
        self._throttled: list[NIOServerCnxn] = []
        self._selector = selectors.DefaultSelector()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = socket.socket(family, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((host, port))
        self._server.listen(listen_backlog if listen_backlog > 0 else 128)
        self._server.setblocking(False)
        self.local_address = self._server.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._server, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._running = False
        self._thread = threading.Thread(
            target=self._run, daemon=True,
            name="NIOServerCxnFactory.SecureSelectorThread" if self.secure else "NIOServerCxnFactory.SelectorThread")
        self.packets_sent = 0
        self.packets_received = 0

    @property
    def port(self) -> int:
        return self.local_address[1]

    def set_zk_server(self, zks) -> None:
        self.zks = zks
        if zks is not None:
            if self.secure:
                zks.secure_cnxn_factory = self
            else:
                zks.cnxn_factory = self

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def shutdown(self) -> None:
        self._running = False
        self._wakeup()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)
        for cnxn in list(self.cnxns):
            self._really_close(cnxn)
        try:
            self._server.close()
        finally:
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def packet_sent(self, response_size: int | None = None) -> None:
        """Count one packet sent; ``response_size`` for a reply (not the
        ConnectResponse nor four-letter output), as Java's serialize() does."""
        self.packets_sent += 1
        zks = self.zks
        if zks is not None:
            zks.stats.packet_sent()
            if response_size is not None:
                zks.stats.update_client_response_size(response_size)

    def packet_received(self, cnxn: NIOServerCnxn) -> None:
        cnxn.packets_received += 1
        self.packets_received += 1
        zks = self.zks
        if zks is not None:
            zks.stats.packet_received()

    def reset_all_connection_stats(self) -> None:
        """``crst`` (Java: ServerCnxnFactory.resetAllConnectionStats)."""
        for cnxn in self.connections():
            cnxn.reset_stats()

    # -- requests from other threads ---------------------------------------------------------
    def _wakeup(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    def request_write(self, cnxn: NIOServerCnxn) -> None:
        self._pending.append(("write", cnxn))
        self._wakeup()

    def request_flush(self, cnxns: list) -> None:
        """Write these connections' batched replies (see :class:`reply_batch`)."""
        self._pending.extend(("flush", cnxn) for cnxn in cnxns)
        self._wakeup()

    def request_resume(self, cnxn: NIOServerCnxn) -> None:
        self._pending.append(("resume", cnxn))
        self._wakeup()

    def request_close(self, cnxn: NIOServerCnxn) -> None:
        self._pending.append(("close", cnxn))
        self._wakeup()

    def reconfigure(self, host: str, port: int) -> bool:
        """Listen on ``(host, port)`` instead (Java: NIOServerCnxnFactory.reconfigure,
        after a reconfig moved this peer's client address). Connections
        already open stay; on a bind error the old address stays, logged."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        try:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((host, port))
            server.listen(self.listen_backlog if self.listen_backlog > 0 else 128)
            server.setblocking(False)
        except OSError as e:
            server.close()
            LOG.error("Error reconfiguring client port to %s:%d: %s", host, port, e)
            return False
        LOG.info("Reconfiguring client port from %s:%d to %s:%d", *self.local_address, host, port)
        self._pending.append(("rebind", server))
        self._wakeup()
        return True

    def _rebind(self, server: socket.socket) -> None:
        """Selector thread: swap the listening socket."""
        old = self._server
        try:
            self._selector.unregister(old)
        except (KeyError, ValueError):
            pass
        old.close()
        self._server = server
        self.local_address = server.getsockname()[:2]
        self._selector.register(server, selectors.EVENT_READ, None)

    def register_session(self, cnxn: NIOServerCnxn) -> None:
        with self._lock:
            self.session_map[cnxn.session_id] = cnxn

    def close_session(self, session_id: int, except_cnxn: NIOServerCnxn | None = None) -> None:
        """Close the connection that holds ``session_id`` (if any other than ``except_cnxn``)."""
        with self._lock:
            cnxn = self.session_map.get(session_id)
            if cnxn is not None and cnxn is not except_cnxn:
                del self.session_map[session_id]
            else:
                cnxn = None
        if cnxn is not None:
            cnxn.close("session closed")

    def close_all(self, reason: str) -> None:
        for cnxn in list(self.cnxns):
            cnxn.close(reason)

    def connections(self) -> list[NIOServerCnxn]:
        return [c for c in list(self.cnxns) if not c.closed]

    # -- the selector thread ---------------------------------------------------------------------
    def _run(self) -> None:
        _batch.on_selector = True
        select = self._selector.select
        last_sweep = time.monotonic()
        while self._running:
            timeout = 0.01 if self._throttled else 1.0
            try:
                events = select(timeout)
            except OSError as e:
                LOG.warning("select failed: %s", e)
                continue
            with reply_batch():
                self._handle_events(events)
                self._process_pending()
                if self._throttled and not self._should_throttle():
                    for cnxn in self._throttled:
                        cnxn.throttled = False
                        self._update_interest(cnxn)
                        if not cnxn.closed:
                            self._process_input(cnxn)
                    self._throttled.clear()
            now = time.monotonic()
            if now - last_sweep > 0.5:
                last_sweep = now
                self._sweep_sessionless(now)

    def _handle_events(self, events) -> None:
        for key, mask in events:
            fileobj = key.fileobj
            if fileobj is self._server:
                self._accept()
            elif fileobj is self._wake_r:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
            else:
                cnxn = key.data
                if cnxn.handshaking:
                    if not cnxn.closed:
                        self._do_handshake(cnxn)
                    continue
                if mask & selectors.EVENT_WRITE:
                    self._do_write(cnxn)
                if mask & selectors.EVENT_READ and not cnxn.closed:
                    self._do_read(cnxn)

    def _should_throttle(self) -> bool:
        zks = self.zks
        return zks is not None and zks.should_throttle()

    def _process_pending(self) -> None:
        pending = self._pending
        while pending:
            action, cnxn = pending.popleft()
            if action == "rebind":
                self._rebind(cnxn)  # here the listening socket, not a connection
                continue
            if cnxn.closed:
                continue
            if action == "flush":
                cnxn.flush_batched()
            elif action == "write":
                self._update_interest(cnxn)
            elif action == "resume":
                self._update_interest(cnxn)
                self._process_input(cnxn)
            elif action == "close":
                if cnxn.has_output() and cnxn.closing:
                    cnxn.flush_some()
                if not cnxn.has_output() or not cnxn.closing:
                    self._really_close(cnxn)
                else:
                    self._update_interest(cnxn)

    def _update_interest(self, cnxn: NIOServerCnxn) -> None:
        if cnxn.closed:
            return
        mask = 0
        if cnxn.handshaking:
            mask = cnxn.handshake_want
        elif not cnxn.closing and not cnxn.throttled:
            mask |= selectors.EVENT_READ
        if cnxn.has_output():
            mask |= selectors.EVENT_WRITE
        try:
            if mask:
                try:
                    self._selector.modify(cnxn.sock, mask, cnxn)
                except KeyError:
                    self._selector.register(cnxn.sock, mask, cnxn)
            else:
                try:
                    self._selector.unregister(cnxn.sock)
                except KeyError:
                    pass
        except (ValueError, OSError):
            self._really_close(cnxn)

    def _accept(self) -> None:
        while True:
            try:
                sock, addr = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                LOG.warning("accept failed: %s", e)
                return
            ip = addr[0]
            if 0 < self.max_cnxns <= len(self.cnxns):
                LOG.error("Too many connections %d - max is %d", len(self.cnxns), self.max_cnxns)
                sock.close()
                continue
            if self.max_client_cnxns > 0 and self._per_ip[ip] >= self.max_client_cnxns:
                LOG.warning("Too many connections from %s - max is %d", ip, self.max_client_cnxns)
                sock.close()
                continue
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if self.ssl_context is not None:
                try:
                    sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (ssl.SSLError, OSError) as e:
                    LOG.warning("Cannot start TLS with %s: %s", addr, e)
                    sock.close()
                    continue
            cnxn = NIOServerCnxn(self, sock, addr)
            cnxn.secure = cnxn.handshaking = self.ssl_context is not None
            self._per_ip[ip] += 1
            self.cnxns.add(cnxn)
            self._selector.register(sock, selectors.EVENT_READ, cnxn)
            LOG.debug("Accepted socket connection from %s", cnxn.remote)

    # -- TLS --------------------------------------------------------------------------------------

    def _do_handshake(self, cnxn: NIOServerCnxn) -> None:
        """One step of a TLS handshake, as far as the socket allows."""
        try:
            cnxn.sock.do_handshake()
        except ssl.SSLWantReadError:
            cnxn.handshake_want = selectors.EVENT_READ
            self._update_interest(cnxn)
            return
        except ssl.SSLWantWriteError:
            cnxn.handshake_want = selectors.EVENT_WRITE
            self._update_interest(cnxn)
            return
        except (ssl.SSLError, OSError) as e:
            zks = self.zks
            if zks is not None:
                zks.stats.auth_failed_count += 1
            LOG.error("Unsuccessful handshake with %s: %s", cnxn.remote, e)
            self._really_close(cnxn)
            return
        cnxn.handshaking = False
        LOG.debug("Successful handshake with %s (%s)", cnxn.remote, cnxn.sock.version())
        if not self._verify_client_certificate(cnxn):
            return
        self._update_interest(cnxn)
        if cnxn.sock.pending():
            self._do_read(cnxn)

    def _verify_client_certificate(self, cnxn: NIOServerCnxn) -> bool:
        """Java: NettyServerCnxnFactory.CertificateVerifier. False: closed."""
        if self.ssl_context.verify_mode == ssl.CERT_NONE:
            return True  # no certificate was asked for
        der = cnxn.sock.getpeercert(binary_form=True)
        if der is None:
            if self.ssl_context.verify_mode == ssl.CERT_REQUIRED:
                LOG.error("Error getting peer certificates of %s", cnxn.remote)
                self._really_close(cnxn)
                return False
            return True  # "want": the certificate was optional
        cnxn.client_certificate = der
        zks = self.zks
        if zks is None:
            return True  # no server yet: only four-letter words can be served
        from .auth import X509AuthenticationProvider

        provider = zks.auth.providers.get(self.x509_auth_provider)
        if not isinstance(provider, X509AuthenticationProvider):
            LOG.error("X509 Auth provider not found: %s (add authProvider.1=org.apache.zookeeper.server.auth."
                      "X509AuthenticationProvider)", self.x509_auth_provider)
            self._really_close(cnxn)
            return False
        ids = provider.handle_auth(cnxn.client_ip, b"", cnxn=cnxn)
        if not ids:
            zks.stats.auth_failed_count += 1
            LOG.error("Authentication failed for session 0x%x (%s)", cnxn.session_id & _MASK64, cnxn.remote)
            self._really_close(cnxn)
            return False
        for ident in ids:
            if ident not in cnxn.auth_info:
                cnxn.auth_info.append(ident)
        return True

    def _recv_tls(self, cnxn: NIOServerCnxn) -> tuple[bytes, bool]:
        """(plaintext, EOF seen); drains what OpenSSL has already decrypted,
        which the selector cannot see."""
        chunks = []
        eof = False
        sock = cnxn.sock
        with cnxn._out_lock:  # never beside a write on another thread
            while True:
                try:
                    chunk = sock.recv(_RECV_SIZE)
                except _WOULD_BLOCK:
                    break
                if not chunk:
                    eof = True
                    break
                chunks.append(chunk)
                if not sock.pending():
                    break
        return b"".join(chunks), eof

    def _do_read(self, cnxn: NIOServerCnxn) -> None:
        if cnxn.secure:
            try:
                data, eof = self._recv_tls(cnxn)
            except OSError as e:
                LOG.debug("read from %s failed: %s", cnxn.remote, e)
                self._really_close(cnxn)
                return
            if data:
                cnxn.inbuf += data
                cnxn.last_active_ms = now_ms()
                self._process_input(cnxn)
            if eof and not cnxn.closed and not cnxn.closing:  # a closing one still flushes (4lw)
                LOG.debug("EOF from %s (session 0x%x)", cnxn.remote, cnxn.session_id & _MASK64)
                self._really_close(cnxn)
            return
        try:
            data = cnxn.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            LOG.debug("read from %s failed: %s", cnxn.remote, e)
            self._really_close(cnxn)
            return
        if not data:
            LOG.debug("EOF from %s (session 0x%x)", cnxn.remote, cnxn.session_id & _MASK64)
            self._really_close(cnxn)
            return
        cnxn.inbuf += data
        cnxn.last_active_ms = now_ms()
        self._process_input(cnxn)

    def _process_input(self, cnxn: NIOServerCnxn) -> None:
        """Hand every complete frame in the buffer to the server."""
        buf = cnxn.inbuf
        while not cnxn.closed and not cnxn.closing and not cnxn.paused:
            if len(buf) < 4:
                return
            if not cnxn.initialized and four_letter.is_command(bytes(buf[:4])):
                self._four_letter(cnxn)
                return
            length = _LEN.unpack_from(buf, 0)[0]
            if length < 0 or length > self.max_buffer:
                LOG.warning("Closing connection from %s: packet length %d is out of the range 0..%d",
                            cnxn.remote, length, self.max_buffer)
                self._really_close(cnxn)
                return
            if len(buf) < 4 + length:
                return
            if self._should_throttle() and cnxn.initialized:
                cnxn.throttled = True
                self._throttled.append(cnxn)
                self._update_interest(cnxn)
                return
            payload = bytes(buf[4:4 + length])
            del buf[:4 + length]
            cnxn.packets_received += 1
            self.packets_received += 1
            zks = self.zks
            if zks is not None:
                if not cnxn.initialized:
                    # The server counts the rest in process_packet; Java counts every packet.
                    zks.stats.packet_received()
                elif length >= 4 and _LEN.unpack_from(payload, 0)[0] > 0:
                    cnxn.outstanding += 1  # a request with a real xid gets one reply
            if zks is None or not zks.is_running():
                LOG.debug("Closing %s: ZooKeeperServer not running", cnxn.remote)
                self._really_close(cnxn)
                return
            try:
                if not cnxn.initialized:
                    cnxn.initialized = True
                    zks.process_connect_request(cnxn, payload)
                else:
                    zks.process_packet(cnxn, payload)
            except (JuteError, ValueError, UnicodeError) as e:
                LOG.warning("Closing connection from %s: malformed packet (%s)", cnxn.remote, e)
                self._really_close(cnxn)
                return
            except Exception:
                LOG.exception("Unexpected error handling a packet from %s", cnxn.remote)
                self._really_close(cnxn)
                return

    def _four_letter(self, cnxn: NIOServerCnxn) -> None:
        """Answer a four-letter word on a thread, then close (Java:
        NIOServerCnxn.checkFourLetterWord)."""
        buf = cnxn.inbuf
        command = four_letter.command_name(bytes(buf[:4]))
        enabled = four_letter.is_enabled(command, self.four_letter_whitelist)
        arg = None
        if command == "stmk" and enabled:
            if len(buf) < 12:
                return  # wait for the 8-byte trace mask
            arg = struct.unpack_from(">q", buf, 4)[0]
            del buf[:12]
        else:
            del buf[:4]
        cnxn.initialized = True
        cnxn.closing = True
        self.packet_received(cnxn)
        self._update_interest(cnxn)

        def run() -> None:
            try:
                text = four_letter.run(command, self, cnxn, arg)
            except Exception:
                LOG.exception("four letter word %s failed", command)
                text = ""
            if text:
                cnxn.send_buffer(text.encode("utf-8"))
                # Java counts each flush of the 4lw writer as a packet sent.
                cnxn.packets_sent += 1
                self.packet_sent()
            self.request_close(cnxn)

        threading.Thread(target=run, name=f"4lw-{command}", daemon=True).start()

    def _do_write(self, cnxn: NIOServerCnxn) -> None:
        done = cnxn.flush_some()
        if done and cnxn.closing:
            self._really_close(cnxn)
        else:
            self._update_interest(cnxn)

    def _really_close(self, cnxn: NIOServerCnxn) -> None:
        if cnxn.closed:
            return
        cnxn.closed = True
        try:
            self._selector.unregister(cnxn.sock)
        except (KeyError, ValueError, OSError):
            pass
        try:
            cnxn.sock.close()
        except OSError:
            pass
        self.cnxns.discard(cnxn)
        self._per_ip[cnxn.client_ip] -= 1
        if self._per_ip[cnxn.client_ip] <= 0:
            del self._per_ip[cnxn.client_ip]
        with self._lock:
            if self.session_map.get(cnxn.session_id) is cnxn:
                del self.session_map[cnxn.session_id]
        zks = self.zks
        if zks is not None:
            zks.remove_cnxn(cnxn)
        if cnxn.session_id:
            LOG.info("Closed socket connection for client %s which had sessionid 0x%x",
                     cnxn.remote, cnxn.session_id & _MASK64)

    def _sweep_sessionless(self, now: float) -> None:
        for cnxn in list(self.cnxns):
            if not cnxn.closed and cnxn.session_id == 0 and not cnxn.closing \
                    and now - cnxn.created > self.sessionless_timeout:
                LOG.info("Closing sessionless connection from %s", cnxn.remote)
                self._really_close(cnxn)
