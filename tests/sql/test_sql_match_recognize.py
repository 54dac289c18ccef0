"""MATCH_RECOGNIZE (seed 12.7.2) on the CEP operator, checked against a brute-force row-pattern matcher."""

from __future__ import annotations

import datetime
import random

import pytest

from rayflink.sql.errors import SqlValidationError
from rayflink.table import EnvironmentSettings, TableEnvironment

START = datetime.datetime(2024, 5, 1, 10, 0, 0)
SEED_QUERY = """
    SELECT *
    FROM eventos
    MATCH_RECOGNIZE (
        PARTITION BY user_id
        ORDER BY ts
        MEASURES
            FIRST(A.ts)  AS inicio_patron,
            LAST(C.ts)   AS fin_patron,
            C.monto      AS monto_compra
        PATTERN (A B+ C)  -- A seguido de 1+ B seguido de C
        DEFINE
            A AS tipo = 'login_fallido',
            B AS tipo = 'login_fallido',
            C AS tipo = 'compra'
    )"""


def eventos(t_env: TableEnvironment, tmp_path, rows: list) -> None:
    path = tmp_path / "eventos.csv"
    path.write_text("".join(f"{u},{k},{m},{(START + datetime.timedelta(seconds=s)):%Y-%m-%d %H:%M:%S}\n"
                            for u, k, m, s in rows))
    t_env.execute_sql(f"""CREATE TABLE eventos (user_id STRING, tipo STRING, monto DOUBLE, ts TIMESTAMP(3),
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")


def matches(rows: list, stages: list) -> list:
    """Brute force: per user in time order, the earliest match at each row (strictly consecutive rows,
    greedy quantifiers backtracking), then on past its last row (AFTER MATCH SKIP PAST LAST ROW)."""

    def at(seq: list, i: int, k: int, parts: list) -> list | None:
        if k == len(stages):
            return []
        test, low, high = stages[k]
        run = 0  # a stage's test sees the row and the match so far: earlier stages' rows, then its own
        while i + run < len(seq) and (high is None or run < high) and test(seq[i + run], parts + [seq[i:i + run]]):
            run += 1
        for n in range(run, low - 1, -1):  # greedy: the longest run first
            rest = at(seq, i + n, k + 1, parts + [seq[i:i + n]])
            if rest is not None:
                return [seq[i:i + n]] + rest
        return None

    out = []
    for user in sorted({r[0] for r in rows}):
        seq = sorted((r for r in rows if r[0] == user), key=lambda r: r[3])
        i = 0
        while i < len(seq):
            found = at(seq, i, 0, [])
            if found is None:
                i += 1
                continue
            out.append((user, found))
            i += sum(len(part) for part in found)
    return out


def random_rows(seed: int) -> list:
    """Rows of four users; the variables' conditions are disjoint (or one row long), so that a
    match does not depend on how a greedy quantifier gives back rows it shares with the next one."""
    rng = random.Random(seed)
    times = rng.sample(range(5_000), 600)  # distinct times: one order of every user's rows
    return [(rng.choice(["ana", "bob", "eva", "luis"]), rng.choice(["login_fallido"] * 3 + ["compra", "vista"]),
             float(rng.randint(1, 900)), s) for s in sorted(times)]


@pytest.mark.integration
def test_seed_pattern_matches_as_the_brute_force_matcher(tmp_path):
    rows = random_rows(5)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "2")
    eventos(t_env, tmp_path, rows)
    got = sorted(tuple(r) for r in t_env.execute_sql(SEED_QUERY).collect())
    stages = [(lambda r, _m: r[1] == "login_fallido", 1, 1), (lambda r, _m: r[1] == "login_fallido", 1, None),
              (lambda r, _m: r[1] == "compra", 1, 1)]
    expected = sorted((u, START + datetime.timedelta(seconds=a[0][3]), START + datetime.timedelta(seconds=c[-1][3]),
                       c[-1][2]) for u, (a, _b, c) in matches(rows, stages))
    assert got == expected and len(expected) > 20


@pytest.mark.integration
def test_bounded_repetitions_and_aggregates_over_a_variable(tmp_path):
    rows = random_rows(8)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    eventos(t_env, tmp_path, rows)
    query = """SELECT user_id, n, total, mayor FROM eventos MATCH_RECOGNIZE (
                   PARTITION BY user_id ORDER BY ts
                   MEASURES COUNT(*) AS n, SUM(B.monto) AS total, MAX(B.monto) AS mayor
                   AFTER MATCH SKIP PAST LAST ROW
                   PATTERN (A{2} B{1,3} C)
                   DEFINE A AS tipo = 'login_fallido', B AS tipo = 'vista' AND monto > 100,
                          C AS tipo = 'compra')"""
    got = sorted(tuple(r) for r in t_env.execute_sql(query).collect())
    stages = [(lambda r, _m: r[1] == "login_fallido", 2, 2), (lambda r, _m: r[1] == "vista" and r[2] > 100, 1, 3),
              (lambda r, _m: r[1] == "compra", 1, 1)]
    expected = sorted((u, len(a) + len(bs) + len(c), sum(r[2] for r in bs), max(r[2] for r in bs))
                      for u, (a, bs, c) in matches(rows, stages))
    assert got == expected and expected


@pytest.mark.integration
def test_define_reads_earlier_rows_with_prev_last_first_and_other_variables(tmp_path):
    """A falling run of B (each below the row before it, PREV; within 400 of the B before it,
    LAST(B.monto, 1)) and a C that bounces above the run's last B but not past the first A + 300."""
    rows = random_rows(11)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "2")
    eventos(t_env, tmp_path, rows)
    query = """SELECT user_id, start_m, low, bounce, n FROM eventos MATCH_RECOGNIZE (
                   PARTITION BY user_id ORDER BY ts
                   MEASURES FIRST(A.monto) AS start_m, LAST(B.monto) AS low, C.monto AS bounce, COUNT(B.monto) AS n
                   PATTERN (A B+ C)
                   DEFINE B AS B.monto < PREV(B.monto)
                               AND (LAST(B.monto, 1) IS NULL OR B.monto > LAST(B.monto, 1) - 400),
                          C AS C.monto > LAST(B.monto) AND C.monto <= FIRST(A.monto) + 300
                               AND C.monto <> PREV(monto, 2))"""
    got = sorted(tuple(r) for r in t_env.execute_sql(query).collect())

    def falls(r, m):
        before = [x for part in m for x in part]
        return r[2] < before[-1][2] and (not m[-1] or r[2] > m[-1][-1][2] - 400)

    def bounces(r, m):
        before = [x for part in m for x in part]
        two_back = before[-2][2] if len(before) >= 2 else None
        return r[2] > m[1][-1][2] and r[2] <= m[0][0][2] + 300 and (two_back is None or r[2] != two_back)

    stages = [(lambda r, _m: True, 1, 1), (falls, 1, None), (bounces, 1, 1)]
    expected = sorted((u, a[0][2], bs[-1][2], c[0][2], len(bs)) for u, (a, bs, c) in matches(rows, stages))
    assert got == expected and len(expected) > 20
    assert any(n > 1 for *_rest, n in expected)


