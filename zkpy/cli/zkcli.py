"""zkCli: ZooKeeper's command-line shell, on zkpy's client.

Java: ``org.apache.zookeeper.ZooKeeperMain`` (with ``MyCommandOptions``,
``MyWatcher``) and ``JLineZNodeCompleter``; the commands are in
:mod:`zkpy.cli.zkcli_commands`.

::

    zkcli -server 127.0.0.1:2181                 # interactive
    zkcli -server 127.0.0.1:2181 get -s /a       # one command, then exit
    bin/zkCli.sh -server 127.0.0.1:2181 ls /     # the same through the script

Options before the command, as Java's: ``-server host:port[,...][/chroot]``
(default ``localhost:2181``), ``-timeout ms`` (session timeout, default
30000), ``-r`` (accept a read-only server), ``-waitforconnection`` (wait
up to the timeout for the session before the first command),
``-client-configuration file`` (a Java ``ZKClientConfig`` properties file).
Unknown options are skipped, as Java skips them.

TLS and SASL are configured as for Java's zkCli
(:class:`zkpy.client.zk_client_config.ZKClientConfig`): system properties
from the ``-D`` words of ``$CLIENT_JVMFLAGS`` and ``$JVMFLAGS`` (the order
``bin/zkCli.sh`` passes them in), overridden by the ``-client-configuration``
file. ``zookeeper.client.secure=true`` with ``zookeeper.ssl.keyStore.*`` /
``zookeeper.ssl.trustStore.*`` (PEM) connects with TLS;
``-Djava.security.auth.login.config=jaas.conf`` with a ``Client`` section
(``username="bob" password="..."``, DigestLoginModule) logs in with SASL
DIGEST-MD5 (``zookeeper.sasl.client=false`` turns that off,
``zookeeper.sasl.clientconfig`` names another section)::

    CLIENT_JVMFLAGS="-Djava.security.auth.login.config=jaas.conf" \
        bin/zkCli.sh -server host:2281 -client-configuration tls.properties ls /

One-shot mode runs the command and exits with 0, or with the failed
command's code (1; 127 for an unknown command); watches it sets never fire.
Interactive mode reads commands from the terminal with line editing, an
in-memory history (up arrow; ``history`` and ``redo N`` as in Java) and tab
completion of command names and znode paths (children fetched from the
server), showing Java's prompt ``[zk: host:port(CONNECTED) 3] ``; watch
events print as ``WATCHER::`` notices. It exits on ``quit`` or end of
input with the last command's code.

What zkpy does differently, on purpose:

* JLine is Python's ``readline``: used when stdin is a terminal ("JLine
  support is enabled"); otherwise lines are read without prompt or
  editing, as Java does without JLine ("JLine support is disabled"), which
  is how Debian's zkCli.sh runs.
* A command whose number does not parse (``set -v x /a b``) fails with
  ``java.lang.NumberFormatException: ...`` on stderr and exit code 1;
  Java's shell dies with a stack trace there.
* On exit (end of input, one-shot mode) the session is closed, quietly, so
  its ephemeral nodes go at once; Java exits without closing and leaves the
  session to expire. ``quit`` closes it in both, printing the Closed notice.
* A configuration that cannot be used (a missing ``-client-configuration``
  file, an unreadable key store or JAAS file, a JAAS section zkpy cannot
  use) ends the shell with its message and exit code 2; Java prints a stack
  trace (exit code 2) for a missing file, and for the others starts and
  then fails to connect (TLS) or goes on without SASL after an
  ``AuthFailed`` event.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import Optional, TextIO

import click

from ..defs import KeeperState
from ..errors import KeeperException
from .zkcli_commands import (
    CliException, CommandNotFoundException, JavaClient, MalformedCommandException, NumberFormatError,
    command_map, java_decode, java_parse_int, write,
)

LOG = logging.getLogger(__name__)

__all__ = ["MyCommandOptions", "ZooKeeperMain", "main"]

# Commands handled by ZooKeeperMain itself, with their usage (Java's commandMap).
_MAIN_COMMANDS = {"connect": "host:port", "history": "", "redo": "cmdno", "printwatches": "on|off", "quit": ""}


class MyCommandOptions:
    """The command-line options and the current command's words."""

    # A word: a run of non-blanks not starting with a quote, or a quoted string.
    ARGS_PATTERN = re.compile(r"""\s*([^"']\S*|"[^"]*"|'[^']*')\s*""", re.ASCII)
    QUOTED_PATTERN = re.compile(r"""^(['"])(.*)(\1)$""", re.ASCII)

    def __init__(self) -> None:
        self.options = {"server": "localhost:2181", "timeout": "30000"}
        self.command: Optional[str] = None
        self.cmd_args: Optional[list[str]] = None

    def parse_options(self, argv: list[str], err: TextIO) -> bool:
        """Options up to the first word that does not start with ``-``; that
        word and the rest are the one-shot command."""
        it = iter(argv)
        for opt in it:
            try:
                if opt == "-server":
                    self.options["server"] = next(it)
                elif opt == "-timeout":
                    self.options["timeout"] = next(it)
                elif opt == "-r":
                    self.options["readonly"] = "true"
                elif opt == "-client-configuration":
                    self.options["client-configuration"] = next(it)
                elif opt == "-waitforconnection":
                    self.options["waitforconnection"] = "true"
            except StopIteration:
                write(err, f"Error: no argument found for option {opt}\n")
                return False
            if not opt.startswith("-"):
                self.command = opt
                self.cmd_args = [opt, *it]
                return True
        return True

    def parse_command(self, line: str) -> bool:
        """Split a typed line into words; False (keeping the previous
        command, as Java does) when it has none."""
        words = []
        for match in self.ARGS_PATTERN.finditer(line):
            value = match.group(1)
            if self.QUOTED_PATTERN.match(value):
                value = value[1:-1]
            words.append(value)
        if not words:
            return False
        self.command = words[0]
        self.cmd_args = words
        return True


