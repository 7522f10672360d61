"""Throw-away TLS certificates for tests: a CA, a server certificate, client certificates.

Stands for ZooKeeper's test helpers ``X509TestContext`` / ``X509TestHelpers``
(which make key and trust stores for its TLS tests). zkpy makes PEM files
with the ``openssl`` command (3.0 or newer, for ``req -x509 -CA``), so no
Python crypto package is needed; :func:`openssl_problem` says why it cannot
run where it cannot.

Every key is EC P-256 in unencrypted PKCS#8 PEM, which zkpy, Python's
``ssl``, kazoo and Java 3.8 (``ssl.*.type=PEM``) all read. Each leaf
certificate gets a *key store* file too: its key followed by its
certificate, the one-file form ``ssl.keyStore.location`` takes. Leaf
certificates carry ``subjectAltName=DNS:localhost,IP:127.0.0.1`` and both
extended key usages, so one certificate serves a server or a client on
loopback.

>>> files = make_tls_files("/tmp/tls")                  # doctest: +SKIP
>>> files.ca_file, files.server_keystore, files.client_cert_file, files.client_key_file

:class:`zkpy.testing.TestingServer` (``tls=True``) and the pytest plugin's
``@pytest.mark.zk_server(tls=True)`` use :func:`make_tls_files`; tests that
need more (several client subjects, a CA nobody trusts) use :class:`TestPKI`.
"""

from __future__ import annotations

import functools
import os
import shutil
import ssl
import subprocess
from typing import Optional

import attrs

__all__ = ["openssl_problem", "OpenSSLError", "Cert", "TestPKI", "TlsFiles", "make_tls_files",
           "client_ssl_context", "SERVER_SUBJECT", "CLIENT_SUBJECT"]

#: The subject of the server certificate :func:`make_tls_files` makes.
SERVER_SUBJECT = "/O=zkpy/CN=localhost"
#: The subject of its client certificate (x509 id ``CN=zkpy-test-client,O=zkpy``).
CLIENT_SUBJECT = "/O=zkpy/CN=zkpy-test-client"
_DAYS = "2"  # long enough for any test run, short enough to be useless if leaked


class OpenSSLError(RuntimeError):
    """The ``openssl`` command is missing, too old, or failed."""


@functools.lru_cache(maxsize=1)
def openssl_problem() -> Optional[str]:
    """Why certificates cannot be made here (no or too old ``openssl``), or None."""
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


def _openssl(*args: str) -> None:
    problem = openssl_problem()
    if problem:
        raise OpenSSLError(problem)
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise OpenSSLError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


@attrs.frozen
class Cert:
    """One certificate's files (PEM)."""

    key: str
    cert: str
    #: key + certificate in one file (``ssl.keyStore.location``; for a CA, its certificate).
    keystore: str
    #: the subject as given to openssl (``/O=zkpy/CN=alice``).
    subject: str


class TestPKI:
    """A CA (``ca``) in ``directory`` and the certificates it issues; a
    second CA (``other_ca``, made when first used) signs certificates that
    nothing trusts."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, directory: str | os.PathLike, ca_subject: str = "/CN=zkpy test CA"):
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.ca = self._make_ca("ca", ca_subject)
        self._other_ca: Optional[Cert] = None

    @property
    def other_ca(self) -> Cert:
        if self._other_ca is None:
            self._other_ca = self._make_ca("other-ca", "/CN=untrusted test CA")
        return self._other_ca

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _make_ca(self, name: str, subject: str) -> Cert:
        key, cert = self._path(f"{name}.key"), self._path(f"{name}.pem")
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", cert, "-days", _DAYS, "-subj", subject,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return Cert(key, cert, cert, subject)

    def issue(self, name: str, subject: str, *, untrusted: bool = False) -> Cert:
        """A leaf certificate for ``subject`` (openssl's ``/C=../O=../CN=..``
        form), signed by ``ca`` (``other_ca`` when ``untrusted``); files
        ``<name>.key``, ``<name>.pem`` and ``<name>-keystore.pem``."""
        ca = self.other_ca if untrusted else self.ca
        key, cert, keystore = self._path(f"{name}.key"), self._path(f"{name}.pem"), self._path(f"{name}-keystore.pem")
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", cert, "-days", _DAYS, "-subj", subject,
                 "-CA", ca.cert, "-CAkey", ca.key,
                 "-addext", "basicConstraints=critical,CA:FALSE",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                 "-addext", "extendedKeyUsage=serverAuth,clientAuth")
        with open(keystore, "w", encoding="ascii") as out:
            for part in (key, cert):
                with open(part, encoding="ascii") as f:
                    out.write(f.read())
        return Cert(key, cert, keystore, subject)


@attrs.frozen
class TlsFiles:
    """What a TLS test server and its clients need (all PEM paths)."""

    directory: str
    #: the CA certificate: the server's trust store and the clients' ``ca``.
    ca_file: str
    #: the server's key + certificate (``ssl.keyStore.location``).
    server_keystore: str
    #: a client certificate, its key, and both in one file (None without one).
    client_cert_file: Optional[str]
    client_key_file: Optional[str]
    client_keystore: Optional[str]
    #: the client certificate's subject as the server names it (RFC 2253), or None.
    client_principal: Optional[str]


def _rfc2253(openssl_subject: str) -> str:
    """``/O=zkpy/CN=x`` as Java's ``X500Principal.getName()`` writes it
    (most specific first), for the plain names this module uses."""
    parts = [p for p in openssl_subject.split("/") if p]
    return ",".join(reversed(parts))


def make_tls_files(directory: str | os.PathLike, *, client_cert: bool = True,
                   client_subject: str = CLIENT_SUBJECT) -> TlsFiles:
    """A fresh CA, a server certificate (``CN=localhost``, valid for
    ``localhost`` and ``127.0.0.1``) and, with ``client_cert``, a client
    certificate, written to ``directory``. Raises :class:`OpenSSLError`
    when ``openssl`` cannot make them."""
    pki = TestPKI(directory)
    server = pki.issue("server", SERVER_SUBJECT)
    client = pki.issue("client", client_subject) if client_cert else None
    return TlsFiles(
        directory=pki.directory, ca_file=pki.ca.cert, server_keystore=server.keystore,
        client_cert_file=client.cert if client else None, client_key_file=client.key if client else None,
        client_keystore=client.keystore if client else None,
        client_principal=_rfc2253(client_subject) if client else None,
    )


def client_ssl_context(ca_file: Optional[str], cert_file: Optional[str] = None,
                       key_file: Optional[str] = None) -> ssl.SSLContext:
    """A client context that trusts ``ca_file`` (None: checks nothing) and
    presents ``cert_file``/``key_file`` when given — for zkpy's client
    (``ZooKeeper(..., ssl_context=...)``) and raw sockets."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(ca_file)
    if cert_file is not None:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx
