#!/usr/bin/env bash
# zkpy's zkTxnLogToolkit.sh: dump, recover (--recover) or chop (--chop -z zxid)
# a transaction log file, as Apache ZooKeeper's script (same options and
# output; see zkpy/cli/txn_log_toolkit.py).
#
#   zkTxnLogToolkit.sh [-dhrvyc] <txn_log_file_name> (-z <zxid>)

ZOOBIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$ZOOBIN/zkEnv.sh"

exec "$ZKPY_PYTHON" -m zkpy.cli.txn_log_toolkit "$@"