class _Quit(Exception):
    """``quit``: end the shell with the current exit code."""


class ZooKeeperMain:
    """The shell: one session at a time, a history, a command table."""

    def __init__(self, argv: list[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr):
        self.out, self.err = out, err
        self.cl = MyCommandOptions()
        self.history: dict[int, str] = {}
        self.command_count = 0
        self.print_watches = True
        self.exit_code = 0
        self.zk = None
        self.host = ""
        self.commands = command_map()
        self._connected = self._closed = threading.Event()
        self.cl.parse_options(argv, err)
        write(out, f"Connecting to {self.cl.options['server']}\n")
        self.connect_to_zk(self.cl.options["server"])

    # -- session ----------------------------------------------------------------------------------

    def _on_event(self, event, connected: threading.Event, closed: threading.Event) -> None:
        """Java's MyWatcher: print the event (unless printwatches is off)."""
        if self.print_watches:
            state = getattr(event.state, "name", event.state)
            etype = str(getattr(event.type, "name", event.type)).rstrip("_")
            path = "null" if event.path is None else event.path
            write(self.out, f"\nWATCHER::\n\nWatchedEvent state:{state} type:{etype} path:{path}\n")
        if event.path is None and event.state == KeeperState.SyncConnected:
            connected.set()
        elif event.path is None and event.state == KeeperState.Closed:
            closed.set()

    def connect_to_zk(self, host: str) -> None:
        from ..client import ClientConfigError, ZKClientConfig, ZooKeeper

        if self.zk is not None and self.zk.get_state().is_alive():
            self.zk.close()
        self.host = host
        timeout = java_parse_int(self.cl.options["timeout"])
        # Events of this session only: an old session's late Closed must not count.
        connected, closed = self._connected, self._closed = threading.Event(), threading.Event()
        try:
            # Java: new ZKClientConfig(file) (or the default one): system properties, then the file.
            client_config = ZKClientConfig.from_environ(self.cl.options.get("client-configuration"))
            self.zk = ZooKeeper(host, timeout, lambda event: self._on_event(event, connected, closed),
                                can_be_read_only="readonly" in self.cl.options, client_config=client_config)
        except ClientConfigError as exc:
            raise CliException(str(exc), exit_code=2) from None
        except ValueError as exc:  # Java dies with a NumberFormatException here
            raise CliException(f"Invalid connect string {host}: {exc}") from None
        if "waitforconnection" in self.cl.options:
            if not connected.wait(timeout / 1000.0):
                self.zk.close()
                raise CliException("KeeperErrorCode = ConnectionLoss")

    def prompt(self) -> str:
        return f"[zk: {self.host}({self.zk.get_state().value}) {self.command_count}] "

    # -- running ------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run the one-shot command or the interactive loop; the exit code."""
        try:
            if self.cl.command is None:
                write(self.out, "Welcome to ZooKeeper!\n")
                if sys.stdin.isatty():
                    write(self.out, "JLine support is enabled\n")
                    self._interactive()
                else:
                    write(self.out, "JLine support is disabled\n")
                    for line in sys.stdin:
                        self.execute_line(line.rstrip("\r\n"))
            else:
                self.process_cmd(self.cl)
        except _Quit:
            pass
        except KeyboardInterrupt:  # Ctrl-C during a command ends the shell, as it ends Java's
            write(self.out, "\n")
            self.exit_code = 130
            self.print_watches = False
        else:
            # Java exits without closing (the session expires later); zkpy
            # closes it, quietly, so its ephemeral nodes go at once.
            self.print_watches = False
        finally:
            if self.zk is not None:
                self.zk.close()
        return self.exit_code

    def _interactive(self) -> None:
        import readline

        readline.set_completer(self._complete)
        readline.set_completer_delims(" /")
        readline.parse_and_bind("tab: complete")
        while True:
            try:
                line = input(self.prompt())
            except EOFError:
                write(self.out, "\n")
                return
            self.execute_line(line)

    def execute_line(self, line: str) -> None:
        if line != "":
            self.cl.parse_command(line)
            self.history[self.command_count] = line
            self.process_cmd(self.cl)
            self.command_count += 1

    def process_cmd(self, co: MyCommandOptions) -> bool:
        watch = False
        try:
            watch = self.process_zk_cmd(co)
            self.exit_code = 0
        except CliException as exc:
            self.exit_code = exc.exit_code
            write(self.err, exc.message + "\n")
        except NumberFormatError as exc:
            self.exit_code = 1
            write(self.err, exc.java_text() + "\n")
        return watch

    def usage(self) -> None:
        lines = ["ZooKeeper -server host:port -client-configuration properties-file cmd args"]
        table = dict(_MAIN_COMMANDS)
        table.update({name: cmd.option_str for name, cmd in self.commands.items()})
        lines += [f"\t{name} {table[name]}" for name in sorted(table)]
        write(self.err, "\n".join(lines) + "\n")

    def process_zk_cmd(self, co: MyCommandOptions) -> bool:
        args = co.cmd_args or []
        cmd = co.command
        if not args:
            self.usage()
            raise MalformedCommandException("No command entered")
        if cmd not in _MAIN_COMMANDS and cmd not in self.commands:
            self.usage()
            raise CommandNotFoundException(f"Command not found {cmd}")
        LOG.debug("Processing %s", cmd)

        if cmd == "quit":
            if self.zk.get_state().is_alive():
                self.zk.close()
                # Let the event thread print the Closed notice before the exit.
                self._closed.wait(2.0)
            raise _Quit()
        if cmd == "redo" and len(args) >= 2:
            i = java_decode(args[1])
            if self.command_count <= i or i < 0:  # never redo this redo
                raise MalformedCommandException("Command index out of range")
            self.cl.parse_command(self.history[i])
            if self.cl.command == "redo":
                raise MalformedCommandException("No redoing redos")
            self.history[self.command_count] = self.history[i]
            self.process_cmd(self.cl)
        elif cmd == "history":
            for i in range(max(self.command_count - 10, 0), self.command_count + 1):
                write(self.out, f"{i} - {self.history.get(i, 'null')}\n")
        elif cmd == "printwatches":
            if len(args) == 1:
                write(self.out, f"printwatches is {'on' if self.print_watches else 'off'}\n")
            else:
                self.print_watches = args[1] == "on"
        elif cmd == "connect":
            self.connect_to_zk(args[1] if len(args) >= 2 else self.host)

        # Everything below needs a live session.
        if self.zk is None or not self.zk.get_state().is_alive():
            write(self.out, "Not connected\n")
            return False
        command = self.commands.get(cmd)
        if command is None:
            return False
        command.bind(JavaClient(self.zk), self.out, self.err)
        return command.parse(list(args)).exec()

    # -- tab completion (Java's JLineZNodeCompleter) -----------------------------------------------

    def completions(self, buffer: str) -> list[str]:
        """What completes the last word of ``buffer``: znode names (after the
        last ``/``) for a word starting with ``/``, else command names."""
        token = "" if buffer.endswith(" ") else (buffer.split(" ") or [""])[-1]
        if token.startswith("/"):
            idx = token.rfind("/") + 1
            prefix = token[idx:]
            parent = "/" if idx == 1 else token[:idx - 1]
            try:
                children = self.zk.get_children(parent)
            except (KeeperException, ValueError):
                return []
            return sorted(c for c in children if c.startswith(prefix))
        names = sorted([*_MAIN_COMMANDS, *self.commands])
        return [name for name in names if name.startswith(token)]

    def _complete(self, text: str, state: int) -> Optional[str]:
        import readline

        if state == 0:
            self._matches = self.completions(readline.get_line_buffer()[:readline.get_endidx()])
            if len(self._matches) == 1:
                # A unique completion is followed by a blank, as JLine does
                # (Python's readline appends nothing itself).
                self._matches = [self._matches[0] + " "]
        return self._matches[state] if state < len(self._matches) else None


def _setup_logging() -> None:
    # Java's zkCli logs to a file, not the console; keep the console for results.
    level = os.environ.get("ZKPY_CLI_LOG_LEVEL", "ERROR").upper()
    logging.basicConfig(level=getattr(logging, level, logging.ERROR), stream=sys.stderr,
                        format="%(asctime)s [%(threadName)s] %(levelname)s %(name)s - %(message)s")


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False,
                      "help_option_names": []},
    help="ZooKeeper's shell: zkcli [-server host:port] [-timeout ms] [-r] [-client-configuration file] [cmd args...]",
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def _cli(argv: tuple[str, ...]) -> None:
    # Java's option syntax (-server, single dash, anywhere before the
    # command, unknown ones skipped) is not click's; MyCommandOptions reads it.
    _setup_logging()
    try:
        shell = ZooKeeperMain(list(argv))
    except CliException as exc:
        write(sys.stderr, exc.message + "\n")
        sys.exit(exc.exit_code)
    except NumberFormatError as exc:  # -timeout abc
        write(sys.stderr, exc.java_text() + "\n")
        sys.exit(1)
    sys.exit(shell.run())


def main(argv: Optional[list[str]] = None) -> None:
    """Console script ``zkcli`` and ``python -m zkpy.cli.zkcli``."""
    _cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="zkcli")


if __name__ == "__main__":
    main()
