"""In-process timings of the write path's pieces, one process, no sockets
between servers: the figures bench/NOTES.md gives per lever.

Stands for no Java class. ``python -m bench.micro`` prints, in µs per
operation (best of ``--repeat`` loops of ``--number`` operations):

- jute: a setData reply (ReplyHeader + SetDataResponse with its Stat), a
  setData request parsed (RequestHeader + SetDataRequest), a txn parsed as a
  follower parses a PROPOSAL;
- Prep and Final of a setData on a standalone ZooKeeperServer (a real
  data dir; the reply goes to a socket pair);
- Zab bookkeeping: ProposalTracker propose, three acks and the commit of
  a batch of 32, with 256 proposals outstanding as under load;
- a learner's buffered PROPOSAL and COMMIT parsed in place.

Run it from a checkout (or a worktree of an older commit, for a before
figure); numbers move with the machine's load, so compare runs made
minutes apart.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import socket
import tempfile
import time
from typing import Callable

from zkpy.defs import OpCode
from zkpy.jute import records as R
from zkpy.jute.archive import InputArchive, OutputArchive
from zkpy.quorum.proposal_tracker import Proposal, ProposalTracker
from zkpy.quorum.quorum_packet import COMMIT, PROPOSAL, packet_bytes
from zkpy.quorum.quorum_server import QuorumServer
from zkpy.quorum.quorum_verifier import QuorumMaj
from zkpy.server.cnxn_factory import NIOServerCnxn, NIOServerCnxnFactory, reply_batch
from zkpy.server.persistence.file_txn_snap_log import FileTxnSnapLog
from zkpy.server.processors.final import FinalRequestProcessor
from zkpy.server.processors.prep import Prep
from zkpy.server.request import Request
from zkpy.server.zk_database import ZKDatabase
from zkpy.server.zookeeper_server import ZooKeeperServer


def best(fn: Callable[[int], None], number: int, repeat: int) -> float:
    """µs per operation of ``fn(number)``, the best of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(number)
        times.append(time.perf_counter() - start)
    return min(times) / number * 1e6


def drain(sock: socket.socket) -> None:
    """Read whatever a non-blocking socket holds (the replies a timing wrote)."""
    try:
        while sock.recv(1 << 20):
            pass
    except BlockingIOError:
        pass


def jute_timings(number: int, repeat: int) -> dict[str, float]:
    stat = R.Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
    request = R.RequestHeader(5, OpCode.setData).to_bytes() + R.SetDataRequest("/bench/n-1", b"x" * 100, -1).to_bytes()
    txn = R.TxnHeader(1, 2, 3, 4, OpCode.setData).to_bytes() + R.SetDataTxn("/bench/n-1", b"x" * 100, 3).to_bytes()

    def reply(n):
        for _ in range(n):
            out = OutputArchive()
            R.ReplyHeader(5, 100, 0).serialize(out)
            R.SetDataResponse(stat).serialize(out)

    def parse_request(n):
        for _ in range(n):
            inp = InputArchive(request)
            R.RequestHeader.deserialize(inp)
            R.SetDataRequest.deserialize(inp)

    def parse_txn(n):
        for _ in range(n):
            inp = InputArchive(txn)
            R.TxnHeader.deserialize(inp)
            R.SetDataTxn.deserialize(inp)

    return {"jute: setData reply written": best(reply, number, repeat),
            "jute: setData request parsed": best(parse_request, number, repeat),
            "jute: setData txn parsed": best(parse_txn, number, repeat)}


