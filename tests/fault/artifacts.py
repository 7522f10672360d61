"""Evidence of a failed fault run: the peers' state, logs and files.

Not a ZooKeeper class. A fault run that fails long after its cause is only
debuggable from the servers' own logs, and a log's tail is useless once
the test's polling (``srvr`` every few ms) has flooded it. So:

* :func:`describe` names each server's mode as it answers now (``srvr``,
  else ``mntr``'s ``zk_server_state``, else "no answer") and the last lines
  of its log that are not four-letter-word chatter;
* :func:`save` copies each server's full log, zoo.cfg, myid and the list of
  files in its ``version-2`` directories to an artifacts directory
  (``$ZKPY_FAULT_ARTIFACTS`` or ``<pytest basetemp>/fault-artifacts``), one
  subdirectory per failed test; tests/fault/conftest.py calls it for every
  failed test of the tier and prints where.

Servers are found through :func:`track`: conftest wraps
``TestingServer.start`` so that every server started in the session is
known here (module-scoped ones included).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import weakref
from typing import Iterable, Optional

from zkpy.testing import TestingServer

LOG = logging.getLogger(__name__)

__all__ = ["track", "tracked", "mark", "describe", "describe_server", "save", "quiet_log_tail"]

#: Every server started in this session, oldest first (weak: closed ones go).
_SERVERS: "weakref.WeakValueDictionary[int, TestingServer]" = weakref.WeakValueDictionary()
_counter = 0

#: Log lines written for each four-letter word; the tests poll with them.
_CHATTER = re.compile(r"Processing \w{4} command from|4lw-\w{4}:")


def track(server: TestingServer) -> None:
    """Note ``server`` as (re)started now."""
    global _counter
    for seq, known in list(_SERVERS.items()):
        if known is server:
            del _SERVERS[seq]
    _counter += 1
    _SERVERS[_counter] = server


def tracked(since: int = 0) -> list[TestingServer]:
    """The servers started after :func:`mark` returned ``since`` and those
    still running, whose files are still there."""
    return [server for seq, server in sorted(_SERVERS.items())
            if (seq > since or server.is_running) and os.path.isdir(server.temp_dir)]


def mark() -> int:
    return _counter


def quiet_log_tail(path: str, lines: int = 40, max_bytes: int = 8 << 20) -> str:
    """The last ``lines`` lines of the log at ``path`` that are not
    four-letter-word chatter (read from at most its last ``max_bytes``)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    kept = [line for line in text.splitlines() if not _CHATTER.search(line)]
    return "\n".join(kept[-lines:])


def server_mode(server: TestingServer) -> str:
    """The server's mode as it says now: srvr's ``Mode:``, else mntr's
    ``zk_server_state``, else why there is none."""
    if not server.is_running:
        return f"down (exit status {server.returncode})"
    if server.is_paused:
        return "paused (SIGSTOP)"
    try:
        text = server.four_letter_word("srvr", timeout=1.0)
    except OSError as e:
        return f"no answer to srvr ({e.__class__.__name__})"
    for line in text.splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    try:
        mntr = server.four_letter_word("mntr", timeout=1.0)
    except OSError:
        mntr = ""
    for line in mntr.splitlines():
        if line.startswith("zk_server_state"):
            return f"{line.split(None, 1)[-1].strip()} (mntr; srvr: {text.strip()[:80]!r})"
    return f"no mode (srvr: {text.strip()[:80]!r})"


def describe_server(name: str, server: TestingServer, lines: int = 40) -> str:
    return (f"--- {name}: {server_mode(server)}; log {server.log_path}, last {lines} lines "
            f"without 4lw chatter:\n{quiet_log_tail(server.log_path, lines)}")


def describe(servers: Iterable[tuple[str, TestingServer]], lines: int = 40) -> str:
    return "\n".join(describe_server(name, server, lines) for name, server in servers)


def artifacts_root(default_base: Optional[str]) -> str:
    return os.environ.get("ZKPY_FAULT_ARTIFACTS") or os.path.join(default_base or ".", "fault-artifacts")


def _version2_listing(server: TestingServer) -> str:
    dirs = {server.data_dir}
    config = _read_config(server.config_path)
    if config.get("dataLogDir"):
        dirs.add(config["dataLogDir"])
    out = []
    for base in sorted(dirs):
        v2 = os.path.join(base, "version-2")
        out.append(f"{v2}:")
        try:
            names = sorted(os.listdir(v2))
        except OSError as e:
            out.append(f"  ({e})")
            continue
        for name in names:
            try:
                size = os.path.getsize(os.path.join(v2, name))
            except OSError:
                size = -1
            out.append(f"  {size:>12} {name}")
    return "\n".join(out) + "\n"


def _read_config(path: str) -> dict[str, str]:
    config = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and not key.startswith("#"):
                    config[key.strip()] = value.strip()
    except OSError:
        pass
    return config


def save(directory: str, servers: Iterable[TestingServer], extra_files: Iterable[str] = ()) -> str:
    """Copy each server's evidence into ``directory`` (created), one
    subdirectory per server, plus ``extra_files`` (histories); the path."""
    os.makedirs(directory, exist_ok=True)
    used: set[str] = set()
    summary = []
    for server in servers:
        name = os.path.basename(server.temp_dir.rstrip(os.sep)) or "server"
        base, n = name, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        dest = os.path.join(directory, name)
        os.makedirs(dest, exist_ok=True)
        for src, target in ((server.log_path, "server.log"), (server.config_path, "zoo.cfg"),
                            (os.path.join(server.data_dir, "myid"), "myid")):
            try:
                shutil.copyfile(src, os.path.join(dest, target))
            except OSError:
                pass  # a standalone server has no myid; a never-started one no log
        with open(os.path.join(dest, "version-2.txt"), "w", encoding="utf-8") as f:
            f.write(_version2_listing(server))
        summary.append(f"{name}: {server_mode(server)} (from {server.temp_dir})")
    for path in extra_files:
        try:
            shutil.copy(path, directory)
        except OSError:
            pass
    with open(os.path.join(directory, "servers.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(summary) + "\n")
    return directory
