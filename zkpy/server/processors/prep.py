"""PrepRequestProcessor: validates writes and turns them into txns.

Java: ``org.apache.zookeeper.server.PrepRequestProcessor``. Each write gets
the next zxid and a TxnHeader; a write that fails validation still consumes
its zxid and becomes an ErrorTxn (ZK_SPEC.md §2.3, §5.3). Validation reads
the tree through "change records": the state the tree will have once every
txn already prepared has been applied (``outstanding_changes``), so a
pipeline of writes sees its own earlier writes. ``prep()`` is the pure
decision; the thread only moves requests.

Besides client writes it prepares the ContainerManager's deleteContainer
requests (no session, no ACL check; the payload is the bare path) and
checks quotas on create and setData (``zkpy.server.quota``, against the
applied tree as Java does, not the pending changes).

A reconfig (op 16) is validated as Java's reconfig case: RECONFIGDISABLED
unless ``reconfigEnabled``, UNIMPLEMENTED outside a leader, RECONFIGINPROGRESS
while a proposed config is pending, BADVERSION for a stale ``curConfigId``,
BADARGUMENTS for a malformed or too small new config, NEWCONFIGNOQUORUM
unless the new config's voters synced with the leader form a quorum, NOAUTH
without WRITE on /zookeeper/config (the super user, or ``skipACL``, passes).
Its txn is a SetDataTxn of /zookeeper/config holding the new config, whose
version is the reconfig's zxid.
"""

from __future__ import annotations

import collections
import logging
import time

from ...defs import MAX_TTL, CreateMode, OpCode, Perms
from ...errors import Code, KeeperException
from ...jute.archive import InputArchive, JuteError, OutputArchive
from ...jute.multi import read_multi_request
from ...jute.records import (
    CheckVersionRequest, CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateRequest,
    CreateSessionTxn, CreateTTLRequest, CreateTTLTxn, CreateTxn, DeleteRequest, DeleteTxn, ErrorTxn,
    MultiTxn, ReconfigRequest, SetACLRequest, SetACLTxn, SetDataRequest, SetDataTxn, StatPersisted, Txn,
    TxnHeader,
)
from ...paths import parent_of, validate_path
from ..data_tree import CONFIG_NODE, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, ROOT, ephemeral_kind
from ..quota import check_tree_quota
from ..request import REQUEST_OF_DEATH, Request
from ..txn_codec import serialize_txn
from .base import QueuedProcessor

LOG = logging.getLogger(__name__)

_CREATE_OPS = (OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL)
_MULTI_WRITE_OPS = frozenset(_CREATE_OPS) | {OpCode.delete, OpCode.setData, OpCode.check}
_SPECIAL_PATHS = frozenset((ROOT, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, CONFIG_NODE))
#: Under a steady stream the queue may never run empty: flush at least this often.
_FLUSH_EVERY = 64


class ChangeRecord:
    """A node as it will be once pending txns apply (Java: ChangeRecord)."""

    __slots__ = ("zxid", "path", "stat", "child_count", "acl", "data")

    def __init__(self, zxid: int, path: str, stat: StatPersisted | None, child_count: int, acl, data=None):
        self.zxid = zxid
        self.path = path
        self.stat = stat
        self.child_count = child_count
        self.acl = acl
        self.data = data

    def duplicate(self, zxid: int) -> "ChangeRecord":
        stat = self.stat.copy() if self.stat is not None else None
        return ChangeRecord(zxid, self.path, stat, self.child_count, self.acl, self.data)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class OutstandingChanges:
    """Pending change records, in zxid order and by path (Java keeps both)."""

    def __init__(self) -> None:
        self.queue: collections.deque[ChangeRecord] = collections.deque()
        self.by_path: dict[str, ChangeRecord] = {}

    def add(self, record: ChangeRecord) -> None:
        self.queue.append(record)
        self.by_path[record.path] = record

    def applied_up_to(self, zxid: int) -> None:
        """Drop the records of every txn with a zxid <= ``zxid``."""
        queue, by_path = self.queue, self.by_path
        while queue and queue[0].zxid <= zxid:
            record = queue.popleft()
            if by_path.get(record.path) is record:
                del by_path[record.path]


