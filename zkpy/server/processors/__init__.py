"""Request processors (Java: ``org.apache.zookeeper.server.*RequestProcessor``).

A processor has ``process_request(request)`` and ``shutdown()``; the
threaded ones (``QueuedProcessor``) hand requests to their own thread
through a ``queue.SimpleQueue``.
"""

from .base import QueuedProcessor, RequestProcessor

__all__ = ["QueuedProcessor", "RequestProcessor"]
