"""The regular SQL join operator in one process (no Ray): CPU seconds per million input rows,
left batches of 4,096 rows and right batches of 1,024 over 20,000 keys, for an INNER and a LEFT
join of insert-only inputs, and an INNER join with ``a >= b`` whose right input is a changelog
updating one row per key (``-U``/``+U``, Nexmark q5's shape).

    python bench/sql_join.py [--batches 40] [--repeat 3]

CPU time (``time.process_time``), so a loaded machine disturbs it less; compare two trees by
running this on each, alternately.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time

import pyarrow as pa

from rayflink.graph.transformations import OperatorKind, OperatorSpec, SqlJoinParams
from rayflink.operators.sql.keyed import INSERT, UPDATE_AFTER, UPDATE_BEFORE
from rayflink.operators.sql.keys import KeyColumns
from rayflink.runtime.operator import OperatorContext, StreamOperator
from rayflink.runtime.registry import create_operator
from rayflink.sql.expressions import Call, Col
from rayflink.sql.logical import ROWKIND

KEYS = 20_000
LEFT = pa.schema([("k", pa.int64()), ("a", pa.int64())])
RIGHT = pa.schema([("k2", pa.int64()), ("b", pa.int64())])


class _Discard:
    def emit(self, values: list, timestamps: list | None) -> None:
        pass

    def emit_watermark(self, watermark: int) -> None:
        pass


def _join(kind: str, condition: Call | None, working_dir: str) -> StreamOperator:
    params = SqlJoinParams((KeyColumns((0,)), KeyColumns((0,))), kind, condition,
                           pa.schema(list(LEFT) + list(RIGHT)), changelog=kind != "INNER" or condition is not None)
    ctx = OperatorContext(name="join", uid="join", subtask_index=0, parallelism=1, max_parallelism=128, attempt=0,
                          config={}, state_key_selectors=(lambda r: r, lambda r: r), working_dir=working_dir)
    op = create_operator(OperatorSpec(OperatorKind.SQL_JOIN, params), ctx)
    op.output.add(_Discard())
    op.open()
    return op


def _inputs(batches: int, updating: bool) -> list[tuple[int, pa.RecordBatch]]:
    rng = random.Random(1)
    out: list[tuple[int, pa.RecordBatch]] = []
    current: dict[int, int] = {}  # the updating right input's row per key
    for _ in range(batches):
        keys = [rng.randrange(KEYS) for _ in range(4096)]
        out.append((0, pa.record_batch([pa.array(keys, pa.int64()),
                                        pa.array([rng.randrange(100) for _ in keys], pa.int64())], schema=LEFT)))
        rows, kinds = [], []
        for k in (rng.randrange(KEYS) for _ in range(1024 // (2 if updating else 1))):
            b = rng.randrange(100)
            if updating and k in current:
                rows += [(k, current[k]), (k, b)]
                kinds += [UPDATE_BEFORE, UPDATE_AFTER]
            else:
                rows.append((k, b))
                kinds.append(INSERT)
            current[k] = b
        columns = [pa.array([r[i] for r in rows], pa.int64()) for i in range(2)]
        if updating:
            columns.append(pa.array(kinds, pa.int8()))
        out.append((1, pa.record_batch(columns, schema=RIGHT.append(pa.field(ROWKIND, pa.int8())) if updating
                                       else RIGHT)))
    return out


def _cpu_s_per_million(op: StreamOperator, inputs: list[tuple[int, pa.RecordBatch]]) -> float:
    t0 = time.process_time()
    for side, batch in inputs:
        op.process_batch([batch], None, side)
    return round((time.process_time() - t0) / sum(b.num_rows for _, b in inputs) * 1e6, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    insert_only, updating = _inputs(args.batches, False), _inputs(args.batches, True)
    a_at_least_b = Call("greater_equal", (Col(1, "a"), Col(3, "b")))
    cases = {"inner": ("INNER", None, insert_only), "left": ("LEFT", None, insert_only),
             "inner_updating_right": ("INNER", a_at_least_b, updating)}
    out: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for name, (kind, condition, inputs) in cases.items():
                op = _join(kind, condition, tmp)
                out[name].append(_cpu_s_per_million(op, inputs))
                op.close()
    print(json.dumps({"batches": args.batches, "cpu_s_per_million_rows": out}))


if __name__ == "__main__":
    main()
