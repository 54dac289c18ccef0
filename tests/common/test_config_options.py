"""Configuration options: Flink's value syntax, checks when set and at submission, one reader.

Unit tests: none of them starts Ray.
"""

from __future__ import annotations

import ast
import pathlib
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayflink.common import config_options as options
from rayflink.common.configuration import Configuration, checkpoint_interval_ms, debloat_target_s
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.common.time import Duration, Time
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.errors import ConfigurationError, ConfigurationWarning, GraphBuildError
from rayflink.runtime.restart import RestartBackoff

ROOT = pathlib.Path(__file__).resolve().parents[2]


def env_with(**conf) -> StreamExecutionEnvironment:
    """An environment whose configuration holds ``conf``."""
    return StreamExecutionEnvironment(Configuration(conf))


# ---- value syntax -------------------------------------------------------------------------------

DURATION_UNITS = {"ms": 1, "milliseconds": 1, "s": 1000, "sec": 1000, "seconds": 1000, "min": 60_000,
                  "m": 60_000, "minutes": 60_000, "h": 3_600_000, "hours": 3_600_000, "d": 86_400_000,
                  "days": 86_400_000, "": 1}


@given(st.integers(0, 10_000), st.sampled_from(sorted(DURATION_UNITS)), st.sampled_from(["", " ", "  "]),
       st.booleans())
def test_a_duration_reads_as_flink_reads_it(n, unit, space, upper):
    text = f"{n}{space}{unit.upper() if upper else unit}"
    assert options.parse_duration_ms(text) == n * DURATION_UNITS[unit]
    assert options.get({"execution.buffer-timeout": text}, options.BUFFER_TIMEOUT) == n * DURATION_UNITS[unit]


def test_durations_from_numbers_time_duration_and_timedelta():
    import datetime

    assert options.parse_duration_ms(250) == 250
    assert options.parse_duration_ms(Time.seconds(2)) == 2000
    assert options.parse_duration_ms(Duration.of_minutes(1)) == 60_000
    assert options.parse_duration_ms(datetime.timedelta(milliseconds=1500)) == 1500
    for bad in ("soon", "10 parsecs", "ms", True, None, [1]):
        with pytest.raises(ValueError, match="as a duration"):
            options.parse_duration_ms(bad)


@given(st.integers(0, 1 << 20), st.sampled_from([("", 1), ("b", 1), ("kb", 1 << 10), ("k", 1 << 10),
                                                  ("mb", 1 << 20), ("m", 1 << 20), ("gb", 1 << 30),
                                                  ("g", 1 << 30), ("tb", 1 << 40), ("mib", 1 << 20)]),
       st.booleans(), st.booleans())
def test_a_memory_size_reads_as_flink_reads_it(n, unit, space, upper):
    label, factor = unit
    text = f"{n}{' ' if space else ''}{label.upper() if upper else label}"
    assert options.get({"state.backend.rocksdb.block.cache-size": text},
                       options.ROCKSDB_BLOCK_CACHE_SIZE) == n * factor


@pytest.mark.parametrize("text, value", [("true", True), ("TRUE", True), (" False ", False), (True, True),
                                         (False, False)])
def test_booleans_are_true_or_false_in_any_case(text, value):
    assert options.get({"pipeline.operator-chaining": text}, options.OPERATOR_CHAINING) is value


@pytest.mark.parametrize("bad", ["yes", "1", 1, "enabled"])
def test_anything_else_is_not_a_boolean(bad):
    with pytest.raises(ConfigurationError, match=r"pipeline.operator-chaining: cannot read .* as a boolean; "
                                                 "expected true or false"):
        Configuration().set_string("pipeline.operator-chaining", bad)


def test_there_is_one_boolean_parser():
    # the boolean parsers of configuration, debloating, state backends, savepoints and S3 are one
    sources = [p for d in ("rayflink", "operators") for p in (ROOT / d).rglob("*.py")]
    for path in sources:
        if path.name == "config_options.py":
            continue
        text = path.read_text()
        assert 'lower() == "true"' not in text and "lower() != \"true\"" not in text, path
        assert '("true", "1", "yes"' not in text, path


