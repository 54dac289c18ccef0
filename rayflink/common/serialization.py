"""Record formats (PyFlink's ``pyflink.common.serialization``): string, JSON rows, CSV rows, Avro."""

from __future__ import annotations

import csv
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from rayflink.common.typeinfo import TypeInformation, Types
from rayflink.common.types import Row
from rayflink.errors import RayflinkError, truncate


class SerializationError(RayflinkError, ValueError):
    """A record could not be turned into bytes; the message names the field and the value."""


class DeserializationError(RayflinkError, ValueError):
    """Bytes could not be turned into a record; the message names the field and the value."""


class SerializationSchema(ABC):
    """Turns a record into bytes (a Kafka value or key, a file line)."""

    @abstractmethod
    def serialize(self, element: Any) -> bytes:
        """The bytes of ``element``; raises :class:`SerializationError`."""


class DeserializationSchema(ABC):
    """Turns bytes into a record.

    As in Flink, ``None`` means "no record": the Kafka and file sources skip a message whose
    record is ``None`` (e.g. malformed with ``ignore_parse_errors()``) and count it in the source
    operator's ``num_records_in_errors`` metric (Flink's ``numRecordsInErrors``).
    """

    @abstractmethod
    def deserialize(self, message: bytes) -> Any:
        """The record in ``message``, or None to skip it; raises :class:`DeserializationError`
        (or any exception) on bad input."""

    def deserialize_batch(self, messages: list[bytes]) -> list:
        """The record of every message of a batch, in order, None for those skipped (one call per
        batch on the hot path)."""
        deserialize = self.deserialize
        return [deserialize(m) for m in messages]

    def output_type(self) -> TypeInformation | None:
        """The declared type of the records, if any."""
        return None


class SimpleStringSchema(SerializationSchema, DeserializationSchema):
    """Strings as bytes in one charset (UTF-8 by default).

    >>> SimpleStringSchema().deserialize(b"hi")
    'hi'
    """

    def __init__(self, charset: str = "UTF-8") -> None:
        self.charset = charset

    def serialize(self, element: Any) -> bytes:
        if not isinstance(element, str):
            raise SerializationError(f"SimpleStringSchema: expected a str, got {truncate(element, 80)} "
                                     f"({type(element).__name__}); map it to a string first")
        return element.encode(self.charset)

    def deserialize(self, message: bytes) -> Any:
        return None if message is None else message.decode(self.charset)

    def output_type(self) -> TypeInformation | None:
        return Types.STRING()

    def deserialize_batch(self, messages: list[bytes]) -> list:
        charset = self.charset
        return [None if m is None else m.decode(charset) for m in messages]


# ---- typed rows ------------------------------------------------------------------------------


def _row_fields(type_info: TypeInformation, where: str) -> list[tuple[str, TypeInformation]]:
    """The (name, type) fields of a ``Types.ROW_NAMED`` type (``f0``, ``f1``, ... for ``Types.ROW``)."""
    fields = list(type_info.params)
    if fields and type_info.name.startswith("ROW<") and not isinstance(fields[0], tuple):
        fields = list(zip(type_info.get_field_names(), fields))
    if not fields or not all(isinstance(f, tuple) and len(f) == 2 for f in fields):
        raise ValueError(f"{where}: type_info must be Types.ROW_NAMED([...names], [...types]), got {type_info}")
    return fields


def _named_row(names: list[str], values: list) -> Row:
    """A ``Row`` with named fields, as PyFlink's row formats give them."""
    row = Row(*values)
    row.set_field_names(names)
    return row