def prep_final_timings(number: int, repeat: int) -> dict[str, float]:
    data_dir = tempfile.mkdtemp(prefix="zkpy-micro-")
    zks = ZooKeeperServer(ZKDatabase(FileTxnSnapLog(data_dir, data_dir), digest_enabled=True))
    factory = NIOServerCnxnFactory("127.0.0.1", 0)
    server_side, client_side = socket.socketpair()
    try:
        zks.startup()
        factory.zks = zks
        client_side.setblocking(False)
        cnxn = NIOServerCnxn(factory, server_side, ("127.0.0.1", 1))
        cnxn.session_id = zks.session_tracker.create_session(30000)
        cnxn.session_timeout = 30000
        prep, final = Prep(zks), FinalRequestProcessor(zks)

        def request(op, record, xid):
            return Request(cnxn, cnxn.session_id, xid, op, record.to_bytes(), auth_info=cnxn.auth_info)

        for i in range(8):
            create = request(OpCode.create, R.CreateRequest(f"/n{i}", b"x" * 100, R.OPEN_ACL_UNSAFE, 0), i + 1)
            prep.prep(create)
            final.process_request(create)
        payloads = [R.SetDataRequest(f"/n{i}", b"y" * 100, -1).to_bytes() for i in range(8)]

        prepared: list[Request] = []

        def run_prep(n):
            prepared.clear()
            for i in range(n):
                r = Request(cnxn, cnxn.session_id, 100 + i, OpCode.setData, payloads[i % 8], auth_info=cnxn.auth_info)
                prep.prep(r)
                prepared.append(r)

        def run_final(n):
            for start in range(0, n, 64):
                with reply_batch():
                    for r in prepared[start:start + 64]:
                        final.process_request(r)
                drain(client_side)

        prep_times, final_times = [], []
        for _ in range(repeat):
            prep_times.append(best(run_prep, number, 1))
            final_times.append(best(run_final, number, 1))
        return {"Prep of a setData": min(prep_times), "Final of a setData (apply, digest, reply)": min(final_times)}
    finally:
        zks.shutdown()
        factory.shutdown()  # never started: this closes its sockets
        server_side.close()
        client_side.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def zab_timings(number: int, repeat: int) -> dict[str, float]:
    voters = QuorumMaj({sid: QuorumServer.parse(sid, f"127.0.0.1:{2000 + sid}:{3000 + sid}") for sid in (1, 2, 3)})
    batch = 32

    def run(n):
        tracker = ProposalTracker()
        zxid = 0
        for _ in range(256 // batch):  # what is outstanding under load
            for _ in range(batch):
                zxid += 1
                tracker.propose(Proposal(zxid, None, None, [voters]))
        for _ in range(n // batch):
            first = zxid + 1
            for _ in range(batch):
                zxid += 1
                tracker.propose(Proposal(zxid, None, None, [voters]))
            acked = range(first - 256, first - 256 + batch)
            for sid in (1, 2, 3):
                if hasattr(tracker, "ack_all"):
                    tracker.ack_all(sid, acked)
                else:  # a commit before acks were counted in batches
                    for one in acked:
                        tracker.ack(sid, one)

    return {"Zab: propose + 3 acks + commit": best(run, number, repeat)}


def learner_parse_timings(number: int, repeat: int) -> dict[str, float]:
    from zkpy.quorum import quorum_packet

    proposal = packet_bytes(R.QuorumPacket(PROPOSAL, 7, b"x" * 150, None))
    commit = packet_bytes(R.QuorumPacket(COMMIT, 7, None, None))
    parse = getattr(quorum_packet, "parse_buffered_packet", None)
    if parse is None:
        return {}
    out = {}
    for name, wire in (("PROPOSAL", proposal), ("COMMIT", commit)):
        buf = bytearray(wire * 4)

        def run(n, buf=buf):
            for _ in range(n):
                parse(buf)

        out[f"learner: a buffered {name} parsed"] = best(run, number, repeat)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000, help="operations per loop")
    parser.add_argument("--repeat", type=int, default=5, help="loops; the best counts")
    args = parser.parse_args()
    from zkpy.server.quorum_peer_main import GC_THRESHOLD

    gc.set_threshold(*GC_THRESHOLD)  # as in a server process
    results: dict[str, float] = {}
    for measure in (jute_timings, prep_final_timings, zab_timings, learner_parse_timings):
        results.update(measure(args.number, args.repeat))
    width = max(len(name) for name in results)
    for name, micros in results.items():
        print(f"{name:<{width}}  {micros:6.2f} µs")


if __name__ == "__main__":
    main()
