"""OVER aggregations: the operator against a brute-force model of Flink's semantics (rows emitted
when the watermark passes them, late rows dropped and counted, ROWS and RANGE frames, peers) and
across a snapshot and restore; the planner's errors; a query run as a job."""

from __future__ import annotations

import datetime
import random
from collections import Counter, deque

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayflink.graph.transformations import OperatorKind, SqlOverAggregateParams
from rayflink.operators.sql.keys import KeyColumns
from rayflink.sql.errors import SqlPlanningError, SqlValidationError
from rayflink.sql.logical import AggCall, OverFrame
from rayflink.table import EnvironmentSettings, TableEnvironment
from rayflink.testing import OperatorHarness
from tests.sql.test_sql_differential import BASE_MS, SEED, final_state, normalize, same_rows

INPUT = pa.schema([pa.field("k", pa.string()), pa.field("v", pa.int64()), pa.field("ts", pa.timestamp("ms"))])
AGGS = (AggCall("sum", 1, False, pa.int64()), AggCall("count_star", None, False, pa.int64()),
        AggCall("count", 1, False, pa.int64()), AggCall("min", 1, False, pa.int64()),
        AggCall("max", 1, False, pa.int64()), AggCall("avg", 1, False, pa.int64()))
OUTPUT = pa.schema(list(INPUT) + [pa.field(f"a{i}", a.type) for i, a in enumerate(AGGS)])
FRAMES = [OverFrame("ROWS", 2), OverFrame("ROWS", 0), OverFrame("ROWS", None), OverFrame("RANGE", 3),
          OverFrame("RANGE", 0), OverFrame("RANGE", None)]


def harness(frame: OverFrame, restored: list | None = None) -> OperatorHarness:
    keys = KeyColumns((0,))
    return OperatorHarness(OperatorKind.SQL_OVER_AGGREGATE, SqlOverAggregateParams(keys, 2, frame, AGGS, OUTPUT),
                           key_selectors=(keys,), restored_state=restored)


def feed(h: OperatorHarness, events: list) -> None:
    watermark = -(2**63)
    for e in events:
        if e[0] == "wm":
            watermark = max(watermark, e[1])  # watermarks only rise
            h.watermark(watermark)
        else:
            rows = e[1]
            h.batch([pa.RecordBatch.from_pylist([{"k": k, "v": v, "ts": t} for k, v, t in rows], schema=INPUT)])


def emitted(h: OperatorHarness) -> list[tuple]:
    out = []
    for batch in h.out:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        out += [(k, v, _ms(ts), *aggs)
                for k, v, ts, *aggs in zip(*columns)]
    return out


def _ms(ts) -> int:
    return int((ts - datetime.datetime(1970, 1, 1)) / datetime.timedelta(milliseconds=1))


def model(events: list, frame: OverFrame, restore_at: int | None = None) -> tuple[list[tuple], int]:
    """Every on-time row with its frame's SUM, COUNT(*), COUNT, MIN, MAX, AVG (truncated), and the
    number of late rows: a row is late when its time is at or before the watermark it arrives
    after, or at or before the last time its key emitted (a restore after ``restore_at`` events
    sets the watermark back)."""
    watermark, rows, late, emitted = -(2**63), [], 0, {}
    for i, e in enumerate(events):
        if i == restore_at:
            watermark = -(2**63)
        if e[0] == "wm":
            watermark = max(watermark, e[1])
            for k, _, t, _ in rows:
                if t <= watermark:
                    emitted[k] = max(emitted.get(k, t), t)
            continue
        for k, v, t in e[1]:
            if t <= watermark or t <= emitted.get(k, -(2**63)):
                late += 1
            else:
                rows.append((k, v, t, len(rows)))
    out = []
    for k, v, t, seq in rows:
        mine = sorted((r for r in rows if r[0] == k), key=lambda r: (r[2], r[3]))
        if frame.kind == "ROWS":
            at = mine.index((k, v, t, seq))
            inside = mine[max(0, at - frame.preceding):at + 1] if frame.preceding is not None else mine[:at + 1]
        else:
            low = t - frame.preceding if frame.preceding is not None else -(2**63)
            inside = [r for r in mine if low <= r[2] <= t]
        values = [r[1] for r in inside if r[1] is not None]
        out.append((k, v, t, sum(values) if values else None, len(inside), len(values),
                    min(values, default=None), max(values, default=None),
                    int(sum(values) / len(values)) if values else None))
    return out, late


row = st.tuples(st.sampled_from(["a", "b", None]), st.one_of(st.none(), st.integers(-5, 9)), st.integers(0, 12))
event = st.one_of(st.tuples(st.just("rows"), st.lists(row, min_size=1, max_size=4)),
                  st.tuples(st.just("wm"), st.integers(0, 12)))


