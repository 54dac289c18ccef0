"""DDL and catalog statements: CREATE/DROP TABLE and VIEW, SHOW, DESCRIBE, SET, EXPLAIN, and errors
that point at the line, column and token, naming the closest existing table or column."""

from __future__ import annotations

import pyarrow as pa
import pytest

from rayflink.sql.errors import SqlParseError, SqlPlanningError, SqlValidationError
from rayflink.table import EnvironmentSettings, TableEnvironment

ORDERS = """
CREATE TABLE orders (
    order_id  STRING,
    user_id   BIGINT,
    qty       INT,
    price     DECIMAL(10, 2),
    rate      DOUBLE,
    paid      BOOLEAN,
    ts        TIMESTAMP(3),
    seen      TIMESTAMP_LTZ(3),
    day       DATE,
    total AS price * qty,
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND,
    PRIMARY KEY (order_id) NOT ENFORCED
) WITH (
    'connector' = 'filesystem',
    'path' = '/tmp/orders',
    'format' = 'json'
)"""


@pytest.fixture
def t_env() -> TableEnvironment:
    env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().build())
    env.execute_sql(ORDERS)
    return env


def rows(result) -> list[tuple]:
    return [tuple(r) for r in result.collect()]


def test_create_table_records_types_computed_columns_watermark_key_and_options(t_env):
    table = t_env._catalog.get("orders")
    assert table.schema == pa.schema([
        ("order_id", pa.string()), ("user_id", pa.int64()), ("qty", pa.int32()), ("price", pa.decimal128(10, 2)),
        ("rate", pa.float64()), ("paid", pa.bool_()), ("ts", pa.timestamp("ms")),
        ("seen", pa.timestamp("ms", tz="UTC")), ("day", pa.date32()), ("total", table.schema.field("total").type)])
    assert pa.types.is_decimal(table.schema.field("total").type)
    assert table.physical_schema.names[-1] == "day"
    assert table.watermark.rowtime == "ts"
    assert table.primary_key == ("order_id",)
    assert table.options == {"connector": "filesystem", "path": "/tmp/orders", "format": "json"}


def test_describe_shows_flink_types_key_computed_and_watermark(t_env):
    described = {r[0]: r for r in rows(t_env.execute_sql("DESCRIBE orders"))}
    assert described["order_id"][1:4] == ("STRING", False, "PRI(order_id)")
    assert described["price"][1] == "DECIMAL(10, 2)"
    assert described["ts"][1] == "TIMESTAMP(3)" and described["ts"][5].startswith("ts - INTERVAL")
    assert described["seen"][1] == "TIMESTAMP_LTZ(3)"
    assert described["total"][4] == "AS price * qty"


def test_metadata_columns_are_declared_but_not_physical():
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.execute_sql("""CREATE TABLE k (id INT, event_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
                         `partition` INT METADATA VIRTUAL) WITH ('connector' = 'datagen')""")
    table = t_env._catalog.get("k")
    assert table.physical_schema.names == ["id"]
    assert [(c.metadata, c.virtual) for c in table.columns[1:]] == [("timestamp", True), ("partition", True)]
    assert rows(t_env.execute_sql("DESCRIBE k"))[1][4] == "METADATA FROM 'timestamp' VIRTUAL"
    with pytest.raises(SqlPlanningError, match="connector 'datagen' provides no metadata 'timestamp'"):
        t_env.execute_sql("SELECT id, event_time FROM k")


def test_show_tables_views_drop(t_env):
    t_env.execute_sql("CREATE VIEW big AS SELECT order_id, qty FROM orders WHERE qty > 10")
    assert rows(t_env.execute_sql("SHOW TABLES")) == [("orders",)]
    assert rows(t_env.execute_sql("SHOW VIEWS")) == [("big",)]
    assert [r[0] for r in rows(t_env.execute_sql("DESCRIBE big"))] == ["order_id", "qty"]
    t_env.execute_sql("DROP VIEW big")
    t_env.execute_sql("DROP TABLE IF EXISTS nothing")
    t_env.execute_sql("DROP TABLE orders")
    assert rows(t_env.execute_sql("SHOW TABLES")) == []
    with pytest.raises(SqlValidationError, match="table 'orders' does not exist"):
        t_env.execute_sql("DROP TABLE orders")


