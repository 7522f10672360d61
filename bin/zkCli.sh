#!/usr/bin/env bash
# zkpy's zkCli.sh: ZooKeeper's command-line shell, as Apache ZooKeeper's
# bin/zkCli.sh (same options and commands), run by zkpy's client.
#
#   zkCli.sh [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [-client-configuration file] [cmd args...]
#   TLS/SASL: -client-configuration and -D words in $CLIENT_JVMFLAGS / $JVMFLAGS, as Java's zkCli.sh

ZOOBIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$ZOOBIN/zkEnv.sh"

exec "$ZKPY_PYTHON" -m zkpy.cli.zkcli "$@"
