"""kazoo's recipes on a real server: the coordination patterns ZooKeeper exists for.

Locks, leader election, barriers, counters, queues, parties, semaphores and
transactions, each with several kazoo clients (separate sessions) working
at once. They lean on sequential ephemerals, watches, versions and multi,
so a server bug shows up as a broken invariant (two lock holders, a lost
increment, a stuck waiter). Runs against Java 3.8.0 too (``ZKPY_IT_TARGET=java``).
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from kazoo.exceptions import BadVersionError, LockTimeout, NodeExistsError
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock, Semaphore
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue

from .servers import kazoo_session


@pytest.fixture
def clients(zk_server):
    """Three independent kazoo sessions."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(kazoo_session(zk_server)) for _ in range(3)]


def run_all(targets, timeout: float = 30.0) -> None:
    """Run the callables in threads; re-raise the first failure."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a recipe thread is stuck"
    if errors:
        raise errors[0]


class Tracker:
    """Counts how many holders are inside a critical section at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inside = 0
        self.max_inside = 0
        self.entries = 0

    @contextlib.contextmanager
    def section(self):
        with self.lock:
            self.inside += 1
            self.entries += 1
            self.max_inside = max(self.max_inside, self.inside)
        try:
            time.sleep(0.005)
            yield
        finally:
            with self.lock:
                self.inside -= 1


def test_lock_contention(clients):
    """Three clients increment a node's value read-modify-write under the lock: no update is lost."""
    clients[0].create("/lock-counter", b"0")
    tracker = Tracker()
    rounds = 10

    def worker(zk, name):
        lock = Lock(zk, "/locks/counter", name)
        for _ in range(rounds):
            with lock:
                with tracker.section():
                    value = int(zk.get("/lock-counter")[0])
                    zk.set("/lock-counter", str(value + 1).encode())

    run_all([lambda zk=zk, i=i: worker(zk, f"worker-{i}") for i, zk in enumerate(clients)])
    assert int(clients[0].get("/lock-counter")[0]) == 3 * rounds
    assert tracker.max_inside == 1
    assert clients[0].get_children("/locks/counter") == []


def test_lock_contenders_and_release_on_session_end(zk_server, clients):
    holder = Lock(clients[0], "/locks/session", "holder")
    assert holder.acquire(timeout=5)
    waiter = Lock(clients[1], "/locks/session", "waiter")
    with pytest.raises(LockTimeout):
        waiter.acquire(timeout=0.3)
    assert Lock(clients[2], "/locks/session").contenders() == ["holder"]
    clients[0].stop()  # the session ends: its ephemeral lock node goes
    assert waiter.acquire(timeout=10)
    waiter.release()


def test_leader_election(clients):
    leaders = []
    tracker = Tracker()

    def campaign(zk, name):
        def lead():
            with tracker.section():
                leaders.append(name)
                time.sleep(0.05)
        Election(zk, "/election", name).run(lead)

    run_all([lambda zk=zk, i=i: campaign(zk, f"node-{i}") for i, zk in enumerate(clients)])
    assert sorted(leaders) == ["node-0", "node-1", "node-2"]
    assert tracker.max_inside == 1


def test_election_contenders(clients):
    elections = [Election(zk, "/election2", f"c{i}") for i, zk in enumerate(clients)]
    started, release = threading.Event(), threading.Event()

    def lead():
        started.set()
        release.wait(10)

    thread = threading.Thread(target=elections[0].run, args=(lead,), daemon=True)
    thread.start()
    assert started.wait(10)
    assert elections[1].contenders() == ["c0"]
    release.set()
    thread.join(10)


def test_barrier(clients):
    barrier = Barrier(clients[0], "/barrier")
    barrier.create()
    passed = []

    def wait(zk, name):
        assert Barrier(zk, "/barrier").wait(10)
        passed.append(name)

    threads = [threading.Thread(target=wait, args=(zk, i), daemon=True) for i, zk in enumerate(clients[1:])]
    for t in threads:
        t.start()
    time.sleep(0.3)
    assert passed == []
    barrier.remove()
    for t in threads:
        t.join(10)
    assert sorted(passed) == [0, 1]


def test_double_barrier(clients):
    order = []
    lock = threading.Lock()

    def participant(zk, name):
        barrier = DoubleBarrier(zk, "/double-barrier", 3, identifier=name)
        barrier.enter()
        with lock:
            order.append(("in", name))
        time.sleep(0.05)
        with lock:
            order.append(("work", name))
        barrier.leave()
        with lock:
            order.append(("out", name))

    run_all([lambda zk=zk, i=i: participant(zk, f"p{i}") for i, zk in enumerate(clients)])
    kinds = [kind for kind, _ in order]
    # Nobody leaves before everybody has entered and worked.
    assert kinds.index("out") > max(i for i, k in enumerate(kinds) if k in ("in", "work"))


