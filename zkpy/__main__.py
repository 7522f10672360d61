"""``python -m zkpy zoo.cfg``: run a ZooKeeper server.

Stands for ``java org.apache.zookeeper.server.quorum.QuorumPeerMain
zoo.cfg``; the work is done by :mod:`zkpy.server.quorum_peer_main`.
"""

import sys


def _main() -> int:
    from zkpy.parent_watch import start_from_env

    start_from_env()  # a zkpy.testing server dies with the test process
    from zkpy.server.quorum_peer_main import main

    status = main()
    return 0 if status is None else int(status)


if __name__ == "__main__":
    sys.exit(_main())
