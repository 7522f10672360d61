"""Quorum TLS (``sslQuorum=true``) between zkpy and Java 3.8.0 peers.

One zkpy peer and two Java peers, all with the same PEM files
(``ssl.quorum.keyStore.type=PEM``: key and certificate in one file; the
CA as trust store), which both read. The zkpy peer leads first (Java
followers sync from it over TLS), then it is killed, a Java peer leads,
and the zkpy peer rejoins as its follower over TLS. Election and Zab
connections in both directions are TLS, as each side's log shows.
"""

from __future__ import annotations

import pytest

from zkpy.testing_tls import TestPKI, openssl_problem

from ..integration.zab_util import assert_same_data, kazoo, wait_until
from .java_zk import JavaZooKeeperServer
from .mixed import Ensemble, LogMark, log

pytestmark = pytest.mark.interop

_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]
elif openssl_problem() is not None:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=openssl_problem())]


def test_a_zkpy_peer_leads_and_follows_java_peers_over_tls(tmp_path):
    pki = TestPKI(tmp_path / "pki")
    peer_cert = pki.issue("peer", "/O=zkpy/CN=localhost")
    conf = {
        "sslQuorum": "true",
        "ssl.quorum.keyStore.location": peer_cert.keystore, "ssl.quorum.keyStore.type": "PEM",
        "ssl.quorum.trustStore.location": pki.ca.cert, "ssl.quorum.trustStore.type": "PEM",
    }
    ensemble = Ensemble(tmp_path, java_sids={1, 2}, **conf)
    zkpy = ensemble.peer(3)
    try:
        ensemble.start(3)  # the highest sid: the zkpy peer leads
        ensemble.start(1, 2)
        ensemble.wait_all_serving()
        assert ensemble.leader() == 3
        with kazoo(ensemble.peer(1)) as client:  # forwarded by a Java follower to the zkpy leader
            client.create("/tls-interop", b"from java")
        assert_same_data(ensemble, expect_paths=["/tls-interop"])
        for sid in (1, 2):
            text = log(ensemble.peer(sid))
            assert "Using TLS encrypted quorum communication" in text
            assert "SSL handshake complete with" in text  # Java dialled (election) in TLS
        # The Java followers' Zab connections, and their election connections, are TLS at zkpy's end.
        assert log(zkpy).count("Accepted TLS connection from") >= 2

        # The zkpy leader dies: a Java peer leads, and zkpy comes back as its follower.
        zkpy.kill()
        wait_until(lambda: ensemble.leader() in (1, 2), 60, "a Java leader", ensemble)
        with kazoo(ensemble.peer(1)) as client:
            client.create("/tls-interop/java-led", b"2")
        mark = LogMark(zkpy)
        zkpy.start()
        wait_until(lambda: ensemble.mode(3) == "follower", 60, "zkpy following the Java leader", ensemble)
        leader = ensemble.leader()
        leader_quorum_port = ensemble.peer(3).build_config()[f"server.{leader}"].split(":")[1]
        assert f"SSL handshake complete with 127.0.0.1:{leader_quorum_port} - TLSv1.2" in mark.new()
        with kazoo(zkpy) as client:
            client.create("/tls-interop/via-zkpy", b"3")
        assert_same_data(ensemble, expect_paths=["/tls-interop/java-led", "/tls-interop/via-zkpy"])
        assert "Accepted TLS connection from" in log(ensemble.peer(leader))
    finally:
        ensemble.close()
