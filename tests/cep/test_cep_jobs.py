"""CEP jobs through the engine: the seed's fraud pattern, event-time order, late data, timeouts, processing time."""

from __future__ import annotations

import pytest

from rayflink import testing
from rayflink.cep import CEP, Pattern, PatternProcessFunction, TimedOutPartialMatchHandler
from rayflink.common import Duration, Time, WatermarkStrategy
from rayflink.datastream import OutputTag, StreamExecutionEnvironment
from rayflink.testing import collect

pytestmark = pytest.mark.integration  # every test here runs a job on Ray

MIN = 60_000


def _env(parallelism: int = 2) -> StreamExecutionEnvironment:
    return testing.env(parallelism)


def _timed(env, rows, disorder_ms: int = 0):
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(disorder_ms)) \
        .with_timestamp_assigner(lambda r, _: r["ts"])
    return env.from_collection(rows).assign_timestamps_and_watermarks(strategy)


def test_seed_fraud_pattern_runs_as_written():
    """Section 12.5.4 of the seed guide, with pyflink -> rayflink."""
    from rayflink.cep import CEP, Pattern  # noqa: F811 - the seed's imports, verbatim
    from rayflink.cep.pattern import Quantifier  # noqa: F401
    from rayflink.common import Time  # noqa: F811

    patron_fraude = Pattern \
        .begin("intento_fallido") \
        .where(lambda e, _: e["tipo"] == "login_fallido") \
        .times(3) \
        .consecutive() \
        .within(Time.minutes(5)) \
        .followedBy("compra_exitosa") \
        .where(lambda e, _: e["tipo"] == "compra")

    rows = []
    for user, kinds in {"ana": ["login_fallido"] * 3 + ["login_ok", "compra"],     # fraud
                        "bo": ["login_fallido", "login_ok", "login_fallido", "login_fallido", "compra"],
                        "cy": ["login_fallido"] * 3 + ["compra"]}.items():       # fraud, but too late
        for i, tipo in enumerate(kinds):
            ts = i * MIN if user != "cy" or tipo != "compra" else 10 * MIN
            rows.append({"user_id": user, "tipo": tipo, "ts": ts, "monto": 100.0 * (i + 1)})
    env = _env()
    stream_por_usuario = _timed(env, rows).key_by(lambda e: e["user_id"])
    alertas_fraude = CEP.pattern(stream_por_usuario, patron_fraude) \
        .select(
            lambda pattern: {
                "tipo_alerta": "fraude_potencial",
                "user_id": pattern["intento_fallido"][0]["user_id"],
                "num_intentos": len(pattern["intento_fallido"]),
                "monto_compra": pattern["compra_exitosa"][0]["monto"],
            }
        )
    assert collect(alertas_fraude) == [{"tipo_alerta": "fraude_potencial", "user_id": "ana", "num_intentos": 3,
                                        "monto_compra": 500.0}]


def test_event_time_order_not_arrival_order():
    rows = [{"user": u, "kind": k, "ts": t} for u, k, t in
            [("u", "b", 20), ("u", "a", 10), ("v", "a", 11), ("u", "c", 30), ("v", "b", 12), ("v", "c", 13)]]
    env = _env()   # u arrives b, a, c: in event time a, b, c
    pattern = Pattern.begin("a").where(lambda e, _: e["kind"] == "a").next("b") \
        .where(lambda e, _: e["kind"] == "b").next("c").where(lambda e, _: e["kind"] == "c")
    matches = CEP.pattern(_timed(env, rows, disorder_ms=50).key_by(lambda e: e["user"]), pattern) \
        .select(lambda m: m["a"][0]["user"] + "".join(m[s][0]["kind"] for s in ("a", "b", "c")))
    assert sorted(collect(matches)) == ["uabc", "vabc"]


class PaymentConfirmations(PatternProcessFunction, TimedOutPartialMatchHandler):
    """Question 4 of the seed: "no confirmation within 10 minutes after the payment"."""

    MISSING = OutputTag("missing-confirmation")

    def process_match(self, match, ctx, out):
        out.collect(("confirmed", match["payment"][0]["order"], ctx.timestamp()))

    def process_timed_out_match(self, match, ctx):
        ctx.output(self.MISSING, ("missing", match["payment"][0]["order"], ctx.timestamp()))


