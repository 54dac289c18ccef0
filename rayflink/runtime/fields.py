"""Field access by position or name, for ``key_by(0)``, ``sum("amount")`` and friends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def field_getter(field: int | str) -> Callable[[Any], Any]:
    """A function reading ``field`` of a tuple/list (index), dict (key) or object (attribute)."""

    def get(record: Any) -> Any:
        if isinstance(record, dict):
            return record[field]
        if isinstance(field, int) and isinstance(record, (tuple, list)):
            return record[field]
        if isinstance(field, str):
            return getattr(record, field)
        return record[field]

    return get


def field_setter(record: Any, field: int | str, value: Any) -> Any:
    """A copy of ``record`` with ``field`` set to ``value``."""
    if isinstance(record, dict):
        out = dict(record)
        out[field] = value
        return out
    if isinstance(record, tuple) and isinstance(field, int):
        return record[:field] + (value,) + record[field + 1:]
    if isinstance(record, list) and isinstance(field, int):
        out = list(record)
        out[field] = value
        return out
    if isinstance(field, int) and isinstance(record, (int, float)) and field == 0:
        return value
    if hasattr(record, "_replace"):  # namedtuple
        return record._replace(**{field: value})
    raise TypeError(f"cannot set field {field!r} on a {type(record).__name__}")
