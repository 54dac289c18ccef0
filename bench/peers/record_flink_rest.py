"""Record Flink's own REST responses, to check that rayflink's REST API has Flink's shapes.

Runs two Flink SQL jobs, one after the other, on PyFlink's local cluster (apache-flink from the
peers venv): one that runs with checkpoints until it is stopped with a savepoint, one that fails, asks every REST path that rayflink serves, and writes
each answer to ``tests/data/flink_rest/<name>.json``. tests/rest/test_rest_shapes.py compares
rayflink's answers with these by fields and types, not values.

    bash bench/peers/setup.sh && ~/.cache/rayflink-peers/bin/python bench/peers/record_flink_rest.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.request
from typing import Any

PORT = 18081
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "tests", "data", "flink_rest")


def call(path: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method=method, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def poll(path: str, done, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = call(path)
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def main() -> None:
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    work = tempfile.mkdtemp(prefix="flink-rest-")
    conf = Configuration()
    conf.set_string("rest.port", str(PORT))
    conf.set_string("execution.checkpointing.interval", "500 ms")
    conf.set_string("state.checkpoints.dir", f"file://{work}/chk")
    conf.set_string("restart-strategy.type", "none")
    conf.set_string("pipeline.auto-watermark-interval", "200 ms")
    t_env = TableEnvironment.create(
        EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build())
    t_env.execute_sql("""CREATE TABLE src (k INT, v BIGINT, ts AS LOCALTIMESTAMP,
                         WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                         WITH ('connector'='datagen','rows-per-second'='1000',
                               'fields.k.min'='0','fields.k.max'='9')""")
    t_env.execute_sql("CREATE TABLE snk (k INT, c BIGINT) WITH ('connector'='blackhole')")
    running = t_env.execute_sql("INSERT INTO snk SELECT k, COUNT(*) FROM src GROUP BY k")
    jid = str(running.get_job_client().get_job_id())

    out: dict[str, Any] = {}
    checkpoints = poll(f"/jobs/{jid}/checkpoints", lambda a: a["counts"]["completed"] >= 2)
    out["checkpoints"] = checkpoints
    out["checkpoints_config"] = call(f"/jobs/{jid}/checkpoints/config")
    cid = checkpoints["latest"]["completed"]["id"]
    out["checkpoints_details"] = call(f"/jobs/{jid}/checkpoints/details/{cid}")
    out["overview"] = call("/overview")
    out["config"] = call("/config")
    out["jobs"] = call("/jobs")
    out["jobs_overview"] = call("/jobs/overview")
    job = call(f"/jobs/{jid}")
    out["job"] = job
    out["job_plan"] = call(f"/jobs/{jid}/plan")
    vid = job["vertices"][-1]["id"]
    out["vertex"] = call(f"/jobs/{jid}/vertices/{vid}")
    out["vertex_backpressure"] = poll(f"/jobs/{jid}/vertices/{vid}/backpressure",
                                      lambda a: a.get("status") == "ok")
    out["vertex_watermarks"] = call(f"/jobs/{jid}/vertices/{vid}/watermarks")
    out["vertex_subtasks_metrics_list"] = call(f"/jobs/{jid}/vertices/{vid}/subtasks/metrics")
    out["vertex_subtasks_metrics"] = call(
        f"/jobs/{jid}/vertices/{vid}/subtasks/metrics?get=numRecordsIn,numRecordsOutPerSecond")
    out["job_exceptions_running"] = call(f"/jobs/{jid}/exceptions")
    out["taskmanagers"] = call("/taskmanagers")
    out["jobmanager_config"] = call("/jobmanager/config")
    trigger = call(f"/jobs/{jid}/savepoints", "POST", {"target-directory": f"file://{work}/sp", "cancel-job": False})
    out["savepoint_trigger"] = trigger
    out["savepoint_status"] = poll(f"/jobs/{jid}/savepoints/{trigger['request-id']}",
                                   lambda a: a["status"]["id"] == "COMPLETED")
    stop = call(f"/jobs/{jid}/stop", "POST", {"targetDirectory": f"file://{work}/stop", "drain": False})
    out["stop_trigger"] = stop
    out["stop_status"] = poll(f"/jobs/{jid}/savepoints/{stop['request-id']}",
                              lambda a: a["status"]["id"] == "COMPLETED")
    # each job of PyFlink's local mode has a mini cluster of its own: the failing one comes after
    running.get_job_client().get_job_execution_result().result()
    # (it restarts for ever, so that its mini cluster stays up to be asked, then is cancelled)
    t_env.get_config().set("restart-strategy.type", "fixed-delay")
    t_env.get_config().set("restart-strategy.fixed-delay.attempts", "1000")
    t_env.get_config().set("restart-strategy.fixed-delay.delay", "1 s")
    failing = t_env.execute_sql("INSERT INTO snk SELECT k, 10 / (k - k) FROM src")
    fid = str(failing.get_job_client().get_job_id())
    out["job_exceptions"] = poll(f"/jobs/{fid}/exceptions",
                                 lambda a: len(a["exceptionHistory"]["entries"]) >= 2)
    out["job_cancel"] = call(f"/jobs/{fid}?mode=cancel", "PATCH")
    os.makedirs(OUT, exist_ok=True)
    for name, answer in out.items():
        with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(answer, f, indent=1, sort_keys=True)
    print(f"recorded {len(out)} responses of Flink into {OUT}")


if __name__ == "__main__":
    main()
