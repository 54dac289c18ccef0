"""Type information (``Types``) for records, mapped to Arrow types."""

from __future__ import annotations

import datetime
import decimal
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from rayflink.common.types import Row


@dataclass(frozen=True)
class TypeInformation:
    """A declared record type: its Flink name, Arrow type and Python type."""

    name: str
    arrow_type: Any  # pa.DataType or None for pickled Python objects
    python_type: Any = object
    params: tuple = ()

    def __repr__(self) -> str:
        return self.name

    def accepts(self, value: object) -> bool:
        """True when ``value`` fits this type (used for build-time and first-record checks)."""
        if self.python_type is object or value is None:
            return True
        if self.python_type is Row:  # a row type takes Rows, tuples and lists of its arity
            return isinstance(value, (Row, tuple, list)) and len(value) == len(self.params)
        if self.python_type is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, self.python_type)

    def get_field_names(self) -> list[str] | None:
        """The field names of a ROW or TUPLE type (``f0``, ``f1``, ... unless named), else None."""
        if self.python_type is Row or self.python_type is tuple:
            return [p[0] if isinstance(p, tuple) else f"f{i}" for i, p in enumerate(self.params)]
        return None

    def need_conversion(self) -> bool:
        """True when records of this type are converted between their Python and internal forms
        (rows: a ``Row`` outside, a tuple inside)."""
        return self.python_type is Row

    def to_internal_type(self, obj: Any) -> Any:
        """The internal form of ``obj``: a Row becomes the tuple of its values."""
        if self.python_type is Row and isinstance(obj, (Row, list)):
            return tuple(obj)
        return obj

    def from_internal_type(self, obj: Any) -> Any:
        """The Python form of ``obj``: a tuple or list of a row type becomes a ``Row`` with the
        type's field names (``Types.ROW_NAMED``) or positional fields (``Types.ROW``)."""
        if self.python_type is not Row or obj is None:
            return obj
        if isinstance(obj, Row):
            if obj._fields is None and self._named():
                row = Row(*obj._values)
                row.set_field_names(self.get_field_names())
                row.set_row_kind(obj.get_row_kind())
                return row
            return obj
        if isinstance(obj, (tuple, list)):
            row = Row(*obj)
            if self._named():
                row.set_field_names(self.get_field_names())
            return row
        return obj

    def to_print_string(self, value: Any) -> str:
        """``value`` as Flink's print sink shows a record of this type (Java's ``toString``):
        tuples ``(a,b)``, rows ``+I[a, b]``, booleans ``true``, None ``null``; other values
        as ``str``, as PyFlink prints records without a declared type.

        >>> Types.TUPLE([Types.STRING(), Types.INT()]).to_print_string(("hi", 4))
        '(hi,4)'
        """
        return _java_string(value, self)

    def _named(self) -> bool:
        return bool(self.params) and isinstance(self.params[0], tuple)


def _basic(name: str, arrow_type: Any, python_type: Any, doc: str | None = None) -> Any:
    """The ``Types`` factory of a basic type: ``Types.<name>()``, a new ``TypeInformation`` each call."""

    def factory() -> TypeInformation:
        return TypeInformation(name, arrow_type, python_type)

    factory.__name__ = name
    factory.__qualname__ = f"Types.{name}"
    factory.__doc__ = doc
    return staticmethod(factory)


def _list_of(name: str, element: TypeInformation) -> TypeInformation:
    """A list type ``<name><element>`` (an Arrow list when the element has an Arrow type)."""
    return TypeInformation(f"{name}<{element}>", pa.list_(element.arrow_type) if element.arrow_type else None,
                           list, (element,))


