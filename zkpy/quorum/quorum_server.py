"""One ``server.N`` member of an ensemble.

Java: ``QuorumPeer.QuorumServer`` and ``QuorumPeer.LearnerType``. Parses
``host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]``
(with ``[ipv6]`` hosts and, when ``multiAddress.enabled``, several
``|``-separated addresses) and prints it back in Java's ``toString`` form,
the form that travels inside election notifications and NEWLEADER.
Host names are kept as written and resolved only when dialled or bound.
"""

from __future__ import annotations

import enum
from typing import Optional

import attrs

from ..server.config import ConfigException

Address = tuple[str, int]


class LearnerType(enum.Enum):
    PARTICIPANT = "participant"
    OBSERVER = "observer"


def _split_with_leading_host(text: str) -> list[str]:
    """``a:b:c`` → [a, b, c], where a may be ``[ipv6]``."""
    if text.startswith("["):
        end = text.find("]:")
        if end < 0:
            raise ConfigException(f"{text} starts with '[' but has no matching ']:'")
        return [text[1:end]] + text[end + 2:].split(":")
    return text.split(":")


def _port(text: str, what: str, value: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigException(f"Address unresolved: {value}: {what} {text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigException(f"Address unresolved: {value}: {what} {port} out of range")
    return port


def delimited_host(host: str) -> str:
    """An IPv6 literal goes in brackets, as Java's delimitedHostString."""
    return f"[{host}]" if ":" in host else host


@attrs.frozen
class QuorumServer:
    id: int
    #: Quorum (Zab) addresses; several only with multiAddress.enabled.
    addrs: tuple[Address, ...]
    #: Election addresses, paired with ``addrs``.
    election_addrs: tuple[Address, ...]
    type: LearnerType = LearnerType.PARTICIPANT
    client_addr: Optional[Address] = None
    #: True when the client address came from ``clientPort=``, not the
    #: server line; Java then leaves it out of the config string.
    client_addr_from_static: bool = False

    @classmethod
    def parse(cls, sid: int, value: str, *, multi_address_enabled: bool = False) -> "QuorumServer":
        parts = value.strip().split(";")
        if len(parts) > 2:
            raise ConfigException(
                f"{value} does not have the form server_config or server_config;client_config "
                "where server_config is the pipe separated list of host:port:port or "
                "host:port:port:type and client_config is port or host:port")
        server_part = parts[0]
        addresses = server_part.split("|")
        if len(addresses) > 1 and not multi_address_enabled:
            raise ConfigException(
                f"Multiple address feature is disabled, but multiple addresses were specified "
                f"for sid {sid}")
        addrs: list[Address] = []
        election_addrs: list[Address] = []
        learner_type = LearnerType.PARTICIPANT
        for address in addresses:
            fields = _split_with_leading_host(address.strip())
            if len(fields) not in (3, 4):
                raise ConfigException(
                    f"{address} does not have the form host:port or host:port:port  or "
                    "host:port:port:type")
            host = fields[0]
            quorum_port = _port(fields[1], "quorum port", value)
            election_port = _port(fields[2], "election port", value)
            if quorum_port == election_port:
                raise ConfigException(
                    f"Quorum and election port must be different! Please update the "
                    f"configuration file on server.{sid}")
            if len(fields) == 4:
                kind = fields[3].lower()
                if kind == "observer":
                    learner_type = LearnerType.OBSERVER
                elif kind == "participant":
                    learner_type = LearnerType.PARTICIPANT
                else:
                    raise ConfigException(f"Unrecognised peertype: {fields[3]}")
            addrs.append((host, quorum_port))
            election_addrs.append((host, election_port))
        client_addr = None
        if len(parts) == 2 and parts[1].strip():
            client = _split_with_leading_host(parts[1].strip())
            if len(client) > 2:
                raise ConfigException(f"{value} does not have the form server_config;client_config")
            client_host = client[0] if len(client) == 2 else "0.0.0.0"
            client_addr = (client_host, _port(client[-1], "client port", value))
        return cls(sid, tuple(addrs), tuple(election_addrs), learner_type, client_addr)

    @property
    def addr(self) -> Address:
        return self.addrs[0]

    @property
    def election_addr(self) -> Address:
        return self.election_addrs[0]

    @property
    def is_participant(self) -> bool:
        return self.type is LearnerType.PARTICIPANT

    def with_static_client(self, client_addr: Address) -> "QuorumServer":
        """This member with a client address taken from ``clientPort=``."""
        return attrs.evolve(self, client_addr=client_addr, client_addr_from_static=True)

    def __str__(self) -> str:
        # Java sorts each address list by host string before pairing them.
        addrs = sorted(self.addrs, key=lambda a: a[0])
        elections = sorted(self.election_addrs, key=lambda a: a[0])
        text = "|".join(f"{delimited_host(a[0])}:{a[1]}:{e[1]}" for a, e in zip(addrs, elections))
        text += ":" + self.type.value
        if self.client_addr is not None and not self.client_addr_from_static:
            text += f";{delimited_host(self.client_addr[0])}:{self.client_addr[1]}"
        return text
