"""``rayflink sql``: Flink's SQL client for people who only write SQL.

    rayflink sql -f job.sql                 # run a script: CREATE TABLE ..., SET ..., INSERT INTO ...
    rayflink sql -e "SHOW TABLES"           # one statement
    rayflink sql                            # interactive: statements end with ';'

SELECT, SHOW, DESCRIBE and EXPLAIN print their rows as a table (a streaming SELECT prints its
changelog until its input ends or Ctrl-C); INSERT INTO runs its job and waits for it, printing
the job id first. A failing statement prints one line naming it (and where) and, in a script,
stops the script with exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from rayflink.errors import RayflinkError


def statements(lines: Iterable[str]) -> Iterator[str]:
    """The ``;``-terminated statements of ``lines`` (quotes and ``--`` comments respected); a last
    statement without ``;`` counts too."""
    current: list[str] = []
    quote: str | None = None
    for line in lines:
        i = 0
        while i < len(line):
            c = line[i]
            if quote is not None:
                if c == quote:
                    quote = None
            elif c in ("'", '"', "`"):
                quote = c
            elif line.startswith("--", i):
                break  # the rest of the line is a comment
            elif c == ";":
                text = "".join(current).strip()
                current = []
                if text:
                    yield text
                i += 1
                continue
            current.append(c)
            i += 1
        current.append("\n")
    text = "".join(current).strip()
    if text:
        yield text


def run_statements(t_env: Any, sql: Iterable[str], out: TextIO | None = None) -> int:
    """Execute each statement, printing to ``out`` (standard output); stop at the first failure, returning 1."""
    from rayflink.table.table_result import ResultKind

    out = out or sys.stdout
    for statement in sql:
        try:
            result = t_env.execute_sql(statement)
            client = result.get_job_client()
            if client is not None and statement.lstrip()[:6].upper() == "INSERT":
                print(f"[INFO] Submitting SQL update statement to the cluster... Job ID: {client.get_job_id()}",
                      file=out, flush=True)
                result.wait()
                print(f"[INFO] Job {client.get_job_id()} finished.", file=out, flush=True)
            elif result.get_result_kind() is ResultKind.SUCCESS_WITH_CONTENT:
                _print(result, out)
            else:
                print("[INFO] Execute statement succeeded.", file=out, flush=True)
        except KeyboardInterrupt:
            print("\n[INFO] Cancelled.", file=out, flush=True)
        except RayflinkError as exc:
            print(f"[ERROR] {exc}", file=out, flush=True)
            return 1
    return 0


def _print(result: Any, out: TextIO) -> None:
    saved, sys.stdout = sys.stdout, out
    try:
        result.print()
    finally:
        sys.stdout = saved


def interactive(t_env: Any, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Read statements from ``stdin`` (a prompt when it is a terminal) until end of input or ``QUIT;``."""
    stdin, out = stdin or sys.stdin, out or sys.stdout
    prompt = stdin.isatty()

    def lines() -> Iterator[str]:
        while True:
            if prompt:
                print("Flink SQL> ", end="", file=out, flush=True)
            line = stdin.readline()
            if not line:
                return
            yield line

    for statement in statements(lines()):
        if statement.strip().upper() in ("QUIT", "EXIT"):
            break
        run_statements(t_env, [statement], out)
    return 0
