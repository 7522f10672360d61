"""``zkSnapShotToolkit.sh``: print a snapshot file.

Java: ``org.apache.zookeeper.server.SnapshotFormatter`` (3.8.0)::

    zkSnapShotToolkit.sh [-d|-json] snapshot_file
        -d      dump the data (base64) of each znode
        -json   dump znode info in JSON (ncdu's format)

The text is Java's, line for line: ``ZNode Details (count=N):`` (N counts
the root twice, as Java's DataTree does), each znode's stat (``%#016x``
zxids, ``Date.toString()`` times in the local time zone), ``Session
Details (sid, timeout, ephemeralCount):`` and ``Last zxid: 0x..`` (the
larger of the file name's zxid and the highest mzxid/pzxid seen).
Children and sessions are walked in the order Java's HashSet/HashMap
would give them for this file, so the output matches Java's for the same
snapshot. Reads plain, ``.gz`` and ``.snappy`` snapshots (see
:mod:`zkpy.server.persistence.file_snap`).

What zkpy does differently, on purpose: the snapshot's checksum is
verified (Java's tool does not look at it): on a mismatch the content is
still printed, then a warning goes to stderr and the exit status is 1.
A file that cannot be parsed is reported in one line (exit 1), not with
a stack trace.
"""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path
from typing import Optional

import click

from ..paths import basename, parent_of
from ..server.admin.json_output import quote_as_string
from ..server.persistence.file_snap import FileSnap
from ..server.persistence.util import SNAPSHOT_FILE_PREFIX, CorruptSnapshotError, get_zxid_from_name
from .java_format import date_to_string, java_hash_order, java_long_hash, java_string_hash

__all__ = ["SnapshotFormatter", "main"]

USAGE = ("USAGE: SnapshotFormatter [-d|-json] snapshot_file\n"
         "       -d dump the data for each znode\n"
         "       -json dump znode info in json format\n")
_MASK64 = (1 << 64) - 1


class _Snapshot:
    """What the snapshot reader loads, kept as the file has it (the ``tree``
    that FileSnap's reader fills: begin_load / load_acl_cache / load_node / end_load)."""

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[Optional[bytes], object]] = {}
        self.children: dict[str, list[str]] = {}
        self.sessions: dict[int, int] = {}

    def begin_load(self) -> None:
        self.nodes.clear()
        self.children.clear()

    def load_acl_cache(self, entries) -> None:
        pass

    def load_node(self, path: str, data: Optional[bytes], acl_index: int, stat) -> None:
        if path == "":
            self.nodes["/"] = (data, stat)
            return
        parent = parent_of(path)
        if parent not in self.nodes:
            raise ValueError(f"Invalid Datatree, unable to find parent {parent} of path {path}")
        if path not in self.nodes:
            self.children.setdefault(parent, []).append(basename(path))
        self.nodes[path] = (data, stat)

    def end_load(self) -> None:
        pass

    def node_count(self) -> int:
        """Java's DataTree.getNodeCount: the root is there as "" and as "/"."""
        return len(self.nodes) + 1

    def children_of(self, path: str) -> list[str]:
        """The children in Java's HashSet order (``new HashSet<>(8)``, filled in file order)."""
        return java_hash_order(self.children.get(path, ()), java_string_hash, 8)


