"""The dynamic config files and their parsing (Java: QuorumPeerConfig's
dynamic file handling, writeDynamicConfig, editStaticConfig), and the
config comparison a reconfig relies on (QuorumMaj.equals)."""

from __future__ import annotations

import pytest

from zkpy.quorum import dynamic_config
from zkpy.quorum.quorum_verifier import parse_config_text
from zkpy.server.config import ConfigException, ServerConfig

CONFIG = ("server.1=127.0.0.1:2001:3001:participant;127.0.0.1:4001\n"
          "server.10=127.0.0.1:2010:3010:observer;127.0.0.1:4010\n"
          "server.2=127.0.0.1:2002:3002:participant;127.0.0.1:4002\n"
          "version=100000002")


def test_dynamic_file_text_is_sorted_without_version():
    qv = parse_config_text(CONFIG)
    assert str(qv).splitlines()[1].startswith("server.2=")  # the config itself: by sid
    text = dynamic_config.dynamic_config_text(qv, keep_version=False)
    assert text == "\n".join(sorted(CONFIG.splitlines()[:3]))  # the file: as strings
    assert dynamic_config.dynamic_config_text(qv, keep_version=True).endswith("\nversion=100000002")


def test_edit_static_config_keeps_the_rest_and_points_at_the_file(tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("# comment\ntickTime=200\nclientPort=4001\nserver.1=127.0.0.1:2001:3001;4001\n"
                   "dataDir=/data\npeerType=participant\n")
    dynamic_config.edit_static_config(str(cfg), str(cfg) + ".dynamic.100000000", erase_client_address=True)
    assert cfg.read_text() == f"tickTime=200\ndataDir=/data\ndynamicConfigFile={cfg}.dynamic.100000000\n"


def _write_peer(tmp_path, static: str, dynamic_name: str, dynamic: str):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "myid").write_text("1")
    (tmp_path / dynamic_name).write_text(dynamic)
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=200\ninitLimit=5\nsyncLimit=2\ndataDir={tmp_path / 'data'}\n"
                   f"reconfigEnabled=true\ndynamicConfigFile={tmp_path / dynamic_name}\n" + static)
    return cfg


def test_parse_dynamic_file_version_from_its_name(tmp_path):
    body = "\n".join(CONFIG.splitlines()[:3])
    cfg = _write_peer(tmp_path, "", "zoo.cfg.dynamic.100000002", body)
    (tmp_path / "zoo.cfg.dynamic.next").write_text(CONFIG.replace("100000002", "100000005"))
    config = ServerConfig.parse(cfg)
    assert sorted(config.servers) == [1, 2, 10]
    assert config.membership_version == "100000002"
    assert config.client_port == 4001  # from this server's line
    assert config.next_dynamic_config.endswith("version=100000005")


def test_dynamic_file_must_not_hold_a_version(tmp_path):
    cfg = _write_peer(tmp_path, "", "zoo.cfg.dynamic.1", "server.1=127.0.0.1:2001:3001;4001\nversion=1\n")
    with pytest.raises(ConfigException, match="dynamic file shouldn't have version inside"):
        ServerConfig.parse(cfg)


def test_server_lines_belong_in_the_dynamic_file(tmp_path):
    cfg = _write_peer(tmp_path, "server.2=127.0.0.1:2002:3002;4002\n", "zoo.cfg.dynamic.1",
                      "server.1=127.0.0.1:2001:3001;4001\n")
    with pytest.raises(ConfigException, match="must be in a separate dynamic config file"):
        ServerConfig.parse(cfg)


def test_configs_compare_by_members_whatever_the_version():
    a = parse_config_text(CONFIG)
    b = parse_config_text(CONFIG.replace("version=100000002", "version=100000009"))
    c = parse_config_text(CONFIG.replace(":observer;", ":participant;").replace("100000002", "100000003"))
    assert a == b and a != c
    # As Java: one version is one config, whatever the members.
    assert a == parse_config_text(CONFIG.replace(":observer;", ":participant;"))
