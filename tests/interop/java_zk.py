"""Java ZooKeeper 3.8 for interop tests: re-exports :mod:`zkpy.testing_java`.

The launcher lives in the package so that the benchmark (``bench/``) uses
the same one; see that module for :class:`JavaZooKeeperServer`.
"""

from zkpy.testing_java import (
    ZOOKEEPER_JAR, JavaZooKeeperError, JavaZooKeeperServer, free_ports, skip_unless_available,
)

__all__ = ["JavaZooKeeperServer", "JavaZooKeeperError", "skip_unless_available", "free_ports", "ZOOKEEPER_JAR"]
