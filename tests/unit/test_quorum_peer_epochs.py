"""The epoch files a QuorumPeer checks at start-up (ZK_SPEC.md §4.5):
``acceptedEpoch`` and ``currentEpoch`` in ``dataDir/version-2``, decimal
text without a newline, written through ``.tmp`` and a rename."""

from __future__ import annotations

import pytest

from zkpy.quorum.quorum_peer import QuorumPeer, read_long_from_file, write_long_to_file
from zkpy.server.config import ServerConfig


def make_peer(tmp_path) -> QuorumPeer:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "myid").write_text("1\n")
    config = ServerConfig.from_properties({
        "dataDir": str(data), "tickTime": "200", "initLimit": "5", "syncLimit": "2",
        "server.1": "127.0.0.1:1:2", "server.2": "127.0.0.1:3:4", "server.3": "127.0.0.1:5:6",
    }, system_properties=None, environ={})
    return QuorumPeer(config)


def version_dir(tmp_path):
    return tmp_path / "data" / "version-2"


def test_missing_files_are_created_from_the_last_zxid(tmp_path):
    peer = make_peer(tmp_path)
    peer.load_database()
    assert (peer.current_epoch, peer.accepted_epoch) == (0, 0)
    assert (version_dir(tmp_path) / "currentEpoch").read_bytes() == b"0"
    assert (version_dir(tmp_path) / "acceptedEpoch").read_bytes() == b"0"
    assert peer.last_logged_zxid() == 0
    peer.zk_db.close()


def test_write_is_atomic_and_read_takes_the_first_line(tmp_path):
    path = tmp_path / "acceptedEpoch"
    write_long_to_file(path, 12)
    assert path.read_bytes() == b"12"
    assert not (tmp_path / "acceptedEpoch.tmp").exists()
    path.write_text("7\nrubbish")
    assert read_long_from_file(path) == 7
    path.write_text("seven")
    with pytest.raises(OSError, match="Found seven in"):
        read_long_from_file(path)


def test_accepted_epoch_below_current_epoch_is_refused(tmp_path):
    peer = make_peer(tmp_path)
    version_dir(tmp_path).mkdir(parents=True, exist_ok=True)  # FileTxnSnapLog made it already
    (version_dir(tmp_path) / "currentEpoch").write_text("2")
    (version_dir(tmp_path) / "acceptedEpoch").write_text("1")
    with pytest.raises(OSError, match="The accepted epoch, 1 is less than the current epoch, 2"):
        peer.load_database()
    peer.zk_db.close()


def _snapshot_at(tmp_path, zxid):
    peer = make_peer(tmp_path)
    peer.zk_db.load_database()
    peer.zk_db.data_tree.last_processed_zxid = zxid
    peer.zk_db.take_snapshot()
    peer.zk_db.close()


def test_current_epoch_older_than_the_data_is_refused_unless_a_tmp_file_says_better(tmp_path):
    _snapshot_at(tmp_path, 0x200000003)        # data written in epoch 2
    (version_dir(tmp_path) / "currentEpoch").write_text("1")
    (version_dir(tmp_path) / "acceptedEpoch").write_text("2")
    peer = make_peer(tmp_path)
    with pytest.raises(OSError, match="The current epoch, 1, is older than the last zxid, 8589934595"):
        peer.load_database()
    peer.zk_db.close()
    # A crash between writing currentEpoch.tmp and the rename: the tmp file wins.
    (version_dir(tmp_path) / "currentEpoch.tmp").write_text("2")
    peer = make_peer(tmp_path)
    peer.load_database()
    assert peer.current_epoch == 2 and peer.last_logged_zxid() == 0x200000003
    assert (version_dir(tmp_path) / "currentEpoch").read_bytes() == b"2"
    assert not (version_dir(tmp_path) / "currentEpoch.tmp").exists()
    peer.zk_db.close()


def test_the_initial_vote_carries_the_logged_zxid_and_current_epoch(tmp_path):
    _snapshot_at(tmp_path, 0x300000009)
    peer = make_peer(tmp_path)
    peer.load_database()
    assert (peer.current_epoch, peer.accepted_epoch) == (3, 3)
    peer.start_leader_election()
    try:
        assert (peer.current_vote.id, peer.current_vote.zxid, peer.current_vote.peer_epoch) == (1, 0x300000009, 3)
    finally:
        peer.election.shutdown()
        peer.zk_db.close()
