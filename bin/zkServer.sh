#!/usr/bin/env bash
# zkpy's zkServer.sh: start, stop and query a zkpy server the way Apache
# ZooKeeper's bin/zkServer.sh does (same commands, config lookup, pid file
# and messages).
#
#   zkServer.sh [--config <conf-dir>] {start|start-foreground|stop|restart|status|print-cmd|version} [zoo.cfg]

ZOOBIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ "$1" = "--config" ]; then
    shift
    ZOOCFGDIR="$1"
    shift
fi
. "$ZOOBIN/zkEnv.sh"

if [ -n "$2" ]; then
    # The config file given on the command line, as Java's script: relative
    # names are looked up in the config dir.
    if [ -f "$2" ]; then ZOOCFG="$2"; else ZOOCFG="$ZOOCFGDIR/$2"; fi
fi

echo "Using config: $ZOOCFG" >&2

if [ ! -f "$ZOOCFG" ]; then
    case "$1" in
        start|start-foreground|stop|restart|status)
            echo "Error: config file $ZOOCFG not found" >&2; exit 1 ;;
    esac
fi

cfg_value() {
    # The last value of key $1 in zoo.cfg (Java properties: last one wins).
    sed -n "s/^[[:space:]]*$1[[:space:]]*[=:][[:space:]]*//p" "$ZOOCFG" 2>/dev/null | tail -n 1 | tr -d '\r'
}

ZOO_DATADIR="$(cfg_value dataDir)"
if [ -z "$ZOOPIDFILE" ]; then
    if [ -n "$ZOO_DATADIR" ]; then
        mkdir -p "$ZOO_DATADIR" 2>/dev/null
        ZOOPIDFILE="$ZOO_DATADIR/zookeeper_server.pid"
    else
        ZOOPIDFILE="$ZOO_LOG_DIR/zookeeper_server.pid"
    fi
fi
# As Java's script: the daemon logs to a rolling file in $ZOO_LOG_DIR.
export ZOO_LOG_FILE="${ZOO_LOG_FILE:-zookeeper-${USER:-$(id -un)}-server-$(hostname).log}"
_ZOO_DAEMON_OUT="$ZOO_LOG_DIR/zookeeper-${USER:-$(id -un)}-server-$(hostname).out"
SERVER_CMD=("$ZKPY_PYTHON" -m zkpy "$ZOOCFG")

is_running() {
    # A live zkpy process, not just any pid: a stale pid file is removed.
    "$ZKPY_PYTHON" -m zkpy.cli.server_control running "$ZOOPIDFILE" >/dev/null
}

case "$1" in
start)
    echo -n "Starting zookeeper ... "
    if is_running; then
        echo "already running as process $(cat "$ZOOPIDFILE")."
        exit 1
    fi
    mkdir -p "$ZOO_LOG_DIR"
    ZOO_LOG4J_PROP="${ZOO_LOG4J_PROP:-INFO,ROLLINGFILE}" nohup "${SERVER_CMD[@]}" >"$_ZOO_DAEMON_OUT" 2>&1 </dev/null &
    pid=$!
    if ! echo "$pid" >"$ZOOPIDFILE"; then
        echo "FAILED TO WRITE PID"
        exit 1
    fi
    # Java's script sleeps a second and checks the process is still there.
    sleep 1
    if kill -0 "$pid" 2>/dev/null; then
        echo STARTED
    else
        echo "FAILED TO START"
        rm -f "$ZOOPIDFILE"
        tail -n 20 "$_ZOO_DAEMON_OUT" >&2
        exit 1
    fi
    ;;
start-foreground)
    exec "${SERVER_CMD[@]}"
    ;;
print-cmd)
    printf '%q ' "${SERVER_CMD[@]}"
    echo "> \"$_ZOO_DAEMON_OUT\" 2>&1 < /dev/null"
    ;;
stop)
    echo -n "Stopping zookeeper ... "
    "$ZKPY_PYTHON" -m zkpy.cli.server_control stop "$ZOOPIDFILE" "${ZOO_STOP_TIMEOUT:-10}"
    exit 0
    ;;
restart)
    shift
    "$0" stop "$@"
    sleep 1
    "$0" start "$@"
    ;;
version)
    "$ZKPY_PYTHON" -c 'import zkpy.server.four_letter as f; print("Apache ZooKeeper, version", f.version_string())'
    ;;
status)
    exec "$ZKPY_PYTHON" -m zkpy.cli.server_status "$ZOOCFG"
    ;;
*)
    echo "Usage: $0 [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd}" >&2
    exit 1
    ;;
esac
