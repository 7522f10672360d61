"""The dynamic configuration files of a reconfig-enabled ensemble.

Java: ``QuorumPeerConfig.writeDynamicConfig``, ``editStaticConfig``,
``deleteFile`` and ``QuorumPeer.makeDynamicConfigFilename`` /
``getNextDynamicConfigFilename``. With ``reconfigEnabled=true`` a peer
keeps its membership (``server.N``, ``group.N``, ``weight.N``) in
``<zoo.cfg>.dynamic.<version hex>``, points zoo.cfg at it with
``dynamicConfigFile=``, and keeps a proposed-but-not-committed config in
``<zoo.cfg>.dynamic.next`` (with its ``version=`` line).

What zkpy does differently, on purpose: zoo.cfg is rewritten keeping the
order of its lines (Java writes a ``Properties`` in hash order), and its
comments are dropped as in Java.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

from ..server.config import load_properties

LOG = logging.getLogger(__name__)

NEXT_SUFFIX = ".dynamic.next"
_DROPPED_PREFIXES = ("server.", "group", "weight", "dynamicConfigFile", "peerType")
_CLIENT_KEYS = ("clientPort", "clientPortAddress")


def dynamic_file_name(config_path: str, version: int) -> str:
    """``<zoo.cfg>.dynamic.<version hex>`` (Java: makeDynamicConfigFilename)."""
    return f"{config_path}.dynamic.{version & ((1 << 64) - 1):x}"


def next_file_name(config_path: str) -> str:
    return config_path + NEXT_SUFFIX


def _atomic_write(path: str, text: str) -> None:
    """Through ``<name>.tmp`` and a rename (Java: AtomicFileWritingIdiom)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def dynamic_config_text(qv, keep_version: bool) -> str:
    """The file's text: the config's lines sorted as strings, the
    ``version`` line only in ``.next``, no trailing newline (as Java)."""
    lines = []
    for line in str(qv).splitlines():
        key = line.partition("=")[0].strip()
        if not keep_version and key.startswith("version"):
            continue
        lines.append(line.strip())
    return "\n".join(sorted(lines))


def write_dynamic_config(path: str, qv, keep_version: bool) -> None:
    _atomic_write(path, dynamic_config_text(qv, keep_version))


def edit_static_config(config_path: str, dynamic_path: str, erase_client_address: bool) -> None:
    """Rewrite zoo.cfg without its membership lines, pointing at
    ``dynamic_path`` (Java: editStaticConfig)."""
    props = load_properties(config_path)
    out = []
    for key, value in props.items():
        key = key.strip()
        if key.startswith(_DROPPED_PREFIXES) or (erase_client_address and key.startswith(_CLIENT_KEYS)):
            continue
        out.append(f"{key}={value.strip()}\n")
    out.append(f"dynamicConfigFile={dynamic_path}\n")
    _atomic_write(config_path, "".join(out))


def backup_old_config(config_path: str) -> None:
    """``zoo.cfg.bak``, once, before the first rewrite (Java: backupOldConfig)."""
    backup = config_path + ".bak"
    if os.path.exists(backup):
        return
    try:
        with open(config_path, "rb") as src:
            data = src.read()
        with open(backup, "wb") as dst:
            dst.write(data)
    except OSError as e:
        LOG.warning("Could not back up %s: %s", config_path, e)


def delete_file(path: Optional[str]) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        LOG.warning("deleting %s failed: %s", path, e)
