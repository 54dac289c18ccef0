"""B5 CEP: the seed's fraud pattern — 3 consecutive failed logins, followed by a purchase, within
5 minutes — over N events of U users, parallelism 2.

    python bench/b5_cep.py --events 2000000 --users 100000

Events: sequence number j -> (user j % U, event time j * 0.6 ms — one event per user per minute —,
kind: 35% failed login, 10% purchase, else a good login, by a multiplicative hash of j), emitted in
event-time order under a 1 s bounded-out-of-orderness watermark. The alerts are checked against a
plain Python reference. Prints one JSON line: events/s, alert latency percentiles (ms, from the
purchase entering the job to its alert, watermark wait included), peak RSS of the process tree, and
the CEP operator's gauge of live partial matches (final and maximum, summed over subtasks): ``within``
prunes them, so the maximum stays near the number of users, not the number of events.
"""

from __future__ import annotations

import time

from harness import emit, parse_args, percentiles, rss_sampler, start_ray

WINDOW_MS = 5 * 60_000
FAILED, PURCHASE, OK = "login_failed", "purchase", "login_ok"


def kind_of(j: int) -> str:
    x = (j * 0x9E3779B97F4A7C15) % 2**64  # splitmix64-style mixing: independent kinds per user
    x = ((x ^ (x >> 31)) * 0xBF58476D1CE4E5B9) % 2**64
    h = (x ^ (x >> 27)) % 100
    return FAILED if h < 35 else PURCHASE if h < 45 else OK


class B5Event:
    """Sequence number (1-based) -> {user, ts, kind, amount, born}; ``born`` is the wall clock in ns."""

    def __init__(self, users: int) -> None:
        self.users = users

    def __call__(self, i: int) -> dict:
        j = i - 1
        return {"user": j % self.users, "ts": j * 6 // 10, "kind": kind_of(j), "amount": float(j % 997),
                "born": time.time_ns()}


def reference_alerts(events: int, users: int) -> int:
    """The number of matches, by scanning each user's events (NO_SKIP: one per starting failed login)."""
    per_user: dict[int, list] = {}
    for j in range(events):
        per_user.setdefault(j % users, []).append((j * 6 // 10, kind_of(j)))
    alerts = 0
    for seq in per_user.values():
        for i in range(len(seq) - 2):
            if seq[i][1] == seq[i + 1][1] == seq[i + 2][1] == FAILED and seq[i + 2][0] - seq[i][0] < WINDOW_MS:
                for ts, kind in seq[i + 3:]:
                    if ts - seq[i][0] >= WINDOW_MS:
                        break
                    if kind == PURCHASE:
                        alerts += 1
                        break
    return alerts


def run(events: int, users: int, parallelism: int) -> dict:
    t0 = time.perf_counter()
    sampler = rss_sampler()
    ray_s = start_ray()
    from rayflink.cep import CEP, Pattern
    from rayflink.common import Duration, Time, WatermarkStrategy
    from rayflink.datastream import StreamExecutionEnvironment

    fraud = (Pattern.begin("failed").where(lambda e, _: e["kind"] == FAILED).times(3).consecutive()
             .followed_by("purchase").where(lambda e, _: e["kind"] == PURCHASE)
             .within(Time.minutes(5)))

    def alert(match: dict) -> float:
        purchase = match["purchase"][0]
        return (time.time_ns() - purchase["born"]) / 1e6

    def job(n: int):
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(parallelism)
        strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1))
                    .with_timestamp_assigner(lambda e, _: e["ts"]))
        events_ = env.from_sequence(1, n).map(B5Event(users)).assign_timestamps_and_watermarks(strategy)
        return CEP.pattern(events_.key_by(lambda e: e["user"]), fraud).select(alert).uid("b5-cep")

    with job(1000).execute_and_collect("B5-warmup") as warm:  # the first job starts the task executors
        list(warm)
    t1 = time.perf_counter()
    with job(events).execute_and_collect("B5") as results:
        latencies = list(results)
        metrics = results.client.get_metrics() if hasattr(results.client, "get_metrics") else None
    t2 = time.perf_counter()
    sampler.stop()
    live = peak = late = 0
    for v in (metrics or {}).get("vertices", []):
        for s in v["subtasks"]:
            op = s["operators"].get("b5-cep")
            if op is not None:
                live += op["live_partial_matches"]
                peak += op["max_live_partial_matches"]
                late += op["num_late_records_dropped"]
    expected = reference_alerts(events, users)
    if len(latencies) != expected or late:
        raise SystemExit(f"B5 wrong: {len(latencies)} alerts (expected {expected}), {late} late events")
    return {"system": "rayflink", "workload": "B5", "events": events, "users": users, "parallelism": parallelism,
            "seconds": round(t2 - t0, 3), "job_s": round(t2 - t1, 3), "ray_start_s": round(ray_s, 3),
            "events_per_s": round(events / (t2 - t0)), "job_events_per_s": round(events / (t2 - t1)),
            "alerts": len(latencies), "latency_ms": percentiles(latencies),
            "live_partial_matches_at_end": live, "max_live_partial_matches": peak,
            "peak_rss_mb": sampler.peak_mb}


def main() -> None:
    args = parse_args(__doc__, events=2_000_000, users=100_000, parallelism=2)
    emit(run(args.events, args.users, args.parallelism))


if __name__ == "__main__":
    main()