def _convert(value: Any, t: TypeInformation, path: str, error: type[RayflinkError], rows: bool = False) -> Any:
    """``value`` checked against (and, for numbers from text, converted to) type ``t``; nested
    rows become ``Row``s with ``rows`` (reading), dicts without (writing)."""
    if value is None:
        return None
    name = t.name
    if name in ("INT", "LONG", "SHORT", "BYTE", "BIG_INT"):
        if type(value) is int:
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif name in ("FLOAT", "DOUBLE"):
        if type(value) in (int, float):
            return float(value)
    elif name == "STRING":
        if isinstance(value, str):
            return value
    elif name == "BOOLEAN":
        if type(value) is bool:
            return value
    elif name.startswith("ROW<") and t.params and isinstance(t.params[0], tuple):
        if isinstance(value, Row) and value._fields is not None:
            value = value.as_dict()
        if isinstance(value, dict):
            if rows:
                return _named_row([n for n, _ in t.params],
                                  [_convert(value.get(n), ft, f"{path}.{n}", error, True) for n, ft in t.params])
            return {n: _convert(value.get(n), ft, f"{path}.{n}", error) for n, ft in t.params}
    elif name.startswith(("LIST<", "PRIMITIVE_ARRAY<")):
        if isinstance(value, list):
            return [_convert(v, t.params[0], f"{path}[{i}]", error, rows) for i, v in enumerate(value)]
    elif name.startswith("MAP<"):
        if isinstance(value, dict):
            return {k: _convert(v, t.params[1], f"{path}[{k!r}]", error, rows) for k, v in value.items()}
    else:
        return value
    raise error(f"field {path!r}: expected {name}, got {truncate(value, 80)} ({type(value).__name__})")


def _to_dict(element: Any, names: list[str], where: str) -> dict:
    if isinstance(element, dict):
        return element
    if isinstance(element, Row):  # by name when it has names, else in field order
        return element.as_dict() if element._fields is not None else dict(zip(names, element))
    if isinstance(element, (tuple, list)) and len(element) == len(names):
        return dict(zip(names, element))
    raise SerializationError(f"{where}: expected a dict or a {len(names)}-tuple for fields {names}, "
                             f"got {truncate(element, 80)} ({type(element).__name__})")


class JsonRowDeserializationSchema(DeserializationSchema):
    """JSON objects as ``Row``s named by a ``Types.ROW_NAMED`` (or ``Types.ROW``: f0, f1, ...)
    type, as PyFlink gives them, their fields checked (nested rows are ``Row``s too); without a
    type (a rayflink extension: PyFlink requires one), as parsed: dicts.

    >>> schema = JsonRowDeserializationSchema.builder() \\
    ...     .type_info(Types.ROW_NAMED(["id", "amount"], [Types.LONG(), Types.DOUBLE()])).build()
    >>> schema.deserialize(b'{"id": 1, "amount": 2}')
    Row(id=1, amount=2.0)

    Raises :class:`DeserializationError` naming the field and value on a type mismatch,
    a missing field (with ``fail_on_missing_field()``) or invalid JSON.
    """

    def __init__(self, type_info: TypeInformation | None = None, fail_on_missing_field: bool = False,
                 ignore_parse_errors: bool = False) -> None:
        self.type_info = type_info
        self.fields = _row_fields(type_info, "JsonRowDeserializationSchema") if type_info is not None else None
        self.names = None if self.fields is None else [n for n, _ in self.fields]
        self.fail_on_missing_field = fail_on_missing_field
        self.ignore_parse_errors = ignore_parse_errors

    @staticmethod
    def builder() -> "JsonRowDeserializationSchemaBuilder":
        return JsonRowDeserializationSchemaBuilder()

    def output_type(self) -> TypeInformation | None:
        return self.type_info

    def deserialize(self, message: bytes) -> Any:
        try:
            value = json.loads(message)
            if self.fields is None:
                return value
            if not isinstance(value, dict):
                raise DeserializationError(f"expected a JSON object, got {truncate(value, 80)}")
            out = []
            for name, t in self.fields:
                if name not in value and self.fail_on_missing_field:
                    raise DeserializationError(f"field {name!r} is missing in {truncate(value, 120)}")
                out.append(_convert(value.get(name), t, name, DeserializationError, True))
            return _named_row(self.names, out)
        except (ValueError, TypeError) as exc:
            if self.ignore_parse_errors:
                return None
            if isinstance(exc, DeserializationError):
                raise
            raise DeserializationError(f"invalid JSON {truncate(message, 120)}: {exc}") from exc

    def deserialize_batch(self, messages: list[bytes]) -> list:
        if self.fields is None and not self.ignore_parse_errors:
            loads = json.loads
            try:
                return [loads(m) for m in messages]
            except ValueError:
                pass  # find and name the bad message below
        return [self.deserialize(m) for m in messages]


