"""MySQL/MariaDB change-data-capture source: a consistent snapshot, then the binlog (Flink CDC's MySqlSource).

How it reads (python-mysql-replication for the binlog, PyMySQL for the snapshot):

1. ``scan.startup.mode`` ``initial`` (the default): open a transaction with a consistent
   snapshot and take the binlog position that snapshot corresponds to (MariaDB reports it in
   ``binlog_snapshot_file``/``binlog_snapshot_position``; on MySQL a short
   ``FLUSH TABLES WITH READ LOCK`` pins it). Every row of the captured tables is emitted as a
   read (``op`` ``r``, a +I row), ordered by primary key.
2. Then the binlog from exactly that position: INSERT, UPDATE and DELETE as ``c``/``u``/``d``
   events (+I, -U/+U, -D). ``latest-offset`` skips the snapshot and starts at the binlog's end.

The position (binlog file and the end of the last event handed downstream) is the source's
checkpoint state: a job restored from a checkpoint reads the binlog from there, so a change is
neither lost nor repeated. A checkpoint taken during the snapshot keeps the snapshot's binlog
position and the last primary key emitted per table; a restore continues the snapshot after that
key (from the database as it is then) and replays the binlog from the snapshot's position, so a
keyed consumer (an upsert sink, a temporal join) ends with the right rows, though rows read after
the restore may carry changes that the binlog then repeats.

One reader (parallelism 1), as Flink CDC's binlog phase. The server needs ``log_bin`` on,
``binlog_format=ROW`` and ``binlog_row_image=FULL`` (and, for column names that follow ALTER
TABLE while the job runs, ``binlog_row_metadata=FULL``; without it the names are the table's
columns when the reader started); the user needs SELECT, RELOAD (MySQL),
REPLICATION SLAVE and REPLICATION CLIENT.

Records are Debezium-shaped dicts (Flink CDC's JSON deserializer gives the same as text)::

    {"op": "u", "before": {...}, "after": {...}, "source": {"db": "shop", "table": "products",
     "file": "binlog.000003", "pos": 1234, "ts_ms": 1700000000000, "snapshot": False}, "ts_ms": ...}

>>> source = MySqlSource.builder().hostname("127.0.0.1").port(3306).database_list("shop") \\
...     .table_list("shop.products").username("root").password("").build()
>>> changes = env.from_source(source, WatermarkStrategy.no_watermarks(), "products-cdc")
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from rayflink.datastream.connectors.base import Source, SourceReader, SourceSplit, SplitBatch
from rayflink.errors import RayflinkError

SPLIT_ID = "binlog"
_SNAPSHOT_CHUNK_ROWS = 4096
_QUEUE_EVENTS = 1024  # binlog events read ahead of the job (bounded: the reader thread waits)


class MySqlCdcError(RayflinkError):
    """The server cannot be captured (binlog off or not ROW), a table is missing, or a read failed."""


@dataclass(frozen=True)
class StartupOptions:
    """Where capture starts: ``initial`` (snapshot, then binlog) or ``latest`` (binlog end only)."""

    mode: str

    @staticmethod
    def initial() -> "StartupOptions":
        return StartupOptions("initial")

    @staticmethod
    def latest() -> "StartupOptions":
        return StartupOptions("latest-offset")


@dataclass(frozen=True)
class CdcPosition:
    """A reader's checkpointed position."""

    phase: str  # "snapshot" | "binlog"
    file: str
    pos: int
    tables_done: tuple[str, ...] = ()
    table: str | None = None  # the table being snapshotted
    last_key: tuple | None = None  # its last primary key emitted
    # snapshots continued after a restore: (file, pos, tables_done, table, last_key) each; the rows
    # not yet read at that restore came from a snapshot at (file, pos), so the binlog's events
    # up to there for those rows are already in them (see ``Resumed``)
    resumed: tuple[tuple, ...] = ()


