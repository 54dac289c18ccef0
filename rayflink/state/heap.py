"""The HashMap keyed state backend (Python dicts), and the plain state objects both backends share.

Every state lives in a *state table* (``rayflink.state.table``): a mapping
``make_ck(key, namespace) -> stored value`` with ``get``, ``__setitem__`` and ``pop``. For the
heap backend the table is a plain dict, so ``ValueState.value()`` is one ``dict.get``; the
RocksDB backend passes its write-back cache instead (``rayflink.state.rocksdb``). States with a
TTL are wrapped by ``rayflink.state.ttl``.

>>> from rayflink.datastream.state import ValueStateDescriptor
>>> from rayflink.common.typeinfo import Types
>>> backend = HeapKeyedStateBackend(operator_uid="count", max_parallelism=128, key_groups=range(128))
>>> count = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
>>> backend.set_current_key("alice"); count.update((count.value() or 0) + 1); count.value()
1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rayflink.clock import current_time_ms
from rayflink.datastream.state import (
    AggregatingState,
    ListState,
    MapState,
    ReducingState,
    StateDescriptor,
    ValueState,
    as_reduce_callable,
)
from rayflink.state.backend import (
    VOID_NAMESPACE,
    KeyedStateBackend,
    KeyedStateSnapshot,
    StateError,
    StateMigrationError,
)
from rayflink.state.key_groups import assign_key_group
from rayflink.state.table import NS_MARK, TableState, make_ck, short_repr, split_ck, state_error
from rayflink.state.ttl import TTL_STATES, IncrementalCleanup, convert_stored, copy_stored, purge_expired

KINDS = ("value", "list", "map", "reducing", "aggregating")


def wall_clock_ms() -> int:
    """Processing time in epoch milliseconds: the default TTL time provider."""
    return time.time_ns() // 1_000_000


class NoCurrentKey:
    """Stands in for ``(key, namespace)`` until a key is set: hashing it raises StateError.

    This makes the no-key check free on the hot path: the first ``dict.get`` raises.
    """

    __slots__ = ("message",)

    def __init__(self, operator_uid: str) -> None:
        self.message = (f"operator {operator_uid!r}: keyed state used outside a keyed context; "
                        "use state only after key_by(...) inside process_element/on_timer")

    def __hash__(self) -> int:
        raise StateError(self.message)

    def __eq__(self, other: object) -> bool:
        return self is other


def _ttl_signature(ttl: Any) -> Any:
    if ttl is None:
        return None
    return (ttl.get_ttl_ms(), ttl.update_type, ttl.state_visibility, ttl.ttl_time_characteristic,
            ttl.cleanup_strategies)


def registration_difference(old: StateDescriptor, new: StateDescriptor) -> str | None:
    """What differs between two registrations of one state name (None: they agree)."""
    if old.kind != new.kind:
        return f"the kind changed from {old.kind} to {new.kind}"
    if old.type_infos != new.type_infos:
        return "the type changed"
    if _ttl_signature(old.ttl_config) != _ttl_signature(new.ttl_config):
        def show(t: Any) -> str:
            if t is None:
                return "no TTL"
            return f"TTL {t.get_ttl_ms()} ms ({t.update_type.name}, {t.state_visibility.name})"
        return f"the TTL changed from {show(old.ttl_config)} to {show(new.ttl_config)}"
    if old.queryable_state_name != new.queryable_state_name:
        return (f"the queryable state name changed from {old.queryable_state_name!r} to "
                f"{new.queryable_state_name!r}")
    return None


class HeapValueState(TableState, ValueState):
    """``ValueState`` over a state table."""

    def value(self) -> Any:
        return self._get(self._backend._ck)

    def update(self, value: Any) -> None:
        if value is None:
            self._pop(self._backend._ck, None)
            return
        if type(value) not in self._seen:
            self._check(value)
        self._put(self._backend._ck, value)


class HeapListState(TableState, ListState):
    """``ListState`` over a state table; the stored value is a non-empty list."""

    def get(self) -> list[Any]:
        stored = self._get(self._backend._ck)
        return [] if stored is None else list(stored)

    def add(self, value: Any) -> None:
        if value is None:
            raise state_error(self._backend, self.name, "cannot add None to a ListState")
        if type(value) not in self._seen:
            self._check(value)
        self._append(self._backend._ck, value)

    def add_all(self, values: list[Any]) -> None:
        values = self._checked(values)
        if not values:
            return
        ck = self._backend._ck
        stored = self._get(ck)
        self._put(ck, values if stored is None else stored + values)

    def update(self, values: list[Any]) -> None:
        values = self._checked(values)
        if values:
            self._put(self._backend._ck, values)
        else:
            self._pop(self._backend._ck, None)

    def _checked(self, values: Iterable[Any] | None) -> list[Any]:
        values = list(values) if values is not None else []
        for v in values:
            if v is None:
                raise state_error(self._backend, self.name, "cannot add None to a ListState")
            if type(v) not in self._seen:
                self._check(v)
        return values

    def merge_namespaces(self, target: Any, sources: Iterable[Any]) -> None:
        """Append the lists of ``sources`` to the list of ``target`` (merging windows)."""
        merged: list[Any] = []
        for stored in self._merge_sources(target, sources):
            merged.extend(stored)
        if merged:
            ck = make_ck(self._backend.get_current_key(), target)
            stored = self._get(ck)
            self._put(ck, merged if stored is None else stored + merged)


class HeapMapState(TableState, MapState):
    """``MapState`` over a state table; the stored value is a non-empty dict."""

    def get(self, key: Any) -> Any:
        stored = self._get(self._backend._ck)
        return None if stored is None else stored.get(key)

    def put(self, key: Any, value: Any) -> None:
        self._checked_entry(key, value)
        self._put_entry(self._backend._ck, key, value)

    def remove(self, key: Any) -> None:
        self._remove_entry(self._backend._ck, key)

    def contains(self, key: Any) -> bool:
        stored = self._get(self._backend._ck)
        return stored is not None and key in stored

    def items(self) -> list[tuple[Any, Any]]:
        stored = self._get(self._backend._ck)
        return [] if stored is None else list(stored.items())

    def keys(self) -> list[Any]:
        stored = self._get(self._backend._ck)
        return [] if stored is None else list(stored)

    def values(self) -> list[Any]:
        stored = self._get(self._backend._ck)
        return [] if stored is None else list(stored.values())

    def is_empty(self) -> bool:
        return self._get(self._backend._ck) is None


class HeapReducingState(TableState, ReducingState):
    """``ReducingState`` over a state table."""

    def __init__(self, backend: "TableKeyedStateBackend", descriptor: Any, table: Any) -> None:
        super().__init__(backend, descriptor, table)
        self._reduce = as_reduce_callable(descriptor.reduce_function)

    def get(self) -> Any:
        return self._get(self._backend._ck)

    def add(self, value: Any) -> None:
        if value is None:
            return
        ck = self._backend._ck
        self._put(ck, self._reduced(self._reduce, self._get(ck), value))

    def merge_namespaces(self, target: Any, sources: Iterable[Any]) -> None:
        """Reduce the values of ``sources`` into ``target`` (merging windows)."""
        self._merge_values(target, sources, self._reduce)


class HeapAggregatingState(TableState, AggregatingState):
    """``AggregatingState`` over a state table; the stored value is the accumulator."""

    def __init__(self, backend: "TableKeyedStateBackend", descriptor: Any, table: Any) -> None:
        super().__init__(backend, descriptor, table)
        self._agg = descriptor.agg_function

    def get(self) -> Any:
        acc = self._get(self._backend._ck)
        return None if acc is None else self._agg.get_result(acc)

    def add(self, value: Any) -> None:
        ck = self._backend._ck
        self._put(ck, self._aggregated(self._agg, self._get(ck), value))

    def merge_namespaces(self, target: Any, sources: Iterable[Any]) -> None:
        """Merge the accumulators of ``sources`` into ``target`` (merging windows)."""
        self._merge_values(target, sources, self._agg.merge)


PLAIN_STATES: dict[str, type] = {
    "value": HeapValueState, "list": HeapListState, "map": HeapMapState,
    "reducing": HeapReducingState, "aggregating": HeapAggregatingState,
}


# ---------------------------------------------------------------------------- backends

class TableKeyedStateBackend(KeyedStateBackend):
    """Registration, current key and TTL wiring shared by the heap and RocksDB backends.

    Subclasses provide the tables: ``_open_table(name, kind, ttl)`` returns a
    mapping with ``get``/``__setitem__``/``pop`` over ``make_ck(key, namespace)``.
    """

    plain_states: dict[str, type] = PLAIN_STATES

    def __init__(self, *, operator_uid: str, max_parallelism: int, key_groups: range,
                 ttl_time_provider: Callable[[], int] | None = None) -> None:
        super().__init__(operator_uid=operator_uid, max_parallelism=max_parallelism,
                         key_groups=key_groups)
        self._ck: Any = NoCurrentKey(operator_uid)
        self.ttl_time_provider: Callable[[], int] = ttl_time_provider or current_time_ms
        self._states: dict[str, Any] = {}
        self._descriptors: dict[str, StateDescriptor] = {}
        # name -> (kind, ttl wrapped?) for every table, registered or only restored
        self._table_meta: dict[str, tuple[str, bool]] = {}
        self._per_record_cleanup: list[Callable[[], None]] = []

    # -- current key

    def set_current_key(self, key: Any) -> None:
        self.current_key = key
        self._has_key = True
        ns = self.current_namespace
        self._ck = key if ns is None else (key, ns, NS_MARK)
        if self._per_record_cleanup:
            for run in self._per_record_cleanup:
                run()

    def set_current_namespace(self, namespace: Any) -> None:
        self.current_namespace = namespace
        if self._has_key:
            self._ck = make_ck(self.current_key, namespace)

    # -- registration

    def get_partitioned_state(self, descriptor: StateDescriptor) -> Any:
        if not isinstance(descriptor, StateDescriptor):
            raise StateError(
                f"operator {self.operator_uid!r}: expected a state descriptor (ValueStateDescriptor, "
                f"ListStateDescriptor, ...), got {short_repr(descriptor)}")
        name = descriptor.name
        existing = self._states.get(name)
        if existing is not None:
            old = self._descriptors[name]
            difference = registration_difference(old, descriptor)
            if difference is not None:
                raise state_error(
                    self, name,
                    f"already registered as {old.kind} state {old!r}, now requested as "
                    f"{descriptor.kind} state {descriptor!r}: {difference}; use another state name "
                    "or the same kind, type and TTL")
            return existing
        if descriptor.kind not in KINDS:
            raise state_error(self, name, f"unknown state kind {descriptor.kind!r}")
        queryable = descriptor.queryable_state_name
        if queryable is not None:
            for other in self._descriptors.values():
                if other.queryable_state_name == queryable:
                    raise state_error(
                        self, name, f"queryable state name {queryable!r} is already used by state "
                                    f"{other.name!r}; give each queryable state its own name")
        ttl = descriptor.ttl_config
        meta = self._table_meta.get(name)
        if meta is not None and meta[0] != descriptor.kind:
            raise StateMigrationError(
                f"state {name!r} of operator {self.operator_uid!r}: restored as {meta[0]} state but "
                f"requested as {descriptor.kind} state {descriptor!r}; keep the state kind when "
                "changing the job, or give the new state another name")
        table = self._open_table(name, descriptor.kind, ttl is not None)
        if meta is not None and meta[1] != (ttl is not None):
            self._convert_ttl(name, descriptor.kind, ttl is not None)
        self._table_meta[name] = (descriptor.kind, ttl is not None)
        if ttl is None:
            state = self.plain_states[descriptor.kind](self, descriptor, table)
        else:
            cleanup = self._incremental_cleanup(name, descriptor.kind, ttl, table)
            state = TTL_STATES[descriptor.kind](
                self, descriptor, table, ttl, self.ttl_time_provider, cleanup)
        self._states[name] = state
        self._descriptors[name] = descriptor
        return state

    def _incremental_cleanup(self, name: str, kind: str, ttl: Any, table: Any) -> Callable[[], None] | None:
        """The cleanup to run on each access of a TTL state (heap: incremental cleanup)."""
        return None

    def _open_table(self, name: str, kind: str, ttl: bool) -> Any:
        raise NotImplementedError

    def _convert_ttl(self, name: str, kind: str, to_ttl: bool) -> None:
        raise NotImplementedError

    def registered_states(self) -> dict[str, StateDescriptor]:
        """Descriptors of the states registered so far, by name."""
        return dict(self._descriptors)

    # -- queryable state

    def queryable_states(self) -> dict[str, str]:
        """Queryable state name -> state name, for the states registered as queryable."""
        return {d.queryable_state_name: name for name, d in self._descriptors.items()
                if d.queryable_state_name is not None}

    def query(self, state_name: str, key: Any) -> tuple[bool, Any]:
        """``(True, value)`` of ``key`` in ``state_name`` (void namespace) as the job would read
        it — a list for list state, a dict for map state — or ``(False, None)`` when the key has
        no entry. Leaves the current key as it was; call it from the task's thread only."""
        state = self._states[state_name]
        saved = self._ck
        self._ck = make_ck(key, None)
        try:
            if state._get(self._ck) is None:
                return False, None
            kind = state.descriptor.kind
            if kind == "value":
                return True, state.value()
            if kind == "map":
                return True, dict(state.items())
            return True, state.get()
        finally:
            self._ck = saved

    def _ttl_purge(self, name: str) -> int | None:
        """The TTL in ms when snapshots of ``name`` drop expired entries, else None."""
        desc = self._descriptors.get(name)
        if desc is None or desc.ttl_config is None:
            return None
        if not desc.ttl_config.get_cleanup_strategies().in_full_snapshot():
            return None
        return desc.ttl_config.get_ttl_ms()

    def _restored_states(self, snapshots: list[KeyedStateSnapshot]) -> Iterator[tuple[str, str, Iterator]]:
        """For each state of the full ``snapshots``: its name, its kind and its ``(ck, stored)``
        entries in the key groups this subtask owns, wrapped or unwrapped for this operator's TTL.
        A state new here is registered (``_restore_new_state``); a state of another kind here fails."""
        now = self.ttl_time_provider()
        for snap in snapshots:
            self._check_snapshot(snap)
            for name, st in snap.states.items():
                kind, ttl = st["kind"], bool(st.get("ttl", False))
                meta = self._table_meta.get(name)
                if meta is None:
                    meta = (kind, ttl)
                    self._restore_new_state(name, kind, ttl)
                elif meta[0] != kind:
                    raise self._restored_kind_differs(name, kind, meta[0])
                yield name, kind, self._owned_entries(st["entries"], kind, None if ttl == meta[1] else meta[1], now)

    def _owned_entries(self, entries: dict, kind: str, to_ttl: bool | None, now: int) -> Iterator[tuple[Any, Any]]:
        """The ``(ck, stored)`` entries of the key groups this subtask owns; with ``to_ttl`` set,
        wrapped (True) or unwrapped (False)."""
        owned = self.key_groups
        for kg, group in entries.items():
            if kg not in owned:
                continue
            for key, ns, stored in group:
                yield make_ck(key, ns), stored if to_ttl is None else convert_stored(kind, stored, to_ttl, now)

    def _restore_new_state(self, name: str, kind: str, ttl: bool) -> None:
        """Register a state found in a snapshot and not registered here."""
        raise NotImplementedError

    def _restored_kind_differs(self, name: str, kind: str, registered: str) -> Exception:
        """The error of a state restored as ``kind`` and registered here as ``registered``."""
        raise NotImplementedError

    def _check_snapshot(self, snapshot: KeyedStateSnapshot) -> None:
        if snapshot.max_parallelism != self.max_parallelism:
            raise StateError(
                f"operator {self.operator_uid!r}: snapshot of operator {snapshot.operator_uid!r} "
                f"has max parallelism {snapshot.max_parallelism} but this job has "
                f"{self.max_parallelism}; keep max parallelism (pipeline.max-parallelism) "
                "unchanged across restores")


