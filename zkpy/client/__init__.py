"""zkpy's ZooKeeper client: Java's ``org.apache.zookeeper.ZooKeeper`` API in PEP 8 names.

>>> from zkpy.client import ZooKeeper, CreateMode                       # doctest: +SKIP
>>> with ZooKeeper("127.0.0.1:2181/app", 10000) as zk:
...     zk.wait_connected(10)
...     zk.create("/n", b"v", mode=CreateMode.EPHEMERAL)

Modules: :mod:`.zookeeper` (the API), :mod:`.client_cnxn` (SendThread,
EventThread), :mod:`.host_provider`, :mod:`.watch_manager`, :mod:`.op`
(multi ops, results, Transaction), :mod:`.watcher` (WatchedEvent),
:mod:`.zookeeper_sasl_client` (SASL), :mod:`.zk_client_config` (Java's
``ZKClientConfig``: TLS and SASL from properties and JAAS).
"""

from ..defs import AddWatchMode, CreateMode, EventType, KeeperState, Perms, WatcherType
from ..errors import Code, KeeperException
from ..jute.records import (
    ACL, ANYONE_ID_UNSAFE, AUTH_IDS, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, ClientInfo, Id, Stat,
)
from .client_cnxn import States, ZooKeeperFuture
from .host_provider import ConnectStringParser, StaticHostProvider
from .op import (
    CheckResult, CreateResult, DeleteResult, ErrorResult, GetChildrenResult, GetDataResult, Op, OpResult,
    SetDataResult, Transaction,
)
from .watcher import WatchedEvent, Watcher
from .zk_client_config import ClientConfigError, ZKClientConfig
from .zookeeper import ZooKeeper
from .zookeeper_sasl_client import SaslCredentials

__all__ = [
    "ZooKeeper", "States", "ZKClientConfig", "ClientConfigError", "SaslCredentials", "WatchedEvent", "Watcher", "ZooKeeperFuture", "Transaction", "Op", "OpResult",
    "CreateResult", "DeleteResult", "SetDataResult", "CheckResult", "GetDataResult", "GetChildrenResult",
    "ErrorResult", "ConnectStringParser", "StaticHostProvider",
    "CreateMode", "EventType", "KeeperState", "WatcherType", "AddWatchMode", "Perms",
    "KeeperException", "Code",
    "ACL", "Id", "Stat", "ClientInfo", "OPEN_ACL_UNSAFE", "CREATOR_ALL_ACL", "READ_ACL_UNSAFE",
    "ANYONE_ID_UNSAFE", "AUTH_IDS",
]
