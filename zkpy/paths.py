"""Path rules for znodes.

Java: ``org.apache.zookeeper.common.PathUtils`` (ZK_SPEC.md §2.14). The
server answers BADARGUMENTS when a path breaks these rules.
"""

from __future__ import annotations

import re

from .errors import Code, KeeperException

#: A path that passes every rule below, checked in C: "/"-separated names
#: that are neither "." nor ".." and hold no character PathUtils refuses.
#: Anything else takes the character walk, which names the reason.
_VALID_PATH = re.compile("(?:/(?!\\.\\.?(?:/|\\Z))[^/\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\U0010ffff]+)+\\Z")


def _bad_char(c: str) -> bool:
    # Controls, C1 controls, the surrogate and private-use block
    # U+D800-U+F8FF, and U+FFF0-U+FFFF, as PathUtils; above U+FFFF Java
    # sees a surrogate pair, which that block refuses too.
    return ("\u0000" < c <= "\u001f" or "\u007f" <= c <= "\u009f" or "\ud800" <= c <= "\uf8ff"
            or c >= "\ufff0")


def path_error(path: str | None, is_sequential: bool = False) -> str | None:
    """Java's message (PathUtils' IllegalArgumentException text) for an
    invalid znode path, or None when it is valid.

    A sequential create is checked with a sequence suffix appended, as Java
    does, so a trailing "/" is allowed there (``/queue/``).
    """
    if path is None:
        return "Path cannot be null"
    if is_sequential:
        path = path + "1"
    if not path:
        return "Path length must be > 0"
    if path[0] != "/":
        return "Path must start with / character"
    if len(path) == 1 or _VALID_PATH.match(path):
        return None
    if path[-1] == "/":
        return "Path must not end with / character"
    return _name_error(path)


def _name_error(path: str) -> str | None:
    """The character walk over a path that starts with "/": Java's message
    for the first bad name or character, None when there is none."""
    last = "/"
    for i in range(1, len(path)):
        c = path[i]
        reason = None
        if c == "\0":
            reason = f"null character not allowed @{i}"
        elif c == "/" and last == "/":
            reason = f"empty node name specified @{i}"
        elif c == "." and last == ".":
            if path[i - 2] == "/" and (i + 1 == len(path) or path[i + 1] == "/"):
                reason = f"relative paths not allowed @{i}"
        elif c == ".":
            if path[i - 1] == "/" and (i + 1 == len(path) or path[i + 1] == "/"):
                reason = f"relative paths not allowed @{i}"
        elif _bad_char(c):
            reason = f"invalid character @{i}"
        if reason:
            return f'Invalid path string "{path}" caused by {reason}'
        last = c
    return None


def validate_path(path: str | None, is_sequential: bool = False) -> None:
    """Raise BADARGUMENTS (with the reason) when ``path`` is invalid."""
    reason = path_error(path, is_sequential)
    if reason is not None:
        raise KeeperException(Code.BADARGUMENTS, path, reason)


def parent_of(path: str) -> str:
    """The parent of an absolute path; "/" for a child of the root."""
    idx = path.rfind("/")
    return path[:idx] if idx > 0 else "/"


def basename(path: str) -> str:
    return path[path.rfind("/") + 1 :]


def join(parent: str, child: str) -> str:
    return ("" if parent == "/" else parent) + "/" + child
