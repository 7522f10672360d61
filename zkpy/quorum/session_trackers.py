"""Session trackers of the quorum roles: global sessions on the leader,
touches on the learners, local sessions everywhere.

Java: ``LeaderSessionTracker``, ``LearnerSessionTracker``,
``LocalSessionTracker`` and ``UpgradeableSessionTracker``.

* Global sessions are txns: the leader's tracker (an expiring
  :class:`~zkpy.server.session_tracker.SessionTracker` over the database's
  session map) owns them and expires them (closeSession txn). A learner
  only records which of them its clients touched and hands the list to the
  leader in each PING reply; the map it keeps is the database's, updated
  by the committed createSession/closeSession txns.
* Local sessions (``localSessionsEnabled``) live on one server only, with
  no txn: a server-local expiring tracker. With
  ``localSessionsUpgradingEnabled`` a local session becomes global (a
  createSession txn with the same id) when it first creates an ephemeral
  node; the id and timeout move from the local tracker to the global side
  at once, so the session's next requests find it.

The read-only server uses a learner tracker with local sessions on (see
:mod:`.quorum_zookeeper_server`).
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from ..errors import Code, KeeperException
from ..server.session_tracker import SessionTracker, _signed64, initial_session_id

LOG = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1


def server_id_of_session(session_id: int) -> int:
    """The server id in a session id's top byte (Java: getServerIdFromSessionId)."""
    return (session_id & _MASK64) >> 56


class LocalSessionTracker(SessionTracker):
    """Expiring sessions known to this server only (Java: LocalSessionTracker)."""

    def __init__(self, expirer, tick_time: int, server_id: int):
        super().__init__(expirer, {}, tick_time, server_id)

    def local_session_count(self) -> int:
        return self.global_session_count()


def _merge_expiry(*trackers) -> tuple[int, list[tuple[int, list[int]]]]:
    count = 0
    buckets: dict[int, list[int]] = {}
    for tracker in trackers:
        if tracker is None:
            continue
        n, tracker_buckets = tracker.expiry_snapshot()
        count += n
        for t, ids in tracker_buckets:
            buckets.setdefault(t, []).extend(ids)
    return count, sorted((t, sorted(ids)) for t, ids in buckets.items())


class LeaderSessionTracker:
    """The leader's sessions: global ones expire here (Java: LeaderSessionTracker)."""

    def __init__(self, expirer, sessions_with_timeouts: dict[int, int], tick_time: int, server_id: int,
                 local_sessions_enabled: bool = False):
        self.server_id = server_id
        self.local_sessions_enabled = local_sessions_enabled
        self.global_tracker = SessionTracker(expirer, sessions_with_timeouts, tick_time, server_id)
        self.local_tracker = LocalSessionTracker(expirer, tick_time, server_id) if local_sessions_enabled else None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.global_tracker.start()
        if self.local_tracker is not None:
            self.local_tracker.start()

    def shutdown(self) -> None:
        self.global_tracker.shutdown()
        if self.local_tracker is not None:
            self.local_tracker.shutdown()

    # -- creating, touching, closing -------------------------------------------------------
    def create_session(self, timeout: int) -> int:
        if self.local_tracker is not None:
            return self.local_tracker.create_session(timeout)
        return self.global_tracker.create_session(timeout)

    def add_session(self, session_id: int, timeout: int) -> bool:
        """A global session (its createSession txn is prepared or applied)."""
        if self.local_tracker is not None:
            self.local_tracker.remove_session(session_id)
        return self.global_tracker.add_session(session_id, timeout)

    def touch_session(self, session_id: int, timeout: int) -> bool:
        if self.local_tracker is not None and self.local_tracker.touch_session(session_id, timeout):
            return True
        return self.global_tracker.touch_session(session_id, timeout)

    def set_session_closing(self, session_id: int) -> None:
        if self.local_tracker is not None:
            self.local_tracker.set_session_closing(session_id)
        self.global_tracker.set_session_closing(session_id)

    def remove_session(self, session_id: int) -> None:
        if self.local_tracker is not None:
            self.local_tracker.remove_session(session_id)
        self.global_tracker.remove_session(session_id)

    # -- local and global ------------------------------------------------------------------
    def is_local_session(self, session_id: int) -> bool:
        return self.local_tracker is not None and self.local_tracker.is_tracking(session_id)

    def is_global_session(self, session_id: int) -> bool:
        return self.global_tracker.is_tracking(session_id)

    def upgrade_session(self, session_id: int) -> int:
        """Move a local session to the global tracker; its timeout, or -1
        if it is no local session (any more)."""
        with self._lock:
            if self.local_tracker is None:
                return -1
            timeout = self.local_tracker.get_timeout(session_id)
            if timeout is None:
                return -1
            LOG.info("Upgrading session 0x%x", session_id & _MASK64)
            self.local_tracker.remove_session(session_id)
            # Tracked globally now, so that its requests between here and the
            # createSession txn find it (Java: trackSession).
            self.global_tracker.add_session(session_id, timeout)
            return timeout

    def check_session(self, session_id: int, owner=None) -> None:
        """Java: LeaderSessionTracker.checkSession; a session another server
        keeps locally is accepted when local sessions are on."""
        if self.local_tracker is not None and self.local_tracker.is_tracking(session_id):
            self.local_tracker.check_session(session_id, owner)
            return
        if self.global_tracker.is_tracking(session_id):
            self.global_tracker.check_session(session_id, owner)
            return
        if not self.local_sessions_enabled or server_id_of_session(session_id) == self.server_id:
            raise KeeperException(Code.SESSIONEXPIRED)

    def set_owner(self, session_id: int, owner) -> None:
        self.global_tracker.set_owner(session_id, owner)

    def get_timeout(self, session_id: int) -> Optional[int]:
        if self.local_tracker is not None:
            timeout = self.local_tracker.get_timeout(session_id)
            if timeout is not None:
                return timeout
        return self.global_tracker.get_timeout(session_id)

    # -- introspection ---------------------------------------------------------------------
    def expiry_snapshot(self) -> tuple[int, list[tuple[int, list[int]]]]:
        return _merge_expiry(self.global_tracker, self.local_tracker)

    def global_session_count(self) -> int:
        return self.global_tracker.global_session_count()

    def local_session_count(self) -> int:
        return 0 if self.local_tracker is None else self.local_tracker.local_session_count()


