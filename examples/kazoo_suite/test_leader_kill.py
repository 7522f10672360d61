"""A leader crash in a 3-peer ensemble: clients keep their sessions, their
locks and their data, and writes go on once a new leader is elected."""

import pytest
from kazoo.retry import KazooRetry

pytestmark = pytest.mark.zk_cluster(size=3)


def test_writes_go_on_after_the_leader_is_killed(make_client, zk_cluster):
    client = make_client()
    client.create("/orders/1", b"paid", makepath=True)
    lock = client.Lock("/locks/orders", "me")
    assert lock.acquire(timeout=5)
    session = client.client_id[0]

    old = zk_cluster.leader()
    zk_cluster.kill(old)
    new = zk_cluster.wait_for_leader(timeout=30)
    assert new != old

    # Requests in flight during the election fail with ConnectionLoss: retry them.
    retry = KazooRetry(max_tries=-1, deadline=30, ignore_expire=False)
    retry(client.create, "/orders/2", b"new")
    assert client.get("/orders/1")[0] == b"paid"
    assert client.client_id[0] == session           # the session outlived the leader
    assert lock.contenders() == ["me"]              # and so did the lock


def test_a_lost_follower_does_not_stop_the_ensemble(make_client, zk_cluster):
    client = make_client()
    follower = next(sid for sid in zk_cluster.sids if sid != zk_cluster.leader())
    zk_cluster.pause(follower)                      # hung, not dead: it keeps its sockets
    retry = KazooRetry(max_tries=-1, deadline=30, ignore_expire=False)
    retry(client.create, "/still-writable", b"yes")
    zk_cluster.resume(follower)
    assert retry(client.get, "/still-writable")[0] == b"yes"
