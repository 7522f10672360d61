"""zkCli's parsing and printing, without a server.

Expected texts are what Java ZooKeeper 3.8.0's zkCli printed for the same
input (recorded with /usr/share/zookeeper/bin/zkCli.sh, and with
``ConfigUtils.getClientConfigStr`` called from a small Java program).
"""

from __future__ import annotations

import calendar
import io
import time

import pytest

from zkpy.cli import zkcli_commands as zc
from zkpy.cli.zkcli import MyCommandOptions
from zkpy.jute.records import Id, Stat


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- printing ---------------------------------------------------------------------------------------


def test_stat_printer_matches_java(utc):
    ctime = calendar.timegm((2026, 11, 27, 10, 47, 3)) * 1000 + 123
    stat = Stat(czxid=0x6, mzxid=0x10, ctime=ctime, mtime=ctime, version=2, cversion=0, aversion=0,
                ephemeralOwner=0x1000014E55A0022, dataLength=6, numChildren=0, pzxid=0x6)
    assert zc.format_stat(stat).split("\n") == [
        "cZxid = 0x6",
        "ctime = Fri Nov 27 10:47:03 UTC 2026",
        "mZxid = 0x10",
        "mtime = Fri Nov 27 10:47:03 UTC 2026",
        "pZxid = 0x6",
        "cversion = 0",
        "dataVersion = 2",
        "aclVersion = 0",
        "ephemeralOwner = 0x1000014e55a0022",
        "dataLength = 6",
        "numChildren = 0",
    ]


def test_root_stat_and_negative_values(utc):
    assert zc.java_date(0) == "Thu Jan 01 00:00:00 UTC 1970"
    assert zc.java_hex(0) == "0"
    assert zc.java_hex(-0x8000000000000000) == "8000000000000000"  # Long.toHexString(Long.MIN_VALUE)
    assert zc.java_hex(-1) == "ffffffffffffffff"


def test_acl_line_as_java_prints_it():
    # getAcl prints Id.toString() (jute CSV, ending in a newline), ": ", perms.
    assert zc.id_to_string(Id("world", "anyone")) + ": " + zc.perm_string(31) == "'world,'anyone\n: cdrwa"
    assert zc.id_to_string(Id("digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=")) == \
        "'digest,'bob:fyVmFCwVbTJYrznoSu1koqYEYF0=\n"
    assert zc.id_to_string(Id("x", "a,b%c")) == "'x,'a%2Cb%25c\n"
    assert zc.perm_string(1) == "r"
    assert zc.perm_string(4 | 8 | 1) == "cdr"


def test_list_and_data():
    assert zc.java_list(["a", "b", "zookeeper"]) == "[a, b, zookeeper]"
    assert zc.java_list([]) == "[]"
    assert zc.java_string(None) == "null"
    assert zc.java_string(b"") == ""
    assert zc.java_string("h\u00e9".encode()) == "h\u00e9"


def test_keeper_and_wrapper_messages():
    from zkpy.errors import KeeperException

    assert zc.keeper_message(KeeperException.create(-6, "/t")) == "KeeperErrorCode = Unimplemented for /t"
    assert zc.keeper_message(KeeperException.create(-121, "/zz")) == "KeeperErrorCode = No such watcher for /zz"
    assert zc.keeper_message(KeeperException.create(-114)) == "KeeperErrorCode = InvalidACL"
    assert zc.CliWrapperException(KeeperException.create(-101, "/a")).message == "Node does not exist: /a"
    assert zc.CliWrapperException(KeeperException.create(-103, "/a")).message == "version No is not valid : /a"
    assert zc.CliWrapperException(KeeperException.create(-114)).message == "Acl is not valid : null"
    assert zc.CliWrapperException(KeeperException.create(-4, "/")).message == \
        "KeeperErrorCode = ConnectionLoss for /"


# -- quotas -------------------------------------------------------------------------------------------


def test_stats_track_formats():
    limits = zc.StatsTrack()
    limits.count, limits.bytes, limits.count_hard_limit, limits.byte_hard_limit = 5, -1, -1, -1
    assert str(limits) == "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
    stats = zc.StatsTrack()
    stats.count, stats.bytes = 3, 3
    assert str(stats) == "count=3,bytes=3"

    parsed = zc.StatsTrack(b"count=5,bytes=100=;byteHardLimit=1000;countHardLimit=10")
    assert (parsed.count, parsed.bytes, parsed.byte_hard_limit, parsed.count_hard_limit) == (5, 100, 1000, 10)
    assert str(parsed) == "count=5,bytes=100=;byteHardLimit=1000;countHardLimit=10"
    assert zc.StatsTrack("").count == -1  # missing values read as -1
    assert zc.StatsTrack("count=,bytes=7").count == -1