# ---- item 1 and 4: enumerations -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["exactly_once", "Exactly_Once", "EXACTLY_ONCE", CheckpointingMode.EXACTLY_ONCE])
def test_checkpointing_mode_is_case_insensitive(text):
    conf = Configuration().set_string("execution.checkpointing.mode", text)
    assert conf.get(options.CHECKPOINTING_MODE) == "EXACTLY_ONCE"
    assert StreamExecutionEnvironment(conf).get_checkpoint_config().get_checkpointing_mode() \
        is CheckpointingMode.EXACTLY_ONCE


def test_a_subtask_reads_a_lower_case_exactly_once_as_exactly_once():
    # the runtime's own read of the option, on a configuration that bypassed every check
    from rayflink.runtime.deployment import TaskDeployment
    from rayflink.runtime.task import StreamTask

    for mode, aligned in (("exactly_once", True), ("at_least_once", False)):
        d = TaskDeployment(job_id="j", job_name="j", vertex_id=0, vertex_name="v", subtask_index=0, parallelism=1,
                           max_parallelism=128, nodes=[], chained_edges=[], input_channels=[0, 0],
                           config={"execution.checkpointing.mode": mode}, working_dir="/tmp")
        assert StreamTask(d, None).exactly_once is aligned


@pytest.mark.parametrize("key, bad, accepted", [
    ("execution.checkpointing.mode", "exactly-once", "EXACTLY_ONCE, AT_LEAST_ONCE"),
    ("execution.runtime-mode", "batchh", "STREAMING, BATCH, AUTOMATIC"),
    ("state.backend.type", "rockdb", "hashmap, rocksdb"),
    ("restart-strategy.type", "fixed-dealy", "none, fixed-delay, failure-rate, exponential-delay"),
])
def test_an_enumeration_refuses_anything_else_at_once_naming_the_option_and_values(key, bad, accepted):
    with pytest.raises(ConfigurationError, match=f"{key}: '{bad}' is not accepted; expected one of {accepted}") \
            as info:
        Configuration().set_string(key, bad)
    assert (info.value.key, info.value.value) == (key, bad)


def test_runtime_mode_batch_in_lower_case_runs_batch():
    # BATCH refuses an unbounded source: in STREAMING (what 'batch' used to mean) the plan was accepted
    from rayflink.common import WatermarkStrategy
    from rayflink.connectors.datagen import DataGeneratorSource

    e = env_with(**{"execution.runtime-mode": "batch"})
    e.from_source(DataGeneratorSource(lambda i: i, None), WatermarkStrategy.no_watermarks(), "gen").print()
    with pytest.raises(GraphBuildError, match="BATCH mode needs bounded sources"):
        e.get_execution_plan()


# ---- item 6: checkpointing through configuration ------------------------------------------------------


@pytest.mark.parametrize("interval", ["500 ms", 500, "1 s"])
def test_checkpointing_through_configuration_gets_the_default_storage(interval):
    e = env_with(**{"execution.checkpointing.interval": interval})
    e.from_collection([1, 2]).print()
    graph = e.get_stream_graph()
    assert graph.config["state.checkpoints.dir"] == options.default_checkpoint_dir()
    e2 = StreamExecutionEnvironment.get_execution_environment()
    e2.enable_checkpointing(500)
    assert e2.get_checkpoint_config().get_checkpoint_storage_dir() == options.default_checkpoint_dir()


def test_an_explicit_checkpoint_directory_is_kept_and_no_checkpointing_gets_none():
    e = env_with(**{"execution.checkpointing.interval": "1 s", "state.checkpoints.dir": "file:///tmp/mine"})
    e.from_collection([1]).print()
    assert e.get_stream_graph().config["state.checkpoints.dir"] == "file:///tmp/mine"
    e = env_with()
    e.from_collection([1]).print()
    assert "state.checkpoints.dir" not in e.get_stream_graph().config


# ---- item 7 and 14: every option checked, Flink's durations ------------------------------------------


