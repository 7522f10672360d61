"""Every jute record zkpy speaks, in ``zookeeper.jute``'s field order.

Java packages: ``org.apache.zookeeper.data``, ``.proto``, ``.txn``,
``.server.persistence`` and ``.server.quorum`` (ZK_SPEC.md §1.1).
"""

from __future__ import annotations

from .record import Vector, record

# -- org.apache.zookeeper.data ------------------------------------------------
Id = record("Id", [("scheme", "ustring"), ("id", "ustring")])
ACL = record("ACL", [("perms", "int"), ("id", Id)])
Stat = record(
    "Stat",
    [
        ("czxid", "long"), ("mzxid", "long"), ("ctime", "long"), ("mtime", "long"),
        ("version", "int"), ("cversion", "int"), ("aversion", "int"),
        ("ephemeralOwner", "long"), ("dataLength", "int"), ("numChildren", "int"),
        ("pzxid", "long"),
    ],
)
StatPersisted = record(
    "StatPersisted",
    [
        ("czxid", "long"), ("mzxid", "long"), ("ctime", "long"), ("mtime", "long"),
        ("version", "int"), ("cversion", "int"), ("aversion", "int"),
        ("ephemeralOwner", "long"), ("pzxid", "long"),
    ],
)
ClientInfo = record("ClientInfo", [("authScheme", "ustring"), ("user", "ustring")])

# -- org.apache.zookeeper.proto -----------------------------------------------
ConnectRequest = record(
    "ConnectRequest",
    [("protocolVersion", "int"), ("lastZxidSeen", "long"), ("timeOut", "int"),
     ("sessionId", "long"), ("passwd", "buffer")],
)
ConnectResponse = record(
    "ConnectResponse",
    [("protocolVersion", "int"), ("timeOut", "int"), ("sessionId", "long"), ("passwd", "buffer")],
)
RequestHeader = record("RequestHeader", [("xid", "int"), ("type", "int")])
ReplyHeader = record("ReplyHeader", [("xid", "int"), ("zxid", "long"), ("err", "int")])
MultiHeader = record("MultiHeader", [("type", "int"), ("done", "bool"), ("err", "int")])
AuthPacket = record("AuthPacket", [("type", "int"), ("scheme", "ustring"), ("auth", "buffer")])
_WATCH_LISTS = [("dataWatches", Vector("ustring")), ("existWatches", Vector("ustring")),
                ("childWatches", Vector("ustring"))]
SetWatches = record("SetWatches", [("relativeZxid", "long")] + _WATCH_LISTS)
SetWatches2 = record(
    "SetWatches2",
    [("relativeZxid", "long")] + _WATCH_LISTS
    + [("persistentWatches", Vector("ustring")), ("persistentRecursiveWatches", Vector("ustring"))],
)
WatcherEvent = record("WatcherEvent", [("type", "int"), ("state", "int"), ("path", "ustring")])
CreateRequest = record(
    "CreateRequest", [("path", "ustring"), ("data", "buffer"), ("acl", Vector(ACL)), ("flags", "int")]
)
CreateTTLRequest = record(
    "CreateTTLRequest",
    [("path", "ustring"), ("data", "buffer"), ("acl", Vector(ACL)), ("flags", "int"), ("ttl", "long")],
)
CreateResponse = record("CreateResponse", [("path", "ustring")])
Create2Response = record("Create2Response", [("path", "ustring"), ("stat", Stat)])
DeleteRequest = record("DeleteRequest", [("path", "ustring"), ("version", "int")])
ExistsRequest = record("ExistsRequest", [("path", "ustring"), ("watch", "bool")])
GetDataRequest = record("GetDataRequest", [("path", "ustring"), ("watch", "bool")])
GetChildrenRequest = record("GetChildrenRequest", [("path", "ustring"), ("watch", "bool")])
GetChildren2Request = record("GetChildren2Request", [("path", "ustring"), ("watch", "bool")])
ExistsResponse = record("ExistsResponse", [("stat", Stat)])
SetDataResponse = record("SetDataResponse", [("stat", Stat)])
SetACLResponse = record("SetACLResponse", [("stat", Stat)])
GetDataResponse = record("GetDataResponse", [("data", "buffer"), ("stat", Stat)])
SetDataRequest = record("SetDataRequest", [("path", "ustring"), ("data", "buffer"), ("version", "int")])
GetACLRequest = record("GetACLRequest", [("path", "ustring")])
GetACLResponse = record("GetACLResponse", [("acl", Vector(ACL)), ("stat", Stat)])
SetACLRequest = record("SetACLRequest", [("path", "ustring"), ("acl", Vector(ACL)), ("version", "int")])
GetChildrenResponse = record("GetChildrenResponse", [("children", Vector("ustring"))])
GetChildren2Response = record("GetChildren2Response", [("children", Vector("ustring")), ("stat", Stat)])
CheckVersionRequest = record("CheckVersionRequest", [("path", "ustring"), ("version", "int")])
SyncRequest = record("SyncRequest", [("path", "ustring")])
SyncResponse = record("SyncResponse", [("path", "ustring")])
GetAllChildrenNumberRequest = record("GetAllChildrenNumberRequest", [("path", "ustring")])
GetAllChildrenNumberResponse = record("GetAllChildrenNumberResponse", [("totalNumber", "int")])
GetEphemeralsRequest = record("GetEphemeralsRequest", [("prefixPath", "ustring")])
GetEphemeralsResponse = record("GetEphemeralsResponse", [("ephemerals", Vector("ustring"))])
AddWatchRequest = record("AddWatchRequest", [("path", "ustring"), ("mode", "int")])
CheckWatchesRequest = record("CheckWatchesRequest", [("path", "ustring"), ("type", "int")])
RemoveWatchesRequest = record("RemoveWatchesRequest", [("path", "ustring"), ("type", "int")])
ReconfigRequest = record(
    "ReconfigRequest",
    [("joiningServers", "ustring"), ("leavingServers", "ustring"), ("newMembers", "ustring"),
     ("curConfigId", "long")],
)
ErrorResponse = record("ErrorResponse", [("err", "int")])
WhoAmIResponse = record("WhoAmIResponse", [("clientInfo", Vector(ClientInfo))])
GetSASLRequest = record("GetSASLRequest", [("token", "buffer")])
SetSASLRequest = record("SetSASLRequest", [("token", "buffer")])
SetSASLResponse = record("SetSASLResponse", [("token", "buffer")])

