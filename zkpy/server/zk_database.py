"""The peer's database: the DataTree, the session map, and their files.

Java: ``org.apache.zookeeper.server.ZKDatabase``. It belongs to the peer,
not to a role: it is loaded once (votes carry its last zxid) and outlives
each role's ZooKeeperServer. It also keeps the recent committed txns in
memory (``committed_log``) for a leader's DIFF sync.

For the quorum roles (ZK_SPEC.md §4.3-4.4): ``log_lock`` makes applying a
txn and remembering it in the committed log one step, so that a leader
choosing a learner's sync mode sees both agree; ``serialize_snapshot`` /
``deserialize_snapshot`` are the SNAP stream; ``truncate_log`` (TRUNC)
cuts the txn log and reloads; ``fast_forward_database`` applies what the
log holds beyond the tree (a role's logged but uncommitted proposals, as
Java does when a role ends); ``proposals_from_txn_log`` reads the log
from a zxid for a DIFF older than the committed log.
"""

from __future__ import annotations

import collections
import logging
import threading

from ..defs import OpCode
from ..errors import KeeperException
from .data_tree import CONFIG_NODE, DataTree, ProcessTxnResult
from .digest import DigestTracker
from .persistence.file_snap import read_snapshot_stream, write_snapshot_stream
from .persistence.file_txn_snap_log import FileTxnSnapLog
from .persistence.util import SNAPSHOT_FILE_PREFIX, get_zxid_from_name
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
        #: Held while a txn is applied and added to the committed log (Java: logLock).
        self.log_lock = threading.RLock()
        #: Bytes a SNAP reader took past the snapshot (see deserialize_snapshot).
        self.snapshot_leftover = b""

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
        with self.log_lock:
            log = self.committed_log
            if len(log) >= self.commit_log_count and log:
                log.popleft()
                self.min_committed_log = log[0][0].zxid if log else 0
            if not log:
                self.min_committed_log = hdr.zxid
            log.append((hdr, txn))
            self.max_committed_log = hdr.zxid

    def committed_proposals(self) -> list[tuple[int, bytes]]:
        """The committed log as (zxid, PROPOSAL data), oldest first (hold ``log_lock``)."""
        with self.log_lock:
            items = list(self.committed_log)
        return [(hdr.zxid, serialize_txn(hdr, txn)) for hdr, txn in items]

    # -- the quorum roles --------------------------------------------------------
    def set_last_processed_zxid(self, zxid: int) -> None:
        self.data_tree.last_processed_zxid = zxid

    def clear(self) -> None:
        """Forget the tree and sessions (Java: ZKDatabase.clear)."""
        with self.log_lock:
            self.data_tree = DataTree()
            self.sessions_with_timeouts.clear()
            self.committed_log.clear()
            self.min_committed_log = self.max_committed_log = 0
            self.initialized = False

    def fast_forward_database(self) -> int:
        """Apply the logged txns after the tree's last zxid (Java:
        fastForwardDataBase); the new last processed zxid."""
        with self.log_lock:
            last = self.data_tree.last_processed_zxid
            zxid = self.snap_log.fast_forward_from_edits(last, self._apply_restored)
            if zxid > self.data_tree.last_processed_zxid:
                self.data_tree.last_processed_zxid = zxid
            return self.data_tree.last_processed_zxid

    def truncate_log(self, zxid: int) -> bool:
        """Cut every logged txn after ``zxid`` and reload from disk (TRUNC)."""
        with self.log_lock:
            self.clear()
            newer = [p for p in self.snap_log.find_n_valid_snapshots(100)
                     if get_zxid_from_name(p.name, SNAPSHOT_FILE_PREFIX) > zxid]
            if newer:
                older = [p for p in self.snap_log.find_n_valid_snapshots(100) if p not in newer]
                if not older:
                    LOG.error("Cannot truncate to 0x%x: every snapshot is newer", zxid)
                    return False
                for path in newer:
                    # It holds txns the ensemble never committed.
                    LOG.warning("Removing snapshot %s, newer than the truncation point 0x%x", path, zxid)
                    path.unlink()
            if not self.snap_log.truncate_log(zxid):
                return False
            self.load_database()
            return True

    def serialize_snapshot(self, stream) -> int:
        """The SNAP stream to a learner (no header, no seal); the node count."""
        return write_snapshot_stream(stream, self.data_tree, self.sessions_with_timeouts)

    def deserialize_snapshot(self, stream, zxid: int) -> str | None:
        """Replace the tree and sessions with a leader's SNAP stream, then
        read the string after it; returns it and leaves the over-read bytes
        in ``self.snapshot_leftover``."""
        with self.log_lock:
            self.clear()
            tree = self.data_tree
            signature, self.snapshot_leftover = read_snapshot_stream(stream, tree, self.sessions_with_timeouts,
                                                                     self.snap_log.snap_log.max_buffer)
            tree.last_processed_zxid = zxid
            self.initialized = True
            return signature

    def proposals_from_txn_log(self, start_zxid: int, size_limit: int):
        """The logged txns as (zxid, PROPOSAL data), from the log file covering
        ``start_zxid`` on; None when the logs from there are more than
        ``size_limit`` bytes (negative: never; 0: no limit) or none exist
        (Java: getProposalsFromTxnLog)."""
        if size_limit < 0:
            return None
        itr = self.snap_log.read_txn_log(start_zxid, fast_forward=False)
        if size_limit > 0 and itr.storage_size() > size_limit:
            LOG.info("Txnlog size: %d exceeds sizeLimit: %d", itr.storage_size(), size_limit)
            itr.close()
            return None

        def entries():
            with itr:
                for hdr, _txn, _digest, payload in itr:
                    yield hdr.zxid, payload

        return entries()

    def txn_log_size_limit(self, factor: float) -> int:
        """``factor`` x the newest snapshot's size (Java: calculateTxnLogSizeLimit)."""
        if factor < 0:
            return -1
        path = self.snap_log.find_most_recent_snapshot()
        try:
            size = path.stat().st_size if path is not None else 0
        except OSError:
            size = 0
        return int(size * factor)

    def init_config_node(self, config_text: str, version: int) -> None:
        """/zookeeper/config holds the ensemble's config (Java: initConfigInZKDatabase)."""
        import time as _time

        try:
            self.data_tree.set_data(CONFIG_NODE, config_text.encode("utf-8"), -1, version,
                                    _time.time_ns() // 1_000_000)
        except KeeperException:
            LOG.warning("configuration node missing - should not happen")

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
