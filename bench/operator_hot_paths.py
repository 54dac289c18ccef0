"""Operator hot paths in one process (no Ray): CPU seconds per million records through
map -> filter, a keyed process function counting with ValueState (B3's), and a tumbling
event-time window summing per key (B2's), each fed batches of 4,096 records.

    python bench/operator_hot_paths.py [--events 2000000] [--repeat 3]

CPU time (``time.process_time``) rather than wall time, so a loaded machine disturbs it less
than the Ray benchmarks; compare two trees by running this on each, alternately.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

from rayflink.common import Types
from rayflink.datastream import KeyedProcessFunction
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.datastream.window import TumblingEventTimeWindows
from rayflink.graph.transformations import FunctionParams, OperatorKind, OperatorSpec, WindowParams
from rayflink.runtime.operator import OperatorContext, StreamOperator
from rayflink.runtime.registry import create_operator

BATCH = 4096
KEYS = 100_000


class _Discard:
    def emit(self, values: list, timestamps: list | None) -> None:
        pass

    def emit_watermark(self, watermark: int) -> None:
        pass


class Count(KeyedProcessFunction):
    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value: int, ctx: Any):
        c = (self.count.value() or 0) + 1
        self.count.update(c)
        yield value, c


def _operator(spec: OperatorSpec, keyed: bool, working_dir: str) -> StreamOperator:
    ctx = OperatorContext(name=spec.kind.value, uid=spec.kind.value, subtask_index=0, parallelism=1,
                          max_parallelism=128, attempt=0, config={},
                          state_key_selectors=(lambda x: x % KEYS,) if keyed else None, working_dir=working_dir)
    op = create_operator(spec, ctx)
    op.output.add(_Discard())
    op.open()
    return op


def _cpu_s_per_million(chain: list[StreamOperator], batches: list[tuple[list, list | None]], events: int) -> float:
    t0 = time.process_time()
    for values, stamps in batches:
        for op in chain:
            op.process_batch(values, stamps, 0)
    return round((time.process_time() - t0) / events * 1e6, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.events
    batches = [(list(range(i, min(i + BATCH, n))), None) for i in range(0, n, BATCH)]
    stamped = [(values, [x * 3 for x in values]) for values, _ in batches]
    out: dict[str, list[float]] = {"map_filter": [], "keyed_process": [], "window": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            chain = [_operator(OperatorSpec(OperatorKind.MAP, FunctionParams(lambda x: x * 2)), False, tmp),
                     _operator(OperatorSpec(OperatorKind.FILTER, FunctionParams(lambda x: x % 3 != 0)), False, tmp)]
            out["map_filter"].append(_cpu_s_per_million(chain, batches, n))
            process = _operator(OperatorSpec(OperatorKind.KEYED_PROCESS, FunctionParams(Count())), True, tmp)
            out["keyed_process"].append(_cpu_s_per_million([process], batches, n))
            window = _operator(OperatorSpec(OperatorKind.WINDOW, WindowParams(
                TumblingEventTimeWindows.of(60_000), incremental=("sum", 0))), True, tmp)
            out["window"].append(_cpu_s_per_million([window], stamped, n))
            for op in [*chain, process, window]:
                op.close()
    print(json.dumps({"events": n, "cpu_s_per_million_records": out}))


if __name__ == "__main__":
    main()
