"""``set_buffer_timeout``: an operator's own buffer timeout, which the task that runs its chain
flushes its output channels by (unit tests on the job graph, no Ray)."""

from __future__ import annotations

import pytest

from rayflink.common import config_options as options
from rayflink.common.configuration import Configuration
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.errors import GraphBuildError
from rayflink.runtime.job_master import task_config


def env() -> StreamExecutionEnvironment:
    e = StreamExecutionEnvironment(Configuration())
    e.set_buffer_timeout(100)
    return e


def timeouts(e: StreamExecutionEnvironment) -> dict[str, int]:
    """Each task's buffer timeout, by the names of its chain's operators."""
    graph = e.get_stream_graph("job")
    config = options.validate(graph.config)
    return {v.name: options.get(task_config(config, v), options.BUFFER_TIMEOUT) for v in graph.vertices}


def test_the_timeout_of_the_operator_whose_output_leaves_the_task_is_the_tasks():
    e = env()
    # source -> eager (chained, its output leaves the task) | rebalance | lazy -> print (chained)
    eager = e.from_collection([1, 2]).map(lambda x: x).name("eager").set_buffer_timeout(0)
    eager.rebalance().map(lambda x: x).name("lazy").set_buffer_timeout(-1).print()
    # lazy's output stays in its task: the job's timeout
    assert timeouts(e) == {"Collection Source -> eager": 0, "lazy -> Print to Std. Out": 100}


def test_a_task_with_several_outputs_flushes_on_the_smallest_timeout_and_minus_one_only_if_all_are():
    e = env()
    a = e.from_collection([1]).map(lambda x: x).name("a").set_buffer_timeout(-1)
    b = a.map(lambda x: x).name("b").set_buffer_timeout(30)
    a.rebalance().print()
    b.rebalance().print()
    assert timeouts(e)["Collection Source -> a -> b"] == 30
    e2 = env()
    e2.from_collection([1]).map(lambda x: x).name("c").set_buffer_timeout(-1).rebalance().print()
    assert timeouts(e2)["Collection Source -> c"] == -1


def test_set_buffer_timeout_refuses_bad_values_and_non_operators():
    stream = env().from_collection([1]).map(lambda x: x)
    for bad in (-2, 1.5, True, "10"):
        with pytest.raises(GraphBuildError, match="milliseconds >= -1"):
            stream.set_buffer_timeout(bad)
    with pytest.raises(GraphBuildError, match="not an operator"):
        stream.rebalance().set_buffer_timeout(10)
    with pytest.raises(GraphBuildError, match="key_by.. is not an operator"):
        stream.key_by(lambda x: x).set_buffer_timeout(10)
    assert stream.set_buffer_timeout(0) is stream
