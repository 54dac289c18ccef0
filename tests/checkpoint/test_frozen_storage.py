"""A frozen checkpoint storage: checkpoints expire, the job runs on, cancellation completes."""

from __future__ import annotations

import time

from services import wait_until

from rayflink.common import WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.connectors.discarding import DiscardingSink
from rayflink.datastream import StreamExecutionEnvironment


def test_with_s3_frozen_checkpoints_expire_the_job_runs_on_and_cancel_completes_in_seconds(freezable_s3):
    # Given a job checkpointing every 200 ms to S3 (2 s checkpoint timeout, failures tolerated),
    bucket = freezable_s3.endpoint.create_bucket()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.enable_checkpointing(200)
    checkpoints = env.get_checkpoint_config()
    checkpoints.set_checkpoint_storage_dir(f"s3://{bucket}/chk")
    checkpoints.set_checkpoint_timeout(2_000)
    checkpoints.set_tolerable_checkpoint_failure_number(1_000)
    for key, value in {"s3.endpoint": freezable_s3.endpoint.endpoint_url, "s3.access-key": "testing",
                       "s3.secret-key": "testing"}.items():  # (boto3's default timeouts: 60 s, 3 retries)
        env.get_config().set_string(key, value)
    source = DataGeneratorSource(lambda i: (i % 10, 1), None, RateLimiterStrategy.per_second(1_000))
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "events")
     .key_by(lambda e: e[0]).reduce(lambda a, b: (a[0], a[1] + b[1]))
     .sink_to(DiscardingSink()))
    client = env.execute_async("frozen-s3")

    def records() -> int:
        return client.get_metrics()["vertices"][-1]["records_in"]

    try:
        wait_until(lambda: client.get_checkpoint_statistics()["counts"]["completed"] >= 2, timeout=60,
                   what="two completed checkpoints")
        # when the S3 endpoint freezes (every upload and every metadata write hangs),
        freezable_s3.freeze()
        frozen_at = time.monotonic()
        # then the pending checkpoint expires after its timeout and is aborted,
        failed = wait_until(lambda: client.get_checkpoint_statistics()["latest"]["failed"], timeout=60,
                            what="a checkpoint that expired while S3 was frozen")
        assert "expired before completing (execution.checkpointing.timeout 2000 ms)" in failed["failure"]
        expired_after_s = time.monotonic() - frozen_at
        # the job keeps processing records,
        before = records()
        wait_until(lambda: records() > before + 1_000, timeout=60, what="records processed while S3 is frozen")
        assert client.get_job_status() == "RUNNING"
        # and cancelling it completes while uploads still hang.
        asked = time.monotonic()
        client.cancel()
        wait_until(lambda: client.get_job_status() == "CANCELED", timeout=60, what="the job canceled")
        cancel_s = time.monotonic() - asked
        print(f"checkpoint expired {expired_after_s:.1f} s after the freeze; cancel took {cancel_s:.1f} s")
    finally:
        freezable_s3.thaw()
        if client.get_job_status() not in ("CANCELED", "FINISHED", "FAILED"):
            client.cancel()
        client.wait(60)
