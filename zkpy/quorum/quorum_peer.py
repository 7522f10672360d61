"""One member of an ensemble: the state loop and what outlives each role.

Java: ``QuorumPeer`` (the thread, its state loop over LOOKING /
FOLLOWING / LEADING / OBSERVING, the epoch files, ``ZabState`` and
``getDetailedPeerState``). The peer owns the ZKDatabase (loaded before
the first election, since votes carry its last zxid), the client
connection factory (kept accepting while no role serves), the election
connection manager and FastLeaderElection (both live as long as the peer,
so that a follower still answers a LOOKING peer's notifications). Each
role (:class:`.leader.Leader`, :class:`.follower.Follower`,
:class:`.observer.Observer`) lives for one term; when it ends the peer is
LOOKING again.

``acceptedEpoch`` and ``currentEpoch`` live in ``<dataDir>/version-2``
as decimal text without a newline, written through ``<name>.tmp`` and a
rename (ZK_SPEC.md §4.5).

With ``readonlymode.enabled=true`` (``-Dreadonlymode.enabled=true`` in
``SERVER_JVMFLAGS``, or the zoo.cfg key), a peer still LOOKING after
max(2000 ms, tickTime) starts a
:class:`~.quorum_zookeeper_server.ReadOnlyZooKeeperServer` on its client
port, and shuts it down (closing its clients) when the election ends
(Java: the ``roZkMgr`` thread of ``QuorumPeer.run``).

The peer keeps one :class:`~zkpy.server.server_services.ServerServices`
(autopurge, /metrics, AdminServer) for its whole life and hands it each
role's server, or None while no role serves.

Dynamic reconfiguration (``reconfigEnabled=true``; Java:
``setQuorumVerifier``, ``setLastSeenQuorumVerifier``, ``processReconfig``,
``updateLearnerType``, ``updateVote``, ``reconfigFlagSet/Clear``,
``updateServerState``, ``initConfigInZKDatabase``): the peer holds the
committed config (``quorum_verifier``) and the last one seen
(``last_seen_quorum_verifier``: a proposed one, newer while a reconfig is
pending, else the same). Committing a config writes
``<zoo.cfg>.dynamic.<version>`` and points zoo.cfg at it
(:mod:`.dynamic_config`); a proposed one goes to ``<zoo.cfg>.dynamic.next``.
A reconfig that changes our role or designates another leader ends the
current role and sets the reconfig flag, so that the peer goes straight to
its new state (no election) when that role ends.

What zkpy does differently, on purpose: no JMX; a processor thread of a
role that dies ends that role (the peer elects again) rather than the
process. A reconfig does not restart the election machinery (the
connection manager reads the membership live) and does not move the
client port when a peer's client address changes (Java rebinds it).
"""

from __future__ import annotations

import enum
import logging
import os
import random
import re
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from ..server.config import ServerConfig
from ..server.persistence.file_snap import compression_method
from ..server.persistence.file_txn_snap_log import FileTxnSnapLog
from ..server.quorum_peer_main import ServerRunner
from ..server.zk_database import ZKDatabase
from .fast_leader_election import MAX_NOTIFICATION_INTERVAL, MIN_NOTIFICATION_INTERVAL, FastLeaderElection
from .initial_message import format_address
from .quorum_auth import create_quorum_auth
from .quorum_cnx_manager import QuorumCnxManager
from .quorum_server import LearnerType, QuorumServer
from .quorum_socket import QuorumSocketFactory
from . import dynamic_config
from .quorum_verifier import QuorumVerifier, parse_config_text, verifier_from_config
from .vote import ServerState, Vote

LOG = logging.getLogger(__name__)

CURRENT_EPOCH_FILENAME = "currentEpoch"
ACCEPTED_EPOCH_FILENAME = "acceptedEpoch"
TMP_EXTENSION = ".tmp"
_LONG_TEXT = re.compile(r"[+-]?[0-9]+")

#: Java's ExitCode.UNABLE_TO_BIND_QUORUM_PORT.
EXIT_UNABLE_TO_BIND_QUORUM_PORT = 14


class ZabState(enum.Enum):
    """Java: QuorumPeer.ZabState."""

    ELECTION = "election"
    DISCOVERY = "discovery"
    SYNCHRONIZATION = "synchronization"
    BROADCAST = "broadcast"