class JsonRowDeserializationSchemaBuilder:
    """Builder of :class:`JsonRowDeserializationSchema` (PyFlink's names)."""

    def __init__(self) -> None:
        self._type_info: TypeInformation | None = None
        self._fail_on_missing = False
        self._ignore_errors = False

    def type_info(self, type_info: TypeInformation) -> "JsonRowDeserializationSchemaBuilder":
        self._type_info = type_info
        return self

    def fail_on_missing_field(self) -> "JsonRowDeserializationSchemaBuilder":
        self._fail_on_missing = True
        return self

    def ignore_parse_errors(self) -> "JsonRowDeserializationSchemaBuilder":
        """Skip malformed messages instead of failing: ``deserialize`` returns None for them and the
        sources drop and count them (``num_records_in_errors``). To keep them, use the Kafka
        source's dead-letter output instead."""
        self._ignore_errors = True
        return self

    def build(self) -> JsonRowDeserializationSchema:
        return JsonRowDeserializationSchema(self._type_info, self._fail_on_missing, self._ignore_errors)


class JsonRowSerializationSchema(SerializationSchema):
    """Records as JSON objects: dicts as they are; with a ``Types.ROW_NAMED`` type, dicts or
    tuples in field order, checked field by field.

    >>> JsonRowSerializationSchema.builder().build().serialize({"a": 1})
    b'{"a":1}'
    """

    def __init__(self, type_info: TypeInformation | None = None) -> None:
        self.type_info = type_info
        self.fields = _row_fields(type_info, "JsonRowSerializationSchema") if type_info is not None else None

    @staticmethod
    def builder() -> "JsonRowSerializationSchemaBuilder":
        return JsonRowSerializationSchemaBuilder()

    def serialize(self, element: Any) -> bytes:
        if self.fields is not None:
            row = _to_dict(element, [n for n, _ in self.fields], "JsonRowSerializationSchema")
            element = {n: _convert(row.get(n), t, n, SerializationError) for n, t in self.fields}
        try:
            return json.dumps(element, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"JsonRowSerializationSchema: {truncate(element, 120)} is not "
                                     f"JSON-serializable: {exc}") from exc


class JsonRowSerializationSchemaBuilder:
    """Builder of :class:`JsonRowSerializationSchema` (PyFlink's ``with_type_info``)."""

    def __init__(self) -> None:
        self._type_info: TypeInformation | None = None

    def with_type_info(self, type_info: TypeInformation) -> "JsonRowSerializationSchemaBuilder":
        self._type_info = type_info
        return self

    type_info = with_type_info

    def build(self) -> JsonRowSerializationSchema:
        return JsonRowSerializationSchema(self._type_info)


# ---- CSV -------------------------------------------------------------------------------------

_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "INT": int, "LONG": int, "SHORT": int, "BYTE": int, "BIG_INT": int, "FLOAT": float, "DOUBLE": float,
    "STRING": str, "BOOLEAN": lambda s: {"true": True, "false": False}[s.strip().lower()],
}


_Builder = TypeVar("_Builder", bound="_CsvBuilder")


class _CsvBuilder:
    """What the builders of the CSV row schemas share: the row type and the CSV dialect."""

    def __init__(self, type_info: TypeInformation) -> None:
        self._args: dict[str, Any] = {"type_info": type_info}

    def set_field_delimiter(self: _Builder, delimiter: str) -> _Builder:
        self._args["field_delimiter"] = delimiter
        return self

    def set_quote_character(self: _Builder, c: str) -> _Builder:
        self._args["quote_character"] = c
        return self


