"""JDBC sink for PostgreSQL (psycopg) and MariaDB/MySQL (PyMySQL), at PyFlink's API.

Rows are buffered and written in batches: when ``batch_size`` rows are waiting, when
``batch_interval_ms`` has passed, and always at a checkpoint barrier, before the checkpoint can
complete. A batch is one database transaction, retried up to ``max_retries`` times.

- ``JdbcSink.sink(sql, type_info, connection, execution)``: PyFlink's form, any statement with
  ``?`` placeholders, one execution per row (at-least-once: a restore may repeat rows written
  after the last checkpoint).
- ``JdbcSink.upsert(table, columns, key_columns, connection, execution)``: the SQL connector's
  upsert mode on a primary key (``INSERT ... ON CONFLICT ... DO UPDATE`` on PostgreSQL,
  ``ON DUPLICATE KEY UPDATE`` on MariaDB/MySQL); a changelog's -D rows delete, -U rows are
  skipped. Writing the same change twice leaves the same row, so with checkpoints the table
  ends exactly as if each change had been applied once.

>>> conn = JdbcConnectionOptions.JdbcConnectionOptionsBuilder() \\
...     .with_url("jdbc:postgresql://127.0.0.1:5432/test").with_user_name("postgres").build()
>>> stream.add_sink(JdbcSink.upsert("revenue", ["region", "total"], ["region"], conn))
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from rayflink.common.types import RowKind, row_kind_of
from rayflink.connectors.lookup import LookupCache, LookupSource
from rayflink.datastream.connectors.base import Sink, SinkWriter
from rayflink.errors import RayflinkError

_UPSERTS = (RowKind.INSERT, RowKind.UPDATE_AFTER)  # the other kinds delete the key's row


class JdbcSinkError(RayflinkError):
    """A JDBC write failed after its retries, or a URL or row cannot be used."""


@dataclass(frozen=True)
class JdbcConnectionOptions:
    """Where to connect: ``jdbc:postgresql://host:port/db`` or ``jdbc:mysql|mariadb://host:port/db``."""

    url: str
    driver_name: str | None = None
    user_name: str | None = None
    password: str | None = None
    connection_check_timeout_seconds: int = 60

    class JdbcConnectionOptionsBuilder:
        """PyFlink's builder of :class:`JdbcConnectionOptions`."""

        def __init__(self) -> None:
            self._kw: dict[str, Any] = {}

        def with_url(self, url: str) -> "JdbcConnectionOptions.JdbcConnectionOptionsBuilder":
            self._kw["url"] = url
            return self

        def with_driver_name(self, name: str) -> "JdbcConnectionOptions.JdbcConnectionOptionsBuilder":
            self._kw["driver_name"] = name  # accepted for PyFlink's programs; the URL picks the driver
            return self

        def with_user_name(self, user: str) -> "JdbcConnectionOptions.JdbcConnectionOptionsBuilder":
            self._kw["user_name"] = user
            return self

        def with_password(self, password: str) -> "JdbcConnectionOptions.JdbcConnectionOptionsBuilder":
            self._kw["password"] = password
            return self

        def with_connection_check_timeout_seconds(
                self, seconds: int) -> "JdbcConnectionOptions.JdbcConnectionOptionsBuilder":
            self._kw["connection_check_timeout_seconds"] = int(seconds)
            return self

        def build(self) -> "JdbcConnectionOptions":
            if "url" not in self._kw:
                raise ValueError("JdbcConnectionOptions: with_url(...) is required")
            return JdbcConnectionOptions(**self._kw)


@dataclass(frozen=True)
class JdbcExecutionOptions:
    """When batches are written: Flink's defaults (5,000 rows, 0 ms: only by size and checkpoints, 3 retries)."""

    batch_interval_ms: int = 0
    batch_size: int = 5000
    max_retries: int = 3

    @staticmethod
    def builder() -> "JdbcExecutionOptionsBuilder":
        return JdbcExecutionOptionsBuilder()

    @staticmethod
    def defaults() -> "JdbcExecutionOptions":
        return JdbcExecutionOptions()


