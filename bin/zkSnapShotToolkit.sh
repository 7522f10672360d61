#!/usr/bin/env bash
# zkpy's zkSnapShotToolkit.sh: print a snapshot file, as Apache ZooKeeper's
# script (SnapshotFormatter; same options and output; see
# zkpy/cli/snapshot_toolkit.py).
#
#   zkSnapShotToolkit.sh [-d|-json] snapshot_file

ZOOBIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$ZOOBIN/zkEnv.sh"

exec "$ZKPY_PYTHON" -m zkpy.cli.snapshot_toolkit "$@"
