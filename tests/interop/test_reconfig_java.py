"""Dynamic reconfiguration, the same steps on Java ZooKeeper 3.8 and on zkpy.

Each implementation runs a reconfig-enabled 3-peer ensemble: the first
config version, zoo.cfg's rewrite and the dynamic file; a 4th peer that
joins as a non-voting follower and is added with kazoo's ``reconfig()``;
a follower removed (it keeps following, without a vote); the leader
removed (another voter leads); and the error codes of a reconfig without
a synced quorum, with a stale version, with a joiner that lacks a client
port, leaving no voter, and without WRITE on /zookeeper/config. The
transcripts (ports replaced by their roles) must be equal, and equal again
for mixed ensembles (Java and zkpy peers reconfiguring together). A
single-peer ensemble (standaloneEnabled=false) grows alike, reconfigured
by a user given WRITE on /zookeeper/config.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss
from kazoo.retry import KazooRetry
from kazoo.security import make_acl, make_digest_acl

from zkpy.testing import TestingServer

from .java_zk import JavaZooKeeperServer, free_ports

pytestmark = pytest.mark.interop
_ok, _reason = JavaZooKeeperServer.available()
if not _ok:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_reason)]

HOST = "127.0.0.1"
SUPER = base64.b64encode(hashlib.sha1(b"super:superpw").digest()).decode()
FLAGS = [f"-Dzookeeper.DigestAuthenticationProvider.superDigest=super:{SUPER}"]


class Ensemble:
    def __init__(self, java_sids):
        self.java_sids = set(java_sids)
        self.ports = free_ports(12)
        self.peers = {}

    def spec(self, sid: int) -> str:
        client, quorum, election = self.ports[3 * (sid - 1):3 * sid]
        return f"server.{sid}={HOST}:{quorum}:{election}:participant;{HOST}:{client}"

    def make(self, sid: int, members) -> None:
        conf = {"reconfigEnabled": "true", "initLimit": 10, "syncLimit": 5, "standaloneEnabled": "false",
                "clientPort": None, "clientPortAddress": None}
        for member in members:
            key, value = self.spec(member).split("=", 1)
            conf[key] = value
        port = self.ports[3 * (sid - 1)]
        if sid in self.java_sids:
            self.peers[sid] = JavaZooKeeperServer(conf, port=port, myid=sid, jvm_flags=FLAGS)
        else:
            self.peers[sid] = TestingServer(port, config=conf, myid=sid, jvm_flags=FLAGS, keep_config=True,
                                            force_sync=False)

    def start(self, *sids: int) -> None:
        for sid in sids:
            self.peers[sid].start(wait=None)
        for sid in sids:
            self.peers[sid].wait_serving(60)

    def modes(self) -> dict[int, str]:
        out = {}
        for sid, peer in self.peers.items():
            try:
                text = peer.four_letter_word("srvr")
            except OSError:
                out[sid] = "down"
                continue
            found = re.search(r"^Mode: (\w+)", text, re.M)
            out[sid] = found.group(1) if found else "not serving"
        return out

    def leader(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = [sid for sid, mode in self.modes().items() if mode == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            time.sleep(0.1)
        raise AssertionError(f"no leader: {self.modes()}")

    def normalize(self, text: str, labels=None) -> str:
        """Ports become Q/E/C + the peer's label (its sid unless ``labels``
        names it by role: which sid leads is up to the election); with
        labels the lines are sorted, as the labels do not sort like sids."""
        labels = labels or {}
        for sid in range(1, 5):
            label = labels.get(sid, str(sid))
            client, quorum, election = self.ports[3 * (sid - 1):3 * sid]
            text = text.replace(f"server.{sid}=", f"server.{label}=")
            text = text.replace(f":{quorum}:", f":Q{label}:").replace(f":{election}:", f":E{label}:")
            text = re.sub(rf":{client}\b", f":C{label}", text)
        return "\n".join(sorted(text.splitlines())) if labels else text

    def close(self) -> None:
        for peer in self.peers.values():
            peer.close()


def _code(call) -> str:
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the exception's type is the transcript
        return type(e).__name__
    return "OK"


def scenario(java_sids) -> list:
    ens = Ensemble(java_sids)
    out: list = []
    try:
        for sid in (1, 2, 3):
            ens.make(sid, [1, 2, 3])
        ens.start(1, 2, 3)
        zk = KazooClient(hosts=",".join(f"{HOST}:{ens.ports[3 * (s - 1)]}" for s in (1, 2, 3)), timeout=10)
        zk.start(timeout=30)
        zk.add_auth("digest", "super:superpw")
        data, stat = zk.get("/zookeeper/config")
        out.append(("initial", ens.normalize(data.decode()), stat.version))
        peer1 = ens.peers[1]
        files = sorted(f for f in os.listdir(os.path.dirname(peer1.config_path)) if f.startswith("zoo.cfg"))
        out.append(("files", files))
        static = open(peer1.config_path).read()
        out.append(("static", "dynamicConfigFile=" in static, "server." in static, "clientPort" in static))
        dynamic = open(os.path.join(os.path.dirname(peer1.config_path), "zoo.cfg.dynamic.100000000")).read()
        out.append(("dynamic", ens.normalize(dynamic)))

        ens.make(4, [1, 2, 3, 4])
        ens.start(4)
        out.append(("joiner", ens.modes()[4]))
        data, stat = zk.reconfig(joining=ens.spec(4), leaving=None, new_members=None)
        out.append(("added", ens.normalize(data.decode()), stat.version))

        leader = ens.leader()
        follower = min(s for s in (1, 2, 3) if s != leader)
        other = next(s for s in (1, 2, 3) if s not in (leader, follower))
        labels = {leader: "L", follower: "F", other: "O", 4: "J"}
        data, _ = zk.reconfig(joining=None, leaving=str(follower), new_members=None)
        out.append(("removed follower", ens.normalize(data.decode(), labels)))
        time.sleep(1)
        out.append(("removed follower's mode", ens.modes()[follower]))

        out.append(("no quorum", _code(lambda: zk.reconfig(
            joining=f"server.8={HOST}:1031:1032:participant;{HOST}:1033,"
                    f"server.9={HOST}:1041:1042:participant;{HOST}:1043",
            leaving=",".join(str(s) for s in (1, 2, 3) if s != follower), new_members=None))))
        out.append(("bad version", _code(lambda: zk.reconfig(joining=None, leaving="4", new_members=None,
                                                               from_config=5))))
        out.append(("no client port", _code(lambda: zk.reconfig(joining=f"server.8={HOST}:1031:1032",
                                                                  leaving=None, new_members=None))))
        out.append(("no voter", _code(lambda: zk.reconfig(joining=None, leaving="1,2,3,4", new_members=None))))
        anonymous = KazooClient(hosts=f"{HOST}:{ens.ports[9]}", timeout=10)
        anonymous.start(timeout=30)
        out.append(("no auth", _code(lambda: anonymous.reconfig(joining=None, leaving="4", new_members=None))))
        anonymous.stop()
        anonymous.close()

        zk.stop()
        zk.close()
        zk = KazooClient(hosts=f"{HOST}:{ens.ports[9]}", timeout=10)  # peer 4 stays
        zk.start(timeout=30)
        zk.add_auth("digest", "super:superpw")
        try:
            zk.reconfig(joining=None, leaving=str(leader), new_members=None)
        except ConnectionLoss:
            pass  # every peer's role changes with the leader: the reply may be lost
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ens.modes()[leader] != "follower":
            time.sleep(0.1)
        new_leader = ens.leader()
        data = KazooRetry(max_tries=-1, delay=0.1, deadline=30)(zk.get, "/zookeeper/config")[0]
        out.append(("removed leader", f"server.{leader}=" in data.decode(), len(data.decode().splitlines())))
        out.append(("new leader is a voter", new_leader not in (leader, follower)))
        out.append(("old leader's mode", ens.modes()[leader]))
        zk.stop()
        zk.close()
        return out
    finally:
        ens.close()


@pytest.fixture(scope="module")
def java_transcript():
    return scenario(java_sids={1, 2, 3, 4})


def test_reconfig_steps_match_java(java_transcript):
    assert scenario(java_sids=()) == java_transcript


@pytest.mark.slow
@pytest.mark.parametrize("java_sids", [{1, 2}, {3, 4}], ids=["java-followers", "java-leader-and-joiner"])
def test_mixed_ensemble_reconfigures(java_transcript, java_sids):
    # Peer 3 leads first (the highest sid): a zkpy leader with Java
    # followers, then a Java leader (and joiner) with zkpy followers.
    assert scenario(java_sids) == java_transcript


def single_peer_scenario(java_sids) -> list:
    """standaloneEnabled=false: one peer leads alone; whoever has WRITE on
    /zookeeper/config (set by the super user) adds a second."""
    ens = Ensemble(java_sids)
    out: list = []
    try:
        ens.make(1, [1])
        ens.start(1)
        out.append(("alone", ens.modes()))
        zk = KazooClient(hosts=f"{HOST}:{ens.ports[0]}", timeout=10)
        zk.start(timeout=30)
        zk.add_auth("digest", "super:superpw")
        zk.set_acls("/zookeeper/config", [make_acl("world", "anyone", read=True),
                                          make_digest_acl("operator", "pw", write=True)])
        ens.make(2, [1, 2])
        ens.start(2)
        operator = KazooClient(hosts=f"{HOST}:{ens.ports[0]}", timeout=10, auth_data=[("digest", "operator:pw")])
        operator.start(timeout=30)
        data, stat = operator.reconfig(joining=ens.spec(2), leaving=None, new_members=None)
        out.append(("grown", ens.normalize(data.decode()), stat.aversion, ens.modes()))
        operator.stop()
        operator.close()
        zk.stop()
        zk.close()
        return out
    finally:
        ens.close()


@pytest.mark.slow
def test_single_peer_ensemble_grows_as_java():
    assert single_peer_scenario(()) == single_peer_scenario({1, 2})
