"""``Table``: a relational query built with the Table API; planned by the same planner as SQL.

>>> orders = t_env.from_path("orders")
>>> totals = orders.where(col("amount") > 10).group_by(col("user")).select(col("user"), col("amount").sum)
>>> totals.execute().print()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from rayflink.sql.binder import Binder, is_aggregate
from rayflink.sql.errors import SqlValidationError
from rayflink.sql.logical import RelNode, Sink
from rayflink.sql.optimizer import explain
from rayflink.sql.planner import conform, filter_, project
from rayflink.table.expressions import to_node
from rayflink.table.table_pipeline import TablePipeline
from rayflink.table.table_result import TableResult
from rayflink.table.window import GroupWindow, OverWindow

if TYPE_CHECKING:
    from rayflink.table.table_environment import TableEnvironment


class Table:
    """An immutable query; every method returns a new Table."""

    def __init__(self, t_env: "TableEnvironment", plan: RelNode) -> None:
        self._t_env = t_env
        self._plan = plan
        self._view: str | None = None

    def __getattr__(self, name: str) -> Any:
        """A column as an expression, as PyFlink's ``table.data`` is ``col("data")``."""
        if not name.startswith("_") and name in self._plan.schema.names:
            from rayflink.table.expressions import col

            return col(name)
        columns = "" if name.startswith("_") else f" (its columns: {', '.join(self._plan.schema.names)})"
        raise AttributeError(f"'Table' object has no attribute {name!r}{columns}")

    def __str__(self) -> str:
        """The name of this table in SQL, as PyFlink's: it is registered as a view (``UnnamedTable$0``)
        the first time, so that ``"SELECT * FROM %s" % table`` reads it."""
        if self._view is None:
            self._view = self._t_env._unnamed_view(self)
        return self._view

    def select(self, *fields: Any) -> "Table":
        """Project: ``select(col("a"), (col("b") * 2).alias("b2"))``; aggregates make a global aggregation."""
        nodes = self._expand([to_node(f) for f in fields])
        if any(is_aggregate(a) for n in nodes for a in n.find_all(exp.AggFunc)):
            return GroupedTable(self, []).select(*fields)
        return Table(self._t_env, project(self._plan, nodes))

    def where(self, predicate: Any) -> "Table":
        """Keep the rows where ``predicate`` holds."""
        return Table(self._t_env, filter_(self._plan, Binder(self._plan.schema).bind(to_node(predicate))))

    filter = where

    def add_columns(self, *fields: Any) -> "Table":
        """All columns, then ``fields``."""
        existing = [exp.column(n, quoted=True) for n in self._plan.schema.names]
        return Table(self._t_env, project(self._plan, existing + [to_node(f) for f in fields]))

    def alias(self, field: str, *fields: str) -> "Table":
        """Rename the columns, in order: ``alias("a", "b")`` (or ``alias("a, b")``)."""
        names = [n.strip() for n in (field.split(",") if not fields else [field, *fields])]
        schema = self._plan.schema
        if len(names) != len(schema):
            raise SqlValidationError(f"alias(): {len(names)} names for {len(schema)} columns "
                                     f"({', '.join(schema.names)})")
        columns = [exp.alias_(exp.column(old, quoted=True), new, quoted=True) for old, new in zip(schema.names, names)]
        return Table(self._t_env, project(self._plan, columns))

    def group_by(self, *fields: Any) -> "GroupedTable":
        return GroupedTable(self, [to_node(f) for f in fields])

    def union_all(self, right: "Table") -> "Table":
        """The rows of both tables (same column types; names from this one)."""
        union = exp.union(exp.select("*").from_("l"), exp.select("*").from_("r"), distinct=False)
        planner = self._t_env._planner
        planner.ctes.append({"l": self._plan, "r": right._plan})
        try:
            return Table(self._t_env, planner.plan_union(union))
        finally:
            planner.ctes.pop()

    def join(self, right: "Table", join_predicate: Any) -> "Table":
        """Inner equi-join: ``orders.join(users, col("user_id") == col("uid"))`` (column names distinct)."""
        return self._join(right, join_predicate, "")

    def left_outer_join(self, right: "Table", join_predicate: Any) -> "Table":
        """Left outer equi-join (an updating result in STREAMING mode)."""
        return self._join(right, join_predicate, "LEFT")

    def right_outer_join(self, right: "Table", join_predicate: Any) -> "Table":
        """Right outer equi-join (an updating result in STREAMING mode)."""
        return self._join(right, join_predicate, "RIGHT")

    def full_outer_join(self, right: "Table", join_predicate: Any) -> "Table":
        """Full outer equi-join (an updating result in STREAMING mode)."""
        return self._join(right, join_predicate, "FULL")

    def _join(self, right: "Table", predicate: Any, side: str) -> "Table":
        planner = self._t_env._planner
        join = exp.Join(this=exp.to_table("__right"), on=to_node(predicate), side=side or None)
        planner.ctes.append({"__right": right._plan})
        try:
            left = {"__left": {n: i for i, n in enumerate(self._plan.schema.names)}}
            plan, _, _ = planner.plan_join(self._plan, left, join, [])
        finally:
            planner.ctes.pop()
        return Table(self._t_env, plan)

    def distinct(self) -> "Table":
        """Each distinct row once (an updating result in STREAMING mode)."""
        columns = [exp.column(n, quoted=True) for n in self._plan.schema.names]
        return GroupedTable(self, columns).select(*columns)

    def window(self, window: GroupWindow) -> "GroupWindowedTable":
        """A group window (``Tumble`` or ``Slide``), then ``group_by(col(alias), ...)``."""
        return GroupWindowedTable(self, window)

    def over_window(self, *over_windows: OverWindow) -> "OverWindowedTable":
        """Over windows (``Over...alias("w")``) for ``select`` 's aggregates: ``col("v").sum.over(col("w"))``."""
        return OverWindowedTable(self, over_windows)

    def execute(self) -> TableResult:
        """Run the query; its rows come through ``collect()`` / ``print()``."""
        return self._t_env._select(self._plan)

    def execute_insert(self, table_path_or_descriptor: Any, overwrite: bool = False) -> TableResult:
        """Write the rows into the catalog table ``table_path_or_descriptor``, or into the table a
        ``TableDescriptor`` declares (one job; ``.wait()`` blocks)."""
        return self.insert_into(table_path_or_descriptor, overwrite).execute()

    def insert_into(self, table_path_or_descriptor: Any, overwrite: bool = False) -> "TablePipeline":
        """The insert of the rows into a catalog table or a descriptor's table, to ``execute()`` or ``explain()``."""
        if overwrite:
            raise SqlValidationError("INSERT OVERWRITE is not supported: streaming sinks here append or upsert")
        return TablePipeline(self._t_env, self._sink(table_path_or_descriptor))

    def explain(self) -> str:
        return explain(self._plan)

    def get_schema(self) -> pa.Schema:
        return self._plan.schema

    def print_schema(self) -> None:
        from rayflink.sql.types import flink_type_name

        print("(\n" + ",\n".join(f"  `{f.name}` {flink_type_name(f.type)}" for f in self._plan.schema) + "\n)")

    def _sink(self, table_path_or_descriptor: Any) -> Sink:
        from rayflink.sql.catalog import CatalogTable
        from rayflink.table.table_descriptor import TableDescriptor

        table_path = (self._t_env._anonymous(table_path_or_descriptor)
                      if isinstance(table_path_or_descriptor, TableDescriptor) else table_path_or_descriptor)
        table = self._t_env._catalog.get(table_path)
        if not isinstance(table, CatalogTable):
            raise SqlValidationError(f"cannot insert into view {table_path!r}")
        return Sink(conform(self._plan, table, exp.to_table(table_path)), table)

    def _expand(self, nodes: list[exp.Expr]) -> list[exp.Expr]:
        out = []
        for n in nodes:
            if isinstance(n, exp.Star) or (isinstance(n, exp.Column) and isinstance(n.this, exp.Star)):
                out += [exp.column(name, quoted=True) for name in self._plan.schema.names]
            else:
                out.append(n)
        return out


