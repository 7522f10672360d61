"""Session expiry: what a client sees, and an application that recovers
from it by registering again on its new session."""

import threading
import time

from kazoo.client import KazooState

from example_app import Registration, live_services


def wait(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_expiry_deletes_ephemerals_and_kazoo_reports_lost(make_client, zk_target):
    client, other = make_client(), make_client()
    states = []
    lost = threading.Event()

    def listener(state):
        states.append(state)
        if state == KazooState.LOST:
            lost.set()

    client.add_listener(listener)
    client.create("/presence/me", ephemeral=True, makepath=True)
    old_session = client.client_id[0]

    assert zk_target.expire_session(client)
    assert other.exists("/presence/me") is None
    assert lost.wait(15), states
    # kazoo opens a new session by itself; the old ephemerals stay gone.
    wait(lambda: client.state == KazooState.CONNECTED)
    assert client.client_id[0] != old_session
    assert client.exists("/presence/me") is None


def test_registration_comes_back_on_the_new_session(make_client, zk_target):
    service, monitor = make_client(), make_client()
    Registration(service, "api", "host-7:8080")
    assert live_services(monitor) == ["api"]
    assert zk_target.expire_session(service)
    assert live_services(monitor) == []           # gone with the old session ...
    wait(lambda: live_services(monitor) == ["api"])  # ... and back on the new one
    assert monitor.get("/services/api")[1].ephemeralOwner == service.client_id[0]
