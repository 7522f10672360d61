"""SASL mechanisms shared by zkpy's server and client.

Java: the JDK's ``javax.security.sasl`` providers that ZooKeeper uses on
both sides of the client port. zkpy has DIGEST-MD5 only
(:mod:`zkpy.sasl.digest_md5`): the RFC 2831 primitives and the client; the
server keeps its own state machine (:mod:`zkpy.server.sasl.digest_md5`)
and its JAAS login (:mod:`zkpy.server.sasl.jaas`). The quorum peers use the
same client and server with their own protocol and server name
(:mod:`zkpy.quorum.quorum_auth`).
"""
