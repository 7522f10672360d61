"""Path rules for znodes.

Java: ``org.apache.zookeeper.common.PathUtils`` (ZK_SPEC.md §2.14). The
server answers BADARGUMENTS when a path breaks these rules.
"""

from __future__ import annotations

import re

from .errors import Code, KeeperException

# Characters PathUtils rejects: controls, C1 controls, the surrogate and
# private-use block U+D800-U+F8FF, and U+FFF0-U+FFFF.
_BAD_CHARS = re.compile("[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]")


def path_error(path: str | None, is_sequential: bool = False) -> str | None:
    """Why ``path`` is not a valid znode path, or None when it is.

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
    if len(path) == 1:
        return None
    if path[-1] == "/":
        return "Path must not end with / character"
    for segment in path[1:].split("/"):
        if not segment:
            return "empty node name specified"
        if segment in (".", ".."):
            return "relative paths not allowed"
    bad = _BAD_CHARS.search(path)
    if bad:
        return f"invalid character @{bad.start()}"
    return None


def validate_path(path: str | None, is_sequential: bool = False) -> None:
    """Raise BADARGUMENTS (with the reason) when ``path`` is invalid."""
    reason = path_error(path, is_sequential)
    if reason is not None:
        raise KeeperException(Code.BADARGUMENTS, path, f"Invalid path string \"{path}\" caused by {reason}")


def parent_of(path: str) -> str:
    """The parent of an absolute path; "/" for a child of the root."""
    idx = path.rfind("/")
    return path[:idx] if idx > 0 else "/"


def basename(path: str) -> str:
    return path[path.rfind("/") + 1 :]


def join(parent: str, child: str) -> str:
    return ("" if parent == "/" else parent) + "/" + child
