"""Helpers of the TLS and SASL tests: certificates, servers, clients.

Throw-away X.509 certificates: :class:`zkpy.testing_tls.TestPKI` (the
``openssl`` command makes them; re-exported here with :class:`Cert` and
:func:`openssl_problem`). A test CA signs a server certificate and client
certificates with the subjects the tests choose; a second CA signs
certificates no server trusts. :func:`require_openssl` skips with the reason
when ``openssl`` is missing.

Servers: :func:`new_secure_server` starts a zkpy server, or Java 3.8 with the
same zoo.cfg when ``java=True`` (``ZKPY_IT_TARGET=java`` or an interop
test). Java gets ``serverCnxnFactory=NettyServerCnxnFactory`` (its NIO
factory has no TLS) and, because the manifest of Debian's zookeeper.jar
leaves them out, the Netty jars that factory needs on its class path.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from collections.abc import Mapping, Sequence

import pytest

from zkpy.testing import TestingServer
from zkpy.testing_tls import Cert, TestPKI, client_ssl_context, openssl_problem

__all__ = ["Cert", "TestPKI", "openssl_problem", "require_openssl", "new_secure_server", "write_jaas",
           "client_context", "tls_handshake", "tls_four_letter_word", "kazoo_client", "java_server_class",
           "SASL_PROVIDER", "X509_PROVIDER", "NETTY_FACTORY", "JAVA_ZKCLI_CLASSPATH", "tls_client_properties",
           "write_client_properties", "jvm_flags", "write_client_jaas", "QUORUM_JAAS", "QUORUM_SASL_REQUIRED",
           "quorum_jaas_flags"]

SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
X509_PROVIDER = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"
NETTY_FACTORY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
_NETTY_JARS = ("/usr/share/java/netty-codec.jar", "/usr/share/java/netty-resolver.jar",
               "/usr/share/java/netty-transport-native-unix-common.jar")


def require_openssl() -> None:
    problem = openssl_problem()
    if problem:
        pytest.skip(problem)


# -- servers --------------------------------------------------------------------------------------------

def java_server_class():
    """JavaZooKeeperServer with the Netty jars NettyServerCnxnFactory needs."""
    from tests.interop.java_zk import JavaZooKeeperServer

    class NettyJavaZooKeeperServer(JavaZooKeeperServer):
        __test__ = False

        @staticmethod
        def classpath(extra_first: Sequence[str] = ()) -> str:
            jars = [jar for jar in _NETTY_JARS if os.path.isfile(jar)]
            return JavaZooKeeperServer.classpath([*extra_first, *jars])

    return NettyJavaZooKeeperServer


def new_secure_server(config: Mapping[str, object], *, java: bool = False, jvm_flags: Sequence[str] = (),
                      temp_dir=None, tick_time: int = 200, start: bool = True):
    """A started zkpy (or Java) server with these zoo.cfg entries."""
    if java:
        from tests.interop.java_zk import skip_unless_available

        skip_unless_available()
        server = java_server_class()({"serverCnxnFactory": NETTY_FACTORY, **config}, tick_time=tick_time,
                                     jvm_flags=list(jvm_flags), temp_dir=temp_dir)
    else:
        server = TestingServer(config=dict(config), tick_time=tick_time, jvm_flags=list(jvm_flags),
                               force_sync=False, temp_dir=temp_dir)
    if start:
        try:
            server.start()
        except BaseException:
            server.close()
            raise
    return server


def write_jaas(path, users: Mapping[str, str], section: str = "Server") -> str:
    """A JAAS file with a DIGEST-MD5 ``Server`` section of ``user_<name>`` entries."""
    lines = [f"{section} {{", "    org.apache.zookeeper.server.auth.DigestLoginModule required"]
    lines += [f'    user_{user}="{password}"' for user, password in users.items()]
    lines[-1] += ";"
    lines.append("};")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


# -- clients --------------------------------------------------------------------------------------------

def client_context(ca: Cert | None, cert: Cert | None = None) -> ssl.SSLContext:
    """A client context trusting ``ca`` (None: trusting nothing checked), with ``cert`` if given."""
    return client_ssl_context(None if ca is None else ca.cert, None if cert is None else cert.cert,
                              None if cert is None else cert.key)


def tls_handshake(port: int, ctx: ssl.SSLContext, host: str = "127.0.0.1", timeout: float = 5.0):
    """Connect and handshake; the SSLSocket (caller closes it) or the exception."""
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, OSError) as e:
        raw.close()
        return e
    # TLS 1.3 sends the server's verdict on the client certificate after the handshake.
    try:
        sock.settimeout(0.5)
        sock.recv(1)
    except socket.timeout:
        pass
    except (ssl.SSLError, OSError) as e:
        sock.close()
        return e
    sock.settimeout(timeout)
    return sock


def tls_four_letter_word(port: int, ctx: ssl.SSLContext, word: str) -> str:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5.0)
    with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(word.encode("ascii"))
        chunks = []
        while True:
            try:
                chunk = sock.recv(4096)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


@contextlib.contextmanager
def kazoo_client(port: int, *, ca: Cert | None = None, cert: Cert | None = None, timeout: float = 10.0,
                 start: bool = True, **kwargs):
    """A KazooClient on 127.0.0.1:``port`` (TLS when ``ca`` is given); stopped and closed on exit."""
    from kazoo.client import KazooClient

    tls = {}
    if ca is not None:
        tls = dict(use_ssl=True, ca=ca.cert, verify_certs=True)
        if cert is not None:
            tls.update(certfile=cert.cert, keyfile=cert.key)
    client = KazooClient(hosts=f"127.0.0.1:{port}", timeout=timeout, **tls, **kwargs)
    try:
        if start:
            client.start(timeout=15.0)
        yield client
    finally:
        try:
            client.stop()
        finally:
            client.close()


# -- zkCli's configuration (Java's ZKClientConfig properties and JAAS Client section) ------------------

#: Java's zkCli needs the Netty socket for TLS, and Debian's zookeeper.jar manifest leaves out some of
#: its jars: a ``-cp`` word in $CLIENT_JVMFLAGS comes after zkCli.sh's own and replaces it (zkpy
#: ignores every word but ``-D``).
JAVA_ZKCLI_CLASSPATH = ":".join(["/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar", *_NETTY_JARS])


def tls_client_properties(tls_files, **extra: str) -> dict[str, str]:
    """The ``zookeeper.*`` properties of a TLS client with ``tls_files``'
    client certificate (a :class:`zkpy.testing_tls.TlsFiles`)."""
    props = {
        "zookeeper.client.secure": "true",
        "zookeeper.clientCnxnSocket": "org.apache.zookeeper.ClientCnxnSocketNetty",
        "zookeeper.ssl.keyStore.location": tls_files.client_keystore, "zookeeper.ssl.keyStore.type": "PEM",
        "zookeeper.ssl.trustStore.location": tls_files.ca_file, "zookeeper.ssl.trustStore.type": "PEM",
    }
    props.update(extra)
    return props


def write_client_properties(path, props: Mapping[str, str]) -> str:
    """A ``-client-configuration`` file."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{key}={value}\n" for key, value in props.items())
    return str(path)


