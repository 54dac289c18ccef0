"""Processing-time windows and OVER aggregations (on a ``proc_time AS PROCTIME()`` column).

The operators with a clock the test sets: a row belongs to the window of the clock when it
arrives, a window fires when processing time passes its end (watermarks fire nothing), and OVER
rows are emitted at once in arrival order. Then jobs on Ray (SQL and a Table API sliding window)
whose answers do not depend on timing: windows of a bounded input all fire at its end, so their
counts and sums add up to the input's, and an unbounded ROWS frame numbers each key's rows 1..n.
"""

from __future__ import annotations

import datetime
from collections import Counter

import pyarrow as pa
import pytest

from rayflink.graph.transformations import OperatorKind, SqlOverAggregateParams, SqlWindowAggregateParams
from rayflink.operators.sql.keys import KeyColumns
from rayflink.sql.errors import SqlValidationError
from rayflink.sql.logical import AggCall, OverFrame, WindowSpec
from rayflink.table import EnvironmentSettings, TableEnvironment
from rayflink.table.expressions import col, lit
from rayflink.table.window import Slide
from rayflink.testing import OperatorHarness

INPUT = pa.schema([("k", pa.string()), ("v", pa.int64()), ("pt", pa.timestamp("ms", tz="UTC"))])
COUNT_SUM = (AggCall("count_star", None, False, pa.int64()), AggCall("sum", 1, False, pa.int64()))


def batch(rows: list[tuple[str, int]]) -> pa.RecordBatch:
    """Rows of (k, v); the PROCTIME() column holds a time the operators must not use."""
    return pa.RecordBatch.from_arrays([pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows], pa.int64()),
                                       pa.array([0] * len(rows), pa.int64()).cast(INPUT.field("pt").type)],
                                      schema=INPUT)


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def window_harness(window: WindowSpec) -> tuple[OperatorHarness, Clock]:
    time_type = INPUT.field("pt").type
    schema = pa.schema([("k", pa.string()), ("window_start", time_type), ("window_end", time_type),
                        ("window_time", time_type), ("n", pa.int64()), ("s", pa.int64())])
    h = OperatorHarness(OperatorKind.SQL_WINDOW_AGGREGATE,
                        SqlWindowAggregateParams(KeyColumns((0,)), COUNT_SUM, schema, 2, window),
                        key_selectors=(lambda r: r,))
    clock = Clock()
    h.op.clock = clock  # type: ignore[attr-defined]
    return h, clock


def fired(h: OperatorHarness) -> list[tuple]:
    out = sorted((k, s.timestamp() * 1000, e.timestamp() * 1000, n, total)
                 for b in h.out for k, s, e, _, n, total in zip(*(c.to_pylist() for c in b.columns)))
    h.out.clear()
    return out


def test_a_processing_time_tumbling_window_fires_when_the_clock_passes_its_end():
    h, clock = window_harness(WindowSpec("TUMBLE", 10, 10, proctime=True))
    clock.now = 3
    h.batch([batch([("a", 1), ("b", 2), ("a", 3)])])
    assert h.op.next_processing_time_timer() == 9
    h.watermark(1_000)  # event time fires nothing here
    assert fired(h) == []
    clock.now = 12
    h.batch([batch([("a", 10)])])
    h.processing_time(9)
    assert fired(h) == [("a", 0, 10, 2, 4), ("b", 0, 10, 1, 2)]
    assert h.op.next_processing_time_timer() == 19
    h.end_input()  # a bounded input's end fires every window
    assert fired(h) == [("a", 10, 20, 1, 10)]
    assert h.op.next_processing_time_timer() is None
    h.close()


def test_a_processing_time_sliding_window_holds_each_row_in_size_over_slide_windows():
    h, clock = window_harness(WindowSpec("HOP", 30, 10, proctime=True))
    clock.now = 5
    h.batch([batch([("a", 1)])])
    clock.now = 15
    h.batch([batch([("a", 2)])])
    h.processing_time(15)
    assert fired(h) == [("a", -20, 10, 1, 1)]
    h.processing_time(100)
    assert fired(h) == [("a", -10, 20, 2, 3), ("a", 0, 30, 2, 3), ("a", 10, 40, 1, 2)]
    clock.now = 50  # a clock behind the last firing (100): the row lands after it, never late
    h.batch([batch([("a", 7)])])
    h.end_input()
    assert fired(h) == [("a", 80, 110, 1, 7), ("a", 90, 120, 1, 7), ("a", 100, 130, 1, 7)]
    assert h.op.metrics()["num_late_records_dropped"] == 0
    h.close()


