"""The operations of a multi, their results, and the Transaction builder.

Java: ``org.apache.zookeeper.Op``, ``OpResult`` and ``Transaction``. An
:class:`Op` is one sub-operation (create, delete, set_data, check for a
transaction; get_data, get_children for a read multi); ``to_request(chroot)``
gives the wire record. Results are plain frozen dataclasses:
:class:`CreateResult`, :class:`DeleteResult`, :class:`SetDataResult`,
:class:`CheckResult`, :class:`GetDataResult`, :class:`GetChildrenResult` and
:class:`ErrorResult`.

Different on purpose: a create result's path has the chroot removed (Java
returns the server's path there, unlike ``create``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

from ..defs import MAX_TTL, CreateMode, OpCode, op_name
from ..errors import Code, InvalidACLException
from ..jute.records import (
    ACL, OPEN_ACL_UNSAFE, CheckVersionRequest, CreateRequest, CreateTTLRequest, DeleteRequest,
    GetChildrenRequest, GetDataRequest, SetDataRequest, Stat,
)
from ..paths import path_error

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import Future

    from .zookeeper import ZooKeeper


class OpKind(enum.Enum):
    TRANSACTION = "transaction"
    READ = "read"


def validate_path(path: str, is_sequential: bool = False) -> None:
    """Java's client-side ``PathUtils.validatePath``: ValueError (Java's
    IllegalArgumentException) for a malformed path."""
    if not isinstance(path, str):
        raise ValueError(f"Path must be a string, not {type(path).__name__}")
    reason = path_error(path, is_sequential)
    if reason is not None:
        raise ValueError(reason)


def validate_acl(acl) -> None:
    """An empty or None ACL list is refused before it is sent (Java's
    ``validateACL``)."""
    if not acl or any(a is None for a in acl):
        raise InvalidACLException(Code.INVALIDACL)


def validate_ttl(mode: CreateMode, ttl: int) -> None:
    """Java's ``EphemeralType.validateTTL``: TTL modes need 0 < ttl <= 2^40-1,
    other modes must not have one."""
    if mode.is_ttl:
        if ttl <= 0 or ttl > MAX_TTL:
            raise ValueError(f"{ttl} is invalid. It must be > 0 and <= {MAX_TTL}")
    elif ttl >= 0:
        raise ValueError(f"{ttl} is not a valid TTL for {mode.name}")


def prepend_chroot(chroot: Optional[str], path: str) -> str:
    if chroot is None:
        return path
    return chroot if path == "/" else chroot + path


class Op:
    """One sub-operation of :meth:`ZooKeeper.multi` (build with the static
    methods: ``Op.create``, ``Op.delete``, ``Op.set_data``, ``Op.check``,
    ``Op.get_data``, ``Op.get_children``)."""

    __slots__ = ("type", "path", "kind", "args")

    def __init__(self, op_type: int, path: str, kind: OpKind, **args):
        self.type = op_type
        self.path = path
        self.kind = kind
        self.args = args

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"Op({op_name(self.type)}, {self.path!r}{', ' if body else ''}{body})"

    # -- factories (Java's Op.create ...) -----------------------------------------------------

    @staticmethod
    def create(path: str, data: Optional[bytes] = b"", acl: Sequence[ACL] = OPEN_ACL_UNSAFE,
               mode: CreateMode = CreateMode.PERSISTENT, ttl: int = -1) -> "Op":
        mode = CreateMode(mode)
        if mode.is_ttl:
            op_type = OpCode.createTTL
        elif mode.is_container:
            op_type = OpCode.createContainer
        else:
            op_type = OpCode.create
        return Op(op_type, path, OpKind.TRANSACTION, data=data, acl=list(acl) if acl is not None else None,
                  mode=mode, ttl=ttl)

    @staticmethod
    def delete(path: str, version: int = -1) -> "Op":
        return Op(OpCode.delete, path, OpKind.TRANSACTION, version=version)

    @staticmethod
    def set_data(path: str, data: Optional[bytes], version: int = -1) -> "Op":
        return Op(OpCode.setData, path, OpKind.TRANSACTION, data=data, version=version)

    @staticmethod
    def check(path: str, version: int) -> "Op":
        return Op(OpCode.check, path, OpKind.TRANSACTION, version=version)

    @staticmethod
    def get_data(path: str) -> "Op":
        return Op(OpCode.getData, path, OpKind.READ)

    @staticmethod
    def get_children(path: str) -> "Op":
        return Op(OpCode.getChildren, path, OpKind.READ)

    # -- checks and encoding -------------------------------------------------------------------

    def validate(self) -> None:
        """Client-side checks, as Java's ``Op.validate``."""
        if self.type in (OpCode.create, OpCode.createTTL, OpCode.createContainer):
            mode = self.args["mode"]
            validate_path(self.path, mode.is_sequential)
            validate_ttl(mode, self.args["ttl"])
            validate_acl(self.args["acl"])
        else:
            validate_path(self.path)

    def to_request(self, chroot: Optional[str]):
        """The request record sent for this op, with the chroot applied."""
        path = prepend_chroot(chroot, self.path)
        a = self.args
        if self.type == OpCode.createTTL:
            return CreateTTLRequest(path, _bytes(a["data"]), a["acl"], int(a["mode"]), a["ttl"])
        if self.type in (OpCode.create, OpCode.createContainer):
            return CreateRequest(path, _bytes(a["data"]), a["acl"], int(a["mode"]))
        if self.type == OpCode.delete:
            return DeleteRequest(path, a["version"])
        if self.type == OpCode.setData:
            return SetDataRequest(path, _bytes(a["data"]), a["version"])
        if self.type == OpCode.check:
            return CheckVersionRequest(path, a["version"])
        if self.type == OpCode.getData:
            return GetDataRequest(path, False)
        if self.type == OpCode.getChildren:
            return GetChildrenRequest(path, False)
        raise ValueError(f"Unsupported op type {self.type}")


