"""Helpers of the TLS and SASL tests: certificates, servers, clients.

Throw-away X.509 certificates, made with the ``openssl`` tool:

A test CA signs a server certificate (``CN=localhost``, SAN ``localhost`` and
``127.0.0.1``) and client certificates with the subjects the tests choose; a
second CA signs certificates no server trusts. Every key is EC P-256 in
PKCS#8 PEM, which both zkpy and Java 3.8 (``ssl.keyStore.type=PEM``) read;
each leaf also gets a *key store* file: its key followed by its certificate.

The ``cryptography`` package is not in the test environment, so the
``openssl`` command (3.0 or newer: ``req -x509 -CA``) makes them;
:func:`require_openssl` skips with the reason when it is missing.

Servers: :func:`new_secure_server` starts a zkpy server, or Java 3.8 with the
same zoo.cfg when ``java=True`` (``ZKPY_IT_TARGET=java`` or an interop
test). Java gets ``serverCnxnFactory=NettyServerCnxnFactory`` (its NIO
factory has no TLS) and, because the manifest of Debian's zookeeper.jar
leaves them out, the Netty jars that factory needs on its class path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Mapping, Sequence

import attrs
import pytest

from zkpy.testing import TestingServer

SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
X509_PROVIDER = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"
NETTY_FACTORY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
_NETTY_JARS = ("/usr/share/java/netty-codec.jar", "/usr/share/java/netty-resolver.jar",
               "/usr/share/java/netty-transport-native-unix-common.jar")


def openssl_problem() -> str | None:
    """Why the certificates cannot be made here, or None."""
    exe = shutil.which("openssl")
    if exe is None:
        return "the openssl command is not installed (apt-get install openssl); cannot make test certificates"
    out = subprocess.run([exe, "version"], capture_output=True, text=True).stdout
    try:
        major = int(out.split()[1].split(".")[0])
    except (IndexError, ValueError):
        return f"cannot read the openssl version from {out!r}"
    if major < 3:
        return f"openssl {out.strip()} is too old (req -x509 -CA needs 3.0)"
    return None


def require_openssl() -> None:
    problem = openssl_problem()
    if problem:
        pytest.skip(problem)


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


@attrs.frozen
class Cert:
    """One certificate's files."""

    key: str
    cert: str
    #: key + certificate in one PEM file (``ssl.keyStore.location``).
    keystore: str
    subject: str


class TestPKI:
    """Two CAs (``trusted`` and ``untrusted``) in ``directory`` and the
    certificates issued by them."""

    __test__ = False

    def __init__(self, directory: str):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.ca = self._make_ca("ca", "/CN=zkpy test CA")
        self.other_ca = self._make_ca("other-ca", "/CN=untrusted test CA")

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _make_ca(self, name: str, subject: str) -> Cert:
        key, cert = self._path(f"{name}.key"), self._path(f"{name}.pem")
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", subject,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return Cert(key, cert, cert, subject)

    def issue(self, name: str, subject: str, *, untrusted: bool = False) -> Cert:
        """A leaf certificate for ``subject`` (openssl's ``/C=../O=../CN=..`` form)."""
        ca = self.other_ca if untrusted else self.ca
        key, cert, keystore = self._path(f"{name}.key"), self._path(f"{name}.pem"), self._path(f"{name}-keystore.pem")
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", subject,
                 "-CA", ca.cert, "-CAkey", ca.key,
                 "-addext", "basicConstraints=critical,CA:FALSE",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                 "-addext", "extendedKeyUsage=serverAuth,clientAuth")
        with open(keystore, "w", encoding="ascii") as out:
            for part in (key, cert):
                with open(part, encoding="ascii") as f:
                    out.write(f.read())
        return Cert(key, cert, keystore, subject)


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
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(ca.cert)
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    return ctx


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
