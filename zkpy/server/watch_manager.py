"""Server-side watch tables.

Java: ``org.apache.zookeeper.server.watch.WatchManager``. The DataTree keeps
two of these, one for data (and exist) watches and one for child watches.
A watcher is anything with ``process(event, acl)``: a ServerCnxn in
practice, which drops the event when it may not READ a node with that ACL
(``acl`` None: no check). Standard watches are one-shot; persistent ones
stay; persistent-recursive ones also match every descendant of their path.

One mode per (watcher, path), and the last add wins, as in 3.8.0
(``WatcherModeManager``): a getData watch set where the same connection
has a persistent watch makes it one-shot, and PERSISTENT becomes
PERSISTENT_RECURSIVE when asked. (3.9 keeps several modes per path,
ZOOKEEPER-4466; clients of 3.8 see 3.8's rule.)
"""

from __future__ import annotations

import threading
from typing import Iterable

from ..defs import EventType, KeeperState
from ..paths import parent_of

STANDARD = 0
PERSISTENT = 1
PERSISTENT_RECURSIVE = 2

_NONE_FIRED: frozenset = frozenset()


class WatchedEvent:
    """An event for one path (Java: ``WatchedEvent``)."""

    __slots__ = ("type", "state", "path", "zxid")

    def __init__(self, type: int, state: int, path: str | None, zxid: int = -1):
        self.type = type
        self.state = state
        self.path = path
        self.zxid = zxid

    def __repr__(self) -> str:
        return f"WatchedEvent(type={self.type}, state={self.state}, path={self.path!r})"


class WatchManager:
    """path -> {watcher: mode} and the reverse index, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watch_table: dict[str, dict[object, int]] = {}
        self._watch_to_paths: dict[object, set[str]] = {}
        self._recursive_count = 0

    def add_watch(self, path: str, watcher: object, mode: int = STANDARD) -> bool:
        """Register ``watcher`` on ``path`` with ``mode`` (replacing the mode
        it had there); True when the path is new for this watcher."""
        with self._lock:
            watchers = self._watch_table.setdefault(path, {})
            old = watchers.get(watcher)
            if old == mode:
                return False
            if old == PERSISTENT_RECURSIVE:
                self._recursive_count -= 1
            watchers[watcher] = mode
            if mode == PERSISTENT_RECURSIVE:
                self._recursive_count += 1
            self._watch_to_paths.setdefault(watcher, set()).add(path)
            return old is None

    def contains_watcher(self, path: str, watcher: object) -> bool:
        with self._lock:
            return watcher in self._watch_table.get(path, ())

    def remove_watcher(self, path: str, watcher: object) -> bool:
        with self._lock:
            watchers = self._watch_table.get(path)
            if not watchers or watcher not in watchers:
                return False
            self._drop(path, watcher, watchers)
            return True

    def remove_all(self, watcher: object) -> None:
        """Forget every watch of ``watcher`` (its connection closed)."""
        with self._lock:
            for path in self._watch_to_paths.pop(watcher, ()):
                watchers = self._watch_table.get(path)
                if watchers is not None and watcher in watchers:
                    if watchers.pop(watcher) == PERSISTENT_RECURSIVE:
                        self._recursive_count -= 1
                    if not watchers:
                        del self._watch_table[path]

    def _drop(self, path: str, watcher: object, watchers: dict[object, int]) -> None:
        if watchers.pop(watcher) == PERSISTENT_RECURSIVE:
            self._recursive_count -= 1
        if not watchers:
            del self._watch_table[path]
        paths = self._watch_to_paths.get(watcher)
        if paths is not None:
            paths.discard(path)
            if not paths:
                del self._watch_to_paths[watcher]

    def trigger_watch(self, path: str, event_type: int, zxid: int = -1,
                      suppress: set | None = None, acl: list | None = None) -> set:
        """Fire ``event_type`` for ``path``; returns the watchers notified.

        Watchers in ``suppress`` are skipped (so a delete notifies a
        connection that watches both data and children only once).
        ``acl`` is the ACL of the node the event is about, handed to each
        watcher so that it can refuse events it may not read.
        """
        if path not in self._watch_table and not self._recursive_count:
            # The usual write: nobody watches. Looking without the lock is
            # safe: a read registers its watch under the DataTree's lock or
            # on the thread that applies txns, and this txn holds that lock.
            return _NONE_FIRED
        event = WatchedEvent(event_type, KeeperState.SyncConnected, path, zxid)
        to_fire: list[object] = []
        with self._lock:
            watchers = self._watch_table.get(path)
            if watchers:
                for watcher, mode in list(watchers.items()):
                    if mode == PERSISTENT_RECURSIVE and event_type == EventType.NodeChildrenChanged:
                        continue
                    to_fire.append(watcher)
                    if mode == STANDARD:
                        self._drop(path, watcher, watchers)
            if self._recursive_count:
                for ancestor in _ancestors(path):
                    ancestor_watchers = self._watch_table.get(ancestor)
                    if not ancestor_watchers or event_type == EventType.NodeChildrenChanged:
                        continue
                    for watcher, mode in ancestor_watchers.items():
                        if mode == PERSISTENT_RECURSIVE:
                            to_fire.append(watcher)
        fired: set = set()
        for watcher in to_fire:
            if watcher in fired or (suppress is not None and watcher in suppress):
                continue
            fired.add(watcher)
            watcher.process(event, acl)
        return fired

    # -- introspection (4lw wchs/wchc/wchp, mntr watch_count) ---------------
    def size(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._watch_table.values())

    def path_count(self) -> int:
        with self._lock:
            return len(self._watch_table)

    def watcher_count(self) -> int:
        with self._lock:
            return len(self._watch_to_paths)

    def paths_of(self, watcher: object) -> list[str]:
        with self._lock:
            return sorted(self._watch_to_paths.get(watcher, ()))

    def by_path(self) -> dict[str, list[object]]:
        with self._lock:
            return {p: list(w) for p, w in self._watch_table.items()}

    def by_watcher(self) -> dict[object, list[str]]:
        """watcher -> its watched paths (sorted), a copy taken under the lock."""
        with self._lock:
            return {w: sorted(paths) for w, paths in self._watch_to_paths.items()}

    def watches_of(self, watcher: object) -> Iterable[tuple[str, int]]:
        with self._lock:
            return [(p, self._watch_table[p][watcher]) for p in self._watch_to_paths.get(watcher, ())]


def _ancestors(path: str):
    """Every strict ancestor of ``path``, nearest first, ending with "/"."""
    while path != "/":
        path = parent_of(path)
        yield path
