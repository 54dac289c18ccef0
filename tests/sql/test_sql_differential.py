"""Differential test: generated queries (projections, filters, group aggregations, tumbling,
sliding and cumulating windows, inner and left joins, also of GROUP BY results) over seeded random data; rayflink
STREAMING (the final state of its changelog) equals rayflink BATCH, and both equal DuckDB on the
same data."""

from __future__ import annotations

import datetime
import decimal
import math
import random
from collections import Counter
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pytest

from rayflink.table import EnvironmentSettings, RowKind, TableEnvironment

ROWS = 3000
FILES = 3
SEED = 20261201
BASE_MS = 1_714_557_600_000  # 2024-05-01 10:00:00


@dataclass(frozen=True)
class Query:
    """One generated query in rayflink's SQL and in DuckDB's."""

    flink: str
    duck: str


def make_data(rng: random.Random) -> pa.Table:
    ks = ["ant", "bee", "cat", "dog", "eel", None]
    data = {"k": [], "g": [], "v": [], "d": [], "ts": []}
    for i in range(ROWS):
        data["k"].append(rng.choice(ks))
        data["g"].append(rng.randrange(5))
        data["v"].append(None if rng.random() < 0.1 else rng.randrange(-50, 100))
        data["d"].append(None if rng.random() < 0.1 else round(rng.uniform(-10, 10), 3))
        data["ts"].append(BASE_MS + i * 200 + rng.randrange(-4000, 4000))  # out of order within 4 s
    return pa.table({"k": pa.array(data["k"]), "g": pa.array(data["g"], pa.int32()),
                     "v": pa.array(data["v"], pa.int32()), "d": pa.array(data["d"]),
                     "ts": pa.array(data["ts"], pa.timestamp("ms"))})


SCALARS = [  # (rayflink, duckdb): the same function in both dialects
    ("v + g * 2", "v + g * 2"), ("v % 7", "v % 7"), ("ABS(v - 20)", "ABS(v - 20)"), ("d * 1.5", "d * 1.5"),
    ("UPPER(k) || '_x'", "UPPER(k) || '_x'"), ("COALESCE(v, -1)", "COALESCE(v, -1)"),
    ("CASE WHEN v > 50 THEN 'hi' WHEN v > 0 THEN 'mid' ELSE 'lo' END",
     "CASE WHEN v > 50 THEN 'hi' WHEN v > 0 THEN 'mid' ELSE 'lo' END"),
    ("CAST(d AS INT)", "CAST(TRUNC(d) AS INT)"), ("CHAR_LENGTH(k)", "LENGTH(k)"),
]
FILTERS = ["v > 10", "d < 0", "k = 'cat'", "g IN (1, 3)", "v BETWEEN -5 AND 40", "k IS NOT NULL AND d > 2",
           "v IS NULL OR g = 0", "NOT (v > 20)"]
AGGS = [("COUNT(*)", "COUNT(*)"), ("SUM(v)", "SUM(v)"), ("MIN(d)", "MIN(d)"), ("MAX(v)", "MAX(v)"),
        ("AVG(d)", "AVG(d)"), ("COUNT(v)", "COUNT(v)"), ("COUNT(DISTINCT g)", "COUNT(DISTINCT g)")]
KEYS = [["k"], ["g"], ["k", "g"], []]
DIMENSION = [("ant", 1, "red"), ("bee", 2, "blue"), ("bee", 3, "green"), ("cat", 4, None), ("fox", 5, "gray")]


