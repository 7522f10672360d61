"""One fault-tier run: workloads + nemesis, then the checks and a summary.

``run()`` starts the workloads' clients, lets the nemesis loose for
``duration`` seconds, heals everything, lets the clients go on for
``settle`` seconds on the healed servers (each workload must complete ops
then: the system came back), stops them and checks each workload against
every live replica. The summary -- ops ok / failed / indeterminate per
workload, the faults injected, each checker's verdict -- is printed and
kept in :data:`REPORTS`, which tests/fault/conftest.py prints at the end
of the session.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Optional, Sequence

from .nemesis import Nemesis
from .workloads import Workload, WorkloadResult, _close, kazoo_client, new_client

LOG = logging.getLogger(__name__)

__all__ = ["RunReport", "run", "REPORTS", "assert_check_notices_a_lost_node"]

#: Every report of this session, for the terminal summary.
REPORTS: list["RunReport"] = []


@dataclasses.dataclass
class RunReport:
    name: str
    duration: float
    results: list[WorkloadResult]
    nemesis_line: str
    nemesis_errors: list[str]
    #: Where the histories of a failed run were saved.
    artifacts: Optional[str] = None

    @property
    def valid(self) -> bool:
        return all(r.valid is True for r in self.results)

    def text(self) -> str:
        lines = [f"[{self.name}] {self.duration:.0f} s; {self.nemesis_line}"]
        for result in self.results:
            lines.append(f"  {result.line()}")
            lines.extend(f"    ! {d}" for d in result.details[:10])
        lines.extend(f"  nemesis: {e}" for e in self.nemesis_errors[:10])
        if self.artifacts:
            lines.append(f"  histories and faults saved in {self.artifacts}")
        return "\n".join(lines)

    def assert_ok(self) -> None:
        problems = [r for r in self.results if r.valid is not True]
        assert not problems, f"checker verdicts:\n{self.text()}"
        idle = [r.name for r in self.results if r.ok_after_heal == 0]
        assert not idle, f"no ok operation after the faults were healed for {idle}:\n{self.text()}"
        assert all(r.ok > 0 for r in self.results), self.text()


def run(name: str, target, workloads: Sequence[Workload], nemesis: Optional[Nemesis], duration: float,
        settle: float = 3.0, artifacts_dir: Optional[str] = None) -> RunReport:
    """One run (see the module docstring). When a check fails, the histories
    and the fault timeline are written to ``artifacts_dir`` (default: the
    target's temp dir, next to the servers' logs) for a post-mortem."""
    if artifacts_dir is None:
        artifacts_dir = getattr(getattr(target, "server", None) or getattr(target, "cluster", None), "temp_dir", None)
    admin = new_client(target.connect_string)
    try:
        for workload in workloads:
            workload.start(admin)
    finally:
        _close(admin)
    start = time.monotonic()
    try:
        if nemesis is not None:
            nemesis.run(duration)
            healed = nemesis.healed_at
        else:
            time.sleep(duration)
            healed = time.monotonic()
        for workload in workloads:
            workload.heal_time = healed
        time.sleep(settle)
    except BaseException:
        # The servers did not come back: keep the histories and the faults
        # for the post-mortem (conftest copies them with the peers' logs).
        for workload in workloads:
            workload.stop()
        if artifacts_dir is not None:
            try:
                LOG.info("histories saved in %s", _save(artifacts_dir, target, workloads, nemesis))
            except Exception:  # noqa: BLE001 - the original failure matters more
                LOG.exception("could not save the histories")
        raise
    finally:
        for workload in workloads:
            workload.stop()
    readers = {}
    try:
        for replica, hosts in target.replicas().items():
            readers[replica] = new_client(hosts)
        results = [workload.check(readers) for workload in workloads]
    finally:
        for reader in readers.values():
            _close(reader)
    report = RunReport(name, time.monotonic() - start, results,
                       nemesis.line() if nemesis is not None else "no nemesis",
                       list(nemesis.errors) if nemesis is not None else [])
    if not report.valid and artifacts_dir is not None:
        report.artifacts = _save(artifacts_dir, target, workloads, nemesis)
    REPORTS.append(report)
    print(report.text())
    LOG.info("fault run finished:\n%s", report.text())
    return report


def assert_check_notices_a_lost_node(workload: Workload, target) -> None:
    """Delete one acknowledged node of a set or sequential workload behind
    its back: its check, run again on every replica, must fail naming it
    (the check can fail; a passing run means something)."""
    acked = [op for op in workload.history if op.status == "ok"]
    victim = acked[len(acked) // 2]
    if workload.name == "set":
        child, name = victim.key, victim.key
    else:
        child, name = f"s-{victim.output:010d}", str(victim.output)
    with kazoo_client(target.connect_string) as zk:
        zk.delete(f"{workload.root}/{child}")
    readers = {}
    try:
        for replica, hosts in target.replicas().items():
            readers[replica] = new_client(hosts)
        result = workload.check(readers)
    finally:
        for reader in readers.values():
            _close(reader)
    assert result.valid is False, result
    assert sum(name in d for d in result.details) == len(readers), result.details


def _save(directory: str, target, workloads: Sequence[Workload], nemesis: Optional[Nemesis]) -> str:
    """The replicas, the faults and each workload's history, one JSON object per line."""
    path = os.path.join(directory, "fault-run.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"replicas": target.replicas()}) + "\n")
        if nemesis is not None:
            for fault in nemesis.faults:
                f.write(json.dumps({"fault": fault.kind, "target": str(fault.target), "start": fault.start,
                                    "end": fault.end, "note": fault.note}) + "\n")
            f.write(json.dumps({"healed": nemesis.healed_at}) + "\n")
        for workload in workloads:
            for op in workload.history:
                f.write(json.dumps({"workload": workload.name, **dataclasses.asdict(op)}, default=repr) + "\n")
    return path
