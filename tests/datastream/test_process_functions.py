"""Process functions in both styles, keyed state, timers, side outputs, connect, as in the seed guide."""

from __future__ import annotations

import json

import pytest

from rayflink.common import Types, WatermarkStrategy
from rayflink.datastream import (
    CoFlatMapFunction,
    CoMapFunction,
    KeyedCoProcessFunction,
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    TimeDomain,
)
from rayflink.datastream.connectors.collection import CollectionSource
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.testing import collect, env

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


PURCHASES = [
    {"user_id": "alice", "tipo": "compra", "monto": 150.0},
    {"user_id": "bob", "tipo": "vista", "monto": 0.0},
    {"user_id": "alice", "tipo": "compra", "monto": 300.0},
    {"user_id": "carol", "tipo": "compra", "monto": 50.0},
    {"user_id": "bob", "tipo": "compra", "monto": 200.0},
]


class DetectorPrimeraCompra(ProcessFunction):
    """Seed 12.2.2: emit a user's first purchase only (keyed ValueState, out.collect style)."""

    def open(self, runtime_context):
        self.ya_vio_compra = runtime_context.get_state(ValueStateDescriptor("primera_compra_vista", Types.BOOLEAN()))

    def process_element(self, evento, ctx, out):
        if evento["tipo"] != "compra":
            return
        if not self.ya_vio_compra.value():
            self.ya_vio_compra.update(True)
            out.collect({"tipo": "primera_compra", "user_id": evento["user_id"], "monto": evento["monto"],
                         "timestamp": ctx.timestamp()})


def test_seed_12_2_2_first_purchase_per_user_with_keyed_state():
    e = env()
    out = collect(e.from_collection(PURCHASES).key_by(lambda ev: ev["user_id"]).process(DetectorPrimeraCompra()))
    assert sorted((o["user_id"], o["monto"]) for o in out) == [("alice", 150.0), ("bob", 200.0), ("carol", 50.0)]
    assert all(o["timestamp"] is None for o in out)  # no event time in this job


TAG_ERRORES = OutputTag("errores", Types.STRING())
TAG_TARDIOS = OutputTag("tardios")


class RouterEventos(ProcessFunction):
    """Seed 12.2.4: main output, a dead-letter side output and a late side output."""

    def process_element(self, msg, ctx, out):
        try:
            evento = json.loads(msg)
        except json.JSONDecodeError as e:
            ctx.output(TAG_ERRORES, f"JSON inválido: {msg[:100]} — {e}")
            return
        ahora_ms = ctx.timer_service().current_processing_time()
        if ahora_ms - evento.get("timestamp_ms", ahora_ms) > 5 * 60 * 1000:
            ctx.output(TAG_TARDIOS, evento)
            return
        out.collect(evento)


def test_seed_12_2_4_side_outputs_each_get_their_records():
    lines = ['{"id": 1}', "not json", '{"id": 2, "timestamp_ms": 0}', '{"id": 3}', "{broken"]
    e = env()
    routed = e.from_collection(lines).process(RouterEventos())
    errors = routed.get_side_output(TAG_ERRORES)
    late = routed.get_side_output(TAG_TARDIOS)
    tagged = (routed.map(lambda v: ("main", v["id"]))
              .union(errors.map(lambda v: ("error", v.split(":")[0])), late.map(lambda v: ("late", v["id"]))))
    out = collect(tagged)
    assert sorted(out) == [("error", "JSON inválido"), ("error", "JSON inválido"), ("late", 2), ("main", 1),
                           ("main", 3)]


def test_yield_style_process_function_with_side_output_tuples():
    odd = OutputTag("odd")

    class Split(ProcessFunction):
        def process_element(self, value, ctx):
            if value % 2:
                yield odd, value
            else:
                yield value

    e = env()
    main = e.from_collection(list(range(10))).process(Split())
    out = collect(main.map(lambda v: ("even", v)).union(main.get_side_output(odd).map(lambda v: ("odd", v))))
    assert sorted(v for k, v in out if k == "even") == [0, 2, 4, 6, 8]
    assert sorted(v for k, v in out if k == "odd") == [1, 3, 5, 7, 9]


class SessionEnd(KeyedProcessFunction):
    """Counts a key's records and emits the count when event time passes last record + 10."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx):
        self.count.update((self.count.value() or 0) + 1)
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)
        return None

    def on_timer(self, timestamp, ctx):
        assert ctx.time_domain() == TimeDomain.EVENT_TIME
        yield (ctx.get_current_key(), self.count.value(), timestamp)


def test_event_time_timers_fire_on_the_final_watermark_and_dedupe_per_key():
    events = [("a", 1), ("b", 2), ("a", 1), ("a", 5), ("b", 40)]
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda e, _ts: e[1])
    e = env()
    keyed = e.from_source(CollectionSource(events), strategy, "events").key_by(lambda ev: ev[0])
    out = collect(keyed.process(SessionEnd()))
    # a: timers 11 (twice, deduplicated) and 15; b: 12 and 50
    assert sorted(out) == [("a", 3, 11), ("a", 3, 15), ("b", 2, 12), ("b", 2, 50)]


def test_seed_12_2_5_connect_with_co_map():
    class ProcesarDosStreams(CoMapFunction):
        def map1(self, value):
            return f"STRING: {value}"

        def map2(self, value):
            return f"INT: {value * 2}"

    e = env()
    out = collect(e.from_collection(["hola", "mundo"]).connect(e.from_collection([1, 2, 3])).map(ProcesarDosStreams()))
    assert sorted(out) == ["INT: 2", "INT: 4", "INT: 6", "STRING: hola", "STRING: mundo"]


def test_co_flat_map():
    class Both(CoFlatMapFunction):
        def flat_map1(self, value):
            return [value, value]

        def flat_map2(self, value):
            yield -value

    e = env()
    out = collect(e.from_collection([1, 2]).connect(e.from_collection([5])).flat_map(Both()))
    assert sorted(out) == [-5, 1, 1, 2, 2]


def test_keyed_co_process_joins_two_streams_by_key_with_state():
    class Enrich(KeyedCoProcessFunction):
        def open(self, runtime_context):
            self.name = runtime_context.get_state(ValueStateDescriptor("name", Types.STRING()))

        def process_element1(self, user, ctx, out):
            self.name.update(user["name"])

        def process_element2(self, order, ctx, out):
            out.collect((order["uid"], self.name.value(), order["amount"]))

    e = env(1)  # one subtask: the users stream is read before the orders stream
    users = e.from_collection([{"uid": 1, "name": "ana"}, {"uid": 2, "name": "bo"}])
    orders = e.from_collection([{"uid": 2, "amount": 5.0}, {"uid": 1, "amount": 7.0}, {"uid": 3, "amount": 1.0}])
    out = collect(users.connect(orders).key_by(lambda u: u["uid"], lambda o: o["uid"]).process(Enrich()))
    assert (3, None, 1.0) in out
    assert len(out) == 3
    assert {o[0] for o in out} == {1, 2, 3}
