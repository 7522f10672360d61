"""Option parsing for zkCli's commands, as Apache commons-cli parses them.

Java: commons-cli's ``Options``, ``Option``, ``OptionGroup``,
``DefaultParser`` and its ``ParseException`` subclasses, which ZooKeeper's
``org.apache.zookeeper.cli`` commands use. zkCli shows commons-cli's
exception text to the user (``org.apache.commons.cli.MissingArgumentException:
Missing argument for option: v``), so the parser follows DefaultParser
(commons-cli 1.4/1.5) closely: options may come after arguments, ``--``
ends them, ``-sw`` is ``-s -w``, ``-v5`` and ``-v=5`` give ``v`` the value
5, a negative number is an option value, an unknown ``-x`` is an error, and
a group of mutually exclusive options may be required.

Only short options exist (no zkCli command declares a long one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

__all__ = [
    "AlreadySelectedException", "CommandLine", "MissingArgumentException", "MissingOptionException",
    "Option", "OptionGroup", "Options", "ParseException", "UnrecognizedOptionException", "parse",
]


class ParseException(Exception):
    """commons-cli's ParseException; ``str()`` is what Java's
    ``Throwable.toString()`` gives (class name, colon, message)."""

    java_class = "org.apache.commons.cli.ParseException"

    def __str__(self) -> str:
        return f"{self.java_class}: {self.args[0]}"


class UnrecognizedOptionException(ParseException):
    java_class = "org.apache.commons.cli.UnrecognizedOptionException"


class MissingArgumentException(ParseException):
    java_class = "org.apache.commons.cli.MissingArgumentException"


class MissingOptionException(ParseException):
    java_class = "org.apache.commons.cli.MissingOptionException"


class AlreadySelectedException(ParseException):
    java_class = "org.apache.commons.cli.AlreadySelectedException"


@dataclass(frozen=True)
class Option:
    """A short option ``-opt``; ``has_arg`` options take exactly one value."""

    opt: str
    has_arg: bool
    description: str

    def __str__(self) -> str:  # as OptionGroup.toString shows it
        return f"-{self.opt} {self.description}"


@dataclass
class OptionGroup:
    """Mutually exclusive options; ``required``: one of them must be given."""

    options: list[Option]
    required: bool = False

    def __str__(self) -> str:
        return "[" + ", ".join(str(o) for o in self.options) + "]"


@dataclass
class Options:
    """The options a command accepts (insertion order is kept, as Java's)."""

    options: dict[str, Option] = field(default_factory=dict)
    groups: list[OptionGroup] = field(default_factory=list)

    def add(self, opt: str, has_arg: bool, description: str) -> "Options":
        self.options[opt] = Option(opt, has_arg, description)
        return self

    def add_group(self, group: OptionGroup) -> "Options":
        for option in group.options:
            self.options[option.opt] = option
        self.groups.append(group)
        return self

    def group_of(self, opt: str) -> Optional[OptionGroup]:
        for group in self.groups:
            if any(o.opt == opt for o in group.options):
                return group
        return None

    def usage(self, cmd_line_syntax: str) -> str:
        """commons-cli's ``HelpFormatter.printHelp(syntax, options)`` text
        (options sorted, descriptions aligned), as ``ls -?`` prints it."""
        rows = sorted(self.options.values(), key=lambda o: o.opt.lower())
        lines = [f"usage: {cmd_line_syntax}"]
        cells = [f" -{o.opt}" + (" <arg>" if o.has_arg else "") for o in rows]
        width = max((len(c) for c in cells), default=0)
        for cell, option in zip(cells, rows):
            lines.append(f"{cell.ljust(width)}   {option.description}")
        return "\n".join(lines)


class CommandLine:
    """The parse result: options seen (with values) and the other arguments."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._values: dict[str, Optional[str]] = {}

    def has_option(self, opt: str) -> bool:
        return opt in self._values

    def get_option_value(self, opt: str) -> Optional[str]:
        return self._values.get(opt)

    def _add(self, opt: str) -> None:
        self._values.setdefault(opt, None)

    def _set_value(self, opt: str, value: str) -> None:
        if self._values.get(opt) is None:  # Java returns the first value
            self._values[opt] = value


def _is_negative_number(token: str) -> bool:
    try:
        float(token)  # Double.parseDouble accepts what float() does for "-1", "-1.5", "-1e3"
    except ValueError:
        return False
    return token.startswith("-")


class _Parser:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.cmd = CommandLine()
        self.current: Optional[Option] = None  # an option still waiting for its value
        self.skip_parsing = False
        self.selected: dict[int, str] = {}  # id(group) -> chosen opt
        self.expected: list[OptionGroup] = [g for g in options.groups if g.required]

    # -- DefaultParser.isShortOption / isArgument ----------------------------------------
    def _is_short_option(self, token: str) -> bool:
        if not token.startswith("-") or len(token) == 1:
            return False
        pos = token.find("=")
        name = token[1:] if pos == -1 else token[1:pos]
        if name in self.options.options:
            return True
        return bool(name) and name[0] in self.options.options

    def _is_argument(self, token: str) -> bool:
        return not self._is_short_option(token) or _is_negative_number(token)

    # -- handling -------------------------------------------------------------------------
    def _check_required_args(self) -> None:
        if self.current is not None and self.current.has_arg:
            raise MissingArgumentException(f"Missing argument for option: {self.current.opt}")

    def _handle_option(self, option: Option) -> None:
        self._check_required_args()
        group = self.options.group_of(option.opt)
        if group is not None:
            if group in self.expected:
                self.expected.remove(group)
            chosen = self.selected.get(id(group))
            if chosen is not None and chosen != option.opt:
                raise AlreadySelectedException(
                    f"The option '{option.opt}' was specified but an option from this group "
                    f"has already been selected: '{chosen}'")
            self.selected[id(group)] = option.opt
        self.cmd._add(option.opt)
        self.current = option if option.has_arg else None

    def _give_value(self, value: str) -> None:
        assert self.current is not None
        self.cmd._set_value(self.current.opt, value)
        self.current = None

    def _unknown(self, token: str) -> None:
        if token.startswith("-") and len(token) > 1:
            raise UnrecognizedOptionException(f"Unrecognized option: {token}")
        self.cmd.args.append(token)

    def _concatenated(self, token: str) -> None:
        for i in range(1, len(token)):
            ch = token[i]
            option = self.options.options.get(ch)
            if option is None:
                self._unknown(token)
                return
            self._handle_option(option)
            if self.current is not None and len(token) != i + 1:
                self._give_value(token[i + 1:])
                return

    def _short_or_long(self, token: str) -> None:
        t = token.lstrip("-") if token.startswith("--") else token[1:]
        pos = t.find("=")
        if len(t) == 1:
            option = self.options.options.get(t)
            if option is None:
                self._unknown(token)
            else:
                self._handle_option(option)
        elif pos == -1:
            option = self.options.options.get(t)
            if option is not None:
                self._handle_option(option)
            else:
                self._concatenated(token)
        else:
            name, value = t[:pos], t[pos + 1:]
            option = self.options.options.get(name) if len(name) == 1 else None
            if option is not None and option.has_arg:
                self._handle_option(option)
                self._give_value(value)
            else:
                self._unknown(token)

    def handle(self, token: str) -> None:
        if self.skip_parsing:
            self.cmd.args.append(token)
        elif token == "--":
            self.skip_parsing = True
        elif self.current is not None and self._is_argument(token):
            self._give_value(token)
        elif token.startswith("--"):
            self._unknown(token)  # no long options
        elif token.startswith("-") and token != "-":
            self._short_or_long(token)
        else:
            self._unknown(token)

    def finish(self) -> CommandLine:
        self._check_required_args()
        if self.expected:
            plural = "" if len(self.expected) == 1 else "s"
            raise MissingOptionException(
                f"Missing required option{plural}: " + ", ".join(str(g) for g in self.expected))
        return self.cmd


def parse(options: Options, tokens: list[str]) -> CommandLine:
    """Parse ``tokens`` (the command name first, as zkCli passes them);
    raise a :class:`ParseException` subclass as DefaultParser would."""
    parser = _Parser(options)
    for token in tokens:
        parser.handle(token)
    return parser.finish()