def test_counter(clients):
    rounds = 20

    def increment(zk):
        counter = Counter(zk, "/counter")
        for _ in range(rounds):
            counter += 1

    run_all([lambda zk=zk: increment(zk) for zk in clients])
    assert Counter(clients[0], "/counter").value == 3 * rounds
    floats = Counter(clients[0], "/counter-f", default=0.5)
    floats += 1.25
    assert floats.value == 1.75


def test_queue(clients):
    producer, consumer, _ = clients
    queue = Queue(producer, "/queue")
    for i in range(5):
        queue.put(f"item-{i}".encode())
    queue.put(b"urgent", priority=1)
    consumed = Queue(consumer, "/queue")
    assert len(consumed) == 6
    assert [consumed.get() for _ in range(6)] == [b"urgent"] + [f"item-{i}".encode() for i in range(5)]
    assert consumed.get() is None


def test_locking_queue(clients):
    producer = LockingQueue(clients[0], "/lqueue")
    for i in range(6):
        producer.put(f"job-{i}".encode())
    done = []
    lock = threading.Lock()

    def work(zk):
        queue = LockingQueue(zk, "/lqueue")
        while True:
            item = queue.get(timeout=0.5)
            if item is None:
                return
            with lock:
                done.append(item)
            assert queue.consume()

    run_all([lambda zk=zk: work(zk) for zk in clients[1:]])
    assert sorted(done) == sorted(f"job-{i}".encode() for i in range(6))
    assert len(producer) == 0


def test_locking_queue_item_returns_when_a_worker_dies(zk_server, clients):
    LockingQueue(clients[0], "/lqueue2").put(b"fragile")
    with kazoo_session(zk_server) as doomed:
        assert LockingQueue(doomed, "/lqueue2").get(timeout=5) == b"fragile"
        assert LockingQueue(clients[1], "/lqueue2").get(timeout=0.3) is None  # taken
    # The worker's session ended without consume(): the item is available again.
    queue = LockingQueue(clients[1], "/lqueue2")
    assert queue.get(timeout=10) == b"fragile"
    assert queue.consume()


@pytest.mark.parametrize("party_class", [Party, ShallowParty])
def test_party(zk_server, clients, party_class):
    path = f"/party-{party_class.__name__}"
    parties = [party_class(zk, path, f"member-{i}") for i, zk in enumerate(clients)]
    for party in parties:
        party.join()
    assert len(parties[0]) == 3
    assert sorted(parties[1]) == ["member-0", "member-1", "member-2"]
    parties[1].leave()
    assert sorted(parties[2]) == ["member-0", "member-2"]
    clients[2].stop()  # membership is ephemeral
    assert list(party_class(clients[0], path)) == ["member-0"]


def test_semaphore(clients):
    tracker = Tracker()
    rounds = 5

    def use(zk, name):
        semaphore = Semaphore(zk, "/semaphore", name, max_leases=2)
        for _ in range(rounds):
            with semaphore:
                with tracker.section():
                    time.sleep(0.01)

    run_all([lambda zk=zk, i=i: use(zk, f"s{i}") for i, zk in enumerate(clients)])
    assert tracker.entries == 3 * rounds
    assert tracker.max_inside == 2  # two leases, and with three clients both get used
    holders = Semaphore(clients[0], "/semaphore", max_leases=2)
    assert holders.lease_holders() == []


def test_transaction_request_as_optimistic_concurrency(clients):
    """Two clients move tokens with check+set transactions: exactly one wins each race."""
    a, b, _ = clients
    a.create("/bank")
    a.create("/bank/alice", b"10")
    a.create("/bank/bob", b"0")

    def transfer(zk, amount):
        (alice, alice_stat), (bob, bob_stat) = zk.get("/bank/alice"), zk.get("/bank/bob")
        t = zk.transaction()
        t.check("/bank", 0)
        t.set_data("/bank/alice", str(int(alice) - amount).encode(), version=alice_stat.version)
        t.set_data("/bank/bob", str(int(bob) + amount).encode(), version=bob_stat.version)
        return t.commit()

    first = transfer(a, 3)
    assert [stat.version for stat in first[1:]] == [1, 1]
    # b read before a's next transfer: its versions are stale, nothing of it applies.
    (alice, alice_stat), (bob, bob_stat) = b.get("/bank/alice"), b.get("/bank/bob")
    transfer(a, 2)
    t = b.transaction()
    t.set_data("/bank/alice", str(int(alice) - 5).encode(), version=alice_stat.version)
    t.set_data("/bank/bob", str(int(bob) + 5).encode(), version=bob_stat.version)
    results = t.commit()
    assert isinstance(results[0], BadVersionError)
    assert (a.get("/bank/alice")[0], a.get("/bank/bob")[0]) == (b"5", b"5")
    # A create racing a create: the loser's whole transaction is void.
    t = b.transaction()
    t.create("/bank/carol", b"0")
    t.create("/bank/alice", b"100")
    assert isinstance(t.commit()[1], NodeExistsError)
    assert b.exists("/bank/carol") is None
