"""CSV files with a schema: PyFlink's ``CsvSchema``, read by ``FileSource`` (``CsvReaderFormat``)
and written by ``FileSink`` (``CsvBulkWriters``).

A schema names its columns and their SQL types (``DataTypes``) and the file's dialect: column
separator, quote and escape characters, the null literal, array element separators, a header
line, comments. Records read are ``Row``s of the schema's ``Types.ROW_NAMED`` type; records
written are ``Row``s, tuples, lists or dicts in column order.

>>> schema = CsvSchema.builder().add_number_column("id", DataTypes.INT()).add_string_column("name") \\
...     .add_array_column("tags", "#").set_column_separator("|").build()
>>> schema.parse_lines(['7|"ana, b"|x#y', '8||'])
[Row(id=7, name='ana, b', tags=['x', 'y']), Row(id=8, name='', tags=None)]
>>> schema.format_row((9, "a|b", ["z"]))
'9|"a|b"|z'

Departures from Flink (Jackson): records are read line by line, so a quoted field cannot hold a
line break; ``set_any_property_name`` is recorded and not used (rows have the schema's columns
only); ``CsvBulkWriters`` writes no header line.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from rayflink.common.serialization import BulkWriterFactory, DeserializationError, Encoder, SerializationError
from rayflink.common.typeinfo import TypeInformation, Types
from rayflink.common.types import Row
from rayflink.connectors.file import StreamFormat
from rayflink.errors import truncate
from rayflink.table.types import DataType, DataTypes, RowType

__all__ = ["CsvBulkWriters", "CsvReaderFormat", "CsvSchema", "CsvSchemaBuilder"]


@dataclass(frozen=True)
class CsvColumn:
    """One column: its name, SQL type and, for an array column, its elements' separator ("" for
    the schema's)."""

    name: str
    data_type: DataType
    array_element_separator: str = ""


@dataclass(frozen=True)
class CsvSchema:
    """The columns of a CSV file and its dialect (Jackson's ``CsvSchema``, as PyFlink has it)."""

    columns: tuple[CsvColumn, ...] = ()
    column_separator: str = ","
    quote_char: str | None = '"'
    escape_char: str | None = None
    array_element_separator: str = ";"
    line_separator: str = "\n"
    null_value: str | None = None
    use_header: bool = False
    skip_first_data_row: bool = False
    strict_headers: bool = False
    allow_comments: bool = False
    any_property_name: str | None = None

    @staticmethod
    def builder() -> CsvSchemaBuilder:
        return CsvSchemaBuilder()

    def size(self) -> int:
        """The number of columns."""
        return len(self.columns)

    def __len__(self) -> int:
        return self.size()

    @property
    def row_type(self) -> RowType:
        """The columns as a ``DataTypes.ROW``."""
        return DataTypes.ROW([DataTypes.FIELD(c.name, c.data_type) for c in self.columns])

    def get_type_info(self) -> TypeInformation:
        """The records' type: ``Types.ROW_NAMED`` of the columns."""
        return Types.ROW_NAMED([c.name for c in self.columns], [_type_info(c.data_type.arrow) for c in self.columns])

    # ---- reading ------------------------------------------------------------------------------

    def _dialect(self) -> dict[str, Any]:
        quoting = csv.QUOTE_MINIMAL if self.quote_char else csv.QUOTE_NONE
        return {"delimiter": self.column_separator, "quotechar": self.quote_char or None,
                "escapechar": self.escape_char or None, "quoting": quoting,
                "doublequote": self.escape_char is None}

    def parse_lines(self, lines: list[str]) -> list[Row]:
        """Rows of text lines (no line ends); comment lines (``#``, with ``allow_comments``) give
        none. Raises ``DeserializationError`` naming the column and the value."""
        if self.allow_comments:
            lines = [line for line in lines if not line.lstrip().startswith("#")]
        converters = [(c.name, _converter(c.data_type.arrow, self._separator(c)), c.data_type.arrow)
                      for c in self.columns]
        names = [c.name for c in self.columns]
        out = []
        for line, cells in zip(lines, csv.reader(lines, **self._dialect())):
            if len(cells) != len(converters):
                raise DeserializationError(f"CSV line {truncate(line, 120)}: expected {len(converters)} columns "
                                           f"{names}, got {len(cells)}")
            values: list[Any] = []
            for (name, convert, arrow), text in zip(converters, cells):
                if text == self.null_value or (text == "" and not pa.types.is_string(arrow)):
                    values.append(None)
                    continue
                try:
                    values.append(convert(text))
                except (ValueError, ArithmeticError) as exc:
                    raise DeserializationError(f"CSV column {name!r}: cannot read {truncate(text, 80)} as "
                                               f"{DataType(arrow)!r} ({exc})") from None
            row = Row(*values)
            row.set_field_names(names)
            out.append(row)
        return out

    def check_header(self, header: str) -> None:
        """With ``strict_headers``: the header must name the columns, in order (``ValueError``)."""
        if not self.strict_headers:
            return
        found = next(csv.reader([header], **self._dialect()), [])
        expected = [c.name for c in self.columns]
        if [name.strip() for name in found] != expected:
            raise ValueError(f"the CSV header {found} does not name the schema's columns {expected} "
                             "(strict headers)")

    def _separator(self, column: CsvColumn) -> str:
        return column.array_element_separator or self.array_element_separator

    # ---- writing ------------------------------------------------------------------------------

    def format_row(self, record: Any) -> str:
        """One record (a Row, tuple, list or dict in column order) as a CSV line, without its end."""
        if isinstance(record, dict):
            values = [record.get(c.name) for c in self.columns]
        elif isinstance(record, (Row, tuple, list)):
            values = list(record)
        else:
            raise SerializationError(f"CsvBulkWriters: expected a Row, tuple, list or dict, got "
                                     f"{type(record).__name__} {truncate(record, 80)}")
        if len(values) != len(self.columns):
            raise SerializationError(f"CsvBulkWriters: {truncate(record, 80)} has {len(values)} fields, "
                                     f"the schema {len(self.columns)} columns {[c.name for c in self.columns]}")
        cells = [self._text(value, column) for value, column in zip(values, self.columns)]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="", **self._dialect()).writerow(cells)
        return buffer.getvalue()

    def _text(self, value: Any, column: CsvColumn) -> str:
        if value is None:
            return self.null_value or ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple)):
            return self._separator(column).join(self._text(v, column) for v in value)
        return str(value)


