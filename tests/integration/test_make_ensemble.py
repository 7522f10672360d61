"""The Makefile's localhost ensemble, run as a user runs it: `make run`,
`make ensemble N=...`, `make status`, `make stop`, `make clean-data`, and
bin/zkServer.sh on the peers they start.

Each test works in a fresh copy of the checkout's Makefile, bin/ and conf/
(the .venv linked in), whose conf/ensemble and conf/zoo_sample.cfg are
rewritten to free ports and tickTime 200, so the real 2181 and the
checkout's data/ are never touched, and relative paths resolve as they do
in a clone. Every server process whose working directory is the copy is
killed at the end, whatever the test did.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess

import psutil
import pytest

from zkpy.cli.ensemble import EnsembleError, generate_configs, prepare_generated, quorum_formed
from zkpy.testing import wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NOT_RUNNING = "Error contacting service. It is probably not running."


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive ports that were all free."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - count)
        if all(_free(port) for port in range(base, base + count)):
            return base
    raise AssertionError(f"no {count} consecutive free ports")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Checkout:
    """A copy of the repository's user-facing files, run with make."""

    def __init__(self, root: str, n: int = 3) -> None:
        self.root = root
        base = free_port_block(3 * n)
        self.client_port, self.quorum_port, self.election_port = base, base + n, base + 2 * n
        # The committed layout (relative dataDir ./data/ensemble-3/K), other ports, short ticks.
        for name, text in generate_configs(n, client_port=self.client_port, quorum_port=self.quorum_port,
                                           election_port=self.election_port, tick_time=200).items():
            with open(os.path.join(root, "conf", "ensemble", name), "w", encoding="ascii") as f:
                f.write(text)
        self.standalone_port = free_port_block(1)
        sample = os.path.join(root, "conf", "zoo_sample.cfg")
        with open(sample, encoding="ascii") as f:
            text = f.read()
        text = re.sub(r"(?m)^clientPort=.*$", f"clientPort={self.standalone_port}", text)
        text = re.sub(r"(?m)^tickTime=.*$", "tickTime=200", text)
        with open(sample, "w", encoding="ascii") as f:
            f.write(text)

    def make(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        # -o install: never reinstall the shared .venv from the copy.
        return subprocess.run(["make", "--no-print-directory", "-o", "install", *args], cwd=self.root,
                              capture_output=True, text=True, timeout=timeout)

    def zkserver(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "bin/zkServer.sh", *args], cwd=self.root, capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, **(env or {})))

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def pid(self, sid: int, n: int = 3) -> int:
        with open(self.path("data", f"ensemble-{n}", str(sid), "zookeeper_server.pid"), encoding="ascii") as f:
            return int(f.read())

    def mode(self, cfg: str) -> str:
        status = self.zkserver("status", cfg)
        return status.stdout.strip() if status.returncode == 0 else ""

    def servers(self) -> list[psutil.Process]:
        """The zkpy server processes started from this copy."""
        found = []
        for proc in psutil.process_iter(["cmdline", "cwd"]):
            cmdline, cwd = proc.info["cmdline"] or [], proc.info["cwd"] or ""
            if cwd == self.root and cmdline[1:3] == ["-m", "zkpy"] and not gone(proc.pid):
                found.append(proc)
        return found


@pytest.fixture
def checkout(tmp_path):
    root = str(tmp_path / "zkpy")
    os.makedirs(root)
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy2(os.path.join(REPO, name), root)     # copy2: keep mtimes, so make sees the venv installed
    for name in ("bin", "conf"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(root, name), copy_function=shutil.copy2)
    os.symlink(os.path.join(REPO, ".venv"), os.path.join(root, ".venv"))
    copy = Checkout(root)
    try:
        yield copy
    finally:
        for proc in copy.servers():
            proc.kill()
        psutil.wait_procs(copy.servers(), timeout=10)


def ensemble_cfgs(n: int = 3) -> list[str]:
    return [f"./conf/ensemble/zoo{k}.cfg" for k in range(1, n + 1)]


