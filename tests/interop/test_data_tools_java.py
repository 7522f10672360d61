"""zkpy's data tools print what Java's print, on files written by either.

A Java 3.8.0 server and a zkpy server each run the same workload (creates,
a sequential node, non-UTF-8 data, setData, setACL, a failed create, a
multi and a failed multi, deletes, many children under one parent, and
five sessions holding ephemerals when the server is killed, so that the
restarted server's snapshot lists them). Then, on each server's files,
zkpy's tools and Java's (TxnLogToolkit, SnapshotFormatter, LogChopper,
PurgeTxnLog) run side by side: the same stdout, byte for byte (the JSON
dump's timestamp aside), and the same files written (``.fixed``,
``.chopped<zxid>``) or left (purge).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
from kazoo.security import make_digest_acl

from tests.interop.java_zk import JavaZooKeeperServer
from zkpy.testing_java import _find_java  # the JVM the test servers use
from zkpy.server.persistence.util import sort_data_dir
from zkpy.testing import TestingServer

pytestmark = pytest.mark.interop

_OK, _REASON = JavaZooKeeperServer.available()
COMMONS_CLI = "/usr/share/java/commons-cli.jar"
if _OK and not os.path.isfile(COMMONS_CLI):
    _OK, _REASON = False, f"Java's TxnLogToolkit needs {COMMONS_CLI}"
if not _OK:
    pytestmark = [pytest.mark.interop, pytest.mark.skip(reason=_REASON)]

JAVA_TOOLS = {
    "txn": "org.apache.zookeeper.server.persistence.TxnLogToolkit",
    "snap": "org.apache.zookeeper.server.SnapshotFormatter",
    "purge": "org.apache.zookeeper.server.PurgeTxnLog",
}
ZKPY_TOOLS = {"txn": "zkpy.cli.txn_log_toolkit", "snap": "zkpy.cli.snapshot_toolkit",
              "purge": "zkpy.cli.purge_txn_log"}
# Same locale, encoding and zone for both: Java's DateFormat and System.out depend on them.
ENV = dict(os.environ, LC_ALL="C.UTF-8", TZ=os.environ.get("TZ", "UTC"))


def java_tool(tool: str, *args: str, cwd=None, stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [_find_java() or "java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Duser.language=en",
               "-Duser.country=US", "-Dfile.encoding=UTF-8", "-Dsun.stdout.encoding=UTF-8",
               "-cp", JavaZooKeeperServer.classpath([COMMONS_CLI]), JAVA_TOOLS[tool], *args]
    return subprocess.run(command, capture_output=True, timeout=120, env=ENV, cwd=cwd, input=stdin)


def zkpy_tool(tool: str, *args: str, cwd=None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", ZKPY_TOOLS[tool], *args], capture_output=True, timeout=120,
                          env=ENV, cwd=cwd, input=stdin)


def both(tool: str, *args: str, **kwargs) -> tuple[bytes, bytes]:
    """stdout of Java's tool and zkpy's, after checking both succeeded."""
    j, z = java_tool(tool, *args, **kwargs), zkpy_tool(tool, *args, **kwargs)
    assert j.returncode == 0, j.stderr.decode(errors="replace")
    assert z.returncode == 0, z.stderr.decode(errors="replace")
    return j.stdout, z.stdout


def workload(server, binary: bytes) -> None:
    main = KazooClient(hosts=server.connect_string, timeout=10.0)
    main.start(timeout=30.0)
    holders = []
    try:
        main.create("/tools", b"root of the test")
        main.create("/tools/seq-", b"s", sequence=True)
        main.create("/tools/bin", binary)
        main.create("/tools/text", "h\u00e9llo, w%rld}".encode())
        main.set("/tools/text", b"v2")
        main.set_acls("/tools/text", [make_digest_acl("user", "pw", all=True)])
        with pytest.raises(NodeExistsError):
            main.create("/tools", b"again")
        tx = main.transaction()
        tx.create("/tools/m1", b"1")
        tx.create("/tools/m2", binary)
        tx.commit()
        tx = main.transaction()
        tx.create("/tools/m3", b"3")
        tx.create("/tools/m1", b"dup")  # fails: the whole multi is an error txn
        tx.commit()
        main.delete("/tools/m2")
        for i in range(40):  # enough children for Java's HashSet to grow twice
            main.create(f"/tools/many/child-{i:02d}", str(i).encode(), makepath=True)
        for i in range(5):
            zk = KazooClient(hosts=server.connect_string, timeout=10.0)
            zk.start(timeout=30.0)
            holders.append(zk)
            zk.create(f"/tools/eph-{i}", b"e", ephemeral=True)
            zk.create(f"/tools/many/eph-{i}", b"", ephemeral=True)
        server.kill()  # the sessions and their ephemerals stay in the data
    finally:
        for zk in [main, *holders]:
            zk.stop()
            zk.close()


def restart_for_snapshot(server) -> None:
    """Restart (the startup snapshot now holds the five sessions) and stop."""
    server.start()
    server.stop()


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    binary = b"\x00\xff\xfe\xc3(\xe2\x82bin\n,%}"
    dirs = {}
    java = JavaZooKeeperServer(temp_dir=tmp_path_factory.mktemp("java-data"))
    try:
        java.start()
        workload(java, binary)
        restart_for_snapshot(java)
        dirs["java"] = Path(java.data_dir) / "version-2"
    finally:
        java.close()
    zkpy = TestingServer(temp_dir=tmp_path_factory.mktemp("zkpy-data"))
    try:
        zkpy.start()
        workload(zkpy, binary)
        restart_for_snapshot(zkpy)
        dirs["zkpy"] = Path(zkpy.data_dir) / "version-2"
    finally:
        zkpy.close()
    return dirs


WRITERS = ["java", "zkpy"]


@pytest.mark.parametrize("writer", WRITERS)
def test_txn_log_dump_is_the_same(data_dirs, writer):
    for log in sort_data_dir(data_dirs[writer], "log"):
        j, z = both("txn", str(log))
        assert z == j, log
        assert b"multi create:" in j or log != sort_data_dir(data_dirs[writer], "log")[0]


@pytest.mark.parametrize("writer", WRITERS)
def test_snapshot_dump_is_the_same(data_dirs, writer):
    snap = sort_data_dir(data_dirs[writer], "snapshot")[-1]
    j, z = both("snap", str(snap))
    assert z == j
    assert len(re.findall(rb"^0x[0-9a-f]{14,16}, \d+, 2$", j, re.M)) == 5  # five sessions, two ephemerals each
    j, z = both("snap", "-d", str(snap))
    assert z == j
    j, z = both("snap", "-json", str(snap))
    mask = re.compile(rb'"timestamp":\d+')
    assert mask.sub(b"T", z) == mask.sub(b"T", j)


@pytest.mark.parametrize("writer", WRITERS)
def test_recover_writes_the_same_fixed_file(data_dirs, writer, tmp_path):
    original = sort_data_dir(data_dirs[writer], "log")[0]
    damaged = bytearray(original.read_bytes())
    for needle in (b"root of the test", b"child-17"):
        damaged[damaged.index(needle)] ^= 0x01  # two entries no longer match their checksums
    outputs = {}
    for name, run in (("java", java_tool), ("zkpy", zkpy_tool)):
        work = tmp_path / name
        work.mkdir()
        (work / original.name).write_bytes(bytes(damaged))
        plain = run("txn", original.name, cwd=work)
        fixed = run("txn", "-r", "-v", "-y", original.name, cwd=work)
        asked = run("txn", "-r", (work / original.name).as_posix() + "x", cwd=work)  # no such file
        interactive_dir = work / "ask"
        interactive_dir.mkdir()
        (interactive_dir / original.name).write_bytes(bytes(damaged))
        interactive = run("txn", "--recover", original.name, cwd=interactive_dir, stdin=b"y\nnope\nn\n")
        outputs[name] = (plain.stdout, fixed.stdout, (work / f"{original.name}.fixed").read_bytes(),
                         asked.returncode, interactive.stdout,
                         (interactive_dir / f"{original.name}.fixed").read_bytes())
    assert outputs["zkpy"][0].count(b"CRC ERROR - ") == 2
    for index, (j, z) in enumerate(zip(outputs["java"], outputs["zkpy"])):
        assert z == j, index


@pytest.mark.parametrize("writer", WRITERS)
def test_chop_writes_the_same_file(data_dirs, writer, tmp_path):
    original = sort_data_dir(data_dirs[writer], "log")[0]
    for zxid in ("0x9", "12"):
        results = {}
        for name, run in (("java", java_tool), ("zkpy", zkpy_tool)):
            work = tmp_path / f"{name}-{zxid}"
            work.mkdir()
            shutil.copy(original, work / original.name)
            result = run("txn", "-c", "-z", zxid, original.name, cwd=work)
            chopped = sorted(p.name for p in work.iterdir() if ".chopped" in p.name)
            results[name] = (result.stdout, chopped, (work / chopped[0]).read_bytes())
        assert results["zkpy"] == results["java"], zxid
        assert results["java"][1] == [f"{original.name}.chopped{int(zxid, 0)}"]


def test_purge_leaves_the_same_files(tmp_path):
    data = tmp_path / "written"
    with TestingServer(data_dir=data, temp_dir=tmp_path / "srv", config={"snapCount": 10}) as server:
        zk = KazooClient(hosts=server.connect_string)
        zk.start(timeout=15.0)
        try:
            for i in range(50):
                zk.create(f"/purge-{i}", b"x")
        finally:
            zk.stop()
            zk.close()
    assert len(sort_data_dir(data / "version-2", "snapshot")) > 4
    for tmp in (data / "version-2").glob("*.tmp"):
        # a snapshot cut short by the server's exit; Java would count a complete one as a snapshot
        tmp.unlink()
    left, printed = {}, {}
    for name, run in (("java", java_tool), ("zkpy", zkpy_tool)):
        copy = tmp_path / name
        shutil.copytree(data, copy)
        result = run("purge", ".", "-n", "3", cwd=copy)
        assert result.returncode == 0, result.stderr
        left[name] = sorted(os.listdir(copy / "version-2"))
        printed[name] = sorted(result.stdout.decode().splitlines())  # Java deletes in directory order
    assert left["zkpy"] == left["java"]
    assert printed["zkpy"] == printed["java"] and printed["java"]
    for args in (["nowhere", "-n", "3"], [".", "-n", "2"], [".", "-n", "x"], [".", "-x", "3"]):
        j, z = java_tool("purge", *args, cwd=tmp_path), zkpy_tool("purge", *args, cwd=tmp_path)
        assert (z.returncode, z.stdout) == (j.returncode, j.stdout), args
        assert z.stderr.decode() in j.stderr.decode(), args  # Java's stderr also has its logger's warnings


@pytest.mark.parametrize("compression", ["gz", "snappy"])
@pytest.mark.parametrize("writer", WRITERS)
def test_compressed_snapshot_dump_is_the_same(data_dirs, writer, compression, tmp_path):
    """The newest snapshot, written again by zkpy's FileSnap compressed as
    zookeeper.snapshot.compression.method would, dumps alike with both tools,
    and as the same tree written plain. (Java reading Java's own gz and
    snappy snapshots, and zkpy reading them, is in test_persistence_java.py.)"""
    from zkpy.server.data_tree import DataTree
    from zkpy.server.persistence.file_snap import FileSnap
    from zkpy.server.persistence.util import get_zxid_from_name

    original = sort_data_dir(data_dirs[writer], "snapshot")[-1]
    zxid = get_zxid_from_name(original.name, "snapshot")
    tree, sessions = DataTree(), {}
    FileSnap(original.parent).load_file(original, tree, sessions)
    for sub in ("plain", "compressed"):
        (tmp_path / sub).mkdir()
    plain = FileSnap(tmp_path / "plain").serialize(tree, sessions, zxid)
    snap = FileSnap(tmp_path / "compressed", compression=compression).serialize(tree, sessions, zxid)
    assert snap.name.endswith("." + compression)
    j, z = both("snap", str(snap))
    assert z == j
    assert j == both("snap", str(plain))[0]
    assert b"/tools/many/eph-4" in j