def test_a_buffer_timeout_duration_is_accepted():
    e = env_with(**{"execution.buffer-timeout": "100 ms"})
    assert e.get_buffer_timeout() == 100
    assert env_with(**{"execution.buffer-timeout": "-1"}).get_buffer_timeout() == -1
    assert StreamExecutionEnvironment().set_buffer_timeout("2 s").get_buffer_timeout() == 2000


@pytest.mark.parametrize("key, bad, message", [
    ("parallelism.default", 0, "parallelism.default: 0 is out of range (must be >= 1)"),
    ("taskmanager.network.credits-per-channel", "0", "credits-per-channel: '0' is out of range (must be >= 1)"),
    ("pipeline.max-parallelism", 40_000, "pipeline.max-parallelism: 40000 is out of range (must be <= 32768)"),
    ("execution.checkpointing.interval", "5 ms", "interval: '5 ms' is out of range (must be >= 10 ms)"),
    ("restart-strategy.fixed-delay.delay", "soon", "fixed-delay.delay: cannot read 'soon' as a duration"),
    ("state.backend.rocksdb.memory.fixed-per-slot", "lots", "fixed-per-slot: cannot read 'lots' as a memory size"),
    ("restart-strategy.exponential-delay.jitter-factor", 2, "jitter-factor: 2 is out of range (must be <= 1.0)"),
])
def test_invalid_values_fail_when_set_naming_option_value_and_form(key, bad, message):
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Configuration({key: bad})


def test_the_whole_configuration_is_checked_at_submission_every_error_named():
    # values that got past the setters (the dict of a deserialized configuration) fail at submission
    e = StreamExecutionEnvironment()
    e.from_collection([1]).print()
    e.get_config()._data.update({"state.backend.type": "rockdb", "parallelism.default": 0,
                                 "execution.buffer-timeout": "100 ms"})
    with pytest.raises(ConfigurationError) as info:
        e.execute_async("bad")  # raises before anything is submitted: no Ray here
    text = str(info.value)
    assert "state.backend.type: 'rockdb' is not accepted" in text
    assert "parallelism.default: 0 is out of range" in text
    assert "buffer-timeout" not in text  # '100 ms' is a duration


def test_restart_strategy_durations_aliases_and_typos():
    b = RestartBackoff(options.validate({"restart-strategy.type": "fixeddelay",
                                         "restart-strategy.fixed-delay.attempts": "2",
                                         "restart-strategy.fixed-delay.delay": "200 ms"}))
    assert (b.kind, b.next_delay(), b.next_delay(), b.next_delay()) == ("fixed-delay", 0.2, 0.2, None)
    b = RestartBackoff({"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.delay": "200 ms"})
    assert b.next_delay() == 0.2
    for alias, kind in (("FailureRate", "failure-rate"), ("exponentialdelay", "exponential-delay"),
                        ("off", "none"), ("disable", "none"), ("NONE", "none"), ("fixed-delay", "fixed-delay")):
        assert RestartBackoff({"restart-strategy.type": alias}).kind == kind
    assert RestartBackoff({"restart-strategy.type": "off"}).next_delay() is None
    assert RestartBackoff({}).kind == "none"
    assert RestartBackoff({"execution.checkpointing.interval": "1 s"}).kind == "fixed-delay"
    with pytest.raises(ConfigurationError, match="restart-strategy.type: 'fixeddely' is not accepted"):
        options.validate({"restart-strategy.type": "fixeddely"})
    # the restart strategy reads its options when the job starts, not at its first failure
    with pytest.raises(ConfigurationError, match="restart-strategy.failure-rate.delay"):
        RestartBackoff({"restart-strategy.type": "failure-rate", "restart-strategy.failure-rate.delay": "x"})


