"""A linearizability checker for histories of versioned registers (znodes).

Not a ZooKeeper class: Apache ZooKeeper's own tests have no such checker
(Jepsen's ZooKeeper test uses Knossos). This is the search Knossos'
``linear`` and Porcupine's checkers run -- Wing & Gong's depth-first search
for a linearization, with Lowe's memoization of (linearized ops, model
state) -- over one key at a time: linearizability is compositional
(Herlihy & Wing's locality, the "P-compositionality" of Horn & Kroening),
so a history is linearizable iff each key's sub-history is, and the search
stays small when keys are many and each key's history short.

A history is a list of :class:`Op`, each one operation of one client
thread, with its invocation and completion times (one monotonic clock) and
its outcome, Jepsen style:

* ``ok``: it completed, with ``output``;
* ``fail``: it certainly took no effect (dropped before the search);
* ``info``: indeterminate (a timeout, a lost connection): it may have taken
  effect at any moment after its invocation, or never. Its completion is
  taken as +infinity; an indeterminate read is dropped (it changed nothing).

The model, :class:`VersionedRegister`, is a znode under ZooKeeper's
``getData`` / ``setData``: the state is ``(data, version)``, every write
adds one to the version, and ``setData`` with an expected version (CAS)
applies only when it matches, else the client gets BADVERSION -- which is
an observation too, so a refused CAS is an ``ok`` op whose output is
:data:`BADVERSION`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Callable, Optional

__all__ = ["Op", "OK", "FAIL", "INFO", "BADVERSION", "VersionedRegister", "CheckResult", "check",
           "check_register", "brute_force_linearizable", "with_stale_read"]

OK = "ok"
FAIL = "fail"
INFO = "info"
#: The output of a CAS the server refused (KeeperException.BadVersion).
BADVERSION = "badversion"

READ, WRITE, CAS = "read", "write", "cas"


@dataclasses.dataclass(frozen=True)
class Op:
    """One client operation on one key.

    ``value``: a write's data; a CAS's ``(expected_version, data)``; None for
    a read. ``output``: a read's ``(data, version)``; a write's or applied
    CAS's new version (None when not known); :data:`BADVERSION` for a
    refused CAS; None for info ops. ``complete`` is None for info ops.
    """

    process: int
    f: str
    key: Hashable
    value: object = None
    output: object = None
    status: str = OK
    invoke: float = 0.0
    complete: Optional[float] = None
    #: Diagnostics only (e.g. the server that answered); never checked.
    note: str = dataclasses.field(default="", compare=False)

    def describe(self) -> str:
        when = f"[{self.invoke:.6f}, {'inf' if self.complete is None else f'{self.complete:.6f}'}]"
        out = "" if self.status != OK else f" -> {self.output!r}"
        via = f" via {self.note}" if self.note else ""
        return f"p{self.process} {self.f}({self.key!r}, {self.value!r}){out} {self.status} {when}{via}"


class VersionedRegister:
    """A znode's ``(data, version)`` under read / write / CAS.

    ``step(state, op)`` returns ``(legal, new_state)``: whether ``op`` can
    take effect in ``state`` with the output it reported.
    """

    def __init__(self, initial: tuple[object, int] = (b"", 0)):
        self.initial = initial

    def init(self) -> tuple[object, int]:
        return self.initial

    @staticmethod
    def step(state: tuple[object, int], op: Op) -> tuple[bool, tuple[object, int]]:
        data, version = state
        if op.f == READ:
            return op.output == state, state
        if op.f == WRITE:
            new = (op.value, version + 1)
            if op.status == INFO or op.output is None:
                return True, new
            return op.output == version + 1, new
        if op.f == CAS:
            expected, new_data = op.value
            if op.status == INFO:
                return True, ((new_data, version + 1) if expected == version else state)
            if op.output == BADVERSION:
                return expected != version, state
            return expected == version and op.output in (None, version + 1), (new_data, version + 1)
        raise ValueError(f"unknown operation {op.f!r}")


@dataclasses.dataclass
class CheckResult:
    """The verdict: ``valid`` is True, False, or None when the search ran
    out of its step budget (unknown: the history was too concurrent)."""

    valid: Optional[bool]
    ops: int
    keys: int
    #: The verdict of each key.
    per_key: dict = dataclasses.field(default_factory=dict)
    #: For an invalid key: why (the op that could not be linearized).
    detail: str = ""
    steps: int = 0

    def __bool__(self) -> bool:
        return self.valid is True

    @property
    def verdict(self) -> str:
        return {True: "linearizable", False: "NOT linearizable", None: "unknown (search budget exhausted)"}[
            self.valid]


class _Entry:
    """A call or return event in the search's doubly linked list."""

    __slots__ = ("op", "index", "is_call", "match", "prev", "next")

    def __init__(self, op: Optional[Op], index: int, is_call: bool):
        self.op = op
        self.index = index
        self.is_call = is_call
        self.match: Optional[_Entry] = None
        self.prev: Optional[_Entry] = None
        self.next: Optional[_Entry] = None


def _relevant(op: Op) -> bool:
    if op.status == FAIL:
        return False
    if op.status == INFO and op.f == READ:
        return False
    if op.status not in (OK, INFO):
        raise ValueError(f"unknown status {op.status!r} in {op!r}")
    return True


def _build_list(ops: list[Op]) -> _Entry:
    """Call and return entries in time order; at equal times calls come
    first, so ops that only touch are taken as concurrent (never a false
    alarm)."""
    events = []
    for i, op in enumerate(ops):
        complete = math.inf if op.status == INFO or op.complete is None else op.complete
        if complete < op.invoke:
            raise ValueError(f"op completes before it is invoked: {op!r}")
        events.append((op.invoke, 0, i))
        events.append((complete, 1, i))
    events.sort()
    head = _Entry(None, -1, False)
    calls: dict[int, _Entry] = {}
    prev = head
    for _, kind, i in events:
        entry = _Entry(ops[i], i, kind == 0)
        if kind == 0:
            calls[i] = entry
        else:
            calls[i].match = entry
        prev.next = entry
        entry.prev = prev
        prev = entry
    return head