def test_quota_paths():
    assert zc.limit_path("/q") == "/zookeeper/quota/q/zookeeper_limits"
    assert zc.stat_path("/q/x") == "/zookeeper/quota/q/x/zookeeper_stats"
    assert zc.trim_quota_path("/zookeeper/quota/q/x") == "/q/x"


def test_client_config_str_matches_java():
    three = ("server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
             "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
             "server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183\nversion=100000000")
    # Java walks its Properties in hash order, not file order.
    assert zc.client_config_str(three) == "100000000 127.0.0.1:2182,127.0.0.1:2181,127.0.0.1:2183"
    mixed = ("server.10=h10:1:2:participant;h10:2181\nserver.2=h2:1:2:observer;2182\n"
             "server.33=h33:1:2:participant\nserver.4=h4:1:2;0.0.0.0:2184\nversion=2a")
    assert zc.client_config_str(mixed) == "2a h10:2181,,0.0.0.0:2182,0.0.0.0:2184"
    assert zc.client_config_str("") == " "


# -- parsing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, words", [
    ("ls /", ["ls", "/"]),
    ('create "/q q" "a b c"', ["create", "/q q", "a b c"]),
    ("get '/q q'", ["get", "/q q"]),
    ('get "/q q', ["get", "/q", "q"]),           # an unclosed quote is dropped
    ('create /p/c1 "x"y', ["create", "/p/c1", "x", "y"]),
    ('create /p/c2 x"y"', ["create", "/p/c2", 'x"y"']),
    ("create /p/c3 ''", ["create", "/p/c3", ""]),
    ("  set   /a   b  ", ["set", "/a", "b"]),
    (" ", [" "]),                                # Java's pattern takes a lone blank as a word
])
def test_command_line_words(line, words):
    options = MyCommandOptions()
    assert options.parse_command(line)
    assert options.cmd_args == words
    assert options.command == words[0]


def test_line_without_words_keeps_previous_command():
    options = MyCommandOptions()
    options.parse_command("ls /")
    assert not options.parse_command('"')
    assert options.cmd_args == ["ls", "/"]


def test_main_options():
    options = MyCommandOptions()
    assert options.parse_options(["-server", "h:1", "-timeout", "500", "-r", "-foo", "get", "-s", "/a"],
                                 io.StringIO())
    assert options.options["server"] == "h:1" and options.options["timeout"] == "500"
    assert options.options["readonly"] == "true"
    assert options.command == "get" and options.cmd_args == ["get", "-s", "/a"]
    err = io.StringIO()
    assert not MyCommandOptions().parse_options(["-server"], err)
    assert err.getvalue() == "Error: no argument found for option -server\n"


def _parse(cls, line):
    command = cls()
    command.bind(None, io.StringIO(), io.StringIO())
    return command.parse(line.split())


@pytest.mark.parametrize("cls, line, message", [
    (zc.LsCommand, "ls -x /", "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"),
    (zc.LsCommand, "ls -xs /p", "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -xs"),
    (zc.LsCommand, "ls --foo /p",
     "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: --foo"),
    (zc.SetCommand, "set /p -1", "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -1"),
    (zc.SetCommand, "set -v", "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"),
    (zc.SetCommand, "set -v -s /p x",
     "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"),
    (zc.SetCommand, "set /r", "set [-s] [-v version] path data"),
    (zc.CreateCommand, "create", "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    (zc.SetQuotaCommand, "setquota /q",
     "org.apache.commons.cli.MissingOptionException: Missing required option: "
     "[-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]"),
    (zc.SetQuotaCommand, "setquota -n 5", "setquota -n|-b|-N|-B val path"),
    (zc.SetQuotaCommand, "setquota -n 5 -b 6 /q",
     "org.apache.commons.cli.AlreadySelectedException: The option 'b' was specified but an option "
     "from this group has already been selected: 'n'"),
    (zc.DelQuotaCommand, "delquota -nb /p",
     "org.apache.commons.cli.AlreadySelectedException: The option 'b' was specified but an option "
     "from this group has already been selected: 'n'"),
    (zc.AddWatchCommand, "addWatch -m bogus /a",
     "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - "
     "default is PERSISTENT_RECURSIVE"),
    (zc.AddAuthCommand, "addauth", "addauth scheme auth"),
])
def test_parse_errors_match_java(cls, line, message):
    with pytest.raises(zc.CliParseException) as info:
        _parse(cls, line)
    assert info.value.message == message
    assert info.value.exit_code == 1