class Resumed:
    """Which binlog events a continued snapshot already holds.

    A snapshot interrupted by a failure cannot be continued in its own transaction: a restored
    reader reads the remaining rows (the current table's keys after the last one emitted, and the
    tables not begun) in a new snapshot at a later binlog position. The binlog is then read from
    the first snapshot's position, as for the rows emitted before the failure; for the rows of
    the new snapshot, events up to its position are skipped, or they would go back to older
    values after the newer ones (as Flink CDC's incremental snapshot skips a chunk's events
    before its high watermark).
    """

    def __init__(self, resumed: tuple[tuple, ...], keys: dict[str, list[str]]) -> None:
        self.ranges = [((file, pos), set(done), table, last) for file, pos, done, table, last in resumed]
        self.keys = keys  # "db.table" -> its primary key columns
        self.until = max((r[0] for r in self.ranges), default=None)

    def skips(self, name: str, row: dict | None, at: tuple[str, int]) -> bool:
        """Whether the change of ``row`` of table ``name`` ending at binlog position ``at`` was in a
        continued snapshot already."""
        if self.until is None or at > self.until or row is None:
            return False
        for position, done, table, last in self.ranges:
            if at > position or name in done:
                continue
            if name != table or last is None:
                return True
            keys = self.keys.get(name) or []
            if keys and tuple(row[k] for k in keys) > tuple(last):
                return True
        return False


class JsonDebeziumDeserializationSchema:
    """Flink CDC's default: each change as Debezium JSON text."""

    def deserialize(self, change: dict) -> str:
        return json.dumps(change, default=str)


class MySqlSource(Source):
    """Reads the changes of ``tables`` (``db.table`` names or regular expressions)."""

    def __init__(self, hostname: str, port: int, username: str, password: str, databases: tuple[str, ...],
                 tables: tuple[str, ...], server_id: int, startup: StartupOptions, deserializer: Any) -> None:
        self.hostname = hostname
        self.port = port
        self.username = username
        self.password = password
        self.databases = databases
        self.tables = tables
        self.server_id = server_id
        self.startup = startup
        self.deserializer = deserializer

    @staticmethod
    def builder() -> "MySqlSourceBuilder":
        return MySqlSourceBuilder()

    def is_bounded(self) -> bool:
        return False

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        return [SourceSplit(SPLIT_ID, None)]

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        return MySqlSourceReader(self, splits[0].payload if splits else None, active=bool(splits))

    def connection_settings(self) -> dict:
        return {"host": self.hostname, "port": self.port, "user": self.username, "passwd": self.password}

    def connect(self) -> Any:
        import pymysql

        try:
            return pymysql.connect(host=self.hostname, port=self.port, user=self.username, password=self.password,
                                   autocommit=True, connect_timeout=30)
        except pymysql.MySQLError as exc:
            raise MySqlCdcError(f"mysql-cdc: cannot connect to {self.hostname}:{self.port} as "
                                f"{self.username!r}: {exc}") from exc


class MySqlSourceBuilder:
    """Flink CDC's builder, with its option names in snake case."""

    def __init__(self) -> None:
        self._host = "localhost"
        self._port = 3306
        self._user = "root"
        self._password = ""
        self._databases: tuple[str, ...] = ()
        self._tables: tuple[str, ...] = ()
        self._server_id = random.randint(5400, 6400)  # Flink CDC's default range
        self._startup = StartupOptions.initial()
        self._deserializer: Any = None

    def hostname(self, host: str) -> "MySqlSourceBuilder":
        self._host = host
        return self

    def port(self, port: int) -> "MySqlSourceBuilder":
        self._port = int(port)
        return self

    def username(self, user: str) -> "MySqlSourceBuilder":
        self._user = user
        return self

    def password(self, password: str) -> "MySqlSourceBuilder":
        self._password = password
        return self

    def database_list(self, *databases: str) -> "MySqlSourceBuilder":
        self._databases = tuple(databases)
        return self

    def table_list(self, *tables: str) -> "MySqlSourceBuilder":
        """``db.table`` names, or regular expressions over them (Flink CDC's ``table-name``)."""
        self._tables = tuple(tables)
        return self

    def server_id(self, server_id: int | str) -> "MySqlSourceBuilder":
        """The replica id this reader uses; unique among the server's replicas (a range takes its start)."""
        self._server_id = int(str(server_id).split("-")[0])
        return self

    def startup_options(self, options: StartupOptions) -> "MySqlSourceBuilder":
        self._startup = options
        return self

    def deserializer(self, schema: Any) -> "MySqlSourceBuilder":
        """``JsonDebeziumDeserializationSchema()`` for Debezium JSON text; records are dicts by default."""
        self._deserializer = schema
        return self

    def build(self) -> MySqlSource:
        if not self._databases and not self._tables:
            raise ValueError("MySqlSource: give database_list(...) and/or table_list(...)")
        return MySqlSource(self._host, self._port, self._user, self._password, self._databases, self._tables,
                           self._server_id, self._startup, self._deserializer)


