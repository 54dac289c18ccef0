"""PyFlink's ``pyflink.datastream.state``: keyed state descriptors, state interfaces, TTL config.

Declarative only: a descriptor records what the user asked for; the keyed state
backends in ``rayflink.state`` create the state objects.

>>> from rayflink.common.time import Time
>>> from rayflink.common.typeinfo import Types
>>> desc = ValueStateDescriptor("total", Types.DOUBLE())
>>> desc.enable_time_to_live(StateTtlConfig.new_builder(Time.hours(24)).build())
>>> desc.get_name()
'total'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from rayflink.common.typeinfo import TypeInformation, Types

__all__ = [
    "AggregateFunction", "AggregatingState", "AggregatingStateDescriptor", "AppendingState",
    "BroadcastState", "ListState", "ListStateDescriptor", "MapState", "MapStateDescriptor", "MergingState",
    "OperatorStateStore", "ReadOnlyBroadcastState", "ReduceFunction", "ReducingState",
    "ReducingStateDescriptor", "State", "StateDescriptor", "StateTtlConfig", "ValueState", "ValueStateDescriptor",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
IN = TypeVar("IN")
OUT = TypeVar("OUT")


# ---------------------------------------------------------------------------- functions

class ReduceFunction(ABC, Generic[T]):
    """PyFlink's ReduceFunction: combines two values of the same type into one."""

    @abstractmethod
    def reduce(self, value1: T, value2: T) -> T: ...


class AggregateFunction(ABC):
    """PyFlink's AggregateFunction: accumulator-based incremental aggregation."""

    @abstractmethod
    def create_accumulator(self) -> Any: ...

    @abstractmethod
    def add(self, value: Any, accumulator: Any) -> Any: ...

    @abstractmethod
    def get_result(self, accumulator: Any) -> Any: ...

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.merge is not implemented")


def as_reduce_callable(reduce_function: Any) -> Callable[[Any, Any], Any]:
    """A plain ``(a, b) -> c`` callable from a callable or an object with ``.reduce``."""
    if hasattr(reduce_function, "reduce"):
        return reduce_function.reduce
    if callable(reduce_function):
        return reduce_function
    raise TypeError(f"reduce function must be callable or have .reduce(a, b); got "
                    f"{type(reduce_function).__name__}")


# ---------------------------------------------------------------------------- TTL

class TtlTimeCharacteristic(Enum):
    """Which clock TTL uses; Flink supports processing time only."""

    ProcessingTime = 0


class _UpdateType(Enum):
    Disabled = 0
    OnCreateAndWrite = 1
    OnReadAndWrite = 2


class _StateVisibility(Enum):
    ReturnExpiredIfNotCleanedUp = 0
    NeverReturnExpired = 1


@dataclass(frozen=True)
class IncrementalCleanupStrategy:
    """Check ``cleanup_size`` entries per state access (and per record if asked)."""

    cleanup_size: int = 5
    run_cleanup_for_every_record: bool = False


@dataclass(frozen=True)
class RocksdbCompactFilterCleanupStrategy:
    """RocksDB: drop expired entries in the background, checking time every N entries."""

    query_time_after_num_entries: int = 1000


@dataclass(frozen=True)
class CleanupStrategies:
    """The cleanup strategies of a ``StateTtlConfig``."""

    cleanup_full_snapshot: bool = False
    incremental: IncrementalCleanupStrategy | None = None
    rocksdb_compact_filter: RocksdbCompactFilterCleanupStrategy | None = None
    cleanup_in_background: bool = True

    def is_cleanup_in_background(self) -> bool:
        return self.cleanup_in_background

    def in_full_snapshot(self) -> bool:
        return self.cleanup_full_snapshot

    def get_incremental_cleanup_strategy(self) -> IncrementalCleanupStrategy | None:
        if self.incremental is None and self.cleanup_in_background:
            return IncrementalCleanupStrategy()
        return self.incremental

    def get_rocksdb_compact_filter_cleanup_strategy(self) -> RocksdbCompactFilterCleanupStrategy | None:
        if self.rocksdb_compact_filter is None and self.cleanup_in_background:
            return RocksdbCompactFilterCleanupStrategy()
        return self.rocksdb_compact_filter


_CleanupStrategies = CleanupStrategies  # the name StateTtlConfig's annotations use: its own attribute hides the class


