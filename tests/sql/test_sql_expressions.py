"""Scalar SQL over record batches: each built-in evaluated vectorized equals its Flink meaning."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayflink.sql.binder import Binder
from rayflink.sql.dialect import parse_expression
from rayflink.sql.expressions import as_array, evaluate
from rayflink.state.key_groups import assign_key_group, assign_key_groups

BATCH = pa.record_batch({
    "s": pa.array(["Alice", "bob", None, "Carol"]),
    "i": pa.array([1, -7, 3, None], pa.int32()),
    "d": pa.array([1.25, 2.5, None, -3.75]),
    "ts": pa.array([0, 61_500, 3_600_000, 86_399_999], pa.timestamp("ms")),
    "t": pa.array(["2024-05-01 10:20:30", "2024-05-01 00:00:00", "bad", None]),
})


def sql(text: str) -> list:
    expr = Binder(BATCH.schema).bind(parse_expression(text))
    return as_array(evaluate(expr, BATCH), BATCH.num_rows).to_pylist()


@pytest.mark.parametrize("text, expected", [
    ("i + 1", [2, -6, 4, None]),
    ("i * 2 - 1", [1, -15, 5, None]),
    ("i / 2", [0, -3, 1, None]),  # integer division truncates as Java's
    ("MOD(i, 3)", [1, -1, 0, None]),
    ("i % 3", [1, -1, 0, None]),
    ("ABS(i)", [1, 7, 3, None]),
    ("-d", [-1.25, -2.5, None, 3.75]),
    ("ROUND(d, 1)", [1.2, 2.5, None, -3.8]),
    ("UPPER(s)", ["ALICE", "BOB", None, "CAROL"]),
    ("LOWER(s)", ["alice", "bob", None, "carol"]),
    ("CHAR_LENGTH(s)", [5, 3, None, 5]),
    ("CONCAT(s, '-', 'x')", ["Alice-x", "bob-x", None, "Carol-x"]),
    ("s || '!'", ["Alice!", "bob!", None, "Carol!"]),
    ("SUBSTRING(s, 2, 3)", ["lic", "ob", None, "aro"]),
    ("TRIM('  a ')", ["a"] * 4),
    ("COALESCE(s, 'none')", ["Alice", "bob", "none", "Carol"]),
    ("COALESCE(i, 0)", [1, -7, 3, 0]),
    ("IF(i > 0, 'pos', 'neg')", ["pos", "neg", "pos", "neg"]),
    ("CASE WHEN i > 2 THEN 'big' WHEN i > 0 THEN 'small' ELSE 'other' END", ["small", "other", "big", "other"]),
    ("CASE WHEN i > 0 THEN i END", [1, None, 3, None]),
    ("CAST(i AS BIGINT)", [1, -7, 3, None]),
    ("CAST(d AS INT)", [1, 2, None, -3]),
    ("CAST(i AS STRING)", ["1", "-7", "3", None]),
    ("i IS NULL", [False, False, False, True]),
    ("s IS NOT NULL AND i > 0", [True, False, False, None]),
    ("i BETWEEN 0 AND 3", [True, False, True, None]),
    ("i IN (1, 3)", [True, False, True, False]),
    ("s LIKE '%o%'", [False, True, None, True]),
    ("NOT (i > 0)", [False, True, False, None]),
    ("DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss')", ["1970-01-01 00:00:00", "1970-01-01 00:01:01",
                                                "1970-01-01 01:00:00", "1970-01-01 23:59:59"]),
    ("EXTRACT(HOUR FROM ts)", [0, 0, 1, 23]),
])
def test_builtin(text, expected):
    assert sql(text) == expected


def test_temporal_functions():
    ms = datetime.timedelta(milliseconds=1)
    base = datetime.datetime(1970, 1, 1)
    assert sql("FLOOR(ts TO MINUTE)") == [base, base + 60_000 * ms, base + 3_600_000 * ms, base + 86_340_000 * ms]
    assert sql("ts + INTERVAL '1' SECOND")[0] == base + 1000 * ms
    assert sql("ts - INTERVAL '5' MINUTES")[1] == base + (61_500 - 300_000) * ms
    assert sql("TO_TIMESTAMP(t)") == [datetime.datetime(2024, 5, 1, 10, 20, 30), datetime.datetime(2024, 5, 1),
                                      None, None]
    assert sql("TO_TIMESTAMP(t, 'yyyy-MM-dd HH:mm:ss')") == [datetime.datetime(2024, 5, 1, 10, 20, 30),
                                                            datetime.datetime(2024, 5, 1), None, None]
    utc = datetime.timezone.utc
    assert sql("TO_TIMESTAMP_LTZ(i * 1000, 3)")[:2] == [datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=utc),
                                                       datetime.datetime(1969, 12, 31, 23, 59, 53, tzinfo=utc)]
    assert sql("TO_TIMESTAMP_LTZ(i, 0)")[0] == datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=utc)
    assert sql("CAST('2024-05-01 10:20:30' AS TIMESTAMP(3))")[0] == datetime.datetime(2024, 5, 1, 10, 20, 30)


keys = st.one_of(st.text(max_size=5), st.integers(-2**40, 2**40), st.booleans(), st.none())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=4), st.integers(-1000, 1000)), min_size=1, max_size=50),
       st.sampled_from([1, 7, 128, 4096]))
def test_columnar_key_groups_equal_the_per_key_formula(rows, max_parallelism):
    strings = pa.array([r[0] for r in rows])
    ints = pa.array([r[1] for r in rows], pa.int64())
    assert assign_key_groups([strings], max_parallelism).tolist() == \
        [assign_key_group(r[0], max_parallelism) for r in rows]
    assert assign_key_groups([strings, ints], max_parallelism).tolist() == \
        [assign_key_group(r, max_parallelism) for r in rows]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.integers(-10, 10), st.none()), min_size=1, max_size=30))
def test_columnar_key_groups_with_nulls(values):
    assert assign_key_groups([pa.array(values, pa.int32())], 128).tolist() == \
        [assign_key_group(v, 128) for v in values]


NESTED = pa.record_batch({
    "person": pa.array([{"id": 1, "address": {"city": "Boise"}}, None, {"id": 3, "address": None}],
                       pa.struct([("id", pa.int64()), ("address", pa.struct([("city", pa.string())]))])),
    "tags": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
    "scores": pa.array([[("x", 1)], [("y", 2), ("x", 3)], None], pa.map_(pa.string(), pa.int32())),
    "ids": pa.array([[(7, "seven")], [], [(8, "eight")]], pa.map_(pa.int64(), pa.string())),
})


@pytest.mark.parametrize("text, expected", [
    ("person.id", [1, None, 3]),
    ("person.address.city", ["Boise", None, None]),
    ("person.id * 10", [10, None, 30]),
    ("tags[1]", ["a", None, None]),  # 1-based; NULL past the end and for a NULL array
    ("tags[2]", ["b", None, None]),
    ("scores['x']", [1, 3, None]),
    ("ids[8]", [None, None, "eight"]),  # an integer MAP key is a key, not an index
])
def test_row_fields_array_elements_and_map_values(text, expected):
    expr = Binder(NESTED.schema).bind(parse_expression(text))
    assert as_array(evaluate(expr, NESTED), NESTED.num_rows).to_pylist() == expected


JSON = pa.record_batch({"j": pa.array([
    '{"a": {"b": 7, "c": [10, 20]}, "ok": true, "s": "x"}', '{"a": {"b": "seven"}}', "not json", None,
    '{"a": {"b": null}}'])})


@pytest.mark.parametrize("text, expected", [
    ("JSON_VALUE(j, '$.a.b')", ["7", "seven", None, None, None]),
    ("JSON_VALUE(j, '$.a.c[1]')", ["20", None, None, None, None]),
    ("JSON_VALUE(j, '$.ok')", ["true", None, None, None, None]),
    ("JSON_VALUE(j, '$[''s'']')", ["x", None, None, None, None]),
    ("JSON_VALUE(j, '$.a')", [None] * 5),  # an object is no scalar: NULL, as Flink's JSON_VALUE
    ("JSON_VALUE(j, '$.a.c[0]' RETURNING INT) + 1", [11, None, None, None, None]),
])
def test_json_value_reads_a_scalar_at_a_path(text, expected):
    expr = Binder(JSON.schema).bind(parse_expression(text))
    assert as_array(evaluate(expr, JSON), JSON.num_rows).to_pylist() == expected


def test_a_json_path_that_cannot_be_read_is_named():
    from rayflink.sql.errors import SqlValidationError

    with pytest.raises(SqlValidationError, match=r"JSON path '\$\.a\{b': cannot read '\{b'"):
        Binder(JSON.schema).bind(parse_expression("JSON_VALUE(j, '$.a{b')"))
