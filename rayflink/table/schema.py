"""PyFlink's ``Schema`` (``pyflink.table.schema``): the columns of a table declared in Python:
physical, computed and metadata columns, a watermark and a primary key, as CREATE TABLE says them.

>>> Schema.new_builder().column("word", DataTypes.STRING()).column("count", DataTypes.BIGINT()).build()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rayflink.sql.errors import SqlValidationError
from rayflink.table.types import DataType, RowType

__all__ = ["Schema", "quote_name", "sql_string"]


def quote_name(name: str) -> str:
    """A name as a quoted SQL identifier: ``a`b`` -> ```a``b```."""
    return "`" + name.replace("`", "``") + "`"


def sql_string(text: Any) -> str:
    """A SQL string literal of ``text``."""
    return "'" + str(text).replace("'", "''") + "'"


def _sql_of(expr: Any, what: str) -> str:
    """A SQL expression given as text or as a Table API ``Expression``."""
    if isinstance(expr, str):
        return expr
    node = getattr(expr, "node", None)
    if node is None:
        raise SqlValidationError(f"{what} takes a SQL expression (text) or an Expression, got {expr!r}")
    from rayflink.sql.dialect import Flink

    return node.sql(dialect=Flink)


def _type_of(data_type: Any, column: str) -> str:
    if isinstance(data_type, str):
        return data_type
    if isinstance(data_type, DataType):
        return data_type.sql()
    if isinstance(data_type, RowType):
        return "ROW<" + ", ".join(f"{quote_name(n)} {t.sql()}" for n, t in data_type.fields) + ">"
    raise SqlValidationError(f"column {column!r}: the type must be a DataTypes type or its SQL name, got {data_type!r}")


@dataclass(frozen=True)
class _Column:
    name: str
    kind: str  # physical, computed or metadata
    sql: str  # a physical or metadata column's type, a computed column's expression
    metadata_key: str | None = None
    virtual: bool = False

    @property
    def ddl(self) -> str:
        """The column's text in CREATE TABLE."""
        if self.kind == "computed":
            return f"{quote_name(self.name)} AS {self.sql}"
        if self.kind == "metadata":
            key = f" FROM {sql_string(self.metadata_key)}" if self.metadata_key else ""
            return f"{quote_name(self.name)} {self.sql} METADATA{key}{' VIRTUAL' if self.virtual else ''}"
        return f"{quote_name(self.name)} {self.sql}"


class Schema:
    """The columns of a table: physical, computed (``column_by_expression``) and metadata ones,
    a watermark and a primary key (PyFlink's ``pyflink.table.Schema``)."""

    def __init__(self, columns: tuple[_Column, ...], watermark: tuple[str, str] | None,
                 primary_key: tuple[str, ...], constraint: str | None) -> None:
        self._columns = columns
        self._watermark = watermark
        self._primary_key = primary_key
        self._constraint = constraint

    @staticmethod
    def new_builder() -> "Schema.Builder":
        return Schema.Builder()

    def columns(self) -> list[_Column]:
        """The declared columns, in order."""
        return list(self._columns)

    def watermark(self) -> tuple[str, str] | None:
        """The watermark's column and its SQL expression, if declared."""
        return self._watermark

    def ddl_items(self) -> list[str]:
        """The column list of CREATE TABLE: columns, then WATERMARK and PRIMARY KEY."""
        items = [c.ddl for c in self._columns]
        if self._watermark is not None:
            items.append(f"WATERMARK FOR {quote_name(self._watermark[0])} AS {self._watermark[1]}")
        if self._primary_key:
            named = f"CONSTRAINT {quote_name(self._constraint)} " if self._constraint else ""
            items.append(f"{named}PRIMARY KEY ({', '.join(map(quote_name, self._primary_key))}) NOT ENFORCED")
        return items

    def __str__(self) -> str:
        return "(\n  " + ",\n  ".join(self.ddl_items()) + "\n)"

    __repr__ = __str__

    class Builder:
        """Builder of a :class:`Schema`; every method returns the builder."""

        def __init__(self) -> None:
            self._columns: list[_Column] = []
            self._watermark: tuple[str, str] | None = None
            self._primary_key: tuple[str, ...] = ()
            self._constraint: str | None = None

        def from_schema(self, unresolved_schema: "Schema") -> "Schema.Builder":
            """Start from another schema's columns, watermark and primary key."""
            self._columns.extend(unresolved_schema._columns)
            self._watermark = self._watermark or unresolved_schema._watermark
            self._primary_key = self._primary_key or unresolved_schema._primary_key
            self._constraint = self._constraint or unresolved_schema._constraint
            return self

        def from_row_data_type(self, data_type: RowType) -> "Schema.Builder":
            """A physical column per field of ``DataTypes.ROW([...])``."""
            for name, t in data_type.fields:
                self.column(name, t)
            return self

        def from_fields(self, field_names: list[str], field_data_types: list[Any]) -> "Schema.Builder":
            """A physical column per name and type."""
            if len(field_names) != len(field_data_types):
                raise SqlValidationError(f"from_fields: {len(field_names)} names but {len(field_data_types)} types")
            for name, t in zip(field_names, field_data_types):
                self.column(name, t)
            return self

        def column(self, column_name: str, data_type: Any) -> "Schema.Builder":
            """A physical column: ``column("id", DataTypes.BIGINT())`` or ``column("id", "BIGINT")``."""
            self._columns.append(_Column(column_name, "physical", _type_of(data_type, column_name)))
            return self

        def column_by_expression(self, column_name: str, expr: Any) -> "Schema.Builder":
            """A computed column: ``column_by_expression("ts", "TO_TIMESTAMP(t)")`` (SQL text or an Expression)."""
            sql = _sql_of(expr, f"column_by_expression({column_name!r})")
            self._columns.append(_Column(column_name, "computed", sql))
            return self

        def column_by_metadata(self, column_name: str, data_type: Any, metadata_key: str | None = None,
                               is_virtual: bool = False) -> "Schema.Builder":
            """A metadata column (e.g. Kafka's ``timestamp``), read-only when ``is_virtual``."""
            self._columns.append(_Column(column_name, "metadata", _type_of(data_type, column_name), metadata_key,
                                         is_virtual))
            return self

        def watermark(self, column_name: str, watermark_expr: Any) -> "Schema.Builder":
            """``WATERMARK FOR column_name AS watermark_expr`` (SQL text or an Expression)."""
            self._watermark = (column_name, _sql_of(watermark_expr, f"watermark({column_name!r})"))
            return self

        def primary_key(self, *column_names: str) -> "Schema.Builder":
            """``PRIMARY KEY (...) NOT ENFORCED``."""
            return self.primary_key_named(None, *column_names)

        def primary_key_named(self, constraint_name: str | None, *column_names: str) -> "Schema.Builder":
            if len(column_names) == 1 and isinstance(column_names[0], (list, tuple)):
                column_names = tuple(column_names[0])
            if not column_names:
                raise SqlValidationError("primary_key needs at least one column")
            self._primary_key, self._constraint = tuple(column_names), constraint_name
            return self

        def build(self) -> "Schema":
            return Schema(tuple(self._columns), self._watermark, self._primary_key, self._constraint)