def test_plan_and_errors(tmp_path):
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    eventos(t_env, tmp_path, [])
    assert "Match(partitionBy=[user_id], orderBy=[ts]" in t_env.explain_sql(SEED_QUERY)
    with pytest.raises(SqlValidationError, match="only a sequence of variables"):
        t_env.explain_sql(SEED_QUERY.replace("(A B+ C)", "(A (B | C))"))
    with pytest.raises(SqlValidationError, match="must ORDER BY the input's event-time attribute"):
        t_env.explain_sql(SEED_QUERY.replace("ORDER BY ts", "ORDER BY monto"))
    with pytest.raises(SqlValidationError, match="DEFINE C refers to X.monto: 'X' is not a PATTERN variable"):
        t_env.explain_sql(SEED_QUERY.replace("C AS tipo = 'compra'", "C AS C.monto > X.monto"))
    with pytest.raises(SqlValidationError, match="the offset of PREV must be a whole number >= 0, got -1"):
        t_env.explain_sql(SEED_QUERY.replace("C AS tipo = 'compra'", "C AS C.monto > PREV(monto, -1)"))
    with pytest.raises(SqlValidationError, match="LAST in DEFINE takes a column or var.column"):
        t_env.explain_sql(SEED_QUERY.replace("C AS tipo = 'compra'", "C AS C.monto > LAST(monto + 1)"))
    with pytest.raises(SqlValidationError, match="'D' is not a variable of the PATTERN"):
        t_env.explain_sql(SEED_QUERY.replace("C AS tipo = 'compra'", "C AS tipo = 'compra', D AS monto > 1"))
