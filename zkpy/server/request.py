"""A client request on its way through the processor chain.

Java: ``org.apache.zookeeper.server.Request``. Prep fills ``hdr``/``txn``
for writes (an ErrorTxn when validation fails); Final applies it and replies.
"""

from __future__ import annotations

import time

from ..defs import WRITE_OPS


class Request:
    __slots__ = (
        "cnxn", "session_id", "cxid", "type", "payload", "auth_info", "owner",
        "hdr", "txn", "digest", "zxid", "create_time", "exception", "is_local_session",
        "txn_bytes",
    )

    def __init__(self, cnxn, session_id: int, cxid: int, type: int, payload: bytes | memoryview | None,
                 auth_info=None, owner=None):
        self.cnxn = cnxn
        self.session_id = session_id
        self.cxid = cxid
        self.type = type
        self.payload = payload  # the request record's bytes, after the RequestHeader
        self.auth_info = auth_info if auth_info is not None else []
        self.owner = owner
        self.hdr = None
        self.txn = None
        self.digest = None
        self.zxid = -1
        self.create_time = time.monotonic()
        self.exception = None
        self.is_local_session = False
        self.txn_bytes: bytes | None = None  # the serialized txn, once logged

    def is_write(self) -> bool:
        return self.type in WRITE_OPS

    def __repr__(self) -> str:
        return (f"Request(session=0x{self.session_id & ((1 << 64) - 1):x}, cxid={self.cxid}, "
                f"type={self.type}, zxid=0x{self.zxid & ((1 << 64) - 1):x})")


#: Put on a processor's queue to make its thread finish (Java: Request.requestOfDeath).
REQUEST_OF_DEATH = Request(None, 0, 0, 0, None)
