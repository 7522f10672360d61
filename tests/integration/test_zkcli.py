"""zkCli (``zkpy.cli.zkcli``) against a real server: one-shot commands run as
subprocesses (output and exit code), scripts fed on stdin, and the
interactive shell driven through a pseudo-terminal (pexpect).

Expected texts are Java ZooKeeper 3.8.0 zkCli's for the same commands
(tests/interop/test_zkcli_java.py compares the two side by side).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ZKCLI_SH = os.path.join(ROOT, "bin", "zkCli.sh")
_BANNER = ("Welcome to ZooKeeper!", "JLine support is disabled", "JLine support is enabled")
_WATCHER = re.compile(r"\nWATCHER::\n\nWatchedEvent state:\w+ type:\w+ path:\S+\n")
STAT_KEYS = ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion",
             "ephemeralOwner", "dataLength", "numChildren"]


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.raw_out = proc.stdout
        self.err = proc.stderr
        self.watches = _WATCHER.findall(proc.stdout)
        text = _WATCHER.sub("", proc.stdout)
        self.out = "".join(line for line in text.splitlines(True)
                           if not line.startswith("Connecting to ") and line.rstrip("\n") not in _BANNER)

    def __repr__(self) -> str:
        return f"<rc={self.rc} out={self.out!r} err={self.err!r}>"


def zkcli(server, *args: str, script: str | None = None, command=None) -> Run:
    command = command or [sys.executable, "-m", "zkpy.cli.zkcli"]
    proc = subprocess.run([*command, "-server", server.connect_string, *args], input=script or "",
                          capture_output=True, text=True, timeout=60)
    return Run(proc)


def stat_of(text: str) -> dict[str, str]:
    """The ``key = value`` lines of a printed Stat."""
    found = dict(re.findall(r"^(\w+) = (.*)$", text, re.M))
    assert list(found) == STAT_KEYS, text
    return found


def test_create_get_set_delete(zk_server):
    run = zkcli(zk_server, "create", "/crud", "hello")
    assert (run.rc, run.out, run.err) == (0, "", "Created /crud\n")
    assert zkcli(zk_server, "get", "/crud").out == "hello\n"

    run = zkcli(zk_server, "get", "-s", "/crud")
    assert run.rc == 0 and run.out.startswith("hello\ncZxid = 0x")
    stat = stat_of(run.out)
    assert stat["dataLength"] == "5" and stat["dataVersion"] == "0" and stat["ephemeralOwner"] == "0x0"
    assert re.fullmatch(r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d \S+ \d{4}", stat["ctime"])

    run = zkcli(zk_server, "set", "-s", "-v", "0", "/crud", "world")
    assert run.rc == 0 and stat_of(run.out)["dataVersion"] == "1"
    run = zkcli(zk_server, "set", "-v", "0", "/crud", "again")
    assert (run.rc, run.err) == (1, "version No is not valid : /crud\n")
    assert zkcli(zk_server, "stat", "/crud").out.splitlines()[6] == "dataVersion = 1"

    run = zkcli(zk_server, "create", "/crud", "twice")
    assert (run.rc, run.err) == (1, "Node already exists: /crud\n")
    run = zkcli(zk_server, "create", "/crud/child")
    assert run.rc == 0
    assert zkcli(zk_server, "get", "/crud/child").out == "null\n"  # created without data
    run = zkcli(zk_server, "delete", "/crud")
    assert (run.rc, run.err) == (1, "Node not empty: /crud\n")
    run = zkcli(zk_server, "deleteall", "/crud")
    assert (run.rc, run.out, run.err) == (0, "", "")
    run = zkcli(zk_server, "get", "/crud")
    assert (run.rc, run.err) == (1, "Node does not exist: /crud\n")


def test_errors_and_exit_codes(zk_server):
    run = zkcli(zk_server, "bogus")
    assert run.rc == 127
    lines = run.err.splitlines()
    assert lines[0] == "ZooKeeper -server host:port -client-configuration properties-file cmd args"
    assert "\tls [-s] [-w] [-R] path" in lines and "\twhoami " in lines
    assert lines[-1] == "Command not found: Command not found bogus"

    cases = [
        (["create", "x"], 1, "Path must start with / character"),
        (["get", "/a//b"], 1, 'Invalid path string "/a//b" caused by empty node name specified @3'),
        (["ls"], 1, "ls [-s] [-w] [-R] path"),
        (["ls", "-x", "/"], 1, "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"),
        (["set", "-v"], 1, "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"),
        (["create", "-c", "-e", "/c"], 1,
         "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."),
        (["create", "-t", "abc", "/t"], 1, "-t argument must be a long value"),
        (["create", "-e", "-t", "10", "/t"], 1, "TTLs cannot be used with Ephemeral znodes"),
        (["set", "-v", "abc", "/x", "y"], 1, 'java.lang.NumberFormatException: For input string: "abc"'),
        (["redo", "0"], 1, "Command index out of range"),
        (["removewatches", "/zz"], 1, "KeeperErrorCode = No such watcher for /zz"),
        (["getAllChildrenNumber"], 1, "getAllChildrenNumber path"),
    ]
    for args, rc, message in cases:
        run = zkcli(zk_server, *args)
        assert (run.rc, run.err) == (rc, message + "\n"), args


def test_ls_variants_and_counts(zk_server):
    script = "\n".join(["create /ls", "create /ls/b", "create /ls/a", "create /ls/a/x 12", "quit"])
    assert zkcli(zk_server, script=script).rc == 0
    assert zkcli(zk_server, "ls", "/ls").out == "[a, b]\n"
    run = zkcli(zk_server, "ls", "-s", "/ls")
    assert run.out.startswith("[a, b]\ncZxid = ") and stat_of(run.out)["numChildren"] == "2"
    assert zkcli(zk_server, "ls", "-R", "/ls").out == "/ls\n/ls/a\n/ls/b\n/ls/a/x\n"
    assert zkcli(zk_server, "getAllChildrenNumber", "/ls").out == "3\n"
    run = zkcli(zk_server, "ls", "/ls", "watch")
    assert run.out == "[a, b]\n"
    assert run.err == "'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.\n"
    assert zkcli(zk_server, "sync", "/ls").out == "Sync is OK\n"
    run = zkcli(zk_server, "deleteall", "/ls", "-b", "1")
    assert run.rc == 0 and zkcli(zk_server, "stat", "/ls").err == "Node does not exist: /ls\n"


def test_deleteall_that_cannot_delete_everything(zk_server):
    # /da may be read but not have children deleted: the batch fails whole.
    script = "create /da\ncreate /da/kid\nsetAcl /da world:anyone:ra\n"
    assert zkcli(zk_server, script=script).rc == 0
    run = zkcli(zk_server, "deleteall", "/da")
    assert (run.rc, run.out, run.err) == (0, "", "Failed to delete some node(s) in the subtree!\n")
    assert zkcli(zk_server, "ls", "/da").out == "[kid]\n"
    run = zkcli(zk_server, script="setAcl /da world:anyone:cdrwa\ndeleteall /da -b 1\nls /da\n")
    assert (run.rc, run.err) == (1, "Node does not exist: /da\n")


def test_sequential_and_ephemeral(zk_server):
    script = "\n".join(["create /seq", "create -s /seq/n a", "create -s -e /seq/e b", "create -e /seq/eph c",
                        "getEphemerals /seq", "stat /seq/eph", "create /seq/eph/kid", "ls /seq"])
    run = zkcli(zk_server, script=script)
    assert run.err.splitlines() == ["Created /seq", "Created /seq/n0000000000", "Created /seq/e0000000001",
                                    "Created /seq/eph", "Ephemerals cannot have children: /seq/eph/kid"]
    lines = run.out.splitlines()
    assert sorted(lines[0][1:-1].split(", ")) == ["/seq/e0000000001", "/seq/eph"]
    assert re.fullmatch(r"ephemeralOwner = 0x[0-9a-f]+", lines[9]) and lines[9] != "ephemeralOwner = 0x0"
    assert lines[-1] == "[e0000000001, eph, n0000000000]"
    # zkcli closes its session on exit: the ephemerals are gone at once.
    assert zkcli(zk_server, "ls", "/seq").out == "[n0000000000]\n"


def test_acls_and_auth(zk_server):
    script = "\n".join([
        "create /acl x world:anyone:cdrwa",
        "getAcl /acl",
        "setAcl /acl world:anyone:crwax",
        "getAcl -s /acl",
        "setAcl /acl bogus",
        "create /acl/d x digest:bob:xyz:cdr",
        "getAcl /acl/d",
        "addauth digest bob:secret",
        "create /acl/mine x auth::cdrwa",
        "getAcl /acl/mine",
        "whoami",
        "setAcl -R /acl world:anyone:cdrwa",
    ])
    run = zkcli(zk_server, script=script)
    out = run.out.splitlines()
    assert out[:4] == ["'world,'anyone", ": cdrwa", "'world,'anyone", ": crwa"]
    assert stat_of("\n".join(out[4:15]))["aclVersion"] == "1"
    assert out[15:18] == ["'digest,'bob:fyVmFCwVbTJYrznoSu1koqYEYF0=", ": cdrwa", "Auth scheme: User"]
    assert sorted(out[18:20]) == ["digest: bob", "ip: 127.0.0.1"]  # the server's order
    # setAcl -R reports each failure with print(), no newline
    assert out[20:] == ["KeeperErrorCode = NoAuth for /acl/d"]
    assert run.err.splitlines() == [
        "Created /acl", "Unknown perm type: x", "bogus does not have the form scheme:id:perm",
        "Acl is not valid : null", "Created /acl/d", "Insufficient permission : /acl/d", "Created /acl/mine",
        "Insufficient permission : /acl/d",  # setAcl -R cannot list /acl/d's children
    ]
    assert run.rc == 1


def test_quotas(zk_server):
    script = "\n".join([
        "create /q", "create /q/x 1", "create /q/y 22",
        "setquota -n 5 /q", "listquota /q",
        "setquota -B 1000 /q", "listquota /q",
        "setquota -n 1 /q",
        "setquota -n 0 /q",
        "setquota -n 3 /q/x",
        "setquota -n 3 /zookeeper/quota/q",
        "get /zookeeper/quota/q/zookeeper_limits",
        "delquota -n /q", "listquota /q",
        "delquota /q", "listquota /q", "delquota /q",
        "ls /zookeeper/quota",
    ])
    run = zkcli(zk_server, script=script)
    assert run.out.splitlines() == [
        "Output quota for /q count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1",
        "Output stat for /q count=3,bytes=3",
        "Output quota for /q count=5,bytes=-1=;byteHardLimit=1000;countHardLimit=-1",
        "Output stat for /q count=3,bytes=3",
        "[Warning]: the count quota you create is less than the existing count:3",
        "count=1,bytes=-1=;byteHardLimit=1000;countHardLimit=-1",
        "Output quota for /q count=-1,bytes=-1=;byteHardLimit=1000;countHardLimit=-1",
        "Output stat for /q count=3,bytes=3",
        "Quota does not exist for /q",
        "[]",
    ]
    assert run.err.splitlines() == [
        "Created /q", "Created /q/x", "Created /q/y",
        "absolute path is /zookeeper/quota/q/zookeeper_limits",
        "absolute path is /zookeeper/quota/q/zookeeper_limits",
        "the num quota must be greater than zero",
        "/q/x has a parent /q which has a quota",
        "cannot set a quota under the path: /zookeeper/quota",
        "absolute path is /zookeeper/quota/q/zookeeper_limits",
        "absolute path is /zookeeper/quota/q/zookeeper_limits",
        "quota for /q does not exist.",
    ]


def test_shell_commands_on_stdin(zk_server):
    script = "\n".join([
        "create /sh v0",        # 0
        "get -w /sh",           # 1
        "set /sh v1",           # 2: fires the data watch
        "sync /",               # 3
        "printwatches off",     # 4
        "printwatches",         # 5
        "stat -w /sh",          # 6
        "set /sh v2",           # 7: fires the watch, not printed
        "sync /",               # 8
        "sync /",               # 9
        "printwatches on",      # 10
        "",                     # empty lines are skipped, not counted
        "history",              # 11
        "redo 1",               # 12: get -w /sh
        "redo 5",               # 13: printwatches
        "redo 99",              # 14
        "close",                # 15
        "ls /",                 # 16
        "connect " + zk_server.connect_string,
        "get /sh",
        "version",
        "config",
        "quit",
        "ls /never",
    ])
    run = zkcli(zk_server, script=script)
    assert run.rc == 0
    out = run.out.splitlines()
    assert out[:3] == ["v0", "Sync is OK", "printwatches is off"]
    assert stat_of("\n".join(out[3:14]))["dataVersion"] == "1"
    assert out[14:16] == ["Sync is OK", "Sync is OK"]
    assert out[16:27] == ["1 - get -w /sh", "2 - set /sh v1", "3 - sync /", "4 - printwatches off",
                          "5 - printwatches", "6 - stat -w /sh", "7 - set /sh v2", "8 - sync /", "9 - sync /",
                          "10 - printwatches on", "11 - history"]
    assert out[27:]  == ["v2", "printwatches is on", "Not connected", "v2", out[31], ""]
    assert out[31].startswith("ZooKeeper CLI version: 3.8.0")  # config: a standalone server has none
    assert run.err.splitlines() == ["Created /sh", "Command index out of range"]
    events = [w.split("WatchedEvent ")[1].strip() for w in run.watches]
    assert events.count("state:SyncConnected type:NodeDataChanged path:/sh") == 1
    assert events.count("state:Closed type:None path:null") == 2  # close, quit
    assert events.count("state:SyncConnected type:None path:null") == 2  # start, connect


def test_exit_code_is_last_commands(zk_server):
    assert zkcli(zk_server, script="get /nope\nls /\n").rc == 0
    assert zkcli(zk_server, script="ls /\nget /nope\n").rc == 1
    assert zkcli(zk_server, script="bogus\n").rc == 127


def test_script_and_console_entry_points(zk_server):
    run = zkcli(zk_server, "ls", "/zookeeper", command=["bash", ZKCLI_SH])
    assert (run.rc, run.out) == (0, "[config, quota]\n")
    console = os.path.join(os.path.dirname(sys.executable), "zkcli")
    if not os.path.exists(console):
        pytest.skip("the zkcli console script is not installed (pip install -e .)")
    run = zkcli(zk_server, "get", "/nope", command=[console])
    assert (run.rc, run.err) == (1, "Node does not exist: /nope\n")


def test_server_down_is_connection_loss(tmp_path):
    from zkpy.testing import find_free_port

    run = zkcli(type("S", (), {"connect_string": f"127.0.0.1:{find_free_port()}"})(), "-timeout", "2000",
                "ls", "/")
    assert (run.rc, run.err) == (1, "KeeperErrorCode = ConnectionLoss for /\n")


def test_several_servers_and_a_chroot(zk_server):
    from zkpy.testing import find_free_port

    assert zkcli(zk_server, "create", "/cr").rc == 0
    assert zkcli(zk_server, "create", "/cr/inside", "1").rc == 0
    # A dead server in the list (tried first or second, as shuffled) is
    # skipped. Without -waitforconnection a command queued while the dead one
    # refuses fails with ConnectionLoss, in Java's zkCli as in zkpy's.
    hosts = f"127.0.0.1:{find_free_port()},{zk_server.connect_string}/cr"
    for _ in range(3):
        run = zkcli(type("S", (), {"connect_string": hosts})(), "-waitforconnection", "ls", "/")
        assert (run.rc, run.out, run.err) == (0, "[inside]\n", "")


# -- interactive, through a pseudo-terminal ------------------------------------------------------------


def test_interactive_history_redo_completion(zk_server):
    pexpect = pytest.importorskip("pexpect")
    assert zkcli(zk_server, "create", "/completion_target", "x").rc == 0
    env = dict(os.environ, TERM="dumb", INPUTRC="/dev/null")
    child = pexpect.spawn(sys.executable, ["-m", "zkpy.cli.zkcli", "-server", zk_server.connect_string],
                          env=env, encoding="utf-8", timeout=15, dimensions=(40, 200))
    try:
        host = re.escape(zk_server.connect_string)
        child.expect(r"JLine support is enabled")
        # The connection notice comes from another thread: before the banner
        # or after it, maybe cutting into the first prompt (as in Java); an
        # empty line (not counted) shows the prompt again.
        if "state:SyncConnected type:None path:null" not in child.before:
            child.expect("state:SyncConnected type:None path:null")
        child.sendline("")
        child.expect(rf"\[zk: {host}\(CONNECTED\) 0\] ")
        child.sendline("create /inter one")
        child.expect("Created /inter")
        child.expect(rf"\[zk: {host}\(CONNECTED\) 1\] ")
        # Tab completes a command name, then a path (children fetched from the server).
        child.send("getAc\t/completion_ta\t\r")
        child.expect("getAcl /completion_target ")
        child.expect("'world,'anyone")
        child.expect(r"\(CONNECTED\) 2\] ")
        child.sendline("history")
        child.expect("0 - create /inter one")
        child.expect("1 - getAcl /completion_target ")
        child.expect("2 - history")
        child.expect(r"\(CONNECTED\) 3\] ")
        child.sendline("redo 0")
        child.expect("Node already exists: /inter")
        child.expect(r"\(CONNECTED\) 4\] ")
        child.send("\x10\r")  # Ctrl-P: the previous line again from readline's history
        child.expect("Node already exists: /inter")
        child.expect(r"\(CONNECTED\) 5\] ")
        child.sendline("delete /inter")
        child.expect(r"\(CONNECTED\) 6\] ")
        child.sendline("quit")
        child.expect("state:Closed type:None path:null")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert zkcli(zk_server, "stat", "/inter").rc == 1