class SnapshotFormatter:
    """Prints one snapshot file (Java: SnapshotFormatter.run)."""

    def __init__(self, out=None):
        self.out = out if out is not None else sys.stdout
        self.inode = 1000  # ncdu's per-znode inode counter, as Java's INODE_IDX

    def run(self, snapshot_file: str, dump_data: bool = False, dump_json: bool = False) -> int:
        path = Path(snapshot_file)
        snapshot = _Snapshot()
        checksum_error: Optional[str] = None
        try:
            FileSnap(path.parent).load_file(path, snapshot, snapshot.sessions)
        except CorruptSnapshotError as e:
            if "/" not in snapshot.nodes or "CRC corruption" not in str(e):
                raise
            checksum_error = str(e)  # the content was read in full; show it, then say so
        file_zxid = get_zxid_from_name(path.name, SNAPSHOT_FILE_PREFIX)
        if dump_json:
            self._print_json(snapshot)
        else:
            self._print_details(snapshot, dump_data, file_zxid)
        self.out.flush()
        if checksum_error is not None:
            sys.stderr.write(f"WARNING: {checksum_error}\n")
            return 1
        return 0

    # -- text ---------------------------------------------------------------------------------
    def _w(self, line: str) -> None:
        self.out.write(line + "\n")

    def _print_details(self, snapshot: _Snapshot, dump_data: bool, file_zxid: int) -> None:
        self._w(f"ZNode Details (count={snapshot.node_count()}):")
        zxid = self._print_znode(snapshot, "/", dump_data)
        self._w("----")
        self._w("Session Details (sid, timeout, ephemeralCount):")
        owners: dict[int, int] = {}
        for _data, stat in snapshot.nodes.values():
            owners[stat.ephemeralOwner] = owners.get(stat.ephemeralOwner, 0) + 1
        for sid in java_hash_order(list(snapshot.sessions), java_long_hash, 16):
            self._w(f"{sid & _MASK64:#016x}, {snapshot.sessions[sid]}, {owners.get(sid, 0)}")
        self._w("----")
        self._w(f"Last zxid: 0x{max(file_zxid, zxid) & _MASK64:x}")

    def _print_znode(self, snapshot: _Snapshot, name: str, dump_data: bool) -> int:
        self._w("----")
        data, stat = snapshot.nodes[name]
        self._w(name)
        self._hex("cZxid", stat.czxid)
        self._w(f"  ctime = {date_to_string(stat.ctime)}")
        self._hex("mZxid", stat.mzxid)
        self._w(f"  mtime = {date_to_string(stat.mtime)}")
        self._hex("pZxid", stat.pzxid)
        self._w(f"  cversion = {stat.cversion}")
        self._w(f"  dataVersion = {stat.version}")
        self._w(f"  aclVersion = {stat.aversion}")
        self._hex("ephemeralOwner", stat.ephemeralOwner)
        if dump_data:
            self._w("  data = " + (base64.b64encode(data).decode("ascii") if data else ""))
        else:
            self._w(f"  dataLength = {len(data) if data is not None else 0}")
        zxid = max(stat.mzxid, stat.pzxid)
        for child in snapshot.children_of(name):
            zxid = max(zxid, self._print_znode(snapshot, name + ("" if name == "/" else "/") + child, dump_data))
        return zxid

    def _hex(self, prefix: str, value: int) -> None:
        self._w(f"  {prefix} = {value & _MASK64:#016x}")

    # -- json (ncdu) -----------------------------------------------------------------------------
    def _print_json(self, snapshot: _Snapshot) -> None:
        self.out.write('[1,0,{"progname":"SnapshotFormatter.java","progver":"0.01","timestamp":'
                       f"{int(time.time() * 1000)}}}")
        self._print_znode_json(snapshot, "/")
        self.out.write("]")

    def _print_znode_json(self, snapshot: _Snapshot, full_path: str) -> None:
        data, _stat = snapshot.nodes[full_path]
        name = full_path if full_path == "/" else full_path[full_path.rfind("/") + 1:]
        size = len(data) if data is not None else 0
        self.inode += 1
        node = (f'{{"name":"{quote_as_string(name)}","asize":{size},"dsize":{size},"dev":0,'
                f'"ino":{self.inode}}}')
        self.out.write(",")
        children = snapshot.children_of(full_path)
        if children:
            self.out.write("[" + node)
            for child in children:
                self._print_znode_json(snapshot, full_path + ("" if full_path == "/" else "/") + child)
            self.out.write("]")
        else:
            self.out.write(node)


def _validate_file(path: str) -> Optional[str]:
    """ZKUtil.validateFileInput (paths shown absolute, as Java's)."""
    p = Path(path).absolute()
    if not p.exists():
        return f"File '{p}' does not exist."
    try:
        readable = p.is_dir() or open(p, "rb").close() is None
    except OSError:
        readable = False
    if not readable:
        return f"Read permission is denied on the file '{p}'"
    if p.is_dir():
        return f"'{p}' is a directory. it must be a file."
    return None


@click.command(name="zkSnapShotToolkit.sh", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-d", "dump_data", is_flag=True, help="dump the data for each znode")
@click.option("-json", "dump_json", is_flag=True, help="dump znode info in json format")
@click.argument("snapshot_file", required=False)
@click.argument("extra", nargs=-1, required=False)
def _command(dump_data: bool, dump_json: bool, snapshot_file: Optional[str], extra: tuple[str, ...]) -> int:
    if snapshot_file is None or extra:
        sys.stderr.write(USAGE)
        return 2
    error = _validate_file(snapshot_file)
    if error is not None:
        sys.stderr.write(error + "\n")
        return 2
    if dump_data and dump_json:
        sys.stderr.write("Cannot specify both data dump (-d) and json mode (-json) in same call\n")
        return 2
    try:
        return SnapshotFormatter().run(snapshot_file, dump_data, dump_json)
    except (CorruptSnapshotError, ValueError, OSError, EOFError) as e:
        sys.stdout.flush()
        sys.stderr.write(f"Error: cannot read snapshot {snapshot_file}: {e}\n")
        return 1


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return _command.main(args=args, prog_name="zkSnapShotToolkit.sh", standalone_mode=False) or 0
    except click.UsageError:
        sys.stderr.write(USAGE)
        return 2


if __name__ == "__main__":
    sys.exit(main())