def test_restart_strategies_take_times_durations_and_refuse_bad_values():
    conf = RestartStrategies.fixed_delay_restart(3, Time.seconds(2)).to_options()
    assert conf == {"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": 3,
                    "restart-strategy.fixed-delay.delay": 2000}
    assert RestartStrategies.failure_rate_restart(2, "1 min", 100).to_options()[
        "restart-strategy.failure-rate.failure-rate-interval"] == 60_000
    with pytest.raises(ConfigurationError, match="restart-strategy.fixed-delay.attempts: cannot read 'three'"):
        RestartStrategies.fixed_delay_restart("three", 1000)
    e = StreamExecutionEnvironment().set_restart_strategy(RestartStrategies.exponential_delay_restart(
        "100 ms", "1 s", 2.0, "1 h"))
    assert RestartBackoff(e.get_config().to_dict()).next_delay() == 0.1


def test_checkpoint_interval_and_timeout_take_durations():
    assert checkpoint_interval_ms({"execution.checkpointing.interval": "10 s"}) == 10_000
    assert checkpoint_interval_ms({"execution.checkpointing.interval": "-1"}) == -1
    assert checkpoint_interval_ms({}) == -1
    cfg = env_with(**{"execution.checkpointing.interval": "10 s",
                      "execution.checkpointing.timeout": "1 min"}).get_checkpoint_config()
    assert (cfg.get_checkpoint_interval(), cfg.get_checkpoint_timeout()) == (10_000, 60_000)
    cfg.set_min_pause_between_checkpoints(Duration.of_seconds(3))
    assert cfg.get_min_pause_between_checkpoints() == 3000
    with pytest.raises(ConfigurationError, match="execution.checkpointing.max-concurrent-checkpoints: 0"):
        cfg.set_max_concurrent_checkpoints(0)


def test_debloat_reads_its_options_through_the_typed_reader():
    assert debloat_target_s({}) is None
    assert debloat_target_s({"taskmanager.network.memory.buffer-debloat.enabled": "TRUE"}) == 1.0
    assert debloat_target_s({"taskmanager.network.memory.buffer-debloat.enabled": True,
                             "taskmanager.network.memory.buffer-debloat.target": "2 s"}) == 2.0


@pytest.mark.parametrize("call, text", [
    (lambda e: e.set_max_parallelism("64"), "set_max_parallelism(): max_parallelism must be an int, got '64' (str)"),
    (lambda e: e.set_parallelism("2"), "set_parallelism(): parallelism must be an int, got '2' (str)"),
    (lambda e: Time.seconds("5"), "Time.seconds(n): n must be an int or a float, got '5' (str)"),
    (lambda e: Duration.of_seconds("5"), "Duration.of_seconds(n): n must be an int or a float, got '5' (str)"),
    (lambda e: Time.minutes(None), "Time.minutes(n): n must be an int or a float, got None"),
])
def test_wrong_argument_types_raise_a_type_error_naming_parameter_and_value(call, text):
    with pytest.raises(TypeError, match=text.replace("(", r"\(").replace(")", r"\)")):
        call(StreamExecutionEnvironment())


def test_max_parallelism_range_is_checked():
    with pytest.raises(ConfigurationError, match="pipeline.max-parallelism: 0 is out of range"):
        StreamExecutionEnvironment().set_max_parallelism(0)
    assert StreamExecutionEnvironment().set_max_parallelism(32768).get_max_parallelism() == 32768


# ---- unknown keys ----------------------------------------------------------------------------------


def test_an_unknown_key_is_warned_about_with_the_closest_known_key():
    with pytest.warns(ConfigurationWarning, match="'execution.checkpointing.intervall' is unknown and ignored; "
                                                  "did you mean 'execution.checkpointing.interval'"):
        Configuration({"execution.checkpointing.intervall": "1 s"})
    with pytest.warns(ConfigurationWarning, match="'s3.endpont' is unknown and ignored; did you mean 's3.endpoint'"):
        Configuration({"s3.endpont": "http://127.0.0.1:9000"})
    with pytest.warns(ConfigurationWarning, match="'taskmanager.numberOfTaskSlots' is not read by rayflink"):
        Configuration().set_integer("taskmanager.numberOfTaskSlots", 4)


