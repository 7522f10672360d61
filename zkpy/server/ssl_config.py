"""TLS settings of the secure client port, and the ``ssl.SSLContext`` they make.

Java: ``org.apache.zookeeper.common.ClientX509Util`` / ``X509Util``
(``createSSLContextAndOptions``) and ``SSLContextAndOptions``. The settings
are the system properties ``zookeeper.ssl.*``; a zoo.cfg line
``ssl.keyStore.location=...`` sets ``zookeeper.ssl.keyStore.location``, as
every unknown zoo.cfg key does (see :mod:`zkpy.server.config`).

========================================  ==========================================
property (``zookeeper.`` + ...)           meaning
========================================  ==========================================
ssl.keyStore.location                     the server's key and certificate chain
ssl.keyStore.password / .passwordPath     password of an encrypted key (or a file holding it)
ssl.keyStore.type                         PEM (default from the ``.pem`` extension)
ssl.trustStore.location                   CA certificates that sign client certificates
ssl.trustStore.password / .passwordPath   accepted, unused for PEM (as in Java)
ssl.trustStore.type                       PEM
ssl.clientAuth                            need (default) / want / none
ssl.protocol                              TLSv1.2 (default), TLSv1.3, TLSv1.1, TLSv1, TLS
ssl.enabledProtocols                      comma list; default: just ``ssl.protocol``
ssl.ciphersuites                          comma list, Java (IANA) or OpenSSL names;
                                          default: Java 3.8.0's (no TLS 1.3 suite)
ssl.hostnameVerification                  accepted; as in Java, the client port never
                                          checks a client's host name
ssl.authProvider                          the scheme of the provider that names a client
                                          certificate (default ``x509``)
========================================  ==========================================

The peers' TLS (``sslQuorum=true``, :mod:`zkpy.quorum.quorum_socket`) reads
the same settings under ``zookeeper.ssl.quorum.`` (zoo.cfg
``ssl.quorum.keyStore.location=...``; Java: ``QuorumX509Util``), plus
``ssl.quorum.handshakeDetectionTimeoutMillis`` (5000, for
``portUnification``); there ``hostnameVerification`` checks both ends
and ``clientAuth`` says whether a dialling peer must present a certificate.

What zkpy does differently, on purpose:

* Bad settings (no key store, an unreadable one, a bad ``ssl.clientAuth``)
  stop the server at startup ("Unexpected exception, exiting abnormally",
  exit code 1). Java 3.8 starts, logs the error and then fails every TLS
  connection, because Netty builds its context per connection.
* Key and trust stores are PEM files only. A PEM key store holds the private
  key (PKCS#8 or traditional, encrypted or not) and the certificate chain,
  in one file — exactly what Java 3.8 reads with ``ssl.keyStore.type=PEM``.
  JKS, PKCS12 and BCFKS stores are refused at startup with the command
  that converts them.
* ``ssl.ciphersuites`` takes Java's names (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``)
  and maps them to OpenSSL's; names OpenSSL lacks are skipped with a
  warning. Without the setting, Java 3.8.0's default list is used (ECDHE
  with AES-GCM and AES-CBC). TLS 1.3 suites cannot be chosen one by one
  through Python's ``ssl``: naming any of them enables TLS 1.3 with all of
  OpenSSL's. As in Java 3.8.0, whose default list has no TLS 1.3 suite, TLS
  1.3 is off unless ``ssl.ciphersuites`` names one (``TLS_AES_128_GCM_SHA256``)
  and the protocols allow it; a configuration that leaves no protocol
  stops the server.
* ``ssl.enabledProtocols`` becomes a range (lowest..highest named version).
* ``ssl.crl`` / ``ssl.ocsp`` revocation checks are not implemented (a
  warning says so when they are enabled).

The same settings make the *client's* context too
(:meth:`X509Settings.create_client_context`, for ``zookeeper.client.secure``
in :mod:`zkpy.client.zk_client_config`): the key store is then optional
(a client certificate), the trust store checks the server's certificate,
and ``ssl.hostnameVerification`` checks its name against the host dialled.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import ssl
from typing import Optional

import attrs

LOG = logging.getLogger(__name__)

__all__ = ["X509Exception", "ClientAuth", "X509Settings", "CLIENT_SSL_PREFIX", "QUORUM_SSL_PREFIX",
           "java_cipher_to_openssl"]

CLIENT_SSL_PREFIX = "zookeeper.ssl."
#: Java: ``QuorumX509Util``'s prefix, the peers' TLS (``sslQuorum``, :mod:`zkpy.quorum.quorum_socket`).
QUORUM_SSL_PREFIX = "zookeeper.ssl.quorum."
DEFAULT_PROTOCOL = "TLSv1.2"

_PROTOCOLS = {
    "TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1, "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
_STORE_EXTENSIONS = {".jks": "JKS", ".pem": "PEM", ".p12": "PKCS12", ".bcfks": "BCFKS"}
#: ``X509Util.DEFAULT_CIPHERS_JAVA9`` of ZooKeeper 3.8.0: no TLS 1.3 suite.
DEFAULT_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
)


class X509Exception(OSError):
    """The TLS settings cannot make a context (Java: ``X509Exception``);
    the server does not start."""


class ClientAuth(enum.Enum):
    """``ssl.clientAuth`` (Java: ``X509Util.ClientAuth``)."""

    NONE = ssl.CERT_NONE
    WANT = ssl.CERT_OPTIONAL
    NEED = ssl.CERT_REQUIRED

    @classmethod
    def from_property_value(cls, value: Optional[str], name: str = "ssl.clientAuth") -> "ClientAuth":
        """Unset or empty is NEED; otherwise the name, case-insensitive."""
        if not value:
            return cls.NEED
        try:
            return cls[value.upper()]
        except KeyError:
            raise X509Exception(f"{name}: no such value {value!r} (need, want or none)") from None


def java_cipher_to_openssl(name: str) -> Optional[str]:
    """OpenSSL's name for a Java (IANA) cipher-suite name; a name without
    ``_`` is taken as OpenSSL's already. None for a TLS 1.3 suite."""
    if "_" not in name:
        return name
    if name.startswith(("TLS_AES_", "TLS_CHACHA20_")):
        return None
    body = re.sub(r"^(TLS|SSL)_", "", name)
    kx, sep, cipher = body.partition("_WITH_")
    if not sep:
        return name
    kx_names = {"RSA": "", "ECDHE_RSA": "ECDHE-RSA", "ECDHE_ECDSA": "ECDHE-ECDSA", "DHE_RSA": "DHE-RSA",
                "DHE_DSS": "DHE-DSS", "ECDH_RSA": "ECDH-RSA", "ECDH_ECDSA": "ECDH-ECDSA"}
    prefix = kx_names.get(kx, kx.replace("_", "-"))
    m = re.fullmatch(r"AES_(128|256)_(GCM|CBC|CCM)_(SHA|SHA256|SHA384)", cipher)
    if m:
        bits, mode, mac = m.groups()
        if mode == "GCM":
            suffix = f"AES{bits}-GCM-{mac}"
        elif mode == "CCM":
            suffix = f"AES{bits}-CCM"
        else:
            suffix = f"AES{bits}-{mac}"
    elif cipher == "CHACHA20_POLY1305_SHA256":
        suffix = "CHACHA20-POLY1305"
    else:
        suffix = cipher.replace("_", "-")
    return f"{prefix}-{suffix}" if prefix else suffix


