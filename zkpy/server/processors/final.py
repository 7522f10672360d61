"""FinalRequestProcessor: applies txns and answers the client.

Java: ``org.apache.zookeeper.server.FinalRequestProcessor``. Runs on the
thread of the processor before it (Sync in standalone). It applies the txn
to the database (which fires the watches, so watch events go out before the
reply of the write that caused them), then serves reads and writes the
reply. On error only the ReplyHeader is sent (ZK_SPEC.md §2.3).
"""

from __future__ import annotations

import logging

from ...defs import PING_XID, OpCode, Perms, WatcherType, AddWatchMode
from ...errors import Code, KeeperException
from ...jute.archive import InputArchive, JuteError, OutputArchive
from ...jute.multi import read_multi_request, write_multi_response
from ...jute.records import (
    AddWatchRequest, CheckWatchesRequest, ClientInfo, Create2Response, CreateResponse, ErrorResponse,
    ExistsRequest, GetACLRequest, GetACLResponse, GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse, GetChildren2Request, GetChildren2Response, GetChildrenRequest,
    GetChildrenResponse, GetDataRequest, GetDataResponse, GetEphemeralsRequest,
    GetEphemeralsResponse, RemoveWatchesRequest, ReplyHeader, SetDataResponse, SetACLResponse,
    SetWatches, SetWatches2, SyncRequest, SyncResponse, WhoAmIResponse, Id, ACL,
)
from ..request import Request
from .base import RequestProcessor

LOG = logging.getLogger(__name__)

_MULTI_CREATE_RESULT = {
    OpCode.create: OpCode.create,
    OpCode.create2: OpCode.create2,
    OpCode.createTTL: OpCode.create2,
    OpCode.createContainer: OpCode.create2,
}


