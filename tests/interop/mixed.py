"""Ensembles that mix zkpy and Java 3.8.0 peers, for the interop tests.

:class:`Ensemble` is a set of real peer processes, each a zkpy
:class:`~zkpy.testing.TestingServer` or a
:class:`~zkpy.testing_java.JavaZooKeeperServer`, with the few
``TestingCluster`` methods the Zab helpers (``tests/integration/zab_util.py``)
use: ``sids``, ``peer``, ``modes``, ``log_tail``, ``connect_string``.
Used by ``test_zab_java.py`` and ``test_mixed_ensemble_java.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence

from zkpy.cli.four_letter_word_main import srvr_mode
from zkpy.testing import TestingServer, four_letter_word

from ..integration.zab_util import wait_until
from .java_zk import JavaZooKeeperServer, free_ports

TICK, INIT, SYNC = 200, 10, 5


class Ensemble:
    """``n`` peers (sids 1..n), those in ``java_sids`` Java, the others zkpy.

    :param observers: sids that are observers (``server.N=...:observer`` in
        every peer's config, ``peerType=observer`` in their own).
    :param jvm_flags: system properties for every peer (both kinds read
        ``-Dzookeeper.*`` flags).
    :param extra_conf: zoo.cfg entries for every peer.
    """

    def __init__(self, tmp_path, java_sids: Iterable[int], n: int = 3, *, observers: Iterable[int] = (),
                 jvm_flags: Sequence[str] = (), **extra_conf):
        java_sids, observers = set(java_sids), set(observers)
        # Client ports with the others: a quorum port is bound only when its
        # peer leads, so a client port picked later could take it meanwhile.
        ports = free_ports(3 * n)
        client_ports = ports[2 * n:]
        self.sids = list(range(1, n + 1))
        conf = {}
        for i, sid in enumerate(self.sids):
            role = ":observer" if sid in observers else ""
            conf[f"server.{sid}"] = f"127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}{role}"
        conf.update(initLimit=INIT, syncLimit=SYNC, **extra_conf)
        self.peers: dict[int, object] = {}
        for sid in self.sids:
            own = dict(conf, peerType="observer") if sid in observers else conf
            port = client_ports[sid - 1]
            if sid in java_sids:
                self.peers[sid] = JavaZooKeeperServer(own, port=port, myid=sid, tick_time=TICK, jvm_flags=jvm_flags,
                                                      temp_dir=tmp_path / f"java{sid}")
            else:
                self.peers[sid] = TestingServer(port, tick_time=TICK, config=dict(own, standaloneEnabled="false"),
                                                myid=sid, temp_dir=tmp_path / f"zkpy{sid}", force_sync=False,
                                                jvm_flags=list(jvm_flags))

    def peer(self, sid):
        return self.peers[sid]

    def kind(self, sid) -> str:
        """"java" or "zkpy"."""
        return "java" if isinstance(self.peers[sid], JavaZooKeeperServer) else "zkpy"

    @property
    def connect_string(self):
        return ",".join(p.connect_string for p in self.peers.values())

    def mode(self, sid):
        peer = self.peers[sid]
        if not peer.is_running:
            return None
        try:
            return srvr_mode(four_letter_word("127.0.0.1", peer.port, "srvr", timeout=2.0))
        except OSError:
            return None

    def modes(self):
        return {sid: self.mode(sid) for sid in self.sids}

    def leader(self):
        leaders = [sid for sid, mode in self.modes().items() if mode == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def log_tail(self, sid, lines=30):
        return self.peers[sid].log_tail(lines)

    def start(self, *sids):
        for sid in sids or self.sids:
            self.peers[sid].start(wait="port")

    def wait_all_serving(self, sids: Sequence[int] = (), timeout=60):
        sids = list(sids or self.sids)
        wait_until(lambda: all(self.mode(sid) for sid in sids), timeout, f"peers {sids} serving", self)

    def close(self):
        for peer in self.peers.values():
            peer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def log(peer) -> str:
    """The whole log a peer of either kind wrote (across restarts)."""
    with open(peer.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class LogMark:
    """What a peer logs from now on: ``LogMark(peer).new()``."""

    def __init__(self, peer):
        self.peer = peer
        self.offset = os.path.getsize(peer.log_path) if os.path.exists(peer.log_path) else 0

    def new(self) -> str:
        with open(self.peer.log_path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")


#: How a learner of either kind logs the sync it gets (Learner.syncWithLeader's
#: lines, which zkpy logs in the same words).
SYNC_LINES: Mapping[str, str] = {
    "DIFF": "Getting a diff from the leader",
    "SNAP": "Getting a snapshot from leader",
    "TRUNC": "Truncating log to get in sync with the leader",
}


def sync_kinds(text: str) -> list[str]:
    """The syncs ("DIFF", "SNAP", "TRUNC") a learner's log text reports, in order."""
    found = []
    for line in text.splitlines():
        for kind, words in SYNC_LINES.items():
            if words in line:
                found.append(kind)
    return found


def write_some(client, root, n=10):
    client.ensure_path(root)
    for i in range(n):
        client.create(f"{root}/n{i}", b"%d" % i)
    client.create(f"{root}/seq-", b"s", sequence=True)
    client.set(f"{root}/n0", b"changed")
    client.delete(f"{root}/n1")
    t = client.transaction()
    t.create(f"{root}/multi", b"m")
    t.set_data(f"{root}/n2", b"in a multi")
    t.commit()


def wipe(peer):
    shutil.rmtree(os.path.join(peer.data_dir, "version-2"))
