"""User function classes at PyFlink's path ``pyflink.datastream.functions``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from rayflink.errors import GraphBuildError
from rayflink.graph.transformations import AsyncFunctionDescriptor  # noqa: F401 - PyFlink's path
from rayflink.runtime.fields import field_getter

IN = TypeVar("IN")
OUT = TypeVar("OUT")
KEY = TypeVar("KEY")
W = TypeVar("W")


class RuntimeContext:
    """What a rich function sees in ``open``: subtask info and keyed state."""

    def __init__(self, *, task_name: str, uid: str, subtask_index: int, parallelism: int,
                 max_parallelism: int, attempt: int, state_backend: Any = None,
                 metric_group: Any = None, job_parameters: dict | None = None) -> None:
        self._task_name = task_name
        self._uid = uid
        self._subtask_index = subtask_index
        self._parallelism = parallelism
        self._max_parallelism = max_parallelism
        self._attempt = attempt
        self._backend = state_backend
        self._metric_group = metric_group
        self._job_parameters = job_parameters or {}

    def get_task_name(self) -> str:
        return self._task_name

    def get_number_of_parallel_subtasks(self) -> int:
        return self._parallelism

    def get_max_number_of_parallel_subtasks(self) -> int:
        return self._max_parallelism

    def get_index_of_this_subtask(self) -> int:
        return self._subtask_index

    def get_attempt_number(self) -> int:
        return self._attempt

    def get_task_name_with_subtasks(self) -> str:
        return f"{self._task_name} ({self._subtask_index + 1}/{self._parallelism})"

    def get_job_parameter(self, key: str, default_value: str | None = None) -> str | None:
        return self._job_parameters.get(key, default_value)

    def get_metrics_group(self) -> Any:
        return self._metric_group

    def _keyed_backend(self, what: str) -> Any:
        if self._backend is None:
            from rayflink.state.backend import StateError

            raise StateError(
                f"operator {self._task_name!r} (uid {self._uid!r}): {what} needs keyed state, "
                "but this operator does not run on a keyed stream; call key_by(...) before it"
            )
        return self._backend

    def get_state(self, state_descriptor: Any) -> Any:
        return self._keyed_backend("get_state").get_partitioned_state(state_descriptor)

    def get_list_state(self, state_descriptor: Any) -> Any:
        return self._keyed_backend("get_list_state").get_partitioned_state(state_descriptor)

    def get_map_state(self, state_descriptor: Any) -> Any:
        return self._keyed_backend("get_map_state").get_partitioned_state(state_descriptor)

    def get_reducing_state(self, state_descriptor: Any) -> Any:
        return self._keyed_backend("get_reducing_state").get_partitioned_state(state_descriptor)

    def get_aggregating_state(self, state_descriptor: Any) -> Any:
        return self._keyed_backend("get_aggregating_state").get_partitioned_state(state_descriptor)


class Function(ABC):  # noqa: B024 - a marker base, as in PyFlink
    """Base of every user function."""


class RichFunction(Function):
    """A function with a lifecycle: ``open(runtime_context)`` before data, ``close()`` after."""

    def open(self, runtime_context: RuntimeContext) -> None:
        pass

    def close(self) -> None:
        pass


class MapFunction(RichFunction):
    """One record in, one record out: ``def map(self, value)``."""

    def map(self, value: Any) -> Any:
        raise NotImplementedError


class FlatMapFunction(RichFunction):
    """One record in, any number out: ``def flat_map(self, value)`` yields or returns an iterable."""

    def flat_map(self, value: Any) -> Iterable[Any] | None:
        raise NotImplementedError


class FilterFunction(RichFunction):
    """Keep the records for which ``def filter(self, value)`` is true."""

    def filter(self, value: Any) -> bool:
        raise NotImplementedError


class ReduceFunction(RichFunction):
    """Combine two values of one key: ``def reduce(self, value1, value2)``."""

    def reduce(self, value1: Any, value2: Any) -> Any:
        raise NotImplementedError


class AggregateFunction(RichFunction):
    """Incremental aggregation through an accumulator (Flink's AggregateFunction)."""

    def create_accumulator(self) -> Any:
        raise NotImplementedError

    def add(self, value: Any, accumulator: Any) -> Any:
        raise NotImplementedError

    def get_result(self, accumulator: Any) -> Any:
        raise NotImplementedError

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        raise NotImplementedError


class KeySelector(Function):
    """Extract the key of a record: ``def get_key(self, value)``; ``open(runtime_context)`` runs
    in each subtask that uses it before its first record, ``close()`` after its last."""

    def get_key(self, value: Any) -> Any:
        raise NotImplementedError

    def open(self, runtime_context: RuntimeContext) -> None:
        pass

    def close(self) -> None:
        pass


def key_selector_of(key_function: Any) -> KeySelector | None:
    """The ``KeySelector`` whose ``get_key`` ``key_function`` is (what ``as_key_selector`` gave for
    it), else None: a subtask opens and closes it."""
    owner = getattr(key_function, "__self__", None)
    return owner if isinstance(owner, KeySelector) else None


def as_key_selector(key_selector: Any) -> Callable[[Any], Any]:
    """The key function of what ``key_by`` (or a join's ``where``/``equal_to``) was given: a
    ``KeySelector``, a function, or a field position or name (``key_by(0)``, ``key_by("user")``).

    :raises GraphBuildError: for anything else.
    """
    get_key = getattr(key_selector, "get_key", None)
    if callable(get_key):
        return get_key
    if callable(key_selector):
        return key_selector
    if isinstance(key_selector, (int, str)):
        return field_getter(key_selector)
    raise GraphBuildError(f"key_by(): expected a key selector function, got {type(key_selector).__name__}")


class SinkFunction(RichFunction):
    """A sink written in Python: ``def invoke(self, value, context)`` per record."""

    def invoke(self, value: Any, context: Any) -> None:
        raise NotImplementedError


class _ProcessContextBase:
    """Declares the context methods a process function may call (see runtime)."""

    def timestamp(self) -> int | None:
        raise NotImplementedError

    def timer_service(self) -> Any:
        raise NotImplementedError

    def output(self, output_tag: Any, value: Any) -> None:
        raise NotImplementedError


class ProcessFunction(RichFunction):
    """Full control per record: state, timers, side outputs.

    ``process_element(value, ctx)`` may yield outputs (``yield value`` or
    ``yield tag, value`` for a side output), or take a third ``out`` argument and
    call ``out.collect(value)`` / ``ctx.output(tag, value)``.
    """

    Context = _ProcessContextBase
    OnTimerContext = _ProcessContextBase

    def process_element(self, value: Any, ctx: Any, *out: Any) -> Any:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: Any, *out: Any) -> Any:
        return None


