"""Flink's REST answers, built from what a job master knows (pure functions, no Ray, no server).

Each function returns the JSON body of one path of Flink's REST API with Flink's field names
and types, so tools written for Flink's REST API read rayflink's (tests/rest compares the
shapes with answers recorded from Flink 2.3). Fields Flink has and rayflink does not measure
(bytes on the wire, JVM memory) are present with zero values rather than missing.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from rayflink.common import config_options
from rayflink.rest.sampler import SubtaskRates

FLINK_VERSION = "2.3.0"  # the REST API version whose shapes these are
RAYFLINK_REVISION = "rayflink"

TERMINAL = ("FINISHED", "FAILED", "CANCELED")
_EXECUTION_STATES = ("CREATED", "SCHEDULED", "DEPLOYING", "INITIALIZING", "RUNNING", "FINISHED",
                     "CANCELING", "CANCELED", "FAILED", "RECONCILING")
_JOB_STATES = ("INITIALIZING", "CREATED", "RUNNING", "FAILING", "FAILED", "CANCELLING", "CANCELED",
               "FINISHED", "RESTARTING", "SUSPENDED", "RECONCILING")


def vertex_hex_id(uid: str) -> str:
    """A vertex's 32-hex id as Flink shows it, stable across restarts: derived from its head's uid."""
    return hashlib.md5(uid.encode()).hexdigest()


@dataclass(frozen=True)
class VertexView:
    """One job vertex (task): a chain of operators."""

    index: int  # the job graph's vertex id
    id: str  # 32 hex digits
    name: str
    parallelism: int
    max_parallelism: int
    inputs: tuple[tuple[str, str], ...]  # (upstream vertex id, ship strategy)
    operators: tuple[str, ...]


@dataclass(frozen=True)
class JobView:
    """What the REST API reads of one job, taken at one moment."""

    job_id: str
    name: str
    state: str
    start_ms: int
    end_ms: int  # -1 while running
    now_ms: int
    restarts: int
    vertices: tuple[VertexView, ...]
    metrics: dict | None  # the job master's latest metrics() answer
    rates: dict[tuple[int, int], SubtaskRates]
    checkpoints: tuple[dict, ...]  # the coordinator's history, oldest first
    checkpoint_counts: dict[str, int]
    config: dict
    exceptions: tuple[dict, ...]  # {"name", "message", "timestamp_ms", "task", "subtask", "stacktrace"}
    executors: dict[str, dict] = field(default_factory=dict)  # actor id -> executor info

    @property
    def duration_ms(self) -> int:
        return (self.end_ms if self.end_ms >= 0 else self.now_ms) - self.start_ms

    def vertex(self, vertex_id: str) -> VertexView:
        for v in self.vertices:
            if v.id == vertex_id:
                return v
        raise KeyError(vertex_id)

    def subtask_metrics(self, vertex: VertexView) -> list[dict]:
        if not self.metrics:
            return []
        for v in self.metrics.get("vertices", ()):
            if v["id"] == vertex.index:
                return sorted(v["subtasks"], key=lambda s: s["subtask"])
        return []


def _task_counts(job: JobView, vertex: VertexView | None = None, upper: bool = False) -> dict[str, int]:
    vertices = [vertex] if vertex else list(job.vertices)
    counts = dict.fromkeys(_EXECUTION_STATES, 0)
    for v in vertices:
        by_subtask = {s["subtask"]: s.get("status", job.state) for s in job.subtask_metrics(v)}
        for s in range(v.parallelism):
            status = _execution_state(by_subtask.get(s), job.state)
            counts[status] += 1
    if upper:
        return counts
    out = {k.lower(): n for k, n in counts.items()}
    out["total"] = sum(counts.values())
    return out


def _execution_state(task_status: str | None, job_state: str) -> str:
    status = (task_status or job_state).upper()
    if status in _EXECUTION_STATES:
        return status
    if status == "RESTARTING":
        return "CANCELING"
    if status == "CANCELLING":
        return "CANCELING"
    return "RUNNING" if job_state == "RUNNING" else "CREATED" if job_state == "CREATED" else "FINISHED"


def jobs(jobs: list[JobView]) -> dict:
    """``GET /jobs``."""
    return {"jobs": [{"id": j.job_id, "status": j.state} for j in jobs]}


def job_overview_entry(job: JobView) -> dict:
    return {"jid": job.job_id, "name": job.name, "jobType": "STREAMING", "schedulerType": "Default",
            "start-time": job.start_ms, "end-time": job.end_ms, "duration": job.duration_ms,
            "state": job.state, "last-modification": job.end_ms if job.end_ms >= 0 else job.start_ms,
            "tasks": _task_counts(job), "pending-operators": 0}


def jobs_overview(jobs: list[JobView]) -> dict:
    """``GET /jobs/overview``."""
    return {"jobs": [job_overview_entry(j) for j in jobs]}


def cluster_overview(jobs: list[JobView], executors: list[dict]) -> dict:
    """``GET /overview``."""
    states = [j.state for j in jobs]
    busy = sum(e.get("tasks", 0) for e in executors)
    slots = sum(max(1, e.get("slots", 1)) for e in executors)
    return {"taskmanagers": len(executors), "slots-total": slots, "slots-available": max(0, slots - busy),
            "jobs-running": sum(s not in TERMINAL for s in states), "jobs-finished": states.count("FINISHED"),
            "jobs-cancelled": states.count("CANCELED"), "jobs-failed": states.count("FAILED"),
            "flink-version": FLINK_VERSION, "flink-commit": RAYFLINK_REVISION}


def dashboard_config(refresh_ms: int = 3000) -> dict:
    """``GET /config`` (the web UI's settings)."""
    import time

    offset_ms = -time.altzone * 1000 if time.daylight and time.localtime().tm_isdst else -time.timezone * 1000
    return {"refresh-interval": refresh_ms, "timezone-name": time.tzname[0], "timezone-offset": offset_ms,
            "flink-version": FLINK_VERSION, "flink-revision": RAYFLINK_REVISION,
            "features": {"web-submit": False, "web-cancel": True, "web-rescale": False, "web-history": False}}


def _vertex_io(job: JobView, vertex: VertexView, subtasks: list[dict] | None = None) -> dict:
    subs = job.subtask_metrics(vertex) if subtasks is None else subtasks
    done = job.state in TERMINAL
    bp = sum(int(s.get("backpressure_ratio", 0.0) * s.get("elapsed_s", 0.0) * 1000) for s in subs)
    idle = sum(int(s.get("idle_s", 0.0) * 1000) for s in subs)
    elapsed = sum(int(s.get("elapsed_s", 0.0) * 1000) for s in subs)
    return {"read-bytes": 0, "read-bytes-complete": done, "write-bytes": 0, "write-bytes-complete": done,
            "read-records": int(sum(s.get("records_in", 0) for s in subs)), "read-records-complete": done,
            "write-records": int(sum(s.get("records_out", 0) for s in subs)), "write-records-complete": done,
            "accumulated-backpressured-time": bp, "accumulated-idle-time": idle,
            "accumulated-busy-time": float(max(0, elapsed - bp - idle))}


def _plan_node(vertex: VertexView) -> dict:
    description = "<br/>".join(("+- " if i else "") + name for i, name in enumerate(vertex.operators))
    node: dict[str, Any] = {"id": vertex.id, "parallelism": vertex.parallelism, "operator": "",
                            "operator_strategy": "", "description": description, "optimizer_properties": {}}
    if vertex.inputs:
        node["inputs"] = [{"num": i, "id": src, "ship_strategy": strategy.upper(), "exchange": "pipelined_bounded"}
                          for i, (src, strategy) in enumerate(vertex.inputs)]
    return node


def plan(job: JobView) -> dict:
    """``GET /jobs/:jobid/plan``."""
    return {"plan": {"jid": job.job_id, "name": job.name, "type": "STREAMING",
                     "nodes": [_plan_node(v) for v in reversed(job.vertices)]}}  # sinks first, as Flink


def job_details(job: JobView) -> dict:
    """``GET /jobs/:jobid``."""
    timestamps = dict.fromkeys(_JOB_STATES, 0)
    timestamps.update(INITIALIZING=job.start_ms, CREATED=job.start_ms, RUNNING=job.start_ms)
    if job.end_ms >= 0:
        timestamps[job.state if job.state != "CANCELING" else "CANCELLING"] = job.end_ms
    vertices = []
    for v in job.vertices:
        vertices.append({"id": v.id, "slotSharingGroupId": vertex_hex_id("default"), "name": v.name,
                         "maxParallelism": v.max_parallelism, "parallelism": v.parallelism,
                         "status": _vertex_status(job, v), "start-time": job.start_ms,
                         "end-time": job.end_ms, "duration": job.duration_ms,
                         "tasks": _task_counts(job, v, upper=True), "metrics": _vertex_io(job, v)})
    return {"jid": job.job_id, "name": job.name, "isStoppable": job.state not in TERMINAL, "state": job.state,
            "job-type": "STREAMING", "schedulerType": "Default", "application-id": job.job_id,
            "start-time": job.start_ms, "end-time": job.end_ms, "duration": job.duration_ms,
            "maxParallelism": max((v.max_parallelism for v in job.vertices), default=-1), "now": job.now_ms,
            "timestamps": timestamps, "vertices": vertices, "status-counts": _task_counts(job, upper=True),
            "plan": plan(job)["plan"], "pending-operators": 0}


def _vertex_status(job: JobView, vertex: VertexView) -> str:
    counts = _task_counts(job, vertex, upper=True)
    return max(counts, key=lambda k: counts[k]) if any(counts.values()) else "CREATED"


def _stats(values: list[float]) -> dict:
    if not values:
        return dict.fromkeys(("min", "max", "avg", "sum", "median", "p25", "p75", "p95"), 0)
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"min": int(min(values)), "max": int(max(values)), "avg": int(sum(values) / len(values)),
            "sum": int(sum(values)), "median": int(statistics.median(values)), "p25": int(q[24]),
            "p75": int(q[74]), "p95": int(q[94])}


