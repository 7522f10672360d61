"""Before and after of the issue's "obvious levers", each in isolation.

Stands for no Java class. ``python -m bench.levers`` measures, in one
process, each lever next to the code it replaced (or that it avoids), on
the real pieces where they exist: a FileTxnLog on a real disk, DataTree
nodes, the server's request-header struct, jute's Stat. What the levers bought end to
end (a server under bench.loadgen) is in bench/NOTES.md; these figures say
where it came from.

- group commit: a txn appended and fsynced alone, against one fsync for a
  batch of 64 (SyncRequestProcessor's group);
- preallocated log files: a txn fsynced into a file grown in 64 MB
  blocks (zookeeper.preAllocSize), against one that grows at every write
  (preAllocSize 0), so each fdatasync must also update the file's size;
- __slots__ for DataNode: bytes per node (tracemalloc; the node and its
  int fields, so the figure moves a little with ``--number``), against the
  same class with a __dict__;
- precompiled structs: a RequestHeader read with one precompiled
  ``struct.Struct``, against the archive reading its fields one by one;
  a Stat written with its record's precompiled struct, against writing
  its 11 fields through the archive;
- batched socket writes: 64 replies of 100 B as one ``send()``, against
  one ``send()`` each (a Unix socket pair: the system call, not TCP);
- no per-request log formatting: ``LOG.debug("... %r", request)`` with
  debug off (the record is never made), against formatting the message
  for every request (an f-string).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable

from zkpy.defs import OpCode
from zkpy.jute import records as R
from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.server.data_tree import DataNode
from zkpy.server.persistence.file_txn_log import FileTxnLog
from zkpy.server.request import Request
from zkpy.server.txn_codec import serialize_txn
from zkpy.server.zookeeper_server import _REQUEST_HEADER

from .micro import best, drain

LOG = logging.getLogger(__name__)
_BATCH = 64


def _txn_log_timings(number: int, repeat: int, pre_alloc_size: int, batch: int) -> float:
    """µs per txn: append ``number`` setData txns, fsync every ``batch``."""
    payloads = []
    for i in range(number):
        hdr = R.TxnHeader(1, i, i + 1, 0, OpCode.setData)
        payloads.append((hdr, serialize_txn(hdr, R.SetDataTxn(f"/n{i % 8}", b"x" * 100, i), None)))
    results = []
    for _ in range(repeat):
        log_dir = Path(tempfile.mkdtemp(prefix="zkpy-levers-"))
        log = None
        try:
            log = FileTxnLog(log_dir, pre_alloc_size=pre_alloc_size)
            start = time.perf_counter()
            for k, (hdr, payload) in enumerate(payloads, 1):
                log.append(hdr, payload)
                if k % batch == 0:
                    log.commit()
            if number % batch:
                log.commit()
            results.append((time.perf_counter() - start) / number * 1e6)
        finally:
            if log is not None:
                log.close()
            shutil.rmtree(log_dir, ignore_errors=True)
    return sorted(results)[len(results) // 2]  # the median: fsync times scatter


def txn_log_levers(number: int, repeat: int) -> list[tuple[str, float, float, str]]:
    fsyncs = max(64, number // 20)  # fsyncs are slow: fewer of them
    alone = _txn_log_timings(fsyncs, repeat, 64 * 1024 * 1024, 1)
    grouped = _txn_log_timings(fsyncs, repeat, 64 * 1024 * 1024, _BATCH)
    # An fsync per txn (one client writing at depth 1): where a growing
    # file's size update would weigh most.
    growing = _txn_log_timings(fsyncs, repeat, 0, 1)
    return [
        ("group commit: one fsync per 64 txns vs one per txn", alone, grouped, "µs/txn"),
        ("preallocated log file (64 MB blocks) vs growing, fsync per txn", growing, alone, "µs/txn"),
    ]


def _bytes_per_object(make: Callable[[int], object], count: int) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make(i) for i in range(count)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    list_bytes = kept.__sizeof__()
    return (after - before - list_bytes) / count


def slots_lever(count: int) -> list[tuple[str, float, float, str]]:
    # The same class and __init__, only with a __dict__ instead of slots.
    dict_node = type("DictDataNode", (), {"__init__": DataNode.__init__})
    data = b"x" * 100  # shared: only the node itself is measured
    with_dict = _bytes_per_object(lambda i: dict_node(data, 1, i, i), count)
    with_slots = _bytes_per_object(lambda i: DataNode(data, 1, i, i), count)
    return [("DataNode with __slots__ vs with a __dict__", with_dict, with_slots, "bytes/node")]


def struct_levers(number: int, repeat: int) -> list[tuple[str, float, float, str]]:
    payload = R.RequestHeader(5, OpCode.setData).to_bytes() + R.SetDataRequest("/n", b"x" * 100, -1).to_bytes()
    unpack = _REQUEST_HEADER.unpack_from

    def header_by_archive(n):
        for _ in range(n):
            ia = InputArchive(payload)
            ia.read_int()
            ia.read_int()

    def header_by_struct(n):
        for _ in range(n):
            unpack(payload, 0)

    stat = R.Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)

    def stat_by_archive(n):
        for _ in range(n):
            oa = OutputArchive()
            for value in (stat.czxid, stat.mzxid, stat.ctime, stat.mtime):
                oa.write_long(value)
            for value in (stat.version, stat.cversion, stat.aversion):
                oa.write_int(value)
            oa.write_long(stat.ephemeralOwner)
            for value in (stat.dataLength, stat.numChildren):
                oa.write_int(value)
            oa.write_long(stat.pzxid)
            oa.to_bytes()

    def stat_by_struct(n):
        for _ in range(n):
            stat.to_bytes()

    return [
        ("RequestHeader parse: one precompiled struct vs archive reads", best(header_by_archive, number, repeat),
         best(header_by_struct, number, repeat), "µs"),
        ("Stat write: the record's precompiled struct vs 11 archive writes", best(stat_by_archive, number, repeat),
         best(stat_by_struct, number, repeat), "µs"),
    ]


def socket_lever(number: int, repeat: int) -> list[tuple[str, float, float, str]]:
    number = max(_BATCH, number // _BATCH * _BATCH)  # whole batches: µs per reply sent
    reply = bytes(4) + b"r" * 100
    server_side, client_side = socket.socketpair()
    client_side.setblocking(False)

    def one_send_each(n):
        for _ in range(0, n, _BATCH):
            for _ in range(_BATCH):
                server_side.send(reply)
            drain(client_side)

    def one_send_per_batch(n):
        batch = [reply] * _BATCH
        for _ in range(0, n, _BATCH):
            server_side.send(b"".join(batch))
            drain(client_side)

    try:
        return [("replies: one send() per batch of 64 vs one each", best(one_send_each, number, repeat),
                 best(one_send_per_batch, number, repeat), "µs/reply")]
    finally:
        server_side.close()
        client_side.close()


def logging_lever(number: int, repeat: int) -> list[tuple[str, float, float, str]]:
    request = Request(None, 0x1234, 7, OpCode.setData, b"x" * 100)
    saved = LOG.level
    LOG.setLevel(logging.INFO)  # as a server runs: debug off

    def eager(n):
        for _ in range(n):
            LOG.debug(f"Processing request {request!r}")

    def lazy(n):
        for _ in range(n):
            LOG.debug("Processing request %r", request)

    try:
        return [("per-request debug line, debug off: lazy %-args vs formatted", best(eager, number, repeat),
                 best(lazy, number, repeat), "µs")]
    finally:
        LOG.setLevel(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000, help="operations per loop")
    parser.add_argument("--repeat", type=int, default=5, help="loops; the best (the median for fsyncs) counts")
    args = parser.parse_args()
    rows = []
    rows += txn_log_levers(args.number, args.repeat)
    rows += slots_lever(args.number)
    rows += struct_levers(args.number, args.repeat)
    rows += socket_lever(args.number, args.repeat)
    rows += logging_lever(args.number, args.repeat)
    width = max(len(name) for name, *_ in rows)
    print(f"{'lever':<{width}}  {'without':>9}  {'with':>9}  unit")
    for name, without, with_, unit in rows:
        print(f"{name:<{width}}  {without:9.2f}  {with_:9.2f}  {unit}")


if __name__ == "__main__":
    main()
