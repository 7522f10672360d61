"""Hostile bytes on the peers' election and quorum ports.

A running 3-peer ensemble is sent, on every peer's election port: random
garbage, unknown protocol versions, unreasonable address lengths, headers
claiming sids that are not in the configuration (as a 3.5+ header and as a
pre-3.5 bare sid; a smaller one is refused, larger ones are kept until they
hang up, as Java keeps them for a peer joining by reconfig), a malformed address, and a frame longer than
PACKETMAXSIZE after a header claiming a configured sid; and on the
leader's quorum port: garbage, an unreasonable packet length, a first
packet that is not FOLLOWERINFO/OBSERVERINFO, a FOLLOWERINFO with no
LearnerInfo, and one from a sid not in the configuration that hangs up
after the leader's LEADERINFO.

Every peer logs what it dropped and keeps its role: the same leader,
``Mode`` and ``zk_peer_state`` as before, no peer dies, and (when
ensembles serve clients) a write through each peer is read back through
every other.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time

import pytest

from zkpy.jute.records import QuorumPacket
from zkpy.quorum.initial_message import PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2, build_initial_message
from zkpy.quorum.quorum_packet import FOLLOWERINFO, LEADERINFO, PING, learner_info, make_zxid
from zkpy.testing import TestingCluster, wait_until

from .conftest import ensemble_serving_reason
from .workloads import kazoo_client

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with TestingCluster(3, temp_dir=tmp_path_factory.mktemp("hostile-quorum")) as cluster:
        cluster.start()
        yield cluster


def settled(cluster) -> int:
    """Wait until every peer is in its role (start() waits for a quorum
    only); the leader's sid."""
    wait_until(lambda: sorted(str(m) for m in cluster.modes().values()) == ["follower", "follower", "leader"],
               30, "every peer in its role")
    return cluster.wait_for_leader()


def ports(cluster, sid: int) -> tuple[str, int, int]:
    """(host, quorum port, election port) of ``sid``, from its own zoo.cfg entry."""
    host, quorum, election = cluster.peer(sid).build_config()[f"server.{sid}"].split(":")[:3]
    return host, int(quorum), int(election)


def send(host: str, port: int, data: bytes, *, linger: float = 0.3) -> bytes:
    """Send ``data``, wait a moment, return what came back before the peer
    closed (or before we gave up) and hang up."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(linger)
        received = bytearray()
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return bytes(received)


def log_size(peer) -> int:
    return os.path.getsize(peer.log_path)


def log_since(peer, offset: int) -> str:
    """The peer's log from byte ``offset`` on (log_tail reads only the last
    64 KB, which a busy peer's log outgrows)."""
    with open(peer.log_path, "rb") as f:
        f.seek(max(0, offset - 200))
        return f.read().decode("utf-8", errors="replace")


def state(cluster) -> dict:
    """Each peer's Mode and zk_peer_state."""
    result = {}
    for sid in cluster.sids:
        mntr = dict(line.split("\t", 1) for line in cluster.peer(sid).four_letter_word("mntr").splitlines()
                    if "\t" in line)
        result[sid] = (cluster.mode(sid), mntr.get("zk_peer_state"))
    return result


