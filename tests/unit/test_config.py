"""zkpy.server.config: zoo.cfg parsing, system properties, validation.

Expected values were checked against Java ZooKeeper 3.8.0's
``QuorumPeerConfig.parse`` on the same files.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zkpy.server.config import (
    FOUR_LETTER_WORDS,
    UNSET_SERVER_ID,
    ConfigException,
    ServerConfig,
    SystemProperties,
    format_properties,
    load_properties,
    parse_properties,
)


@pytest.fixture(autouse=True)
def _no_jvmflags(monkeypatch):
    monkeypatch.delenv("SERVER_JVMFLAGS", raising=False)
    monkeypatch.delenv("JVMFLAGS", raising=False)


def write_cfg(tmp_path, text, name="zoo.cfg"):
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    return path


def parse(tmp_path, text, **kwargs):
    data = tmp_path / "data"
    text = text.replace("@DATA@", str(data))
    return ServerConfig.parse(write_cfg(tmp_path, text), **kwargs)


BASIC = "tickTime=2000\ndataDir=@DATA@\nclientPort=2181\n"


# -- java.util.Properties --------------------------------------------------------


class TestParseProperties:
    def test_separators(self):
        props = parse_properties("a=1\nb: 2\nc 3\nd\t=\t4\ne   :5\nf\n")
        assert props == {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": ""}

    def test_comments_and_blank_lines(self):
        text = "# comment\n! also a comment\n   # indented comment\n\n   \nkey=value # not a comment\n"
        assert parse_properties(text) == {"key": "value # not a comment"}

    def test_comment_line_does_not_continue(self):
        assert parse_properties("# comment \\\nkey=value\n") == {"key": "value"}

    def test_leading_whitespace_is_skipped_trailing_kept(self):
        assert parse_properties("   key = value  \n") == {"key": "value  "}

    def test_line_continuation(self):
        text = "key = one \\\n     two\\\n three\nnext=x\n"
        assert parse_properties(text) == {"key": "one twothree", "next": "x"}

    def test_even_backslashes_do_not_continue(self):
        assert parse_properties("key=a\\\\\nnext=b\n") == {"key": "a\\", "next": "b"}

    def test_continuation_then_blank_line_ends_value(self):
        assert parse_properties("key=a\\\n\nnext=b\n") == {"key": "a", "next": "b"}

    def test_trailing_backslash_at_eof_is_dropped(self):
        assert parse_properties("key=a\\") == {"key": "a"}

    def test_escapes(self):
        text = "k\\=ey=b\\tc\nu=\\u0041\\u00e9\nother=\\q\\:\nsp\\ ace=1\n"
        assert parse_properties(text) == {"k=ey": "b\tc", "u": "Aé", "other": "q:", "sp ace": "1"}

    def test_malformed_unicode_escape(self):
        with pytest.raises(ConfigException, match="Malformed"):
            parse_properties("key=\\u12\n")

    def test_empty_key(self):
        assert parse_properties(":x=1\n") == {"": "x=1"}

    def test_line_endings(self):
        assert parse_properties("a=1\r\nb=2\rc=3\n") == {"a": "1", "b": "2", "c": "3"}

    def test_later_duplicate_wins(self):
        assert parse_properties("a=1\na=2\n") == {"a": "2"}

    def test_second_separator_is_part_of_value(self):
        assert parse_properties("a = = b\nc==d\n") == {"a": "= b", "c": "=d"}

    def test_load_is_latin1(self, tmp_path):
        path = tmp_path / "p.properties"
        path.write_bytes(b"name=caf\xe9\n")
        assert load_properties(path) == {"name": "café"}

    @given(st.dictionaries(st.text(), st.text()))
    def test_format_round_trips(self, props):
        assert parse_properties(format_properties(props)) == props

    def test_format_is_ascii_with_header(self):
        text = format_properties({"dataDir": "/tmp/ü x", "a b": " v"}, header="hello")
        text.encode("ascii")
        assert text.startswith("# hello\n")
        assert parse_properties(text) == {"dataDir": "/tmp/ü x", "a b": " v"}


# -- SystemProperties ------------------------------------------------------------------


class TestSystemProperties:
    def test_parse_jvm_flags(self):
        flags = "-Xmx1g -Dzookeeper.snapCount=5 -Dempty -D -Dquoted='a b' -cp x -Dx=y=z"
        assert SystemProperties.parse_jvm_flags(flags) == {
            "zookeeper.snapCount": "5",
            "empty": "",
            "quoted": "a b",
            "x": "y=z",
        }

    def test_unbalanced_quotes_fall_back_to_whitespace_split(self):
        assert SystemProperties.parse_jvm_flags("-Da=\"x -Db=2") == {"a": '"x', "b": "2"}

    def test_from_environ_jvmflags_wins_over_server_jvmflags(self):
        env = {"SERVER_JVMFLAGS": "-Da=server -Db=server", "JVMFLAGS": "-Db=jvm -Dc=jvm"}
        props = SystemProperties.from_environ(env)
        assert props.as_dict() == {"a": "server", "b": "jvm", "c": "jvm"}

    def test_from_os_environ(self, monkeypatch):
        monkeypatch.setenv("SERVER_JVMFLAGS", "-Dreadonlymode.enabled=true")
        assert SystemProperties.from_environ().get_bool("readonlymode.enabled") is True

    def test_get(self):
        props = SystemProperties({"a": "1"})
        assert props.get("a") == "1"
        assert props.get("b") is None
        assert props.get("b", "x") == "x"
        assert "a" in props and "b" not in props

    @pytest.mark.parametrize(
        "value,expected", [("true", True), ("TRUE", True), ("True", True), ("yes", False),
                           ("1", False), ("", False), (" true", False)]
    )
    def test_get_bool_is_java_parse_boolean(self, value, expected):
        assert SystemProperties({"p": value}).get_bool("p") is expected

    def test_get_bool_default_only_when_unset(self):
        assert SystemProperties().get_bool("p", True) is True
        assert SystemProperties({"p": "nope"}).get_bool("p", True) is False

    @pytest.mark.parametrize(
        "value,expected",
        [("42", 42), ("-7", -7), ("+7", 7), ("0x10", 16), ("0X1f", 31), ("#ff", 255),
         ("010", 8), ("0", 0), ("2147483647", 2147483647), ("-2147483648", -2147483648)],
    )
    def test_get_int_is_java_integer_decode(self, value, expected):
        assert SystemProperties({"p": value}).get_int("p", 99) == expected

    @pytest.mark.parametrize("value", ["", "abc", "1.5", "2147483648", " 1", "08", "0x", "--1", "1_000"])
    def test_get_int_invalid_gives_default_and_warns(self, value, caplog):
        with caplog.at_level(logging.WARNING, logger="zkpy.server.config"):
            assert SystemProperties({"p": value}).get_int("p", 99) == 99
        assert "p=" in caplog.text

    def test_get_long(self):
        props = SystemProperties({"big": "9223372036854775807", "bad": "9223372036854775808"})
        assert props.get_long("big", 0) == 2**63 - 1
        assert props.get_long("bad", 5) == 5
        assert props.get_int("big", 3) == 3
        assert props.get_long("unset", 7) == 7

    def test_set_default_and_clear(self):
        props = SystemProperties({"a": "1"})
        props.set_default("a", "2")
        props.set_default("b", "2")
        props.set("c", 3)
        props.clear("a")
        assert props.as_dict() == {"b": "2", "c": "3"}


# -- ServerConfig: basics and defaults ----------------------------------------------------


class TestServerConfigBasics:
    def test_sample_like_config(self, tmp_path):
        cfg = parse(tmp_path, BASIC + "initLimit=10\nsyncLimit=5\n")
        assert cfg.tick_time == 2000
        assert cfg.data_dir == str(tmp_path / "data")
        assert cfg.data_log_dir == cfg.data_dir
        assert cfg.client_port == 2181
        assert cfg.client_port_address is None
        assert cfg.client_address == ("0.0.0.0", 2181)
        assert cfg.min_session_timeout == 4000
        assert cfg.max_session_timeout == 40000
        assert (cfg.init_limit, cfg.sync_limit) == (10, 5)
        assert cfg.is_standalone and not cfg.is_distributed
        assert cfg.server_id == UNSET_SERVER_ID
        assert cfg.config_path == str(tmp_path / "zoo.cfg")

    def test_defaults(self, tmp_path):
        cfg = parse(tmp_path, "dataDir=@DATA@\n")
        assert cfg.tick_time == 3000
        assert (cfg.min_session_timeout, cfg.max_session_timeout) == (6000, 60000)
        assert cfg.client_port == 0 and cfg.client_address is None
        assert cfg.max_client_cnxns == 60
        assert cfg.snap_count == 100000
        assert cfg.pre_alloc_size_kb == 65536 and cfg.pre_alloc_size == 64 * 1024 * 1024
        assert cfg.global_outstanding_limit == 1000
        assert cfg.force_sync is True
        assert cfg.skip_acl is False
        assert cfg.jute_max_buffer == 0xFFFFF
        assert cfg.four_letter_word_whitelist == frozenset({"srvr"})
        assert cfg.read_only_mode_enabled is False
        assert cfg.extended_types_enabled is False
        assert cfg.super_digest is None
        assert cfg.snap_retain_count == 3 and cfg.purge_interval == 0
        assert cfg.standalone_enabled is True and cfg.reconfig_enabled is False
        assert cfg.local_sessions_enabled is False and cfg.local_sessions_upgrading_enabled is False
        assert cfg.admin_enable_server is True and cfg.admin_server_port == 8080
        assert cfg.election_alg == 3 and cfg.peer_type == "participant"
        assert cfg.digest_enabled is True and cfg.close_session_txn_enabled is True
        assert cfg.servers == {} and cfg.groups == {} and cfg.weights == {}

    def test_explicit_fields(self, tmp_path):
        cfg = parse(
            tmp_path,
            BASIC
            + "dataLogDir=@DATA@-log\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n"
            "minSessionTimeout=1000\nmaxSessionTimeout=90000\nautopurge.snapRetainCount=5\n"
            "autopurge.purgeInterval=2\nlocalSessionsEnabled=TRUE\nlocalSessionsUpgradingEnabled=true\n"
            "reconfigEnabled=true\nadmin.enableServer=false\nadmin.serverPort=9090\npeerType=Observer\n",
        )
        assert cfg.data_log_dir == str(tmp_path / "data") + "-log"
        assert cfg.client_address == ("127.0.0.1", 2181)
        assert cfg.max_client_cnxns == 0
        assert (cfg.min_session_timeout, cfg.max_session_timeout) == (1000, 90000)
        assert (cfg.snap_retain_count, cfg.purge_interval) == (5, 2)
        assert cfg.local_sessions_enabled and cfg.local_sessions_upgrading_enabled
        assert cfg.reconfig_enabled
        assert cfg.admin_enable_server is False and cfg.admin_server_port == 9090
        assert cfg.peer_type == "observer"

    def test_only_one_session_timeout_set(self, tmp_path):
        cfg = parse(tmp_path, BASIC + "maxSessionTimeout=5000\n")
        assert (cfg.min_session_timeout, cfg.max_session_timeout) == (4000, 5000)

    def test_keys_and_values_are_trimmed(self, tmp_path):
        cfg = parse(tmp_path, "  tickTime  =  1000  \ndataDir = @DATA@   \nclientPort:2181\t\n")
        assert cfg.tick_time == 1000 and cfg.client_port == 2181
        assert cfg.data_dir == str(tmp_path / "data")

    def test_relative_data_dir_is_resolved_against_cwd(self, tmp_path, monkeypatch, caplog):
        workdir = tmp_path / "work"
        workdir.mkdir()
        cfg_path = write_cfg(tmp_path, "dataDir=data/standalone\ndataLogDir=./logs\n")
        monkeypatch.chdir(workdir)
        with caplog.at_level(logging.WARNING, logger="zkpy.server.config"):
            cfg = ServerConfig.parse(cfg_path)
        assert cfg.data_dir == str(workdir / "data" / "standalone")
        assert cfg.data_log_dir == str(workdir / "logs")
        assert "data/standalone is relative" in caplog.text
        assert "./logs is relative" not in caplog.text

    def test_relative_config_path(self, tmp_path, monkeypatch):
        write_cfg(tmp_path, "dataDir=/x\n")
        monkeypatch.chdir(tmp_path)
        assert ServerConfig.parse("zoo.cfg").config_path == str(tmp_path / "zoo.cfg")

    def test_snap_retain_count_below_3_is_reset(self, tmp_path):
        assert parse(tmp_path, BASIC + "autopurge.snapRetainCount=1\n").snap_retain_count == 3

    def test_from_properties(self, tmp_path):
        cfg = ServerConfig.from_properties(
            {" tickTime ": " 500 ", "dataDir": str(tmp_path)}, environ={}
        )
        assert cfg.tick_time == 500 and cfg.config_path is None
        assert cfg.raw == {"tickTime": "500", "dataDir": str(tmp_path)}


# -- errors -----------------------------------------------------------------------------


class TestServerConfigErrors:
    @pytest.mark.parametrize(
        "text,fragment",
        [
            ("tickTime=100\n", "dataDir is not set"),
            ("dataDir=\n", "dataDir is empty"),
            ("tickTime=abc\ndataDir=@DATA@\n", "tickTime: 'abc' is not an integer"),
            ("tickTime=1.5\ndataDir=@DATA@\n", "tickTime"),
            ("tickTime=0\ndataDir=@DATA@\n", "tickTime is not set"),
            ("tickTime=-5\ndataDir=@DATA@\n", "tickTime: -5 must be positive"),
            ("dataDir=@DATA@\nclientPort=abc\n", "clientPort: 'abc' is not an integer"),
            ("dataDir=@DATA@\nclientPort=99999\n", "clientPort: port out of range: 99999"),
            ("dataDir=@DATA@\nclientPort=-1\n", "clientPort: port out of range"),
            ("dataDir=@DATA@\nclientPortAddress=127.0.0.1\n",
             "clientPortAddress is set but clientPort is not set"),
            ("dataDir=@DATA@\nminSessionTimeout=10000\nmaxSessionTimeout=5000\n",
             "minSessionTimeout (10000) must not be larger than maxSessionTimeout (5000)"),
            ("dataDir=@DATA@\nmaxClientCnxns=x\n", "maxClientCnxns"),
            ("dataDir=@DATA@\nelectionAlg=1\n", "Only 3 is supported"),
            ("dataDir=@DATA@\nstandaloneEnabled=maybe\n",
             "Invalid option maybe for standaloneEnabled"),
            ("dataDir=@DATA@\npeerType=leader\n", "Unrecognised peertype: leader"),
            ("dataDir=@DATA@\nserver.x=localhost:2888:3888\n", "server.x"),
            ("dataDir=@DATA@\nstandaloneEnabled=false\n",
             "standaloneEnabled = false then number of participants should be >0"),
            ("dataDir=@DATA@\nserver.1=localhost:2888:3888:observer\n",
             "Observers w/o participants"),
            ("dataDir=@DATA@\nserver.1=localhost:2888:3888\nserver.2=localhost:2889:3889:observer\n",
             "Observers w/o quorum"),
            ("dataDir=@DATA@\ndynamicConfigFile=zoo.cfg.dynamic\nserver.1=h:1:2\n",
             "must be in a separate dynamic config file"),
        ],
    )
    def test_message_names_key_and_file(self, tmp_path, text, fragment):
        with pytest.raises(ConfigException) as info:
            parse(tmp_path, text)
        message = str(info.value)
        assert fragment in message
        assert str(tmp_path / "zoo.cfg") in message

    def test_file_not_found(self, tmp_path):
        missing = tmp_path / "nope.cfg"
        with pytest.raises(ConfigException, match="nope.cfg file is missing"):
            ServerConfig.parse(missing)

    def test_malformed_escape_names_file(self, tmp_path):
        with pytest.raises(ConfigException, match="Malformed.*zoo.cfg"):
            parse(tmp_path, "dataDir=@DATA@\nx=\\uZZZZ\n")


# -- system properties from zoo.cfg and -D -----------------------------------------------


class TestSystemPropertiesFromConfig:
    def test_unknown_key_becomes_zookeeper_property(self, tmp_path):
        cfg = parse(tmp_path, BASIC + "snapCount=10\nfoo bar\npreAllocSize=1024\n")
        assert cfg.properties.get("zookeeper.snapCount") == "10"
        assert cfg.properties.get("zookeeper.foo") == "bar"
        assert cfg.snap_count == 10
        assert cfg.pre_alloc_size_kb == 1024 and cfg.pre_alloc_size == 1024 * 1024
        assert "zookeeper.tickTime" not in cfg.properties
        assert "zookeeper.dataDir" not in cfg.properties

    def test_membership_keys_are_not_properties(self, tmp_path):
        cfg = parse(tmp_path, BASIC + "server.1=localhost:2888:3888;2181\nversion=100000000\n")
        assert cfg.servers == {1: "localhost:2888:3888;2181"}
        assert cfg.membership_version == "100000000"
        assert not any(k.startswith("zookeeper.server") for k in cfg.properties.as_dict())
        assert "zookeeper.version" not in cfg.properties

    def test_jvm_flags_set_properties(self, tmp_path, monkeypatch):
        monkeypatch.setenv("SERVER_JVMFLAGS", "-Dzookeeper.snapCount=7 -Djute.maxbuffer=0x200000")
        monkeypatch.setenv("JVMFLAGS", "-Dzookeeper.globalOutstandingLimit=5")
        cfg = parse(tmp_path, BASIC)
        assert cfg.snap_count == 7
        assert cfg.jute_max_buffer == 0x200000
        assert cfg.global_outstanding_limit == 5

    def test_environ_argument(self, tmp_path):
        cfg = parse(tmp_path, BASIC, environ={"JVMFLAGS": "-Dzookeeper.skipACL=yes"})
        assert cfg.skip_acl is True

    def test_system_properties_argument_is_used_and_extended(self, tmp_path):
        props = SystemProperties({"zookeeper.extendedTypesEnabled": "true"})
        cfg = parse(tmp_path, BASIC + "snapCount=50\n", system_properties=props)
        assert cfg.properties is props
        assert cfg.extended_types_enabled is True
        assert props.get("zookeeper.snapCount") == "50"

    def test_zoo_cfg_key_overrides_d_flag_like_java(self, tmp_path, monkeypatch):
        # Java sets System properties from zoo.cfg after the JVM started.
        monkeypatch.setenv("JVMFLAGS", "-Dzookeeper.snapCount=7")
        assert parse(tmp_path, BASIC + "snapCount=10\n").snap_count == 10

    @pytest.mark.parametrize(
        "line,attr,expected",
        [
            ("readonlymode.enabled=true", "read_only_mode_enabled", True),
            ("jute.maxbuffer=4096", "jute_max_buffer", 4096),
            ("zookeeper.extendedTypesEnabled=true", "extended_types_enabled", True),
            ("zookeeper.DigestAuthenticationProvider.superDigest=super:abc=",
             "super_digest", "super:abc="),
            ("zookeeper.snapCount=20", "snap_count", 20),
            ("zookeeper.skipACL=yes", "skip_acl", True),
            ("zookeeper.forceSync=no", "force_sync", False),
        ],
    )
    def test_full_property_names_are_taken_as_is_with_warning(
        self, tmp_path, caplog, line, attr, expected
    ):
        with caplog.at_level(logging.WARNING, logger="zkpy.server.config"):
            cfg = parse(tmp_path, BASIC + line + "\n")
        assert getattr(cfg, attr) == expected
        key = line.split("=", 1)[0]
        assert f"zookeeper.{key}" not in cfg.properties
        assert "Java ZooKeeper would set" in caplog.text

    def test_d_flag_wins_over_full_property_name_in_zoo_cfg(self, tmp_path, monkeypatch):
        monkeypatch.setenv("SERVER_JVMFLAGS", "-Dreadonlymode.enabled=false -Dzookeeper.snapCount=3")
        cfg = parse(tmp_path, BASIC + "readonlymode.enabled=true\nzookeeper.snapCount=20\n")
        assert cfg.read_only_mode_enabled is False
        assert cfg.snap_count == 3

    @pytest.mark.parametrize("value,expected", [("no", False), ("yes", True), ("false", True),
                                                ("NO", True)])
    def test_force_sync_only_no_disables(self, tmp_path, value, expected):
        assert parse(tmp_path, BASIC + f"forceSync={value}\n").force_sync is expected

    @pytest.mark.parametrize("value,expected", [("yes", True), ("true", False), ("YES", False),
                                                ("no", False)])
    def test_skip_acl_only_yes_enables(self, tmp_path, value, expected):
        assert parse(tmp_path, BASIC + f"skipACL={value}\n").skip_acl is expected

    def test_snap_count_minimum_and_invalid(self, tmp_path, caplog):
        assert parse(tmp_path, BASIC + "snapCount=1\n").snap_count == 2
        with caplog.at_level(logging.WARNING, logger="zkpy.server.config"):
            assert parse(tmp_path, BASIC + "snapCount=lots\n").snap_count == 100000
        assert "zookeeper.snapCount" in caplog.text


class TestFourLetterWordWhitelist:
    def wl(self, tmp_path, extra=""):
        return parse(tmp_path, BASIC + extra).four_letter_word_whitelist

    def test_default_is_srvr(self, tmp_path):
        assert self.wl(tmp_path) == {"srvr"}

    def test_star_is_all(self, tmp_path):
        assert self.wl(tmp_path, "4lw.commands.whitelist=*\n") == FOUR_LETTER_WORDS
        assert len(FOUR_LETTER_WORDS) == 18

    def test_list_is_trimmed_and_srvr_always_added(self, tmp_path):
        assert self.wl(tmp_path, "4lw.commands.whitelist= ruok , mntr,,stat\n") == {
            "ruok", "mntr", "stat", "srvr"
        }

    def test_star_after_names(self, tmp_path):
        assert self.wl(tmp_path, "4lw.commands.whitelist=ruok, *\n") == FOUR_LETTER_WORDS

    def test_isro_added_with_read_only_mode(self, tmp_path, monkeypatch):
        monkeypatch.setenv("SERVER_JVMFLAGS", "-Dreadonlymode.enabled=true")
        cfg = parse(tmp_path, BASIC + "4lw.commands.whitelist=ruok\n")
        assert cfg.four_letter_word_whitelist == {"ruok", "isro", "srvr"}
        assert cfg.is_4lw_enabled("isro") and not cfg.is_4lw_enabled("mntr")

    def test_isro_needs_exactly_true(self, tmp_path, monkeypatch):
        # Java: QuorumPeer uses Boolean.getBoolean, FourLetterCommands equals("true").
        monkeypatch.setenv("SERVER_JVMFLAGS", "-Dreadonlymode.enabled=TRUE")
        cfg = parse(tmp_path, BASIC)
        assert cfg.read_only_mode_enabled is True
        assert cfg.four_letter_word_whitelist == {"srvr"}

    def test_d_flag_whitelist(self, tmp_path, monkeypatch):
        monkeypatch.setenv("SERVER_JVMFLAGS", "-Dzookeeper.4lw.commands.whitelist=ruok")
        assert self.wl(tmp_path) == {"ruok", "srvr"}


# -- membership and myid -----------------------------------------------------------------


ENSEMBLE = (
    BASIC
    + "initLimit=5\nsyncLimit=2\n"
    "server.1=localhost:2888:3888\nserver.2=localhost:2889:3889\nserver.3=localhost:2890:3890\n"
)


def write_myid(tmp_path, content: bytes):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "myid").write_bytes(content)


class TestMembership:
    def test_ensemble(self, tmp_path):
        write_myid(tmp_path, b"2\n")
        cfg = parse(tmp_path, ENSEMBLE + "server.4=localhost:2891:3891:observer\n")
        assert cfg.is_distributed and not cfg.is_standalone
        assert cfg.server_id == 2
        assert sorted(cfg.voting_members) == [1, 2, 3]
        assert sorted(cfg.observing_members) == [4]
        assert cfg.servers[4] == "localhost:2891:3891:observer"

    def test_ensemble_without_myid(self, tmp_path):
        with pytest.raises(ConfigException, match="myid file is missing"):
            parse(tmp_path, ENSEMBLE)

    @pytest.mark.parametrize("missing", ["initLimit", "syncLimit"])
    def test_ensemble_needs_limits(self, tmp_path, missing):
        write_myid(tmp_path, b"1\n")
        text = "".join(
            line + "\n" for line in ENSEMBLE.splitlines() if not line.startswith(missing)
        )
        with pytest.raises(ConfigException, match=f"{missing} is not set"):
            parse(tmp_path, text)

    def test_single_server_line_is_standalone(self, tmp_path):
        write_myid(tmp_path, b"1")
        cfg = parse(tmp_path, "dataDir=@DATA@\nserver.1=localhost:2888:3888;2191\n")
        assert cfg.is_standalone
        assert cfg.server_id == 1
        assert cfg.client_port == 2191
        assert cfg.client_address == ("0.0.0.0", 2191)

    def test_client_address_from_server_line(self, tmp_path):
        write_myid(tmp_path, b"1\n")
        cfg = parse(tmp_path, "dataDir=@DATA@\nserver.1=localhost:2888:3888;127.0.0.2:2191\n")
        assert cfg.client_address == ("127.0.0.2", 2191)

    def test_client_port_conflict_with_server_line(self, tmp_path):
        write_myid(tmp_path, b"1\n")
        with pytest.raises(ConfigException, match="different"):
            parse(tmp_path, BASIC + "server.1=localhost:2888:3888;2191\n")

    def test_single_voter_with_standalone_disabled_is_distributed(self, tmp_path):
        write_myid(tmp_path, b"1\n")
        cfg = parse(
            tmp_path,
            BASIC + "initLimit=5\nsyncLimit=2\nstandaloneEnabled=false\nserver.1=localhost:2888:3888\n",
        )
        assert cfg.is_distributed

    def test_groups_and_weights_kept_raw(self, tmp_path):
        write_myid(tmp_path, b"1\n")
        cfg = parse(tmp_path, ENSEMBLE + "group.1=1:2:3\nweight.1=1\nweight.2=1\n")
        assert cfg.groups == {1: "1:2:3"}
        assert cfg.weights == {1: "1", 2: "1"}

    @pytest.mark.parametrize("content,expected", [(b"3\n", 3), (b"+3\r\n", 3), (b"7\nrest", 7),
                                                  (b"255", 255)])
    def test_myid_parsing(self, tmp_path, content, expected):
        write_myid(tmp_path, content)
        assert parse(tmp_path, ENSEMBLE).server_id == expected

    @pytest.mark.parametrize("content", [b" 1\n", b"1 \n", b"", b"one\n", b"\n1\n"])
    def test_invalid_myid(self, tmp_path, content):
        write_myid(tmp_path, content)
        with pytest.raises(ConfigException, match="is not a number") as info:
            parse(tmp_path, ENSEMBLE)
        assert "myid" in str(info.value)

    def test_invalid_myid_fails_standalone_too(self, tmp_path):
        # Java reads dataDir/myid whenever it exists.
        write_myid(tmp_path, b" 1\n")
        with pytest.raises(ConfigException, match="serverid  1 is not a number"):
            parse(tmp_path, BASIC)

    def test_peer_type_follows_server_line(self, tmp_path):
        write_myid(tmp_path, b"4\n")
        cfg = parse(tmp_path, ENSEMBLE + "server.4=localhost:2891:3891:observer\n")
        assert cfg.peer_type == "observer"


# -- the README's tables -----------------------------------------------------------------------

_REPO = Path(__file__).resolve().parents[2]
# A Java system property named in the server's code: a string literal.
_PROPERTY = re.compile(r"""["']((?:zookeeper|jute|readonlymode|znode)\.[A-Za-z0-9_.]+)["']""")
# Literals of that shape that are not properties: the envi key, a log file name.
_NOT_PROPERTIES = {"zookeeper.version", "zookeeper.log"}


def test_readme_lists_every_property_the_server_reads():
    readme = (_REPO / "README.md").read_text(encoding="utf-8")
    named = set()
    for package in ("server", "quorum"):
        for source in (_REPO / "zkpy" / package).rglob("*.py"):
            named.update(_PROPERTY.findall(source.read_text(encoding="utf-8")))
    named -= _NOT_PROPERTIES
    assert len(named) > 40, sorted(named)
    # ``zookeeper.K`` may be listed as the zoo.cfg key `K` that sets it.
    missing = sorted(name for name in named if name.rstrip(".") not in readme
                     and f"`{name.removeprefix('zookeeper.').rstrip('.')}" not in readme)
    assert not missing, f"README.md does not list {missing}"
