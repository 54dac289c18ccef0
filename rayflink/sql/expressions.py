"""Scalar expressions of the logical plan (frozen dataclasses) and their vectorized evaluation.

An expression is compiled once from sqlglot's tree against its input's fields (names resolved
to column indexes, types checked by evaluating it on an empty batch of the input's schema)
and evaluated on whole ``pyarrow.RecordBatch`` es with ``pyarrow.compute``.

>>> import pyarrow as pa
>>> batch = pa.record_batch({"a": [1, 2, 3]})
>>> evaluate(Call("add", (Col(0, "a"), Lit(1, pa.int32()))), batch).to_pylist()
[2, 3, 4]
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


class Expr:
    """A scalar expression over the fields of one input."""

    def sql(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Col(Expr):
    """The input's field ``index`` (named ``name`` for plans and errors)."""

    index: int
    name: str

    def sql(self) -> str:
        return f"`{self.name}`"


@dataclass(frozen=True)
class Lit(Expr):
    """A constant of Arrow type ``type`` (INTERVALs are ``duration('ms')``)."""

    value: Any
    type: pa.DataType

    def sql(self) -> str:
        if pa.types.is_duration(self.type):
            return f"INTERVAL '{self.value}' MILLISECOND"
        return "NULL" if self.value is None else repr(self.value)


@dataclass(frozen=True)
class Call(Expr):
    """Function ``name`` (a key of ``FUNCTIONS``) of ``args``; ``options`` are constant parameters."""

    name: str
    args: tuple
    options: tuple = ()

    def sql(self) -> str:
        inner = ", ".join(a.sql() for a in self.args)
        if self.name == "udf":  # a user-defined function prints as its name
            return f"{self.options[0]!r}({inner})"
        opts = "".join(f", {o!r}" for o in self.options)
        return f"{self.name.upper()}({inner}{opts})"


# ---- evaluation -------------------------------------------------------------------------------

def evaluate(expr: Expr, batch: pa.RecordBatch) -> Any:
    """``expr`` over ``batch``: an Arrow array (or a scalar for a constant expression)."""
    t = type(expr)
    if t is Col:
        return batch.column(expr.index)
    if t is Lit:
        return pa.scalar(expr.value, type=expr.type)
    args = [evaluate(a, batch) for a in expr.args]
    return FUNCTIONS[expr.name](args, expr.options, batch.num_rows)


def as_array(value: Any, length: int) -> pa.Array:
    """An evaluation result as an array of ``length`` (constants repeated)."""
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, length)
    if isinstance(value, pa.ChunkedArray):
        return value.combine_chunks()
    return value


def result_type(expr: Expr, schema: pa.Schema) -> pa.DataType:
    """The Arrow type ``expr`` yields over inputs of ``schema`` (evaluated on an empty batch)."""
    empty = pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)
    return evaluate(expr, empty).type


_JAVA_DATE_FIELDS = {"M": "%m", "d": "%d", "H": "%H", "m": "%M", "s": "%S", "S": "%f"}  # Java's -> strftime's


def _java_to_strftime(fmt: str) -> str:
    """Flink's (Java's) date pattern as a strftime pattern: ``yyyy-MM-dd HH:mm:ss`` -> ``%Y-%m-%d %H:%M:%S``."""
    out = []
    for token in re.findall(r"y+|M+|d+|H+|m+|s+|S+|'[^']*'|.", fmt):
        c = token[0]
        if c == "y":
            out.append("%Y" if len(token) != 2 else "%y")
        elif c in _JAVA_DATE_FIELDS:
            out.append(_JAVA_DATE_FIELDS[c])
        elif c == "'":
            out.append(token[1:-1])
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def _to_timestamp(args: list, options: tuple, n: int) -> Any:
    fmt = options[0] if options else "yyyy-MM-dd HH:mm:ss"
    strings = args[0]
    if fmt == "yyyy-MM-dd HH:mm:ss":  # Arrow's ISO parser also takes fractions of seconds
        try:
            return pc.cast(strings, pa.timestamp("ms"), safe=False)
        except pa.ArrowInvalid:
            pass  # a string that is no timestamp: NULL for it, as in Flink
    return pc.strptime(strings, format=_java_to_strftime(fmt), unit="ms", error_is_null=True)


def _to_timestamp_ltz(args: list, options: tuple, n: int) -> Any:
    epoch = pc.cast(args[0], pa.int64())
    if options[0] == 0:
        epoch = pc.multiply(epoch, 1000)
    return pc.cast(epoch, pa.timestamp("ms", tz="UTC"))


