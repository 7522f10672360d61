"""Quorum SASL (``quorum.auth.*``, DIGEST-MD5) between zkpy and Java 3.8.0 peers.

One zkpy peer and two Java peers, SASL required on both ports, all with one
JAAS file (``-Djava.security.auth.login.config``). The zkpy peer leads
first: the Java followers authenticate to it (election and Zab) and sync;
then it is killed, a Java peer leads, and the zkpy peer rejoins as its
follower, authenticating to the Java leader. Each side logs each exchange.
A zkpy peer with a wrong password is kept out by the Java peers.
"""

from __future__ import annotations

import pytest

from ..integration.security import QUORUM_SASL_REQUIRED, quorum_jaas_flags
from ..integration.zab_util import assert_same_data, kazoo, wait_until
from .java_zk import JavaZooKeeperServer
from .mixed import Ensemble, LogMark, log

pytestmark = pytest.mark.interop

_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]

#: Both implementations log these words (SaslQuorumAuthServer / SaslQuorumAuthLearner).
SERVER_OK = "Successfully completed the authentication using SASL. learner addr"
LEARNER_OK = "Successfully completed the authentication using SASL. server addr"


def test_a_zkpy_peer_leads_and_follows_java_peers_with_sasl(tmp_path):
    ensemble = Ensemble(tmp_path, java_sids={1, 2}, jvm_flags=quorum_jaas_flags(tmp_path), **QUORUM_SASL_REQUIRED)
    zkpy = ensemble.peer(3)
    try:
        ensemble.start(3)  # the highest sid: the zkpy peer leads
        ensemble.start(1, 2)
        ensemble.wait_all_serving()
        assert ensemble.leader() == 3
        with kazoo(ensemble.peer(1)) as client:  # forwarded by a Java follower to the zkpy leader
            client.create("/sasl-interop", b"from java")
        assert_same_data(ensemble, expect_paths=["/sasl-interop"])
        # Both Java followers logged in to zkpy's Zab port (and election ports); zkpy checked them.
        assert log(zkpy).count(SERVER_OK) >= 2
        for sid in (1, 2):
            assert LEARNER_OK in log(ensemble.peer(sid))
        assert "Failed to authenticate" not in log(zkpy)

        # The zkpy leader dies: a Java peer leads, and zkpy comes back as its follower.
        zkpy.kill()
        wait_until(lambda: ensemble.leader() in (1, 2), 60, "a Java leader", ensemble)
        with kazoo(ensemble.peer(1)) as client:
            client.create("/sasl-interop/java-led", b"2")
        mark = LogMark(zkpy)
        leader_mark = {sid: LogMark(ensemble.peer(sid)) for sid in (1, 2)}
        zkpy.start()
        wait_until(lambda: ensemble.mode(3) == "follower", 60, "zkpy following the Java leader", ensemble)
        leader = ensemble.leader()
        assert LEARNER_OK in mark.new()  # zkpy logged in to the Java leader ...
        assert SERVER_OK in leader_mark[leader].new()  # ... which checked it
        with kazoo(zkpy) as client:
            client.create("/sasl-interop/via-zkpy", b"3")
        assert_same_data(ensemble, expect_paths=["/sasl-interop/java-led", "/sasl-interop/via-zkpy"])
    finally:
        ensemble.close()


def test_java_peers_keep_out_a_zkpy_peer_with_a_wrong_password(tmp_path):
    ensemble = Ensemble(tmp_path, java_sids={1, 2}, jvm_flags=quorum_jaas_flags(tmp_path), **QUORUM_SASL_REQUIRED)
    zkpy = ensemble.peer(3)
    # Only the zkpy peer logs in from the section with the wrong password.
    zkpy._extra_config["quorum.auth.learner.saslLoginContext"] = "BadLearner"
    try:
        ensemble.start(1, 2)
        ensemble.wait_all_serving([1, 2])
        ensemble.start(3)
        wait_until(lambda: "Authentication failed against server addr" in log(zkpy), 30,
                   "zkpy to be refused", ensemble)
        wait_until(lambda: any("Failed to authenticate using SASL" in log(ensemble.peer(sid)) for sid in (1, 2)),
                   30, "a Java peer to log the refusal", ensemble)
        assert ensemble.mode(3) is None
        with kazoo(ensemble.peer(1)) as client:
            client.create("/without-zkpy", b"")
        assert ensemble.mode(3) is None
    finally:
        ensemble.close()
