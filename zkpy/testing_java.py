"""Run Apache ZooKeeper 3.8 (Java, Debian's ``zookeeper`` package) beside zkpy.

Stands for no Java class: it launches Java's ``QuorumPeerMain``. Used by the
interop tests (``tests/interop/java_zk.py`` re-exports it) and by the
benchmark (``bench/``), which runs the same load against both.

:class:`JavaZooKeeperServer` is the Java twin of :class:`zkpy.testing.TestingServer`:
one ``QuorumPeerMain`` process with its own ``zoo.cfg``, dataDir and log in a
temporary directory, on a free client port. It is started and stopped by
pid only (never by name), and it cannot outlive the run that started it:

* the JVM gets ``PR_SET_PDEATHSIG=SIGKILL`` (dies with the thread that
  started it, see the note in :mod:`zkpy.testing`);
* every live server is SIGKILLed at interpreter exit (``atexit``);
* :meth:`JavaZooKeeperServer.stop` / ``close()`` / ``__exit__`` / ``__del__``
  stop it (SIGTERM, then SIGKILL after ``stop_timeout``) and reap the pid.

Whether Java ZooKeeper can run here::

    ok, reason = JavaZooKeeperServer.available()
    pytestmark = pytest.mark.skipif(not ok, reason=reason)

or :func:`skip_unless_available` inside a test/fixture.

Ensembles: give each peer ``config={"server.1": ..., ...}`` and ``myid``, and
start them with ``start(wait="port")`` (a lone quorum peer never serves);
then :meth:`wait_serving` on each. Ports for the quorum/election listeners
can be taken from :func:`free_ports`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Optional

from zkpy.server.log_setup import log_tail
from zkpy.testing import _make_preexec_fn, find_free_port, find_free_ports, four_letter_word

__all__ = [
    "JavaZooKeeperServer",
    "JavaZooKeeperError",
    "skip_unless_available",
    "free_ports",
    "ZOOKEEPER_JAR",
]

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
#: The jar's manifest Class-Path brings in jute, netty, jetty, jackson,
#: metrics, snappy and slf4j-api; the log binding (slf4j -> log4j 1.2) and
#: log4j itself have to be added, as Debian's zkEnv.sh does via its CLASSPATH.
_EXTRA_JARS = (
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/log4j-1.2.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/slf4j-api.jar",
)
#: On the classpath when present: Debian's manifest leaves out netty-codec,
#: which quorum TLS (``UnifiedServerSocket``: sslQuorum, portUnification) needs.
_OPTIONAL_JARS = ("/usr/share/java/netty-codec.jar",)
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

_LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Target=System.out
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
"""

NOT_SERVING = "This ZooKeeper instance is not currently serving requests"


class JavaZooKeeperError(RuntimeError):
    """The Java server did not start, or died; the message has its log tail."""


def _find_java() -> Optional[str]:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("java")


#: ``count`` distinct TCP ports that were free a moment ago (kept under
#: this name for the interop tests).
free_ports = find_free_ports


def skip_unless_available() -> None:
    """``pytest.skip`` with the reason when Java ZooKeeper cannot run here."""
    ok, reason = JavaZooKeeperServer.available()
    if not ok:
        import pytest

        pytest.skip(reason)


# -- process bookkeeping: every live JVM is killed at exit -----------------------------

_live: "weakref.WeakSet[JavaZooKeeperServer]" = weakref.WeakSet()
_live_lock = threading.Lock()
_atexit_registered = False


def _kill_all_live() -> None:
    for server in list(_live):
        try:
            server.kill()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _register(server: "JavaZooKeeperServer") -> None:
    global _atexit_registered
    with _live_lock:
        if not _atexit_registered:
            atexit.register(_kill_all_live)
            _atexit_registered = True
        _live.add(server)


