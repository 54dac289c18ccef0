"""State time-to-live: values wrapped with their last-access time, shared by both backends.

A TTL state stores ``(value, last_access_ms)`` where a plain state stores ``value``:
the whole value for value, reducing and aggregating state, each element for list
state and each entry for map state (as Flink does). An entry is expired when
``last_access_ms + ttl <= now``. Expired entries are removed when read, left out of
full snapshots (``cleanup_full_snapshot``), swept a few entries per state access on
the heap (``cleanup_incrementally``) and swept a few entries per write-batch flush
in RocksDB (``cleanup_in_rocksdb_compact_filter``; see ``rayflink.state.rocksdb``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from rayflink.datastream.state import (
    AggregatingState,
    AggregatingStateDescriptor,
    ListState,
    MapState,
    ReducingState,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueState,
    as_reduce_callable,
)
from rayflink.state.table import TableState, state_error


def expired(last_access_ms: int, ttl_ms: int, now: int) -> bool:
    """Flink's rule: expired once ``now >= last_access + ttl``."""
    return last_access_ms + ttl_ms <= now


def purge_expired(kind: str, stored: Any, now: int, ttl_ms: int) -> Any:
    """``stored`` without its expired parts; None if nothing is left; the same object if
    nothing expired."""
    if kind == "list":
        alive = [w for w in stored if w[1] + ttl_ms > now]
        if len(alive) == len(stored):
            return stored
        return alive or None
    if kind == "map":
        alive_entries = {k: w for k, w in stored.items() if w[1] + ttl_ms > now}
        if len(alive_entries) == len(stored):
            return stored
        return alive_entries or None
    return None if stored[1] + ttl_ms <= now else stored


def convert_stored(kind: str, stored: Any, to_ttl: bool, now: int) -> Any:
    """Wrap (``to_ttl``) or unwrap a stored value, when TTL is switched on or off for a state."""
    if to_ttl:
        if kind == "list":
            return [(v, now) for v in stored]
        if kind == "map":
            return {k: (v, now) for k, v in stored.items()}
        return (stored, now)
    if kind == "list":
        return [w[0] for w in stored]
    if kind == "map":
        return {k: w[0] for k, w in stored.items()}
    return stored[0]


def copy_stored(kind: str, stored: Any) -> Any:
    """A copy of the containers of a stored value, so later writes do not change it."""
    if kind == "list":
        return list(stored)
    if kind == "map":
        return dict(stored)
    return stored


class IncrementalCleanup:
    """Checks ``cleanup_size`` entries of a heap state table per call, round-robin."""

    def __init__(self, table: dict, kind: str, ttl_ms: int, clock: Callable[[], int],
                 cleanup_size: int) -> None:
        self._table = table
        self._kind = kind
        self._ttl_ms = ttl_ms
        self._clock = clock
        self._size = cleanup_size
        self._keys: list | None = None
        self._pos = 0

    def run(self) -> None:
        table = self._table
        if self._keys is None:
            if not table:
                return
            self._keys = list(table)
            self._pos = 0
        keys, pos = self._keys, self._pos
        end = min(pos + self._size, len(keys))
        now = self._clock()
        for ck in keys[pos:end]:
            stored = table.get(ck)
            if stored is None:
                continue
            alive = purge_expired(self._kind, stored, now, self._ttl_ms)
            if alive is None:
                del table[ck]
            elif alive is not stored:
                table[ck] = alive
        if end >= len(keys):
            self._keys = None
        else:
            self._pos = end


