"""``make bench``: zkpy next to Java ZooKeeper 3.8, interleaved, reported.

Stands for no Java class. The driver:

1. picks the topology: ``--topology auto`` (the default) runs 3-peer
   ensembles when :func:`bench.targets.probe_zkpy_ensemble` finds that a
   zkpy ensemble serves clients, else the standalone servers, and the
   report says which and why;
2. runs every step of :func:`bench.workloads.plan` ``--runs`` times per
   implementation, interleaved (zkpy, Java, zkpy, Java …). Throughput and
   latency steps share one long-lived target per implementation; cold
   start, sessions, memory and failover get a fresh target per run;
3. profiles a zkpy server under W1 and W2 with py-spy (when installed);
4. writes ``results.json``, the Markdown report with medians and the ratio
   zkpy/Java per row, and the PNG chart of the ratios.

A run that fails is recorded in the report (row marked, message listed);
the other rows go on. Every server is a child process that dies with
this one (see :mod:`zkpy.testing`).

Usage: ``python -m bench.run [--quick] [--runs N] [--out-dir DIR] ...``
(``--help``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import subprocess
import sys
import time
from typing import Optional, Sequence

import zkpy
from bench import targets as targets_mod
from bench.report import write_report
from bench.targets import IMPLS, describe_machine, java_available, make_target, probe_zkpy_ensemble
from bench.workloads import ROW_BY_KEY, TOTAL_DEPTH, Step, Timing, plan, prepare_target, run_spec

LOG = logging.getLogger("bench.run")

HERE = os.path.dirname(os.path.abspath(__file__))


#: What ``make bench`` writes into the tree.
_REPORT_FILES = ("RESULTS.md", "RESULTS.png", "results.json", "startup_time.json")


def _git_rev() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             timeout=10)
        rev = out.stdout.strip() or "?"
        # The reports of an earlier run are not changes to the code measured.
        own_outputs = [f":(top,exclude)bench/{name}" for name in _REPORT_FILES]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", *own_outputs],
                               cwd=HERE, capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


class Recorder:
    """Per-run values, details and failures, by row and implementation."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def _row(self, key: str) -> dict:
        return self.rows.setdefault(key, {"values": {}, "details": {}, "errors": {}})

    def add(self, impl: str, measured: dict) -> None:
        for key, (value, details) in measured.items():
            row = self._row(key)
            row["values"].setdefault(impl, []).append(value)
            row["details"].setdefault(impl, []).append(details)

    def fail(self, impl: str, keys: Sequence[str], message: str) -> None:
        for key in keys:
            self._row(key)["errors"].setdefault(impl, []).append(message)


def run_step(step: Step, target, impl: str, recorder: Recorder) -> None:
    t0 = time.monotonic()
    try:
        measured = step.run(target)
    except Exception as e:  # noqa: BLE001 - one failed run must not end the benchmark
        LOG.exception("%s on %s failed", step.name, target.label)
        first = (str(e).strip().splitlines() or [""])[0]
        recorder.fail(impl, step.keys, f"{type(e).__name__}: {first}"[:300])
        return
    recorder.add(impl, measured)
    shown = ", ".join(f"{k}={ROW_BY_KEY[k].fmt.format(v)}" for k, (v, _d) in measured.items())
    LOG.info("%-16s %-16s %s  (%.1f s)", step.name, target.label, shown, time.monotonic() - t0)