@settings(max_examples=60, deadline=None)
@given(events=st.lists(event, max_size=14), frame=st.sampled_from(FRAMES), cut=st.integers(0, 14))
def test_over_aggregate_equals_the_model_and_survives_a_restore(events, frame, cut):
    # Given random rows of three keys (NULL among them) with ties, interleaved with watermarks,
    expected, late = model(events, frame)
    after_restore, _ = model(events, frame, restore_at=cut)
    # when the operator runs them in one go,
    h = harness(frame)
    feed(h, events)
    dropped = h.op.metrics()["num_late_records_dropped"]
    h.end_input()
    whole = emitted(h)
    h.close()
    # and again, snapshotted after the first ``cut`` events and restored into a new operator
    # (whose watermark starts over, as after a job's restore),
    first = harness(frame)
    feed(first, events[:cut])
    snapshot = first.snapshot()
    before = emitted(first)
    first.close()
    second = harness(frame, restored=[snapshot])
    feed(second, events[cut:])
    second.end_input()
    resumed = before + emitted(second)
    second.close()
    # then each on-time row comes out once with its frame's aggregates (peers alike in RANGE),
    # each key's rows in time order, late rows counted, and the restored run agrees.
    assert Counter(whole) == Counter(expected)
    assert dropped == late
    assert Counter(resumed) == Counter(after_restore)
    for key in ("a", "b", None):
        times = [r[2] for r in whole if r[0] == key]
        assert times == sorted(times)


def test_rows_wait_for_the_watermark_and_late_ones_are_counted():
    h = harness(OverFrame("RANGE", None))
    feed(h, [("rows", [("a", 1, 5), ("a", 2, 7)]), ("wm", 5)])
    assert emitted(h) == [("a", 1, 5, 1, 1, 1, 1, 1, 1)]  # 7 waits for a watermark at or past it
    feed(h, [("rows", [("a", 9, 5), ("a", 3, 4), ("a", 4, 6)]), ("wm", 10)])  # 5 and 4 are late
    assert emitted(h)[1:] == [("a", 4, 6, 5, 2, 2, 1, 4, 2), ("a", 2, 7, 7, 3, 3, 1, 4, 2)]
    assert h.op.metrics() == {"num_late_records_dropped": 2}
    h.close()


def test_range_rows_no_frame_can_see_are_removed_from_state():
    h = harness(OverFrame("RANGE", 3))
    feed(h, [("rows", [("a", 1, 1), ("a", 2, 2)]), ("wm", 2)])
    assert h.op.state.value()[1]  # the frame's rows, kept for the frames of later rows
    feed(h, [("wm", 6)])  # every later row is after 6: its frame starts after 3
    assert list(h.op.state.value()) == [None, deque(), 2]  # no rows, no accumulator: the last time emitted
    h.close()


# ---- planning -------------------------------------------------------------------------------

@pytest.fixture
def t_env(tmp_path):
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.execute_sql(f"""CREATE TABLE orders (user_id STRING, amount DOUBLE, n INT, ts TIMESTAMP(3),
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{tmp_path}', 'format' = 'csv')""")
    return t_env


BRIEF_QUERY = """
    SELECT user_id, amount, ts,
      SUM(amount) OVER w AS last3, COUNT(*) OVER w AS n3, AVG(amount) OVER w, MAX(amount) OVER w
    FROM orders
    WINDOW w AS (PARTITION BY user_id ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)"""


def test_explain_shows_the_over_aggregate(t_env):
    plan = t_env.explain_sql(BRIEF_QUERY)
    assert ("OverAggregate(partitionBy=[user_id], orderBy=[ts ASC], window=[ROWS BETWEEN 2 PRECEDING AND CURRENT "
            "ROW], select=[SUM(amount) AS w0$o0, COUNT(*) AS w0$o1, AVG(amount) AS w0$o2, MAX(amount) AS w0$o3])"
            in plan)
    assert "window=[RANGE BETWEEN 3600000 ms PRECEDING AND CURRENT ROW]" in t_env.explain_sql(
        "SELECT COUNT(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW) FROM orders")
    assert "window=[RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW]" in t_env.explain_sql(
        "SELECT SUM(amount + 1) OVER (PARTITION BY user_id ORDER BY ts) FROM orders")


