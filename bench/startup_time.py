"""Start-up time of a throw-away test server: zkpy next to Java ZooKeeper 3.8.

Stands for no Java class. The question (issue 12): can a test suite afford
a fresh server per test? Measured on this machine, rounds interleaved
zkpy, Java, zkpy, Java …, medians reported:

* ``standalone → client``: from creating the server object to a connected
  kazoo client: process launch, then ``srvr`` polled every 10 ms until the
  server serves, then ``KazooClient.start()``. The same poll for both
  implementations (the helpers' own waits poll at different rates);
* ``standalone fixture``: what the ``zk_server`` fixture costs a test,
  zkpy only: ``TestingServer().start()`` (its own wait), a connected kazoo
  client, then the teardown (client closed, server stopped, temp dir
  removed);
* ``standalone teardown``: the teardown alone (client stop, server stop
  by SIGTERM, temp dir removed), for both;
* ``3 peers → leader``: three peers launched at once until one says
  ``Mode: leader`` and a majority leader/follower (``srvr``, 10 ms);
* ``3 peers → client``: until a kazoo client connected to all three has
  a session — only where the ensemble serves clients (zkpy's does not
  before the Zab issue; the row says so).

zkpy peers run ``python -m zkpy``; Java runs ``QuorumPeerMain`` with the
quick-start flags its test helper uses (``-XX:+UseSerialGC
-XX:TieredStopAtLevel=1``, 256 MB heap): the fastest way to get a Java
test server out of process. (Curator's TestingServer runs inside the test's
own JVM and so pays no JVM start; a Python suite cannot do that.)
tickTime 200, initLimit 10, syncLimit 5 for both.

Usage: ``.venv/bin/python -m bench.startup_time [--rounds N] [--no-report]``;
writes ``bench/startup_time.json`` and the section between the
``startup-time`` markers of ``bench/RESULTS.md`` (kept there when
``bench.report`` re-renders the main report).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from typing import Callable, Optional

from kazoo.client import KazooClient

from zkpy.testing import TestingCluster, TestingServer, find_free_ports, four_letter_word
from zkpy.testing_java import JavaZooKeeperServer

LOG = logging.getLogger(__name__)

TICK, INIT, SYNC = 200, 10, 5
HERE = os.path.dirname(os.path.abspath(__file__))
SECTION = "startup-time"


def _srvr_mode(host: str, port: int) -> Optional[str]:
    """``Mode:`` from srvr, None while not answering or not serving."""
    try:
        text = four_letter_word(host, port, "srvr", timeout=1.0)
    except OSError:
        return None
    if "not currently serving" in text:
        return None
    for line in text.splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


def _poll(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(0.01)


def _kazoo(hosts: str, timeout: float = 15.0) -> KazooClient:
    client = KazooClient(hosts=hosts, timeout=10.0)
    client.start(timeout=timeout)
    return client


def _close(client: KazooClient) -> None:
    client.stop()
    client.close()


# -- standalone --------------------------------------------------------------------------------


def standalone_round(impl: str) -> dict:
    t0 = time.monotonic()
    if impl == "zkpy":
        server = TestingServer(tick_time=TICK, force_sync=False)
    else:
        server = JavaZooKeeperServer(tick_time=TICK)
    try:
        server.start(wait=None)
        _poll(lambda: _srvr_mode(server.host, server.port), 60, "serving server")
        client = _kazoo(server.connect_string)
        t1 = time.monotonic()
        client.create("/probe", b"x")
        t2 = time.monotonic()
        _close(client)
        server.close()
        t3 = time.monotonic()
    finally:
        server.close()
    return {"client": t1 - t0, "teardown": t3 - t2}


def fixture_round() -> float:
    """zkpy's zk_server fixture path: TestingServer().start(), kazoo, teardown."""
    t0 = time.monotonic()
    server = TestingServer(tick_time=TICK, force_sync=False)
    try:
        server.start()
        client = _kazoo(server.connect_string)
        client.create("/probe", b"x")
        _close(client)
    finally:
        server.close()
    return time.monotonic() - t0


