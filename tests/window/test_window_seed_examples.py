"""Sections 12.4 and 12.5 of the seed guide, run as jobs: event time, lateness, the window types,
window functions, triggers; plus the build-time and runtime errors of bad windows."""

from __future__ import annotations

import pytest

from rayflink.common import Duration, Time, Types, Watermark, WatermarkGenerator, WatermarkStrategy
from rayflink.common.watermark_strategy import TimestampAssigner
from rayflink.connectors.discarding import DiscardingSink
from rayflink.datastream import OutputTag, ProcessWindowFunction
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.datastream.window import (
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    GlobalWindows,
    SlidingEventTimeWindows,
    TimeEvictor,
    TimeWindow,
    Trigger,
    TriggerResult,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowFunction,
)
from rayflink.errors import GraphBuildError, JobExecutionError
from rayflink.graph.transformations import OperatorKind, WindowParams
from rayflink.testing import OperatorHarness, collect, env

MIN = 60_000


class AsignadorTimestamp(TimestampAssigner):
    def extract_timestamp(self, elemento, timestamp_previo):
        return elemento["timestamp_ms"]


def timed(e, rows, bound_ms=0):
    strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(bound_ms))
                .with_timestamp_assigner(AsignadorTimestamp()))
    return e.from_collection(rows).assign_timestamps_and_watermarks(strategy)


@pytest.mark.integration
def test_seed_12_4_4_event_time_puts_the_late_event_in_its_own_window():
    eventos = [{"ts_ms": 1700000001000, "valor": 10}, {"ts_ms": 1700000002000, "valor": 20},
               {"ts_ms": 1700000003000, "valor": 30}, {"ts_ms": 1699999975000, "valor": 99},
               {"ts_ms": 1700000004000, "valor": 40}]
    strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(10))
                .with_timestamp_assigner(lambda e, _: e["ts_ms"]))
    out = collect(env().from_collection(eventos).assign_timestamps_and_watermarks(strategy)
                  .key_by(lambda _: "global").window(TumblingEventTimeWindows.of(Time.minutes(1))).sum("valor"))
    # 1699999975000 falls in the minute before the others (1699999980000 starts a minute)
    assert sorted(o["valor"] for o in out) == [99, 100]


@pytest.mark.integration
def test_seed_12_4_5_allowed_lateness_refires_and_later_records_go_to_the_side_output():
    tardios = OutputTag("tardios")

    class AgregadorRevenue:
        def create_accumulator(self):
            return 0.0

        def add(self, value, acc):
            return acc + value["monto"]

        def get_result(self, acc):
            return acc

        def merge(self, a, b):
            return a + b

    rows = [{"region": "eu", "timestamp_ms": t, "monto": m} for t, m in [
        (1 * MIN, 10.0), (6 * MIN, 1.0),       # watermark 6 min: [0, 5 min) fires with 10
        (4 * MIN, 5.0),                         # late, within 2 min lateness: fires again with 15
        (9 * MIN, 1.0),                         # watermark 9 min: [0, 5) cleaned up (5 + 2 <= 9)
        (3 * MIN, 7.0)]]                        # later than the lateness: side output
    e = env(1)
    e.get_config().set_integer("pipeline.auto-watermark-interval", 0)
    strategy = WatermarkStrategy.for_generator(PerRecordWatermarks).with_timestamp_assigner(AsignadorTimestamp())
    resultado = (e.from_collection(rows).assign_timestamps_and_watermarks(strategy)
                 .key_by(lambda r: r["region"]).window(TumblingEventTimeWindows.of(Time.minutes(5)))
                 .allowed_lateness(Time.minutes(2)).side_output_late_data(tardios)
                 .aggregate(AgregadorRevenue()))
    main_and_late = resultado.map(lambda v: ("main", v)).union(
        resultado.get_side_output(tardios).map(lambda r: ("late", r["monto"])))
    out = collect(main_and_late)
    assert sorted(v for k, v in out if k == "main") == [2.0, 10.0, 15.0]
    assert [v for k, v in out if k == "late"] == [7.0]


class PerRecordWatermarks(WatermarkGenerator):
    """Emits the watermark on every record (so the test controls event time exactly)."""

    def on_event(self, event, event_timestamp, output):
        output.emit_watermark(Watermark(event_timestamp))

    def on_periodic_emit(self, output):
        pass


