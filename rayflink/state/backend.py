"""The keyed state backend contract that the heap and RocksDB backends implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from rayflink.errors import RayflinkError
from rayflink.state.key_groups import assign_key_group

VOID_NAMESPACE = None  # the namespace of state that is not scoped to a window


class StateError(RayflinkError):
    """Misuse of keyed state: wrong kind, no current key, unserializable value."""


class StateMigrationError(StateError):
    """Restored state does not fit the job's state (its kind changed): restarting cannot help."""


@dataclass
class KeyedStateSnapshot:
    """Backend-independent keyed state of one operator subtask.

    ``states[name] = {"kind": "value"|"list"|"map"|"reducing"|"aggregating",
    "entries": {key_group: [(key, namespace, value), ...]}}`` where ``value`` is the
    user-visible value (a list for list state, a dict for map state, the accumulator
    for aggregating state) and TTL-wrapped values keep their ``(value, last_access_ms)``
    wrapping as ``ttl`` says. Savepoints, rescaling and backend switches all go
    through this one shape.
    """

    operator_uid: str
    max_parallelism: int
    states: dict[str, dict[str, Any]] = field(default_factory=dict)

    def key_groups(self) -> set[int]:
        groups: set[int] = set()
        for state in self.states.values():
            groups.update(state["entries"])
        return groups


class KeyedStateBackend(ABC):
    """Holds every keyed state of one operator subtask, scoped to the current key.

    The operator sets the current key (and window namespace) before it calls user
    code; state objects obtained from ``get_partitioned_state`` then read and write
    the entry of that key.
    """

    def __init__(self, *, operator_uid: str, max_parallelism: int, key_groups: range) -> None:
        self.operator_uid = operator_uid
        self.max_parallelism = max_parallelism
        self.key_groups = key_groups
        self.current_key: Any = None
        self.current_namespace: Any = VOID_NAMESPACE
        self._has_key = False

    def set_current_key(self, key: Any) -> None:
        self.current_key = key
        self._has_key = True

    def get_current_key(self) -> Any:
        if not self._has_key:
            raise StateError(
                f"operator {self.operator_uid!r}: keyed state used outside a keyed context; "
                "use state only after key_by(...) inside process_element/on_timer"
            )
        return self.current_key

    def set_current_namespace(self, namespace: Any) -> None:
        self.current_namespace = namespace

    def current_key_group(self) -> int:
        return assign_key_group(self.get_current_key(), self.max_parallelism)

    @abstractmethod
    def get_partitioned_state(self, descriptor: Any) -> Any:
        """Return the state object (ValueState, ListState, ...) for ``descriptor``.

        Registering the same name again with another kind or type raises StateError.
        """

    @abstractmethod
    def snapshot(self) -> KeyedStateSnapshot:
        """A consistent copy of all state, grouped by key group."""

    @abstractmethod
    def restore(self, snapshots: list[KeyedStateSnapshot]) -> None:
        """Load the entries of the key groups this subtask owns from ``snapshots``."""

    @abstractmethod
    def keys(self, state_name: str, namespace: Any = VOID_NAMESPACE) -> list[Any]:
        """The keys that have an entry in ``state_name`` under ``namespace``."""

    def flush(self) -> None:
        """Push buffered writes down (RocksDB write batches); a no-op for the heap."""

    def dispose(self) -> None:
        """Release files and memory."""
