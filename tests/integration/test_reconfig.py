"""Dynamic reconfiguration (``reconfigEnabled=true``, op 16) on real zkpy
ensembles: kazoo's ``reconfig()`` adds and removes peers while a client
keeps writing, /zookeeper/config follows on every peer, the dynamic config
files survive a restart, and the errors are Java 3.8's
(tests/interop/test_reconfig_java.py runs the same steps on Java).

Reconfig needs WRITE on /zookeeper/config, which only the super user has
(world may only read it), so the clients authenticate as super.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_acl, make_digest_acl
from kazoo.exceptions import (
    BadArgumentsError, BadVersionError, NewConfigNoQuorumError, NoAuthError, ReconfigDisabledError,
)

from zkpy.testing import TestingCluster, find_free_port, four_letter_word

SUPER_PW = "superpw"
SUPER_DIGEST = base64.b64encode(hashlib.sha1(f"super:{SUPER_PW}".encode()).digest()).decode()
JVM_FLAGS = [f"-Dzookeeper.DigestAuthenticationProvider.superDigest=super:{SUPER_DIGEST}"]


def make_cluster(n: int = 3, observers: int = 0) -> TestingCluster:
    return TestingCluster(n, observers, reconfig_enabled=True, jvm_flags=JVM_FLAGS, tick_time=200)


def super_client(hosts: str) -> KazooClient:
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=15)
    zk.add_auth("digest", f"super:{SUPER_PW}")
    return zk


def config_of(cluster: TestingCluster, sid: int) -> str:
    """/zookeeper/config as peer ``sid`` serves it (after a sync)."""
    zk = KazooClient(hosts=cluster.peer(sid).connect_string, timeout=10)
    zk.start(timeout=15)
    try:
        zk.sync("/")
        return zk.get("/zookeeper/config")[0].decode()
    finally:
        zk.stop()
        zk.close()


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def expected_config(cluster: TestingCluster, sids, version: int) -> str:
    return "\n".join([cluster.server_spec(sid) for sid in sorted(sids)] + [f"version={version:x}"])


class Writer(threading.Thread):
    """Keeps creating sequential nodes; remembers which were acknowledged."""

    def __init__(self, hosts: str):
        super().__init__(daemon=True)
        self.zk = KazooClient(hosts=hosts, timeout=10, connection_retry={"max_tries": -1, "delay": 0.05},
                              command_retry={"max_tries": -1, "delay": 0.05})
        self.zk.start(timeout=15)
        self.zk.ensure_path("/writes")
        self.acked: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.acked.append(self.zk.create("/writes/w-", b"x", sequence=True))
            except Exception:  # noqa: BLE001 - a write may fail while leadership moves
                time.sleep(0.05)

    def stop(self) -> list[str]:
        self.stopping.set()
        self.join(30)
        self.zk.stop()
        self.zk.close()
        return self.acked


@pytest.fixture(scope="module")
def cluster():
    """A 3-peer reconfig-enabled ensemble for the tests that leave its membership as it is."""
    with make_cluster(3) as c:
        c.start()
        yield c


@pytest.fixture
def admin(cluster):
    zk = super_client(cluster.connect_string)
    yield zk
    zk.stop()
    zk.close()


# -- the config node, the files -------------------------------------------------------------

def test_config_node_and_dynamic_file_after_first_election(cluster):
    # The version of a zoo.cfg config becomes the first epoch's first zxid.
    configs = {sid: config_of(cluster, sid) for sid in cluster.sids}
    assert len(set(configs.values())) == 1, configs
    text = configs[1]
    version = int(text.rsplit("version=", 1)[1], 16)
    assert version >> 32 >= 1 and version & 0xFFFFFFFF == 0
    assert text == expected_config(cluster, [1, 2, 3], version)
    for sid in cluster.sids:
        peer = cluster.peer(sid)
        static = open(peer.config_path).read()
        dynamic = f"{peer.config_path}.dynamic.{version:x}"
        # zoo.cfg loses its membership (and the client port now on the server line) ...
        assert f"dynamicConfigFile={dynamic}\n" in static
        assert "server." not in static and "clientPort" not in static
        # ... which moves to the dynamic file, sorted, without a version line.
        assert open(dynamic).read() == "\n".join(cluster.server_spec(s) for s in (1, 2, 3))
        assert os.path.exists(peer.config_path + ".bak")


# -- errors (Java's codes) ----------------------------------------------------------------------

def test_reconfig_disabled(zk_server, kazoo_client):
    with pytest.raises(ReconfigDisabledError):
        kazoo_client.reconfig(joining=None, leaving="1", new_members=None)


def test_reconfig_needs_write_on_config_node(cluster):
    zk = KazooClient(hosts=cluster.connect_string, timeout=10)
    zk.start(timeout=15)
    try:
        with pytest.raises(NoAuthError):
            zk.reconfig(joining=None, leaving="3", new_members=None)
        zk.add_auth("digest", "someone:pw")
        with pytest.raises(NoAuthError):
            zk.reconfig(joining=None, leaving="3", new_members=None)
    finally:
        zk.stop()
        zk.close()


def test_stale_from_config_is_badversion(cluster, admin):
    data, stat = admin.get("/zookeeper/config")
    version = int(data.decode().rsplit("version=", 1)[1], 16)
    with pytest.raises(BadVersionError):
        admin.reconfig(joining=None, leaving="3", new_members=None, from_config=version - 1)
    assert admin.get("/zookeeper/config")[0] == data


def test_new_config_without_a_synced_quorum(cluster, admin):
    host = "127.0.0.1"
    ghosts = [f"server.{sid}={host}:{port}:{port + 1}:participant;{host}:{port + 2}"
              for sid, port in ((8, 1031), (9, 1041))]
    data = admin.get("/zookeeper/config")[0]
    with pytest.raises(NewConfigNoQuorumError):
        admin.reconfig(joining=",".join(ghosts), leaving="2,3", new_members=None)
    with pytest.raises(BadArgumentsError):  # a joiner needs a client port
        admin.reconfig(joining=f"server.8={host}:1031:1032", leaving=None, new_members=None)
    with pytest.raises(BadArgumentsError):  # standaloneEnabled=false allows 1 voter, not 0
        admin.reconfig(joining=None, leaving="1,2,3", new_members=None)
    assert admin.get("/zookeeper/config")[0] == data


def test_zkcli_config_and_reconfig_output(cluster):
    text = config_of(cluster, 1)
    proc = subprocess.run([sys.executable, "-m", "zkpy.cli.zkcli", "-server", cluster.peer(1).connect_string,
                           "config"], capture_output=True, text=True, timeout=60)
    assert text + "\n" in proc.stdout, proc
    # Without auth zkCli prints Java's message for NOAUTH.
    script = f"reconfig -remove 3 -v {text.rsplit('version=', 1)[1]}\n"
    proc = subprocess.run([sys.executable, "-m", "zkpy.cli.zkcli", "-server", cluster.peer(1).connect_string],
                          input=script, capture_output=True, text=True, timeout=60)
    assert "Insufficient permission" in proc.stdout + proc.stderr, proc


# -- membership changes ---------------------------------------------------------------------

def test_add_remove_follower_remove_leader_while_writing():
    with make_cluster(3) as c:
        c.start()
        admin = super_client(c.connect_string)
        writer = Writer(c.connect_string)
        writer.start()
        try:
            # A 4th peer joins as a non-voting follower, then is added.
            new = c.add_peer()
            c.start(new)
            assert c.mode(new) == "follower"
            data, stat = admin.reconfig(joining=c.server_spec(new), leaving=None, new_members=None)
            version = stat.mzxid
            assert data.decode() == expected_config(c, [1, 2, 3, 4], version)
            assert stat.version == -1
            for sid in c.sids:
                assert config_of(c, sid) == data.decode()

            # Remove a follower.
            leader = c.leader()
            follower = next(s for s in (1, 2, 3) if s != leader)
            data, stat = admin.reconfig(joining=None, leaving=str(follower), new_members=None,
                                        from_config=version)
            voters = {1, 2, 3, 4} - {follower}
            assert data.decode() == expected_config(c, voters, stat.mzxid)
            c.stop(follower)  # it no longer counts: the ensemble goes on without it

            # The new peer votes: with one more of the original three down,
            # the remaining two (one of them the new peer) are still a quorum.
            other = next(s for s in voters if s not in (leader, new))
            c.stop(other)
            before = len(writer.acked)
            wait_for(lambda: len(writer.acked) > before + 5, what="writes with peers 4 and the leader only")
            c.start(other)

            # Remove the leader: another voter leads, writes go on.
            data, stat = admin.reconfig(joining=None, leaving=str(leader), new_members=None)
            assert f"server.{leader}=" not in data.decode()
            new_leader = wait_for(lambda: c.leader() if c.leader() not in (None, leader) else None,
                                  what="a new leader")
            assert new_leader in voters - {leader}
            before = len(writer.acked)
            wait_for(lambda: len(writer.acked) > before + 5, what="writes under the new leader")
        finally:
            acked = writer.stop()
        # No acknowledged write is lost.
        admin.sync("/writes")
        children = set(admin.get_children("/writes"))
        missing = [p for p in acked if p.rsplit("/", 1)[1] not in children]
        assert not missing and len(acked) > 10
        final = admin.get("/zookeeper/config")[0].decode()
        admin.stop()
        admin.close()

        # A full restart: the members come back with the last config, from
        # their dynamic files. (A removed peer would not start again: its
        # config no longer lists it - "My id 1 not in the peer list", as Java.)
        members = voters - {leader}
        for sid in c.sids:
            c.stop(sid)
        for sid in members:
            c.peer(sid).start(wait="port")
        wait_for(lambda: c.leader() in members, timeout=30, what="a leader after the restart")
        final_version = final.rsplit("version=", 1)[1]
        for sid in members:
            assert config_of(c, sid) == final
        peer = c.peer(new)
        assert open(peer.config_path).read().endswith(f"dynamicConfigFile={peer.config_path}.dynamic."
                                                      f"{final_version}\n")


def test_observer_promoted_and_bulk_members():
    with make_cluster(3, observers=1) as c:
        c.start()
        c.peer(4).wait_serving(20)
        assert c.mode(4) == "observer"
        admin = super_client(c.connect_string)
        try:
            # Through zkCli, as an operator would (Java's output).
            script = f"addauth digest super:{SUPER_PW}\nreconfig -add {c.server_spec(4, 'participant')}\nconfig\n"
            proc = subprocess.run([sys.executable, "-m", "zkpy.cli.zkcli", "-server", c.peer(1).connect_string],
                                  input=script, capture_output=True, text=True, timeout=60)
            data, stat = admin.get("/zookeeper/config")
            assert data.decode().splitlines()[3] == c.server_spec(4, "participant")
            assert f"Committed new configuration:\n{data.decode()}\n" in proc.stdout, proc
            assert proc.stdout.count(data.decode() + "\n") == 2, proc  # and `config` prints it again
            wait_for(lambda: c.mode(4) == "follower", what="the observer to follow")
            # Bulk: the whole membership at once (peers 1, 2, 4 vote; 3 observes).
            members = ",".join([c.server_spec(1), c.server_spec(2), c.server_spec(3, "observer"),
                                c.server_spec(4, "participant")])
            data, stat = admin.reconfig(joining=None, leaving=None, new_members=members, from_config=stat.mzxid)
            lines = data.decode().splitlines()
            assert lines[2] == c.server_spec(3, "observer")
            assert lines[-1] == f"version={stat.mzxid:x}"
            wait_for(lambda: c.mode(3) == "observer", what="peer 3 to observe")
            assert config_of(c, 3) == data.decode()
            admin.create("/after", b"ok")
        finally:
            admin.stop()
            admin.close()


def test_single_peer_ensemble_grows():
    # standaloneEnabled=false: one participant is an ensemble, and it can grow.
    with make_cluster(1) as c:
        c.start()
        assert c.mode(1) == "leader"
        admin = super_client(c.connect_string)
        try:
            # Not only the super user: whoever has WRITE on /zookeeper/config.
            admin.set_acls("/zookeeper/config", [make_acl("world", "anyone", read=True),
                                                 make_digest_acl("operator", "pw", write=True)])
            operator = KazooClient(hosts=c.connect_string, timeout=10, auth_data=[("digest", "operator:pw")])
            operator.start(timeout=15)
            joiner = c.add_peer()
            c.start(joiner)
            try:
                data, stat = operator.reconfig(joining=c.server_spec(joiner), leaving=None, new_members=None)
            finally:
                operator.stop()
                operator.close()
            assert data.decode() == expected_config(c, [1, 2], stat.mzxid)
            assert config_of(c, joiner) == data.decode()
            assert c.modes() == {1: "leader", 2: "follower"}
            # Two voters: without the new one the leader has no quorum, and steps down.
            c.stop(joiner)
            wait_for(lambda: c.mode(1) is None, what="peer 1 to stop leading")
        finally:
            admin.stop()
            admin.close()


def test_a_reconfig_moves_a_peers_client_port():
    # Java's processReconfig -> cnxnFactory.reconfigure: the peer listens on its
    # new client address; connections already open stay.
    with make_cluster(3) as c:
        c.start()
        leader = c.leader()
        mover = next(sid for sid in c.sids if sid != leader)
        old_port = c.peer(mover).port
        new_port = find_free_port()
        spec = c.server_spec(mover).rsplit(":", 1)[0] + f":{new_port}"
        admin = super_client(c.peer(leader).connect_string)
        early = KazooClient(hosts=c.peer(mover).connect_string, timeout=10)
        early.start(timeout=15)
        try:
            data, _ = admin.reconfig(joining=spec, leaving=None, new_members=None)
            assert spec in data.decode().splitlines()
            wait_for(lambda: _answers_ruok(new_port), what=f"peer {mover} on client port {new_port}")
            wait_for(lambda: not _answers_ruok(old_port), what=f"peer {mover} to leave client port {old_port}")
            moved = KazooClient(hosts=f"127.0.0.1:{new_port}", timeout=10)
            moved.start(timeout=15)
            try:
                moved.sync("/zookeeper/config")
                assert moved.get("/zookeeper/config")[0] == data
            finally:
                moved.stop()
                moved.close()
            assert early.exists("/zookeeper") is not None  # its connection was kept
        finally:
            early.stop()
            early.close()
            admin.stop()
            admin.close()


def _answers_ruok(port: int) -> bool:
    try:
        return four_letter_word("127.0.0.1", port, "ruok", timeout=2.0) == "imok"
    except OSError:
        return False