@pytest.mark.parametrize("query, error, message", [
    ("SELECT SUM(amount) OVER (ORDER BY ts ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM orders",
     SqlValidationError, r"OVER frame ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING: only frames from n PRECEDING or "
                         r"UNBOUNDED PRECEDING to CURRENT ROW"),
    ("SELECT SUM(amount) OVER (ORDER BY ts ROWS 2 PRECEDING), COUNT(*) OVER (PARTITION BY user_id ORDER BY ts "
     "ROWS 2 PRECEDING) FROM orders", SqlValidationError,
     r"must use the same window; got OVER \(ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW\) and OVER "
     r"\(PARTITION BY user_id ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW\)"),
    ("SELECT SUM(amount) OVER (PARTITION BY user_id ORDER BY amount) FROM orders", SqlValidationError,
     r"must ORDER BY the input's event-time attribute ascending \(ts\); got ORDER BY amount"),
    ("SELECT SUM(amount) OVER (ORDER BY ts DESC) FROM orders", SqlValidationError, r"ascending \(ts\)"),
    ("SELECT SUM(amount) OVER (ORDER BY ts RANGE 5 PRECEDING) FROM orders", SqlValidationError,
     r"RANGE over a time attribute takes an interval"),
    ("SELECT SUM(amount) OVER (ORDER BY ts ROWS BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW) FROM orders",
     SqlValidationError, r"ROWS counts rows"),
    ("SELECT SUM(amount) OVER v FROM orders WINDOW w AS (ORDER BY ts)", SqlValidationError,
     r"window 'v' is not defined; define it in WINDOW v AS \(\.\.\.\); available: 'w'"),
    ("SELECT user_id, SUM(s) OVER (ORDER BY ts) FROM (SELECT user_id, SUM(amount) AS s, MAX(ts) AS ts FROM orders "
     "GROUP BY user_id) AS g", SqlPlanningError, r"OVER aggregation needs an insert-only input; it is updating"),
    ("SELECT ROW_NUMBER() OVER (ORDER BY ts) FROM orders", SqlValidationError, r"ROW_NUMBER\(\) OVER is Top-N only"),
    ("SELECT user_id, SUM(amount) OVER (ORDER BY ts) FROM orders GROUP BY user_id", SqlValidationError,
     r"OVER aggregations and GROUP in one SELECT"),
])
def test_planning_errors_name_what_is_wrong(t_env, query, error, message):
    with pytest.raises(error, match=message):
        t_env.explain_sql(query)


# ---- rayflink STREAMING == rayflink BATCH == DuckDB -------------------------------------------

OVER_ROWS = 2400
OVER_FILES = 3


def over_data(rng: random.Random) -> pa.Table:
    """Rows of keys k (NULL among them) and g; ``ts`` in whole seconds (ties: ~3 rows a second), ``tu``
    unique; both at most ~2 s out of order, under the tables' 5 s watermark delay (no row is late)."""
    used: set[int] = set()
    data: dict[str, list] = {"k": [], "g": [], "v": [], "d": [], "ts": [], "tu": []}
    for i in range(OVER_ROWS):
        data["k"].append(rng.choice(["ant", "bee", "cat", "dog", None]))
        data["g"].append(rng.randrange(3))
        data["v"].append(None if rng.random() < 0.1 else rng.randrange(-50, 100))
        data["d"].append(None if rng.random() < 0.1 else round(rng.uniform(-10, 10), 3))
        t = BASE_MS + i * 300 + rng.randrange(-1000, 1000)
        data["ts"].append(t - t % 1000)
        while t in used:
            t += 1
        used.add(t)
        data["tu"].append(t)
    return pa.table({"k": pa.array(data["k"]), "g": pa.array(data["g"], pa.int32()),
                     "v": pa.array(data["v"], pa.int32()), "d": pa.array(data["d"]),
                     "ts": pa.array(data["ts"], pa.timestamp("ms")), "tu": pa.array(data["tu"], pa.timestamp("ms"))})


@pytest.fixture(scope="module")
def over_dataset(tmp_path_factory):
    table = over_data(random.Random(SEED))
    root = tmp_path_factory.mktemp("over")
    for f in range(OVER_FILES):  # each file spans the whole time range: splits interleave in time
        part = table.take(list(range(f, OVER_ROWS, OVER_FILES)))
        rows = zip(*(part.column(c).to_pylist() for c in table.column_names))
        lines = [",".join("" if x is None else x.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
                          if isinstance(x, datetime.datetime) else str(x) for x in row) for row in rows]
        (root / f"part-{f}.csv").write_text("\n".join(lines) + "\n")
    return table, str(root)


