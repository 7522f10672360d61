"""Sessions: timeout negotiation, close, expiry, reattaching, refusals (ZK_SPEC.md §2.2, §2.13).

The module's server runs with tickTime 200 ms, so timeouts are clamped to
[400, 4000] ms and an idle session expires within about half a second.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from kazoo.protocol.states import EventType, KazooState

from zkpy.errors import Code
from zkpy.server.session_tracker import session_password

from . import wire
from .servers import kazoo_session, new_server

TICK = 200
INVALID_REPLY = bytes(4 + 4 + 8) + bytes.fromhex("00000010") + bytes(16)  # pv, timeOut 0, sid 0, passwd


def handshake(server, **kwargs):
    """(ConnectResponse, raw payload, client) of a fresh connection."""
    client = wire.WireClient(server.host, server.port)
    try:
        resp, payload = client.handshake(**kwargs)
    except BaseException:
        client.close()
        raise
    return resp, payload, client


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# -- negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize("requested, negotiated", [
    (-5, 2 * TICK), (0, 2 * TICK), (1, 2 * TICK), (399, 2 * TICK), (400, 400), (3000, 3000), (4000, 4000), (4001, 20 * TICK),
    (100000, 20 * TICK),
])
def test_negotiated_timeout_is_clamped_to_tick_bounds(zk_server, requested, negotiated):
    resp, payload, client = handshake(zk_server, timeout_ms=requested)
    with client:
        assert resp.timeOut == negotiated
        assert resp.sessionId != 0 and resp.passwd == session_password(resp.sessionId)
        assert resp.sessionId >> 56 == 1  # the server id of a standalone server, as Java
        assert len(payload) == 37 and payload[-1] == 0  # readOnly false
        assert client.close_session().err == 0


def test_custom_min_and_max_session_timeout(tmp_path):
    server = new_server(tick_time=TICK, temp_dir=tmp_path,
                        config={"minSessionTimeout": 1000, "maxSessionTimeout": 3000})
    try:
        for requested, negotiated in [(100, 1000), (2000, 2000), (10000, 3000)]:
            resp, _, client = handshake(server, timeout_ms=requested)
            with client:
                assert resp.timeOut == negotiated, requested
    finally:
        server.close()


def test_client_that_saw_a_newer_zxid_is_refused(zk_server):
    """It must have talked to a server further ahead: closed with no reply, to try another."""
    with wire.session(zk_server) as c:
        last = c.create("/seen")[0].zxid
    with wire.WireClient(zk_server.host, zk_server.port) as ahead:
        ahead.send_frame(ahead.connect_payload(last_zxid=last + 1000))
        assert ahead.expect_closed(2.0) == b""
    # Up to the server's own last zxid is fine.
    resp, _, ok = handshake(zk_server, last_zxid=last)
    with ok:
        assert resp.timeOut > 0
        assert ok.close_session().err == 0


def test_old_client_gets_the_36_byte_reply(zk_server):
    resp, payload, client = handshake(zk_server, read_only=None)
    with client:
        assert len(payload) == 36 and resp.timeOut > 0
        # The session works like any other.
        assert client.create("/old-client", b"x")[0].err == 0
        assert client.close_session().err == 0


# -- ephemerals end with the session ---------------------------------------------------------


def test_ephemeral_removed_after_explicit_close(zk_server):
    events = []
    with kazoo_session(zk_server) as observer:
        with kazoo_session(zk_server) as owner:
            owner.create("/closing", ephemeral=True)
            assert observer.exists("/closing", watch=events.append) is not None
        # stop() waited for the closeSession reply: the node is already gone.
        assert observer.exists("/closing") is None
        assert wait_for(lambda: events)
        assert [(e.type, e.path) for e in events] == [(EventType.DELETED, "/closing")]


def test_ephemeral_removed_after_expiry(zk_server):
    with kazoo_session(zk_server) as observer:
        # A silent session with the shortest timeout, and one that pings.
        silent = wire.connect(zk_server, timeout_ms=400)
        live = wire.connect(zk_server, timeout_ms=1000)
        with silent, live:
            assert (silent.negotiated_timeout, live.negotiated_timeout) == (400, 1000)
            assert live.create("/kept-alive", flags=1)[0].err == 0
            assert silent.create("/expiring", flags=1)[0].err == 0
            events = []
            assert observer.exists("/expiring", watch=events.append) is not None
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < 2.0:  # twice the live session's timeout
                assert live.ping().err == 0
                time.sleep(0.1)
            assert [(e.type, e.path) for e in events] == [(EventType.DELETED, "/expiring")]
            assert observer.exists("/expiring") is None
            assert observer.exists("/kept-alive").ephemeralOwner == live.session_id
            # The server closed the silent session's connection ...
            assert silent.expect_closed() == b""
            # ... and the session cannot be resumed.
            resp, payload, again = handshake(zk_server, session_id=silent.session_id, passwd=silent.passwd)
            with again:
                assert payload == INVALID_REPLY + b"\0"
                assert again.expect_closed(2.0) == b""
            assert live.close_session().err == 0


def test_closed_session_cannot_be_resumed(zk_server):
    client = wire.connect(zk_server)
    with client:
        assert client.close_session().err == 0
        assert client.expect_closed(2.0) == b""
    resp, _, again = handshake(zk_server, session_id=client.session_id, passwd=client.passwd)
    with again:
        assert (resp.timeOut, resp.sessionId) == (0, 0)
        assert again.expect_closed(2.0) == b""


# -- reattaching ---------------------------------------------------------------------------------


def test_reconnect_to_the_same_session_keeps_ephemerals(zk_server):
    first = wire.connect(zk_server, timeout_ms=4000)
    with first:
        assert first.create("/mine", flags=1)[0].err == 0
        resp, payload, second = handshake(zk_server, session_id=first.session_id, passwd=first.passwd,
                                          timeout_ms=4000, last_zxid=first.exists("/mine")[0].zxid)
        with second:
            assert (resp.sessionId, resp.passwd, resp.timeOut) == (first.session_id, first.passwd, 4000)
            assert len(payload) == 37
            # The session moved: its old connection is closed.
            assert first.expect_closed(2.0) == b""
            header, resp, _ = second.exists("/mine")
            assert header.err == 0 and resp.stat.ephemeralOwner == first.session_id
            assert second.create("/mine/child", flags=0)[0].err == Code.NOCHILDRENFOREPHEMERALS
            assert second.close_session().err == 0
    with kazoo_session(zk_server) as observer:
        assert observer.exists("/mine") is None


def test_kazoo_reattaches_with_a_client_id(zk_server):
    with wire.connect(zk_server) as raw:
        raw.create("/attached", b"", flags=1)
        with kazoo_session(zk_server, client_id=(raw.session_id, raw.passwd)) as zk:
            assert zk.client_id[0] == raw.session_id
            assert zk.exists("/attached").ephemeralOwner == raw.session_id
            assert raw.expect_closed(2.0) == b""
        # kazoo's stop() closed the session, and with it the ephemeral.
        with kazoo_session(zk_server) as observer:
            assert observer.exists("/attached") is None


def test_wrong_password_is_refused(zk_server):
    owner = wire.connect(zk_server)
    with owner:
        assert owner.create("/guarded", flags=1)[0].err == 0
        bad = bytes(b ^ 0xFF for b in owner.passwd)
        resp, payload, intruder = handshake(zk_server, session_id=owner.session_id, passwd=bad)
        with intruder:
            # The "invalid session" reply: timeOut 0, session id 0, zero password; then close.
            assert payload == INVALID_REPLY + b"\0"
            assert intruder.expect_closed(2.0) == b""
        # As in Java, the session's connection was closed before the password was checked ...
        assert owner.expect_closed(2.0) == b""
    # ... but the session itself lives on, and the right password still works.
    resp, _, back = handshake(zk_server, session_id=owner.session_id, passwd=owner.passwd)
    with back:
        assert resp.sessionId == owner.session_id
        assert back.exists("/guarded")[0].err == 0
        assert back.close_session().err == 0


def test_kazoo_with_a_wrong_password_sees_its_session_expire(zk_server, caplog):
    from kazoo.client import KazooClient

    with wire.connect(zk_server) as owner:
        zk = KazooClient(hosts=zk_server.connect_string, timeout=4.0, client_id=(owner.session_id, bytes(16)))
        try:
            with caplog.at_level(logging.WARNING, logger="kazoo.client"):
                zk.start(timeout=15.0)
            # kazoo treats the refusal as an expired session, then starts a new one.
            assert "Session has expired" in caplog.text
            assert wait_for(lambda: zk.state == KazooState.CONNECTED)
            assert zk.client_id[0] not in (0, owner.session_id)
            assert zk.exists("/") is not None
        finally:
            zk.stop()
            zk.close()


def test_unknown_session_id_is_refused(zk_server):
    resp, payload, client = handshake(zk_server, session_id=0x01000000DEAD0000, passwd=session_password(
        0x01000000DEAD0000))
    with client:
        assert payload == INVALID_REPLY + b"\0"
        assert client.expect_closed(2.0) == b""


# -- connections without a session --------------------------------------------------------------


def test_sessionless_connection_is_closed(tmp_path):
    server = new_server(tick_time=TICK, temp_dir=tmp_path,
                        jvm_flags=["-Dzookeeper.nio.sessionlessCnxnTimeout=1000"])
    try:
        silent = socket.create_connection((server.host, server.port))
        partial = socket.create_connection((server.host, server.port))
        partial.sendall(b"\x00\x00\x00\x2d\x00\x00\x00")  # the start of a ConnectRequest, never finished
        started = time.monotonic()
        closed_after = {}

        def wait_closed(name, sock):
            sock.settimeout(10)
            try:
                data = sock.recv(100)
            except OSError:
                data = b""
            closed_after[name] = (time.monotonic() - started, data)
            sock.close()

        threads = [threading.Thread(target=wait_closed, args=item) for item in
                   [("silent", silent), ("partial", partial)]]
        for t in threads:
            t.start()
        with kazoo_session(server) as zk:  # a connection with a session is not affected
            time.sleep(2.5)
            assert zk.state == KazooState.CONNECTED and zk.exists("/") is not None
        for t in threads:
            t.join(15)
        for name in ("silent", "partial"):
            elapsed, data = closed_after[name]
            assert data == b"", name
            assert 0.9 <= elapsed <= 3.0, (name, elapsed)
    finally:
        server.close()
