"""Damaged txn logs at startup (ZK_SPEC.md §5.2).

A torn last write (the crash came before its fsync returned, so nobody was
acknowledged for it) is dropped with a warning and the server starts with
everything before it. Damage anywhere else is corruption: the server
refuses to start and names the file and the offset, and leaves the files
as they were.

The entries are located with the txn log's own reader
(``zkpy.server.persistence.file_txn_log``), not with hard-coded offsets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest

from zkpy.defs import OpCode
from zkpy.jute.archive import DEFAULT_MAX_BUFFER, length_limit
from zkpy.server.persistence import file_txn_log
from zkpy.server.persistence.util import LOG_FILE_PREFIX, VERSION_DIR, sort_data_dir
from zkpy.server.txn_codec import deserialize_txn
from zkpy.testing import TestingServerError

from . import wire
from .servers import ON_JAVA, kazoo_session, new_server, zkpy_only

NODES = [f"/n{i:02d}" for i in range(20)]


class Entry(NamedTuple):
    offset: int  # of the entry's checksum
    end: int  # offset just past its trailing 'B'
    zxid: int
    type: int


def log_entries(path: Path) -> list[Entry]:
    reader = file_txn_log._LogFileReader(path, length_limit(DEFAULT_MAX_BUFFER),
                                         newest=False)
    entries = []
    try:
        while (payload := reader.next_payload()) is not None:
            hdr, _, _ = deserialize_txn(payload)
            entries.append(Entry(reader.entry_offset, reader.offset, hdr.zxid, hdr.type))
    finally:
        reader.close()
    return entries


def newest_log(server) -> Path:
    logs = sort_data_dir(Path(server.data_dir) / VERSION_DIR, LOG_FILE_PREFIX)
    assert logs, "no txn log written"
    return logs[-1]


@pytest.fixture
def stopped_server(tmp_path):
    """A server that logged creates of NODES (the last entry is /n19's) and was stopped."""
    server = new_server(temp_dir=tmp_path)
    try:
        # A raw session that is never closed: its last txn is the create of /n19.
        with wire.connect(server) as c:
            for path in NODES:
                assert c.create(path, path.encode())[0].err == 0
        server.stop()
        yield server
    finally:
        server.close()


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def start_fails(server) -> str:
    """Start a server that must refuse to; return its error message."""
    errors: tuple = (TestingServerError,)
    if ON_JAVA:
        from tests.interop.java_zk import JavaZooKeeperError

        errors = (JavaZooKeeperError,)
    with pytest.raises(errors) as info:
        server.start()
    assert not server.is_running
    return str(info.value)


def present(server) -> list[str]:
    with kazoo_session(server) as zk:
        return sorted("/" + name for name in zk.get_children("/") if name.startswith("n"))


def test_log_is_replayed_on_start(stopped_server):
    entries = log_entries(newest_log(stopped_server))
    assert [e.type for e in entries][-len(NODES):] == [OpCode.create] * len(NODES)
    stopped_server.start()
    assert present(stopped_server) == NODES


def test_truncated_mid_entry_drops_only_the_torn_write(stopped_server):
    log = newest_log(stopped_server)
    last = log_entries(log)[-1]
    cut = last.offset + (last.end - last.offset) // 2
    os.truncate(log, cut)
    stopped_server.start()
    if not ON_JAVA:
        assert "Torn write" in stopped_server.log_tail(200)
        assert f"offset {last.offset}" in stopped_server.log_tail(200)
    # zxids go on from the last good entry (the torn one's zxid goes to this
    # session's createSession); new writes survive another restart.
    with kazoo_session(stopped_server) as zk:
        assert zk.exists(NODES[-2]) is not None and zk.exists(NODES[-1]) is None
        assert zk.create("/after", include_data=True)[1].czxid == last.zxid + 1
        zk.create(NODES[-1], b"again")
    stopped_server.restart()
    assert present(stopped_server) == NODES
    with kazoo_session(stopped_server) as zk:
        assert zk.exists("/after") is not None
        assert zk.get(NODES[-1])[0] == b"again"


def test_torn_entry_followed_by_zeros_is_ignored(stopped_server):
    log = newest_log(stopped_server)
    last = log_entries(log)[-1]
    # What a crash mid-append leaves in the preallocated zeros: an entry
    # header and part of its payload, the rest never written.
    size = os.path.getsize(log)
    if size < last.end + 4096:
        os.truncate(log, last.end + 4096)  # a log that was not preallocated: add the zeros
    patch(log, last.end, (0x1234ABCD).to_bytes(8, "big") + (300).to_bytes(4, "big") + b"\x07" * 100)
    stopped_server.start()
    assert present(stopped_server) == NODES
    if not ON_JAVA:
        assert "Torn write" in stopped_server.log_tail(200) or "partial" in stopped_server.log_tail(200)
    with kazoo_session(stopped_server) as zk:
        zk.create("/after-torn", b"x")
    stopped_server.restart()
    assert present(stopped_server) == NODES
    with kazoo_session(stopped_server) as zk:
        assert zk.get("/after-torn")[0] == b"x"


@zkpy_only  # Java 3.8.0 refuses to start (CRC check failed)
def test_bad_checksum_on_the_last_entry_is_a_torn_write(stopped_server):
    """A complete-looking last entry (its 'B' in place) whose payload never
    fully reached the disk, followed only by zero padding: dropped with a
    warning naming file and offset, then cut from the log so new writes follow it."""
    log = newest_log(stopped_server)
    last = log_entries(log)[-1]
    assert log.read_bytes()[last.end:last.end + 4096].strip(b"\0") == b""  # zeros follow
    flip_at = last.offset + 12 + 20  # inside its TxnHeader
    patch(log, flip_at, bytes([log.read_bytes()[flip_at] ^ 0xFF]))
    stopped_server.start()
    tail = stopped_server.log_tail(200)
    assert "Torn write" in tail and str(log) in tail and f"offset {last.offset}" in tail
    assert present(stopped_server) == NODES[:-1]
    with kazoo_session(stopped_server) as zk:
        assert zk.create("/after-crc", include_data=True)[1].czxid >= last.zxid  # its zxid is free again
    stopped_server.restart()
    assert present(stopped_server) == NODES[:-1]
    with kazoo_session(stopped_server) as zk:
        assert zk.exists("/after-crc") is not None


def test_corrupt_middle_entry_refuses_to_start(stopped_server):
    log = newest_log(stopped_server)
    entries = log_entries(log)
    victim = entries[len(entries) // 2]
    original = log.read_bytes()
    flip_at = victim.offset + 12 + 20  # a byte inside the payload (in the TxnHeader)
    patch(log, flip_at, bytes([original[flip_at] ^ 0x01]))
    message = start_fails(stopped_server)
    if not ON_JAVA:
        assert str(log) in message
        assert f"offset {victim.offset}" in message
        assert "CRC" in message
    # Refusing changed nothing on disk: repaired, the log loads in full.
    assert log.read_bytes()[:len(original)] == original[:flip_at] + bytes([original[flip_at] ^ 0x01]) + \
        original[flip_at + 1:]
    patch(log, flip_at, original[flip_at:flip_at + 1])
    stopped_server.start()
    assert present(stopped_server) == NODES


def test_corrupt_length_in_a_middle_entry_refuses_to_start(stopped_server):
    log = newest_log(stopped_server)
    victim = log_entries(log)[5]
    patch(log, victim.offset + 8, (-5 & 0xFFFFFFFF).to_bytes(4, "big"))
    message = start_fails(stopped_server)
    if not ON_JAVA:
        assert str(log) in message and f"offset {victim.offset}" in message


@zkpy_only  # Java 3.8.0 refuses to start (EOFException reading the FileHeader)
def test_newest_log_cut_inside_its_header_is_ignored(stopped_server):
    """A crash right after a new log file was created leaves a few bytes of its header."""
    log = newest_log(stopped_server)
    last = log_entries(log)[-1]
    stub = log.with_name(f"{LOG_FILE_PREFIX}.{last.zxid + 1:x}")
    stub.write_bytes(file_txn_log.TXNLOG_MAGIC.to_bytes(4, "big") + b"\0\0")
    stopped_server.start()
    assert present(stopped_server) == NODES
    with kazoo_session(stopped_server) as zk:
        zk.create("/after-stub")
    stopped_server.restart()
    with kazoo_session(stopped_server) as zk:
        assert zk.exists("/after-stub") is not None
