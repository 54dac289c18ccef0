"""``rayflink sql``: a script of statements run as Flink's SQL client runs it."""

from __future__ import annotations

import io

import pytest

from rayflink.cli import main
from rayflink.sql.client import interactive, statements
from rayflink.table import EnvironmentSettings, TableEnvironment


def test_statements_split_on_semicolons_outside_quotes_and_comments():
    script = ["CREATE TABLE t (s STRING) WITH ('connector' = 'print', 'x' = 'a;b'); -- done;",
              "SELECT ';' AS semi", "FROM t;", "  ", "SHOW TABLES"]
    assert list(statements(script)) == ["CREATE TABLE t (s STRING) WITH ('connector' = 'print', 'x' = 'a;b')",
                                        "SELECT ';' AS semi\nFROM t", "SHOW TABLES"]


@pytest.mark.integration
def test_a_script_creates_inserts_and_selects(tmp_path, capsys):
    data = tmp_path / "in.csv"
    data.write_text("ana,10\nluis,4\nana,3\n")
    out = tmp_path / "out"
    script = tmp_path / "job.sql"
    script.write_text(f"""
        SET 'parallelism.default' = '1';
        CREATE TABLE compras (usuario STRING, monto INT) WITH ('connector' = 'filesystem', 'path' = '{data}',
                                                               'format' = 'csv');
        CREATE TABLE grandes (usuario STRING, monto INT) WITH ('connector' = 'filesystem', 'path' = '{out}',
                                                               'format' = 'csv');
        INSERT INTO grandes SELECT usuario, monto FROM compras WHERE monto > 3;
        SELECT usuario, SUM(monto) AS total FROM compras GROUP BY usuario;
    """)
    assert main(["sql", "--batch", "-f", str(script)]) == 0
    printed = capsys.readouterr().out
    assert "Job ID:" in printed and "finished" in printed
    assert "| usuario | total |" in printed
    assert "|     ana |    13 |" in printed and "|    luis |     4 |" in printed
    written = sorted(line for f in out.rglob("*") if f.is_file() for line in f.read_text().splitlines())
    assert written == ["ana,10", "luis,4"]


def test_a_failing_statement_is_named_and_ends_a_script_with_exit_code_1(tmp_path, capsys):
    script = tmp_path / "bad.sql"
    script.write_text("CREATE TABLE t (a INT) WITH ('connector' = 'print');\nSELECT nope FROM t;\nSHOW TABLES;")
    assert main(["sql", "-f", str(script)]) == 1
    printed = capsys.readouterr().out
    assert "[ERROR]" in printed and "nope" in printed and "| table name |" not in printed


def test_interactive_statements_keep_going_after_an_error():
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    out = io.StringIO()
    interactive(t_env, io.StringIO("CREATE TABLE t (a INT) WITH ('connector' = 'print');\nSELECT x FROM t;\n"
                                   "SHOW TABLES;\nQUIT;\nSHOW TABLES;\n"), out)
    text = out.getvalue()
    assert text.count("[ERROR]") == 1 and text.count("|          t |") == 1
