"""PyFlink's ``TableDescriptor`` and ``FormatDescriptor`` (``pyflink.table.table_descriptor``): a
connector table declared in Python.

A descriptor says what ``CREATE TABLE`` says (a ``Schema``, PARTITIONED BY, COMMENT, WITH
options), and is turned into that statement (``TableDescriptor.ddl``), so tables declared either
way are checked and planned by the same code.

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
from rayflink.table.schema import Schema, quote_name, sql_string

__all__ = ["FormatDescriptor", "TableDescriptor"]


def _option_text(value: Any) -> str:
    """An option's value as Flink writes it (booleans as ``true``/``false``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


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
                f"{quote_name(name)} (\n  " + ",\n  ".join(self.schema.ddl_items()) + "\n)")
        if self.comment:
            text += f"\nCOMMENT {sql_string(self.comment)}"
        if self.partition_keys:
            text += f"\nPARTITIONED BY ({', '.join(map(quote_name, self.partition_keys))})"
        options = ",\n  ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in self.options.items())
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
