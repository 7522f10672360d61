"""The fault tier's linearizability checker (tests/fault/linearizability.py).

Hand-made histories of one znode used as a register (read after sync,
setData, setData with a version), then properties: histories generated
from the sequential model with random concurrency are accepted; a read
corrupted to a value nobody wrote is rejected; and on small histories the
search agrees with the definition (every real-time-respecting order tried).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fault.linearizability import (
    BADVERSION, FAIL, INFO, OK, Op, VersionedRegister, brute_force_linearizable, check_register,
)

INIT = (b"", 0)


def read(p, t0, t1, data, version, key="k"):
    return Op(p, "read", key, None, (data, version), OK, t0, t1)


def write(p, t0, t1, data, new_version=None, status=OK, key="k"):
    return Op(p, "write", key, data, new_version if status == OK else None, status, t0,
              t1 if status != INFO else None)


def cas(p, t0, t1, expected, data, output=None, status=OK, key="k"):
    return Op(p, "cas", key, (expected, data), output if status == OK else None, status, t0,
              t1 if status != INFO else None)


def valid(history, initial=INIT):
    result = check_register(history, initial)
    assert result.valid is brute_force_linearizable(history, VersionedRegister(initial)), result
    return result.valid


# -- accepted ---------------------------------------------------------------------------------------


def test_sequential_history():
    h = [write(1, 0, 1, b"a", 1), read(2, 2, 3, b"a", 1), cas(1, 4, 5, 1, b"b", 2),
         cas(2, 6, 7, 1, b"c", BADVERSION), read(1, 8, 9, b"b", 2)]
    assert valid(h)


def test_read_concurrent_with_a_write_sees_either_value():
    w = write(1, 0, 10, b"a", 1)
    assert valid([w, read(2, 1, 2, b"", 0)])
    assert valid([w, read(2, 1, 2, b"a", 1)])
    # Two overlapping reads may see old then new, but the one that starts
    # after the other saw the new value cannot go back.
    assert valid([w, read(2, 1, 2, b"a", 1), read(3, 3, 4, b"a", 1)])
    assert not valid([w, read(2, 1, 2, b"a", 1), read(3, 3, 4, b"", 0)])


def test_concurrent_cas_race_one_wins():
    h = [cas(1, 0, 5, 0, b"x", 1), cas(2, 1, 6, 0, b"y", BADVERSION), cas(3, 2, 7, 0, b"z", BADVERSION),
         read(1, 8, 9, b"x", 1)]
    assert valid(h)
    # Both applied with the same expected version: impossible.
    assert not valid([cas(1, 0, 5, 0, b"x", 1), cas(2, 1, 6, 0, b"y", 1)])


def test_indeterminate_write_may_have_happened_or_not():
    lost = write(1, 0, None, b"a", status=INFO)
    assert valid([lost, read(2, 5, 6, b"", 0)])
    assert valid([lost, read(2, 5, 6, b"a", 1)])
    # ... at any time after its invocation, even after later ops of others.
    assert valid([lost, write(2, 2, 3, b"b", 1), read(2, 5, 6, b"b", 1), read(2, 7, 8, b"a", 2)])
    # But not before it was invoked.
    assert not valid([read(2, 0, 1, b"a", 1), write(1, 2, None, b"a", status=INFO)])


def test_indeterminate_cas_applies_only_on_its_version():
    h = [write(1, 0, 1, b"a", 1), cas(2, 2, None, 1, b"b", status=INFO), read(1, 3, 4, b"b", 2)]
    assert valid(h)
    h = [write(1, 0, 1, b"a", 1), cas(2, 2, None, 0, b"b", status=INFO), read(1, 3, 4, b"b", 2)]
    assert not valid(h)


def test_failed_ops_and_indeterminate_reads_are_ignored():
    h = [write(1, 0, 1, b"a", 1), write(2, 2, 3, b"zzz", status=FAIL),
         Op(3, "read", "k", None, None, INFO, 4, None), read(1, 5, 6, b"a", 1)]
    assert valid(h)
    assert check_register(h).ops == 2


def test_keys_are_checked_independently():
    h = [write(1, 0, 1, b"a", 1, key="x"), write(2, 0, 1, b"b", 1, key="y"),
         read(1, 2, 3, b"a", 1, key="x"), read(2, 2, 3, b"b", 1, key="y")]
    result = check_register(h)
    assert result.valid is True and result.keys == 2 and result.ops == 4
    h.append(read(3, 4, 5, b"b", 1, key="x"))
    result = check_register(h)
    assert result.valid is False and result.per_key == {"x": False, "y": True}
    assert "key 'x'" in result.detail


# -- rejected -------------------------------------------------------------------------------------------


def test_stale_read_is_rejected():
    h = [write(1, 0, 1, b"a", 1), write(1, 2, 3, b"b", 2), read(2, 4, 5, b"a", 1)]
    result = check_register(h)
    assert result.valid is False
    assert "read" in result.detail and "b'a'" in result.detail
    assert not brute_force_linearizable(h, VersionedRegister(INIT))


def test_lost_acknowledged_write_is_rejected():
    # Acknowledged writes a, b, then every later read misses b.
    h = [write(1, 0, 1, b"a", 1), write(2, 2, 3, b"b", 2), read(1, 10, 11, b"a", 1), read(2, 12, 13, b"a", 1)]
    assert not valid(h)


def test_cas_on_a_wrong_version_is_rejected():
    h = [write(1, 0, 1, b"a", 1), write(1, 2, 3, b"b", 2), cas(2, 4, 5, 1, b"c", 2)]
    assert not valid(h)
    # And a BADVERSION when the version did match.
    assert not valid([write(1, 0, 1, b"a", 1), cas(2, 2, 3, 1, b"c", BADVERSION)])


def test_write_reporting_a_skipped_version_is_rejected():
    assert not valid([write(1, 0, 1, b"a", 1), write(1, 2, 3, b"b", 3)])


def test_budget_exhaustion_is_unknown_not_valid():
    h = [write(p, 0, None, bytes([p]), status=INFO) for p in range(12)]
    h += [read(20, 1, 2, b"nobody wrote this", 1)]
    result = check_register(h, max_steps=50)
    assert result.valid is None and not result and "gave up" in result.detail


# -- properties -------------------------------------------------------------------------------------------


@st.composite
def histories(draw, max_ops=30, processes=4, keys=("k",)):
    """A history produced by running the model: each op takes effect at a
    moment between its invocation and completion, processes interleave at
    random, and some ops end indeterminate (applied or not)."""
    states = {k: INIT for k in keys}
    n_ops = draw(st.integers(1, max_ops))
    pending: dict[int, dict] = {}
    history: list[Op] = []
    started = 0
    t = 0
    counter = 0
    while started < n_ops or pending:
        t += 1
        p = draw(st.integers(0, processes - 1))
        cur = pending.get(p)
        if cur is None:
            if started >= n_ops:
                continue
            started += 1
            counter += 1
            key = draw(st.sampled_from(keys))
            f = draw(st.sampled_from(["read", "read", "write", "cas", "cas"]))
            value = None
            if f == "write":
                value = b"w%d" % counter
            elif f == "cas":
                version = states[key][1]
                value = (draw(st.sampled_from([version, version, version - 1, version + 1])), b"c%d" % counter)
            pending[p] = dict(f=f, key=key, value=value, invoke=t, applied=False, output=None)
            continue
        if not cur["applied"]:
            if draw(st.integers(0, 9)) == 0:  # lost before it reached the register
                history.append(Op(p, cur["f"], cur["key"], cur["value"], None, INFO, cur["invoke"], None))
                del pending[p]
                continue
            legal_state = states[cur["key"]]
            if cur["f"] == "read":
                cur["output"] = legal_state
            elif cur["f"] == "write":
                states[cur["key"]] = (cur["value"], legal_state[1] + 1)
                cur["output"] = legal_state[1] + 1
            else:
                expected, data = cur["value"]
                if expected == legal_state[1]:
                    states[cur["key"]] = (data, expected + 1)
                    cur["output"] = expected + 1
                else:
                    cur["output"] = BADVERSION
            cur["applied"] = True
            continue
        if draw(st.integers(0, 9)) == 0:  # applied, but the client never heard
            history.append(Op(p, cur["f"], cur["key"], cur["value"], None, INFO, cur["invoke"], None))
        else:
            history.append(Op(p, cur["f"], cur["key"], cur["value"], cur["output"], OK, cur["invoke"], t))
        del pending[p]
    return history


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_ops=40, keys=("a", "b")))
def test_histories_of_the_model_are_accepted(history):
    result = check_register(history)
    assert result.valid is True, result.detail


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_ops=40), st.data())
def test_a_read_of_a_value_nobody_wrote_is_rejected(history, data):
    reads = [i for i, op in enumerate(history) if op.f == "read" and op.status == OK]
    if not reads:
        return
    i = data.draw(st.sampled_from(reads))
    _, version = history[i].output
    history[i] = dataclasses.replace(history[i], output=(b"never written", version))
    result = check_register(history)
    assert result.valid is False
    assert "never written" in result.detail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_ops=7, processes=3), st.data())
def test_search_agrees_with_the_definition_on_corrupted_histories(history, data):
    """Corrupt one op's output (a read's value or version, a write's or
    CAS's result): whatever the search says, enumeration must say too --
    it may still be linearizable when the change is not observable."""
    done = [i for i, op in enumerate(history) if op.status == OK]
    if done:
        i = data.draw(st.sampled_from(done))
        op = history[i]
        if op.f == "read":
            value, version = op.output
            output = data.draw(st.sampled_from([(value, version + 1), (value, version - 1),
                                                (b"w1", version), (b"c2", version)]))
        elif op.output == BADVERSION:
            output = op.value[0] + 1
        else:
            output = data.draw(st.sampled_from([op.output + 1, BADVERSION]))
        history[i] = dataclasses.replace(op, output=output)
    model = VersionedRegister(INIT)
    assert check_register(history).valid is brute_force_linearizable(history, model)


def test_checker_is_fast_enough_for_the_fault_tier():
    """What the register workload produces: keys of 60 ops from 5 clients,
    each key retired after 3 indeterminate ops (a chain of indeterminate
    writes is what makes the search exponential) -- 480 ops in well under
    the time of a run."""
    import random
    import time

    rng = random.Random(7)
    history, t = [], 0.0
    for key in range(8):
        state, lost = INIT, 0
        for n in range(60):
            p = n % 5
            t += 1
            if rng.random() < 0.5:
                history.append(read(p, t, t + 3.5, *state, key=key))
            elif rng.random() < 0.1 and lost < 3:
                lost += 1
                history.append(write(p, t, None, b"x%d" % n, status=INFO, key=key))  # never applied
            else:
                state = (b"x%d" % n, state[1] + 1)
                history.append(cas(p, t, t + 3.5, state[1] - 1, state[0], state[1], key=key))
    start = time.monotonic()
    result = check_register(history)
    assert result.valid is True, result.detail
    assert result.keys == 8
    assert time.monotonic() - start < 5.0
    # One stale read in the middle of a key (what an earlier read saw) is found as fast.
    i, j = next((i, j) for i, op in enumerate(history) if i > 100 and op.f == "read"
                for j in range(i) if history[j].f == "read" and history[j].key == op.key
                and history[j].complete < op.invoke and history[j].output[1] < op.output[1])
    history[i] = dataclasses.replace(history[i], output=history[j].output)
    start = time.monotonic()
    assert check_register(history).valid is False
    assert time.monotonic() - start < 5.0


@pytest.mark.parametrize("status", [OK, INFO])
def test_unknown_operation_is_an_error(status):
    with pytest.raises(ValueError):
        check_register([Op(1, "delete", "k", None, None, status, 0, 1)])
