"""Event-time temporal joins (seed 12.7.2): ``LEFT JOIN perfiles FOR SYSTEM_TIME AS OF t.ts``
gives each transaction the profile version valid at its time, checked against a brute-force model."""

from __future__ import annotations

import datetime
import random

import pytest

from rayflink.sql.errors import SqlValidationError
from rayflink.table import EnvironmentSettings, TableEnvironment

START = datetime.datetime(2024, 5, 1, 10, 0, 0)


def at(second: int) -> str:
    return (START + datetime.timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S")


def tables(t_env: TableEnvironment, tmp_path, transactions: list, versions: list) -> None:
    (tmp_path / "t.csv").write_text("".join(f"{i},{u},{m},{at(s)}\n" for i, u, m, s in transactions))
    (tmp_path / "p.csv").write_text("".join(f"{u},{seg},{reg},{at(s)}\n" for u, seg, reg, s in versions))
    t_env.execute_sql(f"""CREATE TABLE transacciones (transaccion_id INT, user_id STRING, monto DOUBLE,
                          ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "t.csv"}', 'format' = 'csv')""")
    t_env.execute_sql(f"""CREATE TABLE perfiles (user_id STRING, segmento STRING, region STRING, ts TIMESTAMP(3),
                          PRIMARY KEY (user_id) NOT ENFORCED, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "p.csv"}', 'format' = 'csv')""")


SEED_QUERY = """
    SELECT
        t.transaccion_id,
        t.monto,
        p.segmento,  -- segmento del cliente EN EL MOMENTO de la transacción
        p.region
    FROM transacciones AS t
    LEFT JOIN perfiles FOR SYSTEM_TIME AS OF t.ts AS p  -- join temporal
    ON t.user_id = p.user_id"""


def model(transactions: list, versions: list, left: bool) -> list:
    """For each transaction, the latest version of its user at or before its time (brute force)."""
    out = []
    for i, u, m, s in transactions:
        valid = [(vs, seg, reg) for vu, seg, reg, vs in versions if vu == u and vs <= s]
        if valid:
            _, seg, reg = max(valid, key=lambda v: v[0])
            out.append((i, m, seg, reg))
        elif left:
            out.append((i, m, None, None))
    return sorted(out)


@pytest.mark.integration
@pytest.mark.parametrize("join", ["LEFT JOIN", "JOIN"])
def test_each_transaction_gets_the_version_valid_at_its_time(tmp_path, join):
    # Given transactions and profile versions of six users at random times (each file in time order),
    rng = random.Random(11)
    users = [f"u{i}" for i in range(6)]
    transactions = sorted(((i, rng.choice(users), float(rng.randint(1, 500)), rng.randint(0, 3_000))
                           for i in range(400)), key=lambda t: t[3])
    versions = sorted(((rng.choice(users[:5]), rng.choice("ABC"), rng.choice(["eu", "us"]), rng.randint(0, 3_000))
                       for _ in range(60)), key=lambda v: v[3])
    versions = list({(v[0], v[3]): v for v in versions}.values())  # one version of a user per time
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "2")
    tables(t_env, tmp_path, transactions, versions)
    # when the seed's temporal join runs (and its INNER form),
    got = sorted(tuple(r) for r in t_env.execute_sql(SEED_QUERY.replace("LEFT JOIN", join)).collect())
    # then each transaction has its user's profile as it was at the transaction's time.
    assert got == model(transactions, versions, left=join == "LEFT JOIN")


def test_explain_and_the_errors_of_a_temporal_join(tmp_path):
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    tables(t_env, tmp_path, [], [])
    assert "TemporalJoin(joinType=[LEFT], where=[user_id = user_id1], period=[ts AS OF ts1])" in \
        t_env.explain_sql(SEED_QUERY)
    t_env.execute_sql(f"""CREATE TABLE sin_clave (user_id STRING, segmento STRING, ts TIMESTAMP(3),
                          WATERMARK FOR ts AS ts) WITH ('connector' = 'filesystem', 'path' = '{tmp_path}',
                          'format' = 'csv')""")
    with pytest.raises(SqlValidationError, match="'sin_clave' is not a versioned table: .*PRIMARY KEY and a WATERMARK"):
        t_env.explain_sql("SELECT * FROM transacciones AS t JOIN sin_clave FOR SYSTEM_TIME AS OF t.ts AS s "
                          "ON t.user_id = s.user_id")
    with pytest.raises(SqlValidationError, match="takes the left input's event-time attribute"):
        t_env.explain_sql("SELECT * FROM transacciones AS t JOIN perfiles FOR SYSTEM_TIME AS OF t.monto AS p "
                          "ON t.user_id = p.user_id")
    with pytest.raises(SqlValidationError, match="must equal every PRIMARY KEY column of 'perfiles'"):
        t_env.explain_sql("SELECT * FROM transacciones AS t JOIN perfiles FOR SYSTEM_TIME AS OF t.ts AS p "
                          "ON t.user_id = p.segmento")
    with pytest.raises(SqlValidationError, match="a temporal join is a JOIN or a LEFT JOIN, not a RIGHT JOIN"):
        t_env.explain_sql("SELECT * FROM transacciones AS t RIGHT JOIN perfiles FOR SYSTEM_TIME AS OF t.ts AS p "
                          "ON t.user_id = p.user_id")
