"""Redis sink against the machine's Redis: strings, hashes and sorted sets with key templates,
TTLs and changelog deletes; a dashboard job's keys equal the expected values under executor kills."""

from __future__ import annotations

import uuid

import pytest
import redis

from rayflink.common import Duration
from rayflink.common.types import Row, RowKind
from rayflink.connectors.redis import RedisLookupError, RedisSink, RedisSinkError
from rayflink.datastream.state_backend import HashMapStateBackend
from rayflink.testing.exactly_once import KEYS, chaos_thread, counting_job

URL = "redis://127.0.0.1:6379/0"


def Change(kind: int, **fields) -> Row:  # noqa: N802 - reads as the row it builds
    """A changelog row: a Row of ``fields`` with RowKind ``kind`` (0 +I, 1 -U, 2 +U, 3 -D)."""
    row = Row(**fields)
    row.set_row_kind(RowKind(kind))
    return row


@pytest.fixture
def prefix():
    p = f"rayflink-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(URL, decode_responses=True)
    yield p, client
    for key in client.scan_iter(f"{p}*"):
        client.delete(key)


def test_strings_hashes_and_sorted_sets_with_deletes(prefix):
    p, r = prefix
    strings = RedisSink.builder(URL).string(p + ":total:{region}", "total").build().create_writer(0, 1)
    strings.write([{"region": "eu", "total": 10}, Change(2, region="us", total=4)], None)
    assert r.get(p + ":total:eu") is None  # buffered until a checkpoint (or a full batch)
    strings.flush(False)
    assert (r.get(p + ":total:eu"), r.get(p + ":total:us")) == ("10", "4")
    strings.write([Change(3, region="us", total=4)], None)
    strings.flush(False)
    assert r.get(p + ":total:us") is None

    hashes = RedisSink.builder(URL).hash(p + ":dash:{region}", ["total", "orders"]) \
        .with_ttl(Duration.of_minutes(5)).build().create_writer(0, 1)
    hashes.write([{"region": "eu", "total": 10.5, "orders": 3}], None)
    hashes.flush(False)
    assert r.hgetall(p + ":dash:eu") == {"total": "10.5", "orders": "3"}
    assert 0 < r.ttl(p + ":dash:eu") <= 300

    top = RedisSink.builder(URL).sorted_set(p + ":top", "product", "revenue").build().create_writer(0, 1)
    top.write([{"product": "a", "revenue": 5}, {"product": "b", "revenue": 9}, Change(1, product="a", revenue=5),
               Change(2, product="a", revenue=12)], None)
    top.flush(True)
    assert r.zrevrange(p + ":top", 0, -1, withscores=True) == [("a", 12.0), ("b", 9.0)]


def test_a_row_without_the_templates_field_is_named(prefix):
    p, _ = prefix
    writer = RedisSink.builder(URL).string(p + ":{region}", "total").build().create_writer(0, 1)
    writer.write([{"total": 1}], None)
    with pytest.raises(RedisSinkError, match="has no field 'region'"):
        writer.flush(False)


@pytest.mark.integration
def test_dashboard_keys_equal_the_final_counts_under_executor_kills(prefix):
    p, r = prefix
    records = 5_000
    stream = counting_job(f"file:///tmp/rayflink-redis-{uuid.uuid4().hex[:8]}", records, rate=4_000,
                          backend=HashMapStateBackend(), interval_ms=200)
    stream.map(lambda kn: {"key": kn[0], "count": kn[1]}).add_sink(
        RedisSink.builder(URL).string(p + ":count:{key}", "count").build()).uid("redis")
    client = stream.get_execution_environment().execute_async("redis-dashboard")
    with chaos_thread(client, 2) as killed:
        client.get_job_execution_result()
    got = {int(k.rsplit(":", 1)[1]): int(v) for k in r.scan_iter(p + ":count:*") if (v := r.get(k))}
    assert killed and got == {k: sum(1 for i in range(records) if i % KEYS == k) for k in range(KEYS)}


def test_the_lookup_reads_back_what_the_sink_wrote_typed_with_nulls(prefix):
    import datetime
    import decimal

    import pyarrow as pa

    from rayflink.connectors.lookup import LookupCache
    from rayflink.connectors.redis import RedisLookup, RedisWrite

    p, r = prefix
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("ts", pa.timestamp("ms")),
                        ("price", pa.decimal128(10, 2)), ("ok", pa.bool_())])
    hashes = RedisWrite("hash", p + ":h:{id}", fields=("name", "ts", "price", "ok"))
    writer = RedisSink(URL, hashes, None, 100).create_writer(0, 1)
    first = {"id": 1, "name": "a", "ts": datetime.datetime(2024, 5, 1, 10, 0, 0, 123000),
             "price": decimal.Decimal("1.50"), "ok": True}
    writer.write([first, {"id": 2, "name": None, "ts": None, "price": None, "ok": False}], None)
    writer.flush(False)
    assert r.hgetall(p + ":h:2") == {"ok": "false"}  # a NULL is no field
    lookup = RedisLookup(URL, hashes, schema, ["id"], LookupCache())
    lookup.open()
    assert lookup.fetch([(1,), (2,), (3,)]) == {(1,): [tuple(first.values())], (2,): [(2, None, None, None, False)],
                                                (3,): []}
    writer.write([Change(2, id=2, name="b", ts=None, price=None, ok=None), Change(3, **first)], None)
    writer.flush(False)
    assert lookup.fetch([(1,), (2,)]) == {(1,): [], (2,): [(2, "b", None, None, None)]}  # no cache: read again
    lookup.close()

    strings = RedisWrite("string", p + ":s:{id}", value_field="price")
    writer = RedisSink(URL, strings, None, 100).create_writer(0, 1)
    writer.write([{"id": 1, "price": decimal.Decimal("2.25")}, {"id": 2, "price": None}], None)
    writer.flush(False)
    lookup = RedisLookup(URL, strings, pa.schema([schema.field("id"), schema.field("price")]), ["id"], LookupCache())
    lookup.open()
    assert lookup.fetch([(1,), (2,)]) == {(1,): [(1, decimal.Decimal("2.25"))], (2,): []}
    r.set(p + ":s:3", "not a price")
    with pytest.raises(RedisLookupError, match="column 'price': a value in Redis is not a decimal128"):
        lookup.fetch([(3,)])
    lookup.close()


def test_errors_show_the_url_without_its_password():
    from rayflink.connectors.redis import shown

    assert shown("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert shown("redis://host:6379/0") == "redis://host:6379/0"