class KeyedProcessFunction(ProcessFunction):
    """A ProcessFunction on a keyed stream; ``ctx.get_current_key()`` names the key."""


class CoMapFunction(RichFunction):
    """Map two connected streams: ``map1`` for the first, ``map2`` for the second."""

    def map1(self, value: Any) -> Any:
        raise NotImplementedError

    def map2(self, value: Any) -> Any:
        raise NotImplementedError


class CoFlatMapFunction(RichFunction):
    """Flat-map two connected streams: ``flat_map1`` and ``flat_map2``."""

    def flat_map1(self, value: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def flat_map2(self, value: Any) -> Iterable[Any] | None:
        raise NotImplementedError


class CoProcessFunction(RichFunction):
    """Process two connected streams: ``process_element1`` and ``process_element2``."""

    Context = _ProcessContextBase
    OnTimerContext = _ProcessContextBase

    def process_element1(self, value: Any, ctx: Any, *out: Any) -> Any:
        raise NotImplementedError

    def process_element2(self, value: Any, ctx: Any, *out: Any) -> Any:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: Any, *out: Any) -> Any:
        return None


class KeyedCoProcessFunction(CoProcessFunction):
    """A CoProcessFunction on two keyed streams."""


class TimerService(ABC):
    """``ctx.timer_service()`` of a process function: the clocks, and timers for the current key."""

    @abstractmethod
    def current_processing_time(self) -> int:
        """The current processing time (epoch ms)."""

    @abstractmethod
    def current_watermark(self) -> int:
        """The current event-time watermark (epoch ms)."""

    @abstractmethod
    def register_processing_time_timer(self, timestamp: int) -> None:
        """Call ``on_timer`` when processing time reaches ``timestamp`` (keyed streams only)."""

    @abstractmethod
    def register_event_time_timer(self, timestamp: int) -> None:
        """Call ``on_timer`` when the watermark passes ``timestamp`` (keyed streams only)."""

    @abstractmethod
    def delete_processing_time_timer(self, timestamp: int) -> None:
        """Delete a processing-time timer of the current key."""

    @abstractmethod
    def delete_event_time_timer(self, timestamp: int) -> None:
        """Delete an event-time timer of the current key."""


