"""zkpy.pytest_plugin, exercised as a user's suite would: pytester writes a
small suite into a temporary directory and runs it, so the plugin's own
``zk_server`` and ``zk_cluster`` fixtures are used (this repository's
conftest files define a ``zk_server`` of their own, which would shadow the
plugin's here). The signal tests run a child pytest and interrupt or kill it,
then look up every server pid it started.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from zkpy import pytest_plugin
from zkpy.testing import wait_until

pytest_plugins = ["pytester"]

KAZOO_HELPERS = textwrap.dedent(
    """
    from kazoo.client import KazooClient

    def kazoo(hosts):
        client = KazooClient(hosts=hosts, timeout=10.0)
        client.start(timeout=15.0)
        return client

    def close(client):
        client.stop()
        client.close()
    """
)


def dead(pid: int, create_time: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.create_time() != create_time or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    entry = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "zkpy"]
    assert [ep.value for ep in entry] == ["zkpy.pytest_plugin"]
    assert entry[0].load() is pytest_plugin


def test_zk_server_is_a_fresh_server_per_test_by_default(pytester):
    pids_file = pytester.path / "pids.json"
    pytester.makepyfile(test_fresh=KAZOO_HELPERS + textwrap.dedent(
        f"""
        import json
        seen = []

        def test_first(zk_server, zk_connect_string):
            assert zk_connect_string == zk_server.connect_string
            client = kazoo(zk_connect_string)
            client.create("/left-behind", b"x")
            close(client)
            seen.append(zk_server.pid)

        def test_second(zk_server):
            client = kazoo(zk_server.connect_string)
            assert client.exists("/left-behind") is None
            close(client)
            seen.append(zk_server.pid)
            assert seen[0] != seen[1]
            assert zk_server.four_letter_word("conf").count("tickTime=200") == 1
            with open({str(pids_file)!r}, "w") as f:
                json.dump(seen, f)
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    for pid in json.loads(pids_file.read_text()):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_shared_server_is_reset_after_a_test_leaves_it_broken(pytester):
    pytester.makeini("[pytest]\nzk_server_scope = module\n")
    pytester.makepyfile(test_shared=KAZOO_HELPERS + textwrap.dedent(
        """
        state = {}

        def test_write_then_stop(zk_server):
            client = kazoo(zk_server.connect_string)
            client.create("/kept", b"v")
            close(client)
            state["server"] = zk_server
            state["port"] = zk_server.port
            zk_server.stop()

        def test_it_serves_again_with_its_data(zk_server):
            assert zk_server is state["server"] and zk_server.port == state["port"]
            assert zk_server.is_running
            client = kazoo(zk_server.connect_string)
            assert client.get("/kept")[0] == b"v"
            close(client)
            zk_server.pause()

        def test_it_was_resumed(zk_server):
            assert not zk_server.is_paused
            assert zk_server.four_letter_word("ruok") == "imok"
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_a_shared_cluster_is_reset_after_kills_pauses_and_partitions(pytester):
    pytester.makeini("[pytest]\nzk_cluster_scope = module\n")
    pytester.makepyfile(test_shared_cluster=textwrap.dedent(
        """
        import pytest

        pytestmark = pytest.mark.zk_cluster(size=3, partitionable=True)
        state = {}

        def test_break_it(zk_cluster):
            state["cluster"] = zk_cluster
            leader = zk_cluster.leader()
            others = [sid for sid in zk_cluster.sids if sid != leader]
            zk_cluster.kill(leader)
            zk_cluster.pause(others[0])
            zk_cluster.partition([others[1]])
            assert zk_cluster.has_faults()

        def test_it_is_whole_again(zk_cluster):
            assert zk_cluster is state["cluster"]
            assert not zk_cluster.has_faults() and zk_cluster.partitioned is None
            assert all(zk_cluster.peer(sid).is_running for sid in zk_cluster.sids)
            assert zk_cluster.leader() is not None
            assert sorted(zk_cluster.followers() + [zk_cluster.leader()]) == [1, 2, 3]
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_markers_and_options_shape_the_server(pytester):
    pytester.makepyfile(test_shaped=textwrap.dedent(
        """
        import pytest

        @pytest.mark.zk_server(tick_time=100, config={"maxClientCnxns": 7}, jvm_flags="-Dzookeeper.snapCount=42")
        def test_marker(zk_server):
            conf = zk_server.four_letter_word("conf")
            assert "tickTime=100" in conf and "maxClientCnxns=7" in conf
            assert "zookeeper.snapCount=42" in zk_server.build_env()["SERVER_JVMFLAGS"]

        def test_option(zk_server):
            assert "tickTime=150" in zk_server.four_letter_word("conf")
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--zk-tick-time=150")
    result.assert_outcomes(passed=2)


def test_zk_cluster_marker_asks_for_size_observers_and_options(pytester):
    pytester.makepyfile(test_cluster=KAZOO_HELPERS + textwrap.dedent(
        """
        import pytest
        from kazoo.exceptions import NotReadOnlyCallError
        from zkpy.testing import wait_until

        @pytest.mark.zk_cluster(size=3, observers=1, read_only=True, partitionable=True)
        def test_shape(zk_cluster, zk_connect_string):
            assert zk_cluster.voters == [1, 2, 3] and zk_cluster.observers == [4]
            assert zk_connect_string == zk_cluster.connect_string
            assert len(zk_connect_string.split(",")) == 4
            assert zk_cluster.leader() in (1, 2, 3)
            assert zk_cluster.partitionable
            flags = zk_cluster.peer(1).build_env()["SERVER_JVMFLAGS"]
            assert "-Dreadonlymode.enabled=true" in flags

            # read_only=True: a voter cut off from its quorum serves read-only clients.
            writer = kazoo(zk_cluster.peer(3).connect_string)   # acknowledged by peer 3 itself
            writer.create("/before", b"x")
            close(writer)
            zk_cluster.kill(1)
            zk_cluster.kill(2)
            wait_until(lambda: zk_cluster.peer(3).four_letter_word("isro") == "ro", 20, "peer 3 read-only")
            reader = KazooClient(hosts=zk_cluster.peer(3).connect_string, read_only=True, timeout=10.0)
            reader.start(timeout=15.0)
            assert reader.get("/before")[0] == b"x"
            with pytest.raises(NotReadOnlyCallError):
                reader.create("/after", b"y")
            close(reader)
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_marker_below_the_fixture_scope_is_refused(pytester):
    pytester.makepyfile(test_misplaced=textwrap.dedent(
        """
        import pytest

        @pytest.mark.zk_cluster(size=5)
        def test_would_get_the_module_cluster(zk_cluster):
            pass
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--zk-cluster-scope=module")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*below the zk_cluster fixture's scope (module)*"])


def test_bad_marker_options_fail_the_test_with_the_reason(pytester):
    pytester.makepyfile(test_bad=textwrap.dedent(
        """
        import pytest

        @pytest.mark.zk_server(tick=5)
        def test_typo(zk_server):
            pass

        @pytest.mark.zk_cluster(tls=True, partition=True)
        def test_typo_beside_a_known_option(zk_cluster):
            pass
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*unknown option(s) tick*", "*unknown option(s) partition;*"])


def test_a_failing_test_reports_the_server_log_and_its_servers_are_stopped(pytester):
    pids_file = pytester.path / "pids.json"
    pytester.makepyfile(test_fails=textwrap.dedent(
        f"""
        import json, os
        import psutil
        import pytest

        def record(*servers):
            pids = [[s.pid, psutil.Process(s.pid).create_time()] for s in servers]
            dirs = [s.temp_dir for s in servers]
            with open({str(pids_file)!r}, "a") as f:
                f.write(json.dumps({{"pids": pids, "dirs": dirs}}) + "\\n")

        def test_broken(zk_server, zk_connect_string):
            record(zk_server)
            assert zk_connect_string == "nowhere"

        @pytest.mark.zk_cluster(size=3)
        def test_broken_on_an_ensemble(zk_cluster):
            record(*[zk_cluster.peer(sid) for sid in zk_cluster.sids])
            raise RuntimeError("the code under test blew up")
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*zkpy server log (<TestingServer 127.0.0.1:*", "*binding to port 127.0.0.1:*"])
    result.stdout.fnmatch_lines(["*zkpy server log (<TestingCluster voters=[[]1, 2, 3[]]*"])
    started = [json.loads(line) for line in pids_file.read_text().splitlines()]
    assert [len(entry["pids"]) for entry in started] == [1, 3]
    for entry in started:
        assert all(dead(pid, created) for pid, created in entry["pids"])
        assert not any(os.path.exists(d) for d in entry["dirs"])


def test_requires_serving_cluster_runs_or_skips_with_the_reason(pytester, monkeypatch):
    pytester.makepyfile(test_pending=KAZOO_HELPERS + textwrap.dedent(
        """
        import pytest

        @pytest.mark.requires_serving_cluster
        @pytest.mark.zk_cluster(size=3)
        def test_write_on_the_ensemble(zk_connect_string):
            client = kazoo(zk_connect_string)
            client.create("/on-the-ensemble")
            close(client)
        """))
    serves, _why = pytest_plugin.ensemble_serves()
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    if serves:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*zkpy ensembles do not serve clients yet (Zab issue)*"])
        monkeypatch.setenv("ZKPY_EXPECT_SERVING_CLUSTER", "1")
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
        result.assert_outcomes(errors=1)


def test_make_test_runs_the_example_suite_on_the_plugin():
    """``make test`` is pytest without paths, so setup.cfg's ``testpaths``
    and ``addopts`` decide: every example test must be collected and none
    deselected. (A dry run of make, then the same command collecting only.)"""
    repo = Path(__file__).parents[2]
    dry = subprocess.run(["make", "-n", "test", "PYTEST_ARGS="], cwd=repo, capture_output=True, text=True,
                         timeout=60, check=True)
    [command] = [line.split() for line in dry.stdout.splitlines() if "-m pytest" in line]
    assert command[-2:] == ["-m", "pytest"]            # no paths of its own

    def collect(*args: str) -> list[str]:
        out = subprocess.run([sys.executable] + list(args) + ["--collect-only", "-q", "-p", "no:cacheprovider"],
                             cwd=repo, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return [line for line in out.stdout.splitlines() if line.startswith("examples/")]

    by_make = collect(*command[1:])
    every_example = collect("-m", "pytest", "-o", "addopts=", "examples")   # no marker selection at all
    assert by_make == every_example
    modules = {nodeid.split("::")[0] for nodeid in by_make}
    assert modules == {str(path.relative_to(repo)) for path in (repo / "examples").rglob("test_*.py")}
    assert any("test_leader_kill.py::" in nodeid for nodeid in by_make)
    assert any("test_locks.py::" in nodeid and "[ensemble]" in nodeid for nodeid in by_make)


def test_the_readme_example_runs(pytester):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("# test_my_service.py")
    example = readme[start:readme.index("```", start)]
    pytester.makepyfile(test_my_service=example)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


# -- no server outlives an interrupted or killed pytest ---------------------------------------------------

HANGING_SUITE = textwrap.dedent(
    """
    import json, os, time
    import psutil
    import pytest

    @pytest.mark.zk_cluster(size=3, partitionable=True)
    def test_hang(zk_server, zk_cluster):
        servers = [zk_server] + [zk_cluster.peer(sid) for sid in zk_cluster.sids]
        pids = {s.pid: psutil.Process(s.pid).create_time() for s in servers}
        with open(os.environ["PIDS_FILE"] + ".tmp", "w") as f:
            json.dump({"pids": list(pids.items()), "dirs": [zk_server.temp_dir, zk_cluster.temp_dir]}, f)
        os.rename(os.environ["PIDS_FILE"] + ".tmp", os.environ["PIDS_FILE"])
        time.sleep(600)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_server_outlives_an_interrupted_or_killed_pytest(tmp_path, signum):
    (tmp_path / "test_hang.py").write_text(HANGING_SUITE)
    pids_file = tmp_path / "pids.json"
    # Ctrl-C as in a terminal: a test run started in the background (``&``)
    # inherits SIGINT ignored, and Python then keeps ignoring it.
    run_pytest = ("import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
                  "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'test_hang.py']))")
    child = subprocess.Popen(
        [sys.executable, "-c", run_pytest],
        cwd=tmp_path, env=dict(os.environ, PIDS_FILE=str(pids_file)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until(lambda: pids_file.exists() or child.poll() is not None, 60, "the child pytest's servers")
        assert child.poll() is None, child.communicate()[0].decode(errors="replace")
        started = json.loads(pids_file.read_text())
        pids = [(pid, created) for pid, created in started["pids"]]
        assert len(pids) == 4 and all(not dead(pid, created) for pid, created in pids)
        child.send_signal(signum)
        output = child.communicate(timeout=60)[0].decode(errors="replace")
        wait_until(lambda: all(dead(pid, created) for pid, created in pids), 10,
                   f"every server of the child pytest to die after {signum.name}")
        if signum == signal.SIGINT:
            # Ctrl-C: pytest finalises its fixtures, which stop the servers and remove their directories.
            assert child.returncode == pytest.ExitCode.INTERRUPTED, output
            assert "KeyboardInterrupt" in output
            assert not any(os.path.exists(d) for d in started["dirs"])
        else:
            assert child.returncode == -signum
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        if pids_file.exists():  # a killed pytest cannot remove its servers' directories
            for path in json.loads(pids_file.read_text())["dirs"]:
                shutil.rmtree(path, ignore_errors=True)
