"""A tiny "application" for the example suite: a service registry that
survives session expiry, a config watcher and a once-only job runner, all
built on kazoo recipes. The tests next to it check its behaviour against a
real ZooKeeper server (zkpy)."""

import threading

from kazoo.client import KazooState
from kazoo.exceptions import NodeExistsError

SERVICES = "/services"


class Registration:
    """Keeps an ephemeral ``/services/<name>`` node while the process lives,
    and puts it back when a new session replaces an expired one."""

    def __init__(self, client, name, address):
        self.client = client
        self.path = f"{SERVICES}/{name}"
        self.address = address.encode()
        self.registered = threading.Event()
        client.add_listener(self._on_state)
        self._register()

    def _register(self):
        self.client.ensure_path(SERVICES)
        try:
            self.client.create(self.path, self.address, ephemeral=True)
        except NodeExistsError:
            pass
        self.registered.set()

    def _on_state(self, state):
        if state == KazooState.LOST:          # the session and its ephemeral are gone
            self.registered.clear()
        elif state == KazooState.CONNECTED and not self.registered.is_set():
            # A new session: register again, off kazoo's event thread
            # (listeners must not block it).
            self.client.handler.spawn(self._register)


def live_services(client):
    return sorted(client.get_children(SERVICES)) if client.exists(SERVICES) else []


class ConfigWatcher:
    """The latest value of a config znode, kept current by a DataWatch."""

    def __init__(self, client, path, default=b""):
        self.value = default
        self.changed = threading.Condition()
        client.ensure_path(path)
        client.DataWatch(path, self._on_change)

    def _on_change(self, data, stat):
        with self.changed:
            self.value = data if data is not None else b""
            self.changed.notify_all()

    def wait_for(self, expected, timeout=10.0):
        with self.changed:
            return self.changed.wait_for(lambda: self.value == expected, timeout)


def run_once(client, job, fn, identifier="worker"):
    """Run ``fn`` under the lock ``/locks/<job>`` unless another worker has
    already done the job (marked by ``/done/<job>``). Returns whether it ran."""
    with client.Lock(f"/locks/{job}", identifier):
        if client.exists(f"/done/{job}"):
            return False
        fn()
        client.create(f"/done/{job}", makepath=True)
        return True
