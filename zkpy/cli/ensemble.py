"""A localhost ensemble for trying zkpy out: ``make run``, ``make ensemble``,
``make status``, ``make stop``, ``make clean-data``.

Java: no class. Apache ZooKeeper documents the same thing by hand ("Running
Replicated ZooKeeper": one zoo.cfg, dataDir and myid per server, each
started with ``bin/zkServer.sh start``); this module does those steps and
then waits for the election, so the Makefile stays short.

An ensemble is a directory of ``zoo<myid>.cfg`` files, e.g. the committed
``conf/ensemble/`` (3 peers) or one that ``generate`` writes for N peers.
Each peer is started through ``bin/zkServer.sh start`` exactly as a user
would start it, so its pid file is ``<dataDir>/zookeeper_server.pid`` and
``bin/zkServer.sh status|stop|restart <cfg>`` work on it. What the script
does not do and this module adds:

* ``dataDir/myid`` is written from the file name when it is missing;
* each peer logs to its own ``$ZOO_LOG_DIR`` = ``<dataDir>/../logs/<myid>``
  (Java's script names the log after user and host only, so peers sharing
  one log directory would share one file);
* ``$ZOOPIDFILE`` is ignored, since one pid file cannot serve N peers;
* before starting, the peer's client, quorum and election ports are
  checked, so a clash with another server is named instead of showing up
  as a peer that dies.

Relative paths (``dataDir=./data/...``) resolve against the working
directory, as the server resolves them: run it from the repository root.
"""

from __future__ import annotations

import concurrent.futures
import glob
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Optional

import attrs
import click
import psutil

from zkpy.cli.four_letter_word_main import four_letter_word, srvr_mode
from zkpy.server.log_setup import log_tail
from zkpy.cli.server_control import server_process
from zkpy.quorum.quorum_server import QuorumServer
from zkpy.server.config import ConfigException, load_properties

LOG = logging.getLogger(__name__)

PID_FILE_NAME = "zookeeper_server.pid"
_CONFIG_NAME = re.compile(r"^zoo(\d+)\.cfg$")
_DEFAULT_ZKSERVER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "bin", "zkServer.sh")


class EnsembleError(Exception):
    """A problem to report in one message, exit status 1."""


# --------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------

def generate_configs(n: int, *, data_root: str = "./data", host: str = "127.0.0.1",
                     client_port: int = 2181, quorum_port: int = 2888, election_port: int = 3888,
                     tick_time: int = 2000) -> dict[str, str]:
    """The zoo<K>.cfg texts of an N-peer ensemble on ``host``, by file name.

    Peer K listens for clients on ``client_port + K - 1`` and for its peers
    on ``quorum_port + K - 1`` / ``election_port + K - 1``; its dataDir is
    ``<data_root>/ensemble-<n>/<K>``. With the defaults and n=3 this is
    exactly conf/ensemble/.
    """
    if n < 1:
        raise EnsembleError(f"an ensemble needs at least one peer, not {n}")
    members = "".join(f"server.{k}={host}:{quorum_port + k - 1}:{election_port + k - 1}\n"
                      for k in range(1, n + 1))
    # One voter would otherwise run standalone (Mode: standalone, no election).
    single = "# One peer is still an ensemble (leader), not a standalone server.\nstandaloneEnabled=false\n" \
        if n == 1 else ""
    root = data_root.rstrip("/") or "/"
    starter = "`make run` (= `make ensemble N=3`)" if n == 3 else f"`make ensemble N={n}`"
    configs = {}
    for k in range(1, n + 1):
        configs[f"zoo{k}.cfg"] = (
            f"# zkpy localhost ensemble: peer {k} of {n}. {starter} starts it\n"
            f"# (bin/zkServer.sh start on each zoo<K>.cfg, from the repository root);\n"
            f"# `make stop` stops it. Same keys as Apache ZooKeeper's zoo.cfg.\n"
            f"tickTime={tick_time}\n"
            "initLimit=10\n"
            "syncLimit=5\n"
            "# Relative to the directory the server starts in (the repository root).\n"
            f"# The pid file and myid go here too; the peer logs to {root}/ensemble-{n}/logs/{k}.\n"
            f"dataDir={root}/ensemble-{n}/{k}\n"
            f"clientPort={client_port + k - 1}\n"
            f"clientPortAddress={host}\n"
            "# No HTTP AdminServer (the peers would fight over port 8080) and no\n"
            "# metricsProvider.className (no Prometheus endpoint).\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=*\n"
            f"{single}"
            "# server.<myid>=host:quorumPort:electionPort\n"
            f"{members}"
        )
    return configs