class Types:
    """PyFlink's ``Types`` factory: ``Types.STRING()``, ``Types.MAP(Types.STRING(), Types.FLOAT())``."""

    STRING = _basic("STRING", pa.string(), str)
    BOOLEAN = _basic("BOOLEAN", pa.bool_(), bool)
    BYTE = _basic("BYTE", pa.int8(), int)
    SHORT = _basic("SHORT", pa.int16(), int)
    INT = _basic("INT", pa.int32(), int)
    LONG = _basic("LONG", pa.int64(), int)
    BIG_INT = _basic("BIG_INT", None, int)
    FLOAT = _basic("FLOAT", pa.float32(), float)
    DOUBLE = _basic("DOUBLE", pa.float64(), float)
    CHAR = _basic("CHAR", pa.string(), str, "A single character (a one-character ``str``).")
    BIG_DEC = _basic("BIG_DEC", None, decimal.Decimal, "An arbitrary-precision decimal (``decimal.Decimal``).")
    SQL_DATE = _basic("SQL_DATE", pa.date32(), datetime.date, "A date (``datetime.date``).")
    SQL_TIME = _basic("SQL_TIME", pa.time64("us"), datetime.time, "A time of day (``datetime.time``).")
    SQL_TIMESTAMP = _basic("SQL_TIMESTAMP", pa.timestamp("ms"), object,
                           "A timestamp (``datetime.datetime``; epoch milliseconds are accepted too).")

    @staticmethod
    def INSTANT() -> TypeInformation:
        """A point in time (``rayflink.common.Instant``)."""
        from rayflink.common.time import Instant

        return TypeInformation("INSTANT", pa.timestamp("ns"), Instant)

    @staticmethod
    def BASIC_ARRAY(element_type: TypeInformation) -> TypeInformation:
        """An array of a basic type (Java's ``Integer[]``, ``String[]``): a Python list."""
        return _list_of("BASIC_ARRAY", element_type)

    @staticmethod
    def OBJECT_ARRAY(element_type: TypeInformation) -> TypeInformation:
        """An array of any type (Java's ``Object[]``): a Python list."""
        return _list_of("OBJECT_ARRAY", element_type)

    @staticmethod
    def PRIMITIVE_ARRAY(element: TypeInformation) -> TypeInformation:
        """An array of a primitive type: a list, or ``bytes`` for ``PRIMITIVE_ARRAY(BYTE())``
        (Java's ``byte[]``, as in PyFlink)."""
        if element.name == "BYTE":
            return TypeInformation("PRIMITIVE_ARRAY<BYTE>", pa.binary(), bytes, (element,))
        return _list_of("PRIMITIVE_ARRAY", element)

    @staticmethod
    def LIST(element: TypeInformation) -> TypeInformation:
        return _list_of("LIST", element)

    @staticmethod
    def MAP(key: TypeInformation, value: TypeInformation) -> TypeInformation:
        arrow = (pa.map_(key.arrow_type, value.arrow_type)
                 if key.arrow_type and value.arrow_type else None)
        return TypeInformation(f"MAP<{key}, {value}>", arrow, dict, (key, value))

    @staticmethod
    def TUPLE(fields: list[TypeInformation]) -> TypeInformation:
        return _positional("TUPLE", fields, tuple)

    @staticmethod
    def ROW(fields: list[TypeInformation]) -> TypeInformation:
        return _positional("ROW", fields, Row)

    @staticmethod
    def ROW_NAMED(names: list[str], fields: list[TypeInformation]) -> TypeInformation:
        if len(names) != len(fields):
            raise ValueError(f"ROW_NAMED: {len(names)} names but {len(fields)} field types")
        inner = ", ".join(f"{n}: {f!r}" for n, f in zip(names, fields))
        return TypeInformation(f"ROW<{inner}>", _struct(names, fields), Row,
                               tuple(zip(names, fields)))

    @staticmethod
    def PICKLED_BYTE_ARRAY() -> TypeInformation:
        return TypeInformation("PICKLED_BYTE_ARRAY", None, object)


def _positional(name: str, fields: list[TypeInformation], python_type: Any) -> TypeInformation:
    """A type of fields named by position (``f0``, ``f1``, ...): ``<name><field types>``."""
    names = [f"f{i}" for i in range(len(fields))]
    return TypeInformation(f"{name}<{', '.join(map(repr, fields))}>", _struct(names, fields), python_type,
                           tuple(fields))


def _struct(names: list[str], fields: list[TypeInformation]) -> Any:
    if all(f.arrow_type is not None for f in fields):
        return pa.struct([pa.field(n, f.arrow_type) for n, f in zip(names, fields)])
    return None


def _java_string(value: Any, t: TypeInformation | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and t is not None and t.name in ("DOUBLE", "FLOAT"):
        return java_double(value)
    if t is not None and t.name == "INSTANT" and hasattr(value, "to_epoch_milli"):  # Instant.toString
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=value.seconds)
        nanos = f".{value.nanos:09d}".rstrip("0") if value.nanos else ""
        nanos = nanos + "0" * (-(len(nanos) - 1) % 3) if nanos else ""
        return f"{moment:%Y-%m-%dT%H:%M:%S}{nanos}Z"
    if isinstance(value, datetime.datetime) and t is not None and t.name == "SQL_TIMESTAMP":
        return f"{value:%Y-%m-%d %H:%M:%S}.{str(value.microsecond * 1000).rjust(9, '0').rstrip('0') or '0'}"
    if t is not None and t.python_type is tuple and isinstance(value, (tuple, list)):
        return "(" + ",".join(_java_string(v, f) for v, f in zip(value, _field_types(t, len(value)))) + ")"
    if t is not None and t.python_type is Row and isinstance(value, dict):  # a row format's dict
        value = tuple(value.get(name) for name in t.get_field_names())
    if t is not None and t.python_type is Row and isinstance(value, (Row, tuple, list)):
        kind = str(value.get_row_kind()) if isinstance(value, Row) else "+I"
        return kind + "[" + ", ".join(_java_string(v, f) for v, f in zip(value, _field_types(t, len(value)))) + "]"
    if isinstance(value, list) and t is not None and t.params:
        return "[" + ", ".join(_java_string(v, t.params[0]) for v in value) + "]"
    if isinstance(value, dict) and t is not None and len(t.params) == 2:
        return "{" + ", ".join(f"{_java_string(k, t.params[0])}={_java_string(v, t.params[1])}"
                               for k, v in value.items()) + "}"
    return str(value)


def _field_types(t: TypeInformation, n: int) -> list:
    fields = [p[1] if isinstance(p, tuple) else p for p in t.params]
    return fields + [None] * (n - len(fields))


def java_double(x: float, single: bool = False) -> str:
    """Java's ``Double.toString`` (``Float.toString`` when ``single``: the shortest digits of the
    32-bit value): plain between 1e-3 and 1e7, else ``1.2345E7``."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    shortest = np.format_float_scientific(np.float32(abs(x)), unique=True) if single else repr(abs(x))
    value = decimal.Decimal(shortest)
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        text = format(value, "f")
        return ("-" if x < 0 else "") + (text if "." in text else text + ".0")
    _sign, digits, exponent = value.normalize().as_tuple()
    text = "".join(map(str, digits)) or "0"
    power = len(digits) - 1 + int(exponent)
    return f"{'-' if x < 0 else ''}{text[0]}.{text[1:] or '0'}E{power}"