def vertex_details(job: JobView, vertex: VertexView) -> dict:
    """``GET /jobs/:jobid/vertices/:vertexid``."""
    subtasks = []
    subs = {s["subtask"]: s for s in job.subtask_metrics(vertex)}
    executors = job.executors
    for i in range(vertex.parallelism):
        s = subs.get(i, {})
        executor = executors.get(s.get("actor_id", ""), {})
        subtasks.append({
            "subtask": i, "status": _execution_state(s.get("status"), job.state), "attempt": job.restarts,
            "endpoint": f"{executor.get('node_ip', 'localhost')}:-1",
            "start-time": job.start_ms, "start_time": job.start_ms, "end-time": job.end_ms,
            "duration": int(s.get("elapsed_s", 0) * 1000), "metrics": _vertex_io(job, vertex, [s] if s else []),
            "taskmanager-id": s.get("actor_id", ""),
            "status-duration": {"CREATED": 0, "SCHEDULED": 0, "DEPLOYING": 0, "INITIALIZING": 0,
                                "RUNNING": int(s.get("elapsed_s", 0) * 1000)},
        })
    metrics = [st["metrics"] for st in subtasks]
    aggregated = {"metrics": {k: _stats([float(m[k]) for m in metrics])
                              for k in ("read-bytes", "write-bytes", "read-records", "write-records",
                                        "accumulated-backpressured-time", "accumulated-idle-time",
                                        "accumulated-busy-time")},
                  "status-duration": {state: _stats([float(st["status-duration"].get(state, 0)) for st in subtasks])
                                      for state in ("CREATED", "SCHEDULED", "DEPLOYING", "INITIALIZING",
                                                    "RUNNING")}}
    return {"id": vertex.id, "name": vertex.name, "parallelism": vertex.parallelism,
            "maxParallelism": vertex.max_parallelism, "now": job.now_ms, "subtasks": subtasks,
            "aggregated": aggregated}


