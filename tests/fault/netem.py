"""``tc netem`` delay and loss on the loopback traffic of an ensemble's peers.

Not a ZooKeeper class; Jepsen's ``net/slow!`` and ``net/flaky!`` are the
model. Peers of a :class:`~zkpy.testing.TestingCluster` talk over ``lo``,
so the impairment is a ``prio`` qdisc on ``lo`` with a fourth band behind a
``netem`` qdisc, and u32 filters steering into that band only the packets
to or from the peers' quorum and election ports (every port in any peer's
zoo.cfg ``server.N`` lines: the peers' own and, with a partitionable
cluster, the proxies'). Client traffic and every other process on the
machine (other tests) are left alone.

Needs root, ``tc`` and a kernel with the ``prio``/``netem`` qdiscs and the
``u32`` classifier: :func:`unavailable_reason` probes them once, in a
private network namespace (``unshare -n``) so the probe touches nothing
shared; callers skip with its answer. It also refuses when ``lo`` already
has a root qdisc of its own (someone else's), rather than replace it.
A test process killed while netem is on leaves it there (for those ports
only): ``tc qdisc del dev lo root`` removes it. Where netem cannot run,
the proxies' impairments
(:meth:`zkpy.testing_network.PeerNetwork.impair`, the nemesis's ``slow``
fault) give the same kind of delay and stall without root.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from typing import Iterable, Optional

LOG = logging.getLogger(__name__)

__all__ = ["unavailable_reason", "Netem", "peer_ports"]

DEV = "lo"
_reason: Optional[str] = None


def _tc(*args: str, check: bool = True, unshare: bool = False) -> subprocess.CompletedProcess:
    cmd = (["unshare", "-n"] if unshare else []) + ["tc", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip() or result.returncode}")
    return result


def unavailable_reason() -> str:
    """'' when netem can impair ``lo`` here, else why not (probed once)."""
    global _reason
    if _reason is None:
        _reason = _probe()
    return _reason


def _probe() -> str:
    if os.geteuid() != 0:
        return "tc netem needs root"
    if shutil.which("tc") is None:
        return "tc (iproute2) is not installed"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed, to probe tc in a private network namespace"
    script = ("ip link set lo up && tc qdisc add dev lo root handle 1: prio bands 4 && "
              "tc qdisc add dev lo parent 1:4 handle 40: netem delay 1ms loss 1% && "
              "tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip dport 9 0xffff flowid 1:4")
    try:
        probe = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"could not probe tc netem: {e!r}"
    if probe.returncode != 0:
        return f"this kernel or container cannot run tc netem on lo ({probe.stderr.strip()[:200]!r})"
    root = _tc("qdisc", "show", "dev", DEV, check=False).stdout
    if root.strip() and not re.match(r"qdisc (noqueue|pfifo_fast|fq_codel|mq) 0: root", root.strip()):
        return f"lo already has a root qdisc of its own, left alone: {root.strip()[:120]!r}"
    return ""


def peer_ports(config_paths: Iterable[str]) -> list[int]:
    """Every quorum and election port named by ``server.N`` lines."""
    ports: set[int] = set()
    for path in config_paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and key.startswith("server."):
                    # zoo.cfg is a Java properties file: ':' may be written '\:'.
                    address = value.replace("\\", "").split(";")[0].split(":")
                    ports.update(int(p) for p in address[1:3] if p.isdigit())
    return sorted(ports)


class Netem:
    """Delay/loss on ``lo`` for packets to or from ``ports``; :meth:`clear` undoes it."""

    def __init__(self, ports: Iterable[int]):
        self.ports = sorted(set(ports))
        self.active = False

    def apply(self, delay_ms: float, jitter_ms: float = 0.0, loss_pct: float = 0.0) -> str:
        """Install (or change) the impairment; returns its description."""
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        netem = ["delay", f"{delay_ms:.0f}ms"] + ([f"{jitter_ms:.0f}ms"] if jitter_ms else []) + \
                (["loss", f"{loss_pct:.1f}%"] if loss_pct else [])
        if self.active:
            _tc("qdisc", "change", "dev", DEV, "parent", "1:4", "handle", "40:", "netem", *netem)
        else:
            _tc("qdisc", "add", "dev", DEV, "root", "handle", "1:", "prio", "bands", "4")
            self.active = True
            try:
                _tc("qdisc", "add", "dev", DEV, "parent", "1:4", "handle", "40:", "netem", *netem)
                for port in self.ports:
                    for field in ("dport", "sport"):
                        _tc("filter", "add", "dev", DEV, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                            "match", "ip", field, str(port), "0xffff", "flowid", "1:4")
            except Exception:
                self.clear()
                raise
        what = " ".join(netem)
        LOG.info("netem on %s for ports %s: %s", DEV, self.ports, what)
        return what

    def clear(self) -> None:
        if self.active:
            # Deleting the root qdisc takes the netem band and the filters with it.
            _tc("qdisc", "del", "dev", DEV, "root", check=False)
            self.active = False
            LOG.info("netem on %s removed", DEV)