def _read_password(props, name: str, path_name: str) -> Optional[str]:
    """``X509Util.getPasswordFromConfigPropertyOrFile``: the file wins; one
    trailing line separator is dropped."""
    path = props.get(path_name)
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                secret = f.read()
        except OSError as e:
            raise X509Exception(f"cannot read {path_name} {path}: {e.strerror or e}") from None
        return secret[:-1] if secret.endswith("\n") else secret
    return props.get(name)


def _read_int(props, name: str, default: int) -> int:
    value = props.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise X509Exception(f"{name}: {value!r} is not a number") from None


def _store_type(kind: str, location: str, explicit: Optional[str]) -> str:
    """``KeyStoreFileType.fromPropertyValueOrFileName``; ``kind`` names the
    setting (``ssl.keyStore``, ``ssl.quorum.trustStore`` ...)."""
    if explicit:
        value = explicit.upper()
        if value not in ("JKS", "PEM", "PKCS12", "BCFKS"):
            raise X509Exception(f"{kind}.type: no such store type {explicit!r}")
        return value
    ext = os.path.splitext(location)[1].lower()
    if ext not in _STORE_EXTENSIONS:
        raise X509Exception(f"Unable to auto-detect store file type from file name: {location}; "
                            f"set {kind}.type=PEM")
    return _STORE_EXTENSIONS[ext]


def _require_pem(kind: str, store_type: str, location: str) -> None:
    if store_type != "PEM":
        raise X509Exception(
            f"{kind}: {store_type} stores are not supported by zkpy, only PEM ({location}); "
            f"convert it, e.g. `keytool -importkeystore -srckeystore STORE -destkeystore x.p12 "
            f"-deststoretype PKCS12` then `openssl pkcs12 -in x.p12 -nodes -out x.pem`")


