"""zkpy's zkcli and Java ZooKeeper 3.8.0's zkCli.sh, side by side.

The same commands go to both shells against the same (zkpy) server, and
their result lines must be the same: stdout and stderr separately, and the
exit code. Java's banner (``Connecting to``, ``Welcome to ZooKeeper!``,
``JLine support ...``), its SLF4J lines and the ``WATCHER::`` notices are
dropped first; the data watch events the notices report are compared as
lists. Java's zkCli starts a JVM (about a second), so most commands go in a
few scripts fed on stdin, each ending with ``quit`` so that its session is
gone before the next shell runs. Values that differ from run to run are
replaced: zxids by their distance from the server's zxid before the run,
the times of nodes written during the run, session ids.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys

import pytest

from zkpy.testing import TestingServer

from .java_zk import JavaZooKeeperServer

JAVA_ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
AVAILABLE, REASON = JavaZooKeeperServer.available()
if AVAILABLE and not os.path.isfile(JAVA_ZKCLI):
    AVAILABLE, REASON = False, f"Java's zkCli is missing ({JAVA_ZKCLI})"
pytestmark = [pytest.mark.interop, pytest.mark.skipif(not AVAILABLE, reason=REASON)]

_EVENT = re.compile(r"WatchedEvent state:(\w+) type:(\w+) path:(\S+)")
_DROP = ("Welcome to ZooKeeper!", "JLine support is disabled")


def run_shell(kind: str, server, args: list[str], script: str = "") -> subprocess.CompletedProcess:
    command = [JAVA_ZKCLI] if kind == "java" else [sys.executable, "-m", "zkpy.cli.zkcli"]
    return subprocess.run([*command, "-server", server.connect_string, *args], input=script,
                          capture_output=True, text=True, timeout=60)


def server_zxid(server) -> int:
    return int(re.search(r"Zxid: 0x([0-9a-f]+)", server.four_letter_word("srvr")).group(1), 16)


def normalize(text: str, base: int) -> str:
    """Drop Java's banner and log lines; name what differs between runs."""
    lines = []
    fresh = {"c": False, "m": False}  # was the current stat's cZxid / mZxid written in this run?
    for line in text.splitlines():
        if line.startswith(("SLF4J:", "Connecting to ")) or line in _DROP:
            continue
        match = re.fullmatch(r"([cmp])Zxid = 0x([0-9a-f]+)", line)
        if match:
            zxid = int(match.group(2), 16)
            fresh[match.group(1)] = zxid > base
            if zxid > base:
                line = f"{match.group(1)}Zxid = base+{zxid - base}"
        match = re.fullmatch(r"([cm])time = .*", line)
        if match and fresh[match.group(1)]:
            line = f"{match.group(1)}time = (this run)"
        line = re.sub(r"^ephemeralOwner = 0x[0-9a-f]{8,}$", "ephemeralOwner = (session)", line)
        line = re.sub(r"^ZooKeeper CLI version: .*", "ZooKeeper CLI version: (version)", line)
        lines.append(line)
    return "\n".join(lines)


def diff(java: str, zkpy: str) -> str:
    return "".join(difflib.unified_diff(java.splitlines(True), zkpy.splitlines(True), "java", "zkpy"))


def split_watch_notices(stdout: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Take the watcher's notices out of a shell's stdout; return the rest and the events.

    Each notice line (``WATCHER::``, ``WatchedEvent ...``) is printed with a
    blank line before it, by the event thread, while the main thread prints
    results: Java's lines of the two can interleave (a result between
    ``WATCHER::`` and its event), so each notice goes with its own blank line.
    """
    kept: list[str] = []
    events = []
    for line in stdout.split("\n"):
        event = _EVENT.fullmatch(line)
        if line == "WATCHER::" or event:
            if kept and kept[-1] == "":
                kept.pop()
            if event and event.group(2) != "None":
                events.append(event.groups())
            continue
        kept.append(line)
    return "\n".join(kept), events


def results(proc: subprocess.CompletedProcess, base: int):
    stdout, events = split_watch_notices(proc.stdout)
    return normalize(stdout, base), normalize(proc.stderr, base), proc.returncode, events


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with TestingServer(temp_dir=tmp_path_factory.mktemp("zkcli_java")) as srv:
        yield srv


SCRIPTS = {
    "crud": """
