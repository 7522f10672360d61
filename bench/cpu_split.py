"""Where a write's CPU goes, per server process: a quick probe beside the full bench.

Stands for no Java class. Starts a zkpy standalone server or 3-peer ensemble
(:class:`zkpy.testing.TestingServer` / ``TestingCluster``, tickTime 2000, fsync
on), drives it with :mod:`bench.loadgen` (2 processes x 4 sessions x 32
outstanding), and prints the ops/s and, for each server process, the user
and system CPU per operation over the middle of the window (psutil). The
figures in ``bench/NOTES.md`` come from it::

    python -m bench.cpu_split --ensemble --op set
    python -m bench.cpu_split --ensemble --op set --via-leader
    python -m bench.cpu_split --ensemble --op set --via-followers
    python -m bench.cpu_split --op get        # standalone

``--followers-nice N --rounds R`` is a diagnostic for writes via the
leader: R windows, every other one with the followers' threads at nice N,
showing how much the followers' CPU slows the leader on a small machine
(going back to nice 0 needs root, as ``renice`` does).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from typing import Optional, Sequence

import psutil

from zkpy.testing import TestingCluster, TestingServer

from . import loadgen


def _prepare(servers, spec) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            loadgen.prepare(servers, spec)
            return
        except ConnectionError:  # a learner still syncing closes new connections
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def measure(servers, pids: dict[str, int], op: str, seconds: float) -> None:
    spec = loadgen.LoadSpec(servers=servers, op=op, procs=2, conns=4, depth=32, warmup=1.0, seconds=seconds)
    _prepare(servers, spec)
    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault("r", loadgen.run_load(spec)))
    runner.start()
    time.sleep(1.0 + seconds * 0.2)
    window = seconds * 0.6
    before = {name: p.cpu_times() for name, p in procs.items()}
    time.sleep(window)
    after = {name: p.cpu_times() for name, p in procs.items()}
    runner.join()
    run = result["r"]
    rate = run.ops / run.seconds
    ops = rate * window
    print(f"{op}: {rate:,.0f} ops/s, p50 {run.summary()['latency_ms']['p50']:.2f} ms")
    for name in procs:
        user = after[name].user - before[name].user
        system = after[name].system - before[name].system
        print(f"  {name:12s} user {1e6 * user / ops:6.1f} us/op  sys {1e6 * system / ops:5.1f} us/op  "
              f"cores {(user + system) / window:.2f}")


def set_nice(pid: int, niceness: int) -> None:
    """Set every thread of ``pid`` to ``niceness`` (Linux: niceness is per thread)."""
    for thread in psutil.Process(pid).threads():
        os.setpriority(os.PRIO_PROCESS, thread.id, niceness)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_split", description=__doc__.splitlines()[0])
    parser.add_argument("--op", choices=loadgen.OPS, default="set")
    parser.add_argument("--ensemble", action="store_true", help="a 3-peer ensemble (default: standalone)")
    parser.add_argument("--via-leader", action="store_true", help="ensemble: every session on the leader")
    parser.add_argument("--via-followers", action="store_true", help="ensemble: sessions on the followers only")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1, help="measure this many windows")
    parser.add_argument("--followers-nice", type=int, default=None, metavar="N",
                        help="ensemble: every other window with the followers' threads at nice N")
    args = parser.parse_args(argv)
    if args.followers_nice is not None and not args.ensemble:
        parser.error("--followers-nice needs --ensemble")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.ensemble:
            with TestingServer(temp_dir=tmp, tick_time=2000, config={"maxClientCnxns": "0"}) as server:
                for _ in range(args.rounds):
                    measure((("127.0.0.1", server.port),), {"standalone": server.pid}, args.op, args.seconds)
            return 0
        with TestingCluster(3, temp_dir=tmp, tick_time=2000, force_sync=True, config={"maxClientCnxns": "0"}) as c:
            c.start()
            leader = c.leader()
            if args.via_leader:
                sids = [leader]
            elif args.via_followers:
                sids = [sid for sid in c.sids if sid != leader]
            else:
                sids = list(c.sids)
            servers = tuple(("127.0.0.1", c.peer(sid).port) for sid in sids)
            pids = {f"{sid} {'leader' if sid == leader else 'follower'}": c.peer(sid).pid for sid in c.sids}
            followers = [c.peer(sid).pid for sid in c.sids if sid != leader]
            for i in range(args.rounds):
                if args.followers_nice is not None:
                    niceness = args.followers_nice if i % 2 else 0
                    for pid in followers:
                        set_nice(pid, niceness)
                    print(f"followers at nice {niceness}:")
                measure(servers, pids, args.op, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