class FinalRequestProcessor(RequestProcessor):
    def __init__(self, zks):
        self.zks = zks
        zks.final_processor = self  # it answers the reads served outside the chain too

    def process_request(self, request: Request) -> None:
        try:
            self._process(request)
        finally:
            cnxn = request.cnxn
            if cnxn is not None:
                # After the reply is queued: a read served at once from now
                # on comes after it (ZooKeeperServer.serve_read).
                cnxn.requests_done += 1

    def _process(self, request: Request) -> None:
        zks = self.zks
        rc = None
        if request.hdr is not None:
            rc = zks.process_txn(request)
        elif request.is_local_session:
            zks.process_local_session(request)  # a quorum peer's local session: no txn
        cnxn = request.cnxn
        if request.hdr is not None and request.hdr.type == OpCode.closeSession and cnxn is None:
            # An expired session: close whatever connection it still has.
            zks.close_session_connection(request.session_id)
        zks.request_finished(request)
        if cnxn is None:
            return
        tree = zks.zk_db.data_tree
        err = Code.OK
        body = None
        try:
            if request.hdr is not None and request.hdr.type == OpCode.error:
                if request.exception is not None:
                    raise request.exception
                raise KeeperException(request.txn.err)
            exc = request.exception
            if exc is not None and (exc.code == Code.SESSIONMOVED or request.type != OpCode.multi):
                raise exc
            t = request.type
            if t == OpCode.ping:
                cnxn.send_response(ReplyHeader(PING_XID, tree.last_processed_zxid, 0), None)
                cnxn.update_stats(request, "PING", tree.last_processed_zxid)
                return
            if t == OpCode.createSession:
                cnxn.update_stats(request, "SESS", tree.last_processed_zxid)
                zks.finish_session_init(cnxn, True)
                return
            body = self._respond(request, rc, cnxn, tree)
            if rc is not None and rc.err and t != OpCode.multi:
                err = Code(rc.err)
        except KeeperException as e:
            # A re-raised request.exception would keep this frame, and the
            # request with it, in a reference cycle (see Prep).
            e.__traceback__ = None
            if e.code == Code.SESSIONMOVED:
                cnxn.close("session moved")
                return
            err = e.code
            body = None
        except (JuteError, ValueError, UnicodeError) as e:
            LOG.warning("Failed to process %r: %s", request, e)
            err = Code.MARSHALLINGERROR
            body = None
        last_zxid = tree.last_processed_zxid
        if request.type == OpCode.multi and request.hdr is not None:
            last_zxid = request.hdr.zxid
        if err != Code.OK:
            body = None
        if request.type not in _KNOWN_OPS:
            last_zxid = -1
        cnxn.send_response(ReplyHeader(request.cxid, last_zxid, int(err)), body)
        cnxn.update_stats(request, _OP_NAMES.get(request.type, "NA"), last_zxid)
        if request.type == OpCode.closeSession:
            cnxn.close("client closed session")
        elif request.type not in _KNOWN_OPS:
            # As Java's UnimplementedRequestProcessor: the connection goes, the session stays.
            LOG.warning("Received packet at server of unknown type %d from %r", request.type, cnxn)
            cnxn.close(f"unknown op {request.type}")

    def _respond(self, request: Request, rc, cnxn, tree):
        zks = self.zks
        t = request.type
        if t == OpCode.create:
            return CreateResponse(rc.path)
        if t in (OpCode.create2, OpCode.createTTL, OpCode.createContainer):
            return Create2Response(rc.path, rc.stat)
        if t in (OpCode.delete, OpCode.deleteContainer, OpCode.closeSession):
            return None
        if t == OpCode.setData:
            return SetDataResponse(rc.stat)
        if t == OpCode.reconfig:
            # The new config and /zookeeper/config's Stat (Java: GetDataResponse).
            return GetDataResponse(request.txn.data, rc.stat)
        if t == OpCode.setACL:
            return SetACLResponse(rc.stat)
        if t == OpCode.check:
            # A check outside a multi (3.8.0's own server fails on it): the
            # node's Stat, as a SetDataResponse like Java's reply type.
            node = tree.get_node(rc.path)
            if node is None:
                raise KeeperException(Code.NONODE, rc.path)
            return SetDataResponse(node.stat())
        if t == OpCode.multi:
            return _MultiBody(self._multi_results(request, rc))
        inp = InputArchive(request.payload if request.payload is not None else b"", max_buffer=zks.max_buffer)
        if t == OpCode.sync:
            return SyncResponse(SyncRequest.deserialize(inp).path)
        if t == OpCode.exists:
            req = ExistsRequest.deserialize(inp)
            _check_nul(req.path)
            node = tree.get_node(req.path)
            if node is not None:
                zks.check_acl(node, Perms.READ, request.auth_info, req.path)
            return tree.stat_node(req.path, cnxn if req.watch else None)
        if t == OpCode.getData:
            req = GetDataRequest.deserialize(inp)
            _check_nul(req.path)
            node = self._readable(req.path, request, tree)
            data, stat = tree.get_data(req.path, cnxn if req.watch else None)
            return GetDataResponse(data, stat)
        if t in (OpCode.getChildren, OpCode.getChildren2):
            req = (GetChildrenRequest if t == OpCode.getChildren else GetChildren2Request).deserialize(inp)
            _check_nul(req.path)
            self._readable(req.path, request, tree)
            children, stat = tree.get_children(req.path, cnxn if req.watch else None)
            if t == OpCode.getChildren:
                return GetChildrenResponse(children)
            return GetChildren2Response(children, stat)
        if t == OpCode.getACL:
            req = GetACLRequest.deserialize(inp)
            _check_nul(req.path)
            node = tree.get_node(req.path)
            if node is None:
                raise KeeperException(Code.NONODE, req.path)
            acl = tree.get_acl(node)
            zks.check_acl(node, Perms.READ | Perms.ADMIN, request.auth_info, req.path)
            try:
                zks.check_acl(node, Perms.ADMIN, request.auth_info, req.path)
            except KeeperException:
                # Without ADMIN a reader sees digest ids masked (ZOOKEEPER-1392).
                acl = [ACL(a.perms, Id(a.id.scheme, a.id.id.split(":")[0] + ":x"))
                       if a.id.scheme == "digest" else a for a in acl]
            return GetACLResponse(acl, node.stat())
        if t == OpCode.getAllChildrenNumber:
            req = GetAllChildrenNumberRequest.deserialize(inp)
            self._readable(req.path, request, tree)
            return GetAllChildrenNumberResponse(tree.all_children_number(req.path))
        if t == OpCode.getEphemerals:
            req = GetEphemeralsRequest.deserialize(inp)
            prefix = req.prefixPath
            paths = tree.get_ephemerals(request.session_id)
            # Java trims the prefix (String.trim: every char <= ' ') only to
            # decide whether it asks for everything; it filters untrimmed.
            if prefix and prefix.strip(_JAVA_TRIM) not in ("", "/"):
                paths = [p for p in paths if p.startswith(prefix)]
            return GetEphemeralsResponse(paths)
        if t in (OpCode.setWatches, OpCode.setWatches2):
            req = (SetWatches if t == OpCode.setWatches else SetWatches2).deserialize(inp)
            zks.set_watches(cnxn, req)
            return None
        if t == OpCode.addWatch:
            req = AddWatchRequest.deserialize(inp)
            # No ACL check here (as in Java): events are filtered by READ
            # when they are delivered. An unknown mode fails like Java's
            # IllegalArgumentException does.
            if req.mode not in (AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE):
                raise JuteError(f"Unsupported mode: {req.mode}")
            zks.add_persistent_watch(cnxn, req.path, req.mode)
            return ErrorResponse(0)
        if t in (OpCode.checkWatches, OpCode.removeWatches):
            req = (CheckWatchesRequest if t == OpCode.checkWatches else RemoveWatchesRequest).deserialize(inp)
            if req.type not in (WatcherType.Children, WatcherType.Data, WatcherType.Any):
                raise JuteError(f"Invalid integer value for conversion to WatcherType: {req.type}")
            if not zks.check_or_remove_watches(cnxn, req.path, req.type, remove=t == OpCode.removeWatches):
                raise KeeperException(Code.NOWATCHER, req.path)
            return None
        if t == OpCode.whoAmI:
            return WhoAmIResponse([ClientInfo(i.scheme, zks.auth.user_name(i)) for i in request.auth_info])
        if t == OpCode.multiRead:
            return _MultiBody(self._multi_read(request, cnxn, tree))
        raise KeeperException(Code.UNIMPLEMENTED)

    def _readable(self, path: str, request: Request, tree, must_exist: bool = True):
        node = tree.get_node(path)
        if node is None:
            if must_exist:
                raise KeeperException(Code.NONODE, path)
            return None
        self.zks.check_acl(node, Perms.READ, request.auth_info, path)
        return node

    def _multi_results(self, request: Request, rc) -> list:
        results = []
        for sub in rc.multi_result or ():
            if sub.type == OpCode.error:
                results.append((OpCode.error, sub.err, ErrorResponse(sub.err)))
            elif sub.type in _MULTI_CREATE_RESULT:
                kind = _MULTI_CREATE_RESULT[sub.type]
                if kind == OpCode.create:
                    results.append((OpCode.create, 0, CreateResponse(sub.path)))
                else:
                    results.append((OpCode.create2, 0, Create2Response(sub.path, sub.stat)))
            elif sub.type in (OpCode.delete, OpCode.deleteContainer):
                results.append((OpCode.delete, 0, None))
            elif sub.type == OpCode.setData:
                results.append((OpCode.setData, 0, SetDataResponse(sub.stat)))
            elif sub.type == OpCode.check:
                results.append((OpCode.check, 0, None))
        return results

    def _multi_read(self, request: Request, cnxn, tree) -> list:
        ops = read_multi_request(InputArchive(request.payload, max_buffer=self.zks.max_buffer))
        if any(op_type not in (OpCode.getData, OpCode.getChildren) for op_type, _ in ops):
            raise JuteError("multiRead carries write operations")  # MARSHALLINGERROR, as Java
        results = []
        for op_type, op in ops:
            try:
                if op_type == OpCode.getData:
                    self._readable(op.path, request, tree)
                    data, stat = tree.get_data(op.path)
                    results.append((OpCode.getData, 0, GetDataResponse(data, stat)))
                elif op_type == OpCode.getChildren:
                    self._readable(op.path, request, tree)
                    children, _ = tree.get_children(op.path)
                    results.append((OpCode.getChildren, 0, GetChildrenResponse(children)))
                else:
                    raise KeeperException(Code.BADARGUMENTS)
            except KeeperException as e:
                results.append((OpCode.error, int(e.code), ErrorResponse(int(e.code))))
        return results


