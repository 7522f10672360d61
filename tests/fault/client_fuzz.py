"""A hypothesis fuzzer for the client port: handshakes and every request.

Not a ZooKeeper class. Each example opens a raw connection to a real
server (``tests/integration/wire.py``), sends a fuzzed ConnectRequest or a
valid handshake followed by fuzzed requests -- any op code, any xid, bodies
built from the op's own record with hostile field values, then possibly
cut short, extended or bit-flipped, or plain random bytes -- reads what
comes back, and hangs up. Paths point under ``/fuzz`` (or are malformed),
so that a well-formed fuzzed request cannot lock others out through an ACL
on ``/``.

:class:`FuzzTarget` checks after every example what must hold whatever a
client sends: the server process is alive, a control session (connected
all along, authenticated as the super user so that no fuzzed ACL stops
it) never saw its connection drop and can still write, and the server log
has no traceback (an exception that escaped the request decoders or the
processors).
"""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from kazoo.client import KazooClient, KazooState
from kazoo.security import make_digest_acl_credential

from zkpy.defs import CLIENT_OPS, OpCode
from zkpy.jute.archive import OutputArchive
from zkpy.jute.multi import MULTI_REQUEST_RECORDS
from zkpy.jute.records import (
    ACL, AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, ConnectRequest,
    CreateRequest, CreateTTLRequest, DeleteRequest, ExistsRequest, GetACLRequest,
    GetAllChildrenNumberRequest, GetChildren2Request, GetChildrenRequest, GetDataRequest,
    GetEphemeralsRequest, GetSASLRequest, Id, MultiHeader, ReconfigRequest, RemoveWatchesRequest,
    RequestHeader, SetACLRequest, SetDataRequest, SetWatches, SetWatches2, SyncRequest,
)
from zkpy.testing import TestingServer

from tests.integration.wire import ConnectionClosed, WireClient

__all__ = ["FuzzTarget", "handshakes", "request_frames", "fuzz_settings", "SUPER_USER", "SUPER_PASSWORD"]

SUPER_USER, SUPER_PASSWORD = "super", "fuzz-super"
_INT = struct.Struct(">i")
_PING = struct.pack(">ii", -2, OpCode.ping)

INT = st.integers(-2**31, 2**31 - 1)
LONG = st.integers(-2**63, 2**63 - 1)
SMALL_INT = st.one_of(st.integers(-3, 40), INT)
BUFFER = st.one_of(st.none(), st.binary(max_size=64), st.just(b"\0" * 2000))
TEXT = st.text(max_size=24)
PATH = st.one_of(
    st.builds(lambda s: "/fuzz/" + s, TEXT),
    st.builds(lambda s: "/fuzz/" + s, st.text(alphabet="/.\0\ud800\uffff a", max_size=12)),
    st.sampled_from(["", "fuzz", "/fuzz/", "/fuzz//x", "/fuzz/.", "/fuzz/..", "/fuzz/\0", "/fuzz/\u2000",
                     "/fuzz/" + "x" * 5000]),
    st.none(),
)
SCHEME = st.one_of(st.sampled_from(["world", "auth", "digest", "ip", "x509", "sasl", "super", ""]), TEXT,
                   st.none())
IDENT = st.one_of(st.sampled_from(["anyone", "", "127.0.0.1", "10.0.0.0/33", "u:p", "u:bad=", "::1/129"]), TEXT,
                  st.none())
ACLS = st.one_of(st.none(), st.lists(st.builds(ACL, SMALL_INT, st.builds(Id, SCHEME, IDENT)), max_size=3))
FLAGS = st.one_of(st.integers(-2, 8), INT)
PATHS = st.lists(PATH.filter(lambda p: p is not None), max_size=4)


