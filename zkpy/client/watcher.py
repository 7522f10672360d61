"""What a watcher receives.

Java: ``org.apache.zookeeper.WatchedEvent`` and the ``Watcher`` interface.
A watcher is any callable taking one :class:`WatchedEvent` (Java's
``Watcher.process``); it runs on the client's event thread. Event types and
states are :class:`zkpy.defs.EventType` and :class:`zkpy.defs.KeeperState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..defs import EventType, KeeperState

#: A watcher: called with one WatchedEvent, on the event thread.
Watcher = Callable[["WatchedEvent"], object]


@dataclass(frozen=True)
class WatchedEvent:
    """One event: ``type`` (EventType), ``state`` (KeeperState) and ``path``
    (None for session-state events, else the client's view of the path,
    chroot removed)."""

    type: EventType
    state: KeeperState
    path: Optional[str]

    def __str__(self) -> str:  # Java's toString, which zkCli prints
        state = getattr(self.state, "name", self.state)
        etype = str(getattr(self.type, "name", self.type)).rstrip("_")
        path = "null" if self.path is None else self.path
        return f"WatchedEvent state:{state} type:{etype} path:{path}"

    @classmethod
    def from_wire(cls, type_: int, state: int, path: Optional[str]) -> "WatchedEvent":
        """From a WatcherEvent record (unknown numbers are kept as ints)."""
        try:
            etype = EventType(type_)
        except ValueError:
            etype = type_  # type: ignore[assignment]
        try:
            kstate = KeeperState(state)
        except ValueError:
            kstate = state  # type: ignore[assignment]
        return cls(etype, kstate, path)
