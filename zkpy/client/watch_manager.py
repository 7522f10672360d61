"""The client's table of watchers, and who gets which event.

Java: ``org.apache.zookeeper.ZKWatchManager`` with ``ZooKeeper``'s
``WatchRegistration`` subclasses and ``WatchDeregistration``. Five tables map
a client path (chroot already removed) to its watchers: data (getData),
exist (exists on a missing node), child (getChildren), persistent and
persistent-recursive (addWatch). A watch is added only once the server
answered the request that set it (``register(rc)`` from the send thread), so
a failed getData leaves no watch behind. ``materialize(state, type, path)``
removes the one-shot watchers an event fires and returns them with the
persistent ones; session events (type None) go to every watcher.

Different on purpose: a watcher set is an insertion-ordered dict rather than
Java's HashSet, so watchers run in the order they were added; and a
persistent-recursive watch on "/" sees every path (Java's PathParentIterator
does the same, the parents are just computed here by string slicing).
"""

from __future__ import annotations

import threading
from typing import Iterable, Optional

from ..defs import EventType, KeeperState, WatcherType, AddWatchMode
from ..errors import Code, KeeperException, NoWatcherException

_WatcherSet = dict  # watcher -> None, an ordered set


def _parents_and_self(path: str) -> Iterable[str]:
    """``path`` and each of its ancestors up to "/"."""
    yield path
    while path != "/":
        idx = path.rfind("/")
        path = path[:idx] if idx > 0 else "/"
        yield path


class ZKWatchManager:
    """The five watch tables of one client, behind one lock."""

    def __init__(self, default_watcher=None, disable_auto_watch_reset: bool = False):
        self.default_watcher = default_watcher
        self.disable_auto_watch_reset = disable_auto_watch_reset
        self._lock = threading.RLock()
        self.data_watches: dict[str, _WatcherSet] = {}
        self.exist_watches: dict[str, _WatcherSet] = {}
        self.child_watches: dict[str, _WatcherSet] = {}
        self.persistent_watches: dict[str, _WatcherSet] = {}
        self.persistent_recursive_watches: dict[str, _WatcherSet] = {}

    # -- adding -------------------------------------------------------------------------

    def add(self, table: dict[str, _WatcherSet], path: str, watcher) -> None:
        with self._lock:
            table.setdefault(path, {})[watcher] = None

    # -- lists for SetWatches --------------------------------------------------------------

    def get_data_watch_list(self) -> list[str]:
        with self._lock:
            return list(self.data_watches)

    def get_exist_watch_list(self) -> list[str]:
        with self._lock:
            return list(self.exist_watches)

    def get_child_watch_list(self) -> list[str]:
        with self._lock:
            return list(self.child_watches)

    def get_persistent_watch_list(self) -> list[str]:
        with self._lock:
            return list(self.persistent_watches)

    def get_persistent_recursive_watch_list(self) -> list[str]:
        with self._lock:
            return list(self.persistent_recursive_watches)

    def _tables(self) -> tuple[dict[str, _WatcherSet], ...]:
        return (self.data_watches, self.exist_watches, self.child_watches,
                self.persistent_watches, self.persistent_recursive_watches)

    # -- events -----------------------------------------------------------------------------

    def materialize(self, state: KeeperState, event_type: EventType, path: Optional[str]) -> list:
        """The watchers to notify of this event (one-shot ones are removed)."""
        result: _WatcherSet = {}
        with self._lock:
            if event_type == EventType.None_:
                if self.default_watcher is not None:
                    result[self.default_watcher] = None
                clear = self.disable_auto_watch_reset and state != KeeperState.SyncConnected
                for table in self._tables():
                    for watchers in table.values():
                        result.update(watchers)
                    if clear:
                        table.clear()
                return list(result)
            if event_type in (EventType.NodeDataChanged, EventType.NodeCreated):
                result.update(self.data_watches.pop(path, {}))
                result.update(self.exist_watches.pop(path, {}))
            elif event_type == EventType.NodeChildrenChanged:
                result.update(self.child_watches.pop(path, {}))
            elif event_type == EventType.NodeDeleted:
                result.update(self.data_watches.pop(path, {}))
                # The server never fires an exist watch with NodeDeleted (an
                # exist watch is only set on a missing node), but Java drains
                # the table here too, just in case.
                result.update(self.exist_watches.pop(path, {}))
                result.update(self.child_watches.pop(path, {}))
            else:
                raise ValueError(f"Unsupported event type {event_type!r}")
            result.update(self.persistent_watches.get(path, {}))
            # Persistent-recursive watches promise no child events: the server
            # may still send NodeChildrenChanged for a path that also has a
            # plain child watch, so filter here (Java does the same).
            if event_type != EventType.NodeChildrenChanged and path is not None:
                for parent in _parents_and_self(path):
                    result.update(self.persistent_recursive_watches.get(parent, {}))
        return list(result)

    # -- removing (removeWatches / removeAllWatches) ----------------------------------------

    def contains_watcher(self, path: str, watcher, watcher_type: WatcherType) -> bool:
        with self._lock:
            tables = self._tables_for(watcher_type)
            for table in tables:
                watchers = table.get(path)
                if watchers and (watcher is None or watcher in watchers):
                    return True
            return False

    def _tables_for(self, watcher_type: WatcherType) -> tuple[dict[str, _WatcherSet], ...]:
        if watcher_type == WatcherType.Children:
            return (self.child_watches,)
        if watcher_type == WatcherType.Data:
            return (self.data_watches, self.exist_watches)
        return self._tables()

    def remove_watcher(self, path: str, watcher, watcher_type: WatcherType, local: bool,
                       rc: int) -> dict[EventType, list]:
        """Remove ``watcher`` (None: all watchers) of ``watcher_type`` from
        ``path`` after the server answered ``rc``; returns the removed
        watchers by the event type they are told with. Raises
        NoWatcherException when there was none, or the server's error
        unless ``local`` (then the local watchers go regardless)."""
        with self._lock:
            if not self.contains_watcher(path, watcher, watcher_type):
                raise NoWatcherException(Code.NOWATCHER, path)
            if not local and rc != Code.OK:
                raise KeeperException.create(rc, path)
            removed = {EventType.ChildWatchRemoved: {}, EventType.DataWatchRemoved: {},
                       EventType.PersistentWatchRemoved: {}}
            kinds = {
                id(self.child_watches): EventType.ChildWatchRemoved,
                id(self.data_watches): EventType.DataWatchRemoved,
                id(self.exist_watches): EventType.DataWatchRemoved,
                id(self.persistent_watches): EventType.PersistentWatchRemoved,
                id(self.persistent_recursive_watches): EventType.PersistentWatchRemoved,
            }
            any_removed = False
            for table in self._tables_for(watcher_type):
                sink = removed[kinds[id(table)]]
                watchers = table.get(path)
                if not watchers:
                    continue
                if watcher is None:
                    sink.update(table.pop(path))
                    any_removed = True
                elif watcher in watchers:
                    del watchers[watcher]
                    sink[watcher] = None
                    any_removed = True
                    if not watchers:
                        del table[path]
            if not any_removed:
                raise NoWatcherException(Code.NOWATCHER, path)
            return {kind: list(ws) for kind, ws in removed.items()}