class SyncMode(enum.Enum):
    """Java: QuorumPeer.SyncMode."""

    NONE = "none"
    DIFF = "diff"
    SNAP = "snap"
    TRUNC = "trunc"


class PeerShutdown(Exception):
    """The peer is shutting down: no new role may start."""


def write_long_to_file(path: Path, value: int) -> None:
    """Java's writeLongToFile through AtomicFileOutputStream: the text goes to
    ``<name>.tmp``, is synced, then renamed over the file."""
    tmp = path.with_name(path.name + TMP_EXTENSION)
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(str(value))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def read_long_from_file(path: Path) -> int:
    """Java's readLongFromFile: the first line as a long; FileNotFoundError
    when there is no such file."""
    with open(path, "r", encoding="ascii", errors="replace") as f:
        line = f.readline().rstrip("\r\n")
    if not _LONG_TEXT.fullmatch(line):
        raise OSError(f"Found {line} in {path}")
    return int(line)


class QuorumPeer(threading.Thread):
    """A peer of an ensemble (see the module docstring)."""

    def __init__(self, config: ServerConfig, *, cnxn_factory=None, zk_db: Optional[ZKDatabase] = None,
                 on_fatal_error: Optional[Callable[[int], None]] = None, services=None, secure_cnxn_factory=None):
        super().__init__(name=f"QuorumPeer[myid={config.server_id}]", daemon=True)
        self.config = config
        self.my_id = config.server_id
        version = int(config.membership_version, 16) if config.membership_version else 0
        self.quorum_verifier: QuorumVerifier = verifier_from_config(
            config.servers, config.groups, config.weights, version,
            multi_address_enabled=config.multi_address_enabled)
        # Java keeps the last seen config equal to the committed one unless
        # a newer one is pending.
        self.last_seen_quorum_verifier: Optional[QuorumVerifier] = self.quorum_verifier
        self.reconfig_enabled = config.reconfig_enabled
        self._qv_lock = threading.RLock()
        self.config_filename = config.config_path
        self.dynamic_config_filename = config.dynamic_config_file
        #: Our own addresses, kept when a config we adopt does not list us.
        self.my_server: Optional[QuorumServer] = self.quorum_verifier.all_members.get(self.my_id)
        #: Java's reconfigFlag: the role ended because of a reconfig.
        self.reconfig_flag = False
        if self.reconfig_enabled and config.next_dynamic_config:
            try:
                self.last_seen_quorum_verifier = self.config_from_string(config.next_dynamic_config)
            except Exception as e:  # noqa: BLE001 - Java goes on without it too
                LOG.warning("NextQuorumVerifier is initiated to null: %s", e)
        if self.reconfig_enabled and self.dynamic_config_filename is None and self.config_filename:
            dynamic_config.backup_old_config(self.config_filename)
        self.learner_type = LearnerType(config.peer_type)
        self.tick_time = config.tick_time
        self.init_limit = config.init_limit
        self.sync_limit = config.sync_limit
        self.connect_to_learner_master_limit = config.connect_to_learner_master_limit
        self.quorum_listen_on_all_ips = config.quorum_listen_on_all_ips
        props = config.properties
        self.cnx_timeout = props.get_int("zookeeper.cnxTimeout", 5000)
        self.election_port_bind_retry = props.get_int("zookeeper.electionPortBindRetry", 3)
        self.tcp_keep_alive = props.get_bool("zookeeper.tcpKeepAlive", False)
        # sslQuorum / portUnification: bad ssl.quorum.* settings stop the peer here.
        self.quorum_socket_factory = QuorumSocketFactory.from_config(config)
        # quorum.auth.enableSasl: missing JAAS sections stop the peer here (Java: QuorumPeer.initialize).
        self.auth_server, self.auth_learner = create_quorum_auth(
            config, {host for s in self.quorum_verifier.all_members.values() for host, _ in s.addrs})
        self.leader_connect_delay_ms = props.get_long("zookeeper.leaderConnectDelayDuringRetryMs", 100)
        self.observer_election_delay_ms = props.get_long("zookeeper.observer.election.DelayMs", 200)
        self.min_notification_interval = props.get_int("zookeeper.fastleader.minNotificationInterval",
                                                       MIN_NOTIFICATION_INTERVAL)
        self.max_notification_interval = props.get_int("zookeeper.fastleader.maxNotificationInterval",
                                                       MAX_NOTIFICATION_INTERVAL)
        if zk_db is None:
            snap_log = FileTxnSnapLog(config.data_dir, config.data_log_dir or config.data_dir,
                                      force_sync=config.force_sync, pre_alloc_size=config.pre_alloc_size,
                                      max_buffer=config.jute_max_buffer,
                                      snapshot_compression=compression_method(config.snapshot_compression_method))
            zk_db = ZKDatabase(snap_log, commit_log_count=config.commit_log_count,
                               digest_enabled=config.digest_enabled)
        self.zk_db = zk_db
        self.cnxn_factory = cnxn_factory
        #: The TLS client port's factory (``secureClientPort``), served like the plain one.
        self.secure_cnxn_factory = secure_cnxn_factory
        self.services = services
        self.read_only_mode_enabled = config.read_only_mode_enabled
        self._ro_lock = threading.Lock()
        self.on_fatal_error = on_fatal_error
        self._state_lock = threading.RLock()
        self._state = ServerState.LOOKING
        self.zab_state = ZabState.ELECTION
        self.sync_mode = SyncMode.NONE
        self.current_vote = Vote(self.my_id, -1, -1, -1)
        self.accepted_epoch = -1
        self.current_epoch = -1
        self.running = True
        self.leader = None
        self.follower = None
        self.observer = None
        #: The leader's tick counter (Java: QuorumPeer.tick).
        self.tick = 0
        self.start_fle = 0.0
        self.end_fle = 0.0
        self.election_time_taken = 0
        self.qcm: Optional[QuorumCnxManager] = None
        self.election: Optional[FastLeaderElection] = None
        self._shutdown_done = threading.Event()

    # -- configuration views ------------------------------------------------------------------
    @property
    def is_participant(self) -> bool:
        return self.learner_type is LearnerType.PARTICIPANT

    def view(self) -> dict[int, QuorumServer]:
        """Every member we know of (Java: getView, plus the next config's),
        and ourselves even when the config does not list us (a joining or
        removed peer still listens on its own addresses)."""
        members = dict(self.quorum_verifier.all_members)
        if self.last_seen_quorum_verifier is not None:
            for sid, server in self.last_seen_quorum_verifier.all_members.items():
                members.setdefault(sid, server)
        if self.my_server is not None:
            members.setdefault(self.my_id, self.my_server)
        return members

    def current_and_next_config_voters(self) -> set[int]:
        voters = set(self.quorum_verifier.voting_members)
        if self.last_seen_quorum_verifier is not None:
            voters.update(self.last_seen_quorum_verifier.voting_members)
        return voters

    def verifiers(self) -> list[QuorumVerifier]:
        """The configs a quorum must satisfy (Java: SyncedLearnerTracker's)."""
        qvs = [self.quorum_verifier]
        last = self.last_seen_quorum_verifier
        if last is not None and last.version > self.quorum_verifier.version:
            qvs.append(last)
        return qvs

    def quorum_address(self) -> QuorumServer:
        return self.quorum_verifier.all_members.get(self.my_id) or self.my_server

    # -- dynamic reconfiguration ----------------------------------------------------------------
    def config_from_string(self, text: str) -> QuorumVerifier:
        return parse_config_text(text, multi_address_enabled=self.config.multi_address_enabled)

    def get_last_seen_quorum_verifier(self) -> QuorumVerifier:
        return self.last_seen_quorum_verifier or self.quorum_verifier

    def set_quorum_verifier(self, qv: QuorumVerifier, write_to_disk: bool) -> QuorumVerifier:
        """Adopt a committed config; returns the one it replaces (or the
        current one, unchanged, when ``qv`` is not newer)."""
        with self._qv_lock:
            current = self.quorum_verifier
            if current is not None and current.version >= qv.version:
                LOG.debug("Not setting quorum verifier: version 0x%x is not newer than 0x%x",
                          qv.version, current.version)
                return current
            self.quorum_verifier = qv
            last = self.last_seen_quorum_verifier
            if last is None or qv.version > last.version:
                self.last_seen_quorum_verifier = last = qv
            if write_to_disk and self.config_filename is not None:
                try:
                    path = dynamic_config.dynamic_file_name(self.config_filename, qv.version)
                    dynamic_config.write_dynamic_config(path, qv, keep_version=False)
                    dynamic_config.edit_static_config(self.config_filename, path,
                                                      self._need_erase_client_info_from_static_config())
                    self.dynamic_config_filename = path
                except OSError as e:
                    LOG.error("Error writing the dynamic config: %s", e)
            if qv.version == last.version and self.config_filename is not None:
                dynamic_config.delete_file(dynamic_config.next_file_name(self.config_filename))
            me = qv.all_members.get(self.my_id)
            if me is not None:
                self.my_server = me
            return current

    def _need_erase_client_info_from_static_config(self) -> bool:
        me = self.quorum_verifier.all_members.get(self.my_id)
        return me is not None and me.client_addr is not None and not me.client_addr_from_static

    def set_last_seen_quorum_verifier(self, qv: QuorumVerifier, write_to_disk: bool) -> None:
        """Remember a proposed config (``<zoo.cfg>.dynamic.next``)."""
        if not self.reconfig_enabled:
            LOG.info("Dynamic reconfig is disabled, we don't store the last seen config.")
            return
        with self._qv_lock:
            last = self.last_seen_quorum_verifier
            if last is not None and last.version > qv.version:
                LOG.error("setLastSeenQuorumVerifier called with stale config 0x%x. Current version: 0x%x",
                          qv.version, last.version)
            if last is not None and last.version == qv.version:
                return
            self.last_seen_quorum_verifier = qv
            if write_to_disk and self.config_filename is not None:
                try:
                    dynamic_config.write_dynamic_config(dynamic_config.next_file_name(self.config_filename), qv,
                                                        keep_version=True)
                except OSError as e:
                    LOG.error("Error writing next dynamic config file to disk: %s", e)

    def init_config_in_zk_database(self) -> None:
        """/zookeeper/config holds the committed config (Java: initConfigInZKDatabase)."""
        self.zk_db.init_config_node(str(self.quorum_verifier), self.quorum_verifier.version)

    def process_reconfig(self, qv: QuorumVerifier, suggested_leader: Optional[int], zxid: Optional[int],
                         restart_le: bool) -> bool:
        """Activate a committed config; True when our role or our leader
        changes (the caller then ends its role: see :meth:`update_server_state`)."""
        if not self.reconfig_enabled:
            LOG.debug("Reconfig feature is disabled, skip reconfig processing.")
            return False
        prev = self.set_quorum_verifier(qv, True)
        self.init_config_in_zk_database()
        if prev.version < qv.version and prev != qv:
            self._move_client_port(qv)
            role_change = self._update_learner_type(qv)
            if suggested_leader is not None:
                leader_change = self._update_vote(suggested_leader, zxid if zxid is not None else -1)
            else:
                leader_id = self.current_vote.id
                old = prev.voting_members.get(leader_id)
                new = qv.voting_members.get(leader_id)
                leader_change = old is None or new is None or old.addr != new.addr
                self.reconfig_flag = False  # no designated leader: elect
            return role_change or leader_change
        return False

    def _move_client_port(self, qv: QuorumVerifier) -> None:
        """The new config gives this peer another client address: listen
        there (Java: cnxnFactory.reconfigure in processReconfig)."""
        me = qv.all_members.get(self.my_id)
        factory = self.cnxn_factory
        if me is None or me.client_addr is None or factory is None:
            return
        host, port = me.client_addr
        current_host, current_port = factory.local_address
        if port != current_port or (host not in ("0.0.0.0", "::") and host != current_host):
            factory.reconfigure(host, port)

    def _update_learner_type(self, qv: QuorumVerifier) -> bool:
        if self.my_id in qv.observing_members:
            new_type, what = LearnerType.OBSERVER, "an observer"
        elif self.my_id in qv.voting_members:
            new_type, what = LearnerType.PARTICIPANT, "a voting participant"
        else:
            new_type, what = LearnerType.PARTICIPANT, "a non-voting participant"
        if self.learner_type is new_type:
            return False
        self.learner_type = new_type
        LOG.info("Becoming %s", what)
        self.reconfig_flag = True
        return True

    def _update_vote(self, designated_leader: int, zxid: int) -> bool:
        if designated_leader != self.current_vote.id:
            self.current_vote = Vote(designated_leader, zxid, -1, -1, version=0)
            self.reconfig_flag = True
            LOG.warning("Suggested leader: %d", designated_leader)
            return True
        return False

    # -- state --------------------------------------------------------------------------------
    @property
    def peer_state(self) -> ServerState:
        return self._state

    def set_peer_state(self, state: ServerState) -> None:
        with self._state_lock:
            self._state = state
            if state == ServerState.LOOKING:
                self.zab_state = ZabState.ELECTION
                self.sync_mode = SyncMode.NONE
            else:
                LOG.info("Peer state changed: %s", self.detailed_peer_state())

    def set_sync_mode(self, mode: SyncMode) -> None:
        with self._state_lock:
            self.sync_mode = mode

    def set_zab_state(self, zab_state: ZabState) -> None:
        with self._state_lock:
            self.zab_state = zab_state
        LOG.info("Peer state changed: %s", self.detailed_peer_state())

    def detailed_peer_state(self) -> str:
        """Java's getDetailedPeerState: ``following - broadcast`` and the like."""
        with self._state_lock:
            text = self._state.name.lower()
            if self.zab_state is not ZabState.ELECTION:
                text += " - " + self.zab_state.value
            if self.sync_mode is not SyncMode.NONE:
                text += " - " + self.sync_mode.value
            return text

    def server_state(self) -> str:
        """The mode four-letter words print for this peer's state."""
        return {ServerState.LEADING: "leader", ServerState.FOLLOWING: "follower",
                ServerState.OBSERVING: "observer"}.get(self._state, "looking")

    def update_server_state(self) -> None:
        """A role ended: back to LOOKING, or, when a reconfig ended it,
        straight to the role it gave us (Java: updateServerState)."""
        with self._state_lock:
            if not self.reconfig_flag:
                self.set_peer_state(ServerState.LOOKING)
                LOG.warning("PeerState set to LOOKING")
                return
            if self.current_vote.id == self.my_id:
                self.set_peer_state(ServerState.LEADING)
            elif self.learner_type is LearnerType.PARTICIPANT:
                self.set_peer_state(ServerState.FOLLOWING)
            else:
                self.set_peer_state(ServerState.OBSERVING)
            self.reconfig_flag = False

    def update_election_vote(self, new_epoch: int) -> None:
        """Report the new epoch in the vote we answer with (ZOOKEEPER-1732)."""
        v = self.current_vote
        self.current_vote = Vote(v.id, v.zxid, v.election_epoch, new_epoch, v.state, version=0)

    # -- the database and the epochs -------------------------------------------------------------
    def _epoch_path(self, name: str) -> Path:
        return Path(self.zk_db.snap_log.snap_dir) / name

    def last_logged_zxid(self) -> int:
        if not self.zk_db.initialized:
            self.load_database()
        return self.zk_db.last_processed_zxid

    def load_database(self) -> None:
        """Load the ZKDatabase and check the epoch files against it (Java: loadDataBase)."""
        self.zk_db.load_database()
        if self.zk_db.snap_log.find_most_recent_snapshot() is None:
            # A brand-new data dir: snapshot.0, as Java's restore writes, so
            # that the txns logged from now on have a snapshot to follow.
            self.zk_db.take_snapshot()
        last = self.zk_db.last_processed_zxid
        epoch_of_zxid = last >> 32
        try:
            self.current_epoch = read_long_from_file(self._epoch_path(CURRENT_EPOCH_FILENAME))
        except FileNotFoundError:
            self.current_epoch = epoch_of_zxid
            LOG.info("%s not found! Creating with a reasonable default of %d. This should only happen when "
                     "you are upgrading your installation", CURRENT_EPOCH_FILENAME, self.current_epoch)
            write_long_to_file(self._epoch_path(CURRENT_EPOCH_FILENAME), self.current_epoch)
        if epoch_of_zxid > self.current_epoch:
            tmp = self._epoch_path(CURRENT_EPOCH_FILENAME + TMP_EXTENSION)
            if tmp.exists():
                epoch = read_long_from_file(tmp)
                LOG.info("%s found. Setting current epoch to %d.", tmp, epoch)
                self.set_current_epoch(epoch)
                # Writing goes through the same .tmp name, so it may be gone already.
                tmp.unlink(missing_ok=True)
            else:
                raise OSError(f"The current epoch, {self.current_epoch:x}, is older than the last zxid, {last}")
        try:
            self.accepted_epoch = read_long_from_file(self._epoch_path(ACCEPTED_EPOCH_FILENAME))
        except FileNotFoundError:
            self.accepted_epoch = epoch_of_zxid
            LOG.info("%s not found! Creating with a reasonable default of %d. This should only happen when "
                     "you are upgrading your installation", ACCEPTED_EPOCH_FILENAME, self.accepted_epoch)
            write_long_to_file(self._epoch_path(ACCEPTED_EPOCH_FILENAME), self.accepted_epoch)
        if self.accepted_epoch < self.current_epoch:
            raise OSError(f"The accepted epoch, {self.accepted_epoch:x} is less than the current epoch, "
                          f"{self.current_epoch:x}")

    def set_current_epoch(self, epoch: int) -> None:
        write_long_to_file(self._epoch_path(CURRENT_EPOCH_FILENAME), epoch)
        self.current_epoch = epoch

    def set_accepted_epoch(self, epoch: int) -> None:
        write_long_to_file(self._epoch_path(ACCEPTED_EPOCH_FILENAME), epoch)
        self.accepted_epoch = epoch

    # -- the client port ---------------------------------------------------------------------------
    def set_zk_server(self, zks) -> None:
        """Hand the client connection factory (and the AdminServer, /metrics)
        to a role's server (None: nobody serves; the factory then answers
        four-letter words as not serving)."""
        self.set_admin_zk_server(zks)
        for factory in (self.cnxn_factory, self.secure_cnxn_factory):
            if factory is None:
                continue
            factory.set_zk_server(zks)
            if zks is None:
                factory.close_all("the quorum role ended")

    def set_admin_zk_server(self, zks) -> None:
        """The server the AdminServer and /metrics report on (Java:
        adminServer.setZooKeeperServer)."""
        if self.services is not None:
            self.services.set_zookeeper_server(zks)

    def role_failed(self, zks) -> None:
        """A thread of the role whose server is ``zks`` died: end that role."""
        def stop() -> None:
            for role in (self.leader, self.follower, self.observer):
                if role is not None and getattr(role, "zk", None) is zks:
                    if role is self.leader:
                        role.shutdown("a request processor thread died")
                    else:
                        role.shutdown()
        threading.Thread(target=stop, name="RoleFailed", daemon=True).start()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Load the database, open the client port, start the election
        machinery, then the state loop (Java: QuorumPeer.start)."""
        if self.my_server is None:
            # Java throws a RuntimeException here (exit code 1), not a ConfigException.
            raise RuntimeError(f"My id {self.my_id} not in the peer list")
        self.load_database()
        if self.cnxn_factory is not None:
            # The four-letter words may ask the peer while no role serves.
            self.cnxn_factory.quorum_peer = self
            self.cnxn_factory.start()
            host, port = self.cnxn_factory.local_address
            plain = format_address(host, port)
        else:
            plain = "disabled"
        secure = "disabled"
        if self.secure_cnxn_factory is not None:
            self.secure_cnxn_factory.quorum_peer = self
            self.secure_cnxn_factory.start()
            secure = format_address(*self.secure_cnxn_factory.local_address)
        self.name = f"QuorumPeer[myid={self.my_id}](plain={plain})(secure={secure})"
        self.start_leader_election()
        super().start()

    def start_leader_election(self) -> None:
        self.current_vote = Vote(self.my_id, self.last_logged_zxid(), -1, self.current_epoch, version=0)
        self.qcm = QuorumCnxManager(
            self.my_id, self.view, socket_timeout_ms=self.tick_time * self.sync_limit,
            cnx_timeout_ms=self.cnx_timeout, listen_on_all_ips=self.quorum_listen_on_all_ips,
            bind_retries=self.election_port_bind_retry, multi_address=self.config.multi_address_enabled,
            tcp_keep_alive=self.tcp_keep_alive, on_listener_failure=self._listener_failed,
            socket_factory=self.quorum_socket_factory, auth_server=self.auth_server, auth_learner=self.auth_learner,
            connection_threads=self.config.quorum_cnxn_threads_size if self.config.quorum_enable_sasl else 0)
        self.qcm.start()
        self.election = FastLeaderElection(self, self.qcm, min_notification_interval=self.min_notification_interval,
                                           max_notification_interval=self.max_notification_interval)
        self.election.start()

    def _listener_failed(self) -> None:
        if self.on_fatal_error is not None:
            self.on_fatal_error(EXIT_UNABLE_TO_BIND_QUORUM_PORT)

    def _set_role(self, attr: str, role) -> None:
        with self._state_lock:
            if not self.running:
                raise PeerShutdown()
            setattr(self, attr, role)

    def run(self) -> None:
        try:
            while self.running:
                state = self.peer_state
                if state == ServerState.LOOKING:
                    LOG.info("LOOKING")
                    read_only = self._schedule_read_only_server() if self.read_only_mode_enabled else None
                    try:
                        vote = self.election.look_for_leader()
                        if vote is not None:
                            self.current_vote = vote
                    except Exception:
                        LOG.warning("Unexpected exception", exc_info=True)
                        self.set_peer_state(ServerState.LOOKING)
                    finally:
                        if read_only is not None:
                            self._stop_read_only_server(*read_only)
                elif state == ServerState.OBSERVING:
                    self._run_role("observer", ServerState.OBSERVING)
                elif state == ServerState.FOLLOWING:
                    self._run_role("follower", ServerState.FOLLOWING)
                elif state == ServerState.LEADING:
                    self._run_role("leader", ServerState.LEADING)
        finally:
            LOG.warning("QuorumPeer main thread exited")

    # -- read-only mode --------------------------------------------------------------------------
    def _schedule_read_only_server(self):
        """Start a read-only server if we are still LOOKING after the grace
        period (Java: the roZkMgr thread); returns what _stop needs."""
        from .quorum_zookeeper_server import ReadOnlyZooKeeperServer

        LOG.info("Attempting to start ReadOnlyZooKeeperServer")
        holder: dict = {"server": None, "cancelled": False}

        def start() -> None:
            with self._ro_lock:
                if holder["cancelled"] or not self.running or self.peer_state != ServerState.LOOKING:
                    return
                try:
                    self.last_logged_zxid()  # the database, loaded
                    server = ReadOnlyZooKeeperServer(self)
                    server.startup()
                    holder["server"] = server
                    self.set_zk_server(server)
                    LOG.info("Read-only server started")
                except Exception:  # noqa: BLE001 - the election goes on without it
                    LOG.exception("FAILED to start ReadOnlyZooKeeperServer")

        timer = threading.Timer(max(2000, self.tick_time) / 1000.0, start)
        timer.name = "ReadOnlyServerStarter"
        timer.daemon = True
        timer.start()
        return timer, holder

    def _stop_read_only_server(self, timer, holder) -> None:
        timer.cancel()
        with self._ro_lock:
            holder["cancelled"] = True
            server = holder["server"]
            if server is not None:
                self.set_zk_server(None)
                server.shutdown()

    def _run_role(self, attr: str, state: ServerState) -> None:
        from .follower import Follower
        from .leader import Leader
        from .observer import Observer

        LOG.info("%s", state.name)
        role = None
        try:
            if state == ServerState.LEADING:
                role = Leader(self)
                self._set_role(attr, role)
                role.lead()
            elif state == ServerState.FOLLOWING:
                role = Follower(self)
                self._set_role(attr, role)
                role.follow_leader()
            else:
                role = Observer(self)
                self._set_role(attr, role)
                role.observe_leader()
        except PeerShutdown:
            pass
        except Exception:
            LOG.warning("Unexpected exception", exc_info=True)
        finally:
            if role is not None:
                if state == ServerState.LEADING:
                    role.shutdown("Forcing shutdown")
                else:
                    role.shutdown()
            with self._state_lock:
                setattr(self, attr, None)
            if self.running:
                self.update_server_state()
                if state == ServerState.OBSERVING:
                    self._wait_for_observer_election_delay()

    def _wait_for_observer_election_delay(self) -> None:
        """Observers wait a random moment before electing (Java:
        Observer.waitForObserverElectionDelay), to spread their load."""
        if self.observer_election_delay_ms > 0:
            delay = random.random() * self.observer_election_delay_ms
            LOG.info("Waiting for %d ms before starting the election", delay)
            time.sleep(delay / 1000.0)

    def shutdown(self) -> None:
        """Stop the role, the client port, the election and the loop."""
        with self._state_lock:
            if not self.running:
                already = True
            else:
                already = False
                self.running = False
            leader, follower, observer = self.leader, self.follower, self.observer
        if already:
            self._shutdown_done.wait(10)
            return
        try:
            if leader is not None:
                leader.shutdown("quorum Peer shutdown")
            if follower is not None:
                follower.shutdown()
            if observer is not None:
                observer.shutdown()
            if self.cnxn_factory is not None:
                self.cnxn_factory.shutdown()
            if self.secure_cnxn_factory is not None:
                self.secure_cnxn_factory.shutdown()
            if self.election is not None:
                self.election.shutdown()
            elif self.qcm is not None:
                self.qcm.halt()
            if self.is_alive() and self is not threading.current_thread():
                self.join(10)
                if self.is_alive():
                    LOG.warning("QuorumPeer thread did not stop within 10 s")
            self.zk_db.close()
        finally:
            self._shutdown_done.set()


class QuorumPeerMain(ServerRunner):
    """Runs a QuorumPeer from a ServerConfig (Java: QuorumPeerMain.runFromConfig).

    A fatal error of the peer (the election port cannot be bound) stops it
    and leaves ``exit_code`` for the process to exit with.
    """

    def __init__(self, config: ServerConfig):
        super().__init__()
        self.config = config
        self.peer: Optional[QuorumPeer] = None
        self.factory = None
        self.secure_factory = None
        self.services = None
        self.exit_code = 0

    def start(self) -> None:
        from ..server.cnxn_factory import NIOServerCnxnFactory

        from ..server.sasl.jaas import configure_sasl_login
        from ..server.ssl_config import X509Settings

        cfg = self.config
        address = cfg.client_address
        # As ZooKeeperServerMain: both client ports, each with the SASL login.
        factory_args = dict(
            max_client_cnxns=cfg.max_client_cnxns, max_buffer=cfg.jute_max_buffer,
            listen_backlog=cfg.client_port_listen_backlog, sessionless_timeout_ms=cfg.sessionless_cnxn_timeout,
            max_cnxns=cfg.max_cnxns, four_letter_whitelist=cfg.four_letter_word_whitelist,
            sasl_login=configure_sasl_login(cfg.properties),
        )
        if address is not None:
            self.factory = NIOServerCnxnFactory(address[0], address[1], **factory_args)
        secure_address = cfg.secure_client_address
        if secure_address is not None:
            x509 = X509Settings.from_properties(cfg.properties)
            self.secure_factory = NIOServerCnxnFactory(
                secure_address[0], secure_address[1], ssl_context=x509.create_server_context(),
                x509_auth_provider=x509.auth_provider, **factory_args)
        from ..server.server_services import ServerServices

        self.services = ServerServices(cfg)
        self.services.start()
        self.peer = QuorumPeer(cfg, cnxn_factory=self.factory, on_fatal_error=self._fatal, services=self.services,
                               secure_cnxn_factory=self.secure_factory)
        self.peer.start()
        if self.factory is not None:
            LOG.info("binding to port %s", format_address(*self.factory.local_address))
        if self.secure_factory is not None:
            LOG.info("binding to secure port %s", format_address(*self.secure_factory.local_address))

    def _fatal(self, code: int) -> None:
        self.exit_code = code
        threading.Thread(target=self.stop, name="shutdown", daemon=True).start()

    def _shutdown(self) -> None:
        if self.peer is not None:
            self.peer.shutdown()
        else:
            for factory in (self.factory, self.secure_factory):
                if factory is not None:
                    factory.shutdown()
        if self.services is not None:
            self.services.shutdown()
