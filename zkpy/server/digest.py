"""The DataTree digest and its history (the ``hash`` four-letter word).

Java: ``org.apache.zookeeper.server.DigestCalculator``, the digest kept by
``NodeHashMapImpl`` and ``DataTree.logZxidDigest`` / ``getDigestLog``
(ZK_SPEC.md §5.4). A node's digest is the CRC32 of its path (the root as
""), its data and its persisted stat; nodes under ``/zookeeper/`` count 0.
The tree digest is their 64-bit wrapping sum. After each whole txn whose
zxid is a multiple of ``zookeeper.digestLogInterval`` (128) the pair
(zxid, digest) is remembered, at most ``zookeeper.digestLogLimit`` (1024)
of them.

What zkpy does differently, on purpose: the DataTree does not keep the
digest itself. :class:`DigestTracker` sits beside it (in ZKDatabase) and
updates the sum around each txn from the nodes the txn can touch (its
path and the parent, a closed session's ephemerals and their parents, the
ops of a multi): their digests are subtracted before the txn is applied
and added back after, so it needs no hook inside the tree. The "after"
digest is kept on the node (``DataNode.digest``) and serves as the
"before" of the next txn that touches it. It computes the
whole sum again whenever the tree (or its node map, after a snapshot load)
is a different object. Snapshot digests are not compared (zkpy writes
snapshots without a digest block).
"""

from __future__ import annotations

import collections
import logging
import struct
import threading
import zlib
from collections.abc import Collection

from ..defs import OpCode
from ..paths import parent_of

LOG = logging.getLogger(__name__)

DIGEST_VERSION = 2
DIGEST_LOG_INTERVAL = 128
DIGEST_LOG_LIMIT = 1024

_STAT = struct.Struct(">qqqqqiiiq")
_ZOOKEEPER_SUBTREE = "/zookeeper/"
_MASK64 = (1 << 64) - 1
#: Txns that change their own node's digest and not the parent's.
_OWN_NODE_ONLY = frozenset({OpCode.setData, OpCode.setACL, OpCode.reconfig, OpCode.check})


def _signed64(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value >= (1 << 63) else value


def node_digest(path: str, node) -> int:
    """DigestCalculator.calculateDigest for one DataNode."""
    if path.startswith(_ZOOKEEPER_SUBTREE):
        return 0
    crc = zlib.crc32(b"" if path == "/" else path.encode("utf-8"))
    if node.data is not None:
        crc = zlib.crc32(node.data, crc)
    return zlib.crc32(_STAT.pack(node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime,
                                 node.version, node.cversion, node.aversion, node.ephemeral_owner), crc)


def tree_digest(tree) -> int:
    """The digest of a whole DataTree."""
    total = 0
    for path, node in list(tree.nodes.items()):
        total += node_digest(path, node)
    return _signed64(total)


class DigestTracker:
    """The running tree digest and the (zxid, digest) log of one ZKDatabase."""

    def __init__(self, interval: int = DIGEST_LOG_INTERVAL, limit: int = DIGEST_LOG_LIMIT):
        self.interval = max(1, interval)
        self._log: collections.deque[tuple[int, int]] = collections.deque(maxlen=max(1, limit))
        self._lock = threading.Lock()
        self._nodes = None  # the node map the running sum belongs to
        self._sum = 0  # the tree digest as an unsigned 64-bit sum

    @property
    def digest(self) -> int:
        """The tree digest, a signed 64-bit value as Java's long."""
        return _signed64(self._sum)

    def _sync(self, tree) -> None:
        if self._nodes is not tree.nodes:
            self._sum = tree_digest(tree) & _MASK64
            self._nodes = tree.nodes

    def process_txn(self, tree, hdr, txn):
        """Apply ``txn`` to ``tree`` (``tree.process_txn``), keeping the digest."""
        self._sync(tree)
        touched = _touched_paths(tree, hdr.type, txn, hdr.clientId)
        nodes = tree.nodes
        before = 0
        for path in touched:
            node = nodes.get(path)
            if node is not None:
                digest = node.digest
                before += node_digest(path, node) if digest is None else digest
        rc = tree.process_txn(hdr, txn)
        after = 0
        for path in touched:
            node = nodes.get(path)
            if node is not None:
                node.digest = digest = node_digest(path, node)
                after += digest
        self._sum = (self._sum - before + after) & _MASK64
        if hdr.zxid % self.interval == 0:
            with self._lock:
                self._log.append((hdr.zxid, self.digest))
        return rc

    def digest_log(self) -> list[tuple[int, int]]:
        """The remembered (zxid, digest) pairs, oldest first."""
        with self._lock:
            return list(self._log)


def _touched_paths(tree, txn_type: int, txn, session_id: int) -> Collection[str]:
    """Every node whose digest ``txn`` may change, each once."""
    if txn is None:
        return ()
    if txn_type == OpCode.closeSession:
        paths = set(tree.ephemerals.get(session_id, ()))
        paths.update(getattr(txn, "paths2Delete", None) or ())
        return paths | {parent_of(path) for path in paths}
    if txn_type == OpCode.multi:
        from .txn_codec import decode_txn_record
        touched: set[str] = set()
        for sub in txn.txns or ():
            try:
                record = decode_txn_record(sub.type, sub.data)
            except Exception:  # an undecodable op fails the txn anyway
                continue
            touched.update(_touched_paths(tree, sub.type, record, session_id))
        return touched
    # The usual txn: one node, and its parent unless only the node changes
    # (a tuple: no set to build on every write).
    path = getattr(txn, "path", None)
    if not path:
        return ()
    if path == "/" or txn_type in _OWN_NODE_ONLY:
        return (path,)
    return (path, parent_of(path))