def _records_for(op: int) -> st.SearchStrategy:
    """The request record ``op`` carries, with hostile field values."""
    if op in (OpCode.create, OpCode.create2, OpCode.createContainer):
        return st.builds(CreateRequest, PATH, BUFFER, ACLS, FLAGS)
    if op == OpCode.createTTL:
        return st.builds(CreateTTLRequest, PATH, BUFFER, ACLS, FLAGS, st.one_of(st.integers(-2, 10**12), LONG))
    if op in (OpCode.delete, OpCode.deleteContainer):
        return st.builds(DeleteRequest, PATH, SMALL_INT)
    if op == OpCode.exists:
        return st.builds(ExistsRequest, PATH, st.booleans())
    if op == OpCode.getData:
        return st.builds(GetDataRequest, PATH, st.booleans())
    if op == OpCode.setData:
        return st.builds(SetDataRequest, PATH, BUFFER, SMALL_INT)
    if op == OpCode.getACL:
        return st.builds(GetACLRequest, PATH)
    if op == OpCode.setACL:
        return st.builds(SetACLRequest, PATH, ACLS, SMALL_INT)
    if op == OpCode.getChildren:
        return st.builds(GetChildrenRequest, PATH, st.booleans())
    if op == OpCode.getChildren2:
        return st.builds(GetChildren2Request, PATH, st.booleans())
    if op == OpCode.sync:
        return st.builds(SyncRequest, PATH)
    if op == OpCode.check:
        return st.builds(CheckVersionRequest, PATH, SMALL_INT)
    if op == OpCode.reconfig:
        return st.builds(ReconfigRequest, st.one_of(TEXT, st.none()), st.one_of(TEXT, st.none()),
                         st.one_of(TEXT, st.none(), st.just("server.9=127.0.0.1:1:2;3")), LONG)
    if op in (OpCode.checkWatches, OpCode.removeWatches):
        return st.builds(CheckWatchesRequest if op == OpCode.checkWatches else RemoveWatchesRequest, PATH,
                         SMALL_INT)
    if op == OpCode.auth:
        return st.builds(AuthPacket, SMALL_INT, SCHEME, BUFFER)
    if op == OpCode.setWatches:
        return st.builds(SetWatches, LONG, PATHS, PATHS, PATHS)
    if op == OpCode.setWatches2:
        return st.builds(SetWatches2, LONG, PATHS, PATHS, PATHS, PATHS, PATHS)
    if op == OpCode.sasl:
        return st.builds(GetSASLRequest, BUFFER)
    if op == OpCode.getEphemerals:
        return st.builds(GetEphemeralsRequest, PATH)
    if op == OpCode.getAllChildrenNumber:
        return st.builds(GetAllChildrenNumberRequest, PATH)
    if op == OpCode.addWatch:
        return st.builds(AddWatchRequest, PATH, SMALL_INT)
    return st.none()  # ping, whoAmI, closeSession, createSession, unknown ops: no body


def _serialize(record) -> bytes:
    out = OutputArchive()
    if record is not None:
        record.serialize(out)
    return bytes(out.buf)


@st.composite
def _multi_body(draw) -> bytes:
    out = OutputArchive()
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.one_of(st.sampled_from(sorted(MULTI_REQUEST_RECORDS)), SMALL_INT))
        MultiHeader(op, False, -1).serialize(out)
        if op in MULTI_REQUEST_RECORDS:
            draw(_records_for(op)).serialize(out)
    if draw(st.integers(0, 5)):  # usually closed by the done header
        MultiHeader(-1, True, -1).serialize(out)
    return bytes(out.buf)


@st.composite
def _mutated(draw, body: bytes) -> bytes:
    """``body`` as is, cut short, extended, or with bits flipped."""
    how = draw(st.sampled_from(["keep", "keep", "cut", "extend", "flip"]))
    if how == "cut" and body:
        return body[:draw(st.integers(0, len(body) - 1))]
    if how == "extend":
        return body + draw(st.binary(min_size=1, max_size=32))
    if how == "flip" and body:
        data = bytearray(body)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    return body


@st.composite
def request_payload(draw) -> bytes:
    """One request frame's payload: header + a (hostile) body."""
    op = draw(st.one_of(st.sampled_from(sorted(CLIENT_OPS)), st.sampled_from(sorted(CLIENT_OPS)), INT))
    xid = draw(st.one_of(st.integers(1, 1000), st.sampled_from([0, -1, -2, -4, -8]), INT))
    kind = draw(st.sampled_from(["record", "record", "record", "random"]))
    if kind == "random":
        body = draw(st.binary(max_size=80))
    elif op in (OpCode.multi, OpCode.multiRead):
        body = draw(_multi_body())
    else:
        body = _serialize(draw(_records_for(op)))
    out = OutputArchive()
    RequestHeader(xid, op).serialize(out)
    return bytes(out.buf) + draw(_mutated(body))


def request_frames() -> st.SearchStrategy:
    """1-4 request payloads for one session."""
    return st.lists(request_payload(), min_size=1, max_size=4)


