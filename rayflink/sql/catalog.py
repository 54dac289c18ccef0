"""The catalog: tables and views by name (Flink's ``default_catalog.default_database``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from rayflink.sql.errors import SqlValidationError, closest


@dataclass(frozen=True)
class Column:
    """A column of a table: physical, computed (``expr``: its SQL, e.g. ``price * 2``) or metadata
    (``metadata``: the connector's key, e.g. Kafka's ``timestamp``; ``virtual``: read-only)."""

    name: str
    type: pa.DataType
    expr: str | None = None
    metadata: str | None = None
    virtual: bool = False

    @property
    def physical(self) -> bool:
        return self.expr is None and self.metadata is None


@dataclass(frozen=True)
class WatermarkSpec:
    """``WATERMARK FOR rowtime AS expr``: ``rowtime`` becomes the table's event-time attribute."""

    rowtime: str
    expr: str


CHANGELOG_CONNECTORS = ("mysql-cdc", "upsert-kafka")  # sources of a changelog rather than of inserts only
CHANGELOG_FORMATS = ("debezium-json",)
LOOKUP_CONNECTORS = ("jdbc", "redis")  # a lookup join's dimension tables (read by key as rows pass)


@dataclass(frozen=True)
class CatalogTable:
    """A table made by CREATE TABLE: its schema and its connector options (``WITH (...)``)."""

    name: str
    columns: tuple[Column, ...]
    options: dict = field(default_factory=dict, hash=False, compare=False)
    watermark: WatermarkSpec | None = None
    primary_key: tuple[str, ...] = ()
    partition_keys: tuple[str, ...] = ()  # PARTITIONED BY (...): physical columns the connector writes by

    @property
    def schema(self) -> pa.Schema:
        """Every column (physical and computed), in declaration order."""
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    @property
    def physical_schema(self) -> pa.Schema:
        """The columns the connector reads or writes."""
        return pa.schema([pa.field(c.name, c.type) for c in self.columns if c.physical])

    @property
    def changelog(self) -> bool:
        """Whether reading the table gives a changelog (inserts, updates and deletes): a CDC table."""
        return self.options.get("connector") in CHANGELOG_CONNECTORS or \
            self.options.get("format") in CHANGELOG_FORMATS

    @property
    def upsert(self) -> bool:
        """Whether reading the table gives upserts and deletions by key, without the rows before
        (an ``upsert-kafka`` table): its scan is normalized into a full changelog."""
        return self.options.get("connector") == "upsert-kafka"

    @property
    def lookup(self) -> bool:
        """Whether a join ``FOR SYSTEM_TIME AS OF`` a processing time looks the table up by key (a lookup join)."""
        return self.options.get("connector") in LOOKUP_CONNECTORS

    def connector(self) -> str:
        try:
            return self.options["connector"]
        except KeyError:
            raise SqlValidationError(f"table {self.name!r} has no 'connector' option; add "
                                     "WITH ('connector' = 'datagen' | 'filesystem' | 'print' | 'blackhole')") from None


@dataclass(frozen=True)
class CatalogView:
    """A view made by CREATE VIEW (or ``create_temporary_view``): a query planned where it is used."""

    name: str
    query: Any  # a sqlglot query, or a logical plan (a view of a Table API table)


class Catalog:
    """Tables and views of one TableEnvironment; names are case-sensitive as in Flink."""

    def __init__(self) -> None:
        self._objects: dict[str, CatalogTable | CatalogView] = {}
        self.functions: dict[str, Any] = {}  # user-defined functions by name in upper case (SQL's are not
        # case-sensitive): rayflink.table.udf's wrappers

    def create_function(self, name: str, function: Any, *, if_not_exists: bool = False) -> None:
        if name.upper() in self.functions and not if_not_exists:
            raise SqlValidationError(f"function {name!r} already exists; drop it first or use IF NOT EXISTS")
        self.functions.setdefault(name.upper(), function)

    def drop_function(self, name: str, *, if_exists: bool = False) -> bool:
        if self.functions.pop(name.upper(), None) is None and not if_exists:
            raise SqlValidationError(f"function {name!r} does not exist" + closest(name.upper(), self.functions))
        return True

    def create(self, obj: CatalogTable | CatalogView, *, if_not_exists: bool = False,
               replace: bool = False) -> None:
        if obj.name in self._objects and not replace:
            if if_not_exists:
                return
            kind = "table" if isinstance(self._objects[obj.name], CatalogTable) else "view"
            raise SqlValidationError(f"{kind} {obj.name!r} already exists in the catalog; DROP it first "
                                     "or use IF NOT EXISTS")
        self._objects[obj.name] = obj

    def drop(self, name: str, *, view: bool, if_exists: bool = False) -> None:
        obj = self._objects.get(name)
        if obj is None or isinstance(obj, CatalogView) != view:
            if if_exists:
                return
            kind = "view" if view else "table"
            raise SqlValidationError(f"{kind} {name!r} does not exist" + closest(name, self.names()))
        del self._objects[name]

    def get(self, name: str) -> CatalogTable | CatalogView:
        """The table or view ``name``; raises naming the closest existing one."""
        try:
            return self._objects[name]
        except KeyError:
            raise SqlValidationError(f"object {name!r} not found" + closest(name, self.names())) from None

    def names(self) -> list[str]:
        return sorted(self._objects)

    def tables(self) -> list[str]:
        return sorted(n for n, o in self._objects.items() if isinstance(o, CatalogTable))

    def views(self) -> list[str]:
        return sorted(n for n, o in self._objects.items() if isinstance(o, CatalogView))
