"""The ZooKeeper client handle: Java's API, in PEP 8 names.

Java: ``org.apache.zookeeper.ZooKeeper`` (and ``ZooKeeperAdmin.reconfigure``).

>>> with ZooKeeper("127.0.0.1:2181,127.0.0.1:2182/app", 10000) as zk:  # doctest: +SKIP
...     zk.wait_connected(10)
...     zk.create("/a", b"data", mode=CreateMode.EPHEMERAL)
...     data, stat = zk.get_data("/a", watch=lambda event: print(event))

The constructor returns at once and connects in the background (as Java);
session events go to ``watcher`` (and to every registered watcher). Every
operation has a synchronous form that returns the result or raises the
KeeperException subclass of the server's error code, and an ``_async`` twin
that returns a ``concurrent.futures.Future`` of the same result (see
:mod:`zkpy.client.client_cnxn` for where its callbacks run). A ``watch``
argument is False (no watch), True (the default watcher, as Java's
``boolean watch``; nothing is set when there is no default watcher) or a
callable taking a :class:`WatchedEvent`. Bad arguments (malformed path,
a TTL for a non-TTL mode ...) raise ValueError (Java's
IllegalArgumentException) before anything is sent; an empty ACL raises
InvalidACLException, as Java.

Choices made where Java has several signatures:

* ``create(..., include_stat=True)`` returns ``(path, Stat)`` (Java's
  ``create`` with a Stat argument, op create2); TTL modes take ``ttl=`` in
  ms and always use createTTL, CONTAINER always uses createContainer.
* ``get_children(path, watch, include_stat=True)`` returns
  ``(children, Stat)`` (op getChildren2).
* ``get_data``, ``get_acl`` and ``get_config`` return ``(value, Stat)``
  instead of filling a Stat argument; ``exists`` returns None for a missing
  node; ``sync`` returns None (3.9's synchronous ``sync``).
* ``multi(ops)`` sends a multi (or a multiRead when every op is a read, as
  Java), ``transaction()`` is the builder, ``multi_read(ops)`` insists on
  reads. A failing transaction raises the failing op's exception with
  ``results`` (the ErrorResult of every op) attached.
* ``add_auth_info`` waits for the server's answer (Java does not) and raises
  AuthFailedException on rejection, which also ends the session (state
  AUTH_FAILED) as in Java. The credentials are kept and re-sent on every
  reconnect.
* Chroot: applied to outgoing paths and removed from returned paths
  (create, multi create results, get_ephemerals, watch events). Paths
  outside the chroot (``/zookeeper/config`` for ``get_config``) are left
  whole; Java would cut them. ``get_ephemerals`` is chrooted too (Java
  sends the prefix as given).
* ``wait_connected(timeout)`` is a zkpy addition: wait until the client is
  connected (or closed).
* Security: ``ssl_context=`` (TLS) and ``sasl=("DIGEST-MD5", user,
  password)`` (SASL) are given directly; ``client_config=`` (a
  :class:`~zkpy.client.zk_client_config.ZKClientConfig`, Java's
  ``ZKClientConfig`` argument) supplies whichever of the two is not given,
  from ``zookeeper.client.secure``/``zookeeper.ssl.*`` and the JAAS
  ``Client`` section. Unlike Java's, the client reads no system properties
  by itself: without these arguments it uses neither TLS nor SASL.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Iterable, Optional, Sequence, Union

from ..defs import AddWatchMode, CreateMode, OpCode, WatcherType
from ..errors import Code, KeeperException
from ..jute.records import (
    ACL, OPEN_ACL_UNSAFE, AddWatchRequest, CheckWatchesRequest, Create2Response, CreateRequest,
    CreateResponse, CreateTTLRequest, DeleteRequest, ErrorResponse, ExistsRequest, GetACLRequest,
    GetACLResponse, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Request,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, GetEphemeralsResponse, ReconfigRequest, RemoveWatchesRequest, SetACLRequest,
    SetACLResponse, SetDataRequest, SetDataResponse, Stat, SyncRequest, SyncResponse, WhoAmIResponse,
)
from .client_cnxn import NONE_RESULT, ClientCnxn, MultiRequest, MultiResponse, States
from .host_provider import ConnectStringParser, StaticHostProvider
from .op import (
    CheckResult, CreateResult, DeleteResult, ErrorResult, GetChildrenResult, GetDataResult, Op, OpKind,
    OpResult, SetDataResult, Transaction, _bytes, prepend_chroot, validate_acl, validate_path, validate_ttl,
)
from .watch_manager import (
    AddWatchRegistration, ChildWatchRegistration, DataWatchRegistration, ExistsWatchRegistration,
    WatchDeregistration, ZKWatchManager,
)
from .watcher import Watcher
from .zookeeper_sasl_client import SaslArg, sasl_credentials

LOG = logging.getLogger(__name__)

#: The znode holding the ensemble's dynamic configuration (ZooDefs.CONFIG_NODE).
CONFIG_NODE = "/zookeeper/config"

WatchArg = Union[bool, None, Watcher]


class ZooKeeper:
    """A ZooKeeper session (see the module docstring).

    :param connect_string: ``host:port[,host:port...][/chroot]``.
    :param session_timeout: requested session timeout in ms (the server
        clamps it to [2, 20] x tickTime by default).
    :param watcher: the default watcher: gets every session-state event and
        the events of ``watch=True`` watches.
    :param session_id: with ``session_passwd``, resume that session.
    :param can_be_read_only: accept a read-only server (state
        CONNECTEDREADONLY) when no read-write one is reachable.
    :param host_provider: replaces the StaticHostProvider built from the
        connect string (anything with ``next(spin_delay_ms)``, ``size()``,
        ``on_connected()``).
    :param disable_auto_watch_reset: do not re-register watches after a
        reconnect (Java's ``zookeeper.disableAutoWatchReset``).
    :param ssl_context: connect with TLS (to a ``secureClientPort``), e.g.
        ``ssl.create_default_context(cafile="ca.pem")`` plus
        ``load_cert_chain("client.pem", "client.key")`` for a client
        certificate (Java: ``zookeeper.client.secure`` and ``zookeeper.ssl.*``).
    :param sasl: authenticate every connection with SASL DIGEST-MD5 before
        anything else: ``("DIGEST-MD5", username, password)`` or a
        :class:`~zkpy.client.zookeeper_sasl_client.SaslCredentials` (Java:
        a JAAS ``Client`` section). The session then has the id
        ``sasl:<username>``; the default watcher gets ``SaslAuthenticated``
        after each successful exchange, and a failed one ends the client
        with ``AuthFailed`` (requests raise AuthFailedException).
        ``wait_connected`` returns at SyncConnected, before the exchange
        ends; requests wait for it in any case.
    :param client_config: a :class:`~zkpy.client.zk_client_config.ZKClientConfig`;
        TLS and SASL come from it unless ``ssl_context`` / ``sasl`` are given.
    """

    def __init__(self, connect_string: str, session_timeout: int, watcher: Optional[Watcher] = None, *,
                 session_id: int = 0, session_passwd: Optional[bytes] = None, can_be_read_only: bool = False,
                 host_provider=None, disable_auto_watch_reset: bool = False, ssl_context=None,
                 sasl: SaslArg = None, client_config=None):
        if client_config is not None:
            if ssl_context is None:
                ssl_context = client_config.ssl_context()
            if sasl is None:
                sasl = client_config.sasl_credentials()
            disable_auto_watch_reset = disable_auto_watch_reset or client_config.get_bool(
                client_config.DISABLE_AUTO_WATCH_RESET)
        credentials = sasl_credentials(sasl)
        parser = ConnectStringParser(connect_string)
        self._chroot = parser.chroot_path
        if host_provider is None:
            host_provider = StaticHostProvider(parser.server_addresses)
        self._host_provider = host_provider
        self._watch_manager = ZKWatchManager(watcher, disable_auto_watch_reset)
        LOG.info("Initiating client connection, connectString=%s sessionTimeout=%d watcher=%r",
                 connect_string, session_timeout, watcher)
        self._cnxn = ClientCnxn(self._chroot, host_provider, session_timeout, self._watch_manager,
                                session_id, session_passwd, can_be_read_only, ssl_context=ssl_context,
                                sasl=credentials)
        if session_id:
            # The caller vouches for the session: send its id even before we
            # have met a read-write server.
            self._cnxn.seen_rw_server_before = True
        self._cnxn.start()

    # -- session ------------------------------------------------------------------------------------

    def get_session_id(self) -> int:
        return self._cnxn.session_id

    def get_session_passwd(self) -> bytes:
        return self._cnxn.session_passwd

    def get_session_timeout(self) -> int:
        """The negotiated timeout in ms (0 before the first connection)."""
        return self._cnxn.negotiated_session_timeout

    def get_state(self) -> States:
        return self._cnxn.state

    def get_chroot(self) -> Optional[str]:
        return self._chroot

    def get_last_zxid(self) -> int:
        """The highest zxid seen in a reply (the one a reconnect presents)."""
        return self._cnxn.last_zxid

    def register(self, watcher: Optional[Watcher]) -> None:
        """Replace the default watcher."""
        self._watch_manager.default_watcher = watcher

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Wait (seconds) until connected; False on timeout or when the
        session has ended."""
        self._cnxn.wait_for_state(lambda s: s.is_connected() or not s.is_alive(), timeout)
        return self._cnxn.state.is_connected()

    def close(self) -> None:
        """End the session (its ephemeral nodes go) and stop the threads.
        Calling it again, or after the session expired, does nothing."""
        if not self._cnxn.state.is_alive():
            LOG.debug("Close called on already closed client")
            return
        self._cnxn.close()
        LOG.info("Session: 0x%x closed", self._cnxn.session_id)

    def __enter__(self) -> "ZooKeeper":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        cnxn = self._cnxn
        return (f"<ZooKeeper State:{cnxn.state.name} sessionid:0x{cnxn.session_id:x} "
                f"timeout:{cnxn.negotiated_session_timeout} server:{cnxn.send_thread.remote_address}>")

    def update_server_list(self, connect_string: str) -> None:
        """Use a new list of servers from the next reconnect on (the chroot
        part, if any, is ignored; the current connection is kept)."""
        self._host_provider.update_server_list(ConnectStringParser(connect_string).server_addresses)

    # -- helpers ---------------------------------------------------------------------------------------

    def _server_path(self, path: str) -> str:
        return prepend_chroot(self._chroot, path)

    def _watcher_of(self, watch: WatchArg) -> Optional[Watcher]:
        if watch is None or watch is False:
            return None
        if watch is True:
            return self._watch_manager.default_watcher
        if callable(watch):
            return watch
        raise TypeError(f"watch must be a bool or a callable, not {type(watch).__name__}")

    @staticmethod
    def _wait(future: Future):
        try:
            return future.result()
        except KeeperException as e:
            # A fresh traceback: the caller's, not the send thread's.
            raise e.with_traceback(None) from None

    def _submit(self, op_type: int, request, response_cls, client_path: Optional[str], on_reply,
                on_error=None, watch_registration=None, watch_deregistration=None) -> Future:
        return self._cnxn.submit(op_type, request, response_cls, client_path, on_reply, on_error,
                                 watch_registration, watch_deregistration)

    # -- create / delete ----------------------------------------------------------------------------------

    def create(self, path: str, data: Optional[bytes] = b"", acl: Sequence[ACL] = OPEN_ACL_UNSAFE,
               mode: CreateMode = CreateMode.PERSISTENT, *, ttl: int = -1, include_stat: bool = False):
        """Create a node; returns its path (with the sequence suffix), or
        ``(path, Stat)`` with ``include_stat``."""
        return self._wait(self.create_async(path, data, acl, mode, ttl=ttl, include_stat=include_stat))

    def create_async(self, path: str, data: Optional[bytes] = b"", acl: Sequence[ACL] = OPEN_ACL_UNSAFE,
                     mode: CreateMode = CreateMode.PERSISTENT, *, ttl: int = -1,
                     include_stat: bool = False) -> Future:
        mode = CreateMode(mode)
        validate_path(path, mode.is_sequential)
        validate_ttl(mode, ttl)
        validate_acl(acl)
        server_path = self._server_path(path)
        data = _bytes(data)
        acl = list(acl)
        if mode.is_container:
            op = OpCode.createContainer
        elif mode.is_ttl:
            op = OpCode.createTTL
        elif include_stat:
            op = OpCode.create2
        else:
            op = OpCode.create
        if op == OpCode.createTTL:
            request = CreateTTLRequest(server_path, data, acl, int(mode), ttl)
        else:
            request = CreateRequest(server_path, data, acl, int(mode))
        strip = self._cnxn.strip_chroot
        if op == OpCode.create:
            return self._submit(op, request, CreateResponse, path, lambda rsp: strip(rsp.path))
        if include_stat:
            return self._submit(op, request, Create2Response, path, lambda rsp: (strip(rsp.path), rsp.stat))
        return self._submit(op, request, Create2Response, path, lambda rsp: strip(rsp.path))

    def delete(self, path: str, version: int = -1) -> None:
        """Delete a node if its version matches (-1: any version)."""
        return self._wait(self.delete_async(path, version))

    def delete_async(self, path: str, version: int = -1) -> Future:
        validate_path(path)
        # Java: with a chroot, "/" is still sent as "/" (and refused).
        server_path = path if path == "/" else self._server_path(path)
        return self._submit(OpCode.delete, DeleteRequest(server_path, version), None, path, lambda rsp: None)

    # -- reads ------------------------------------------------------------------------------------------

    def exists(self, path: str, watch: WatchArg = False) -> Optional[Stat]:
        """The node's Stat, or None when it does not exist (a watch is set
        either way: it fires on creation of a missing node)."""
        return self._wait(self.exists_async(path, watch))

    def exists_async(self, path: str, watch: WatchArg = False) -> Future:
        validate_path(path)
        watcher = self._watcher_of(watch)
        wcb = ExistsWatchRegistration(self._watch_manager, watcher, path) if watcher is not None else None
        request = ExistsRequest(self._server_path(path), watcher is not None)
        return self._submit(
            OpCode.exists, request, SetDataResponse, path,
            lambda rsp: None if rsp.stat.czxid == -1 else rsp.stat,
            on_error=lambda err: NONE_RESULT if err == Code.NONODE else None,
            watch_registration=wcb)

    def get_data(self, path: str, watch: WatchArg = False) -> tuple[Optional[bytes], Stat]:
        """``(data, Stat)``; data is None for a node created with None."""
        return self._wait(self.get_data_async(path, watch))

    def get_data_async(self, path: str, watch: WatchArg = False) -> Future:
        validate_path(path)
        watcher = self._watcher_of(watch)
        wcb = DataWatchRegistration(self._watch_manager, watcher, path) if watcher is not None else None
        request = GetDataRequest(self._server_path(path), watcher is not None)
        return self._submit(OpCode.getData, request, GetDataResponse, path, lambda rsp: (rsp.data, rsp.stat),
                            watch_registration=wcb)

    def get_config(self, watch: WatchArg = False) -> tuple[bytes, Stat]:
        """The ensemble's configuration (``/zookeeper/config``, never chrooted)."""
        return self._wait(self.get_config_async(watch))

    def get_config_async(self, watch: WatchArg = False) -> Future:
        watcher = self._watcher_of(watch)
        wcb = DataWatchRegistration(self._watch_manager, watcher, CONFIG_NODE) if watcher is not None else None
        request = GetDataRequest(CONFIG_NODE, watcher is not None)
        return self._submit(OpCode.getData, request, GetDataResponse, CONFIG_NODE,
                            lambda rsp: (rsp.data, rsp.stat), watch_registration=wcb)

    def get_children(self, path: str, watch: WatchArg = False, include_stat: bool = False):
        """The children's names (unordered), or ``(children, Stat)``."""
        return self._wait(self.get_children_async(path, watch, include_stat))

    def get_children_async(self, path: str, watch: WatchArg = False, include_stat: bool = False) -> Future:
        validate_path(path)
        watcher = self._watcher_of(watch)
        wcb = ChildWatchRegistration(self._watch_manager, watcher, path) if watcher is not None else None
        server_path = self._server_path(path)
        if include_stat:
            return self._submit(OpCode.getChildren2, GetChildren2Request(server_path, watcher is not None),
                                GetChildren2Response, path, lambda rsp: (rsp.children, rsp.stat),
                                watch_registration=wcb)
        return self._submit(OpCode.getChildren, GetChildrenRequest(server_path, watcher is not None),
                            GetChildrenResponse, path, lambda rsp: rsp.children, watch_registration=wcb)

    def get_all_children_number(self, path: str) -> int:
        """How many descendants the node has (not counting itself)."""
        return self._wait(self.get_all_children_number_async(path))

    def get_all_children_number_async(self, path: str) -> Future:
        validate_path(path)
        return self._submit(OpCode.getAllChildrenNumber, GetAllChildrenNumberRequest(self._server_path(path)),
                            GetAllChildrenNumberResponse, path, lambda rsp: rsp.totalNumber)

    def get_ephemerals(self, prefix_path: str = "/") -> list[str]:
        """This session's ephemeral nodes whose path starts with ``prefix_path``."""
        return self._wait(self.get_ephemerals_async(prefix_path))

    def get_ephemerals_async(self, prefix_path: str = "/") -> Future:
        validate_path(prefix_path)
        chroot = self._chroot
        strip = self._cnxn.strip_chroot

        def on_reply(rsp):
            paths = rsp.ephemerals or []
            if chroot is not None:
                # A chroot prefix is a string prefix on the server: drop
                # siblings such as /apple for a chroot /app.
                paths = [strip(p) for p in paths if p == chroot or p.startswith(chroot + "/")]
            return paths

        return self._submit(OpCode.getEphemerals, GetEphemeralsRequest(self._server_path(prefix_path)),
                            GetEphemeralsResponse, prefix_path, on_reply)

    def get_acl(self, path: str) -> tuple[list[ACL], Stat]:
        return self._wait(self.get_acl_async(path))

    def get_acl_async(self, path: str) -> Future:
        validate_path(path)
        return self._submit(OpCode.getACL, GetACLRequest(self._server_path(path)), GetACLResponse, path,
                            lambda rsp: (rsp.acl, rsp.stat))

    def whoami(self) -> list:
        """The session's identities: ClientInfo(authScheme, user) records."""
        return self._wait(self.whoami_async())

    def whoami_async(self) -> Future:
        return self._submit(OpCode.whoAmI, None, WhoAmIResponse, None, lambda rsp: rsp.clientInfo or [])

    # -- writes -----------------------------------------------------------------------------------------

    def set_data(self, path: str, data: Optional[bytes], version: int = -1) -> Stat:
        return self._wait(self.set_data_async(path, data, version))

    def set_data_async(self, path: str, data: Optional[bytes], version: int = -1) -> Future:
        validate_path(path)
        request = SetDataRequest(self._server_path(path), _bytes(data), version)
        return self._submit(OpCode.setData, request, SetDataResponse, path, lambda rsp: rsp.stat)

    def set_acl(self, path: str, acl: Sequence[ACL], version: int = -1) -> Stat:
        """Replace the ACL if the node's aversion matches (-1: any)."""
        return self._wait(self.set_acl_async(path, acl, version))

    def set_acl_async(self, path: str, acl: Sequence[ACL], version: int = -1) -> Future:
        validate_path(path)
        validate_acl(acl)
        request = SetACLRequest(self._server_path(path), list(acl), version)
        return self._submit(OpCode.setACL, request, SetACLResponse, path, lambda rsp: rsp.stat)

    def sync(self, path: str) -> None:
        """Wait until the server this client talks to is up to date with the leader."""
        return self._wait(self.sync_async(path))

    def sync_async(self, path: str) -> Future:
        validate_path(path)
        return self._submit(OpCode.sync, SyncRequest(self._server_path(path)), SyncResponse, path,
                            lambda rsp: None)

    # -- multi --------------------------------------------------------------------------------------------

    def transaction(self) -> Transaction:
        """A builder of ops committed together (``commit()``)."""
        return Transaction(self)

    def multi(self, ops: Iterable[Op]) -> list[OpResult]:
        """Run ``ops`` atomically (or, all reads, as a multiRead); returns
        one result per op. A failed transaction raises the failing op's
        KeeperException with ``results`` attached."""
        return self._wait(self.multi_async(ops))

    def multi_async(self, ops: Iterable[Op]) -> Future:
        ops = list(ops)
        kinds = {op.kind for op in ops}
        if len(kinds) > 1:
            raise ValueError("Mixing read and write operations (transactional and non-transactional) "
                             "is not allowed in a multi request.")
        for op in ops:
            op.validate()
        if not ops:
            future = self._cnxn.new_future()
            future.set_result([])
            self._cnxn.event_thread.queue_completion(future)
            return future
        kind = kinds.pop()
        request = MultiRequest([(op.type, op.to_request(self._chroot)) for op in ops])
        strip = self._cnxn.strip_chroot
        if kind == OpKind.READ:
            return self._submit(OpCode.multiRead, request, MultiResponse, None,
                                lambda rsp: [_op_result(t, err, body, strip) for t, err, body in rsp])

        def on_reply(rsp):
            results = [_op_result(t, err, body, strip) for t, err, body in rsp]
            for result in results:
                if isinstance(result, ErrorResult) and result.err != Code.OK:
                    exc = KeeperException.create(result.err)
                    exc.results = results
                    raise exc
            return results

        return self._submit(OpCode.multi, request, MultiResponse, None, on_reply)

    def multi_read(self, ops: Iterable[Op]) -> list[OpResult]:
        """A multiRead: every op must be ``Op.get_data``/``Op.get_children``;
        a failing read is an ErrorResult in its place, not an exception."""
        return self._wait(self.multi_read_async(ops))

    def multi_read_async(self, ops: Iterable[Op]) -> Future:
        ops = list(ops)
        if any(op.kind != OpKind.READ for op in ops):
            raise ValueError("multi_read takes only Op.get_data and Op.get_children")
        return self.multi_async(ops)

    # -- watches ------------------------------------------------------------------------------------------

    def add_watch(self, path: str, watcher: Union[Watcher, bool] = True,
                  mode: AddWatchMode = AddWatchMode.PERSISTENT) -> None:
        """A watch that stays after it fires; PERSISTENT_RECURSIVE also
        covers every descendant (and never reports NodeChildrenChanged).
        ``watcher=True`` uses the default watcher."""
        return self._wait(self.add_watch_async(path, watcher, mode))

    def add_watch_async(self, path: str, watcher: Union[Watcher, bool] = True,
                        mode: AddWatchMode = AddWatchMode.PERSISTENT) -> Future:
        validate_path(path)
        watcher = self._watcher_of(watcher)
        if watcher is None:
            raise ValueError("Invalid Watcher, shouldn't be null!")
        mode = AddWatchMode(mode)
        wcb = AddWatchRegistration(self._watch_manager, watcher, path, mode)
        return self._submit(OpCode.addWatch, AddWatchRequest(self._server_path(path), int(mode)),
                            ErrorResponse, path, lambda rsp: None, watch_registration=wcb)

    def remove_watches(self, path: str, watcher: Watcher, watcher_type: WatcherType = WatcherType.Any,
                       local: bool = False) -> None:
        """Remove one watcher's watches of ``watcher_type`` on ``path``; its
        watcher is told (DataWatchRemoved / ChildWatchRemoved /
        PersistentWatchRemoved). ``local``: remove locally even when the
        server cannot be asked. NoWatcherException when there is none."""
        return self._wait(self.remove_watches_async(path, watcher, watcher_type, local))

    def remove_watches_async(self, path: str, watcher: Watcher, watcher_type: WatcherType = WatcherType.Any,
                             local: bool = False) -> Future:
        if watcher is None:
            raise ValueError("Invalid Watcher, shouldn't be null!")
        return self._remove_watches(OpCode.checkWatches, path, watcher, watcher_type, local)

    def remove_all_watches(self, path: str, watcher_type: WatcherType = WatcherType.Any,
                           local: bool = False) -> None:
        """Remove every watch of ``watcher_type`` on ``path``."""
        return self._wait(self.remove_all_watches_async(path, watcher_type, local))

    def remove_all_watches_async(self, path: str, watcher_type: WatcherType = WatcherType.Any,
                                 local: bool = False) -> Future:
        return self._remove_watches(OpCode.removeWatches, path, None, watcher_type, local)

    def _remove_watches(self, op: int, path: str, watcher, watcher_type: WatcherType, local: bool) -> Future:
        validate_path(path)
        watcher_type = WatcherType(watcher_type)
        dereg = WatchDeregistration(self._watch_manager, path, watcher, watcher_type, local)
        record = CheckWatchesRequest if op == OpCode.checkWatches else RemoveWatchesRequest
        return self._submit(op, record(self._server_path(path), int(watcher_type)), None, path,
                            lambda rsp: None, watch_deregistration=dereg)

    # -- auth -------------------------------------------------------------------------------------------

    def add_auth_info(self, scheme: str, auth: Union[bytes, str, None]) -> None:
        """Add credentials to the session (e.g. ``("digest", b"user:pw")``;
        None sends no credential bytes, as Java's null).

        They are kept and sent again after every reconnect, so a
        ConnectionLossException from this call does not mean they are lost.
        """
        return self._wait(self.add_auth_info_async(scheme, auth))

    def add_auth_info_async(self, scheme: str, auth: Union[bytes, str, None]) -> Future:
        if isinstance(auth, str):
            auth = auth.encode("utf-8")
        future = self._cnxn.new_future()
        self._cnxn.add_auth_info(scheme, None if auth is None else bytes(auth), future)
        return future

    # -- admin ------------------------------------------------------------------------------------------

    def reconfig(self, joining: Optional[str], leaving: Optional[str], new_members: Optional[str],
                 from_config: int = -1) -> tuple[bytes, Stat]:
        """Dynamic reconfiguration (Java's ``ZooKeeperAdmin.reconfigure``);
        returns the new configuration and the Stat of ``/zookeeper/config``."""
        return self._wait(self.reconfig_async(joining, leaving, new_members, from_config))

    def reconfig_async(self, joining: Optional[str], leaving: Optional[str], new_members: Optional[str],
                       from_config: int = -1) -> Future:
        request = ReconfigRequest(joining, leaving, new_members, from_config)
        return self._submit(OpCode.reconfig, request, GetDataResponse, None, lambda rsp: (rsp.data, rsp.stat))


def _op_result(op_type: int, err: int, body, strip) -> OpResult:
    if op_type == OpCode.create:
        return CreateResult(strip(body.path))
    if op_type == OpCode.create2:
        return CreateResult(strip(body.path), body.stat, OpCode.create2)
    if op_type == OpCode.delete:
        return DeleteResult()
    if op_type == OpCode.setData:
        return SetDataResult(body.stat)
    if op_type == OpCode.check:
        return CheckResult()
    if op_type == OpCode.getData:
        return GetDataResult(body.data, body.stat)
    if op_type == OpCode.getChildren:
        return GetChildrenResult(body.children)
    return ErrorResult(err)
