"""The regular join operator (``JoinOperator``) on changelogs, without Ray.

Given random changelogs of both inputs (inserts, ``-U``/``+U`` updates and ``-D`` deletes of
rows they hold, in batches, or insert-only inputs), an INNER, LEFT, RIGHT or FULL join with or
without a non-equi condition, and a checkpoint and restore somewhere in between: the operator's
output, replayed as a changelog, never retracts a row it does not hold and ends at the join of the
inputs' final rows (brute force: every pair of rows, NULL-padded rows of an outer side without a
match). Then the bookkeeping of a LEFT join's padded rows, step by step.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rayflink.graph.transformations import OperatorKind, SqlJoinParams
from rayflink.operators.sql.keyed import DELETE, INSERT, UPDATE_AFTER, UPDATE_BEFORE
from rayflink.operators.sql.keys import KeyColumns
from rayflink.sql.expressions import Call, Col
from rayflink.sql.logical import ROWKIND
from rayflink.testing import OperatorHarness

LEFT = pa.schema([("k", pa.int64()), ("a", pa.int64())])
RIGHT = pa.schema([("k2", pa.int64()), ("b", pa.int64())])
SCHEMA = pa.schema(list(LEFT) + list(RIGHT))
A_AT_LEAST_B = Call("greater_equal", (Col(1, "a"), Col(3, "b")))
ACCUMULATE = (INSERT, UPDATE_AFTER)


def harness(kind: str, condition: Call | None, restored: list | None = None) -> OperatorHarness:
    params = SqlJoinParams((KeyColumns((0,)), KeyColumns((0,))), kind, condition, SCHEMA, changelog=True)
    return OperatorHarness(OperatorKind.SQL_JOIN, params, key_selectors=(lambda r: r, lambda r: r),
                           restored_state=restored)


def batch(side: int, changes: list[tuple[int, tuple]], changelog: bool) -> pa.RecordBatch:
    """``changes`` ((row kind, row), ...) as a batch of input ``side``; insert-only without ``ROWKIND``."""
    schema = LEFT if side == 0 else RIGHT
    columns = [pa.array([row[i] for _, row in changes], pa.int64()) for i in range(2)]
    if not changelog:
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    columns.append(pa.array([kind for kind, _ in changes], pa.int8()))
    return pa.RecordBatch.from_arrays(columns, schema=schema.append(pa.field(ROWKIND, pa.int8())))


def replay(outputs: list[pa.RecordBatch]) -> Counter:
    """The rows a changelog ends with; a retraction must take a row it holds."""
    held: Counter = Counter()
    for out in outputs:
        kinds = out.column(ROWKIND).to_pylist()
        rows = zip(*(out.column(i).to_pylist() for i in range(len(SCHEMA))))
        for kind, row in zip(kinds, rows):
            if kind in ACCUMULATE:
                held[row] += 1
            else:
                assert held[row] > 0, f"retracted {row} (kind {kind}), which the changelog does not hold"
                held[row] -= 1
    return +held


def brute_force(kind: str, condition: bool, left: Counter, right: Counter) -> Counter:
    expected: Counter = Counter()
    matched_left: Counter = Counter()
    matched_right: Counter = Counter()
    for lrow, lcount in left.items():
        for rrow, rcount in right.items():
            if lrow[0] is None or lrow[0] != rrow[0]:
                continue
            if condition and (lrow[1] is None or rrow[1] is None or lrow[1] < rrow[1]):
                continue
            expected[lrow + rrow] += lcount * rcount
            matched_left[lrow] += 1
            matched_right[rrow] += 1
    if kind in ("LEFT", "FULL"):
        for lrow, lcount in left.items():
            if not matched_left[lrow]:
                expected[lrow + (None, None)] += lcount
    if kind in ("RIGHT", "FULL"):
        for rrow, rcount in right.items():
            if not matched_right[rrow]:
                expected[(None, None) + rrow] += rcount
    return expected


VALUES = st.one_of(st.none(), st.integers(0, 3))
ROWS = st.tuples(st.sampled_from([None, 0, 1, 2]), VALUES)


@st.composite
def scenarios(draw):
    """A join and the batches of its two inputs: each a changelog of the rows it holds, or insert-only."""
    changelog = (draw(st.booleans()), draw(st.booleans()))
    held: tuple[list, list] = ([], [])
    batches = []
    for _ in range(draw(st.integers(1, 12))):
        side = draw(st.integers(0, 1))
        changes: list[tuple[int, tuple]] = []
        for _ in range(draw(st.integers(1, 6))):
            op = draw(st.sampled_from(["insert", "update", "delete"])) if changelog[side] and held[side] \
                else "insert"
            if op == "insert":
                row = draw(ROWS)
                held[side].append(row)
                changes.append((INSERT, row))
                continue
            old = held[side].pop(draw(st.integers(0, len(held[side]) - 1)))
            if op == "delete":
                changes.append((DELETE, old))
            else:
                new = draw(ROWS)
                held[side].append(new)
                changes += [(UPDATE_BEFORE, old), (UPDATE_AFTER, new)]
        batches.append((side, changes))
    kind = draw(st.sampled_from(["INNER", "LEFT", "RIGHT", "FULL"]))
    return kind, draw(st.booleans()), changelog, batches, draw(st.integers(0, len(batches)))


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_join_of_changelogs_ends_at_the_join_of_the_final_rows(scenario):
    kind, condition, changelog, batches, restore_at = scenario
    h = harness(kind, A_AT_LEAST_B if condition else None)
    outputs = []
    for i, (side, changes) in enumerate(batches):
        if i == restore_at:  # a checkpoint, and the job restored from it
            snapshot = h.snapshot()
            outputs += h.out
            h.close()
            h = harness(kind, A_AT_LEAST_B if condition else None, restored=[snapshot])
        h.batch([batch(side, changes, changelog[side])], input_index=side)
    outputs += h.out
    h.close()
    final: tuple[Counter, Counter] = (Counter(), Counter())
    for side, changes in batches:
        for row_kind, row in changes:
            final[side][row] += 1 if row_kind in ACCUMULATE else -1
    assert replay(outputs) == +brute_force(kind, condition, +final[0], +final[1])
    if kind != "INNER":  # an outer join emits inserts and deletes only
        assert {k for out in outputs for k in out.column(ROWKIND).to_pylist()} <= {INSERT, DELETE}


def changes_of(h: OperatorHarness) -> list[tuple]:
    """What the harness emitted since the last call, as (row kind, row...) tuples."""
    out = [(k, *row) for b in h.out for k, row in zip(b.column(ROWKIND).to_pylist(),
                                                       zip(*(b.column(i).to_pylist() for i in range(4))))]
    h.out.clear()
    return out


def test_a_left_row_is_padded_while_it_has_no_match_that_the_condition_accepts():
    h = harness("LEFT", A_AT_LEAST_B)
    h.batch([batch(0, [(INSERT, (1, 5))], changelog=False)], input_index=0)
    assert changes_of(h) == [(INSERT, 1, 5, None, None)]
    h.batch([batch(1, [(INSERT, (1, 7))], changelog=True)], input_index=1)  # 5 >= 7 fails: no match
    assert changes_of(h) == []
    h.batch([batch(1, [(UPDATE_BEFORE, (1, 7)), (UPDATE_AFTER, (1, 3))], changelog=True)], input_index=1)
    assert changes_of(h) == [(DELETE, 1, 5, None, None), (INSERT, 1, 5, 1, 3)]  # the first match
    h.batch([batch(1, [(INSERT, (1, 4))], changelog=True)], input_index=1)
    assert changes_of(h) == [(INSERT, 1, 5, 1, 4)]
    h.batch([batch(1, [(DELETE, (1, 3))], changelog=True)], input_index=1)
    assert changes_of(h) == [(DELETE, 1, 5, 1, 3)]  # one match is left
    h.batch([batch(1, [(DELETE, (1, 4))], changelog=True)], input_index=1)
    assert changes_of(h) == [(DELETE, 1, 5, 1, 4), (INSERT, 1, 5, None, None)]  # the last match went
    h.close()


def test_an_inner_join_forwards_the_row_kind_of_the_update():
    h = harness("INNER", A_AT_LEAST_B)
    h.batch([batch(0, [(INSERT, (1, 5)), (INSERT, (1, 2))], changelog=False)], input_index=0)
    h.batch([batch(1, [(INSERT, (1, 3))], changelog=True)], input_index=1)
    assert changes_of(h) == [(INSERT, 1, 5, 1, 3)]
    h.batch([batch(1, [(UPDATE_BEFORE, (1, 3)), (UPDATE_AFTER, (1, 1))], changelog=True)], input_index=1)
    assert changes_of(h) == [(UPDATE_BEFORE, 1, 5, 1, 3), (UPDATE_AFTER, 1, 5, 1, 1), (UPDATE_AFTER, 1, 2, 1, 1)]
    h.close()
