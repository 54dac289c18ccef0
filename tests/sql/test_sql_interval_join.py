"""The interval join (``IntervalJoinOperator``) against brute force, without Ray, and as a job
against DuckDB.

Given random rows of both inputs (keys with NULLs, times out of order by at most a bound), in
batches, with watermarks trailing the times by that bound and a checkpoint and restore somewhere in
between, an INNER, LEFT, RIGHT or FULL join: the operator emits every pair of rows of equal key
whose times and other condition match (brute force over all pairs), each once, and each row of an
outer side that matched nothing once, padded with NULLs; and after each watermark it keeps only the rows a
row still to come can match, so the state is bounded by the interval, not by the input; its
watermark goes on delayed by the interval's reach, so that windows over the joined rows (on the
left time, which stays the event-time attribute) equal DuckDB's too.
"""

from __future__ import annotations

import random
from collections import Counter

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayflink.graph.transformations import OperatorKind, SqlIntervalJoinParams
from rayflink.operators.sql.keys import KeyColumns
from rayflink.runtime.messages import MAX_WATERMARK
from rayflink.sql.expressions import Call, Col, Lit
from rayflink.table import EnvironmentSettings, TableEnvironment
from rayflink.testing import OperatorHarness
from tests.sql.test_sql_differential import SEED, final_state, make_data, normalize, same_rows

LEFT = pa.schema([("k", pa.int64()), ("a", pa.int64()), ("t", pa.timestamp("ms"))])
RIGHT = pa.schema([("k2", pa.int64()), ("b", pa.int64()), ("t2", pa.timestamp("ms"))])
SCHEMA = pa.schema(list(LEFT) + list(RIGHT))
DISORDER_MS = 5  # rows come at most this much out of order; watermarks trail by as much


def condition(lower: int, upper: int, a_below_b: bool) -> Call:
    """``t BETWEEN t2 + lower AND t2 + upper`` (and ``a < b``)."""
    def shifted(ms: int) -> Call:
        return Call("add", (Col(5, "t2"), Lit(ms, pa.duration("ms"))))

    bounds = Call("and", (Call("greater_equal", (Col(2, "t"), shifted(lower))),
                          Call("less_equal", (Col(2, "t"), shifted(upper)))))
    return Call("and", (bounds, Call("less", (Col(1, "a"), Col(4, "b"))))) if a_below_b else bounds


def harness(kind: str, lower: int, upper: int, a_below_b: bool, restored: list | None = None) -> OperatorHarness:
    keys = (KeyColumns((0,)), KeyColumns((0,)))
    params = SqlIntervalJoinParams(keys, kind, condition(lower, upper, a_below_b), 2, 2, lower, upper, SCHEMA)
    return OperatorHarness(OperatorKind.SQL_INTERVAL_JOIN, params, key_selectors=keys, restored_state=restored)


def batch(side: int, rows: list[tuple]) -> pa.RecordBatch:
    schema = LEFT if side == 0 else RIGHT
    return pa.RecordBatch.from_arrays([pa.array([r[i] for r in rows], f.type) for i, f in enumerate(schema)],
                                      schema=schema)


def retained(h: OperatorHarness) -> int:
    """The rows the operator keeps in state, both sides."""
    backend, total = h.op.keyed_backend, 0
    for side, name in enumerate(("sql-interval-join-left", "sql-interval-join-right")):
        for key in backend.keys(name):
            backend.set_current_key(key)
            total += sum(len(rows) for rows in h.op.sides[side].values())
    return total


