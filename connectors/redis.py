"""Redis sink (redis-py): strings, hashes and sorted sets from rows, pipelined at checkpoints; the
lookup of a lookup join over the strings and hashes it writes (``RedisLookup``).

Each row names its key through a template (``"revenue:{region}"`` takes the row's ``region``
field). Rows are buffered and sent in one pipeline when ``batch_size`` rows wait and at every
checkpoint barrier, before the checkpoint completes. Writes are idempotent (SET, HSET, ZADD with
the row's value), so a replay after a restore leaves the same keys: Redis ends with the values
the changelog's last changes give. A changelog's -D rows delete (DEL, HDEL of the fields, ZREM
of the member); -U rows are skipped. ``ttl`` expires each written key (Redis ``EX``/``EXPIRE``).
Redis has no NULL: a NULL field is left out of a hash (HDEL), a NULL string value deletes its key.

>>> sink = RedisSink.builder("redis://127.0.0.1:6379/0") \\
...     .hash("dashboard:revenue:{region}", ["total", "orders"]).with_ttl(Duration.of_minutes(5)).build()
>>> stream.add_sink(sink)
"""

from __future__ import annotations

import datetime
import decimal
import json
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from rayflink.common.types import RowKind, row_kind_of
from rayflink.connectors.lookup import LookupCache, LookupSource
from rayflink.datastream.connectors.base import Sink, SinkWriter
from rayflink.errors import RayflinkError


class RedisSinkError(RayflinkError):
    """A row lacks a field its key template or value names, or Redis refused a write."""


@dataclass(frozen=True)
class RedisWrite:
    """What each row becomes: ``kind`` is ``string``, ``hash`` or ``sorted_set``."""

    kind: str
    key: str
    value_field: str | None = None
    fields: tuple[str, ...] = ()
    member_field: str | None = None
    score_field: str | None = None


class RedisSink(Sink):
    """Writes rows (dicts or ``Row`` objects) to Redis; see the module docstring."""

    def __init__(self, url: str, write: RedisWrite, ttl_s: int | None, batch_size: int) -> None:
        self.url = url
        self.write = write
        self.ttl_s = ttl_s
        self.batch_size = batch_size

    @staticmethod
    def builder(url: str = "redis://127.0.0.1:6379/0") -> "RedisSinkBuilder":
        return RedisSinkBuilder(url)

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return RedisSinkWriter(self, subtask_index)


