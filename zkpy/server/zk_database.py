"""The peer's database: the DataTree, the session map, and their files.

Java: ``org.apache.zookeeper.server.ZKDatabase``. It belongs to the peer,
not to a role: it is loaded once (votes carry its last zxid) and outlives
each role's ZooKeeperServer. It also keeps the recent committed txns in
memory (``committed_log``) for a leader's DIFF sync.
"""

from __future__ import annotations

import collections
import logging
import threading

from ..defs import OpCode
from .data_tree import DataTree, ProcessTxnResult
from .digest import DigestTracker
from .persistence.file_txn_snap_log import FileTxnSnapLog
from .txn_codec import serialize_txn

LOG = logging.getLogger(__name__)


class ZKDatabase:
    def __init__(self, snap_log: FileTxnSnapLog, commit_log_count: int = 500, digest_enabled: bool = True):
        self.snap_log = snap_log
        # zookeeper.digest.enabled: the tree digest and its log (4lw ``hash``).
        self.digest = DigestTracker() if digest_enabled else None
        self.data_tree = DataTree()
        self.sessions_with_timeouts: dict[int, int] = {}
        self.initialized = False
        self.commit_log_count = commit_log_count
        self.committed_log: collections.deque = collections.deque()
        self.min_committed_log = 0
        self.max_committed_log = 0
        self._log_lock = threading.Lock()

    # -- loading ----------------------------------------------------------------
    def load_database(self) -> int:
        """Restore snapshot + log; returns the last processed zxid."""
        self.data_tree = DataTree()
        self.sessions_with_timeouts.clear()
        self.committed_log.clear()
        zxid = self.snap_log.restore(self.data_tree, self.sessions_with_timeouts, self._apply_restored)
        if zxid is None or zxid < 0:
            zxid = 0
        if self.data_tree.last_processed_zxid < zxid:
            self.data_tree.last_processed_zxid = zxid
        self.initialized = True
        LOG.info("Loaded database: last processed zxid 0x%x, %d nodes, %d sessions",
                 self.data_tree.last_processed_zxid, self.data_tree.node_count(),
                 len(self.sessions_with_timeouts))
        return self.data_tree.last_processed_zxid

    def _apply_restored(self, hdr, txn, digest=None) -> None:
        """Replay one logged txn (Java: FileTxnSnapLog.processTransaction)."""
        if hdr.type == OpCode.createSession:
            self.sessions_with_timeouts[hdr.clientId] = txn.timeOut
        elif hdr.type == OpCode.closeSession:
            self.sessions_with_timeouts.pop(hdr.clientId, None)
        rc = self.process_txn(hdr, txn)
        if rc.err and hdr.type != OpCode.error:
            LOG.debug("Ignoring error %d replaying txn 0x%x (fuzzy snapshot)", rc.err, hdr.zxid)
        self.add_committed_proposal(hdr, txn)

    # -- the request path -------------------------------------------------------
    def process_txn(self, hdr, txn) -> ProcessTxnResult:
        if self.digest is None:
            return self.data_tree.process_txn(hdr, txn)
        return self.digest.process_txn(self.data_tree, hdr, txn)

    def digest_log(self) -> list[tuple[int, int]]:
        """(zxid, tree digest) every 128th zxid (Java: DataTree.getDigestLog)."""
        return self.digest.digest_log() if self.digest is not None else []

    def append(self, request) -> bool:
        payload = request.txn_bytes
        if payload is None:
            payload = request.txn_bytes = serialize_txn(request.hdr, request.txn)
        return self.snap_log.append(request.hdr, payload)

    def commit(self) -> None:
        self.snap_log.commit()

    def roll_log(self) -> None:
        self.snap_log.roll_log()

    def add_committed_proposal(self, hdr, txn) -> None:
        """Remember a committed txn for DIFF sync (bounded by commitLogCount)."""
        with self._log_lock:
            log = self.committed_log
            if len(log) >= self.commit_log_count and log:
                log.popleft()
                self.min_committed_log = log[0][0].zxid if log else 0
            if not log:
                self.min_committed_log = hdr.zxid
            log.append((hdr, txn))
            self.max_committed_log = hdr.zxid

    # -- snapshots --------------------------------------------------------------
    def take_snapshot(self) -> None:
        tree = self.data_tree
        zxid = tree.last_processed_zxid
        LOG.info("Snapshotting: 0x%x to %s", zxid, self.snap_log.snap_dir)
        self.snap_log.save(tree, dict(self.sessions_with_timeouts), zxid)

    @property
    def last_processed_zxid(self) -> int:
        return self.data_tree.last_processed_zxid

    def close(self) -> None:
        self.snap_log.close()
