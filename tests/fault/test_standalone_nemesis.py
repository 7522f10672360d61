"""The fault tier's workloads against a standalone server under kill -9.

A standalone server is killed (SIGKILL) and restarted, or stopped and
restarted, at random while clients run; forceSync is on, so whatever the
server acknowledged is on disk. Register ops must stay linearizable across
the restarts, no acknowledged create may be lost, and sequential numbers
must go on increasing. The same workloads run against ensembles in
test_ensemble_nemesis.py.
"""

from __future__ import annotations

import pytest

from zkpy.testing import TestingServer

from .linearizability import check_register, with_stale_read
from .nemesis import Nemesis, StandaloneTarget
from .runner import assert_check_notices_a_lost_node, run
from .workloads import RegisterWorkload, SequentialWorkload, SetWorkload, killed_client_ephemerals

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]

DURATION = 20.0


@pytest.fixture
def server(tmp_path):
    with TestingServer(temp_dir=tmp_path, tick_time=300, force_sync=True) as server:
        yield server


def nemesis(server, kinds=("kill", "restart")) -> Nemesis:
    return Nemesis(StandaloneTarget(server), kinds, interval=(1.5, 3.0), hold=(0.2, 1.5))


def test_register_is_linearizable_across_kill9(server):
    workload = RegisterWorkload(server.connect_string, clients=4)
    report = run("standalone register, kill -9", StandaloneTarget(server), [workload], nemesis(server, ("kill",)),
                 DURATION)
    report.assert_ok()
    assert report.results[0].ok > 100
    # The checker would have noticed: one stale read planted in this very history is rejected.
    corrupted, what = with_stale_read(workload.history)
    assert check_register(corrupted).valid is False, what


def test_no_acknowledged_create_is_lost_across_kill9(server):
    workload = SetWorkload(server.connect_string, clients=4)
    report = run("standalone set, kill -9 and restart", StandaloneTarget(server), [workload], nemesis(server),
                 DURATION)
    report.assert_ok()
    assert_check_notices_a_lost_node(workload, StandaloneTarget(server))


def test_sequential_numbers_across_kill9(server):
    workload = SequentialWorkload(server.connect_string, clients=4)
    report = run("standalone sequential, kill -9 and restart", StandaloneTarget(server), [workload],
                 nemesis(server), DURATION)
    report.assert_ok()
    assert_check_notices_a_lost_node(workload, StandaloneTarget(server))


def test_ephemerals_of_a_killed_client_vanish_after_its_session_timeout(server):
    timeout = 3.0  # within [2, 20] ticks of 300 ms: negotiated as asked
    slack = 2 * 0.3 + 1.0  # expiry runs on tick boundaries; then the closeSession txn
    outcome = killed_client_ephemerals(server.connect_string, StandaloneTarget(server).replicas(),
                                       session_timeout=timeout)
    gone = outcome["gone"]["standalone"]
    print(f"ephemerals of killed client session {outcome['session']} gone after {gone} s (timeout {timeout} s)")
    # Not at once (a dropped connection must not take them), and not much after the timeout.
    assert gone is not None and timeout * 0.5 <= gone <= timeout + slack, outcome
