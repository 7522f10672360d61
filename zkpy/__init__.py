"""zkpy: Apache ZooKeeper 3.8, written again in Python, peer for peer."""

__version__ = "0.1.0"

#: The ZooKeeper release whose wire, peer and storage formats zkpy speaks.
ZOOKEEPER_VERSION = "3.8.0"
