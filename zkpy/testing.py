"""Test helpers: throw-away servers and ensembles, a four-letter-word client.

Stands for Curator's ``TestingServer`` (a real server in a temp directory)
and ``TestingCluster`` (an ensemble of them), and ZooKeeper's
``FourLetterWordMain`` (send a 4lw, read the answer).

Faults, as ZooKeeper's own tests inject them: ``pause``/``resume`` a
server (SIGSTOP/SIGCONT: alive, holding its sockets, silent),
``TestingCluster.partition``/``heal`` (loopback proxies between the peers,
:mod:`zkpy.testing_network`; no root needed) and :func:`expire_session`
(a second connection to the same session closes it, as ZooKeeper's
``ClientBase`` and kazoo's test harness expire sessions).

:class:`TestingServer` runs ``python -m zkpy zoo.cfg`` as a child process,
never in-process, so tests exercise the real server, its sockets and its
shutdown; :class:`TestingCluster` runs one such process per peer. The
child cannot outlive the test run: ``close()`` / ``__exit__`` / ``__del__``
stop it, every live server is killed at interpreter exit, and when the
test process dies without either (SIGKILL, ``os._exit``) the server exits
by itself: it watches its parent pid (:mod:`zkpy.parent_watch`,
``ZKPY_PARENT_PID``), and on Linux a server started from the main thread
also gets ``PR_SET_PDEATHSIG=SIGKILL``.

TLS: ``TestingServer(tls=True)`` / ``TestingCluster(tls=True)`` also serve a
``secureClientPort`` with throw-away certificates (:mod:`zkpy.testing_tls`):
``secure_connect_string``, ``ca_file``, ``client_cert_file``,
``client_key_file``. ``TestingCluster(quorum_tls=True)``: the peers talk TLS
to each other (``sslQuorum=true``), each with its own certificate.

Servers may be started from any thread: ``PR_SET_PDEATHSIG`` fires when
the *thread* that forked the child exits, so it is set only from the main
thread; the parent-pid watch covers the others.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from typing import Callable, Optional

import psutil

import zkpy
from zkpy import parent_watch
from zkpy.cli.four_letter_word_main import four_letter_word, srvr_mode
from zkpy.defs import OpCode
from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.jute.records import ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader
from zkpy.server.config import format_properties
from zkpy.server.log_setup import log_tail

__all__ = ["TestingServer", "TestingCluster", "TestingServerError", "four_letter_word", "find_free_port", "wait_until",
           "find_free_ports", "expire_session"]

_PR_SET_PDEATHSIG = 1


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def find_free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that were free a moment ago."""
    ports: list[int] = []
    while len(ports) < count:
        port = find_free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition",
               interval: float = 0.02):
    """Poll ``predicate`` until it returns something truthy and return that;
    raise AssertionError naming ``what`` after ``timeout`` seconds. For
    what arrives asynchronously (watch callbacks, elections, expiry)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class TestingServerError(RuntimeError):
    """The test server did not start, or died; the message has its log tail."""

    __test__ = False


_FRAME_LEN = struct.Struct(">i")


def _session_credentials(session_id: object, password: Optional[bytes]) -> tuple[int, bytes]:
    """(id, password) from the pair itself, a kazoo client (``client_id``)
    or a zkpy client (``get_session_id()``/``get_session_passwd()``)."""
    if password is not None:
        return int(session_id), bytes(password)  # type: ignore[call-overload]
    client_id = getattr(session_id, "client_id", None)  # kazoo
    if client_id is not None:
        return int(client_id[0]), bytes(client_id[1])
    if hasattr(session_id, "get_session_id"):  # zkpy.client.ZooKeeper
        return int(session_id.get_session_id()), bytes(session_id.get_session_passwd())  # type: ignore[attr-defined]
    if isinstance(session_id, tuple) and len(session_id) == 2:
        return int(session_id[0]), bytes(session_id[1])
    raise TypeError("expire_session needs (session_id, password), a (session_id, password) tuple, "
                    "a connected kazoo client or a zkpy client")


def _read_frame(sock: socket.socket) -> bytes:
    def read_exact(n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"the server closed the connection after {len(data)} of {n} bytes")
            data += chunk
        return bytes(data)

    (length,) = _FRAME_LEN.unpack(read_exact(4))
    return read_exact(length)


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_FRAME_LEN.pack(len(payload)) + payload)


def expire_session(host: str, port: int, session_id: object, password: Optional[bytes] = None,
                   timeout: float = 10.0, ssl_context: Optional[ssl.SSLContext] = None) -> bool:
    """Expire a client's session the way ZooKeeper's tests do: open a second
    connection to the same session (id + password), then close the session
    from it (``closeSession``). The server deletes the session's ephemeral
    nodes, fires their watches and drops the original client's connection;
    when that client reconnects it is told the session expired (kazoo:
    state ``LOST``, zkpy/Java: ``Expired``).

    ``session_id`` may also be a connected kazoo client, a zkpy client or a
    ``(session_id, password)`` tuple, with ``password`` left out.

    Returns True once the session is closed (the closeSession reply has
    arrived, so its ephemerals are gone; or, if the client reconnected
    to the same server meanwhile and the server dropped this older
    connection before the reply, a new connection finds the session gone);
    False if the server answered that the session had already expired or
    the password was wrong. Raises OSError/ConnectionError when the server
    cannot be reached.
    ``ssl_context``: the port is a ``secureClientPort``.
    """
    sid, passwd = _session_credentials(session_id, password)
    try:
        return _close_session(host, port, sid, passwd, timeout, ssl_context)
    except _CloseInFlight:
        # The connection went after our closeSession was sent: the client
        # itself reconnected to this server, which closes a session's older
        # connection as Java's does, maybe before our reply was written. The
        # session was alive when we began, so if it is unknown now our
        # request closed it; if it still lives, this closes it.
        _close_session(host, port, sid, passwd, timeout, ssl_context)
        return True


class _CloseInFlight(ConnectionError):
    """The connection was lost after a closeSession was sent, before its reply."""


def _close_session(host: str, port: int, sid: int, passwd: bytes, timeout: float,
                   ssl_context: Optional[ssl.SSLContext]) -> bool:
    """One connection to session ``sid`` and its closeSession (see :func:`expire_session`)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if ssl_context is not None:
        try:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
    with sock:
        sock.settimeout(timeout)
        out = OutputArchive()
        ConnectRequest(0, 0, 30000, sid, passwd).serialize(out)
        out.write_bool(False)  # readOnly=false: only a read-write server can close the session
        _send_frame(sock, bytes(out.buf))
        response = ConnectResponse.deserialize(InputArchive(_read_frame(sock)))
        if response.timeOut <= 0:
            return False
        out = OutputArchive()
        RequestHeader(1, int(OpCode.closeSession)).serialize(out)
        _send_frame(sock, bytes(out.buf))
        try:
            while True:
                header = ReplyHeader.deserialize(InputArchive(_read_frame(sock)))
                if header.xid == 1:  # notifications (xid -1) may arrive first
                    if header.err != 0:
                        raise TestingServerError(f"closeSession of 0x{sid:x} failed with error {header.err}")
                    return True
        except ConnectionError as e:
            raise _CloseInFlight(f"the connection of session 0x{sid:x} closed before closeSession's reply: {e}") from e


