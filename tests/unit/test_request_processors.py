"""The standalone chain's threaded processors, on their own threads with stand-ins around them.

- RequestThrottler (Java: RequestThrottler + ``globalOutstandingLimit``):
  at most ``limit`` requests are past it and not yet finished; the rest wait
  in its queue, in order, and the connection factory is told to stop
  reading while more than ``limit`` are outstanding; with room and nothing
  waiting, a request goes on from the caller's thread (not on learners,
  whose forwards are written on the thread).
- CommitProcessor: on the leader the thread that counted a quorum runs the
  commit (and the requests queued behind it) when the processor is idle,
  else the processor's thread does; on learners its thread always does.
- reply batches: a processor thread's batch of several connections is
  written by their selector thread, a batch of one by the thread itself.
- SyncRequestProcessor: group commit (one ``commit()`` for everything queued,
  nothing passed on before it), reads keep their place behind pending
  writes, and a snapshot runs on its own thread without holding up writes.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

from zkpy.defs import OpCode
from zkpy.quorum.commit_processor import CommitProcessor
from zkpy.server.cnxn_factory import reply_batch
from zkpy.server.processors.base import RequestProcessor
from zkpy.server.processors.sync import SyncRequestProcessor
from zkpy.server.processors.throttler import RequestThrottler
from zkpy.server.request import Request
from zkpy.server.zookeeper_server import State, ZooKeeperServer
from zkpy.testing import wait_until


class Recorder:
    """The next processor: remembers what reached it, and when."""

    def __init__(self, on_request=None):
        self.requests: list[Request] = []
        self.on_request = on_request
        self.lock = threading.Lock()

    def process_request(self, request: Request) -> None:
        if self.on_request is not None:
            self.on_request(request)
        with self.lock:
            self.requests.append(request)

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


def read(cxid: int) -> Request:
    return Request(None, 0x100, cxid, OpCode.getData, b"")


def write(cxid: int) -> Request:
    request = Request(None, 0x100, cxid, OpCode.create, b"")
    request.hdr = object()  # Prep made it a txn
    return request


# -- RequestThrottler -------------------------------------------------------------------------


def throttled_server(limit: int, recorder: Optional[Recorder] = None):
    zks = ZooKeeperServer(None, global_outstanding_limit=limit)
    zks.state = State.RUNNING
    recorder = recorder or Recorder()
    throttler = RequestThrottler(zks, recorder)
    zks.first_processor = throttler
    throttler.start()
    return zks, throttler, recorder


def settle(recorder: Recorder, expected: int) -> None:
    """Wait for ``expected`` requests to have passed, then make sure no more do."""
    wait_until(lambda: recorder.count() >= expected, timeout=5, what=f"{expected} requests passed")
    time.sleep(0.2)
    assert recorder.count() == expected


def test_throttler_holds_requests_beyond_the_limit():
    zks, throttler, recorder = throttled_server(limit=3)
    try:
        requests = [read(i) for i in range(10)]
        for request in requests:
            zks.submit_request(request)
        settle(recorder, 3)
        assert zks.should_throttle()  # 10 outstanding > 3: the factory stops reading

        zks.request_finished(recorder.requests[0])
        settle(recorder, 4)
        for request in list(recorder.requests[1:4]):
            zks.request_finished(request)
        settle(recorder, 7)
        for passed in (8, 9, 10):
            zks.request_finished(recorder.requests[passed - 4])
            settle(recorder, passed)
        assert [r.cxid for r in recorder.requests] == list(range(10))  # arrival order kept
        for request in recorder.requests[7:]:
            zks.request_finished(request)
        assert not zks.should_throttle() and zks.outstanding_requests() == 0
    finally:
        zks.state = State.SHUTDOWN
        throttler.shutdown()


def test_no_limit_passes_everything_at_once():
    zks, throttler, recorder = throttled_server(limit=0)
    try:
        for i in range(50):
            zks.submit_request(read(i))
        settle(recorder, 50)
        assert not zks.should_throttle()
    finally:
        zks.state = State.SHUTDOWN
        throttler.shutdown()


class PlainRecorder(Recorder):
    """A next processor with nothing to flush, as the leader's and the
    standalone chains' (a learner's buffers its forwards until flush)."""

    flush = RequestProcessor.flush


def test_with_room_a_request_goes_on_from_the_callers_thread_and_waiting_ones_keep_their_place():
    zks, throttler, recorder = throttled_server(limit=2, recorder=PlainRecorder())
    passed_on = []
    recorder.on_request = lambda request: passed_on.append((request.cxid, threading.current_thread().name))
    me = threading.current_thread().name
    try:
        zks.submit_request(read(0))
        zks.submit_request(read(1))
        assert passed_on == [(0, me), (1, me)]  # at once, on this thread
        zks.submit_request(read(2))  # the pipeline is full: the throttler's thread waits with it
        zks.submit_request(read(3))
        settle(recorder, 2)
        zks.request_finished(recorder.requests[0])
        settle(recorder, 3)
        zks.request_finished(recorder.requests[1])
        settle(recorder, 4)
        assert [(cxid, thread == me) for cxid, thread in passed_on] == [(0, True), (1, True), (2, False), (3, False)]
        for request in recorder.requests[2:]:
            zks.request_finished(request)
        zks.submit_request(read(4))  # room again, nothing held: at once
        assert passed_on[-1] == (4, me)
    finally:
        zks.state = State.SHUTDOWN
        throttler.shutdown()


def test_a_request_does_not_overtake_one_the_throttlers_thread_is_still_passing_on():
    zks, throttler, recorder = throttled_server(limit=2, recorder=PlainRecorder())
    in_hand_off, go_on = threading.Event(), threading.Event()

    def on_request(request):
        if request.cxid == 2:  # the thread passes this one on, slowly
            in_hand_off.set()
            assert go_on.wait(5)

    recorder.on_request = on_request
    try:
        zks.submit_request(read(0))
        zks.submit_request(read(1))
        zks.submit_request(read(2))  # full: held by the thread
        zks.request_finished(recorder.requests[0])  # room: the thread takes 2 on ...
        assert in_hand_off.wait(5)
        zks.request_finished(recorder.requests[1])  # ... and there is room for one more
        zks.submit_request(read(3))  # 2 is not passed on yet: 3 queues behind it
        time.sleep(0.2)
        assert [r.cxid for r in recorder.requests] == [0, 1]
        go_on.set()
        settle(recorder, 4)
        assert [r.cxid for r in recorder.requests] == [0, 1, 2, 3]
    finally:
        go_on.set()
        zks.state = State.SHUTDOWN
        throttler.shutdown()


def test_on_a_learner_every_request_takes_the_throttlers_thread():
    # Its next processor writes the forwards to the leader on flush: a
    # blocking write that must not happen on the selector thread.
    zks, throttler, recorder = throttled_server(limit=0)
    threads = []
    recorder.on_request = lambda request: threads.append(threading.current_thread().name)
    try:
        zks.submit_request(read(0))
        settle(recorder, 1)
        assert threads == [throttler.name]
    finally:
        zks.state = State.SHUTDOWN
        throttler.shutdown()


# -- SyncRequestProcessor ---------------------------------------------------------------------


class FakeDb:
    """Records appends and commits; a snapshot blocks until ``release`` is set."""

    def __init__(self):
        self.appended: list[Request] = []
        self.commits = 0
        self.rolls = 0
        self.snapshots = 0
        self.snapshot_started = threading.Event()
        self.release = threading.Event()

    def append(self, request: Request) -> None:
        self.appended.append(request)

    def commit(self) -> None:
        self.commits += 1

    def roll_log(self) -> None:
        self.rolls += 1

    def take_snapshot(self) -> None:
        self.snapshots += 1
        self.snapshot_started.set()
        assert self.release.wait(10), "snapshot never released"


class FakeServer:
    server_id = 1

    def __init__(self, db: FakeDb):
        self.zk_db = db
        self.failed = None

    def take_snapshot(self) -> None:
        self.zk_db.take_snapshot()

    def on_critical_failure(self, name: str) -> None:
        self.failed = name


def test_sync_commits_a_queued_batch_once_before_passing_it_on():
    db = FakeDb()
    commits_seen = []
    recorder = Recorder(on_request=lambda r: commits_seen.append(db.commits))
    sync = SyncRequestProcessor(FakeServer(db), recorder, snap_count=100000)
    # Queued before the thread starts: one batch.
    batch = [write(1), write(2), read(3), write(4), read(5)]
    for request in batch:
        sync.process_request(request)
    sync.start()
    try:
        settle(recorder, 5)
        assert db.commits == 1
        assert db.appended == [batch[0], batch[1], batch[3]]  # only txns are logged
        assert commits_seen == [1] * 5  # nothing answered before the fsync, reads stay in order
        assert recorder.requests == batch

        # A read with no write pending goes straight on, no commit.
        sync.process_request(read(6))
        settle(recorder, 6)
        assert db.commits == 1
    finally:
        db.release.set()
        sync.shutdown()


def test_sync_max_batch_size_bounds_a_group_commit():
    db = FakeDb()
    recorder = Recorder()
    sync = SyncRequestProcessor(FakeServer(db), recorder, snap_count=100000, max_batch_size=10)
    for i in range(25):
        sync.process_request(write(i))
    sync.start()
    try:
        settle(recorder, 25)
        assert db.commits == 3  # 10 + 10 + 5
    finally:
        sync.shutdown()


def test_snapshot_runs_beside_the_writes():
    db = FakeDb()
    recorder = Recorder()
    server = FakeServer(db)
    sync = SyncRequestProcessor(server, recorder, snap_count=4)
    sync.start()
    try:
        # snapCount 4: a roll and a snapshot after at most 4 txns.
        for i in range(4):
            sync.process_request(write(i))
        assert db.snapshot_started.wait(5), "no snapshot after snapCount txns"
        # The snapshot is stuck; writes still go through, one commit each.
        for i in range(4, 40):
            sync.process_request(write(i))
            wait_until(lambda n=i + 1: recorder.count() == n, timeout=5, what=f"write {i} passed")
        assert db.snapshots == 1  # later triggers found it running ("Too busy to snap")
        assert db.rolls >= 2  # ... but each still rolled the log
        assert server.failed is None
    finally:
        db.release.set()
        sync.shutdown()
    assert recorder.count() == 40


# -- CommitProcessor: who runs the commits ----------------------------------------------------


class CommitServer:
    """The ZooKeeperServer a CommitProcessor sees."""

    server_id = 1

    def __init__(self):
        self.failed = None
        self.counted_in = 0

    def count_request_in(self) -> None:
        self.counted_in += 1

    def on_critical_failure(self, name: str) -> None:
        self.failed = name


def commit_processor(inline: bool):
    recorder = Recorder()
    recorder.threads = []
    recorder.on_request = lambda request: recorder.threads.append(threading.current_thread().name)
    cp = CommitProcessor(CommitServer(), recorder, match_syncs=False, inline_commits=inline)
    cp.start()
    return cp, recorder


def test_on_the_leader_the_committing_thread_runs_the_commit_and_what_queued_behind_it():
    cp, recorder = commit_processor(inline=True)
    me = threading.current_thread().name
    try:
        w1, r2, w3 = write(1), read(2), write(3)
        for request in (w1, r2, w3):
            cp.process_request(request)
        # The read woke the processor's thread; it queues the three and is idle again.
        wait_until(lambda: not cp._items and not cp._lock.locked(), timeout=5, what="the processor idle")
        assert recorder.count() == 0  # the read waits behind the write of its session
        cp.commit_all([w1])
        cp.run_commits()
        assert recorder.requests == [w1, r2] and recorder.threads == [me, me]
        cp.commit_all([w3])
        cp.run_commits()
        assert recorder.requests == [w1, r2, w3]
        # A read with nothing ahead of it goes on at once, on the processor's thread.
        r4 = read(4)
        cp.process_request(r4)
        settle(recorder, 4)
        assert recorder.threads[-1] == cp.name
    finally:
        cp.shutdown()
    assert not cp._thread.is_alive()


def test_a_commit_made_while_the_processor_runs_is_left_to_its_thread():
    cp, recorder = commit_processor(inline=True)
    try:
        w1 = write(1)
        cp.process_request(w1)
        cp.commit_all([w1])
        with cp._lock:  # the processor's thread is busy
            cp.run_commits()
            assert recorder.count() == 0
        settle(recorder, 1)
        assert recorder.threads == [cp.name]
    finally:
        cp.shutdown()


def test_an_inline_commit_runs_what_was_queued_when_it_began_and_leaves_the_rest_to_the_thread(monkeypatch):
    from zkpy.quorum import commit_processor as module

    monkeypatch.setattr(module, "_INLINE_EXTRA", 0)  # of what arrives meanwhile, none (1,000 in use)
    cp, recorder = commit_processor(inline=True)
    me = threading.current_thread().name
    w1, w2 = write(1), Request(None, 0x200, 1, OpCode.create, b"")
    w2.hdr = object()
    # While w1 is applied here, another LearnerHandler commits w2: under
    # a steady load this would go on for ever on the caller's thread.
    recorder.on_request = lambda request: (recorder.threads.append(threading.current_thread().name),
                                           request is w1 and cp.commit_all([w2]))
    try:
        cp.process_request(w1)
        cp.process_request(w2)
        cp.commit_all([w1])
        cp.run_commits()
        settle(recorder, 2)
        assert recorder.requests == [w1, w2] and recorder.threads == [me, cp.name]
    finally:
        cp.shutdown()


def test_a_failure_in_an_inline_commit_is_the_servers_not_the_callers():
    cp, recorder = commit_processor(inline=True)
    recorder.on_request = lambda request: 1 / 0
    try:
        w1 = write(1)
        cp.process_request(w1)
        cp.commit_all([w1])
        cp.run_commits()  # does not raise into the learner handler that counted the ack
        assert cp.zks.failed == cp.name
    finally:
        cp.shutdown()


def test_on_a_learner_every_commit_goes_to_the_processors_thread():
    cp, recorder = commit_processor(inline=False)
    try:
        w1, r2 = write(1), read(2)
        cp.process_request(w1)
        cp.process_request(r2)
        cp.commit(write(1), remote=True)  # the leader's COMMIT of our forwarded write
        settle(recorder, 2)
        assert recorder.requests == [w1, r2] and recorder.threads == [cp.name, cp.name]
        assert cp.zks.counted_in == 0  # our client's request, counted in when it came
        cp.commit(write(7), remote=True)  # another server's write
        settle(recorder, 3)
        assert cp.zks.counted_in == 1
    finally:
        cp.shutdown()


# -- reply batches: who writes ----------------------------------------------------------------


class FakeFactory:
    def __init__(self):
        self.flushes: list[list] = []

    def request_flush(self, cnxns: list) -> None:
        self.flushes.append(list(cnxns))


class FakeCnxn:
    def __init__(self, factory):
        self.factory = factory
        self.flushed_by: list[str] = []

    def flush_batched(self) -> None:
        self.flushed_by.append(threading.current_thread().name)


def test_a_processor_threads_batch_of_several_connections_is_written_by_their_selector():
    from zkpy.server import cnxn_factory

    factory = FakeFactory()
    a, b, c = FakeCnxn(factory), FakeCnxn(factory), FakeCnxn(factory)
    with reply_batch():
        cnxn_factory._current_batch().extend([a, b])
    assert factory.flushes == [[a, b]] and not a.flushed_by  # one wake-up for both
    with reply_batch():
        cnxn_factory._current_batch().append(c)
    assert c.flushed_by == [threading.current_thread().name]  # one send: no hand-off
    assert factory.flushes == [[a, b]]