# -- org.apache.zookeeper.server.quorum ---------------------------------------
LearnerInfo = record("LearnerInfo", [("serverid", "long"), ("protocolVersion", "int"), ("configVersion", "long")])
QuorumPacket = record(
    "QuorumPacket", [("type", "int"), ("zxid", "long"), ("data", "buffer"), ("authinfo", Vector(Id))]
)
QuorumAuthPacket = record("QuorumAuthPacket", [("magic", "long"), ("status", "int"), ("token", "buffer")])

# -- org.apache.zookeeper.server.persistence ----------------------------------
FileHeader = record("FileHeader", [("magic", "int"), ("version", "int"), ("dbid", "long")])

# -- org.apache.zookeeper.txn -------------------------------------------------
TxnHeader = record(
    "TxnHeader",
    [("clientId", "long"), ("cxid", "int"), ("zxid", "long"), ("time", "long"), ("type", "int")],
)
TxnDigest = record("TxnDigest", [("version", "int"), ("treeDigest", "long")])
CreateTxn = record(
    "CreateTxn",
    [("path", "ustring"), ("data", "buffer"), ("acl", Vector(ACL)), ("ephemeral", "bool"),
     ("parentCVersion", "int")],
)
CreateTxnV0 = record(
    "CreateTxnV0", [("path", "ustring"), ("data", "buffer"), ("acl", Vector(ACL)), ("ephemeral", "bool")]
)
CreateTTLTxn = record(
    "CreateTTLTxn",
    [("path", "ustring"), ("data", "buffer"), ("acl", Vector(ACL)), ("parentCVersion", "int"), ("ttl", "long")],
)
CreateContainerTxn = record(
    "CreateContainerTxn",
    [("path", "ustring"), ("data", "buffer"), ("acl", Vector(ACL)), ("parentCVersion", "int")],
)
DeleteTxn = record("DeleteTxn", [("path", "ustring")])
SetDataTxn = record("SetDataTxn", [("path", "ustring"), ("data", "buffer"), ("version", "int")])
CheckVersionTxn = record("CheckVersionTxn", [("path", "ustring"), ("version", "int")])
SetACLTxn = record("SetACLTxn", [("path", "ustring"), ("acl", Vector(ACL)), ("version", "int")])
CreateSessionTxn = record("CreateSessionTxn", [("timeOut", "int")])
CloseSessionTxn = record("CloseSessionTxn", [("paths2Delete", Vector("ustring"))])
ErrorTxn = record("ErrorTxn", [("err", "int")])
Txn = record("Txn", [("type", "int"), ("data", "buffer")])
MultiTxn = record("MultiTxn", [("txns", Vector(Txn))])

# -- Well-known ACLs (ZooDefs.Ids) --------------------------------------------
ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")
OPEN_ACL_UNSAFE = [ACL(31, ANYONE_ID_UNSAFE)]
CREATOR_ALL_ACL = [ACL(31, AUTH_IDS)]
READ_ACL_UNSAFE = [ACL(1, ANYONE_ID_UNSAFE)]
