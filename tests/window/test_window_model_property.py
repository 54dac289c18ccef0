"""The window operator against a brute-force model of Flink's window semantics.

Given random out-of-order records of two keys interleaved with rising watermarks, every
assigner x trigger x function x evictor combination, allowed lateness and (optionally) a late
side output, the operator's results (key, value, timestamp), late records and dropped count
equal those of a model that keeps every window's elements in a list and re-reads them.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from rayflink.datastream import OutputTag
from rayflink.datastream.window import (
    CountEvictor,
    CountTrigger,
    EventTimeSessionWindows,
    GlobalWindows,
    ProcessWindowFunction,
    PurgingTrigger,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
    WindowFunction,
)
from rayflink.graph.transformations import OperatorKind, WindowParams
from rayflink.testing import OperatorHarness

MAX = 2**63 - 1
LATE = OutputTag("late")
GAP = 4


class SumAgg:
    def create_accumulator(self):
        return 0

    def add(self, value, acc):
        return acc + value[1]

    def get_result(self, acc):
        return acc

    def merge(self, a, b):
        return a + b


class SumProcess(ProcessWindowFunction):
    def process(self, key, context, elements):
        assert context.window().max_timestamp() >= 0
        return [sum(v for _, v in elements)]


class SumApply(WindowFunction):
    def apply(self, key, window, inputs, out):
        out.collect(sum(v for _, v in inputs))


def _reduce(a, b):
    return (a[0], a[1] + b[1])


def _functions(kind: str) -> dict:
    if kind == "reduce":
        return {"incremental": ("reduce", _reduce)}
    if kind == "aggregate":
        return {"incremental": ("aggregate", SumAgg())}
    if kind == "process":
        return {"function": SumProcess(), "style": "process"}
    return {"function": SumApply(), "style": "apply"}


def _value_of(kind: str, result) -> int:
    return result[1] if kind == "reduce" else result


def _assigner(kind: str):
    return {"tumbling": TumblingEventTimeWindows.of(10), "sliding": SlidingEventTimeWindows.of(10, 5),
            "session": EventTimeSessionWindows.with_gap(GAP), "global": GlobalWindows.create()}[kind]


def _trigger(kind: str):
    return {"default": None, "count": CountTrigger.of(3), "purging_count": PurgingTrigger.of(CountTrigger.of(3))}[kind]


def _windows(assigner: str, ts: int) -> list[tuple[int, int]]:
    if assigner == "tumbling":
        return [(ts - ts % 10, ts - ts % 10 + 10)]
    if assigner == "sliding":
        last = ts - ts % 5
        return [(s, s + 10) for s in range(last, ts - 10, -5)]
    if assigner == "global":
        return [(0, MAX + 1)]
    return [(ts, ts + GAP)]


def model(ops: list, assigner: str, trigger: str, lateness: int, evict: bool) -> tuple[Counter, list]:
    """Flink's semantics by brute force: every window keeps its elements; results re-read them."""
    out: Counter = Counter()
    late: list = []
    wm = -(2**63)
    event_time = assigner != "global"
    windows: dict[str, dict[tuple[int, int], dict]] = {"a": {}, "b": {}}

    def fire(key, w, state):
        items = state["items"]
        if evict:
            items[:] = items[-2:]
        if items:
            out[(key, sum(items), w[1] - 1)] += 1

    def on_element(key, w, state):
        if trigger == "default":
            if event_time and w[1] - 1 <= wm:
                fire(key, w, state)
            return
        state["count"] += 1
        if state["count"] >= 3:
            state["count"] = 0
            fire(key, w, state)
            if trigger == "purging_count":
                state["items"].clear()

    for op in ops:
        if op[0] == "wm":
            new = op[1]
            if new <= wm:
                continue
            for key, wins in windows.items():
                for w in list(wins):
                    mt = w[1] - 1
                    if trigger == "default" and event_time and wm < mt <= new:
                        fire(key, w, wins[w])
                    if event_time and mt + lateness <= new:
                        del wins[w]
            wm = new
            continue
        _, key, ts, v = op
        wins = windows[key]
        accepted = False
        if assigner == "session":
            new_w = (ts, ts + GAP)
            touching = [w for w in wins if w[0] <= new_w[1] and w[1] >= new_w[0]]
            if not touching and new_w[1] - 1 + lateness <= wm:
                pass
            else:
                accepted = True
                start = min([new_w[0]] + [w[0] for w in touching])
                end = max([new_w[1]] + [w[1] for w in touching])
                state = {"items": [], "count": 0}
                for w in sorted(touching):
                    old = wins.pop(w)
                    state["items"] += old["items"]
                    state["count"] += old["count"]
                wins[(start, end)] = state
                state["items"].append(v)
                on_element(key, (start, end), state)
        else:
            for w in _windows(assigner, ts):
                if event_time and w[1] - 1 + lateness <= wm:
                    continue
                accepted = True
                state = wins.setdefault(w, {"items": [], "count": 0})
                state["items"].append(v)
                on_element(key, w, state)
        if not accepted and event_time and ts + lateness <= wm:
            late.append((key, v))
    return out, late


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 40))
    ops = []
    wm = -1
    for i in range(n):
        key = draw(st.sampled_from("ab"))  # b's values are multiples of 1000: a sum tells its key
        ops.append(("rec", key, draw(st.integers(0, 60)), (i + 1) * (100_000 if key == "b" else 1)))
        if draw(st.integers(0, 3)) == 0:
            wm = draw(st.integers(wm, 70))
            ops.append(("wm", wm))
    assigner = draw(st.sampled_from(["tumbling", "sliding", "session", "global"]))
    trigger = draw(st.sampled_from(["default", "count", "purging_count"]))
    function = draw(st.sampled_from(["reduce", "aggregate", "process", "apply"]))
    evict = assigner != "session" and draw(st.booleans())
    return ops, assigner, trigger, function, evict, draw(st.integers(0, 8)), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_window_operator_matches_the_brute_force_model(scenario):
    ops, assigner, trigger, function, evict, lateness, side_output = scenario
    params = {"assigner": _assigner(assigner), "trigger": _trigger(trigger), "allowed_lateness": lateness,
              "late_tag": LATE if side_output else None, "evictor": CountEvictor.of(2) if evict else None,
              **_functions(function)}
    h = OperatorHarness(OperatorKind.WINDOW, WindowParams(**params), (lambda r: r[0],), side_tags=(LATE,))
    try:
        for op in ops:
            if op[0] == "wm":
                h.watermark(op[1])
            else:
                h.batch([(op[1], op[3])], [op[2]])
        h.watermark(MAX)
        values = [_value_of(function, r) for r in h.out]
        got = Counter(("b" if v >= 100_000 else "a", v, ts) for v, ts in zip(values, h.main.stamps))  # a: at most 1830
        expected, late = model(ops + [("wm", MAX)], assigner, trigger, lateness, evict)
        assert got == expected
        if side_output:
            assert sorted(h.side(LATE)) == sorted(late)
            assert h.op.num_late_records_dropped == 0
        else:
            assert h.op.num_late_records_dropped == len(late)
    finally:
        h.close()