class Partitioner(RichFunction):
    """Chooses the downstream subtask of a record's key, for ``partition_custom``.

    >>> class ByParity(Partitioner):
    ...     def partition(self, key, num_partitions):
    ...         return key % 2 % num_partitions
    """

    @abstractmethod
    def partition(self, key: Any, num_partitions: int) -> int:
        """The subtask index (0 .. num_partitions - 1) for ``key``."""


# ---------------------------------------------------------------------------- window functions

class WindowFunction(RichFunction, Generic[IN, OUT, KEY, W]):
    """Evaluates a window: ``apply(key, window, inputs)`` returns (or yields) the results.

    PyFlink's signature; an ``apply(key, window, inputs, out)`` that collects with
    ``out.collect(value)`` works too.

    >>> class Total(WindowFunction[tuple, tuple, str, TimeWindow]):
    ...     def apply(self, key, window, inputs):
    ...         return [(key, sum(v[1] for v in inputs))]
    """

    @abstractmethod
    def apply(self, key: KEY, window: W, inputs: Iterable[IN]) -> Iterable[OUT]: ...


class AllWindowFunction(RichFunction, Generic[IN, OUT, W]):
    """``apply(window, inputs)`` of a non-keyed (``window_all``) window: returns the results
    (or collects them through a third ``out`` argument)."""

    @abstractmethod
    def apply(self, window: W, inputs: Iterable[IN]) -> Iterable[OUT]: ...


class _WindowContext(ABC, Generic[W]):
    """What a process window function sees of its window (the runtime implements it);
    subscriptable as PyFlink's ``ProcessWindowFunction.Context[TimeWindow]``."""

    @abstractmethod
    def window(self) -> Any:
        """The window being evaluated."""

    @abstractmethod
    def current_processing_time(self) -> int: ...

    @abstractmethod
    def current_watermark(self) -> int: ...

    @abstractmethod
    def window_state(self) -> Any:
        """Keyed state scoped to this key and window (get_state(descriptor), ...)."""

    @abstractmethod
    def global_state(self) -> Any:
        """Keyed state of this key, across windows."""

    @abstractmethod
    def output(self, output_tag: Any, value: Any) -> None:
        """Emit ``value`` to the side output ``output_tag``."""


class ProcessWindowFunction(RichFunction, Generic[IN, OUT, KEY, W]):
    """Evaluates a window with context: ``process(key, context, elements[, out])``.

    ``context.window()``, ``context.current_watermark()``, ``context.current_processing_time()``,
    ``context.window_state()`` (state of this key and window), ``context.global_state()`` (of this
    key), ``context.output(tag, value)``. Return or yield results, or collect them with ``out``.
    ``clear(context)`` runs when the window is purged (delete window state there).
    """

    Context = _WindowContext

    @abstractmethod
    def process(self, key: KEY, context: "ProcessWindowFunction.Context", elements: Iterable[IN],
                *out: Any) -> Iterable[OUT]: ...

    def clear(self, context: "ProcessWindowFunction.Context") -> None:
        """The window is gone: release its per-window state."""


class ProcessAllWindowFunction(RichFunction, Generic[IN, OUT, W]):
    """``process(context, elements[, out])`` of a non-keyed (``window_all``) window."""

    Context = _WindowContext

    @abstractmethod
    def process(self, context: "ProcessAllWindowFunction.Context", elements: Iterable[IN],
                *out: Any) -> Iterable[OUT]: ...

    def clear(self, context: "ProcessAllWindowFunction.Context") -> None:
        """The window is gone: release its per-window state."""


class _BroadcastBaseContext:
    """Declares what both methods of a broadcast process function may call on ``ctx`` (the runtime
    implements it: operators/broadcast.py)."""

    def timestamp(self) -> int | None:
        """The current record's timestamp (None without event time)."""
        raise NotImplementedError

    def current_processing_time(self) -> int:
        raise NotImplementedError

    def current_watermark(self) -> int:
        raise NotImplementedError

    def output(self, output_tag: Any, value: Any) -> None:
        """Emit ``value`` to the side output ``output_tag``."""
        raise NotImplementedError


class _BroadcastReadOnlyContext(_BroadcastBaseContext):
    """The ``ctx`` of ``process_element``: the broadcast state, read-only."""

    def get_broadcast_state(self, state_descriptor: Any) -> Any:
        """The broadcast state ``state_descriptor`` (a ``MapStateDescriptor`` given to ``broadcast``): get, contains,
        items, keys, values; changing it raises."""
        raise NotImplementedError


class _BroadcastContext(_BroadcastBaseContext):
    """The ``ctx`` of ``process_broadcast_element``: the broadcast state, writable."""

    def get_broadcast_state(self, state_descriptor: Any) -> Any:
        """The broadcast state ``state_descriptor``: put, remove, clear besides the reads."""
        raise NotImplementedError