def generate(rng: random.Random, kind: str) -> Query:
    where = rng.choice(FILTERS) if rng.random() < 0.7 else None
    cond = f" WHERE {where}" if where else ""
    if kind == "projection":
        picks = rng.sample(SCALARS, 3)
        return Query(f"SELECT k, {', '.join(f for f, _ in picks)} FROM t{cond}",
                     f"SELECT k, {', '.join(d for _, d in picks)} FROM t{cond}")
    aggs = rng.sample(AGGS, 3)
    keys = rng.choice(KEYS)
    key_list = ", ".join(keys)
    select_keys = key_list + ", " if keys else ""
    if kind == "group":
        group = f" GROUP BY {key_list}" if keys else ""
        return Query(f"SELECT {select_keys}{', '.join(f for f, _ in aggs)} FROM t{cond}{group}",
                     f"SELECT {select_keys}{', '.join(d for _, d in aggs)} FROM t{cond}{group}")
    if kind in ("join", "left_join"):
        side = "LEFT " if kind == "left_join" else ""
        picks = rng.sample(SCALARS[:4], 2)
        join_cond = rng.choice(["t.k = u.k", "t.k = u.k AND t.g = u.n"]) if not side else "t.k = u.k"
        columns = f"t.k, u.n, u.color, {', '.join(f for f, _ in picks)}"
        source = f"(SELECT * FROM t{cond}) AS t" if where else "t"
        body = f"FROM {source} {side}JOIN u ON {join_cond}"
        if not side and rng.random() < 0.5:  # an aggregation over an inner join's rows
            return Query(f"SELECT u.color, COUNT(*), SUM(t.v) {body} GROUP BY u.color",
                         f"SELECT u.color, COUNT(*), SUM(t.v) {body} GROUP BY u.color")
        return Query(f"SELECT {columns} {body}", f"SELECT {columns} {body}")
    group_keys = f", {key_list}" if keys else ""
    if kind == "session":
        gap = rng.choice([1, 3])
        ms = gap * 1000
        partition = f"PARTITION BY {key_list} " if keys else ""
        flink = (f"SELECT {select_keys}SESSION_START(ts, INTERVAL '{gap}' SECOND), "
                 f"SESSION_END(ts, INTERVAL '{gap}' SECOND), {', '.join(f for f, _ in aggs)} "
                 f"FROM t{cond} GROUP BY SESSION(ts, INTERVAL '{gap}' SECOND){group_keys}")
        duck = (f"WITH s AS (SELECT *, epoch_ms(CAST(ts AS TIMESTAMP)) AS ms FROM t{cond}), "
                f"n AS (SELECT *, CASE WHEN ms - LAG(ms) OVER (w) < {ms} THEN 0 ELSE 1 END AS fresh FROM s "
                f"WINDOW w AS ({partition}ORDER BY ms)), "
                f"g AS (SELECT *, SUM(fresh) OVER ({partition}ORDER BY ms ROWS UNBOUNDED PRECEDING) AS sid FROM n) "
                f"SELECT {select_keys}MIN(ms), MAX(ms) + {ms}, {', '.join(d for _, d in aggs)} "
                f"FROM g GROUP BY sid{group_keys}")
        return Query(flink, duck)
    if kind == "nested":  # an aggregation over an aggregation's changelog (-U/+U taken back out)
        inner = (f"SELECT k, g, SUM(v) AS s, MAX(d) AS m, COUNT(*) AS n FROM t{cond} GROUP BY k, g")
        outer_key = rng.choice(["k", "g", ""])
        select_outer = f"{outer_key}, " if outer_key else ""
        group_outer = f" GROUP BY {outer_key}" if outer_key else ""
        text = (f"SELECT {select_outer}COUNT(*), SUM(s), MAX(m), MIN(n), COUNT(DISTINCT n) "
                f"FROM ({inner}) AS x{group_outer}")
        return Query(text, text)
    if kind == "top_n":  # ROW_NUMBER() per key; ties broken by every column, so the answer is unique
        n = rng.choice([1, 3])
        partition = rng.choice(["k", "g", "k, g"])
        extra = f" AND {where}" if where else ""
        text = (f"SELECT k, g, v, d, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition} "
                f"ORDER BY v DESC, ts, d, g) AS rn FROM t WHERE v IS NOT NULL{extra}) AS r WHERE rn <= {n}")
        return Query(text, text)
    if kind == "left_join_agg":  # an aggregation over a LEFT JOIN's changelog (-D of padded rows)
        text = (f"SELECT u.color, COUNT(*), SUM(t.v), MAX(u.n) FROM (SELECT * FROM t{cond}) AS t "
                "LEFT JOIN u ON t.k = u.k GROUP BY u.color")
        return Query(text, text)
    if kind in ("aggregates_join", "aggregate_join_table", "table_join_aggregate"):  # joins of changelogs
        x = f"(SELECT k, g, COUNT(*) AS n, SUM(v) AS s FROM t{cond} GROUP BY k, g) AS x"
        y = "(SELECT k, MAX(v) AS m, COUNT(*) AS c FROM t GROUP BY k) AS y"
        side = rng.choice(["", "LEFT "])
        shape, on = {
            "aggregates_join": [(f"SELECT x.k, x.g, x.n, y.m FROM {x} {side}JOIN {y} ON x.k = y.k", " AND x.s >= y.m")],
            "aggregate_join_table": [(f"SELECT x.k, x.g, x.n, u.color FROM {x} {side}JOIN u ON x.k = u.k",
                                      " AND x.g < u.n")],
            "table_join_aggregate": [
                (f"SELECT u.k, u.color, y.c FROM u {side}JOIN {y} ON u.k = y.k", " AND u.n * 150 <= y.c"),
                (f"SELECT t.k, t.v, t.g, y.m FROM (SELECT * FROM t{cond}) AS t {side}JOIN "
                 "(SELECT k, MAX(v) AS m FROM t GROUP BY k) AS y ON t.k = y.k", " AND t.v + 5 >= y.m")],
        }[kind][rng.randrange(2) if kind == "table_join_aggregate" else 0]
        text = shape + (on if rng.random() < 0.6 else "")
        if rng.random() < 0.3:  # an aggregation over the join's changelog
            text = f"SELECT COUNT(*), COUNT(DISTINCT k) FROM ({text}) AS j"
        return Query(text, text)
    if kind == "cumulate":
        step, size = rng.choice([(1, 5), (2, 6)])
        flink = (f"SELECT {select_keys}window_end, {', '.join(f for f, _ in aggs)} FROM TABLE(CUMULATE(TABLE t, "
                 f"DESCRIPTOR(ts), INTERVAL '{step}' MINUTES, INTERVAL '{size}' MINUTES)){cond} "
                 f"GROUP BY window_start, window_end{group_keys}")
        step, size = step * 60_000, size * 60_000
        duck = (f"WITH s AS (SELECT *, epoch_ms(CAST(ts AS TIMESTAMP)) AS ms FROM t{cond}), "
                f"x AS (SELECT *, unnest(generate_series(ms - ms % {step} + {step}, ms - ms % {size} + {size}, "
                f"{step})) AS we FROM s) "
                f"SELECT {select_keys}we, {', '.join(d for _, d in aggs)} FROM x GROUP BY we{group_keys}")
        return Query(flink, duck)
    if kind == "hop_rows":  # a window TVF on its own: every row once per window
        return Query(f"SELECT k, v, window_start, window_time FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), "
                     f"INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)){cond}",
                     f"WITH s AS (SELECT *, epoch_ms(CAST(ts AS TIMESTAMP)) AS ms FROM t{cond}), "
                     f"x AS (SELECT *, unnest(generate_series(ms - ms % 60000 - 120000, ms - ms % 60000, 60000)) "
                     f"AS ws FROM s) SELECT k, v, ws, ws + 180000 - 1 FROM x")
    if kind == "hop":  # sliding windows: each row in size / slide windows, one slice each
        slide, size = rng.choice([(1, 3), (2, 6), (1, 5)])
        flink = (f"SELECT {select_keys}window_start, window_end, {', '.join(f for f, _ in aggs)} FROM TABLE(HOP("
                 f"TABLE t, DESCRIPTOR(ts), INTERVAL '{slide}' MINUTES, INTERVAL '{size}' MINUTES)){cond} "
                 f"GROUP BY window_start, window_end{group_keys}")
        slide, size = slide * 60_000, size * 60_000
        duck = (f"WITH s AS (SELECT *, epoch_ms(CAST(ts AS TIMESTAMP)) AS ms FROM t{cond}), "
                f"x AS (SELECT *, unnest(generate_series(ms - ms % {slide} - {size} + {slide}, ms - ms % {slide}, "
                f"{slide})) AS ws FROM s) "
                f"SELECT {select_keys}ws, ws + {size}, {', '.join(d for _, d in aggs)} FROM x GROUP BY ws{group_keys}")
        return Query(flink, duck)
    minutes = rng.choice([1, 2, 5])
    size = minutes * 60_000
    if rng.random() < 0.5:
        flink = (f"SELECT {select_keys}window_start, {', '.join(f for f, _ in aggs)} FROM TABLE(TUMBLE(TABLE t, "
                 f"DESCRIPTOR(ts), INTERVAL '{minutes}' MINUTES)){cond} GROUP BY window_start, window_end{group_keys}")
    else:
        flink = (f"SELECT {select_keys}TUMBLE_START(ts, INTERVAL '{minutes}' MINUTE), {', '.join(f for f, _ in aggs)} "
                 f"FROM t{cond} GROUP BY TUMBLE(ts, INTERVAL '{minutes}' MINUTE){group_keys}")
    duck = (f"SELECT {select_keys}epoch_ms(CAST(ts AS TIMESTAMP)) // {size} * {size} AS ws, "
            f"{', '.join(d for _, d in aggs)} FROM t{cond} GROUP BY ws{group_keys}")
    return Query(flink, duck)


