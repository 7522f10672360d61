"""ZooKeeper 3.5+ operations kazoo does not have, sent through a KazooClient.

kazoo (2.11) speaks the 3.4 API: no TTL or container nodes, no addWatch,
removeWatches, checkWatches, getEphemerals, getAllChildrenNumber, whoAmI or
multiRead, and its ``transaction()`` cannot parse create2 results. Its
connection, however, sends any request object that has a ``type``, a
``serialize()`` and a ``deserialize(buffer, offset)`` (``KazooClient._call``),
so these records ride on a normal kazoo session: same socket, same xids,
same error mapping (errors arrive as kazoo exceptions).

Watch events of persistent watches do not reach kazoo's callbacks (kazoo
looks up one-shot watchers by path); tests that need them read the wire
with ``tests/integration/wire.py``.
"""

from __future__ import annotations

import struct
from collections import namedtuple

from kazoo.exceptions import EXCEPTIONS
from kazoo.protocol.serialization import (
    CheckVersion, Create, Create2, Delete, SetData, int_struct, multiheader_struct, read_buffer,
    read_string, stat_struct, write_buffer, write_string,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

__all__ = [
    "CheckVersion", "Create", "Create2", "Delete", "SetData", "CreateTTL", "CreateContainer", "GetDataOp",
    "GetChildrenOp", "call", "create_ttl", "create_container", "create2", "multi", "multi_read",
    "add_watch", "remove_watches", "check_watches", "get_ephemerals", "get_all_children_number",
    "whoami", "CONTAINER", "PERSISTENT_WITH_TTL", "PERSISTENT_SEQUENTIAL_WITH_TTL",
]

_long = struct.Struct("!q")

CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6


def _write_acls(acls) -> bytes:
    b = bytearray(int_struct.pack(len(acls)))
    for acl in acls:
        b += int_struct.pack(acl.perms) + write_string(acl.id.scheme) + write_string(acl.id.id)
    return bytes(b)


def _read_stat(buf, offset):
    return ZnodeStat._make(stat_struct.unpack_from(buf, offset)), offset + stat_struct.size


def _read_strings(buf, offset):
    count = int_struct.unpack_from(buf, offset)[0]
    offset += int_struct.size
    out = []
    for _ in range(max(count, 0)):
        s, offset = read_string(buf, offset)
        out.append(s)
    return out, offset


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """CreateTTLRequest (op 21); answered with Create2Response."""

    type = 21

    def serialize(self):
        return (write_string(self.path) + write_buffer(self.data) + _write_acls(self.acl)
                + int_struct.pack(self.flags) + _long.pack(self.ttl))

    @classmethod
    def deserialize(cls, buf, offset):
        path, offset = read_string(buf, offset)
        stat, _ = _read_stat(buf, offset)
        return path, stat


class CreateContainer(Create2):
    """CreateRequest with flags 4 sent as op 19, as the Java client does."""

    type = 19


class GetDataOp(namedtuple("GetDataOp", "path")):
    """A getData inside multiRead (the watch flag is always false)."""

    type = 4

    def serialize(self):
        return write_string(self.path) + b"\x00"


class GetChildrenOp(namedtuple("GetChildrenOp", "path")):
    type = 8

    def serialize(self):
        return write_string(self.path) + b"\x00"


class _Multi(namedtuple("_Multi", "operations")):
    """multi (14) or multiRead (22); results parsed by each result's type."""

    type = 14

    def serialize(self):
        b = bytearray()
        for op in self.operations:
            b += multiheader_struct.pack(op.type, False, -1) + op.serialize()
        return b + multiheader_struct.pack(-1, True, -1)

    @classmethod
    def deserialize(cls, buf, offset):
        results = []
        while True:
            op_type, done, err = multiheader_struct.unpack_from(buf, offset)
            offset += multiheader_struct.size
            if done:
                return results
            if op_type == 1:
                result, offset = read_string(buf, offset)
            elif op_type == 15:
                path, offset = read_string(buf, offset)
                stat, offset = _read_stat(buf, offset)
                result = (path, stat)
            elif op_type in (2, 13):
                result = True
            elif op_type == 5:
                result, offset = _read_stat(buf, offset)
            elif op_type == 4:
                data, offset = read_buffer(buf, offset)
                stat, offset = _read_stat(buf, offset)
                result = (data, stat)
            elif op_type == 8:
                result, offset = _read_strings(buf, offset)
            elif op_type == -1:
                code = int_struct.unpack_from(buf, offset)[0]
                offset += int_struct.size
                result = EXCEPTIONS[code]()
            else:
                raise ValueError(f"unexpected multi result type {op_type}")
            results.append(result)


class _MultiRead(_Multi):
    type = 22


class _AddWatch(namedtuple("_AddWatch", "path mode")):
    type = 106

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buf, offset):
        return int_struct.unpack_from(buf, offset)[0]


