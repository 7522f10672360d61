"""The AdminServer: ``GET /commands/<name>`` answers JSON.

Java: ``org.apache.zookeeper.server.admin.JettyAdminServer`` (and
``AdminServerFactory``, ``DummyAdminServer``), here on the standard
library's ``http.server`` (a thread per request; the commands only read
the server's state or reset counters).

As Java 3.8.0's:

* properties ``zookeeper.admin.enableServer`` (true),
  ``zookeeper.admin.serverAddress`` (0.0.0.0), ``zookeeper.admin.serverPort``
  (8080), ``zookeeper.admin.commandURL`` (``/commands``) and
  ``zookeeper.admin.idleTimeout`` (30000 ms); in zoo.cfg they are written
  without the ``zookeeper.`` prefix (``admin.serverPort=8081``);
* ``GET <commandURL>`` (or with a trailing ``/``) lists the primary names,
  one ``<a href="<commandURL>/<name>">name</a>`` and ``<br/>`` line each,
  sorted; ``GET <commandURL>/<name>?k=v`` runs a command (names are case
  sensitive, a percent-escaped name is decoded; a repeated query key keeps
  its first value) and always answers 200 with ``application/json``, the
  error, if any, being in the JSON;
* other paths answer 404, other methods 405 (the servlet has only doGet);
* a port that cannot be bound stops the server from starting: Java exits
  with code 4, "Unable to start AdminServer, exiting abnormally".

A quorum peer keeps one AdminServer for its whole life and hands it each
role's server with :meth:`AdminServer.set_zookeeper_server` (None while
LOOKING: the commands that need a server then answer "not currently serving").

Not supported (on purpose): ``admin.portUnification`` / TLS
(``admin.forceHttps``) and Jetty's request logs.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from .commands import primary_names, run_command
from .json_output import to_json

LOG = logging.getLogger(__name__)

__all__ = ["AdminServer", "AdminServerException"]

DEFAULT_PORT = 8080
DEFAULT_ADDRESS = "0.0.0.0"
DEFAULT_COMMAND_URL = "/commands"
DEFAULT_IDLE_TIMEOUT_MS = 30000


class AdminServerException(Exception):
    """The AdminServer could not start (Java: AdminServer.AdminServerException)."""


class _AdminHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    admin: "AdminServer"


class _Handler(BaseHTTPRequestHandler):
    server: _AdminHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "zkpy-AdminServer"

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        self.timeout = self.server.admin.idle_timeout_ms / 1000.0 or None
        super().setup()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        LOG.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _method_not_allowed(self) -> None:
        self.send_error(405, "Method Not Allowed", f"HTTP method {self.command} is not supported by this URL")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _method_not_allowed

    def _answer(self, send_body: bool) -> None:
        admin = self.server.admin
        url = urllib.parse.urlsplit(self.path)
        base = admin.command_url
        if url.path in (base, base + "/"):
            body = "".join(f'<a href="{base}/{name}">{name}</a>\n<br/>\n' for name in primary_names())
            self._send(200, None, body, send_body)  # Java sends the listing without a Content-Type
            return
        if not url.path.startswith(base + "/"):
            self.send_error(404, "Not Found")
            return
        name = urllib.parse.unquote(url.path[len(base) + 1:])
        kwargs: dict[str, str] = {}
        for key, value in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            kwargs.setdefault(key, value)
        try:
            response = run_command(name, admin.zks, kwargs, admin)
            body = to_json(response.to_map())
        except Exception:  # noqa: BLE001 - a failing command must not kill the HTTP thread
            LOG.exception("Admin command %s failed", name)
            self.send_error(500, "Server Error")
            return
        self._send(200, "application/json", body, send_body)

    def _send(self, status: int, content_type: Optional[str], body: str, send_body: bool) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if send_body:
            self.wfile.write(data)


class AdminServer:
    """The HTTP AdminServer; does nothing when not ``enabled``
    (Java's DummyAdminServer, ``admin.enableServer=false``)."""

    def __init__(self, address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT, *,
                 command_url: str = DEFAULT_COMMAND_URL, idle_timeout_ms: int = DEFAULT_IDLE_TIMEOUT_MS,
                 enabled: bool = True, config=None):
        self.address = address
        self.port = port
        self.command_url = "/" + command_url.strip("/") if command_url.strip("/") else ""
        self.idle_timeout_ms = idle_timeout_ms
        self.enabled = enabled
        self.config = config
        #: The config file's text when the server started (``initial_configuration``).
        self.initial_config: Optional[str] = _read_text(getattr(config, "config_path", None))
        self.zks = None
        self._httpd: Optional[_AdminHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def from_config(cls, config) -> "AdminServer":
        """Java's AdminServerFactory.createAdminServer, from a ServerConfig."""
        props = config.properties
        return cls(
            config.admin_server_address, config.admin_server_port,
            command_url=props.get("zookeeper.admin.commandURL", DEFAULT_COMMAND_URL) or DEFAULT_COMMAND_URL,
            idle_timeout_ms=props.get_int("zookeeper.admin.idleTimeout", DEFAULT_IDLE_TIMEOUT_MS),
            enabled=config.admin_enable_server, config=config,
        )

    def set_zookeeper_server(self, zks) -> None:
        """The server the commands run against (None: no server right now)."""
        self.zks = zks

    @property
    def local_port(self) -> Optional[int]:
        return self._httpd.server_address[1] if self._httpd is not None else None

    def start(self) -> None:
        if not self.enabled:
            LOG.info("AdminServer is disabled (admin.enableServer=false)")
            return
        if self._httpd is not None:
            return
        try:
            httpd = _AdminHTTPServer((self.address, self.port), _Handler, bind_and_activate=False)
            httpd.admin = self
            try:
                httpd.server_bind()
                httpd.server_activate()
            except BaseException:
                httpd.server_close()
                raise
        except OSError as e:
            why = "the port is already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
            raise AdminServerException(
                f"Problem starting AdminServer on address {self.address}, port {self.port} and command URL "
                f"{self.command_url}: {why} (set admin.serverPort to a free port, or admin.enableServer=false)"
            ) from e
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.25},
                                        name="AdminServer", daemon=True)
        self._thread.start()
        LOG.info("Started AdminServer on address %s, port %d and command URL %s",
                 self.address, self.local_port, self.command_url)

    def shutdown(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        LOG.info("AdminServer on port %d stopped", self.port)


def _read_text(path) -> Optional[str]:
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        LOG.warning("Cannot read %s for initial_configuration: %s", os.fspath(path), e)
        return None