def normalize(row: tuple) -> tuple:
    out = []
    for v in row:
        if isinstance(v, datetime.datetime):
            v = int(v.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
        elif isinstance(v, decimal.Decimal):
            v = float(v)
        out.append(v)
    return tuple(out)


def same_rows(got: Counter, expected: Counter) -> bool:
    """Equal multisets of rows, floats equal up to summation order (1e-9 relative)."""
    if got == expected:
        return True

    def order(row: tuple) -> tuple:
        return tuple((0, "") if v is None else (1, round(v, 2)) if isinstance(v, float) else (1, v) for v in row)

    left, right = sorted(got.elements(), key=order), sorted(expected.elements(), key=order)
    return len(left) == len(right) and all(
        len(a) == len(b) and all(x == y or (isinstance(x, float) and isinstance(y, float)
                                           and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)) for x, y in zip(a, b))
        for a, b in zip(left, right))


def final_state(changelog) -> Counter:
    state: Counter = Counter()
    for r in changelog:
        row = normalize(tuple(r))
        if r.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
            state[row] += 1
        else:
            state[row] -= 1
            assert state[row] >= 0, f"retraction of a row never emitted: {row}"
    return +state


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = random.Random(SEED)
    table = make_data(rng)
    root = tmp_path_factory.mktemp("differential")
    for f in range(FILES):  # each file spans the whole time range (splits interleave in time)
        part = table.take(list(range(f, ROWS, FILES)))
        lines = []
        for k, g, v, d, ts in zip(*(part.column(c).to_pylist() for c in table.column_names)):
            lines.append(",".join("" if x is None else (x.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
                                                        if isinstance(x, datetime.datetime) else str(x))
                                  for x in (k, g, v, d, ts)))
        (root / f"part-{f}.csv").write_text("\n".join(lines) + "\n")
    dimension = root.parent / f"{root.name}-u.csv"
    dimension.write_text("".join(f"{k},{n},{c or ''}\n" for k, n, c in DIMENSION))
    return table, str(root), str(dimension)


