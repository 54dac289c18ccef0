"""``DataTypes``: Flink's SQL types for the Table API (each an Arrow type underneath)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from rayflink.sql.types import TIMESTAMP, TIMESTAMP_LTZ, flink_type_name


@dataclass(frozen=True)
class DataType:
    """A SQL type; ``arrow`` is how its values are stored, ``sql()`` its Flink name."""

    arrow: pa.DataType

    def sql(self) -> str:
        return flink_type_name(self.arrow)

    def __repr__(self) -> str:
        return self.sql()


def _of(arrow: pa.DataType, name: str) -> Any:
    """The ``DataTypes`` factory of a type without parameters: ``DataTypes.<name>()``."""

    def factory() -> DataType:
        return DataType(arrow)

    factory.__name__ = name
    factory.__qualname__ = f"DataTypes.{name}"
    return staticmethod(factory)


class DataTypes:
    """PyFlink's ``DataTypes`` factory: ``DataTypes.STRING()``, ``DataTypes.DECIMAL(10, 2)``, ..."""

    STRING = _of(pa.string(), "STRING")
    INT = _of(pa.int32(), "INT")
    BIGINT = _of(pa.int64(), "BIGINT")
    SMALLINT = _of(pa.int16(), "SMALLINT")
    TINYINT = _of(pa.int8(), "TINYINT")
    DOUBLE = _of(pa.float64(), "DOUBLE")
    FLOAT = _of(pa.float32(), "FLOAT")
    BOOLEAN = _of(pa.bool_(), "BOOLEAN")
    DATE = _of(pa.date32(), "DATE")

    @staticmethod
    def DECIMAL(precision: int, scale: int) -> DataType:
        return DataType(pa.decimal128(precision, scale))

    @staticmethod
    def TIMESTAMP(precision: int = 3) -> DataType:
        return DataType(TIMESTAMP)

    @staticmethod
    def TIMESTAMP_LTZ(precision: int = 3) -> DataType:
        return DataType(TIMESTAMP_LTZ)

    @staticmethod
    def FIELD(name: str, data_type: DataType) -> tuple[str, DataType]:
        return name, data_type

    @staticmethod
    def ROW(fields: list) -> "RowType":
        """A row of named fields: ``DataTypes.ROW([DataTypes.FIELD("id", DataTypes.INT()), ...])``."""
        return RowType(tuple((n, t) for n, t in fields))


@dataclass(frozen=True)
class RowType:
    """The type of a row: named fields (the schema of ``from_elements``)."""

    fields: tuple[tuple[str, DataType], ...]

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, t.arrow) for n, t in self.fields])