class CsvSchemaBuilder:
    """Builds a ``CsvSchema``: columns in order, then the dialect (every setter returns the builder).

    >>> CsvSchema.builder().add_number_column("id").add_boolean_column("ok").set_use_header().build().size()
    2
    """

    def __init__(self) -> None:
        self._schema = CsvSchema()

    def _set(self, **changes: Any) -> CsvSchemaBuilder:
        self._schema = replace(self._schema, **changes)
        return self

    def _add(self, column: CsvColumn) -> CsvSchemaBuilder:
        return self._set(columns=(*self._schema.columns, column))

    def build(self) -> CsvSchema:
        return self._schema

    def size(self) -> int:
        return self._schema.size()

    def __len__(self) -> int:
        return self.size()

    def add_array_column(self, name: str, separator: str = ";",
                         element_type: DataType | None = None) -> CsvSchemaBuilder:
        """A list of ``element_type`` (default ``DataTypes.STRING()``) separated by ``separator``."""
        element = element_type or DataTypes.STRING()
        return self._add(CsvColumn(name, DataType(pa.list_(element.arrow)), separator))

    def add_boolean_column(self, name: str) -> CsvSchemaBuilder:
        return self._add(CsvColumn(name, DataTypes.BOOLEAN()))

    def add_number_column(self, name: str, number_type: DataType | None = None) -> CsvSchemaBuilder:
        """A number of ``number_type`` (default ``DataTypes.BIGINT()``)."""
        number = number_type or DataTypes.BIGINT()
        if not (pa.types.is_integer(number.arrow) or pa.types.is_floating(number.arrow)
                or pa.types.is_decimal(number.arrow)):
            raise ValueError(f"add_number_column({name!r}): {number!r} is not a numeric type")
        return self._add(CsvColumn(name, number))

    def add_string_column(self, name: str) -> CsvSchemaBuilder:
        return self._add(CsvColumn(name, DataTypes.STRING()))

    def add_columns_from(self, schema: CsvSchema) -> CsvSchemaBuilder:
        """Append ``schema``'s columns."""
        return self._set(columns=(*self._schema.columns, *schema.columns))

    def clear_columns(self) -> CsvSchemaBuilder:
        return self._set(columns=())

    def set_allow_comments(self, allow: bool = True) -> CsvSchemaBuilder:
        """Skip lines starting with ``#``."""
        return self._set(allow_comments=allow)

    def set_any_property_name(self, name: str) -> CsvSchemaBuilder:
        return self._set(any_property_name=name)

    def disable_array_element_separator(self) -> CsvSchemaBuilder:
        """Array columns without a separator of their own hold one element."""
        return self._set(array_element_separator="")

    def remove_array_element_separator(self, index: int) -> CsvSchemaBuilder:
        """The array column at ``index`` uses the schema's separator."""
        columns = list(self._schema.columns)
        columns[index] = replace(columns[index], array_element_separator="")
        return self._set(columns=tuple(columns))

    def set_array_element_separator(self, separator: str) -> CsvSchemaBuilder:
        """The separator of array columns without one of their own (default ``;``)."""
        return self._set(array_element_separator=separator)

    def set_column_separator(self, char: str) -> CsvSchemaBuilder:
        return self._set(column_separator=_single_char("Column separator", char))

    def disable_escape_char(self) -> CsvSchemaBuilder:
        return self._set(escape_char=None)

    def set_escape_char(self, char: str) -> CsvSchemaBuilder:
        return self._set(escape_char=_single_char("Escape char", char))

    def set_line_separator(self, separator: str) -> CsvSchemaBuilder:
        """Recorded for writing; reading recognizes ``\\n`` and ``\\r\\n``."""
        return self._set(line_separator=separator)

    def set_null_value(self, null_value: str) -> CsvSchemaBuilder:
        """The text read as None and written for None (default: none; an empty non-string field
        reads as None)."""
        return self._set(null_value=null_value)

    def disable_quote_char(self) -> CsvSchemaBuilder:
        return self._set(quote_char=None)

    def set_quote_char(self, char: str) -> CsvSchemaBuilder:
        return self._set(quote_char=_single_char("Quote char", char))

    def set_skip_first_data_row(self, skip: bool = True) -> CsvSchemaBuilder:
        """Skip the first line of each file after the header."""
        return self._set(skip_first_data_row=skip)

    def set_strict_headers(self, strict: bool = True) -> CsvSchemaBuilder:
        """The header must name the columns in order (with ``set_use_header``)."""
        return self._set(strict_headers=strict)

    def set_use_header(self, use: bool = True) -> CsvSchemaBuilder:
        """Each file starts with a header line (skipped, or checked with strict headers)."""
        return self._set(use_header=use)


