"""The rayflink command: run a script with options, then list and inspect jobs."""

from __future__ import annotations

import textwrap

from rayflink.cli import main


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
