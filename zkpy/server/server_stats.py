"""Server-wide counters for srvr/stat/mntr.

Java: ``org.apache.zookeeper.server.ServerStats``.
"""

from __future__ import annotations

import threading


class ServerStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.packets_received = 0
            self.packets_sent = 0
            self.min_latency = None
            self.max_latency = 0
            self.total_latency = 0
            self.count = 0

    def packet_received(self) -> None:
        self.packets_received += 1

    def packet_sent(self) -> None:
        self.packets_sent += 1

    def record_latency(self, ms: int) -> None:
        with self._lock:
            if self.min_latency is None or ms < self.min_latency:
                self.min_latency = ms
            if ms > self.max_latency:
                self.max_latency = ms
            self.total_latency += ms
            self.count += 1

    @property
    def avg_latency(self) -> float:
        return self.total_latency / self.count if self.count else 0.0

    def latency_text(self) -> str:
        """``min/avg/max`` as srvr prints it (avg as a Java double)."""
        avg = self.avg_latency
        return f"{self.min_latency or 0}/{_java_double(avg)}/{self.max_latency}"


def _java_double(value: float) -> str:
    text = repr(round(value, 4))
    return text if "." in text or "e" in text else text + ".0"
