"""Smoke run of the benchmark's load generator (bench/loadgen.py) against
a real zkpy server, so that ``make bench``'s machinery cannot rot: a couple
of seconds of pipelined load, any throughput, no errors."""

from __future__ import annotations

import pytest

from bench.loadgen import LoadSpec, Session, prepare, run_load
from bench.report import render_markdown
from bench.workloads import GOALS, ROWS
from zkpy.defs import OpCode
from zkpy.jute.records import GetChildrenRequest


@pytest.fixture(scope="module")
def servers(zk_server):
    servers = ((zk_server.host, zk_server.port),)
    prepare(servers)
    return servers


def test_pipelined_mix_reports_ops_and_no_errors(zk_server, servers):
    spec = LoadSpec(servers=servers, op="mix", procs=2, conns=2, depth=8, warmup=0.3, seconds=1.5)
    result = run_load(spec, [zk_server.pid])
    assert result.errors == 0, result.error_codes
    assert result.ops > 0
    assert result.ops_per_sec > 0
    lat = result.latencies_ms
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert result.gen_cpu_seconds > 0
    assert result.server_cpu_seconds is not None and result.server_cpu_seconds > 0


def test_fill_sends_exactly_total_ops(zk_server, servers):
    """total_ops is split over every session: the server ends up with
    exactly that many sequential znodes."""
    spec = LoadSpec(servers=servers, op="create_seq", procs=2, conns=3, depth=4, total_ops=301,
                    root="/smoke-fill")
    with Session(*servers[0]) as session:
        for path in ("/smoke-fill", "/smoke-fill/seq"):
            assert session.create(path) == 0
    result = run_load(spec)
    assert result.errors == 0, result.error_codes
    assert result.ops == 301
    with Session(*servers[0]) as session:
        err, body = session.call(OpCode.getChildren, GetChildrenRequest("/smoke-fill/seq", False).to_bytes())
    assert err == 0
    assert int.from_bytes(body[:4], "big") == 301  # the children vector's count


def test_report_renders_ratios_and_target_lines():
    results = {
        "meta": {"mode": "quick", "date": "2026-01-01 00:00 UTC", "duration_s": 60.0,
                 "machine": {"cores": 2, "cpu": "cpu", "memory_gib": 1.0, "kernel": "k", "python": "3",
                             "java": "17"},
                 "zkpy_version": "0", "git_rev": "abc", "loadavg_before": [0, 0, 0], "loadavg_after": [0, 0, 0],
                 "topology": "standalone", "topology_note": "", "runs": 3,
                 "timing": {"warmup": 1, "seconds": 5}, "total_depth": 256, "znodes": 10, "sessions": 10},
        "rows": {"W1": {"values": {"zkpy": [10.0, 30.0, 20.0], "java": [40.0, 40.0, 40.0]}, "details": {},
                        "errors": {}},
                 "W6": {"values": {"zkpy": [1.0], "java": [4.0]}, "details": {}, "errors": {}}},
        "skipped": {}, "profile": None, "notes": None,
    }
    text = render_markdown(results, None)
    w1 = next(line for line in text.splitlines() if line.startswith("| W1 |"))
    assert "| 20 | 40 | 0.50 |" in w1  # medians and their ratio
    assert "must only" in w1  # 0.5 meets the must line (≥ 0.5), not the aim (≥ 1.0)
    assert "reads ≥ 0.5: 0.50 ✅" in text and "reads ≥ 1: 0.50 ❌" in text
    assert "start-up ≤ 0.5: 0.25 ✅" in text
    assert {row.goal for row in ROWS if row.goal} == set(GOALS)


def test_the_in_process_write_path_timings_run():
    # bench.micro (NOTES.md's in-process figures), in a few hundred operations.
    import re
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-m", "bench.micro", "--number", "64", "--repeat", "1"],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    timings = dict(re.findall(r"^(.+?)\s+([\d.]+) µs$", out, re.M))
    assert {"jute: setData reply written", "Prep of a setData", "Final of a setData (apply, digest, reply)",
            "Zab: propose + 3 acks + commit", "learner: a buffered PROPOSAL parsed"} <= set(timings), out
    assert all(float(micros) > 0 for micros in timings.values())


def test_the_cpu_split_probe_runs_with_the_followers_niced():
    # bench.cpu_split (NOTES.md's per-process figures and its nice diagnostic), two short windows.
    import re
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-m", "bench.cpu_split", "--ensemble", "--via-leader", "--op", "set",
                          "--seconds", "1", "--rounds", "2", "--followers-nice", "5"],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert re.findall(r"^followers at nice (\d+):$", out, re.M) == ["0", "5"], out
    rates = [float(r.replace(",", "")) for r in re.findall(r"^set: ([\d,]+) ops/s", out, re.M)]
    assert len(rates) == 2 and all(rate > 0 for rate in rates), out
    roles = re.findall(r"^  \d+ (leader|follower) +user", out, re.M)
    assert sorted(roles) == ["follower"] * 4 + ["leader"] * 2, out


def test_an_idle_generator_session_pings_and_stays_alive(zk_server, servers):
    """A connection that finished its share of a fill waits for the others;
    the worker's ping check keeps the server from expiring its session
    meanwhile, and a busy connection is not pinged."""
    import time

    from bench.loadgen import _REPLY_HDR, PING_XID, _Conn, ping_idle

    spec = LoadSpec(servers=servers, op="get", procs=1, conns=1, depth=1, seconds=1.0)
    idle, busy = _Conn(*servers[0], spec, 0, None), _Conn(*servers[0], spec, 0, None)
    try:
        # The server's minimum is 2 ticks (400 ms): 800 ms is granted as asked.
        assert idle.handshake(800) == 800 and busy.handshake(800) == 800
        pings = 0
        deadline = time.monotonic() + 2.5  # three session timeouts
        while time.monotonic() < deadline:
            now = time.monotonic()
            busy.last_send = now  # as if it had just sent requests
            pings += ping_idle([idle, busy], now)
            time.sleep(0.05)  # the worker checks every timeout / 6
        assert pings >= 6  # one per third of the timeout, all for the idle session
        idle.sock.settimeout(5.0)
        idle.send(1, time.monotonic())
        replies = []
        buf = b""
        while not any(xid == 1 for xid, _err in replies):
            chunk = idle.sock.recv(65536)
            assert chunk, "the server closed the session's connection: it expired"
            buf += chunk
            while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                _length, xid, _zxid, err = _REPLY_HDR.unpack_from(buf, 0)
                replies.append((xid, err))
                buf = buf[4 + _length:]
        assert (1, 0) in replies  # the getData of the still-open session succeeded
        assert [xid for xid, _err in replies] == [PING_XID] * pings + [1]
    finally:
        idle.sock.close()
        busy.sock.close()


def test_the_levers_before_and_after_run():
    # bench.levers (NOTES.md's lever table), a few dozen operations each.
    import re
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-m", "bench.levers", "--number", "64", "--repeat", "1"],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    rows = {name.strip(): (float(without), float(with_))
            for name, without, with_ in re.findall(r"^(.+?)\s+([\d.]+)\s+([\d.]+)\s+\S+$", out, re.M)}
    assert len(rows) == 7, out
    assert all(without > 0 and with_ > 0 for without, with_ in rows.values()), out
    group = rows["group commit: one fsync per 64 txns vs one per txn"]
    assert group[1] < group[0], out  # one fsync for 64 txns costs each txn less than its own fsync
    slots = rows["DataNode with __slots__ vs with a __dict__"]
    assert slots[1] < slots[0], out
