"""Flink SQL types as Arrow types, and back (DESCRIBE shows Flink's names)."""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from rayflink.sql.errors import SqlValidationError

_SIMPLE = {
    exp.DataType.Type.TEXT: pa.string(), exp.DataType.Type.VARCHAR: pa.string(),
    exp.DataType.Type.CHAR: pa.string(), exp.DataType.Type.NVARCHAR: pa.string(),
    exp.DataType.Type.INT: pa.int32(), exp.DataType.Type.BIGINT: pa.int64(),
    exp.DataType.Type.SMALLINT: pa.int16(), exp.DataType.Type.TINYINT: pa.int8(),
    exp.DataType.Type.DOUBLE: pa.float64(), exp.DataType.Type.FLOAT: pa.float32(),
    exp.DataType.Type.BOOLEAN: pa.bool_(), exp.DataType.Type.DATE: pa.date32(),
    exp.DataType.Type.BINARY: pa.binary(), exp.DataType.Type.VARBINARY: pa.binary(),
}

TIMESTAMP = pa.timestamp("ms")
TIMESTAMP_LTZ = pa.timestamp("ms", tz="UTC")


def arrow_type(dt: exp.DataType) -> pa.DataType:
    """The Arrow type of a parsed SQL type (``STRING``, ``DECIMAL(10, 2)``, ``TIMESTAMP(3)``, ...)."""
    kind = dt.this
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    params = [int(p.this.this) for p in dt.expressions if isinstance(p, exp.DataTypeParam)]
    if kind == exp.DataType.Type.DECIMAL:
        precision, scale = (params + [10, 0])[:2] if params else (10, 0)
        if len(params) == 1:
            scale = 0
        return pa.decimal128(precision, scale)
    if kind in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME):
        return TIMESTAMP
    if kind in (exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.TIMESTAMPTZ):
        return TIMESTAMP_LTZ
    if kind == exp.DataType.Type.ARRAY and len(dt.expressions) == 1:
        return pa.list_(arrow_type(dt.expressions[0]))
    if kind == exp.DataType.Type.MAP and len(dt.expressions) == 2:
        return pa.map_(arrow_type(dt.expressions[0]), arrow_type(dt.expressions[1]))
    if kind == exp.DataType.Type.STRUCT and dt.expressions:
        return pa.struct([pa.field(f.name, arrow_type(f.args["kind"])) for f in dt.expressions])
    raise SqlValidationError(f"type {dt.sql()} is not supported yet; use STRING, INT, BIGINT, DOUBLE, "
                             "DECIMAL(p, s), BOOLEAN, TIMESTAMP(3), TIMESTAMP_LTZ(3), DATE, ARRAY<t>, "
                             "MAP<k, v> or ROW<name t, ...>")


def flink_type_name(t: pa.DataType) -> str:
    """Flink's name of an Arrow type: ``INT``, ``STRING``, ``TIMESTAMP(3)``, ..."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP_LTZ(3)" if t.tz else "TIMESTAMP(3)"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_list(t):
        return f"ARRAY<{flink_type_name(t.value_type)}>"
    if pa.types.is_map(t):
        return f"MAP<{flink_type_name(t.key_type)}, {flink_type_name(t.item_type)}>"
    if pa.types.is_struct(t):
        return "ROW<" + ", ".join(f"`{f.name}` {flink_type_name(f.type)}" for f in t) + ">"
    names = {pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT",
             pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
             pa.binary(): "BYTES", pa.null(): "NULL"}
    return names.get(t, str(t).upper())


def is_time(t: pa.DataType) -> bool:
    """A TIMESTAMP or TIMESTAMP_LTZ column (what a watermark or window can be defined on)."""
    return pa.types.is_timestamp(t)


def epoch_millis(array: pa.Array) -> list:
    """Event times (TIMESTAMP, TIMESTAMP_LTZ or BIGINT milliseconds) as epoch milliseconds, None where NULL."""
    if pa.types.is_timestamp(array.type):
        array = array.cast(pa.timestamp("ms", array.type.tz))
    return array.cast(pa.int64()).to_pylist()


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The columns of ``schema`` taken from ``batch`` by name and cast to its types (``batch`` as it
    is when it has that schema already)."""
    if batch.schema.equals(schema):
        return batch
    return pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema], schema=schema)


def column_of(values: list, t: pa.DataType, what: str) -> pa.Array:
    """``values`` as an Arrow array of type ``t``, converting what a database or a driver gives
    (DECIMAL into DOUBLE, ...); values that do not fit raise naming ``what`` and one such value."""
    try:
        return pa.array(values, t)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        try:
            return pa.array(values).cast(t, safe=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            sample = next((v for v in values if v is not None), None)
            raise SqlValidationError(f"{what} is {flink_type_name(t)} but got {type(sample).__name__} values such "
                                     f"as {sample!r} ({exc})") from None
