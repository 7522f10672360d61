"""``zkTxnLogToolkit.sh``: dump, repair or chop a transaction log file.

Java: ``org.apache.zookeeper.server.persistence.TxnLogToolkit`` and
``org.apache.zookeeper.server.util.LogChopper`` (3.8.0)::

    zkTxnLogToolkit.sh [-dhrvyc] <txn_log_file_name> (-z <zxid>)
     -c,--chop         Chop mode. Chop txn file to a zxid.
     -d,--dump         Dump mode (the default).
     -h,--help         Print help message
     -r,--recover      Recovery mode. Re-calculate CRC for broken entries.
     -v,--verbose      Be verbose in recovery mode: print all entries, not just fixed ones.
     -y,--yes          Non-interactive mode: repair all CRC errors without asking
     -z,--zxid <arg>   Used with chop. Zxid to which to chop.

Dump prints ``ZooKeeper Transactional Log File with dbid 0 txnlog format
version 2``, one line per txn exactly as Java's (``<date> session 0x..
cxid 0x.. zxid 0x.. <op> <txn>``, the txn in jute's ``toString`` form or,
for creates, setData and multi, Java's own layout with the data decoded
as UTF-8), ``CRC ERROR - `` before a txn whose checksum does not match,
and ``EOF reached after N txns.``. Dates are ``DateFormat`` SHORT/LONG in
US English, in the local time zone.

``--recover`` copies the file to ``<file>.fixed`` with every bad checksum
recomputed (asking ``Would you like to fix it (Yes/No/Abort) ?`` for each
unless ``--yes``), padded like a server's log. ``--chop -z <zxid>`` copies
the txns up to and including ``zxid`` to ``<file>.chopped<zxid>``.

What zkpy does differently, on purpose: failures are one line on stderr
with a non-zero exit status, never a stack trace — a chop that fails
exits 1 (Java prints ``Got exception: ...`` and exits 0); a partial last
entry, a truncated header or an undecodable txn exit 1; end of input at
the recovery prompt aborts with status 1.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Optional

import click

from ..defs import OP_NAMES, OpCode
from ..jute.records import CreateContainerTxn, CreateTTLTxn, CreateTxn, MultiTxn, SetDataTxn
from ..jute.to_string import java_list_string, to_java_string
from ..server.config import SystemProperties, _decode_java_int
from ..server.persistence.file_txn_log import (
    DEFAULT_MAX_BUFFER, TXNLOG_MAGIC, calculate_file_size_with_padding,
)
from ..server.txn_codec import TxnCodecError, deserialize_txn
from .java_format import short_long_date_time

__all__ = ["TxnLogToolkit", "TxnLogToolkitError", "op2string", "format_txn", "chop", "main"]

HELP = """\
usage: TxnLogToolkit [-dhrvc] <txn_log_file_name> (-z <zxid>)
 -c,--chop         Chop mode. Chop txn file to a zxid.
 -d,--dump         Dump mode. Dump all entries of the log file with printing the content of a nodepath (default)
 -h,--help         Print help message
 -r,--recover      Recovery mode. Re-calculate CRC for broken entries.
 -v,--verbose      Be verbose in recovery mode: print all entries, not just fixed ones.
 -y,--yes          Non-interactive mode: repair all CRC errors without asking
 -z,--zxid <arg>   Used with chop. Zxid to which to chop.
"""

_FILE_HEADER = struct.Struct(">iiq")
_ENTRY_HEAD = struct.Struct(">qi")
_MASK64 = (1 << 64) - 1
#: Request.op2String's names: the OpCode names, except these.
_OP_NAMES = dict(OP_NAMES)
_OP_NAMES[int(OpCode.createTTL)] = "createTtl"
del _OP_NAMES[int(OpCode.addWatch)]  # 3.8.0's op2String does not know it


class TxnLogToolkitError(Exception):
    """Ends the tool with ``exit_code`` and the message on stderr."""

    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code


def op2string(op: int) -> str:
    """Java's Request.op2String."""
    return _OP_NAMES.get(op, f"unknown {op}")


def _utf8(data: Optional[bytes]) -> str:
    """checkNullToEmpty: ``new String(data, UTF_8)`` (malformed bytes become U+FFFD)."""
    return data.decode("utf-8", "replace") if data else ""