def _level(ratio: float) -> str:
    """Flink's thresholds: ok up to 10%, low up to 50%, high above."""
    return "ok" if ratio <= 0.10 else "low" if ratio <= 0.5 else "high"


def backpressure(job: JobView, vertex: VertexView) -> dict:
    """``GET /jobs/:jobid/vertices/:vertexid/backpressure`` (from the backpressured-time meters)."""
    subtasks: list[dict[str, Any]] = []
    for i in range(vertex.parallelism):
        r = job.rates.get((vertex.index, i))
        ratio = (r.backpressured_ms_per_s / 1000) if r else 0.0
        idle = (r.idle_ms_per_s or 0.0) / 1000 if r else 0.0
        busy = (r.busy_ms_per_s / 1000) if r and r.busy_ms_per_s is not None else max(0.0, 1.0 - ratio - idle)
        level = _level(ratio)
        subtasks.append({"subtask": i, "backpressure-level": level, "backpressureLevel": level,
                         "ratio": round(ratio, 4), "idleRatio": round(idle, 4), "busyRatio": round(busy, 4)})
    worst = max((s["ratio"] for s in subtasks), default=0.0)
    return {"status": "ok", "backpressure-level": _level(worst), "backpressureLevel": _level(worst),
            "end-timestamp": job.now_ms, "subtasks": subtasks}