def test_create_twice_fails_unless_if_not_exists(t_env):
    with pytest.raises(SqlValidationError, match="already exists"):
        t_env.execute_sql(ORDERS)
    t_env.execute_sql(ORDERS.replace("CREATE TABLE orders", "CREATE TABLE IF NOT EXISTS orders"))


def test_set_writes_the_table_config(t_env):
    t_env.execute_sql("SET 'parallelism.default' = '2'")
    assert t_env.get_config().get("parallelism.default") == "2"
    assert rows(t_env.execute_sql("SET")) == [("parallelism.default", "2")]


def test_explain_shows_the_plan_with_pushed_projection(t_env):
    text = rows(t_env.execute_sql("EXPLAIN SELECT order_id, qty * 2 AS q FROM orders WHERE paid"))[0][0]
    assert "== Optimized Physical Plan ==" in text
    optimized = text.split("== Optimized Physical Plan ==")[1]
    assert "Calc(select=[order_id, MULTIPLY(`qty`, 2) AS q], where=[`paid`])" in optimized
    assert "fields=[order_id, qty, paid, ts]" in optimized  # pushed down; ts is the event-time attribute


def test_unknown_column_names_the_closest_and_points_at_it(t_env):
    with pytest.raises(SqlValidationError) as err:
        t_env.execute_sql("SELECT order_id,\n       user_idd FROM orders")
    assert "column 'user_idd' not found in table 'orders'; did you mean 'user_id'?" in str(err.value)
    assert (err.value.line, err.value.column, err.value.token) == (2, 8, "user_idd")


def test_unknown_table_names_the_closest(t_env):
    with pytest.raises(SqlValidationError, match="object 'order' not found; did you mean 'orders'"):
        t_env.execute_sql("SELECT * FROM order")


def test_parse_error_points_at_the_token(t_env):
    with pytest.raises(SqlParseError) as err:
        t_env.execute_sql("SELECT qty FROM orders WHERE WHERE")
    assert err.value.line == 1 and err.value.token == "WHERE"


def test_type_error_names_the_expression_and_both_types(t_env):
    with pytest.raises(SqlValidationError, match=r"cannot apply '\+' to arguments of type \(INT, STRING\)"):
        t_env.execute_sql("SELECT qty + order_id FROM orders")


def test_ungrouped_column_is_named(t_env):
    with pytest.raises(SqlValidationError, match="expression 'qty' is not being grouped"):
        t_env.execute_sql("SELECT user_id, qty FROM orders GROUP BY user_id")


def test_window_on_a_column_without_watermark_is_refused(t_env):
    with pytest.raises(SqlValidationError,
                       match="'seen' is not an event-time attribute; the event-time attribute is 'ts'"):
        t_env.execute_sql("SELECT COUNT(*) FROM orders GROUP BY TUMBLE(seen, INTERVAL '1' MINUTE)")


def test_watermark_must_be_on_a_timestamp():
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    with pytest.raises(SqlValidationError, match="WATERMARK FOR id: the column must be TIMESTAMP"):
        t_env.execute_sql("CREATE TABLE t (id INT, WATERMARK FOR id AS id) WITH ('connector' = 'datagen')")


def test_updating_query_into_an_append_only_sink_is_refused_naming_the_sink(t_env):
    t_env.execute_sql("CREATE TABLE out_files (user_id BIGINT, n BIGINT) WITH ("
                      "'connector' = 'filesystem', 'path' = '/tmp/never', 'format' = 'csv')")
    with pytest.raises(SqlPlanningError, match="table sink 'out_files' .* only takes inserts.*GroupAggregate"):
        t_env.execute_sql("INSERT INTO out_files SELECT user_id, COUNT(*) FROM orders GROUP BY user_id")


def test_insert_with_the_wrong_column_count_names_both(t_env):
    t_env.execute_sql("CREATE TABLE out2 (a BIGINT) WITH ('connector' = 'blackhole')")
    with pytest.raises(SqlValidationError, match=r"the query has 2 columns \(user_id, qty\) but the table has 1"):
        t_env.execute_sql("INSERT INTO out2 SELECT user_id, qty FROM orders")