def _columns(conn: Any, db: str, table: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                    "ORDER BY ORDINAL_POSITION", (db, table))
        return [r[0] for r in cur.fetchall()]


def _captured_tables(source: MySqlSource, conn: Any) -> list[tuple[str, str, list[str]]]:
    """``(db, table, primary key columns)`` of every table the source captures, sorted."""
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
                    "AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')")
        candidates = sorted(cur.fetchall())
    patterns = [re.compile(t) for t in source.tables]
    out = []
    for db, table in candidates:
        if source.databases and db not in source.databases:
            continue
        if patterns and not any(p.fullmatch(f"{db}.{table}") for p in patterns):
            continue
        with conn.cursor() as cur:
            cur.execute("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
                        "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", (db, table))
            keys = [r[0] for r in cur.fetchall()]
        out.append((db, table, keys))
    missing = [t for t in source.tables if not any(re.compile(t).fullmatch(f"{d}.{n}") for d, n, _ in out)]
    if missing:
        known = ", ".join(f"{d}.{n}" for d, n in candidates[:20]) or "none"
        raise MySqlCdcError(f"mysql-cdc: no table matches {', '.join(missing)} (tables: {known})")
    return out


def _check_binlog(conn: Any, where: str) -> None:
    with conn.cursor() as cur:
        cur.execute("SHOW VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image')")
        settings = {k.lower(): str(v).upper() for k, v in cur.fetchall()}
    if settings.get("log_bin") != "ON":
        raise MySqlCdcError(f"mysql-cdc: {where} has log_bin OFF; start the server with --log-bin and "
                            "--binlog-format=ROW to capture changes")
    if settings.get("binlog_format") != "ROW":
        raise MySqlCdcError(f"mysql-cdc: {where} has binlog_format={settings.get('binlog_format')}; "
                            "CDC needs binlog_format=ROW")
    if settings.get("binlog_row_image", "FULL") != "FULL":
        raise MySqlCdcError(f"mysql-cdc: {where} has binlog_row_image={settings.get('binlog_row_image')}; "
                            "CDC needs binlog_row_image=FULL")


def _master_position(conn: Any) -> tuple[str, int]:
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    if not row:
        raise MySqlCdcError("mysql-cdc: SHOW MASTER STATUS returned nothing (is log_bin on?)")
    return row[0], int(row[1])


