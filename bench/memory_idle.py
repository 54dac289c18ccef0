"""Memory of an idle job: 4 chained operators at parallelism 2, a source emitting 1 record/s.

    python bench/memory_idle.py [--seconds 10]

Prints the RSS of every process of the run (driver, Ray's own processes, the job manager,
the task executors) and the total, after the job has been running idle for --seconds.
"""

from __future__ import annotations

import os
import time

from harness import Opt, emit, parse_args, start_ray
from peers._common import proc_tree


def rss_by_process(root: int) -> list[tuple[int, str, float]]:
    """(pid, name, RSS MB) for ``root`` and all its descendants."""
    out = []
    for pid, stat, rss in proc_tree(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        out.append((pid, cmd[:90] or stat[stat.index("(") + 1:stat.rindex(")")], round(rss / 2**20, 1)))
    return out


def main() -> None:
    args = parse_args(__doc__, seconds=Opt(10, type=float))
    start_ray()
    from rayflink.common import WatermarkStrategy
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(1))
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "slow")
     .map(lambda x: x + 1).filter(lambda x: x >= 0).map(lambda x: str(x)).sink_to(DiscardingSink()))
    client = env.execute_async("idle")
    time.sleep(args.seconds)  # a benchmark: the job idles on purpose for this long
    processes = rss_by_process(os.getpid())
    vertices = client.get_metrics()["vertices"]
    client.cancel()
    client.wait(30)
    for pid, name, mb in sorted(processes, key=lambda p: -p[2]):
        print(f"{mb:8.1f} MB  {pid:>7}  {name}")
    total = round(sum(mb for _, _, mb in processes), 1)
    job = round(sum(mb for _, name, mb in processes if "TaskExecutor" in name or "JobManager" in name
                    or "ray::IDLE" in name) , 1)
    emit({"system": "rayflink", "workload": "idle-memory", "tasks": [v["name"] for v in vertices],
          "parallelism": 2, "total_rss_mb": total, "processes": len(processes),
          "driver_rss_mb": next(mb for pid, _, mb in processes if pid == os.getpid()),
          "job_actors_rss_mb": job})


if __name__ == "__main__":
    main()
