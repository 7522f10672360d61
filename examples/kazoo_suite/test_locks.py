"""Locks: mutual exclusion between clients, and a lock that dies with its
holder's session. Runs on the standalone server and, unchanged, on a
3-peer ensemble (the ``ensemble`` parameter)."""

import threading

import pytest

from example_app import run_once

ON_BOTH = pytest.mark.parametrize("topology", [
    "standalone",
    pytest.param("ensemble", marks=pytest.mark.zk_cluster(size=3)),
])


@ON_BOTH
def test_a_lock_is_exclusive(make_client, topology):
    alice, bob = make_client(), make_client()
    alice_lock = alice.Lock("/locks/report", "alice")
    bob_lock = bob.Lock("/locks/report", "bob")
    assert alice_lock.acquire(timeout=5)
    assert not bob_lock.acquire(blocking=False)
    assert alice_lock.contenders() == ["alice"]
    alice_lock.release()
    assert bob_lock.acquire(timeout=5)
    bob_lock.release()


@ON_BOTH
def test_a_job_runs_once_however_many_workers_race(make_client, topology):
    workers = [make_client() for _ in range(3)]
    runs = []
    threads = [threading.Thread(target=lambda c=c, i=i: run_once(c, "nightly", lambda: runs.append(i), f"w{i}"))
               for i, c in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(runs) == 1


@ON_BOTH
def test_a_lock_is_freed_when_its_holder_session_expires(make_client, zk_target, topology):
    holder, waiter = make_client(), make_client()
    assert holder.Lock("/locks/leased", "holder").acquire(timeout=5)
    got_it = threading.Event()
    waiting = threading.Thread(target=lambda: waiter.Lock("/locks/leased", "waiter").acquire(timeout=30)
                               and got_it.set())
    waiting.start()
    assert not got_it.wait(0.5)                 # still held
    assert zk_target.expire_session(holder)     # the holder's process "froze" past its session
    assert got_it.wait(15)
    waiting.join(5)
