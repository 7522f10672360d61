"""pytest plugin: real ZooKeeper servers and ensembles for your test suite.

Stands for Curator's ``TestingServer`` and ``TestingCluster`` as JUnit
rules (no Java class of ZooKeeper itself); installed with ``zkpy-server``
and loaded by pytest through the ``pytest11`` entry point, so a suite that
talks to ZooKeeper needs neither a JVM nor a ZooKeeper download. Each
server is a real ``python -m zkpy`` process (:mod:`zkpy.testing`) on a free
loopback port in a temporary directory; it starts in a fraction of a
second, so a fresh server per test is affordable.

Fixtures:

``zk_server``
    a started standalone :class:`~zkpy.testing.TestingServer`;
``zk_cluster``
    a started :class:`~zkpy.testing.TestingCluster` with a leader, shaped
    by ``@pytest.mark.zk_cluster(size=3, observers=0, read_only=False,
    partitionable=False, tick_time=None, config=None, jvm_flags=None,
    tls=False)``;
``zk_target``
    ``zk_cluster`` when the test carries a ``zk_cluster`` marker, else
    ``zk_server``: tests written against it run on either;
``zk_connect_string``
    ``zk_target.connect_string`` (``host:port[,host:port...]``).

``@pytest.mark.zk_server(tick_time=None, config=None, jvm_flags=None, tls=False)``
shapes ``zk_server``. ``tls=True`` (either marker) adds a TLS
``secureClientPort`` with throw-away certificates beside the plain port
(:mod:`zkpy.testing_tls`): ``zk_server.secure_connect_string``,
``.ca_file``, ``.client_cert_file``, ``.client_key_file``,
``.client_ssl_context()``; ``zk_connect_string`` stays the plain one.

Scopes: ``function`` by default; the ini options ``zk_server_scope`` /
``zk_cluster_scope`` (or ``--zk-server-scope`` / ``--zk-cluster-scope``)
choose ``class``, ``module``, ``package`` or ``session``. A wider scope reads the marker from the node of that scope
(``pytestmark`` of the module for ``module``); a marker below it is an
error rather than silently ignored. A shared server or ensemble is brought
back after each test that left a fault behind (a stopped, killed or paused
peer, a partition): :meth:`~zkpy.testing.TestingCluster.reset_faults`.
Data is not cleaned between tests that share a server.

``zk_tick_time`` (ini) / ``--zk-tick-time``: the servers' tickTime in ms
(default 200: sessions of 0.4 to 4 s, fast expiry).

When a test fails, the last lines of each server's log are added to its
report (section ``zkpy server log``).

Processes never outlive the run: every server is stopped by the fixture's
finaliser (also after a failure or Ctrl-C), killed at interpreter exit, and
dies with the pytest process when that is killed, even by SIGKILL (it
watches its parent pid, :mod:`zkpy.parent_watch`, and gets
``PR_SET_PDEATHSIG`` on Linux).

``@pytest.mark.requires_serving_cluster`` is transitional, for zkpy's own
suites: the test is skipped, with the reason, while zkpy ensembles elect a
leader but do not yet serve client sessions (the Zab issue); it runs by
itself once they do. ``ZKPY_EXPECT_SERVING_CLUSTER=1`` turns the skip into
a failure.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from typing import Optional, Union

import pytest

from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.jute.records import ConnectRequest, ConnectResponse
from zkpy.testing import TestingCluster, TestingServer, TestingServerError, _read_frame, _send_frame

LOG = logging.getLogger(__name__)

SCOPES = ("function", "class", "module", "package", "session")
_SCOPE_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
DEFAULT_TICK_TIME = 200
NOT_SERVING_REASON = "zkpy ensembles do not serve clients yet (Zab issue)"

_CLUSTER_OPTIONS = ("size", "observers", "read_only", "partitionable", "tick_time", "config", "jvm_flags", "tls")
_SERVER_OPTIONS = ("tick_time", "config", "jvm_flags", "tls")

Instance = Union[TestingServer, TestingCluster]

#: Every server and ensemble a fixture of this plugin has started and not
#: yet closed, with the fixture's scope.
_live: dict[int, tuple[Instance, str]] = {}


# -- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zkpy", "zkpy test servers (zk_server, zk_cluster fixtures)")
    group.addoption("--zk-server-scope", choices=SCOPES, default=None,
                    help="scope of the zk_server fixture (default: ini zk_server_scope, else function)")
    group.addoption("--zk-cluster-scope", choices=SCOPES, default=None,
                    help="scope of the zk_cluster fixture (default: ini zk_cluster_scope, else function)")
    group.addoption("--zk-tick-time", type=int, default=None,
                    help=f"tickTime (ms) of zkpy test servers (default: ini zk_tick_time, else {DEFAULT_TICK_TIME})")
    parser.addini("zk_server_scope", "scope of the zk_server fixture", default="function")
    parser.addini("zk_cluster_scope", "scope of the zk_cluster fixture", default="function")
    parser.addini("zk_tick_time", "tickTime (ms) of zkpy test servers", default=str(DEFAULT_TICK_TIME))


def _scope(config: pytest.Config, which: str) -> str:
    value = config.getoption(f"--zk-{which}-scope") or config.getini(f"zk_{which}_scope") or "function"
    value = str(value).strip()
    if value not in SCOPES:
        raise pytest.UsageError(f"zk_{which}_scope must be one of {', '.join(SCOPES)}, not {value!r}")
    return value


def _tick_time(config: pytest.Config) -> int:
    value = config.getoption("--zk-tick-time") or config.getini("zk_tick_time") or DEFAULT_TICK_TIME
    try:
        tick = int(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"zk_tick_time must be an integer (ms), not {value!r}") from None
    if tick <= 0:
        raise pytest.UsageError(f"zk_tick_time must be positive, not {tick}")
    return tick


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "zk_cluster(size=3, observers=0, read_only=False, partitionable=False, tick_time=None, config=None, "
        "jvm_flags=None, tls=False): the shape of the zk_cluster fixture's ensemble (zkpy)")
    config.addinivalue_line(
        "markers", "zk_server(tick_time=None, config=None, jvm_flags=None, tls=False): options of the zk_server "
        "fixture (zkpy)")
    config.addinivalue_line(
        "markers",
        "requires_serving_cluster: skip while zkpy ensembles do not serve client sessions yet (zkpy, transitional)")
    for which in ("server", "cluster"):
        _scope(config, which)  # fail early on a bad value
    _tick_time(config)


# -- markers ---------------------------------------------------------------------------------


def _marker_options(marker: Optional[pytest.Mark], allowed: tuple[str, ...], positional: tuple[str, ...] = ()
                    ) -> dict:
    if marker is None:
        return {}
    if len(marker.args) > len(positional):
        raise pytest.UsageError(f"@pytest.mark.{marker.name} takes at most {len(positional)} positional "
                                f"argument(s), got {marker.args!r}")
    options = dict(zip(positional, marker.args))
    unknown = sorted(set(marker.kwargs) - set(allowed))
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.{marker.name}: unknown option(s) {', '.join(unknown)}; "
                                f"known: {', '.join(allowed)}")
    options.update(marker.kwargs)
    return options


def _node_rank(node: pytest.Item | pytest.Collector) -> int:
    if isinstance(node, pytest.Function):
        return _SCOPE_RANK["function"]
    if isinstance(node, pytest.Class):
        return _SCOPE_RANK["class"]
    if isinstance(node, pytest.Package):
        return _SCOPE_RANK["package"]
    if isinstance(node, pytest.Module):
        return _SCOPE_RANK["module"]
    return _SCOPE_RANK["session"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A marker below the fixture's scope would be ignored: refuse it."""
    for which in ("server", "cluster"):
        scope = _scope(config, which)
        if scope == "function":
            continue
        for item in items:
            effective = scope
            if scope == "class" and item.getparent(pytest.Class) is None:
                effective = "function"  # pytest runs class-scoped fixtures per test outside classes
            for node, _mark in item.iter_markers_with_node(f"zk_{which}"):
                if _node_rank(node) < _SCOPE_RANK[effective]:
                    raise pytest.UsageError(
                        f"{item.nodeid}: @pytest.mark.zk_{which} on {node.nodeid or 'the session'} is below the "
                        f"zk_{which} fixture's scope ({scope}), so it would be ignored; put it on the "
                        f"{scope} (e.g. pytestmark in the module) or use zk_{which}_scope=function")


