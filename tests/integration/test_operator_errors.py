"""The mistakes operators make, and what the server says about them.

Each case starts ``python -m zkpy zoo.cfg`` as a user does and checks: a
non-zero exit status (Java's ExitCode), one clear last line on stderr that
names what is wrong and where, and no Python traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from zkpy.testing import find_free_port

PROMETHEUS = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"


def start(tmp_path, text: str, config_name: str = "zoo.cfg") -> subprocess.CompletedProcess:
    path = tmp_path / config_name
    if text is not None:
        path.write_text(text)
    env = dict(os.environ)
    env.pop("SERVER_JVMFLAGS", None)
    env.pop("JVMFLAGS", None)
    return subprocess.run([sys.executable, "-m", "zkpy", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)


def failure(result: subprocess.CompletedProcess) -> str:
    """The last stderr line, after checking that the start failed cleanly."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def base(tmp_path, **extra) -> str:
    lines = {"tickTime": "200", "dataDir": str(tmp_path / "data"), "clientPort": str(find_free_port()),
             "clientPortAddress": "127.0.0.1", "admin.enableServer": "false"}
    lines.update({k: str(v) for k, v in extra.items()})
    return "".join(f"{k}={v}\n" for k, v in lines.items())


@pytest.fixture
def busy_port():
    """A port something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_missing_config_file(tmp_path):
    result = start(tmp_path, None, "nowhere.cfg")
    assert result.returncode == 2
    assert failure(result) == (f"Invalid config, exiting abnormally: Error processing {tmp_path / 'nowhere.cfg'}: "
                               f"{tmp_path / 'nowhere.cfg'} file is missing")


@pytest.mark.parametrize("line, message", [
    ("tickTime=abc", "tickTime: 'abc' is not an integer"),
    ("clientPort=", "clientPort: '' is not an integer"),
    ("syncEnabled=maybe", "Invalid option maybe for syncEnabled. Choose 'true' or 'false.'"),
    ("electionAlg=1", "Invalid electionAlg value. Only 3 is supported."),
    ("peerType=voter", "Unrecognised peertype: voter"),
])
def test_bad_zoo_cfg_line_names_file_and_line(tmp_path, line, message):
    text = "# a comment\n\n" + base(tmp_path).replace("tickTime=200\n", "") + line + "\n"
    line_number = text.splitlines().index(line) + 1
    result = start(tmp_path, text)
    assert result.returncode == 2
    assert failure(result) == (f"Invalid config, exiting abnormally: Error processing {tmp_path / 'zoo.cfg'} "
                               f"line {line_number}: {message}")


def test_bad_escape_names_the_line(tmp_path):
    result = start(tmp_path, base(tmp_path) + "foo=\\u12zz\n")
    assert result.returncode == 2
    assert "line 6 (key 'foo')" in failure(result) and "Malformed \\uxxxx encoding" in failure(result)


def test_client_port_in_use(tmp_path, busy_port):
    result = start(tmp_path, base(tmp_path, clientPort=busy_port))
    assert result.returncode == 1
    assert failure(result) == (f"Unexpected exception, exiting abnormally: cannot bind clientPort {busy_port} on "
                               "127.0.0.1: address already in use (is another server running on that port?)")


def test_admin_port_in_use(tmp_path, busy_port):
    result = start(tmp_path, base(tmp_path, **{"admin.enableServer": "true", "admin.serverPort": busy_port,
                                               "admin.serverAddress": "127.0.0.1"}))
    assert result.returncode == 4
    assert failure(result).startswith(
        f"Unable to start AdminServer, exiting abnormally: Problem starting AdminServer on address 127.0.0.1, "
        f"port {busy_port} and command URL /commands: the port is already in use")


def test_metrics_port_in_use_and_unknown_provider(tmp_path, busy_port):
    result = start(tmp_path, base(tmp_path, **{"metricsProvider.className": PROMETHEUS,
                                               "metricsProvider.httpPort": busy_port}))
    assert result.returncode == 1
    assert f"Cannot start /metrics server on 0.0.0.0:{busy_port}: the port is already in use" in failure(result)
    result = start(tmp_path, base(tmp_path, **{"metricsProvider.className": "com.example.Metrics"}))
    assert result.returncode == 2
    assert "metrics provider class was not found: metricsProvider.className=com.example.Metrics" in \
        failure(result)


def test_data_dir_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a directory")
    result = start(tmp_path, base(tmp_path))
    assert result.returncode == 3
    assert failure(result).startswith(f"Unable to access datadir, exiting abnormally: dataDir {tmp_path / 'data'}: ")
    assert "Not a directory" in failure(result)


def test_data_log_dir_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = start(tmp_path, base(tmp_path, dataLogDir=tmp_path / "file" / "logs"))
    assert result.returncode == 3
    assert failure(result).startswith(
        f"Unable to access datadir, exiting abnormally: dataLogDir {tmp_path / 'file' / 'logs'}: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write any directory: permissions cannot be tested")
def test_unwritable_data_dir(tmp_path):
    data = tmp_path / "data"
    (data / "version-2").mkdir(parents=True)
    (data / "version-2").chmod(0o500)
    try:
        result = start(tmp_path, base(tmp_path))
    finally:
        (data / "version-2").chmod(0o700)
    assert result.returncode == 3
    assert "Unable to access datadir, exiting abnormally: Cannot write to" in failure(result)


def test_no_client_port(tmp_path):
    result = start(tmp_path, f"tickTime=200\ndataDir={tmp_path / 'data'}\nadmin.enableServer=false\n")
    assert result.returncode == 2
    assert failure(result) == f"Invalid config, exiting abnormally: No clientPort set in {tmp_path / 'zoo.cfg'}"