def watermarks(job: JobView, vertex: VertexView) -> list[dict]:
    """``GET /jobs/:jobid/vertices/:vertexid/watermarks``: each subtask's current input watermark."""
    out = []
    for s in job.subtask_metrics(vertex):
        wm = s.get("input_watermark")
        value = -9223372036854775808 if wm is None or (isinstance(wm, float) and math.isinf(wm)) else int(wm)
        out.append({"id": f"{s['subtask']}.currentInputWatermark", "value": str(value)})
    return out


def subtask_metric_values(job: JobView, vertex: VertexView) -> dict[str, list[float]]:
    """Flink's task metrics of each subtask of ``vertex``, by Flink's metric name."""
    values: dict[str, list[float]] = {}
    for s in job.subtask_metrics(vertex):
        r = job.rates.get((vertex.index, s["subtask"]))
        row = {"numRecordsIn": s.get("records_in", 0), "numRecordsOut": s.get("records_out", 0),
               "numRecordsInPerSecond": r.records_in_per_s if r else 0.0,
               "numRecordsOutPerSecond": r.records_out_per_s if r else 0.0,
               "backPressuredTimeMsPerSecond": r.backpressured_ms_per_s if r else 0.0,
               "accumulateBackPressuredTimeMs": s.get("backpressure_ratio", 0.0) * s.get("elapsed_s", 0.0) * 1000}
        if r and r.idle_ms_per_s is not None:
            row["idleTimeMsPerSecond"] = r.idle_ms_per_s
            row["busyTimeMsPerSecond"] = r.busy_ms_per_s or 0.0
        wm = s.get("input_watermark")
        if wm is not None and not (isinstance(wm, float) and math.isinf(wm)):
            row["currentInputWatermark"] = wm
        for name, value in row.items():
            values.setdefault(name, []).append(float(value))
    return values


def subtasks_metrics(job: JobView, vertex: VertexView, get: str | None) -> list[dict]:
    """``GET /jobs/:jobid/vertices/:vertexid/subtasks/metrics[?get=a,b]``: aggregated over subtasks."""
    values = subtask_metric_values(job, vertex)
    if not get:
        return [{"id": name} for name in sorted(values)]
    out = []
    for name in (n.strip() for n in get.split(",")):
        v = values.get(name)
        if not v:
            continue
        avg = sum(v) / len(v)
        skew = 0.0 if avg == 0 else (max(v) - avg) / avg * 100
        out.append({"id": name, "min": min(v), "max": max(v), "avg": avg, "sum": sum(v), "skew": skew})
    return out