def test_committed_ensemble_is_what_make_ensemble_generates():
    committed = {}
    for name in os.listdir(os.path.join(REPO, "conf", "ensemble")):
        with open(os.path.join(REPO, "conf", "ensemble", name), encoding="ascii") as f:
            committed[name] = f.read()
    assert committed == generate_configs(3)
    assert "clientPort=2181" in committed["zoo1.cfg"] and "clientPort=2183" in committed["zoo3.cfg"]
    # `make ensemble` (N=3, default ports) starts conf/ensemble itself, not a copy.
    assert prepare_generated(3, "./data", os.path.join(REPO, "conf", "ensemble")) == \
        os.path.join(REPO, "conf", "ensemble")


def test_generated_ensembles_and_the_ready_rule():
    one = generate_configs(1)["zoo1.cfg"]
    assert "standaloneEnabled=false" in one and "server.1=127.0.0.1:2888:3888" in one
    five = generate_configs(5, data_root="/srv/zk", client_port=3000, quorum_port=4000, election_port=5000)
    assert sorted(five) == [f"zoo{k}.cfg" for k in range(1, 6)]
    assert "clientPort=3004" in five["zoo5.cfg"] and "dataDir=/srv/zk/ensemble-5/5" in five["zoo5.cfg"]
    assert "server.5=127.0.0.1:4004:5004" in five["zoo1.cfg"]
    with pytest.raises(EnsembleError):
        generate_configs(0)
    assert quorum_formed({1: "follower", 2: "leader", 3: "observer"})
    # A deposed leader that has not noticed yet, or a peer still electing: not ready.
    assert not quorum_formed({1: "leader", 2: "leader", 3: "follower"})
    assert not quorum_formed({1: "leader", 2: "follower", 3: "electing"})
    assert not quorum_formed({1: "leader", 2: None})