@st.composite
def handshakes(draw) -> bytes:
    """The bytes a connecting client sends first (framed or not)."""
    kind = draw(st.sampled_from(["record", "record", "random", "unframed"]))
    if kind == "unframed":
        return draw(st.binary(min_size=1, max_size=60))
    if kind == "random":
        payload = draw(st.binary(max_size=80))
    else:
        out = OutputArchive()
        ConnectRequest(draw(st.one_of(st.just(0), INT)), draw(st.one_of(st.just(0), LONG)),
                       draw(st.one_of(st.sampled_from([0, 1000, 30000]), INT)),
                       draw(st.one_of(st.just(0), LONG)), draw(BUFFER)).serialize(out)
        if draw(st.booleans()):
            out.write_bool(draw(st.booleans()))
        payload = draw(_mutated(bytes(out.buf)))
    length = draw(st.one_of(st.just(len(payload)), st.just(len(payload)), INT))
    return _INT.pack(length) + payload


# The control session's kazoo thread calls random.randint at every turn of its
# loop, while Hypothesis, in the main thread, checks that the global random
# state stays still as it draws an example; so Hypothesis takes kazoo's calls
# for the strategies' own.
KAZOO_USES_RANDOM = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning")


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings for ``examples`` examples against a live server."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


class FuzzTarget:
    """A server under fuzzing, its control session, and the checks."""

    def __init__(self, server: TestingServer):
        self.server = server
        self.examples = 0
        self.replies = 0  # reply frames (or, for handshakes, chunks) read
        self.closed_by_server = 0  # sessions the server closed before the ping's reply
        self._log_offset = 0
        self._state_changes: list[str] = []
        credential = make_digest_acl_credential(SUPER_USER, SUPER_PASSWORD)
        assert credential  # the server runs with this user as its super digest
        self.control = KazooClient(hosts=server.connect_string, timeout=10.0,
                                   auth_data=[("digest", f"{SUPER_USER}:{SUPER_PASSWORD}")])
        self.control.add_listener(lambda state: self._state_changes.append(state))
        self.control.start(timeout=15)
        self.session_id = self.control.client_id[0]
        self.control.ensure_path("/fuzz")
        self.control.create("/control", b"", ephemeral=True)

    @staticmethod
    def super_digest_flag() -> str:
        return ("-Dzookeeper.DigestAuthenticationProvider.superDigest="
                f"{make_digest_acl_credential(SUPER_USER, SUPER_PASSWORD)}")

    def reset_counts(self) -> None:
        self.examples = self.replies = self.closed_by_server = 0

    def close(self) -> None:
        try:
            self.control.stop()
        finally:
            self.control.close()

    # -- one example ---------------------------------------------------------------------
    def send_handshake(self, data: bytes) -> None:
        with WireClient(self.server.host, self.server.port, timeout=2.0) as c:
            self._send_and_drain(c, [data])
        self._after()

    def send_requests(self, payloads: list[bytes]) -> None:
        """A session, the requests, then a ping: its reply (requests are
        answered in order) or the server closing says all were handled."""
        with WireClient(self.server.host, self.server.port, timeout=5.0) as c:
            c.handshake(timeout_ms=1000)
            ping = _INT.pack(8) + _PING
            try:
                c.send_raw(b"".join(_INT.pack(len(p)) + p for p in payloads) + ping)
                while True:
                    header, _ = c.read_reply()
                    self.replies += 1
                    if header.xid == -2:
                        break
            except (ConnectionClosed, OSError):
                self.closed_by_server += 1
        self._after()

    def _send_and_drain(self, c: WireClient, chunks: list[bytes]) -> None:
        try:
            for chunk in chunks:
                c.send_raw(chunk)
        except OSError:
            self.closed_by_server += 1
            return
        # Half-close: the server reads everything we sent, then EOF, and
        # closes; reading until then is quick whatever the frames said.
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        c.sock.settimeout(5.0)
        while True:
            try:
                data = c.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("the server neither answered nor closed within 5 s of EOF") from None
            except OSError:
                data = b""
            if not data:
                break
            self.replies += 1

    def _after(self) -> None:
        self.examples += 1
        if self.examples % 10 == 0:
            self.check()

    # -- what must hold --------------------------------------------------------------------
    def check(self) -> None:
        server = self.server
        assert server.is_running, f"the server died (status {server.returncode}):\n{server.log_tail(40)}"
        changes = [s for s in self._state_changes if s != KazooState.CONNECTED]
        assert not changes, f"the control session saw {changes}"
        assert self.control.client_id[0] == self.session_id
        stat = self.control.set("/control", b"%d" % self.examples)
        assert stat.ephemeralOwner == self.session_id
        self._check_log()

    def _check_log(self) -> None:
        with open(self.server.log_path, "rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode("utf-8", errors="replace")
            self._log_offset = f.tell()
        bad = [line for line in text.splitlines() if "Traceback" in line or "Unexpected" in line]
        if bad:
            start = text.find(bad[0])
            raise AssertionError(f"the server logged an unexpected exception:\n{text[start:start + 3000]}")