create /crud hello
create /crud again
create /crud/child
get /crud/child
get -s /crud
set -s /crud world
set -v 5 /crud bad
set -v 1 /crud ok
stat /crud
stat /nope
get /nope
get /crud watch
stat /crud watch
create x
create /a//b
create /nonexist/child
create
set /crud
set -v
set /crud -1
get -sw /crud
create "/crud/q q" "a b c"
get '/crud/q q'
get "/crud/q q
create /crud/c1 "x"y
create /crud/c2 x"y"
get /crud/c2
create /crud/c3 ''
get /crud/c3
create -c -s /cs
create -e -t 10 /et
create -t abc /t
create -t 0 /t
create -c /crud/container
create -e /crud/container/e
stat /crud/container/e
create /crud/container/e/x
delete /crud
delete -v 9 /crud/child
delete /crud/child 5
delete /crud/child
deleteall /crud -b x
deleteall /crud -b 1
deleteall /nope
quit
""",
    # The remaining flags and forms of each command (@SERVER@: the server's
    # connect string). No watch fires while printwatches is off: whether
    # Java's event thread prints it before the next "on" is a race.
    "flags": """
create /f
create /f/a 1
get -w /f
ls -w /f
stat -w /f/a
printwatches off
printwatches
printwatches on
printwatches
printwatches bogus
printwatches
printwatches on
set /f 2
removewatches /f -d
removewatches /f -c
removewatches /f/a -a
removewatches /f -l
removewatches /f -x
removewatches
addWatch -m PERSISTENT /f
removewatches /f -a
addWatch -m PERSISTENT_RECURSIVE /f
removewatches /f
removewatches /f -l -a
ls -R -w /f
ls -s -w /f
create -s -e /f/se- data world:anyone:r
create -e -s /f/es- data
getEphemerals
getEphemerals /f
set -s -v 0 /f/a x
get -s -w /f/a
set /f/a y
stat
stat -x /f
delete
deleteall
deleteall /f/a -b
setAcl -R /f ip:127.0.0.1:cdrwa
getAcl /f/a
setAcl -R /f world:anyone:cdrwa
getAcl -s /f/a
addauth digest
addWatch
addWatch -m
addWatch /nope
sync -x /f
get /f extra
ls /f /f
rmr /f
ls2 /f
version -x
connect @SERVER@/f
ls /
create /chrooted 1
get /chrooted
getEphemerals /
getAllChildrenNumber /
connect @SERVER@
ls /f
deleteall /f
quit
""",
    "ls": """
create /ls
create /ls/b 1
create /ls/a 22
create /ls/a/x
create -s /ls/s- seq
create -s -e /ls/e- eph
create -e /ls/eph
ls /ls
ls -s /ls
ls -R /ls
ls -s -R /ls
ls /ls watch
ls -?
ls
ls -x /ls
ls --foo /ls
ls /nope
getAllChildrenNumber /ls
getAllChildrenNumber /nope
getAllChildrenNumber
getEphemerals /ls
getEphemerals /nope
sync /ls
sync /nope
sync
deleteall /ls
quit
""",
    "acl": """
create /acl x world:anyone:cdrwa
getAcl /acl
getAcl -s /acl
setAcl /acl world:anyone:crwax
getAcl /acl
setAcl -s /acl world:anyone:cdrwa
setAcl -v 5 /acl world:anyone:cdrwa
setAcl /acl bogus
setAcl /acl
getAcl
getAcl /nope
create /acl/ip x world:anyone:r,ip:127.0.0.1:cdrwa
getAcl /acl/ip
create /acl/d x digest:bob:xyz:cdr
getAcl /acl/d
create /acl/auth x auth::cdrwa
addauth digest bob:secret
create /acl/auth x auth::cdrwa
getAcl /acl/auth
whoami
setAcl -R /acl world:anyone:cdrwa
addauth
delete /acl/d
deleteall /acl
ls /acl
quit
""",
    "quota": """
