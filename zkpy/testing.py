"""Test helpers: a throw-away standalone server and a four-letter-word client.

Stands for Curator's ``TestingServer`` (a real server in a temp directory)
and ZooKeeper's ``FourLetterWordMain`` (send a 4lw, read the answer).

:class:`TestingServer` runs ``python -m zkpy zoo.cfg`` as a child process,
never in-process, so tests exercise the real server, its sockets and its
shutdown. The child cannot outlive the test run: it gets
``PR_SET_PDEATHSIG=SIGKILL`` on Linux, every live server is killed at
interpreter exit, and ``close()`` / ``__exit__`` / ``__del__`` stop it.

Note: ``PR_SET_PDEATHSIG`` fires when the *thread* that started the child
exits, so start servers from a thread that lives as long as they should.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Callable, Optional

import zkpy
from zkpy.cli.four_letter_word_main import four_letter_word
from zkpy.server.config import format_properties

__all__ = ["TestingServer", "TestingServerError", "four_letter_word", "find_free_port"]

_PR_SET_PDEATHSIG = 1


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class TestingServerError(RuntimeError):
    """The test server did not start, or died; the message has its log tail."""

    __test__ = False


def _make_preexec_fn() -> Optional[Callable[[], None]]:
    """A preexec_fn that makes the child die with SIGKILL when its parent
    does (Linux ``prctl(PR_SET_PDEATHSIG)``); None where unavailable."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took hold
            os._exit(1)

    return preexec


_live_servers: "weakref.WeakSet[TestingServer]" = weakref.WeakSet()
_atexit_lock = threading.Lock()
_atexit_registered = False


def _kill_live_servers() -> None:
    for server in list(_live_servers):
        try:
            server.kill()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _register(server: "TestingServer") -> None:
    global _atexit_registered
    with _atexit_lock:
        if not _atexit_registered:
            atexit.register(_kill_live_servers)
            _atexit_registered = True
        _live_servers.add(server)


