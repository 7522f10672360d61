"""Where a zkpy server spends its time under W1 and W2: py-spy, sampled.

Stands for no Java class. py-spy (a sampling profiler, not a dependency of
zkpy: ``pip install py-spy``) attaches to the server process of a fresh
standalone zkpy target while the generator runs W1 (getData) and W2
(setData), and records collapsed stacks of every thread that is not idle.
They are summed per function (file and name, line numbers dropped): *self*
(the function on top of the stack) and *total* (anywhere in the stack),
and per thread. cProfile is no substitute: it sees only the thread that
started it, and the server's work happens in its other threads.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Optional

from bench.targets import StandaloneTarget
from bench.workloads import Timing, prepare_target, run_spec

LOG = logging.getLogger(__name__)

_FRAME_LINE = re.compile(r":\d+\)$")


def py_spy_path() -> Optional[str]:
    """py-spy next to this interpreter (the venv) or on PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("py-spy")


def _function(frame: str) -> str:
    """``name (path/file.py:123)`` -> ``name (file.py)``."""
    frame = _FRAME_LINE.sub(")", frame.strip())
    name, _, where = frame.partition(" (")
    if where:
        where = where.rstrip(")")
        parts = where.split("/")
        # keep the package-relative tail: zkpy/server/x.py, not the venv path
        if "zkpy" in parts:
            where = "/".join(parts[len(parts) - 1 - parts[::-1].index("zkpy"):])
        else:
            where = parts[-1]
        return f"{name} ({where})"
    return name


def summarize(raw: str, top: int = 15) -> dict:
    """Collapsed stacks (``thread (tid): name;frame;frame count`` lines)
    -> samples, top self and total functions, per-thread shares."""
    self_counts: collections.Counter = collections.Counter()
    total_counts: collections.Counter = collections.Counter()
    threads: collections.Counter = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames and frames[0].startswith("thread ("):
            thread = frames[0].split(": ", 1)[-1] if ": " in frames[0] else frames[0]
            threads[re.sub(r"-\d+$", "-N", thread)] += n
            frames = frames[1:]
        if not frames:
            continue
        samples += n
        functions = [_function(f) for f in frames]
        self_counts[functions[-1]] += n
        for fn in set(functions):
            total_counts[fn] += n

    def share(counter: collections.Counter) -> list[tuple[str, float]]:
        return [(fn, 100.0 * c / samples) for fn, c in counter.most_common(top)] if samples else []

    return {"samples": samples, "self": share(self_counts), "total": share(total_counts),
            "threads": share(threads)}


def profile_zkpy(timing: Timing, rate: int = 200) -> dict:
    """{workload: summary} for W1 and W2-set on a fresh standalone zkpy
    server, each sampled twice: every busy thread, then (``/gil``) only
    the thread holding the GIL — where the interpreter's one core goes.
    {"error": why} when py-spy is missing or fails."""
    spy = py_spy_path()
    if spy is None:
        return {"error": "py-spy is not installed (pip install py-spy into the venv)"}
    out: dict = {}
    target = StandaloneTarget("zkpy")
    try:
        target.start()
        prepare_target(target)
        pid = target.pids()[0]
        for key, op, gil in (("W1", "get", False), ("W1", "get", True), ("W2-set", "set", False),
                             ("W2-set", "set", True)):
            with tempfile.NamedTemporaryFile(prefix="zkpy-pyspy-", suffix=".txt", delete=False) as f:
                raw_path = f.name
            duration = max(1, int(timing.warmup + timing.seconds))
            spy_proc = subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--duration", str(duration), "--rate", str(rate),
                 "--format", "raw", "--output", raw_path, "--nonblocking", "--threads",
                 *(["--gil"] if gil else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                result = run_spec(target, op, "all", 8, None, timing)
                _, err = spy_proc.communicate(timeout=duration + 60)
            finally:
                if spy_proc.poll() is None:
                    spy_proc.kill()
                    spy_proc.wait()
            try:
                with open(raw_path, encoding="utf-8", errors="replace") as f:
                    raw = f.read()
            finally:
                os.unlink(raw_path)
            name = key + ("/gil" if gil else "")
            if spy_proc.returncode != 0 or not raw:
                out[name] = {"error": f"py-spy failed ({spy_proc.returncode}): {err.strip()[-300:]}"}
                continue
            summary = summarize(raw)
            summary["ops_per_sec"] = round(result.ops_per_sec, 1)
            summary["gil"] = gil
            out[name] = summary
    except Exception as e:  # noqa: BLE001 - the profile is an extra; the report says what failed
        LOG.exception("profiling zkpy failed")
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        target.close()
    return out


def main(argv=None) -> int:
    """Profile again and store it in a results.json (then re-render the
    report with ``python -m bench.report``)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=main.__doc__.splitlines()[0])
    parser.add_argument("results", help="results.json to update")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with open(args.results, encoding="utf-8") as f:
        results = json.load(f)
    timing = Timing(**{k: results["meta"]["timing"][k] for k in ("warmup", "seconds")})
    results["profile"] = profile_zkpy(timing)
    with open(args.results, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
