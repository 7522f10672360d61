"""The data-directory tools, run as an operator runs them, on files a real
zkpy server wrote: bin/zkTxnLogToolkit.sh (dump, --recover, --chop),
bin/zkSnapShotToolkit.sh (text, -d, -json) and bin/zkCleanup.sh.

The repaired and chopped logs are handed back to a server, which must
start from them with the data they imply.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from zkpy.server.persistence.file_txn_log import FileTxnLog
from zkpy.server.persistence.util import get_zxid_from_name, sort_data_dir
from zkpy.testing import TestingServer, TestingServerError

BIN = Path(__file__).resolve().parents[2] / "bin"
TXN_LINE = re.compile(r"^\d{1,2}/\d{1,2}/\d{2}, \d{1,2}:\d{2}:\d{2} [AP]M \S+ session 0x[0-9a-f]+ cxid 0x[0-9a-f]+ "
                      r"zxid 0x[0-9a-f]+ \w+ ")


def run_tool(script: str, *args: str, env=None, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    environ = dict(os.environ, ZKPY_PYTHON=sys.executable)
    environ.update(env or {})
    return subprocess.run(["bash", str(BIN / script), *args], capture_output=True, text=True, timeout=60,
                          env=environ, input=stdin, cwd=cwd)


def version_dir(data_dir) -> Path:
    return Path(data_dir) / "version-2"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A data dir written by a zkpy server: a live session with an ephemeral
    (the server was killed, so the session is in the startup snapshot of
    the next run), creates, setData, a multi, a failed create, a delete."""
    base = tmp_path_factory.mktemp("tools")
    server = TestingServer(temp_dir=base / "server", config={"snapCount": 1000})
    try:
        server.start()
        zk = KazooClient(hosts=server.connect_string, timeout=10.0)
        zk.start(timeout=15.0)
        zk.create("/tools-a", b"hello")
        zk.create("/tools-a/seq-", b"s", sequence=True)
        zk.set("/tools-a", b"v2")
        tx = zk.transaction()
        tx.create("/tools-m1", b"1")
        tx.create("/tools-m2", b"2")
        tx.commit()
        with pytest.raises(Exception):
            zk.create("/tools-a", b"again")
        zk.create("/tools-gone", b"x")
        zk.delete("/tools-gone")
        zk.create("/tools-eph", "héllo".encode(), ephemeral=True)
        session = zk.client_id[0]
        server.kill()  # the session stays in the data
        zk.stop()
        zk.close()
        server.start()  # its startup snapshot holds the session and /tools-eph
        server.stop()
    finally:
        server.close()
    return {"data_dir": server.data_dir, "session": session}


def logs_of(data_dir) -> list[Path]:
    return sort_data_dir(version_dir(data_dir), "log")


def newest_snapshot(data_dir) -> Path:
    return sort_data_dir(version_dir(data_dir), "snapshot")[-1]


# -- zkTxnLogToolkit.sh ---------------------------------------------------------------------------

def test_dump_prints_every_txn_like_java(written):
    log = logs_of(written["data_dir"])[0]
    result = run_tool("zkTxnLogToolkit.sh", str(log))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"
    with FileTxnLog(log.parent).read(0, fast_forward=False) as itr:
        count = sum(1 for entry in itr if entry.hdr.zxid >= get_zxid_from_name(log.name, "log"))
    assert lines[-1] == f"EOF reached after {count} txns."
    text = result.stdout
    assert re.search(r" createSession \d+$", text, re.M)
    assert "create /tools-a,hello,[31,s{'world,'anyone}\n],false," in text
    assert re.search(r" setData /tools-a,v2,1$", text, re.M)
    assert re.search(r" multi create:.*/tools-m1.*;create:.*/tools-m2", text)
    assert re.search(r" error -110$", text, re.M)  # the failed create: NODEEXISTS
    assert re.search(r" delete '/tools-gone$", text, re.M)
    assert "create /tools-eph,héllo,[31,s{'world,'anyone}\n],true," in text
    starts = [line for line in lines[1:-1] if TXN_LINE.match(line)]
    assert len(starts) == count