def _checkpoint_entry(entry: dict, num_subtasks: int) -> dict:
    status = entry.get("status", "IN_PROGRESS")
    trigger = int(entry.get("trigger_timestamp") or 0)
    duration = int(entry.get("duration_ms") or 0)
    out = {"className": {"COMPLETED": "completed", "FAILED": "failed"}.get(status, "in_progress"),
           "id": entry["id"], "status": status, "is_savepoint": bool(entry.get("savepoint")),
           "savepointFormat": "CANONICAL" if entry.get("savepoint") else None,
           "trigger_timestamp": trigger, "latest_ack_timestamp": trigger + duration,
           "checkpointed_size": int(entry.get("size_bytes") or 0),
           "state_size": int(entry.get("full_size_bytes") or 0), "end_to_end_duration": duration,
           "alignment_buffered": 0, "processed_data": 0, "persisted_data": 0,
           "num_subtasks": num_subtasks,
           "num_acknowledged_subtasks": num_subtasks if status == "COMPLETED" else 0,
           "checkpoint_type": "SAVEPOINT" if entry.get("savepoint") else "CHECKPOINT", "tasks": {}}
    if status == "COMPLETED":
        path = entry.get("path") or ""  # Flink shows the checkpoint's directory, not its _metadata file
        out.update(external_path=path.removesuffix("/_metadata"), discarded=False)
    elif status == "FAILED":
        out.update(failure_timestamp=trigger + duration, failure_message=entry.get("failure") or "")
    return out