def _date_format(args: list, options: tuple, n: int) -> Any:
    value = args[0]
    if pa.types.is_string(value.type):
        value = pc.cast(value, pa.timestamp("ms"))
    fmt = _java_to_strftime(options[0])
    if "%f" not in fmt and pa.types.is_timestamp(value.type):  # whole seconds: %S must not print fractions
        value = pc.cast(pc.floor_temporal(value, unit="second"), pa.timestamp("s", value.type.tz), safe=False)
    return pc.strftime(value, format=fmt)


def _case(args: list, options: tuple, n: int) -> Any:
    """``args`` = cond1, value1, cond2, value2, ..., else."""
    conds = [as_array(c, n) for c in args[0:-1:2]]
    values = args[1:-1:2] + [args[-1]]
    target = _common_type([v.type for v in values])
    values = [as_array(v.cast(target) if v.type != target else v, n) for v in values]
    conds = [pc.fill_null(c, False) for c in conds]
    return pc.case_when(pc.make_struct(*conds, field_names=[f"c{i}" for i in range(len(conds))]), *values)


def _common_type(types: list) -> pa.DataType:
    concrete = [t for t in types if t != pa.null()]
    if not concrete:
        return pa.null()
    best = concrete[0]
    for t in concrete[1:]:
        if t == best:
            continue
        if pa.types.is_floating(t) or (pa.types.is_integer(best) and pa.types.is_decimal(t)):
            best = t if not pa.types.is_floating(best) else best
        elif pa.types.is_integer(t) and pa.types.is_integer(best):
            best = t if t.bit_width > best.bit_width else best
        elif pa.types.is_decimal(best) and pa.types.is_floating(t):
            best = t
    return best


def _coalesce(args: list, options: tuple, n: int) -> Any:
    target = _common_type([a.type for a in args])
    return pc.coalesce(*[a.cast(target) if a.type != target else a for a in args])


def _cast(args: list, options: tuple, n: int) -> Any:
    return pc.cast(args[0], options[0], safe=False)


def _floor_to(args: list, options: tuple, n: int) -> Any:
    return pc.floor_temporal(args[0], unit=options[0])


def _ceil_to(args: list, options: tuple, n: int) -> Any:
    return pc.ceil_temporal(args[0], unit=options[0])


def _concat(args: list, options: tuple, n: int) -> Any:
    strings = [a if pa.types.is_string(a.type) else pc.cast(a, pa.string()) for a in args]
    return pc.binary_join_element_wise(*strings, "", null_handling="emit_null")


def _substring(args: list, options: tuple, n: int) -> Any:
    start = options[0]
    length = options[1] if len(options) > 1 else None
    begin = max(start - 1, 0)
    return pc.utf8_slice_codeunits(args[0], begin, None if length is None else begin + length)


def _round(args: list, options: tuple, n: int) -> Any:
    digits = options[0] if options else 0
    value = args[0]
    if pa.types.is_integer(value.type):
        return value
    return pc.round(value, ndigits=digits, round_mode="half_up" if not pa.types.is_floating(value.type)
                    else "half_to_even")


def _like(args: list, options: tuple, n: int) -> Any:
    return pc.match_like(args[0], options[0])


def _in(args: list, options: tuple, n: int) -> Any:
    value = args[0]
    return pc.is_in(value, value_set=pa.array(list(options), type=value.type))


def _extract(args: list, options: tuple, n: int) -> Any:
    return getattr(pc, options[0])(args[0])


def _mod(args: list, options: tuple, n: int) -> Any:
    """Java's remainder: the sign of the dividend (Arrow's ``modulo`` takes the divisor's)."""
    a, b = args
    quotient = pc.divide(a, b)
    if pa.types.is_floating(quotient.type):
        quotient = pc.trunc(quotient)
    return pc.subtract(a, pc.multiply(quotient, b))


def _binary(name: str) -> Callable:
    fn = getattr(pc, name)
    return lambda args, options, n: fn(args[0], args[1])


def _unary(name: str) -> Callable:
    fn = getattr(pc, name)
    return lambda args, options, n: fn(args[0])


def _and(args: list, options: tuple, n: int) -> Any:
    return pc.and_kleene(args[0], args[1])


def _or(args: list, options: tuple, n: int) -> Any:
    return pc.or_kleene(args[0], args[1])


def _proctime(args: list, options: tuple, n: int) -> pa.Array:
    """``PROCTIME()``: the wall clock when the row is processed, as TIMESTAMP_LTZ(3)."""
    now = time.time_ns() // 1_000_000
    return pa.array([now] * n, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))


