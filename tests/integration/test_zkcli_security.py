"""zkCli over TLS and with SASL, configured as Java's zkCli is.

One server (module-scoped) with a plain and a TLS port
(``TestingServer(tls=True)``), the sasl provider and a JAAS ``Server``
section. The shell gets its settings the Java way: a
``-client-configuration`` properties file, ``-D`` words in
``$CLIENT_JVMFLAGS`` / ``$JVMFLAGS``, and a JAAS ``Client`` section named
by ``-Djava.security.auth.login.config``. Expected texts are Java 3.8.0
zkCli's (tests/interop/test_zkcli_security_java.py compares the two).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from zkpy.testing import TestingServer
from zkpy.testing_tls import TestPKI, openssl_problem

from .security import (
    SASL_PROVIDER, jvm_flags, tls_client_properties, write_client_jaas, write_client_properties, write_jaas,
)

pytestmark = pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ZKCLI_SH = os.path.join(ROOT, "bin", "zkCli.sh")
CLIENT_ID = "x509: CN=zkpy-test-client,O=zkpy"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zkcli_security")
    jaas = write_jaas(tmp / "jaas.conf", {"bob": "bobsecret"})
    with TestingServer(tls=True, temp_dir=tmp / "server", force_sync=False, config={"authProvider.1": SASL_PROVIDER},
                       jvm_flags=[f"-Djava.security.auth.login.config={jaas}"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def files(server, tmp_path_factory):
    """The client's files: TLS properties, JAAS Client sections."""
    tmp = tmp_path_factory.mktemp("zkcli_client")
    return {
        "tls": write_client_properties(tmp / "tls.properties", tls_client_properties(server.tls_files)),
        "bob": write_client_jaas(tmp / "bob.conf", "bob", "bobsecret"),
        "wrong": write_client_jaas(tmp / "wrong.conf", "bob", "wrong"),
        "dir": tmp,
    }


def zkcli(connect: str, *args: str, env: dict | None = None, script: str | None = None, command=None):
    """(rc, stdout without the banner and WATCHER notices, stderr)."""
    command = command or [sys.executable, "-m", "zkpy.cli.zkcli"]
    full_env = {k: v for k, v in os.environ.items() if k not in ("CLIENT_JVMFLAGS", "JVMFLAGS")}
    full_env.update(env or {})
    proc = subprocess.run([*command, "-server", connect, *args], input=script or "", capture_output=True,
                          text=True, timeout=60, env=full_env)
    out, skip = [], 0
    for line in proc.stdout.splitlines():
        if skip:
            skip -= 1
            continue
        if line == "WATCHER::":
            skip = 2  # a blank line and the WatchedEvent line
            continue
        if line and not line.startswith("Connecting to ") and line not in ("Welcome to ZooKeeper!",
                                                                           "JLine support is disabled"):
            out.append(line)
    return proc.returncode, out, proc.stderr


def test_tls_from_the_client_configuration_file(server, files):
    rc, out, err = zkcli(server.secure_connect_string, "-client-configuration", files["tls"],
                         script="whoami\ncreate /over-tls v\nget /over-tls\nquit\n")
    assert (rc, err) == (0, "Created /over-tls\n")
    assert out == ["Auth scheme: User", "ip: 127.0.0.1", CLIENT_ID, "v"]


def test_tls_from_jvmflags_and_the_file_overriding_them(server, files):
    flags = jvm_flags(tls_client_properties(server.tls_files, **{"zookeeper.client.secure": "false"}))
    secure = write_client_properties(files["dir"] / "secure-only.properties", {"zookeeper.client.secure": "true"})
    rc, out, err = zkcli(server.secure_connect_string, "-client-configuration", secure, "whoami",
                         env={"JVMFLAGS": flags})
    assert (rc, out, err) == (0, ["Auth scheme: User", "ip: 127.0.0.1", CLIENT_ID], "")
    # Flags alone, in $CLIENT_JVMFLAGS: zkCli.sh passes both variables to the JVM.
    rc, out, _ = zkcli(server.secure_connect_string, "whoami",
                       env={"CLIENT_JVMFLAGS": jvm_flags(tls_client_properties(server.tls_files))})
    assert (rc, out) == (0, ["Auth scheme: User", "ip: 127.0.0.1", CLIENT_ID])


