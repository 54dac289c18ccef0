"""The REST views and meters without Ray: Flink's shapes from a job master's data, rates over a window."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from shapes import flink, mismatches

from rayflink.rest import views
from rayflink.rest.prometheus import exposition
from rayflink.rest.sampler import MetricsSampler, rates
from rayflink.rest.server import RestConfigurationError, RestEndpoint


def subtask(vertex_id: int, index: int, records_in: int, elapsed_s: float, backpressured_s: float = 0.0,
            idle_s: float | None = None) -> dict:
    m = {"vertex_id": vertex_id, "subtask": index, "status": "RUNNING", "actor_id": f"actor{index}",
         "records_in": records_in, "records_out": records_in, "elapsed_s": elapsed_s,
         "backpressure_ratio": backpressured_s / elapsed_s if elapsed_s else 0.0, "input_watermark": 1_000 + index,
         "operators": {"uid-a": {"name": "Map", "records_in": records_in, "records_out": records_in,
                                 "watermark": 999, "num_late_records_dropped": 3, "num_records_in_errors": 2}}}
    if idle_s is not None:
        m["idle_s"] = idle_s
    return m


def job_metrics(subtasks: list[dict]) -> dict:
    by_vertex: dict[int, list] = {}
    for s in subtasks:
        by_vertex.setdefault(s["vertex_id"], []).append(s)
    return {"vertices": [{"id": v, "subtasks": subs} for v, subs in by_vertex.items()]}


def a_job(metrics: dict | None = None, state: str = "RUNNING", rates_: dict | None = None) -> views.JobView:
    source = views.VertexView(index=1, id=views.vertex_hex_id("src"), name="Source: gen -> Map", parallelism=2,
                              max_parallelism=128, inputs=(), operators=("Source: gen", "Map"))
    window = views.VertexView(index=2, id=views.vertex_hex_id("win"), name="Window -> Sink", parallelism=2,
                              max_parallelism=128, inputs=((source.id, "hash"),), operators=("Window", "Sink"))
    history = ({"id": 1, "status": "COMPLETED", "savepoint": False, "trigger_timestamp": 1_700_000_000_000,
                "duration_ms": 12.5, "size_bytes": 2048, "full_size_bytes": 4096, "path": "file:///c/chk-1/_metadata",
                "failure": None},
               {"id": 2, "status": "FAILED", "savepoint": False, "trigger_timestamp": 1_700_000_001_000,
                "duration_ms": 600000, "size_bytes": 0, "full_size_bytes": 0, "path": None, "failure": "expired"},
               {"id": 3, "status": "COMPLETED", "savepoint": True, "trigger_timestamp": 1_700_000_002_000,
                "duration_ms": 30, "size_bytes": 100, "full_size_bytes": 100, "path": "file:///s/_metadata",
                "failure": None})
    metrics = metrics or job_metrics([subtask(1, 0, 100, 1.0), subtask(1, 1, 80, 1.0),
                                      subtask(2, 0, 90, 1.0, 0.5, 0.2), subtask(2, 1, 90, 1.0, 0.1, 0.3)])
    return views.JobView(
        job_id="ab" * 8, name="revenue", state=state, start_ms=1_700_000_000_000,
        end_ms=-1 if state == "RUNNING" else 1_700_000_010_000, now_ms=1_700_000_005_000, restarts=1,
        vertices=(source, window), metrics=metrics, rates=rates_ or {}, checkpoints=history,
        checkpoint_counts={}, config={"execution.checkpointing.interval": 1000, "state.backend.type": "rocksdb"},
        exceptions=({"name": "ValueError", "message": "operator 'Map' raised ValueError: bad", "timestamp_ms": 1,
                     "task": "operator 'Map'", "stacktrace": "Traceback ..."},))


# ---- shapes: every field Flink 2.3 answers, with its type -------------------------------------------

@pytest.mark.parametrize("name, build", [
    ("overview", lambda j: views.cluster_overview([j], [{"actor_id": "a", "index": 0, "tasks": 2}])),
    ("config", lambda j: views.dashboard_config()),
    ("jobs", lambda j: views.jobs([j])),
    ("jobs_overview", lambda j: views.jobs_overview([j])),
    ("job", lambda j: views.job_details(j)),
    ("job_plan", lambda j: views.plan(j)),
    ("vertex", lambda j: views.vertex_details(j, j.vertices[1])),
    ("vertex_backpressure", lambda j: views.backpressure(j, j.vertices[1])),
    ("vertex_watermarks", lambda j: views.watermarks(j, j.vertices[1])),
    ("vertex_subtasks_metrics_list", lambda j: views.subtasks_metrics(j, j.vertices[1], None)),
    ("vertex_subtasks_metrics", lambda j: views.subtasks_metrics(j, j.vertices[1], "numRecordsIn,numRecordsOutPerSecond")),
    ("checkpoints", lambda j: views.checkpoints(j)),
    ("checkpoints_config", lambda j: views.checkpoint_config(j)),
    ("checkpoints_details", lambda j: views.checkpoint_details(j, 1)),
    ("job_exceptions", lambda j: views.exceptions(j)),
    ("taskmanagers", lambda j: views.taskmanagers([{"actor_id": "a", "index": 0, "tasks": 2, "node_id": "n",
                                                     "rss_bytes": 1 << 20}])),
    ("jobmanager_config", lambda j: views.jobmanager_config({"rest.port": 8081})),
])
def test_answers_have_flinks_fields_and_types(name, build):
    answer = json.loads(json.dumps(build(a_job())))
    assert mismatches(flink(name), answer, free_keys=("tasks",)) == []


def test_the_checkpoint_history_is_newest_first_with_counts_and_latest():
    c = views.checkpoints(a_job())
    assert [h["id"] for h in c["history"]] == [3, 2, 1]
    assert c["counts"]["completed"] == 2 and c["counts"]["failed"] == 1
    assert c["latest"]["completed"]["id"] == 1 and c["latest"]["savepoint"]["id"] == 3
    assert c["latest"]["failed"]["failure_message"] == "expired"
    assert c["summary"]["checkpointed_size"]["max"] == 2048


def test_the_plan_names_upstream_vertices_and_ship_strategies():
    window, source = views.plan(a_job())["plan"]["nodes"]  # sinks first, as Flink lists them
    assert window["inputs"] == [{"num": 0, "id": source["id"], "ship_strategy": "HASH",
                                 "exchange": "pipelined_bounded"}]
    assert "inputs" not in source


def test_watermarks_per_subtask():
    assert views.watermarks(a_job(), a_job().vertices[0]) == [
        {"id": "0.currentInputWatermark", "value": "1000"}, {"id": "1.currentInputWatermark", "value": "1001"}]


# ---- meters: the rate now, not since start -----------------------------------------------------------

def test_a_source_that_slows_down_shows_its_recent_rate_not_its_average():
    # 160K records/s for 60 s, then 47K records/s for 10 s: the average since start is ~144K/s
    fast = subtask(1, 0, 160_000 * 60, 60.0)
    slow = subtask(1, 0, 160_000 * 60 + 47_000 * 10, 70.0, backpressured_s=0.0)
    assert rates(fast, slow).records_in_per_s == pytest.approx(47_000)
    assert rates(None, slow).records_in_per_s == pytest.approx((160_000 * 60 + 47_000 * 10) / 70)


def test_backpressure_and_busy_time_over_the_window():
    before = subtask(2, 0, 0, 100.0, backpressured_s=1.0, idle_s=50.0)
    after = subtask(2, 0, 1000, 110.0, backpressured_s=9.0, idle_s=51.0)
    r = rates(before, after)
    assert r.backpressured_ms_per_s == pytest.approx(800)
    assert r.idle_ms_per_s == pytest.approx(100)
    assert r.busy_ms_per_s == pytest.approx(100)


def test_a_restarted_subtask_starts_its_meters_again():
    before = subtask(1, 0, 5_000, 50.0)
    after = subtask(1, 0, 300, 3.0)  # a new attempt: its counters began again
    assert rates(before, after).records_in_per_s == pytest.approx(100)


def test_the_sampler_keeps_a_window_and_forgets_ended_jobs():
    answers = {"j": job_metrics([subtask(1, 0, 0, 0.5)])}
    sampler = MetricsSampler(lambda: answers, window_s=10.0)
    sampler.sample_once()
    answers["j"] = job_metrics([subtask(1, 0, 1000, 1.5)])
    sampler.sample_once()
    assert sampler.subtask_rates("j")[(1, 0)].records_in_per_s == pytest.approx(1000)
    answers.clear()
    sampler.sample_once()
    assert sampler.subtask_rates("j") == {} and sampler.latest("j") is None


def test_backpressure_levels_use_flinks_thresholds():
    job = a_job(rates_={(2, 0): rates(subtask(2, 0, 0, 1.0), subtask(2, 0, 10, 2.0, backpressured_s=0.6)),
                        (2, 1): rates(subtask(2, 1, 0, 1.0), subtask(2, 1, 10, 2.0, backpressured_s=0.05))})
    bp = views.backpressure(job, job.vertices[1])
    assert [s["backpressure-level"] for s in bp["subtasks"]] == ["high", "ok"]
    assert bp["backpressure-level"] == "high"


# ---- Prometheus ---------------------------------------------------------------------------------------

def test_prometheus_has_flinks_names_and_labels():
    text = exposition(lambda: [a_job()]).decode()
    assert 'flink_jobmanager_job_numberOfCompletedCheckpoints{job_id="abababababababab",job_name="revenue"} 1.0' in text
    assert "flink_jobmanager_job_numRestarts" in text
    assert "flink_jobmanager_job_lastCheckpointDuration" in text
    line = next(li for li in text.splitlines() if li.startswith("flink_taskmanager_job_task_numRecordsIn{"))
    for label in ("job_id=", "job_name=", "task_id=", "task_name=", "subtask_index=", "tm_id="):
        assert label in line
    assert "flink_taskmanager_job_task_operator_currentInputWatermark{" in text
    assert "flink_taskmanager_job_task_operator_numLateRecordsDropped{" in text
    assert "flink_taskmanager_job_task_operator_numRecordsInErrors{" in text
    assert "flink_taskmanager_job_task_backPressuredTimeMsPerSecond{" in text


# ---- the endpoint: bind address, token --------------------------------------------------------------

def test_binding_beyond_loopback_needs_a_token():
    with pytest.raises(RestConfigurationError, match="rest.authentication.token"):
        RestEndpoint(dict, list, {"rest.bind-address": "0.0.0.0"})


def test_a_bad_port_range_is_named():
    with pytest.raises(RestConfigurationError, match="rest.bind-port"):
        RestEndpoint(dict, list, {"rest.bind-port": "eighty"})


def test_with_a_token_every_request_must_carry_it():
    endpoint = RestEndpoint(dict, list, {"rest.bind-port": "0", "rest.authentication.token": "s3cret"})
    url = endpoint.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/overview", timeout=10)
        assert refused.value.code == 401
        req = urllib.request.Request(f"{url}/jobs", headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read()) == {"jobs": []}
    finally:
        endpoint.stop()


def test_the_endpoint_listens_on_loopback_only_by_default():
    endpoint = RestEndpoint(dict, list, {"rest.bind-port": "0"})
    url = endpoint.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/", timeout=10) as r:
            assert b"rayflink" in r.read()
    finally:
        endpoint.stop()