# -- 3 peers ----------------------------------------------------------------------------------------


def _java_peers() -> dict:
    ports = find_free_ports(6)
    members = {f"server.{sid}": f"127.0.0.1:{ports[2 * i]}:{ports[2 * i + 1]}" for i, sid in enumerate((1, 2, 3))}
    conf = dict(members, initLimit=INIT, syncLimit=SYNC)
    return {sid: JavaZooKeeperServer(conf, myid=sid, tick_time=TICK) for sid in (1, 2, 3)}


def ensemble_round(impl: str, client_timeout: float) -> dict:
    cluster = None
    if impl == "zkpy":
        t0 = time.monotonic()
        cluster = TestingCluster(3, tick_time=TICK, init_limit=INIT, sync_limit=SYNC)
        peers = {sid: cluster.peer(sid) for sid in cluster.sids}
    else:
        t0 = time.monotonic()
        peers = _java_peers()
    result: dict = {}
    try:
        for peer in peers.values():
            peer.start(wait=None)

        def settled() -> bool:
            modes = [_srvr_mode(p.host, p.port) for p in peers.values()]
            return modes.count("leader") == 1 and sum(m in ("leader", "follower") for m in modes) >= 2
        _poll(settled, 60, "leader with a quorum")
        result["leader"] = time.monotonic() - t0
        hosts = ",".join(p.connect_string for p in peers.values())
        try:
            client = _kazoo(hosts, timeout=client_timeout)
        except Exception as e:  # noqa: BLE001 - not serving: say why
            result["client_error"] = f"{type(e).__name__}: {e}"
        else:
            result["client"] = time.monotonic() - t0
            _close(client)
    finally:
        if cluster is not None:
            cluster.close()
        else:
            for peer in peers.values():
                peer.close()
    return result


# -- the run ------------------------------------------------------------------------------------------


def _stats(values: list[float]) -> Optional[dict]:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def run(rounds: int, ensemble_rounds: int) -> dict:
    ok, reason = JavaZooKeeperServer.available()
    impls = ["zkpy", "java"] if ok else ["zkpy"]
    raw: dict = {impl: {"client": [], "teardown": [], "leader": [], "ensemble_client": [], "errors": []}
                 for impl in impls}
    fixture: list[float] = []
    for _ in range(rounds):
        for impl in impls:
            r = standalone_round(impl)
            raw[impl]["client"].append(r["client"])
            raw[impl]["teardown"].append(r["teardown"])
        fixture.append(fixture_round())
    for _ in range(ensemble_rounds):
        for impl in impls:
            # A zkpy ensemble that does not serve yet fails fast; do not wait 15 s for it.
            r = ensemble_round(impl, client_timeout=15.0 if impl == "java" else 5.0)
            raw[impl]["leader"].append(r["leader"])
            if "client" in r:
                raw[impl]["ensemble_client"].append(r["client"])
            else:
                raw[impl]["errors"].append(r["client_error"])
    summary = {impl: {key: _stats(values) for key, values in data.items() if key != "errors"}
               for impl, data in raw.items()}
    summary["zkpy"]["fixture"] = _stats(fixture)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rounds": rounds,
        "ensemble_rounds": ensemble_rounds,
        "java": "available" if ok else reason,
        "loadavg": os.getloadavg(),
        "raw": raw,
        "summary": summary,
        "fixture_raw": fixture,
    }


def _ms(stat: Optional[dict]) -> str:
    if stat is None:
        return "—"
    return f"{stat['median'] * 1000:,.0f} ms ({stat['min'] * 1000:,.0f}–{stat['max'] * 1000:,.0f})"


