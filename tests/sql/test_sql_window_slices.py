"""The sliced window aggregate (``WindowAggregateOperator``) against a brute-force model, without Ray.

Given random TUMBLE, HOP and CUMULATE windows (sizes, slides, offsets), keys of zero, one or two
columns with NULLs, rows out of order in batches, watermarks that make some rows late, and a
checkpoint and restore somewhere in between (from one old subtask, or from two holding different
keys): after every watermark the operator has emitted exactly the rows of the windows the
watermark passed, each with the aggregates of the rows that arrived before its window fired
(brute force: every row in every window it belongs to), and it counts the rows it dropped as late.
Restored at a higher parallelism, each subtask keeps the slices' rows of the key groups it owns.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayflink.graph.transformations import OperatorKind, OperatorSpec, SqlWindowAggregateParams
from rayflink.operators.sql.keys import KeyColumns
from rayflink.runtime.messages import MAX_WATERMARK
from rayflink.runtime.operator import OperatorContext
from rayflink.runtime.registry import create_operator
from rayflink.sql.logical import AggCall, WindowSpec
from rayflink.state.backend import StateError
from rayflink.state.key_groups import assign_key_group
from rayflink.testing import OperatorHarness
from rayflink.testing.harness import CollectingOutput

INPUT = pa.schema([("k", pa.string()), ("g", pa.int32()), ("v", pa.int64()), ("ts", pa.timestamp("ms"))])
AGGS = (AggCall("count_star", None, False, pa.int64()), AggCall("count", 2, False, pa.int64()),
        AggCall("sum", 2, False, pa.int64()), AggCall("min", 2, False, pa.int64()),
        AggCall("max", 0, False, pa.string()), AggCall("avg", 2, False, pa.int64()),
        AggCall("count", 2, True, pa.int64()), AggCall("sum", 1, True, pa.int32()))
KEYS = [(), (0,), (0, 1)]


def harness(keys: tuple[int, ...], window: WindowSpec, restored: list | None = None) -> OperatorHarness:
    schema = pa.schema([INPUT.field(i) for i in keys] + [("window_start", pa.timestamp("ms")),
                                                         ("window_end", pa.timestamp("ms")),
                                                         ("window_time", pa.timestamp("ms"))]
                       + [(f"$agg{i}", c.type) for i, c in enumerate(AGGS)])
    params = SqlWindowAggregateParams(KeyColumns(keys), AGGS, schema, 3, window)
    return OperatorHarness(OperatorKind.SQL_WINDOW_AGGREGATE, params, key_selectors=(lambda r: r,),
                           restored_state=restored)


def windows_of(window: WindowSpec, ts: int) -> list[tuple[int, int]]:
    """Every (start, end) window holding ``ts``, enumerated."""
    size, slide, offset = window.size_ms, window.slide_ms, window.offset_ms
    if window.kind == "CUMULATE":
        period = ts - (ts - offset) % size
        return [(period, period + j * slide) for j in range(1, size // slide + 1) if period + j * slide > ts]
    first = ts - (ts - offset) % slide - size + slide
    return [(s, s + size) for s in range(first, ts + 1, slide)]


def aggregate(rows: list[tuple]) -> tuple:
    """The aggregates of AGGS over ``rows`` (k, g, v, ts), as SQL computes them."""
    vs = [r[2] for r in rows if r[2] is not None]
    ks = [r[0] for r in rows if r[0] is not None]
    gs = {r[1] for r in rows if r[1] is not None}
    return (len(rows), len(vs), sum(vs) if vs else None, min(vs) if vs else None, max(ks) if ks else None,
            int(sum(vs) / len(vs)) if vs else None, len(set(vs)), sum(gs) if gs else None)


class Model:
    """Rows assigned to the windows that have not fired when they arrive; windows fire at watermarks."""

    def __init__(self, keys: tuple[int, ...], window: WindowSpec) -> None:
        self.keys, self.window = keys, window
        self.watermark = -(2**63)
        self.windows: dict[tuple, list] = {}  # (key values, start, end) -> rows
        self.late = 0

    def add(self, rows: list[tuple]) -> None:
        for row in rows:
            if row[3] is None:
                continue
            live = [(s, e) for s, e in windows_of(self.window, row[3]) if e - 1 > self.watermark]
            self.late += not live
            for s, e in live:
                self.windows.setdefault((tuple(row[i] for i in self.keys), s, e), []).append(row)

    def fire(self, watermark: int) -> Counter:
        out: Counter = Counter()
        for (key, s, e), rows in list(self.windows.items()):
            if e - 1 <= watermark:
                out[(*key, s, e, e - 1, *aggregate(rows))] += 1
                del self.windows[(key, s, e)]
        self.watermark = max(self.watermark, watermark)
        return out


def emitted(h: OperatorHarness) -> Counter:
    """The rows the harness emitted since the last call (window fields in epoch ms)."""
    out: Counter = Counter()
    for b in h.out:
        columns = [(c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c).to_pylist() for c in b.columns]
        out.update(zip(*columns))
    h.out.clear()
    return out


WINDOWS = st.one_of(
    st.builds(lambda size, offset: WindowSpec("TUMBLE", size, size, offset),
              st.sampled_from([5, 10, 30]), st.sampled_from([0, 3])),
    st.builds(lambda slide, n, offset: WindowSpec("HOP", slide * n, slide, offset),
              st.sampled_from([2, 5, 10]), st.integers(1, 5), st.sampled_from([0, 1])),
    st.builds(lambda step, n: WindowSpec("CUMULATE", step * n, step),
              st.sampled_from([2, 5, 10]), st.integers(1, 5)),
)
ROWS = st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.sampled_from([1, 2, None]),
                          st.one_of(st.none(), st.integers(-3, 9)),
                          st.one_of(st.integers(0, 120), st.just(None))), min_size=1, max_size=12)


@st.composite
def scenarios(draw):
    """A window, keys, and steps: batches of rows and rising watermarks (some rows come late)."""
    steps: list = []
    watermark = -1
    for _ in range(draw(st.integers(1, 14))):
        if draw(st.booleans()):
            steps.append(("rows", draw(ROWS)))
        else:
            watermark += draw(st.integers(0, 25))
            steps.append(("watermark", watermark))
    return draw(WINDOWS), draw(st.sampled_from(KEYS)), steps, draw(st.integers(0, len(steps))), draw(st.booleans())


def batch(rows: list[tuple]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([r[i] for r in rows], f.type) for i, f in enumerate(INPUT)],
                                      schema=INPUT)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_sliced_windows_emit_what_every_row_in_every_window_gives(scenario):
    window, keys, steps, restore_at, split = scenario
    model = Model(keys, window)
    h = harness(keys, window)
    late = 0
    for i, (what, value) in enumerate([*steps, ("watermark", MAX_WATERMARK)]):
        if i == restore_at:  # a checkpoint, and the job restored from it (from two old subtasks: split)
            snapshot = h.snapshot()
            late += h.op.metrics()["num_late_records_dropped"]
            h.close()
            h = harness(keys, window, restored=[snapshot] if not split else _split(snapshot, keys))
        if what == "rows":
            h.batch([batch(value)])
            model.add(value)
        else:
            h.watermark(value)
            assert emitted(h) == model.fire(value), (window, keys, steps)
    assert late + h.op.metrics()["num_late_records_dropped"] == model.late
    assert not h.op.slices, "every slice is dropped once its last window fired"
    h.close()


def _split(snapshot: dict, keys: tuple[int, ...]) -> list[dict]:
    """``snapshot`` as two old subtasks would have taken it: rows with key "a" in one, the rest in the other."""
    if not keys:
        return [snapshot, {"slices": {}, "fired_until": snapshot["fired_until"]}]
    halves = []
    for first in (True, False):
        slices = {}
        for end, table in snapshot["slices"].items():
            mask = pa.array([(k == "a") == first for k in table.column(0).to_pylist()])
            slices[end] = table.filter(mask)
        halves.append({"slices": slices, "fired_until": snapshot["fired_until"]})
    return halves


def test_a_row_updates_one_slice_however_many_windows_hold_it():
    h = harness((0,), WindowSpec("HOP", 10_000, 2_000))
    h.batch([batch([("a", 1, 5, 1_000 * t) for t in range(0, 20)])])
    h.watermark(0)
    assert sorted(h.op.slices) == list(range(2_000, 22_000, 2_000))  # ten slices of two rows, not 50 windows
    assert all(sum(t.num_rows for t in pieces) == 1 for pieces in h.op.slices.values())
    h.watermark(9_999)
    assert [(r[1], r[4]) for r in sorted(emitted(h))] == [(-8_000, 2), (-6_000, 4), (-4_000, 6), (-2_000, 8),
                                                         (0, 10)]
    h.close()


def test_a_restore_at_a_higher_parallelism_keeps_the_slices_of_the_key_groups_each_subtask_owns(tmp_path):
    window = WindowSpec("HOP", 20, 10)
    h = harness((0,), window)
    h.batch([batch([(k, 1, v, t) for k in ("a", "b", "c", "d", "e", None) for v, t in ((1, 3), (2, 14))])])
    snapshot = h.snapshot()
    h.watermark(MAX_WATERMARK)
    whole = emitted(h)
    h.close()
    parts: list[Counter] = []
    for subtask in range(2):  # the same state restored into two subtasks
        ctx = OperatorContext(name="w", uid="w-uid", subtask_index=subtask, parallelism=2, max_parallelism=128,
                              attempt=1, config={}, state_key_selectors=(lambda r: r,), working_dir=str(tmp_path))
        op = create_operator(OperatorSpec(OperatorKind.SQL_WINDOW_AGGREGATE, h.op.params), ctx)
        out = CollectingOutput()
        op.output.add(out)
        op.open()
        op.restore_state([snapshot])
        op.process_watermark(MAX_WATERMARK)
        parts.append(Counter(row for b in out.values for row in zip(*(
            (c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c).to_pylist() for c in b.columns))))
        owned = ctx.key_groups()
        assert all(assign_key_group(row[0], 128) in owned for row in parts[-1])
    assert parts[0] + parts[1] == whole and parts[0] and parts[1]


def test_a_state_of_accumulators_per_window_is_refused_with_a_clear_error():
    with pytest.raises(StateError, match="accumulator per window"):
        harness((0,), WindowSpec("TUMBLE", 10, 10), restored=[{"keyed": {}, "timers": {}}])
