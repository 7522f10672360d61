"""Server logging follows zkEnv.sh's variables (ZOO_LOG4J_PROP, ZOO_LOG_DIR...)."""

from __future__ import annotations

import logging
import os

import pytest

from zkpy.server import log_setup


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    log_setup.set_myid("")


def test_rolling_file_with_myid(tmp_path, restore_root_logger):
    env = {"ZOO_LOG4J_PROP": "DEBUG,ROLLINGFILE", "ZOO_LOG_DIR": str(tmp_path / "logs"),
           "ZOO_LOG_FILE": "zk.log", "SERVER_JVMFLAGS": "-Dzookeeper.log.maxfilesize=1KB "
                                                         "-Dzookeeper.log.maxbackupindex=2"}
    log_setup.setup_logging(env)
    log_setup.set_myid(3)
    log = logging.getLogger("zkpy.test")
    for i in range(100):
        log.debug("line %d %s", i, "x" * 40)
    for handler in logging.getLogger().handlers:
        handler.flush()
    files = sorted(os.listdir(tmp_path / "logs"))
    assert files == ["zk.log", "zk.log.1", "zk.log.2"]       # rotated, two backups kept
    assert os.path.getsize(tmp_path / "logs" / "zk.log") <= 1024
    last = (tmp_path / "logs" / "zk.log").read_text().splitlines()[-1]
    assert "[myid:3] - DEBUG" in last and "line 99" in last


def test_console_by_default_and_level_override(restore_root_logger, capfd):
    log_setup.setup_logging({"ZKPY_LOG_LEVEL": "warning"})
    logging.getLogger("zkpy.test").info("hidden")
    logging.getLogger("zkpy.test").warning("shown")
    err = capfd.readouterr().err
    assert "shown" in err and "hidden" not in err


def test_file_config(tmp_path, restore_root_logger):
    conf = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "logging.conf")
    log_setup.setup_logging({"ZKPY_LOG_CONF": conf, "ZOO_LOG_DIR": str(tmp_path), "ZOO_LOG_FILE": "f.log"})
    log_setup.set_myid(7)
    logging.getLogger("zkpy.test").info("via fileConfig")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "[myid:7] - INFO" in (tmp_path / "f.log").read_text()