class _MultiBody:
    """A MultiResponse, written like a record."""

    __slots__ = ("results",)

    def __init__(self, results):
        self.results = results

    def serialize(self, out: OutputArchive) -> None:
        write_multi_response(out, self.results)


_JAVA_TRIM = "".join(map(chr, range(33)))


def _check_nul(path: str | None) -> None:
    if path is None or "\0" in path:
        raise KeeperException(Code.BADARGUMENTS, path)


_OP_NAMES = {
    OpCode.create: "CREA", OpCode.create2: "CREA", OpCode.createTTL: "CREA", OpCode.createContainer: "CREA",
    OpCode.delete: "DELE", OpCode.deleteContainer: "DELE", OpCode.setData: "SETD", OpCode.setACL: "SETA",
    OpCode.check: "CHEC", OpCode.multi: "MULT", OpCode.multiRead: "MLTR", OpCode.sync: "SYNC",
    OpCode.exists: "EXIS", OpCode.getData: "GETD", OpCode.getChildren: "GETC", OpCode.getChildren2: "GETC",
    OpCode.getACL: "GETA", OpCode.closeSession: "CLOS", OpCode.setWatches: "SETW",
    OpCode.setWatches2: "STW2", OpCode.addWatch: "ADDW", OpCode.checkWatches: "CHKW",
    OpCode.removeWatches: "REMW", OpCode.getEphemerals: "GETE", OpCode.getAllChildrenNumber: "GETACN",
    OpCode.whoAmI: "HOMI", OpCode.reconfig: "RECO",
}
_KNOWN_OPS = frozenset(int(op) for op in _OP_NAMES) | {int(OpCode.ping), int(OpCode.createSession)}
