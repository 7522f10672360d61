"""The in-memory znode tree.

Java: ``org.apache.zookeeper.server.DataTree`` and ``DataNode``. Nodes live in
one dict keyed by absolute path (the root is "/"; snapshots name it "").
Each node keeps the persisted Stat fields; the client-visible Stat is derived
(cversion x 2 - numChildren, ephemeralOwner 0 for containers and TTL nodes;
ZK_SPEC.md §2.7). Applying a txn (``process_txn``) depends only on the txn,
never on Prep, so followers and log replay use the same code.

Quotas (``zkpy.server.quota``): creating ``/zookeeper/quota/P/zookeeper_limits``
puts P under quota, creating its ``zookeeper_stats`` recounts P's subtree into
it, and every create/delete/setData under P updates those stats in place (no
txn, no version change), as Java's DataTree does; loading a snapshot recounts.

Watch events carry the ACL of the node they are about (the parent's for
NodeChildrenChanged), so a connection without READ on it is not told
(ZooKeeper 3.8.4's fix for CVE-2024-23944; upstream 3.8.0 tells everyone).

Thread model: one thread applies txns (the request pipeline) and
``process_txn`` holds ``lock`` while it does, watch triggers included.
Reads are served by that thread or, when their session has nothing in
flight, by the selector thread holding ``lock`` (ZooKeeperServer.serve_read):
a read then sees a txn whole or not at all, and a watch it sets is either
in place before a change's trigger or set after the change is visible --
Java gets the same from ``synchronized (node)``. A snapshot thread copies
the node dict under ``lock``, so no thread ever iterates a dict that another
one mutates.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterator

from ..defs import CONTAINER_EPHEMERAL_OWNER, EventType, OpCode
from ..errors import Code, KeeperException
from ..jute.records import (
    ACL, READ_ACL_UNSAFE, CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateTTLTxn,
    CreateTxn, DeleteTxn, ErrorTxn, MultiTxn, SetACLTxn, SetDataTxn, Stat, StatPersisted, TxnHeader,
)
from ..paths import basename, parent_of
from .acl_cache import OPEN_UNSAFE_ACL_ID, ReferenceCountedACLCache
from .quota import LIMIT_NODE, STAT_NODE, QuotaPaths, StatsTrack, stat_path, trim_quota_path
from .watch_manager import WatchManager

LOG = logging.getLogger(__name__)

ROOT = "/"
PROC_ZOOKEEPER = "/zookeeper"
QUOTA_ZOOKEEPER = "/zookeeper/quota"
CONFIG_NODE = "/zookeeper/config"

_TTL_MARKER = 0xFF


def ephemeral_kind(owner: int, extended_types: bool = True) -> str:
    """'persistent', 'ephemeral', 'container' or 'ttl' (Java: EphemeralType.get)."""
    if owner == 0:
        return "persistent"
    if owner == CONTAINER_EPHEMERAL_OWNER:
        return "container"
    if extended_types and ((owner >> 56) & 0xFF) == _TTL_MARKER:
        return "ttl"
    return "ephemeral"


def ttl_of(owner: int) -> int:
    return owner & 0xFFFFFFFFFF


class DataNode:
    """One znode: data, ACL index, persisted stat fields, child names."""

    __slots__ = (
        "data", "acl", "czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
        "ephemeral_owner", "pzxid", "children", "digest",
    )

    def __init__(self, data: bytes | None, acl: int, czxid: int = 0, mzxid: int = 0, ctime: int = 0,
                 mtime: int = 0, version: int = 0, cversion: int = 0, aversion: int = 0,
                 ephemeral_owner: int = 0, pzxid: int = 0):
        self.data = data
        self.acl = acl
        self.czxid = czxid
        self.mzxid = mzxid
        self.ctime = ctime
        self.mtime = mtime
        self.version = version
        self.cversion = cversion
        self.aversion = aversion
        self.ephemeral_owner = ephemeral_owner
        self.pzxid = pzxid
        self.children: set[str] | None = None  # created on the first child
        #: The node's digest as the DigestTracker last computed it (None: not
        #: yet); every txn that changes the node recomputes it.
        self.digest: int | None = None

    def num_children(self) -> int:
        children = self.children
        return len(children) if children else 0

    def stat(self) -> Stat:
        """The Stat a client sees."""
        n = self.num_children()
        owner = self.ephemeral_owner
        if owner and ephemeral_kind(owner) in ("container", "ttl"):
            owner = 0
        data = self.data
        return Stat(self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
                    self.cversion * 2 - n, self.aversion, owner,
                    len(data) if data else 0, n, self.pzxid)

    def stat_persisted(self) -> StatPersisted:
        return StatPersisted(self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
                             self.cversion, self.aversion, self.ephemeral_owner, self.pzxid)


class ProcessTxnResult:
    """What applying one txn did (Java: ``DataTree.ProcessTxnResult``)."""

    __slots__ = ("client_id", "cxid", "zxid", "err", "type", "path", "stat", "multi_result")

    def __init__(self, hdr: TxnHeader):
        self.client_id = hdr.clientId
        self.cxid = hdr.cxid
        self.zxid = hdr.zxid
        self.type = hdr.type
        self.err = 0
        self.path: str | None = None
        self.stat: Stat | None = None
        self.multi_result: list[ProcessTxnResult] | None = None


class DataTree:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.nodes: dict[str, DataNode] = {}
        self.acl_cache = ReferenceCountedACLCache()
        self.ephemerals: dict[int, set[str]] = {}
        self.containers: set[str] = set()
        self.ttls: set[str] = set()
        self.data_watches = WatchManager()
        self.child_watches = WatchManager()
        self.quota_paths = QuotaPaths()
        self.last_processed_zxid = 0
        self.approximate_data_size = 0
        self._init_builtin_nodes()

    def _init_builtin_nodes(self) -> None:
        root = DataNode(b"", OPEN_UNSAFE_ACL_ID)
        self.nodes[ROOT] = root
        self._attach(ROOT, PROC_ZOOKEEPER, DataNode(b"", OPEN_UNSAFE_ACL_ID))
        self._attach(PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, DataNode(b"", OPEN_UNSAFE_ACL_ID))
        self._attach(PROC_ZOOKEEPER, CONFIG_NODE, self._new_config_node())
        self.approximate_data_size = sum(len(p) for p in self.nodes if p != ROOT)

    def _new_config_node(self) -> DataNode:
        # Java sets READ_ACL_UNSAFE on it with setACL(version -1), which
        # leaves aversion at -1 (ZOOKEEPER-2014).
        return DataNode(b"", self.acl_cache.convert_acls(READ_ACL_UNSAFE), aversion=-1)

    def _attach(self, parent_path: str, path: str, node: DataNode) -> None:
        parent = self.nodes[parent_path]
        if parent.children is None:
            parent.children = set()
        parent.children.add(basename(path))
        self.nodes[path] = node

    # -- reads ----------------------------------------------------------------
    def get_node(self, path: str) -> DataNode | None:
        return self.nodes.get(path)

    def node_count(self) -> int:
        return len(self.nodes)

    def watch_count(self) -> int:
        return self.data_watches.size() + self.child_watches.size()

    def ephemeral_count(self) -> int:
        return sum(len(paths) for paths in list(self.ephemerals.values()))

    def get_ephemerals(self, session_id: int) -> list[str]:
        return sorted(self.ephemerals.get(session_id, ()))

    def get_acl(self, node: DataNode) -> list[ACL]:
        return self.acl_cache.convert_long(node.acl)

    def container_paths(self) -> list[str]:
        """A copy of the container paths (read by the ContainerManager's thread)."""
        with self.lock:
            return list(self.containers)

    def ttl_paths(self) -> list[str]:
        with self.lock:
            return list(self.ttls)

    def stat_node(self, path: str, watcher=None) -> Stat:
        """The node's Stat; a watcher is registered even when it is missing."""
        if watcher is not None:
            self.data_watches.add_watch(path, watcher)
        node = self.nodes.get(path)
        if node is None:
            raise KeeperException(Code.NONODE, path)
        return node.stat()

    def get_data(self, path: str, watcher=None) -> tuple[bytes | None, Stat]:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperException(Code.NONODE, path)
        if watcher is not None:
            self.data_watches.add_watch(path, watcher)
        return node.data, node.stat()

    def get_children(self, path: str, watcher=None) -> tuple[list[str], Stat]:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperException(Code.NONODE, path)
        if watcher is not None:
            self.child_watches.add_watch(path, watcher)
        return list(node.children or ()), node.stat()

    def all_children_number(self, path: str) -> int:
        if path == ROOT:
            return len(self.nodes) - 1
        prefix = path + "/"
        return sum(1 for p in list(self.nodes) if p.startswith(prefix))

    # -- writes (applied from txns) ------------------------------------------
    def create_node(self, path: str, data: bytes | None, acl: list[ACL] | None, ephemeral_owner: int,
                    parent_cversion: int, zxid: int, time: int) -> Stat:
        parent_path = parent_of(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            raise KeeperException(Code.NONODE, path)
        name = basename(path)
        if parent.children is not None and name in parent.children:
            raise KeeperException(Code.NODEEXISTS, path)
        if parent_cversion == -1:
            parent_cversion = parent.cversion + 1
        # Replay over a fuzzy snapshot may see a create twice: never go back.
        if parent_cversion > parent.cversion:
            parent.cversion = parent_cversion
            parent.pzxid = zxid
        node = DataNode(data, self.acl_cache.convert_acls(acl), zxid, zxid, time, time, 0, 0, 0,
                        ephemeral_owner, zxid)
        kind = ephemeral_kind(ephemeral_owner)
        with self.lock:
            if parent.children is None:
                parent.children = set()
            parent.children.add(name)
            self.nodes[path] = node
            if kind == "container":
                self.containers.add(path)
            elif kind == "ttl":
                self.ttls.add(path)
        if kind == "ephemeral":
            self.ephemerals.setdefault(ephemeral_owner, set()).add(path)
        size = len(data) if data else 0
        self.approximate_data_size += len(path) + size
        if parent_path.startswith(QUOTA_ZOOKEEPER):
            if name == LIMIT_NODE:
                self.quota_paths.add(trim_quota_path(parent_path))
            elif name == STAT_NODE:
                self._update_quota_for_path(trim_quota_path(parent_path))
        prefix = self.quota_paths.max_prefix(path)
        if prefix is not None:
            self._update_quota_stat(prefix, size, 1)
        self.data_watches.trigger_watch(path, EventType.NodeCreated, zxid, acl=self.get_acl(node))
        self.child_watches.trigger_watch(parent_path, EventType.NodeChildrenChanged, zxid,
                                         acl=self.get_acl(parent))
        return node.stat()

    def delete_node(self, path: str, zxid: int) -> None:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperException(Code.NONODE, path)
        parent_path = parent_of(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            raise KeeperException(Code.NONODE, path)
        owner = node.ephemeral_owner
        kind = ephemeral_kind(owner)
        name = basename(path)
        with self.lock:
            del self.nodes[path]
            if parent.children is not None:
                parent.children.discard(name)
            if kind == "container":
                self.containers.discard(path)
            elif kind == "ttl":
                self.ttls.discard(path)
        parent.pzxid = zxid
        acl = self.get_acl(node)
        self.acl_cache.remove_usage(node.acl)
        if kind == "ephemeral":
            paths = self.ephemerals.get(owner)
            if paths is not None:
                paths.discard(path)
                if not paths:
                    del self.ephemerals[owner]
        size = len(node.data) if node.data else 0
        self.approximate_data_size -= len(path) + size
        if name == LIMIT_NODE and parent_path.startswith(QUOTA_ZOOKEEPER):
            self.quota_paths.discard(trim_quota_path(parent_path))
        prefix = self.quota_paths.max_prefix(path)
        if prefix is not None:
            self._update_quota_stat(prefix, -size, -1)
        fired = self.data_watches.trigger_watch(path, EventType.NodeDeleted, zxid, acl=acl)
        self.child_watches.trigger_watch(path, EventType.NodeDeleted, zxid, suppress=fired, acl=acl)
        self.child_watches.trigger_watch(parent_path, EventType.NodeChildrenChanged, zxid,
                                         acl=self.get_acl(parent))

    def set_data(self, path: str, data: bytes | None, version: int, zxid: int, time: int) -> Stat:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperException(Code.NONODE, path)
        old = node.data
        node.data = data
        node.mtime = time
        node.mzxid = zxid
        node.version = version
        bytes_diff = (len(data) if data else 0) - (len(old) if old else 0)
        self.approximate_data_size += bytes_diff
        prefix = self.quota_paths.max_prefix(path)
        if prefix is not None:
            self._update_quota_stat(prefix, bytes_diff, 0)
        self.data_watches.trigger_watch(path, EventType.NodeDataChanged, zxid, acl=self.get_acl(node))
        return node.stat()

    # -- quotas -------------------------------------------------------------------
    def max_prefix_with_quota(self, path: str) -> str | None:
        """The deepest path at or above ``path`` that has a quota (Java: getMaxPrefixWithQuota)."""
        return self.quota_paths.max_prefix(path)

    def _update_quota_stat(self, prefix: str, bytes_diff: int, count_diff: int) -> None:
        """Add to the usage kept in ``prefix``'s zookeeper_stats (Java: updateQuotaStat)."""
        stat_node = self.nodes.get(stat_path(prefix))
        if stat_node is None:
            LOG.error("Missing node for stat %s", stat_path(prefix))
            return
        try:
            stats = StatsTrack(stat_node.data)
        except ValueError:
            LOG.warning("Unreadable quota stats in %s: %r", stat_path(prefix), stat_node.data)
            return
        stats.count += count_diff
        stats.bytes += bytes_diff
        self._replace_stat_data(stat_node, stats.to_bytes())

    def _replace_stat_data(self, stat_node: DataNode, data: bytes) -> None:
        old = stat_node.data
        stat_node.data = data
        self.approximate_data_size += len(data) - (len(old) if old else 0)

    def _subtree_counts(self, path: str) -> tuple[int, int]:
        """(nodes, data bytes) of ``path`` and everything below it (Java: getCounts)."""
        count = size = 0
        stack = [path]
        while stack:
            current = stack.pop()
            node = self.nodes.get(current)
            if node is None:
                continue
            count += 1
            size += len(node.data) if node.data else 0
            prefix = "" if current == ROOT else current
            stack.extend(prefix + "/" + child for child in (node.children or ()))
        return count, size

    def _update_quota_for_path(self, path: str) -> None:
        """Recount ``path``'s subtree into its zookeeper_stats (Java: updateQuotaForPath)."""
        stat_node = self.nodes.get(stat_path(path))
        if stat_node is None:
            LOG.warning("Missing quota stat node %s", stat_path(path))
            return
        stats = StatsTrack()
        stats.count, stats.bytes = self._subtree_counts(path)
        self._replace_stat_data(stat_node, stats.to_bytes())

    def setup_quota(self) -> None:
        """Rebuild the quota paths and recount their stats (after a load; Java: setupQuota)."""
        self.quota_paths.clear()
        suffix = "/" + LIMIT_NODE
        stack = [QUOTA_ZOOKEEPER]
        while stack:
            path = stack.pop()
            node = self.nodes.get(path)
            if node is None:
                continue
            if node.children:
                stack.extend(path + "/" + child for child in node.children)
            elif path.endswith(suffix):
                real = path[len(QUOTA_ZOOKEEPER):path.index(suffix)]
                self._update_quota_for_path(real)
                self.quota_paths.add(real)

    def set_acl(self, path: str, acl: list[ACL], version: int) -> Stat:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperException(Code.NONODE, path)
        self.acl_cache.remove_usage(node.acl)
        node.aversion = version
        node.acl = self.acl_cache.convert_acls(acl)
        return node.stat()

    def set_cversion_pzxid(self, path: str, new_cversion: int, zxid: int) -> None:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperException(Code.NONODE, path)
        if new_cversion == -1:
            new_cversion = node.cversion + 1
        if new_cversion > node.cversion:
            node.cversion = new_cversion
            node.pzxid = zxid

    def kill_session(self, session_id: int, zxid: int, paths: list[str] | None = None) -> None:
        """Delete the session's ephemerals (those named in the txn if given)."""
        to_delete = paths if paths is not None else sorted(self.ephemerals.get(session_id, ()))
        for path in to_delete:
            try:
                self.delete_node(path, zxid)
            except KeeperException:
                LOG.debug("ephemeral %s of session 0x%x already gone", path, session_id)
        if paths is not None:
            # The txn's list was taken at prep time; anything left is stale.
            for path in sorted(self.ephemerals.get(session_id, ())):
                try:
                    self.delete_node(path, zxid)
                except KeeperException:
                    pass

    def remove_watcher(self, watcher) -> None:
        self.data_watches.remove_all(watcher)
        self.child_watches.remove_all(watcher)

    # -- applying txns ----------------------------------------------------------
    def process_txn(self, hdr: TxnHeader, txn, is_sub_txn: bool = False) -> ProcessTxnResult:
        if is_sub_txn:
            return self._process_txn(hdr, txn, True)
        with self.lock:
            return self._process_txn(hdr, txn, False)

    def _process_txn(self, hdr: TxnHeader, txn, is_sub_txn: bool) -> ProcessTxnResult:
        rc = ProcessTxnResult(hdr)
        t = hdr.type
        try:
            if t in (OpCode.create, OpCode.create2):
                rc.path = txn.path
                rc.stat = self.create_node(txn.path, txn.data, txn.acl,
                                           hdr.clientId if txn.ephemeral else 0,
                                           txn.parentCVersion, hdr.zxid, hdr.time)
            elif t == OpCode.createContainer:
                rc.path = txn.path
                rc.stat = self.create_node(txn.path, txn.data, txn.acl, CONTAINER_EPHEMERAL_OWNER,
                                           txn.parentCVersion, hdr.zxid, hdr.time)
            elif t == OpCode.createTTL:
                rc.path = txn.path
                owner = (-0x0100000000000000) | (txn.ttl & 0xFFFFFFFFFF)
                rc.stat = self.create_node(txn.path, txn.data, txn.acl, owner,
                                           txn.parentCVersion, hdr.zxid, hdr.time)
            elif t in (OpCode.delete, OpCode.deleteContainer):
                rc.path = txn.path
                self.delete_node(txn.path, hdr.zxid)
            elif t in (OpCode.setData, OpCode.reconfig):
                rc.path = txn.path
                rc.stat = self.set_data(txn.path, txn.data, txn.version, hdr.zxid, hdr.time)
            elif t == OpCode.setACL:
                rc.path = txn.path
                rc.stat = self.set_acl(txn.path, txn.acl, txn.version)
            elif t == OpCode.closeSession:
                self.kill_session(hdr.clientId, hdr.zxid, txn.paths2Delete if txn is not None else None)
            elif t == OpCode.error:
                rc.err = txn.err
            elif t == OpCode.check:
                rc.path = txn.path
            elif t == OpCode.multi:
                self._process_multi(hdr, txn, rc)
            # createSession changes only the session map (ZKDatabase).
        except KeeperException as e:
            LOG.debug("txn 0x%x type %d failed: %s", hdr.zxid, t, e)
            rc.err = int(e.code)
            if t in (OpCode.create, OpCode.create2) and rc.err == Code.NODEEXISTS and not is_sub_txn:
                # Replaying a create over a fuzzy snapshot: the parent's
                # cversion/pzxid must still move forward (ZK_SPEC.md §5.3).
                try:
                    self.set_cversion_pzxid(parent_of(txn.path), txn.parentCVersion, hdr.zxid)
                except KeeperException:
                    LOG.warning("cannot adjust parent of %s for txn 0x%x", txn.path, hdr.zxid)
        if not is_sub_txn and hdr.zxid > self.last_processed_zxid:
            self.last_processed_zxid = hdr.zxid
        return rc

    def _process_multi(self, hdr: TxnHeader, txn: MultiTxn, rc: ProcessTxnResult) -> None:
        from .txn_codec import decode_txn_record

        subs = txn.txns or []
        failed = any(sub.type == OpCode.error for sub in subs)
        rc.multi_result = []
        post_failed = False
        for sub in subs:
            sub_type = sub.type
            record = decode_txn_record(sub_type, sub.data)
            if sub_type == OpCode.error:
                post_failed = True
            elif failed:
                # Atomicity: none of a failed multi's ops are applied.
                record = ErrorTxn(Code.RUNTIMEINCONSISTENCY if post_failed else Code.OK)
                sub_type = OpCode.error
            sub_hdr = TxnHeader(hdr.clientId, hdr.cxid, hdr.zxid, hdr.time, sub_type)
            sub_rc = self.process_txn(sub_hdr, record, is_sub_txn=True)
            rc.multi_result.append(sub_rc)
            if sub_rc.err != 0 and rc.err == 0:
                rc.err = sub_rc.err

    # -- snapshots --------------------------------------------------------------
    def acl_cache_entries(self) -> list[tuple[int, list[ACL]]]:
        return self.acl_cache.entries()

    def snapshot_nodes(self) -> Iterator[tuple[str, bytes | None, int, StatPersisted]]:
        """Nodes parent-first for a fuzzy snapshot; the root is named "".

        The path set is copied under the lock (a short, C-speed copy); the
        walk then reads live children and node fields without blocking
        writers. Nodes created after the copy are left out, nodes deleted
        after it are still written: replay of the log repairs both.
        """
        with self.lock:
            nodes = self.nodes.copy()
        stack = [ROOT]
        while stack:
            path = stack.pop()
            node = nodes.get(path)
            if node is None:
                continue
            yield ("" if path == ROOT else path), node.data, node.acl, node.stat_persisted()
            children = node.children
            if children:
                prefix = "" if path == ROOT else path
                stack.extend(prefix + "/" + name for name in tuple(children))

    def begin_load(self) -> None:
        with self.lock:
            self.nodes = {}
            self.ephemerals = {}
            self.containers = set()
            self.ttls = set()
            self.acl_cache = ReferenceCountedACLCache()
            self.quota_paths = QuotaPaths()
            self.approximate_data_size = 0
            self.last_processed_zxid = 0

    def load_acl_cache(self, entries: list[tuple[int, list[ACL]]]) -> None:
        self.acl_cache.load(entries)

    def load_node(self, path: str, data: bytes | None, acl_index: int, stat: StatPersisted) -> None:
        node = DataNode(data, acl_index, stat.czxid, stat.mzxid, stat.ctime, stat.mtime, stat.version,
                        stat.cversion, stat.aversion, stat.ephemeralOwner, stat.pzxid)
        if path in ("", ROOT):
            self.nodes[ROOT] = node
        else:
            parent = self.nodes.get(parent_of(path))
            if parent is None:
                raise ValueError(f"Invalid Datatree, unable to find parent {parent_of(path)} of path {path}")
            if parent.children is None:
                parent.children = set()
            parent.children.add(basename(path))
            self.nodes[path] = node
            self.approximate_data_size += len(path) + (len(data) if data else 0)
            kind = ephemeral_kind(stat.ephemeralOwner)
            if kind == "ephemeral":
                self.ephemerals.setdefault(stat.ephemeralOwner, set()).add(path)
            elif kind == "container":
                self.containers.add(path)
            elif kind == "ttl":
                self.ttls.add(path)
        self.acl_cache.add_usage(acl_index)

    def end_load(self) -> None:
        if ROOT not in self.nodes:
            raise ValueError("Invalid Datatree: snapshot has no root")
        # A snapshot from an older server may lack the built-in nodes.
        for parent, path in ((ROOT, PROC_ZOOKEEPER), (PROC_ZOOKEEPER, QUOTA_ZOOKEEPER)):
            if path not in self.nodes:
                self._attach(parent, path, DataNode(b"", OPEN_UNSAFE_ACL_ID))
        if CONFIG_NODE not in self.nodes:
            self._attach(PROC_ZOOKEEPER, CONFIG_NODE, self._new_config_node())
        self.acl_cache.purge_unused()
        self.setup_quota()