@attrs.define
class Peer:
    """One server of an ensemble (or the standalone server, ``sid`` None)."""

    config_path: str
    sid: Optional[int]
    #: dataDir, resolved against the working directory (as the server resolves it).
    data_dir: str
    client_host: str
    client_port: int
    #: (host, port, what) this peer binds besides its client port.
    peer_addresses: list[tuple[str, int, str]] = attrs.field(factory=list)

    @property
    def pid_file(self) -> str:
        return os.path.join(self.data_dir, PID_FILE_NAME)

    @property
    def log_dir(self) -> str:
        return os.path.join(os.path.dirname(self.data_dir), "logs", str(self.sid))

    @property
    def name(self) -> str:
        return "standalone" if self.sid is None else f"peer {self.sid}"

    @property
    def client_address(self) -> str:
        return f"{self.client_host}:{self.client_port}"

    def pid(self) -> Optional[int]:
        proc = server_process(self.pid_file)
        return None if proc is None else proc.pid

    def log_files(self) -> list[str]:
        """The server's log and its daemon output, newest first."""
        files = glob.glob(os.path.join(self.log_dir, "*.log")) + glob.glob(os.path.join(self.log_dir, "*.out"))
        return sorted(files, key=os.path.getmtime, reverse=True)


def load_peer(config_path: str, sid: Optional[int]) -> Peer:
    """Read what starting and finding a server needs from its zoo.cfg.

    Only a few keys: the server itself judges the rest and says what is
    wrong in its log when it refuses to start."""
    try:
        props = load_properties(config_path)
    except (OSError, ConfigException) as e:
        raise EnsembleError(f"cannot read {config_path}: {e}") from None
    data_dir_text = props.get("dataDir", "").strip()
    if not data_dir_text:
        raise EnsembleError(f"{config_path}: dataDir is not set")
    try:
        client_port = int(props.get("clientPort", "0").strip() or "0")
    except ValueError:
        raise EnsembleError(f"{config_path}: clientPort {props['clientPort']!r} is not a number") from None
    host = props.get("clientPortAddress", "").strip()
    if not host or host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    peer_addresses = []
    if sid is not None:
        member = props.get(f"server.{sid}")
        if member is None:
            raise EnsembleError(f"{config_path}: no server.{sid} line for this peer")
        try:
            server = QuorumServer.parse(sid, member)
        except ConfigException as e:
            raise EnsembleError(f"{config_path}: server.{sid}: {e}") from None
        peer_addresses = [(*server.addr, "quorum port"), (*server.election_addr, "election port")]
    if not client_port:
        raise EnsembleError(f"{config_path}: clientPort is not set")
    return Peer(config_path, sid, os.path.abspath(data_dir_text), host, client_port,
                peer_addresses)


def load_ensemble(conf_dir: str) -> list[Peer]:
    """The peers configured in ``conf_dir`` (its zoo<myid>.cfg files), by myid."""
    if not os.path.isdir(conf_dir):
        raise EnsembleError(f"no ensemble configuration in {conf_dir} (not a directory)")
    found = []
    for name in os.listdir(conf_dir):
        match = _CONFIG_NAME.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(conf_dir, name)))
    if not found:
        raise EnsembleError(f"no zoo<myid>.cfg files in {conf_dir}")
    return [load_peer(path, sid) for sid, path in sorted(found)]


def generated_conf_dir(data_root: str, n: int) -> str:
    return os.path.join(data_root, f"ensemble-{n}", "conf")


