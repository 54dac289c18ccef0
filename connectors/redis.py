"""Redis sink (redis-py): strings, hashes and sorted sets from rows, pipelined at checkpoints.

Each row names its key through a template (``"revenue:{region}"`` takes the row's ``region``
field). Rows are buffered and sent in one pipeline when ``batch_size`` rows wait and at every
checkpoint barrier, before the checkpoint completes. Writes are idempotent (SET, HSET, ZADD with
the row's value), so a replay after a restore leaves the same keys: Redis ends with the values
the changelog's last changes give. A changelog's -D rows delete (DEL, HDEL of the fields, ZREM
of the member); -U rows are skipped. ``ttl`` expires each written key (Redis ``EX``/``EXPIRE``).

>>> sink = RedisSink.builder("redis://127.0.0.1:6379/0") \\
...     .hash("dashboard:revenue:{region}", ["total", "orders"]).with_ttl(Duration.of_minutes(5)).build()
>>> stream.add_sink(sink)
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from rayflink.common.types import RowKind, row_kind_of
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
    if isinstance(value, (str, bytes, int, float)) and not isinstance(value, bool):
        return value
    return json.dumps(value, default=str)


class RedisSinkWriter(SinkWriter):
    """One subtask's connection and pipeline buffer."""

    def __init__(self, sink: RedisSink, subtask_index: int) -> None:
        import redis

        self.sink = sink
        self.subtask_index = subtask_index
        self.client = redis.Redis.from_url(sink.url)
        self.buffer: list[Any] = []
        self.key_fields = _fields_of(sink.write.key)

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
        for row in rows:
            kind, fields = self._row(row)
            if kind is RowKind.UPDATE_BEFORE:
                continue
            try:
                key = w.key.format(**{f: fields[f] for f in self.key_fields})
                if w.kind == "string":
                    if kind is RowKind.DELETE:
                        pipe.delete(key)
                    else:
                        value = fields[w.value_field] if w.value_field else fields
                        pipe.set(key, _text(value), ex=ttl)
                elif w.kind == "hash":
                    if kind is RowKind.DELETE:
                        pipe.hdel(key, *w.fields)
                    else:
                        pipe.hset(key, mapping={f: _text(fields[f]) for f in w.fields})
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
                                 f"{self.sink.url} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self.client.close()
