"""Reference-counted cache of ACL lists.

Java: ``org.apache.zookeeper.server.ReferenceCountedACLCache``. Every node
stores a long index instead of its ACL list; index -1 stands for
OPEN_ACL_UNSAFE and is never stored (ZK_SPEC.md §5.5). The snapshot writes
the index -> list map; reference counts are rebuilt on load.
"""

from __future__ import annotations

import threading

from ..jute.records import ACL, OPEN_ACL_UNSAFE

OPEN_UNSAFE_ACL_ID = -1


def _acl_key(acls: list[ACL]) -> tuple:
    """A dict key for an ACL list made of plain tuples: hashing and comparing
    them stays in C (the records' own __hash__/__eq__ are Python code, and
    every create and setACL looks its list up here)."""
    return tuple((a.perms, a.id.scheme, a.id.id) if a.id is not None else (a.perms, None, None) for a in acls)


class ReferenceCountedACLCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_index: dict[int, list[ACL]] = {}
        self._by_acl: dict[tuple, int] = {}
        self._refs: dict[int, int] = {}
        self._last_index = 0

    def convert_acls(self, acls: list[ACL] | None) -> int:
        """The index for ``acls``, adding one usage (a new index if unseen)."""
        if acls is None:
            return OPEN_UNSAFE_ACL_ID
        key = _acl_key(acls)
        with self._lock:
            index = self._by_acl.get(key)
            if index is None:
                self._last_index += 1
                index = self._last_index
                self._by_index[index] = list(acls)
                self._by_acl[key] = index
            self._refs[index] = self._refs.get(index, 0) + 1
            return index

    def convert_long(self, index: int) -> list[ACL]:
        if index == OPEN_UNSAFE_ACL_ID:
            return OPEN_ACL_UNSAFE
        acls = self._by_index.get(index)
        if acls is None:
            raise KeyError(f"Failed to fetch acls for {index}")
        return acls

    def add_usage(self, index: int) -> None:
        if index == OPEN_UNSAFE_ACL_ID:
            return
        with self._lock:
            if index in self._by_index:
                self._refs[index] = self._refs.get(index, 0) + 1

    def remove_usage(self, index: int) -> None:
        if index == OPEN_UNSAFE_ACL_ID:
            return
        with self._lock:
            count = self._refs.get(index)
            if count is None:
                return
            if count <= 1:
                del self._refs[index]
                acls = self._by_index.pop(index, None)
                if acls is not None:
                    self._by_acl.pop(_acl_key(acls), None)
            else:
                self._refs[index] = count - 1

    def entries(self) -> list[tuple[int, list[ACL]]]:
        with self._lock:
            return list(self._by_index.items())

    def load(self, entries: list[tuple[int, list[ACL]]]) -> None:
        """Replace the cache with a snapshot's map; counts start at zero."""
        with self._lock:
            self._by_index.clear()
            self._by_acl.clear()
            self._refs.clear()
            self._last_index = 0
            for index, acls in entries:
                self._by_index[index] = list(acls)
                self._by_acl[_acl_key(acls)] = index
                self._last_index = max(self._last_index, index)

    def purge_unused(self) -> None:
        with self._lock:
            for index in [i for i in self._by_index if self._refs.get(i, 0) == 0]:
                self._by_acl.pop(_acl_key(self._by_index.pop(index)), None)

    def __len__(self) -> int:
        return len(self._by_index)