def _summary(values: list[float]) -> dict:
    if not values:
        return {"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0}
    s = sorted(values)

    def pct(p: float) -> float:
        return float(s[min(len(s) - 1, int(math.ceil(p * len(s))) - 1)])

    return {"min": int(s[0]), "max": int(s[-1]), "avg": int(sum(s) / len(s)), "p50": pct(0.5), "p90": pct(0.9),
            "p95": pct(0.95), "p99": pct(0.99), "p999": pct(0.999)}


def checkpoints(job: JobView) -> dict:
    """``GET /jobs/:jobid/checkpoints``: counts, summary of completed ones, latest, history (newest first)."""
    n = sum(v.parallelism for v in job.vertices)
    entries = [_checkpoint_entry(e, n) for e in job.checkpoints]
    completed = [e for e in entries if e["status"] == "COMPLETED"]
    counts = {"restored": job.restarts, "total": len(entries), "in_progress": 0,
              "completed": len(completed), "failed": sum(e["status"] == "FAILED" for e in entries)}
    counts.update(job.checkpoint_counts)

    def latest(pred: Any) -> dict | None:
        return next((e for e in reversed(entries) if pred(e)), None)

    summary = {key: _summary([float(e[key]) for e in completed])
               for key in ("checkpointed_size", "state_size", "end_to_end_duration", "alignment_buffered",
                           "processed_data", "persisted_data")}
    return {"counts": counts, "summary": summary,
            "latest": {"completed": latest(lambda e: e["status"] == "COMPLETED" and not e["is_savepoint"]),
                       "savepoint": latest(lambda e: e["status"] == "COMPLETED" and e["is_savepoint"]),
                       "failed": latest(lambda e: e["status"] == "FAILED"), "restored": None},
            "history": list(reversed(entries))}


def checkpoint_details(job: JobView, checkpoint_id: int) -> dict:
    """``GET /jobs/:jobid/checkpoints/details/:checkpointid``."""
    n = sum(v.parallelism for v in job.vertices)
    for e in job.checkpoints:
        if e["id"] == checkpoint_id:
            out = _checkpoint_entry(e, n)
            out["tasks"] = {v.id: {"id": checkpoint_id, "status": out["status"],
                                   "latest_ack_timestamp": out["latest_ack_timestamp"],
                                   "checkpointed_size": 0, "state_size": 0,
                                   "end_to_end_duration": out["end_to_end_duration"], "alignment_buffered": 0,
                                   "processed_data": 0, "persisted_data": 0, "num_subtasks": v.parallelism,
                                   "num_acknowledged_subtasks": out["num_acknowledged_subtasks"] // max(1, n)
                                   * v.parallelism} for v in job.vertices}
            return out
    raise KeyError(checkpoint_id)


def checkpoint_config(job: JobView) -> dict:
    """``GET /jobs/:jobid/checkpoints/config``."""
    c, o = job.config, config_options
    interval = o.get(c, o.CHECKPOINTING_INTERVAL)
    retention = o.get(c, o.EXTERNALIZED_CHECKPOINT_RETENTION)
    backend = o.get(c, o.STATE_BACKEND_TYPE)
    return {"mode": o.get(c, o.CHECKPOINTING_MODE).lower(),
            "interval": interval if interval and interval > 0 else 9223372036854775807,
            "timeout": o.get(c, o.CHECKPOINTING_TIMEOUT), "min_pause": o.get(c, o.CHECKPOINTING_MIN_PAUSE),
            "max_concurrent": o.get(c, o.MAX_CONCURRENT_CHECKPOINTS),
            "externalization": {"enabled": True, "delete_on_cancellation": retention != "RETAIN_ON_CANCELLATION"},
            "state_backend": "EmbeddedRocksDBStateBackend" if str(backend).lower() == "rocksdb"
            else "HashMapStateBackend",
            "checkpoint_storage": "FileSystemCheckpointStorage",
            "unaligned_checkpoints": o.get(c, o.UNALIGNED_CHECKPOINTS),
            "tolerable_failed_checkpoints": o.get(c, o.TOLERABLE_FAILED_CHECKPOINTS),
            "aligned_checkpoint_timeout": o.get(c, o.ALIGNED_CHECKPOINT_TIMEOUT),
            "checkpoints_after_tasks_finish": True,
            "state_changelog_enabled": False, "changelog_periodic_materialization_interval": 600000,
            "changelog_storage": "memory"}


def exceptions(job: JobView) -> dict:
    """``GET /jobs/:jobid/exceptions``: the failure history, newest first."""
    entries = [{"exceptionName": e["name"], "stacktrace": e.get("stacktrace") or e["message"],
                "timestamp": e["timestamp_ms"], "taskName": e.get("task") or "",
                "endpoint": "localhost:-1", "taskManagerId": e.get("executor") or "", "failureLabels": {},
                "concurrentExceptions": []} for e in reversed(job.exceptions)]
    return {"exceptionHistory": {"entries": entries, "truncated": False}}


def taskmanagers(executors: list[dict]) -> dict:
    """``GET /taskmanagers``: the task executors (one per slot index) with their Ray node and memory."""
    out = []
    for e in executors:
        rss = int(e.get("rss_bytes", 0))
        resource = {"cpuCores": 0.0, "taskHeapMemory": rss, "taskOffHeapMemory": 0, "managedMemory": 0,
                    "networkMemory": 0, "extendedResources": {}}
        out.append({"id": e["actor_id"], "path": f"ray://{e.get('node_id', '')}/task-executor-{e['index']}",
                    "dataPort": -1, "jmxPort": -1, "timeSinceLastHeartbeat": int(e.get("heartbeat_ms", 0)),
                    "slotsNumber": max(1, e.get("slots", 1)),
                    "freeSlots": max(0, e.get("slots", 1) - e.get("tasks", 0)),
                    "assignedTasks": e.get("tasks", 0), "totalResource": resource, "freeResource": dict(resource),
                    "hardware": {"cpuCores": e.get("cpus", 0), "physicalMemory": e.get("memory_total", 0),
                                 "freeMemory": e.get("memory_available", 0), "managedMemory": 0},
                    "memoryConfiguration": dict.fromkeys(
                        ("frameworkHeap", "taskHeap", "frameworkOffHeap", "taskOffHeap", "networkMemory",
                         "managedMemory", "jvmMetaspace", "jvmOverhead", "totalFlinkMemory",
                         "totalProcessMemory"), 0),
                    "node_id": e.get("node_id", ""), "node_ip": e.get("node_ip", ""), "pid": e.get("pid", 0),
                    "rss_bytes": rss})
    return {"taskmanagers": out}


def jobmanager_config(config: dict) -> list[dict]:
    """``GET /jobmanager/config``: the cluster's options as key/value strings."""
    return [{"key": k, "value": str(v)} for k, v in sorted(config.items())]