class TestingServer:
    """A standalone zkpy server in a temporary directory, for tests.

    >>> with TestingServer() as server:                      # doctest: +SKIP
    ...     client = KazooClient(server.connect_string)

    Files, all under :attr:`temp_dir`: ``zoo.cfg``, ``data/`` (the
    dataDir, unless ``data_dir`` is given) and ``server.log`` (the server's
    stdout and stderr, appended across restarts).

    :param port: client port; default a free one on ``host``.
    :param host: address to listen on and connect to.
    :param tick_time: ``tickTime`` in ms (short, for fast tests).
    :param config: extra zoo.cfg entries; they override the generated ones,
        and a value of None removes a generated entry.
    :param jvm_flags: ``-Dname=value`` words (a string or a list), passed as
        ``$SERVER_JVMFLAGS`` like zkServer.sh does.
    :param force_sync: False writes ``forceSync=no`` (no fsync; faster).
    :param env: extra environment variables for the server process.
    :param data_dir: use this dataDir instead of one in the temp dir; it is
        never removed.
    :param temp_dir: use this directory for zoo.cfg/log/data instead of a
        fresh temporary one; it is never removed.
    :param keep_data: do not remove the temporary directory on close().
    :param start_timeout: seconds start() waits for the server.
    :param stop_timeout: seconds stop() waits after SIGTERM before SIGKILL.
    :param start: start the server in the constructor.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        port: Optional[int] = None,
        *,
        host: str = "127.0.0.1",
        tick_time: int = 200,
        config: Optional[Mapping[str, object]] = None,
        jvm_flags: str | Sequence[str] | None = None,
        force_sync: bool = True,
        env: Optional[Mapping[str, str]] = None,
        data_dir: Optional[str | os.PathLike] = None,
        temp_dir: Optional[str | os.PathLike] = None,
        keep_data: bool = False,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        start: bool = False,
    ) -> None:
        self._host = host
        self._port = port if port is not None else find_free_port(host)
        self._tick_time = tick_time
        self._extra_config = dict(config or {})
        if jvm_flags is None or isinstance(jvm_flags, str):
            self._jvm_flags = jvm_flags or ""
        else:
            self._jvm_flags = " ".join(shlex.quote(flag) for flag in jvm_flags)
        self._force_sync = force_sync
        self._extra_env = dict(env or {})
        self._owns_temp_dir = temp_dir is None
        self._temp_dir = os.path.abspath(
            tempfile.mkdtemp(prefix="zkpy-test-") if temp_dir is None else os.fspath(temp_dir)
        )
        os.makedirs(self._temp_dir, exist_ok=True)
        self._data_dir = os.path.abspath(
            os.fspath(data_dir) if data_dir is not None else os.path.join(self._temp_dir, "data")
        )
        self._keep_data = keep_data
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: Optional[subprocess.Popen] = None
        self._closed = False
        if start:
            self.start()

    # -- properties -----------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def connect_string(self) -> str:
        """``host:port``, for KazooClient(hosts=...) or zkCli.sh -server."""
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
        """The server's pid while it runs, else None."""
        return self._proc.pid if self.is_running else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        """The exit status of the last server process (None while running)."""
        return None if self._proc is None else self._proc.poll()

    # -- configuration ----------------------------------------------------------

    def build_config(self) -> dict[str, str]:
        """The zoo.cfg entries this server runs with."""
        cfg: dict[str, object] = {
            "tickTime": self._tick_time,
            "dataDir": self._data_dir,
            "clientPort": self._port,
            "clientPortAddress": self._host,
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
        }
        if not self._force_sync:
            cfg["forceSync"] = "no"
        for key, value in self._extra_config.items():
            if value is None:
                cfg.pop(key, None)
            else:
                cfg[key] = value
        return {key: _cfg_value(value) for key, value in cfg.items()}

    def write_config(self) -> str:
        """Write zoo.cfg into the temp dir; return its path."""
        text = format_properties(self.build_config(), header="generated by zkpy.testing")
        with open(self.config_path, "w", encoding="ascii") as f:
            f.write(text)
        return self.config_path

    def build_env(self) -> dict[str, str]:
        """The server process's environment."""
        env = dict(os.environ)
        # Make `-m zkpy` import this zkpy, installed or not.
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(zkpy.__file__)))
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = package_root + (os.pathsep + path if path else "")
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("JVMFLAGS", None)
        if self._jvm_flags:
            env["SERVER_JVMFLAGS"] = self._jvm_flags
        else:
            env.pop("SERVER_JVMFLAGS", None)
        env.update(self._extra_env)
        return env

    def command(self) -> list[str]:
        return [sys.executable, "-m", "zkpy", self.config_path]

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> "TestingServer":
        """Start the server and wait until it answers ``ruok`` with ``imok``
        (and ``srvr`` no longer says it is not serving)."""
        if self._closed:
            raise TestingServerError("this TestingServer is closed")
        if self.is_running:
            return self
        os.makedirs(self._data_dir, exist_ok=True)
        self.write_config()
        with open(self.log_path, "ab") as log:
            log.write(f"---- zkpy.testing: starting {' '.join(self.command())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._temp_dir,
                env=self.build_env(),
                preexec_fn=_make_preexec_fn(),
                close_fds=True,
            )
        _register(self)
        try:
            self._wait_until_serving()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise TestingServerError(
                    f"zkpy server exited with status {self._proc.returncode} while starting"
                    f"\n{self._describe()}"
                )
            if self._is_serving():
                return
            if time.monotonic() >= deadline:
                raise TestingServerError(
                    f"zkpy server did not answer ruok within {self.start_timeout}s"
                    f"\n{self._describe()}"
                )
            time.sleep(0.05)

    def _is_serving(self) -> bool:
        try:
            if four_letter_word(self._host, self._port, "ruok", timeout=1.0) != "imok":
                return False
            status = four_letter_word(self._host, self._port, "srvr", timeout=1.0)
        except OSError:
            return False
        return "not currently serving" not in status

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; wait for the pid."""
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
        _live_servers.discard(self)

    def kill(self) -> None:
        """SIGKILL the server (a crash, for fault tests) and wait for it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            proc.wait()
        _live_servers.discard(self)

    def restart(self) -> "TestingServer":
        """stop() and start() again, on the same port and dataDir."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """stop() and remove the temp dir (unless keep_data or temp_dir)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        if self._owns_temp_dir and not self._keep_data:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    # -- diagnostics ------------------------------------------------------------

    def log_tail(self, lines: int = 50) -> str:
        """The last ``lines`` lines of the server's output."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 64 * 1024))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def four_letter_word(self, word: str, timeout: float = 5.0) -> str:
        """Send ``word`` to this server (see :func:`four_letter_word`)."""
        return four_letter_word(self._host, self._port, word, timeout)

    def _describe(self) -> str:
        return (
            f"command: {' '.join(self.command())}\nlog {self.log_path}, last lines:\n"
            f"{self.log_tail()}"
        )

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running else "stopped"
        return f"<TestingServer {self.connect_string} {state} dir={self._temp_dir}>"

    # -- context manager / finaliser ------------------------------------------------

    def __enter__(self) -> "TestingServer":
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


def _cfg_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