create /q
create /q/x 1
create /q/y 22
setquota -n 5 /q
listquota /q
setquota -b 100 /q
setquota -N 10 /q
setquota -B 1000 /q
listquota /q
get /zookeeper/quota/q/zookeeper_limits
get /zookeeper/quota/q/zookeeper_stats
setquota -n 1 /q
setquota -n 0 /q
setquota -b -1 /q
setquota -n abc /q
setquota /q
setquota -n 5
setquota -n 5 -b 6 /q
setquota -n 3 /q/x
setquota -n 3 /zookeeper/quota/q
setquota -n 3 /nope
delquota -n /q
delquota -b /q
listquota /q
delquota -N /q
delquota -B /q
listquota /q
delquota /q
listquota /q
delquota /q
listquota /nope
setquota -b 10 /q/x
setquota -n 3 /q
listquota /q/x
delquota -nb /q/x
delquota -x /q/x
delquota /q/x
ls /zookeeper/quota
deleteall /q
quit
""",
    "shell": """
create /sh v0
get -w /sh
set /sh v1
ls -w /sh
create /sh/kid
stat -w /sh/kid
delete /sh/kid
addWatch /sh
addWatch -m PERSISTENT_RECURSIVE /sh/deep
addWatch -m bogus /sh
set /sh v2
create /sh/deep
create /sh/deep/er
removewatches /sh
removewatches /nope
set /sh v3
bogus
 
history
redo 1
redo 3
redo 99
redo
printwatches
config
config -c
config -s
version
reconfig -remove 1
reconfig -members server.1=a:1:2 -add x
reconfig -v zz -remove 1
reconfig -file /nope
reconfig
close
ls /
printwatches
connect
get /sh
deleteall /sh
quit
""",
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_same_results(server, name):
    script = SCRIPTS[name].lstrip("\n").replace("@SERVER@", server.connect_string)
    base = server_zxid(server)
    java = results(run_shell("java", server, [], script), base)
    assert server_zxid(server) > base
    base = server_zxid(server)
    zkpy = results(run_shell("zkpy", server, [], script), base)
    assert zkpy[0] == java[0], "stdout differs:\n" + diff(java[0], zkpy[0])
    assert zkpy[1] == java[1], "stderr differs:\n" + diff(java[1], zkpy[1])
    assert zkpy[2] == java[2], "exit code differs"
    assert zkpy[3] == java[3], "watch events differ"


# One-shot mode: each command starts a shell of its own (and Java leaves its
# session to expire), so these run on a server of their own.
ONE_SHOT = [
    ["ls", "/"],
    ["get", "/nope"],
    ["create", "x"],
    ["ls", "-x", "/"],
    ["bogus"],
    ["redo", "0"],
    ["history"],
    ["removewatches", "/zz"],
    ["get", "-w", "/zookeeper"],
]


def test_one_shot_same_results(tmp_path):
    with TestingServer(temp_dir=tmp_path) as srv:
        for args in ONE_SHOT:
            java = run_shell("java", srv, args)
            zkpy = run_shell("zkpy", srv, args)
            assert results(zkpy, 0)[:3] == results(java, 0)[:3], args
        # Java dies of an uncaught NumberFormatException here; zkpy prints its
        # first line and fails the command the same way.
        java = run_shell("java", srv, ["set", "-v", "abc", "/x", "y"])
        zkpy = run_shell("zkpy", srv, ["set", "-v", "abc", "/x", "y"])
        assert zkpy.returncode == java.returncode == 1
        # Java's "Exception in thread" line can be interleaved with SLF4J's
        # warnings on the same stream, so look for the exception text itself.
        assert zkpy.stderr.strip() in normalize(java.stderr, 0)