def jvm_flags(props: Mapping[str, str]) -> str:
    """``-Dkey=value`` words (values without blanks)."""
    return " ".join(f"-D{key}={value}" for key, value in props.items())


def write_client_jaas(path, username: str, password: str, section: str = "Client") -> str:
    """A JAAS file with a DIGEST-MD5 ``Client`` section, as zkCli reads it."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'{section} {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                f'    username="{username}"\n    password="{password}";\n}};\n')
    return str(path)


#: A JAAS file for quorum SASL (DIGEST-MD5): the server side, a learner that
#: knows the password and one that does not.
QUORUM_JAAS = """
QuorumServer {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_test="test";
};
QuorumLearner {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="test"
    password="test";
};
BadLearner {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="test"
    password="not the password";
};
"""

#: zoo.cfg entries for quorum SASL required both ways.
QUORUM_SASL_REQUIRED = {
    "quorum.auth.enableSasl": "true",
    "quorum.auth.learnerRequireSasl": "true",
    "quorum.auth.serverRequireSasl": "true",
}


def quorum_jaas_flags(directory) -> list[str]:
    """Write :data:`QUORUM_JAAS` into ``directory``; the peer flags that name it."""
    path = directory / "jaas.conf"
    path.write_text(QUORUM_JAAS)
    return [f"-Djava.security.auth.login.config={path}"]
