"""``DataTypes``: Flink's SQL types for the Table API (each an Arrow type underneath)."""

from __future__ import annotations

from dataclasses import dataclass

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


class DataTypes:
    """PyFlink's ``DataTypes`` factory: ``DataTypes.STRING()``, ``DataTypes.DECIMAL(10, 2)``, ..."""

    @staticmethod
    def STRING() -> DataType:
        return DataType(pa.string())

    @staticmethod
    def INT() -> DataType:
        return DataType(pa.int32())

    @staticmethod
    def BIGINT() -> DataType:
        return DataType(pa.int64())

    @staticmethod
    def SMALLINT() -> DataType:
        return DataType(pa.int16())

    @staticmethod
    def TINYINT() -> DataType:
        return DataType(pa.int8())

    @staticmethod
    def DOUBLE() -> DataType:
        return DataType(pa.float64())

    @staticmethod
    def FLOAT() -> DataType:
        return DataType(pa.float32())

    @staticmethod
    def BOOLEAN() -> DataType:
        return DataType(pa.bool_())

    @staticmethod
    def DATE() -> DataType:
        return DataType(pa.date32())

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