def test_sasl_from_a_jaas_client_section(server, files):
    env = {"CLIENT_JVMFLAGS": f"-Djava.security.auth.login.config={files['bob']}"}
    rc, out, err = zkcli(server.connect_string, env=env,
                         script="whoami\ncreate /sasl-made v sasl:bob:cdrwa\ngetAcl /sasl-made\nquit\n")
    assert (rc, err) == (0, "Created /sasl-made\n")
    assert out == ["Auth scheme: User", "ip: 127.0.0.1", "sasl: bob", "'sasl,'bob", ": cdrwa"]
    # zookeeper.sasl.client=false in the file turns it off.
    off = write_client_properties(files["dir"] / "sasl-off.properties", {"zookeeper.sasl.client": "false"})
    rc, out, _ = zkcli(server.connect_string, "-client-configuration", off, "whoami", env=env)
    assert (rc, out) == (0, ["Auth scheme: User", "ip: 127.0.0.1"])


def test_tls_and_sasl_through_bin_zkcli_sh(server, files):
    env = {"CLIENT_JVMFLAGS": f"-Djava.security.auth.login.config={files['bob']}"}
    rc, out, err = zkcli(server.secure_connect_string, "-client-configuration", files["tls"], "whoami", env=env,
                         command=[ZKCLI_SH])
    assert (rc, out, err) == (0, ["Auth scheme: User", "ip: 127.0.0.1", CLIENT_ID, "sasl: bob"], "")


#: A one-shot command checks the session before it runs (Java's processZKCmd:
#: "Not connected" unless the state is alive). Sent while the SASL exchange is
#: still going, it fails with AuthFailed; on a loaded machine the exchange can
#: fail before the shell's main thread gets there, and then the command finds
#: the state AUTH_FAILED, in Java as in zkpy.
AUTH_FAILED_FIRST = (0, ["Not connected"], "")


def test_a_wrong_password_is_auth_failed(server, files):
    env = {"CLIENT_JVMFLAGS": f"-Djava.security.auth.login.config={files['wrong']}"}
    rc, out, err = zkcli(server.connect_string, "ls", "/", env=env)
    assert (rc, out, err) in ((1, [], "KeeperErrorCode = AuthFailed for /\n"), AUTH_FAILED_FIRST)
    # Java's whoAmI ignores the reply's error: just the heading, exit code 0.
    rc, out, err = zkcli(server.connect_string, "whoami", env=env)
    assert (rc, out, err) in ((0, ["Auth scheme: User"], ""), AUTH_FAILED_FIRST)


def test_a_server_certificate_from_another_ca_is_connection_loss(server, files):
    pki = TestPKI(files["dir"] / "other-pki")
    props = tls_client_properties(server.tls_files, **{"zookeeper.ssl.trustStore.location": pki.ca.cert})
    untrusting = write_client_properties(files["dir"] / "untrusting.properties", props)
    rc, out, err = zkcli(server.secure_connect_string, "-timeout", "3000", "-client-configuration", untrusting,
                         "ls", "/")
    assert (rc, out, err) == (1, [], "KeeperErrorCode = ConnectionLoss for /\n")


def test_configurations_that_cannot_be_used(server, files):
    missing = str(files["dir"] / "missing.properties")
    rc, _, err = zkcli(server.connect_string, "-client-configuration", missing, "ls", "/")
    assert rc == 2 and err == f"Error while processing {missing}: {missing} file is missing\n"
    env = {"CLIENT_JVMFLAGS": f"-Djava.security.auth.login.config={files['bob']} "
                              "-Dzookeeper.sasl.clientconfig=NoSuchSection"}
    rc, _, err = zkcli(server.connect_string, "ls", "/", env=env)
    assert rc == 2 and "No JAAS configuration section named 'NoSuchSection'" in err