def prepare_generated(n: int, data_root: str, default_conf: Optional[str], **ports: int) -> str:
    """The conf dir for ``make ensemble N=n``: ``default_conf`` when it
    already holds exactly these files (so ``make ensemble N=3`` is ``make
    run``), else ``<data_root>/ensemble-<n>/conf``, (re)written."""
    configs = generate_configs(n, data_root=data_root, **ports)
    if default_conf and _holds(default_conf, configs):
        return default_conf
    conf_dir = generated_conf_dir(data_root, n)
    if not _holds(conf_dir, configs):
        running = [p for p in _peers_if_any(conf_dir) if p.pid() is not None]
        if running:
            # Rewriting the configs under running peers would strand them.
            raise EnsembleError(f"{conf_dir} has running peers with other settings; stop them first (make stop)")
        os.makedirs(conf_dir, exist_ok=True)
        for stale in glob.glob(os.path.join(conf_dir, "zoo*.cfg")):
            os.remove(stale)
        for name, text in configs.items():
            with open(os.path.join(conf_dir, name), "w", encoding="ascii") as f:
                f.write(text)
    return conf_dir


def _holds(conf_dir: str, configs: dict[str, str]) -> bool:
    if not os.path.isdir(conf_dir):
        return False
    names = {name for name in os.listdir(conf_dir) if _CONFIG_NAME.match(name)}
    if names != set(configs):
        return False
    for name, text in configs.items():
        with open(os.path.join(conf_dir, name), encoding="latin-1") as f:
            if f.read() != text:
                return False
    return True


def _peers_if_any(conf_dir: str) -> list[Peer]:
    try:
        return load_ensemble(conf_dir)
    except EnsembleError:
        return []


# --------------------------------------------------------------------------
# starting and watching
# --------------------------------------------------------------------------

def write_myid(peer: Peer) -> None:
    os.makedirs(peer.data_dir, exist_ok=True)
    path = os.path.join(peer.data_dir, "myid")
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        with open(path, "w", encoding="ascii") as f:
            f.write(f"{peer.sid}\n")
        return
    if text != str(peer.sid):
        raise EnsembleError(f"{path} says {text!r} but {peer.config_path} is peer {peer.sid}: "
                            "fix the file or remove the data (make clean-data)")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server binds: a port left in TIME_WAIT by a stopped server is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(peers: list[Peer]) -> None:
    """Raise when a port a (not running) peer needs is taken."""
    for peer in peers:
        for host, port, what in [(peer.client_host, peer.client_port, "client port"), *peer.peer_addresses]:
            if port_in_use(host, port):
                raise EnsembleError(
                    f"{host}:{port} ({peer.name}'s {what}, {peer.config_path}) is in use: another ZooKeeper "
                    "running? (`make status` shows zkpy's; `make stop` stops them)")


def zkserver_env(peer: Peer) -> dict[str, str]:
    env = dict(os.environ, ZOO_LOG_DIR=peer.log_dir)
    env.pop("ZOOPIDFILE", None)
    return env


def start_peers(peers: list[Peer], zkserver: str) -> list[tuple[Peer, subprocess.CompletedProcess]]:
    """``zkServer.sh start`` every peer, all at once (the script waits a
    second on each); return each peer with the script's result."""
    def start(peer: Peer) -> subprocess.CompletedProcess:
        os.makedirs(peer.log_dir, exist_ok=True)
        return subprocess.run(["bash", zkserver, "start", peer.config_path], env=zkserver_env(peer),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(peers))) as pool:
        return list(zip(peers, pool.map(start, peers)))


def peer_mode(peer: Peer, timeout: float = 2.0) -> Optional[str]:
    """``leader``, ``follower``, ``observer``, ``standalone``, ``read-only``,
    ``electing`` (answers but does not serve yet), or None (no answer)."""
    try:
        answer = four_letter_word(peer.client_host, peer.client_port, "srvr", timeout=timeout)
    except OSError:
        return None
    mode = srvr_mode(answer)
    if mode is None and "not currently serving" in answer:
        return "electing"
    return mode


def quorum_formed(modes: dict[int, Optional[str]]) -> bool:
    """Exactly one leader, every other peer following or observing."""
    values = list(modes.values())
    return values.count("leader") == 1 and all(m in ("leader", "follower", "observer") for m in values)


