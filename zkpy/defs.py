"""Protocol constants: OpCode, Perms, CreateMode, EventType, KeeperState, Ids.

Java: ``ZooDefs.OpCode``, ``ZooDefs.Perms``, ``ZooDefs.Ids``, ``CreateMode``,
``Watcher.Event.EventType``, ``Watcher.Event.KeeperState``, ``AddWatchMode``.
Values are ZooKeeper 3.8's (ZK_SPEC.md §2.5, §2.8-2.10).
"""

from __future__ import annotations

import enum


class OpCode:
    """Request and txn types, plain ints as Java's ZooDefs.OpCode (an
    IntEnum would cost four times as much per ``OpCode.x`` lookup in
    Python 3.11, and requests compare their type many times on their way
    through the server). :data:`OP_NAMES` names them."""

    notification = 0
    create = 1
    delete = 2
    exists = 3
    getData = 4
    setData = 5
    getACL = 6
    setACL = 7
    getChildren = 8
    sync = 9
    ping = 11
    getChildren2 = 12
    check = 13
    multi = 14
    create2 = 15
    reconfig = 16
    checkWatches = 17
    removeWatches = 18
    createContainer = 19
    deleteContainer = 20
    createTTL = 21
    multiRead = 22
    auth = 100
    setWatches = 101
    sasl = 102
    getEphemerals = 103
    getAllChildrenNumber = 104
    setWatches2 = 105
    addWatch = 106
    whoAmI = 107
    createSession = -10
    closeSession = -11
    error = -1


#: Every OpCode's name, by value.
OP_NAMES: dict[int, str] = {value: name for name, value in vars(OpCode).items() if isinstance(value, int)}


def op_name(op: int) -> str:
    """An OpCode's name, or the number itself for an unknown one."""
    return OP_NAMES.get(op, str(op))


#: Ops a client may send (every OpCode except ``notification``).
CLIENT_OPS = frozenset(op for op in OP_NAMES if op != OpCode.notification)

#: Ops that change state and therefore become txns (PrepRequestProcessor).
WRITE_OPS = frozenset(
    int(op)
    for op in (
        OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
        OpCode.delete, OpCode.deleteContainer, OpCode.setData, OpCode.setACL,
        OpCode.check, OpCode.multi, OpCode.reconfig,
        OpCode.createSession, OpCode.closeSession,
    )
)


class Perms(enum.IntFlag):
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


class CreateMode(enum.IntEnum):
    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6

    @property
    def is_ephemeral(self) -> bool:
        return self in (CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL)

    @property
    def is_sequential(self) -> bool:
        return self in (
            CreateMode.PERSISTENT_SEQUENTIAL,
            CreateMode.EPHEMERAL_SEQUENTIAL,
            CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL,
        )

    @property
    def is_container(self) -> bool:
        return self is CreateMode.CONTAINER

    @property
    def is_ttl(self) -> bool:
        return self in (CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)


class EventType(enum.IntEnum):
    None_ = -1
    NodeCreated = 1
    NodeDeleted = 2
    NodeDataChanged = 3
    NodeChildrenChanged = 4
    DataWatchRemoved = 5
    ChildWatchRemoved = 6
    PersistentWatchRemoved = 7


class KeeperState(enum.IntEnum):
    Unknown = -1
    Disconnected = 0
    NoSyncConnected = 1
    SyncConnected = 3
    AuthFailed = 4
    ConnectedReadOnly = 5
    SaslAuthenticated = 6
    Expired = -112
    Closed = 7


class WatcherType(enum.IntEnum):
    Children = 1
    Data = 2
    Any = 3


class AddWatchMode(enum.IntEnum):
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


# Special xids (ZK_SPEC.md §2.4).
NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4
SET_WATCHES_XID = -8

# Ephemeral-owner encodings (ZK_SPEC.md §2.8).
CONTAINER_EPHEMERAL_OWNER = -0x8000000000000000  # Long.MIN_VALUE
TTL_OWNER_MASK = -0x0100000000000000  # 0xFF00000000000000 as a signed long
MAX_TTL = 0x000000FFFFFFFFFF