def _array_element(args: list, options: tuple, n: int) -> Any:
    """``a[i]`` (``options[0]``: the 0-based index): NULL where the array is shorter or NULL."""
    arrays, i = args[0], options[0]
    if i < 0:
        return pa.nulls(n, arrays.type.value_type)
    long_enough = pc.greater(pc.list_value_length(arrays), i)
    padded = pc.if_else(long_enough, arrays, pa.scalar([None] * (i + 1), type=arrays.type))
    return pc.list_element(padded, i)


def _map_value(args: list, options: tuple, n: int) -> Any:
    """``m[key]``: the value of ``options[0]``, NULL where the map has no such key."""
    maps = args[0]
    return pc.map_lookup(maps, pa.scalar(options[0], type=maps.type.key_type), "first")


def _json_value(args: list, options: tuple, n: int) -> pa.Array:
    """``JSON_VALUE(s, path)``: the scalar at ``path`` (its steps in ``options[0]``) as a STRING; NULL
    where ``s`` is NULL or no JSON, the path leads nowhere or to an object or array (Flink's NULL ON
    EMPTY and NULL ON ERROR)."""

    def value(text: str | None) -> str | None:
        if text is None:
            return None
        try:
            v = json.loads(text)
        except ValueError:
            return None
        for step in options[0]:
            if isinstance(step, int) and isinstance(v, list) and step < len(v):
                v = v[step]
            elif isinstance(step, str) and isinstance(v, dict) and step in v:
                v = v[step]
            else:
                return None
        if v is None or isinstance(v, (dict, list)):
            return None
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    texts = args[0].to_pylist() if not isinstance(args[0], pa.Scalar) else [args[0].as_py()] * n
    return pa.array([value(t) for t in texts], pa.string())


def _udf(args: list, options: tuple, n: int) -> pa.Array:
    """A user-defined function (``options[0]``, made by ``rayflink.table.udf.udf``)."""
    return options[0].evaluate(args, n)


FUNCTIONS: dict[str, Callable[[list, tuple, int], Any]] = {
    "udf": _udf, "proctime": _proctime,
    "add": _binary("add"), "subtract": _binary("subtract"), "multiply": _binary("multiply"),
    "divide": _binary("divide"), "mod": _mod, "power": _binary("power"),
    "negate": _unary("negate"), "abs": _unary("abs"), "sqrt": _unary("sqrt"), "ln": _unary("ln"),
    "log10": _unary("log10"), "exp": _unary("exp"), "floor": _unary("floor"), "ceil": _unary("ceil"),
    "round": _round,
    "equal": _binary("equal"), "not_equal": _binary("not_equal"), "less": _binary("less"),
    "less_equal": _binary("less_equal"), "greater": _binary("greater"), "greater_equal": _binary("greater_equal"),
    "and": _and, "or": _or, "not": _unary("invert"), "is_null": _unary("is_null"), "is_not_null": _unary("is_valid"),
    "like": _like, "in": _in,
    "case": _case, "if": _case, "coalesce": _coalesce, "cast": _cast,
    "upper": _unary("utf8_upper"), "lower": _unary("utf8_lower"), "char_length": _unary("utf8_length"),
    "trim": _unary("utf8_trim_whitespace"), "ltrim": _unary("utf8_ltrim_whitespace"),
    "rtrim": _unary("utf8_rtrim_whitespace"), "concat": _concat, "substring": _substring,
    "replace": lambda args, options, n: pc.replace_substring(args[0], options[0], options[1]),
    "to_timestamp": _to_timestamp, "to_timestamp_ltz": _to_timestamp_ltz, "date_format": _date_format,
    "floor_to": _floor_to, "ceil_to": _ceil_to, "extract": _extract,
    "row_field": lambda args, options, n: pc.struct_field(args[0], [options[0]]),
    "array_element": _array_element, "map_value": _map_value, "json_value": _json_value,
}

# SQL names of the functions above that take their arguments as they are
SQL_FUNCTIONS = {
    "ABS": "abs", "SQRT": "sqrt", "LN": "ln", "LOG10": "log10", "EXP": "exp", "FLOOR": "floor",
    "CEIL": "ceil", "CEILING": "ceil", "POWER": "power", "POW": "power", "MOD": "mod",
    "UPPER": "upper", "LOWER": "lower", "CHAR_LENGTH": "char_length", "CHARACTER_LENGTH": "char_length",
    "LENGTH": "char_length", "TRIM": "trim", "LTRIM": "ltrim", "RTRIM": "rtrim", "CONCAT": "concat",
    "COALESCE": "coalesce", "IF": "if", "PROCTIME": "proctime",
}

TIME_UNITS = {"SECOND": "second", "MINUTE": "minute", "HOUR": "hour", "DAY": "day", "MONTH": "month",
              "YEAR": "year", "WEEK": "week", "MILLISECOND": "millisecond"}

INTERVAL_MS = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}