# -- registrations: what a request adds once the server said yes -------------------------------


class WatchRegistration:
    """Adds ``watcher`` on ``client_path`` to a table when the reply's rc allows."""

    __slots__ = ("manager", "watcher", "client_path")

    def __init__(self, manager: ZKWatchManager, watcher, client_path: str):
        self.manager = manager
        self.watcher = watcher
        self.client_path = client_path

    def table(self, rc: int) -> dict[str, _WatcherSet]:
        raise NotImplementedError

    def should_add_watch(self, rc: int) -> bool:
        return rc == Code.OK

    def register(self, rc: int) -> None:
        if self.should_add_watch(rc):
            self.manager.add(self.table(rc), self.client_path, self.watcher)


class DataWatchRegistration(WatchRegistration):
    __slots__ = ()

    def table(self, rc: int):
        return self.manager.data_watches


class ExistsWatchRegistration(WatchRegistration):
    """exists: a data watch when the node exists, an exist watch when not."""

    __slots__ = ()

    def table(self, rc: int):
        return self.manager.data_watches if rc == Code.OK else self.manager.exist_watches

    def should_add_watch(self, rc: int) -> bool:
        return rc in (Code.OK, Code.NONODE)


class ChildWatchRegistration(WatchRegistration):
    __slots__ = ()

    def table(self, rc: int):
        return self.manager.child_watches


class AddWatchRegistration(WatchRegistration):
    __slots__ = ("mode",)

    def __init__(self, manager: ZKWatchManager, watcher, client_path: str, mode: AddWatchMode):
        super().__init__(manager, watcher, client_path)
        self.mode = mode

    def table(self, rc: int):
        if self.mode == AddWatchMode.PERSISTENT_RECURSIVE:
            return self.manager.persistent_recursive_watches
        return self.manager.persistent_watches


class WatchDeregistration:
    """removeWatches / removeAllWatches: drops local watchers after the reply."""

    __slots__ = ("manager", "client_path", "watcher", "watcher_type", "local")

    def __init__(self, manager: ZKWatchManager, client_path: str, watcher, watcher_type: WatcherType,
                 local: bool):
        self.manager = manager
        self.client_path = client_path
        self.watcher = watcher
        self.watcher_type = watcher_type
        self.local = local

    def unregister(self, rc: int) -> dict[EventType, list]:
        return self.manager.remove_watcher(self.client_path, self.watcher, self.watcher_type,
                                           self.local, rc)
