"""Election time, zkpy next to Java ZooKeeper 3.8, on this machine.

Three peers on loopback (tickTime 200, initLimit 10, syncLimit 5), fresh
data dirs. For each implementation and each round:

* cold start: from launching the three processes at once until one peer
  says ``Mode: leader`` and a majority says leader or follower (``srvr``
  polled every 20 ms) — process start-up included;
* re-election: once all three have settled, from SIGKILL of the leader
  until the two survivors again have a leader with a follower — no
  process start-up in it.

"A leader with a quorum of learners past discovery": zkpy's peers report
their mode once discovery (epoch agreement) is done; Java's once sync is
done too (with empty data dirs that is one DIFF, NEWLEADER, UPTODATE).

Usage: .venv/bin/python bench/election_time.py [rounds]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from interop.java_zk import JavaZooKeeperServer  # noqa: E402
from zkpy.testing import TestingCluster, find_free_ports, four_letter_word  # noqa: E402

TICK, INIT, SYNC = 200, 10, 5


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


def java_ensemble():
    ports = find_free_ports(6)
    lines = {f"server.{sid}": f"127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}" for i, sid in enumerate((1, 2, 3))}
    conf = dict(lines, initLimit=INIT, syncLimit=SYNC)
    return {sid: JavaZooKeeperServer(conf, myid=sid, tick_time=TICK) for sid in (1, 2, 3)}


def zkpy_ensemble():
    cluster = TestingCluster(3, tick_time=TICK, init_limit=INIT, sync_limit=SYNC)
    return cluster, {sid: cluster.peer(sid) for sid in cluster.sids}


def one_round(kind: str) -> tuple[float, float, int]:
    cluster = None
    if kind == "java":
        servers = java_ensemble()
    else:
        cluster, servers = zkpy_ensemble()
    try:
        t0 = time.monotonic()
        for s in servers.values():
            s.start(wait=None)
        leader, t1 = wait_for_quorum(servers)
        # Let the third peer settle too, so the kill starts a clean re-election.
        deadline = time.monotonic() + 30
        while any(mode(s) not in ("leader", "follower") for s in servers.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the third peer never settled")
            time.sleep(0.02)
        survivors = {sid: s for sid, s in servers.items() if sid != leader}
        t2 = time.monotonic()
        servers[leader].kill()
        _, t3 = wait_for_quorum(survivors)
        return t1 - t0, t3 - t2, leader
    finally:
        if cluster is not None:
            cluster.close()
        else:
            for s in servers.values():
                s.close()


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ok, reason = JavaZooKeeperServer.available()
    kinds = ["zkpy"] + (["java"] if ok else [])
    if not ok:
        print(f"Java ZooKeeper not available: {reason}")
    for kind in kinds:
        cold, again = [], []
        for _ in range(rounds):
            c, r, _leader = one_round(kind)
            cold.append(c * 1000)
            again.append(r * 1000)
        print(f"{kind:5s} cold start to quorum: median {statistics.median(cold):6.0f} ms "
              f"(min {min(cold):.0f}, max {max(cold):.0f}); "
              f"re-election after leader kill: median {statistics.median(again):6.0f} ms "
              f"(min {min(again):.0f}, max {max(again):.0f}); n={rounds}")


if __name__ == "__main__":
    main()
