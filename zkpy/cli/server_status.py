"""``zkServer.sh status``: ask the configured server for its mode.

Java: the ``status`` branch of ``bin/zkServer.sh`` (which runs
``FourLetterWordMain <address> <port> srvr`` and greps ``Mode:``). Same
messages and exit codes: 0 with ``Mode: <mode>`` when the server answers,
1 with ``Error contacting service. It is probably not running.`` otherwise.
"""

from __future__ import annotations

import sys

from zkpy.cli.four_letter_word_main import four_letter_word, srvr_mode
from zkpy.server.config import ConfigException, ServerConfig

NOT_RUNNING = "Error contacting service. It is probably not running."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("Usage: python -m zkpy.cli.server_status <zoo.cfg>\n")
        return 2
    try:
        config = ServerConfig.parse(argv[0])
    except ConfigException as e:
        sys.stderr.write(f"Invalid config: {e}\n")
        return 1
    if not config.client_port:
        sys.stderr.write("Unable to find either secure or unsecure client port in any configs. "
                         "Terminating.\n")
        return 1
    # As Java's script: an unset or wildcard address is reached as localhost.
    address = config.client_port_address
    if not address or address in ("0.0.0.0", "::"):
        address = "localhost"
    sys.stderr.write(f"Client port found: {config.client_port}. Client address: {address}. "
                     "Client SSL: false.\n")
    try:
        answer = four_letter_word(address, config.client_port, "srvr", timeout=5.0)
    except OSError:
        answer = ""
    mode = srvr_mode(answer)
    if mode is None:
        sys.stderr.write(NOT_RUNNING + "\n")
        return 1
    sys.stdout.write(f"Mode: {mode}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