class GroupedTable:
    """``table.group_by(keys)``: ``select`` with aggregates gives one (updating) row per key."""

    def __init__(self, table: Table, keys: list[exp.Expr]) -> None:
        self._table = table
        self._keys = keys

    def select(self, *fields: Any) -> Table:
        t = self._table
        selects = t._expand([to_node(f) for f in fields])
        aggregates = [a for s in selects for a in s.find_all(exp.AggFunc) if is_aggregate(a)]
        plan = t._t_env._planner.plan_aggregate(t._plan, None, self._keys, aggregates, selects, None)
        return Table(t._t_env, plan)


class GroupWindowedTable:
    """``table.window(w)``: group by the window alias (and keys) next."""

    def __init__(self, table: Table, window: GroupWindow) -> None:
        self._table = table
        self._window = window

    def group_by(self, *fields: Any) -> "WindowGroupedTable":
        return WindowGroupedTable(self._table, self._window, [to_node(f) for f in fields])


class WindowGroupedTable:
    """``table.window(w).group_by(col("w"), keys)``: ``select`` with ``col("w").start``/``.end``."""

    def __init__(self, table: Table, window: GroupWindow, fields: list[exp.Expr]) -> None:
        self._table = table
        self._window = window
        alias = window.alias_name
        self._keys = [window.call() if isinstance(f, exp.Column) and f.name == alias else f for f in fields]
        if not any(isinstance(k, exp.Anonymous) and k.name == window.kind for k in self._keys):
            raise ValueError(f"group_by(...) after window(...) must include the window alias col({alias!r})")

    def select(self, *fields: Any) -> Table:
        t = self._table
        window = self._window

        def properties(n: exp.Expr) -> exp.Expr:
            if isinstance(n, exp.Anonymous) and n.name.startswith("$WINDOW_"):
                suffix = n.name[len("$WINDOW"):]
                call = window.call()
                return exp.Anonymous(this=window.kind + suffix, expressions=call.expressions)
            return n

        selects = [s.transform(properties) for s in t._expand([to_node(f) for f in fields])]
        aggregates = [a for s in selects for a in s.find_all(exp.AggFunc) if is_aggregate(a)]
        plan = t._t_env._planner.plan_aggregate(t._plan, None, self._keys, aggregates, selects, None)
        return Table(t._t_env, plan)


class OverWindowedTable:
    """``table.over_window(w)``: ``select`` each row's columns and aggregates ``.over(col("w"))``
    (an OVER aggregation: every aggregate over the same window, as in Flink)."""

    def __init__(self, table: Table, windows: tuple[OverWindow, ...]) -> None:
        self._table = table
        self._windows = windows

    def select(self, *fields: Any) -> Table:
        t = self._table
        selects = t._expand([to_node(f) for f in fields])
        query = exp.Select(windows=[w.window() for w in self._windows])
        plan = t._t_env._planner.plan_over(query, t._plan, None, selects, {})
        return Table(t._t_env, plan)