def render(results: dict) -> str:
    s = results["summary"]
    java = s.get("java")
    zkpy_errors = results["raw"]["zkpy"]["errors"]

    def ratio(key: str) -> str:
        if java is None or s["zkpy"].get(key) is None or java.get(key) is None:
            return "—"
        return f"{s['zkpy'][key]['median'] / java[key]['median']:.2f}"

    lines = [
        f"<!-- {SECTION}:begin (written by python -m bench.startup_time; kept by bench.report) -->",
        "## Start-up time of a test server (issue 12)",
        "",
        f"- {results['date']}, {results['rounds']} standalone rounds and {results['ensemble_rounds']} ensemble "
        "rounds per implementation, interleaved; median (min–max). Load average before: "
        + " / ".join(f"{x:.2f}" for x in results["loadavg"]) + ".",
        "- Method: `bench/startup_time.py` (its docstring). Readiness polled with `srvr` every 10 ms for both; "
        "Java with its test quick-start flags (serial GC, C1 only), tickTime 200.",
        "",
        "| row | zkpy | Java 3.8 | zkpy/Java |",
        "|---|---:|---:|---:|",
        f"| standalone: `TestingServer()` (Java: its test server) → connected kazoo client | "
        f"{_ms(s['zkpy']['client'])} | "
        f"{_ms(java and java['client'])} | {ratio('client')} |",
        f"| standalone: teardown (client stop, server stop, temp dir removed) | {_ms(s['zkpy']['teardown'])} | "
        f"{_ms(java and java['teardown'])} | {ratio('teardown')} |",
        f"| `zk_server` fixture per test: `TestingServer().start()` + kazoo + teardown | "
        f"{_ms(s['zkpy']['fixture'])} | — | — |",
        f"| 3 peers: launch → leader with a quorum | {_ms(s['zkpy']['leader'])} | "
        f"{_ms(java and java['leader'])} | {ratio('leader')} |",
        f"| 3 peers: launch → connected kazoo client | "
        f"{_ms(s['zkpy']['ensemble_client']) if s['zkpy']['ensemble_client'] else 'does not serve clients yet'} | "
        f"{_ms(java and java['ensemble_client'])} | {ratio('ensemble_client')} |",
        "",
    ]
    if java is None:
        lines.append(f"Java ZooKeeper was not available: {results['java']}.")
    if zkpy_errors:
        lines.append(f"zkpy's ensemble elected a leader but refused the client session "
                     f"({len(zkpy_errors)} of {results['ensemble_rounds']} rounds; first: `{zkpy_errors[0][:160]}`); "
                     "the row fills in by itself once ensembles serve (the Zab issue).")
    lines.append(f"<!-- {SECTION}:end -->")
    return "\n".join(lines) + "\n"


def replace_section(text: str, section: str) -> str:
    """``text`` with its startup-time block replaced by ``section`` (appended if absent)."""
    begin, end = f"<!-- {SECTION}:begin", f"<!-- {SECTION}:end -->"
    start = text.find(begin)
    if start >= 0:
        stop = text.find(end, start)
        if stop >= 0:
            return text[:start] + section + text[stop + len(end):].lstrip("\n")
    return text.rstrip("\n") + "\n\n" + section


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup_time", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="standalone rounds per implementation")
    parser.add_argument("--ensemble-rounds", type=int, default=5, help="3-peer rounds per implementation")
    parser.add_argument("--json", default=os.path.join(HERE, "startup_time.json"))
    parser.add_argument("--report", default=os.path.join(HERE, "RESULTS.md"),
                        help="the Markdown file whose startup-time section is (re)written")
    parser.add_argument("--no-report", action="store_true", help="print only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # connection retries while a server starts are expected
    results = run(args.rounds, args.ensemble_rounds)
    section = render(results)
    sys.stdout.write(section)
    if not args.no_report:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        text = ""
        if os.path.exists(args.report):
            with open(args.report, encoding="utf-8") as f:
                text = f.read()
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(replace_section(text, section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
