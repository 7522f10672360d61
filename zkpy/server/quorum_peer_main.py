"""Process entry point: ``python -m zkpy zoo.cfg`` / ``zkpy-server zoo.cfg``.

Java: ``QuorumPeerMain`` and ``ZooKeeperServerMain``. Runs a standalone
server when the config lists no ``server.N`` (or one voter with
``standaloneEnabled``), else a quorum peer (``zkpy.quorum.quorum_peer``).
As Java, ``port dataDir [tickTime] [maxClientCnxns]`` instead of a config
file runs a standalone server with those settings and every default.
Exits on SIGTERM/SIGINT after a clean shutdown.

A standalone server listens on ``clientPort``, on ``secureClientPort``
(TLS, :mod:`zkpy.server.ssl_config`), or on both with one ZooKeeperServer
behind them; each factory gets the SASL login of the JAAS configuration
(:mod:`zkpy.server.sasl.jaas`), as Java's ``configureSaslLogin`` does.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading

from .cnxn_factory import NIOServerCnxnFactory
from .config import ConfigException, ServerConfig
from .container_manager import ContainerManager
from .log_setup import set_myid, setup_logging
from .persistence.file_snap import compression_method
from .persistence.file_txn_snap_log import FileTxnSnapLog
from .sasl.jaas import configure_sasl_login
from .ssl_config import X509Settings
from .server_services import ServerServices, startup_failure
from .zk_database import ZKDatabase
from .zookeeper_server import ZooKeeperServer

LOG = logging.getLogger(__name__)

USAGE = "Usage: zkpy-server configfile | port datadir [ticktime] [maxcnxns]"


class ServerRunner:
    """``start()``, then ``wait()`` until a ``stop()`` from any thread (a
    signal handler's, a fatal error's) has finished; ``stop()`` runs once."""

    def __init__(self) -> None:
        self._stopped = threading.Event()  # set once stop() has finished
        self._stop_lock = threading.Lock()
        self._stopping = False

    def start(self) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopping:
                return
            self._stopping = True
        try:
            self._shutdown()
        finally:
            # Only now may main() return: the process ends with it, and a
            # running snapshot or an unclosed log would be cut off.
            self._stopped.set()

    def wait(self) -> None:
        # In slices: a SIGTERM that lands on another thread (as after
        # SIGSTOP/SIGCONT) runs its handler only when this thread wakes.
        while not self._stopped.wait(0.5):
            pass


class ZooKeeperServerMain(ServerRunner):
    """Builds and runs a standalone server from a ServerConfig."""

    def __init__(self, config: ServerConfig):
        super().__init__()
        self.config = config
        self.factory: NIOServerCnxnFactory | None = None
        self.secure_factory: NIOServerCnxnFactory | None = None
        self.zks: ZooKeeperServer | None = None
        self.container_manager: ContainerManager | None = None
        self.services = ServerServices(config)  # autopurge, /metrics, AdminServer

    def start(self) -> None:
        cfg = self.config
        self.services.start()
        snap_log = FileTxnSnapLog(cfg.data_dir, cfg.data_log_dir or cfg.data_dir, force_sync=cfg.force_sync,
                                  pre_alloc_size=cfg.pre_alloc_size, max_buffer=cfg.jute_max_buffer,
                                  snapshot_compression=compression_method(cfg.snapshot_compression_method))
        zk_db = ZKDatabase(snap_log, commit_log_count=cfg.commit_log_count, digest_enabled=cfg.digest_enabled)
        self.zks = ZooKeeperServer(
            zk_db, tick_time=cfg.tick_time, min_session_timeout=cfg.min_session_timeout,
            max_session_timeout=cfg.max_session_timeout, server_id=1, snap_count=cfg.snap_count,
            global_outstanding_limit=cfg.global_outstanding_limit, max_buffer=cfg.jute_max_buffer,
            super_digest=cfg.super_digest, skip_acl=cfg.skip_acl,
            extended_types_enabled=cfg.extended_types_enabled, reconfig_enabled=cfg.reconfig_enabled,
            enforce_quota=cfg.enforce_quota, config=cfg,
        )
        self.services.set_zookeeper_server(self.zks)
        address = cfg.client_address
        secure_address = cfg.secure_client_address
        if address is None and secure_address is None:
            raise ConfigException("No clientPort set in " + (cfg.config_path or "the configuration"))
        sasl_login = configure_sasl_login(cfg.properties)
        factory_args = dict(
            max_client_cnxns=cfg.max_client_cnxns, max_buffer=cfg.jute_max_buffer,
            listen_backlog=cfg.client_port_listen_backlog,
            sessionless_timeout_ms=cfg.sessionless_cnxn_timeout, max_cnxns=cfg.max_cnxns,
            four_letter_whitelist=cfg.four_letter_word_whitelist, sasl_login=sasl_login,
        )
        if address is not None:
            self.factory = NIOServerCnxnFactory(address[0], address[1], **factory_args)
            self.factory.set_zk_server(self.zks)
        if secure_address is not None:
            x509 = X509Settings.from_properties(cfg.properties)
            self.secure_factory = NIOServerCnxnFactory(
                secure_address[0], secure_address[1], ssl_context=x509.create_server_context(),
                x509_auth_provider=x509.auth_provider, **factory_args)
            self.secure_factory.set_zk_server(self.zks)
        self.zks.startup()
        self.container_manager = ContainerManager(
            self.zks.zk_db, self.zks.submit_internal, cfg.container_check_interval_ms,
            cfg.container_max_per_minute, cfg.container_max_never_used_interval_ms)
        self.container_manager.start()
        if self.factory is not None:
            self.factory.start()
            LOG.info("binding to port %s:%d", *self.factory.local_address)
        if self.secure_factory is not None:
            self.secure_factory.start()
            LOG.info("binding to secure port %s:%d", *self.secure_factory.local_address)

    def _shutdown(self) -> None:
        if self.container_manager is not None:
            self.container_manager.stop()
        self.services.shutdown()
        if self.factory is not None:
            self.factory.shutdown()
        if self.secure_factory is not None:
            self.secure_factory.shutdown()
        if self.zks is not None:
            self.zks.shutdown()
            self.zks.zk_db.close()


#: The cyclic collector's generation-0 threshold in a server process. With
#: Python's 700, the requests and replies in flight alone start a
#: collection every few dozen writes: 4.5 % of a leader's CPU under
#: pipelined setData (bench/NOTES.md). Nearly everything a request
#: allocates is freed by reference counting, so collections are rarely needed.
GC_THRESHOLD = (10000, 20, 20)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    setup_logging()
    gc.set_threshold(*GC_THRESHOLD)
    if not 1 <= len(argv) <= 4:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if len(argv) == 1:
            config = ServerConfig.parse(argv[0])
        else:
            # ZooKeeperServerMain's command line: a standalone server with defaults.
            keys = ("clientPort", "dataDir", "tickTime", "maxClientCnxns")
            config = ServerConfig.from_properties(dict(zip(keys, argv)))
    except ConfigException as e:
        LOG.error("Invalid config, exiting abnormally: %s", e)
        print(f"Invalid config, exiting abnormally: {e}", file=sys.stderr)
        return 2
    if config.server_id >= 0:
        set_myid(config.server_id)
    if config.is_distributed:
        from ..quorum.quorum_peer import QuorumPeerMain
        runner = QuorumPeerMain(config)
    else:
        runner = ZooKeeperServerMain(config)

    def on_signal(signum, frame):
        LOG.info("Received signal %d, shutting down", signum)
        threading.Thread(target=runner.stop, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.start()
    except Exception as e:  # noqa: BLE001 - every failed start ends in one clear line and Java's exit code
        failure = startup_failure(e, config)
        LOG.error("%s", failure.message, exc_info=failure.unexpected)
        runner.stop()
        sys.stderr.write(failure.message + "\n")  # the last line says it all, as Java's System.err line
        return failure.code
    runner.wait()
    LOG.info("Exiting")
    return getattr(runner, "exit_code", 0)
