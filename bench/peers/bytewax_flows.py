"""Bytewax dataflows for the peer benchmarks, run as `python -m bytewax.run "bytewax_flows:flow"`.

Configured through environment variables (set by bytewax_bench.py):
  BENCH_WORKLOAD  B1 | B2 | B3
  BENCH_EVENTS    number of input events N
  BENCH_KEYS      B3 default 100000, B2 default 1000
  BENCH_BATCH     source batch size (default 1000)
  BENCH_WINDOW_S, BENCH_DISORDER_MS, BENCH_STEP_MS   B2 parameters (60, 5000, 1)
  BENCH_COUNT_FILE  if set, each sink partition appends "<label> <items>\\n" to it on close

B1  1..N -> map(x*2) -> filter(x%3!=0) -> discarding sink
B3  1..N -> key_on(str(x % K)) -> stateful_map(count) -> discarding sink
B2  1..N -> (key, ts_ms, amount) with ts increasing, bounded disorder < 5 s -> key_on
    -> fold_window(EventClock(wait 5 s), TumblingWindower(60 s), sum, ordered=False) -> sink
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

WORKLOAD = os.environ.get("BENCH_WORKLOAD", "B1")
N = int(os.environ.get("BENCH_EVENTS", "1000000"))
KEYS = int(os.environ.get("BENCH_KEYS", "1000" if WORKLOAD == "B2" else "100000"))
BATCH = int(os.environ.get("BENCH_BATCH", "1000"))
WINDOW_S = int(os.environ.get("BENCH_WINDOW_S", "60"))
DISORDER_MS = int(os.environ.get("BENCH_DISORDER_MS", "5000"))
STEP_MS = int(os.environ.get("BENCH_STEP_MS", "1"))
COUNT_FILE = os.environ.get("BENCH_COUNT_FILE")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _SeqPartition(StatelessSourcePartition[int]):
    """Integers lo..hi (inclusive) in batches: the counterpart of Flink's NumberSequenceSource."""

    def __init__(self, lo: int, hi: int):
        self.next, self.hi = lo, hi

    def next_batch(self):
        if self.next > self.hi:
            raise StopIteration()
        end = min(self.hi, self.next + BATCH - 1)
        out = list(range(self.next, end + 1))
        self.next = end + 1
        return out


class NumberSequence(DynamicSource[int]):
    def __init__(self, n: int):
        self.n = n

    def build(self, step_id, worker_index, worker_count):
        per = -(-self.n // worker_count)
        lo = worker_index * per + 1
        return _SeqPartition(lo, min(self.n, lo + per - 1))


class _CountingDiscard(StatelessSinkPartition):
    def __init__(self, label: str):
        self.label = label
        self.n = 0

    def write_batch(self, items):
        self.n += len(items)

    def close(self):
        if COUNT_FILE:
            with open(COUNT_FILE, "a") as f:
                f.write(f"{self.label} {self.n}\n")


class DiscardingSink(DynamicSink):
    def __init__(self, label: str = "out"):
        self.label = label

    def build(self, step_id, worker_index, worker_count):
        return _CountingDiscard(self.label)


def _count(state, _value):
    c = 1 if state is None else state + 1
    return c, c


def _gen(i: int):
    j = i - 1
    return j % KEYS, j * STEP_MS + DISORDER_MS - (j * 7919) % DISORDER_MS, ((j * 31) % 1000) / 10.0


def _ts(e) -> datetime:
    return EPOCH + timedelta(milliseconds=e[1])


flow = Dataflow(f"rayflink-peer-{WORKLOAD}")
_src = op.input("seq", flow, NumberSequence(N))
if WORKLOAD == "B1":
    _out = op.filter("filter", op.map("map", _src, lambda x: x * 2), lambda x: x % 3 != 0)
elif WORKLOAD == "B3":
    _keyed = op.key_on("key", _src, lambda x: str(x % KEYS))
    _out = op.stateful_map("count", _keyed, _count)
elif WORKLOAD == "B2":
    from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window

    _ev = op.map("gen", _src, _gen)
    _keyed = op.key_on("key", _ev, lambda e: str(e[0]))
    _win = fold_window(
        "sum",
        _keyed,
        EventClock(_ts, wait_for_system_duration=timedelta(milliseconds=DISORDER_MS)),
        TumblingWindower(length=timedelta(seconds=WINDOW_S), align_to=EPOCH),
        lambda: 0.0,
        lambda acc, e: acc + e[2],
        lambda a, b: a + b,
        ordered=False,
    )
    _out = _win.down
    op.output("late", _win.late, DiscardingSink("late"))
else:
    raise SystemExit(f"unknown BENCH_WORKLOAD {WORKLOAD}")
op.output("out", _out, DiscardingSink())