class _KeyedBroadcastReadOnlyContext(_BroadcastReadOnlyContext):
    """The ``ctx`` of a keyed ``process_element``: also the current key and timers."""

    def timer_service(self) -> Any:
        raise NotImplementedError

    def get_current_key(self) -> Any:
        raise NotImplementedError


class _KeyedBroadcastContext(_BroadcastContext):
    """The ``ctx`` of a keyed ``process_broadcast_element``: also every key's state."""

    def apply_to_keyed_state(self, state_descriptor: Any, function: Callable[[Any, Any], None]) -> None:
        """Call ``function(key, state)`` for every key of this subtask holding ``state_descriptor``'s state."""
        raise NotImplementedError


class _KeyedBroadcastOnTimerContext(_KeyedBroadcastReadOnlyContext):
    """The ``ctx`` of ``on_timer``: also the time domain of the timer that fired."""

    def time_domain(self) -> Any:
        raise NotImplementedError


class BaseBroadcastProcessFunction(RichFunction):
    """The base of ``BroadcastProcessFunction`` and ``KeyedBroadcastProcessFunction``: their contexts."""

    BaseContext = _BroadcastBaseContext
    ReadOnlyContext = _BroadcastReadOnlyContext
    Context = _BroadcastContext


class BroadcastProcessFunction(BaseBroadcastProcessFunction):
    """Process a stream connected to a broadcast stream (the broadcast state pattern).

    ``process_broadcast_element(value, ctx)`` sees every broadcast record, on every subtask, and
    may change the broadcast state (``ctx.get_broadcast_state(descriptor)``: ``put``, ``remove``,
    ``clear``); ``process_element(value, ctx)`` sees the other stream's records and reads the
    broadcast state only. Like ``process_element`` elsewhere, both may yield their outputs (or
    ``(OutputTag, value)``) or take a third ``out`` argument.

    Every subtask must change its broadcast state the same way (from the broadcast records alone):
    Flink keeps one copy per subtask and checkpoints each, and so does rayflink.
    """

    def process_element(self, value: Any, ctx: Any, *out: Any) -> Any:
        raise NotImplementedError

    def process_broadcast_element(self, value: Any, ctx: Any, *out: Any) -> Any:
        raise NotImplementedError


class KeyedBroadcastProcessFunction(BroadcastProcessFunction):
    """A BroadcastProcessFunction whose other stream is keyed: ``process_element`` has keyed state,
    ``ctx.get_current_key()`` and timers (``on_timer``); ``process_broadcast_element`` may visit
    every key's state with ``ctx.apply_to_keyed_state(descriptor, fn(key, state))``.

    >>> rules = rule_stream.broadcast(MapStateDescriptor("rules", Types.STRING(), Types.PICKLED_BYTE_ARRAY()))
    >>> events.key_by(lambda e: e["user"]).connect(rules).process(ApplyRules())
    """

    ReadOnlyContext = _KeyedBroadcastReadOnlyContext
    Context = _KeyedBroadcastContext
    OnTimerContext = _KeyedBroadcastOnTimerContext

    def on_timer(self, timestamp: int, ctx: Any, *out: Any) -> Any:
        pass


class AsyncFunction(RichFunction):
    """Asynchronous I/O per record (``AsyncDataStream.unordered_wait`` / ``ordered_wait``).

    ``async def async_invoke(value)`` returns the list of outputs for ``value`` (an empty list for
    none); many run at once, up to the operator's capacity, on one asyncio event loop per subtask,
    so use asyncio clients (``redis.asyncio``, ``psycopg.AsyncConnection``, ``aiohttp``) and create
    them in ``open``. ``timeout(value)`` runs when ``async_invoke`` (with its retries) takes longer
    than the operator's timeout: it returns the outputs to emit instead, or raises (the default),
    which fails the job. Requests still in flight at a checkpoint are part of it and are sent again
    after a restore, so ``async_invoke`` should be safe to repeat (a lookup, an idempotent write).
    """

    async def async_invoke(self, value: Any) -> list:
        raise NotImplementedError

    def timeout(self, value: Any) -> list:
        raise TimeoutError(f"async function call has timed out for input: {str(value)[:200]}")


class AsyncRetryPredicate(ABC):  # noqa: B024 - PyFlink's interface: defaults, nothing abstract
    """When to attempt an async call again: on its result, on its exception."""

    def result_predicate(self) -> Any:
        """``fn(results) -> bool``: retry when True (None: never on results)."""
        return None

    def exception_predicate(self) -> Any:
        """``fn(exception) -> bool``: retry when True (None: never on exceptions)."""
        return None


