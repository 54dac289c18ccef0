"""The rayflink command: run a script with options, then list and inspect jobs."""

from __future__ import annotations

import textwrap

import pytest

from rayflink.cli import main

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


def test_run_passes_parallelism_and_options_to_the_job(tmp_path, capsys):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import sys
        from rayflink.datastream import StreamExecutionEnvironment
        env = StreamExecutionEnvironment.get_execution_environment()
        print("parallelism", env.get_parallelism(), "timeout", env.get_buffer_timeout(), "args", sys.argv[1:])
        env.from_collection([1, 2, 3]).map(lambda x: x * 10).print("job")
        env.execute("cli-job")
    """))
    conf = tmp_path / "conf.yaml"
    conf.write_text("execution:\n  buffer-timeout: 7\n")
    assert main(["run", "-p", "3", "--conf", str(conf), str(script), "extra"]) == 0
    out = capsys.readouterr().out
    assert "parallelism 3 timeout 7 args ['extra']" in out
    assert sorted(line for line in out.splitlines() if line.startswith("job")) == ["job:1> 10", "job:2> 20",
                                                                                  "job:3> 30"]
    assert main(["list"]) == 0
    assert "FINISHED   cli-job" in capsys.readouterr().out


def test_savepoint_stop_and_run_from_the_savepoint(tmp_path, capsys):
    # Given a running keyed job counting per key,
    from rayflink.checkpoint.coordinator import read_metadata
    from rayflink.common import WatermarkStrategy
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.datastream import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    (env.from_source(DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(2_000)),
                     WatermarkStrategy.no_watermarks(), "numbers").uid("numbers")
     .key_by(lambda i: i % 10).reduce(lambda a, b: a + b).uid("sums").print("sum"))
    client = env.execute_async("to-stop")
    job_id = client.get_job_id()
    # when the CLI takes a savepoint and then stops the job with another,
    assert main(["savepoint", job_id, str(tmp_path / "sp1")]) == 0
    assert f"savepoint of {job_id} completed: file://{tmp_path}/sp1" in capsys.readouterr().out
    assert main(["stop", "--savepoint-path", str(tmp_path / "sp2"), job_id]) == 0
    assert f"stopped {job_id} with savepoint file://{tmp_path}/sp2" in capsys.readouterr().out
    assert client.wait(60) == "FINISHED"
    # then both hold the operators' state, and `run -s ... -n` starts a script from the second.
    for sp in ("sp1", "sp2"):
        assert {"numbers", "sums"} <= set(read_metadata(f"file://{tmp_path}/{sp}")["operators"]) | set(
            read_metadata(f"file://{tmp_path}/{sp}")["source_splits"])
    script = tmp_path / "resume.py"
    script.write_text(textwrap.dedent("""
        from rayflink.datastream import StreamExecutionEnvironment
        env = StreamExecutionEnvironment.get_execution_environment()
        print("restore", env.get_config().get_string("execution.savepoint.path", ""),
              env.get_config().get_string("execution.savepoint.ignore-unclaimed-state", ""))
    """))
    assert main(["run", "-s", str(tmp_path / "sp2"), "-n", str(script)]) == 0
    assert f"restore file://{tmp_path}/sp2 true" in capsys.readouterr().out


def test_an_unknown_job_id_prints_one_clear_line_and_exits_non_zero(capsys):
    # Given a cluster that has no job "no-such-job",
    from rayflink.runtime.cluster import ensure_ray

    ensure_ray()
    for command in (["status", "no-such-job"], ["cancel", "no-such-job"]):
        # when the CLI is asked about it,
        code = main(command)
        err = capsys.readouterr().err
        # then it exits non-zero with one line naming the job and how to find the real ones.
        assert code == 1
        assert err.count("\n") == 1, err
        assert err.startswith(f"rayflink {command[0]}: no job 'no-such-job' on this cluster")
        assert "rayflink list" in err and "Traceback" not in err and "\x1b[" not in err


def test_a_failing_job_script_ends_the_run_with_its_error_and_exit_code_1(tmp_path, capsys):
    # Given a job script whose map fails on one record,
    script = tmp_path / "fails.py"
    script.write_text(textwrap.dedent("""
        from rayflink.datastream import StreamExecutionEnvironment
        def explode(x):
            if x == 2:
                raise ValueError("two is not allowed")
            return x
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection([1, 2, 3]).map(explode).name("checker").print()
        env.execute("fails")
    """))
    # when the CLI runs it, then it exits 1 with the job's error and the user's traceback, uncoloured.
    assert main(["run", "-p", "1", str(script)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rayflink run: job 'fails'") and "two is not allowed" in err
    assert "raise ValueError" in err and "\x1b[" not in err
    # and `rayflink list` and `status` say why it failed, in one line
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    line = next(i for i, text in enumerate(listed.splitlines()) if "FAILED" in text and " fails" in text)
    reason = listed.splitlines()[line + 1]
    assert reason.startswith("    failed: ") and "two is not allowed" in reason
    job_id = listed.splitlines()[line].split()[0]
    assert main(["status", job_id]) == 0
    assert "  failed: " in capsys.readouterr().out


def test_bad_arguments_of_cluster_start_and_run_are_named_without_starting_anything(tmp_path, capsys):
    # Given values no cluster or job can take, when the CLI is given them, then it names them and exits 2.
    assert main(["cluster", "start", "--num-cpus", "0"]) == 2
    assert "rayflink cluster: --num-cpus takes a number of at least 1, got 0" in capsys.readouterr().err
    assert main(["cluster", "start", "--port", "70000"]) == 2
    assert "rayflink cluster: --port takes a port number (1-65535), got 70000" in capsys.readouterr().err
    assert main(["run", "-d", str(tmp_path / "missing.py")]) == 2
    assert f"rayflink run: no job script '{tmp_path / 'missing.py'}'" in capsys.readouterr().err