def _lift(entry: _Entry) -> None:
    entry.prev.next = entry.next
    entry.next.prev = entry.prev  # a call always has its return after it
    match = entry.match
    match.prev.next = match.next
    if match.next is not None:
        match.next.prev = match.prev


def _unlift(entry: _Entry) -> None:
    match = entry.match
    match.prev.next = match
    if match.next is not None:
        match.next.prev = match
    entry.prev.next = entry
    entry.next.prev = entry


def _check_one(ops: list[Op], model, max_steps: int) -> tuple[Optional[bool], str, int]:
    """Wing & Gong's search with Lowe's cache, for one key's ops."""
    if not ops:
        return True, "", 0
    head = _build_list(ops)
    state = model.init()
    linearized = 0  # bit i set: ops[i] is linearized
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[_Entry, object]] = []
    entry = head.next
    steps = 0
    deepest, stuck = -1, None
    step = model.step
    while head.next is not None:
        steps += 1
        if steps > max_steps:
            return None, f"gave up after {max_steps} steps ({len(ops)} ops)", steps
        if entry.is_call:
            legal, new_state = step(state, entry.op)
            if legal:
                bits = linearized | (1 << entry.index)
                key = (bits, new_state)
                if key not in seen:
                    seen.add(key)
                    stack.append((entry, state))
                    state = new_state
                    linearized = bits
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # A return whose call is not linearized yet: backtrack.
            if len(stack) > deepest:
                deepest, stuck = len(stack), (entry.op, state)
            if not stack:
                break
            top, state = stack.pop()
            linearized &= ~(1 << top.index)
            _unlift(top)
            entry = top.next
    else:
        return True, "", steps
    op, before = stuck
    detail = (f"no linearization of {len(ops)} ops: at best {deepest} were linearized, then "
              f"{op.describe()} could not be, from state {before!r}")
    return False, detail, steps


def check(history: Iterable[Op], model_for_key: Callable[[Hashable], object], *,
          max_steps: int = 2_000_000) -> CheckResult:
    """Check ``history`` key by key; ``model_for_key(key)`` gives each
    key's model (``init()`` and ``step(state, op)``). ``max_steps`` bounds
    each key's search."""
    by_key: dict[Hashable, list[Op]] = {}
    total = 0
    for op in history:
        if _relevant(op):
            by_key.setdefault(op.key, []).append(op)
            total += 1
    result = CheckResult(True, total, len(by_key))
    for key in sorted(by_key, key=repr):
        valid, detail, steps = _check_one(by_key[key], model_for_key(key), max_steps)
        result.per_key[key] = valid
        result.steps += steps
        if valid is False:
            result.valid = False
            result.detail = result.detail or f"key {key!r}: {detail}"
        elif valid is None and result.valid is True:
            result.valid = None
            result.detail = f"key {key!r}: {detail}"
    return result


def check_register(history: Iterable[Op], initial: Mapping[Hashable, tuple[object, int]] | tuple[object, int]
                   = (b"", 0), *, max_steps: int = 2_000_000) -> CheckResult:
    """:func:`check` with a :class:`VersionedRegister` per key, starting at
    ``initial`` (one ``(data, version)`` for every key, or a map by key)."""
    if isinstance(initial, Mapping):
        return check(history, lambda key: VersionedRegister(initial[key]), max_steps=max_steps)
    return check(history, lambda key: VersionedRegister(initial), max_steps=max_steps)


def brute_force_linearizable(history: Iterable[Op], model) -> bool:
    """The definition, by enumeration (for testing :func:`check` on small
    histories): some order of all the relevant ops, each after every op that
    completed before it was invoked, is legal for ``model``."""
    ops = [op for op in history if _relevant(op)]

    def ends(op: Op) -> float:
        return math.inf if op.status == INFO or op.complete is None else op.complete

    def search(remaining: tuple[int, ...], state) -> bool:
        if not remaining:
            return True
        for i in remaining:
            # ops[i] may go next only if no remaining op completed before it began.
            if any(ends(ops[j]) < ops[i].invoke for j in remaining if j != i):
                continue
            legal, new_state = model.step(state, ops[i])
            if legal and search(tuple(j for j in remaining if j != i), new_state):
                return True
        return False

    return search(tuple(range(len(ops))), model.init())


def with_stale_read(history: list[Op]) -> tuple[list[Op], str]:
    """A copy of ``history`` with one corruption a checker must catch: a
    read that returns what an earlier read of the same key returned,
    although a write acknowledged in between changed the register. Raises
    ValueError when the history has no such pair of reads."""
    reads = [(i, op) for i, op in enumerate(history) if op.f == READ and op.status == OK]
    writes = [op for op in history if op.f in (WRITE, CAS) and op.status == OK and op.output != BADVERSION]
    for late_index, late in reversed(reads):
        for _, early in reads:
            if early.key != late.key or early.complete is None or early.complete >= late.invoke:
                continue
            if early.output[1] >= late.output[1]:
                continue
            # A write of this key wholly between the two reads: the old value cannot come back.
            if any(w.key == late.key and w.invoke > early.complete and w.complete is not None
                   and w.complete < late.invoke for w in writes):
                corrupted = list(history)
                corrupted[late_index] = dataclasses.replace(late, output=early.output)
                return corrupted, f"{late.describe()} made to return {early.output!r}"
    raise ValueError("no pair of reads with an acknowledged write between them")