def _cfg_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class JavaZooKeeperServer:
    """One Java ZooKeeper 3.8 server (``QuorumPeerMain zoo.cfg``) for tests.

    :param conf: zoo.cfg entries; they override the generated ones
        (``tickTime``, ``dataDir``, ``clientPort``, ``clientPortAddress``,
        ``4lw.commands.whitelist=*``, ``admin.enableServer=false``), and a
        value of None removes a generated entry.
    :param port: client port; default a free one on ``host``.
    :param host: the client address to listen on and connect to.
    :param tick_time: ``tickTime`` in ms.
    :param myid: written to ``dataDir/myid`` (needed by quorum peers).
    :param jvm_flags: extra JVM words, e.g. ``["-Dreadonlymode.enabled=true"]``.
    :param temp_dir: use this directory (never removed) instead of a fresh one.
    :param keep_data: do not remove the temporary directory on close().
    :param heap_mb: ``-Xmx`` for the JVM.
    :param tuned_for_tests: add ``-XX:+UseSerialGC -XX:TieredStopAtLevel=1``
        (a JVM that starts faster, for short test runs); False runs the JVM
        with its default GC and JIT, as zkServer.sh does — for benchmarks.
    :param start: start in the constructor (waiting as ``start()`` does).

    Files, under :attr:`temp_dir`: ``zoo.cfg``, ``log4j.properties``,
    ``data/`` (the dataDir) and ``server.log`` (the JVM's stdout+stderr,
    appended across restarts).
    """

    __test__ = False

    def __init__(
        self,
        conf: Optional[Mapping[str, object]] = None,
        *,
        port: Optional[int] = None,
        host: str = "127.0.0.1",
        tick_time: int = 200,
        myid: Optional[int] = None,
        jvm_flags: Sequence[str] = (),
        temp_dir: Optional[str | os.PathLike] = None,
        keep_data: bool = False,
        heap_mb: int = 256,
        tuned_for_tests: bool = True,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        start: bool = False,
    ) -> None:
        self._host = host
        self._port = port if port is not None else find_free_port(host)
        self._tick_time = tick_time
        self._conf = dict(conf or {})
        self._myid = myid
        self._jvm_flags = list(jvm_flags)
        self._heap_mb = heap_mb
        self._tuned_for_tests = tuned_for_tests
        self._owns_temp_dir = temp_dir is None
        self._temp_dir = os.path.abspath(
            tempfile.mkdtemp(prefix="zkpy-javazk-") if temp_dir is None else os.fspath(temp_dir)
        )
        os.makedirs(self._temp_dir, exist_ok=True)
        self._data_dir = os.path.join(self._temp_dir, "data")
        self._keep_data = keep_data
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: Optional[subprocess.Popen] = None
        self._closed = False
        if start:
            self.start()

    # -- availability ------------------------------------------------------------------

    @staticmethod
    def available() -> tuple[bool, str]:
        """(True, "") when Java ZooKeeper can be started here, else
        (False, the reason) — use the reason for ``pytest.skip``."""
        if not os.path.isfile(ZOOKEEPER_JAR):
            return False, (f"Java ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing; "
                           "apt-get install zookeeper)")
        missing = [jar for jar in _EXTRA_JARS if not os.path.isfile(jar)]
        if missing:
            return False, f"Java ZooKeeper's jars are incomplete: missing {', '.join(missing)}"
        if _find_java() is None:
            return False, "no java executable (neither $JAVA_HOME/bin/java nor java on PATH)"
        return True, ""

    @staticmethod
    def classpath(extra_first: Sequence[str] = ()) -> str:
        optional = [jar for jar in _OPTIONAL_JARS if os.path.isfile(jar)]
        return os.pathsep.join([*extra_first, ZOOKEEPER_JAR, *_EXTRA_JARS, *optional])

    # -- properties -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def connect_string(self) -> str:
        return f"{self._host}:{self._port}"

    @property
    def temp_dir(self) -> str:
        return self._temp_dir

    @property
    def data_dir(self) -> str:
        return self._data_dir

    @property
    def config_path(self) -> str:
        return os.path.join(self._temp_dir, "zoo.cfg")

    @property
    def log_path(self) -> str:
        return os.path.join(self._temp_dir, "server.log")

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self.is_running else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return None if self._proc is None else self._proc.poll()

    # -- configuration --------------------------------------------------------------------

    def build_config(self) -> dict[str, str]:
        cfg: dict[str, object] = {
            "tickTime": self._tick_time,
            "dataDir": self._data_dir,
            "clientPort": self._port,
            "clientPortAddress": self._host,
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
        }
        for key, value in self._conf.items():
            if value is None:
                cfg.pop(key, None)
            else:
                cfg[key] = value
        return {key: _cfg_value(value) for key, value in cfg.items()}

    def write_config(self) -> str:
        lines = ["# generated by zkpy.testing_java"]
        lines += [f"{key}={value}" for key, value in self.build_config().items()]
        with open(self.config_path, "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self._temp_dir, "log4j.properties"), "w", encoding="ascii") as f:
            f.write(_LOG4J_PROPERTIES)
        return self.config_path

    def command(self) -> list[str]:
        java = _find_java() or "java"
        return [
            java,
            f"-Xmx{self._heap_mb}m",
            # starts faster; test runs are short
            *(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"] if self._tuned_for_tests else []),
            "-Dzookeeper.log.dir=" + self._temp_dir,
            "-Dlog4j.configuration=file:" + os.path.join(self._temp_dir, "log4j.properties"),
            *self._jvm_flags,
            "-cp", self.classpath([self._temp_dir]),
            MAIN_CLASS,
            self.config_path,
        ]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, wait: Optional[str] = "serving") -> "JavaZooKeeperServer":
        """Start the JVM. ``wait``: "serving" (default) waits until ``srvr``
        answers without "not currently serving" (or, if srvr is not
        whitelisted, until ``ruok`` answers); "port" only until the client
        port answers ``ruok``; None does not wait."""
        ok, reason = self.available()
        if not ok:
            raise JavaZooKeeperError(reason)
        if self._closed:
            raise JavaZooKeeperError("this JavaZooKeeperServer is closed")
        if self.is_running:
            return self
        os.makedirs(self._data_dir, exist_ok=True)
        if self._myid is not None:
            with open(os.path.join(self._data_dir, "myid"), "w", encoding="ascii") as f:
                f.write(f"{self._myid}\n")
        self.write_config()
        with open(self.log_path, "ab") as log:
            log.write(f"---- zkpy.testing_java: starting {' '.join(self.command())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._temp_dir,
                preexec_fn=_make_preexec_fn(),
                close_fds=True,
            )
        _register(self)
        try:
            if wait == "serving":
                self.wait_serving()
            elif wait == "port":
                self.wait_port()
            elif wait is not None:
                raise ValueError(f"wait must be 'serving', 'port' or None, not {wait!r}")
        except BaseException:
            self.kill()
            raise
        return self

    def _poll(self, ready, what: str, timeout: Optional[float]) -> None:
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise JavaZooKeeperError(
                    f"Java ZooKeeper exited with status {code} while waiting for {what}\n{self._describe()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise JavaZooKeeperError(f"Java ZooKeeper: no {what} within the timeout\n{self._describe()}")
            time.sleep(0.1)

    def wait_port(self, timeout: Optional[float] = None) -> None:
        """Wait until the client port answers ``ruok`` (with ``imok`` or the
        not-whitelisted message)."""
        self._poll(lambda: bool(self.four_letter_word("ruok", timeout=1.0)), "answer on the client port",
                   timeout)

    def wait_serving(self, timeout: Optional[float] = None) -> None:
        """Wait until the server serves requests (``srvr`` no longer says it
        is not serving; just ``ruok`` when srvr is not whitelisted)."""
        def ready() -> bool:
            answer = self.four_letter_word("srvr", timeout=1.0)
            if "is not executed because it is not in the whitelist" in answer:
                return bool(self.four_letter_word("ruok", timeout=1.0))
            return answer.startswith("Zookeeper version:")
        self._poll(ready, "serving state", timeout)

    def stop(self) -> None:
        """SIGTERM the pid, then SIGKILL after ``stop_timeout``; reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            except ProcessLookupError:
                proc.wait()
        _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the pid (a crash) and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            proc.wait()
        _live.discard(self)

    def restart(self, wait: Optional[str] = "serving") -> "JavaZooKeeperServer":
        self.stop()
        return self.start(wait=wait)

    def close(self) -> None:
        """stop() and remove the temp dir (unless keep_data or temp_dir was given)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        if self._owns_temp_dir and not self._keep_data:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    # -- talking to it --------------------------------------------------------------------------

    def four_letter_word(self, word: str, timeout: float = 5.0, payload: bytes = b"") -> str:
        return four_letter_word(self._host, self._port, word, timeout, payload)

    # -- diagnostics -----------------------------------------------------------------------------

    def log_tail(self, lines: int = 50) -> str:
        return log_tail(self.log_path, lines)

    def _describe(self) -> str:
        return f"command: {' '.join(self.command())}\nlog {self.log_path}, last lines:\n{self.log_tail()}"

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running else "stopped"
        return f"<JavaZooKeeperServer {self.connect_string} {state} dir={self._temp_dir}>"

    def __enter__(self) -> "JavaZooKeeperServer":
        if not self.is_running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass
