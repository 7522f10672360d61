"""Fault-tier fixtures and the end-of-session summary of every run.

The tier runs with ``make test-fault`` (``pytest -m fault tests/fault``);
setup.cfg's addopts keep it out of ``make test``.
"""

from __future__ import annotations

import pytest

from .runner import REPORTS


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