class CsvRowDeserializationSchema(DeserializationSchema):
    """One CSV line as a ``Row`` named by the ``Types.ROW_NAMED`` fields (PyFlink's), converted from text.

    >>> schema = CsvRowDeserializationSchema.Builder(
    ...     Types.ROW_NAMED(["id", "name"], [Types.INT(), Types.STRING()])).build()
    >>> schema.deserialize(b"7,ana")
    Row(id=7, name='ana')

    An empty field is ``None`` (Flink's null literal is the empty string).
    """

    def __init__(self, type_info: TypeInformation, field_delimiter: str = ",", quote_character: str = '"',
                 ignore_parse_errors: bool = False, charset: str = "utf-8") -> None:
        self.type_info = type_info
        self.fields = _row_fields(type_info, "CsvRowDeserializationSchema")
        self.field_delimiter = field_delimiter
        self.quote_character = quote_character
        self.ignore_parse_errors = ignore_parse_errors
        self.charset = charset

    class Builder(_CsvBuilder):
        """PyFlink's ``CsvRowDeserializationSchema.Builder(type_info)``."""

        def set_ignore_parse_errors(self) -> "CsvRowDeserializationSchema.Builder":
            """Skip malformed lines (None records, dropped and counted by the sources)."""
            self._args["ignore_parse_errors"] = True
            return self

        def build(self) -> "CsvRowDeserializationSchema":
            return CsvRowDeserializationSchema(**self._args)

    def output_type(self) -> TypeInformation | None:
        return self.type_info

    def deserialize(self, message: bytes | str) -> Any:
        text = message.decode(self.charset) if isinstance(message, bytes) else message
        return self.parse_lines([text.rstrip("\r\n")])[0]

    def deserialize_batch(self, messages: list[bytes]) -> list:
        return self.parse_lines([m.decode(self.charset).rstrip("\r\n") for m in messages])

    def parse_lines(self, lines: list[str]) -> list:
        """Parse text lines (no line ends) into records, one call for a whole batch."""
        out = []
        fields = self.fields
        names = [n for n, _ in fields]
        reader = csv.reader(lines, delimiter=self.field_delimiter, quotechar=self.quote_character)
        for line, cells in zip(lines, reader):
            try:
                if len(cells) != len(fields):
                    raise DeserializationError(f"expected {len(fields)} fields {[n for n, _ in fields]}, "
                                               f"got {len(cells)} in line {truncate(line, 120)}")
                values = []
                for (name, t), cell in zip(fields, cells):
                    if cell == "":
                        values.append(None)
                        continue
                    try:
                        values.append(_FROM_TEXT.get(t.name, str)(cell))
                    except (ValueError, KeyError):
                        raise DeserializationError(f"field {name!r}: expected {t.name}, got {truncate(cell, 80)} "
                                                   f"in line {truncate(line, 120)}") from None
                out.append(_named_row(names, values))
            except DeserializationError:
                if not self.ignore_parse_errors:
                    raise
                out.append(None)
        return out


class CsvRowSerializationSchema(SerializationSchema):
    """A record (dict or tuple in field order) as one CSV line, without line end.

    >>> CsvRowSerializationSchema.Builder(Types.ROW_NAMED(["id"], [Types.INT()])).build().serialize({"id": 1})
    b'1'
    """

    def __init__(self, type_info: TypeInformation, field_delimiter: str = ",", quote_character: str = '"',
                 charset: str = "utf-8") -> None:
        self.type_info = type_info
        self.fields = _row_fields(type_info, "CsvRowSerializationSchema")
        self.field_delimiter = field_delimiter
        self.quote_character = quote_character
        self.charset = charset

    class Builder(_CsvBuilder):
        """PyFlink's ``CsvRowSerializationSchema.Builder(type_info)``."""

        def build(self) -> "CsvRowSerializationSchema":
            return CsvRowSerializationSchema(**self._args)

    def serialize(self, element: Any) -> bytes:
        names = [n for n, _ in self.fields]
        row = _to_dict(element, names, "CsvRowSerializationSchema")
        cells = ["" if (v := _convert(row.get(n), t, n, SerializationError)) is None else v
                 for n, t in self.fields]
        buf = io.StringIO()
        csv.writer(buf, delimiter=self.field_delimiter, quotechar=self.quote_character,
                   lineterminator="").writerow(cells)
        return buf.getvalue().encode(self.charset)


# ---- Avro (fastavro) -------------------------------------------------------------------------


class AvroRowDeserializationSchema(DeserializationSchema):
    """Schemaless Avro binary records (one record per message) as dicts, through fastavro.

    >>> AvroRowDeserializationSchema(avro_schema_string='{"type": "record", ...}')
    """

    def __init__(self, avro_schema_string: str) -> None:
        import fastavro

        self.schema = fastavro.parse_schema(json.loads(avro_schema_string))

    def deserialize(self, message: bytes) -> Any:
        import fastavro

        try:
            return fastavro.schemaless_reader(io.BytesIO(message), self.schema)
        except Exception as exc:  # noqa: BLE001 - fastavro raises many types for bad bytes
            raise DeserializationError(f"invalid Avro record {truncate(message, 80)}: "
                                       f"{type(exc).__name__}: {exc}") from exc


