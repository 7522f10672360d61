"""What a server process runs around its ZooKeeperServer, and how it fails.

Java: the parts of ``ZooKeeperServerMain.runFromConfig`` /
``QuorumPeerMain.initializeAndRun`` that are not the server itself — the
metrics provider (``MetricsProviderBootstrap``), the autopurge task
(``DatadirCleanupManager``) and the AdminServer (``AdminServerFactory``) —
and the exit codes of their ``main`` (``ExitCode``) with the message each
failure gets.

:class:`ServerServices` starts them in Java's order (purge task, metrics,
AdminServer) and is handed the server to serve with
:meth:`ServerServices.set_zookeeper_server`: once by the standalone
ZooKeeperServerMain, at every role change (None while LOOKING) by a quorum
peer, which owns one ServerServices for its whole life.

:func:`startup_failure` turns what a failed start raised into Java's exit
code and one line an operator can act on (no traceback for the mistakes
operators make: a bad config, a data directory that cannot be used, a port
already in use):

====  ==========================================  ============================
code  Java's ExitCode                             failure
====  ==========================================  ============================
2     INVALID_INVOCATION                          ``Invalid config, exiting abnormally``
3     UNABLE_TO_ACCESS_DATADIR                    ``Unable to access datadir, exiting abnormally``
4     ERROR_STARTING_ADMIN_SERVER                 ``Unable to start AdminServer, exiting abnormally``
1     UNEXPECTED_ERROR                            anything else (a bound port, the metrics endpoint ...)
====  ==========================================  ============================
"""

from __future__ import annotations

import enum
import errno
import logging
import os
from typing import NamedTuple, Optional

from .admin.admin_server import AdminServer, AdminServerException
from .config import ConfigException
from .metrics.prometheus import MetricsProviderLifeCycleException, start_metrics_provider
from .persistence.file_txn_snap_log import DatadirError
from .persistence.purge_txn_log import DatadirCleanupManager
from .persistence.util import PersistenceError

LOG = logging.getLogger(__name__)

__all__ = ["ExitCode", "ServerServices", "StartupFailure", "startup_failure"]


class ExitCode(enum.IntEnum):
    """Java's org.apache.zookeeper.server.ExitCode (the ones a start can end with)."""

    EXECUTION_FINISHED = 0
    UNEXPECTED_ERROR = 1
    INVALID_INVOCATION = 2
    UNABLE_TO_ACCESS_DATADIR = 3
    ERROR_STARTING_ADMIN_SERVER = 4


class ServerServices:
    """The autopurge task, the metrics endpoint and the AdminServer of one process."""

    def __init__(self, config):
        self.config = config
        self.purge_manager = DatadirCleanupManager.from_config(config)
        self.admin_server = AdminServer.from_config(config)
        self.metrics_provider = None

    def start(self) -> None:
        """Start all three; raises (see :func:`startup_failure`) if one cannot start."""
        self.purge_manager.start()
        try:
            self.metrics_provider = start_metrics_provider(self.config)
        except MetricsProviderLifeCycleException as e:
            raise MetricsProviderLifeCycleException(
                f"Cannot boot MetricsProvider {self.config.raw.get('metricsProvider.className')}: {e}") from e
        self.admin_server.start()

    def set_zookeeper_server(self, zks) -> None:
        """The server whose state the AdminServer and /metrics report (None: none now)."""
        self.admin_server.set_zookeeper_server(zks)
        if self.metrics_provider is not None:
            self.metrics_provider.set_zookeeper_server(zks)

    def shutdown(self) -> None:
        self.admin_server.shutdown()
        if self.metrics_provider is not None:
            self.metrics_provider.stop()
        self.purge_manager.shutdown()


def _in_dir(path: str, directory: Optional[str]) -> bool:
    if not path or not directory:
        return False
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep) or \
        directory.startswith(path.rstrip(os.sep) + os.sep)


class StartupFailure(NamedTuple):
    code: int
    #: One line, for stderr and the log.
    message: str
    #: Not an operator mistake zkpy knows: worth a traceback in the log.
    unexpected: bool = False


def startup_failure(error: BaseException, config=None) -> StartupFailure:
    """Java's exit code and a one-line message for an exception raised while starting."""
    code, message = _classify(error, config)
    unexpected = code == ExitCode.UNEXPECTED_ERROR and not isinstance(
        error, (OSError, MetricsProviderLifeCycleException))
    return StartupFailure(int(code), message, unexpected)


def _classify(error: BaseException, config) -> tuple[int, str]:
    if isinstance(error, ConfigException):
        return ExitCode.INVALID_INVOCATION, f"Invalid config, exiting abnormally: {error}"
    if isinstance(error, AdminServerException):
        return ExitCode.ERROR_STARTING_ADMIN_SERVER, f"Unable to start AdminServer, exiting abnormally: {error}"
    if isinstance(error, MetricsProviderLifeCycleException):
        return ExitCode.UNEXPECTED_ERROR, f"Unexpected exception, exiting abnormally: {error}"
    if isinstance(error, DatadirError):
        return ExitCode.UNABLE_TO_ACCESS_DATADIR, f"Unable to access datadir, exiting abnormally: {error}"
    if isinstance(error, PersistenceError):  # a damaged log or snapshot: Java fails loading, code 1
        return ExitCode.UNEXPECTED_ERROR, f"Unexpected exception, exiting abnormally: {error}"
    if isinstance(error, OSError):
        data_dir = getattr(config, "data_dir", None)
        log_dir = getattr(config, "data_log_dir", None) or data_dir
        filename = error.filename if isinstance(error.filename, str) else None
        if filename is not None and (_in_dir(filename, data_dir) or _in_dir(filename, log_dir)):
            key, directory = ("dataDir", data_dir) if _in_dir(filename, data_dir) else ("dataLogDir", log_dir)
            return ExitCode.UNABLE_TO_ACCESS_DATADIR, (
                f"Unable to access datadir, exiting abnormally: {key} {directory}: "
                f"{error.strerror or error} ({filename})")
        if error.errno == errno.EADDRINUSE:
            where = ""
            if config is not None and getattr(config, "is_standalone", False) and config.client_port:
                address = config.client_port_address or "0.0.0.0"
                where = f" clientPort {config.client_port} on {address}"
            return ExitCode.UNEXPECTED_ERROR, (
                f"Unexpected exception, exiting abnormally: cannot bind{where}: address already in use "
                f"(is another server running on that port?)")
        if error.errno == errno.EADDRNOTAVAIL:
            return ExitCode.UNEXPECTED_ERROR, (
                f"Unexpected exception, exiting abnormally: cannot bind: the address is not one of this "
                f"machine's ({error.strerror})")
        return ExitCode.UNEXPECTED_ERROR, f"Unexpected exception, exiting abnormally: {error}"
    return ExitCode.UNEXPECTED_ERROR, f"Unexpected exception, exiting abnormally: {error!r}"
