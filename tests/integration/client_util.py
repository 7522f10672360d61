"""Helpers for the zkpy.client tests: an event recorder and a connect helper."""

from __future__ import annotations

import threading
import time

from zkpy.client import ZooKeeper


class Events:
    """A watcher that records every event (with ``nodes_only``, only node
    events: every watcher also hears the session's state changes);
    ``wait_for`` blocks until a predicate over the recorded events holds."""

    def __init__(self, name: str = "events", nodes_only: bool = False):
        self.name = name
        self.nodes_only = nodes_only
        self.events: list = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, event) -> None:
        if self.nodes_only and event.path is None:
            return
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"<Events {self.name}: {self.events}>"

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.events), timeout)

    def wait_count(self, n: int, timeout: float = 10.0) -> list:
        assert self.wait_for(lambda evs: len(evs) >= n, timeout), f"{self!r}: wanted {n} events"
        return list(self.events)

    def of_type(self, event_type) -> list:
        return [e for e in self.events if e.type == event_type]

    def settle(self, quiet: float = 0.2) -> list:
        """Wait until no event arrived for ``quiet`` seconds; the events."""
        while True:
            n = len(self.events)
            time.sleep(quiet)
            if len(self.events) == n:
                return list(self.events)


def connect(connect_string: str, timeout_ms: int = 10000, watcher=None, **kwargs) -> ZooKeeper:
    """A ZooKeeper handle that is connected (or the test fails)."""
    zk = ZooKeeper(connect_string, timeout_ms, watcher, **kwargs)
    if not zk.wait_connected(15):
        zk.close()
        raise AssertionError(f"could not connect to {connect_string}: {zk.get_state()}")
    return zk
