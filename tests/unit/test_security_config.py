"""The pure parts of client-port security: the JAAS file, certificate subjects
as x509 ids, the ``zookeeper.ssl.*`` settings, the x509/sasl providers and
the enforced-authentication rules (Java 3.8.0's behaviour, see each test)."""

from __future__ import annotations

import ssl
import subprocess

import pytest

from tests.integration.security import TestPKI, openssl_problem
from zkpy.jute.records import ACL, Id
from zkpy.server.auth import AuthProviders, SASLAuthenticationProvider, X509AuthenticationProvider
from zkpy.server.auth_helper import AuthenticationHelper
from zkpy.server.config import ConfigException, SystemProperties
from zkpy.server.sasl.jaas import JaasConfigError, configure_sasl_login, parse_jaas
from zkpy.server.ssl_config import ClientAuth, X509Exception, X509Settings, java_cipher_to_openssl
from zkpy.server.x509_principal import is_valid_name, subject_rfc2253

SASL_CLASS = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
X509_CLASS = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"

# -- JAAS --------------------------------------------------------------------------------------------

JAAS = """
// the usual ZooKeeper server section
Server {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_super="adminsecret"
       user_bob="bob;secret" /* a ';' inside quotes */
       debug=true;
};
# another application
Client { org.apache.zookeeper.server.auth.DigestLoginModule optional username="bob" password="${pw}"; };
"""


def test_parse_jaas_sections_entries_and_options():
    sections = parse_jaas(JAAS, properties=SystemProperties({"pw": "from-property"}))
    assert set(sections) == {"Server", "Client"}
    (server,) = sections["Server"]
    assert server.login_module == "org.apache.zookeeper.server.auth.DigestLoginModule"
    assert server.flag == "required"
    assert dict(server.options) == {"user_super": "adminsecret", "user_bob": "bob;secret", "debug": "true"}
    assert dict(sections["Client"][0].options)["password"] == "from-property"


@pytest.mark.parametrize("text, message", [
    ("Server { m required a=1 };", "found '}'"),
    ("Server { m mandatory; };", "invalid control flag"),
    ("Server { m required; }", "end of the file"),
    ("Server { m required; }; Server { m required; };", "appears twice"),
    ('Server { m required a="${nope}"; };', "unable to expand"),
])
def test_parse_jaas_errors(text, message):
    with pytest.raises(JaasConfigError, match=message):
        parse_jaas(text, properties=SystemProperties())


def test_sasl_login_users_and_super_password(tmp_path):
    path = tmp_path / "jaas.conf"
    path.write_text(JAAS)
    props = SystemProperties({"java.security.auth.login.config": str(path), "pw": "x",
                              "zookeeper.SASLAuthenticationProvider.superPassword": "override"})
    login = configure_sasl_login(props)
    assert login.password_of("bob") == "bob;secret"
    assert login.password_of("super") == "override"
    assert login.password_of("nobody") is None
    assert login.create_sasl_server().mechanism == "DIGEST-MD5"


def test_when_there_is_no_sasl_and_when_the_server_must_not_start(tmp_path):
    """Java's configureSaslLogin: only an unreadable configuration is an error."""
    assert configure_sasl_login(SystemProperties()) is None
    path = tmp_path / "jaas.conf"
    path.write_text(JAAS)
    props = {"java.security.auth.login.config": str(path), "pw": "x"}
    assert configure_sasl_login(SystemProperties({**props, "zookeeper.sasl.serverconfig": "Elsewhere"})) is None
    assert configure_sasl_login(SystemProperties({**props, "zookeeper.sasl.serverconfig": "Client"})).credentials == {}
    missing = {"java.security.auth.login.config": str(tmp_path / "missing.conf")}
    with pytest.raises(JaasConfigError, match=r"No JAAS configuration section named 'Server' was found in '.*'\."):
        configure_sasl_login(SystemProperties(missing))
    path.write_text("Server { broken")
    with pytest.raises(JaasConfigError, match=r"was found in '.*'\. But zookeeper.sasl.serverconfig was set\."):
        configure_sasl_login(SystemProperties({"java.security.auth.login.config": str(path),
                                               "zookeeper.sasl.serverconfig": "Server"}))
    with pytest.raises(JaasConfigError, match="No JAAS configuration section named 'Server'"):
        configure_sasl_login(SystemProperties({"zookeeper.sasl.serverconfig": "Server"}))