def test_pass_through_and_user_keys_stay_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conf = Configuration({"s3.connection.maximum": 20, "properties.bootstrap.servers": "k:9092",
                              "my.app.threshold": "7", "pipeline.global-job-parameters.region": "eu",
                              "state.backend": "rocksdb"})
    assert conf.get_string("my.app.threshold") == "7"
    assert conf.get(options.STATE_BACKEND_TYPE) == "rocksdb"  # Flink's older key still read
    # Flink's other names of an option are read (and checked) too
    assert RestartBackoff(options.validate({"restart-strategy": "FixedDelay"})).kind == "fixed-delay"
    assert options.get({"execution.checkpointing.dir": "file:///tmp/c"}, options.CHECKPOINTS_DIRECTORY) == \
        "file:///tmp/c"
    with pytest.raises(ConfigurationError, match="restart-strategy: 'sometimes' is not accepted"):
        options.validate({"restart-strategy": "sometimes"})


# ---- the reader and the declarations --------------------------------------------------------------


def test_defaults_come_from_the_declarations():
    conf = Configuration()
    assert conf.get("parallelism.default") == 1 and conf.get_integer("pipeline.max-parallelism") == 128
    assert conf.get("execution.buffer-timeout", 5) == 5  # PyFlink's explicit default wins when unset
    assert conf.get_integer("unknown.key", 3) == 3
    for option in options.OPTIONS.values():
        assert options.get({}, option) == option.default
        if option.default is not None:
            assert option.parse(option.default) == option.default, option.key
        assert option.description and option.key == option.key.strip()


