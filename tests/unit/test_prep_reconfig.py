"""Prep's reconfig case (op 16) as Java's PrepRequestProcessor decides it,
driven with the Prep harness of test_prep.py and a leader whose synced
learners are given."""

from __future__ import annotations

import types

from zkpy.defs import OpCode
from zkpy.errors import Code
from zkpy.jute import records as R
from zkpy.quorum.quorum_verifier import parse_config_text
from zkpy.server.data_tree import CONFIG_NODE

from .test_prep import Harness, err

H = "127.0.0.1"


def spec(sid: int, role: str = "participant") -> str:
    return f"server.{sid}={H}:{2000 + sid}:{3000 + sid}:{role};{H}:{4000 + sid}"


BASE = "\n".join([spec(1), spec(2), spec(3), "version=100000000"])


class FakeLeader:
    def __init__(self, synced, config=BASE, standalone_enabled=False):
        qv = parse_config_text(config)
        self.synced = set(synced)
        self.peer = types.SimpleNamespace(
            quorum_verifier=qv, last_seen=qv,
            config=types.SimpleNamespace(standalone_enabled=standalone_enabled, multi_address_enabled=False),
            config_from_string=parse_config_text)
        self.peer.get_last_seen_quorum_verifier = lambda: self.peer.last_seen

    def is_quorum_synced(self, qv) -> bool:
        return qv.contains_quorum(self.synced & set(qv.voting_members))


def harness(synced=(1, 2, 3), **kwargs) -> Harness:
    h = Harness()
    h.reconfig_enabled = True
    h.leader = FakeLeader(synced, **kwargs)
    return h


def reconfig(h: Harness, joining=None, leaving=None, members=None, version=-1, auth=None):
    request = h.request(OpCode.reconfig, R.ReconfigRequest(joining, leaving, members, version))
    request.auth_info = auth if auth is not None else [R.Id("super", "")]
    h.prep.prep(request)
    return request


def test_incremental_add_and_remove_make_a_setdata_of_the_config_node():
    h = harness()
    request = reconfig(h, joining=spec(4), leaving="2")
    assert err(request) == 0
    assert request.hdr.type == OpCode.reconfig
    expected = "\n".join([spec(1), spec(3), spec(4), f"version={request.hdr.zxid:x}"])
    assert request.txn == R.SetDataTxn(CONFIG_NODE, expected.encode(), -1)
    rc = h.apply(request)
    assert h.zk_db.data_tree.get_node(CONFIG_NODE).data == expected.encode()
    assert rc.stat.version == -1 and rc.stat.mzxid == request.hdr.zxid


def test_bulk_members_take_commas_or_newlines():
    h = harness()
    request = reconfig(h, members=",".join([spec(1), spec(2), spec(3, "observer")]))
    assert err(request) == 0
    assert request.txn.data.decode().splitlines()[2] == spec(3, "observer")


def test_errors_as_java():
    h = Harness()  # reconfigEnabled=false
    assert err(reconfig(h, leaving="1")) == Code.RECONFIGDISABLED
    h.reconfig_enabled = True  # ... and no leader: standalone
    assert err(reconfig(h, leaving="1")) == Code.UNIMPLEMENTED

    h = harness()
    assert err(reconfig(h, leaving="3", version=0x100000001)) == Code.BADVERSION
    assert err(reconfig(h, leaving="3", version=0x100000000)) == 0
    assert err(reconfig(h, joining=f"server.4={H}:2004:3004")) == Code.BADARGUMENTS  # no client port
    assert err(reconfig(h, joining=f"server.4={H}:2001:3004;{H}:4004")) == Code.BADARGUMENTS  # port of 1
    assert err(reconfig(h, joining="server.4")) == Code.BADARGUMENTS
    assert err(reconfig(h, leaving="1,2,3")) == Code.BADARGUMENTS  # no voter left
    assert err(reconfig(h, leaving="x")) == Code.MARSHALLINGERROR  # Java's NumberFormatException

    h = harness(standalone_enabled=True)  # then 2 voters at least
    assert err(reconfig(h, leaving="1,2")) == Code.BADARGUMENTS

    h = harness(synced=(1,))  # the new config's voters 1, 4, 5: only 1 synced
    assert err(reconfig(h, joining=",".join([spec(4), spec(5)]), leaving="2,3")) == Code.NEWCONFIGNOQUORUM

    h = harness()
    h.leader.peer.last_seen = parse_config_text(BASE.replace("version=100000000", "version=100000007"))
    assert err(reconfig(h, leaving="3")) == Code.RECONFIGINPROGRESS

    h = harness(config="\n".join([spec(1), spec(2), spec(3), "group.1=1:2:3", "version=1"]))
    assert err(reconfig(h, leaving="3")) == Code.BADARGUMENTS  # incremental needs a majority config


def test_write_on_the_config_node_is_required():
    h = harness()
    for ids in ([], [R.Id("ip", H)], [R.Id("digest", "user:x")]):
        request = reconfig(h, leaving="3", auth=ids)
        assert err(request) == Code.NOAUTH and request.hdr.type == OpCode.error
    assert err(reconfig(h, leaving="3", auth=[R.Id("super", "")])) == 0
    h = harness()
    h.auth.skip_acl = True
    assert err(reconfig(h, leaving="3", auth=[])) == 0