class RedisSinkBuilder:
    """Builder of :class:`RedisSink`: pick one of ``string``, ``hash``, ``sorted_set``."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._write: RedisWrite | None = None
        self._ttl_s: int | None = None
        self._batch = 1000

    def string(self, key: str, value_field: str | None = None) -> "RedisSinkBuilder":
        """SET ``key`` to the row's ``value_field`` (the whole row as JSON when None)."""
        self._write = RedisWrite("string", key, value_field=value_field)
        return self

    def hash(self, key: str, fields: list[str]) -> "RedisSinkBuilder":
        """HSET the row's ``fields`` in the hash at ``key``."""
        self._write = RedisWrite("hash", key, fields=tuple(fields))
        return self

    def sorted_set(self, key: str, member_field: str, score_field: str) -> "RedisSinkBuilder":
        """ZADD the row's ``member_field`` with score ``score_field`` to the sorted set at ``key``."""
        self._write = RedisWrite("sorted_set", key, member_field=member_field, score_field=score_field)
        return self

    def with_ttl(self, ttl: Any) -> "RedisSinkBuilder":
        """Expire written keys after ``ttl`` (a ``Duration``, ``Time`` or seconds)."""
        ms = ttl.to_milliseconds() if hasattr(ttl, "to_milliseconds") else float(ttl) * 1000
        self._ttl_s = max(1, int(ms // 1000))
        return self

    def with_batch_size(self, rows: int) -> "RedisSinkBuilder":
        self._batch = int(rows)
        return self

    def build(self) -> RedisSink:
        if self._write is None:
            raise ValueError("RedisSink: choose string(...), hash(...) or sorted_set(...)")
        return RedisSink(self._url, self._write, self._ttl_s, self._batch)


def _fields_of(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _text(value: Any) -> Any:
    """A field as Redis stores it: strings, bytes and numbers as they are, booleans as ``true``/``false``,
    timestamps as ``2024-05-01 10:00:00[.ffffff]``, dates, times and decimals as text, the rest as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, bytes, int, float)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, decimal.Decimal)):
        return str(value)
    return json.dumps(value, default=str)


def shown(url: str) -> str:
    """``url`` as errors show it: its password masked."""
    parsed = urlsplit(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)).geturl()


def redis_key(template: str, fields: dict) -> str:
    """The key ``template`` names for a row's ``fields`` (their values as ``_text`` gives them), as the
    sink writes it and the lookup reads it: ``redis_key("user:{id}", {"id": 7})`` is ``"user:7"``."""
    return template.format(**{name: _text(fields[name]) for name in _fields_of(template)})


class RedisSinkWriter(SinkWriter):
    """One subtask's connection and pipeline buffer."""

    def __init__(self, sink: RedisSink, subtask_index: int) -> None:
        import redis

        self.sink = sink
        self.subtask_index = subtask_index
        self.client = redis.Redis.from_url(sink.url)
        self.buffer: list[Any] = []

    def _row(self, row: Any) -> tuple[RowKind, dict]:
        kind = row_kind_of(row)
        if isinstance(row, dict):
            return kind, row
        if hasattr(row, "as_dict"):
            return kind, row.as_dict()
        if hasattr(row, "_asdict"):
            return kind, row._asdict()
        raise RedisSinkError(f"RedisSink: cannot write a {type(row).__name__} row ({str(row)[:200]}); "
                             "give dicts or Row objects with named fields")

    def _last_changes(self, rows: list) -> Iterable[tuple[RowKind, str, dict]]:
        """Each written thing's last change (a key's; a sorted set's member's), as Flink's reduced
        buffer keeps it: ``-U`` deletes unless a ``+U`` follows (a ``-U`` alone is a row that left
        the result, e.g. through a filter)."""
        w = self.sink.write
        last: dict[Any, tuple[RowKind, str, dict]] = {}
        for row in rows:
            kind, fields = self._row(row)
            try:
                key = redis_key(w.key, fields)
                thing = (key, _text(fields[w.member_field])) if w.kind == "sorted_set" else key
            except KeyError as exc:
                raise RedisSinkError(f"RedisSink ({w.kind} {w.key!r}): row {str(fields)[:200]} has no field "
                                     f"{exc.args[0]!r}") from None
            last[thing] = (RowKind.DELETE if kind is RowKind.UPDATE_BEFORE else kind, key, fields)
        return last.values()

    def write(self, records: list, timestamps: list | None) -> None:
        self.buffer.extend(records)
        if len(self.buffer) >= self.sink.batch_size:
            self.flush(False)

    def flush(self, end_of_input: bool) -> None:
        if not self.buffer:
            return
        rows, self.buffer = self.buffer, []
        w, ttl = self.sink.write, self.sink.ttl_s
        pipe = self.client.pipeline(transaction=False)
        for kind, key, fields in self._last_changes(rows):
            try:
                if w.kind == "string":
                    value = fields[w.value_field] if w.value_field else fields
                    if kind is RowKind.DELETE or value is None:  # Redis has no NULL string: no key
                        pipe.delete(key)
                    else:
                        pipe.set(key, _text(value), ex=ttl)
                elif w.kind == "hash":
                    nulls = [f for f in w.fields if fields[f] is None]
                    if kind is RowKind.DELETE or len(nulls) == len(w.fields):
                        pipe.hdel(key, *w.fields)
                    else:  # a NULL field is no field of the hash
                        pipe.hset(key, mapping={f: _text(fields[f]) for f in w.fields if fields[f] is not None})
                        if nulls:
                            pipe.hdel(key, *nulls)
                        if ttl:
                            pipe.expire(key, ttl)
                else:
                    member = _text(fields[w.member_field])
                    if kind is RowKind.DELETE:
                        pipe.zrem(key, member)
                    else:
                        pipe.zadd(key, {member: float(fields[w.score_field])})
                        if ttl:
                            pipe.expire(key, ttl)
            except KeyError as exc:
                raise RedisSinkError(f"RedisSink ({w.kind} {w.key!r}): row {str(fields)[:200]} has no field "
                                     f"{exc.args[0]!r}") from None
        try:
            pipe.execute()
        except Exception as exc:
            raise RedisSinkError(f"RedisSink subtask {self.subtask_index + 1}: writing {len(rows)} rows to "
                                 f"{shown(self.sink.url)} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self.client.close()


class RedisLookupError(RayflinkError):
    """A lookup in Redis failed, or a stored value does not read as its column's type."""


def values_of(texts: list, type_: pa.DataType, what: str) -> list:
    """Redis values (bytes or None) as Python values of the Arrow type ``type_`` (the text ``_text``
    writes read back); ``what`` names the column in the error of a value that does not parse."""
    strings = pa.array([None if t is None else t.decode() for t in texts], pa.string())
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return strings.to_pylist()
    try:
        if pa.types.is_timestamp(type_):  # microseconds parse any precision written, then the column's unit
            return strings.cast(pa.timestamp("us", type_.tz)).cast(type_, safe=False).to_pylist()
        return strings.cast(type_).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise RedisLookupError(f"{what}: a value in Redis is not a {type_}: {exc}") from None


class RedisLookup(LookupSource):
    """A lookup source over the keys a :class:`RedisSink` of ``write`` writes: the row of each key,
    read with one pipeline per batch of keys (MGET for strings, HMGET for hashes), through the cache.

    ``schema`` is the table's columns; its ``key`` columns come from the key looked up (the values
    the template formats), the others from Redis (the string's value, or the hash's fields; a
    missing field is NULL). A key that does not exist, or a hash without any of the fields, has
    no row.

    >>> lookup = RedisLookup("redis://127.0.0.1:6379/0", RedisWrite("hash", "user:{id}", fields=("name",)),
    ...                      pa.schema([("id", pa.int64()), ("name", pa.string())]), ["id"], LookupCache())
    """

    def __init__(self, url: str, write: RedisWrite, schema: pa.Schema, key: list[str], cache: LookupCache,
                 max_retries: int = 3, name: str = "redis") -> None:
        if write.kind not in ("string", "hash"):
            raise ValueError(f"RedisLookup: looks up strings and hashes, not {write.kind!r}")
        super().__init__(key, cache)
        self.url = url
        self.write = write
        self.schema = schema
        self.max_retries = max_retries
        self.name = name
        self.values = [write.value_field] if write.kind == "string" else list(write.fields)
        self.client: Any = None

    def open(self) -> None:
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self.client = redis.Redis.from_url(self.url, retry=Retry(ExponentialBackoff(cap=1.0, base=0.1),
                                                                 self.max_retries),
                                           retry_on_error=[redis.ConnectionError, redis.TimeoutError])

    def read(self, keys: list[tuple]) -> dict[tuple, list[tuple]]:
        names = [redis_key(self.write.key, dict(zip(self.key, k))) for k in keys]
        try:
            if self.write.kind == "string":
                found = [[v] for v in self.client.mget(names)]
            else:
                pipe = self.client.pipeline(transaction=False)
                for name in names:
                    pipe.hmget(name, self.values)
                found = pipe.execute()
        except Exception as exc:
            raise RedisLookupError(f"lookup in {self.name} ({shown(self.url)}) of {len(keys)} keys (first "
                                   f"{names[0]!r}) failed: {type(exc).__name__}: {exc}") from exc
        columns = {v: values_of([f[i] for f in found], self.schema.field(v).type, f"{self.name}: column {v!r}")
                   for i, v in enumerate(self.values)}
        out: dict[tuple, list[tuple]] = {}
        for i, k in enumerate(keys):
            if all(f is None for f in found[i]):
                continue
            by_key = dict(zip(self.key, k))
            out[k] = [tuple(by_key[c] if c in by_key else columns[c][i] for c in self.schema.names)]
        return out

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