def _known_key_reads(path: pathlib.Path) -> list[str]:
    """``x.get("<a known key>", ...)`` calls in ``path``: reads that bypass the typed reader."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "get_string", "get_integer", "get_boolean", "get_float")
                and node.args and isinstance(node.args[0], ast.Constant)
                and options.known_option(str(node.args[0].value)) is not None):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.args[0].value}")
    return found


def test_no_call_site_reads_an_option_by_its_key_with_a_default_of_its_own():
    sources = [p for d in ("rayflink", "operators", "connectors", "apps") for p in (ROOT / d).rglob("*.py")]
    assert [hit for p in sources for hit in _known_key_reads(p)] == []


# ---- the CLI -------------------------------------------------------------------------------------


def test_cli_refuses_a_bad_option_before_running_the_script(tmp_path, capsys):
    from rayflink.cli import main

    script = tmp_path / "job.py"
    script.write_text("raise SystemExit('the script must not run')\n")
    assert main(["run", "-D", "execution.checkpointing.mode=exactly-once", str(script)]) == 2
    assert "execution.checkpointing.mode: 'exactly-once' is not accepted; expected one of EXACTLY_ONCE" \
        in capsys.readouterr().err
    conf = tmp_path / "conf.yaml"
    conf.write_text("taskmanager:\n  network:\n    credits-per-channel: 0\n")
    assert main(["run", "--conf", str(conf), str(script)]) == 2
    assert "taskmanager.network.credits-per-channel: 0 is out of range" in capsys.readouterr().err
    assert main(["run", "-p", "0", str(script)]) == 2
    assert "parallelism.default: 0 is out of range" in capsys.readouterr().err


@pytest.mark.integration  # `rayflink run` joins (or starts) Ray before the script runs
def test_cli_options_reach_the_environment_parsed(tmp_path, capsys):
    from rayflink.cli import main

    script = tmp_path / "job.py"
    script.write_text(
        "from rayflink.common import config_options as o\n"
        "from rayflink.datastream import StreamExecutionEnvironment\n"
        "c = StreamExecutionEnvironment.get_execution_environment().get_config()\n"
        "print('got', c.get(o.CHECKPOINTING_MODE), c.get(o.CHECKPOINTING_INTERVAL), c.get(o.RUNTIME_MODE),"
        " c.get(o.FIXED_DELAY_DELAY))\n")
    conf = tmp_path / "conf.yaml"
    conf.write_text("execution:\n  checkpointing:\n    interval: 10 s\n  runtime-mode: batch\n")
    assert main(["run", "--conf", str(conf), "-D", "execution.checkpointing.mode=exactly_once",
                 "-D", "restart-strategy.fixed-delay.delay=200 ms", str(script)]) == 0
    assert "got EXACTLY_ONCE 10000 BATCH 200" in capsys.readouterr().out


def test_the_api_reads_cli_options_without_importing_the_cli():
    # the options `rayflink run` hands over live in rayflink.common.configuration: no API -> CLI import
    for path in (ROOT / "rayflink").rglob("*.py"):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "rayflink.cli", path
            elif isinstance(node, ast.Import):
                assert all(a.name != "rayflink.cli" for a in node.names), path


def test_the_options_table_lists_every_option():
    table = options.describe_options()
    assert all(f"| `{key}` |" in table for key in options.OPTIONS)
    assert len(table.splitlines()) == len(options.OPTIONS) + 2


# ---- a job's own options: PyFlink's ConfigOptions builder -------------------------------------------


def test_config_options_builds_a_typed_option_that_configuration_checks_and_reads():
    from rayflink.common import ConfigOption, ConfigOptions

    threshold = ConfigOptions.key("fraud.threshold").double_type().default_value(0.9)
    window = ConfigOptions.key("fraud.window-size").int_type().default_value(5)
    big = ConfigOptions.key("fraud.max-amount").long_type().no_default_value()
    enabled = ConfigOptions.key("fraud.enabled").boolean_type().default_value(True)
    name = ConfigOptions.key("fraud.name").string_type().default_value("")
    assert all(isinstance(o, ConfigOption) for o in (threshold, window, big, enabled, name))
    assert (threshold.key, threshold.default, big.default) == ("fraud.threshold", 0.9, None)

    conf = Configuration()
    assert (conf.get(threshold), conf.get(window), conf.get(big), conf.get(enabled), conf.get(name)) == \
        (0.9, 5, None, True, "")  # unset: the defaults
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a job's own keys are not reported as unknown
        conf.set(threshold, "0.75").set(window, "10").set(big, 2**40).set(enabled, "FALSE").set(name, "eu")
    assert (conf.get(threshold), conf.get(window), conf.get(big), conf.get(enabled), conf.get(name)) == \
        (0.75, 10, 2**40, False, "eu")
    assert conf.get_integer("fraud.window-size") == 10 and conf.get_string("fraud.name") == "eu"
    assert Configuration().set_string("fraud.window-size", "7").get(window) == 7  # set by key, read typed

    with pytest.raises(ConfigurationError, match="fraud.window-size: cannot read 'ten' as an integer"):
        conf.set(window, "ten")
    with pytest.raises(ConfigurationError, match="out of range"):
        conf.set(window, 2**31)  # Java's int
    with pytest.raises(ConfigurationError, match="fraud.enabled"):
        ConfigOptions.key("fraud.enabled").boolean_type().default_value("maybe")
    with pytest.raises(ConfigurationError, match="non-empty str"):
        ConfigOptions.key("")


def test_an_option_built_at_a_key_rayflink_reads_is_checked_as_rayflink_reads_it():
    from rayflink.common import ConfigOptions

    interval = ConfigOptions.key("execution.checkpointing.interval").string_type().no_default_value()
    conf = Configuration().set(interval, "10 s")
    assert conf.get(options.CHECKPOINTING_INTERVAL) == 10_000
    with pytest.raises(ConfigurationError, match="execution.checkpointing.interval"):
        conf.set(interval, "soon")


def test_the_default_savepoint_directory_is_the_jobs_savepoint_dir_option():
    env = StreamExecutionEnvironment(Configuration())
    assert env.get_default_savepoint_directory() is None
    with pytest.raises(ConfigurationError, match="no savepoint directory.*execution.checkpointing.savepoint-dir"):
        options.savepoint_directory(env.get_config().to_dict())
    assert env.set_default_savepoint_directory("file:///sp") is env
    assert env.get_default_savepoint_directory() == "file:///sp"
    config = options.validate(env.get_config().to_dict())  # what the job master gets
    assert options.savepoint_directory(config) == "file:///sp"  # triggered without a directory
    assert options.savepoint_directory(config, "file:///other") == "file:///other"
    assert env_with(**{"state.savepoints.dir": "/old"}).get_default_savepoint_directory() == "/old"