def _report_logs(peer: Peer) -> None:
    files = peer.log_files()
    if not files:
        click.echo(f"  (no log in {peer.log_dir})", err=True)
    for path in files:
        tail = log_tail(path, 20, 32 * 1024)
        click.echo(f"--- the end of {_shown(path)} ---", err=True)
        click.echo(tail or "(empty)", err=True)


def wait_for_quorum(peers: list[Peer], timeout: float) -> dict[int, Optional[str]]:
    """Poll the peers until one leads and the rest follow; raise when one
    dies or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        dead = [peer for peer in peers if peer.pid() is None]
        if dead:
            for peer in dead:
                click.echo(f"{peer.name} ({peer.config_path}) is no longer running.", err=True)
                _report_logs(peer)
            raise EnsembleError(f"{', '.join(p.name for p in dead)} stopped while the ensemble was electing")
        modes = {peer.sid: peer_mode(peer) for peer in peers}
        if quorum_formed(modes):
            return modes
        if time.monotonic() >= deadline:
            for peer in peers:
                click.echo(f"{peer.name}: {modes[peer.sid] or 'no answer'}", err=True)
                _report_logs(peer)
            raise EnsembleError(f"no leader with every peer following after {timeout:g} s")
        time.sleep(0.2)


def _shown(path: str) -> str:
    """A path as short as it can be said from here."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def run_ensemble(conf_dir: str, zkserver: str, timeout: float) -> None:
    peers = load_ensemble(conf_dir)
    to_start = []
    for peer in peers:
        pid = peer.pid()
        if pid is None:
            to_start.append(peer)
        else:
            click.echo(f"{peer.name}: already running as process {pid} ({peer.config_path})")
    check_ports(to_start)
    for peer in to_start:
        write_myid(peer)
    started = time.monotonic()
    failed = []
    for peer, result in start_peers(to_start, zkserver):
        click.echo(f"{peer.name}: {result.stdout.strip()}")
        if result.returncode != 0:
            failed.append(peer)
            if result.stderr.strip():
                click.echo(result.stderr.rstrip(), err=True)
    for peer in failed:
        click.echo(f"{peer.name} ({peer.config_path}) failed to start.", err=True)
        _report_logs(peer)
    if failed:
        raise EnsembleError(f"{', '.join(p.name for p in failed)} did not start; "
                            "`make stop` stops the peers that did")
    modes = wait_for_quorum(peers, timeout)
    leader = next(sid for sid, mode in modes.items() if mode == "leader")
    click.echo(f"\nEnsemble {conf_dir}: {len(peers)} peer{'s' if len(peers) != 1 else ''}, "
               f"peer {leader} leads (ready after {time.monotonic() - started:.1f} s).")
    for peer in peers:
        logs = [p for p in peer.log_files() if p.endswith(".log")] or peer.log_files()
        log = _shown(logs[0]) if logs else _shown(peer.log_dir)
        click.echo(f"  {peer.name}  Mode: {modes[peer.sid]:<9} client {peer.client_address:<16} "
                   f"pid {peer.pid()}  log {log}")
    hosts = ",".join(peer.client_address for peer in peers)
    python = _shown(sys.executable)
    click.echo("Connect with:")
    click.echo(f"  bin/zkCli.sh -server {hosts}")
    click.echo(f"  {python} -c \"from kazoo.client import KazooClient; zk = KazooClient('{hosts}'); "
               "zk.start(); print(zk.get_children('/')); zk.stop()\"")
    click.echo(f"  zkCli.sh -server {hosts}     # Java ZooKeeper's shell, if installed")
    click.echo("`make status` shows each peer's mode, `make stop` stops them all "
               f"(one peer: bin/zkServer.sh stop {peers[0].config_path}).")


# --------------------------------------------------------------------------
# every server the Makefile knows about
# --------------------------------------------------------------------------

