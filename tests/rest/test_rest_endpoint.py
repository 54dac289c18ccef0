"""The REST API of a running job: every path answers with Flink's shapes and live values;
savepoints, stop and cancel work through it; /metrics carries the job."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import pytest

from rayflink.common import WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import SinkFunction, StreamExecutionEnvironment
from rayflink.testing.services import wait_until
from tests.rest.shapes import flink, mismatches

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


class _Discard(SinkFunction):
    def invoke(self, value, context):
        pass


def call(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def running_job(tmp_path, name: str):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(2000))
    env.from_source(source, WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(
        lambda v, ts: v), "gen").uid("gen").key_by(lambda v: v % 7).reduce(lambda a, b: a + b).uid("sum") \
        .add_sink(_Discard()).uid("sink")
    return env.execute_async(name)


@pytest.fixture
def job(tmp_path):
    client = running_job(tmp_path, "rest-job")
    yield client
    client.cancel()


def test_every_path_answers_with_flinks_shapes_and_live_values(job):
    base = job.get_rest_url()
    jid = job.job_id
    wait_until(lambda: call(f"{base}/jobs/{jid}/checkpoints")["counts"]["completed"] >= 2, timeout=60,
               what="two completed checkpoints")
    detail = wait_until(lambda: (d := call(f"{base}/jobs/{jid}"))["vertices"][-1]["metrics"]["read-records"] > 0
                        and d, timeout=60, what="records reaching the last vertex")
    vertices = [v["id"] for v in detail["vertices"]]
    assert [v["name"] for v in detail["vertices"]][0].startswith("gen")
    last = vertices[-1]
    answers = {
        "overview": "/overview", "config": "/config", "jobs": "/jobs", "jobs_overview": "/jobs/overview",
        "job": f"/jobs/{jid}", "job_plan": f"/jobs/{jid}/plan", "vertex": f"/jobs/{jid}/vertices/{last}",
        "vertex_backpressure": f"/jobs/{jid}/vertices/{last}/backpressure",
        "vertex_watermarks": f"/jobs/{jid}/vertices/{last}/watermarks",
        "vertex_subtasks_metrics_list": f"/jobs/{jid}/vertices/{last}/subtasks/metrics",
        "vertex_subtasks_metrics":
            f"/jobs/{jid}/vertices/{last}/subtasks/metrics?get=numRecordsIn,numRecordsOutPerSecond",
        "checkpoints": f"/jobs/{jid}/checkpoints", "checkpoints_config": f"/jobs/{jid}/checkpoints/config",
        "job_exceptions_running": f"/jobs/{jid}/exceptions", "taskmanagers": "/taskmanagers",
        "jobmanager_config": "/jobmanager/config",
    }
    for name, path in answers.items():
        answer = call(base + path)
        assert mismatches(flink(name), answer, free_keys=("tasks",)) == [], (name, path)
    # a checkpoint's details while it is in the history (web.checkpoints.history: the last 10,
    # 2 s of checkpoints every 200 ms: read at once, or again for a newer one if it left)
    details = wait_until(lambda: _latest_checkpoint_details(base, jid), timeout=30, what="a checkpoint's details")
    assert mismatches(flink("checkpoints_details"), details, free_keys=("tasks",)) == []
    overview = call(f"{base}/jobs/overview")["jobs"]
    assert {"jid": jid, "state": "RUNNING"}.items() <= next(j for j in overview if j["jid"] == jid).items()
    # live numbers: the source produces about 2,000 records/s, the meters see it
    rate = wait_until(lambda: sum(m["sum"] for m in call(
        f"{base}/jobs/{jid}/vertices/{vertices[0]}/subtasks/metrics?get=numRecordsOutPerSecond")) > 100,
        timeout=60, what="a source rate")
    assert rate
    watermarks = call(f"{base}/jobs/{jid}/vertices/{last}/watermarks")
    assert len(watermarks) == 2 and all(int(w["value"]) >= 0 for w in watermarks)
    assert call(f"{base}/jobs/{jid}/checkpoints/config")["interval"] == 200
    assert len(call(f"{base}/taskmanagers")["taskmanagers"]) >= 2


def _latest_checkpoint_details(base: str, jid: str) -> Any:
    cid = call(f"{base}/jobs/{jid}/checkpoints")["latest"]["completed"]["id"]
    try:
        return call(f"{base}/jobs/{jid}/checkpoints/details/{cid}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # trimmed from the history between the two calls
            return None
        raise


def test_a_savepoint_triggered_over_rest_completes(job, tmp_path):
    base, jid = job.get_rest_url(), job.job_id
    rid = call(f"{base}/jobs/{jid}/savepoints", "POST",
               {"target-directory": f"file://{tmp_path}/sp", "cancel-job": False})["request-id"]
    status = wait_until(lambda: (s := call(f"{base}/jobs/{jid}/savepoints/{rid}"))["status"]["id"] == "COMPLETED"
                        and s, timeout=120, what="the savepoint")
    location = status["operation"]["location"]
    assert location.startswith(f"file://{tmp_path}/sp") and os.path.exists(location.removeprefix("file://"))
    history = call(f"{base}/jobs/{jid}/checkpoints")
    assert history["latest"]["savepoint"]["external_path"] == location


def test_stop_with_savepoint_and_cancel_over_rest(tmp_path):
    stopped = running_job(tmp_path / "a", "rest-stop")
    base = stopped.get_rest_url()
    wait_until(lambda: call(f"{base}/jobs/{stopped.job_id}")["vertices"][-1]["metrics"]["read-records"] > 0,
               timeout=60, what="records flowing")
    rid = call(f"{base}/jobs/{stopped.job_id}/stop", "POST",
               {"targetDirectory": f"file://{tmp_path}/stop", "drain": False})["request-id"]
    wait_until(lambda: call(f"{base}/jobs/{stopped.job_id}/savepoints/{rid}")["status"]["id"] == "COMPLETED",
               timeout=120, what="stop with savepoint")
    wait_until(lambda: call(f"{base}/jobs/{stopped.job_id}")["state"] == "FINISHED", timeout=60, what="FINISHED")

    cancelled = running_job(tmp_path / "b", "rest-cancel")
    req = urllib.request.Request(f"{base}/jobs/{cancelled.job_id}?mode=cancel", method="PATCH")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 202
    wait_until(lambda: call(f"{base}/jobs/{cancelled.job_id}")["state"] == "CANCELED", timeout=60, what="CANCELED")


def test_unknown_jobs_and_vertices_answer_404_with_flinks_error_body(job):
    base = job.get_rest_url()
    with pytest.raises(urllib.error.HTTPError) as missing:
        call(f"{base}/jobs/0123456789abcdef")
    assert missing.value.code == 404 and "errors" in json.loads(missing.value.read())


def test_prometheus_metrics_carry_the_running_job(job):
    base, jid = job.get_rest_url(), job.job_id
    text = wait_until(lambda: (t := urllib.request.urlopen(f"{base}/metrics", timeout=30).read().decode())
                      and f'job_id="{jid}"' in t and "numberOfCompletedCheckpoints" in t and t,
                      timeout=60, what="the job in /metrics")
    lines = [li for li in text.splitlines() if li.startswith("flink_taskmanager_job_task_numRecordsIn{")
             and f'job_id="{jid}"' in li]
    assert len(lines) >= 4  # 2 vertices x 2 subtasks