@dataclass(frozen=True)
class StateTtlConfig:
    """Time-to-live of keyed state entries (Flink's ``StateTtlConfig``).

    >>> from rayflink.common.time import Time
    >>> ttl = (StateTtlConfig.new_builder(Time.hours(24))
    ...        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
    ...        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
    ...        .cleanup_full_snapshot()
    ...        .build())
    >>> ttl.get_ttl().to_milliseconds()
    86400000
    """

    CleanupStrategies = CleanupStrategies  # PyFlink reaches it as StateTtlConfig.CleanupStrategies

    UpdateType = _UpdateType
    StateVisibility = _StateVisibility
    TtlTimeCharacteristic = TtlTimeCharacteristic

    update_type: _UpdateType
    state_visibility: _StateVisibility
    ttl_time_characteristic: TtlTimeCharacteristic
    ttl: Any  # anything with to_milliseconds()
    cleanup_strategies: _CleanupStrategies

    @staticmethod
    def new_builder(ttl: Any) -> "StateTtlConfig.Builder":
        return StateTtlConfig.Builder(ttl)

    def get_update_type(self) -> _UpdateType:
        return self.update_type

    def get_state_visibility(self) -> _StateVisibility:
        return self.state_visibility

    def get_ttl(self) -> Any:
        return self.ttl

    def get_ttl_ms(self) -> int:
        return int(self.ttl.to_milliseconds())

    def get_ttl_time_characteristic(self) -> TtlTimeCharacteristic:
        return self.ttl_time_characteristic

    def is_enabled(self) -> bool:
        return self.update_type is not _UpdateType.Disabled

    def get_cleanup_strategies(self) -> _CleanupStrategies:
        return self.cleanup_strategies

    class Builder:
        """Builder of ``StateTtlConfig``; every setter returns the builder."""

        def __init__(self, ttl: Any) -> None:
            _check_ttl(ttl)
            self._ttl = ttl
            self._update_type = _UpdateType.OnCreateAndWrite
            self._visibility = _StateVisibility.NeverReturnExpired
            self._characteristic = TtlTimeCharacteristic.ProcessingTime
            self._full_snapshot = False
            self._incremental: IncrementalCleanupStrategy | None = None
            self._compact_filter: RocksdbCompactFilterCleanupStrategy | None = None
            self._in_background = True

        def set_update_type(self, update_type: _UpdateType) -> "StateTtlConfig.Builder":
            self._update_type = update_type
            return self

        def update_ttl_on_create_and_write(self) -> "StateTtlConfig.Builder":
            return self.set_update_type(_UpdateType.OnCreateAndWrite)

        def update_ttl_on_read_and_write(self) -> "StateTtlConfig.Builder":
            return self.set_update_type(_UpdateType.OnReadAndWrite)

        def set_state_visibility(self, visibility: _StateVisibility) -> "StateTtlConfig.Builder":
            self._visibility = visibility
            return self

        def return_expired_if_not_cleaned_up(self) -> "StateTtlConfig.Builder":
            return self.set_state_visibility(_StateVisibility.ReturnExpiredIfNotCleanedUp)

        def never_return_expired(self) -> "StateTtlConfig.Builder":
            return self.set_state_visibility(_StateVisibility.NeverReturnExpired)

        def set_ttl_time_characteristic(
                self, characteristic: TtlTimeCharacteristic) -> "StateTtlConfig.Builder":
            self._characteristic = characteristic
            return self

        def use_processing_time(self) -> "StateTtlConfig.Builder":
            return self.set_ttl_time_characteristic(TtlTimeCharacteristic.ProcessingTime)

        def set_ttl(self, ttl: Any) -> "StateTtlConfig.Builder":
            _check_ttl(ttl)
            self._ttl = ttl
            return self

        def cleanup_full_snapshot(self) -> "StateTtlConfig.Builder":
            self._full_snapshot = True
            return self

        def cleanup_incrementally(self, cleanup_size: int,
                                  run_cleanup_for_every_record: bool) -> "StateTtlConfig.Builder":
            if cleanup_size <= 0:
                raise ValueError(f"cleanup_incrementally: cleanup_size must be > 0, got {cleanup_size}")
            self._incremental = IncrementalCleanupStrategy(cleanup_size, run_cleanup_for_every_record)
            return self

        def cleanup_in_rocksdb_compact_filter(
                self, query_time_after_num_entries: int,
                periodic_compaction_time: Any = None) -> "StateTtlConfig.Builder":
            self._compact_filter = RocksdbCompactFilterCleanupStrategy(query_time_after_num_entries)
            return self

        def disable_cleanup_in_background(self) -> "StateTtlConfig.Builder":
            self._in_background = False
            return self

        def build(self) -> "StateTtlConfig":
            return StateTtlConfig(
                self._update_type, self._visibility, self._characteristic, self._ttl,
                CleanupStrategies(self._full_snapshot, self._incremental,
                                  self._compact_filter, self._in_background))