def discover(conf_dirs: list[str], data_root: str, standalone: Optional[str]) -> list[tuple[str, list[Peer]]]:
    """(label, peers) for each ensemble in ``conf_dirs`` and each generated
    one under ``data_root``, then the standalone server; a server reached
    through two config dirs (the same pid file) is listed once."""
    dirs = [d for d in conf_dirs if d]
    dirs += sorted(glob.glob(os.path.join(data_root, "ensemble-*", "conf")))
    seen: set[str] = set()
    groups = []
    for conf_dir in dirs:
        if not os.path.isdir(conf_dir):
            continue
        peers = [p for p in load_ensemble(conf_dir) if os.path.abspath(p.pid_file) not in seen]
        seen.update(os.path.abspath(p.pid_file) for p in peers)
        if peers:
            groups.append((f"ensemble {_shown(conf_dir)}", peers))
    if standalone and os.path.exists(standalone):
        peer = load_peer(standalone, None)
        if os.path.abspath(peer.pid_file) not in seen:
            groups.append((f"standalone {_shown(standalone)}", [peer]))
    return groups


def status_lines(groups: list[tuple[str, list[Peer]]]) -> tuple[list[str], int]:
    """What ``make status`` prints, and how many servers run."""
    lines, running = [], 0
    for label, peers in groups:
        lines.append(f"{label}:")
        for peer in peers:
            pid = peer.pid()
            if pid is None:
                state = "not running"
            else:
                running += 1
                mode = peer_mode(peer)
                if mode == "electing":
                    state = "running, not serving yet (electing a leader)"
                elif mode:
                    state = f"Mode: {mode}"
                else:
                    state = "running, not answering"
                state = f"{state:<16} (pid {pid})"
            lines.append(f"  {peer.name:<10} {peer.client_address:<16} {state}")
    return lines, running


def stop_all(peers: list[Peer], timeout: float) -> list[Peer]:
    """Stop every running server as ``zkServer.sh stop`` does (SIGTERM,
    SIGKILL after ``timeout`` s, pid file removed), all at once; wait until
    they are gone and return those that were running."""
    running = [(peer, server_process(peer.pid_file)) for peer in peers]
    running = [(peer, proc) for peer, proc in running if proc is not None]
    procs = [proc for _peer, proc in running]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    for peer, proc in running:
        try:
            os.remove(peer.pid_file)
        except FileNotFoundError:
            pass
        how = f"killed: still running after {timeout:g} s" if proc in alive else "exited"
        click.echo(f"{peer.name} ({peer.config_path}): STOPPED (process {proc.pid} {how})")
    return [peer for peer, _proc in running]


def _remove_tree(path: str, data_root: str) -> bool:
    """Remove ``path`` if it lies inside ``data_root`` (never anything else)."""
    root = os.path.realpath(data_root)
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return False
    if os.path.commonpath([root, real]) != root or real == root:
        click.echo(f"not removing {path}: it is not inside {data_root}", err=True)
        return False
    shutil.rmtree(real)
    click.echo(f"removed {_shown(path)}")
    return True


# --------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------

_discovery_options = [
    click.option("--conf-dir", "conf_dirs", multiple=True, default=["./conf/ensemble"], show_default=True,
                 help="An ensemble's config directory (repeatable)."),
    click.option("--data-root", default="./data", show_default=True,
                 help="Where generated ensembles live (<root>/ensemble-N/)."),
    click.option("--standalone", default="./conf/zoo_sample.cfg", show_default=True,
                 help="The standalone server's zoo.cfg (started with bin/zkServer.sh start)."),
]


def _with_discovery(func):
    for option in reversed(_discovery_options):
        func = option(func)
    return func


def _generation_options(func):
    for option in reversed([
        click.option("--n", "n", type=int, default=3, show_default=True, help="Number of peers."),
        click.option("--data-root", default="./data", show_default=True,
                     help="dataDir of peer K: <root>/ensemble-N/K; generated configs in <root>/ensemble-N/conf."),
        click.option("--host", default="127.0.0.1", show_default=True),
        click.option("--client-port", type=int, default=2181, show_default=True, help="Peer K: this + K - 1."),
        click.option("--quorum-port", type=int, default=2888, show_default=True, help="Peer K: this + K - 1."),
        click.option("--election-port", type=int, default=3888, show_default=True, help="Peer K: this + K - 1."),
        click.option("--tick-time", type=int, default=2000, show_default=True),
    ]):
        func = option(func)
    return func


