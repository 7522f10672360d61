"""Local sessions in an ensemble (``localSessionsEnabled``, Java 3.8's
``LocalSessionTracker`` / ``UpgradeableSessionTracker``): a new session
lives on its server only, with no txn; it may write; creating an ephemeral
node upgrades it to a global session (``localSessionsUpgradingEnabled``),
or is refused with EPHEMERALONLOCALSESSION when upgrading is off."""

from __future__ import annotations

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import EphemeralOnLocalSessionError

from zkpy.testing import TestingCluster

from .zab_util import kazoo, log_text, wait_until


def mntr(server, key):
    for line in server.four_letter_word("mntr").splitlines():
        if line.startswith(f"zk_{key}\t"):
            return int(line.split("\t")[1])
    raise AssertionError(f"no zk_{key} in mntr")


def started(cluster):
    cluster.start()
    wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    config = {"localSessionsEnabled": "true", "localSessionsUpgradingEnabled": "true"}
    with TestingCluster(3, temp_dir=tmp_path_factory.mktemp("local"), config=config) as c:
        yield started(c)


def test_a_local_session_is_known_to_its_server_only_and_upgrades_on_an_ephemeral(cluster):
    leader = cluster.peer(cluster.leader())
    follower_sid = next(sid for sid in cluster.voters if sid != cluster.leader())
    follower = cluster.peer(follower_sid)
    globals_before = mntr(leader, "global_sessions")
    client = KazooClient(hosts=follower.connect_string, timeout=10)
    client.start(timeout=20)
    try:
        session_id = client.client_id[0]
        assert session_id >> 56 == follower_sid  # allocated by the follower
        assert mntr(follower, "local_sessions") == 1
        assert mntr(leader, "global_sessions") == globals_before  # no createSession txn
        client.create("/persistent", b"p")  # a local session may write
        assert mntr(leader, "global_sessions") == globals_before
        client.create("/ephemeral", b"e", ephemeral=True)
        # Upgraded: a global session now, on every server.
        assert mntr(follower, "local_sessions") == 0
        assert mntr(leader, "global_sessions") == globals_before + 1
        assert f"Upgrading session 0x{session_id:x}" in log_text(follower)
        with kazoo(leader) as reader:
            reader.sync("/")
            assert reader.get("/ephemeral")[1].ephemeralOwner == session_id
    finally:
        client.stop()
        client.close()
    with kazoo(leader) as reader:
        wait_until(lambda: (reader.sync("/"), reader.exists("/ephemeral"))[1] is None, 10, "the ephemeral gone")
        assert reader.exists("/persistent") is not None
    assert mntr(leader, "global_sessions") == globals_before


def test_a_local_session_on_the_leader_upgrades_too(cluster):
    leader = cluster.peer(cluster.leader())
    before = mntr(leader, "local_sessions")
    with kazoo(leader) as client:
        assert mntr(leader, "local_sessions") == before + 1
        client.create("/leader-eph", b"", ephemeral=True)
        assert mntr(leader, "local_sessions") == before
        assert client.get("/leader-eph")[1].ephemeralOwner == client.client_id[0]


def test_an_idle_local_session_expires_on_its_server(cluster):
    follower = cluster.peer(next(sid for sid in cluster.voters if sid != cluster.leader()))
    from .wire import WireClient

    before = mntr(follower, "local_sessions")
    with WireClient(follower.host, follower.port) as client:
        resp, _ = client.handshake(timeout_ms=400)
        assert resp.timeOut == 400
        assert mntr(follower, "local_sessions") == before + 1
        wait_until(lambda: mntr(follower, "local_sessions") == before, 10, "the local session expired")
        client.expect_closed()
    assert f"Expiring session 0x{resp.sessionId:x}" in log_text(follower)


def test_without_upgrading_an_ephemeral_is_refused(tmp_path):
    with started(TestingCluster(3, temp_dir=tmp_path, config={"localSessionsEnabled": "true"})) as cluster:
        follower = cluster.peer(next(sid for sid in cluster.voters if sid != cluster.leader()))
        with kazoo(follower) as client:
            client.create("/plain", b"")
            with pytest.raises(EphemeralOnLocalSessionError):
                client.create("/eph", b"", ephemeral=True)
            assert client.exists("/eph") is None
            assert mntr(follower, "local_sessions") == 1
