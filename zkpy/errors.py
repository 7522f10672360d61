"""KeeperException and its error codes.

Java: ``org.apache.zookeeper.KeeperException`` and ``KeeperException.Code``
(ZK_SPEC.md §2.11). The server raises ``KeeperException(code, path)`` from its
validation logic and turns it into the reply header's ``err``; the client maps
each code to the subclass of the same name.
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


class KeeperException(Exception):
    """An error with a ZooKeeper error code, optionally about a path."""

    code: Code = Code.SYSTEMERROR

    def __init__(self, code: int | Code | None = None, path: str | None = None, message: str | None = None):
        if code is not None:
            try:
                self.code = Code(code)
            except ValueError:
                self.code = code  # an unknown code from a newer server: keep the number
        self.path = path
        text = message or f"KeeperErrorCode = {self._code_name()}"
        if path is not None:
            text += f" for {path}"
        super().__init__(text)

    def _code_name(self) -> str:
        return self.code.name if isinstance(self.code, Code) else str(self.code)

    @staticmethod
    def create(code: int, path: str | None = None) -> "KeeperException":
        """The exception subclass for ``code`` (Java's ``KeeperException.create``)."""
        cls = _BY_CODE.get(code, KeeperException)
        return cls(code, path)


def _subclass(name: str, code: Code) -> type[KeeperException]:
    return type(name, (KeeperException,), {"code": code, "__doc__": f"Error code {int(code)} ({code.name})."})


SystemErrorException = _subclass("SystemErrorException", Code.SYSTEMERROR)
RuntimeInconsistencyException = _subclass("RuntimeInconsistencyException", Code.RUNTIMEINCONSISTENCY)
DataInconsistencyException = _subclass("DataInconsistencyException", Code.DATAINCONSISTENCY)
ConnectionLossException = _subclass("ConnectionLossException", Code.CONNECTIONLOSS)
MarshallingErrorException = _subclass("MarshallingErrorException", Code.MARSHALLINGERROR)
UnimplementedException = _subclass("UnimplementedException", Code.UNIMPLEMENTED)
OperationTimeoutException = _subclass("OperationTimeoutException", Code.OPERATIONTIMEOUT)
BadArgumentsException = _subclass("BadArgumentsException", Code.BADARGUMENTS)
UnknownSessionException = _subclass("UnknownSessionException", Code.UNKNOWNSESSION)
NewConfigNoQuorumException = _subclass("NewConfigNoQuorumException", Code.NEWCONFIGNOQUORUM)
ReconfigInProgressException = _subclass("ReconfigInProgressException", Code.RECONFIGINPROGRESS)
APIErrorException = _subclass("APIErrorException", Code.APIERROR)
NoNodeException = _subclass("NoNodeException", Code.NONODE)
NoAuthException = _subclass("NoAuthException", Code.NOAUTH)
BadVersionException = _subclass("BadVersionException", Code.BADVERSION)
NoChildrenForEphemeralsException = _subclass("NoChildrenForEphemeralsException", Code.NOCHILDRENFOREPHEMERALS)
NodeExistsException = _subclass("NodeExistsException", Code.NODEEXISTS)
NotEmptyException = _subclass("NotEmptyException", Code.NOTEMPTY)
SessionExpiredException = _subclass("SessionExpiredException", Code.SESSIONEXPIRED)
InvalidCallbackException = _subclass("InvalidCallbackException", Code.INVALIDCALLBACK)
InvalidACLException = _subclass("InvalidACLException", Code.INVALIDACL)
AuthFailedException = _subclass("AuthFailedException", Code.AUTHFAILED)
SessionMovedException = _subclass("SessionMovedException", Code.SESSIONMOVED)
NotReadOnlyException = _subclass("NotReadOnlyException", Code.NOTREADONLY)
EphemeralOnLocalSessionException = _subclass("EphemeralOnLocalSessionException", Code.EPHEMERALONLOCALSESSION)
NoWatcherException = _subclass("NoWatcherException", Code.NOWATCHER)
RequestTimeoutException = _subclass("RequestTimeoutException", Code.REQUESTTIMEOUT)
ReconfigDisabledException = _subclass("ReconfigDisabledException", Code.RECONFIGDISABLED)
SessionClosedRequireSaslAuthException = _subclass(
    "SessionClosedRequireSaslAuthException", Code.SESSIONCLOSEDREQUIRESASLAUTH
)
QuotaExceededException = _subclass("QuotaExceededException", Code.QUOTAEXCEEDED)
ThrottledOpException = _subclass("ThrottledOpException", Code.THROTTLEDOP)

_BY_CODE: dict[int, type[KeeperException]] = {
    int(cls.code): cls for cls in KeeperException.__subclasses__()
}
