"""Prometheus metrics: ``GET /metrics`` in the text exposition format.

Java: ``org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider``
(with ``MetricsProviderBootstrap`` and ``ServerMetrics``), enabled as in
Java by

    metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
    metricsProvider.httpHost=0.0.0.0        # default
    metricsProvider.httpPort=7000           # default
    metricsProvider.exportJvmInfo=true      # default

The gauges are those ZooKeeperServer.registerMetrics registers, with
Java's names (no ``zk_`` prefix; that is mntr's) and type ``gauge``:
``znode_count``, ``avg_latency``, ``num_alive_connections``,
``open_file_descriptor_count`` ... — exactly the numeric values of mntr
(:func:`zkpy.server.four_letter.monitor_values`, which also carries a
quorum role's ``extra_gauges``). Values print as Java's simpleclient does
(``Double.toString``: ``5.0``, ``6.7108864E7``), each family with ``# HELP
<name> <name>`` and ``# TYPE <name> gauge``. Served with ``Content-Type:
text/plain; version=0.0.4; charset=utf-8``; ``?name[]=x`` selects
families, as the Prometheus servlet does.

What zkpy does differently, on purpose:

* ``exportJvmInfo`` exports the standard ``process_*`` collector
  (``process_cpu_seconds_total``, ``process_open_fds``,
  ``process_max_fds``, ``process_resident_memory_bytes``,
  ``process_virtual_memory_bytes``, ``process_start_time_seconds``) but no
  ``jvm_*`` families: there is no JVM.
* Java's counters and summaries (``proposal_count``, ``fsynctime`` ...)
  are not kept by zkpy, so they are absent.
* Without a running server (a peer while LOOKING) only the process
  families are served.
"""

from __future__ import annotations

import errno
import logging
import resource
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from ..config import ConfigException
from ..four_letter import monitor_values
from ..server_stats import java_double

LOG = logging.getLogger(__name__)

__all__ = ["PrometheusMetricsProvider", "MetricsProviderLifeCycleException", "CONTENT_TYPE",
           "PROMETHEUS_PROVIDER", "DEFAULT_PROVIDERS"]

PROMETHEUS_PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
#: The class names that mean "no metrics endpoint" (Java's default provider and the null one).
DEFAULT_PROVIDERS = frozenset({
    "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider",
    "org.apache.zookeeper.metrics.impl.NullMetricsProvider",
})
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: mntr keys that are not gauges (text values).
_NOT_GAUGES = frozenset({"version", "server_state", "peer_state"})


class MetricsProviderLifeCycleException(Exception):
    """The metrics provider could not be configured or started."""


def _prom_value(value: float) -> str:
    """Collector.doubleToGoString."""
    value = float(value)
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    return java_double(value)


