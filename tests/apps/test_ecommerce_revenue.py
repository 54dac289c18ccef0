"""The main job: every (category, minute) revenue equals a brute-force sum over the same orders."""

from __future__ import annotations

from collections import defaultdict

import pytest

from rayflink.apps.ecommerce_revenue import MINUTE_MS, build, order
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.testing import collect

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


def test_revenue_per_category_minute_matches_brute_force():
    n = 20_000
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    out = collect(build(env, n))
    expected: dict = defaultdict(lambda: [0.0, 0])
    for i in range(n):
        o = order(i)
        cell = expected[(o["category"], o["ts"] - o["ts"] % MINUTE_MS)]
        cell[0] += o["amount"]
        cell[1] += 1
    got = {(c, m): (r, k) for c, m, r, k in out}
    assert len(out) == len(got) == len(expected)
    for key, (revenue, count) in expected.items():
        assert got[key] == (round(revenue, 2), count)