def test_unsupported_connector_is_named(t_env):
    t_env.execute_sql("CREATE TABLE k (a INT) WITH ('connector' = 'printt')")
    with pytest.raises(SqlValidationError, match="connector 'printt' is not supported; did you mean 'print'"):
        t_env.execute_sql("INSERT INTO k SELECT qty FROM orders")


def test_join_names_ambiguous_columns_and_unknown_aliases(t_env):
    t_env.execute_sql("CREATE TABLE users (user_id BIGINT, name STRING) WITH ('connector' = 'datagen')")
    with pytest.raises(SqlValidationError,
                       match="column 'user_id' is ambiguous; qualify it: o.user_id or users.user_id"):
        t_env.execute_sql("SELECT user_id FROM orders AS o JOIN users ON o.user_id = users.user_id")
    with pytest.raises(SqlValidationError, match="table or alias 'x' is not in FROM"):
        t_env.execute_sql("SELECT x.name FROM orders AS o JOIN users AS u ON o.user_id = u.user_id")
    with pytest.raises(SqlValidationError, match="a join needs an equality of a column of each side"):
        t_env.execute_sql("SELECT name FROM orders AS o JOIN users AS u ON o.qty > 3")
    plan = t_env.explain_sql("SELECT o.order_id, u.name FROM orders AS o LEFT JOIN users AS u ON o.user_id = u.user_id")
    assert "Join(joinType=[LEFT], where=[user_id = user_id1])" in plan


def test_constants_fold_in_the_optimized_plan(t_env):
    text = rows(t_env.execute_sql("EXPLAIN SELECT qty * (2 + 3) AS q, UPPER('a') || 'b' AS s FROM orders "
                                  "WHERE 1 < 2 AND qty > 10 * 10"))[0][0]
    optimized = text.split("== Optimized Physical Plan ==")[1]
    assert "MULTIPLY(`qty`, 5) AS q" in optimized and "'Ab' AS s" in optimized
    assert "where=[GREATER(`qty`, 100)]" in optimized


def test_top_n_needs_a_limit_on_the_row_number(t_env):
    with pytest.raises(SqlValidationError, match="ROW_NUMBER\\(\\) needs a limit on 'rn'"):
        t_env.execute_sql("SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY qty) AS rn "
                          "FROM orders) WHERE qty > 1")
    plan = t_env.explain_sql("SELECT order_id FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts) "
                             "AS rn FROM orders) WHERE rn = 1")
    assert "Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd=1], partitionBy=[user_id]" in plan


def test_row_array_and_map_columns_are_arrow_structs_lists_and_maps(t_env):
    t_env.execute_sql("""
        CREATE TABLE nested (
            person ROW<id BIGINT, `dateTime` TIMESTAMP(3), address ROW<city STRING>>,
            tags ARRAY<STRING>,
            scores MAP<STRING, INT>,
            born AS person.`dateTime`,
            WATERMARK FOR born AS born - INTERVAL '1' SECOND
        ) WITH ('connector' = 'filesystem', 'path' = '/tmp/nested', 'format' = 'json')""")
    schema = t_env._catalog.get("nested").schema
    assert schema.field("person").type == pa.struct([
        ("id", pa.int64()), ("dateTime", pa.timestamp("ms")), ("address", pa.struct([("city", pa.string())]))])
    assert schema.field("tags").type == pa.list_(pa.string())
    assert schema.field("scores").type == pa.map_(pa.string(), pa.int32())
    assert schema.field("born").type == pa.timestamp("ms")
    described = {r[0]: r[1] for r in rows(t_env.execute_sql("DESCRIBE nested"))}
    assert described["person"] == "ROW<`id` BIGINT, `dateTime` TIMESTAMP(3), `address` ROW<`city` STRING>>"
    assert (described["tags"], described["scores"]) == ("ARRAY<STRING>", "MAP<STRING, INT>")


def test_a_missing_row_field_is_named_with_the_closest(t_env):
    t_env.execute_sql("CREATE TABLE p (person ROW<name STRING, city STRING>) "
                      "WITH ('connector' = 'filesystem', 'path' = '/tmp/p', 'format' = 'json')")
    with pytest.raises(SqlValidationError, match=r"ROW 'person' has no field 'nme'.*'name'"):
        t_env.sql_query("SELECT person.nme FROM p")
    with pytest.raises(SqlValidationError, match=r"'city' is STRING, not a ROW"):
        t_env.sql_query("SELECT person.city.x FROM p")


