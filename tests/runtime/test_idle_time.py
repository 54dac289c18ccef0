"""Tasks measure their idle time (waiting for input), from which Flink's busy time follows."""

from __future__ import annotations

import pytest

from rayflink.common import WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import SinkFunction, StreamExecutionEnvironment
from rayflink.testing.services import wait_until

pytestmark = pytest.mark.integration  # these tests run jobs on Ray


class _Discard(SinkFunction):
    def invoke(self, value, context):
        pass


def test_a_task_fed_slowly_is_mostly_idle_and_reports_it():
    e = StreamExecutionEnvironment.get_execution_environment()
    e.set_parallelism(1)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(200))
    e.from_source(source, WatermarkStrategy.no_watermarks(), "slow").disable_chaining() \
        .map(lambda v: v).disable_chaining().add_sink(_Discard())
    client = e.execute_async("idle")
    try:
        def settled():
            subs = [v["subtasks"][0] for v in client.get_metrics()["vertices"]]
            return subs if all(s["elapsed_s"] > 2 for s in subs) else None

        first = wait_until(settled, timeout=60, what="two seconds of running")
        later = wait_until(lambda: (s := settled()) and all(b["elapsed_s"] > a["elapsed_s"] + 2
                                                             for a, b in zip(first, s)) and s,
                           timeout=60, what="two more seconds")
        for a, b in zip(first, later):  # 200 records/s leave every task, the source too, waiting most of the time
            elapsed = b["elapsed_s"] - a["elapsed_s"]
            # (a wait that spans a sample counts in the later one, so a share may pass 1 a little)
            assert 0.3 < (b["idle_s"] - a["idle_s"]) / elapsed <= 1.2, (a, b)
            assert b["backpressured_s"] - a["backpressured_s"] < 0.5 * elapsed
    finally:
        client.cancel()