@pytest.mark.parametrize("line, value, args", [
    ("set -v0 /p x", "0", ["set", "/p", "x"]),
    ("set -v=1 /p x", "1", ["set", "/p", "x"]),
    ("set -v -1 /p x", "-1", ["set", "/p", "x"]),      # a negative number is a value
    ("set /p x -v 3", "3", ["set", "/p", "x"]),       # options after arguments
    ("set -s -v 2 /p x", "2", ["set", "/p", "x"]),
])
def test_option_values(line, value, args):
    command = _parse(zc.SetCommand, line)
    assert command.cl.get_option_value("v") == value
    assert command.args == args


def test_combined_flags_and_double_dash():
    command = _parse(zc.GetCommand, "get -sw /p")
    assert command.cl.has_option("s") and command.cl.has_option("w")
    command = _parse(zc.CreateCommand, "create -- -x")
    assert command.args == ["create", "-x"]
    command = _parse(zc.SetQuotaCommand, "setquota -n5 /p")
    assert command.cl.get_option_value("n") == "5"


def test_deprecated_forms_warn_and_rewrite():
    command = zc.GetCommand()
    err = io.StringIO()
    command.bind(None, io.StringIO(), err)
    command.parse(["get", "/r", "watch"])
    assert command.cl.has_option("w") and command.args == ["get", "/r"]
    assert err.getvalue() == ("'get path [watch]' has been deprecated. "
                              "Please use 'get [-s] [-w] path' instead.\n")
    command = zc.DeleteCommand()
    err = io.StringIO()
    command.bind(None, io.StringIO(), err)
    command.parse(["delete", "/r", "5"])
    assert not command.cl.has_option("v")  # Java ignores the old version argument
    assert "'delete path [version]' has been deprecated" in err.getvalue()


def test_ls_help_text():
    command = zc.LsCommand()
    out = io.StringIO()
    command.bind(None, out, io.StringIO())
    command.parse(["ls", "-?"])
    assert out.getvalue() == "usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch\n"


# -- paths, ACLs, numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("path, message", [
    ("x", "Path must start with / character"),
    ("", "Path length must be > 0"),
    ("/a/", "Path must not end with / character"),
    ("/a//b", 'Invalid path string "/a//b" caused by empty node name specified @3'),
    ("/a/..", 'Invalid path string "/a/.." caused by relative paths not allowed @4'),
    ("/a/./b", 'Invalid path string "/a/./b" caused by relative paths not allowed @3'),
    ("/a\u0001", 'Invalid path string "/a\u0001" caused by invalid character @2'),
    ("/a\0", 'Invalid path string "/a\0" caused by null character not allowed @2'),
])
def test_path_messages(path, message):
    assert zc.path_error(path) == message


def test_valid_paths():
    for path in ("/", "/a", "/a/.b", "/a/..b", "/\u00e9"):
        assert zc.path_error(path) is None
    assert zc.path_error("/queue/", is_sequential=True) is None


def test_acl_parser():
    err = io.StringIO()
    acls = zc.acl_parse("world:anyone:crwax", err)
    assert err.getvalue() == "Unknown perm type: x\n"
    assert [(a.id.scheme, a.id.id, a.perms) for a in acls] == [("world", "anyone", 4 | 1 | 2 | 16)]
    err = io.StringIO()
    assert zc.acl_parse("bogus", err) == []
    assert err.getvalue() == "bogus does not have the form scheme:id:perm\n"
    acls = zc.acl_parse("digest:bob:xyz:cdr,ip:127.0.0.1:cdrwa,", io.StringIO())
    assert [(a.id.scheme, a.id.id, a.perms) for a in acls] == [("digest", "bob:xyz", 13),
                                                               ("ip", "127.0.0.1", 31)]


def test_java_numbers():
    assert zc.java_parse_int("-5") == -5
    assert zc.java_parse_int("+7") == 7
    for bad in ("abc", " 5", "1_000", "", "2147483648", None):
        with pytest.raises(zc.NumberFormatError):
            zc.java_parse_int(bad)
    assert zc.java_parse_int("2147483648", 64) == 2147483648
    assert zc.NumberFormatError("abc").java_text() == 'java.lang.NumberFormatException: For input string: "abc"'
    assert [zc.java_decode(t) for t in ("10", "0x10", "#10", "010", "-3", "0")] == [10, 16, 16, 8, -3, 0]
    for bad in ("1x", "09", "", "0x"):
        with pytest.raises(zc.NumberFormatError):
            zc.java_decode(bad)