def _process_families() -> list[tuple[str, str, str, float]]:
    """(name, type, help, value) of the standard process collector."""
    families = []
    usage = resource.getrusage(resource.RUSAGE_SELF)
    families.append(("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                     usage.ru_utime + usage.ru_stime))
    try:
        import psutil
        proc = psutil.Process()
        mem = proc.memory_info()
        families.append(("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", mem.rss))
        families.append(("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", mem.vms))
        families.append(("process_start_time_seconds", "gauge",
                         "Start time of the process since unix epoch in seconds.", proc.create_time()))
        families.append(("process_open_fds", "gauge", "Number of open file descriptors.", proc.num_fds()))
    except Exception:  # noqa: BLE001 - psutil missing or /proc unreadable: fewer families
        pass
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        families.append(("process_max_fds", "gauge", "Maximum number of open file descriptors.", soft))
    return families


class PrometheusMetricsProvider:
    """Serves ``/metrics`` from the current server's gauges."""

    def __init__(self, host: str = "0.0.0.0", port: int = 7000, export_jvm_info: bool = True):
        self.host = host
        self.port = port
        self.export_jvm_info = export_jvm_info
        self.zks = None
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def configure(cls, configuration: dict[str, str]) -> "PrometheusMetricsProvider":
        """From the ``metricsProvider.*`` entries (without the prefix), as Java's configure()."""
        LOG.info("Initializing metrics, configuration: %s", configuration)
        try:
            port = int(configuration.get("httpPort", "7000"))
        except ValueError:
            raise MetricsProviderLifeCycleException(
                f"metricsProvider.httpPort: {configuration.get('httpPort')!r} is not a number") from None
        return cls(host=configuration.get("httpHost", "0.0.0.0"), port=port,
                   export_jvm_info=configuration.get("exportJvmInfo", "true").lower() == "true")

    def set_zookeeper_server(self, zks) -> None:
        self.zks = zks

    @property
    def local_port(self) -> Optional[int]:
        return self._httpd.server_address[1] if self._httpd is not None else None

    # -- the text ---------------------------------------------------------------------------
    def gauges(self) -> list[tuple[str, float]]:
        """(name, value) of every numeric mntr gauge of the current server."""
        zks = self.zks
        if zks is None or not zks.is_running():
            return []
        factory = getattr(zks, "cnxn_factory", None)
        return [(key, value) for key, value in monitor_values(zks, factory)
                if key not in _NOT_GAUGES and isinstance(value, (int, float)) and not isinstance(value, bool)]

    def render(self, names: Optional[set[str]] = None) -> str:
        """The exposition text (all families, or those in ``names``)."""
        families = [(name, "gauge", name, value) for name, value in self.gauges()]
        if self.export_jvm_info:
            families += _process_families()
        out = []
        for name, kind, help_text, value in families:
            if names and name not in names:
                continue
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {_prom_value(value)}\n")
        return "".join(out)

    # -- the endpoint ------------------------------------------------------------------------
    def start(self) -> None:
        LOG.info("Starting /metrics HTTP endpoint at host: %s, port: %d, exportJvmInfo: %s",
                 self.host, self.port, self.export_jvm_info)
        try:
            httpd = ThreadingHTTPServer((self.host, self.port), _MetricsHandler, bind_and_activate=False)
            try:
                httpd.server_bind()
                httpd.server_activate()
            except BaseException:
                httpd.server_close()
                raise
        except OSError as e:
            why = "the port is already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
            raise MetricsProviderLifeCycleException(
                f"Cannot start /metrics server on {self.host}:{self.port}: {why} "
                f"(set metricsProvider.httpPort to a free port)") from e
        httpd.daemon_threads = True
        httpd.provider = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.25},
                                        name="PrometheusMetricsProvider", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _MetricsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zkpy-metrics"

    def version_string(self) -> str:
        return self.server_version
    timeout = 30

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        LOG.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def do_TRACE(self) -> None:  # noqa: N802 - Java constrains TRACE away too
        self.send_error(405, "Method Not Allowed")

    def _answer(self, send_body: bool) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/metrics":
            self.send_error(404, "Not Found")
            return
        names = {v for k, v in urllib.parse.parse_qsl(url.query) if k == "name[]"}
        try:
            data = self.server.provider.render(names or None).encode("utf-8")  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - keep the endpoint alive
            LOG.exception("Rendering /metrics failed")
            self.send_error(500, "Server Error")
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if send_body:
            self.wfile.write(data)


def start_metrics_provider(config) -> Optional[PrometheusMetricsProvider]:
    """Java's MetricsProviderBootstrap.startMetricsProvider, from a ServerConfig.

    None for Java's default (no endpoint). Raises ConfigException for a
    class zkpy does not have, :class:`MetricsProviderLifeCycleException`
    for a bad setting or a port that cannot be bound.
    """
    raw = getattr(config, "raw", {}) or {}
    class_name = raw.get("metricsProvider.className", "").strip()
    if not class_name or class_name in DEFAULT_PROVIDERS:
        return None
    if class_name != PROMETHEUS_PROVIDER:
        # Java fails while parsing the config (Class.forName), hence a config error
        where = getattr(config, "config_path", None) or "the configuration"
        raise ConfigException(
            f"Error processing {where}: metrics provider class was not found: metricsProvider.className="
            f"{class_name} (zkpy has {PROMETHEUS_PROVIDER}; leave it unset for none)")
    settings = {key[len("metricsProvider."):]: value for key, value in raw.items()
                if key.startswith("metricsProvider.") and key != "metricsProvider.className"}
    provider = PrometheusMetricsProvider.configure(settings)
    provider.start()
    return provider