# -- the fixtures ----------------------------------------------------------------------------------


def _server_scope(fixture_name: str, config: pytest.Config) -> str:
    return _scope(config, "server")


def _cluster_scope(fixture_name: str, config: pytest.Config) -> str:
    return _scope(config, "cluster")


def _flags(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return list(value)  # type: ignore[call-overload]


def server_from_marker(marker: Optional[pytest.Mark], config: pytest.Config) -> TestingServer:
    """An unstarted TestingServer with the marker's options."""
    options = _marker_options(marker, _SERVER_OPTIONS)
    return TestingServer(
        tick_time=options.get("tick_time") or _tick_time(config),
        config=options.get("config"),
        jvm_flags=_flags(options.get("jvm_flags")),
        force_sync=False,  # tests do not survive power cuts; fsync only slows them
        tls=bool(options.get("tls", False)),
    )


def cluster_from_marker(marker: Optional[pytest.Mark], config: pytest.Config) -> TestingCluster:
    """An unstarted TestingCluster with the marker's options."""
    options = _marker_options(marker, _CLUSTER_OPTIONS, positional=("size",))
    flags = _flags(options.get("jvm_flags"))
    if options.get("read_only"):
        flags.append("-Dreadonlymode.enabled=true")
    return TestingCluster(
        int(options.get("size", 3)),
        int(options.get("observers", 0)),
        tick_time=options.get("tick_time") or _tick_time(config),
        config=options.get("config"),
        jvm_flags=flags,
        partitionable=bool(options.get("partitionable", False)),
        tls=bool(options.get("tls", False)),
    )


def _track(instance: Instance, scope: str) -> None:
    _live[id(instance)] = (instance, scope)


def _untrack(instance: Instance) -> None:
    _live.pop(id(instance), None)


@pytest.fixture(scope=_server_scope)
def zk_server(request: pytest.FixtureRequest):
    """A started standalone zkpy server (:class:`zkpy.testing.TestingServer`):
    ``zk_server.connect_string``, ``.stop()``, ``.restart()``, ``.kill()``,
    ``.pause()``/``.resume()``, ``.expire_session(client)``."""
    server = server_from_marker(request.node.get_closest_marker("zk_server"), request.config)
    _track(server, request.scope)
    try:
        server.start()
        yield server
    finally:
        _untrack(server)
        server.close()


@pytest.fixture(scope=_cluster_scope)
def zk_cluster(request: pytest.FixtureRequest):
    """A started zkpy ensemble (:class:`zkpy.testing.TestingCluster`), a
    leader elected and every peer serving: ``.connect_string``, ``.leader()``, ``.kill(sid)``,
    ``.pause(sid)``, ``.partition([..], [..])``, ``.expire_session(client)``.
    Shape it with ``@pytest.mark.zk_cluster(size=..., observers=..., ...)``."""
    cluster = cluster_from_marker(request.node.get_closest_marker("zk_cluster"), request.config)
    _track(cluster, request.scope)
    try:
        cluster.start()
        for sid in cluster.sids:  # a leader is not enough: every peer a test may dial serves
            cluster.peer(sid).wait_serving()
        yield cluster
    finally:
        _untrack(cluster)
        cluster.close()


@pytest.fixture
def zk_target(request: pytest.FixtureRequest) -> Instance:
    """``zk_cluster`` for a test marked ``zk_cluster``, else ``zk_server``:
    for tests that run on either (both have ``connect_string`` and
    ``expire_session``)."""
    name = "zk_cluster" if request.node.get_closest_marker("zk_cluster") is not None else "zk_server"
    return request.getfixturevalue(name)


@pytest.fixture
def zk_connect_string(zk_target: Instance) -> str:
    """Where to connect: ``zk_target.connect_string`` — every peer of the
    ensemble for a test marked ``zk_cluster``, else the standalone server."""
    return zk_target.connect_string


# -- between tests ----------------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
    """After the test's fixtures are finalised: bring shared servers back
    from the faults the test left (a function-scoped one is gone already)."""
    for instance, scope in list(_live.values()):
        if scope != "function" and instance.has_faults():
            LOG.info("%s: undoing the faults %s left", instance, item.nodeid)
            instance.reset_faults()


@pytest.hookimpl(hookwrapper=True)  # the old style: pytest 7 has no wrapper=True
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for instance in _instances_of(item):
            report.sections.append((f"zkpy server log ({instance!r})", _log_tails(instance)))


def _instances_of(item: pytest.Item) -> list[Instance]:
    found: list[Instance] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, (TestingServer, TestingCluster)) and all(value is not f for f in found):
            found.append(value)
    return found