def test_kerberos_and_unknown_login_modules_are_refused(tmp_path):
    path = tmp_path / "jaas.conf"
    path.write_text('Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };')
    with pytest.raises(JaasConfigError, match="Kerberos"):
        configure_sasl_login(SystemProperties({"java.security.auth.login.config": str(path)}))
    path.write_text('Server { com.example.MyModule required; };')
    with pytest.raises(JaasConfigError, match="com.example.MyModule"):
        configure_sasl_login(SystemProperties({"java.security.auth.login.config": str(path)}))


# -- certificate subjects ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    problem = openssl_problem()
    if problem:
        pytest.skip(problem)
    return TestPKI(tmp_path_factory.mktemp("pki"))


def _der(cert) -> bytes:
    with open(cert.cert, encoding="ascii") as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


@pytest.mark.parametrize("subject, multivalue, java_name", [
    # The right-hand sides are what Java 17's X500Principal.getName() printed for these certificates.
    ("/C=US/O=zkpy/OU=tests/CN=alice", False, "CN=alice,OU=tests,O=zkpy,C=US"),
    ("/C=DE/O=Acme, Inc./OU=ops+UID=u42/CN= lead#1/emailAddress=ops@example.com", True,
     "1.2.840.113549.1.9.1=#160f6f7073406578616d706c652e636f6d,CN=\\ lead\\#1,OU=ops+UID=u42,O=Acme\\, Inc.,C=DE"),
    ("/O=a=b<c>d;e\"f\\\\g/OU=x@y_z&w!~|*%^`{}[]'?/CN=J\u00f6rg  M\u00fcller  /L=#lead", False,
     "L=\\#lead,CN=J\u00f6rg  M\u00fcller\\ \\ ,OU=x@y_z&w!~|*%^`{}[]'?,O=a\\=b\\<c\\>d\\;e\\\"f\\\\g"),
])
def test_subject_as_java_names_it(pki, tmp_path, subject, multivalue, java_name):
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-utf8", "-subj", subject,
                    *(["-multivalue-rdn"] if multivalue else [])], check=True, capture_output=True)
    assert subject_rfc2253(ssl.PEM_cert_to_DER_cert(cert.read_text())) == java_name
    assert is_valid_name(java_name)


@pytest.mark.parametrize("name, valid", [
    ("CN=alice,OU=tests,O=zkpy,C=US", True), ("", True), ("cn=a;o=b", True), ("CN=a+UID=b", True),
    ("2.5.4.3=alice", True), ("OID.2.5.4.3=alice", True), ("EMAILADDRESS=a@b", True),
    ("alice", False), ("FOO=bar", False), ("CN=a,", False), ('CN="unterminated', False),
])
def test_x509_id_validity(name, valid):
    assert is_valid_name(name) is valid


def test_x509_provider(pki):
    alice = pki.issue("alice", "/O=zkpy/CN=alice")

    class Cnxn:
        client_certificate = _der(alice)
        session_id = 1
        remote = "127.0.0.1:1"

    provider = X509AuthenticationProvider()
    assert provider.handle_auth("127.0.0.1", b"", cnxn=Cnxn()) == [Id("x509", "CN=alice,O=zkpy")]
    assert provider.handle_auth("127.0.0.1", b"", cnxn=None) is None  # not over TLS: AUTHFAILED
    su = X509AuthenticationProvider(super_user="CN=alice,O=zkpy")
    assert su.handle_auth("127.0.0.1", b"", cnxn=Cnxn()) == [Id("super", "CN=alice,O=zkpy"),
                                                             Id("x509", "CN=alice,O=zkpy")]
    assert su.matches("CN=alice,O=zkpy", "CN=bob") and not su.matches("CN=bob", "CN=carol")
    # Java: no trust store configured, no trust manager: nobody is authenticated.
    assert X509AuthenticationProvider(has_trust_store=False).handle_auth("127.0.0.1", b"", cnxn=Cnxn()) is None