@pytest.mark.integration
def test_seed_12_4_2_percentile_watermark_generator_drives_windows():
    class WatermarkPorPercentil(WatermarkGenerator):
        def __init__(self, ventana_eventos=1000, percentil=0.05):
            self.ventana, self.percentil, self.buffer = ventana_eventos, percentil, []

        def on_event(self, evento, evento_timestamp, output):
            self.buffer.append(evento_timestamp)
            if len(self.buffer) > self.ventana:
                self.buffer.pop(0)

        def on_periodic_emit(self, output):
            if len(self.buffer) >= 10:
                ts = sorted(self.buffer)
                output.emit_watermark(Watermark(ts[int(len(ts) * self.percentil)]))

    rows = [{"k": i % 3, "timestamp_ms": i * 1000} for i in range(100)]
    strategy = WatermarkStrategy.for_generator(WatermarkPorPercentil).with_timestamp_assigner(AsignadorTimestamp())
    out = collect(env().from_collection(rows).assign_timestamps_and_watermarks(strategy).map(lambda r: (r["k"], 1))
                  .key_by(lambda t: t[0]).window(TumblingEventTimeWindows.of(Time.seconds(10))).sum(1))
    assert sorted(out) == sorted([(k, sum(1 for i in range(w * 10, w * 10 + 10) if i % 3 == k))
                                  for w in range(10) for k in range(3)])


@pytest.mark.integration
def test_seed_12_5_1_the_four_window_types():
    rows = [{"user": "u", "timestamp_ms": t * MIN, "monto": 1} for t in (0, 1, 6, 7, 50, 51)]
    e = env()
    base = timed(e, rows).key_by(lambda r: r["user"])
    tumbling = base.window(TumblingEventTimeWindows.of(Time.minutes(5))).sum("monto")
    sliding = base.window(SlidingEventTimeWindows.of(Time.minutes(10), Time.minutes(5))).sum("monto")
    session = base.window(EventTimeSessionWindows.with_gap(Time.minutes(30))).sum("monto")
    glob = base.window(GlobalWindows.create()).trigger(CountTrigger.of(2)).sum("monto")
    tagged = (tumbling.map(lambda r: ("tumbling", r["monto"])).union(sliding.map(lambda r: ("sliding", r["monto"])))
              .union(session.map(lambda r: ("session", r["monto"]))).union(glob.map(lambda r: ("global", r["monto"]))))
    out = collect(tagged)
    by = {k: sorted(v for kk, v in out if kk == k) for k in ("tumbling", "sliding", "session", "global")}
    assert by["tumbling"] == [2, 2, 2]                 # [0,5) [5,10) [50,55)
    assert by["sliding"] == [2, 2, 2, 2, 4]            # [-5,5) [0,10) [5,15) [45,55) [50,60)
    assert by["session"] == [2, 4]                     # 0..7 (gaps < 30 min) and 50..51
    assert by["global"] == [2, 4, 6]                   # fires every 2 elements, keeps contents


class SumarConContexto(WindowFunction):
    def apply(self, key, window, inputs, out):
        out.collect({"region": key, "inicio_ventana": window.start, "fin_ventana": window.end,
                     "revenue": sum(e["monto"] for e in inputs)})


class AcumuladorRevenue:
    def create_accumulator(self):
        return {"suma": 0.0, "count": 0}

    def add(self, value, accumulator):
        accumulator["suma"] += value["monto"]
        accumulator["count"] += 1
        return accumulator

    def get_result(self, accumulator):
        return accumulator

    def merge(self, acc1, acc2):
        return {"suma": acc1["suma"] + acc2["suma"], "count": acc1["count"] + acc2["count"]}


class AnalisisVentana(ProcessWindowFunction):
    def process(self, key, context, elements, out):
        montos = [e["monto"] for e in elements]
        out.collect({"region": key, "revenue": sum(montos), "max_transaccion": max(montos),
                     "num_transacciones": len(montos), "watermark_actual": context.current_watermark()})


class ConContexto(ProcessWindowFunction):
    """aggregate + ProcessWindowFunction: the accumulator's result enriched with the window and state."""

    def process(self, key, context, elements):
        fires = context.global_state().get_state(ValueStateDescriptor("fires", Types.INT()))
        fires.update((fires.value() or 0) + 1)
        (acc,) = elements
        yield {"region": key, "window": (context.window().start, context.window().end), **acc,
               "fires_of_key": fires.value()}


