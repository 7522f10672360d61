"""ZooKeeperServer: the standalone server, and the base of every role's server.

Java: ``org.apache.zookeeper.server.ZooKeeperServer``. It owns the session
tracker and the request-processor chain; the ZKDatabase and the connection
factory are handed to it (they outlive a role). A role subclass builds its
own chain in ``setup_request_processors()``; the standalone chain is
RequestThrottler -> Prep -> Sync -> Final.

Reads whose connection has nothing in the chain skip it: the selector
thread serves them through Final at once (``serve_read``), holding the
DataTree's lock. Per-session order holds because nothing of the session is
in flight; Java's CommitProcessor likewise lets a session's reads bypass
the queue when the session has no pending write. A request crossing four
threads costs more than serving the read.

Auth packets are answered here, before the chain: a failed one gets
AUTHFAILED and the connection is closed, while the session lives on until
it expires (as in Java). SASL packets (op 102) and enforced authentication
are :class:`~zkpy.server.auth_helper.AuthenticationHelper`'s; a plain and a
secure (TLS) connection factory may serve one server together. Security
fixes taken from later 3.8 releases (3.8.4): ``exists`` needs READ on an
existing node (FinalRequestProcessor), and watch events, including those
SetWatches fires on a reconnect, reach only connections that may READ the
node (``may_read``).
"""

from __future__ import annotations

import enum
import logging
import os
import struct
import threading
import time

from ..defs import OpCode, Perms, WatcherType
from ..errors import Code
from ..jute.archive import InputArchive, JuteEOFError, OutputArchive
from ..jute.records import (
    AuthPacket, ConnectRequest, ConnectResponse, ReplyHeader,
)
from .auth import AuthProviders
from .auth_helper import AuthenticationHelper
from .processors.final import FinalRequestProcessor
from .processors.prep import OutstandingChanges, PrepRequestProcessor
from .processors.sync import SyncRequestProcessor
from .processors.throttler import RequestThrottler
from .request import Request
from .server_stats import ServerStats
from .session_tracker import SessionTracker, session_password
from .watch_manager import PERSISTENT, PERSISTENT_RECURSIVE
from ..defs import EventType

LOG = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1

#: Reads the selector thread may serve itself (see ``serve_read``).
_REQUEST_HEADER = struct.Struct(">ii")  # xid, type
_DIRECT_READS = frozenset(int(op) for op in (OpCode.getData, OpCode.exists, OpCode.getChildren,
                                             OpCode.getChildren2))


class _ServerCnxnMe:
    """The owner of every session of this server's own clients (Java:
    ServerCnxn.me): one object for all connections, so a client that
    reconnects is never taken for a session that moved (SESSIONMOVED is for
    sessions a quorum peer sees move between learners)."""

    def __repr__(self) -> str:
        return "ServerCnxn.me"


SERVER_CNXN_ME = _ServerCnxnMe()


class State(enum.Enum):
    INITIAL = "initial"
    RUNNING = "running"
    SHUTDOWN = "shutdown"
    ERROR = "error"