class HeapKeyedStateBackend(TableKeyedStateBackend):
    """Keyed state in Python dicts: one dict ``make_ck(key, namespace) -> value`` per state."""

    def __init__(self, *, operator_uid: str, max_parallelism: int, key_groups: range,
                 ttl_time_provider: Callable[[], int] | None = None) -> None:
        super().__init__(operator_uid=operator_uid, max_parallelism=max_parallelism,
                         key_groups=key_groups, ttl_time_provider=ttl_time_provider)
        self._tables: dict[str, dict[tuple[Any, Any], Any]] = {}

    def _open_table(self, name: str, kind: str, ttl: bool) -> dict:
        return self._tables.setdefault(name, {})

    def _convert_ttl(self, name: str, kind: str, to_ttl: bool) -> None:
        now = self.ttl_time_provider()
        table = self._tables[name]
        for ck, stored in list(table.items()):
            table[ck] = convert_stored(kind, stored, to_ttl, now)

    def _incremental_cleanup(self, name: str, kind: str, ttl: Any, table: Any) -> Callable[[], None] | None:
        strategy = ttl.get_cleanup_strategies().get_incremental_cleanup_strategy()
        if strategy is None:
            return None
        cleanup = IncrementalCleanup(table, kind, ttl.get_ttl_ms(), self.ttl_time_provider,
                                     strategy.cleanup_size)
        if strategy.run_cleanup_for_every_record:
            self._per_record_cleanup.append(cleanup.run)
        return cleanup.run

    def keys(self, state_name: str, namespace: Any = VOID_NAMESPACE) -> list[Any]:
        table = self._tables.get(state_name)
        if table is None:
            return []
        found = []
        for ck in table:
            k, ns = split_ck(ck)
            if ns == namespace:
                found.append(k)
        return found

    def snapshot(self) -> KeyedStateSnapshot:
        now = self.ttl_time_provider()
        max_p = self.max_parallelism
        groups: dict[Any, int] = {}
        states: dict[str, dict[str, Any]] = {}
        for name, table in self._tables.items():
            kind, ttl = self._table_meta[name]
            purge_ttl = self._ttl_purge(name) if ttl else None
            entries: dict[int, list] = {}
            for ck, stored in table.items():
                key, ns = split_ck(ck)
                kg = groups.get(key)
                if kg is None:
                    kg = groups[key] = assign_key_group(key, max_p)
                if purge_ttl is not None:
                    stored = purge_expired(kind, stored, now, purge_ttl)
                    if stored is None:
                        continue
                entries.setdefault(kg, []).append((key, ns, copy_stored(kind, stored)))
            states[name] = {"kind": kind, "ttl": ttl, "entries": entries}
        return KeyedStateSnapshot(self.operator_uid, max_p, states)

    def restore(self, snapshots: list[KeyedStateSnapshot]) -> None:
        for name, kind, entries in self._restored_states(snapshots):
            table = self._tables.setdefault(name, {})
            for ck, stored in entries:
                table[ck] = copy_stored(kind, stored)

    def _restore_new_state(self, name: str, kind: str, ttl: bool) -> None:
        self._table_meta[name] = (kind, ttl)

    def _restored_kind_differs(self, name: str, kind: str, registered: str) -> Exception:
        return StateMigrationError(
            f"state {name!r} of operator {self.operator_uid!r}: the snapshot holds {kind} "
            f"state but this operator has {registered} state of that name; keep the state kind "
            "when changing the job, or give the new state another name")

    def dispose(self) -> None:
        self._tables.clear()
        self._states.clear()
        self._descriptors.clear()
        self._table_meta.clear()
        self._per_record_cleanup.clear()
