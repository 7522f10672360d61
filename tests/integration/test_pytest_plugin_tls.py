"""The pytest plugin's ``tls=True`` (zk_server and zk_cluster markers), run as a user's suite would.

As in test_pytest_plugin.py, pytester writes a small suite and runs it
in-process, so the plugin's own fixtures are used. The suite's tests connect
with kazoo exactly as the README's example does (``use_ssl=True, ca=...,
certfile=..., keyfile=...``) and with zkpy's client (``client_ssl_context()``).
"""

from __future__ import annotations

import textwrap

import pytest

from zkpy.testing_tls import openssl_problem

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")

KAZOO_TLS = textwrap.dedent(
    """
    import ssl
    import pytest
    from kazoo.client import KazooClient

    def kazoo_tls(target, **extra):
        client = KazooClient(hosts=target.secure_connect_string, use_ssl=True, ca=target.ca_file,
                             certfile=target.client_cert_file, keyfile=target.client_key_file,
                             timeout=10.0, **extra)
        client.start(timeout=15.0)
        return client

    def close(client):
        client.stop()
        client.close()
    """
)


def test_zk_server_tls_serves_both_ports_with_its_certificates(pytester):
    pytester.makepyfile(test_tls_server=KAZOO_TLS + textwrap.dedent(
        """
        from kazoo.exceptions import NoAuthError
        from kazoo.security import make_acl
        from zkpy.client import ZooKeeper

        @pytest.mark.zk_server(tls=True)
        def test_secure_and_plain(zk_server, zk_connect_string):
            assert zk_connect_string == zk_server.connect_string  # the plain port, as without tls
            assert zk_server.secure_connect_string != zk_server.connect_string
            client = kazoo_tls(zk_server)
            # The client certificate is an x509 id, usable in ACLs.
            client.create("/tls-only", b"s", acl=[make_acl("x509", "CN=zkpy-test-client,O=zkpy", all=True)])
            assert client.get("/tls-only")[0] == b"s"
            close(client)
            plain = KazooClient(hosts=zk_connect_string, timeout=10.0)
            plain.start(timeout=15.0)
            with pytest.raises(NoAuthError):
                plain.get("/tls-only")
            close(plain)
            with ZooKeeper(zk_server.secure_connect_string, 4000,
                           ssl_context=zk_server.client_ssl_context()) as zk:
                assert zk.wait_connected(10)
                assert zk.get_data("/tls-only")[0] == b"s"

        @pytest.mark.zk_server(tls=True)
        def test_the_certificate_is_the_test_ca_s(zk_server):
            import socket
            raw = socket.create_connection((zk_server.host, zk_server.secure_port), timeout=5.0)
            try:  # the system's CAs do not know the throw-away one
                with pytest.raises(ssl.SSLCertVerificationError):
                    ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
            finally:
                raw.close()
            ctx = ssl.create_default_context(cafile=zk_server.ca_file)
            ctx.load_cert_chain(zk_server.client_cert_file, zk_server.client_key_file)
            with ctx.wrap_socket(socket.create_connection((zk_server.host, zk_server.secure_port)),
                                 server_hostname="localhost") as sock:
                sock.sendall(b"ruok")
                assert sock.recv(4) == b"imok"

        def test_without_the_marker_there_is_no_tls(zk_server):
            assert zk_server.secure_connect_string is None and zk_server.ca_file is None
            assert "secureClientPort" not in open(zk_server.config_path).read()
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_zk_cluster_tls_every_peer_has_a_secure_port(pytester):
    pytester.makepyfile(test_tls_cluster=KAZOO_TLS + textwrap.dedent(
        """
        @pytest.mark.zk_cluster(size=3, tls=True)
        def test_write_through_each_peer(zk_cluster):
            hosts = zk_cluster.secure_connect_string.split(",")
            assert len(hosts) == 3
            for sid, host in zip(zk_cluster.sids, hosts):
                assert host == zk_cluster.peer(sid).secure_connect_string
            client = kazoo_tls(zk_cluster)
            client.create("/written", b"w")
            close(client)
            for host in hosts:  # each peer's secure port serves the ensemble's data
                one = KazooClient(hosts=host, use_ssl=True, ca=zk_cluster.ca_file,
                                  certfile=zk_cluster.client_cert_file, keyfile=zk_cluster.client_key_file)
                one.start(timeout=15.0)
                one.sync("/written")
                assert one.get("/written")[0] == b"w"
                close(one)
        """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