def _make_preexec_fn(main_thread_only: bool = False) -> Optional[Callable[[], None]]:
    """A preexec_fn that makes the child die with SIGKILL when its parent
    does (Linux ``prctl(PR_SET_PDEATHSIG)``); None where unavailable.

    The kernel sends the signal when the *thread* that forked the child
    exits; ``main_thread_only``: None from any other thread (for a child
    that watches its parent pid itself, :mod:`zkpy.parent_watch`)."""
    if not sys.platform.startswith("linux"):
        return None
    if main_thread_only and threading.current_thread() is not threading.main_thread():
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
    :param myid: write this server id to ``dataDir/myid`` before starting
        (an ensemble member).
    :param start_timeout: seconds start() waits for the server.
    :param stop_timeout: seconds stop() waits after SIGTERM before SIGKILL.
    :param start: start the server in the constructor.
    :param admin_port: run the AdminServer on this port (on ``host``); by
        default it is off (``admin.enableServer=false``), so that servers
        never compete for Java's default port 8080.
    :param tls: also serve TLS on a ``secureClientPort``, with a throw-away
        CA, server certificate and client certificate made in
        ``<temp_dir>/tls`` (:func:`zkpy.testing_tls.make_tls_files`; needs
        the ``openssl`` command). Java's settings: ``ssl.clientAuth=need``
        (the default: a client must present a certificate the CA signed;
        ``config={"ssl.clientAuth": "want"}`` makes it optional) and the x509
        provider, so a client certificate is the id
        ``x509:CN=zkpy-test-client,O=zkpy``. See :attr:`secure_connect_string`,
        :attr:`ca_file`, :attr:`client_cert_file`, :attr:`client_key_file`,
        :meth:`client_ssl_context`.
    :param secure_port: the secure port (default a free one).
    :param plain_port: False: no plain ``clientPort`` (needs ``tls``); then
        :attr:`port` and :attr:`connect_string` are the secure port's and
        the helpers (four-letter words, :meth:`expire_session`) use TLS.
    :param tls_files: use these certificates (a :class:`~zkpy.testing_tls.TlsFiles`)
        instead of making new ones (an ensemble shares one set).
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
        myid: Optional[int] = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        start: bool = False,
        admin_port: Optional[int] = None,
        tls: bool = False,
        secure_port: Optional[int] = None,
        plain_port: bool = True,
        tls_files=None,
        keep_config: bool = False,
    ) -> None:
        if not plain_port and not tls:
            raise ValueError("plain_port=False needs tls=True: a server needs a client port")
        self._host = host
        self._admin_port = admin_port
        self._tls = tls
        self._plain = plain_port
        if tls:
            taken = {port} if port is not None else set()
            if secure_port is None:
                secure_port = find_free_port(host)
                while secure_port in taken:
                    secure_port = find_free_port(host)
        self._secure_port = secure_port if tls else None
        if not plain_port:
            self._port = self._secure_port
        else:
            self._port = port if port is not None else find_free_port(host)
            while self._port == self._secure_port:
                self._port = find_free_port(host)
        self._tick_time = tick_time
        self._extra_config = dict(config or {})
        #: Write zoo.cfg only on the first start: the server may rewrite it
        #: (a reconfig-enabled peer moves its membership to a dynamic file).
        self._keep_config = keep_config
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
        self._myid = myid
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: Optional[subprocess.Popen] = None
        self._closed = False
        self._paused = False
        self._tls_files = tls_files
        self._client_ssl_context: Optional[ssl.SSLContext] = None
        if tls and tls_files is None:
            from .testing_tls import OpenSSLError, make_tls_files

            try:
                self._tls_files = make_tls_files(os.path.join(self._temp_dir, "tls"))
            except OpenSSLError as e:
                self.close()
                raise TestingServerError(f"TestingServer(tls=True) cannot make its certificates: {e}") from None
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
    def admin_port(self) -> Optional[int]:
        """The AdminServer's port, None when it is disabled."""
        return self._admin_port

    @property
    def admin_url(self) -> Optional[str]:
        """``http://host:port/commands`` when the AdminServer is enabled."""
        if self._admin_port is None:
            return None
        return f"http://{self._host}:{self._admin_port}/commands"

    @property
    def connect_string(self) -> str:
        """``host:port``, for KazooClient(hosts=...) or zkCli.sh -server
        (the secure port when there is no plain one)."""
        return f"{self._host}:{self._port}"

    # -- TLS (tls=True) ---------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self._tls

    @property
    def secure_port(self) -> Optional[int]:
        """The ``secureClientPort``: ``tls``'s, else one set in ``config``
        (or assigned here by a test that configured it so), else None."""
        if self._secure_port is not None:
            return self._secure_port
        configured = self._extra_config.get("secureClientPort")
        return int(configured) if configured else None  # type: ignore[call-overload]

    @secure_port.setter
    def secure_port(self, port: int) -> None:
        self._secure_port = port

    @property
    def secure_connect_string(self) -> Optional[str]:
        """``host:secure_port`` (None without a secure port)."""
        port = self.secure_port
        return None if port is None else f"{self._host}:{port}"

    @property
    def tls_files(self):
        """The :class:`~zkpy.testing_tls.TlsFiles` (None without ``tls``)."""
        return self._tls_files

    @property
    def ca_file(self) -> Optional[str]:
        """The CA certificate (PEM) that signed the server's and the client's
        certificates: kazoo's ``ca=``."""
        return None if self._tls_files is None else self._tls_files.ca_file

    @property
    def client_cert_file(self) -> Optional[str]:
        """A client certificate (PEM) the server accepts: kazoo's ``certfile=``."""
        return None if self._tls_files is None else self._tls_files.client_cert_file

    @property
    def client_key_file(self) -> Optional[str]:
        """Its private key (PEM, unencrypted): kazoo's ``keyfile=``."""
        return None if self._tls_files is None else self._tls_files.client_key_file

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client ``ssl.SSLContext`` that trusts the CA and presents the
        client certificate, for ``zkpy.client.ZooKeeper(..., ssl_context=)``."""
        if self._tls_files is None:
            raise TestingServerError("this TestingServer has no TLS (pass tls=True)")
        if self._client_ssl_context is None:
            from .testing_tls import client_ssl_context

            files = self._tls_files
            self._client_ssl_context = client_ssl_context(files.ca_file, files.client_cert_file,
                                                          files.client_key_file)
        return self._client_ssl_context

    def _helper_ssl_context(self) -> Optional[ssl.SSLContext]:
        """The context the helpers dial :attr:`port` with (None: plain)."""
        return None if self._plain else self.client_ssl_context()

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

    @property
    def is_paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume` (or a stop/kill)."""
        return self._paused and self.is_running

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
        if self._admin_port is not None:
            cfg.update({"admin.enableServer": "true", "admin.serverAddress": self._host,
                        "admin.serverPort": self._admin_port})
        if self._tls:
            files = self._tls_files
            if not self._plain:
                del cfg["clientPort"], cfg["clientPortAddress"]
            cfg.update({
                "secureClientPort": self._secure_port, "secureClientPortAddress": self._host,
                "ssl.keyStore.location": files.server_keystore, "ssl.keyStore.type": "PEM",
                "ssl.trustStore.location": files.ca_file, "ssl.trustStore.type": "PEM",
                # Without an x509 provider, a client certificate closes the connection (as in Java).
                "authProvider.x509": "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
            })
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
        env[parent_watch.ENV] = str(os.getpid())  # the server exits when this process is gone
        env.update(self._extra_env)
        return env

    def command(self) -> list[str]:
        return [sys.executable, "-m", "zkpy", self.config_path]

    # -- lifecycle --------------------------------------------------------------

    def start(self, wait: Optional[str] = "serving") -> "TestingServer":
        """Start the server and wait until it serves: it answers ``ruok``
        with ``imok`` and ``srvr`` no longer says it is not serving. With
        ``wait="port"`` only until it answers ``ruok`` (a quorum peer serves
        only once an ensemble has formed); with ``wait=None`` not at all."""
        if wait not in ("serving", "port", None):
            raise ValueError(f"wait must be 'serving', 'port' or None, not {wait!r}")
        if self._closed:
            raise TestingServerError("this TestingServer is closed")
        if self.is_running:
            return self
        os.makedirs(self._data_dir, exist_ok=True)
        if self._myid is not None:
            with open(os.path.join(self._data_dir, "myid"), "w", encoding="ascii") as f:
                f.write(f"{self._myid}\n")
        if not (self._keep_config and os.path.exists(self.config_path)):
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
                preexec_fn=_make_preexec_fn(main_thread_only=True),
                close_fds=True,
            )
        _register(self)
        if wait is None:
            return self
        try:
            self._wait_until(self._is_serving if wait == "serving" else self._answers_ruok, wait)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_serving(self, timeout: Optional[float] = None) -> None:
        """Wait until ``srvr`` no longer says the server is not serving."""
        self._wait_until(self._is_serving, "serving", timeout)

    def _wait_until(self, ready: Callable[[], bool], what: str, timeout: Optional[float] = None) -> None:
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is None or self._proc.poll() is not None:
                status = None if self._proc is None else self._proc.returncode
                raise TestingServerError(
                    f"zkpy server exited with status {status} while starting"
                    f"\n{self._describe()}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                goal = "answer ruok" if what == "port" else "answer ruok and serve"
                raise TestingServerError(
                    f"zkpy server did not {goal} within {timeout}s"
                    f"\n{self._describe()}"
                )
            time.sleep(0.02)  # a fresh server per test: every poll interval counts

    def _answers_ruok(self) -> bool:
        try:
            answer = self.four_letter_word("ruok", timeout=1.0)
        except OSError:
            return False
        return answer == "imok" or "is not executed because it is not in the whitelist" in answer

    def _is_serving(self) -> bool:
        try:
            answer = self.four_letter_word("ruok", timeout=1.0)
            # ruok may be left out of 4lw.commands.whitelist; srvr never is.
            if answer != "imok" and "is not executed because it is not in the whitelist" not in answer:
                return False
            status = self.four_letter_word("srvr", timeout=1.0)
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
                if self._paused:
                    # Resume first: a signal that arrives while every thread is
                    # stopped goes to whichever thread wakes first, and Python
                    # runs the handler only when the main thread next wakes.
                    proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            except ProcessLookupError:
                proc.wait()
        self._paused = False
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
        self._paused = False
        _live_servers.discard(self)

    def pause(self, timeout: float = 5.0) -> None:
        """SIGSTOP the server: alive, its sockets open, but silent — a
        server in a long GC pause or a hung host. Returns once the kernel
        reports the process stopped. :meth:`resume` undoes it."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise TestingServerError("cannot pause a server that is not running")
        os.kill(proc.pid, signal.SIGSTOP)
        self._paused = True
        wait_until(lambda: _process_stopped(proc.pid), timeout, f"pid {proc.pid} to stop")

    def resume(self) -> None:
        """SIGCONT a paused server (a no-op if it is not paused)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        self._paused = False

    def expire_session(self, session_id: object, password: Optional[bytes] = None,
                       timeout: float = 10.0) -> bool:
        """Expire a client's session on this server (see :func:`expire_session`):
        ``server.expire_session(kazoo_client)`` or ``(session_id, password)``."""
        return expire_session(self._host, self._port, session_id, password, timeout,
                              ssl_context=self._helper_ssl_context())

    def has_faults(self) -> bool:
        """True when the server is down or paused (it was started before)."""
        return self._proc is not None and (not self.is_running or self.is_paused)

    def reset_faults(self) -> None:
        """Resume a paused server, start a stopped one, on the same port and data."""
        if self.is_paused:
            self.resume()
        if not self.is_running:
            self.start()

    def restart(self, wait: Optional[str] = "serving") -> "TestingServer":
        """stop() and start() again, on the same port and dataDir."""
        self.stop()
        return self.start(wait=wait)

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
        return log_tail(self.log_path, lines)

    def four_letter_word(self, word: str, timeout: float = 5.0) -> str:
        """Send ``word`` to this server (see :func:`four_letter_word`; over
        TLS when it has no plain port)."""
        return four_letter_word(self._host, self._port, word, timeout, ssl_context=self._helper_ssl_context())

    def admin_command(self, name: str, timeout: float = 5.0, **params: object) -> dict:
        """GET ``/commands/<name>?params`` from the AdminServer; the parsed JSON."""
        if self.admin_url is None:
            raise TestingServerError("the AdminServer is disabled (pass admin_port=...)")
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.admin_url}/{name}{query}", timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def _describe(self) -> str:
        return (
            f"command: {' '.join(self.command())}\nlog {self.log_path}, last lines:\n"
            f"{self.log_tail()}"
        )

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running else "stopped"
        secure = f" secure={self._secure_port}" if self._tls and self._plain else ""
        return f"<TestingServer {self.connect_string}{secure} {state} dir={self._temp_dir}>"

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


