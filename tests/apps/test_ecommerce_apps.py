"""The revenue and fraud apps against the generator's ground truth and brute-force answers.

Given a 25-minute run of a 10-minute "day" (so the dip alert has two previous days to compare
with), the apps on the in-process generator at parallelism 2 must produce: revenue per region and
minute equal to the ground truth's sums, conversion equal to a brute-force join, a dip alert for
every minute the rule justifies (every injected dip among them), a fraud alert for every match of
the rule (every injected burst alerted once), and purchases enriched with the version valid at
their timestamp.
"""

from __future__ import annotations

from collections import Counter

import pytest

from rayflink.apps.ecommerce import fraud, oracle, revenue
from rayflink.apps.ecommerce.config import AppConfig
from rayflink.apps.ecommerce.generate import EventGenerator, GeneratorSource, ground_truth
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.testing.jobs import collect

pytestmark = pytest.mark.integration  # every test here runs jobs on Ray

OPTIONS = {"ecommerce.day": "10 min", "ecommerce.generator.duration": "25 min",
           "ecommerce.generator.clicks-per-second": 60, "ecommerce.generator.purchases-per-second": 20,
           "ecommerce.generator.fraud-bursts-per-hour": 12}


@pytest.fixture(scope="module")
def cfg() -> AppConfig:
    return AppConfig.from_options(OPTIONS)


@pytest.fixture(scope="module")
def truth(cfg):
    return ground_truth(cfg.generator)


@pytest.fixture(scope="module")
def events(cfg):
    return oracle.events_of(cfg.generator)


def _tagged(streams: dict):
    """One stream of (name, row) from the app's result streams, so one job yields them all."""
    names = sorted(streams)
    tagged = [streams[n].map(lambda r, n=n: (n, r)) for n in names]
    return tagged[0].union(*tagged[1:])


def _run(app, cfg) -> dict[str, list]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    out: dict[str, list] = {}
    for name, row in collect(_tagged(app.metrics(env, cfg))):
        out.setdefault(name, []).append(row)
    return out


@pytest.fixture(scope="module")
def revenue_out(cfg):
    return _run(revenue, cfg)


@pytest.fixture(scope="module")
def fraud_out(cfg):
    return _run(fraud, cfg)


def test_generator_is_deterministic_and_the_same_split_across_readers(cfg):
    # given the run cut into 2 splits (ticks 0, 2, 4, ... and 1, 3, 5, ...), read by their own readers,
    short = cfg.generator.__class__(**{**cfg.generator.__dict__, "duration_s": 300})
    source = GeneratorSource(short)
    readers = [source.create_reader([s], i, 2) for i, s in enumerate(source.create_splits(2))]
    split_events = []
    for reader in readers:
        while (batches := reader.poll(10_000)) is not None:
            split_events += [e for b in batches for e in b.records]
    # then they emit exactly the events of one generator going through every tick, and again the same.
    whole = [e for _s, batch in EventGenerator(short).ticks() for e in batch]
    key = lambda e: (e["ts"], str(e))  # noqa: E731
    assert sorted(split_events, key=key) == sorted(whole, key=key)
    assert [e for _s, b in EventGenerator(short).ticks() for e in b] == whole
    # and every event is at most max_delay_ms older than the tick it is emitted in.
    for s, batch in EventGenerator(short).ticks():
        t0 = short.start_ms + s * 1000
        assert all(t0 - short.max_delay_ms <= e["ts"] < t0 + 1000 for e in batch if e["type"] != "product")


def test_revenue_per_region_equals_the_ground_truth(revenue_out, truth):
    rows = revenue_out["revenue"]
    got = {(r["region"], r["window_start"]): (r["revenue_cents"], r["orders"]) for r in rows}
    assert len(got) == len(rows), "a (region, window) emitted twice"
    assert got == {k: (c, truth.purchases[k]) for k, c in truth.revenue_cents.items()}
    assert all(r["window_end"] - r["window_start"] == 60_000 for r in rows)


def test_conversion_equals_a_brute_force_join(revenue_out, events, cfg):
    clicks, purchases = events
    expected = oracle.conversion(clicks, purchases, cfg.conversion_within_ms)
    rows = revenue_out["conversion"]
    got = {(r["region"], r["window_start"]): (r["clicks"], r["purchases"], r["converted"]) for r in rows}
    assert len(got) == len(rows)
    assert got == expected
    assert sum(c for _, _, c in got.values()) > 0.5 * sum(p for _, p, _ in got.values())  # sessions convert
    assert all(r["conversion_rate"] == round(r["converted"] / r["clicks"], 6) for r in rows if r["clicks"])


def test_a_dip_alert_for_every_minute_the_rule_justifies_and_every_injected_dip(revenue_out, truth, cfg):
    expected = oracle.dips(truth.revenue_cents, cfg.day_ms, cfg.dip_threshold)
    got = [(a["region"], a["window_start"]) for a in revenue_out.get("dips", [])]
    assert Counter(got) == Counter(expected)  # each once
    assert truth.dips and truth.dips <= set(got)


def test_every_injected_fraud_is_alerted_once_and_no_alert_the_rule_does_not_justify(fraud_out, events, truth, cfg):
    _clicks, purchases = events
    expected = oracle.fraud(purchases, cfg.fraud_threshold, cfg.fraud_count, cfg.fraud_within_ms)
    alerts = fraud_out.get("alerts", [])
    got = sorted((a["user_id"], tuple(a["purchase_ids"])) for a in alerts)
    assert got == expected
    assert len(truth.fraud_bursts) >= 3
    for burst in truth.fraud_bursts:
        covering = [a for a in alerts if set(burst["purchase_ids"]) & set(a["purchase_ids"])]
        assert [sorted(a["purchase_ids"]) for a in covering] == [sorted(burst["purchase_ids"])]
    assert all(a["total"] > 3 * cfg.fraud_threshold and a["last_ts"] - a["first_ts"] < cfg.fraud_within_ms
               for a in alerts)


def test_purchases_are_enriched_with_the_product_version_valid_at_their_time(fraud_out, events, cfg):
    _clicks, purchases = events
    gen = EventGenerator(cfg.generator, ("purchase",))
    for _ in gen.ticks():  # build the whole version history
        pass
    enriched = fraud_out["enriched"]
    assert sorted(p["purchase_id"] for p in enriched) == sorted(p["purchase_id"] for p in purchases)
    changed = 0
    for p in enriched:
        price, version = gen.version_at(p["product_id"], p["ts"])
        assert (p["product_version"], p["list_price"]) == (version, price), p
        assert p["amount"] == round(price * p["quantity"], 2)
        assert p["category"] == gen.catalog[p["product_id"]]["category"]
        changed += version > 0
    assert changed > 0  # some purchases saw an updated price