def _fail(error: Exception) -> None:
    click.echo(f"Error: {error}", err=True)
    sys.exit(1)


@click.group(help="Run a localhost ensemble of zkpy peers (run from the repository root).")
def cli() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")


@cli.command(help="Write the zoo<K>.cfg files of an N-peer ensemble into OUT (default <root>/ensemble-N/conf).")
@_generation_options
@click.option("--out", default=None, help="Directory to write to.")
def generate(n, data_root, host, client_port, quorum_port, election_port, tick_time, out) -> None:
    try:
        configs = generate_configs(n, data_root=data_root, host=host, client_port=client_port,
                                   quorum_port=quorum_port, election_port=election_port, tick_time=tick_time)
    except EnsembleError as e:
        _fail(e)
    out = out or generated_conf_dir(data_root, n)
    os.makedirs(out, exist_ok=True)
    for name, text in configs.items():
        with open(os.path.join(out, name), "w", encoding="ascii") as f:
            f.write(text)
    click.echo(f"wrote {len(configs)} configs to {out}")


@cli.command(help="Start the peers of --conf-dir, or of a generated N-peer ensemble with --n, "
                  "and wait for a leader.")
@click.option("--conf-dir", default=None, help="Start the peers configured here.")
@_generation_options
@click.option("--default-conf", default=None,
              help="With --n: use this dir when it holds exactly the configs --n would generate.")
@click.option("--zkserver", default=_DEFAULT_ZKSERVER, show_default=True, help="bin/zkServer.sh to start them with.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for a leader.")
def run(conf_dir, n, data_root, host, client_port, quorum_port, election_port, tick_time, default_conf,
        zkserver, timeout) -> None:
    try:
        if conf_dir is None:
            conf_dir = prepare_generated(n, data_root, default_conf, host=host, client_port=client_port,
                                         quorum_port=quorum_port, election_port=election_port,
                                         tick_time=tick_time)
        run_ensemble(conf_dir, zkserver, timeout)
    except EnsembleError as e:
        _fail(e)


@cli.command(help="Each known server's mode, or 'not running'. Exit 0 when any runs, else 1.")
@_with_discovery
def status(conf_dirs, data_root, standalone) -> None:
    try:
        lines, running = status_lines(discover(list(conf_dirs), data_root, standalone))
    except EnsembleError as e:
        _fail(e)
    for line in lines:
        click.echo(line)
    if not running:
        click.echo("No zkpy server is running (`make run` starts the ensemble).")
    sys.exit(0 if running else 1)


@cli.command(help="Stop every known server (each ensemble's peers and the standalone server).")
@_with_discovery
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds a server gets to exit before SIGKILL.")
def stop(conf_dirs, data_root, standalone, timeout) -> None:
    try:
        groups = discover(list(conf_dirs), data_root, standalone)
    except EnsembleError as e:
        _fail(e)
    stopped = stop_all([peer for _label, peers in groups for peer in peers], timeout)
    if not stopped:
        click.echo("No zkpy server was running.")


@cli.command("clean-data", help="Stop every known server, then remove their data and log directories "
                                "(only inside --data-root).")
@_with_discovery
def clean_data(conf_dirs, data_root, standalone) -> None:
    try:
        groups = discover(list(conf_dirs), data_root, standalone)
    except EnsembleError as e:
        _fail(e)
    peers = [peer for _label, peers in groups for peer in peers]
    if any(peer.pid() is not None for peer in peers):
        click.echo("Stopping the running servers first.")
        stop_all(peers, 10.0)
    removed = False
    # The default layout: all of an ensemble (data, logs, generated conf/) in one dir.
    for ensemble_dir in sorted(glob.glob(os.path.join(data_root, "ensemble-*"))):
        removed |= _remove_tree(ensemble_dir, data_root)
    for peer in peers:
        removed |= _remove_tree(peer.data_dir, data_root)
        if peer.sid is not None:
            removed |= _remove_tree(peer.log_dir, data_root)
    if not removed:
        click.echo("Nothing to remove.")


def main(argv: Optional[list[str]] = None) -> None:
    cli.main(args=argv, prog_name="python -m zkpy.cli.ensemble")


if __name__ == "__main__":
    main()
