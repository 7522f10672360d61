#!/usr/bin/env bash
# zkpy's zkCli.sh: ZooKeeper's command-line shell, as Apache ZooKeeper's
# bin/zkCli.sh (same options and commands), run by zkpy's client.
#
#   zkCli.sh [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [cmd args...]

ZOOBIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$ZOOBIN/zkEnv.sh"

exec "$ZKPY_PYTHON" -m zkpy.cli.zkcli "$@"
