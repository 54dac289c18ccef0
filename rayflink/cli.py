"""The ``rayflink`` command: run a job script (from a savepoint, attached or detached) or SQL
(``rayflink sql``); list, inspect, savepoint, stop and cancel jobs and read their logs on a Ray
cluster; start, inspect and stop the standing local cluster (``rayflink cluster``)."""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
from typing import Any

from rayflink.common.configuration import CONFIG_ENV  # JSON options the CLI hands to the job's environment
from rayflink.errors import JobExecutionError, RayflinkError
from rayflink.runtime.client import call, strip_ansi


def _manager(address: str | None) -> Any:
    """The job manager of the cluster at ``address`` (default: RAY_ADDRESS, or the standing local
    cluster); raises ClusterUnavailableError within seconds when there is none."""
    from rayflink.runtime.cluster import connect
    from rayflink.runtime.job_master import job_manager

    if address:
        os.environ["RAY_ADDRESS"] = address
    connect()
    return job_manager()


def cmd_run(args: argparse.Namespace) -> int:
    from rayflink.common.configuration import Configuration
    from rayflink.errors import ConfigurationError

    options: dict[str, Any] = {}
    try:
        if args.conf:
            options.update(Configuration.from_yaml(args.conf).to_dict())
        if args.parallelism is not None:
            options["parallelism.default"] = args.parallelism
        for item in args.define or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                print(f"rayflink run: -D takes key=value, got {item!r}", file=sys.stderr)
                return 2
            options[key.strip()] = value.strip()
        if args.from_savepoint:
            options["execution.savepoint.path"] = _savepoint_uri(args.from_savepoint)
        if args.allow_non_restored_state:
            options["execution.savepoint.ignore-unclaimed-state"] = True
        if args.detached:
            options["execution.attached"] = False
        options = Configuration(options).to_dict()  # every value checked here, named, before the job starts
    except (ConfigurationError, OSError) as exc:
        print(f"rayflink run: {exc}", file=sys.stderr)
        return 2
    if not os.path.isfile(args.script):
        print(f"rayflink run: no job script {args.script!r}", file=sys.stderr)
        return 2
    if args.address:
        os.environ["RAY_ADDRESS"] = args.address
    if args.detached and not os.environ.get("RAY_ADDRESS"):
        # a detached job needs a cluster that outlives this process: the standing local one
        from rayflink.runtime import local_cluster

        if local_cluster.running() is None:
            cluster = local_cluster.start()
            print(f"Started the standing local cluster at {cluster.address}; `rayflink cluster stop` stops it",
                  flush=True)
    from rayflink.runtime.cluster import ensure_ray

    ensure_ray()  # join (or start) Ray now: the job manager's connection is made while the script imports
    saved_env, saved_argv = os.environ.get(CONFIG_ENV), sys.argv
    os.environ[CONFIG_ENV] = json.dumps(options)
    sys.argv = [args.script] + args.args
    try:
        runpy.run_path(args.script, run_name="__main__")
    finally:
        sys.argv = saved_argv
        if saved_env is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = saved_env
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from rayflink.sql.client import interactive, run_statements, statements
    from rayflink.table import EnvironmentSettings, TableEnvironment

    if args.address:
        os.environ["RAY_ADDRESS"] = args.address
    settings = EnvironmentSettings.in_batch_mode() if args.batch else EnvironmentSettings.in_streaming_mode()
    t_env = TableEnvironment.create(settings)
    for item in args.define or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"rayflink sql: -D takes key=value, got {item!r}", file=sys.stderr)
            return 2
        t_env.get_config().set(key.strip(), value.strip())
    if args.execute:
        return run_statements(t_env, statements([args.execute]))
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as f:
                script = f.read()
        except OSError as exc:
            print(f"rayflink sql: {exc}", file=sys.stderr)
            return 2
        return run_statements(t_env, statements(script.splitlines()))
    return interactive(t_env)