@attrs.frozen
class X509Settings:
    """The ``zookeeper.ssl.*`` settings of the client port (Java: ``ClientX509Util``),
    or with ``prefix=QUORUM_SSL_PREFIX`` the ``zookeeper.ssl.quorum.*`` ones
    of the peers (Java: ``QuorumX509Util``)."""

    key_store_location: str = ""
    key_store_password: Optional[str] = None
    key_store_type: Optional[str] = None
    trust_store_location: str = ""
    trust_store_password: Optional[str] = None
    trust_store_type: Optional[str] = None
    client_auth: ClientAuth = ClientAuth.NEED
    protocol: str = DEFAULT_PROTOCOL
    enabled_protocols: Optional[tuple[str, ...]] = None
    cipher_suites: Optional[tuple[str, ...]] = None
    hostname_verification: bool = True
    crl_enabled: bool = False
    ocsp_enabled: bool = False
    #: ``zookeeper.ssl.authProvider``: the scheme that names client certificates.
    auth_provider: str = "x509"
    #: ``<prefix>handshakeDetectionTimeoutMillis``: how long a port-unified
    #: listener waits for the first bytes (Java: 5000).
    handshake_detection_timeout_ms: int = 5000
    #: The property prefix these came from, for messages.
    prefix: str = CLIENT_SSL_PREFIX

    def setting(self, name: str) -> str:
        """The zoo.cfg name of a setting: ``ssl.keyStore`` or ``ssl.quorum.keyStore``."""
        return self.prefix[len("zookeeper."):] + name

    @classmethod
    def from_properties(cls, props, prefix: str = CLIENT_SSL_PREFIX) -> "X509Settings":
        """Read ``prefix`` + ``keyStore.location`` etc. from SystemProperties."""
        def get(name: str) -> Optional[str]:
            return props.get(prefix + name)

        def get_list(name: str) -> Optional[tuple[str, ...]]:
            value = get(name)
            if value is None:
                return None
            return tuple(part.strip() for part in value.split(",") if part.strip())

        def get_bool(name: str, default: bool) -> bool:
            value = get(name)
            return default if value is None else value.strip().lower() == "true"

        return cls(
            key_store_location=get("keyStore.location") or "",
            key_store_password=_read_password(props, prefix + "keyStore.password",
                                              prefix + "keyStore.passwordPath"),
            key_store_type=get("keyStore.type"),
            trust_store_location=get("trustStore.location") or "",
            trust_store_password=_read_password(props, prefix + "trustStore.password",
                                                prefix + "trustStore.passwordPath"),
            trust_store_type=get("trustStore.type"),
            client_auth=ClientAuth.from_property_value(get("clientAuth"), prefix[len("zookeeper."):] + "clientAuth"),
            protocol=get("protocol") or DEFAULT_PROTOCOL,
            enabled_protocols=get_list("enabledProtocols"),
            cipher_suites=get_list("ciphersuites"),
            hostname_verification=get_bool("hostnameVerification", True),
            crl_enabled=get_bool("crl", False),
            ocsp_enabled=get_bool("ocsp", False),
            auth_provider=props.get("zookeeper.ssl.authProvider", "x509") or "x509",
            handshake_detection_timeout_ms=_read_int(props, prefix + "handshakeDetectionTimeoutMillis", 5000),
            prefix=prefix,
        )

    # -- the context -------------------------------------------------------------------------------

    def _check_key_store(self) -> None:
        kind = self.setting("keyStore")
        _require_pem(kind, _store_type(kind, self.key_store_location, self.key_store_type), self.key_store_location)

    def _load_key_store(self, ctx: ssl.SSLContext) -> None:
        try:
            ctx.load_cert_chain(self.key_store_location, password=self.key_store_password or None)
        except (OSError, ssl.SSLError) as e:
            raise X509Exception(f"Failed to create KeyManager from {self.key_store_location}: "
                                f"{getattr(e, 'strerror', None) or e}") from None

    def _load_trust_store(self, ctx: ssl.SSLContext) -> None:
        self._check_trust_store()
        try:
            ctx.load_verify_locations(cafile=self.trust_store_location)
        except (OSError, ssl.SSLError) as e:
            raise X509Exception(f"Failed to create TrustManager from {self.trust_store_location}: "
                                f"{getattr(e, 'strerror', None) or e}") from None

    def _check_trust_store(self) -> None:
        kind = self.setting("trustStore")
        _require_pem(kind, _store_type(kind, self.trust_store_location, self.trust_store_type),
                     self.trust_store_location)

    def _versions(self) -> tuple[Optional[ssl.TLSVersion], Optional[ssl.TLSVersion]]:
        names = self.enabled_protocols if self.enabled_protocols else (self.protocol,)
        versions = []
        for name in names:
            if name == "TLS":
                continue  # Java's "any TLS": leave OpenSSL's range
            if name not in _PROTOCOLS:
                raise X509Exception(f"{self.setting('protocol')} {name!r} is not supported "
                                    f"(one of {', '.join(_PROTOCOLS)}, TLS)")
            versions.append(_PROTOCOLS[name])
        if not versions:
            return None, None
        return min(versions), max(versions)

    def _set_ciphers(self, ctx: ssl.SSLContext) -> bool:
        """Set the TLS 1.2 suites; True when a TLS 1.3 suite is named."""
        suites = self.cipher_suites or DEFAULT_CIPHER_SUITES
        names = []
        tls13 = False
        for java_name in suites:
            name = java_cipher_to_openssl(java_name)
            if name is None:
                tls13 = True
                continue
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                probe.set_ciphers(name)
            except ssl.SSLError:
                LOG.warning("%s: %s (OpenSSL %s) is not available here; skipped", self.setting("ciphersuites"),
                            java_name, name)
                continue
            names.append(name)
        if names:
            ctx.set_ciphers(":".join(names))
        elif not tls13:
            raise X509Exception(f"{self.setting('ciphersuites')}: none of {', '.join(suites)} is available")
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3  # only TLS 1.3 suites were named
        return tls13

    def create_server_context(self) -> ssl.SSLContext:
        """The context of the secure client port (Java: ``createSSLContextAndOptions``
        plus the server-side SSLParameters). Raises :class:`X509Exception`."""
        if not self.key_store_location:
            what = "sslQuorum" if self.prefix == QUORUM_SSL_PREFIX else "secureClientPort"
            raise X509Exception(f"{what} needs a key store: set {self.setting('keyStore.location')} "
                                f"({self.prefix}keyStore.location) to a PEM file with the key and certificate")
        self._check_key_store()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        low, high = self._versions()
        try:
            if low is not None:
                ctx.minimum_version = low
                ctx.maximum_version = high
        except (ValueError, ssl.SSLError) as e:
            raise X509Exception(f"{self.setting('protocol')} / {self.setting('enabledProtocols')}: {e}") from None
        self._load_key_store(ctx)
        if self.trust_store_location:
            self._load_trust_store(ctx)
        else:
            ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        ctx.verify_mode = self.client_auth.value
        if not self._set_ciphers(ctx):
            # No TLS 1.3 suite named (Java 3.8.0's default list has none): no TLS 1.3.
            if ctx.minimum_version == ssl.TLSVersion.TLSv1_3:
                raise X509Exception(f"{self.setting('protocol')} / {self.setting('enabledProtocols')} allow only "
                                    f"TLSv1.3, but {self.setting('ciphersuites')} "
                                    "names no TLS 1.3 suite (e.g. TLS_AES_128_GCM_SHA256): no handshake could "
                                    "succeed (Java 3.8.0 behaves the same)")
            if ctx.maximum_version in (ssl.TLSVersion.MAXIMUM_SUPPORTED, ssl.TLSVersion.TLSv1_3):
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if self.crl_enabled or self.ocsp_enabled:
            LOG.warning("%s / %s: certificate revocation checks are not implemented by zkpy", self.setting("crl"),
                        self.setting("ocsp"))
        return ctx

    def create_client_context(self) -> ssl.SSLContext:
        """A client's context (Java: ``ClientX509Util`` as ``ClientCnxnSocketNetty``
        uses it): the key store, when set, is the client certificate; the
        trust store (else the system's CAs) checks the server's; the
        server's name is checked unless ``ssl.hostnameVerification=false``.
        Raises :class:`X509Exception`."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        low, high = self._versions()
        try:
            if low is not None:
                ctx.minimum_version = low
                ctx.maximum_version = high
        except (ValueError, ssl.SSLError) as e:
            raise X509Exception(f"{self.setting('protocol')} / {self.setting('enabledProtocols')}: {e}") from None
        if self.key_store_location:
            self._check_key_store()
            self._load_key_store(ctx)
        if self.trust_store_location:
            self._load_trust_store(ctx)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        ctx.check_hostname = self.hostname_verification
        if not self._set_ciphers(ctx) and ctx.maximum_version in (ssl.TLSVersion.MAXIMUM_SUPPORTED,
                                                                 ssl.TLSVersion.TLSv1_3):
            if ctx.minimum_version == ssl.TLSVersion.TLSv1_3:
                raise X509Exception(f"{self.setting('protocol')} / {self.setting('enabledProtocols')} allow only "
                                    f"TLSv1.3, but {self.setting('ciphersuites')} "
                                    "names no TLS 1.3 suite (e.g. TLS_AES_128_GCM_SHA256)")
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # as Java 3.8.0's default suites: no TLS 1.3
        return ctx