class JdbcExecutionOptionsBuilder:
    def __init__(self) -> None:
        self._kw: dict[str, int] = {}

    def with_batch_interval_ms(self, ms: int) -> "JdbcExecutionOptionsBuilder":
        self._kw["batch_interval_ms"] = int(ms)
        return self

    def with_batch_size(self, size: int) -> "JdbcExecutionOptionsBuilder":
        if int(size) < 1:
            raise ValueError(f"JdbcExecutionOptions: batch size must be at least 1, not {size!r}")
        self._kw["batch_size"] = int(size)
        return self

    def with_max_retries(self, retries: int) -> "JdbcExecutionOptionsBuilder":
        self._kw["max_retries"] = int(retries)
        return self

    def build(self) -> JdbcExecutionOptions:
        return JdbcExecutionOptions(**self._kw)


_URL = re.compile(r"^jdbc:(postgresql|mysql|mariadb)://")


def connect(options: JdbcConnectionOptions) -> tuple[str, Any]:
    """``(dialect, DB-API connection)`` for a JDBC URL; dialect is ``postgresql`` or ``mysql``."""
    match = _URL.match(options.url)
    if not match:
        raise JdbcSinkError(f"JDBC url {options.url!r}: only jdbc:postgresql://, jdbc:mysql:// and "
                            "jdbc:mariadb:// are supported")
    parsed = urlparse(options.url[len("jdbc:"):])
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    user = options.user_name or query.get("user") or parsed.username
    password = options.password or query.get("password") or parsed.password
    database = parsed.path.lstrip("/") or None
    timeout = options.connection_check_timeout_seconds
    if match.group(1) == "postgresql":
        import psycopg

        conn = psycopg.connect(host=parsed.hostname or "localhost", port=parsed.port or 5432, dbname=database,
                               user=user or None, password=password or None, connect_timeout=timeout)
        return "postgresql", conn
    import pymysql

    conn = pymysql.connect(host=parsed.hostname or "localhost", port=parsed.port or 3306, database=database,
                           user=user or "root", password=password or "", connect_timeout=timeout,
                           autocommit=False)
    return "mysql", conn


def in_transaction(options: JdbcConnectionOptions, connection: tuple[str, Any], work: Callable[[Any], Any],
                   max_retries: int, failure: Callable[[Exception, int], str]) -> tuple[Any, tuple[str, Any]]:
    """``work(cursor)`` then a commit on ``connection`` (``(dialect, DB-API connection)``); after an
    error, a rollback and a retry on a new connection (waiting 0.1 s, doubling up to 1 s), at most
    ``max_retries`` times, then JdbcSinkError with ``failure(error, attempts)``. Returns the work's
    result and the connection it ran on."""
    dialect, conn = connection
    attempt = 0
    while True:
        try:
            with conn.cursor() as cur:
                result = work(cur)
            conn.commit()
            return result, (dialect, conn)
        except Exception as exc:  # noqa: BLE001 - retried, then named by the caller's failure()
            with contextlib.suppress(Exception):  # a broken connection is replaced below
                conn.rollback()
            if attempt == max_retries:
                raise JdbcSinkError(failure(exc, attempt + 1)) from exc
            time.sleep(min(1.0, 0.1 * 2 ** attempt))
            with contextlib.suppress(Exception):
                conn.close()
            dialect, conn = connect(options)
            attempt += 1


def _quote(dialect: str, name: str) -> str:
    return f"`{name}`" if dialect == "mysql" else f'"{name}"'