@pytest.mark.parametrize("frame, expected", [
    (OverFrame("ROWS", 1, proctime=True), [("a", 1, 1, 1), ("a", 2, 2, 3), ("b", 3, 1, 3), ("a", 4, 2, 6)]),
    (OverFrame("RANGE", None, proctime=True), [("a", 1, 2, 3), ("a", 2, 2, 3), ("b", 3, 1, 3), ("a", 4, 3, 7)]),
])
def test_a_processing_time_over_aggregation_emits_each_row_at_once(frame, expected):
    schema = pa.schema(list(INPUT) + [("n", pa.int64()), ("s", pa.int64())])
    h = OperatorHarness(OperatorKind.SQL_OVER_AGGREGATE,
                        SqlOverAggregateParams(KeyColumns((0,)), 2, frame, COUNT_SUM, schema),
                        key_selectors=(KeyColumns((0,)),))
    h.op.clock = lambda: 7  # type: ignore[attr-defined]  # a stopped clock: batches still follow each other
    h.batch([batch([("a", 1), ("a", 2), ("b", 3)])])
    assert len(h.out) == 1, "emitted without a watermark"
    h.batch([batch([("a", 4)])])
    got = [(k, v, n, s) for b in h.out for k, v, _, n, s in zip(*(c.to_pylist() for c in b.columns))]
    assert sorted(got) == sorted(expected)  # RANGE: the rows of a batch are peers
    h.close()


ROWS = [(f"k{i % 3}", i) for i in range(300)]


@pytest.fixture
def t_env(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    for part in range(3):
        (root / f"part-{part}.csv").write_text("".join(f"{k},{v}\n" for k, v in ROWS[part::3]))
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "2")
    env.execute_sql(f"""CREATE TABLE t (k STRING, v BIGINT, pt AS PROCTIME())
                        WITH ('connector' = 'filesystem', 'path' = '{root}', 'format' = 'csv')""")
    return env


def totals(rows: list) -> dict:
    out: dict = {}
    for k, n, s in rows:
        out[k] = (out.get(k, (0, 0))[0] + n, out.get(k, (0, 0))[1] + s)
    return out


EXPECTED = {k: (sum(1 for r in ROWS if r[0] == k), sum(v for kk, v in ROWS if kk == k)) for k in ("k0", "k1", "k2")}


@pytest.mark.integration
def test_processing_time_windows_of_a_bounded_input_all_fire_at_its_end(t_env):
    tvf = [tuple(r) for r in t_env.execute_sql("""
        SELECT k, window_start, window_end, COUNT(*), SUM(v)
        FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(pt), INTERVAL '1' SECOND)) GROUP BY k, window_start, window_end
        """).collect()]
    assert all(end - start == datetime.timedelta(seconds=1) for _, start, end, _, _ in tvf)
    assert totals([(k, n, s) for k, _, _, n, s in tvf]) == EXPECTED
    legacy = [tuple(r) for r in t_env.execute_sql("""
        SELECT k, TUMBLE_START(pt, INTERVAL '1' SECOND), COUNT(*), SUM(v) FROM t
        GROUP BY TUMBLE(pt, INTERVAL '1' SECOND), k""").collect()]
    assert totals([(k, n, s) for k, _, n, s in legacy]) == EXPECTED


@pytest.mark.integration
def test_an_unbounded_rows_frame_in_processing_time_numbers_each_keys_rows(t_env):
    rows = [tuple(r) for r in t_env.execute_sql("""
        SELECT k, COUNT(*) OVER (PARTITION BY k ORDER BY pt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        FROM t""").collect()]
    assert Counter(rows) == Counter((k, i) for k, (n, _) in EXPECTED.items() for i in range(1, n + 1))


@pytest.mark.integration
def test_a_table_api_sliding_window_on_a_proctime_attribute(t_env):
    windowed = t_env.from_path("t").window(Slide.over(lit(2).seconds).every(lit(1).seconds).on(col("pt")).alias("w")) \
        .group_by(col("w"), col("k")).select(col("k"), col("w").start.alias("s"), col("v").count.alias("n"))
    rows = [tuple(r) for r in windowed.execute().collect()]
    assert {k: sum(n for kk, _, n in rows if kk == k) for k in EXPECTED} == {k: 2 * n for k, (n, _) in EXPECTED.items()}


def test_explain_and_errors_of_processing_time_windows(t_env):
    assert "TUMBLE(size=[1000 ms], processing time) on pt" in t_env.explain_sql(
        "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(pt), INTERVAL '1' SECOND)) "
        "GROUP BY window_start, window_end")
    with pytest.raises(SqlValidationError, match="SESSION windows in processing time"):
        t_env.explain_sql("SELECT COUNT(*) FROM t GROUP BY SESSION(pt, INTERVAL '1' SECOND)")
    with pytest.raises(SqlValidationError, match="supported in a window aggregation"):
        t_env.explain_sql("SELECT * FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(pt), INTERVAL '1' SECOND))")
    with pytest.raises(SqlValidationError, match="not an event-time attribute"):
        t_env.explain_sql("SELECT COUNT(*) FROM t GROUP BY TUMBLE(v, INTERVAL '1' SECOND)")
