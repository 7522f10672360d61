"""multi / multiRead request and response bodies.

Java: ``org.apache.zookeeper.MultiOperationRecord`` and ``MultiResponse``
(ZK_SPEC.md §2.6): (MultiHeader, record) pairs closed by a header with
``done`` set; no leading count.
"""

from __future__ import annotations

from ..defs import OpCode
from .archive import InputArchive, JuteError, OutputArchive
from .records import (
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTTLRequest,
    DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, SetDataRequest, SetDataResponse,
)

#: The request record that follows a sub-op's header, by op type.
MULTI_REQUEST_RECORDS = {
    OpCode.create: CreateRequest,
    OpCode.create2: CreateRequest,
    OpCode.createContainer: CreateRequest,
    OpCode.createTTL: CreateTTLRequest,
    OpCode.delete: DeleteRequest,
    OpCode.setData: SetDataRequest,
    OpCode.check: CheckVersionRequest,
    OpCode.getData: GetDataRequest,
    OpCode.getChildren: GetChildrenRequest,
}

#: The response body that follows a result's header, by result type.
MULTI_RESPONSE_RECORDS = {
    OpCode.create: CreateResponse,
    OpCode.create2: Create2Response,
    OpCode.delete: None,
    OpCode.check: None,
    OpCode.setData: SetDataResponse,
    OpCode.getData: GetDataResponse,
    OpCode.getChildren: GetChildrenResponse,
    OpCode.error: ErrorResponse,
}

_END = MultiHeader(-1, True, -1)


def read_multi_request(inp: InputArchive) -> list[tuple[int, object]]:
    ops: list[tuple[int, object]] = []
    while True:
        header = MultiHeader.deserialize(inp)
        if header.done:
            return ops
        cls = MULTI_REQUEST_RECORDS.get(header.type)
        if cls is None:
            raise JuteError(f"Invalid type of op: {header.type}")
        ops.append((header.type, cls.deserialize(inp)))


def write_multi_request(out: OutputArchive, ops: list[tuple[int, object]]) -> None:
    for op_type, record in ops:
        MultiHeader(op_type, False, -1).serialize(out)
        record.serialize(out)
    _END.serialize(out)


def write_multi_response(out: OutputArchive, results: list[tuple[int, int, object | None]]) -> None:
    """``results``: (type, err, body) per op; body None where the type has none."""
    for op_type, err, body in results:
        MultiHeader(op_type, False, err).serialize(out)
        if body is not None:
            body.serialize(out)
    _END.serialize(out)


def read_multi_response(inp: InputArchive) -> list[tuple[int, int, object | None]]:
    results: list[tuple[int, int, object | None]] = []
    while True:
        header = MultiHeader.deserialize(inp)
        if header.done:
            return results
        if header.type not in MULTI_RESPONSE_RECORDS:
            raise JuteError(f"Invalid type {header.type} in MultiResponse")
        cls = MULTI_RESPONSE_RECORDS[header.type]
        results.append((header.type, header.err, cls.deserialize(inp) if cls is not None else None))
