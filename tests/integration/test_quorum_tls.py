"""TLS between the peers (``sslQuorum=true``): election and Zab connections.

Three-peer zkpy ensembles on loopback whose peers each have a certificate
from one throw-away CA (``TestingCluster(quorum_tls=True)``): they elect,
replicate and fail over over TLS; a peer whose certificate another CA
signed stays out (both sides log why); plain text to the election or Zab
port is refused without harm, and so is a TLS client without a
certificate (mutual TLS). With ``portUnification`` a plain peer and TLS
peers form one ensemble (a rolling upgrade). What proves the traffic is
TLS: a TLS probe gets the peers' certificate over TLSv1.2 on those ports,
a plain one is closed, and the peers log every handshake with its version.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import time

import pytest

from zkpy.jute.records import QuorumPacket
from zkpy.quorum.initial_message import build_initial_message
from zkpy.quorum.quorum_packet import FOLLOWERINFO, learner_info
from zkpy.testing import TestingCluster, TestingServerError
from zkpy.testing_tls import client_ssl_context, openssl_problem

from .zab_util import assert_same_data, closed_by_peer, kazoo, log_text, peer_ports, wait_until

pytestmark = pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")

#: Short, so that a silent connection is dropped quickly (Java's default is 5000).
DETECTION_MS = 500


def wait_logged(server, text, timeout=15.0):
    return wait_until(lambda: text in log_text(server), timeout, f"{text!r} in {server.log_path}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with TestingCluster(3, quorum_tls=True, temp_dir=tmp_path_factory.mktemp("qtls"),
                        config={"ssl.quorum.handshakeDetectionTimeoutMillis": DETECTION_MS}) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        yield cluster


def test_the_peers_elect_and_replicate_over_tls(cluster):
    leader = cluster.wait_for_leader()
    with kazoo(cluster.peer(1)) as client:
        client.create("/tls", b"x" * 300_000)  # bigger than a TLS record, and than a socket buffer
        client.create("/tls/child", b"c")
    tree = assert_same_data(cluster, expect_paths=["/tls", "/tls/child"])
    assert tree["/tls"][0] == b"x" * 300_000
    for sid in cluster.sids:
        text = log_text(cluster.peer(sid))
        assert "Using TLS encrypted quorum communication" in text
        assert "Creating TLS-only quorum server socket" in text
    # Every election connection and every learner's connection to the leader is a TLS handshake.
    leader_log = log_text(cluster.peer(leader))
    followers = [sid for sid in cluster.sids if sid != leader]
    assert leader_log.count("Accepted TLS connection from") >= len(followers)
    for sid in followers:
        assert "SSL handshake complete with 127.0.0.1:" in log_text(cluster.peer(sid))
    assert "- TLSv1.2 -" in leader_log


def test_the_quorum_ports_speak_tls_and_want_a_peer_certificate(cluster):
    pki = cluster.quorum_pki
    probe = pki.issue("probe", "/O=zkpy/CN=probe")
    leader = cluster.wait_for_leader()
    for port in peer_ports(cluster, leader):
        # A certificate from the peers' CA: the handshake succeeds, TLS 1.2 (Java 3.8's default).
        ctx = client_ssl_context(pki.ca.cert, probe.cert, probe.key)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() == "TLSv1.2"
                subject = dict(rdn[0] for rdn in tls.getpeercert()["subject"])
                assert subject["commonName"] == f"peer{leader}"
        # No client certificate: refused (ssl.quorum.clientAuth defaults to need).
        ctx = client_ssl_context(pki.ca.cert)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"\0" * 8)  # TLS 1.3 would report the refusal only on use
                    tls.recv(1)
    wait_logged(cluster.peer(leader), "TLS handshake with 127.0.0.1:")
    assert cluster.leader() == leader


def test_plain_text_to_the_quorum_ports_is_refused_without_harm(cluster):
    leader = cluster.wait_for_leader()
    follower = next(sid for sid in cluster.sids if sid != leader)
    quorum_port, _ = peer_ports(cluster, leader)
    _, election_port = peer_ports(cluster, follower)
    before = log_text(cluster.peer(follower)).count("Blocked insecure connection attempt")
    # A well-formed election header from "peer 9", in plain text.
    with socket.create_connection(("127.0.0.1", election_port), timeout=5) as sock:
        sock.sendall(build_initial_message(9, [("127.0.0.1", 1)]) + struct.pack(">i", 4) + b"vote")
        assert closed_by_peer(sock)
    wait_until(lambda: log_text(cluster.peer(follower)).count("Blocked insecure connection attempt") > before,
               10, "the follower to log the plain connection")
    # A learner's first packet to the leader's Zab port, in plain text.
    with socket.create_connection(("127.0.0.1", quorum_port), timeout=5) as sock:
        sock.sendall(QuorumPacket(FOLLOWERINFO, 0, learner_info(9, 0), None).to_bytes())
        assert closed_by_peer(sock)
    wait_logged(cluster.peer(leader), "Blocked insecure connection attempt")
    # A connection that says nothing is dropped after the detection timeout, and
    # does not hold up the Listener meanwhile.
    with socket.create_connection(("127.0.0.1", election_port), timeout=5) as sock:
        started = time.monotonic()
        assert closed_by_peer(sock, 5.0)
        assert time.monotonic() - started < DETECTION_MS / 1000.0 + 2.0
    assert "Socket mode detection timed out after 500 ms" in log_text(cluster.peer(follower))
    # No harm done: same leader, writes still replicate to everyone.
    assert cluster.leader() == leader
    with kazoo(cluster.peer(follower)) as client:
        client.create("/after-plain", b"ok")
    assert_same_data(cluster, expect_paths=["/after-plain"])


def test_the_ensemble_fails_over_and_the_old_leader_rejoins_over_tls(cluster):
    old = cluster.wait_for_leader()
    with kazoo(cluster.connect_string) as client:
        client.ensure_path("/failover")
        client.create("/failover/before", b"1")
    cluster.kill(old)
    rest = [sid for sid in cluster.sids if sid != old]
    new = wait_until(lambda: cluster.leader() if cluster.leader() in rest else None, 30,
                     "a new leader among the others", cluster)
    wait_until(lambda: all(cluster.mode(sid) for sid in rest), 30, "the others serving", cluster)
    with kazoo(cluster.peer(new)) as client:
        client.create("/failover/after", b"2")
    cluster.start(old)
    assert cluster.mode(old) == "follower"
    assert_same_data(cluster, expect_paths=["/failover/before", "/failover/after"])


def test_a_peer_with_a_certificate_from_another_ca_cannot_join(tmp_path):
    with TestingCluster(3, quorum_tls=True, temp_dir=tmp_path) as cluster:
        # Peer 3 trusts the right CA, but its own certificate comes from one nobody trusts.
        rogue = cluster.quorum_pki.issue("rogue", "/O=zkpy/CN=peer3", untrusted=True)
        shutil.copyfile(rogue.keystore, cluster.quorum_keystore(3))
        cluster.start(1, 2)
        cluster.start(3, wait=False)
        peer3 = cluster.peer(3)
        # Peer 3 dials 1 and 2 (it has the larger sid): they reject its certificate.
        wait_logged(peer3, "alert unknown ca")
        for sid in (1, 2):
            wait_logged(cluster.peer(sid), "certificate verify failed")
        time.sleep(1.0)  # several election rounds (tickTime 200 ms)
        assert cluster.mode(3) is None, "peer 3 must not serve"
        assert peer3.is_running
        # The two others still form the quorum and serve writes.
        leader = cluster.wait_for_leader()
        assert leader in (1, 2)
        with kazoo(cluster.peer(1)) as client:
            client.create("/without-3", b"ok")
        assert_same_data(cluster, sids=[1, 2], expect_paths=["/without-3"])
        # A restarted peer 1 looks for a leader and dials peer 3 too: it rejects the
        # certificate peer 3 serves, and joins 2 again.
        cluster.stop(1)
        cluster.start(1)
        assert any("Cannot open channel to 3" in line and "certificate verify failed" in line
                   for line in log_text(cluster.peer(1)).splitlines())
        assert cluster.mode(3) is None
        assert_same_data(cluster, sids=[1, 2], expect_paths=["/without-3"])


def test_port_unification_lets_plain_and_tls_peers_form_one_ensemble(tmp_path):
    # A rolling upgrade half done: 1 and 2 dial in TLS, 3 still in plain text; all accept both.
    with TestingCluster(3, quorum_tls=[1, 2], temp_dir=tmp_path, config={"portUnification": "true"}) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        with kazoo(cluster.peer(3)) as client:
            client.create("/mixed", b"m")
        assert_same_data(cluster, expect_paths=["/mixed"])
        logs = {sid: log_text(cluster.peer(sid)) for sid in cluster.sids}
        assert all("Creating TLS-enabled quorum server socket" in text for text in logs.values())
        # 3 dials in plain text (to 1 and 2, the larger sid dials), 1 and 2 in TLS.
        assert "Accepted plaintext connection from" in logs[1] + logs[2]
        assert "SSL handshake complete with" not in logs[3]
        assert "SSL handshake complete with" in logs[1] + logs[2]
        assert "Accepted TLS connection from" in logs[1] + logs[2] + logs[3]


def test_ssl_quorum_without_a_key_store_stops_the_peer_at_startup(tmp_path):
    with TestingCluster(1, temp_dir=tmp_path, config={"sslQuorum": "true"}) as cluster:
        with pytest.raises(TestingServerError):
            cluster.start(1)
        assert cluster.peer(1).returncode == 1
        assert "sslQuorum needs a key store: set ssl.quorum.keyStore.location" in log_text(cluster.peer(1))