def format_txn(txn) -> str:
    """TxnLogToolkit.getFormattedTxnStr."""
    if txn is None:
        return ""
    if isinstance(txn, CreateTxn):
        return (f"{txn.path},{_utf8(txn.data)},{java_list_string(txn.acl)},"
                f"{'true' if txn.ephemeral else 'false'},{txn.parentCVersion}")
    if isinstance(txn, SetDataTxn):
        return f"{txn.path},{_utf8(txn.data)},{txn.version}"
    if isinstance(txn, CreateContainerTxn):
        return f"{txn.path},{_utf8(txn.data)},{java_list_string(txn.acl)},{txn.parentCVersion}"
    if isinstance(txn, CreateTTLTxn):
        return f"{txn.path},{_utf8(txn.data)},{java_list_string(txn.acl)},{txn.parentCVersion},{txn.ttl}"
    if isinstance(txn, MultiTxn):
        return ";".join(f"{op2string(t.type)}:{_utf8(t.data)}" for t in (txn.txns or ()))
    return to_java_string(txn)


def txn_line(payload: bytes, prefix: str = "") -> str:
    """TxnLogToolkit.printTxn's text for one entry (with its line end)."""
    try:
        hdr, txn, _digest = deserialize_txn(payload)
    except TxnCodecError as e:
        raise TxnLogToolkitError(1, f"Cannot decode txn: {e}") from None
    text = (f"{short_long_date_time(hdr.time)} session 0x{hdr.clientId & _MASK64:x} cxid "
            f"0x{hdr.cxid & _MASK64:x} zxid 0x{hdr.zxid & _MASK64:x} {op2string(hdr.type)} {format_txn(txn)}")
    if prefix.strip():
        text = f"{prefix} - {text}"
    return text if text.endswith("\n") else text + "\n"


def _max_length() -> int:
    # jute.maxbuffer plus zookeeper.jute.maxbuffer.extrasize (which defaults to it), as BinaryInputArchive
    props = SystemProperties.from_environ()
    max_buffer = props.get_int("jute.maxbuffer", DEFAULT_MAX_BUFFER)
    return max_buffer + props.get_int("zookeeper.jute.maxbuffer.extrasize", max(max_buffer, 1024))


class _Entries:
    """The entries of a log file as Java's BinaryInputArchive reads them."""

    def __init__(self, f: BinaryIO, name: str):
        self.f = f
        self.name = name
        self.max_length = _max_length()

    def header(self) -> tuple[int, int, int]:
        data = self.f.read(_FILE_HEADER.size)
        if len(data) < _FILE_HEADER.size:
            raise TxnLogToolkitError(1, f"{self.name} is too short to be a txn log ({len(data)} bytes)")
        return _FILE_HEADER.unpack(data)

    def next(self) -> Optional[tuple[int, bytes]]:
        """(stored crc, payload), or None at the end (EOF, or the zero padding)."""
        head = self.f.read(_ENTRY_HEAD.size)
        if len(head) < _ENTRY_HEAD.size:
            return None
        crc, length = _ENTRY_HEAD.unpack(head)
        if length < 0 or length > self.max_length:
            raise TxnLogToolkitError(1, f"Unreasonable length = {length}")
        payload = self.f.read(length)
        if len(payload) < length or length == 0:
            return None
        return crc, payload

    def end_of_record(self) -> None:
        if self.f.read(1) != b"B":
            raise TxnLogToolkitError(1, "Last transaction was partial.")


