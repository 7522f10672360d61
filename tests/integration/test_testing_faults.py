"""zkpy.testing's fault helpers against real server processes: pause/resume
(SIGSTOP/SIGCONT), expire_session (a second connection to the session, then
closeSession), and TestingCluster's partition/heal through its proxies.
"""

from __future__ import annotations

import signal
import threading
import time

import psutil
import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import ConnectionLoss, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError

from zkpy.testing import TestingCluster, TestingServer, TestingServerError, expire_session, wait_until


def kazoo(connect_string, **kwargs):
    client = KazooClient(hosts=connect_string, timeout=kwargs.pop("timeout", 10.0), **kwargs)
    client.start(timeout=15.0)
    return client


def close(*clients):
    for client in clients:
        try:
            client.stop()
        finally:
            client.close()


def wait_for_new_leader(cluster, old, timeout=20.0):
    return wait_until(lambda: next((sid for sid, mode in cluster.modes().items()
                                    if mode == "leader" and sid != old), None),
                      timeout, f"a leader other than {old}: {cluster.modes()}")


# -- standalone -------------------------------------------------------------------------------


@pytest.fixture
def server():
    with TestingServer(force_sync=False) as s:
        yield s


def test_a_paused_server_stops_answering_and_comes_back(server):
    client = kazoo(server.connect_string, timeout=4.0)
    try:
        client.create("/p", b"before")
        pid = server.pid
        server.pause()
        assert server.is_paused and server.pid == pid
        assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
        with pytest.raises(OSError):           # the kernel takes the connection; nobody answers
            server.four_letter_word("ruok", timeout=0.5)
        request = client.get_async("/p")
        time.sleep(0.5)
        assert not request.ready()             # kazoo's request hangs with the server
        server.resume()
        assert not server.is_paused
        assert server.four_letter_word("ruok") == "imok"
        assert request.get(timeout=10)[0] == b"before"
        assert client.set("/p", b"after").version == 1  # the session survived a short pause
    finally:
        close(client)


def test_stop_and_kill_work_on_a_paused_server(server):
    server.pause()
    started = time.monotonic()
    server.stop()                               # SIGTERM is delivered: the server resumes to die
    assert time.monotonic() - started < server.stop_timeout
    assert server.returncode == 0 and not server.is_paused
    server.start()
    server.pause()
    server.kill()
    assert server.returncode == -9 and not server.is_running
    with pytest.raises(TestingServerError):
        server.pause()


@pytest.mark.parametrize("attempt", range(2))
def test_a_sigterm_sent_while_paused_ends_the_server_once_resumed(server, attempt):
    # The kernel hands the pending SIGTERM to whichever thread wakes first;
    # the server must still shut down cleanly, and soon.
    server.pause()
    server._proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    server.resume()
    assert server._proc.wait(timeout=3) == 0


def test_expire_session_deletes_its_ephemerals_and_the_client_sees_it_lost(server):
    victim = kazoo(server.connect_string)
    observer = kazoo(server.connect_string)
    try:
        states = []
        lost = threading.Event()

        def listener(state):
            states.append(state)
            if state == KazooState.LOST:
                lost.set()

        victim.add_listener(listener)
        victim.create("/eph", b"mine", ephemeral=True)
        deleted = threading.Event()
        observer.exists("/eph", watch=lambda event: deleted.set())
        session_id, password = victim.client_id

        assert server.expire_session(victim) is True
        # closeSession's reply came after the txn: the node is already gone.
        assert observer.exists("/eph") is None
        assert deleted.wait(5)
        assert lost.wait(15), f"kazoo never saw its session expire: {states}"
        # The same credentials now name an expired session.
        assert expire_session(server.host, server.port, session_id, password) is False
        # kazoo starts a new session on its own and works again.
        wait_until(lambda: victim.state == KazooState.CONNECTED, 15, "kazoo to reconnect")
        assert victim.client_id[0] != session_id
        assert victim.exists("/eph") is None
    finally:
        close(victim, observer)


def test_expire_session_credentials_forms(server):
    client = kazoo(server.connect_string)
    try:
        session_id, password = client.client_id
        assert server.expire_session((session_id, password)) is True
        with pytest.raises(TypeError):
            server.expire_session(object())
    finally:
        close(client)
    with pytest.raises(OSError):
        expire_session("127.0.0.1", 1, 0x1234, bytes(16), timeout=2)


# -- ensembles: pause, partition ----------------------------------------------------------------------------


def test_a_paused_leader_is_replaced_and_rejoins_as_a_follower():
    with TestingCluster(3) as cluster:
        cluster.start()
        old = cluster.wait_for_leader()
        cluster.pause(old)
        assert cluster.mode(old) is None        # srvr times out: it answers nobody
        new = wait_for_new_leader(cluster, old)
        assert cluster.has_faults()
        cluster.resume(old)
        wait_until(lambda: cluster.mode(old) == "follower", 20, "the old leader to follow")
        assert cluster.leader() == new and not cluster.has_faults()