def test_batches_give_the_same_results_as_single_records():
    """The batch fast path (tumbling, default trigger) equals record-at-a-time processing."""
    records = [("a" if i % 3 else "b", i * 7 % 50, i) for i in range(200)]
    results = []
    for batch_size in (1, 5, 25):
        h = OperatorHarness(OperatorKind.WINDOW, WindowParams(TumblingEventTimeWindows.of(10), allowed_lateness=5,
                                                              incremental=("aggregate", SumAgg())), (lambda r: r[0],))
        for i in range(0, len(records), batch_size):
            chunk = records[i:i + batch_size]
            h.batch([(k, v) for k, _, v in chunk], [ts for _, ts, _ in chunk])
            if (i + batch_size) % 25 == 0:  # the same watermarks at the same records for every batch size
                h.watermark(records[i + batch_size - 1][1] - 10)
        h.watermark(MAX)
        results.append((Counter(zip(h.out, h.main.stamps)), h.op.num_late_records_dropped))
        h.close()
    assert results[0] == results[1] == results[2]


@st.composite
def sliding_scenarios(draw):
    size = draw(st.integers(2, 30))
    slide = draw(st.integers(1, size))
    offset = draw(st.integers(0, slide - 1))
    ops, wm = [], -1
    for i in range(draw(st.integers(1, 60))):
        key = draw(st.sampled_from("ab"))
        ops.append(("rec", key, draw(st.integers(0, 120)), (i + 1) * (100_000 if key == "b" else 1)))
        if draw(st.integers(0, 3)) == 0:
            wm = draw(st.integers(wm, 130))
            ops.append(("wm", wm))
    return size, slide, offset, ops, draw(st.sampled_from(["reduce", "aggregate"])), draw(st.integers(1, 7))


def sliding_model(size: int, slide: int, offset: int, ops: list) -> tuple[Counter, int]:
    """Every window keeps its own sum (no slices): Flink's sliding windows by brute force."""
    out: Counter = Counter()
    sums: dict = {}
    wm, late = -(2**63), 0
    for op in ops:
        if op[0] == "wm":
            wm = max(wm, op[1])
            for (key, start), total in sorted(sums.items(), key=lambda kv: kv[0][1]):
                if start + size - 1 <= wm:
                    out[(key, total, start + size - 1)] += 1
                    del sums[(key, start)]
            continue
        _, key, ts, value = op
        last = ts - (ts - offset + slide) % slide
        live = [s for s in range(last, ts - size, -slide) if s + size - 1 > wm]
        if not live:
            late += 1
        for s in live:
            sums[(key, s)] = sums.get((key, s), 0) + value
    return out, late


@settings(max_examples=300, deadline=None)
@given(sliding_scenarios())
def test_sliced_sliding_windows_match_the_brute_force_model(scenario):
    """The sliced path (aggregate/reduce, default trigger, no lateness) over any size, slide,
    offset and batching gives what one accumulator per window would."""
    size, slide, offset, ops, function, batch = scenario
    h = OperatorHarness(OperatorKind.WINDOW, WindowParams(SlidingEventTimeWindows.of(size, slide, offset),
                                                          **_functions(function)), (lambda r: r[0],))
    try:
        assert h.op.sliced and h.op.slice_size == __import__("math").gcd(size, slide)
        pending: list = []
        for op in ops + [("wm", MAX)]:
            if op[0] == "wm":
                if pending:
                    h.batch([(k, v) for _, k, _, v in pending], [ts for _, _, ts, _ in pending])
                    pending = []
                h.watermark(op[1])
            else:
                pending.append(op)
                if len(pending) >= batch:
                    h.batch([(k, v) for _, k, _, v in pending], [ts for _, _, ts, _ in pending])
                    pending = []
        values = [_value_of(function, r) for r in h.out]
        got = Counter(("b" if v >= 100_000 else "a", v, ts) for v, ts in zip(values, h.main.stamps))  # a: at most 1830
        expected, late = sliding_model(size, slide, offset, ops + [("wm", MAX)])
        assert got == expected
        assert h.op.num_late_records_dropped == late
    finally:
        h.close()
