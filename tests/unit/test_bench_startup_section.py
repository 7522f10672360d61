"""bench/startup_time.py's section of bench/RESULTS.md: written in place,
and kept when bench.report renders the main report again."""

from __future__ import annotations

import json
import os

from bench import report
from bench.startup_time import render, replace_section

RESULTS_JSON = os.path.join(os.path.dirname(report.__file__), "results.json")


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