class Prep:
    """The decision part of PrepRequestProcessor, free of threads and sockets."""

    def __init__(self, zks):
        self.zks = zks

    # -- change records ---------------------------------------------------------
    def record_for_path(self, path: str) -> ChangeRecord:
        record = self.find_record(path)
        if record is None:
            raise KeeperException(Code.NONODE, path)
        return record

    def find_record(self, path: str) -> ChangeRecord | None:
        """The node at ``path`` as pending txns leave it; None if there is none."""
        zks = self.zks
        with zks.outstanding_lock:
            record = zks.outstanding_changes.by_path.get(path)
            if record is None:
                tree = zks.zk_db.data_tree
                node = tree.get_node(path)
                if node is not None:
                    record = ChangeRecord(-1, path, node.stat_persisted(), node.num_children(),
                                          tree.get_acl(node), node.data)
        if record is None or record.stat is None:
            return None
        return record

    def _add(self, record: ChangeRecord) -> None:
        zks = self.zks
        with zks.outstanding_lock:
            zks.outstanding_changes.add(record)

    def _pending_for(self, paths) -> dict[str, ChangeRecord | None]:
        with self.zks.outstanding_lock:
            by_path = self.zks.outstanding_changes.by_path
            return {p: by_path.get(p) for p in paths}

    def _rollback(self, zxid: int, saved: dict[str, ChangeRecord | None]) -> None:
        """Undo the change records a failed multi added (Java: rollbackPendingChanges)."""
        with self.zks.outstanding_lock:
            changes = self.zks.outstanding_changes
            while changes.queue and changes.queue[-1].zxid == zxid:
                record = changes.queue.pop()
                if changes.by_path.get(record.path) is record:
                    del changes.by_path[record.path]
            for path, record in saved.items():
                if record is not None:
                    changes.by_path[path] = record

    # -- the request ------------------------------------------------------------
    def prep(self, request: Request) -> None:
        """Fill ``request.hdr``/``txn`` (writes) or ``request.exception``."""
        request.hdr = None
        request.txn = None
        t = request.type
        zks = self.zks
        try:
            if t in _CREATE_OPS or t in (OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.check):
                zxid = zks.next_zxid()
                request.hdr = TxnHeader(request.session_id, request.cxid, zxid, wall_ms(), t)
                record = self._parse(t, request.payload)
                self._to_txn(t, zxid, request, record, whole_request=True)
            elif t == OpCode.multi:
                self._prep_multi(request)
            elif t == OpCode.deleteContainer:
                zxid = zks.next_zxid()
                request.hdr = TxnHeader(request.session_id, request.cxid, zxid, wall_ms(), t)
                if request.cnxn is not None:
                    # Only the server sends these; Java reads a client's as a
                    # path made of the whole packet, which never validates.
                    raise KeeperException(Code.BADARGUMENTS)
                self._delete_container(zxid, request, bytes(request.payload).decode("utf-8"))
            elif t in (OpCode.createSession, OpCode.closeSession):
                zxid = zks.next_zxid()
                request.hdr = TxnHeader(request.session_id, request.cxid, zxid, wall_ms(), t)
                self._to_txn(t, zxid, request, None, whole_request=True)
            elif t == OpCode.reconfig:
                zxid = zks.next_zxid()
                request.hdr = TxnHeader(request.session_id, request.cxid, zxid, wall_ms(), t)
                self._reconfig(zxid, request)
            else:
                zks.session_tracker.check_session(request.session_id, request.owner)
        except KeeperException as e:
            if request.hdr is not None:
                request.hdr.type = OpCode.error
                request.txn = ErrorTxn(int(e.code))
            # Without its traceback: the frames would hold the request in a
            # cycle that only the cyclic collector frees (payload and all).
            request.exception = e.with_traceback(None)
        except (JuteError, ValueError, UnicodeError) as e:
            LOG.warning("Failed to process %r: %s", request, e)
            request.exception = KeeperException(Code.MARSHALLINGERROR)
            if request.hdr is not None:
                request.hdr.type = OpCode.error
                request.txn = ErrorTxn(Code.MARSHALLINGERROR)

    def _parse(self, t: int, payload):
        inp = InputArchive(payload, max_buffer=self.zks.max_buffer)
        if t == OpCode.createTTL:
            return CreateTTLRequest.deserialize(inp)
        if t in _CREATE_OPS:
            return CreateRequest.deserialize(inp)
        if t == OpCode.delete:
            return DeleteRequest.deserialize(inp)
        if t == OpCode.setData:
            return SetDataRequest.deserialize(inp)
        if t == OpCode.setACL:
            return SetACLRequest.deserialize(inp)
        if t == OpCode.check:
            return CheckVersionRequest.deserialize(inp)
        raise JuteError(f"no request record for op {t}")

    def _to_txn(self, t: int, zxid: int, request: Request, record, whole_request: bool) -> None:
        zks = self.zks
        if t in _CREATE_OPS:
            zks.session_tracker.check_session(request.session_id, request.owner)
            self._create(t, zxid, request, record)
        elif t == OpCode.delete:
            zks.session_tracker.check_session(request.session_id, request.owner)
            path = record.path
            self._validate_parent(path, delete=True)
            parent_path = parent_of(path)
            parent = self.record_for_path(parent_path)
            zks.auth.check_acl(parent.acl, Perms.DELETE, request.auth_info)
            node = self.record_for_path(path)
            _check_and_inc_version(node.stat.version, record.version, path)
            if node.child_count > 0:
                raise KeeperException(Code.NOTEMPTY, path)
            request.txn = DeleteTxn(path)
            parent = parent.duplicate(zxid)
            parent.child_count -= 1
            parent.stat.pzxid = zxid
            self._add(parent)
            self._add(ChangeRecord(zxid, path, None, -1, None))
        elif t == OpCode.setData:
            zks.session_tracker.check_session(request.session_id, request.owner)
            path = record.path
            validate_path(path)
            node = self.record_for_path(path)
            zks.auth.check_acl(node.acl, Perms.WRITE, request.auth_info)
            check_tree_quota(zks.zk_db.data_tree, path, node.data, record.data, zks.enforce_quota,
                             create=False)
            new_version = _check_and_inc_version(node.stat.version, record.version, path)
            request.txn = SetDataTxn(path, record.data, new_version)
            node = node.duplicate(zxid)
            node.stat.version = new_version
            node.stat.mtime = request.hdr.time
            node.stat.mzxid = zxid
            node.data = record.data
            self._add(node)
        elif t == OpCode.setACL:
            zks.session_tracker.check_session(request.session_id, request.owner)
            path = record.path
            validate_path(path)
            acl = zks.auth.fixup_acl(path, request.auth_info, record.acl)
            node = self.record_for_path(path)
            zks.auth.check_acl(node.acl, Perms.ADMIN, request.auth_info)
            new_version = _check_and_inc_version(node.stat.aversion, record.version, path)
            request.txn = SetACLTxn(path, acl, new_version)
            node = node.duplicate(zxid)
            node.stat.aversion = new_version
            node.acl = acl
            self._add(node)
        elif t == OpCode.check:
            zks.session_tracker.check_session(request.session_id, request.owner)
            path = record.path
            validate_path(path)
            node = self.record_for_path(path)
            zks.auth.check_acl(node.acl, Perms.READ, request.auth_info)
            _check_and_inc_version(node.stat.version, record.version, path)
            request.txn = CheckVersionTxn(path, node.stat.version)
        elif t == OpCode.createSession:
            inp = InputArchive(request.payload)
            timeout = inp.read_int()
            request.txn = CreateSessionTxn(timeout)
            zks.session_tracker.add_session(request.session_id, timeout)
        elif t == OpCode.closeSession:
            # Everything the session owns, including creates still in flight.
            tree = zks.zk_db.data_tree
            paths = set(tree.get_ephemerals(request.session_id))
            with zks.outstanding_lock:
                for change in zks.outstanding_changes.queue:
                    if change.stat is None:
                        paths.discard(change.path)
                    elif change.stat.ephemeralOwner == request.session_id:
                        paths.add(change.path)
            for path in sorted(paths):
                # The parent loses the child now, so a pipelined delete of
                # the parent is judged against the tree as it will be.
                try:
                    parent = self.record_for_path(parent_of(path)).duplicate(zxid)
                    parent.child_count -= 1
                    parent.stat.pzxid = zxid
                    self._add(parent)
                except KeeperException:
                    pass
                self._add(ChangeRecord(zxid, path, None, 0, None))
            request.txn = CloseSessionTxn(sorted(paths))
            zks.session_tracker.set_session_closing(request.session_id)
        else:
            raise KeeperException(Code.BADARGUMENTS)

    def _reconfig(self, zxid: int, request: Request) -> None:
        """Java: PrepRequestProcessor's reconfig case (see the module docstring)."""
        zks = self.zks
        if not zks.reconfig_enabled:
            LOG.error("Reconfig operation requested but reconfig feature is disabled.")
            raise KeeperException(Code.RECONFIGDISABLED)
        if zks.auth.skip_acl:
            LOG.warning("skipACL is set, reconfig operation will skip ACL checks!")
        zks.session_tracker.check_session(request.session_id, request.owner)
        leader = getattr(zks, "leader", None)
        if leader is None or not hasattr(leader, "is_quorum_synced"):
            raise KeeperException(Code.UNIMPLEMENTED)  # standalone: no reconfig
        from ...quorum.quorum_verifier import QuorumMaj  # the server package must not need the quorum one

        peer = leader.peer
        last_seen = peer.get_last_seen_quorum_verifier()
        if last_seen.version != peer.quorum_verifier.version:
            raise KeeperException(Code.RECONFIGINPROGRESS)
        req = ReconfigRequest.deserialize(InputArchive(request.payload, max_buffer=zks.max_buffer))
        if req.curConfigId != -1 and req.curConfigId != last_seen.version:
            LOG.info("Reconfiguration from version %x failed -- last seen version is %x", req.curConfigId,
                     last_seen.version)
            raise KeeperException(Code.BADVERSION)
        from ...quorum.quorum_server import QuorumServer
        from ..config import ConfigException

        if req.newMembers is not None:
            LOG.info("Non-incremental reconfig")
            try:
                qv = peer.config_from_string(req.newMembers.replace(",", "\n"))
            except ConfigException as e:
                raise KeeperException(Code.BADARGUMENTS, str(e)) from None
        else:
            LOG.info("Incremental reconfig")
            if not isinstance(last_seen, QuorumMaj):
                LOG.warning("Incremental reconfiguration requested but last configuration seen has a "
                            "non-majority quorum system")
                raise KeeperException(Code.BADARGUMENTS)
            members = dict(last_seen.all_members)
            for leaving in _split_list(req.leavingServers):
                members.pop(int(leaving), None)  # not a number: MARSHALLINGERROR, as Java's
            for joiner in _split_list(req.joiningServers):
                parts = [p.strip() for p in joiner.split("=") if p.strip()]
                if len(parts) != 2:
                    raise KeeperException(Code.BADARGUMENTS, "Wrong format of server string")
                sid = int(parts[0][parts[0].rfind(".") + 1:])
                try:
                    server = QuorumServer.parse(sid, parts[1],
                                                multi_address_enabled=peer.config.multi_address_enabled)
                except ConfigException:
                    raise KeeperException(Code.BADARGUMENTS, "Reconfiguration failed") from None
                if server.client_addr is None:
                    raise KeeperException(Code.BADARGUMENTS, "Wrong format of server string - each server "
                                          "should have 3 ports specified")
                for other in members.values():
                    if other.id != sid:
                        _check_address_duplicate(server, other)
                members.pop(sid, None)
                members[sid] = server
            qv = QuorumMaj(members)
        qv.version = zxid
        voters = len(qv.voting_members)
        if peer.config.standalone_enabled and voters < 2:
            LOG.warning("Reconfig failed - new configuration must include at least 2 followers")
            raise KeeperException(Code.BADARGUMENTS)
        if voters < 1:
            LOG.warning("Reconfig failed - new configuration must include at least 1 follower")
            raise KeeperException(Code.BADARGUMENTS)
        if not leader.is_quorum_synced(qv):
            LOG.warning("Reconfig failed - there must be a connected and synced quorum in new configuration")
            raise KeeperException(Code.NEWCONFIGNOQUORUM)
        node = self.record_for_path(CONFIG_NODE)
        zks.auth.check_acl(node.acl, Perms.WRITE, request.auth_info)
        data = str(qv).encode("utf-8")
        request.txn = SetDataTxn(CONFIG_NODE, data, -1)
        node = node.duplicate(zxid)
        node.stat.version = -1
        node.stat.mtime = request.hdr.time
        node.stat.mzxid = zxid
        node.data = data
        self._add(node)

    def _delete_container(self, zxid: int, request: Request, path: str) -> None:
        """A ContainerManager's delete: only an empty container or TTL node goes."""
        self._validate_parent(path, delete=True)
        node = self.record_for_path(path)
        if node.child_count > 0:
            raise KeeperException(Code.NOTEMPTY, path)
        if ephemeral_kind(node.stat.ephemeralOwner, self.zks.extended_types_enabled) == "ephemeral":
            # Java answers a session's ephemeral with BADVERSION here too.
            raise KeeperException(Code.BADVERSION, path)
        parent = self.record_for_path(parent_of(path))
        request.txn = DeleteTxn(path)
        parent = parent.duplicate(zxid)
        parent.child_count -= 1
        parent.stat.pzxid = zxid
        self._add(parent)
        self._add(ChangeRecord(zxid, path, None, -1, None))

    def _validate_parent(self, path: str, delete: bool = False) -> None:
        if path is None or "/" not in path or "\0" in path:
            raise KeeperException(Code.BADARGUMENTS, path)
        if delete and path in _SPECIAL_PATHS:
            # The root and the /zookeeper nodes are never deleted (Java:
            # getParentPathAndValidate, DataTree.isSpecialPath).
            raise KeeperException(Code.BADARGUMENTS, path)

    def _create(self, t: int, zxid: int, request: Request, record) -> None:
        zks = self.zks
        path = record.path
        flags = record.flags
        try:
            mode = CreateMode(flags)
        except ValueError:
            raise KeeperException(Code.BADARGUMENTS, path) from None
        ttl = record.ttl if t == OpCode.createTTL else -1
        # The op decides the node type; the flags only say ephemeral and
        # sequential (create2 with the CONTAINER flag makes a plain node,
        # createContainer with flags 0 a container), as in Java.
        if mode.is_ttl and not zks.extended_types_enabled:
            raise KeeperException(Code.UNIMPLEMENTED, path)
        if mode.is_ttl:
            if ttl <= 0 or ttl > MAX_TTL:
                raise KeeperException(Code.BADARGUMENTS, path)
        elif ttl >= 0 or t == OpCode.createTTL:
            # A createTTL without TTL flags: Java refuses a ttl >= 0 and
            # breaks on a negative one; zkpy refuses both.
            raise KeeperException(Code.BADARGUMENTS, path)
        self._validate_parent(path)
        acl = zks.auth.fixup_acl(path, request.auth_info, record.acl)
        parent_path = parent_of(path)
        parent = self.record_for_path(parent_path)
        zks.auth.check_acl(parent.acl, Perms.CREATE, request.auth_info)
        parent_cversion = parent.stat.cversion
        if mode.is_sequential:
            path = f"{path}{parent_cversion:010d}"
        validate_path(path)
        if self.find_record(path) is not None:
            raise KeeperException(Code.NODEEXISTS, path)
        if ephemeral_kind(parent.stat.ephemeralOwner, zks.extended_types_enabled) == "ephemeral":
            raise KeeperException(Code.NOCHILDRENFOREPHEMERALS, path)
        check_tree_quota(zks.zk_db.data_tree, path, None, record.data, zks.enforce_quota, create=True)
        new_cversion = parent_cversion + 1
        if t == OpCode.createContainer:
            request.txn = CreateContainerTxn(path, record.data, acl, new_cversion)
            owner = -0x8000000000000000
        elif t == OpCode.createTTL:
            request.txn = CreateTTLTxn(path, record.data, acl, new_cversion, ttl)
            owner = -0x0100000000000000 | ttl
        else:
            request.txn = CreateTxn(path, record.data, acl, mode.is_ephemeral, new_cversion)
            owner = request.session_id if mode.is_ephemeral else 0
        time_ms = request.hdr.time
        stat = StatPersisted(zxid, zxid, time_ms, time_ms, 0, 0, 0, owner, zxid)
        parent = parent.duplicate(zxid)
        parent.child_count += 1
        parent.stat.cversion = new_cversion
        parent.stat.pzxid = zxid
        self._add(parent)
        self._add(ChangeRecord(zxid, path, stat, 0, acl, record.data))

    def _prep_multi(self, request: Request) -> None:
        zks = self.zks
        zxid = zks.next_zxid()
        request.hdr = TxnHeader(request.session_id, request.cxid, zxid, wall_ms(), OpCode.multi)
        ops = [_multi_op(op_type, op)
               for op_type, op in read_multi_request(InputArchive(request.payload,
                                                                  max_buffer=zks.max_buffer))]
        if any(op_type not in _MULTI_WRITE_OPS for op_type, _ in ops):
            # Reads in a multi fail the whole request, as in Java.
            raise JuteError("multi carries read operations")
        saved = self._pending_for({op.path for _, op in ops} | {parent_of(op.path) for _, op in ops
                                                                if op.path and op.path.startswith("/")})
        txns: list[Txn] = []
        failure: KeeperException | None = None
        for op_type, op in ops:
            if failure is not None:
                sub_type, sub_txn = OpCode.error, ErrorTxn(Code.RUNTIMEINCONSISTENCY)
            else:
                try:
                    self._to_txn(op_type, zxid, request, op, whole_request=False)
                    sub_type, sub_txn = op_type, request.txn
                except KeeperException as e:
                    failure = e
                    sub_type, sub_txn = OpCode.error, ErrorTxn(int(e.code))
                    request.exception = e.with_traceback(None)
                    self._rollback(zxid, saved)
            out = OutputArchive()
            sub_txn.serialize(out)
            txns.append(Txn(int(sub_type), bytes(out.buf)))
        request.txn = MultiTxn(txns)