def upsert_statement(dialect: str, table: str, columns: list[str], keys: list[str]) -> str:
    """The upsert of one row on ``keys`` in ``dialect``, with ``%s`` placeholders."""
    q = [_quote(dialect, c) for c in columns]
    values = ", ".join(["%s"] * len(columns))
    rest = [c for c in columns if c not in keys]
    if dialect == "mysql":
        update = ", ".join(f"{_quote(dialect, c)} = VALUES({_quote(dialect, c)})" for c in rest) \
            or f"{_quote(dialect, keys[0])} = {_quote(dialect, keys[0])}"
        return f"INSERT INTO {table} ({', '.join(q)}) VALUES ({values}) ON DUPLICATE KEY UPDATE {update}"
    conflict = ", ".join(_quote(dialect, k) for k in keys)
    action = ("DO UPDATE SET " + ", ".join(f"{_quote(dialect, c)} = EXCLUDED.{_quote(dialect, c)}" for c in rest)) \
        if rest else "DO NOTHING"
    return f"INSERT INTO {table} ({', '.join(q)}) VALUES ({values}) ON CONFLICT ({conflict}) {action}"


def delete_statement(dialect: str, table: str, keys: list[str]) -> str:
    return f"DELETE FROM {table} WHERE " + " AND ".join(f"{_quote(dialect, k)} = %s" for k in keys)


class JdbcSink(Sink):
    """Writes rows to a database table in batches (see the module docstring)."""

    def __init__(self, connection: JdbcConnectionOptions, execution: JdbcExecutionOptions, *,
                 sql: str | None = None, table: str | None = None, columns: list[str] | None = None,
                 key_columns: list[str] | None = None) -> None:
        if (sql is None) == (table is None):
            raise JdbcSinkError(f"JdbcSink takes either sql or table, got sql={sql!r} and table={table!r}")
        self.connection = connection
        self.execution = execution
        self.sql = sql
        self.table = table
        self.columns = list(columns or [])
        self.key_columns = list(key_columns or [])

    @staticmethod
    def sink(sql: str, type_info: Any, jdbc_connection_options: JdbcConnectionOptions,
             jdbc_execution_options: JdbcExecutionOptions | None = None) -> "JdbcSink":
        """PyFlink's ``JdbcSink.sink``: ``sql`` with ``?`` placeholders, filled from each row's fields."""
        return JdbcSink(jdbc_connection_options, jdbc_execution_options or JdbcExecutionOptions(),
                        sql=sql.replace("?", "%s"))

    @staticmethod
    def upsert(table: str, columns: list[str], key_columns: list[str],
               jdbc_connection_options: JdbcConnectionOptions,
               jdbc_execution_options: JdbcExecutionOptions | None = None) -> "JdbcSink":
        """Upsert rows into ``table`` on ``key_columns`` (its primary key); -D rows delete."""
        if not key_columns or any(k not in columns for k in key_columns):
            raise ValueError(f"JdbcSink.upsert({table!r}): key columns {key_columns} must be among {columns}")
        return JdbcSink(jdbc_connection_options, jdbc_execution_options or JdbcExecutionOptions(),
                        table=table, columns=columns, key_columns=key_columns)

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return JdbcSinkWriter(self, subtask_index)


