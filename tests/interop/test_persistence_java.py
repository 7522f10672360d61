"""Java ZooKeeper 3.8 and zkpy read each other's data directories (ZK_SPEC.md §5).

Needs Debian's ``zookeeper`` package (``/usr/share/java/zookeeper.jar``) and a
``java`` binary; skipped otherwise. Each server test starts one Java
standalone server (a second or two) on a free port with a temp dataDir.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from zkpy.defs import OpCode
from zkpy.jute.records import (
    OPEN_ACL_UNSAFE, CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, SetDataTxn, TxnHeader,
)
from zkpy.server.data_tree import DataTree
from zkpy.server.persistence import FileTxnSnapLog
from zkpy.server.txn_codec import encode_multi, serialize_txn

from .java_zk import JavaZooKeeperServer

_OK, _REASON = JavaZooKeeperServer.available()
pytestmark = pytest.mark.skipif(not _OK, reason=_REASON)

SID = 0x0100000729_3A0000


def run_java(main: str, *args: str) -> str:
    """Run one of Java ZooKeeper's command-line tools; its stdout."""
    cp = JavaZooKeeperServer.classpath(["/usr/share/java/commons-cli.jar"])
    proc = subprocess.run(["java", "-cp", cp, main, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def java_server(tmp_path):
    """Makes (does not start) a Java server whose dataDir is ``tmp_path/java/data``."""
    servers = []

    def make(**conf) -> JavaZooKeeperServer:
        server = JavaZooKeeperServer(conf, temp_dir=tmp_path / "java", tick_time=2000)
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.close()


def kazoo_client(server: JavaZooKeeperServer):
    from kazoo.client import KazooClient

    client = KazooClient(hosts=server.connect_string, timeout=10)
    client.start(timeout=15)
    return client


def zkpy_data_dir(data: Path) -> list[tuple[TxnHeader, object]]:
    """Write a data dir with zkpy: snapshot.0, txns 1-4, snapshot.4, txns 5-9."""
    snap_log = FileTxnSnapLog(data)
    tree, sessions = DataTree(), {}
    snap_log.save(tree, sessions, 0)
    now = int(time.time() * 1000)
    txns = [
        (-10, CreateSessionTxn(30000)),
        (1, CreateTxn("/zkpy", b"hello", OPEN_ACL_UNSAFE, False, 1)),
        (1, CreateTxn("/zkpy/child", b"c", OPEN_ACL_UNSAFE, False, 1)),
        (1, CreateTxn("/zkpy/eph", b"", OPEN_ACL_UNSAFE, True, 2)),
        (14, encode_multi([(1, CreateTxn("/zkpy/m", b"m", OPEN_ACL_UNSAFE, False, 3)),
                           (5, SetDataTxn("/zkpy", b"multi", 1))])),
        (-1, ErrorTxn(-110)),
        (5, SetDataTxn("/zkpy/child", b"c2", 1)),
        (2, DeleteTxn("/zkpy/m")),
        (-11, CloseSessionTxn(["/zkpy/eph"])),
    ]
    written = []
    for zxid, (type_, txn) in enumerate(txns, start=1):
        hdr = TxnHeader(SID, zxid, zxid, now, type_)
        snap_log.append(hdr, serialize_txn(hdr, txn))
        if type_ == -10:
            sessions[SID] = txn.timeOut
        elif type_ == -11:
            sessions.pop(SID, None)
        tree.process_txn(hdr, txn)
        written.append((hdr, txn))
        if zxid == 4:
            snap_log.commit()
            snap_log.roll_log()
            snap_log.save(tree, sessions, 4)
    snap_log.commit()
    snap_log.close()
    return written


def test_java_txn_log_toolkit_reads_zkpy_log(tmp_path):
    zkpy_data_dir(tmp_path)
    out = run_java("org.apache.zookeeper.server.persistence.TxnLogToolkit", str(tmp_path / "version-2" / "log.5"))
    assert "CRC ERROR" not in out
    assert "EOF reached after 5 txns." in out
    assert "multi create:" in out and "/zkpy/m" in out and "error -110" in out
    out = run_java("org.apache.zookeeper.server.persistence.TxnLogToolkit", str(tmp_path / "version-2" / "log.1"))
    assert "EOF reached after 4 txns." in out and "createSession 30000" in out


def test_java_snapshot_formatter_reads_zkpy_snapshot(tmp_path):
    zkpy_data_dir(tmp_path)
    out = run_java("org.apache.zookeeper.server.SnapshotFormatter", str(tmp_path / "version-2" / "snapshot.4"))
    assert "ZNode Details (count=8)" in out  # 7 nodes; the formatter counts one more
    assert "/zkpy/eph" in out
    assert f"0x{SID:x}, 30000, 1" in out  # the session and its one ephemeral
    assert "Last zxid: 0x4" in out


def test_java_server_restores_zkpy_data_dir(tmp_path, java_server):
    pytest.importorskip("kazoo")
    server = java_server()
    data = Path(server.data_dir)
    zkpy_data_dir(data)
    server.start()
    client = kazoo_client(server)
    try:
        value, stat = client.get("/zkpy")
        assert value == b"multi" and stat.mzxid == 5 and stat.version == 1
        assert sorted(client.get_children("/zkpy")) == ["child"]
        value, stat = client.get("/zkpy/child")
        assert value == b"c2" and stat.czxid == 3 and stat.mzxid == 7
        assert client.exists("/zkpy/eph") is None and client.exists("/zkpy/m") is None
        # the server goes on from the last zxid zkpy logged
        client.create("/after", b"x")
        assert client.exists("/after").czxid > 9
    finally:
        client.stop()
        client.close()
    server.stop()
    assert "CRC" not in Path(server.log_path).read_text()


def walk(client, path="/"):
    data, stat = client.get(path)
    yield path, data, stat
    for child in client.get_children(path):
        yield from walk(client, (path.rstrip("/") + "/" + child))


def test_zkpy_restores_java_data_dir(tmp_path, java_server):
    pytest.importorskip("kazoo")
    from kazoo.exceptions import NodeExistsError
    from kazoo.security import make_acl

    server = java_server(snapCount=10)  # snapshots and new log files along the way
    data = Path(server.data_dir)
    server.start()
    c1 = kazoo_client(server)
    c2 = kazoo_client(server)
    try:
        c1.create("/app", b"root")
        for i in range(25):
            c1.create(f"/app/n{i}", b"v%d" % i)
            if i % 3 == 0:
                c1.set(f"/app/n{i}", b"w%d" % i)
        for i in range(0, 25, 5):
            c1.delete(f"/app/n{i}")
        with pytest.raises(NodeExistsError):
            c1.create("/app/n1")  # logged as an error txn
        tx = c1.transaction()
        tx.create("/app/multi", b"m")
        tx.set_data("/app", b"root2")
        assert tx.commit()[0] == "/app/multi"
        c1.create("/app/seq-", b"", sequence=True)
        c2.create("/app/eph", b"e", ephemeral=True)
        c1.set_acls("/app/n1", [make_acl("world", "anyone", read=True, write=True)])
        expected = {path: (value, stat) for path, value, stat in walk(c1)}
        last_zxid = max(max(s.mzxid, s.pzxid) for _, s in expected.values())
        c2_session = c2.client_id[0]
        c1.stop()  # closeSession logged; c2 stays open until the server is gone
        server.stop()
    finally:
        for c in (c1, c2):
            c.stop()
            c.close()

    version2 = data / "version-2"
    assert len(list(version2.glob("log.*"))) > 1 and len(list(version2.glob("snapshot.*"))) > 1

    tree, sessions, applied = DataTree(), {}, []

    def apply_txn(hdr, txn, digest):
        if hdr.type == OpCode.createSession:
            sessions[hdr.clientId] = txn.timeOut
        elif hdr.type == OpCode.closeSession:
            sessions.pop(hdr.clientId, None)
        tree.process_txn(hdr, txn)
        applied.append((hdr.zxid, digest))

    snap_log = FileTxnSnapLog(data)
    restored = snap_log.restore(tree, sessions, apply_txn)
    assert restored > last_zxid  # + c1's closeSession
    assert applied and all(d is None or d.version == 2 for _, d in applied)
    assert any(d is not None for _, d in applied)  # Java 3.8 writes TxnDigest trailers
    assert list(sessions) == [c2_session]
    for path, (value, stat) in expected.items():
        node = tree.get_node(path)
        assert node is not None, path
        assert (node.data or b"") == value, path
        assert (node.czxid, node.mzxid, node.version, node.aversion, node.ephemeral_owner) == \
            (stat.czxid, stat.mzxid, stat.version, stat.aversion, stat.ephemeralOwner), path
    snap_log.close()


# -- a data dir written by one kind of server, served by the other ---------------------------------

COMPRESSIONS = ["plain", "gz", "snappy"]


def make_server(kind: str, root: Path, data: Path, compression: str):
    """A standalone server of ``kind`` on ``data``, snapshotting every ~10 txns."""
    flags = [] if compression == "plain" else [f"-Dzookeeper.snapshot.compression.method={compression}"]
    if kind == "java":
        server = JavaZooKeeperServer({"snapCount": 10, "dataDir": str(data)}, temp_dir=root, tick_time=2000,
                                     jvm_flags=flags)
    else:
        from zkpy.testing import TestingServer

        server = TestingServer(temp_dir=root, data_dir=data, tick_time=2000, config={"snapCount": 10},
                               jvm_flags=flags)
    return server


def write_history(client, other):
    """Creates, sets, deletes, a multi, a sequential node, ACLs, an error txn,
    an ephemeral of a closed session and one of ``other``, still open."""
    from kazoo.exceptions import NodeExistsError
    from kazoo.security import make_acl

    client.create("/app", b"root")
    for i in range(25):
        client.create(f"/app/n{i}", b"v%d" % i)
        if i % 3 == 0:
            client.set(f"/app/n{i}", b"w%d" % i)
    for i in range(0, 25, 5):
        client.delete(f"/app/n{i}")
    with pytest.raises(NodeExistsError):
        client.create("/app/n1")
    tx = client.transaction()
    tx.create("/app/multi", b"m")
    tx.set_data("/app", b"root2")
    tx.commit()
    client.create("/app/seq-", b"", sequence=True)
    client.set_acls("/app/n1", [make_acl("world", "anyone", read=True, write=True)])
    other.create("/app/eph-open", b"e", ephemeral=True)


def prune_to_newest_snapshot(version2: Path) -> Path:
    """Remove every snapshot but the newest and the logs it makes useless, so
    that a server can restore the tree only by reading that snapshot."""
    from zkpy.server.persistence.util import get_zxid_from_name

    snaps = sorted(version2.glob("snapshot.*"), key=lambda p: get_zxid_from_name(p.name, "snapshot"))
    newest = snaps[-1]
    snap_zxid = get_zxid_from_name(newest.name, "snapshot")
    logs = sorted(version2.glob("log.*"), key=lambda p: get_zxid_from_name(p.name, "log"))
    first_needed = max((p for p in logs if get_zxid_from_name(p.name, "log") <= snap_zxid),
                       key=lambda p: get_zxid_from_name(p.name, "log"))
    for path in snaps[:-1] + logs[:logs.index(first_needed)]:
        path.unlink()
    assert logs.index(first_needed) > 0, "no log older than the snapshot to remove"
    return newest


def next_zxid(server) -> tuple[dict, int]:
    """The tree ``server`` serves, and the czxid of the next node created
    (after the new client's own createSession)."""
    from ..integration.zab_util import dump_tree, kazoo

    with kazoo(server, timeout=30) as client:
        tree = dump_tree(client)
        client.create("/after", b"x")
        return tree, client.exists("/after").czxid


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("writer", ["java", "zkpy"])
def test_a_data_dir_is_served_alike_by_the_other_kind(tmp_path, writer, compression):
    """Java 3.8 on zkpy's dataDir, zkpy on Java's (snapshots plain, gz or
    snappy, and logs): the same tree, every Stat field equal, and the same
    next zxid as the writer itself gives after a restart."""
    import shutil

    from ..integration.zab_util import kazoo

    reader = "zkpy" if writer == "java" else "java"
    original = make_server(writer, tmp_path / writer, tmp_path / "data", compression)
    try:
        original.start()
        with kazoo(original, timeout=30) as client, kazoo(original, timeout=30) as other:
            with kazoo(original) as closed:
                closed.create("/app-closed-eph", b"gone", ephemeral=True)
            write_history(client, other)
            original.stop()  # ``other`` never closed its session: it is in the data dir
    finally:
        original.close()
    snaps = sorted(p.name for p in (tmp_path / "data" / "version-2").glob("snapshot.*"))
    suffix = "" if compression == "plain" else "." + compression
    assert len(snaps) > 1 and all(name.endswith(suffix) for name in snaps), snaps
    assert len(list((tmp_path / "data" / "version-2").glob("log.*"))) > 1
    newest = prune_to_newest_snapshot(tmp_path / "data" / "version-2")
    shutil.copytree(tmp_path / "data", tmp_path / "copy")

    again = make_server(writer, tmp_path / (writer + "-again"), tmp_path / "data", compression)
    other_kind = make_server(reader, tmp_path / reader, tmp_path / "copy", compression)
    try:
        again.start(wait=None)
        other_kind.start(wait=None)
        again.wait_serving()
        other_kind.wait_serving()
        expected_tree, expected_next = next_zxid(again)
        tree, next_czxid = next_zxid(other_kind)
    finally:
        again.close()
        other_kind.close()
    assert "/app/eph-open" in expected_tree and "/app-closed-eph" not in expected_tree
    assert tree == expected_tree
    assert next_czxid == expected_next
    # Only the newest snapshot could give the tree (older logs are gone): it was read.
    assert newest.name in Path(other_kind.log_path).read_text(errors="replace")