class TtlState(TableState):
    """Fields of the TTL state objects: TTL in ms, clock, update type and visibility."""

    def __init__(self, backend: Any, descriptor: Any, table: Any, ttl: StateTtlConfig,
                 clock: Callable[[], int], cleanup: Callable[[], None] | None) -> None:
        super().__init__(backend, descriptor, table)
        self._ttl = ttl.get_ttl_ms()
        self._clock = clock
        self._update_on_read = ttl.get_update_type() is StateTtlConfig.UpdateType.OnReadAndWrite
        self._return_expired = (ttl.get_state_visibility()
                                is StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
        self._cleanup = cleanup

    def _read_wrapped(self, ck: Any) -> Any:
        """The unexpired ``(value, ts)`` of ``ck`` or None; removes it if expired."""
        if self._cleanup is not None:
            self._cleanup()
        w = self._get(ck)
        if w is None:
            return None
        now = self._clock()
        if w[1] + self._ttl <= now:
            self._pop(ck, None)
            return w if self._return_expired else None
        if self._update_on_read:
            w = (w[0], now)
            self._put(ck, w)
        return w

    def _current_stored(self) -> tuple[Any, Any]:
        """After the incremental cleanup: the current key and namespace, and what is stored there."""
        if self._cleanup is not None:
            self._cleanup()
        ck = self._backend._ck
        return ck, self._get(ck)

    def _read_value(self) -> Any:
        """The unexpired value of the current key and namespace, or None."""
        w = self._read_wrapped(self._backend._ck)
        return None if w is None else w[0]

    def _unexpired_value(self, ck: Any) -> Any:
        """The unexpired value of ``ck`` for a write (expired counts as absent)."""
        if self._cleanup is not None:
            self._cleanup()
        w = self._get(ck)
        if w is None or w[1] + self._ttl <= self._clock():
            return None
        return w[0]

    def clear(self) -> None:
        self._pop(self._backend._ck, None)


class TtlValueState(TtlState, ValueState):
    """``ValueState`` with TTL."""

    def value(self) -> Any:
        return self._read_value()

    def update(self, value: Any) -> None:
        ck = self._backend._ck
        if self._cleanup is not None:
            self._cleanup()
        if value is None:
            self._pop(ck, None)
            return
        if type(value) not in self._seen:
            self._check(value)
        self._put(ck, (value, self._clock()))


class TtlReducingState(TtlState, ReducingState):
    """``ReducingState`` with TTL: an expired value is not reduced with new ones."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._reduce = as_reduce_callable(cast(ReducingStateDescriptor, self.descriptor).reduce_function)

    def get(self) -> Any:
        return self._read_value()

    def add(self, value: Any) -> None:
        if value is None:
            return
        ck = self._backend._ck
        self._put(ck, (self._reduced(self._reduce, self._unexpired_value(ck), value), self._clock()))


class TtlAggregatingState(TtlState, AggregatingState):
    """``AggregatingState`` with TTL: an expired accumulator starts over."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._agg = cast(AggregatingStateDescriptor, self.descriptor).agg_function

    def get(self) -> Any:
        w = self._read_wrapped(self._backend._ck)
        return None if w is None else self._agg.get_result(w[0])

    def add(self, value: Any) -> None:
        ck = self._backend._ck
        self._put(ck, (self._aggregated(self._agg, self._unexpired_value(ck), value), self._clock()))


class TtlListState(TtlState, ListState):
    """``ListState`` with TTL per element."""

    def get(self) -> list[Any]:
        ck, stored = self._current_stored()
        if stored is None:
            return []
        now = self._clock()
        ttl = self._ttl
        alive = [w for w in stored if w[1] + ttl > now]
        visible = stored if self._return_expired else alive
        if self._update_on_read and alive:
            alive = [(w[0], now) for w in alive]
        if alive:
            if alive is not stored:
                self._put(ck, alive)
        else:
            self._pop(ck, None)
        return [w[0] for w in visible]

    def add(self, value: Any) -> None:
        if self._cleanup is not None:
            self._cleanup()
        if value is None:
            raise state_error(self._backend, self.name, "cannot add None to a ListState")
        if type(value) not in self._seen:
            self._check(value)
        self._append(self._backend._ck, (value, self._clock()))

    def add_all(self, values: list[Any]) -> None:
        for v in list(values or ()):
            self.add(v)

    def update(self, values: list[Any]) -> None:
        if self._cleanup is not None:
            self._cleanup()
        values = list(values or ())
        for v in values:
            if v is None:
                raise state_error(self._backend, self.name, "cannot add None to a ListState")
            if type(v) not in self._seen:
                self._check(v)
        ck = self._backend._ck
        if values:
            now = self._clock()
            self._put(ck, [(v, now) for v in values])
        else:
            self._pop(ck, None)


class TtlMapState(TtlState, MapState):
    """``MapState`` with TTL per entry."""

    def _wrapped(self, key: Any) -> Any:
        ck, stored = self._current_stored()
        if stored is None:
            return None
        w = stored.get(key)
        if w is None:
            return None
        now = self._clock()
        if w[1] + self._ttl <= now:
            del stored[key]
            self._store(ck, stored)
            return w if self._return_expired else None
        if self._update_on_read:
            w = stored[key] = (w[0], now)
            self._put(ck, stored)
        return w

    def _visible(self) -> list[tuple[Any, Any]]:
        """Visible ``(key, value)`` entries of the current key, dropping expired ones."""
        ck, stored = self._current_stored()
        if stored is None:
            return []
        now = self._clock()
        ttl = self._ttl
        alive = {k: w for k, w in stored.items() if w[1] + ttl > now}
        visible = stored if self._return_expired else alive
        result = [(k, w[0]) for k, w in visible.items()]
        if self._update_on_read and alive:
            alive = {k: (w[0], now) for k, w in alive.items()}
            self._store(ck, alive)
        elif len(alive) != len(stored):
            self._store(ck, alive)
        return result

    def get(self, key: Any) -> Any:
        w = self._wrapped(key)
        return None if w is None else w[0]

    def put(self, key: Any, value: Any) -> None:
        if self._cleanup is not None:
            self._cleanup()
        self._checked_entry(key, value)
        self._put_entry(self._backend._ck, key, (value, self._clock()))

    def remove(self, key: Any) -> None:
        self._remove_entry(self._backend._ck, key)

    def contains(self, key: Any) -> bool:
        return self._wrapped(key) is not None

    def items(self) -> list[tuple[Any, Any]]:
        return self._visible()

    def keys(self) -> list[Any]:
        return [k for k, _ in self._visible()]

    def values(self) -> list[Any]:
        return [v for _, v in self._visible()]

    def is_empty(self) -> bool:
        return not self._visible()


TTL_STATES: dict[str, type] = {
    "value": TtlValueState, "list": TtlListState, "map": TtlMapState,
    "reducing": TtlReducingState, "aggregating": TtlAggregatingState,
}