class LearnerSessionTracker:
    """A learner's sessions (Java: LearnerSessionTracker): global ones are
    the leader's (here only touched, and listed in the next PING reply);
    local ones expire here."""

    def __init__(self, expirer, sessions_with_timeouts: dict[int, int], tick_time: int, server_id: int,
                 local_sessions_enabled: bool = False):
        self.server_id = server_id
        self.global_sessions = sessions_with_timeouts  # the database's map
        self.local_tracker = LocalSessionTracker(expirer, tick_time, server_id) if local_sessions_enabled else None
        self._lock = threading.Lock()
        self._touches: dict[int, int] = {}
        self._upgrading: dict[int, int] = {}
        self._owners: dict[int, object] = {}
        self.next_session_id = initial_session_id(server_id)

    def start(self) -> None:
        if self.local_tracker is not None:
            self.local_tracker.start()

    def shutdown(self) -> None:
        if self.local_tracker is not None:
            self.local_tracker.shutdown()

    # -- creating, touching, closing -------------------------------------------------------
    def create_session(self, timeout: int) -> int:
        if self.local_tracker is not None:
            return self.local_tracker.create_session(timeout)
        with self._lock:
            sid = self.next_session_id
            self.next_session_id = _signed64(sid + 1)
            return sid

    def add_session(self, session_id: int, timeout: int) -> bool:
        """A committed createSession: the session is global (Java: commitSession)."""
        if self.local_tracker is not None:
            self.local_tracker.remove_session(session_id)
        with self._lock:
            self._upgrading.pop(session_id, None)
            added = session_id not in self.global_sessions
            self.global_sessions[session_id] = timeout
            return added

    def touch_session(self, session_id: int, timeout: int) -> bool:
        if self.local_tracker is not None:
            if self.local_tracker.touch_session(session_id, timeout):
                return True
            with self._lock:
                if session_id not in self.global_sessions and session_id not in self._upgrading:
                    return False
        with self._lock:
            self._touches[session_id] = timeout
        return True

    def touch_snapshot(self) -> dict[int, int]:
        """The sessions touched since the last call (Java: snapshot of the touch table)."""
        with self._lock:
            touches, self._touches = self._touches, {}
            return touches

    def set_session_closing(self, session_id: int) -> None:
        if self.local_tracker is not None:
            self.local_tracker.set_session_closing(session_id)

    def remove_session(self, session_id: int) -> None:
        if self.local_tracker is not None:
            self.local_tracker.remove_session(session_id)
        with self._lock:
            self.global_sessions.pop(session_id, None)
            self._touches.pop(session_id, None)
            self._upgrading.pop(session_id, None)
            self._owners.pop(session_id, None)

    # -- local and global ------------------------------------------------------------------
    def is_local_session(self, session_id: int) -> bool:
        return self.local_tracker is not None and self.local_tracker.is_tracking(session_id)

    def is_global_session(self, session_id: int) -> bool:
        with self._lock:
            return session_id in self.global_sessions

    def upgrade_session(self, session_id: int) -> int:
        with self._lock:
            if self.local_tracker is None:
                return -1
            timeout = self.local_tracker.get_timeout(session_id)
            if timeout is None:
                return -1
            LOG.info("Upgrading session 0x%x", session_id & _MASK64)
            self.local_tracker.remove_session(session_id)
            self._upgrading[session_id] = timeout
            self._touches[session_id] = timeout
            return timeout

    def check_session(self, session_id: int, owner=None) -> None:
        if self.local_tracker is not None and self.local_tracker.is_tracking(session_id):
            self.local_tracker.check_session(session_id, owner)
            return
        with self._lock:
            if session_id not in self.global_sessions and session_id not in self._upgrading:
                raise KeeperException(Code.SESSIONEXPIRED)

    def set_owner(self, session_id: int, owner) -> None:
        if self.local_tracker is not None:
            self.local_tracker.set_owner(session_id, owner)

    def get_timeout(self, session_id: int) -> Optional[int]:
        if self.local_tracker is not None:
            timeout = self.local_tracker.get_timeout(session_id)
            if timeout is not None:
                return timeout
        with self._lock:
            return self.global_sessions.get(session_id, self._upgrading.get(session_id))

    # -- introspection ---------------------------------------------------------------------
    def expiry_snapshot(self) -> tuple[int, list[tuple[int, list[int]]]]:
        # Global sessions do not expire here (Java's learner dump is empty too).
        return _merge_expiry(self.local_tracker)

    def global_session_count(self) -> int:
        with self._lock:
            return len(self.global_sessions)

    def local_session_count(self) -> int:
        return 0 if self.local_tracker is None else self.local_tracker.local_session_count()