def test_run_status_restart_stop(checkout):
    from kazoo.client import KazooClient

    run = checkout.make("run")
    assert run.returncode == 0, run.stdout + run.stderr
    hosts = ",".join(f"127.0.0.1:{checkout.client_port + k}" for k in range(3))
    assert f"bin/zkCli.sh -server {hosts}" in run.stdout
    assert re.search(r"peer \d leads", run.stdout), run.stdout
    for k in (1, 2, 3):
        assert f"log data/ensemble-3/logs/{k}/zookeeper-" in run.stdout
        assert os.path.exists(checkout.path("data", "ensemble-3", str(k), "myid"))
    # As Java's script reports them: one leader, two followers.
    modes = sorted(checkout.mode(cfg) for cfg in ensemble_cfgs())
    assert modes == ["Mode: follower", "Mode: follower", "Mode: leader"]
    pids = [checkout.pid(k) for k in (1, 2, 3)]
    assert sorted(p.pid for p in checkout.servers()) == sorted(pids)

    writer = KazooClient(f"127.0.0.1:{checkout.client_port}", timeout=10)
    reader = KazooClient(f"127.0.0.1:{checkout.client_port + 2}", timeout=10)
    writer.start(timeout=15)
    reader.start(timeout=15)
    try:
        writer.create("/make-run", b"through peer 1")
        reader.sync("/make-run")
        assert reader.get("/make-run")[0] == b"through peer 1"
    finally:
        writer.stop()
        reader.stop()

    # Again while it runs: nothing new is started.
    again = checkout.make("run")
    assert again.returncode == 0, again.stdout + again.stderr
    for k, pid in zip((1, 2, 3), pids):
        assert f"peer {k}: already running as process {pid}" in again.stdout
    assert sorted(p.pid for p in checkout.servers()) == sorted(pids)

    status = checkout.make("status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("Mode: leader") == 1 and status.stdout.count("Mode: follower") == 2
    assert re.search(r"standalone\s+127\.0\.0\.1:\d+\s+not running", status.stdout)

    # One peer restarted by hand, as a user would, rejoins with the data.
    restart = checkout.zkserver("restart", ensemble_cfgs()[0], env={"ZOO_LOG_DIR": "data/ensemble-3/logs/1"})
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert "STOPPED" in restart.stdout and "STARTED" in restart.stdout
    assert checkout.pid(1) != pids[0] and gone(pids[0])
    wait_until(lambda: sorted(checkout.mode(cfg) for cfg in ensemble_cfgs()) ==
               ["Mode: follower", "Mode: follower", "Mode: leader"], timeout=30, what="peer 1 back in the quorum")
    client = KazooClient(f"127.0.0.1:{checkout.client_port}", timeout=10)
    client.start(timeout=15)
    try:
        assert client.get("/make-run")[0] == b"through peer 1"
    finally:
        client.stop()
    pids[0] = checkout.pid(1)

    stop = checkout.make("stop")
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.count("STOPPED") == 3
    assert checkout.servers() == []
    assert all(gone(pid) for pid in pids)
    assert not any(os.path.exists(checkout.path("data", "ensemble-3", str(k), "zookeeper_server.pid"))
                   for k in (1, 2, 3))
    for cfg in ensemble_cfgs():
        status = checkout.zkserver("status", cfg)
        assert status.returncode == 1 and NOT_RUNNING in status.stderr
    status = checkout.make("status")
    assert status.returncode != 0
    assert status.stdout.count("not running") == 4

    clean = checkout.make("clean-data")
    assert clean.returncode == 0, clean.stderr
    assert not os.path.exists(checkout.path("data", "ensemble-3"))


def test_ensemble_of_one_and_a_background_standalone(checkout):
    base = free_port_block(3)
    made = checkout.make("ensemble", "N=1", f"CLIENT_PORT={base}", f"QUORUM_PORT={base + 1}",
                         f"ELECTION_PORT={base + 2}", "TICK=200")
    assert made.returncode == 0, made.stdout + made.stderr
    cfg = "./data/ensemble-1/conf/zoo1.cfg"
    assert os.path.exists(checkout.path(cfg))
    # One peer is an ensemble of one: it leads, it is not a standalone server.
    assert checkout.mode(cfg) == "Mode: leader"

    started = checkout.zkserver("start", "./conf/zoo_sample.cfg")
    assert "STARTED" in started.stdout, started.stdout + started.stderr
    status = checkout.make("status")
    assert status.returncode == 0
    assert "Mode: leader" in status.stdout and "Mode: standalone" in status.stdout

    stop = checkout.make("stop")
    assert stop.returncode == 0
    assert stop.stdout.count("STOPPED") == 2, stop.stdout
    assert checkout.servers() == []

    clean = checkout.make("clean-data")
    assert clean.returncode == 0
    assert not os.path.exists(checkout.path("data", "ensemble-1"))
    assert not os.path.exists(checkout.path("data", "standalone"))


def test_port_in_use_starts_nothing(checkout):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", checkout.client_port + 1))
        squatter.listen()
        run = checkout.make("run")
    assert run.returncode != 0
    assert f"127.0.0.1:{checkout.client_port + 1} (peer 2's client port" in run.stderr
    assert "is in use" in run.stderr
    assert checkout.servers() == []


def test_peer_that_fails_to_start(checkout):
    zoo2 = checkout.path("conf", "ensemble", "zoo2.cfg")
    with open(zoo2, "a", encoding="ascii") as f:
        f.write("syncLimit=soon\n")
    run = checkout.make("run")
    assert run.returncode != 0
    # The server's own complaint, from the peer's log or output.
    assert "syncLimit" in run.stderr, run.stderr
    assert "peer 2" in run.stderr
    stop = checkout.make("stop")
    assert stop.returncode == 0
    assert checkout.servers() == []


def test_ensemble_of_five(checkout):
    n = 5
    base = free_port_block(3 * n)
    made = checkout.make("ensemble", f"N={n}", f"CLIENT_PORT={base}", f"QUORUM_PORT={base + n}",
                         f"ELECTION_PORT={base + 2 * n}", "TICK=200", timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    modes = sorted(checkout.mode(f"./data/ensemble-5/conf/zoo{k}.cfg") for k in range(1, n + 1))
    assert modes == ["Mode: follower"] * 4 + ["Mode: leader"]
    assert len(checkout.servers()) == n
    stop = checkout.make("stop")
    assert stop.stdout.count("STOPPED") == n
    assert checkout.servers() == []
