"""The operator contract: the registry the operators fill, typed specs, the one collector, what a
task does with a failing close(), and records counted once however many edges they leave on."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from rayflink.common.restart_strategy import RestartStrategies
from rayflink.connectors.discarding import DiscardingSink
from rayflink.datastream import MapFunction, OutputTag, SinkFunction, StreamExecutionEnvironment
from rayflink.errors import JobExecutionError
from rayflink.graph.transformations import PARAMS_OF, FunctionParams, OperatorKind, OperatorSpec, PrintParams
from rayflink.runtime.operator import AbstractStreamOperator, OneInputStreamOperator, OperatorContext
from rayflink.runtime.output import Output, TimestampedCollector
from rayflink.runtime.registry import OperatorRegistry

pytestmark = pytest.mark.integration  # these tests run jobs on Ray

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _imports(path: str) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    tree = ast.parse(open(path).read())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_core_never_imports_the_operators():
    for package in ("runtime", "graph"):
        folder = os.path.join(ROOT, "rayflink", package)
        for name in os.listdir(folder):
            if name.endswith(".py"):
                bad = {m for m in _imports(os.path.join(folder, name)) if m.startswith("rayflink.operators")}
                assert not bad, f"rayflink/{package}/{name} imports {bad}"


def test_the_registry_loads_the_operator_package_by_name_on_first_use():
    code = ("import sys\n"
            "import rayflink.runtime.task\n"
            "from rayflink.graph.transformations import OperatorKind\n"
            "from rayflink.runtime.registry import OPERATORS\n"
            "assert 'rayflink.operators' not in sys.modules\n"
            "print(OPERATORS.operator_class(OperatorKind.WINDOW).__name__)\n"
            "assert 'rayflink.operators' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "WindowOperator"


def test_every_operator_kind_has_a_registered_class_taking_its_params():
    from rayflink.runtime.registry import OPERATORS

    for kind in OperatorKind:  # the SQL kinds too: operators/__init__.py must import their package
        cls = OPERATORS.operator_class(kind)
        assert issubclass(cls, AbstractStreamOperator), (kind, cls)
        assert kind in PARAMS_OF, kind


def test_a_kind_nobody_registered_is_named_in_the_error():
    registry = OperatorRegistry(plugin_packages=())
    with pytest.raises(ValueError, match="no physical operator is registered for kind.*map"):
        registry.operator_class(OperatorKind.MAP)


def test_a_kind_registered_twice_is_refused():
    registry = OperatorRegistry(plugin_packages=())

    class A(OneInputStreamOperator):
        pass

    class B(OneInputStreamOperator):
        pass

    registry.register(OperatorKind.MAP, A)
    registry.register(OperatorKind.MAP, A)  # the same class again: a module imported twice
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(OperatorKind.MAP, B)


def test_operator_specs_are_typed():
    with pytest.raises(TypeError, match="must be an OperatorKind"):
        OperatorSpec("map", FunctionParams(abs))
    with pytest.raises(TypeError, match="'map' takes FunctionParams, got PrintParams"):
        OperatorSpec(OperatorKind.MAP, PrintParams("x"))
    assert OperatorSpec(OperatorKind.MAP, FunctionParams(abs)).params.function is abs


def test_the_task_never_probes_operators():
    tree = ast.parse(open(os.path.join(ROOT, "rayflink", "runtime", "task.py")).read())
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & {"getattr", "hasattr"}


def test_every_hook_has_a_default():
    ctx = OperatorContext(name="noop", uid="noop", subtask_index=0, parallelism=1, max_parallelism=128,
                          attempt=0, config={}, state_key_selectors=None, working_dir="/tmp")
    op = OneInputStreamOperator(None, ctx)
    op.open()
    assert op.next_processing_time_timer() is None
    op.on_processing_time(0)
    op.prepare_snapshot_pre_barrier(1)
    assert op.snapshot_state() is None
    op.restore_state([])
    op.notify_checkpoint_complete(1)
    op.notify_checkpoint_aborted(2)
    assert op.metrics() == {} and op.queryable_states() == {}
    op.end_input()
    op.close()


class _Target:
    def __init__(self) -> None:
        self.batches: list = []

    def emit(self, values, timestamps) -> None:
        self.batches.append((values, timestamps))

    def emit_watermark(self, watermark) -> None:
        pass


def test_the_collector_stamps_buffers_and_flushes_once_per_round():
    side = OutputTag("side")
    output, main, side_target = Output(), _Target(), _Target()
    output.add(main)
    output.add(side_target, side)
    out = TimestampedCollector(output)
    out.collect("no-time")
    out.flush()
    assert main.batches == [(["no-time"], None)]  # no record stamped: no timestamps at all
    out.timestamp = 5
    out.collect("a")
    out.collect_all(iter(["b", "c"]))
    out.output(side, "s")
    out.output(side, "t", 9)
    assert len(main.batches) == 1  # nothing leaves before flush
    out.flush()
    assert main.batches[1] == (["a", "b", "c"], [5, 5, 5])
    assert side_target.batches == [(["s", "t"], [5, 9])]
    assert output.records_out == 4 and output.side_records_out == 2
    out.flush()  # nothing buffered: nothing emitted
    assert len(main.batches) == 2


# ---- jobs -----------------------------------------------------------------------------------


class BufferingSink(SinkFunction):
    """Writes records to a file only in close(), which fails in the first ``failing_attempts``."""

    def __init__(self, path: str, failing_attempts: int) -> None:
        self.path = path
        self.failing_attempts = failing_attempts

    def open(self, runtime_context):
        self.attempt = runtime_context.get_attempt_number()
        self.buffer = []

    def invoke(self, value, context):
        self.buffer.append(value)

    def close(self):
        if self.attempt < self.failing_attempts:
            raise OSError("the flush in close() failed")
        with open(self.path, "a") as f:
            f.writelines(f"{v}\n" for v in self.buffer)


def test_a_failing_close_fails_the_job(tmp_path):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.from_collection(list(range(10))).add_sink(BufferingSink(str(tmp_path / "out"), failing_attempts=99))
    with pytest.raises(JobExecutionError, match=r"close\(\) raised OSError: the flush in close\(\) failed"):
        env.execute("failing-close")


def test_a_failing_close_restarts_under_a_restart_strategy(tmp_path):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(2, 0))
    env.from_collection(list(range(10))).add_sink(BufferingSink(str(tmp_path / "out"), failing_attempts=1))
    result = env.execute("close-fails-once")
    assert result.metrics["restarts"] == 1
    assert sorted(int(line) for line in open(tmp_path / "out")) == list(range(10))


class Tag(MapFunction):
    def map(self, value):
        return value


def test_records_out_counts_each_record_once_however_many_edges_it_leaves_on():
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    mapped = env.from_collection(list(range(100))).map(Tag()).name("fan-out").disable_chaining()
    mapped.rebalance().map(lambda x: x).set_parallelism(2).name("left").sink_to(DiscardingSink())
    mapped.rebalance().map(lambda x: -x).set_parallelism(2).name("right").sink_to(DiscardingSink())
    vertices = env.execute("fan-out").metrics["vertices"]
    fan_out = next(v for v in vertices if v["name"] == "fan-out")
    assert fan_out["records_out"] == 100
    assert sum(v["records_in"] for v in vertices if v["name"].startswith(("left", "right"))) == 200