def _log_tails(instance: Instance, lines: int = 30) -> str:
    if isinstance(instance, TestingServer):
        return instance.log_tail(lines)
    return "\n".join(f"--- peer {sid} ({instance.peer(sid).log_path}):\n{instance.log_tail(sid, lines // 2)}"
                     for sid in instance.sids)


# -- transitional: ensembles that do not serve yet ---------------------------------------------------


@functools.lru_cache(maxsize=1)
def ensemble_serves(timeout: float = 20.0) -> tuple[bool, str]:
    """(True, "") when a fresh 3-peer zkpy ensemble elects a leader and each
    peer accepts a client session; else (False, what happened). Asked once
    per process."""
    cluster = TestingCluster(3, start_timeout=timeout)
    try:
        try:
            cluster.start()
        except TestingServerError as e:
            return False, f"no leader: {str(e).splitlines()[0]}"
        for sid in cluster.sids:
            try:
                cluster.peer(sid).wait_serving(timeout)  # the last peer may still be joining
            except TestingServerError as e:
                return False, f"peer {sid} never served: {str(e).splitlines()[0]}"
            ok, why = _session_accepted(cluster.peer(sid))
            if not ok:
                return False, f"peer {sid} ({cluster.mode(sid)}): {why}"
        return True, ""
    finally:
        cluster.close()