def _multi_op(op_type: int, op):
    """A multi sub-op as Java's MultiOperationRecord rebuilds it (``Op.create``).

    For the create family the flags decide: TTL flags make a createTTL, the
    CONTAINER flag a createContainer, anything else (unknown flags too) a
    plain create, so a create2 inside a multi answers like a create. TTL
    flags without a CreateTTLRequest fail the whole request as Java does
    (it cannot cast the record: MARSHALLINGERROR).
    """
    if op_type not in _CREATE_OPS:
        return op_type, op
    try:
        mode = CreateMode(op.flags)
    except ValueError:
        mode = CreateMode.PERSISTENT
    if mode.is_ttl:
        if op_type != OpCode.createTTL:
            raise JuteError(f"a create with TTL flags needs a CreateTTLRequest: {op.path}")
        return OpCode.createTTL, op
    if op_type == OpCode.createTTL:
        op = CreateRequest(op.path, op.data, op.acl, op.flags)
    return (OpCode.createContainer if mode.is_container else OpCode.create), op


def _split_list(text):
    """Java's StringUtils.split(text, ","): trimmed, no empty items."""
    if text is None:
        return []
    return [item.strip() for item in text.split(",") if item.strip()]


def _check_address_duplicate(server, other) -> None:
    """A joiner may not reuse a port of another member on the same (or a
    wildcard) address (Java: QuorumServer.checkAddressDuplicate)."""
    mine = list(server.addrs) + list(server.election_addrs) + ([server.client_addr] if server.client_addr else [])
    theirs = list(other.addrs) + list(other.election_addrs) + ([other.client_addr] if other.client_addr else [])
    wildcard = ("0.0.0.0", "::")
    for host, port in mine:
        for other_host, other_port in theirs:
            if port == other_port and (host == other_host or host in wildcard or other_host in wildcard):
                raise KeeperException(Code.BADARGUMENTS, f"Server address {host}:{port} conflicts with "
                                      f"server.{other.id}")


