"""Fault-tier fixtures and the end-of-session summary of every run.

The tier runs with ``make test-fault`` (``pytest -m fault tests/fault``);
setup.cfg's addopts keep it out of ``make test``.

When a test of the tier fails, every server it ran (and every one still
running) leaves its full log, zoo.cfg, myid and the list of its
``version-2`` files in ``$ZKPY_FAULT_ARTIFACTS/<test>`` (default: under
pytest's basetemp), with the histories of its runs; the failure report
names the directory (tests/fault/artifacts.py).
"""

from __future__ import annotations

import glob
import os
import re

import pytest

from zkpy.testing import TestingServer

from . import artifacts
from .runner import REPORTS


@pytest.fixture(scope="session", autouse=True)
def _track_servers():
    """Every TestingServer started in the session, known to artifacts.py."""
    original = TestingServer.start

    def start(self, *args, **kwargs):
        artifacts.track(self)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TestingServer, "start", start)
        yield


#: artifacts.mark() when the test started: the servers started since are its own.
_since = pytest.StashKey[int]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_since] = artifacts.mark()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or item.stash.get(_since, None) is None:
        return
    servers = artifacts.tracked(item.stash[_since])
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    histories = set()
    if tmp_path is not None:
        histories.update(glob.glob(os.path.join(str(tmp_path), "**", "fault-run.jsonl"), recursive=True))
    for server in servers:  # a cluster's runs save next to its peers' directories
        histories.update(glob.glob(os.path.join(os.path.dirname(server.temp_dir), "fault-run.jsonl")))
    if not servers and not histories:
        return
    base = str(item.config._tmp_path_factory.getbasetemp()) if hasattr(item.config, "_tmp_path_factory") else None
    name = re.sub(r"[^\w.-]+", "_", item.name)[:100] + ("" if report.when == "call" else f"-{report.when}")
    try:
        path = artifacts.save(os.path.join(artifacts.artifacts_root(base), name), servers, sorted(histories))
    except Exception as e:  # noqa: BLE001 - never hide the test's own failure
        report.sections.append(("fault artifacts", f"could not save the servers' evidence: {e!r}"))
        return
    item.stash[_since] = None  # once per test, even if teardown fails too
    report.sections.append(("fault artifacts", f"servers' logs, zoo.cfg, myid, version-2 listings and histories "
                                               f"saved in {path}"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not REPORTS:
        return
    terminalreporter.section("fault runs")
    for report in REPORTS:
        terminalreporter.write_line(report.text())


_serving: dict[str, str] = {}


def ensemble_serving_reason(tmp_path_factory) -> str:
    """'' when a zkpy ensemble serves client sessions, else why not.

    Probed once per session on a real 3-peer TestingCluster, so that the
    ensemble tests skip (with this reason) until ensembles serve and run as
    soon as they do, with nothing to edit."""
    if "reason" not in _serving:
        from kazoo.client import KazooClient

        from zkpy.testing import TestingCluster

        with TestingCluster(3, temp_dir=tmp_path_factory.mktemp("probe")) as cluster:
            cluster.start()  # no leader at all is a failure, not a reason to skip
            client = KazooClient(hosts=cluster.connect_string, timeout=5.0)
            try:
                client.start(timeout=10)
                client.create("/probe", b"x")
                assert client.get("/probe")[0] == b"x"
                _serving["reason"] = ""
            except Exception as e:  # noqa: BLE001 - any failure means: not serving yet
                _serving["reason"] = (f"zkpy ensembles don't serve clients yet (a kazoo session to a 3-peer "
                                      f"TestingCluster could not create a znode: {e!r})")
            finally:
                client.stop()
                client.close()
    return _serving["reason"]


@pytest.fixture
def serving_ensembles(tmp_path_factory):
    """Skip the test unless zkpy ensembles serve clients (see ensemble_serving_reason)."""
    reason = ensemble_serving_reason(tmp_path_factory)
    if reason:
        pytest.skip(reason)
