"""bench/startup_time.py's section of bench/RESULTS.md: written in place,
kept when bench.report renders the main report again, and run by
``make bench`` after the main benchmark."""

from __future__ import annotations

import json
import os
import re
import subprocess

from bench import report
from bench.startup_time import render, replace_section

RESULTS_JSON = os.path.join(os.path.dirname(report.__file__), "results.json")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(report.__file__)))


def fake_results(ensemble_serves: bool) -> dict:
    stat = {"median": 0.2, "min": 0.1, "max": 0.3, "n": 3}
    zkpy = {"client": stat, "teardown": stat, "leader": stat, "fixture": stat,
            "ensemble_client": stat if ensemble_serves else None}
    java = {"client": {**stat, "median": 0.4}, "teardown": stat, "leader": stat, "ensemble_client": stat}
    return {"date": "today", "rounds": 3, "ensemble_rounds": 3, "java": "available", "loadavg": (1.0, 1.0, 1.0),
            "raw": {"zkpy": {"errors": [] if ensemble_serves else ["KazooTimeoutError: Connection time-out"]}},
            "summary": {"zkpy": zkpy, "java": java}}


def test_the_section_is_replaced_not_repeated():
    first = render(fake_results(False))
    assert "does not serve clients yet" in first and "| 0.50 |" in first
    text = replace_section("# report\n\nbody\n", first)
    assert text.startswith("# report\n\nbody\n\n<!-- startup-time:begin")
    second = render(fake_results(True))
    text = replace_section(text + "\nafter\n", second)
    assert text.count("startup-time:begin") == 1 and "does not serve clients yet" not in text
    assert text.endswith("after\n")


def test_a_rerendered_report_keeps_the_section(tmp_path):
    with open(RESULTS_JSON, encoding="utf-8") as f:
        results = json.load(f)
    path = tmp_path / "RESULTS.md"
    report.write_report(results, str(path), None)
    section = render(fake_results(True))
    path.write_text(replace_section(path.read_text(encoding="utf-8"), section), encoding="utf-8")
    report.write_report(results, str(path), None)       # bench.report renders again
    text = path.read_text(encoding="utf-8")
    assert text.count("startup-time:begin") == 1 and section in text
    assert text.startswith("# zkpy vs Java ZooKeeper 3.8")


def test_make_bench_measures_the_start_up_time_into_the_report():
    dry = subprocess.run(["make", "-n", "bench", "bench-quick"], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)
    # One entry per command, its module first (a recipe may chain commands with ; && ||).
    lines = re.findall(r"-m (bench\.\w+[^;&|\n]*)", dry.stdout.replace("\\\n", " "))
    steps = [line.split()[0] for line in lines]
    assert steps == ["bench.run", "bench.startup_time", "bench.run", "bench.startup_time"]
    # make bench: both write bench/RESULTS.md (their defaults); the section comes last, so it is kept.
    assert "--report" not in lines[0] and "--out-dir" not in lines[0] and "--report" not in lines[1]
    quick = lines[3].split()
    assert quick[quick.index("--report") + 1] == "bench/out/RESULTS.md"   # where bench.run --quick writes