def test_sasl_provider():
    provider = SASLAuthenticationProvider()
    assert provider.handle_auth("127.0.0.1", b"bob") is None  # addauth sasl always fails
    assert provider.matches("bob", "bob") and provider.matches("super", "bob")
    assert not provider.matches("alice", "bob")
    assert provider.is_valid("bob") and provider.is_valid("zk/host@REALM") and not provider.is_valid("a@b@c")
    assert SASLAuthenticationProvider("anyone").matches("alice", "anyone")


def test_registry_loads_providers_named_by_authprovider_properties():
    props = SystemProperties({"zookeeper.authProvider.1": SASL_CLASS, "zookeeper.authProvider.x509": X509_CLASS,
                              "zookeeper.authProvider.2": "com.example.Missing",
                              "zookeeper.superUser": "admin", "zookeeper.superUser.2": "root"})
    auth = AuthProviders(properties=props)
    assert sorted(auth.providers) == ["digest", "ip", "sasl", "x509"]
    assert auth.sasl_super_users == {"admin", "root"}
    assert sorted(AuthProviders().providers) == ["digest", "ip"]
    no_digest = AuthProviders(properties=SystemProperties({"zookeeper.DigestAuthenticationProvider.enabled": "false"}))
    assert sorted(no_digest.providers) == ["ip"]
    # An ACL of a scheme without a provider grants nothing; with one it does.
    acl = [ACL(31, Id("sasl", "bob"))]
    assert auth.allows(acl, 1, [Id("sasl", "bob")]) and not AuthProviders().allows(acl, 1, [Id("sasl", "bob")])


# -- enforced authentication ----------------------------------------------------------------------

def test_enforce_auth_settings():
    sasl = AuthProviders(properties=SystemProperties({"zookeeper.authProvider.1": SASL_CLASS}))
    helper = AuthenticationHelper(sasl, SystemProperties({"zookeeper.sessionRequireClientSASLAuth": "true",
                                                          "zookeeper.enforce.auth.schemes": "digest"}))
    assert helper.enforce_auth_enabled and helper.enforce_auth_schemes == ["sasl"] and helper.sasl_auth_required
    helper = AuthenticationHelper(sasl, SystemProperties({"zookeeper.enforce.auth.enabled": "true",
                                                          "zookeeper.enforce.auth.schemes": " digest , sasl"}))
    assert helper.enforce_auth_schemes == ["digest", "sasl"] and helper.sasl_auth_required
    assert not AuthenticationHelper(sasl, SystemProperties()).enforce_auth_enabled
    with pytest.raises(ConfigException, match="must be  configured"):
        AuthenticationHelper(sasl, SystemProperties({"zookeeper.enforce.auth.enabled": "true"}))
    with pytest.raises(ConfigException, match="Authentication scheme sasl is not available"):
        AuthenticationHelper(AuthProviders(), SystemProperties({"zookeeper.sessionRequireClientSASLAuth": "true"}))


# -- TLS settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("java, openssl", [
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    ("TLS_AES_128_GCM_SHA256", None),
    ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
])
def test_java_cipher_names(java, openssl):
    assert java_cipher_to_openssl(java) == openssl