def cmd_list(args: argparse.Namespace) -> int:
    jobs = call(_manager(args.address).list_jobs.remote())
    if not jobs:
        print("no jobs")
    for job in jobs:
        restarts = f"  ({job['restarts']} restart{'s' * (job['restarts'] != 1)})" if job.get("restarts") else ""
        print(f"{job['job_id']}  {job['status']:<10} {job['name']}{restarts}")
        reason = _failure_reason(job)
        if reason:
            print(f"    {'failed' if job['status'] == 'FAILED' else 'last failure'}: {reason}")
    return 0


def _failure_reason(job: dict) -> str | None:
    """The first line of why a job failed (or, running, why it last restarted)."""
    error = job.get("error")
    text = (error or {}).get("error") if isinstance(error, dict) else error
    if not text and job.get("failures"):
        text = job["failures"][-1]
    return strip_ansi(str(text)).strip().splitlines()[0][:300] if text else None


def cmd_status(args: argparse.Namespace) -> int:
    manager = _manager(args.address)
    metrics = call(manager.metrics.remote(args.job_id))
    print(f"job {metrics['job_id']} {metrics['name']!r}: {metrics['status']}")
    reason = _failure_reason(call(manager.status.remote(args.job_id)))
    if reason:
        print(f"  {'failed' if metrics['status'] == 'FAILED' else 'last failure'}: {reason}")
    for v in metrics["vertices"]:
        print(f"  [{v['id']}] {v['name']} x{v['parallelism']}: in {v['records_in']:,} out {v['records_out']:,} "
              f"({v['records_in_per_s']:,.0f}/s) backpressure {v['backpressure_ratio']:.0%}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    call(_manager(args.address).cancel.remote(args.job_id))
    print(f"cancelling {args.job_id}")
    return 0


def _savepoint_uri(path: str) -> str:
    return path if "://" in path else "file://" + os.path.abspath(path)


def _take_savepoint(args: argparse.Namespace, directory: str | None, stop: bool) -> str:
    """Savepoint ``args.job_id`` into ``directory`` (default ./savepoints/savepoint-JOB); return its path."""
    manager = _manager(args.address)
    uri = _savepoint_uri(directory or os.path.join("savepoints", f"savepoint-{args.job_id}"))
    method = manager.stop_with_savepoint if stop else manager.trigger_savepoint
    return call(method.remote(args.job_id, uri))


def cmd_savepoint(args: argparse.Namespace) -> int:
    print(f"savepoint of {args.job_id} completed: {_take_savepoint(args, args.directory, stop=False)}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    print(f"stopped {args.job_id} with savepoint {_take_savepoint(args, args.savepoint_path, stop=True)}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from rayflink.runtime.task_logging import job_log_lines

    call(_manager(args.address).status.remote(args.job_id))  # an unknown job id: one clear line
    lines = job_log_lines(args.job_id, args.task)
    for line in lines:
        print(line)
    if not lines:
        print(f"no log lines of job {args.job_id}" + (f" from a task named like {args.task!r}" if args.task else ""),
              file=sys.stderr)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from rayflink.runtime import local_cluster

    if args.action == "start":
        if args.num_cpus is not None and args.num_cpus < 1:
            print(f"rayflink cluster: --num-cpus takes a number of at least 1, got {args.num_cpus}", file=sys.stderr)
            return 2
        if args.port is not None and not 0 < args.port < 65536:
            print(f"rayflink cluster: --port takes a port number (1-65535), got {args.port}", file=sys.stderr)
            return 2
        was = local_cluster.running()
        started = was or local_cluster.start(num_cpus=args.num_cpus, port=args.port)
        print(f"{'already running' if was else 'started'}: the standing local cluster at {started.address} "
              f"(dashboard {started.dashboard_url}, auth {started.auth_mode})")
        return 0
    if args.action == "stop":
        stopped = local_cluster.stop()
        print(f"stopped the standing local cluster at {stopped.address}" if stopped
              else "no standing local cluster was running")
        return 0
    cluster = local_cluster.running()
    if cluster is None:
        print(f"no standing local cluster is running (looked in {local_cluster.cluster_file()}); "
              "`rayflink cluster start` starts one")
        return 1
    print(f"running at {cluster.address}: dashboard {cluster.dashboard_url}, auth {cluster.auth_mode}, "
          f"owned by pid {cluster.pid}, logs in {cluster.temp_dir}")
    jobs = call(_manager(None).list_jobs.remote())
    running = sum(1 for job in jobs if job["status"] in ("CREATED", "RUNNING", "CANCELING"))
    print(f"jobs: {running} running, {len(jobs) - running} ended")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rayflink", description="Run and manage rayflink jobs.")
    parser.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else the standing local "
                                           "cluster; `run` starts an embedded Ray when there is neither)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job script")
    run.add_argument("--conf", help="YAML file of Flink options (parallelism.default: 4, ...)")
    run.add_argument("-p", "--parallelism", type=int, help="parallelism.default")
    run.add_argument("-D", dest="define", action="append", help="an option: -D key=value")
    run.add_argument("-d", "--detached", action="store_true",
                     help="submit the job, print its id and return (on the standing local cluster unless "
                          "RAY_ADDRESS or --address names one: started if need be)")
    run.add_argument("-s", "--from-savepoint", help="start from this savepoint (its path, or its _metadata)")
    run.add_argument("-n", "--allow-non-restored-state", action="store_true",
                     help="skip savepoint state of operators the job no longer has")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)
    sql = sub.add_parser("sql", help="the SQL client: run a script (-f), a statement (-e), or type statements")
    sql.add_argument("-f", "--file", help="a script of ;-terminated statements")
    sql.add_argument("-e", "--execute", help="one statement")
    sql.add_argument("-D", dest="define", action="append", help="an option: -D key=value (as SET)")
    sql.add_argument("--batch", action="store_true", help="batch mode (execution.runtime-mode BATCH)")
    sql.set_defaults(func=cmd_sql)
    lst = sub.add_parser("list", help="list the jobs of the cluster")
    lst.set_defaults(func=cmd_list)
    status = sub.add_parser("status", help="a job's vertices: records, rates, backpressure")
    status.add_argument("job_id")
    status.set_defaults(func=cmd_status)
    savepoint = sub.add_parser("savepoint", help="take a savepoint of a running job")
    savepoint.add_argument("job_id")
    savepoint.add_argument("directory", nargs="?", help="where (default: ./savepoints/savepoint-JOB)")
    savepoint.set_defaults(func=cmd_savepoint)
    stop = sub.add_parser("stop", help="stop a job with a savepoint")
    stop.add_argument("-p", "--savepoint-path", help="where (default: ./savepoints/savepoint-JOB)")
    stop.add_argument("job_id")
    stop.set_defaults(func=cmd_stop)
    cancel = sub.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    cancel.set_defaults(func=cmd_cancel)
    logs = sub.add_parser("logs", help="a job's log lines, from its subtasks on every node")
    logs.add_argument("job_id")
    logs.add_argument("--task", help="only the subtasks of tasks whose name contains this")
    logs.set_defaults(func=cmd_logs)
    cluster = sub.add_parser("cluster", help="the standing local cluster: start, status, stop")
    cluster.add_argument("action", choices=("start", "status", "stop"))
    cluster.add_argument("--num-cpus", type=int, help="CPUs the cluster offers (default: the machine's)")
    cluster.add_argument("--port", type=int, help="its GCS port (default: a free one)")
    cluster.set_defaults(func=cmd_cluster)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RayflinkError as exc:  # one clear line, not a traceback: the message says what to do
        print(f"rayflink {args.command}: {exc}", file=sys.stderr)
        if isinstance(exc, JobExecutionError) and exc.cause:  # where the user's code failed
            print(exc.cause.rstrip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
