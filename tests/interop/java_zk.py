"""Java ZooKeeper 3.8 for interop tests: re-exports :mod:`zkpy.testing_java`.

The launcher lives in the package so that the benchmark (``bench/``) uses
the same one; see that module for :class:`JavaZooKeeperServer`.
"""

from zkpy.testing_java import *  # noqa: F401,F403
from zkpy.testing_java import __all__  # noqa: F401
