"""The client's configuration: TLS and SASL settings from properties.

Java: ``org.apache.zookeeper.client.ZKClientConfig`` (and ``ZKConfig``,
which reads the file), with the part of ``ZooKeeperSaslClient`` that finds
the JAAS ``Client`` section. A config is made of the JVM system properties
(``-Dname=value`` words; zkCli reads ``$CLIENT_JVMFLAGS`` then
``$JVMFLAGS``, as ``bin/zkCli.sh`` passes them to Java) overridden by a
properties file (zkCli's ``-client-configuration``)::

    zookeeper.client.secure=true
    zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty
    zookeeper.ssl.keyStore.location=/etc/zookeeper/client.pem
    zookeeper.ssl.keyStore.type=PEM
    zookeeper.ssl.trustStore.location=/etc/zookeeper/ca.pem
    zookeeper.ssl.trustStore.type=PEM
    zookeeper.sasl.client=true
    zookeeper.sasl.clientconfig=Client

and, for SASL, ``-Djava.security.auth.login.config=jaas.conf`` with::

    Client {
        org.apache.zookeeper.server.auth.DigestLoginModule required
        username="bob"
        password="bobsecret";
    };

``ZooKeeper(..., client_config=cfg)`` takes :meth:`ZKClientConfig.ssl_context`
and :meth:`ZKClientConfig.sasl_credentials` from it.

What zkpy does differently, on purpose:

* ``zookeeper.clientCnxnSocket`` is accepted and ignored: zkpy's one
  socket does TLS (Java's NIO socket cannot, so Java needs the Netty one).
* Key and trust stores are PEM only (see :mod:`zkpy.server.ssl_config`).
* SASL is DIGEST-MD5 only: a ``Client`` section naming Kerberos'
  ``Krb5LoginModule`` is refused (:class:`ClientConfigError`).
* Java's client that cannot use the JAAS section it was pointed at queues
  an ``AuthFailed`` event and goes on without SASL; zkpy's raises
  :class:`ClientConfigError` when the JAAS file cannot be read, or has no
  section although ``zookeeper.sasl.clientconfig`` names one. A file
  without the default ``Client`` section means no SASL, as in Java.
* ``java.security.auth.login.config`` may also be set in the properties
  file (Java reads it only as a system property).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from typing import Optional

from ..server.config import SystemProperties, load_properties
from ..server.ssl_config import X509Exception, X509Settings
from .zookeeper_sasl_client import SaslCredentials

LOG = logging.getLogger(__name__)

__all__ = ["ZKClientConfig", "ClientConfigError", "CLIENT_JVMFLAGS_VARIABLES"]

#: Where zkCli's ``-D`` words come from, in the order ``bin/zkCli.sh`` passes them (a later one wins).
CLIENT_JVMFLAGS_VARIABLES = ("CLIENT_JVMFLAGS", "JVMFLAGS")


class ClientConfigError(ValueError):
    """The configuration cannot be used (Java: ``ConfigException`` / ``LoginException``)."""


class ZKClientConfig:
    """Client properties: system properties overridden by a file (see the module docstring)."""

    SECURE_CLIENT = "zookeeper.client.secure"
    ZOOKEEPER_CLIENT_CNXN_SOCKET = "zookeeper.clientCnxnSocket"
    ENABLE_CLIENT_SASL_KEY = "zookeeper.sasl.client"
    LOGIN_CONTEXT_NAME_KEY = "zookeeper.sasl.clientconfig"
    LOGIN_CONTEXT_NAME_KEY_DEFAULT = "Client"
    ZK_SASL_CLIENT_USERNAME = "zookeeper.sasl.client.username"
    ZK_SASL_CLIENT_USERNAME_DEFAULT = "zookeeper"
    JAAS_CONF_KEY = "java.security.auth.login.config"
    DISABLE_AUTO_WATCH_RESET = "zookeeper.disableAutoWatchReset"

    def __init__(self, config_path: Optional[str | os.PathLike] = None,
                 system_properties: Optional[Mapping[str, str] | SystemProperties] = None):
        if isinstance(system_properties, SystemProperties):
            system_properties = system_properties.as_dict()
        self._props: dict[str, str] = dict(system_properties or {})
        self.config_path = None if config_path is None else os.fspath(config_path)
        if self.config_path is not None:
            self.add_configuration(self.config_path)

    @classmethod
    def from_environ(cls, config_path: Optional[str | os.PathLike] = None,
                     environ: Optional[Mapping[str, str]] = None) -> "ZKClientConfig":
        """The system properties of ``$CLIENT_JVMFLAGS`` and ``$JVMFLAGS``,
        then ``config_path`` (zkCli's way)."""
        env = os.environ if environ is None else environ
        props: dict[str, str] = {}
        for var in CLIENT_JVMFLAGS_VARIABLES:
            if env.get(var):
                props.update(SystemProperties.parse_jvm_flags(env[var]))
        return cls(config_path, props)

    def add_configuration(self, path: str) -> None:
        """Java's ``ZKConfig.addConfiguration``: keys and values trimmed."""
        if not os.path.exists(path):
            raise ClientConfigError(f"Error while processing {path}: {path} file is missing")
        try:
            loaded = load_properties(path)
        except (OSError, ValueError) as e:
            raise ClientConfigError(f"Error while processing {path}: {e}") from None
        for key, value in loaded.items():
            self._props[key.strip()] = value.strip()

    # -- properties -------------------------------------------------------------------------------------

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self._props.get(name, default)

    def set(self, name: str, value: str) -> None:
        self._props[name] = str(value)

    def get_bool(self, name: str, default: bool = False) -> bool:
        """Java's ``ZKConfig.getBoolean``: "true" (any case, trimmed) is true."""
        value = self._props.get(name)
        return default if value is None else value.strip().lower() == "true"

    def as_dict(self) -> dict[str, str]:
        return dict(self._props)

    # -- TLS ---------------------------------------------------------------------------------------------

    def is_secure(self) -> bool:
        """``zookeeper.client.secure``: connect with TLS."""
        return self.get_bool(self.SECURE_CLIENT)

    def ssl_context(self) -> Optional[ssl.SSLContext]:
        """The TLS context of ``zookeeper.ssl.*`` when the client is secure, else None."""
        if not self.is_secure():
            return None
        try:
            return X509Settings.from_properties(self._props).create_client_context()
        except X509Exception as e:
            raise ClientConfigError(str(e)) from None

    # -- SASL --------------------------------------------------------------------------------------------

    def is_sasl_client_enabled(self) -> bool:
        """``zookeeper.sasl.client`` (default true, as Java)."""
        return self.get_bool(self.ENABLE_CLIENT_SASL_KEY, True)

    def sasl_credentials(self) -> Optional[SaslCredentials]:
        """The DIGEST-MD5 user of the JAAS login section (``Client``, or
        ``zookeeper.sasl.clientconfig``), or None for no SASL."""
        from ..server.sasl.jaas import DIGEST_LOGIN_MODULE, JaasConfigError, load_jaas

        if not self.is_sasl_client_enabled():
            return None
        jaas_file = self.get(self.JAAS_CONF_KEY)
        explicit_section = self.get(self.LOGIN_CONTEXT_NAME_KEY)
        section = explicit_section or self.LOGIN_CONTEXT_NAME_KEY_DEFAULT
        if jaas_file is None:
            if explicit_section is not None:
                raise ClientConfigError(f"Client cannot SASL-authenticate because the specified JAAS configuration "
                                        f"section '{explicit_section}' could not be found.")
            return None
        try:
            entries = load_jaas(jaas_file, self._props).get(section)
        except JaasConfigError as e:
            raise ClientConfigError(f"Zookeeper client cannot authenticate using the '{section}' section of the "
                                    f"supplied JAAS configuration: '{jaas_file}': {e}") from None
        if entries is None:
            if explicit_section is not None:
                raise ClientConfigError(f"No JAAS configuration section named '{section}' was found in specified "
                                        f"JAAS configuration file: '{jaas_file}'.")
            LOG.info("Will not attempt to authenticate using SASL (no section '%s' in %s)", section, jaas_file)
            return None
        for entry in entries:
            if entry.login_module != DIGEST_LOGIN_MODULE:
                raise ClientConfigError(f"JAAS section '{section}' uses {entry.login_module}: zkpy's client has "
                                        f"DIGEST-MD5 only ({DIGEST_LOGIN_MODULE})")
            username, password = entry.options.get("username"), entry.options.get("password")
            if username is not None and password is not None:
                protocol = self.get(self.ZK_SASL_CLIENT_USERNAME, self.ZK_SASL_CLIENT_USERNAME_DEFAULT)
                return SaslCredentials(username, password, protocol=protocol or self.ZK_SASL_CLIENT_USERNAME_DEFAULT)
        raise ClientConfigError(f"JAAS section '{section}' of {jaas_file} has no username and password")

    def __repr__(self) -> str:
        return f"<ZKClientConfig file={self.config_path!r} secure={self.is_secure()}>"