class CsvReaderFormat:
    """PyFlink's ``CsvReaderFormat``: a ``StreamFormat`` for ``FileSource`` reading CSV files of
    a schema into ``Row``s of ``schema.get_type_info()``.

    >>> source = FileSource.for_record_stream_format(CsvReaderFormat.for_schema(schema), "/data/in").build()
    ... # doctest: +SKIP
    """

    @staticmethod
    def for_schema(schema: CsvSchema, charset: str = "UTF-8") -> StreamFormat:
        def decode(lines: list[bytes]) -> list:
            return schema.parse_lines([line.decode(charset) for line in lines])

        def check_header(header: bytes) -> None:
            schema.check_header(header.decode(charset))

        return StreamFormat(decode, skip_header=schema.use_header, type_info=schema.get_type_info(),
                            skip_lines=int(schema.skip_first_data_row), check_header=check_header)

    text_line_format = staticmethod(StreamFormat.text_line_format)


class CsvBulkWriterFactory(BulkWriterFactory):
    """What ``CsvBulkWriters.for_schema`` returns, for ``FileSink.for_bulk_format``: part files of
    CSV lines, rolled at checkpoints."""

    def __init__(self, schema: CsvSchema) -> None:
        if schema.use_header:
            raise ValueError("CsvBulkWriters: header lines are not written; build the schema without "
                             "set_use_header()")
        self.schema = schema

    def encoder(self, charset: str = "UTF-8") -> Encoder:
        schema, end = self.schema, self.schema.line_separator
        return Encoder(lambda record: (schema.format_row(record) + end).encode(charset))


class CsvBulkWriters:
    """PyFlink's ``CsvBulkWriters``: CSV part files for ``FileSink.for_bulk_format``.

    >>> sink = FileSink.for_bulk_format("/data/out", CsvBulkWriters.for_schema(schema)).build()  # doctest: +SKIP
    """

    @staticmethod
    def for_schema(schema: CsvSchema) -> CsvBulkWriterFactory:
        return CsvBulkWriterFactory(schema)


def _single_char(what: str, char: str) -> str:
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"{what} must be a single char, got {char!r}")
    return char


def _converter(arrow: pa.DataType, separator: str) -> Callable[[str], Any]:
    """How a field's text becomes its value."""
    if pa.types.is_string(arrow):
        return str
    if pa.types.is_boolean(arrow):
        def to_bool(text: str) -> bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError("expected true or false")
            return lowered == "true"
        return to_bool
    if pa.types.is_integer(arrow):
        return lambda text: int(text.strip())
    if pa.types.is_floating(arrow):
        return lambda text: float(text.strip())
    if pa.types.is_decimal(arrow):
        return lambda text: decimal.Decimal(text.strip())
    if pa.types.is_date(arrow):
        return lambda text: datetime.date.fromisoformat(text.strip())
    if pa.types.is_timestamp(arrow):
        return lambda text: datetime.datetime.fromisoformat(text.strip())
    if pa.types.is_list(arrow):
        element = _converter(arrow.value_type, separator)
        return lambda text: [element(part) for part in (text.split(separator) if separator else [text])]
    raise ValueError(f"CSV columns of type {DataType(arrow)!r} are not supported")


def _type_info(arrow: pa.DataType) -> TypeInformation:
    """The ``Types`` of a column's SQL type."""
    if pa.types.is_list(arrow):
        return Types.LIST(_type_info(arrow.value_type))
    for factory in (Types.STRING, Types.BOOLEAN, Types.BYTE, Types.SHORT, Types.INT, Types.LONG, Types.FLOAT,
                    Types.DOUBLE, Types.SQL_DATE, Types.SQL_TIMESTAMP):
        info = factory()
        if info.arrow_type == arrow:
            return info
    if pa.types.is_decimal(arrow):
        return Types.BIG_DEC()
    if pa.types.is_timestamp(arrow):
        return Types.SQL_TIMESTAMP()
    raise ValueError(f"CSV columns of type {DataType(arrow)!r} are not supported")
