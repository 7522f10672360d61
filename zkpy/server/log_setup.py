"""Where a server's log lines go.

Java: no class; ZooKeeper's ``conf/logback.xml`` plus the environment that
``bin/zkEnv.sh`` and ``bin/zkServer.sh`` set up. The same variables work
here:

* ``ZOO_LOG4J_PROP`` = ``LEVEL[,APPENDER...]``, default ``INFO,CONSOLE``;
  ``CONSOLE`` writes to stderr, ``ROLLINGFILE`` to
  ``$ZOO_LOG_DIR/$ZOO_LOG_FILE``, rotated at ``zookeeper.log.maxfilesize``
  (10 MB) keeping ``zookeeper.log.maxbackupindex`` (10) old files, as
  Java's rolling appender. ``zkServer.sh start`` asks for ``ROLLINGFILE``.
* ``ZKPY_LOG_LEVEL`` overrides the level (zkpy's own, for quick debugging).
* ``ZKPY_LOG_CONF``: a :func:`logging.config.fileConfig` file used instead
  of all of the above (``conf/logging.conf`` is an example); it may refer
  to ``%(zoo_log_dir)s`` and ``%(zoo_log_file)s``.

Every record carries ``myid`` (Java's MDC ``[myid:N]``), set once the
configuration is read.
"""

from __future__ import annotations

import logging
import logging.config
import logging.handlers
import os
import sys
from collections.abc import Mapping

FORMAT = "%(asctime)s [myid:%(myid)s] - %(levelname)-5s [%(threadName)s:%(name)s@%(lineno)d] - %(message)s"
DEFAULT_LOG_FILE = "zookeeper.log"
MAX_FILE_SIZE = 10 * 1024 * 1024
MAX_BACKUP_INDEX = 10

_myid = ""


def set_myid(myid: object) -> None:
    """Stamp later records with this server id."""
    global _myid
    _myid = "" if myid is None else str(myid)


def _install_myid_factory() -> None:
    old_factory = logging.getLogRecordFactory()
    if getattr(old_factory, "zkpy_myid", False):
        return

    def factory(*args, **kwargs):
        record = old_factory(*args, **kwargs)
        if not hasattr(record, "myid"):
            record.myid = _myid
        return record

    factory.zkpy_myid = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _size(text: str | None, default: int) -> int:
    """``10MB``/``512KB``/``1GB``/bytes, as logback sizes."""
    if not text:
        return default
    units = {"KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    text = text.strip().upper()
    try:
        for unit, factor in units.items():
            if text.endswith(unit):
                return int(float(text[:-2]) * factor)
        return int(text)
    except ValueError:
        return default


def setup_logging(environ: Mapping[str, str] = os.environ, properties: Mapping[str, str] | None = None) -> None:
    """Configure the root logger from the environment (see the module doc)."""
    _install_myid_factory()
    if properties is None:
        from .config import SystemProperties  # -D flags, as the JVM would have them

        properties = SystemProperties.from_environ(environ).as_dict()
    log_dir = environ.get("ZOO_LOG_DIR") or "."
    log_file = environ.get("ZOO_LOG_FILE") or DEFAULT_LOG_FILE
    conf = environ.get("ZKPY_LOG_CONF")
    if conf:
        logging.config.fileConfig(conf, defaults={"zoo_log_dir": log_dir, "zoo_log_file": log_file},
                                  disable_existing_loggers=False)
        return
    spec = [part.strip() for part in environ.get("ZOO_LOG4J_PROP", "INFO,CONSOLE").split(",") if part.strip()]
    level_name = (environ.get("ZKPY_LOG_LEVEL") or (spec[0] if spec else "INFO")).upper()
    appenders = {a.upper() for a in spec[1:]} or {"CONSOLE"}
    handlers: list[logging.Handler] = []
    if "ROLLINGFILE" in appenders:
        os.makedirs(log_dir, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            os.path.join(log_dir, log_file),
            maxBytes=_size(properties.get("zookeeper.log.maxfilesize"), MAX_FILE_SIZE),
            backupCount=_size(properties.get("zookeeper.log.maxbackupindex"), MAX_BACKUP_INDEX)))
    if "CONSOLE" in appenders or not handlers:
        handlers.append(logging.StreamHandler(sys.stderr))
    formatter = logging.Formatter(FORMAT)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(getattr(logging, level_name, logging.INFO))


def log_tail(path: str, lines: int = 50, max_bytes: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a log file (read from its last
    ``max_bytes``); "" when it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
