"""Make ``digest`` ids and super digests: ``zkpy-digest user:password ...``.

Java: ``org.apache.zookeeper.server.auth.DigestAuthenticationProvider.main``.
Each argument ``user:password`` prints ``user:password->user:<base64 SHA-1>``,
the value for a ``digest:`` ACL or for
``zookeeper.DigestAuthenticationProvider.superDigest``. What zkpy does
differently, on purpose: without arguments it prints a usage line on
stderr (Java prints nothing); the exit code is 0 either way.
"""

from __future__ import annotations

import sys

from ..server.auth import digest_id

__all__ = ["main"]

USAGE = "Usage: zkpy-digest user:password [user:password ...]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stderr.write(USAGE + "\n")
    for arg in args:
        sys.stdout.write(f"{arg}->{digest_id(arg)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