def runs_for(step: Step, runs: int) -> int:
    # W5: the issue asks for 5 repetitions of the failover
    return max(runs, 5) if step.name == "W5" else runs


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 1 run per row, 1.5 s windows, 10,000 znodes, 200 sessions")
    parser.add_argument("--runs", type=int, default=None, help="runs per row and implementation (default 3)")
    parser.add_argument("--seconds", type=float, default=None, help="measured window (default 5)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up before the window (default 1)")
    parser.add_argument("--topology", choices=("auto", "standalone", "ensemble"), default="auto")
    parser.add_argument("--znodes", type=int, default=None, help="MEM znodes (default 100,000)")
    parser.add_argument("--sessions", type=int, default=None, help="W7 sessions (default 2,000)")
    parser.add_argument("--restart-1m", action="store_true",
                        help="also the restart time with 1,000,000 znodes (long: the fill alone takes minutes)")
    parser.add_argument("--only", default=None, help="comma list of steps or rows (e.g. W1,W6)")
    parser.add_argument("--impls", default="zkpy,java", help="which implementations (default zkpy,java)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of zkpy")
    parser.add_argument("--out-dir", default=HERE, help="where results.json, the report and the chart go")
    parser.add_argument("--report", default="RESULTS.md", help="the report's file name in --out-dir")
    parser.add_argument("--notes", default=None,
                        help="a Markdown file appended to the closing note (what was tried, by hand)")
    parser.add_argument("--load-note", default=None, help="a remark on the machine's load, for the header")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    quick = args.quick
    runs = args.runs or (1 if quick else 3)
    timing = Timing(warmup=args.warmup if args.warmup is not None else (0.3 if quick else 1.0),
                    seconds=args.seconds or (1.5 if quick else 5.0))
    warm_seconds = 1.0 if quick else 8.0
    znodes = args.znodes or (10_000 if quick else 100_000)
    sessions = args.sessions or (200 if quick else 2000)
    only = set(args.only.split(",")) if args.only else None
    started = time.monotonic()
    nofile = targets_mod.raise_nofile_limit()
    if nofile[0] < sessions + 200:
        LOG.warning("open-file limit %s is low for %d sessions", nofile, sessions)

    java_ok, java_reason = java_available()
    impls = [i for i in args.impls.split(",") if i in IMPLS]
    java_note = ""
    if "java" in impls and not java_ok:
        impls.remove("java")
        java_note = f"not available ({java_reason}); zkpy figures only, no ratios"

    if args.topology == "auto":
        LOG.info("probing whether a 3-peer zkpy ensemble serves clients ...")
        ok, why = probe_zkpy_ensemble()
        if ok:
            topology = "ensemble"
            topology_note = f"3 peers per implementation; zkpy's ensemble serves clients ({why})."
        else:
            topology = "standalone"
            topology_note = ("One server per implementation: zkpy's 3-peer ensemble does not serve clients yet "
                             f"(probe: {why}), so `make bench` runs the standalone targets; the ensemble rows "
                             "(W2 via leader/followers, W4 leader/follower, W5 failover) wait for it.")
    else:
        topology = args.topology
        topology_note = f"chosen with --topology {topology}."
    LOG.info("topology: %s", topology)

    big = 1_000_000 if args.restart_1m else None
    steps = plan(topology, timing, znodes=znodes, sessions=sessions, big_znodes=big, only=only)
    recorder = Recorder()
    load_before = os.getloadavg()

    shared = [s for s in steps if s.shared]
    if shared:
        live = {}
        try:
            for impl in impls:
                live[impl] = make_target(impl, topology)
                live[impl].start()
                prepare_target(live[impl])
            for impl in impls:
                # Not recorded: lets the JVM's JIT reach steady state (and
                # zkpy's caches fill) before the first measured row.
                LOG.info("warming up %s for %.0f s", live[impl].label, warm_seconds)
                run_spec(live[impl], "mix", "all", 8, None, Timing(warmup=0.0, seconds=warm_seconds))
            for step in shared:
                for _ in range(runs_for(step, runs)):
                    for impl in impls:
                        run_step(step, live[impl], impl, recorder)
        finally:
            for target in live.values():
                target.close()
    for step in (s for s in steps if not s.shared):
        for _ in range(runs_for(step, runs)):
            for impl in impls:
                heap = 4096 if step.name == "R-1M" else targets_mod.JAVA_HEAP_MB
                target = make_target(impl, topology, heap_mb=heap)
                try:
                    run_step(step, target, impl, recorder)
                finally:
                    target.close()

    profile = None
    if not args.no_profile and "zkpy" in impls and (only is None or "profile" in only):
        from bench.profile import profile_zkpy

        LOG.info("profiling zkpy under W1 and W2 with py-spy ...")
        profile = profile_zkpy(timing)

    skipped = {}
    for key, row in ROW_BY_KEY.items():
        if key not in recorder.rows:
            if row.topology and row.topology != topology:
                skipped[key] = f"needs the {row.topology} topology"
            elif key == "R-1M":
                skipped[key] = "optional: --restart-1m"
    notes = None
    notes_path = args.notes
    if notes_path and os.path.exists(notes_path):
        with open(notes_path, encoding="utf-8") as f:
            notes = f.read()
    results = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if quick else "full",
            "machine": describe_machine(),
            "zkpy_version": zkpy.__version__,
            "git_rev": _git_rev(),
            "topology": topology,
            "topology_note": topology_note,
            "java_note": java_note,
            "impls": impls,
            "runs": runs,
            "timing": {"warmup": timing.warmup, "seconds": timing.seconds, "target_warmup": warm_seconds},
            "total_depth": TOTAL_DEPTH,
            "znodes": znodes,
            "sessions": sessions,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "load_note": args.load_note,
            "duration_s": time.monotonic() - started,
        },
        "rows": recorder.rows,
        "skipped": skipped,
        "profile": profile,
        "notes": notes,
    }
    os.makedirs(args.out_dir, exist_ok=True)
    results_path = os.path.join(args.out_dir, "results.json" if not quick else "results-quick.json")
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    report_path = os.path.join(args.out_dir, args.report)
    chart_path = os.path.splitext(report_path)[0] + ".png"
    write_report(results, report_path, chart_path)
    LOG.info("wrote %s, %s and %s", results_path, report_path, chart_path)
    failed = sum(len(m) for row in recorder.rows.values() for m in row["errors"].values())
    if failed:
        LOG.warning("%d runs failed; see the report", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
