"""Connect strings and the list of servers a client tries, in order.

Java: ``org.apache.zookeeper.client.ConnectStringParser`` and
``StaticHostProvider``. ``"h1:2181,h2:2182/app"`` is a list of servers (port
2181 when omitted, ``[::1]:2181`` for IPv6) and an optional chroot. The host
provider shuffles the servers once, then hands them out round-robin; after a
full round without a successful connection it sleeps ``spin_delay`` ms, so a
client facing a dead ensemble does not spin. Names are resolved on every
``next()`` (DNS may change while a client lives) and a random one of a name's
addresses is used, as Java does.

Different on purpose: Java's reconfig-driven load balancing
(``updateServerList``) is not implemented; ``update_server_list`` just
replaces the list.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
from typing import Optional, Sequence

from ..paths import path_error

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 2181

#: An address as (host, port); the host may be a name or an IP literal.
Address = tuple[str, int]


class ConnectStringParser:
    """Splits ``host:port,host:port/chroot`` into addresses and a chroot.

    A chroot of "/" is the same as none (Java's rule); any other chroot must
    be a valid znode path (``ValueError`` otherwise).
    """

    def __init__(self, connect_string: str):
        chroot: Optional[str] = None
        slash = connect_string.find("/")
        if slash >= 0:
            chroot = connect_string[slash:]
            connect_string = connect_string[:slash]
            if len(chroot) == 1:
                chroot = None
            else:
                reason = path_error(chroot)
                if reason is not None:
                    raise ValueError(f"Invalid chroot {chroot!r}: {reason}")
        self.chroot_path = chroot
        self.server_addresses: list[Address] = []
        for item in connect_string.split(","):
            item = item.strip()
            if not item:
                continue
            self.server_addresses.append(_parse_host_port(item))
        if not self.server_addresses:
            raise ValueError("A HostProvider may not be empty!")


def _parse_host_port(item: str) -> Address:
    port = DEFAULT_PORT
    if item.startswith("["):  # [IPv6]:port
        end = item.find("]")
        if end < 0:
            raise ValueError(f"{item} starts with '[' but has no matching ']'")
        host, rest = item[1:end], item[end + 1:]
        if rest:
            if not rest.startswith(":") or len(rest) == 1:
                raise ValueError(f"Port must follow ']' in {item}")
            port = int(rest[1:])
        return host, port
    colon = item.rfind(":")
    if colon >= 0:
        if colon < len(item) - 1:  # "host:" keeps the default port, as Java
            port = int(item[colon + 1:])
        item = item[:colon]
    return item, port


class StaticHostProvider:
    """A shuffled, fixed list of servers handed out round-robin.

    ``next(spin_delay_ms)`` returns the next (resolved) address; when it
    comes back to the server of the last successful connection (or to the
    first one, before any connection) it first waits ``spin_delay_ms``.
    ``on_connected()`` records the current server as the last good one.
    """

    def __init__(self, addresses: Sequence[Address], rng: Optional[random.Random] = None,
                 resolver=socket.getaddrinfo):
        if not addresses:
            raise ValueError("A HostProvider may not be empty!")
        self._rng = rng or random.Random()
        self._resolver = resolver
        self._addresses = list(addresses)
        self._rng.shuffle(self._addresses)
        self._current = -1
        self._last = -1
        self._lock = threading.Lock()
        self._wakeup = threading.Event()

    def size(self) -> int:
        return len(self._addresses)

    def __len__(self) -> int:
        return len(self._addresses)

    @property
    def addresses(self) -> list[Address]:
        """The servers in the (shuffled) order they are tried."""
        return list(self._addresses)

    def next(self, spin_delay_ms: int) -> Address:
        with self._lock:
            self._current = (self._current + 1) % len(self._addresses)
            need_sleep = self._current == self._last and spin_delay_ms > 0
            if self._last == -1:
                self._last = 0
            address = self._addresses[self._current]
        if need_sleep:
            # interrupt() cuts the wait short (the client is closing).
            self._wakeup.wait(spin_delay_ms / 1000.0)
            self._wakeup.clear()
        return self._resolve(address)

    def interrupt(self) -> None:
        """Wake a ``next()`` that is sleeping between rounds."""
        self._wakeup.set()

    def on_connected(self) -> None:
        with self._lock:
            self._last = self._current

    def update_server_list(self, addresses: Sequence[Address]) -> None:
        if not addresses:
            raise ValueError("A HostProvider may not be empty!")
        with self._lock:
            self._addresses = list(addresses)
            self._rng.shuffle(self._addresses)
            self._current = -1
            self._last = -1

    def _resolve(self, address: Address) -> Address:
        host, port = address
        try:
            infos = self._resolver(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            LOG.warning("Unable to resolve address: %s:%s (%s)", host, port, e)
            return address
        ips = sorted({info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)})
        if not ips:
            return address
        return self._rng.choice(ips), port
