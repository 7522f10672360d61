#!/usr/bin/env bash
# zkpy's zkCleanup.sh: keep the newest snapshots (and the txn logs they
# need) of the configured server and delete the rest, as Apache ZooKeeper's
# script: dataDir and dataLogDir come from zoo.cfg ($ZOOCFGDIR/$ZOOCFG, see
# zkEnv.sh), then PurgeTxnLog runs (zkpy/cli/purge_txn_log.py).
#
#   zkCleanup.sh -n <count>        (count >= 3)

ZOOBIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$ZOOBIN/zkEnv.sh"

if [ ! -f "$ZOOCFG" ]; then
    echo "Error: config file $ZOOCFG not found" >&2
    exit 1
fi

cfg_value() {
    # The last value of key $1 in zoo.cfg (Java properties: last one wins).
    sed -n "s/^[[:space:]]*$1[[:space:]]*[=:][[:space:]]*//p" "$ZOOCFG" 2>/dev/null | tail -n 1 | tr -d '\r'
}

ZOODATADIR="$(cfg_value dataDir)"
ZOODATALOGDIR="$(cfg_value dataLogDir)"

if [ -z "$ZOODATALOGDIR" ]; then
    exec "$ZKPY_PYTHON" -m zkpy.cli.purge_txn_log "$ZOODATADIR" "$@"
else
    exec "$ZKPY_PYTHON" -m zkpy.cli.purge_txn_log "$ZOODATALOGDIR" "$ZOODATADIR" "$@"
fi
