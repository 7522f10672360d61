"""Malformed input on the client port (ZK_SPEC.md §2.1, §2.3, §2.5, §3.1).

Whatever one connection sends, the server closes that connection (or
answers with an error code) and goes on serving everyone else: after every
test a bystander session, connected all along, must still be connected,
with the same session and its ephemeral node.

The server whitelists only ``srvr`` among the four-letter words, Java's
default (``ruok`` is not exempt).
"""

from __future__ import annotations

import os
import socket
import struct
import time

import pytest
from kazoo.protocol.states import KazooState

from zkpy.defs import OpCode
from zkpy.errors import Code
from zkpy.jute.archive import OutputArchive
from zkpy.jute.records import ExistsRequest, RequestHeader

from . import wire
from .servers import ON_JAVA, kazoo_session, new_server

MAX_BUFFER = 0xFFFFF
_INT = struct.Struct(">i")


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory):
    server = new_server(temp_dir=tmp_path_factory.mktemp("bad_input"),
                        config={"4lw.commands.whitelist": "srvr"})
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def bystander(zk_server):
    with kazoo_session(zk_server) as zk:
        zk.create("/bystander", b"", ephemeral=True)
        yield zk


@pytest.fixture(autouse=True)
def others_unaffected(zk_server, bystander):
    session_id = bystander.client_id[0]
    yield
    # A fresh client works ...
    with kazoo_session(zk_server) as fresh:
        fresh.create("/fresh-", b"", ephemeral=True, sequence=True)
        assert fresh.exists("/") is not None
    # ... and the bystander never lost its connection nor its session.
    assert bystander.state == KazooState.CONNECTED
    assert bystander.client_id[0] == session_id
    assert bystander.exists("/bystander").ephemeralOwner == session_id


