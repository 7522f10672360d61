"""The README's ways to start a standalone server, run as a user runs them.

- ``make standalone``: the old standalone ``make run`` (``make run`` starts a
  3-peer ensemble since the ensemble work, see test_make_ensemble.py): a
  foreground ``python -m zkpy conf/zoo_sample.cfg`` with its data under the
  checkout's ``data/standalone``, which prints how to connect, and stops on
  Ctrl-C. Run in a copy of the checkout (the fixture of
  test_make_ensemble.py) whose zoo_sample.cfg has a free port.
- On a fresh clone (no ``.venv``) every make target first creates the venv
  and installs the package with its test extras.
- The console script ``zkpy-server zoo.cfg``.
- ``.ci/run``: apt-get steps that may fail without failing CI, then
  ``make test`` and ``make test-fault``, whose failure does fail it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys

import pytest

from zkpy.testing import TestingServer, find_free_port, four_letter_word, wait_until

from .servers import kazoo_session
from .test_make_ensemble import REPO, checkout  # noqa: F401 - the fixture

ZKPY_SERVER = os.path.join(os.path.dirname(sys.executable), "zkpy-server")


def _answers_ruok(port: int) -> bool:
    try:
        return four_letter_word("127.0.0.1", port, "ruok", timeout=1.0) == "imok"
    except OSError:
        return False


def test_make_standalone_prints_how_to_connect_and_stops_on_ctrl_c(checkout):  # noqa: F811
    port = checkout.standalone_port
    log_path = checkout.path("standalone.out")
    with open(log_path, "wb") as out:
        # A session of its own, as a terminal's foreground job: Ctrl-C goes to make and the server.
        make = subprocess.Popen(["make", "--no-print-directory", "-o", "install", "standalone"], cwd=checkout.root,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: _answers_ruok(port) or make.poll() is not None, timeout=30,
                   what="make standalone serving")
        with open(log_path, encoding="utf-8") as f:
            output = f.read()
        assert make.poll() is None, output
        assert "Connect with:" in output
        assert f"bin/zkCli.sh -server 127.0.0.1:{port}" in output
        assert f"echo srvr | nc 127.0.0.1 {port}" in output
        assert "-m zkpy ./conf/zoo_sample.cfg" in output
        # The printed kazoo line works as printed, from the checkout.
        kazoo_line = next(line.strip() for line in output.splitlines() if "KazooClient(" in line)
        shown = subprocess.run(kazoo_line, shell=True, cwd=checkout.root, capture_output=True, text=True,
                               timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "zookeeper" in shown.stdout
        # Standalone, with its data where zoo_sample.cfg puts it (relative to the checkout).
        assert "Mode: standalone" in four_letter_word("127.0.0.1", port, "srvr")
        assert os.path.isdir(checkout.path("data", "standalone", "version-2"))

        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=30)
        assert not _answers_ruok(port)
        assert checkout.servers() == []
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)


def test_a_fresh_clone_creates_the_venv_and_installs_first(tmp_path):
    root = tmp_path / "clone"
    root.mkdir()
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy2(os.path.join(REPO, name), root)
    for target in ("run", "standalone", "test", "status"):
        plan = subprocess.run(["make", "-n", target], cwd=root, capture_output=True, text=True, timeout=30)
        assert plan.returncode == 0, plan.stderr
        steps = plan.stdout.splitlines()
        venv = next(i for i, step in enumerate(steps) if re.search(r"-m venv \.venv$", step))
        install = next(i for i, step in enumerate(steps) if ".venv/bin/python -m pip install -e '.[test]'" in step)
        assert venv < install, (target, steps)
        # Whatever the target does, it does with the venv's Python, after installing.
        assert all(".venv/bin/python" in step for step in steps[install + 2:] if "python" in step), steps


def test_zkpy_server_console_script(tmp_path):
    assert os.access(ZKPY_SERVER, os.X_OK), f"{ZKPY_SERVER} is not installed (pip install -e .)"

    class ConsoleScriptServer(TestingServer):
        def command(self):
            return [ZKPY_SERVER, self.config_path]

    with ConsoleScriptServer(temp_dir=tmp_path, force_sync=False) as server:
        assert "Mode: standalone" in server.four_letter_word("srvr")
        with kazoo_session(server) as zk:
            zk.create("/via-console-script", b"x")
        server.restart()
        with kazoo_session(server) as zk:
            assert zk.get("/via-console-script")[0] == b"x"
    # Without a config it says how to call it, as QuorumPeerMain does.
    usage = subprocess.run([ZKPY_SERVER], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2
    assert "Usage: zkpy-server configfile | port datadir [ticktime] [maxcnxns]" in usage.stderr


def test_zkpy_server_port_and_data_dir(tmp_path):
    """ZooKeeperServerMain's other command line: ``port datadir [ticktime] [maxcnxns]``."""
    port = find_free_port()
    env = dict(os.environ, SERVER_JVMFLAGS="-Dzookeeper.admin.enableServer=false -Dzookeeper.4lw.commands.whitelist=*")
    with open(tmp_path / "server.log", "wb") as out:
        proc = subprocess.Popen([ZKPY_SERVER, str(port), "data", "300", "5"], cwd=tmp_path, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers_ruok(port) or proc.poll() is not None, timeout=30, what="zkpy-server up")
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        conf = dict(line.split("=", 1) for line in four_letter_word("127.0.0.1", port, "conf").splitlines())
        assert (conf["tickTime"], conf["maxClientCnxns"]) == ("300", "5")
        assert (conf["minSessionTimeout"], conf["maxSessionTimeout"]) == ("600", "6000")
        assert os.path.realpath(conf["dataDir"]) == os.path.realpath(tmp_path / "data" / "version-2")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    bad = subprocess.run([ZKPY_SERVER, "not-a-port", str(tmp_path / "d")], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2 and "Invalid config, exiting abnormally" in bad.stderr


# -- .ci/run -------------------------------------------------------------------------------------

FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CI_CALLS"
{body}
"""


def fake_tools(tmp_path, apt_status: int, make_status: int):
    """A checkout with .ci/run, and a PATH where id says root and apt-get/make only record their calls."""
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    shutil.copy2(os.path.join(REPO, ".ci", "run"), root / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bodies = {
        "id": 'if [ "$1" = "-u" ]; then echo 0; else exec /usr/bin/id "$@"; fi',
        "apt-get": f"exit {apt_status}",
        "make": f'if [ "$1" = "test" ]; then exit {make_status}; fi; exit 0',
    }
    for name, body in bodies.items():
        path = bin_dir / name
        path.write_text(FAKE.format(body=body))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", CI_CALLS=str(calls))
    return root, env, calls


@pytest.mark.parametrize("apt_status", [0, 100])
def test_ci_run_installs_java_zookeeper_when_it_can_and_runs_the_tests(tmp_path, apt_status):
    root, env, calls = fake_tools(tmp_path, apt_status=apt_status, make_status=0)
    run = subprocess.run(["bash", ".ci/run"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr  # a failed apt step does not fail CI
    made = calls.read_text().splitlines()
    assert "apt-get update" in made
    assert "apt-get install -y zookeeper" in made
    assert [line for line in made if line.startswith("make")] == ["make test", "make test-fault"]
    if apt_status:
        assert "interop tests will be skipped" in run.stdout + run.stderr


def test_ci_run_fails_when_the_tests_fail(tmp_path):
    root, env, calls = fake_tools(tmp_path, apt_status=0, make_status=2)
    run = subprocess.run(["bash", ".ci/run"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert [line for line in calls.read_text().splitlines() if line.startswith("make")] == ["make test"]


def test_server_data_and_logs_are_ignored_by_git():
    if shutil.which("git") is None or not os.path.isdir(os.path.join(REPO, ".git")):
        pytest.skip("not a git checkout")
    for path in ("data/standalone/version-2/log.1", "data/ensemble-3/1/myid", "logs/zookeeper.log"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, timeout=30)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