def test_x509_settings_from_properties(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    settings = X509Settings.from_properties(SystemProperties({
        "zookeeper.ssl.keyStore.location": "/k.pem", "zookeeper.ssl.keyStore.password": "ignored",
        "zookeeper.ssl.keyStore.passwordPath": str(secret), "zookeeper.ssl.clientAuth": "want",
        "zookeeper.ssl.enabledProtocols": "TLSv1.3, TLSv1.2", "zookeeper.ssl.authProvider": "x509b"}))
    assert settings.key_store_password == "from-file"
    assert settings.client_auth is ClientAuth.WANT and settings.auth_provider == "x509b"
    assert settings.enabled_protocols == ("TLSv1.3", "TLSv1.2")
    assert X509Settings.from_properties(SystemProperties()).client_auth is ClientAuth.NEED
    with pytest.raises(X509Exception, match="clientAuth"):
        X509Settings.from_properties(SystemProperties({"zookeeper.ssl.clientAuth": "sometimes"}))


def test_server_context(pki):
    server = pki.issue("server", "/CN=localhost")
    ctx = X509Settings(key_store_location=server.keystore, trust_store_location=pki.ca.cert).create_server_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ctx.maximum_version == ssl.TLSVersion.TLSv1_2  # Java 3.8's default
    # Java 3.8.0's default suites: ECDHE with AES-GCM/CBC, no TLS 1.3 suite.
    assert {c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"} == {
        f"ECDHE-{auth}-AES{bits}-{mac}" for auth in ("ECDSA", "RSA")
        for bits, mac in (("128", "GCM-SHA256"), ("256", "GCM-SHA384"), ("128", "SHA256"), ("128", "SHA"),
                          ("256", "SHA384"), ("256", "SHA"))}
    # TLS 1.3 enabled in the protocols, but no TLS 1.3 suite named: still TLS 1.2 at most (as Java 3.8.0).
    ctx = X509Settings(key_store_location=server.keystore, client_auth=ClientAuth.NONE,
                       enabled_protocols=("TLSv1.2", "TLSv1.3"),
                       cipher_suites=("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_NOPE_WITH_NOTHING")
                       ).create_server_context()
    assert ctx.verify_mode == ssl.CERT_NONE and ctx.maximum_version == ssl.TLSVersion.TLSv1_2
    assert [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"] == ["ECDHE-ECDSA-AES128-GCM-SHA256"]
    ctx = X509Settings(key_store_location=server.keystore, enabled_protocols=("TLSv1.2", "TLSv1.3"),
                       cipher_suites=("TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
                       ).create_server_context()
    assert (ctx.minimum_version, ctx.maximum_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    ctx = X509Settings(key_store_location=server.keystore, protocol="TLSv1.3",
                       cipher_suites=("TLS_AES_256_GCM_SHA384",)).create_server_context()
    assert ctx.minimum_version == ctx.maximum_version == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("settings, message", [
    (dict(), "needs a key store"),
    (dict(key_store_location="/nonexistent/server.pem"), "Failed to create KeyManager"),
    (dict(key_store_location="/x/server.jks"), "JKS stores are not supported"),
    (dict(key_store_location="/x/server.p12"), "PKCS12 stores are not supported"),
    (dict(key_store_location="/x/server.key"), "Unable to auto-detect store file type"),
    (dict(key_store_location="/x/server", key_store_type="bogus"), "no such store type"),
    (dict(key_store_location="/x/s.pem", protocol="SSLv3"), "not supported"),
])
def test_server_context_errors(settings, message):
    with pytest.raises(X509Exception, match=message):
        X509Settings(**settings).create_server_context()


# -- zkpy-digest --------------------------------------------------------------------------------------

def test_zkpy_digest_prints_what_java_prints():
    """The lines Java 3.8.0's ``DigestAuthenticationProvider main`` prints for the same arguments."""
    import sys

    result = subprocess.run([sys.executable, "-m", "zkpy.cli.digest", "bob:secret", "a:b:c", "nocolon"],
                            capture_output=True, text=True, check=True)
    assert result.stdout == ("bob:secret->bob:fyVmFCwVbTJYrznoSu1koqYEYF0=\n"
                             "a:b:c->a:cLzgnoJ6mP5qz3w+mwvPE2vDgu0=\n"
                             "nocolon->nocolon:Ra+cHr2ZoHvBjtNArFGNGlVie4g=\n")
    result = subprocess.run([sys.executable, "-m", "zkpy.cli.digest"], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "") and "Usage" in result.stderr


def test_tls13_only_without_tls13_suites_cannot_start(pki):
    server = pki.issue("server13", "/CN=localhost")
    with pytest.raises(X509Exception, match="names no TLS 1.3 suite"):
        X509Settings(key_store_location=server.keystore, protocol="TLSv1.3").create_server_context()
