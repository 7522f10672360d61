"""Four-letter words answered on the client port.

Java: ``org.apache.zookeeper.server.command.*`` and
``FourLetterCommands`` (ZK_SPEC.md §3). ``run`` returns the text to send;
the connection is closed after it.
"""

from __future__ import annotations

import logging

from .. import ZOOKEEPER_VERSION, __version__

LOG = logging.getLogger(__name__)

WORDS = frozenset({
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr",
    "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash",
})
_CODES = {w.encode("ascii") for w in WORDS} | {b"\xff\xf4\xff\xfd"}

NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"


def is_command(word: bytes) -> bool:
    """Whether a connection's first four bytes are a four-letter word."""
    return word in _CODES


def version_string() -> str:
    """``zookeeper.version`` as Java prints it; kazoo parses the numbers."""
    return f"{ZOOKEEPER_VERSION}-zkpy-{__version__}, built on 01/01/1970 00:00 GMT"


def run(command: str, factory, cnxn) -> str:
    """The reply to ``command`` (whitelist applied)."""
    if command not in WORDS:
        return ""
    whitelist = factory.four_letter_whitelist
    if whitelist is not None and command not in whitelist and command != "ruok":
        return f"{command} is not executed because it is not in the whitelist.\n"
    if command == "ruok":
        return "imok"
    zks = factory.zks
    if command == "isro":
        if zks is None or not zks.is_running():
            return "null"
        return "ro" if zks.is_read_only() else "rw"
    if zks is None or not zks.is_running():
        return NOT_SERVING
    if command == "srvr":
        return _srvr(zks, factory)
    return NOT_SERVING


def _srvr(zks, factory) -> str:
    tree = zks.zk_db.data_tree
    lines = [
        f"Zookeeper version: {version_string()}",
        f"Latency min/avg/max: {zks.stats.latency_text()}",
        f"Received: {zks.stats.packets_received}",
        f"Sent: {zks.stats.packets_sent}",
        f"Connections: {len(factory.connections())}",
        f"Outstanding: {zks.outstanding_requests()}",
        f"Zxid: 0x{tree.last_processed_zxid:x}",
        f"Mode: {zks.server_state()}",
        f"Node count: {tree.node_count()}",
    ]
    return "\n".join(lines) + "\n"
