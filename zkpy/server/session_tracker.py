"""Session bookkeeping and expiry.

Java: ``SessionTrackerImpl`` and ``ExpiryQueue``, plus ``SessionTrackerImpl
.initializeNextSessionId`` and the password generator of
``ZooKeeperServer.generatePasswd`` (ZK_SPEC.md §2.2, §2.12, §2.13).
Expiry is bucketed by tickTime: a session touched at ``now`` with timeout T
expires at the first multiple of tickTime after now + T. The tracker takes
the server id (1 standalone, myid in an ensemble) and calls back
``expirer.expire(session)`` from its own thread; the expirer submits the
closeSession txn.
"""

from __future__ import annotations

import logging
import threading
import time

from ..errors import Code, KeeperException

LOG = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1
_LONG_MIN = -(1 << 63)
#: Java's ZooKeeperServer.superSecret.
SUPER_SECRET = 0xB3415C00


def _signed64(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value >= (1 << 63) else value


def now_ms() -> int:
    """Java's Time.currentElapsedTime(): a monotonic millisecond clock."""
    return time.monotonic_ns() // 1_000_000


def initial_session_id(server_id: int, elapsed_ms: int | None = None) -> int:
    """The first session id: server id in the top byte, clock bits below."""
    ms = now_ms() if elapsed_ms is None else elapsed_ms
    sid = ((ms << 24) & _MASK64) >> 8
    sid = _signed64(sid | (server_id << 56))
    if sid == _LONG_MIN:
        sid += 1
    return sid


class JavaRandom:
    """java.util.Random's 48-bit LCG, enough for ``nextBytes``."""

    _MULT = 0x5DEECE66D
    _MASK48 = (1 << 48) - 1

    def __init__(self, seed: int):
        self._seed = (seed ^ self._MULT) & self._MASK48

    def _next32(self) -> int:
        self._seed = (self._seed * self._MULT + 0xB) & self._MASK48
        return self._seed >> 16

    def next_bytes(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            r = self._next32()
            for _ in range(min(4, n - len(out))):
                out.append(r & 0xFF)
                r >>= 8
        return bytes(out)


def session_password(session_id: int) -> bytes:
    """The 16-byte password Java derives from a session id."""
    return JavaRandom(session_id ^ SUPER_SECRET).next_bytes(16)


class Session:
    __slots__ = ("session_id", "timeout", "expire_time", "closing", "owner")

    def __init__(self, session_id: int, timeout: int, expire_time: int = 0):
        self.session_id = session_id
        self.timeout = timeout
        self.expire_time = expire_time
        self.closing = False
        self.owner = None

    def __repr__(self) -> str:
        return f"Session(0x{self.session_id & _MASK64:x}, timeout={self.timeout}, closing={self.closing})"


class ExpiryQueue:
    """Items bucketed by expiry time rounded up to the tick (Java's ExpiryQueue)."""

    def __init__(self, expiration_interval: int):
        self.interval = expiration_interval
        self._elem_time: dict[object, int] = {}
        self._buckets: dict[int, set] = {}
        self.next_expiration_time = self._round(now_ms())

    def _round(self, t: int) -> int:
        return (t // self.interval + 1) * self.interval

    def update(self, elem, timeout: int) -> int | None:
        new_time = self._round(now_ms() + timeout)
        prev = self._elem_time.get(elem)
        if prev == new_time:
            return None
        self._buckets.setdefault(new_time, set()).add(elem)
        if prev is not None:
            bucket = self._buckets.get(prev)
            if bucket is not None:
                bucket.discard(elem)
                if not bucket:
                    del self._buckets[prev]
        self._elem_time[elem] = new_time
        return new_time

    def remove(self, elem) -> None:
        prev = self._elem_time.pop(elem, None)
        if prev is not None:
            bucket = self._buckets.get(prev)
            if bucket is not None:
                bucket.discard(elem)
                if not bucket:
                    del self._buckets[prev]

    def wait_time(self) -> int:
        return max(0, self.next_expiration_time - now_ms())

    def poll(self) -> set:
        """The items of the bucket that is due, or an empty set."""
        now = now_ms()
        expiration = self.next_expiration_time
        if now < expiration:
            return set()
        self.next_expiration_time = expiration + self.interval
        due = self._buckets.pop(expiration, set())
        for elem in due:
            self._elem_time.pop(elem, None)
        return due


#: The largest server id that extended types (TTL nodes) leave room for.
MAX_EXTENDED_SERVER_ID = 254


class SessionTracker:
    """Owns the sessions of one server (Java: SessionTrackerImpl)."""

    def __init__(self, expirer, sessions_with_timeouts: dict[int, int], tick_time: int, server_id: int):
        if getattr(expirer, "extended_types_enabled", False) and server_id > MAX_EXTENDED_SERVER_ID:
            # Session ids start with the server id, and a leading 0xFF byte
            # marks an extended (TTL) owner (Java: EphemeralType.validateServerId).
            raise RuntimeError("extendedTypesEnabled is true but Server ID is too large. "
                               f"Cannot be larger than {MAX_EXTENDED_SERVER_ID}")
        self._expirer = expirer
        self._lock = threading.Condition()
        self.sessions: dict[int, Session] = {}
        self._queue = ExpiryQueue(tick_time)
        self._sessions_with_timeouts = sessions_with_timeouts
        self.next_session_id = initial_session_id(server_id)
        self._running = False
        self._thread: threading.Thread | None = None
        for sid, timeout in list(sessions_with_timeouts.items()):
            self.add_session(sid, timeout)

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="SessionTracker", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        with self._lock:
            self._running = False
            self._lock.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    return
                wait = self._queue.wait_time()
                if wait > 0:
                    self._lock.wait(wait / 1000.0)
                    continue
                due = self._queue.poll()
                for session in due:
                    session.closing = True
            for session in due:
                LOG.info("Expiring session 0x%x, timeout of %dms exceeded",
                         session.session_id & _MASK64, session.timeout)
                try:
                    self._expirer.expire(session)
                except Exception:  # the tracker must outlive a failed expiry
                    LOG.exception("expiring session 0x%x failed", session.session_id & _MASK64)

    def create_session(self, timeout: int) -> int:
        with self._lock:
            sid = self.next_session_id
            self.next_session_id = _signed64(sid + 1)
        self.add_session(sid, timeout)
        return sid

    def add_session(self, session_id: int, timeout: int) -> bool:
        with self._lock:
            self._sessions_with_timeouts[session_id] = timeout
            session = self.sessions.get(session_id)
            added = session is None
            if added:
                session = Session(session_id, timeout)
                self.sessions[session_id] = session
            self._touch(session, timeout)
            return added

    def _touch(self, session: Session, timeout: int) -> None:
        new_time = self._queue.update(session, timeout)
        if new_time is not None:
            session.expire_time = new_time

    def touch_session(self, session_id: int, timeout: int) -> bool:
        """Push the session's expiry out; False if it is gone or closing."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None or session.closing:
                return False
            self._touch(session, timeout)
            return True

    def set_session_closing(self, session_id: int) -> None:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is not None:
                session.closing = True

    def remove_session(self, session_id: int) -> None:
        with self._lock:
            session = self.sessions.pop(session_id, None)
            self._sessions_with_timeouts.pop(session_id, None)
            if session is not None:
                self._queue.remove(session)

    def is_tracking(self, session_id: int) -> bool:
        with self._lock:
            return session_id in self.sessions

    def get_timeout(self, session_id: int) -> int | None:
        with self._lock:
            session = self.sessions.get(session_id)
            return None if session is None else session.timeout

    def check_session(self, session_id: int, owner=None) -> None:
        """Raise SESSIONEXPIRED for an unknown or closing session (Java: checkSession)."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None or session.closing:
                raise KeeperException(Code.SESSIONEXPIRED)
            if owner is not None:
                if session.owner is None:
                    session.owner = owner
                elif session.owner is not owner:
                    raise KeeperException(Code.SESSIONMOVED)

    def set_owner(self, session_id: int, owner) -> None:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is not None:
                session.owner = owner

    def expiry_snapshot(self) -> tuple[int, list[tuple[int, list[int]]]]:
        """(session count, [(expiry time in ``now_ms`` ms, session ids)] by
        time) for the ``dump`` four-letter word; a copy taken under the lock."""
        with self._lock:
            buckets = sorted((t, sorted(s.session_id for s in b)) for t, b in self._queue._buckets.items())
            return len(self.sessions), buckets

    def global_session_count(self) -> int:
        with self._lock:
            return len(self.sessions)
