"""Python scalar functions in SQL and the Table API (``pyflink.table.udf``): general (per row) and
pandas (per batch), registered by object or by CREATE TEMPORARY FUNCTION, compared with Python's answer."""

from __future__ import annotations

import pytest

from rayflink.sql.errors import SqlValidationError
from rayflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from rayflink.table.expressions import col
from rayflink.table.udf import udf

ROWS = [(i, f"u{i % 4}", float(i * 7 % 150) if i % 9 else None) for i in range(1, 60)]


def environment() -> TableEnvironment:
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.create_temporary_view("orders", t_env.from_elements(ROWS, ["id", "user_id", "amount"]))
    return t_env


@udf(result_type=DataTypes.BIGINT())
def add(i, j):
    return i + j


@pytest.mark.integration
def test_general_pandas_and_sql_registered_functions_give_pythons_answers():
    t_env = environment()
    t_env.create_temporary_function("add", add)
    t_env.create_temporary_system_function(
        "doubled", udf(lambda s: s * 2, result_type=DataTypes.DOUBLE(), func_type="pandas"))
    t_env.execute_sql("CREATE TEMPORARY FUNCTION tier AS 'tests.sql.udfs.tier' LANGUAGE PYTHON")
    t_env.execute_sql("CREATE TEMPORARY SYSTEM FUNCTION discount AS 'tests.sql.udfs.discount'")
    got = sorted(tuple(r) for r in t_env.execute_sql(
        "SELECT id, add(id, 10), doubled(amount), tier(amount), discount(amount) FROM orders "
        "WHERE add(id, 1) > 5").collect())
    assert got == [(i, i + 10, a * 2 if a is not None else None, "high" if a is not None and a >= 100 else "low",
                    round(a * 0.9, 2) if a is not None else None) for i, _, a in ROWS if i + 1 > 5]
    assert t_env.list_user_defined_functions() == ["add", "discount", "doubled", "tier"]


@pytest.mark.integration
def test_a_udf_called_from_the_table_api():
    t_env = environment()
    got = sorted(tuple(r) for r in t_env.from_path("orders").select(col("id"), add(col("id"), col("id")))
                 .execute().collect())
    assert got == [(i, 2 * i) for i, _, _ in ROWS]


def test_registration_and_lookup_errors_are_named():
    t_env = environment()
    with pytest.raises(SqlValidationError, match="register a function made by udf"):
        t_env.create_temporary_function("plain", lambda x: x)
    with pytest.raises(SqlValidationError, match="cannot load 'tests.sql.udfs.nothing'"):
        t_env.execute_sql("CREATE TEMPORARY FUNCTION nothing AS 'tests.sql.udfs.nothing'")
    with pytest.raises(SqlValidationError, match="function ADDD is not supported yet .*did you mean .ADD."):
        t_env.create_temporary_function("add", add)
        t_env.explain_sql("SELECT addd(id, 1) FROM orders")
    t_env.execute_sql("DROP TEMPORARY FUNCTION add")
    assert t_env.list_user_defined_functions() == []
    with pytest.raises(TypeError, match="result_type is required"):
        udf(lambda x: x)
