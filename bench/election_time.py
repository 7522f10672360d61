"""Election time, zkpy next to Java ZooKeeper 3.8, on this machine.

Three peers on loopback (tickTime 200, initLimit 10, syncLimit 5), fresh
data dirs. For each implementation and each round:

* cold start: from launching the three processes at once (process
  start-up included) until
  - *discovery*: the leader is past discovery with a quorum of learners,
    i.e. it logs ``Peer state changed: leading - synchronization`` (Java
    3.8 and zkpy log it when a quorum of ACKEPOCHs arrived; read from the
    leader's log timestamps, ms resolution), and
  - *serving*: one peer says ``Mode: leader`` and a majority says leader
    or follower (``srvr`` polled every 20 ms; both implementations report
    the mode only once sync is done too: with empty data dirs one DIFF,
    NEWLEADER, UPTODATE);
* re-election: once all three have settled, from SIGKILL of the leader
  until the same two points for the two survivors — no process start-up
  in it.

The issue's "election time" (start -> a leader with a quorum of learners
past discovery) is the *discovery* figure. Cold start is mostly process
start-up (Python imports, the JVM), which varies with the machine's load;
re-election is the election and discovery alone. bench/run.py's W6 (cold
start -> a write accepted on every server) adds sync, a session and a
write per server on top of the cold-start figure.

Usage: .venv/bin/python bench/election_time.py [rounds]
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from interop.java_zk import JavaZooKeeperServer  # noqa: E402
from zkpy.testing import TestingCluster, find_free_ports, four_letter_word  # noqa: E402

TICK, INIT, SYNC = 200, 10, 5
PAST_DISCOVERY = "Peer state changed: leading - synchronization"


def mode(server) -> str | None:
    try:
        text = four_letter_word(server.host, server.port, "srvr", timeout=1.0)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return None


def wait_for_quorum(servers: dict, timeout: float = 60.0) -> tuple[int, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        modes = {sid: mode(s) for sid, s in servers.items()}
        leaders = [sid for sid, m in modes.items() if m == "leader"]
        settled = [sid for sid, m in modes.items() if m in ("leader", "follower")]
        if len(leaders) == 1 and len(settled) >= 2:
            return leaders[0], time.monotonic()
        time.sleep(0.02)
    raise RuntimeError(f"no leader: {modes}")


def past_discovery(server, since: float, timeout: float = 10.0) -> float:
    """Wall-clock time of the first ``leading - synchronization`` line the
    leader logged at or after ``since`` (log timestamps: local time, ms)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(server.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if PAST_DISCOVERY in line:
                    stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    if stamp >= since - 0.001:
                        return stamp
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {PAST_DISCOVERY!r} in {server.log_path}")
        time.sleep(0.05)


def java_ensemble():
    ports = find_free_ports(6)
    lines = {f"server.{sid}": f"127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}" for i, sid in enumerate((1, 2, 3))}
    conf = dict(lines, initLimit=INIT, syncLimit=SYNC)
    return {sid: JavaZooKeeperServer(conf, myid=sid, tick_time=TICK) for sid in (1, 2, 3)}


def zkpy_ensemble():
    cluster = TestingCluster(3, tick_time=TICK, init_limit=INIT, sync_limit=SYNC)
    return cluster, {sid: cluster.peer(sid) for sid in cluster.sids}


def one_round(kind: str) -> tuple[float, float, float, float, int]:
    cluster = None
    if kind == "java":
        servers = java_ensemble()
    else:
        cluster, servers = zkpy_ensemble()
    try:
        t0, w0 = time.monotonic(), time.time()
        for s in servers.values():
            s.start(wait=None)
        leader, t1 = wait_for_quorum(servers)
        d1 = past_discovery(servers[leader], w0) - w0
        # Let the third peer settle too, so the kill starts a clean re-election.
        deadline = time.monotonic() + 30
        while any(mode(s) not in ("leader", "follower") for s in servers.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the third peer never settled")
            time.sleep(0.02)
        survivors = {sid: s for sid, s in servers.items() if sid != leader}
        t2, w2 = time.monotonic(), time.time()
        servers[leader].kill()
        new_leader, t3 = wait_for_quorum(survivors)
        d3 = past_discovery(servers[new_leader], w2) - w2
        return d1, t1 - t0, d3, t3 - t2, leader
    finally:
        if cluster is not None:
            cluster.close()
        else:
            for s in servers.values():
                s.close()


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):5.0f} ms (min {min(ms):.0f}, max {max(ms):.0f})"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ok, reason = JavaZooKeeperServer.available()
    kinds = ["zkpy"] + (["java"] if ok else [])
    if not ok:
        print(f"Java ZooKeeper not available: {reason}")
    for kind in kinds:
        results = [one_round(kind) for _ in range(rounds)]
        cold_discovery, cold_serving, again_discovery, again_serving = (
            [r[i] for r in results] for i in range(4))
        print(f"{kind:5s} n={rounds}  cold start -> leader past discovery: {summary(cold_discovery)}; "
              f"-> quorum serving: {summary(cold_serving)}")
        print(f"{'':5s}        leader kill -> new leader past discovery: {summary(again_discovery)}; "
              f"-> quorum serving: {summary(again_serving)}")


if __name__ == "__main__":
    main()