@pytest.mark.integration
def test_seed_12_5_2_apply_aggregate_process_and_aggregate_with_process():
    rows = [{"region": r, "timestamp_ms": t * 1000, "monto": m}
            for r, t, m in [("eu", 1, 10.0), ("eu", 2, 30.0), ("us", 3, 5.0), ("eu", 61, 1.0)]]
    e = env()
    windowed = lambda: timed(e, rows).key_by(lambda r: r["region"]).window(TumblingEventTimeWindows.of(Time.minutes(1)))  # noqa: E731
    a = windowed().apply(SumarConContexto())
    b = windowed().aggregate(AcumuladorRevenue())
    c = windowed().process(AnalisisVentana())
    d = windowed().aggregate(AcumuladorRevenue(), ConContexto())
    out = collect(a.map(lambda x: ("a", x)).union(b.map(lambda x: ("b", x)), c.map(lambda x: ("c", x)),
                                                   d.map(lambda x: ("d", x))))
    got = {k: sorted((x for kk, x in out if kk == k), key=repr) for k in "abcd"}
    assert sorted((x["region"], x["inicio_ventana"], x["revenue"]) for x in got["a"]) == [
        ("eu", 0, 40.0), ("eu", 60000, 1.0), ("us", 0, 5.0)]
    assert sorted((x["suma"], x["count"]) for x in got["b"]) == [(1.0, 1), (5.0, 1), (40.0, 2)]
    assert sorted((x["region"], x["max_transaccion"], x["num_transacciones"]) for x in got["c"]) == [
        ("eu", 1.0, 1), ("eu", 30.0, 2), ("us", 5.0, 1)]
    assert all(x["watermark_actual"] >= 59_999 for x in got["c"])
    assert sorted((x["region"], x["window"], x["suma"], x["fires_of_key"]) for x in got["d"]) == [
        ("eu", (0, 60000), 40.0, 1), ("eu", (60000, 120000), 1.0, 2), ("us", (0, 60000), 5.0, 1)]


class TriggerPorCountOTiempo(Trigger):
    """Seed 12.5.3: fire after N elements or after X ms of processing time, whichever comes first."""

    def __init__(self, max_count, max_time_ms):
        self.max_count = max_count
        self.max_time_ms = max_time_ms

    def on_element(self, element, timestamp, window, ctx):
        count_state = ctx.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
        count = (count_state.value() or 0) + 1
        count_state.update(count)
        if count >= self.max_count:
            count_state.clear()
            return TriggerResult.FIRE_AND_PURGE
        ctx.register_processing_time_timer(ctx.get_current_processing_time() + self.max_time_ms)
        return TriggerResult.CONTINUE

    def on_processing_time(self, time, window, ctx):
        return TriggerResult.FIRE_AND_PURGE

    def on_event_time(self, time, window, ctx):
        return TriggerResult.CONTINUE

    def on_merge(self, window, ctx):
        pass

    def clear(self, window, ctx):
        ctx.delete_processing_time_timer(ctx.get_current_processing_time() + self.max_time_ms)


def test_seed_12_5_3_custom_trigger_fires_on_count_or_on_processing_time():
    h = OperatorHarness(OperatorKind.WINDOW, WindowParams(GlobalWindows.create(),
                                                          trigger=TriggerPorCountOTiempo(3, 1000),
                                                          incremental=("sum", 1)), (lambda r: r[0],))
    now = [10_000]
    h.op.clock = lambda: now[0]
    h.batch([("a", 1), ("a", 2), ("b", 5), ("a", 3)])
    assert h.out == [("a", 6)]                       # a's third element: FIRE_AND_PURGE
    now[0] = 10_500
    h.batch([("b", 7)])
    h.processing_time(11_000)                         # b's first timer (10_000 + 1000) fires
    assert h.out == [("a", 6), ("b", 12)]
    h.processing_time(11_500)                         # b's second timer: purged, nothing to emit
    assert h.out == [("a", 6), ("b", 12)]
    h.close()


def test_continuous_event_time_trigger_fires_early_and_at_the_end():
    h = OperatorHarness(OperatorKind.WINDOW, WindowParams(TumblingEventTimeWindows.of(100),
                                                          trigger=ContinuousEventTimeTrigger.of(30),
                                                          incremental=("sum", 1)),
                        (lambda r: r[0],))
    h.batch([("a", 1)], [5])
    h.watermark(35)                                   # the first early firing, at 30
    h.batch([("a", 2)], [40])
    h.watermark(200)                                  # at 60, 90 and the window's end (99)
    assert h.out == [("a", 1), ("a", 3), ("a", 3), ("a", 3)]
    assert h.main.stamps == [99, 99, 99, 99]
    h.close()


