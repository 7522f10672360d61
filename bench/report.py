"""The benchmark's report: a Markdown table (zkpy, Java, ratio zkpy/Java,
must/aim lines) and a PNG chart of the ratios.

Stands for no Java class. Input is the JSON that :mod:`bench.run` writes
(``results.json``), so a report can be rendered again without running the
benchmark: ``python -m bench.report bench/results.json bench/RESULTS.md``.
The chart needs matplotlib (the ``bench`` extra: ``pip install -e
'.[bench]'``); without it the report says so and has no chart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
from typing import Optional, Sequence

from bench.workloads import GOALS, ROW_BY_KEY, ROWS, RowDef

LOG = logging.getLogger(__name__)

VERDICT_MARK = {"aim": "✅ aim", "met": "✅ must", "must": "☑️ must only", "miss": "❌ miss"}
#: the row(s) each target line is judged on
GOAL_ROWS = {
    "reads": ["W1"],
    "writes": ["W2-set", "W2-set-leader", "W2-set-followers", "W2-seq"],
    "get_p50": ["W4-get-server-p50", "W4-get-leader-p50", "W4-get-follower-p50"],
    "failover": ["W5"],
    "startup": ["W6"],
    "mem_znode": ["MEM"],
    "mem_session": ["W7"],
}


def median(values: Sequence[float]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def row_stats(results: dict, key: str) -> dict:
    """Medians per implementation, the ratio zkpy/Java and the verdict."""
    row = ROW_BY_KEY[key]
    data = results["rows"].get(key, {})
    values = data.get("values", {})
    zkpy = median(values.get("zkpy", []))
    java = median(values.get("java", []))
    ratio = zkpy / java if zkpy is not None and java not in (None, 0) else None
    verdict = None
    if ratio is not None and row.goal:
        verdict = GOALS[row.goal].verdict(ratio, row.better)
    return {"zkpy": zkpy, "java": java, "ratio": ratio, "verdict": verdict,
            "runs": {impl: len(v) for impl, v in values.items()}, "errors": data.get("errors", {})}


def _fmt(row: RowDef, value: Optional[float]) -> str:
    return "—" if value is None else row.fmt.format(value)


def _limit(row: RowDef, which: str) -> str:
    if not row.goal:
        return ""
    limit = getattr(GOALS[row.goal], which)
    if limit is None:
        return ""
    return f"{'≥' if row.better == 'higher' else '≤'} {limit:g}"


def measured_keys(results: dict) -> list[str]:
    return [row.key for row in ROWS if row.key in results["rows"]]


def render_markdown(results: dict, chart_file: Optional[str], chart_note: str = "") -> str:
    meta = results["meta"]
    m = meta["machine"]
    lines = [f"# zkpy vs Java ZooKeeper 3.8 — benchmark ({meta['mode']})", ""]
    lines += [
        f"- Date: {meta['date']} (took {meta['duration_s'] / 60:.1f} min)",
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB RAM, Linux {m['kernel']}",
        f"- Python {m['python']} (zkpy {meta['zkpy_version']}, git {meta['git_rev']}); Java: {m['java']}",
        f"- Load average (1/5/15 min) before: {_load(meta['loadavg_before'])}, after: {_load(meta['loadavg_after'])}"
        + (f" — **{meta['load_note']}**" if meta.get("load_note") else ""),
        f"- Topology: **{meta['topology']}**. {meta['topology_note']}",
        f"- Runs: {meta['runs']} per row and implementation, interleaved zkpy, Java, zkpy, Java …; the table "
        f"shows medians. Pipelined rows: {meta['timing']['warmup']:g} s warm-up + {meta['timing']['seconds']:g} s "
        f"measured, {meta['total_depth']} requests outstanding in all (8 sessions × 32 unless the row says "
        f"otherwise), 2 generator processes; each long-lived server first gets "
        f"{meta['timing'].get('target_warmup', 0):g} s of unrecorded 90/10 load (JIT warm-up). "
        f"MEM: {meta['znodes']:,} znodes; W7: {meta['sessions']:,} sessions.",
        "- Both servers: zoo.cfg tickTime=2000, fsync on (forceSync default), maxClientCnxns=0, data in /tmp; "
        "Java with its default GC and JIT, -Xmx1000m (as upstream zkEnv.sh).",
    ]
    if meta.get("java_note"):
        lines.append(f"- Java ZooKeeper: {meta['java_note']}")
    if meta.get("extra_runs"):
        lines.append(f"- Added afterwards: {meta['extra_runs']}")
    lines += ["", "## Results", "",
              "Ratio = zkpy / Java. ↑ higher is better, ↓ lower is better. must / aim: the issue's target lines "
              "for that ratio.", "",
              "| row | workload | unit | zkpy | Java | zkpy/Java | must | aim | verdict |",
              "|---|---|---|---:|---:|---:|---|---|---|"]
    for key in measured_keys(results):
        row = ROW_BY_KEY[key]
        st = row_stats(results, key)
        arrow = "↑" if row.better == "higher" else "↓"
        ratio = "—" if st["ratio"] is None else f"{st['ratio']:.2f}"
        verdict = VERDICT_MARK.get(st["verdict"], "") if st["verdict"] else ""
        if st["errors"]:
            verdict = (verdict + " " if verdict else "") + "⚠ failed runs"
        lines.append(f"| {key} | {row.title} | {row.unit} {arrow} | {_fmt(row, st['zkpy'])} | "
                     f"{_fmt(row, st['java'])} | {ratio} | {_limit(row, 'must')} | {_limit(row, 'aim')} | {verdict} |")
    skipped = results.get("skipped", {})
    if skipped:
        lines += ["", "Not measured in this run: " + "; ".join(f"{k} ({why})" for k, why in skipped.items()) + "."]
    lines += ["", "## Target lines", ""]
    for which in ("must", "aim"):
        parts = []
        for goal_key, goal in GOALS.items():
            limit = getattr(goal, which)
            keys = [k for k in GOAL_ROWS[goal_key] if k in results["rows"]]
            if limit is None:
                parts.append(f"{goal.name}: (no {which} line)")
                continue
            better = ROW_BY_KEY[GOAL_ROWS[goal_key][0]].better
            ratios = [row_stats(results, k)["ratio"] for k in keys]
            ratios = [r for r in ratios if r is not None]
            sign = "≥" if better == "higher" else "≤"
            if not ratios:
                parts.append(f"{goal.name} {sign} {limit:g}: not measured")
                continue
            worst = min(ratios) if better == "higher" else max(ratios)
            ok = worst >= limit if better == "higher" else worst <= limit
            parts.append(f"{goal.name} {sign} {limit:g}: {worst:.2f} {'✅' if ok else '❌'}")
        lines.append(f"- **{'Must reach' if which == 'must' else 'Aim for'}** — " + " · ".join(parts))
    lines += ["", "(Each line takes the worst ratio among the rows of that kind.)", ""]
    if chart_file:
        lines += ["## Chart", "", f"![ratios zkpy/Java]({chart_file})", ""]
    elif chart_note:
        lines += ["## Chart", "", chart_note, ""]
    lines += _details(results)
    lines += _closing(results)
    return "\n".join(lines) + "\n"


def _load(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _details(results: dict) -> list[str]:
    lines = ["## Details", "",
             "Generator rows: every run's figure, latency percentiles of the median run, and what one "
             "operation cost in CPU — the generator's own (all its processes) and the server's (all its "
             "threads; `cores` = server CPU seconds per second of the window).", "",
             "| row | impl | runs | p50 ms | p99 ms | generator CPU µs/op | server CPU µs/op | server cores | errors |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    others = ["", "Other rows, every run's figure:", "", "| row | zkpy runs | Java runs |", "|---|---|---|"]
    shown: list = []
    for key in measured_keys(results):
        row = ROW_BY_KEY[key]
        data = results["rows"][key]
        is_load = any(d and "latency_ms" in d for ds in data.get("details", {}).values() for d in ds)
        if not is_load:
            runs = [", ".join(_fmt(row, v) for v in data.get("values", {}).get(impl, [])) or "—"
                    for impl in ("zkpy", "java")]
            others.append(f"| {key} | {runs[0]} | {runs[1]} |")
            continue
        if data.get("details") in shown:  # W4 p50/p99 and the curve's 8-connection points share runs
            continue
        shown.append(data.get("details"))
        for impl in ("zkpy", "java"):
            values = data.get("values", {}).get(impl)
            details = data.get("details", {}).get(impl)
            if not values:
                continue
            d = _median_run(values, details) or {}
            lat = d.get("latency_ms", {})
            title = key if not key.endswith("-p50") else key[: -len("-p50")]
            ops = ", ".join(f"{dd.get('ops_per_sec', 0):,.0f}" for dd in details)
            lines.append(
                f"| {title} | {impl} | {ops} ops/s | {lat.get('p50', float('nan')):.3f} | "
                f"{lat.get('p99', float('nan')):.3f} | {d.get('gen_cpu_us_per_op', '')} | "
                f"{d.get('server_cpu_us_per_op') or ''} | {d.get('server_cores', '')} | "
                f"{sum(dd.get('errors', 0) for dd in details if dd)} |")
    lines += others
    failures = [(key, impl, msg) for key in measured_keys(results)
                for impl, msgs in results["rows"][key].get("errors", {}).items() for msg in msgs]
    if failures:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {key} {impl}: {msg}" for key, impl, msg in failures]
    lines.append("")
    return lines


def _median_run(values, details) -> Optional[dict]:
    if not details:
        return None
    pairs = sorted(zip(values, range(len(values))))
    return details[pairs[len(pairs) // 2][1]]


def _closing(results: dict) -> list[str]:
    lines = ["## Closing note", ""]
    misses = []
    for key in measured_keys(results):
        row = ROW_BY_KEY[key]
        st = row_stats(results, key)
        if st["verdict"] in ("miss", "must"):
            goal = GOALS[row.goal]
            limit = goal.must if st["verdict"] == "miss" else goal.aim
            misses.append(f"{key} ({row.title}): {st['ratio']:.2f}, {'must' if st['verdict'] == 'miss' else 'aim'} "
                          f"{'≥' if row.better == 'higher' else '≤'} {limit:g}")
    if misses:
        lines += ["Figures that miss a line:", ""] + [f"- {m}" for m in misses] + [""]
    else:
        lines += ["No measured figure misses its lines.", ""]
    profile = results.get("profile")
    if profile:
        lines += ["### Where zkpy's time goes (py-spy, standalone server)", ""]
        if "error" in profile:
            lines += [f"No profile: {profile['error']}", ""]
        for key, summary in profile.items():
            if key == "error":
                continue
            if "error" in summary:
                lines += [f"{key}: no profile ({summary['error']})", ""]
                continue
            row_key, _, view = key.partition("/")
            what = ("only the thread holding the GIL" if view == "gil"
                    else "every thread that is not idle (a thread in a system call counts)")
            lines += [f"**{row_key}** ({ROW_BY_KEY[row_key].title}) — {what}; {summary['samples']} samples, "
                      f"{summary['ops_per_sec']:,.0f} ops/s while sampled.", ""]
            lines += ["Threads (share of these samples): "
                      + ", ".join(f"{name} {pct:.0f} %" for name, pct in summary["threads"]), ""]
            lines += ["| self % | function | | total % | function |", "|---:|---|---|---:|---|"]
            for (sf, sp), (tf, tp) in zip(summary["self"], summary["total"]):
                lines.append(f"| {sp:.1f} | `{sf}` | | {tp:.1f} | `{tf}` |")
            lines.append("")
    notes = results.get("notes")
    if notes:
        lines += [notes.strip(), ""]
    return lines


def render_chart(results: dict, path: str) -> str:
    """Write the PNG; return "" or a note saying why there is no chart."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("No chart: matplotlib is not installed (it is the optional `bench` extra: "
                "`pip install -e '.[bench]'`).")
    keys = [k for k in measured_keys(results) if row_stats(results, k)["ratio"] is not None]
    if not keys:
        return "No chart: no row has figures for both implementations."
    keys.reverse()  # first row on top
    colors = {"aim": "#2e7d32", "met": "#2e7d32", "must": "#f9a825", "miss": "#c62828", None: "#90a4ae"}
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(keys) + 1.6))
    ratios = [row_stats(results, k)["ratio"] for k in keys]
    bars = [colors[row_stats(results, k)["verdict"]] for k in keys]
    y = range(len(keys))
    ax.barh(list(y), ratios, color=bars, height=0.7)
    for i, key in enumerate(keys):
        row = ROW_BY_KEY[key]
        if row.goal:
            goal = GOALS[row.goal]
            ax.plot([goal.must, goal.must], [i - 0.4, i + 0.4], color="black", linewidth=1.5)
            if goal.aim is not None:
                ax.plot([goal.aim, goal.aim], [i - 0.4, i + 0.4], color="black", linewidth=1, linestyle=":")
        ax.text(ratios[i] * 1.04, i, f"{ratios[i]:.2f}", va="center", fontsize=7)
    labels = [f"{ROW_BY_KEY[k].title} {'↑' if ROW_BY_KEY[k].better == 'higher' else '↓'}" for k in keys]
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xscale("log")
    low = min(min(ratios), 0.05)
    high = max(max(ratios), 5.0)
    ax.set_xlim(low / 1.5, high * 1.8)
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel("zkpy / Java (log scale; ↑ rows: higher is better, ↓ rows: lower is better)")
    meta = results["meta"]
    ax.set_title(f"zkpy / Java ZooKeeper 3.8, {meta['topology']}, {meta['date'][:10]}\n"
                 "green: aim met, amber: only must met, red: must missed, grey: no target; "
                 "solid tick: must line, dotted: aim line", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return ""


def write_report(results: dict, report_path: str, chart_path: Optional[str]) -> None:
    chart_note = ""
    chart_ref = None
    if chart_path:
        chart_note = render_chart(results, chart_path)
        if not chart_note:
            chart_ref = os.path.relpath(chart_path, os.path.dirname(os.path.abspath(report_path)))
    text = render_markdown(results, chart_ref, chart_note)
    kept = kept_sections(report_path)
    with open(report_path, "w", encoding="utf-8") as f:
        f.write(text + "".join("\n" + block for block in kept))


_KEPT = re.compile(r"<!-- (?P<name>[\w-]+):begin.*?<!-- (?P=name):end -->\n?", re.S)


def kept_sections(report_path: str) -> list[str]:
    """The blocks other scripts wrote into the report between
    ``<!-- NAME:begin ... -->`` and ``<!-- NAME:end -->`` (e.g.
    ``bench/startup_time.py``): a re-render keeps them."""
    try:
        with open(report_path, encoding="utf-8") as f:
            old = f.read()
    except OSError:
        return []
    return [m.group(0) if m.group(0).endswith("\n") else m.group(0) + "\n" for m in _KEPT.finditer(old)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description="render a benchmark report")
    parser.add_argument("results", help="results.json written by python -m bench.run")
    parser.add_argument("report", help="the Markdown file to write")
    parser.add_argument("--chart", default=None, help="PNG path (default: beside the report)")
    parser.add_argument("--notes", default=None, help="a Markdown file for the closing note (replaces the stored one)")
    args = parser.parse_args(argv)
    with open(args.results, encoding="utf-8") as f:
        results = json.load(f)
    if args.notes:
        with open(args.notes, encoding="utf-8") as f:
            results["notes"] = f.read()
    chart = args.chart or os.path.splitext(args.report)[0] + ".png"
    write_report(results, args.report, chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