def _check_ttl(ttl: Any) -> None:
    if not hasattr(ttl, "to_milliseconds"):
        raise TypeError(f"TTL must be a Time or Duration (anything with to_milliseconds()); "
                        f"got {type(ttl).__name__}")
    if ttl.to_milliseconds() <= 0:
        raise ValueError(f"TTL must be positive, got {ttl.to_milliseconds()} ms")


# ---------------------------------------------------------------------------- descriptors

class StateDescriptor:
    """Name, kind and types of one keyed state; the backend creates the state from it."""

    kind: str = ""

    def __init__(self, name: str, type_infos: tuple) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"state name must be a non-empty str, got {name!r}")
        for t in type_infos:
            if t is not None and not isinstance(t, TypeInformation):
                raise TypeError(f"state {name!r}: expected a TypeInformation (Types.*), "
                                f"got {type(t).__name__}")
        self.name = name
        self.type_infos = type_infos
        self.ttl_config: StateTtlConfig | None = None
        self.queryable_state_name: str | None = None

    def get_name(self) -> str:
        return self.name

    @property
    def type_info(self) -> TypeInformation | None:
        """The state's type as PyFlink reports it (``LIST<..>`` for list, ``MAP<..>`` for map state)."""
        infos = self.type_infos
        if any(t is None for t in infos):
            return None
        if self.kind == "list":
            return Types.LIST(infos[0])
        if self.kind == "map":
            return Types.MAP(infos[0], infos[1])
        return infos[0]

    def get_ttl_config(self) -> StateTtlConfig | None:
        return self.ttl_config

    def enable_time_to_live(self, ttl_config: StateTtlConfig) -> None:
        """Expire entries ``ttl`` after their last write (or access) — see StateTtlConfig.

        Raises ValueError on a queryable state (as Flink: a query would count as an access).
        """
        if self.queryable_state_name is not None and ttl_config.is_enabled():
            raise ValueError(f"state {self.name!r} is queryable as {self.queryable_state_name!r}; "
                             "queryable state cannot have a TTL (as in Flink): drop one of the two")
        self.ttl_config = ttl_config if ttl_config.is_enabled() else None

    def set_queryable(self, queryable_state_name: str) -> None:
        """Let clients outside the job read this state while the job runs, by key.

        >>> desc = ValueStateDescriptor("count", Types.LONG())
        >>> desc.set_queryable("count-by-user")
        >>> desc.get_queryable_state_name()
        'count-by-user'

        Read it with ``QueryableStateClient(job_id).get_kv_state("count-by-user", key)``
        (``rayflink.queryablestate``). Raises ValueError for an empty name, a second name, or
        a state with a TTL.
        """
        if not isinstance(queryable_state_name, str) or not queryable_state_name:
            raise ValueError(f"state {self.name!r}: the queryable state name must be a non-empty str, "
                             f"got {queryable_state_name!r}")
        if self.queryable_state_name not in (None, queryable_state_name):
            raise ValueError(f"state {self.name!r} is already queryable as {self.queryable_state_name!r}")
        if self.ttl_config is not None:
            raise ValueError(f"state {self.name!r} has a TTL; queryable state cannot have one (as in "
                             "Flink): drop one of the two")
        self.queryable_state_name = queryable_state_name

    def is_queryable(self) -> bool:
        return self.queryable_state_name is not None

    def get_queryable_state_name(self) -> str | None:
        return self.queryable_state_name

    def __repr__(self) -> str:
        types = ", ".join(map(repr, self.type_infos))
        return f"{type(self).__name__}({self.name!r}, {types})"


class ValueStateDescriptor(StateDescriptor):
    """Descriptor of a ``ValueState``: ``ValueStateDescriptor("count", Types.LONG())``."""

    kind = "value"

    def __init__(self, name: str, value_type_info: TypeInformation) -> None:
        super().__init__(name, (value_type_info,))


class ListStateDescriptor(StateDescriptor):
    """Descriptor of a ``ListState``: ``ListStateDescriptor("seen", Types.STRING())``."""

    kind = "list"

    def __init__(self, name: str, elem_type_info: TypeInformation) -> None:
        super().__init__(name, (elem_type_info,))


class MapStateDescriptor(StateDescriptor):
    """Descriptor of a ``MapState``: ``MapStateDescriptor("m", Types.STRING(), Types.LONG())``."""

    kind = "map"

    def __init__(self, name: str, key_type_info: TypeInformation,
                 value_type_info: TypeInformation) -> None:
        super().__init__(name, (key_type_info, value_type_info))


