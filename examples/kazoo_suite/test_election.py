"""Leader election with kazoo's Election recipe: one leader at a time, and
the next contender takes over when the leader's session expires."""

import threading

from kazoo.exceptions import ConnectionClosedError, SessionExpiredError


class Contender:
    def __init__(self, client, name):
        self.name = name
        self.election = client.Election("/election/scheduler", name)
        self.leading = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.election.run(self._lead)
        except (ConnectionClosedError, SessionExpiredError):
            pass  # our session ended while we waited or led

    def _lead(self):
        self.leading.set()
        self.stop.wait(60)   # lead until told to stop (or the session goes)


def test_one_leader_and_a_successor_after_session_expiry(make_client, zk_target):
    first_client, second_client = make_client(), make_client()
    first = Contender(first_client, "first")
    assert first.leading.wait(10)
    second = Contender(second_client, "second")
    observer = make_client().Election("/election/scheduler")
    assert observer.contenders() == ["first", "second"]
    assert not second.leading.wait(0.5)

    zk_target.expire_session(first_client)
    assert second.leading.wait(15)
    assert observer.contenders()[0] == "second"
    first.stop.set()
    second.stop.set()


def test_the_leader_stepping_down_hands_over(make_client):
    a = Contender(make_client(), "a")
    assert a.leading.wait(10)
    b = Contender(make_client(), "b")
    a.stop.set()                                # returns from the leader function: releases the lock
    assert b.leading.wait(10)
    b.stop.set()
