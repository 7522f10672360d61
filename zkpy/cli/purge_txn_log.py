"""``zkCleanup.sh``: delete old snapshots and txn logs by hand.

Java: ``org.apache.zookeeper.server.PurgeTxnLog.main``::

    PurgeTxnLog dataLogDir [snapDir] -n count

``dataLogDir`` and ``snapDir`` are the configured ``dataLogDir`` and
``dataDir`` (the files are in their ``version-2`` subdirectories; with one
directory, it holds both); ``count`` >= 3 snapshots are kept, with the
logs needed to replay from the oldest of them (the rule is in
:mod:`zkpy.server.persistence.purge_txn_log`). Each deletion is announced as
Java's does, ``Removing file: <modification time>\\t<path>``. Mistakes get
Java's messages on stderr, the usage on stdout and exit status 1.

``bin/zkCleanup.sh -n 3`` runs this on the directories of ``zoo.cfg``.

Difference from Java, on purpose: files are removed in zxid order (logs,
then snapshots); Java removes them in directory-listing order.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click

from ..server.persistence.purge_txn_log import purge
from .java_format import medium_date_time

__all__ = ["main"]

USAGE = ("Usage:\n"
         "PurgeTxnLog dataLogDir [snapDir] -n count\n"
         "\tdataLogDir -- path to the txn log directory\n"
         "\tsnapDir -- path to the snapshot directory\n"
         "\tcount -- the number of old snaps/logs you want to keep, value should be greater than or equal to 3\n")


class _Usage(Exception):
    """Print the message (if any) on stderr, then the usage, and exit 1."""


def _existing(path: str) -> str:
    if not os.path.exists(path):
        raise _Usage(f"Path '{os.path.abspath(path)}' does not exist. ")
    return path


def _count(text: str) -> int:
    try:
        value = int(text, 10) if text.strip("+-").isdigit() else int("x")
    except ValueError:
        raise _Usage(f"'{text}' can not be parsed to integer.") from None
    if value < 3:
        raise _Usage("count should be greater than or equal to 3")
    return value


def _announce(path: Path, shown_dir: str) -> None:
    try:
        mtime = medium_date_time(int(path.stat().st_mtime * 1000))
    except OSError:
        mtime = "?"
    # Java's File.getPath: the directory as given, then version-2 and the name.
    sys.stdout.write(f"Removing file: {mtime}\t{os.path.join(shown_dir, path.parent.name, path.name)}\n")


@click.command(name="zkCleanup.sh", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1)
def _command(args: tuple[str, ...]) -> int:
    if not 3 <= len(args) <= 4:
        raise _Usage()
    data_log_dir = _existing(args[0])
    snap_dir = data_log_dir
    if len(args) == 3:
        option, count_text = args[1], args[2]
    else:
        snap_dir = _existing(args[1])
        option, count_text = args[2], args[3]
    count = _count(count_text)
    if option != "-n":
        raise _Usage()
    shown = {"log": data_log_dir, "snapshot": snap_dir}
    purge(data_log_dir, snap_dir, count,
          on_remove=lambda p: _announce(p, shown["snapshot" if p.name.startswith("snapshot") else "log"]))
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return _command.main(args=args, prog_name="zkCleanup.sh", standalone_mode=False) or 0
    except _Usage as e:
        if str(e):
            sys.stderr.write(f"{e}\n")
        sys.stdout.write(USAGE)
        return 1
    except OSError as e:
        sys.stderr.write(f"Cannot purge: {e}\n")
        return 1
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
