"""Run a job and look at what it produced: ``collect``, and an environment that checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayflink.datastream import StreamExecutionEnvironment

if TYPE_CHECKING:
    from rayflink.datastream import DataStream


def collect(stream: DataStream) -> list[Any]:
    """Run the job of ``stream`` to its end and return every record it produced, in arrival order.

    >>> env = StreamExecutionEnvironment.get_execution_environment()
    >>> sorted(collect(env.from_collection([1, 2, 3]).map(lambda x: x * 10)))  # doctest: +SKIP
    [10, 20, 30]
    """
    results = stream.execute_and_collect()
    assert not isinstance(results, list)  # (a list only with limit=)
    with results:
        return list(results)


def env(parallelism: int = 2) -> StreamExecutionEnvironment:
    """The execution environment, at ``parallelism``."""
    e = StreamExecutionEnvironment.get_execution_environment()
    e.set_parallelism(parallelism)
    return e


def checkpointed_env(parallelism: int, checkpoint_dir: Any, savepoint: str | None = None
                     ) -> StreamExecutionEnvironment:
    """An environment checkpointing every 100 ms into ``checkpoint_dir`` (a local path), resuming
    from ``savepoint`` when given (whose collect sink's state a new job cannot claim, so unclaimed
    state is ignored: ``execution.savepoint.ignore-unclaimed-state``)."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.enable_checkpointing(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{checkpoint_dir}")
    if savepoint:
        env.get_config().set_string("execution.savepoint.path", savepoint)
        env.get_config().set_string("execution.savepoint.ignore-unclaimed-state", "true")
    return env
