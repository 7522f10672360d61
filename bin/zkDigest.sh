#!/usr/bin/env bash
# zkpy's digest generator: Java's
#   java -cp zookeeper.jar org.apache.zookeeper.server.auth.DigestAuthenticationProvider user:password
# prints user:password->user:<base64 SHA-1> for each argument (digest ACLs, superDigest).
#
#   zkDigest.sh user:password [user:password ...]

ZOOBIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$ZOOBIN/zkEnv.sh"

exec "$ZKPY_PYTHON" -m zkpy.cli.digest "$@"
