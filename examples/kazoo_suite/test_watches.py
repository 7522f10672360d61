"""Watches: a config watcher sees every change; a children watch sees
workers come and go, including a worker whose session expired."""

import threading

from example_app import ConfigWatcher, Registration


def test_config_watcher_follows_changes(make_client):
    admin, app = make_client(), make_client()
    watcher = ConfigWatcher(app, "/config/feature-x")
    admin.set("/config/feature-x", b"on")
    assert watcher.wait_for(b"on")
    admin.set("/config/feature-x", b"off")
    assert watcher.wait_for(b"off")
    admin.delete("/config/feature-x")
    assert watcher.wait_for(b"")


def test_children_watch_sees_workers_join_and_die(make_client, zk_target):
    monitor = make_client()
    monitor.ensure_path("/services")
    seen = []
    changed = threading.Condition()

    @monitor.ChildrenWatch("/services")
    def on_children(children):
        with changed:
            seen.append(sorted(children))
            changed.notify_all()

    def wait_for(expected):
        with changed:
            assert changed.wait_for(lambda: seen and seen[-1] == expected, 10), seen

    worker = make_client()
    Registration(worker, "worker-1", "host-1:8080")
    wait_for(["worker-1"])
    crashed = make_client()
    crashed.create("/services/worker-2", b"host-2:8080", ephemeral=True)   # no re-registration
    wait_for(["worker-1", "worker-2"])
    zk_target.expire_session(crashed)
    wait_for(["worker-1"])
