"""The ensemble: QuorumPeer and its election, roles and verifiers.

Java: ``org.apache.zookeeper.server.quorum`` (and ``.flexible`` for the
quorum verifiers).
"""
