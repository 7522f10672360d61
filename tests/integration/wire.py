"""A tiny raw-socket ZooKeeper client for tests that need the bytes.

It frames packets (4-byte big-endian length + payload), performs the session
handshake and reads replies, using ``zkpy.jute.records`` for the records.
Nothing is hidden: tests can send any bytes they like (``send_raw``) and
check exactly what comes back, including that the server closed the socket.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time

from zkpy.defs import OpCode
from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.jute.records import (
    OPEN_ACL_UNSAFE, ConnectRequest, ConnectResponse, CreateRequest, CreateResponse, DeleteRequest,
    ExistsRequest, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse, ReplyHeader,
    RequestHeader, SetDataRequest, SetDataResponse, WatcherEvent,
)

_LEN = struct.Struct(">i")

NOTIFICATION_XID = -1


class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset)."""


class WireClient:
    """One TCP connection to a ZooKeeper server, driven frame by frame."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self._buf = bytearray()
        self.xid = 0
        self.session_id = 0
        self.passwd = b""
        self.negotiated_timeout = 0

    # -- context manager -------------------------------------------------------
    def __enter__(self) -> "WireClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # -- framing ---------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(_LEN.pack(len(payload)) + payload)

    def _fill(self, n: int) -> None:
        while len(self._buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ConnectionClosed(str(e)) from e
            if not chunk:
                raise ConnectionClosed(f"EOF after {len(self._buf)} buffered bytes")
            self._buf += chunk

    def read_frame(self) -> bytes:
        """The payload of the next frame (raises ConnectionClosed at EOF)."""
        self._fill(4)
        (length,) = _LEN.unpack_from(self._buf, 0)
        assert length >= 0, f"server sent a negative frame length {length}"
        self._fill(4 + length)
        payload = bytes(self._buf[4:4 + length])
        del self._buf[:4 + length]
        return payload

    def expect_closed(self, timeout: float = 5.0) -> bytes:
        """Wait until the server closes the connection; return any bytes it
        sent meanwhile. Fails if the connection is still open after ``timeout``."""
        deadline = time.monotonic() + timeout
        received = bytearray(self._buf)
        self._buf.clear()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the server did not close the connection within {timeout}s")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return bytes(received)
            except socket.timeout:
                continue
            if not chunk:
                return bytes(received)
            received += chunk

    # -- the session -------------------------------------------------------------
    def connect_payload(self, *, timeout_ms: int = 10000, session_id: int = 0, passwd: bytes = bytes(16),
                        last_zxid: int = 0, read_only: bool | None = False) -> bytes:
        out = OutputArchive()
        ConnectRequest(0, last_zxid, timeout_ms, session_id, passwd).serialize(out)
        if read_only is not None:  # None: an old client without the readOnly byte
            out.write_bool(read_only)
        return bytes(out.buf)

    def handshake(self, **kwargs) -> tuple[ConnectResponse, bytes]:
        """Send a ConnectRequest and read the ConnectResponse.

        Returns the response and the raw payload (whose length tells whether
        the readOnly byte was appended)."""
        self.send_frame(self.connect_payload(**kwargs))
        payload = self.read_frame()
        resp = ConnectResponse.deserialize(InputArchive(payload))
        if resp.timeOut > 0:
            self.session_id = resp.sessionId
            self.passwd = resp.passwd
            self.negotiated_timeout = resp.timeOut
        return resp, payload

    # -- requests ------------------------------------------------------------------
    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    def send_request(self, op: int, record=None, *, xid: int | None = None, body: bytes | None = None) -> int:
        """Send RequestHeader(xid, op) + record (or raw ``body``); return the xid."""
        if xid is None:
            xid = self.next_xid()
        out = OutputArchive()
        RequestHeader(xid, int(op)).serialize(out)
        if record is not None:
            record.serialize(out)
        if body is not None:
            out.write_raw(body)
        self.send_frame(bytes(out.buf))
        return xid

    def read_reply(self) -> tuple[ReplyHeader, InputArchive]:
        """The next frame as (ReplyHeader, archive positioned at the body)."""
        inp = InputArchive(self.read_frame())
        return ReplyHeader.deserialize(inp), inp

    def read_event(self, inp: InputArchive) -> WatcherEvent:
        return WatcherEvent.deserialize(inp)

    def call(self, op: int, record=None, response_cls=None):
        """Send one request and read frames until its reply; notifications
        arriving first are collected. Returns (header, response, events)."""
        xid = self.send_request(op, record)
        events = []
        while True:
            header, inp = self.read_reply()
            if header.xid == NOTIFICATION_XID:
                events.append(WatcherEvent.deserialize(inp))
                continue
            assert header.xid == xid, f"reply xid {header.xid} != request xid {xid}"
            response = None
            if header.err == 0 and response_cls is not None:
                response = response_cls.deserialize(inp)
            return header, response, events

    def read_until(self, xid: int) -> list[tuple[ReplyHeader, InputArchive]]:
        """Every frame up to and including the reply to ``xid``, in arrival order."""
        frames = []
        while True:
            header, inp = self.read_reply()
            frames.append((header, inp))
            if header.xid == xid:
                return frames

    # The usual operations; each returns (header, response or None, events).
    def create(self, path: str, data: bytes = b"", flags: int = 0):
        return self.call(OpCode.create, CreateRequest(path, data, OPEN_ACL_UNSAFE, flags), CreateResponse)

    def delete(self, path: str, version: int = -1):
        return self.call(OpCode.delete, DeleteRequest(path, version))

    def exists(self, path: str, watch: bool = False):
        return self.call(OpCode.exists, ExistsRequest(path, watch), SetDataResponse)

    def get_data(self, path: str, watch: bool = False):
        return self.call(OpCode.getData, GetDataRequest(path, watch), GetDataResponse)

    def set_data(self, path: str, data: bytes, version: int = -1):
        return self.call(OpCode.setData, SetDataRequest(path, data, version), SetDataResponse)

    def get_children(self, path: str, watch: bool = False):
        return self.call(OpCode.getChildren, GetChildrenRequest(path, watch), GetChildrenResponse)

    def ping(self) -> ReplyHeader:
        """Send a ping (xid -2) and return its reply header."""
        self.send_request(OpCode.ping, xid=-2)
        while True:
            header, _ = self.read_reply()
            if header.xid == -2:
                return header

    def close_session(self) -> ReplyHeader:
        """closeSession, then wait for the reply (the server closes the socket after it)."""
        header, _, _ = self.call(OpCode.closeSession)
        return header


def connect(server, **handshake_kwargs) -> WireClient:
    """A WireClient connected to ``server`` (a TestingServer) with a session."""
    client = WireClient(server.host, server.port)
    try:
        resp, _ = client.handshake(**handshake_kwargs)
        assert resp.timeOut > 0, f"handshake refused: {resp!r}"
    except BaseException:
        client.close()
        raise
    return client


@contextlib.contextmanager
def session(server, **handshake_kwargs):
    """Like :func:`connect`, and on exit close the session too (not just the
    socket), so that no session of a finished test expires later, in the
    middle of another test's zxid arithmetic."""
    client = connect(server, **handshake_kwargs)
    try:
        yield client
    finally:
        try:
            client.sock.settimeout(2.0)
            client.close_session()
        except (ConnectionClosed, OSError, AssertionError):
            pass  # the test's connection was closed (or the session moved): nothing to close here
        client.close()