@pytest.fixture
def logged(zk_server):
    """``logged(text)``: zkpy's log got ``text`` during this test (always true on Java).

    zkpy logs its warning before it closes the connection, so it is in the
    file by the time the client sees the close.
    """
    start = 0 if ON_JAVA else os.path.getsize(zk_server.log_path)

    def check(text: str) -> bool:
        if ON_JAVA:
            return True
        with open(zk_server.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            return text in f.read()

    return check


def raw(server) -> wire.WireClient:
    return wire.WireClient(server.host, server.port)


def request(xid: int, op: int, body: bytes = b"") -> bytes:
    out = OutputArchive()
    RequestHeader(xid, op).serialize(out)
    out.write_raw(body)
    return bytes(out.buf)


# -- frame lengths -------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [MAX_BUFFER + 1, 0x7FFFFFFF, -1, -0x80000000])
def test_bad_frame_length_before_the_handshake(zk_server, logged, length):
    with raw(zk_server) as c:
        c.send_raw(_INT.pack(length))  # only the length: the server must not wait for a body
        assert c.expect_closed(2.0) == b""
    assert logged(f"packet length {length} is out of the range 0..{MAX_BUFFER}")


@pytest.mark.parametrize("length", [MAX_BUFFER + 1, -1])
def test_bad_frame_length_in_a_session(zk_server, logged, length):
    c = wire.connect(zk_server)
    with c:
        c.send_raw(_INT.pack(length))
        assert c.expect_closed(2.0) == b""
    assert logged(f"packet length {length} is out of the range 0..{MAX_BUFFER}")
    # Only the connection was closed: the session can be resumed.
    with raw(zk_server) as again:
        resp, _ = again.handshake(session_id=c.session_id, passwd=c.passwd)
        assert resp.sessionId == c.session_id
        assert again.exists("/")[0].err == 0
        assert again.close_session().err == 0


def test_max_buffer_frame_length_is_accepted(zk_server):
    with wire.session(zk_server) as c:
        # A frame of exactly jute.maxbuffer bytes: an exists whose path fills it.
        path = "/" + "p" * (MAX_BUFFER - 8 - 4 - 1 - 1)
        payload = request(1, OpCode.exists, _INT.pack(len(path)) + path.encode() + b"\0")
        assert len(payload) == MAX_BUFFER
        c.send_frame(payload)
        header, _ = c.read_reply()
        assert (header.xid, header.err) == (1, Code.NONODE)


# -- bodies that do not parse ---------------------------------------------------------------------


def test_garbage_connect_request(zk_server, logged):
    for body in [b"\x01\x02\x03", b"", bytes(24) + _INT.pack(0x7FFFFFFF)]:  # huge passwd length
        with raw(zk_server) as c:
            c.send_frame(body)
            assert c.expect_closed(2.0) == b"", body
    assert logged("malformed packet")


def test_short_request_header(zk_server):
    c = wire.connect(zk_server)
    with c:
        c.send_frame(b"\x00\x00\x01")
        assert c.expect_closed(2.0) == b""
    with raw(zk_server) as again:
        assert again.handshake(session_id=c.session_id, passwd=c.passwd)[0].sessionId == c.session_id
        assert again.close_session().err == 0


def test_garbage_read_body_is_a_marshalling_error(zk_server):
    with wire.session(zk_server) as c:
        last = c.create("/g")[0].zxid
        # A path length far beyond the frame.
        c.send_frame(request(c.next_xid(), OpCode.getData, b"\x00\x10\x00\x00abc"))
        header, _ = c.read_reply()
        assert (header.xid, header.zxid, header.err) == (c.xid, last, Code.MARSHALLINGERROR)
        # The connection goes on.
        header, resp, _ = c.exists("/g")
        assert header.err == 0 and resp.stat.czxid == last


def test_garbage_write_body_is_a_marshalling_error_and_consumes_a_zxid(zk_server):
    with wire.session(zk_server) as c:
        last = c.create("/gw")[0].zxid
        for body in [b"\x00\x10\x00\x00abc", b""]:
            c.send_frame(request(c.next_xid(), OpCode.create, body))
            header, _ = c.read_reply()
            last += 1
            assert (header.xid, header.zxid, header.err) == (c.xid, last, Code.MARSHALLINGERROR)
        header, _, _ = c.create("/gw2")
        assert (header.err, header.zxid) == (0, last + 1)


def test_unknown_opcode(zk_server, logged):
    c = wire.connect(zk_server)
    with c:
        xid = c.send_request(999, body=b"\x00\x00\x00\x01/")
        header, _ = c.read_reply()
        assert (header.xid, header.zxid, header.err) == (xid, -1, Code.UNIMPLEMENTED)
        # As Java: the reply, then the connection is closed ...
        assert c.expect_closed(2.0) == b""
    assert logged("Received packet at server of unknown type 999")
    # ... but not the session.
    with raw(zk_server) as again:
        resp, _ = again.handshake(session_id=c.session_id, passwd=c.passwd)
        assert resp.sessionId == c.session_id
        assert again.close_session().err == 0


def test_client_vanishing_mid_frame(zk_server):
    for _ in range(5):
        c = wire.connect(zk_server)
        frame = request(1, OpCode.exists, b"")
        out = OutputArchive()
        ExistsRequest("/", False).serialize(out)
        frame += bytes(out.buf)
        c.send_raw(_INT.pack(len(frame)) + frame[:5])
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        c.close()


# -- four-letter words --------------------------------------------------------------------------


def four_letter(server, word: bytes) -> bytes:
    with raw(server) as c:
        c.send_raw(word)
        return c.expect_closed(2.0)


def test_four_letter_word_not_in_the_whitelist(zk_server):
    assert four_letter(zk_server, b"stat") == b"stat is not executed because it is not in the whitelist.\n"
    assert four_letter(zk_server, b"mntr") == b"mntr is not executed because it is not in the whitelist.\n"
    assert four_letter(zk_server, b"ruok") == b"ruok is not executed because it is not in the whitelist.\n"
    assert four_letter(zk_server, b"srvr").startswith(b"Zookeeper version: ")


@pytest.mark.parametrize("word", [b"kill", b"abcd", b"RUOK", b"zzzz"])
def test_unknown_four_letter_word_is_closed_without_output(zk_server, word):
    start = time.monotonic()
    assert four_letter(zk_server, word) == b""
    assert time.monotonic() - start < 2.0  # closed at once, not by a timeout
