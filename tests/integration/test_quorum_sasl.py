"""SASL between the peers (``quorum.auth.*``, DIGEST-MD5): election and Zab.

Three-peer zkpy ensembles on loopback, with the JAAS file Java's docs give
(``QuorumServer`` with ``user_test="test"``, ``QuorumLearner`` with
``username="test" password="test"``) passed as
``-Djava.security.auth.login.config``. With SASL required they elect,
replicate and fail over, every election and Zab connection authenticated
(both ends log it); an unauthenticated connection is refused, and a silent
one does not hold up the Listener. A peer with a wrong password stays out
(both sides say why) while the other two serve. With ``enableSasl`` but
nothing required, a peer without SASL joins (a rolling upgrade). SASL and
``sslQuorum`` together work too.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

from zkpy.jute.records import QuorumPacket
from zkpy.quorum.initial_message import build_initial_message
from zkpy.quorum.quorum_packet import FOLLOWERINFO, learner_info
from zkpy.testing import TestingCluster, TestingServerError
from zkpy.testing_tls import openssl_problem

from .security import QUORUM_SASL_REQUIRED, quorum_jaas_flags
from .zab_util import assert_same_data, closed_by_peer, kazoo, log_text, peer_ports, wait_until

SUCCESS_LEARNER = "Successfully completed the authentication using SASL. server addr"
SUCCESS_SERVER = "Successfully completed the authentication using SASL. learner addr"


def count(server, text) -> int:
    return log_text(server).count(text)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qsasl")
    # syncLimit 25 x 200 ms: a silent election connection may take 5 s of a connection thread.
    with TestingCluster(3, temp_dir=tmp / "cluster", sync_limit=25, config=QUORUM_SASL_REQUIRED,
                        jvm_flags=quorum_jaas_flags(tmp)) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        yield cluster


def test_the_peers_authenticate_elect_and_replicate(cluster):
    leader = cluster.wait_for_leader()
    with kazoo(cluster.peer(1)) as client:
        client.create("/sasl", b"quorum")
    assert_same_data(cluster, expect_paths=["/sasl"])
    followers = [sid for sid in cluster.sids if sid != leader]
    for sid in cluster.sids:
        text = log_text(cluster.peer(sid))
        assert "Quorum SASL: DIGEST-MD5, serverRequireSasl=true, learnerRequireSasl=true" in text
        assert "did not authenticate" not in text and "Failed to authenticate" not in text
    # Each follower authenticated to the leader's Zab port (and the leader checked it),
    # and every pair of peers authenticated an election connection, checked by the side
    # that received it: which side that is depends on who started first (a peer with
    # the highest sid may receive none), so the pairs are counted over all peers.
    assert count(cluster.peer(leader), SUCCESS_SERVER) >= len(followers)
    pairs = len(cluster.sids) * (len(cluster.sids) - 1) // 2
    assert sum(count(cluster.peer(sid), SUCCESS_SERVER) for sid in cluster.sids) >= len(followers) + pairs
    for sid in followers:
        assert count(cluster.peer(sid), SUCCESS_LEARNER) >= 1


def test_an_unauthenticated_connection_is_refused_and_a_silent_one_blocks_nothing(cluster):
    leader = cluster.wait_for_leader()
    follower = next(sid for sid in cluster.sids if sid != leader)
    quorum_port, _ = peer_ports(cluster, leader)
    _, election_port = peer_ports(cluster, follower)
    before = count(cluster.peer(follower), "Learner not trying to authenticate")
    silent = socket.create_connection(("127.0.0.1", election_port), timeout=5)
    try:
        # Peer 3's header and a vote, without the SASL exchange: refused at once, though
        # a silent connection is waiting for its first bytes in another connection thread.
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", election_port), timeout=5) as sock:
            sock.sendall(build_initial_message(3, [("127.0.0.1", 1)]) + struct.pack(">i", 4) + b"vote")
            assert closed_by_peer(sock)
        assert time.monotonic() - started < 2.0
        wait_until(lambda: count(cluster.peer(follower), "Learner not trying to authenticate") > before, 10,
                   "the follower to log the refusal")
        # The silent one is dropped after the socket timeout (tickTime x syncLimit = 5 s).
        assert closed_by_peer(silent, 10.0)
    finally:
        silent.close()
    # A learner's FOLLOWERINFO to the leader's Zab port, without SASL: refused.
    with socket.create_connection(("127.0.0.1", quorum_port), timeout=5) as sock:
        sock.sendall(QuorumPacket(FOLLOWERINFO, 0, learner_info(9, 0), None).to_bytes())
        assert closed_by_peer(sock)
    wait_until(lambda: "Server failed to authenticate quorum learner" in log_text(cluster.peer(leader)), 10,
               "the leader to log the refusal")
    # No harm done.
    assert cluster.leader() == leader
    with kazoo(cluster.peer(follower)) as client:
        client.create("/sasl-after-refusals", b"ok")
    assert_same_data(cluster, expect_paths=["/sasl-after-refusals"])


def test_fail_over_with_sasl(cluster):
    old = cluster.wait_for_leader()
    cluster.kill(old)
    new = wait_until(lambda: (lambda sid: sid if sid not in (None, old) else None)(cluster.leader()), 30,
                     "a new leader", cluster)
    survivor = next(sid for sid in cluster.sids if sid not in (old, new))
    with kazoo(cluster.peer(survivor)) as client:
        client.create("/sasl-failover", b"new leader")
    cluster.start(old)
    wait_until(lambda: all(cluster.modes().values()), 30, "the old leader back as a follower", cluster)
    assert_same_data(cluster, expect_paths=["/sasl", "/sasl-failover"])


def test_a_peer_with_a_wrong_password_stays_out(tmp_path):
    # Peer 3 logs in with the wrong password; it has the largest sid, so it would lead.
    with TestingCluster(3, temp_dir=tmp_path / "cluster", config=QUORUM_SASL_REQUIRED,
                        jvm_flags=quorum_jaas_flags(tmp_path),
                        peer_config={3: {"quorum.auth.learner.saslLoginContext": "BadLearner"}}) as cluster:
        cluster.start(1, 2, 3, wait=False)
        for sid in (1, 2):
            cluster.peer(sid).wait_serving()
        wait_until(lambda: "Mismatched response" in log_text(cluster.peer(1)) + log_text(cluster.peer(2)), 20,
                   "peer 1 or 2 to refuse peer 3's password", cluster)
        wait_until(lambda: "Authentication failed against server addr" in log_text(cluster.peer(3)), 20,
                   "peer 3 to log its failure", cluster)
        assert {sid: cluster.mode(sid) for sid in cluster.sids} == {1: "follower", 2: "leader", 3: None}
        with kazoo(cluster.peer(1)) as client:
            client.create("/without-3", b"two of three")
        assert_same_data(cluster, sids=[1, 2], expect_paths=["/without-3"])
        assert cluster.mode(3) is None


def test_enable_sasl_without_require_lets_a_peer_without_sasl_in(tmp_path):
    # A rolling upgrade's first step: peers 2 and 3 have SASL enabled (nothing required), peer 1 not yet.
    with TestingCluster(3, temp_dir=tmp_path / "cluster", config={"quorum.auth.enableSasl": "true"},
                        jvm_flags=quorum_jaas_flags(tmp_path),
                        peer_config={1: {"quorum.auth.enableSasl": "false"}}) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        leader = cluster.wait_for_leader()
        with kazoo(cluster.peer(1)) as client:
            client.create("/upgrade", b"mixed")
        assert_same_data(cluster, expect_paths=["/upgrade"])
        assert "Quorum SASL" not in log_text(cluster.peer(1))
        assert "Skipping SASL authentication as quorum.auth.learnerRequireSasl=false" in log_text(cluster.peer(2))
        # The SASL peers let the unauthenticated ones in, saying so.
        assert "did not authenticate; letting it in as quorum.auth.serverRequireSasl=false" in \
            log_text(cluster.peer(leader))


@pytest.mark.skipif(openssl_problem() is not None, reason=openssl_problem() or "")
def test_sasl_over_tls(tmp_path):
    with TestingCluster(3, temp_dir=tmp_path / "cluster", quorum_tls=True, config=QUORUM_SASL_REQUIRED,
                        jvm_flags=quorum_jaas_flags(tmp_path)) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        with kazoo(cluster.peer(1)) as client:
            client.create("/sasl-tls", b"both")
        assert_same_data(cluster, expect_paths=["/sasl-tls"])
        leader_log = log_text(cluster.peer(leader))
        assert "Accepted TLS connection from" in leader_log
        assert count(cluster.peer(leader), SUCCESS_SERVER) >= 2
        for sid in cluster.sids:
            if sid != leader:  # a follower dialled the leader in TLS, then authenticated
                text = log_text(cluster.peer(sid))
                assert "SSL handshake complete with" in text and SUCCESS_LEARNER in text


def test_sasl_without_the_jaas_sections_stops_the_peer(tmp_path):
    with TestingCluster(3, temp_dir=tmp_path / "cluster", config={"quorum.auth.enableSasl": "true"}) as cluster:
        peer = cluster.peer(1)
        with pytest.raises(TestingServerError):
            peer.start(wait="port")
        wait_until(lambda: peer.returncode is not None, 10, "the peer to exit")
        assert peer.returncode == 1  # Java: ExitCode.UNEXPECTED_ERROR
        assert "JAAS configuration section 'QuorumServer' could not be found" in log_text(peer)