def test_absence_of_an_event_is_a_timed_out_partial_match():
    rows = [{"order": o, "kind": k, "ts": t * MIN} for o, k, t in
            [(1, "payment", 0), (1, "confirmation", 4), (2, "payment", 1), (3, "payment", 2),
             (3, "confirmation", 13), (4, "payment", 30)]]
    env = _env()
    pattern = Pattern.begin("payment").where(lambda e, _: e["kind"] == "payment") \
        .followed_by("confirmation").where(lambda e, _: e["kind"] == "confirmation").within(Time.minutes(10))
    fn = PaymentConfirmations()
    matches = CEP.pattern(_timed(env, rows).key_by(lambda e: e["order"]), pattern).process(fn)
    out = collect(matches.union(matches.get_side_output(PaymentConfirmations.MISSING)))
    assert sorted(out) == [("confirmed", 1, 4 * MIN), ("missing", 2, 11 * MIN), ("missing", 3, 12 * MIN),
                           ("missing", 4, 40 * MIN)]  # order 4 times out when the input ends


def test_select_with_timeout_tag_and_flat_select():
    rows = [{"u": u, "k": k, "ts": t} for u, k, t in
            [(1, "a", 0), (1, "b", 5), (1, "b", 6), (2, "a", 0), (2, "c", 50)]]
    timed_out = OutputTag("timed-out")
    env = _env()
    pattern = Pattern.begin("a").where(lambda e, _: e["k"] == "a") \
        .followed_by_any("b").where(lambda e, _: e["k"] == "b").within(Duration.of_millis(20))
    ps = CEP.pattern(_timed(env, rows).key_by(lambda e: e["u"]), pattern)
    selected = ps.select(timed_out, lambda m, ts: ("timeout", m["a"][0]["u"], ts), lambda m: m["b"][0]["ts"])
    flat = ps.flat_select(lambda m, out: [out.collect(e["ts"]) for e in m["a"] + m["b"]])
    out = collect(selected.union(selected.get_side_output(timed_out)))
    assert sorted(out, key=str) == [("timeout", 1, 20), ("timeout", 2, 20), 5, 6]
    assert sorted(collect(flat)) == [0, 0, 5, 6]


def test_processing_time_matches_in_arrival_order():
    env = _env(1)
    pattern = Pattern.begin("x").where(lambda e, _: e % 2 == 1).next("y").where(lambda e, _: e % 2 == 0)
    out = collect(CEP.pattern(env.from_collection([1, 3, 4, 5, 6, 8]).key_by(lambda e: 0), pattern)
                  .in_processing_time().select(lambda m: (m["x"][0], m["y"][0])))
    assert sorted(out) == [(3, 4), (5, 6)]


def test_non_keyed_stream_matches_over_the_whole_stream():
    env = _env(1)
    pattern = Pattern.begin("up").where(lambda e, _: e > 0).times(2).consecutive()
    out = collect(CEP.pattern(env.from_collection([1, 2, -1, 3]).map(lambda x: x), pattern)
                  .in_processing_time().select(lambda m: tuple(m["up"])))
    assert out == [(1, 2)]


def test_group_pattern_through_the_engine():
    """Two (failed login, directly followed by a retry) pairs, then a purchase, within 10 minutes, per user."""
    attempt = Pattern.begin("fail").where(lambda e, _: e["kind"] == "fail") \
        .next("retry").where(lambda e, _: e["kind"] == "retry")
    pattern = Pattern.begin(attempt).times(2) \
        .followed_by("buy").where(lambda e, _: e["kind"] == "buy").within(Time.minutes(10))
    rows = [{"user": u, "kind": k, "ts": t * MIN} for u, kinds in
            {"ana": "fail retry ok fail retry buy",       # two pairs, then a purchase
             "bo": "fail retry fail ok retry buy",        # the second retry does not follow its failure
             "cy": "fail retry fail retry ok ok ok ok ok ok ok buy"}.items()   # purchase too late
            for t, k in enumerate(kinds.split())]
    env = _env()
    out = collect(CEP.pattern(_timed(env, rows).key_by(lambda e: e["user"]), pattern)
                  .select(lambda m: (m["fail"][0]["user"], [e["ts"] // MIN for e in m["fail"]],
                                     [e["ts"] // MIN for e in m["retry"]], m["buy"][0]["ts"] // MIN)))
    assert out == [("ana", [0, 3], [1, 4], 5)]
