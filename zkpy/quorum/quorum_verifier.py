"""Who forms a quorum.

Java: ``org.apache.zookeeper.server.quorum.flexible.QuorumVerifier``,
``QuorumMaj`` and ``QuorumHierarchical``. A verifier is asked by the
election (``term_predicate``) and by the leader (acks, synced followers);
a peer may hold two during a reconfig. Like Java, and unlike etcd's "an
empty config wins", a verifier with no voters never has a quorum.
``str(verifier)`` is the config text sent in notifications and NEWLEADER:
``server.N=...`` lines (ascending sid, as Java's hash map of small longs
iterates) then ``version=<hex>``, no trailing newline.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping

from ..server.config import ConfigException
from .quorum_server import QuorumServer


class QuorumVerifier(abc.ABC):
    def __init__(self, members: Mapping[int, QuorumServer], version: int = 0):
        self.all_members: dict[int, QuorumServer] = dict(sorted(members.items()))
        self.voting_members = {sid: s for sid, s in self.all_members.items() if s.is_participant}
        self.observing_members = {sid: s for sid, s in self.all_members.items() if not s.is_participant}
        self.version = version

    @abc.abstractmethod
    def get_weight(self, sid: int) -> int:
        """The weight of a member's vote (0 = it can never be leader)."""

    @abc.abstractmethod
    def contains_quorum(self, sids: Iterable[int]) -> bool:
        """Whether the acks of ``sids`` form a quorum."""

    def _member_lines(self) -> list[str]:
        return [f"server.{sid}={server}" for sid, server in self.all_members.items()]

    def __str__(self) -> str:
        return "\n".join(self._member_lines() + [f"version={self.version:x}"])

    def _membership_text(self) -> str:
        return "\n".join(line for line in str(self).splitlines() if not line.startswith("version="))

    def __eq__(self, other: object) -> bool:
        # Java compares versions first, then members (whatever the versions).
        if not isinstance(other, QuorumVerifier) or type(other) is not type(self):
            return NotImplemented
        return self.version == other.version or self._membership_text() == other._membership_text()

    __hash__ = None  # mutable-looking; compare, don't hash


class QuorumMaj(QuorumVerifier):
    """More than half of the voting members."""

    def __init__(self, members: Mapping[int, QuorumServer], version: int = 0):
        super().__init__(members, version)
        self.half = len(self.voting_members) // 2

    def get_weight(self, sid: int) -> int:
        return 1  # Java: every id weighs 1, even one it does not know

    def contains_quorum(self, sids: Iterable[int]) -> bool:
        if not isinstance(sids, (set, frozenset)):
            sids = set(sids)
        return len(sids & self.voting_members.keys()) > self.half  # checked per ack: kept in C


class QuorumHierarchical(QuorumVerifier):
    """A majority (by weight) in each of a majority of the non-zero groups.

    ``groups`` maps a group id to its member sids (``group.G=a:b:c``),
    ``weights`` a sid to its weight (``weight.N``; a voter without one
    weighs 1).
    """

    def __init__(self, members: Mapping[int, QuorumServer], groups: Mapping[int, Iterable[int]],
                 weights: Mapping[int, int], version: int = 0):
        super().__init__(members, version)
        self.server_group: dict[int, int] = {}
        for gid, sids in sorted(groups.items()):
            for sid in sids:
                if sid in self.server_group:
                    raise ConfigException(f"Server {sid}is in multiple groups")
                self.server_group[sid] = gid
        self.server_weight: dict[int, int] = dict(weights)
        for sid in self.voting_members:
            if sid not in self.server_group:
                raise ConfigException(f"Server {sid}is not in a group")
            self.server_weight.setdefault(sid, 1)
        self.group_weight: dict[int, int] = {}
        for sid, gid in self.server_group.items():
            self.group_weight[gid] = self.group_weight.get(gid, 0) + self.server_weight.get(sid, 1)
        # Groups of weight zero are discarded.
        self.num_groups = len(groups) - sum(1 for w in self.group_weight.values() if w == 0)

    @classmethod
    def from_text(cls, members: Mapping[int, QuorumServer], groups: Mapping[int, str],
                  weights: Mapping[int, str], version: int = 0) -> "QuorumHierarchical":
        """From raw ``group.G`` and ``weight.N`` values."""
        try:
            parsed_groups = {gid: [int(s) for s in text.split(":")] for gid, text in groups.items()}
            parsed_weights = {sid: int(text) for sid, text in weights.items()}
        except ValueError as e:
            raise ConfigException(f"Invalid group or weight: {e}") from None
        return cls(members, parsed_groups, parsed_weights, version)

    def get_weight(self, sid: int) -> int:
        return self.server_weight.get(sid, 0)

    def contains_quorum(self, sids: Iterable[int]) -> bool:
        sids = set(sids)
        if not sids:
            return False
        expansion: dict[int, int] = {}
        for sid in sids:
            gid = self.server_group.get(sid)
            if gid is not None:
                expansion[gid] = expansion.get(gid, 0) + self.server_weight.get(sid, 1)
        majority_groups = sum(1 for gid, weight in expansion.items() if weight > self.group_weight[gid] // 2)
        return majority_groups > self.num_groups // 2

    def __str__(self) -> str:
        groups: dict[int, list[int]] = {}
        for sid, gid in sorted(self.server_group.items()):
            groups.setdefault(gid, []).append(sid)
        lines = self._member_lines()
        lines += [f"group.{gid}=" + ":".join(map(str, sids)) for gid, sids in sorted(groups.items())]
        lines += [f"weight.{sid}={w}" for sid, w in sorted(self.server_weight.items())]
        return "\n".join(lines + [f"version={self.version:x}"])


def verifier_from_config(servers: Mapping[int, str], groups: Mapping[int, str], weights: Mapping[int, str],
                         version: int = 0, *, multi_address_enabled: bool = False) -> QuorumVerifier:
    """The verifier a zoo.cfg describes: hierarchical when it has groups."""
    members = {sid: QuorumServer.parse(sid, text, multi_address_enabled=multi_address_enabled)
               for sid, text in servers.items()}
    if groups:
        return QuorumHierarchical.from_text(members, groups, weights, version)
    return QuorumMaj(members, version)


def parse_config_text(text: str, *, multi_address_enabled: bool = False) -> QuorumVerifier:
    """A verifier from its ``str()`` form (as received in a notification)."""
    servers: dict[int, str] = {}
    groups: dict[int, str] = {}
    weights: dict[int, str] = {}
    version = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigException(f"Invalid config line: {line!r}")
        key, value = key.strip(), value.strip()
        try:
            if key.startswith("server."):
                servers[int(key[7:])] = value
            elif key.startswith("group."):
                groups[int(key[6:])] = value
            elif key.startswith("weight."):
                weights[int(key[7:])] = value
            elif key == "version":
                version = int(value, 16)
        except ValueError:
            raise ConfigException(f"Invalid config line: {line!r}") from None
    return verifier_from_config(servers, groups, weights, version, multi_address_enabled=multi_address_enabled)