def _bytes(data) -> Optional[bytes]:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    raise TypeError(f"data must be bytes, not {type(data).__name__}")


# -- results ---------------------------------------------------------------------------------


class OpResult:
    """Base of the per-op results of a multi (Java's ``OpResult``)."""

    __slots__ = ()
    type: int


@dataclass(frozen=True)
class CreateResult(OpResult):
    path: str
    stat: Optional[Stat] = None
    type: int = OpCode.create


@dataclass(frozen=True)
class DeleteResult(OpResult):
    type: int = OpCode.delete


@dataclass(frozen=True)
class SetDataResult(OpResult):
    stat: Stat
    type: int = OpCode.setData


@dataclass(frozen=True)
class CheckResult(OpResult):
    type: int = OpCode.check


@dataclass(frozen=True)
class GetDataResult(OpResult):
    data: Optional[bytes]
    stat: Stat
    type: int = OpCode.getData


@dataclass(frozen=True)
class GetChildrenResult(OpResult):
    children: list
    type: int = OpCode.getChildren


@dataclass(frozen=True)
class ErrorResult(OpResult):
    """An op that failed (``err`` != 0), or did not run because an
    earlier one failed (RUNTIMEINCONSISTENCY), or ran but was rolled back
    (``err`` == 0)."""

    err: int
    type: int = OpCode.error


# -- Transaction -----------------------------------------------------------------------------


class Transaction:
    """Builds a multi op by op (Java's ``Transaction``); ``commit()`` runs it.

    >>> results = zk.transaction().create("/a", b"x").set_data("/b", b"y").commit()  # doctest: +SKIP

    Each builder method returns the transaction, so calls chain.
    ``commit()`` returns the list of results, or raises the failing op's
    KeeperException, whose ``results`` attribute holds every op's
    ErrorResult (as Java's ``multi`` throws).
    """

    def __init__(self, zk: "ZooKeeper"):
        self._zk = zk
        self._ops: list[Op] = []

    @property
    def ops(self) -> list[Op]:
        return list(self._ops)

    def create(self, path: str, data: Optional[bytes] = b"", acl: Sequence[ACL] = OPEN_ACL_UNSAFE,
               mode: CreateMode = CreateMode.PERSISTENT, ttl: int = -1) -> "Transaction":
        self._ops.append(Op.create(path, data, acl, mode, ttl))
        return self

    def delete(self, path: str, version: int = -1) -> "Transaction":
        self._ops.append(Op.delete(path, version))
        return self

    def check(self, path: str, version: int) -> "Transaction":
        self._ops.append(Op.check(path, version))
        return self

    def set_data(self, path: str, data: Optional[bytes], version: int = -1) -> "Transaction":
        self._ops.append(Op.set_data(path, data, version))
        return self

    def commit(self) -> list[OpResult]:
        return self._zk.multi(self._ops)

    def commit_async(self) -> "Future":
        return self._zk.multi_async(self._ops)
