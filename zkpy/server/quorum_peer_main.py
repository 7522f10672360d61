"""Process entry point: ``python -m zkpy zoo.cfg`` / ``zkpy-server zoo.cfg``.

Java: ``QuorumPeerMain`` and ``ZooKeeperServerMain``. Runs a standalone
server when the config lists no ``server.N`` (or one voter with
``standaloneEnabled``); the ensemble roles come with the quorum packages.
Exits on SIGTERM/SIGINT after a clean shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from .cnxn_factory import NIOServerCnxnFactory
from .config import ConfigException, ServerConfig
from .persistence.file_txn_snap_log import FileTxnSnapLog
from .zk_database import ZKDatabase
from .zookeeper_server import ZooKeeperServer

LOG = logging.getLogger(__name__)

USAGE = "Usage: zkpy-server configfile | port datadir [ticktime] [maxcnxns]"


class ZooKeeperServerMain:
    """Builds and runs a standalone server from a ServerConfig."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.factory: NIOServerCnxnFactory | None = None
        self.zks: ZooKeeperServer | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        cfg = self.config
        snap_log = FileTxnSnapLog(cfg.data_dir, cfg.data_log_dir or cfg.data_dir, force_sync=cfg.force_sync,
                                  pre_alloc_size=cfg.pre_alloc_size, max_buffer=cfg.jute_max_buffer)
        zk_db = ZKDatabase(snap_log, commit_log_count=cfg.commit_log_count)
        self.zks = ZooKeeperServer(
            zk_db, tick_time=cfg.tick_time, min_session_timeout=cfg.min_session_timeout,
            max_session_timeout=cfg.max_session_timeout, server_id=1, snap_count=cfg.snap_count,
            global_outstanding_limit=cfg.global_outstanding_limit, max_buffer=cfg.jute_max_buffer,
            super_digest=cfg.super_digest, skip_acl=cfg.skip_acl,
            extended_types_enabled=cfg.extended_types_enabled, reconfig_enabled=cfg.reconfig_enabled,
            config=cfg,
        )
        address = cfg.client_address
        if address is None:
            raise ConfigException("No clientPort set in " + (cfg.config_path or "the configuration"))
        self.factory = NIOServerCnxnFactory(
            address[0], address[1], max_client_cnxns=cfg.max_client_cnxns, max_buffer=cfg.jute_max_buffer,
            listen_backlog=cfg.client_port_listen_backlog,
            four_letter_whitelist=cfg.four_letter_word_whitelist,
        )
        self.factory.set_zk_server(self.zks)
        self.zks.startup()
        self.factory.start()
        LOG.info("binding to port %s:%d", *self.factory.local_address)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.factory is not None:
            self.factory.shutdown()
        if self.zks is not None:
            self.zks.shutdown()
            self.zks.zk_db.close()

    def wait(self) -> None:
        self._stopped.wait()


def _setup_logging() -> None:
    level = os.environ.get("ZKPY_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s [myid:%(myid)s] - %(levelname)s [%(threadName)s:%(name)s] - %(message)s",
        stream=sys.stderr,
    )
    old_factory = logging.getLogRecordFactory()
    myid = os.environ.get("ZKPY_MYID", "")

    def factory(*args, **kwargs):
        record = old_factory(*args, **kwargs)
        if not hasattr(record, "myid"):
            record.myid = myid
        return record

    logging.setLogRecordFactory(factory)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _setup_logging()
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        config = ServerConfig.parse(argv[0])
    except ConfigException as e:
        LOG.error("Invalid config, exiting abnormally: %s", e)
        print(f"Invalid config, exiting abnormally: {e}", file=sys.stderr)
        return 2
    if not config.is_standalone:
        LOG.error("Quorum mode (server.N entries) is not implemented yet in zkpy; remove the server.N "
                  "lines to run standalone")
        return 2
    runner = ZooKeeperServerMain(config)

    def on_signal(signum, frame):
        LOG.info("Received signal %d, shutting down", signum)
        threading.Thread(target=runner.stop, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.start()
    except (ConfigException, OSError) as e:
        LOG.error("Unable to start the server: %s", e)
        runner.stop()
        return 1
    runner.wait()
    LOG.info("Exiting")
    return 0