def over_environment(path: str, streaming: bool) -> TableEnvironment:
    """``t``: the rows with event time ``ts`` (ties); ``tu``: the same rows with event time ``tu`` (unique)."""
    settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
    t_env = TableEnvironment.create(settings)
    t_env.get_config().set("parallelism.default", "2")
    for name, rowtime in (("t", "ts"), ("tu", "tu")):
        t_env.execute_sql(f"""CREATE TABLE {name} (k STRING, g INT, v INT, d DOUBLE, ts TIMESTAMP(3), tu TIMESTAMP(3),
                              WATERMARK FOR {rowtime} AS {rowtime} - INTERVAL '5' SECOND)
                              WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")
    return t_env


OVER_QUERIES = [  # the same text for rayflink and DuckDB; ROWS frames order by the unique tu (peers' order
    # is arbitrary in a ROWS frame)
    "SELECT k, v, tu, SUM(v) OVER w, COUNT(*) OVER w, MIN(d) OVER w, MAX(v) OVER w FROM tu "
    "WINDOW w AS (PARTITION BY k ORDER BY tu ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
    "SELECT g, d, tu, COUNT(v) OVER (ORDER BY tu ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n, "
    "AVG(d) OVER (ORDER BY tu ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), "
    "MAX(d) OVER (ORDER BY tu ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM tu WHERE g <> 1",
    "SELECT k, g, v, ts, COUNT(*) OVER w, SUM(v) OVER w, MIN(v) OVER w, MAX(d) OVER w, AVG(d) OVER w FROM t "
    "WINDOW w AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '3' SECOND PRECEDING AND CURRENT ROW)",
    "SELECT k, g, ts, COUNT(*) OVER w, SUM(v) OVER w, MIN(d) OVER w FROM t "
    "WINDOW w AS (PARTITION BY k, g ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
    "SELECT ts, v, COUNT(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW), "
    "MAX(v) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW) FROM t",
    # no frame: RANGE UNBOUNDED PRECEDING
    "SELECT g, ts, SUM(v) OVER (PARTITION BY g ORDER BY ts) AS s, COUNT(v) OVER (PARTITION BY g ORDER BY ts) FROM t",
    "SELECT k, tu, SUM(v * 2) OVER w + 1, MIN(v) OVER w FROM tu WHERE d > -5 "
    "WINDOW w AS (PARTITION BY k ORDER BY tu ROWS BETWEEN 5 PRECEDING AND CURRENT ROW)",
    # DISTINCT aggregates, over a bounded frame (taken back out as rows leave) and an unbounded one
    "SELECT k, ts, COUNT(DISTINCT g) OVER w, SUM(DISTINCT v) OVER w FROM t "
    "WINDOW w AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '4' SECOND PRECEDING AND CURRENT ROW)",
    "SELECT g, tu, COUNT(DISTINCT k) OVER (PARTITION BY g ORDER BY tu ROWS BETWEEN UNBOUNDED PRECEDING AND "
    "CURRENT ROW) FROM tu",
    # OVER in a subquery, filtered outside
    "SELECT * FROM (SELECT k, v, MAX(v) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '1' SECOND "
    "PRECEDING AND CURRENT ROW) AS m FROM t) AS x WHERE m > 90",
]


@pytest.mark.integration
@pytest.mark.parametrize("query", OVER_QUERIES, ids=[q[:70] for q in OVER_QUERIES])
def test_over_streaming_equals_batch_equals_duckdb(over_dataset, query):
    table, path = over_dataset
    con = duckdb.connect()
    con.register("t", table)
    con.register("tu", table)
    expected = Counter(normalize(r) for r in con.execute(query).fetchall())
    streaming = final_state(over_environment(path, True).execute_sql(query).collect())
    batch = final_state(over_environment(path, False).execute_sql(query).collect())
    assert sum(expected.values()) > 100
    assert same_rows(streaming, expected), (query, streaming - expected, expected - streaming)
    assert same_rows(batch, expected), (query, batch - expected, expected - batch)


@pytest.mark.integration
def test_over_aggregate_state_survives_rescaling_exactly_once(tmp_path):
    """A rate-limited datagen OVER aggregation, rescaled 2 -> 3 mid-way through a savepoint: each
    key's frames (keyed state) and waiting rows (with their timers) move by key group; every row
    comes out once, with the aggregates of the rows before it."""
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.table import StreamTableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/checkpoints")
    t_env = StreamTableEnvironment.create(env)
    rows_total = 6000
    t_env.execute_sql(f"""
        CREATE TABLE gen (id BIGINT, k AS id % 7, ts AS TO_TIMESTAMP_LTZ(id * 10, 3),
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (
            'connector' = 'datagen', 'number-of-rows' = '{rows_total}', 'rows-per-second' = '2000',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '{rows_total - 1}')""")
    result = t_env.execute_sql("SELECT k, id, COUNT(*) OVER w AS n, SUM(id) OVER w AS s FROM gen "
                               "WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)")
    got: Counter = Counter()
    rescaled = False
    with result.collect() as rows:
        for r in rows:
            got[tuple(r)] += 1
            if not rescaled and sum(got.values()) >= 600:
                result.get_job_client().rescale(3, f"file://{tmp_path}/savepoints")
                rescaled = True
    expected: Counter = Counter()
    for k in range(7):
        ids = list(range(k, rows_total, 7))
        for j, i in enumerate(ids):
            frame = ids[max(0, j - 2):j + 1]
            expected[(k, i, len(frame), sum(frame))] += 1
    assert rescaled
    assert got == expected
