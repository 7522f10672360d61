"""Read-only mode (ZK_SPEC.md §7): with ``readonlymode.enabled=true``, a
peer that has been LOOKING for max(2000 ms, tickTime) serves read-only
clients from its own data; every state change is NOTREADONLY; it stops
when the peer is back in a quorum, and the clients move to a read-write
server.

Beyond Java 3.8.0, a read-only server gives a new read-only client a local
session without ``localSessionsEnabled`` (3.8.0 answers with a bare
NOTREADONLY header then); a client that resumes a global session there is
refused, as in Java.
"""

from __future__ import annotations

import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NotReadOnlyCallError
from kazoo.handlers.threading import KazooTimeoutError

from zkpy.client import States, ZooKeeper
from zkpy.defs import OpCode
from zkpy.errors import KeeperException
from zkpy.jute.records import CheckVersionRequest, CreateRequest, OPEN_ACL_UNSAFE, SyncRequest
from zkpy.testing import TestingCluster

from .wire import WireClient
from .zab_util import kazoo, wait_until

RO_FLAGS = ["-Dreadonlymode.enabled=true"]


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    """An ensemble with data, then two of its three peers stopped: peer 3 is alone."""
    with TestingCluster(3, temp_dir=tmp_path_factory.mktemp("ro"), jvm_flags=RO_FLAGS) as cluster:
        cluster.start()
        wait_until(lambda: all(cluster.modes().values()), what="every peer serving", cluster=cluster)
        with kazoo(cluster.connect_string) as client:
            client.create("/ro", b"before the partition")
            client.create("/ro/child", b"c")
        # A global session that outlives the partition (nobody expires it without a leader).
        with WireClient(cluster.peer(3).host, cluster.peer(3).port) as client:
            resp, _ = client.handshake(timeout_ms=4000)
            cluster.global_session = (resp.sessionId, resp.passwd)
        # Timed from before the stops: peer 3 may lose its quorum as soon as
        # the first one goes, and the grace period runs from then.
        lost = time.monotonic()
        cluster.stop(1)
        cluster.stop(2)
        wait_until(lambda: cluster.peer(3).four_letter_word("isro") == "ro", 20, "read-only mode", cluster)
        cluster.read_only_after = time.monotonic() - lost
        yield cluster


def test_a_lone_peer_turns_read_only_after_the_grace_period(partitioned):
    peer = partitioned.peer(3)
    assert partitioned.read_only_after >= 1.9  # max(2000 ms, tickTime)
    srvr = peer.four_letter_word("srvr")
    assert "READ-ONLY mode; serving only read-only clients" in srvr and "Mode: read-only" in srvr
    assert "zk_server_state\tread-only" in peer.four_letter_word("mntr")


def test_kazoo_read_only_client_reads_and_cannot_write(partitioned):
    peer = partitioned.peer(3)
    with kazoo(peer, read_only=True) as client:
        assert client.client_state == "CONNECTED_RO"
        assert client.get("/ro")[0] == b"before the partition"
        assert client.get_children("/ro") == ["child"]
        with pytest.raises(NotReadOnlyCallError):
            client.create("/ro/new", b"")
        with pytest.raises(NotReadOnlyCallError):
            client.set("/ro", b"x")
        with pytest.raises(NotReadOnlyCallError):
            client.delete("/ro/child")


def test_a_read_write_client_is_refused(partitioned):
    client = KazooClient(hosts=partitioned.peer(3).connect_string, timeout=2)
    try:
        with pytest.raises(KazooTimeoutError):
            client.start(timeout=2)
    finally:
        client.stop()
        client.close()


def test_notreadonly_carries_the_last_zxid_and_sync_and_check_are_refused(partitioned):
    peer = partitioned.peer(3)
    with WireClient(peer.host, peer.port) as client:
        resp, payload = client.handshake(read_only=True, timeout_ms=4000)
        assert resp.timeOut == 4000 and payload[-1] == 1  # readOnly=true in the ConnectResponse
        assert resp.sessionId >> 56 == 3  # a local session of peer 3
        zxid = client.ping().zxid
        for op, record in ((OpCode.create, CreateRequest("/w", b"", OPEN_ACL_UNSAFE, 0)),
                           (OpCode.sync, SyncRequest("/")), (OpCode.check, CheckVersionRequest("/ro", 0))):
            header, _, _ = client.call(op, record)
            assert (header.err, header.zxid) == (-119, zxid), op
        header, _, _ = client.get_data("/ro")
        assert header.err == 0


def test_resuming_a_global_session_in_read_only_mode_is_refused(partitioned):
    peer = partitioned.peer(3)
    session_id, passwd = partitioned.global_session
    with WireClient(peer.host, peer.port) as client:
        client.send_frame(client.connect_payload(session_id=session_id, passwd=passwd, read_only=True))
        assert client.expect_closed() == b""  # closed without a ConnectResponse


def test_clients_move_to_a_read_write_server_when_the_quorum_returns(partitioned):
    cluster = partitioned
    zk = ZooKeeper(cluster.connect_string, 4000, can_be_read_only=True)
    kz = KazooClient(hosts=cluster.connect_string, timeout=4, read_only=True)
    kz.start(timeout=20)
    try:
        assert zk.wait_connected(15) and zk.get_state() == States.CONNECTEDREADONLY
        assert zk.get_data("/ro")[0] == b"before the partition"
        with pytest.raises(KeeperException) as raised:
            zk.create("/ro/no", b"")
        assert int(raised.value.code) == -119
        cluster.start(1, 2)
        wait_until(lambda: cluster.peer(3).four_letter_word("isro") == "rw", 30, "peer 3 back in a quorum")
        wait_until(lambda: zk.get_state() == States.CONNECTED, 60, "the zkpy client on a read-write server")
        zk.create("/ro/after", b"zkpy")
        wait_until(lambda: kz.client_state == "CONNECTED", 60, "kazoo on a read-write server")
        kz.create("/ro/after-kazoo", b"kazoo")
        assert sorted(kz.get_children("/ro")) == ["after", "after-kazoo", "child"]
    finally:
        zk.close()
        kz.stop()
        kz.close()


def test_the_zoo_cfg_key_enables_it_too(tmp_path):
    with TestingCluster(3, temp_dir=tmp_path, config={"readonlymode.enabled": "true"}) as cluster:
        cluster.start(1, wait=False)  # alone from the start: never a quorum
        peer = cluster.peer(1)
        wait_until(lambda: peer.four_letter_word("isro") == "ro", 20, "read-only mode", cluster)
        with kazoo(peer, read_only=True) as client:
            assert client.get_children("/") == ["zookeeper"]