def test_time_evictor_keeps_the_latest_elements():
    h = OperatorHarness(OperatorKind.WINDOW, WindowParams(TumblingEventTimeWindows.of(100), evictor=TimeEvictor.of(10),
                                                          incremental=("sum", 1)), (lambda r: r[0],))
    h.batch([("a", 1), ("a", 2), ("a", 4)], [10, 85, 90])
    h.watermark(1000)
    assert h.out == [("a", 6)]
    h.close()


def test_processing_time_windows_fire_on_the_processing_time_clock():
    h = OperatorHarness(OperatorKind.WINDOW, WindowParams(TumblingProcessingTimeWindows.of(Time.seconds(1)),
                                                          incremental=("sum", 1)), (lambda r: r[0],))
    h.op.clock = lambda: 5_200
    h.batch([("a", 1), ("a", 2)])
    assert h.op.next_processing_time_timer() == 5_999
    h.processing_time(6_000)
    assert h.out == [("a", 3)]
    h.close()


@pytest.mark.integration
def test_late_records_are_counted_in_the_task_metrics():
    rows = [{"k": "x", "timestamp_ms": t} for t in (1000, 70_000, 2000, 3000)]
    e = env(1)
    e.get_config().set_integer("pipeline.auto-watermark-interval", 0)
    strategy = WatermarkStrategy.for_generator(PerRecordWatermarks).with_timestamp_assigner(AsignadorTimestamp())
    (e.from_collection(rows).assign_timestamps_and_watermarks(strategy).map(lambda r: (r["k"], 1))
     .key_by(lambda t: t[0]).window(TumblingEventTimeWindows.of(Time.minutes(1))).sum(1).uid("win")
     .sink_to(DiscardingSink()))
    result = e.execute("late metrics")
    counters = [op for v in result.metrics["vertices"] for s in v["subtasks"] for uid, op in s["operators"].items()
                if uid == "win"]
    assert sum(c["num_late_records_dropped"] for c in counters) == 2


def test_bad_window_definitions_fail_at_build_time():
    with pytest.raises(GraphBuildError, match="size must be > 0"):
        TumblingEventTimeWindows.of(Time.seconds(-1))
    with pytest.raises(GraphBuildError, match="must not exceed the size"):
        SlidingEventTimeWindows.of(Time.seconds(5), Time.seconds(10))
    with pytest.raises(GraphBuildError, match="gap must be > 0"):
        EventTimeSessionWindows.with_gap(Time.seconds(0))
    with pytest.raises(GraphBuildError, match="needs event timestamps and watermarks"):
        env().from_collection([1, 2]).key_by(lambda x: x).window(TumblingEventTimeWindows.of(Time.seconds(1)))
    with pytest.raises(GraphBuildError, match="must support merging"):
        (timed(env(), [{"timestamp_ms": 1}]).key_by(lambda x: 1)
         .window(EventTimeSessionWindows.with_gap(Time.seconds(1))).trigger(TriggerPorCountOTiempo(1, 1)))
    assert TimeWindow(0, 10).max_timestamp() == 9


@pytest.mark.integration
def test_a_record_without_timestamp_fails_naming_the_window_operator():
    e = env(1)
    stream = (e.from_collection([("a", 1)]).assign_timestamps_and_watermarks(WatermarkStrategy.no_watermarks())
              .key_by(lambda t: t[0]).window(TumblingEventTimeWindows.of(Time.seconds(1))).sum(1))
    with pytest.raises(JobExecutionError, match=r"window operator .*Window\(TumblingEventTimeWindows.*has no event "
                                                r"timestamp"):
        collect(stream)


def test_the_missing_timestamp_message_names_the_window_operator_once():
    h = OperatorHarness(OperatorKind.WINDOW, WindowParams(TumblingEventTimeWindows.of(100), incremental=("sum", 1)),
                        (lambda r: r[0],))
    with pytest.raises(JobExecutionError) as failure:
        h.batch([("a", 1)])
    message = str(failure.value)
    assert message.startswith("window operator 'window' (uid 'window-uid', subtask 1/1): record ('a', 1) has no "
                              "event timestamp, but TumblingEventTimeWindows needs one")
    assert "operator operator" not in message
    h.close()


@pytest.mark.integration
def test_a_timestamp_assigner_returning_a_float_fails_naming_the_record():
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda r, _: r * 1.5)
    with pytest.raises(JobExecutionError, match=r"Timestamps/Watermarks.*must return epoch milliseconds.*record 1"):
        collect(env(1).from_collection([1, 2]).assign_timestamps_and_watermarks(strategy))