def test_partition_isolates_the_leader_and_heal_brings_it_back():
    with TestingCluster(3, partitionable=True) as cluster:
        cluster.start()
        old = cluster.wait_for_leader()
        rest = [sid for sid in cluster.sids if sid != old]
        cluster.partition([old])
        assert cluster.partitioned == [{old}, set(rest)]
        assert cluster.network.state(old, rest[0]) == "blackhole"
        assert cluster.network.state(rest[0], rest[1]) == "open"
        new = wait_for_new_leader(cluster, old)   # the majority side elects
        assert new in rest
        # Alone, the old leader loses its quorum and stops leading; all processes live on.
        wait_until(lambda: cluster.mode(old) is None, 20, "the isolated leader to step down")
        assert all(cluster.peer(sid).is_running for sid in cluster.sids)
        cluster.heal()
        assert cluster.partitioned is None
        wait_until(lambda: cluster.mode(old) == "follower", 20, "the old leader to rejoin")
        assert cluster.leader() == new

        # "refuse": connections are reset, so the cut is noticed at once.
        follower = next(sid for sid in cluster.sids if sid != new)
        cluster.partition([new], [follower], mode="refuse")   # the third peer forms its own group
        assert cluster.partitioned[2] == set(cluster.sids) - {new, follower}
        wait_until(lambda: cluster.leader() is None or cluster.mode(follower) is None, 20,
                   "the cut to be noticed")
        cluster.reset_faults()
        assert not cluster.has_faults() and cluster.leader() is not None


def test_partition_needs_proxies_and_valid_groups():
    with TestingCluster(3) as plain:
        with pytest.raises(TestingServerError, match="partitionable"):
            plain.partition([1])
        plain.heal()                              # nothing to heal: a no-op
    with TestingCluster(3, partitionable=True) as cluster:
        with pytest.raises(ValueError, match="no such peers"):
            cluster.partition([1], [4])
        with pytest.raises(ValueError, match="more than one group"):
            cluster.partition([1, 2], [2, 3])
        # Peer 1 dials peer 2 through its own proxy, not at peer 2's own ports.
        own = cluster.peer(2).build_config()["server.2"]
        seen_by_1 = cluster.peer(1).build_config()["server.2"]
        seen_by_3 = cluster.peer(3).build_config()["server.2"]
        assert len({own, seen_by_1, seen_by_3}) == 3
        assert all(line.startswith("127.0.0.1:") for line in (own, seen_by_1, seen_by_3))


# -- ensembles serving clients -------------------------------------------------------------------------------


def test_the_leader_moves_after_kill_and_clients_carry_on():
    with TestingCluster(3) as cluster:
        cluster.start()
        client = kazoo(cluster.connect_string)
        try:
            client.create("/before", b"1")
            old = cluster.wait_for_leader()
            cluster.kill(old)
            new = wait_for_new_leader(cluster, old)
            assert new != old

            def write():
                try:
                    return client.create("/after", b"2")
                except (ConnectionLoss, SessionExpiredError):
                    return None
            wait_until(write, 30, "a write after the leader's death")
            assert client.get("/before")[0] == b"1"
        finally:
            close(client)


def test_expire_session_on_an_ensemble_removes_ephemerals_everywhere():
    with TestingCluster(3) as cluster:
        cluster.start()
        first, last = cluster.peer(1).connect_string, cluster.peer(3).connect_string
        victim, observer = kazoo(first), kazoo(last)
        try:
            victim.create("/eph", ephemeral=True)
            wait_until(lambda: observer.exists("/eph") is not None, 10, "the ephemeral on peer 3")
            assert cluster.expire_session(victim) is True
            observer.sync("/")
            assert observer.exists("/eph") is None
        finally:
            close(victim, observer)


def test_a_partitioned_minority_cannot_write():
    with TestingCluster(3, partitionable=True) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        lonely = next(sid for sid in cluster.sids if sid != leader)
        majority_client = kazoo(cluster.peer(leader).connect_string)
        try:
            cluster.partition([lonely])
            wait_until(lambda: cluster.mode(lonely) is None, 20, "the lonely follower to look")
            cut_off = KazooClient(hosts=cluster.peer(lonely).connect_string, timeout=4.0)
            try:
                with pytest.raises(KazooTimeoutError):   # no session without a quorum
                    cut_off.start(timeout=3.0)
            finally:
                close(cut_off)
            majority_client.create("/majority", b"ok")
            cluster.heal()
            wait_until(lambda: cluster.mode(lonely) == "follower", 20, "the follower to rejoin")
            lonely_client = kazoo(cluster.peer(lonely).connect_string)
            try:
                lonely_client.sync("/")
                assert lonely_client.get("/majority")[0] == b"ok"
            finally:
                close(lonely_client)
        finally:
            close(majority_client)
