"""``TestingServer(tls=True)``: a secure port with throw-away certificates (zkpy.testing_tls).

The plugin's markers are tested through pytester in test_pytest_plugin_tls.py;
here the class itself: both ports, the secure port alone (the helpers then
speak TLS: readiness checks, four-letter words, expire_session), and the
certificate set.
"""

from __future__ import annotations

import ssl
import threading

import pytest

from zkpy.client import CreateMode, KeeperState, ZooKeeper
from zkpy.testing import TestingServer
from zkpy.testing_tls import make_tls_files, openssl_problem

pytestmark = pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")


def test_secure_port_only(tmp_path):
    with TestingServer(tls=True, plain_port=False, temp_dir=tmp_path / "server", force_sync=False) as server:
        cfg = server.build_config()
        assert "clientPort" not in cfg and cfg["secureClientPort"] == str(server.secure_port)
        assert server.connect_string == server.secure_connect_string
        # start() waited for the server through TLS; the four-letter words go that way too.
        assert server.four_letter_word("ruok") == "imok"
        expired = threading.Event()

        def watcher(event):
            if event.state == KeeperState.Expired:
                expired.set()

        zk = ZooKeeper(server.connect_string, 4000, watcher, ssl_context=server.client_ssl_context())
        try:
            zk.create("/e", b"", mode=CreateMode.EPHEMERAL)
            ids = sorted((i.authScheme, i.user) for i in zk.whoami())
            assert ids == [("ip", "127.0.0.1"), ("x509", server.tls_files.client_principal)]
            assert server.expire_session(zk) is True
            assert expired.wait(10)
        finally:
            zk.close()


def test_plain_port_off_needs_tls():
    with pytest.raises(ValueError, match="needs tls=True"):
        TestingServer(plain_port=False)


def test_certificate_set(tmp_path):
    files = make_tls_files(tmp_path / "tls", client_cert=False)
    assert files.client_cert_file is None and files.client_principal is None
    ctx = ssl.create_default_context(cafile=files.ca_file)
    ctx.load_cert_chain(files.server_keystore)  # key and certificate in one file
    assert len(ctx.get_ca_certs()) == 1
    with_client = make_tls_files(tmp_path / "tls2", client_subject="/O=acme/OU=ops/CN=svc")
    assert with_client.client_principal == "CN=svc,OU=ops,O=acme"
    with open(with_client.client_keystore) as f:
        text = f.read()
    assert "PRIVATE KEY" in text and "CERTIFICATE" in text