def environment(path: str, dimension: str, streaming: bool) -> TableEnvironment:
    settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
    t_env = TableEnvironment.create(settings)
    t_env.get_config().set("parallelism.default", "2")
    t_env.execute_sql(f"""CREATE TABLE t (k STRING, g INT, v INT, d DOUBLE, ts TIMESTAMP(3),
                          WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")
    t_env.execute_sql(f"""CREATE TABLE u (k STRING, n INT, color STRING)
                          WITH ('connector' = 'filesystem', 'path' = '{dimension}', 'format' = 'csv')""")
    return t_env


KINDS = (["projection"] * 3 + ["group"] * 4 + ["window"] * 4 + ["session"] * 3 + ["cumulate"] * 2 + ["hop_rows"]
         + ["join"] * 3 + ["left_join"] * 2 + ["nested"] * 3 + ["left_join_agg"] + ["top_n"] * 3
         + ["aggregates_join"] * 3 + ["aggregate_join_table"] * 3 + ["table_join_aggregate"] * 4 + ["hop"] * 4)
QUERIES = [generate(random.Random(SEED + i), kind) for i, kind in enumerate(KINDS)]


@pytest.mark.integration
@pytest.mark.parametrize("query", QUERIES, ids=[q.flink[:70] for q in QUERIES])
def test_streaming_equals_batch_equals_duckdb(dataset, query):
    table, path, dimension = dataset
    con = duckdb.connect()
    con.register("t", table)
    con.register("u", pa.table({"k": [d[0] for d in DIMENSION], "color": [d[2] for d in DIMENSION],
                                "n": pa.array([d[1] for d in DIMENSION], pa.int32())}).select(["k", "n", "color"]))
    expected = Counter(normalize(r) for r in con.execute(query.duck).fetchall())
    streaming = final_state(environment(path, dimension, True).execute_sql(query.flink).collect())
    batch = final_state(environment(path, dimension, False).execute_sql(query.flink).collect())
    assert same_rows(streaming, expected), (query.flink, streaming - expected, expected - streaming)
    assert same_rows(batch, expected), (query.flink, batch - expected, expected - batch)
