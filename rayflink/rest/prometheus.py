"""The Prometheus endpoint: Flink's metric names and labels, as Flink's PrometheusReporter exports them.

Names are ``flink_<scope>_<metric>`` with Flink's scopes (``jobmanager_job``, ``taskmanager_job_task``,
``taskmanager_job_task_operator``) and labels (``job_id``, ``job_name``, ``task_id``, ``task_name``,
``subtask_index``, ``tm_id``, ``operator_id``, ``operator_name``), so dashboards built for Flink
read rayflink. Like Flink's reporter, counters are exported as gauges (a restart resets them).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from rayflink.rest.views import JobView, subtask_metric_values

_TASK_LABELS = ["job_id", "job_name", "task_id", "task_name", "subtask_index", "tm_id"]
_OPERATOR_LABELS = _TASK_LABELS + ["operator_id", "operator_name"]
_TASK_METRICS = ("numRecordsIn", "numRecordsOut", "numRecordsInPerSecond", "numRecordsOutPerSecond",
                 "busyTimeMsPerSecond", "backPressuredTimeMsPerSecond", "idleTimeMsPerSecond",
                 "accumulateBackPressuredTimeMs")


class FlinkMetricsCollector(Collector):
    """Collects every job's metrics from ``read_jobs`` at each scrape."""

    def __init__(self, read_jobs: Callable[[], list[JobView]]) -> None:
        self._read_jobs = read_jobs

    def collect(self) -> Iterable[GaugeMetricFamily]:
        jobs = self._read_jobs()
        yield from self._job_metrics(jobs)
        yield from self._task_metrics(jobs)
        yield from self._operator_metrics(jobs)

    def _job_metrics(self, jobs: list[JobView]) -> Iterable[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(f"flink_jobmanager_job_{name}", help_, labels=["job_id", "job_name"])
                    for name, help_ in (
                        ("numRestarts", "restarts of the job"),
                        ("uptime", "milliseconds the job has been running"),
                        ("numberOfCompletedCheckpoints", "completed checkpoints"),
                        ("numberOfFailedCheckpoints", "failed checkpoints"),
                        ("numberOfInProgressCheckpoints", "checkpoints in progress"),
                        ("lastCheckpointDuration", "milliseconds the last completed checkpoint took"),
                        ("lastCheckpointSize", "bytes the last completed checkpoint stored"),
                        ("lastCheckpointFullSize", "bytes of the state of the last completed checkpoint"))}
        for job in jobs:
            labels = [job.job_id, job.name]
            completed = [c for c in job.checkpoints if c.get("status") == "COMPLETED" and not c.get("savepoint")]
            last = completed[-1] if completed else None
            counts = {"completed": len(completed),
                      "failed": sum(c.get("status") == "FAILED" for c in job.checkpoints)}
            counts.update(job.checkpoint_counts)
            families["numRestarts"].add_metric(labels, job.restarts)
            families["uptime"].add_metric(labels, job.duration_ms if job.state == "RUNNING" else 0)
            families["numberOfCompletedCheckpoints"].add_metric(labels, counts["completed"])
            families["numberOfFailedCheckpoints"].add_metric(labels, counts["failed"])
            families["numberOfInProgressCheckpoints"].add_metric(labels, counts.get("in_progress", 0))
            families["lastCheckpointDuration"].add_metric(labels, float(last["duration_ms"]) if last else -1)
            families["lastCheckpointSize"].add_metric(labels, float(last.get("size_bytes") or 0) if last else -1)
            families["lastCheckpointFullSize"].add_metric(labels, float(last.get("full_size_bytes") or 0)
                                                          if last else -1)
        yield from families.values()

    def _task_metrics(self, jobs: list[JobView]) -> Iterable[GaugeMetricFamily]:
        families = {name: GaugeMetricFamily(f"flink_taskmanager_job_task_{name}", name, labels=_TASK_LABELS)
                    for name in _TASK_METRICS}
        for job in jobs:
            for vertex in job.vertices:
                subtasks = job.subtask_metrics(vertex)
                values = subtask_metric_values(job, vertex)
                for i, s in enumerate(subtasks):
                    labels = [job.job_id, job.name, vertex.id, vertex.name, str(s["subtask"]),
                              str(s.get("actor_id", ""))]
                    for name in _TASK_METRICS:
                        column = values.get(name)
                        if column is not None and i < len(column):
                            families[name].add_metric(labels, column[i])
        yield from families.values()

    def _operator_metrics(self, jobs: list[JobView]) -> Iterable[GaugeMetricFamily]:
        fixed = {name: GaugeMetricFamily(f"flink_taskmanager_job_task_operator_{name}", name, labels=_OPERATOR_LABELS)
                 for name in ("numRecordsIn", "numRecordsOut", "currentInputWatermark", "currentOutputWatermark")}
        extra: dict[str, GaugeMetricFamily] = {}
        for job in jobs:
            for vertex in job.vertices:
                for s in job.subtask_metrics(vertex):
                    task = [job.job_id, job.name, vertex.id, vertex.name, str(s["subtask"]), str(s.get("actor_id", ""))]
                    for uid, op in s.get("operators", {}).items():
                        labels = task + [uid, str(op.get("name", uid))]
                        fixed["numRecordsIn"].add_metric(labels, float(op.get("records_in", 0)))
                        fixed["numRecordsOut"].add_metric(labels, float(op.get("records_out", 0)))
                        wm = op.get("watermark")
                        if isinstance(wm, (int, float)) and not math.isinf(wm):
                            fixed["currentOutputWatermark"].add_metric(labels, float(wm))
                        iw = s.get("input_watermark")
                        if isinstance(iw, (int, float)) and not math.isinf(iw):
                            fixed["currentInputWatermark"].add_metric(labels, float(iw))
                        for name, value in op.items():
                            if name in ("name", "records_in", "records_out", "side_records_out", "watermark"):
                                continue
                            if isinstance(value, bool) or not isinstance(value, (int, float)):
                                continue
                            metric = _prometheus_name(name)
                            family = extra.get(metric)
                            if family is None:
                                family = extra[metric] = GaugeMetricFamily(
                                    f"flink_taskmanager_job_task_operator_{metric}", name, labels=_OPERATOR_LABELS)
                            family.add_metric(labels, float(value))
        yield from fixed.values()
        yield from extra.values()


def _prometheus_name(name: str) -> str:
    """An operator metric's name as a Prometheus name: Flink's camelCase where we know it."""
    known = {"num_late_records_dropped": "numLateRecordsDropped", "num_records_in_errors": "numRecordsInErrors"}
    if name in known:
        return known[name]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def exposition(read_jobs: Callable[[], list[JobView]]) -> bytes:
    """The text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlinkMetricsCollector(read_jobs))
    return generate_latest(registry)
