"""The Table API over the SQL planner: from_path, select, where, add_columns, group_by, group
windows, over windows, execute, execute_insert, expressions (col, lit, call, arithmetic, comparisons, aggregates,
alias, cast)."""

from __future__ import annotations

import datetime

import pytest

from rayflink.sql.errors import SqlPlanningError, SqlValidationError
from rayflink.table import DataTypes, EnvironmentSettings, RowKind, TableEnvironment
from rayflink.table.expressions import CURRENT_ROW, UNBOUNDED_RANGE, call, col, lit, row_interval
from rayflink.table.window import Over, Session, Slide, Tumble

ROWS = [("a", 1, "2024-05-01 10:00:05"), ("b", 2, "2024-05-01 10:00:20"), ("a", 3, "2024-05-01 10:01:10"),
        ("c", 4, "2024-05-01 10:02:00"), ("a", 5, "2024-05-01 10:02:30")]


@pytest.fixture
def t_env(tmp_path) -> TableEnvironment:
    path = tmp_path / "in.csv"
    path.write_text("".join(f"{k},{v},{t}\n" for k, v, t in ROWS))
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.execute_sql(f"""CREATE TABLE src (k STRING, v INT, ts TIMESTAMP(3),
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")
    return t_env


def rows(table) -> list[tuple]:
    return sorted(tuple(r) for r in table.execute().collect())


@pytest.mark.integration
def test_select_where_add_columns_and_expressions(t_env):
    src = t_env.from_path("src")
    table = (src.where((col("v") > 1) & (col("k") != "b"))
             .select(col("k"), (col("v") * 10 + 1).alias("x"), call("upper", col("k")).alias("u"),
                     col("v").cast(DataTypes.DOUBLE()).alias("d"))
             .add_columns((col("x") % 7).alias("m"), lit("const").alias("c")))
    assert table.get_schema().names == ["k", "x", "u", "d", "m", "c"]
    assert rows(table) == [("a", 31, "A", 3.0, 3, "const"), ("a", 51, "A", 5.0, 2, "const"),
                           ("c", 41, "C", 4.0, 6, "const")]


@pytest.mark.integration
def test_group_by_select_aggregates_as_a_changelog(t_env):
    table = t_env.from_path("src").group_by(col("k")).select(
        col("k"), col("v").sum.alias("total"), col("v").count.alias("n"), col("v").avg.alias("mean"),
        col("v").min.alias("lo"), col("v").max.alias("hi"))
    final = {}
    for r in table.execute().collect():
        if r.get_row_kind() != RowKind.UPDATE_BEFORE:
            final[r[0]] = tuple(r)
    assert final == {"a": ("a", 9, 3, 3, 1, 5), "b": ("b", 2, 1, 2, 2, 2), "c": ("c", 4, 1, 4, 4, 4)}


@pytest.mark.integration
def test_tumble_and_slide_group_windows(t_env):
    minute = lambda m: datetime.datetime(2024, 5, 1, 10, m)  # noqa: E731
    tumbled = t_env.from_path("src").window(Tumble.over(lit(1).minutes).on(col("ts")).alias("w")) \
        .group_by(col("w"), col("k")) \
        .select(col("k"), col("w").start.alias("s"), col("w").end.alias("e"), col("v").sum.alias("total"))
    assert rows(tumbled) == [("a", minute(0), minute(1), 1), ("a", minute(1), minute(2), 3),
                             ("a", minute(2), minute(3), 5), ("b", minute(0), minute(1), 2),
                             ("c", minute(2), minute(3), 4)]
    slid = t_env.from_path("src").window(Slide.over(lit(2).minutes).every(lit(1).minutes).on(col("ts")).alias("w")) \
        .group_by(col("w")).select(col("w").end.alias("e"), col("v").count.alias("n"))
    assert rows(slid) == [(minute(1), 2), (minute(2), 3), (minute(3), 3), (minute(4), 2)]
    sessions = t_env.from_path("src").window(Session.with_gap(lit(50).seconds).on(col("ts")).alias("w")) \
        .group_by(col("w"), col("k")).select(col("k"), col("w").start.alias("s"), col("v").sum.alias("total"))
    second = lambda m, s: datetime.datetime(2024, 5, 1, 10, m, s)  # noqa: E731
    assert rows(sessions) == [("a", second(0, 5), 1), ("a", second(1, 10), 3), ("a", second(2, 30), 5),
                              ("b", second(0, 20), 2), ("c", second(2, 0), 4)]


@pytest.mark.integration
def test_over_windows_give_each_row_the_aggregates_of_its_frame(t_env):
    src = t_env.from_path("src")
    last2 = src.over_window(Over.partition_by(col("k")).order_by(col("ts")).preceding(row_interval(1)).alias("w")) \
        .select(col("k"), col("v"), col("v").sum.over(col("w")).alias("s"), col("v").count.over(col("w")).alias("n"))
    assert rows(last2) == [("a", 1, 1, 1), ("a", 3, 4, 2), ("a", 5, 8, 2), ("b", 2, 2, 1), ("c", 4, 4, 1)]
    minute = src.over_window(Over.order_by(col("ts")).preceding(lit(1).minutes).following(CURRENT_ROW).alias("w")) \
        .select(col("v"), col("v").min.over(col("w")).alias("lo"))
    assert rows(minute) == [(1, 1), (2, 1), (3, 2), (4, 3), (5, 4)]
    running = src.over_window(Over.order_by(col("ts")).preceding(UNBOUNDED_RANGE).alias("w")) \
        .select(col("v"), (col("v").avg.over(col("w")) * 10).alias("avg10"))
    assert "window=[RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW]" in running.explain()
    assert rows(running) == [(1, 10), (2, 10), (3, 20), (4, 20), (5, 30)]
    with pytest.raises(ValueError, match="following.* is not supported; over windows end at CURRENT_ROW"):
        Over.order_by(col("ts")).following(row_interval(1))


@pytest.mark.integration
def test_execute_insert_and_sql_over_a_temporary_view(t_env, tmp_path):
    t_env.create_temporary_view("big", t_env.from_path("src").where(col("v") >= 3))
    assert sorted(tuple(r) for r in t_env.execute_sql("SELECT k, v FROM big").collect()) == \
        [("a", 3), ("a", 5), ("c", 4)]
    t_env.execute_sql(f"CREATE TABLE out (k STRING, v INT) WITH ('connector' = 'filesystem', "
                      f"'path' = '{tmp_path / 'out'}', 'format' = 'json')")
    t_env.from_path("big").select(col("k"), col("v")).execute_insert("out").wait()
    t_env.execute_sql(f"CREATE TABLE back (k STRING, v INT) WITH ('connector' = 'filesystem', "
                      f"'path' = '{tmp_path / 'out'}', 'format' = 'json')")
    assert sorted(tuple(r) for r in t_env.execute_sql("SELECT * FROM back").collect()) == \
        [("a", 3), ("a", 5), ("c", 4)]


def test_unknown_column_in_the_table_api_names_the_closest(t_env):
    with pytest.raises(SqlValidationError, match="column 'kk' not found in table 'src'; did you mean 'k'"):
        t_env.from_path("src").select(col("kk"))


@pytest.mark.integration
def test_from_elements_union_all_and_ctes():
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    people = t_env.from_elements([(1, "ana", 30.5), (2, "luis", 12.0), (3, "eva", 7.25)], ["id", "name", "score"])
    assert [str(t) for t in people.get_schema().types] == ["int32", "string", "double"]
    t_env.create_temporary_view("people", people)
    typed = t_env.from_elements([(9, "zoe", 1.0)], DataTypes.ROW([
        DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("name", DataTypes.STRING()),
        DataTypes.FIELD("score", DataTypes.DOUBLE())]))
    t_env.create_temporary_view("more", typed)
    got = sorted(tuple(r) for r in t_env.execute_sql("""
        WITH high AS (SELECT id, name FROM people WHERE score > 10),
             everyone AS (SELECT id, name FROM high UNION ALL SELECT id, name FROM more)
        SELECT UPPER(name) AS n, id * 10 AS i FROM everyone""").collect())
    assert got == [("ANA", 10), ("LUIS", 20), ("ZOE", 90)]
    both = people.select(col("name")).union_all(typed.select(col("name"))).union_all(people.select(col("name")))
    assert sorted(r[0] for r in both.distinct().execute().collect()) == ["ana", "eva", "luis", "zoe"]
    with pytest.raises(SqlValidationError, match="UNION ALL inputs differ"):
        t_env.execute_sql("SELECT id FROM people UNION ALL SELECT name FROM more")


@pytest.mark.integration
def test_data_stream_to_table_and_back():
    from rayflink.common import Types
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.table import StreamTableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    t_env = StreamTableEnvironment.create(env)
    orders = env.from_collection([("ana", 3), ("luis", 5), ("ana", 4)],
                                 Types.ROW_NAMED(["user", "qty"], [Types.STRING(), Types.INT()]))
    t_env.create_temporary_view("orders", t_env.from_data_stream(orders))
    big = t_env.sql_query("SELECT `user`, qty * 10 AS q FROM orders WHERE qty > 3")
    rows_out = t_env.to_data_stream(big).map(lambda r: (r.user, r.q))
    assert sorted(rows_out.execute_and_collect()) == [("ana", 40), ("luis", 50)]
    totals = t_env.sql_query("SELECT `user`, SUM(qty) AS total FROM orders GROUP BY `user`")
    with pytest.raises(Exception, match="to_data_stream: the table is updating"):
        t_env.to_data_stream(totals)
    changes = t_env.to_changelog_stream(totals).map(lambda r: (str(r.get_row_kind()), *r))
    final = {}
    for kind, user, total in changes.execute_and_collect():
        if kind != "-U":
            final[user] = total
    assert final == {"ana": 7, "luis": 5}


@pytest.mark.integration
def test_join_and_outer_joins():
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    orders = t_env.from_elements([(1, 10), (2, 20), (3, 30)], ["user_id", "amount"])
    users = t_env.from_elements([(1, "ana"), (2, "luis")], ["uid", "name"])
    joined = orders.join(users, col("user_id") == col("uid")).select(col("name"), col("amount"))
    assert rows(joined) == [("ana", 10), ("luis", 20)]
    assert joined.alias("who", "how_much").get_schema().names == ["who", "how_much"]
    outer = orders.left_outer_join(users, col("user_id") == col("uid")).select(col("user_id"), col("name"))
    assert sorted(tuple(r) for r in outer.execute().collect()) == [(1, "ana"), (2, "luis"), (3, None)]
    right = users.right_outer_join(orders, col("uid") == col("user_id")).select(col("user_id"), col("name"))
    assert sorted(tuple(r) for r in right.execute().collect()) == [(1, "ana"), (2, "luis"), (3, None)]
    more_users = t_env.from_elements([(2, "luis"), (4, "eva")], ["uid", "name"])
    full = orders.full_outer_join(more_users, col("user_id") == col("uid")).select(col("user_id"), col("name"))
    assert sorted((tuple(r) for r in full.execute().collect()), key=str) == \
        [(1, None), (2, "luis"), (3, None), (None, "eva")]


@pytest.mark.integration
def test_tables_declared_by_descriptors_read_and_written_like_create_table(tmp_path):
    """A TableDescriptor declares what CREATE TABLE does: the source below (computed column,
    watermark, format options) and an anonymous sink give the same rows as the DDL tables would."""
    from rayflink.table import FormatDescriptor, Schema, TableDescriptor

    (tmp_path / "in.csv").write_text("".join(f"{k};{v};{t}\n" for k, v, t in ROWS))
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    source = (TableDescriptor.for_connector("filesystem")
              .schema(Schema.new_builder()
                      .column("k", DataTypes.STRING())
                      .column("v", "INT")
                      .column("ts", DataTypes.TIMESTAMP(3))
                      .column_by_expression("twice", col("v") * 2)
                      .watermark("ts", "ts - INTERVAL '1' SECOND")
                      .build())
              .option("path", str(tmp_path / "in.csv"))
              .format(FormatDescriptor.for_format("csv").option("field-delimiter", ";").build())
              .build())
    t_env.create_temporary_table("src", source)
    assert "'csv.field-delimiter' = ';'" in source.ddl("src") and "`twice` AS" in source.ddl("src")
    assert rows(t_env.from_path("src").select(col("k"), col("twice"))) == sorted((k, 2 * v) for k, v, _t in ROWS)
    assert rows(t_env.from_descriptor(source).where(col("v") > 3).select(col("k"))) == [("a",), ("c",)]

    sink = (TableDescriptor.for_connector("filesystem")
            .schema(Schema.new_builder().column("k", DataTypes.STRING()).column("total", DataTypes.BIGINT()).build())
            .option("path", str(tmp_path / "out")).format("json").build())
    pipeline = t_env.from_path("src").group_by(col("k")).select(col("k"), col("v").sum.alias("total")) \
        .insert_into(sink)
    assert pipeline.get_sink_identifier().startswith("anonymous_filesystem$")
    with pytest.raises(SqlPlanningError, match="only takes inserts"):  # a filesystem sink takes no updates
        pipeline.execute()
    t_env.from_path("src").select(col("k"), col("v").cast(DataTypes.BIGINT())).execute_insert(sink).wait()
    t_env.create_temporary_table("back", TableDescriptor.for_connector("filesystem").schema(sink.get_schema())
                                 .option("path", str(tmp_path / "out")).format("json").build())
    assert rows(t_env.from_path("back")) == sorted((k, v) for k, v, _t in ROWS)


def test_a_table_is_named_in_sql_by_str_and_its_columns_are_attributes(t_env):
    """PyFlink's idioms: ``"... FROM %s" % table`` and ``table.v`` for ``col("v")``."""
    big = t_env.from_path("src").where(t_env.from_path("src").v >= 3)
    assert str(big) == str(big) == "UnnamedTable$0"
    assert "UnnamedTable$0" in t_env.list_views()
    assert "Calc" in t_env.explain_sql(f"SELECT k FROM {big} WHERE v < 5")
    with pytest.raises(AttributeError, match="no attribute 'nope' \\(its columns: k, v, ts\\)"):
        _ = big.nope
    with pytest.raises(SqlValidationError, match="the TableDescriptor has no schema"):
        from rayflink.table import TableDescriptor

        t_env.create_temporary_table("x", TableDescriptor.for_connector("print").build())


@pytest.mark.integration
def test_a_data_stream_declared_by_a_schema_windows_on_its_computed_rowtime():
    """PyFlink's windowing examples: ``from_data_stream(ds, Schema...)`` with an Instant field cast
    to the rowtime, a watermark, and sliding windows whose size is no multiple of their slide."""
    from rayflink.common import Types
    from rayflink.common.time import Instant
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.table import Schema, StreamTableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t_env = StreamTableEnvironment.create(env)
    events = [(1000, "Alice", 110.5), (4000, "Bob", 30.25), (3000, "Alice", 20.0), (2000, "Bob", 53.5),
              (5000, "Alice", 13.0), (3000, "Bob", 3.0), (7000, "Bob", 16.5), (10000, "Alice", 20.5)]
    ds = env.from_collection([(Instant.of_epoch_milli(t), n, p) for t, n, p in events],
                             type_info=Types.ROW([Types.INSTANT(), Types.STRING(), Types.DOUBLE()]))
    table = t_env.from_data_stream(ds, Schema.new_builder()
                                   .column_by_expression("ts", "CAST(f0 AS TIMESTAMP(3))")
                                   .column("f1", DataTypes.STRING())
                                   .column("f2", DataTypes.DOUBLE())
                                   .watermark("ts", "ts - INTERVAL '3' SECOND")
                                   .build()).alias("ts", "name", "price")
    assert table.get_schema().names == ["ts", "name", "price"]
    got = rows(table.window(Slide.over(lit(5).seconds).every(lit(2).seconds).on(col("ts")).alias("w"))
               .group_by(col("name"), col("w"))
               .select(col("name"), col("price").sum, col("w").start))
    expected = {}
    for t, n, p in events:  # windows [s, s + 5 s) with s a multiple of 2 s, holding t
        for start in range(t - t % 2000, t - 5000, -2000):
            expected[(n, start)] = expected.get((n, start), 0.0) + p
    assert got == sorted((n, total, datetime.datetime.utcfromtimestamp(s / 1000)) for (n, s), total in expected.items())
    with pytest.raises(SqlValidationError, match="the stream has no field 'f9'"):
        t_env.from_data_stream(ds, Schema.new_builder().column("f9", DataTypes.STRING()).build())
    with pytest.raises(SqlValidationError, match="watermark's column 'f1' must be a TIMESTAMP"):
        t_env.from_data_stream(ds, Schema.new_builder().watermark("f1", "f1").build())


@pytest.mark.integration
def test_json_value_on_an_expression_and_a_udf_typed_by_a_sql_type_name():
    """PyFlink's table/process_json_data and streaming_word_count examples write these."""
    from rayflink.table.udf import udf

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    table = t_env.from_elements([(1, '{"addr": {"city": "Berlin", "zip": 10115}}'), (2, '{"addr": {}}')],
                                ["id", "data"])
    shout = udf(lambda s: None if s is None else s.upper(), result_type="string")
    got = rows(table.select(col("id"), shout(col("data").json_value("$.addr.city")),
                            col("data").json_value("$.addr.zip", DataTypes.INT())))
    assert got == [(1, "BERLIN", 10115), (2, None, None)]
    with pytest.raises(TypeError, match="result_type 'no such type' is not a SQL type"):
        udf(lambda s: s, result_type="no such type")