class AsyncRetryStrategy(ABC):  # noqa: B024 - PyFlink's interface, implemented by the strategies
    """How often and after what delay an async call is attempted again (PyFlink's interface)."""

    def can_retry(self, current_attempts: int) -> bool:
        raise NotImplementedError

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        raise NotImplementedError

    def get_retry_predicate(self) -> AsyncRetryPredicate:
        raise NotImplementedError

    @staticmethod
    def no_restart() -> "AsyncRetryStrategy":
        return NO_RETRY_STRATEGY

    @staticmethod
    def fixed_delay(max_attempts: int, backoff_time_millis: int, result_predicate: Any = None,
                    exception_predicate: Any = None) -> "AsyncRetryStrategy":
        return FixedDelayRetryStrategy(max_attempts, backoff_time_millis, result_predicate, exception_predicate)

    @staticmethod
    def exponential_backoff(max_attempts: int, initial_delay: int, max_retry_delay: int, multiplier: float,
                            result_predicate: Any = None, exception_predicate: Any = None) -> "AsyncRetryStrategy":
        return ExponentialBackoffDelayRetryStrategy(max_attempts, initial_delay, max_retry_delay, multiplier,
                                                    result_predicate, exception_predicate)


# ---- async retry strategies (PyFlink's ``async_retry_strategies`` module re-exports them) ----------

class RetryPredicate(AsyncRetryPredicate):
    """Retry on results for which ``result_predicate`` is true, on exceptions for which
    ``exception_predicate`` is true."""

    def __init__(self, result_predicate: Callable[[list], bool] | None,
                 exception_predicate: Callable[[Exception], bool] | None) -> None:
        self._result_predicate = result_predicate
        self._exception_predicate = exception_predicate

    def result_predicate(self) -> Callable[[list], bool] | None:
        return self._result_predicate

    def exception_predicate(self) -> Callable[[Exception], bool] | None:
        return self._exception_predicate


class NoRetryStrategy(AsyncRetryStrategy):
    """Never retry."""

    def can_retry(self, current_attempts: int) -> bool:
        return False

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return -1

    def get_retry_predicate(self) -> AsyncRetryPredicate:
        return RetryPredicate(None, None)


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a number greater than zero, not {value!r}")


class FixedDelayRetryStrategy(AsyncRetryStrategy):
    """Up to ``max_attempts`` retries, ``backoff_time_millis`` apart."""

    def __init__(self, max_attempts: int, backoff_time_millis: int,
                 result_predicate: Callable[[list], bool] | None = None,
                 exception_predicate: Callable[[Exception], bool] | None = None) -> None:
        _positive("max_attempts", max_attempts)
        _positive("backoff_time_millis", backoff_time_millis)
        self._max_attempts = max_attempts
        self._backoff = backoff_time_millis
        self._predicate = RetryPredicate(result_predicate, exception_predicate)

    def can_retry(self, current_attempts: int) -> bool:
        return current_attempts <= self._max_attempts

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return self._backoff

    def get_retry_predicate(self) -> AsyncRetryPredicate:
        return self._predicate


class ExponentialBackoffDelayRetryStrategy(AsyncRetryStrategy):
    """Up to ``max_attempts`` retries, the delay growing from ``initial_delay`` by ``multiplier`` up
    to ``max_retry_delay`` (ms). The delay is computed from the attempt count alone, so one
    strategy object serves every request in flight."""

    def __init__(self, max_attempts: int, initial_delay: int, max_retry_delay: int, multiplier: float,
                 result_predicate: Callable[[list], bool] | None = None,
                 exception_predicate: Callable[[Exception], bool] | None = None) -> None:
        for name, value in (("max_attempts", max_attempts), ("initial_delay", initial_delay),
                            ("max_retry_delay", max_retry_delay), ("multiplier", multiplier)):
            _positive(name, value)
        self._max_attempts = max_attempts
        self._initial = initial_delay
        self._max_delay = max_retry_delay
        self._multiplier = multiplier
        self._predicate = RetryPredicate(result_predicate, exception_predicate)

    def can_retry(self, current_attempts: int) -> bool:
        return current_attempts <= self._max_attempts

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return int(min(self._initial * self._multiplier ** max(0, current_attempts - 1), self._max_delay))

    def get_retry_predicate(self) -> AsyncRetryPredicate:
        return self._predicate


NO_RETRY_STRATEGY: AsyncRetryStrategy = NoRetryStrategy()