class TxnLogToolkit:
    """Dump or recover one txn log file (Java: TxnLogToolkit)."""

    def __init__(self, txn_log_file: str, *, recovery_mode: bool = False, verbose: bool = False,
                 force: bool = False, out: Optional[BinaryIO] = None,
                 ask: Optional[Callable[[], Optional[str]]] = None):
        self.path = Path(txn_log_file)
        if not self.path.is_file() or not os.access(self.path, os.R_OK):
            raise TxnLogToolkitError(1, f"File doesn't exist or not readable: {txn_log_file}")
        self.recovery_mode = recovery_mode
        self.verbose = verbose
        self.force = force
        self.out = out if out is not None else sys.stdout.buffer
        self._ask = ask if ask is not None else _read_token
        self.crc_fixed = 0
        self.recovery_file: Optional[Path] = None
        if recovery_mode:
            self.recovery_file = Path(str(self.path) + ".fixed")
            if self.recovery_file.exists():
                raise TxnLogToolkitError(1, f"Recovery file {self.recovery_file} already exists or not writable")

    def _print(self, text: str) -> None:
        self.out.write(text.encode("utf-8", "replace"))

    def dump(self) -> int:
        """Print (and in recovery mode, copy) every entry; the number of txns."""
        with open(self.path, "rb") as f:
            entries = _Entries(f, self.path.name)
            magic, version, dbid = entries.header()
            if magic != TXNLOG_MAGIC:
                raise TxnLogToolkitError(2, f"Invalid magic number for {self.path.name}")
            self._print(f"ZooKeeper Transactional Log File with dbid {dbid} txnlog format version {version}\n")
            if not self.recovery_mode:
                return self._dump_entries(entries, None)
            with open(self.recovery_file, "xb") as fixed:
                fixed.write(_FILE_HEADER.pack(magic, version, dbid))
                return self._dump_entries(entries, fixed)

    def _dump_entries(self, entries: _Entries, fixed: Optional[BinaryIO]) -> int:
        count = 0
        pre_alloc = SystemProperties.from_environ().get_long("zookeeper.preAllocSize", 65536) * 1024
        file_size = _FILE_HEADER.size
        while True:
            entry = entries.next()
            if entry is None:
                self._print(f"EOF reached after {count} txns.\n")
                return count
            crc, payload = entry
            actual = zlib.adler32(payload)
            if crc != actual:
                if not self.recovery_mode:
                    self._print(txn_line(payload, "CRC ERROR"))
                elif self.force:
                    crc = actual
                    self._print(txn_line(payload, "CRC FIXED"))
                    self.crc_fixed += 1
                else:
                    self._print(txn_line(payload, "CRC ERROR"))
                    if self._ask_for_fix():
                        crc = actual
                        self.crc_fixed += 1
            if not self.recovery_mode or self.verbose:
                self._print(txn_line(payload))
            entries.end_of_record()
            if fixed is not None:
                # Padded like a server's log (FilePadding), so a server can append to it.
                position = fixed.tell()
                new_size = calculate_file_size_with_padding(position, file_size, pre_alloc)
                if new_size != file_size:
                    fixed.seek(new_size - 1)
                    fixed.write(b"\0")
                    fixed.seek(position)
                    file_size = new_size
                fixed.write(_ENTRY_HEAD.pack(crc, len(payload)) + payload + b"B")
            count += 1

    def _ask_for_fix(self) -> bool:
        while True:
            self._print("Would you like to fix it (Yes/No/Abort) ? ")
            self.out.flush()
            answer = self._ask()
            if answer is None:
                raise TxnLogToolkitError(1, "Recovery aborted.")
            letter = answer[:1].upper()
            if letter == "Y":
                return True
            if letter == "N":
                return False
            if letter == "A":
                raise TxnLogToolkitError(0, "Recovery aborted.")

    def print_stat(self) -> None:
        if self.recovery_mode:
            self._print(f"Recovery file {self.recovery_file} has been written with {self.crc_fixed} fixed CRC "
                        f"error(s)\n")


_stdin_tokens: list[str] = []


def _read_token() -> Optional[str]:
    """The next whitespace-separated word on stdin (java.util.Scanner.next); None at EOF."""
    while not _stdin_tokens:
        line = sys.stdin.readline()
        if not line:
            return None
        _stdin_tokens.extend(line.split())
    return _stdin_tokens.pop(0)