class AvroRowSerializationSchema(SerializationSchema):
    """Dicts as schemaless Avro binary records, through fastavro; mismatches name the field."""

    def __init__(self, avro_schema_string: str) -> None:
        import fastavro

        self.schema = fastavro.parse_schema(json.loads(avro_schema_string))

    def serialize(self, element: Any) -> bytes:
        import fastavro
        from fastavro.validation import validate

        if isinstance(element, Row):  # a Row's fields are the record's fields, in order
            element = _to_dict(element, [f["name"] for f in self.schema.get("fields", [])],
                               "AvroRowSerializationSchema")
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, self.schema, element)
        except Exception as exc:  # noqa: BLE001
            reason = exc
            try:
                validate(element, self.schema, raise_errors=True)
            except Exception as detail:  # noqa: BLE001 - names the field
                reason = detail
            raise SerializationError(f"AvroRowSerializationSchema: {truncate(element, 120)} does not match "
                                     f"the schema: {reason}") from None
        return buf.getvalue()


class ByteArraySchema(SerializationSchema, DeserializationSchema):
    """Bytes as they are (a Kafka key or value read or written unchanged).

    >>> ByteArraySchema().deserialize(b"\\x00\\x01")
    b'\\x00\\x01'
    """

    def serialize(self, element: Any) -> bytes:
        if not isinstance(element, (bytes, bytearray, memoryview)):
            raise SerializationError(f"ByteArraySchema: expected bytes, got {truncate(element, 80)} "
                                     f"({type(element).__name__}); encode it first (e.g. value.encode())")
        return bytes(element)

    def deserialize(self, message: bytes) -> Any:
        return message

    def deserialize_batch(self, messages: list[bytes]) -> list:
        return list(messages)


class RowFieldExtractorSchema(SerializationSchema):
    """Serializes one field of a row, which must already be bytes: e.g. field 0 as the Kafka key
    and field 1 as the value.

    >>> RowFieldExtractorSchema(1).serialize(Row(b"k", b"v"))
    b'v'

    Raises ValueError for a negative index, SerializationError when the field is missing or not bytes.
    """

    def __init__(self, field_index: int) -> None:
        if not isinstance(field_index, int) or field_index < 0:
            raise ValueError(f"RowFieldExtractorSchema({field_index!r}): the field index must be an int >= 0")
        self.field_index = field_index

    def serialize(self, element: Any) -> bytes:
        try:
            value = element[self.field_index]
        except (IndexError, KeyError, TypeError):
            raise SerializationError(f"RowFieldExtractorSchema({self.field_index}): the record "
                                     f"{truncate(element, 80)} has no field {self.field_index}") from None
        if not isinstance(value, (bytes, bytearray)):
            raise SerializationError(f"RowFieldExtractorSchema({self.field_index}): field {self.field_index} of "
                                     f"{truncate(element, 80)} is {type(value).__name__}, not bytes; encode it "
                                     "before the sink (e.g. map to Row(key.encode(), value.encode()))")
        return bytes(value)


class Encoder:
    """Turns a record into the bytes of one row of a row-format file (``FileSink.for_row_format``).

    >>> Encoder.simple_string_encoder()   # str(record) + "\\n"
    """

    def __init__(self, encode: Callable[[Any], bytes]) -> None:
        self.encode = encode

    @staticmethod
    def simple_string_encoder(charset_name: str = "UTF-8") -> "Encoder":
        return Encoder(lambda record: (str(record) + "\n").encode(charset_name))

    @staticmethod
    def from_serialization_schema(schema: SerializationSchema) -> "Encoder":
        """A ``SerializationSchema`` (JSON, CSV ...) plus a line end."""
        return Encoder(lambda record: schema.serialize(record) + b"\n")


class BulkWriterFactory(ABC):  # noqa: B024 - a marker base, as in PyFlink
    """The base of bulk-format writers for ``FileSink.for_bulk_format`` (Parquet, Avro, CSV)."""


JsonRowDeserializationSchema.Builder = JsonRowDeserializationSchemaBuilder  # PyFlink's nested name
JsonRowSerializationSchema.Builder = JsonRowSerializationSchemaBuilder  # PyFlink's nested name