class TestingCluster:
    """An ensemble of zkpy peers on loopback, one process each (Curator's
    ``TestingCluster``), for quorum tests.

    >>> with TestingCluster(3) as cluster:                   # doctest: +SKIP
    ...     leader = cluster.wait_for_leader()
    ...     cluster.kill(leader)

    Peers ``1..n`` vote, ``n+1..n+observers`` observe. Each peer is a
    :class:`TestingServer` (same process handling: dies with the test
    process, killed at exit, stopped by pid) in ``<temp_dir>/peer<sid>``
    with its own zoo.cfg, dataDir (with ``myid``) and ``server.log``; all listen on free
    ports of ``host``. ``standaloneEnabled=false``, so one peer is an
    ensemble too.

    :param n: voting peers.
    :param observers: observers.
    :param tick_time, init_limit, sync_limit: the ensemble's timing.
    :param config: extra zoo.cfg entries for every peer (None removes one).
    :param peer_config: extra zoo.cfg entries by sid, applied after ``config``
        (one peer with other settings: a rolling upgrade, a wrong login).
    :param jvm_flags: ``-D`` words for every peer (a JAAS file:
        ``-Djava.security.auth.login.config=...``).
    :param start: start every peer and wait for a leader in the constructor.
    :param partitionable: route every peer-to-peer connection (quorum and
        election ports) through loopback proxies, one per ordered pair of
        peers, so that :meth:`partition` can cut links. A proxy rather than
        network namespaces or iptables because it needs no root and no
        kernel support, so the same test runs everywhere; the price is one
        thread in the test process, one loopback hop per peer message, and
        zoo.cfg files that name the other peers by proxy ports (see
        :mod:`zkpy.testing_network`). Clients always reach peers directly.
    :param tls: every peer also serves a ``secureClientPort`` (see
        :class:`TestingServer`'s ``tls``), all with one set of certificates
        in ``<temp_dir>/tls``: :attr:`secure_connect_string`,
        :attr:`ca_file`, :attr:`client_cert_file`, :attr:`client_key_file`.
        The peers talk to each other in plain TCP unless ``quorum_tls``.
    :param reconfig_enabled: ``reconfigEnabled=true``: each server line
        carries the peer's client address (``;host:port``), as reconfig
        needs, and a peer's zoo.cfg is written only once, since the peer
        rewrites it (``dynamicConfigFile=``); :meth:`add_peer` makes a peer
        that joins the running ensemble, :meth:`server_spec` gives the
        ``server.N=...`` text of any peer.
    :param quorum_tls: the peers talk TLS to each other (``sslQuorum=true``,
        election and quorum ports), each with its own certificate (``CN=peer<sid>``,
        valid for ``localhost`` and ``127.0.0.1``) from one throw-away CA
        in ``<temp_dir>/quorum-tls``: :attr:`quorum_pki` (a
        :class:`~zkpy.testing_tls.TestPKI`), :meth:`quorum_keystore`.
        True for every peer, or the sids that get ``sslQuorum=true`` (the
        others get the certificates only: a rolling upgrade with
        ``config={"portUnification": "true"}``).

    Faults: :meth:`kill`/:meth:`stop` a peer, :meth:`pause`/:meth:`resume`
    it (SIGSTOP/SIGCONT), :meth:`partition`/:meth:`heal` the network,
    :meth:`expire_session` a client's session; :meth:`reset_faults` undoes
    them all.
    """

    __test__ = False

    def __init__(
        self,
        n: int = 3,
        observers: int = 0,
        *,
        host: str = "127.0.0.1",
        tick_time: int = 200,
        init_limit: int = 10,
        sync_limit: int = 5,
        config: Optional[Mapping[str, object]] = None,
        jvm_flags: str | Sequence[str] | None = None,
        force_sync: bool = False,
        temp_dir: Optional[str | os.PathLike] = None,
        keep_data: bool = False,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        start: bool = False,
        partitionable: bool = False,
        tls: bool = False,
        quorum_tls: bool | Sequence[int] = False,
        peer_config: Optional[Mapping[int, Mapping[str, object]]] = None,
        reconfig_enabled: bool = False,
    ) -> None:
        if n < 1 or observers < 0:
            raise ValueError("a cluster needs at least one voter and no negative observers")
        self._host = host
        self._owns_temp_dir = temp_dir is None
        self._temp_dir = os.path.abspath(
            tempfile.mkdtemp(prefix="zkpy-cluster-") if temp_dir is None else os.fspath(temp_dir)
        )
        os.makedirs(self._temp_dir, exist_ok=True)
        self._keep_data = keep_data
        self._closed = False
        self.start_timeout = start_timeout
        self.voters = list(range(1, n + 1))
        self.observers = list(range(n + 1, n + observers + 1))
        sids = self.voters + self.observers
        per_peer = 4 if tls else 3
        ports = find_free_ports(per_peer * len(sids), host)
        self._client_ports = {sid: ports[per_peer * i] for i, sid in enumerate(sids)}
        quorum_ports = {sid: ports[per_peer * i + 1] for i, sid in enumerate(sids)}
        election_ports = {sid: ports[per_peer * i + 2] for i, sid in enumerate(sids)}
        self._quorum_ports, self._election_ports = quorum_ports, election_ports
        self._reconfig_enabled = reconfig_enabled
        self._roles = {sid: "observer" if sid in self.observers else "participant" for sid in sids}
        self._peer_args = dict(tick_time=tick_time, init_limit=init_limit, sync_limit=sync_limit, config=config,
                               jvm_flags=jvm_flags, force_sync=force_sync, start_timeout=start_timeout,
                               stop_timeout=stop_timeout)
        secure_ports = {sid: ports[per_peer * i + 3] for i, sid in enumerate(sids)} if tls else {}
        self._tls_files = None
        if tls:
            from .testing_tls import OpenSSLError, make_tls_files

            try:
                self._tls_files = make_tls_files(os.path.join(self._temp_dir, "tls"))
            except OpenSSLError as e:
                if self._owns_temp_dir:
                    shutil.rmtree(self._temp_dir, ignore_errors=True)
                raise TestingServerError(f"TestingCluster(tls=True) cannot make its certificates: {e}") from None
        self._quorum_pki = None
        self._quorum_keystores: dict[int, str] = {}
        if quorum_tls:
            from .testing_tls import OpenSSLError, TestPKI

            try:
                self._quorum_pki = TestPKI(os.path.join(self._temp_dir, "quorum-tls"), "/CN=zkpy quorum test CA")
                for sid in sids:
                    self._quorum_keystores[sid] = self._quorum_pki.issue(f"peer{sid}", f"/O=zkpy/CN=peer{sid}").keystore
            except OpenSSLError as e:
                if self._owns_temp_dir:
                    shutil.rmtree(self._temp_dir, ignore_errors=True)
                raise TestingServerError(f"TestingCluster(quorum_tls=True) cannot make its certificates: {e}") from None
        self._network = None
        if partitionable:
            from zkpy.testing_network import PeerNetwork

            self._network = PeerNetwork(host, avoid_ports=ports)
        self._partition: Optional[list[set[int]]] = None
        self._peers: dict[int, TestingServer] = {}
        for sid in sids:
            members: dict[str, object] = {}
            for other in sids:
                quorum, election = quorum_ports[other], election_ports[other]
                if self._network is not None and other != sid:
                    # ``sid`` reaches ``other`` only through its own two proxies.
                    quorum = self._network.add_link(sid, other, "quorum", quorum)
                    election = self._network.add_link(sid, other, "election", election)
                role = ":observer" if other in self.observers else ""
                if reconfig_enabled:
                    role = f":{self._roles[other]};{host}:{self._client_ports[other]}"
                members[f"server.{other}"] = f"{host}:{quorum}:{election}{role}"
            cfg: dict[str, object] = dict(members)
            if reconfig_enabled:
                cfg["reconfigEnabled"] = "true"
            cfg.update(initLimit=init_limit, syncLimit=sync_limit, standaloneEnabled="false")
            if sid in self.observers:
                cfg["peerType"] = "observer"
            if self._quorum_pki is not None:
                ssl_quorum = quorum_tls is True or (quorum_tls is not False and sid in quorum_tls)
                cfg.update({
                    "sslQuorum": "true" if ssl_quorum else "false",
                    "ssl.quorum.keyStore.location": self._quorum_keystores[sid], "ssl.quorum.keyStore.type": "PEM",
                    "ssl.quorum.trustStore.location": self._quorum_pki.ca.cert, "ssl.quorum.trustStore.type": "PEM",
                })
            cfg.update(config or {})
            cfg.update((peer_config or {}).get(sid, {}))
            self._peers[sid] = TestingServer(
                self._client_ports[sid], host=host, tick_time=tick_time, config=cfg, jvm_flags=jvm_flags,
                force_sync=force_sync, temp_dir=os.path.join(self._temp_dir, f"peer{sid}"), myid=sid,
                start_timeout=start_timeout, stop_timeout=stop_timeout,
                tls=tls, secure_port=secure_ports.get(sid), tls_files=self._tls_files,
                keep_config=reconfig_enabled,
            )
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    # -- properties -----------------------------------------------------------

    @property
    def sids(self) -> list[int]:
        return self.voters + self.observers

    @property
    def temp_dir(self) -> str:
        return self._temp_dir

    @property
    def connect_string(self) -> str:
        """Every peer's ``host:port``, comma separated."""
        return ",".join(self._peers[sid].connect_string for sid in self.sids)

    @property
    def secure_connect_string(self) -> Optional[str]:
        """Every peer's ``host:secure_port``, comma separated (None without ``tls``)."""
        if self._tls_files is None:
            return None
        return ",".join(self._peers[sid].secure_connect_string for sid in self.sids)

    @property
    def tls_files(self):
        """The :class:`~zkpy.testing_tls.TlsFiles` every peer uses (None without ``tls``)."""
        return self._tls_files

    @property
    def ca_file(self) -> Optional[str]:
        return None if self._tls_files is None else self._tls_files.ca_file

    @property
    def quorum_pki(self):
        """The :class:`~zkpy.testing_tls.TestPKI` of the peers' certificates (None without ``quorum_tls``)."""
        return self._quorum_pki

    def quorum_keystore(self, sid: int) -> Optional[str]:
        """Peer ``sid``'s ``ssl.quorum.keyStore.location`` (None without ``quorum_tls``)."""
        return self._quorum_keystores.get(sid)

    @property
    def client_cert_file(self) -> Optional[str]:
        return None if self._tls_files is None else self._tls_files.client_cert_file

    @property
    def client_key_file(self) -> Optional[str]:
        return None if self._tls_files is None else self._tls_files.client_key_file

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context for every peer's secure port (see :meth:`TestingServer.client_ssl_context`)."""
        return self._peers[self.sids[0]].client_ssl_context()

    def peer(self, sid: int) -> TestingServer:
        return self._peers[sid]

    # -- dynamic reconfiguration (reconfig_enabled) ----------------------------------------

    def server_spec(self, sid: int, role: Optional[str] = None) -> str:
        """``server.N=host:quorumPort:electionPort:role;host:clientPort``
        for peer ``sid`` (its own role unless ``role``), the form
        ``reconfig`` takes and ``/zookeeper/config`` shows."""
        host = self._host
        return (f"server.{sid}={host}:{self._quorum_ports[sid]}:{self._election_ports[sid]}:"
                f"{role or self._roles[sid]};{host}:{self._client_ports[sid]}")

    def add_peer(self, role: str = "participant", members: Optional[Sequence[int]] = None) -> int:
        """Make (not start) a new peer that joins the running ensemble, as
        ZooKeeper's reconfig guide describes: its config lists ``members``
        (default: every peer made so far) plus itself with ``role``, so it
        syncs with the leader as a non-voting learner (or an observer)
        until a reconfig adds it. Returns its sid; :meth:`start` it."""
        if self._network is not None or self._quorum_pki is not None:
            raise TestingServerError("add_peer() supports neither partitionable nor quorum_tls clusters")
        if role not in ("participant", "observer"):
            raise ValueError(f"role must be 'participant' or 'observer', not {role!r}")
        sid = max(self._peers) + 1
        # Not a port of ours that is free only for now: a follower's quorum
        # port is bound once it leads, and the reconfig would name two
        # servers at one address.
        ours = {*self._client_ports.values(), *self._quorum_ports.values(), *self._election_ports.values()}
        while True:
            client, quorum, election = find_free_ports(3, self._host)
            if not ours & {client, quorum, election}:
                break
        self._client_ports[sid], self._quorum_ports[sid], self._election_ports[sid] = client, quorum, election
        self._roles[sid] = role
        args = self._peer_args
        cfg: dict[str, object] = {}
        for other in list(members if members is not None else self._peers) + [sid]:
            key, _, value = self.server_spec(other).partition("=")
            cfg[key] = value if self._reconfig_enabled else value.split(";", 1)[0]
        cfg.update(initLimit=args["init_limit"], syncLimit=args["sync_limit"], standaloneEnabled="false")
        if self._reconfig_enabled:
            cfg["reconfigEnabled"] = "true"
        if role == "observer":
            cfg["peerType"] = "observer"
        cfg.update(args["config"] or {})
        self._peers[sid] = TestingServer(
            client, host=self._host, tick_time=args["tick_time"], config=cfg, jvm_flags=args["jvm_flags"],
            force_sync=args["force_sync"], temp_dir=os.path.join(self._temp_dir, f"peer{sid}"), myid=sid,
            start_timeout=args["start_timeout"], stop_timeout=args["stop_timeout"],
            keep_config=self._reconfig_enabled,
        )
        (self.observers if role == "observer" else self.voters).append(sid)
        return sid

    __getitem__ = peer

    # -- lifecycle --------------------------------------------------------------

    def start(self, *sids: int, wait: bool = True) -> "TestingCluster":
        """Start the given peers (all of them by default), in that order.

        With ``wait``: after starting all peers, wait for a leader backed by
        a quorum (:meth:`wait_for_leader`); after starting some, wait until
        each of them serves (is leader, follower or observer)."""
        targets = list(sids) or self.sids
        for sid in targets:
            self._peers[sid].start(wait="port")
        if wait:
            if sids:
                deadline = time.monotonic() + self.start_timeout
                for sid in targets:
                    self._peers[sid].wait_serving(max(0.1, deadline - time.monotonic()))
            else:
                self.wait_for_leader()
        return self

    def stop(self, sid: int) -> None:
        """Stop one peer (SIGTERM, clean shutdown)."""
        self._peers[sid].stop()

    def kill(self, sid: int) -> None:
        """SIGKILL one peer (a crash)."""
        self._peers[sid].kill()

    def pause(self, sid: int) -> None:
        """SIGSTOP one peer: it keeps its sockets but answers nobody, peers
        and clients alike, until :meth:`resume` (see :meth:`TestingServer.pause`)."""
        self._peers[sid].pause()

    def resume(self, sid: int) -> None:
        """SIGCONT a paused peer."""
        self._peers[sid].resume()

    # -- the network between the peers -------------------------------------------------

    @property
    def partitionable(self) -> bool:
        return self._network is not None

    @property
    def network(self):
        """The :class:`~zkpy.testing_network.PeerNetwork` (None unless partitionable)."""
        return self._network

    def partition(self, *groups: Sequence[int], mode: str = "blackhole") -> None:
        """Split the peers into ``groups``: peers in different groups no
        longer reach each other (quorum and election traffic); peers named
        in no group form one more group together, so ``partition([1])``
        isolates peer 1. Replaces any earlier partition; :meth:`heal` ends it.

        ``mode="blackhole"`` (default) is a network that silently drops
        everything: connections stay open, nothing arrives, peers notice
        through their timeouts. ``mode="refuse"`` closes the connections
        and refuses new ones, so peers notice at once.

        Needs ``TestingCluster(..., partitionable=True)``.
        """
        if self._network is None:
            raise TestingServerError("partition() needs TestingCluster(..., partitionable=True)")
        named: list[set[int]] = [set(group) for group in groups]
        everyone = set(self.sids)
        seen: set[int] = set()
        for group in named:
            unknown = group - everyone
            if unknown:
                raise ValueError(f"no such peers: {sorted(unknown)}")
            if group & seen:
                raise ValueError(f"peers {sorted(group & seen)} are in more than one group")
            seen |= group
        rest = everyone - seen
        if rest:
            named.append(rest)
        side = {sid: i for i, group in enumerate(named) for sid in group}
        cut = [(a, b) for a in self.sids for b in self.sids if a != b and side[a] != side[b]]
        self._network.heal()
        self._network.set_state(cut, mode)
        self._partition = named if len(named) > 1 else None

    def heal(self) -> None:
        """End a :meth:`partition`: every peer reaches every other again."""
        if self._network is not None:
            self._network.heal()
        self._partition = None

    @property
    def partitioned(self) -> Optional[list[set[int]]]:
        """The groups of the current partition, None when there is none."""
        return self._partition

    # -- sessions -------------------------------------------------------------------

    def expire_session(self, session_id: object, password: Optional[bytes] = None,
                       timeout: float = 10.0) -> bool:
        """Expire a client's session (see :func:`expire_session`) through the
        first running, unpaused peer that accepts the connection: sessions
        belong to the ensemble, so any serving peer can close one."""
        # Read a client's credentials once: it may be reconnecting by the next peer.
        session_id, password = _session_credentials(session_id, password)
        errors = []
        for sid in self.sids:
            peer = self._peers[sid]
            if not peer.is_running or peer.is_paused:
                continue
            try:
                return peer.expire_session(session_id, password, timeout)
            except (OSError, ConnectionError) as e:
                errors.append(f"peer {sid}: {e}")
        raise TestingServerError(f"no peer would take the session to expire it: {errors or 'none running'}")

    # -- undoing faults ---------------------------------------------------------------

    def has_faults(self) -> bool:
        """True when a peer is down or paused, or the network is partitioned."""
        return self._partition is not None or any(
            not peer.is_running or peer.is_paused for peer in self._peers.values())

    def reset_faults(self, timeout: Optional[float] = None) -> None:
        """Undo every fault: heal the network, resume paused peers, start the
        peers that are down, then wait for a leader with a quorum and for
        every peer to serve. Data is left as it is."""
        if self._closed:
            raise TestingServerError("this TestingCluster is closed")
        self.heal()
        if self._network is not None:  # delays set with network.impair(), too
            self._network.unimpair()
        for peer in self._peers.values():
            if peer.is_paused:
                peer.resume()
        for peer in self._peers.values():
            if not peer.is_running:
                peer.start(wait="port")
        self.wait_for_leader(timeout)
        for peer in self._peers.values():
            peer.wait_serving(timeout)

    def close(self) -> None:
        """Stop every peer and remove the temp dir (unless keep_data or temp_dir)."""
        if self._closed:
            return
        self._closed = True
        try:
            for peer in self._peers.values():
                peer.close()
        finally:
            if self._network is not None:
                self._network.close()
            if self._owns_temp_dir and not self._keep_data:
                shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> "TestingCluster":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- roles ------------------------------------------------------------------

    def mode(self, sid: int) -> Optional[str]:
        """"leader", "follower" or "observer" as ``srvr`` reports it; None
        while the peer is down, LOOKING or otherwise not serving."""
        peer = self._peers[sid]
        if not peer.is_running:
            return None
        try:
            return srvr_mode(peer.four_letter_word("srvr", timeout=1.0))
        except OSError:
            return None

    def modes(self) -> dict[int, Optional[str]]:
        """:meth:`mode` of every peer."""
        return {sid: self.mode(sid) for sid in self.sids}

    def followers(self) -> list[int]:
        """The sids that report ``Mode: follower``."""
        return [sid for sid, mode in self.modes().items() if mode == "follower"]

    def leader(self) -> Optional[int]:
        """The sid of the one peer that reports ``Mode: leader``; None if
        there is none, or more than one."""
        leaders = [sid for sid, mode in self.modes().items() if mode == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def wait_for_leader(self, timeout: Optional[float] = None) -> int:
        """Wait until exactly one peer leads and a majority of the voters
        report leader or follower; return the leader's sid."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        modes: dict[int, Optional[str]] = {}
        while True:
            modes = self.modes()
            leaders = [sid for sid, mode in modes.items() if mode == "leader"]
            settled = [sid for sid in self.voters if modes.get(sid) in ("leader", "follower")]
            if len(leaders) == 1 and len(settled) > len(self.voters) // 2:
                return leaders[0]
            if time.monotonic() >= deadline:
                tails = "\n".join(f"--- peer {sid} ({modes.get(sid)}):\n{self._peers[sid].log_tail(15)}"
                                  for sid in self.sids)
                raise TestingServerError(f"no leader with a quorum within {timeout}s: {modes}\n{tails}")
            time.sleep(0.05)

    def log_tail(self, sid: int, lines: int = 50) -> str:
        return self._peers[sid].log_tail(lines)

    def __repr__(self) -> str:
        running = [sid for sid in self.sids if self._peers[sid].is_running]
        return f"<TestingCluster voters={self.voters} observers={self.observers} running={running}>"


def _process_stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return True  # gone: nothing left to wait for


def _cfg_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