def chop(source: Path, target: Path, zxid: int, out: BinaryIO) -> bool:
    """LogChopper.chop: copy the txns up to ``zxid`` into ``target``; whether it chopped."""
    def say(text: str) -> None:
        out.write((text + "\n").encode("utf-8", "replace"))

    with open(source, "rb") as f, open(target, "wb") as chopped:
        entries = _Entries(f, source.name)
        magic, version, dbid = entries.header()
        if magic != TXNLOG_MAGIC:
            sys.stderr.write("Invalid magic number in txn log file\n")
            return False
        say(f"ZooKeeper Transactional Log File with dbid {dbid} txnlog format version {version}")
        chopped.write(_FILE_HEADER.pack(magic, version, dbid))
        count = 0
        has_zxid = False
        previous = -1
        while True:
            entry = entries.next()
            if entry is None:
                say(f"EOF reached after {count} txns.")
                return False
            crc, payload = entry
            if zlib.adler32(payload) != crc:
                raise TxnLogToolkitError(1, f"CRC doesn't match {crc} vs {zlib.adler32(payload)}")
            try:
                hdr, _txn, _digest = deserialize_txn(payload)
            except TxnCodecError as e:
                raise TxnLogToolkitError(1, f"Cannot decode txn: {e}") from None
            entries.end_of_record()
            txn_zxid = hdr.zxid
            if txn_zxid == zxid:
                has_zxid = True
            if previous != -1 and txn_zxid != previous + 1:
                if txn_zxid >> 32 == previous >> 32:
                    say(f"There is intra-epoch gap between {previous & _MASK64:x} and {txn_zxid & _MASK64:x}")
                elif txn_zxid & 0xFFFFFFFF != 1:
                    say(f"There is inter-epoch gap between {previous & _MASK64:x} and {txn_zxid & _MASK64:x}")
            previous = txn_zxid
            if txn_zxid > zxid:
                if count == 0 or not has_zxid:
                    say(f"This log does not contain zxid {zxid & _MASK64:x}")
                    return False
                say(f"Chopping at {zxid & _MASK64:x} new log has {count} records")
                return True
            chopped.write(_ENTRY_HEAD.pack(crc, len(payload)) + payload + b"B")
            count += 1


def _decode_long(text: str) -> int:
    """Long.decode: decimal, 0x/# hex, leading-0 octal, optional sign."""
    return _decode_java_int(text, -(1 << 63), (1 << 63) - 1)


def _run(recover: bool, verbose: bool, force: bool, do_chop: bool, zxid_text: Optional[str],
         log_file: str) -> int:
    out = sys.stdout.buffer
    if do_chop and zxid_text is not None:
        path = Path(log_file)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise TxnLogToolkitError(1, f"File doesn't exist or not readable: {log_file}")
        try:
            zxid = _decode_long(zxid_text)
        except ValueError:
            raise TxnLogToolkitError(1, f'For input string: "{zxid_text}"') from None
        target = path.parent / f"{path.name}.chopped{zxid}"
        if not chop(path, target, zxid, out):
            out.flush()
            raise TxnLogToolkitError(1, f"Failed to chop {path.name}")
        return 0
    toolkit = TxnLogToolkit(log_file, recovery_mode=recover, verbose=verbose, force=force, out=out)
    toolkit.dump()
    toolkit.print_stat()
    return 0


@click.command(name="zkTxnLogToolkit.sh", add_help_option=False)
@click.option("-h", "--help", "show_help", is_flag=True)
@click.option("-r", "--recover", is_flag=True)
@click.option("-v", "--verbose", is_flag=True)
@click.option("-d", "--dump", is_flag=True)
@click.option("-y", "--yes", "force", is_flag=True)
@click.option("-c", "--chop", "do_chop", is_flag=True)
@click.option("-z", "--zxid", "zxid_text")
@click.argument("files", nargs=-1)
def _command(show_help: bool, recover: bool, verbose: bool, dump: bool, force: bool, do_chop: bool,
             zxid_text: Optional[str], files: tuple[str, ...]) -> int:
    if show_help:
        sys.stdout.write(HELP)
        return 0
    if not files:
        sys.stdout.write(HELP)
        return 1
    try:
        return _run(recover, verbose, force, do_chop, zxid_text, files[0])
    except TxnLogToolkitError as e:
        sys.stdout.flush()
        sys.stderr.write(f"{e}\n")
        return e.exit_code
    except OSError as e:
        sys.stdout.flush()
        sys.stderr.write(f"{e.strerror or e}: {e.filename or files[0]}\n")
        return 1


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        status = _command.main(args=args, prog_name="zkTxnLogToolkit.sh", standalone_mode=False)
    except click.UsageError as e:
        # commons-cli: the parse error, a blank line, then the help (exit 1)
        message = e.format_message()
        if isinstance(e, click.NoSuchOption):
            message = f"Unrecognized option: {e.option_name}"
        elif isinstance(e, click.BadOptionUsage) and "requires an argument" in message:
            message = f"Missing argument for option: {e.option_name.lstrip('-')[:1]}"
        sys.stderr.write(message + "\n\n")
        sys.stdout.write(HELP)
        return 1
    finally:
        sys.stdout.flush()
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
