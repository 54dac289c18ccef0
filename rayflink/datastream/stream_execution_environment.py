"""``StreamExecutionEnvironment``: where a job is defined, configured and executed."""

from __future__ import annotations

import logging
from typing import Any

from rayflink.common import config_options as options
from rayflink.common.configuration import Configuration, cli_options
from rayflink.common.execution_config import ExecutionConfig
from rayflink.datastream.connectors.collection import CollectionSource
from rayflink.datastream.connectors.number_seq import NumberSequenceSource
from rayflink.datastream.data_stream import DataStream
from rayflink.datastream.execution_mode import RuntimeExecutionMode
from rayflink.errors import GraphBuildError, truncate
from rayflink.graph.job_graph import JobGraph, build_job_graph, execution_plan_json
from rayflink.graph.transformations import Transformation, TransformationIds


def _require_int(where: str, parameter: str, value: Any) -> None:
    """A TypeError naming the call, the parameter and the value, unless ``value`` is an int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {parameter} must be an int, got {truncate(value, 60)} ({type(value).__name__})")


class StreamExecutionEnvironment:
    """Builds a job graph lazily; ``execute()`` runs it on Ray (a local Ray by default).

    >>> env = StreamExecutionEnvironment.get_execution_environment()
    >>> env.set_parallelism(2)
    >>> env.from_collection([1, 2, 3]).map(lambda x: x + 1).print()
    >>> env.execute("my-job")
    """

    def __init__(self, configuration: Configuration | None = None) -> None:
        self._config = ExecutionConfig(cli_options())
        self._config.add_all(Configuration(configuration))
        self._ids = TransformationIds()
        self._sinks: list[Transformation] = []
        self._state_backend: Any = None
        self._jvm_note_given = False
        self._slot_sharing_groups: dict[str, Any] = {}

    @staticmethod
    def get_execution_environment(configuration: Configuration | None = None) -> "StreamExecutionEnvironment":
        """A new environment (local Ray unless ``RAY_ADDRESS`` or ``ray.init`` says otherwise)."""
        return StreamExecutionEnvironment(configuration)

    # ---- configuration -----------------------------------------------------------------

    def get_config(self) -> ExecutionConfig:
        """The job's options: a ``Configuration`` with PyFlink's ``ExecutionConfig`` methods."""
        return self._config

    def configure(self, configuration: Configuration) -> "StreamExecutionEnvironment":
        self._config.add_all(configuration)
        return self

    def set_default_savepoint_directory(self, directory: str) -> "StreamExecutionEnvironment":
        """Where the job's savepoints go when triggered without a directory (``JobClient``,
        REST, CLI): ``execution.checkpointing.savepoint-dir``.

        >>> env.set_default_savepoint_directory("s3://bucket/savepoints")
        """
        self._config.set(options.SAVEPOINT_DIRECTORY, directory)
        return self

    def get_default_savepoint_directory(self) -> str | None:
        """The directory ``set_default_savepoint_directory`` set, or None."""
        return self._config.get(options.SAVEPOINT_DIRECTORY)

    def set_parallelism(self, parallelism: int) -> "StreamExecutionEnvironment":
        """Default number of subtasks per operator (``parallelism.default``)."""
        self._check_parallelism(parallelism, "set_parallelism()")
        self._config.set(options.PARALLELISM_DEFAULT, parallelism)
        return self

    def get_parallelism(self) -> int:
        return self._config.get(options.PARALLELISM_DEFAULT)

    def set_max_parallelism(self, max_parallelism: int) -> "StreamExecutionEnvironment":
        """Number of key groups (``pipeline.max-parallelism``, 1..32768): the upper bound for rescaling."""
        _require_int("set_max_parallelism()", "max_parallelism", max_parallelism)
        parsed = options.MAX_PARALLELISM.parse(max_parallelism)
        if parsed < self.get_parallelism():
            raise GraphBuildError(f"max parallelism {max_parallelism} is below the parallelism "
                                  f"{self.get_parallelism()}")
        self._config.set(options.MAX_PARALLELISM, parsed)
        return self

    def get_max_parallelism(self) -> int:
        return self._config.get(options.MAX_PARALLELISM)

    def set_buffer_timeout(self, timeout_millis: int) -> "StreamExecutionEnvironment":
        """Flush a channel's batch at the latest after this many ms (0: after every record batch,
        -1: only when full); a Flink duration (``"100 ms"``) works too."""
        self._config.set(options.BUFFER_TIMEOUT, timeout_millis)
        return self

    def get_buffer_timeout(self) -> int:
        return self._config.get(options.BUFFER_TIMEOUT)

    def set_runtime_mode(self, execution_mode: RuntimeExecutionMode) -> "StreamExecutionEnvironment":
        """STREAMING (default) or BATCH (bounded sources only; keyed aggregates emit final results)."""
        self._config.set(options.RUNTIME_MODE, execution_mode)
        return self

    def disable_operator_chaining(self) -> "StreamExecutionEnvironment":
        self._config.set(options.OPERATOR_CHAINING, False)
        return self

    def is_chaining_enabled(self) -> bool:
        return self._config.get(options.OPERATOR_CHAINING)

    def set_state_backend(self, state_backend: Any) -> "StreamExecutionEnvironment":
        """``HashMapStateBackend()`` (default) or ``EmbeddedRocksDBStateBackend()``."""
        if not callable(getattr(state_backend, "create_keyed_state_backend", None)):
            raise GraphBuildError(f"set_state_backend(): {type(state_backend).__name__} is not a state "
                                  "backend; use HashMapStateBackend() or EmbeddedRocksDBStateBackend()")
        self._state_backend = state_backend
        return self

    def get_state_backend(self) -> Any:
        return self._state_backend

    # ---- checkpoints and restarts ---------------------------------------------------------------

    def enable_checkpointing(self, interval: int, mode: Any = None) -> "StreamExecutionEnvironment":
        """Checkpoint every ``interval`` ms (``CheckpointingMode.EXACTLY_ONCE`` by default).

        Checkpoints go to ``state.checkpoints.dir`` (``get_checkpoint_config().set_checkpoint_storage``),
        by default a directory under the system's temp dir.
        """
        from rayflink.datastream.checkpointing_mode import CheckpointingMode

        config = self.get_checkpoint_config()
        config.set_checkpoint_interval(interval)
        config.set_checkpointing_mode(mode or CheckpointingMode.EXACTLY_ONCE)
        if config.get_checkpoint_storage_dir() is None:
            config.set_checkpoint_storage_dir(options.default_checkpoint_dir())
        return self

    def get_checkpoint_config(self) -> Any:
        from rayflink.datastream.checkpoint_config import CheckpointConfig

        return CheckpointConfig(self._config)

    def get_checkpoint_interval(self) -> int:
        return self.get_checkpoint_config().get_checkpoint_interval()

    def set_restart_strategy(self, restart_strategy_configuration: Any) -> "StreamExecutionEnvironment":
        """``RestartStrategies.fixed_delay_restart(3, 1000)``, ``no_restart()``, ... (Flink's options)."""
        to_options = getattr(restart_strategy_configuration, "to_options", None)
        if not callable(to_options):
            raise TypeError(f"set_restart_strategy(): expected a RestartStrategies.*() configuration, got "
                            f"{truncate(restart_strategy_configuration, 60)}")
        self._config.add_all(Configuration(to_options()))
        return self

    def _check_parallelism(self, parallelism: Any, where: str) -> None:
        _require_int(where, "parallelism", parallelism)
        if parallelism < 1:
            raise GraphBuildError(f"{where}: parallelism must be an integer >= 1, got {parallelism!r}")
        max_par = self.get_max_parallelism()
        if parallelism > max_par:
            raise GraphBuildError(f"{where}: parallelism {parallelism} exceeds max parallelism {max_par}; "
                                  "call set_max_parallelism(...) first")

    def get_checkpointing_mode(self) -> Any:
        """The checkpointing mode (EXACTLY_ONCE or AT_LEAST_ONCE)."""
        return self.get_checkpoint_config().get_checkpointing_mode()

    def get_checkpointing_consistency_mode(self) -> Any:
        """Flink 2.x's name for ``get_checkpointing_mode``."""
        return self.get_checkpointing_mode()

    def is_unaligned_checkpoints_enabled(self) -> bool:
        """Whether checkpoints are unaligned (see CheckpointConfig.enable_unaligned_checkpoints)."""
        return self.get_checkpoint_config().is_unaligned_checkpoints_enabled()

    def is_force_unaligned_checkpoints(self) -> bool:
        return self.get_checkpoint_config().is_force_unaligned_checkpoints()

    def is_chaining_of_operators_with_different_max_parallelism_enabled(self) -> bool:
        """True: rayflink chains operators whatever their max parallelism, as Flink does by default
        (``pipeline.operator-chaining.chain-operators-with-different-max-parallelism``)."""
        return True

    def close(self) -> None:
        """Forget the operators defined but not executed (PyFlink releases its JVM resources here)."""
        self._sinks.clear()

    def register_slot_sharing_group(self, slot_sharing_group: Any) -> "StreamExecutionEnvironment":
        """Declare a ``SlotSharingGroup``'s resources for the groups named in the job (recorded:
        see ``rayflink.datastream.slot_sharing_group``)."""
        from rayflink.datastream.slot_sharing_group import SlotSharingGroup

        if not isinstance(slot_sharing_group, SlotSharingGroup):
            raise GraphBuildError(f"register_slot_sharing_group(): expected a SlotSharingGroup, got "
                                  f"{type(slot_sharing_group).__name__}")
        self._slot_sharing_groups[slot_sharing_group.get_name()] = slot_sharing_group
        return self

    def add_jars(self, *jars_path: str) -> None:
        """Accepted for PyFlink programs: rayflink runs no JVM, so connector and format jars are
        not needed (its connectors are Python); the paths are ignored with a one-time note."""
        self._jvm_note("add_jars", jars_path)

    def add_classpaths(self, *classpaths: str) -> None:
        """Accepted for PyFlink programs and ignored with a one-time note (no JVM, see add_jars)."""
        self._jvm_note("add_classpaths", classpaths)

    def _jvm_note(self, what: str, paths: tuple) -> None:
        if not self._jvm_note_given:
            self._jvm_note_given = True
            logging.getLogger(__name__).warning(
                "%s(%s): ignored; rayflink runs no JVM and needs no jars (its connectors and formats are "
                "Python). This note is shown once per environment.", what, ", ".join(map(repr, paths))[:200])

    # ---- sources -----------------------------------------------------------------------

    def from_collection(self, collection: list, type_info: Any = None) -> DataStream:
        """A bounded stream of the elements of ``collection``, read in order by one subtask."""
        if isinstance(collection, (str, bytes)) or not hasattr(collection, "__iter__"):
            raise GraphBuildError(f"from_collection(): expected a list of records, got {type(collection).__name__}")
        elements = list(collection)
        if type_info is not None:
            for e in elements:
                if not type_info.accepts(e):
                    raise GraphBuildError(f"from_collection(): element {e!r} is not of the declared type {type_info}")
            if type_info.need_conversion():  # rows arrive as Row objects, as in PyFlink
                elements = [type_info.from_internal_type(e) for e in elements]
        stream = self._from(CollectionSource(elements, type_info), None, "Collection Source")
        stream._t.parallelism = 1  # as in Flink, a collection is read by one subtask, in order
        return stream

    def from_sequence(self, start: int, end: int) -> DataStream:
        """The integers ``start..end`` inclusive, split across the source subtasks."""
        return self._from(NumberSequenceSource(start, end), None, "Sequence Source")

    def add_source(self, source_func: Any, source_name: str = "Custom Source", type_info: Any = None) -> DataStream:
        """A stream read by a legacy source (``FlinkKafkaConsumer``), without watermarks: PyFlink's
        form of ``from_source``. Java ``SourceFunction``s do not exist here."""
        from rayflink.common.watermark_strategy import WatermarkStrategy
        from rayflink.datastream.connectors.base import Source

        if not isinstance(source_func, Source):
            raise GraphBuildError(f"add_source({source_name!r}): {type(source_func).__name__} is not a source "
                                  "rayflink runs; use from_source(...) with a connector's Source")
        return self._from(source_func, WatermarkStrategy.no_watermarks(), source_name, type_info)

    def from_source(self, source: Any, watermark_strategy: Any, source_name: str,
                    type_info: Any = None) -> DataStream:
        """A stream read by a connector ``Source`` (Kafka, files, number sequence, ...)."""
        from rayflink.datastream.connectors.base import Source

        if not isinstance(source, Source):
            raise GraphBuildError(f"from_source({source_name!r}): {type(source).__name__} is not a Source")
        return self._from(source, watermark_strategy, source_name, type_info)

    def _from(self, source: Any, watermark_strategy: Any, name: str, type_info: Any = None) -> DataStream:
        t = self._new_transformation("source", name, source=source, watermark_strategy=watermark_strategy,
                                     output_type=type_info or source.output_type())
        return DataStream(self, t)

    # ---- graph ------------------------------------------------------------------------

    def _new_transformation(self, kind: str, name: str, **fields: Any) -> Transformation:
        t = Transformation(id=self._ids.next(), kind=kind, name=name, **fields)
        if kind == "operator":  # like Flink, every operator runs, with or without a sink after it
            self._sinks.append(t)
        return t

    def _add_sink(self, t: Transformation) -> None:
        self._sinks.append(t)

    def _job_graph(self, job_name: str, sinks: list[Transformation]) -> JobGraph:
        if not sinks:
            raise GraphBuildError("no operators defined in the job: add operators and a sink "
                                  "(print(), add_sink(...), sink_to(...)) before execute()")
        config = options.validate(self._config.to_dict())  # the whole configuration, checked at submission
        graph = build_job_graph(
            sinks,
            name=job_name,
            default_parallelism=options.get(config, options.PARALLELISM_DEFAULT),
            default_max_parallelism=options.get(config, options.MAX_PARALLELISM),
            config=config,
            chaining_enabled=options.get(config, options.OPERATOR_CHAINING),
        )
        if options.get(graph.config, options.RUNTIME_MODE) == "BATCH":
            for v in graph.vertices:
                if v.is_source() and not v.head.transformation.source.is_bounded():
                    raise GraphBuildError(f"source {v.head.name!r} is unbounded: BATCH mode needs bounded "
                                          "sources; use STREAMING mode")
        graph.state_backend = self._state_backend
        return graph

    def get_execution_plan(self) -> str:
        """The job graph (operators, chains, ship strategies) as JSON."""
        return execution_plan_json(self._job_graph("plan", list(self._sinks)))

    def get_stream_graph(self, job_name: str = "rayflink job") -> JobGraph:
        return self._job_graph(job_name, list(self._sinks))

    # ---- execution ----------------------------------------------------------------------

    def execute_async(self, job_name: str = "rayflink job") -> Any:
        """Submit the job and return a ``JobClient`` at once."""
        from rayflink.runtime.client import submit_job

        graph = self._job_graph(job_name, list(self._sinks))
        self._sinks.clear()
        return submit_job(graph)

    def execute(self, job_name: str = "rayflink job") -> Any:
        """Run the job; blocks until a bounded job finishes (or the job fails).

        Detached (``execution.attached: false``, as ``rayflink run -d`` sets) it submits the job
        and returns its ``JobClient`` at once, as ``execute_async`` does: the job runs on without
        this process.
        """
        attached = options.get(self._config.to_dict(), options.ATTACHED)
        client = self.execute_async(job_name)
        return client.get_job_execution_result() if attached else client

    def _execute_and_collect(self, stream: DataStream, job_name: str | None, limit: int | None) -> Any:
        from rayflink.graph.transformations import CollectParams, OperatorKind, OperatorSpec
        from rayflink.runtime.client import CloseableIterator, submit_job

        collect = self._new_transformation("sink", "Collect Sink", inputs=[stream._t],
                                           operator=OperatorSpec(OperatorKind.COLLECT, CollectParams()),
                                           collect_id="collect")
        graph = self._job_graph(job_name or "collect", list(self._sinks) + [collect])
        self._sinks.clear()
        iterator = CloseableIterator(submit_job(graph))
        if limit is None:
            return iterator
        with iterator:
            out = []
            for record in iterator:
                out.append(record)
                if len(out) >= limit:
                    break
            return out
