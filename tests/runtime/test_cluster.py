"""The embedded local Ray: who may reach it, and how long it lives (each test starts its own
Ray in a fresh process, since a process starts Ray once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_fresh(script: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``script`` in a new Python process without RAY_ADDRESS (so it embeds its own Ray)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_the_embedded_ray_listens_on_loopback_only():
    # Given a process that starts the embedded Ray as a job would,
    result = run_fresh("""
        import json, psutil
        from rayflink.runtime.cluster import ensure_ray
        from rayflink.runtime.job_master import job_manager
        import ray
        ensure_ray()
        ray.get(job_manager().list_jobs.remote())  # the job manager's worker is up too
        tree = {p.pid: p.name() for p in [psutil.Process()] + psutil.Process().children(recursive=True)}
        listening = [(tree[c.pid], c.laddr.ip, c.laddr.port) for c in psutil.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.pid in tree]
        print(json.dumps(listening))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    listening = json.loads(result.stdout.strip().splitlines()[-1])
    # then its GCS, raylet and workers listen, and every one of their sockets is bound to loopback.
    names = {name for name, _ip, _port in listening}
    assert {"gcs_server", "raylet"} <= names, listening
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for _name, ip, _port in listening), listening


def test_a_first_job_submitted_from_a_thread_that_ends_keeps_running():
    # Given a first job submitted from a worker thread (which starts the embedded Ray) that then ends,
    result = run_fresh("""
        import threading
        from rayflink.datastream import StreamExecutionEnvironment
        from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
        from rayflink.common import WatermarkStrategy

        iterators = []

        def submit():
            env = StreamExecutionEnvironment.get_execution_environment()
            env.set_parallelism(1)
            source = DataGeneratorSource(lambda i: i, 300, RateLimiterStrategy.per_second(100))
            stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "slow").map(lambda x: x * 2)
            iterators.append(stream.execute_and_collect())

        worker = threading.Thread(target=submit)
        worker.start()
        worker.join()
        # when the main thread reads the results after the thread is gone (the job runs ~3 s),
        with iterators[0] as results:
            print("collected", sorted(results) == [2 * i for i in range(300)])
    """)
    # then the job completes and every record arrives: Ray did not die with the thread.
    assert result.returncode == 0, result.stderr[-3000:]
    assert "collected True" in result.stdout
