"""PyFlink's ``Row`` (a record with named or positional fields) and ``RowKind`` (its changelog kind).

>>> row = Row(name="Alice", age=11)
>>> row.name, row["age"], row.as_dict()
('Alice', 11, {'name': 'Alice', 'age': 11})
>>> Person = Row("name", "age")      # a Row "class": call it to make rows with these fields
>>> Person("Bob", 7)
Row(name='Bob', age=7)
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["Row", "RowKind"]


class NameEnum(str, Enum):
    """A ``str`` enum whose ``str()`` is its value (Flink's name: ``"RUNNING"``, ``"FORWARD"``), so
    what users see (the CLI, JSON, messages) reads as the name."""

    def __str__(self) -> str:
        return self.value


class RowKind(Enum):
    """The kind of change a row is in a changelog: ``+I``, ``-U``, ``+U``, ``-D``."""

    INSERT = 0
    UPDATE_BEFORE = 1
    UPDATE_AFTER = 2
    DELETE = 3

    def __str__(self) -> str:
        return ("+I", "-U", "+U", "-D")[self.value]


def row_kind_of(record: object) -> RowKind:
    """The changelog kind of a record a sink receives: a ``Row``'s (or any object with
    ``get_row_kind``), INSERT for every other record."""
    get = getattr(record, "get_row_kind", None)
    if get is None:
        return RowKind.INSERT
    kind = get()
    return kind if isinstance(kind, RowKind) else RowKind(int(kind))


def _create_row(fields: list | None, values: tuple, row_kind: RowKind | None = None) -> "Row":
    row = Row(*values)
    if fields is not None:
        row._fields = list(fields)
    if row_kind is not None:
        row._row_kind = row_kind
    return row


class Row:
    """A fixed-length record whose fields are read by position, by name (``row["f"]``) or as
    attributes (``row.f``), as PyFlink's ``Row``.

    ``Row(1, "a")`` has positional fields, ``Row(id=1, name="a")`` named ones (in the order
    given); ``Row("id", "name")(1, "a")`` builds a named row from a Row "class". Rows are equal
    when their kinds, field names and values are; they hash like the tuple of their values.
    Raises ValueError when given both positional and keyword values.
    """

    __slots__ = ("_fields", "_from_dict", "_row_kind", "_values")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("Row(...): give the values either positionally or by name, not both")
        if kwargs:
            object.__setattr__(self, "_fields", list(kwargs))
            object.__setattr__(self, "_values", list(kwargs.values()))
            object.__setattr__(self, "_from_dict", True)
        else:
            object.__setattr__(self, "_fields", None)
            object.__setattr__(self, "_values", list(args))
            object.__setattr__(self, "_from_dict", False)
        object.__setattr__(self, "_row_kind", RowKind.INSERT)

    def as_dict(self, recursive: bool = False) -> dict:
        """The fields as a dict (nested rows too with ``recursive=True``); TypeError without names."""
        if self._fields is None:
            raise TypeError("Row.as_dict(): this row has no field names; build it with Row(name=value, ...) "
                            "or give it names with set_field_names([...])")
        if not recursive:
            return dict(zip(self._fields, self._values))

        def conv(obj: Any) -> Any:
            if isinstance(obj, Row):
                return obj.as_dict(True)
            if isinstance(obj, list):
                return [conv(o) for o in obj]
            if isinstance(obj, dict):
                return {k: conv(v) for k, v in obj.items()}
            return obj

        return {k: conv(v) for k, v in zip(self._fields, self._values)}

    def get_row_kind(self) -> RowKind:
        return self._row_kind

    def set_row_kind(self, row_kind: RowKind) -> None:
        if not isinstance(row_kind, RowKind):
            raise TypeError(f"Row.set_row_kind(): expected a RowKind, got {row_kind!r:.80}")
        self._row_kind = row_kind

    def set_field_names(self, field_names: list) -> None:
        """Name the fields (the names of a positional row, or new names)."""
        self._fields = list(field_names)

    def get_fields_by_names(self, names: list[str]) -> list:
        """The values of the fields ``names``, in that order; ValueError naming unknown fields."""
        if self._fields is None or list(names) == self._fields:
            return self._values
        unknown = [n for n in names if n not in self._fields]
        if unknown:
            raise ValueError(f"Row.get_fields_by_names(): fields {unknown} do not exist in {self._fields}")
        return [self._values[self._fields.index(n)] for n in names]

    @staticmethod
    def of_kind(row_kind: RowKind, *args: Any, **kwargs: Any) -> "Row":
        """A row of the given kind: ``Row.of_kind(RowKind.DELETE, 1, "a")``."""
        row = Row(*args, **kwargs)
        row.set_row_kind(row_kind)
        return row

    def __contains__(self, item: Any) -> bool:
        return item in (self._fields if self._fields is not None else self._values)

    def __call__(self, *args: Any) -> "Row":
        """A row with this Row's values as field names: ``Row("a", "b")(1, 2)``."""
        if len(args) > len(self):
            raise ValueError(f"Row{tuple(self._values)}(...): expected at most {len(self)} values, got {args!r:.100}")
        return _create_row(self._values, args, self._row_kind)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, (int, slice)):
            return self._values[item]
        if self._fields is None or item not in self._fields:
            raise KeyError(item)
        return self._values[self._fields.index(item)]

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, (int, slice)):
            self._values[key] = value
            return
        if self._fields is None or key not in self._fields:
            raise KeyError(key)
        self._values[self._fields.index(key)] = value

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        fields = object.__getattribute__(self, "_fields")
        if fields is None or item not in fields:
            raise AttributeError(f"Row has no field {item!r}" + (f" (fields: {fields})" if fields else ""))
        return self._values[fields.index(item)]

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in Row.__slots__:
            raise AttributeError(f"Row fields are set with row[{key!r}] = value, not as attributes")
        object.__setattr__(self, key, value)

    def __reduce__(self) -> tuple:
        return _create_row, (self._fields, tuple(self._values), self._row_kind)

    def __repr__(self) -> str:
        if self._fields is not None:
            return f"Row({', '.join(f'{k}={v!r}' for k, v in zip(self._fields, self._values))})"
        return f"<Row({', '.join(repr(v) for v in self._values)})>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row) or self._row_kind != other._row_kind:
            return False
        if self._fields is None or other._fields is None:
            return self._fields is None and other._fields is None and self._values == other._values
        if sorted(self._fields) != sorted(other._fields):
            return False
        return all(v == other._values[other._fields.index(k)] for k, v in zip(self._fields, self._values))

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