def _session_accepted(peer: TestingServer) -> tuple[bool, str]:
    """Open a session on ``peer`` and close it again (the raw protocol)."""
    try:
        with socket.create_connection((peer.host, peer.port), timeout=5.0) as sock:
            sock.settimeout(5.0)
            out = OutputArchive()
            ConnectRequest(0, 0, 4000, 0, bytes(16)).serialize(out)
            out.write_bool(False)
            _send_frame(sock, bytes(out.buf))
            response = ConnectResponse.deserialize(InputArchive(_read_frame(sock)))
    except (OSError, ConnectionError) as e:
        return False, f"{type(e).__name__}: {e}"
    if response.timeOut <= 0:
        return False, "the session was refused"
    try:
        peer.expire_session(response.sessionId, response.passwd, timeout=5.0)  # do not leave it to expire
    except (OSError, ConnectionError, TestingServerError):
        pass
    return True, ""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("requires_serving_cluster") is None:
        return
    ok, why = ensemble_serves()
    if ok:
        return
    if os.environ.get("ZKPY_EXPECT_SERVING_CLUSTER", "") not in ("", "0"):
        pytest.fail(f"ZKPY_EXPECT_SERVING_CLUSTER is set but a zkpy ensemble does not serve: {why}")
    pytest.skip(f"{NOT_SERVING_REASON}: {why}")