class MySqlSourceReader(SourceReader):
    """Snapshot rows in chunks, then binlog events read ahead by a thread into a bounded queue."""

    def __init__(self, source: MySqlSource, position: CdcPosition | None, active: bool) -> None:
        self.source = source
        self.active = active
        self.where = f"{source.hostname}:{source.port}"
        self.position: CdcPosition  # set by _start: the restored position, or where a new read begins
        self.tables: list[tuple[str, str, list[str]]] = []
        self.columns: dict[tuple[str, str], list[str]] = {}  # names for servers without binlog_row_metadata=FULL
        self.snapshot_conn: Any = None
        self.events: queue.Queue = queue.Queue(maxsize=_QUEUE_EVENTS)
        self.thread: threading.Thread | None = None
        self.stream: Any = None  # the BinLogStreamReader, closed to wake the thread at close()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        if active:
            self._start(position)

    # ---- start ---------------------------------------------------------------------------------

    def _start(self, restored: CdcPosition | None) -> None:
        conn = self.source.connect()
        try:
            _check_binlog(conn, self.where)
            self.tables = _captured_tables(self.source, conn)
            self.columns = {(db, t): _columns(conn, db, t) for db, t, _ in self.tables}
            if restored is not None:
                self.position = restored
            elif self.source.startup.mode == "latest-offset":
                file, pos = _master_position(conn)
                self.position = CdcPosition("binlog", file, pos)
            else:
                self._begin_snapshot()
        finally:
            conn.close()
        if self.position.phase == "snapshot" and self.snapshot_conn is None:
            # a restore continues the snapshot after its last key, in a new snapshot (see Resumed)
            p = self.position
            self.snapshot_conn, (file, pos) = self._open_snapshot()
            self.position = replace(p, resumed=p.resumed + ((file, pos, p.tables_done, p.table, p.last_key),))

    def _begin_snapshot(self) -> None:
        self.snapshot_conn, (file, pos) = self._open_snapshot()
        self.position = CdcPosition("snapshot", file, pos)

    def _open_snapshot(self) -> tuple[Any, tuple[str, int]]:
        """A connection in a consistent-snapshot transaction, and the binlog position it reads at."""
        conn = self.source.connect()
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("SHOW VARIABLES LIKE 'version'")
            mariadb = "mariadb" in str(cur.fetchone()[1]).lower()
            if mariadb:  # the snapshot's binlog position, without a lock
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                cur.execute("SHOW SESSION STATUS LIKE 'binlog_snapshot%'")
                status = {k.lower(): v for k, v in cur.fetchall()}
                file, pos = status["binlog_snapshot_file"], int(status["binlog_snapshot_position"])
            else:
                cur.execute("FLUSH TABLES WITH READ LOCK")
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                file, pos = _master_position(conn)
                cur.execute("UNLOCK TABLES")
        return conn, (file, pos)

    # ---- polling -------------------------------------------------------------------------------

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        if not self.active:
            return []
        if self.position.phase == "snapshot":
            return self._poll_snapshot(max_records)
        if self.thread is None:
            self._start_binlog()
        if self.error is not None:
            raise MySqlCdcError(f"mysql-cdc: reading the binlog of {self.where} failed at "
                                f"{self.position.file}:{self.position.pos}: {self.error}") from self.error
        records: list = []
        while len(records) < max_records:
            try:
                changes, file, pos = self.events.get_nowait()
            except queue.Empty:
                break
            records.extend(changes)
            self.position = replace(self.position, file=file, pos=pos)
        return [SplitBatch(SPLIT_ID, self._out(records))] if records else []

    def _out(self, changes: list[dict]) -> list:
        d = self.source.deserializer
        return changes if d is None else [d.deserialize(c) for c in changes]

    def _poll_snapshot(self, max_records: int) -> list[SplitBatch]:
        p = self.position
        todo = [t for t in self.tables if f"{t[0]}.{t[1]}" not in p.tables_done]
        if not todo:
            self.snapshot_conn.commit()
            self.snapshot_conn.close()
            self.snapshot_conn = None
            self.position = CdcPosition("binlog", p.file, p.pos, resumed=p.resumed)
            return []
        db, table, keys = todo[0]
        name = f"{db}.{table}"
        last = p.last_key if p.table == name else None
        order = ", ".join(f"`{k}`" for k in keys)
        sql = f"SELECT * FROM `{db}`.`{table}`"
        args: tuple = ()
        if keys and last is not None:
            sql += f" WHERE ({order}) > ({', '.join(['%s'] * len(keys))})"
            args = tuple(last)
        if keys:
            sql += f" ORDER BY {order}"
        limit = min(max_records, _SNAPSHOT_CHUNK_ROWS) if keys else None
        if limit:
            sql += f" LIMIT {limit}"
        import pymysql

        with self.snapshot_conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        now_ms = int(time.time() * 1000)
        changes = [{"op": "r", "before": None, "after": dict(r),
                    "source": {"db": db, "table": table, "file": p.file, "pos": p.pos, "ts_ms": now_ms,
                               "snapshot": True}, "ts_ms": now_ms} for r in rows]
        if limit and len(rows) == limit:
            self.position = replace(p, table=name, last_key=tuple(rows[-1][k] for k in keys))
        else:
            self.position = replace(p, table=None, last_key=None, tables_done=p.tables_done + (name,))
        return [SplitBatch(SPLIT_ID, self._out(changes))] if changes else []

    def _start_binlog(self) -> None:
        self.thread = threading.Thread(target=self._read_binlog, args=(self.position.file, self.position.pos),
                                       daemon=True, name="mysql-cdc-binlog")
        self.thread.start()

    def _read_binlog(self, file: str, pos: int) -> None:
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        captured = {(db, table) for db, table, _ in self.tables}
        resumed = Resumed(self.position.resumed, {f"{db}.{table}": keys for db, table, keys in self.tables})
        # its warning about binlog_row_metadata is handled here: names come from information_schema
        logging.getLogger("pymysqlreplication.binlogstream").setLevel(logging.ERROR)
        try:
            stream = BinLogStreamReader(
                connection_settings=self.source.connection_settings(), server_id=self.source.server_id,
                resume_stream=True, blocking=True, log_file=file, log_pos=pos,
                only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
                only_schemas=sorted({db for db, _ in captured}) or None, slave_heartbeat=1.0,
                enable_logging=False)
        except Exception as exc:  # noqa: BLE001 - surfaced by the next poll, naming the position
            self.error = exc
            return
        self.stream = stream
        try:
            for event in stream:
                if self.stop.is_set():
                    break
                if (event.schema, event.table) not in captured:
                    continue
                ts_ms = int(event.timestamp) * 1000
                source = {"db": event.schema, "table": event.table, "file": stream.log_file,
                          "pos": stream.log_pos, "ts_ms": ts_ms, "snapshot": False}
                names = self.columns.get((event.schema, event.table), [])

                def named(values: dict, names: list = names) -> dict:
                    # without binlog_row_metadata=FULL the reader knows positions only: UNKNOWN_COL<i>
                    if names and values and next(iter(values)).startswith("UNKNOWN_COL"):
                        return {names[int(k[11:])] if int(k[11:]) < len(names) else k: v for k, v in values.items()}
                    return values

                changes: list[dict[str, Any]] = []
                for row in event.rows:
                    if isinstance(event, WriteRowsEvent):
                        changes.append({"op": "c", "before": None, "after": named(row["values"])})
                    elif isinstance(event, UpdateRowsEvent):
                        changes.append({"op": "u", "before": named(row["before_values"]),
                                        "after": named(row["after_values"])})
                    else:
                        changes.append({"op": "d", "before": named(row["values"]), "after": None})
                at, name = (stream.log_file, stream.log_pos), f"{event.schema}.{event.table}"
                changes = [c for c in changes if not resumed.skips(name, c["after"] or c["before"], at)]
                if not changes:
                    continue
                for c in changes:
                    c.update(source=source, ts_ms=ts_ms)
                while not self.stop.is_set():
                    try:
                        self.events.put((changes, stream.log_file, stream.log_pos), timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except Exception as exc:  # noqa: BLE001 - surfaced by the next poll, naming the position
            if not self.stop.is_set():
                self.error = exc
        finally:
            with contextlib.suppress(Exception):  # close() may have closed it already
                stream.close()

    def wait_time(self) -> float:
        return 0.005

    def metrics(self) -> dict[str, int]:
        """Flink CDC's reader gauges: the phase, and how many tables the snapshot has read."""
        if not self.active:
            return {}
        done = len(self.position.tables_done) if self.position.phase == "snapshot" else len(self.tables)
        return {"is_snapshotting": int(self.position.phase == "snapshot"),
                "is_stream_reading": int(self.position.phase == "binlog"),
                "num_tables_snapshotted": done, "num_tables_remaining": len(self.tables) - done}

    def snapshot_state(self) -> list[SourceSplit]:
        return [SourceSplit(SPLIT_ID, self.position)] if self.active else []

    def close(self) -> None:
        self.stop.set()
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # noqa: BLE001 - the thread may be closing it too
                pass
        if self.snapshot_conn is not None:
            try:
                self.snapshot_conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        if self.thread is not None:
            self.thread.join(timeout=5)


def change_kinds(change: dict) -> list[tuple[Any, dict]]:
    """A Debezium-shaped change as ``(RowKind, values)`` pairs: reads and inserts are +I, an update
    is -U (the row before) then +U (after), a delete is -D (the row before)."""
    from rayflink.common.types import RowKind

    op = change["op"]
    if op in ("r", "c"):
        return [(RowKind.INSERT, change["after"])]
    if op == "u":
        return [(RowKind.UPDATE_BEFORE, change["before"]), (RowKind.UPDATE_AFTER, change["after"])]
    if op == "d":
        return [(RowKind.DELETE, change["before"])]
    raise MySqlCdcError(f"mysql-cdc: unknown change op {op!r} in {str(change)[:200]}")


def changelog_rows(change: dict) -> list:
    """A Debezium-shaped change as changelog ``Row``s with their ``RowKind`` (see ``change_kinds``).

    >>> stream.flat_map(changelog_rows).key_by(lambda row: row["id"]).add_sink(JdbcSink.upsert(...))
    """
    from rayflink.common.types import Row

    rows = []
    for kind, values in change_kinds(change):
        row = Row(**values)
        row.set_row_kind(kind)
        rows.append(row)
    return rows