class JdbcSinkWriter(SinkWriter):
    """One subtask's connection and buffer."""

    def __init__(self, sink: JdbcSink, subtask_index: int) -> None:
        self.sink = sink
        self.subtask_index = subtask_index
        self.buffer: list[Any] = []
        self.last_flush = time.monotonic()
        self.dialect, self.conn = connect(sink.connection)
        self.rows_written = 0

    def _fields(self, row: Any, names: list[str]) -> tuple:
        if isinstance(row, dict):
            return tuple(row[n] for n in names)
        if hasattr(row, "as_dict") and names:
            d = row.as_dict()
            return tuple(d[n] for n in names)
        return tuple(row)

    def write(self, records: list, timestamps: list | None) -> None:
        self.buffer.extend(records)
        interval = self.sink.execution.batch_interval_ms
        if len(self.buffer) >= self.sink.execution.batch_size or \
                (interval > 0 and (time.monotonic() - self.last_flush) * 1000 >= interval):
            self.flush(False)

    def _statements(self, rows: list[Any]) -> list[tuple[str, list[tuple]]]:
        """The rows as executemany batches. Upserting, only each key's last change is written, as
        Flink's reduced buffer does: ``+I``/``+U`` upsert the key's row, ``-D`` and ``-U`` delete it
        (a ``-U`` with no ``+U`` after it is a row that left the result, e.g. through a filter)."""
        s = self.sink
        if s.sql is not None:
            return [(s.sql, [self._fields(r, []) for r in rows])]
        assert s.table is not None  # the constructor took either sql or table
        last: dict[tuple, tuple[bool, Any]] = {}
        for row in rows:
            last[self._fields(row, s.key_columns)] = (row_kind_of(row) in _UPSERTS, row)
        deletes = [key for key, (upserts, _row) in last.items() if not upserts]
        upserted = [self._fields(row, s.columns) for upserts, row in last.values() if upserts]
        return [(statement, params) for statement, params in (
            (delete_statement(self.dialect, s.table, s.key_columns), deletes),
            (upsert_statement(self.dialect, s.table, s.columns, s.key_columns), upserted)) if params]

    def flush(self, end_of_input: bool) -> None:
        if not self.buffer:
            self.last_flush = time.monotonic()
            return
        rows, self.buffer = self.buffer, []
        statements = self._statements(rows)
        retries = self.sink.execution.max_retries

        def write(cur: Any) -> None:
            for statement, params in statements:
                cur.executemany(statement, params)

        def failure(exc: Exception, attempts: int) -> str:
            return (f"JdbcSink subtask {self.subtask_index + 1}: writing {len(rows)} rows failed after {attempts} "
                    f"attempts (sink.max-retries {retries}): {type(exc).__name__}: {' '.join(str(exc).split())}; "
                    f"first row {str(rows[0])[:200]}")

        _, (self.dialect, self.conn) = in_transaction(self.sink.connection, (self.dialect, self.conn), write,
                                                      retries, failure)
        self.rows_written += len(rows)
        self.last_flush = time.monotonic()

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


class JdbcLookup(LookupSource):
    """A lookup source (Flink's JDBC ``LookupTableSource``): the rows of ``table`` whose ``key``
    columns equal given values, read with one query per batch of keys, through the cache."""

    def __init__(self, connection: JdbcConnectionOptions, table: str, columns: list[str], key: list[str],
                 cache: LookupCache, max_retries: int = 3) -> None:
        super().__init__(key, cache)
        self.connection = connection
        self.table = table
        self.columns = columns
        self.max_retries = max_retries
        self.conn: Any = None

    def open(self) -> None:
        self.dialect, self.conn = connect(self.connection)

    def read(self, keys: list[tuple]) -> dict[tuple, list[tuple]]:
        q = lambda name: _quote(self.dialect, name)  # noqa: E731 - a short local alias
        one = "(" + ", ".join(["%s"] * len(self.key)) + ")"
        sql = (f"SELECT {', '.join(q(c) for c in self.columns)} FROM {self.table} "
               f"WHERE ({', '.join(q(k) for k in self.key)}) IN ({', '.join([one] * len(keys))})")
        params = [v for k in keys for v in k]
        at = [self.columns.index(k) for k in self.key]

        def query(cur: Any) -> list:
            cur.execute(sql, params)
            return cur.fetchall()  # (the commit ends the read's transaction: the next lookup sees new rows)

        def failure(exc: Exception, attempts: int) -> str:
            return (f"JDBC lookup in {self.table} by {', '.join(self.key)} failed after {attempts} attempts: "
                    f"{type(exc).__name__}: {exc}")

        rows, (self.dialect, self.conn) = in_transaction(self.connection, (self.dialect, self.conn), query,
                                                         self.max_retries, failure)
        out: dict[tuple, list[tuple]] = {}
        for row in rows:
            out.setdefault(tuple(row[i] for i in at), []).append(tuple(row))
        return out

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self.conn = None