class _PathType(namedtuple("_PathType", "path watcher_type")):
    """CheckWatchesRequest / RemoveWatchesRequest: no response body."""

    type = 17

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.watcher_type)

    @classmethod
    def deserialize(cls, buf, offset):
        return True


class _RemoveWatches(_PathType):
    type = 18


class _GetEphemerals(namedtuple("_GetEphemerals", "prefix")):
    type = 103

    def serialize(self):
        return write_string(self.prefix)

    @classmethod
    def deserialize(cls, buf, offset):
        return _read_strings(buf, offset)[0]


class _GetAllChildrenNumber(namedtuple("_GetAllChildrenNumber", "path")):
    type = 104

    def serialize(self):
        return write_string(self.path)

    @classmethod
    def deserialize(cls, buf, offset):
        return int_struct.unpack_from(buf, offset)[0]


class _WhoAmI(namedtuple("_WhoAmI", "")):
    type = 107

    def __bool__(self):  # kazoo only completes requests that are truthy
        return True

    def serialize(self):
        return b""

    @classmethod
    def deserialize(cls, buf, offset):
        count = int_struct.unpack_from(buf, offset)[0]
        offset += int_struct.size
        out = []
        for _ in range(count):
            scheme, offset = read_string(buf, offset)
            user, offset = read_string(buf, offset)
            out.append((scheme, user))
        return out


def call(zk, request, timeout: float = 10.0):
    """Send ``request`` on kazoo client ``zk``; its result or its exception."""
    result = zk.handler.async_result()
    zk._call(request, result)
    return result.get(timeout=timeout)


def create_ttl(zk, path, data=b"", ttl=1000, *, sequence=False, acl=None):
    """createTTL: returns (path, Stat)."""
    flags = PERSISTENT_SEQUENTIAL_WITH_TTL if sequence else PERSISTENT_WITH_TTL
    return call(zk, CreateTTL(path, data, OPEN_ACL_UNSAFE if acl is None else acl, flags, ttl))


def create_container(zk, path, data=b"", *, acl=None):
    """createContainer: returns (path, Stat)."""
    return call(zk, CreateContainer(path, data, OPEN_ACL_UNSAFE if acl is None else acl, CONTAINER))


def create2(zk, path, data=b"", flags=0, *, acl=None):
    """create2 with raw CreateMode flags: returns (path, Stat)."""
    return call(zk, Create2(path, data, OPEN_ACL_UNSAFE if acl is None else acl, flags))


def multi(zk, *ops):
    """multi: one result per op (an exception instance for failed ops)."""
    return call(zk, _Multi(list(ops)))


def multi_read(zk, *ops):
    """multiRead of GetDataOp/GetChildrenOp: (data, Stat), [children] or an exception instance."""
    return call(zk, _MultiRead(list(ops)))


def add_watch(zk, path, recursive=False):
    return call(zk, _AddWatch(path, 1 if recursive else 0))


def check_watches(zk, path, watcher_type=3):
    """watcher_type: 1 children, 2 data, 3 any."""
    return call(zk, _PathType(path, watcher_type))


def remove_watches(zk, path, watcher_type=3):
    return call(zk, _RemoveWatches(path, watcher_type))


def get_ephemerals(zk, prefix="/"):
    return call(zk, _GetEphemerals(prefix))


def get_all_children_number(zk, path):
    return call(zk, _GetAllChildrenNumber(path))


def whoami(zk):
    """whoAmI: [(scheme, user), ...]."""
    return call(zk, _WhoAmI())
