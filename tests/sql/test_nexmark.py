"""Nexmark's queries (bench/nexmark/queries, as nexmark/nexmark defines them, over its DDL with ROW
columns and views) on generated events: rayflink's answer equals Flink SQL's, recorded by
``python bench/nexmark/run.py --record`` (the final state of each query's changelog, as a digest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rayflink.table import EnvironmentSettings, TableEnvironment
from rayflink.testing import nexmark

QUERIES = Path(__file__).parents[2] / "bench" / "nexmark" / "queries"
RECORDED = json.loads((Path(__file__).parents[1] / "data" / "nexmark" / "flink_answers.json").read_text())


@pytest.fixture(scope="module")
def t_env(tmp_path_factory):
    path = nexmark.write(str(tmp_path_factory.mktemp("nexmark")), RECORDED["events"], RECORDED["seed"])
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "2")
    for sql in nexmark.statements(str(QUERIES / "ddl.sql"), PATH=path):
        t_env.execute_sql(sql)
    return t_env


@pytest.mark.integration
@pytest.mark.parametrize("query", sorted(RECORDED["answers"], key=lambda q: int(q[1:])))
def test_a_nexmark_query_gives_flink_sqls_answer(t_env, query):
    *_, insert = nexmark.statements(str(QUERIES / f"{query}.sql"))
    with t_env.execute_sql(nexmark.select_of(insert)).collect() as rows:
        result = nexmark.final_rows(rows)
    expected = RECORDED["answers"][query]
    assert (len(result), nexmark.digest(result)) == (expected["rows"], expected["sha256"])


def test_the_generator_follows_nexmarks_model():
    """Event ids give the kind (1 person, 3 auctions, 46 bids in 50), ids and times as Nexmark's."""
    lines = [json.loads(line) for line in nexmark.events(0, 1000, seed=1)]
    kinds = [e["event_type"] for e in lines]
    assert kinds[:5] == [0, 1, 1, 1, 2] and kinds.count(0) == 20 and kinds.count(1) == 60
    persons = [e["person"]["id"] for e in lines if e["event_type"] == 0]
    auctions = [e["auction"] for e in lines if e["event_type"] == 1]
    bids = [e["bid"] for e in lines if e["event_type"] == 2]
    assert persons == list(range(1000, 1020)) and [a["id"] for a in auctions] == list(range(1000, 1060))
    assert lines[-1]["bid"]["dateTime"] == "2024-01-01 00:00:00.099"  # 10 events per ms
    assert all(a["dateTime"] < a["expires"] and 10 <= a["category"] < 15 for a in auctions)
    assert all(1000 <= b["auction"] <= 1059 + 10 for b in bids)  # in flight, or a few ahead
    assert nexmark.events(0, 1000, seed=1) == [json.dumps(e) for e in lines]  # deterministic


def test_a_changelog_ends_in_its_final_rows():
    from rayflink.table import Row, RowKind

    def row(kind: RowKind, *values: object) -> Row:
        r = Row(*values)
        r.set_row_kind(kind)
        return r

    changelog = [row(RowKind.INSERT, 10, 5), row(RowKind.UPDATE_BEFORE, 10, 5), row(RowKind.UPDATE_AFTER, 10, 7),
                 row(RowKind.INSERT, 11, 1), row(RowKind.DELETE, 11, 1), row(RowKind.INSERT, 12, 2.00049)]
    assert nexmark.final_rows(changelog) == [[10, 7, 1], [12, 2.0, 1]]