def election_attacks(rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(what, bytes, a log line it must leave) for an election port."""
    return [
        # Read as a pre-3.5 header: a huge sid. Larger unknown sids are kept
        # (as Java: a peer joining by reconfig dials before it is in our
        # view), until they hang up; smaller ones are refused.
        ("garbage", b"\x00" + rng.randbytes(300), "Connection broken for id "),
        ("unknown protocol version", _LONG.pack(-12345) + rng.randbytes(40), "unrecognized protocol version -12345"),
        ("unreasonable address length", _LONG.pack(PROTOCOL_VERSION_V1) + _LONG.pack(3) + _INT.pack(100_000),
         "Unreasonable buffer length: 100000"),
        ("negative address length", _LONG.pack(PROTOCOL_VERSION_V1) + _LONG.pack(3) + _INT.pack(-7),
         "Unreasonable buffer length: -7"),
        ("malformed address", _LONG.pack(PROTOCOL_VERSION_V2) + _LONG.pack(3) + _INT.pack(10) + b"nohostport",
         "Badly formed address"),
        ("unknown larger sid", build_initial_message(99, [("127.0.0.1", 1)]) + _INT.pack(4) + b"vote",
         "Connection broken for id 99,"),
        ("unknown larger pre-3.5 sid", _LONG.pack(7777), "Connection broken for id 7777,"),
        ("unknown smaller sid", build_initial_message(0, [("127.0.0.1", 1)]), "sid 0, which is not in the configuration"),
    ]


def test_hostile_election_input_leaves_every_role_alone(cluster, tmp_path_factory):
    leader = settled(cluster)
    before = state(cluster)
    rng = random.Random(4)
    for sid in cluster.sids:
        host, _, election = ports(cluster, sid)
        offset = log_size(cluster.peer(sid))
        for what, data, logged in election_attacks(rng):
            assert send(host, election, data) == b"", f"peer {sid} answered {what}"
            time.sleep(0.05)
        log = log_since(cluster.peer(sid), offset)
        for what, _, logged in election_attacks(rng):
            assert logged in log, f"peer {sid} did not log the {what}: expected {logged!r}"
    # A frame over PACKETMAXSIZE from a connection claiming a configured,
    # larger sid (without quorum SASL nothing proves who dials; Java is the
    # same): the peer drops that connection, and peer 3's own returns when needed.
    host, _, election = ports(cluster, 1)
    send(host, election, build_initial_message(3, [(host, 1)]) + _INT.pack(600 * 1024), linger=1.0)
    assert "Received packet with invalid packet: 614400" in cluster.peer(1).log_tail(300)
    time.sleep(1.0)
    assert cluster.leader() == leader
    assert state(cluster) == before
    assert all(cluster.peer(sid).is_running for sid in cluster.sids)
    assert_ensemble_serves(cluster, tmp_path_factory)


def packet(packet_type: int, zxid: int, data: bytes | None) -> bytes:
    return QuorumPacket(packet_type, zxid, data, None).to_bytes()


def test_hostile_quorum_port_input_leaves_every_role_alone(cluster, tmp_path_factory):
    leader = settled(cluster)
    before = state(cluster)
    host, quorum, _ = ports(cluster, leader)
    offset = log_size(cluster.peer(leader))
    rng = random.Random(5)
    current_epoch = int(cluster.peer(leader).four_letter_word("srvr").split("Zxid: ")[1].split()[0], 16) >> 32
    attacks = [
        ("garbage", rng.randbytes(500), "Unreasonable"),
        ("unreasonable packet length", struct.pack(">iqi", FOLLOWERINFO, 0, 0x7FFFFFF0), "Unreasonable length"),
        ("not a learner's first packet", packet(PING, 0, b""), "is not FOLLOWERINFO or OBSERVERINFO"),
        ("unknown packet type", packet(9999, 0, None), "is not FOLLOWERINFO or OBSERVERINFO"),
    ]
    for what, data, _ in attacks:
        assert send(host, quorum, data) == b"", f"the leader answered {what}"
    # A learner the config does not know: Java and zkpy log it and go on
    # with discovery (LEADERINFO); it hangs up there.
    answer = send(host, quorum, packet(FOLLOWERINFO, make_zxid(current_epoch, 0), learner_info(99, 0)), linger=1.0)
    assert answer[:4] == _INT.pack(LEADERINFO), answer[:16]
    # A FOLLOWERINFO without its LearnerInfo, claiming an epoch far ahead.
    send(host, quorum, packet(FOLLOWERINFO, make_zxid(0x7FFFFFFF, 0), None), linger=1.0)
    time.sleep(0.5)
    log = log_since(cluster.peer(leader), offset)
    for what, _, logged in attacks:
        assert logged in log, f"the leader did not log the {what}: expected {logged!r}"
    assert "Follower sid: 99 not in the current config" in log
    assert cluster.leader() == leader
    assert state(cluster) == before
    assert all(cluster.peer(sid).is_running for sid in cluster.sids)
    assert_ensemble_serves(cluster, tmp_path_factory)


def assert_ensemble_serves(cluster, tmp_path_factory) -> None:
    """A write through each peer is read through every other (when ensembles serve)."""
    if ensemble_serving_reason(tmp_path_factory):
        return
    for sid in cluster.sids:
        with kazoo_client(cluster.peer(sid).connect_string) as writer:
            writer.ensure_path("/hostile")
            writer.create(f"/hostile/via-{sid}-", b"x", sequence=True)
    for sid in cluster.sids:
        with kazoo_client(cluster.peer(sid).connect_string) as reader:
            reader.sync("/hostile")
            names = reader.get_children("/hostile")
            assert {name.split("-")[1] for name in names} >= {str(s) for s in cluster.sids}, (sid, names)
