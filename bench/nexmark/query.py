"""One Nexmark query on one system: the same PyFlink Table API program for rayflink and for Flink SQL
(apache-flink's TableEnvironment, pure JVM operators), only the import differs.

    python bench/nexmark/query.py --system rayflink --query q5 --path /tmp/nexmark/events.json
    python bench/nexmark/query.py --system flink --query q5 --path ... --collect /tmp/q5.flink.json

Without ``--collect`` the query's INSERT INTO its blackhole sink runs (as Nexmark runs it); with it,
the query's SELECT is collected and the final state of its changelog (+I/+U add a row, -U/-D take
one back) is written to that file as sorted JSON rows with their counts. Prints one JSON line last:
``job_s`` is from the statement's submission until the job has finished.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _nexmark() -> Any:
    """rayflink.testing.nexmark, loaded by its path: it needs only numpy, and Flink's venv has no rayflink."""
    path = os.path.join(HERE, "..", "..", "rayflink", "testing", "nexmark.py")
    spec = importlib.util.spec_from_file_location("nexmark", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--system", choices=["rayflink", "flink"], required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("--path", required=True, help="the events file (python -m rayflink.testing.nexmark)")
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--collect", help="collect the query's result into this JSON file")
    args = ap.parse_args()
    if args.system == "flink":
        sys.path.insert(0, os.path.join(HERE, "..", "peers"))
        from _common import reexec_in_venv

        reexec_in_venv("pyflink")
        from pyflink.table import EnvironmentSettings, TableEnvironment
    else:
        from rayflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", str(args.parallelism))
    if args.system == "flink":  # the Python workers (none run here) and the client use this venv
        t_env.get_config().set("python.executable", sys.executable)
    nexmark = _nexmark()
    for sql in nexmark.statements(os.path.join(HERE, "queries", "ddl.sql"), PATH=os.path.abspath(args.path)):
        t_env.execute_sql(sql)
    *sink_ddl, insert = nexmark.statements(os.path.join(HERE, "queries", f"{args.query}.sql"))
    t0 = time.perf_counter()
    out: dict = {"system": args.system, "query": args.query}
    if args.collect:
        with t_env.execute_sql(nexmark.select_of(insert)).collect() as rows:
            result = nexmark.final_rows(rows)
        with open(args.collect, "w") as f:
            json.dump(result, f)
        out["rows"] = len(result)
    else:
        for sql in sink_ddl:
            t_env.execute_sql(sql)
        t_env.execute_sql(insert).wait()
    out["job_s"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