class ReducingStateDescriptor(StateDescriptor):
    """Descriptor of a ``ReducingState``: ``ReducingStateDescriptor("sum", lambda a, b: a + b, Types.LONG())``."""

    kind = "reducing"

    def __init__(self, name: str, reduce_function: Any, type_info: TypeInformation) -> None:
        super().__init__(name, (type_info,))
        self.reduce_function = reduce_function
        as_reduce_callable(reduce_function)  # fail at declaration, not at first record

    def get_reduce_function(self) -> Any:
        return self.reduce_function


class AggregatingStateDescriptor(StateDescriptor):
    """Descriptor of an ``AggregatingState`` with an ``AggregateFunction``."""

    kind = "aggregating"

    def __init__(self, name: str, agg_function: Any, state_type_info: TypeInformation) -> None:
        super().__init__(name, (state_type_info,))
        for method in ("create_accumulator", "add", "get_result"):
            if not callable(getattr(agg_function, method, None)):
                raise TypeError(f"state {name!r}: aggregate function {type(agg_function).__name__} "
                                f"has no {method}() (see AggregateFunction)")
        self.agg_function = agg_function

    def get_agg_function(self) -> Any:
        return self.agg_function


# ---------------------------------------------------------------------------- state interfaces

class State(ABC):
    """A keyed state, scoped to the current key (and namespace) of its operator."""

    @abstractmethod
    def clear(self) -> None:
        """Remove the entry of the current key."""


class ValueState(State, Generic[T]):
    """One value per key."""

    @abstractmethod
    def value(self) -> T | None: ...

    @abstractmethod
    def update(self, value: T | None) -> None: ...


class AppendingState(State, Generic[IN, OUT]):
    @abstractmethod
    def get(self) -> OUT: ...

    @abstractmethod
    def add(self, value: IN) -> None: ...


class MergingState(AppendingState[IN, OUT]):
    pass


class ListState(MergingState[T, Iterable[T]]):
    """A list of values per key."""

    @abstractmethod
    def update(self, values: list[T]) -> None: ...

    @abstractmethod
    def add_all(self, values: list[T]) -> None: ...


class ReducingState(MergingState[T, T]):
    """One value per key, combined with a reduce function on ``add``."""


class AggregatingState(MergingState[IN, OUT]):
    """One accumulator per key, updated with an AggregateFunction on ``add``."""


class _MapView(State, Generic[K, V]):
    """The reading side of a map state (keyed or broadcast)."""

    @abstractmethod
    def get(self, key: K) -> V | None: ...

    @abstractmethod
    def contains(self, key: K) -> bool: ...

    @abstractmethod
    def items(self) -> Iterable[tuple[K, V]]: ...

    @abstractmethod
    def keys(self) -> Iterable[K]: ...

    @abstractmethod
    def values(self) -> Iterable[V]: ...

    @abstractmethod
    def is_empty(self) -> bool: ...

    def __getitem__(self, key: K) -> V | None:
        return self.get(key)

    def __contains__(self, key: K) -> bool:
        return self.contains(key)

    def __iter__(self):
        return iter(self.keys())


class _MutableMap(_MapView[K, V]):
    """The writing side of a map state (keyed, or broadcast in ``process_broadcast_element``)."""

    @abstractmethod
    def put(self, key: K, value: V) -> None: ...

    def put_all(self, dict_value: dict[K, V]) -> None:
        """Put every entry of ``dict_value``."""
        for k, v in dict_value.items():
            self.put(k, v)

    @abstractmethod
    def remove(self, key: K) -> None: ...

    def __setitem__(self, key: K, value: V) -> None:
        self.put(key, value)

    def __delitem__(self, key: K) -> None:
        self.remove(key)


class MapState(_MutableMap[K, V]):
    """A map per key."""


class ReadOnlyBroadcastState(_MapView[K, V]):
    """A broadcast state as ``process_element`` sees it (``ctx.get_broadcast_state(descriptor)``):
    the map every broadcast record may update, read only here. Do not change the values it
    returns in place: they are the subtask's own copy, not a copy of it."""


class BroadcastState(ReadOnlyBroadcastState[K, V], _MutableMap[K, V]):
    """A broadcast state as ``process_broadcast_element`` sees it: a map it may change. Every
    subtask keeps its own copy and gets every broadcast record, so the function must change it
    alike in every subtask (from the broadcast records alone), as Flink requires."""


class OperatorStateStore(ABC):
    """An operator's non-keyed state: its broadcast states (the only kind PyFlink exposes)."""

    @abstractmethod
    def get_broadcast_state(self, state_descriptor: MapStateDescriptor) -> BroadcastState:
        """The broadcast state ``state_descriptor`` names, writable."""
