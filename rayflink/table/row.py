"""``Row`` and ``RowKind``: a result row of a table and its change kind (PyFlink's ``pyflink.common``)."""

from __future__ import annotations

import enum
from typing import Any


class RowKind(enum.Enum):
    """The kind of change a row is in a changelog (Flink's byte values)."""

    INSERT = 0
    UPDATE_BEFORE = 1
    UPDATE_AFTER = 2
    DELETE = 3

    def short_string(self) -> str:
        return ("+I", "-U", "+U", "-D")[self.value]


class Row(tuple):
    """A row: a tuple with field names (``row.name``, ``row["name"]``, ``row[0]``) and a ``RowKind``.

    >>> r = Row.of(["id", "name"], [1, "alice"])
    >>> r.name, r[0], r.get_row_kind()
    ('alice', 1, <RowKind.INSERT: 0>)
    """

    _fields: tuple[str, ...] = ()
    _kind: RowKind = RowKind.INSERT

    @staticmethod
    def of(names: list[str], values: list, kind: RowKind = RowKind.INSERT) -> "Row":
        row = Row(values)
        row._fields = tuple(names)
        row._kind = kind
        return row

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(f"row has no field {name!r}; fields: {', '.join(self._fields)}") from None

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            return self.__getattr__(item)
        return tuple.__getitem__(self, item)

    def get_row_kind(self) -> RowKind:
        return self._kind

    def set_row_kind(self, kind: RowKind) -> None:
        self._kind = kind

    def as_dict(self) -> dict:
        return dict(zip(self._fields, self))

    def __repr__(self) -> str:
        return f"{self._kind.short_string()}[{', '.join(repr(v) for v in self)}]"

    def __reduce__(self) -> Any:
        return (Row.of, (list(self._fields), list(self), self._kind))