def _check_and_inc_version(current: int, expected: int, path: str) -> int:
    if expected != -1 and expected != current:
        raise KeeperException(Code.BADVERSION, path)
    return current + 1


class PrepRequestProcessor(QueuedProcessor):
    """The thread around ``Prep`` (first real processor of every write chain)."""

    def __init__(self, zks, next_processor):
        super().__init__("ProcessThread(sid:%d)" % zks.server_id, zks)
        self.next = next_processor
        self.prep = Prep(zks)

    def run(self) -> None:
        q = self.queue
        get = q.get
        prep = self.prep.prep
        nxt = self.next
        unflushed = 0
        while True:
            request = get()
            if request is REQUEST_OF_DEATH:
                break
            prep(request)
            if request.hdr is not None:
                # Serialized here, off the Sync thread (which logs, fsyncs
                # and applies: the standalone write path's busiest thread).
                request.txn_bytes = serialize_txn(request.hdr, request.txn)
            request.zxid = self.zks.get_zxid()
            nxt.process_request(request)
            unflushed += 1
            if unflushed >= _FLUSH_EVERY or q.empty():
                nxt.flush()  # e.g. the leader's proposals go to its followers together
                unflushed = 0
        nxt.flush()
        LOG.info("PrepRequestProcessor exited loop!")

    def shutdown(self) -> None:
        super().shutdown()
        self.next.shutdown()
