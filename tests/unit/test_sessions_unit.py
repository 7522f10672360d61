"""Session ids, passwords and tick-bucket expiry (SessionTrackerImpl, ExpiryQueue)."""

from __future__ import annotations

import threading
import time

import pytest

from zkpy.server.session_tracker import (
    ExpiryQueue, SessionTracker, initial_session_id, session_password,
)


def test_password_matches_java():
    # ZK_SPEC.md §2.2: the password Java 3.8 sent for this session id.
    assert session_password(0x01000007293A0004).hex() == "e06c2b7e115ff47f67cbab1d1129f1f6"


def test_session_id_layout():
    assert initial_session_id(1, 0x7293A) == 0x01000007293A0000
    sid = initial_session_id(5)
    assert (sid >> 56) == 5 and sid & 0xFFFF == 0
    # A server id with the top bit set gives a negative (signed) long, as Java.
    assert initial_session_id(0x80, 1) < 0


def test_expiry_rounds_up_to_the_tick():
    queue = ExpiryQueue(100)
    when = queue.update("s", 250)
    assert when % 100 == 0
    assert queue.poll() == set()


class Expirer:
    def __init__(self):
        self.expired = []
        self.done = threading.Event()

    def expire(self, session):
        self.expired.append(session.session_id)
        self.done.set()


def test_untouched_session_expires_touched_one_does_not():
    expirer = Expirer()
    tracker = SessionTracker(expirer, {}, 20, 1)
    tracker.start()
    try:
        idle = tracker.create_session(100)
        busy = tracker.create_session(100)
        deadline = time.monotonic() + 0.4
        while time.monotonic() < deadline:
            assert tracker.touch_session(busy, 100)
            time.sleep(0.02)
        assert expirer.done.wait(2)
        assert expirer.expired == [idle]
        # A closing session can no longer be touched back to life.
        assert not tracker.touch_session(idle, 100)
    finally:
        tracker.shutdown()


def test_restored_sessions_are_tracked_again():
    sessions = {0x0100000000000001: 3000}
    tracker = SessionTracker(Expirer(), sessions, 100, 1)
    assert tracker.is_tracking(0x0100000000000001)
    tracker.remove_session(0x0100000000000001)
    assert sessions == {}


def test_extended_types_refuse_a_server_id_above_254():
    # A TTL node's owner keeps one byte for the server id (Java: EphemeralType.validateServerId).
    expirer = Expirer()
    expirer.extended_types_enabled = True
    SessionTracker(expirer, {}, 20, 254)
    with pytest.raises(RuntimeError, match="Server ID is too large. Cannot be larger than 254"):
        SessionTracker(expirer, {}, 20, 255)
    expirer.extended_types_enabled = False
    SessionTracker(expirer, {}, 20, 255)