class ZooKeeperServer:
    """The standalone server (also the base class of the quorum roles)."""

    mode = "standalone"

    def __init__(self, zk_db, *, tick_time: int = 3000, min_session_timeout: int = -1,
                 max_session_timeout: int = -1, server_id: int = 1, snap_count: int = 100000,
                 global_outstanding_limit: int = 1000, max_buffer: int = 0xFFFFF,
                 super_digest: str | None = None, skip_acl: bool = False,
                 extended_types_enabled: bool = False, reconfig_enabled: bool = False,
                 enforce_quota: bool = False, config=None):
        self.zk_db = zk_db
        self.tick_time = tick_time
        self.min_session_timeout = min_session_timeout if min_session_timeout > 0 else 2 * tick_time
        self.max_session_timeout = max_session_timeout if max_session_timeout > 0 else 20 * tick_time
        self.server_id = server_id
        self.snap_count = snap_count
        self.global_outstanding_limit = global_outstanding_limit
        self.max_buffer = max_buffer
        properties = getattr(config, "properties", None)
        self.auth = AuthProviders(super_digest, skip_acl, properties=properties)
        # Enforced authentication and SASL (op 102); raises ConfigException when misconfigured.
        self.auth_helper = AuthenticationHelper(self.auth, properties)
        self.extended_types_enabled = extended_types_enabled
        self.reconfig_enabled = reconfig_enabled
        self.enforce_quota = enforce_quota
        self.config = config
        self.state = State.INITIAL
        self.cnxn_factory = None
        self.secure_cnxn_factory = None  # the TLS port's factory (secureClientPort)
        self.session_tracker: SessionTracker | None = None
        self.first_processor = None
        #: The chain's Final, which also answers the reads served at once.
        self.final_processor: FinalRequestProcessor | None = None
        self.outstanding_changes = OutstandingChanges()
        self.outstanding_lock = threading.RLock()
        self._hzxid = 0
        self._zxid_lock = threading.Lock()
        self._in_process = 0  # requests between the throttler and Final
        self._outstanding = 0  # requests submitted and not yet answered
        # A plain lock for the counts (taken three times per request); the
        # throttler waits on the condition only while the pipeline is full.
        self._count_lock = threading.Lock()
        self._in_process_below = threading.Condition(self._count_lock)
        self._throttler_waiting = False
        self.stats = ServerStats()
        self.start_time = time.time()

    # -- lifecycle ----------------------------------------------------------------
    def startup(self) -> None:
        if not self.zk_db.initialized:
            self.zk_db.load_database()
        self._hzxid = self.zk_db.last_processed_zxid
        self.take_snapshot()
        self.session_tracker = SessionTracker(self, self.zk_db.sessions_with_timeouts, self.tick_time,
                                              self.server_id)
        self.session_tracker.start()
        self.setup_request_processors()
        self.state = State.RUNNING
        LOG.info("%s server started (sid %d), zxid 0x%x", self.mode, self.server_id, self._hzxid)

    def setup_request_processors(self) -> None:
        final = FinalRequestProcessor(self)
        sync = SyncRequestProcessor(self, final, snap_count=self.snap_count)
        sync.start()
        prep = PrepRequestProcessor(self, sync)
        prep.start()
        throttler = RequestThrottler(self, prep)
        throttler.start()
        self.first_processor = throttler

    def is_running(self) -> bool:
        return self.state is State.RUNNING

    def shutdown(self) -> None:
        if self.state is State.SHUTDOWN:
            return
        LOG.info("shutting down")
        self.state = State.SHUTDOWN
        if self.session_tracker is not None:
            self.session_tracker.shutdown()
        if self.first_processor is not None:
            self.first_processor.shutdown()
        with self._count_lock:
            self._in_process_below.notify_all()

    def on_critical_failure(self, thread_name: str) -> None:
        """A processor thread died: stop serving rather than lose requests."""
        LOG.error("Critical thread %s died; shutting the server down", thread_name)
        self.state = State.ERROR
        for factory in self.client_factories():
            factory.close_all("server error")
        os._exit(14)  # Java's ExitCode.UNEXPECTED_ERROR path for a dead critical thread

    # -- zxids ----------------------------------------------------------------------
    def next_zxid(self) -> int:
        with self._zxid_lock:
            self._hzxid += 1
            return self._hzxid

    def get_zxid(self) -> int:
        return self._hzxid

    def set_zxid(self, zxid: int) -> None:
        with self._zxid_lock:
            self._hzxid = zxid

    @property
    def last_processed_zxid(self) -> int:
        return self.zk_db.last_processed_zxid

    # -- connections -----------------------------------------------------------------
    def process_connect_request(self, cnxn, payload: bytes) -> None:
        """Handle a connection's first packet (Java: processConnectRequest)."""
        inp = InputArchive(payload, max_buffer=self.max_buffer)
        request = ConnectRequest.deserialize(inp)
        read_only = False
        if inp.remaining() > 0:
            read_only = inp.read_bool()
            cnxn.is_old_client = False
        else:
            cnxn.is_old_client = True
        cnxn.can_be_read_only = read_only
        if not self.accepts_client(read_only):
            cnxn.close("read-write client on a read-only server")
            return
        if request.lastZxidSeen > self.zk_db.last_processed_zxid:
            LOG.info("Refusing session request for client %s as it has seen zxid 0x%x our last zxid is "
                     "0x%x client must try another server", cnxn.remote, request.lastZxidSeen,
                     self.zk_db.last_processed_zxid)
            cnxn.close("client has seen a newer zxid")
            return
        timeout = min(max(request.timeOut, self.min_session_timeout), self.max_session_timeout)
        cnxn.session_timeout = timeout
        cnxn.pause_recv()
        if request.sessionId == 0:
            session_id = self.create_session(cnxn, timeout)
            LOG.debug("Client attempting to establish new session 0x%x at %s",
                      session_id & _MASK64, cnxn.remote)
        else:
            session_id = request.sessionId
            for factory in self.client_factories():
                factory.close_session(session_id, except_cnxn=cnxn)
            cnxn.session_id = session_id
            self.reopen_session(cnxn, session_id, request.passwd, timeout)

    def accepts_client(self, read_only_client: bool) -> bool:
        return True

    def create_session(self, cnxn, timeout: int) -> int:
        session_id = self.session_tracker.create_session(timeout)
        cnxn.session_id = session_id
        request = Request(cnxn, session_id, 0, OpCode.createSession, timeout.to_bytes(4, "big", signed=True))
        self.submit_request(request)
        return session_id

    def reopen_session(self, cnxn, session_id: int, passwd: bytes | None, timeout: int) -> None:
        if passwd != session_password(session_id):
            LOG.info("Invalid session password for 0x%x from %s", session_id & _MASK64, cnxn.remote)
            self.finish_session_init(cnxn, False)
            return
        valid = self.session_tracker.touch_session(session_id, timeout)
        if valid:
            self.session_tracker.set_owner(session_id, SERVER_CNXN_ME)
        self.finish_session_init(cnxn, valid)

    def finish_session_init(self, cnxn, valid: bool) -> None:
        """Send the ConnectResponse (Java: finishSessionInit)."""
        factory = getattr(cnxn, "factory", None) or self.cnxn_factory
        if valid and factory is not None:
            factory.register_session(cnxn)
        out = OutputArchive()
        if valid:
            ConnectResponse(0, cnxn.session_timeout, cnxn.session_id, session_password(cnxn.session_id)).serialize(out)
        else:
            ConnectResponse(0, 0, 0, bytes(16)).serialize(out)
        if not cnxn.is_old_client:
            out.write_bool(self.is_read_only())
        cnxn.send_payload(bytes(out.buf))
        if valid:
            LOG.info("Established session 0x%x with negotiated timeout %d for client %s",
                     cnxn.session_id & _MASK64, cnxn.session_timeout, cnxn.remote)
            cnxn.resume_recv()
        else:
            LOG.info("Invalid session 0x%x for client %s, probably expired",
                     cnxn.session_id & _MASK64, cnxn.remote)
            cnxn.close("invalid session")

    def is_read_only(self) -> bool:
        return False

    def process_packet(self, cnxn, payload: bytes) -> None:
        """One framed request from an established connection (Java: processPacket)."""
        if len(payload) < _REQUEST_HEADER.size:
            raise JuteEOFError(f"a request of {len(payload)} bytes has no RequestHeader")
        xid, op = _REQUEST_HEADER.unpack_from(payload, 0)  # RequestHeader, without a record per request
        body = payload[_REQUEST_HEADER.size:]
        self.stats.packet_received()
        if op == OpCode.auth:
            self._process_auth(cnxn, xid, body)
            return
        if op == OpCode.sasl:
            self.auth_helper.process_sasl(cnxn, xid, body, self.max_buffer)
            return
        if not self.auth_helper.enforce_authentication(cnxn, xid):
            return
        request = Request(cnxn, cnxn.session_id, xid, op, body, auth_info=cnxn.auth_info, owner=SERVER_CNXN_ME)
        if op in _DIRECT_READS and cnxn.requests_submitted == cnxn.requests_done:
            self.serve_read(request)
        else:
            self.submit_request(request)

    def serve_read(self, request: Request) -> None:
        """Answer a read on this (the selector) thread: its connection has
        no request in the chain, so nothing of its session can be overtaken.
        Final runs under the DataTree's lock, as txns are applied."""
        cnxn = request.cnxn
        final = self.final_processor
        if final is None or self.state is not State.RUNNING:
            LOG.debug("Dropping request %r: server not running", request)
            return
        if not self.session_tracker.touch_session(request.session_id, cnxn.session_timeout):
            LOG.debug("Dropping request %r: session 0x%x is gone or closing", request,
                      request.session_id & _MASK64)
            return
        with self._count_lock:
            self._outstanding += 1
            self._in_process += 1
        cnxn.requests_submitted += 1
        with self.zk_db.data_tree.lock:
            final.process_request(request)

    def _process_auth(self, cnxn, xid: int, body) -> None:
        auth = AuthPacket.deserialize(InputArchive(body, max_buffer=self.max_buffer))
        ids = self.auth.authenticate(auth.scheme, cnxn.client_ip, auth.auth or b"", cnxn=cnxn)
        if ids is None:
            if auth.scheme in self.auth.providers:
                LOG.warning("Authentication failed for scheme: %s", auth.scheme)
            else:
                LOG.warning("No authentication provider for scheme: %s has %s", auth.scheme,
                            sorted(self.auth.providers))
            cnxn.send_response(ReplyHeader(xid, 0, int(Code.AUTHFAILED)), None)
            # Only the connection goes; the session expires in its own time.
            cnxn.close("auth failed")
            return
        for ident in ids:
            if ident not in cnxn.auth_info:
                cnxn.auth_info.append(ident)
        LOG.info("Session 0x%x: auth success for scheme %s and address %s", cnxn.session_id & _MASK64,
                 auth.scheme, cnxn.remote)
        cnxn.send_response(ReplyHeader(xid, 0, 0), None)

    def submit_request(self, request: Request) -> None:
        """Touch the session and hand the request to the chain (Java: submitRequestNow)."""
        cnxn = request.cnxn
        if cnxn is not None and request.type != OpCode.createSession:
            if not self.session_tracker.touch_session(request.session_id, cnxn.session_timeout):
                LOG.debug("Dropping request %r: session 0x%x is gone or closing", request,
                          request.session_id & _MASK64)
                return
        if self.first_processor is None or self.state is not State.RUNNING:
            LOG.debug("Dropping request %r: server not running", request)
            return
        with self._count_lock:
            self._outstanding += 1
        if cnxn is not None:
            cnxn.requests_submitted += 1
        self.first_processor.process_request(request)

    def enter_if_in_process_below(self, limit: int) -> bool:
        """Count a request in if fewer than ``limit`` are in the pipeline."""
        with self._count_lock:
            if self._in_process >= limit or self._throttler_waiting:
                return False
            self._in_process += 1
            return True

    def wait_for_in_process_below(self, limit: int) -> None:
        """Block the throttler while ``limit`` requests are in the pipeline."""
        with self._count_lock:
            while self._in_process >= limit and self.state is State.RUNNING:
                self._throttler_waiting = True
                self._in_process_below.wait(0.1)
            self._throttler_waiting = False
            self._in_process += 1

    def should_throttle(self) -> bool:
        limit = self.global_outstanding_limit
        return limit > 0 and self._outstanding > limit

    def request_finished(self, request: Request) -> None:
        with self._count_lock:
            self._outstanding -= 1
            self._in_process -= 1
            if self._throttler_waiting:
                self._in_process_below.notify()
        if request.cnxn is not None:
            self.stats.record_latency(int((time.monotonic() - request.create_time) * 1000))

    def outstanding_requests(self) -> int:
        return max(self._outstanding, 0)

    # -- sessions --------------------------------------------------------------------
    def expire(self, session) -> None:
        """Called by the SessionTracker: submit the closeSession txn."""
        LOG.info("Expiring session 0x%x", session.session_id & _MASK64)
        self.submit_internal(Request(None, session.session_id, 0, OpCode.closeSession, None))

    def submit_internal(self, request: Request) -> None:
        """A request of the server itself (session expiry, container deletes):
        straight into the chain, no session to touch (Java: firstProcessor.processRequest)."""
        if self.first_processor is not None:
            with self._count_lock:
                self._outstanding += 1
            self.first_processor.process_request(request)

    def close_session_connection(self, session_id: int) -> None:
        for factory in self.client_factories():
            factory.close_session(session_id)

    def client_factories(self) -> list:
        """The plain and the secure connection factory, those there are."""
        return [f for f in (self.cnxn_factory, self.secure_cnxn_factory) if f is not None]

    def process_txn(self, request: Request):
        """Apply a txn; update sessions and outstanding changes (Java: processTxn)."""
        hdr = request.hdr
        if hdr.type == OpCode.createSession:
            self.session_tracker.add_session(hdr.clientId, request.txn.timeOut)
        elif hdr.type == OpCode.closeSession:
            self.session_tracker.remove_session(hdr.clientId)
        with self.outstanding_lock:
            rc = self.zk_db.process_txn(hdr, request.txn)
            self.outstanding_changes.applied_up_to(hdr.zxid)
        self.zk_db.add_committed_proposal(hdr, request.txn)
        return rc

    def remove_cnxn(self, cnxn) -> None:
        self.zk_db.data_tree.remove_watcher(cnxn)

    # -- ACLs and watches --------------------------------------------------------------
    def check_acl(self, node, perm: int, ids, path: str | None = None) -> None:
        self.auth.check_acl(self.zk_db.data_tree.get_acl(node), perm, ids)

    def may_read(self, acl, ids) -> bool:
        """May a caller with ``ids`` READ a node with ``acl``? (watch delivery)"""
        return self.auth.allows(acl, Perms.READ, ids)

    def set_watches(self, cnxn, req) -> None:
        """Re-register watches after a reconnect, firing what was missed (ZK_SPEC.md §2.10)."""
        tree = self.zk_db.data_tree
        relative = req.relativeZxid
        ids = cnxn.auth_info

        def fire(event_type: int, path: str, node) -> None:
            # What changed while the client was away is news about the node:
            # only for readers, as live events (3.8.4's watch ACL check).
            if node is None or self.may_read(tree.get_acl(node), ids):
                cnxn.process_event(event_type, path)

        for path in req.dataWatches or ():
            node = tree.get_node(path)
            if node is None:
                fire(EventType.NodeDeleted, path, None)
            elif node.mzxid > relative:
                fire(EventType.NodeDataChanged, path, node)
            else:
                tree.data_watches.add_watch(path, cnxn)
        for path in req.existWatches or ():
            node = tree.get_node(path)
            if node is not None:
                fire(EventType.NodeCreated, path, node)
            else:
                tree.data_watches.add_watch(path, cnxn)
        for path in req.childWatches or ():
            node = tree.get_node(path)
            if node is None:
                fire(EventType.NodeDeleted, path, None)
            elif node.pzxid > relative:
                fire(EventType.NodeChildrenChanged, path, node)
            else:
                tree.child_watches.add_watch(path, cnxn)
        for path in getattr(req, "persistentWatches", None) or ():
            self.add_persistent_watch(cnxn, path, 0)
        for path in getattr(req, "persistentRecursiveWatches", None) or ():
            self.add_persistent_watch(cnxn, path, 1)

    def add_persistent_watch(self, cnxn, path: str, mode: int) -> None:
        tree = self.zk_db.data_tree
        wmode = PERSISTENT_RECURSIVE if mode == 1 else PERSISTENT
        tree.data_watches.add_watch(path, cnxn, wmode)
        tree.child_watches.add_watch(path, cnxn, wmode)

    def check_or_remove_watches(self, cnxn, path: str, watcher_type: int, remove: bool) -> bool:
        tree = self.zk_db.data_tree
        managers = []
        if watcher_type in (WatcherType.Data, WatcherType.Any):
            managers.append(tree.data_watches)
        if watcher_type in (WatcherType.Children, WatcherType.Any):
            managers.append(tree.child_watches)
        found = False
        for manager in managers:
            if manager.contains_watcher(path, cnxn):
                found = True
                if remove:
                    manager.remove_watcher(path, cnxn)
        return found

    # -- snapshots ---------------------------------------------------------------------
    def take_snapshot(self) -> None:
        self.zk_db.take_snapshot()

    # -- introspection (4lw, metrics) ---------------------------------------------------
    def server_state(self) -> str:
        return self.mode
