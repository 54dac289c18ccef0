"""Type information (``Types``) for records, mapped to Arrow types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa


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
        if self.python_type is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, self.python_type)


def _basic(name: str, arrow_type: Any, python_type: Any) -> TypeInformation:
    return TypeInformation(name, arrow_type, python_type)


class Types:
    """PyFlink's ``Types`` factory: ``Types.STRING()``, ``Types.MAP(Types.STRING(), Types.FLOAT())``."""

    @staticmethod
    def STRING() -> TypeInformation:
        return _basic("STRING", pa.string(), str)

    @staticmethod
    def BOOLEAN() -> TypeInformation:
        return _basic("BOOLEAN", pa.bool_(), bool)

    @staticmethod
    def BYTE() -> TypeInformation:
        return _basic("BYTE", pa.int8(), int)

    @staticmethod
    def SHORT() -> TypeInformation:
        return _basic("SHORT", pa.int16(), int)

    @staticmethod
    def INT() -> TypeInformation:
        return _basic("INT", pa.int32(), int)

    @staticmethod
    def LONG() -> TypeInformation:
        return _basic("LONG", pa.int64(), int)

    @staticmethod
    def BIG_INT() -> TypeInformation:
        return _basic("BIG_INT", None, int)

    @staticmethod
    def FLOAT() -> TypeInformation:
        return _basic("FLOAT", pa.float32(), float)

    @staticmethod
    def DOUBLE() -> TypeInformation:
        return _basic("DOUBLE", pa.float64(), float)

    @staticmethod
    def SQL_TIMESTAMP() -> TypeInformation:
        return _basic("SQL_TIMESTAMP", pa.timestamp("ms"), object)

    @staticmethod
    def PRIMITIVE_ARRAY(element: TypeInformation) -> TypeInformation:
        return TypeInformation(f"PRIMITIVE_ARRAY<{element}>", pa.list_(element.arrow_type)
                               if element.arrow_type else None, list, (element,))

    @staticmethod
    def LIST(element: TypeInformation) -> TypeInformation:
        return TypeInformation(f"LIST<{element}>", pa.list_(element.arrow_type)
                               if element.arrow_type else None, list, (element,))

    @staticmethod
    def MAP(key: TypeInformation, value: TypeInformation) -> TypeInformation:
        arrow = (pa.map_(key.arrow_type, value.arrow_type)
                 if key.arrow_type and value.arrow_type else None)
        return TypeInformation(f"MAP<{key}, {value}>", arrow, dict, (key, value))

    @staticmethod
    def TUPLE(fields: list[TypeInformation]) -> TypeInformation:
        names = [f"f{i}" for i in range(len(fields))]
        return TypeInformation(f"TUPLE<{', '.join(map(repr, fields))}>",
                               _struct(names, fields), tuple, tuple(fields))

    @staticmethod
    def ROW(fields: list[TypeInformation]) -> TypeInformation:
        names = [f"f{i}" for i in range(len(fields))]
        return TypeInformation(f"ROW<{', '.join(map(repr, fields))}>",
                               _struct(names, fields), object, tuple(fields))

    @staticmethod
    def ROW_NAMED(names: list[str], fields: list[TypeInformation]) -> TypeInformation:
        if len(names) != len(fields):
            raise ValueError(f"ROW_NAMED: {len(names)} names but {len(fields)} field types")
        inner = ", ".join(f"{n}: {f!r}" for n, f in zip(names, fields))
        return TypeInformation(f"ROW<{inner}>", _struct(names, fields), object,
                               tuple(zip(names, fields)))

    @staticmethod
    def PICKLED_BYTE_ARRAY() -> TypeInformation:
        return TypeInformation("PICKLED_BYTE_ARRAY", None, object)


def _struct(names: list[str], fields: list[TypeInformation]) -> Any:
    if all(f.arrow_type is not None for f in fields):
        return pa.struct([pa.field(n, f.arrow_type) for n, f in zip(names, fields)])
    return None
