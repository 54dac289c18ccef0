"""State tables and the base of every state object over one, for both keyed state backends.

A *state table* maps ``make_ck(key, namespace) -> stored value`` with ``get``, ``__setitem__``
and ``pop``: a plain dict in the heap backend (``rayflink.state.heap``), a write-back cache over
the database in the RocksDB backend (``rayflink.state.rocksdb``). The state objects of both
backends, plain (``rayflink.state.heap``) or with TTL (``rayflink.state.ttl``), derive from
:class:`TableState`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ray import cloudpickle  # user classes from modules the workers cannot import pickle by value

from rayflink.datastream.state import StateDescriptor
from rayflink.state.backend import KeyedStateBackend, StateError

if TYPE_CHECKING:
    from rayflink.state.heap import TableKeyedStateBackend


def short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _NamespaceMark:
    """Private third element of namespaced table keys: no user key can contain it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<namespace>"


NS_MARK = _NamespaceMark()


def make_ck(key: Any, namespace: Any) -> Any:
    """The table key of ``(key, namespace)``: the key itself in the void namespace (the
    common case, one hash of a str or int), else ``(key, namespace, NS_MARK)``."""
    return key if namespace is None else (key, namespace, NS_MARK)


def split_ck(ck: Any) -> tuple[Any, Any]:
    """``(key, namespace)`` of a table key made by ``make_ck``."""
    if type(ck) is tuple and len(ck) == 3 and ck[2] is NS_MARK:
        return ck[0], ck[1]
    return ck, None


class ValueChecker:
    """Checks a value against the declared type and that it pickles, once per Python type."""

    __slots__ = ("seen", "type_info", "state_name", "operator_uid", "what")

    def __init__(self, type_info: Any, state_name: str, operator_uid: str, what: str = "value") -> None:
        self.seen: set[type] = set()
        self.type_info = type_info
        self.state_name = state_name
        self.operator_uid = operator_uid
        self.what = what

    def check(self, value: Any) -> None:
        t = self.type_info
        if t is not None and not t.accepts(value):
            raise StateError(
                f"state {self.state_name!r} of operator {self.operator_uid!r}: {self.what} "
                f"{short_repr(value)} of type {type(value).__name__} does not match declared type "
                f"{t!r}; change the descriptor's type or the value")
        try:
            cloudpickle.dumps(value, protocol=5)
        except Exception as e:  # noqa: BLE001 - any pickling failure is the user's value
            raise StateError(
                f"state {self.state_name!r} of operator {self.operator_uid!r}: {self.what} "
                f"{short_repr(value)} of type {type(value).__name__} cannot be pickled ({e}); "
                "store plain data (numbers, str, tuples, lists, dicts, dataclasses)") from e
        if value is not None:
            self.seen.add(type(value))


def state_error(backend: KeyedStateBackend, name: str, message: str) -> StateError:
    return StateError(f"state {name!r} of operator {backend.operator_uid!r}: {message}")


class TableState:
    """Common fields of the state objects: the backend (for the current key) and the table."""

    def __init__(self, backend: "TableKeyedStateBackend", descriptor: StateDescriptor, table: Any) -> None:
        self._backend = backend
        self.descriptor = descriptor
        self.name = descriptor.name
        self._table = table
        self._get = table.get
        self._put = table.__setitem__
        self._pop = table.pop
        uid = backend.operator_uid
        infos = descriptor.type_infos
        if descriptor.kind == "map":
            self._kcheck = ValueChecker(infos[0], self.name, uid, "map key")
            self._checker = ValueChecker(infos[1], self.name, uid, "map value")
        else:
            what = {"list": "list element", "aggregating": "accumulator"}.get(descriptor.kind, "value")
            self._checker = ValueChecker(infos[0], self.name, uid, what)
        self._seen = self._checker.seen
        self._check = self._checker.check

    def clear(self) -> None:
        self._pop(self._backend._ck, None)

    def _merge_sources(self, target: Any, sources: Iterable[Any]) -> list[Any]:
        key = self._backend.get_current_key()
        found = []
        for ns in sources:
            if ns == target:
                continue
            stored = self._pop(make_ck(key, ns), None)
            if stored is not None:
                found.append(stored)
        return found

    def _merge_values(self, target: Any, sources: Iterable[Any], combine: Callable[[Any, Any], Any]) -> None:
        """Combine the values of ``sources`` into ``target``'s, in order (merging windows)."""
        found = self._merge_sources(target, sources)
        if not found:
            return
        ck = make_ck(self._backend.get_current_key(), target)
        acc = self._get(ck)
        for v in found:
            acc = v if acc is None else combine(acc, v)
        self._put(ck, acc)

    def _checked_value(self, value: Any) -> Any:
        """``value``, after checking its type against the descriptor's (once per type)."""
        if type(value) not in self._seen:
            self._check(value)
        return value

    def _checked_entry(self, key: Any, value: Any) -> None:
        """Check a map entry's key and value types against the descriptor's (once per type)."""
        if type(key) not in self._kcheck.seen:
            self._kcheck.check(key)
        if type(value) not in self._seen:
            self._check(value)

    def _store(self, ck: Any, stored: Any) -> None:
        """Store a list or dict of ``ck``, or remove ``ck`` when it is empty."""
        if stored:
            self._put(ck, stored)
        else:
            self._pop(ck, None)

    def _append(self, ck: Any, item: Any) -> None:
        """Append ``item`` to the list stored at ``ck`` (a new list when there is none)."""
        stored = self._get(ck)
        if stored is None:
            self._put(ck, [item])
        else:
            stored.append(item)
            self._put(ck, stored)

    def _put_entry(self, ck: Any, key: Any, entry: Any) -> None:
        """Put ``key: entry`` in the dict stored at ``ck`` (a new dict when there is none)."""
        stored = self._get(ck)
        if stored is None:
            self._put(ck, {key: entry})
        else:
            stored[key] = entry
            self._put(ck, stored)

    def _remove_entry(self, ck: Any, key: Any) -> None:
        """Remove ``key`` from the dict stored at ``ck``, and ``ck`` with its last entry."""
        stored = self._get(ck)
        if stored is not None and key in stored:
            del stored[key]
            self._store(ck, stored)

    def _reduced(self, reduce: Callable[[Any, Any], Any], current: Any, value: Any) -> Any:
        """``value`` reduced into ``current`` (None: there is none yet), checked."""
        return self._checked_value(value if current is None else reduce(current, value))

    def _aggregated(self, agg: Any, acc: Any, value: Any) -> Any:
        """``value`` added to the accumulator ``acc`` of ``agg`` (None: a new one), checked."""
        return self._checked_value(agg.add(value, agg.create_accumulator() if acc is None else acc))
