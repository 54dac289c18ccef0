"""PyFlink's ``Schema``, ``TableDescriptor`` and ``FormatDescriptor``: a table declared in Python.

A descriptor says what ``CREATE TABLE`` says (columns, computed and metadata columns, WATERMARK,
PRIMARY KEY, PARTITIONED BY, COMMENT, WITH options), and is turned into that statement
(``TableDescriptor.ddl``), so tables declared either way are checked and planned by the same code.

>>> descriptor = (TableDescriptor.for_connector("print")
...     .schema(Schema.new_builder()
...             .column("word", DataTypes.STRING())
...             .column("count", DataTypes.BIGINT())
...             .build())
...     .build())
>>> t_env.create_temporary_table("sink", descriptor)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rayflink.sql.errors import SqlValidationError
from rayflink.table.types import DataType, RowType

__all__ = ["FormatDescriptor", "Schema", "TableDescriptor"]


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: Any) -> str:
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


def _option_text(value: Any) -> str:
    """An option's value as Flink writes it (booleans as ``true``/``false``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _type_of(data_type: Any, column: str) -> str:
    if isinstance(data_type, str):
        return data_type
    if isinstance(data_type, DataType):
        return data_type.sql()
    if isinstance(data_type, RowType):
        return "ROW<" + ", ".join(f"{_quote(n)} {t.sql()}" for n, t in data_type.fields) + ">"
    raise SqlValidationError(f"column {column!r}: the type must be a DataTypes type or its SQL name, got {data_type!r}")


@dataclass(frozen=True)
class _Column:
    name: str
    ddl: str  # the column's text in CREATE TABLE


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

    def ddl_items(self) -> list[str]:
        """The column list of CREATE TABLE: columns, then WATERMARK and PRIMARY KEY."""
        items = [c.ddl for c in self._columns]
        if self._watermark is not None:
            items.append(f"WATERMARK FOR {_quote(self._watermark[0])} AS {self._watermark[1]}")
        if self._primary_key:
            named = f"CONSTRAINT {_quote(self._constraint)} " if self._constraint else ""
            items.append(f"{named}PRIMARY KEY ({', '.join(map(_quote, self._primary_key))}) NOT ENFORCED")
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
            self._columns.append(_Column(column_name, f"{_quote(column_name)} {_type_of(data_type, column_name)}"))
            return self

        def column_by_expression(self, column_name: str, expr: Any) -> "Schema.Builder":
            """A computed column: ``column_by_expression("ts", "TO_TIMESTAMP(t)")`` (SQL text or an Expression)."""
            sql = _sql_of(expr, f"column_by_expression({column_name!r})")
            self._columns.append(_Column(column_name, f"{_quote(column_name)} AS {sql}"))
            return self

        def column_by_metadata(self, column_name: str, data_type: Any, metadata_key: str | None = None,
                               is_virtual: bool = False) -> "Schema.Builder":
            """A metadata column (e.g. Kafka's ``timestamp``), read-only when ``is_virtual``."""
            key = f" FROM {_literal(metadata_key)}" if metadata_key else ""
            virtual = " VIRTUAL" if is_virtual else ""
            self._columns.append(_Column(column_name, f"{_quote(column_name)} {_type_of(data_type, column_name)} "
                                                      f"METADATA{key}{virtual}"))
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


@dataclass(frozen=True)
class FormatDescriptor:
    """A format and its options (PyFlink's ``FormatDescriptor``): ``for_format("csv").option(...)``.
    In a TableDescriptor its options are prefixed with the format's name (``csv.field-delimiter``)."""

    format: str
    options: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def for_format(format: str) -> "FormatDescriptor.Builder":
        return FormatDescriptor.Builder(format)

    def get_format(self) -> str:
        return self.format

    def get_options(self) -> dict[str, str]:
        return dict(self.options)

    class Builder:
        def __init__(self, format: str) -> None:
            self._format = format
            self._options: dict[str, str] = {}

        def option(self, key: str, value: Any) -> "FormatDescriptor.Builder":
            self._options[key] = _option_text(value)
            return self

        def build(self) -> "FormatDescriptor":
            return FormatDescriptor(self._format, dict(self._options))


@dataclass(frozen=True)
class TableDescriptor:
    """A connector table (PyFlink's ``TableDescriptor``): ``for_connector(...)``, a schema, options,
    a format, partition keys and a comment. ``ddl(name)`` is its CREATE TABLE statement."""

    schema: Schema | None
    options: dict[str, str]
    partition_keys: tuple[str, ...]
    comment: str | None

    @staticmethod
    def for_connector(connector: str) -> "TableDescriptor.Builder":
        return TableDescriptor.Builder(connector)

    def get_schema(self) -> Schema | None:
        return self.schema

    def get_options(self) -> dict[str, str]:
        return dict(self.options)

    def get_partition_keys(self) -> list[str]:
        return list(self.partition_keys)

    def get_comment(self) -> str | None:
        return self.comment

    def ddl(self, name: str, temporary: bool = False, if_not_exists: bool = False) -> str:
        """The CREATE TABLE statement that declares this table as ``name``."""
        if self.schema is None:
            raise SqlValidationError(f"table {name!r}: the TableDescriptor has no schema; give one with "
                                     ".schema(Schema.new_builder().column(...).build())")
        text = (f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {'IF NOT EXISTS ' if if_not_exists else ''}"
                f"{_quote(name)} (\n  " + ",\n  ".join(self.schema.ddl_items()) + "\n)")
        if self.comment:
            text += f"\nCOMMENT {_literal(self.comment)}"
        if self.partition_keys:
            text += f"\nPARTITIONED BY ({', '.join(map(_quote, self.partition_keys))})"
        options = ",\n  ".join(f"{_literal(k)} = {_literal(v)}" for k, v in self.options.items())
        return text + f"\nWITH (\n  {options}\n)"

    def __str__(self) -> str:
        return self.ddl("<table>")

    class Builder:
        """Builder of a :class:`TableDescriptor`; every method returns the builder."""

        def __init__(self, connector: str) -> None:
            self._schema: Schema | None = None
            self._options: dict[str, str] = {"connector": connector}
            self._partition_keys: tuple[str, ...] = ()
            self._comment: str | None = None

        def schema(self, schema: Schema) -> "TableDescriptor.Builder":
            self._schema = schema
            return self

        def option(self, key: str, value: Any) -> "TableDescriptor.Builder":
            """A connector option: ``option("path", "/data/in")``."""
            self._options[key] = _option_text(value)
            return self

        def format(self, format: str | FormatDescriptor, format_option: str | None = None) -> "TableDescriptor.Builder":
            """The format (its name or a FormatDescriptor), under ``format_option`` (default ``format``;
            e.g. ``key.format`` for upsert-kafka): its options are prefixed with the option's prefix
            and the format's name (``json.ignore-parse-errors``, ``key.json.ignore-parse-errors``)."""
            key = format_option or "format"
            descriptor = format if isinstance(format, FormatDescriptor) else FormatDescriptor(format)
            self._options[key] = descriptor.format
            prefix = key[:-len("format")] if key.endswith("format") else ""
            for k, v in descriptor.options.items():
                self._options[f"{prefix}{descriptor.format}.{k}"] = v
            return self

        def partitioned_by(self, *partition_keys: str) -> "TableDescriptor.Builder":
            self._partition_keys = tuple(partition_keys)
            return self

        def comment(self, comment: str) -> "TableDescriptor.Builder":
            self._comment = comment
            return self

        def build(self) -> "TableDescriptor":
            return TableDescriptor(self._schema, dict(self._options), self._partition_keys, self._comment)
