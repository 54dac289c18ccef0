"""The Table API and SQL at PyFlink's paths (``pyflink.table``)."""

from rayflink.common.types import Row, RowKind
from rayflink.table.environment_settings import EnvironmentSettings
from rayflink.table.schema import Schema
from rayflink.table.table import (
    GroupedTable,
    GroupWindowedTable,
    OverWindowedTable,
    Table,
    WindowGroupedTable,
)
from rayflink.table.table_descriptor import FormatDescriptor, TableDescriptor
from rayflink.table.table_environment import StatementSet, StreamTableEnvironment, TableConfig, TableEnvironment
from rayflink.table.table_pipeline import TablePipeline
from rayflink.table.table_result import ResultKind, TableResult
from rayflink.table.types import DataType, DataTypes

__all__ = ["DataType", "DataTypes", "EnvironmentSettings", "FormatDescriptor", "GroupWindowedTable", "GroupedTable",
           "OverWindowedTable", "ResultKind", "Row", "RowKind", "Schema", "StatementSet", "StreamTableEnvironment",
           "Table", "TableConfig", "TableDescriptor", "TableEnvironment", "TablePipeline", "TableResult",
           "WindowGroupedTable"]