def test_a_scan_reads_only_the_row_fields_a_query_uses(t_env):
    """Projection push-down into ROW columns: the scan keeps bid's fields the query reads, and the
    source reads them plus those its computed columns use (a JSON source converts nothing else)."""
    from rayflink.sql.logical import Scan
    from rayflink.sql.translate import read_schema

    t_env.execute_sql("""
        CREATE TABLE ev (kind INT, person ROW<id BIGINT, ts TIMESTAMP(3), name STRING>,
                         bid ROW<auction BIGINT, price BIGINT, ts TIMESTAMP(3), extra STRING>,
                         ts AS CASE WHEN kind = 0 THEN person.ts ELSE bid.ts END,
                         WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH ('connector' = 'filesystem', 'path' = '/tmp/ev', 'format' = 'json')""")
    plan = t_env.explain_sql("SELECT bid.auction, bid.price * 2 FROM ev WHERE kind = 2")
    assert "fields=[kind, bid{auction, price}, ts]" in plan
    scan = Scan(t_env._catalog.get("ev"), ("kind", "bid", "ts"), (("bid", ("auction", "price")),))
    assert read_schema(scan) == pa.schema([
        ("kind", pa.int32()), ("person", pa.struct([("ts", pa.timestamp("ms"))])),
        ("bid", pa.struct([("auction", pa.int64()), ("price", pa.int64()), ("ts", pa.timestamp("ms"))]))])
    assert "fields=[person, ts]" in t_env.explain_sql("SELECT person, person.id FROM ev")  # whole: every field


def test_joins_in_where_and_outer_joins_plan_and_are_updating(t_env):
    t_env.execute_sql("CREATE TABLE users (user_id BIGINT, name STRING, since TIMESTAMP(3)) "
                      "WITH ('connector' = 'datagen')")
    plan = t_env.explain_sql("SELECT o.order_id, u.name FROM orders AS o, users AS u "
                             "WHERE o.user_id = u.user_id AND o.ts BETWEEN u.since AND o.ts")
    assert "Join(joinType=[INNER], where=[user_id = user_id1 AND " in plan
    with pytest.raises(SqlValidationError, match="a join needs an equality of a column of each side in WHERE"):
        t_env.explain_sql("SELECT o.order_id FROM orders AS o, users AS u WHERE o.qty > 3")
    for side in ("RIGHT", "FULL OUTER"):
        plan = t_env.explain_sql(f"SELECT o.order_id, u.name FROM orders AS o {side} JOIN users AS u "
                                 "ON o.user_id = u.user_id AND o.qty > 3")
        assert f"Join(joinType=[{side.split()[0]}], where=[user_id = user_id1 AND GREATER(`qty`, 3)])" in plan
    t_env.execute_sql("CREATE TABLE out_files (order_id STRING, name STRING) WITH ("
                      "'connector' = 'filesystem', 'path' = '/tmp/never', 'format' = 'csv')")
    with pytest.raises(SqlPlanningError, match=r"table sink 'out_files' .* only takes inserts.*Join\(joinType=\[RIGHT"):
        t_env.execute_sql("INSERT INTO out_files SELECT o.order_id, u.name FROM orders AS o RIGHT JOIN users AS u "
                          "ON o.user_id = u.user_id")
    with pytest.raises(SqlPlanningError, match="table sink 'out_files' .* only takes inserts.*GroupAggregate"):
        t_env.execute_sql("INSERT INTO out_files SELECT o.order_id, u.name FROM orders AS o JOIN "
                          "(SELECT user_id, MAX(name) AS name FROM users GROUP BY user_id) AS u "
                          "ON o.user_id = u.user_id")


def test_float_is_flinks_4_byte_float_and_double_8():
    import pyarrow as pa

    from rayflink.sql.ddl import create_table
    from rayflink.sql.dialect import parse

    table = create_table(parse("CREATE TABLE t (a FLOAT, b DOUBLE, c REAL) WITH ('connector' = 'print')")[0])
    assert [c.type for c in table.columns] == [pa.float32(), pa.float64(), pa.float32()]
