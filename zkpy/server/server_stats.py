"""Server-wide counters for srvr/stat/mntr.

Java: ``org.apache.zookeeper.server.ServerStats`` (with its
``AvgMinMaxCounter`` request latency and ``BufferStats`` client response
sizes). ``reset()`` is what ``srst`` does: latency, packet counts and
response sizes start again; the auth-failure count and the uptime do not.
Latencies are in milliseconds; the uptime is measured from construction,
as Java's ``startTime``.
"""

from __future__ import annotations

import math
import threading
import time
from decimal import ROUND_HALF_UP, Decimal

_FOUR_PLACES = Decimal("0.0001")


class ServerStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self.auth_failed_count = 0  # Java counts only Netty TLS failures; NIO keeps 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.packets_received = 0
            self.packets_sent = 0
            self.min_latency = None
            self.max_latency = 0
            self.total_latency = 0
            self.count = 0
            # BufferStats: -1 until the first response.
            self.last_client_response_size = -1
            self.min_client_response_size = -1
            self.max_client_response_size = -1

    def packet_received(self) -> None:
        self.packets_received += 1

    def packet_sent(self) -> None:
        self.packets_sent += 1

    def record_latency(self, ms: int) -> None:
        if ms < 0:
            return
        with self._lock:
            if self.min_latency is None or ms < self.min_latency:
                self.min_latency = ms
            if ms > self.max_latency:
                self.max_latency = ms
            self.total_latency += ms
            self.count += 1

    def update_client_response_size(self, size: int) -> None:
        """One reply of ``size`` bytes (its length prefix not counted)."""
        with self._lock:
            self.last_client_response_size = size
            if self.min_client_response_size == -1 or size < self.min_client_response_size:
                self.min_client_response_size = size
            if size > self.max_client_response_size:
                self.max_client_response_size = size

    @property
    def avg_latency(self) -> float:
        """Java's AvgMinMaxCounter.getAvg: rounded half-up to 4 places."""
        if not self.count:
            return 0.0
        avg = Decimal(self.total_latency / self.count).quantize(_FOUR_PLACES, ROUND_HALF_UP)
        return float(avg)

    @property
    def uptime_ms(self) -> int:
        return int((time.monotonic() - self._start) * 1000)

    def latency_text(self) -> str:
        """``min/avg/max`` as srvr prints it (avg as a Java double)."""
        return f"{self.min_latency or 0}/{java_double(self.avg_latency)}/{self.max_latency}"


def java_double(value: float) -> str:
    """``Double.toString``: ``0.0``, ``58.25``, ``1.0E7``, ``1.0E-4``."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    # Shortest round-trip digits (repr's), in Java's computerized notation.
    d = Decimal(repr(value)).normalize()
    digits = "".join(map(str, d.as_tuple().digits))
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{d.adjusted()}"