@st.composite
def scenarios(draw):
    """Batches of rows of both sides, times rising with some disorder; bounds; a restore point."""
    lower = draw(st.integers(-20, 5))
    upper = lower + draw(st.integers(0, 20))
    clock, steps = 0, []
    for _ in range(draw(st.integers(1, 16))):
        side = draw(st.integers(0, 1))
        rows = []
        for _ in range(draw(st.integers(1, 5))):
            clock += draw(st.integers(0, 4))
            rows.append((draw(st.sampled_from([None, 0, 1, 2])), draw(st.integers(0, 5)),
                         clock - draw(st.integers(0, DISORDER_MS))))
        steps.append((side, rows, clock - DISORDER_MS - 1))  # then the watermark: no row to come is at or before it
    kind = draw(st.sampled_from(["INNER", "LEFT", "RIGHT", "FULL"]))
    return kind, lower, upper, draw(st.booleans()), steps, draw(st.integers(0, len(steps)))


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_interval_join_emits_every_matching_pair_once_and_keeps_only_rows_still_matchable(scenario):
    kind, lower, upper, a_below_b, steps, restore_at = scenario
    h = harness(kind, lower, upper, a_below_b)
    out: Counter = Counter()
    seen: tuple[list, list] = ([], [])
    for i, (side, rows, watermark) in enumerate(steps):
        if i == restore_at:  # a checkpoint, and the job restored from it
            snapshot = h.snapshot()
            out.update(_rows(h))
            h.close()
            h = harness(kind, lower, upper, a_below_b, restored=[snapshot])
        h.batch([batch(side, rows)], input_index=side)
        seen[side].extend(rows)
        h.watermark(watermark)
        assert h.main.watermarks[-1] == watermark - max(-lower, upper, 0)  # delayed: no joined row is late
        # kept: the rows a row later than the watermark can still match
        assert retained(h) == sum(1 for r in seen[0] if r[0] is not None and r[2] - lower > watermark) + \
            sum(1 for r in seen[1] if r[0] is not None and r[2] + upper > watermark)
    h.watermark(MAX_WATERMARK)
    out.update(_rows(h))
    assert retained(h) == 0
    h.close()
    def match(left: tuple, right: tuple) -> bool:
        return left[0] is not None and left[0] == right[0] and right[2] + lower <= left[2] <= right[2] + upper \
            and (not a_below_b or left[1] < right[1])

    expected = Counter(left + right for left in seen[0] for right in seen[1] if match(left, right))
    if kind in ("LEFT", "FULL"):  # a row that never matched, padded with NULLs
        expected.update(left + (None,) * 3 for left in seen[0] if not any(match(left, r) for r in seen[1]))
    if kind in ("RIGHT", "FULL"):
        expected.update((None,) * 3 + right for right in seen[1] if not any(match(left, right) for left in seen[0]))
    assert out == expected


def _rows(h: OperatorHarness) -> Counter:
    got: Counter = Counter()
    for b in h.out:
        columns = [(c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c).to_pylist() for c in b.columns]
        got.update(zip(*columns))
    h.out.clear()
    return got


@pytest.mark.integration
@pytest.mark.parametrize("join", ["JOIN", "FULL JOIN"])
def test_an_interval_join_query_equals_duckdb(tmp_path, join):
    table = make_data(random.Random(SEED))
    lines = [",".join("" if x is None else x.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if hasattr(x, "strftime")
                      else str(x) for x in row)
             for row in zip(*(table.column(c).to_pylist() for c in table.column_names))]
    for part in range(3):
        (tmp_path / f"part-{part}.csv").write_text("\n".join(lines[part::3]) + "\n")
    query = (f"SELECT a.k, a.v, a.ts, b.v, b.ts FROM t AS a {join} t AS b ON a.k = b.k AND a.g < b.g "
             "AND a.ts BETWEEN b.ts - INTERVAL '2' SECOND AND b.ts + INTERVAL '1' SECOND")
    con = duckdb.connect()
    con.register("t", table)
    expected = Counter(normalize(r) for r in con.execute(query).fetchall())
    for settings_ in (EnvironmentSettings.in_streaming_mode(), EnvironmentSettings.in_batch_mode()):
        t_env = TableEnvironment.create(settings_)
        t_env.get_config().set("parallelism.default", "2")
        t_env.execute_sql(f"""CREATE TABLE t (k STRING, g INT, v INT, d DOUBLE, ts TIMESTAMP(3),
                              WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
                              WITH ('connector' = 'filesystem', 'path' = '{tmp_path}', 'format' = 'csv')""")
        assert f"IntervalJoin(joinType=[{join.split()[0] if ' ' in join else 'INNER'}]" in t_env.explain_sql(query)
        got = final_state(t_env.execute_sql(query).collect())
        assert len(expected) > 100 and same_rows(got, expected), (got - expected, expected - got)
        if join != "JOIN":
            continue
        # the joined rows keep a's time as their event time: windows over them, none late
        windows = final_state(t_env.execute_sql(
            f"SELECT TUMBLE_START(ts, INTERVAL '1' MINUTE), COUNT(*), SUM(bv) FROM (SELECT a.ts, b.v AS bv "
            f"{query[query.index('FROM'):]}) AS j GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)").collect())
        assert windows == Counter(normalize(r) for r in con.execute(
            f"SELECT epoch_ms(CAST(a.ts AS TIMESTAMP)) // 60000 * 60000 AS ws, COUNT(*), SUM(b.v) "
            f"{query[query.index('FROM'):]} GROUP BY ws").fetchall())