def test_recover_fixes_a_bad_checksum_and_the_server_starts_from_the_result(written, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(written["data_dir"], data)
    # only the logs: the server must replay the repaired txn
    for snap in sort_data_dir(version_dir(data), "snapshot")[1:]:
        snap.unlink()
    log = logs_of(data)[0]
    raw = bytearray(log.read_bytes())
    raw[raw.index(b"hello")] = ord("j")  # the payload no longer matches its Adler32
    log.write_bytes(bytes(raw))

    dump = run_tool("zkTxnLogToolkit.sh", str(log))
    assert re.search(r"^CRC ERROR - .* create /tools-a,jello,", dump.stdout, re.M)
    with pytest.raises(TestingServerError):  # a server refuses the damaged log
        TestingServer(data_dir=data, temp_dir=tmp_path / "refused", start_timeout=10).start()

    asked = run_tool("zkTxnLogToolkit.sh", "--recover", str(log), stdin="no\n")
    assert "Would you like to fix it (Yes/No/Abort) ? " in asked.stdout
    assert f"Recovery file {log}.fixed has been written with 0 fixed CRC error(s)" in asked.stdout
    Path(f"{log}.fixed").unlink()

    fixed = run_tool("zkTxnLogToolkit.sh", "-r", "-y", str(log))
    assert fixed.returncode == 0, fixed.stderr
    assert re.search(r"^CRC FIXED - .* create /tools-a,jello,", fixed.stdout, re.M)
    assert f"Recovery file {log}.fixed has been written with 1 fixed CRC error(s)" in fixed.stdout
    again = run_tool("zkTxnLogToolkit.sh", "-r", str(log))
    assert again.returncode == 1 and "already exists" in again.stderr

    os.replace(f"{log}.fixed", log)
    assert "CRC" not in run_tool("zkTxnLogToolkit.sh", str(log)).stdout
    with TestingServer(data_dir=data, temp_dir=tmp_path / "fixed") as server:
        zk = KazooClient(hosts=server.connect_string)
        zk.start(timeout=15.0)
        try:
            assert zk.get("/tools-a")[0] == b"v2" and zk.exists("/tools-m2")
        finally:
            zk.stop()
            zk.close()


def test_chop_keeps_the_txns_up_to_a_zxid(written, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(written["data_dir"], data)
    for snap in sort_data_dir(version_dir(data), "snapshot")[1:]:
        snap.unlink()
    log = logs_of(data)[0]
    lines = run_tool("zkTxnLogToolkit.sh", str(log)).stdout.splitlines()
    set_data = next(line for line in lines if " setData /tools-a,v2," in line)
    zxid = int(re.search(r"zxid 0x([0-9a-f]+)", set_data).group(1), 16)

    result = run_tool("zkTxnLogToolkit.sh", "--chop", "-z", hex(zxid), str(log))
    assert result.returncode == 0, result.stderr
    chopped = Path(f"{log}.chopped{zxid}")
    assert f"Chopping at {zxid:x} new log has " in result.stdout
    dumped = run_tool("zkTxnLogToolkit.sh", str(chopped)).stdout
    assert set_data in dumped and "tools-m1" not in dumped

    failed = run_tool("zkTxnLogToolkit.sh", "-c", "-z", "999999", str(log))
    assert failed.returncode == 1 and "Failed to chop" in failed.stderr

    os.replace(chopped, log)
    for other in logs_of(data)[1:]:
        other.unlink()
    with TestingServer(data_dir=data, temp_dir=tmp_path / "chopped") as server:
        zk = KazooClient(hosts=server.connect_string)
        zk.start(timeout=15.0)
        try:
            assert zk.get("/tools-a")[0] == b"v2" and zk.exists("/tools-m1") is None
        finally:
            zk.stop()
            zk.close()


def test_txn_toolkit_mistakes(tmp_path):
    missing = run_tool("zkTxnLogToolkit.sh", str(tmp_path / "nope"))
    assert missing.returncode == 1 and missing.stderr == f"File doesn't exist or not readable: {tmp_path / 'nope'}\n"
    usage = run_tool("zkTxnLogToolkit.sh")
    assert usage.returncode == 1 and usage.stdout.startswith("usage: TxnLogToolkit [-dhrvc]")
    assert run_tool("zkTxnLogToolkit.sh", "-h").returncode == 0
    bad = run_tool("zkTxnLogToolkit.sh", "-x", "f")
    assert bad.returncode == 1 and bad.stderr == "Unrecognized option: -x\n\n"
    not_a_log = tmp_path / "snapshot.0"
    not_a_log.write_bytes(b"ZKSN" + b"\0" * 20)
    wrong = run_tool("zkTxnLogToolkit.sh", str(not_a_log))
    assert wrong.returncode == 2 and wrong.stderr == "Invalid magic number for snapshot.0\n"
    assert "Traceback" not in missing.stderr + bad.stderr + wrong.stderr


# -- zkSnapShotToolkit.sh ---------------------------------------------------------------------------

def test_snapshot_details_sessions_and_data(written):
    snap = newest_snapshot(written["data_dir"])
    result = run_tool("zkSnapShotToolkit.sh", str(snap))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    blocks = out.split("----\n")
    paths = [b.splitlines()[0] for b in blocks[1:] if b.startswith("/")]
    assert {"/", "/tools-a", "/tools-a/seq-0000000000", "/tools-m1", "/tools-m2", "/tools-eph", "/zookeeper",
            "/zookeeper/config", "/zookeeper/quota"} == set(paths)
    assert out.startswith(f"ZNode Details (count={len(paths) + 1}):\n----\n/\n  cZxid = 0x00000000000000\n")
    eph = next(b for b in blocks if b.startswith("/tools-eph\n"))
    assert f"  ephemeralOwner = {written['session']:#016x}\n" in eph and "  dataLength = 6\n" in eph
    assert re.search(r"  ctime = \w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \S+ \d{4}\n", eph)
    assert f"Session Details (sid, timeout, ephemeralCount):\n{written['session']:#016x}, " in out
    assert re.search(rf"{written['session']:#016x}, \d+, 1\n", out)
    assert out.endswith(f"----\nLast zxid: 0x{get_zxid_from_name(snap.name, 'snapshot'):x}\n")

    data = run_tool("zkSnapShotToolkit.sh", "-d", str(snap)).stdout
    eph = next(b for b in data.split("----\n") if b.startswith("/tools-eph\n"))
    assert f"  data = {base64.b64encode('héllo'.encode()).decode()}\n" in eph


def test_snapshot_json_is_ncdu_format(written):
    result = run_tool("zkSnapShotToolkit.sh", "-json", str(newest_snapshot(written["data_dir"])))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc[:2] == [1, 0] and doc[2]["progname"] == "SnapshotFormatter.java"
    root = doc[3]
    assert root[0]["name"] == "/" and root[0]["ino"] == 1001
    names = {(entry[0] if isinstance(entry, list) else entry)["name"] for entry in root[1:]}
    assert {"tools-a", "tools-m1", "tools-eph", "zookeeper"} <= names
    tools_a = next(e for e in root[1:] if isinstance(e, list) and e[0]["name"] == "tools-a")
    assert tools_a[0]["asize"] == 2 and tools_a[1]["name"] == "seq-0000000000"


def test_snapshot_toolkit_mistakes(tmp_path, written):
    usage = run_tool("zkSnapShotToolkit.sh")
    assert usage.returncode == 2 and usage.stderr.startswith("USAGE: SnapshotFormatter [-d|-json] snapshot_file")
    missing = run_tool("zkSnapShotToolkit.sh", str(tmp_path / "snapshot.5"))
    assert missing.returncode == 2 and missing.stderr == f"File '{tmp_path / 'snapshot.5'}' does not exist.\n"
    both = run_tool("zkSnapShotToolkit.sh", "-d", "-json", str(newest_snapshot(written["data_dir"])))
    assert both.returncode == 2 and "Cannot specify both" in both.stderr
    log = logs_of(written["data_dir"])[0]
    not_snap = run_tool("zkSnapShotToolkit.sh", str(log))
    assert not_snap.returncode == 1 and "mismatching magic headers" in not_snap.stderr
    damaged = tmp_path / "snapshot.0"
    raw = bytearray(newest_snapshot(written["data_dir"]).read_bytes())
    raw[raw.index("héllo".encode())] = ord("H")  # a node's data changes: the checksum no longer matches
    damaged.write_bytes(bytes(raw))
    crc = run_tool("zkSnapShotToolkit.sh", "-d", str(damaged))
    shown = base64.b64encode("Héllo".encode()).decode()
    assert crc.returncode == 1 and f"  data = {shown}\n" in crc.stdout and "CRC corruption" in crc.stderr
    assert "Traceback" not in usage.stderr + missing.stderr + not_snap.stderr + crc.stderr


# -- zkCleanup.sh ------------------------------------------------------------------------------------

def test_zkcleanup_keeps_the_newest_snapshots_and_their_logs(tmp_path):
    data = tmp_path / "data"
    with TestingServer(data_dir=data, temp_dir=tmp_path / "srv", config={"snapCount": 10}) as server:
        zk = KazooClient(hosts=server.connect_string)
        zk.start(timeout=15.0)
        try:
            for i in range(60):
                zk.create(f"/purge-{i}", b"x")
        finally:
            zk.stop()
            zk.close()
    snaps = sort_data_dir(version_dir(data), "snapshot")
    assert len(snaps) > 4, "snapCount=10 should have rolled several snapshots"
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "zoo.cfg").write_text(f"tickTime=2000\ndataDir={data}\nclientPort=2181\n")

    refused = run_tool("zkCleanup.sh", "-n", "2", env={"ZOOCFGDIR": str(conf)})
    assert refused.returncode == 1 and "count should be greater than or equal to 3" in refused.stderr
    assert refused.stdout.startswith("Usage:\nPurgeTxnLog dataLogDir [snapDir] -n count\n")

    result = run_tool("zkCleanup.sh", "-n", "3", env={"ZOOCFGDIR": str(conf)})
    assert result.returncode == 0, result.stderr
    kept = sort_data_dir(version_dir(data), "snapshot")
    assert kept == snaps[-3:]
    removed = re.findall(r"^Removing file: \w{3} \d+, \d{4}, \d+:\d{2}:\d{2} [AP]M\t(.*)$", result.stdout, re.M)
    assert {Path(p).name for p in removed if "snapshot" in p} == {s.name for s in snaps[:-3]}
    oldest_kept = get_zxid_from_name(kept[0].name, "snapshot")
    logs = logs_of(data)
    # the log holding the oldest kept snapshot's zxid is still there, the earlier ones are gone
    assert get_zxid_from_name(logs[0].name, "log") <= oldest_kept + 1
    assert all(get_zxid_from_name(Path(p).name, "log") <= oldest_kept for p in removed if "log." in p)
    with TestingServer(data_dir=data, temp_dir=tmp_path / "after") as server:
        zk = KazooClient(hosts=server.connect_string)
        zk.start(timeout=15.0)
        try:
            assert len([c for c in zk.get_children("/") if c.startswith("purge-")]) == 60
        finally:
            zk.stop()
            zk.close()
