"""JDBC sink against the machine's PostgreSQL and MariaDB: PyFlink's statement form, upserts and
deletes from a changelog, batches flushed at checkpoints; the upserted table is exact under kills."""

from __future__ import annotations

import uuid

import psycopg
import pymysql
import pytest

from rayflink.common.types import Row, RowKind
from rayflink.connectors.jdbc import JdbcConnectionOptions, JdbcExecutionOptions, JdbcSink, JdbcSinkError
from rayflink.datastream.state_backend import HashMapStateBackend
from rayflink.testing.exactly_once import KEYS, chaos_thread, counting_job

PG_URL = "jdbc:postgresql://127.0.0.1:5432/test"
MY_URL = "jdbc:mariadb://127.0.0.1:3306/test"


def Change(kind: int, **fields) -> Row:  # noqa: N802 - reads as the row it builds
    """A changelog row: a Row of ``fields`` with RowKind ``kind`` (0 +I, 1 -U, 2 +U, 3 -D)."""
    row = Row(**fields)
    row.set_row_kind(RowKind(kind))
    return row


def options(url: str) -> JdbcConnectionOptions:
    builder = JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(url)
    builder = builder.with_user_name("postgres" if "postgresql" in url else "root")
    return builder.build()


@pytest.fixture(params=[PG_URL, MY_URL], ids=["postgresql", "mariadb"])
def database(request):
    url = request.param
    table = f"t_{uuid.uuid4().hex[:10]}"
    if "postgresql" in url:
        conn = psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True)
    else:
        conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (k VARCHAR(20) PRIMARY KEY, total BIGINT)")

    def read() -> dict:
        with conn.cursor() as cur:
            cur.execute(f"SELECT k, total FROM {table}")
            return dict(cur.fetchall())

    yield url, table, read
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    conn.close()


def test_upserts_and_deletes_from_a_changelog(database):
    url, table, read = database
    writer = JdbcSink.upsert(table, ["k", "total"], ["k"], options(url)).create_writer(0, 1)
    writer.write([Change(0, k="a", total=1), Change(0, k="b", total=2), Change(1, k="a", total=1),
                  Change(2, k="a", total=5)], None)
    assert read() == {}  # buffered until a flush (batch size, interval or checkpoint)
    writer.flush(False)
    assert read() == {"a": 5, "b": 2}
    writer.write([Change(3, k="b", total=2), Change(0, k="c", total=9)], None)
    writer.flush(False)
    writer.write([Change(0, k="c", total=9)], None)  # written again after a restore: same table
    writer.flush(True)
    assert read() == {"a": 5, "c": 9}
    writer.close()


def test_pyflinks_statement_form_and_batch_size(database):
    url, table, read = database
    sink = JdbcSink.sink(f"INSERT INTO {table} (k, total) VALUES (?, ?)", None, options(url),
                         JdbcExecutionOptions.builder().with_batch_size(2).with_max_retries(0).build())
    writer = sink.create_writer(0, 1)
    writer.write([("x", 1)], None)
    assert read() == {}
    writer.write([("y", 2)], None)  # the batch is full: written at once
    assert read() == {"x": 1, "y": 2}
    writer.write([("x", 3)], None)  # a duplicate key: the error names the sink, the retries and the row
    with pytest.raises(JdbcSinkError, match=r"sink.max-retries 0.*\('x', 3\)"):
        writer.flush(False)
    writer.close()


def test_a_bad_url_is_named():
    with pytest.raises(JdbcSinkError, match="jdbc:postgresql://"):
        JdbcSink.upsert("t", ["k"], ["k"], options("jdbc:oracle:thin:@host:1521:db")).create_writer(0, 1)


@pytest.mark.integration
def test_the_upserted_table_is_exact_under_executor_kills(database):
    url, table, read = database
    records = 5_000
    stream = counting_job(f"file:///tmp/rayflink-jdbc-{uuid.uuid4().hex[:8]}", records, rate=4_000,
                          backend=HashMapStateBackend(), interval_ms=200)
    stream.map(lambda kn: {"k": str(kn[0]), "total": kn[1]}).add_sink(
        JdbcSink.upsert(table, ["k", "total"], ["k"], options(url))).uid("jdbc")
    client = stream.get_execution_environment().execute_async("jdbc-upsert")
    with chaos_thread(client, 2) as killed:
        client.get_job_execution_result()
    expected = {str(k): sum(1 for i in range(records) if i % KEYS == k) for k in range(KEYS)}
    assert killed and read() == expected
