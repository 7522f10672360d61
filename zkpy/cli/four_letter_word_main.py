"""Send a four-letter word to a server and read its answer.

Java: ``org.apache.zookeeper.client.FourLetterWordMain`` (used by
``zkServer.sh status``). ``python -m zkpy.cli.four_letter_word_main host
port word`` prints the answer. Java's ``secure`` flag is ``ssl_context``
here (the caller's context, not one built from ``zookeeper.ssl.*``).
"""

from __future__ import annotations

import socket
import ssl
import sys
from typing import Optional

__all__ = ["four_letter_word", "srvr_mode", "main"]


def four_letter_word(
    host: str, port: int, word: str, timeout: float = 5.0, payload: bytes = b"",
    ssl_context: Optional[ssl.SSLContext] = None,
) -> str:
    """Send a four-letter word (``ruok``, ``srvr``, ``mntr`` ...) and return
    the server's whole answer (read until it closes the connection).

    ``payload`` is sent right after the word (``stmk`` takes an 8-byte
    trace mask). With ``ssl_context``, over TLS (a ``secureClientPort``).
    Raises ``OSError`` (e.g. ``ConnectionRefusedError``, ``socket.timeout``,
    ``ssl.SSLError``) when the server cannot be reached or is too slow.
    """
    data = word.encode("ascii")
    if len(data) != 4:
        raise ValueError(f"a four-letter word has 4 ASCII letters, not {word!r}")
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        # wrap_socket takes the descriptor over: from then on ``sock`` is the one to close.
        sock = raw = raw if ssl_context is None else ssl_context.wrap_socket(raw, server_hostname=host)
        sock.settimeout(timeout)
        sock.sendall(data + payload)
        if ssl_context is None:  # a TLS stream cannot be half-closed; the server answers without it
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may already have answered and closed
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLEOFError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        raw.close()
    return b"".join(chunks).decode("utf-8", errors="replace")


def srvr_mode(srvr_output: str) -> str | None:
    """The ``Mode:`` of a ``srvr`` answer (leader, follower, observer,
    standalone, read-only), or None when it has none (not serving)."""
    for line in srvr_output.splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        sys.stderr.write("Usage: python -m zkpy.cli.four_letter_word_main <host> <port> <cmd>\n")
        return 2
    host, port, word = argv
    sys.stdout.write(four_letter_word(host, int(port), word))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
