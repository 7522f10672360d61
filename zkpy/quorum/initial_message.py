"""The first bytes on an election connection.

Java: ``QuorumCnxManager.InitialMessage`` (and the header half of
``startConnection`` / ``handleConnection``). The dialling peer sends
``long protocolVersion, long sid, int len, len bytes "host:port"``; a
non-negative first long is a pre-3.5 peer's bare sid. Sans-I/O: parsing
takes a ``read_exact(n) -> bytes`` callable, so it works on a socket or a
byte string alike.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

import attrs

PROTOCOL_VERSION_V1 = -65536
#: Sent only with multiAddress.enabled (several addresses, '|'-separated).
PROTOCOL_VERSION_V2 = -65535
#: Longest address text accepted (Java's InitialMessage maxBuffer).
MAX_ADDRESS_BYTES = 2048
#: The sid an observer without an id announces (Long.MAX_VALUE).
OBSERVER_ID = 2**63 - 1

_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")


class InitialMessageError(ValueError):
    """A connection header Java would refuse (the socket is closed)."""


@attrs.frozen
class InitialMessage:
    sid: int
    #: The dialler's election addresses, (host, port); empty for pre-3.5 peers.
    addresses: tuple[tuple[str, int], ...] = ()


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]:")
        if not sep:
            raise InitialMessageError(f"Badly formed address: {text}")
        port_text = rest
    else:
        parts = text.split(":")
        if len(parts) != 2:
            raise InitialMessageError(f"Badly formed address: {text}")
        host, port_text = parts
    try:
        return host, int(port_text)
    except ValueError:
        raise InitialMessageError(f"Bad port number: {port_text}") from None


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_initial_message(sid: int, addresses: Sequence[tuple[str, int]], *, multi_address: bool = False) -> bytes:
    """The header a dialling peer sends (V1, or V2 with several addresses)."""
    text = "|".join(format_address(h, p) for h, p in addresses).encode("utf-8")
    version = PROTOCOL_VERSION_V2 if multi_address else PROTOCOL_VERSION_V1
    return _LONG.pack(version) + _LONG.pack(sid) + _INT.pack(len(text)) + text


def read_initial_message(read_exact: Callable[[int], bytes]) -> InitialMessage:
    """Parse a header from ``read_exact`` (which raises on EOF)."""
    (first,) = _LONG.unpack(read_exact(8))
    if first >= 0:
        return InitialMessage(first)  # a pre-3.5 peer sends only its sid
    if first not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
        raise InitialMessageError(f"Got unrecognized protocol version {first}")
    (sid,) = _LONG.unpack(read_exact(8))
    (length,) = _INT.unpack(read_exact(4))
    if length <= 0 or length > MAX_ADDRESS_BYTES:
        raise InitialMessageError(f"Unreasonable buffer length: {length}")
    text = read_exact(length).decode("utf-8", errors="replace")
    return InitialMessage(sid, tuple(_host_port(a) for a in text.split("|")))


def parse_initial_message(data: bytes) -> InitialMessage:
    """Parse a complete header held in ``data``."""
    view = memoryview(data)
    pos = 0

    def read_exact(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(view):
            raise InitialMessageError(f"Read only {len(view) - pos} bytes out of {n}")
        chunk = bytes(view[pos:pos + n])
        pos += n
        return chunk

    return read_initial_message(read_exact)
