#!/usr/bin/env bash
# zkpy's zkEnv.sh: the environment shared by zkServer.sh and zkCli.sh, as in
# Apache ZooKeeper (sourced, not run). Differences from Java's: it chooses a
# Python interpreter instead of a JVM; $SERVER_JVMFLAGS and $JVMFLAGS keep
# their meaning (-Dname=value system properties, read by zkpy itself).

ZOOBINDIR="${ZOOBINDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
ZOOKEEPER_PREFIX="${ZOOKEEPER_PREFIX:-$(cd "$ZOOBINDIR/.." && pwd)}"

if [ -z "$ZOOCFGDIR" ]; then
    ZOOCFGDIR="$ZOOKEEPER_PREFIX/conf"
fi
if [ -f "$ZOOCFGDIR/zookeeper-env.sh" ]; then
    . "$ZOOCFGDIR/zookeeper-env.sh"
fi
if [ -z "$ZOOCFG" ]; then
    ZOOCFG="zoo.cfg"
fi
ZOOCFG="$ZOOCFGDIR/$ZOOCFG"

if [ -z "$ZOO_LOG_DIR" ]; then
    ZOO_LOG_DIR="$ZOOKEEPER_PREFIX/logs"
fi

# The interpreter: $ZKPY_PYTHON, else the checkout's .venv, else python3.
if [ -z "$ZKPY_PYTHON" ]; then
    if [ -x "$ZOOKEEPER_PREFIX/.venv/bin/python" ]; then
        ZKPY_PYTHON="$ZOOKEEPER_PREFIX/.venv/bin/python"
    else
        ZKPY_PYTHON="$(command -v python3)"
    fi
fi
if [ -z "$ZKPY_PYTHON" ] || [ ! -x "$ZKPY_PYTHON" ]; then
    echo "Error: no Python interpreter found; set ZKPY_PYTHON or run 'make install'." >&2
    exit 1
fi
# Make `-m zkpy` import this checkout even when it is not installed.
export PYTHONPATH="$ZOOKEEPER_PREFIX${PYTHONPATH:+:$PYTHONPATH}"
export ZOOCFGDIR ZOOCFG ZOO_LOG_DIR ZKPY_PYTHON
