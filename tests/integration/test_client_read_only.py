"""canBeReadOnly: the client's side of read-only mode (ZK_SPEC.md §7.2).

zkpy has no read-only server yet, so two scripted fake servers stand in: a
read-only one that accepts the session with readOnly=1, and a read-write one
that answers the client's ``isro`` probe with ``rw``. The client must report
ConnectedReadOnly, probe, move to the read-write server and ask it for a new
session (id 0: a read-only server's session id is not valid elsewhere).
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from zkpy.client import KeeperState, States, ZooKeeper
from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.jute.records import ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader

from .client_util import Events


class FakeServer:
    """Accepts sessions (read-only or not), answers pings and ``isro``."""

    def __init__(self, read_only: bool, session_id: int):
        self.read_only = read_only
        self.session_id = session_id
        self.connect_requests: list[tuple[ConnectRequest, bool]] = []
        self.isro_probes = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    @staticmethod
    def _read_exact(sock, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            try:
                head = self._read_exact(sock, 4)
                if head == b"isro":
                    self.isro_probes += 1
                    sock.sendall(b"ro" if self.read_only else b"rw")
                    return
                frame = self._read_exact(sock, struct.unpack(">i", head)[0])
                inp = InputArchive(frame)
                request = ConnectRequest.deserialize(inp)
                self.connect_requests.append((request, inp.read_bool()))
                self._send(sock, ConnectResponse(0, request.timeOut, self.session_id, bytes(16)),
                           self.read_only)
                while True:  # answer pings until the client goes
                    frame = self._read_exact(sock, struct.unpack(">i", self._read_exact(sock, 4))[0])
                    header = RequestHeader.deserialize(InputArchive(frame))
                    self._send(sock, ReplyHeader(header.xid, 0, 0))
            except (EOFError, OSError):
                return

    @staticmethod
    def _send(sock, record, read_only=None) -> None:
        out = OutputArchive()
        record.serialize(out)
        if read_only is not None:
            out.write_bool(read_only)
        payload = out.to_bytes()
        sock.sendall(struct.pack(">i", len(payload)) + payload)


class FixedOrderHostProvider:
    """The servers in the given order, no shuffling, no waiting."""

    def __init__(self, addresses):
        self.addresses = list(addresses)
        self._i = -1

    def size(self) -> int:
        return len(self.addresses)

    def next(self, spin_delay_ms: int):
        self._i = (self._i + 1) % len(self.addresses)
        return self.addresses[self._i]

    def on_connected(self) -> None:
        pass


@pytest.fixture
def servers():
    ro, rw = FakeServer(True, 0x0200000000000001), FakeServer(False, 0x0100000000000007)
    try:
        yield ro, rw
    finally:
        ro.close()
        rw.close()


def test_read_only_then_moves_to_read_write_server(servers):
    ro, rw = servers
    events = Events()
    provider = FixedOrderHostProvider([("127.0.0.1", ro.port), ("127.0.0.1", rw.port)])
    zk = ZooKeeper(f"127.0.0.1:{ro.port},127.0.0.1:{rw.port}", 4000, events, can_be_read_only=True,
                   host_provider=provider)
    try:
        assert events.wait_for(lambda evs: KeeperState.SyncConnected in [e.state for e in evs], 10)
        assert zk.get_state() == States.CONNECTED
        assert zk.get_session_id() == rw.session_id
        assert [e.state for e in events.events] == [
            KeeperState.ConnectedReadOnly, KeeperState.Disconnected, KeeperState.SyncConnected]
        (ro_request, ro_flag), = ro.connect_requests
        (rw_request, rw_flag), = rw.connect_requests
        assert ro_flag and rw_flag  # canBeReadOnly is sent every time
        assert ro_request.sessionId == 0
        # The read-only server's session id is not presented to the other.
        assert rw_request.sessionId == 0
        assert rw.isro_probes >= 1
    finally:
        zk.close()


def test_read_write_client_sends_read_only_false(servers):
    _, rw = servers
    zk = ZooKeeper(f"127.0.0.1:{rw.port}", 4000)
    try:
        assert zk.wait_connected(10)
        (request, flag), = rw.connect_requests
        assert flag is False and request.timeOut == 4000 and len(request.passwd) == 16
    finally:
        zk.close()
