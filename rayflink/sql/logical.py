"""The logical plan of a query: typed, immutable nodes, each knowing its output schema.

``Scan`` reads a catalog table; ``Calc`` projects and filters; ``Aggregate`` groups (an updating
result in STREAMING mode); ``WindowAggregate`` groups per event-time window (final results when
the watermark passes the window's end); ``OverAggregate`` appends OVER aggregates to each row;
``Sink`` writes into a catalog table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from rayflink.sql.catalog import CatalogTable
from rayflink.sql.expressions import Expr

ROWKIND = "_rowkind"  # the int8 column of an updating result: RowKind's byte value


class RelNode:
    """A node of the logical plan."""

    schema: pa.Schema
    inputs: tuple = ()

    @property
    def updating(self) -> bool:
        """True when the node's output is a changelog with updates (not insert-only)."""
        return any(i.updating for i in self.inputs)

    @property
    def rowtime(self) -> str | None:
        """The name of the event-time attribute among the output fields (None without one)."""
        return None

    def explain(self) -> str:
        raise NotImplementedError


class OneInput(RelNode):
    """A node of one input, its field ``input``."""

    input: RelNode

    @property
    def inputs(self) -> tuple:
        return (self.input,)


class Grouping(OneInput):
    """A node that aggregates ``aggs`` per ``keys`` of its input; its output: the keys, what the
    node adds (``_between``), the aggregates, named ``names``."""

    keys: tuple[int, ...]
    aggs: tuple[AggCall, ...]
    names: tuple[str, ...]

    def _between(self) -> list[pa.DataType]:
        """The types of the fields between the keys and the aggregates."""
        return []

    @property
    def schema(self) -> pa.Schema:
        fields = self.input.schema
        types = [fields.field(k).type for k in self.keys] + self._between() + [a.type for a in self.aggs]
        return pa.schema([pa.field(n, t) for n, t in zip(self.names, types)])

    def _explain(self, name: str, window: str = "") -> str:
        names = self.input.schema.names
        aggs = ", ".join(a.explain(names) for a in self.aggs)
        return f"{name}(groupBy=[{', '.join(names[k] for k in self.keys)}], {window}select=[{aggs}])"


def explain_tree(node: RelNode, depth: int = 0) -> str:
    """The plan as Flink prints it: one node per line, inputs indented below."""
    lines = ["  " * depth + node.explain()]
    for child in node.inputs:
        lines.append(explain_tree(child, depth + 1))
    return "\n".join(lines)


def pruned_row(f: pa.Field, names: Iterable[str] | None) -> pa.Field:
    """``f``, a ROW column, with only its fields ``names`` (in its order); ``f`` as it is for None."""
    if names is None:
        return f
    keep = set(names)
    return f.with_type(pa.struct([sub for sub in f.type if sub.name in keep]))


@dataclass(frozen=True)
class Scan(RelNode):
    """Read ``table``: its physical columns, then its computed ones; ``fields`` are kept (pushed down),
    and of the ROW fields in ``subfields`` (name, its field names) only those fields."""

    table: CatalogTable
    fields: tuple[str, ...]
    subfields: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def schema(self) -> pa.Schema:
        full = self.table.schema
        parts = dict(self.subfields)
        return pa.schema([pruned_row(full.field(name), parts.get(name)) for name in self.fields])

    @property
    def updating(self) -> bool:
        return self.table.changelog

    @property
    def rowtime(self) -> str | None:
        wm = self.table.watermark
        return wm.rowtime if wm is not None and wm.rowtime in self.fields else None

    def explain(self) -> str:
        wm = f", watermark=[{self.table.watermark.rowtime} AS {self.table.watermark.expr}]" \
            if self.table.watermark else ""
        parts = dict(self.subfields)
        fields = ", ".join(name + ("{" + ", ".join(parts[name]) + "}" if name in parts else "") for name in self.fields)
        return f"TableSourceScan(table=[{self.table.name}], fields=[{fields}]{wm})"


@dataclass(frozen=True)
class Values(RelNode):
    """Rows given in the program (``from_elements``): one bounded batch."""

    rows: pa.Table = field(compare=False)
    name: str = "Values"

    @property
    def schema(self) -> pa.Schema:
        return self.rows.schema

    def explain(self) -> str:
        return f"Values(fields=[{', '.join(self.schema.names)}], rows=[{self.rows.num_rows}])"


@dataclass(frozen=True)
class DataStreamScan(RelNode):
    """A DataStream's records as a table (``from_data_stream``)."""

    stream: Any = field(compare=False)
    fields: pa.Schema = field(compare=False)

    @property
    def schema(self) -> pa.Schema:
        return self.fields

    def explain(self) -> str:
        return f"DataStreamScan(stream=[{self.stream.get_name()}], fields=[{', '.join(self.schema.names)}])"


@dataclass(frozen=True)
class WatermarkAssigner(OneInput):
    """Rows of ``input`` stamped with their ``rowtime`` column, watermarks by ``watermark`` (an
    expression over the row, e.g. ``ts - INTERVAL '3' SECOND``): a DataStream's table declared
    with a schema's ``watermark(...)``."""

    input: RelNode
    rowtime_field: str
    watermark: Expr

    @property
    def schema(self) -> pa.Schema:
        return self.input.schema

    @property
    def rowtime(self) -> str | None:
        return self.rowtime_field

    def explain(self) -> str:
        return f"WatermarkAssigner(rowtime=[{self.rowtime_field}], watermark=[{self.watermark.sql()}])"


@dataclass(frozen=True)
class Union(RelNode):
    """UNION ALL of inputs with the same field types (names from the first)."""

    inputs: tuple

    @property
    def schema(self) -> pa.Schema:
        return self.inputs[0].schema

    def explain(self) -> str:
        return f"Union(all=[true], fields=[{', '.join(self.schema.names)}])"


@dataclass(frozen=True)
class Calc(OneInput):
    """``SELECT projections WHERE condition`` over one input (the row kind column passes through)."""

    input: RelNode
    projections: tuple[Expr, ...]
    names: tuple[str, ...]
    types: tuple[pa.DataType, ...]
    condition: Expr | None = None

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, t) for n, t in zip(self.names, self.types)])

    @property
    def rowtime(self) -> str | None:
        from rayflink.sql.expressions import Col

        source = self.input.rowtime
        for name, expr in zip(self.names, self.projections):
            if isinstance(expr, Col) and expr.name == source:
                return name
        return None

    def explain(self) -> str:
        select = ", ".join(f"{e.sql()} AS {n}" if e.sql() != f"`{n}`" else n
                           for e, n in zip(self.projections, self.names))
        where = f", where=[{self.condition.sql()}]" if self.condition is not None else ""
        return f"Calc(select=[{select}]{where})"


@dataclass(frozen=True)
class AggCall:
    """An aggregate function (``count``, ``count_star``, ``sum``, ``avg``, ``min``, ``max``) of input field ``arg``."""

    kind: str
    arg: int | None
    distinct: bool
    type: pa.DataType

    def explain(self, names: list[str]) -> str:
        if self.kind == "count_star":
            return "COUNT(*)"
        return f"{self.kind.upper()}({'DISTINCT ' if self.distinct else ''}{names[self.arg]})"


@dataclass(frozen=True)
class Aggregate(Grouping):
    """``GROUP BY keys``: one row per key, updated as input arrives (``-U``/``+U`` in STREAMING)."""

    input: RelNode
    keys: tuple[int, ...]
    aggs: tuple[AggCall, ...]
    names: tuple[str, ...]

    @property
    def updating(self) -> bool:
        return True

    def explain(self) -> str:
        return self._explain("GroupAggregate")


@dataclass(frozen=True)
class WindowSpec:
    """A window: TUMBLE (``slide_ms`` == ``size_ms``), HOP, CUMULATE (``slide_ms`` is the step), or
    SESSION (``size_ms`` is the gap); in event time, or with ``proctime`` in processing time (on a
    ``PROCTIME()`` attribute: windows of the operator's clock, fired by its timers)."""

    kind: str  # "TUMBLE" | "HOP" | "CUMULATE" | "SESSION"
    size_ms: int
    slide_ms: int
    offset_ms: int = 0
    proctime: bool = False

    def explain(self) -> str:
        if self.kind == "TUMBLE":
            text = f"TUMBLE(size=[{self.size_ms} ms]"
        elif self.kind == "SESSION":
            text = f"SESSION(gap=[{self.size_ms} ms]"
        elif self.kind == "CUMULATE":
            text = f"CUMULATE(step=[{self.slide_ms} ms], size=[{self.size_ms} ms]"
        else:
            text = f"HOP(slide=[{self.slide_ms} ms], size=[{self.size_ms} ms]"
        return text + (", processing time)" if self.proctime else ")")


@dataclass(frozen=True)
class WindowTableFunction(OneInput):
    """A window TVF on its own: each row once per window, with window_start, window_end and
    window_time (the new event-time attribute)."""

    input: RelNode
    time: int
    window: WindowSpec

    @property
    def schema(self) -> pa.Schema:
        time_type = self.input.schema.field(self.time).type
        return self.input.schema.append(pa.field("window_start", time_type)).append(
            pa.field("window_end", time_type)).append(pa.field("window_time", time_type))

    @property
    def rowtime(self) -> str | None:
        return "window_time"

    def explain(self) -> str:
        return f"WindowTableFunction(window=[{self.window.explain()} on {self.input.schema.names[self.time]}])"


@dataclass(frozen=True)
class WindowAggregate(Grouping):
    """Aggregate per key and window of the event-time field ``time``; output: keys, window_start,
    window_end, window_time, aggregates, each window's row emitted once when the watermark passes its end."""

    input: RelNode
    time: int
    window: WindowSpec
    keys: tuple[int, ...]
    aggs: tuple[AggCall, ...]
    names: tuple[str, ...]

    @property
    def updating(self) -> bool:
        return False

    def _between(self) -> list[pa.DataType]:
        return [self.input.schema.field(self.time).type] * 3  # window_start, window_end, window_time

    @property
    def rowtime(self) -> str | None:
        return None if self.window.proctime else self.names[len(self.keys) + 2]

    def explain(self) -> str:
        time = self.input.schema.names[self.time]
        return self._explain("WindowAggregate", f"window=[{self.window.explain()} on {time}], ")


@dataclass(frozen=True)
class Rank(OneInput):
    """Top-N: per ``partition`` key, the ``limit`` first rows by ``order`` ((field, descending,
    nulls first), ...), each with its rank (``ROW_NUMBER``) as the last field ``rank_name``."""

    input: RelNode
    partition: tuple[int, ...]
    order: tuple[tuple[int, bool, bool], ...]
    limit: int
    rank_name: str

    @property
    def updating(self) -> bool:
        return True

    @property
    def schema(self) -> pa.Schema:
        return self.input.schema.append(pa.field(self.rank_name, pa.int64()))

    def explain(self) -> str:
        names = self.input.schema.names
        order = ", ".join(f"{names[i]} {'DESC' if d else 'ASC'}" for i, d, _ in self.order)
        return (f"Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={self.limit}], "
                f"partitionBy=[{', '.join(names[i] for i in self.partition)}], orderBy=[{order}])")


@dataclass(frozen=True)
class OverFrame:
    """An OVER window's frame: ``ROWS`` or ``RANGE`` from ``preceding`` (rows, or milliseconds
    of event or processing time for RANGE; None: UNBOUNDED PRECEDING) to CURRENT ROW."""

    kind: str  # "ROWS" | "RANGE"
    preceding: int | None
    proctime: bool = False  # ordered by a processing-time attribute: rows in arrival order

    def explain(self) -> str:
        if self.preceding is None:
            start = "UNBOUNDED PRECEDING"
        else:
            start = f"{self.preceding} PRECEDING" if self.kind == "ROWS" else f"{self.preceding} ms PRECEDING"
        return f"{self.kind} BETWEEN {start} AND CURRENT ROW"


@dataclass(frozen=True)
class OverAggregate(OneInput):
    """``agg(...) OVER (PARTITION BY partition ORDER BY time frame)``: each input row, in event-time
    order per partition, with the aggregates of its frame appended (named ``names``). Rows are
    emitted once the watermark passes their time; rows of equal time are peers of a RANGE frame.
    Insert-only."""

    input: RelNode
    partition: tuple[int, ...]
    time: int
    frame: OverFrame
    aggs: tuple[AggCall, ...]
    names: tuple[str, ...]

    @property
    def updating(self) -> bool:
        return False

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(list(self.input.schema) + [pa.field(n, a.type) for n, a in zip(self.names, self.aggs)])

    @property
    def rowtime(self) -> str | None:
        return self.input.rowtime

    def explain(self) -> str:
        names = self.input.schema.names
        aggs = ", ".join(f"{a.explain(names)} AS {n}" for a, n in zip(self.aggs, self.names))
        return (f"OverAggregate(partitionBy=[{', '.join(names[i] for i in self.partition)}], "
                f"orderBy=[{names[self.time]} ASC], window=[{self.frame.explain()}], select=[{aggs}])")


@dataclass(frozen=True)
class EquiJoin(RelNode):
    """What the joins of two inputs share: left's fields then right's (``names``), matched on
    ``left_keys`` = ``right_keys``; INNER or LEFT (a regular join also RIGHT or FULL)."""

    left: RelNode
    right: RelNode
    kind: str  # INNER | LEFT | RIGHT | FULL
    left_keys: tuple[int, ...]
    right_keys: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def inputs(self) -> tuple:
        return (self.left, self.right)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, t) for n, t in zip(self.names, self.left.schema.types + self.right.schema.types)])

    def pairs(self) -> str:
        """The key equalities, as plans print them."""
        offset = len(self.left.schema)
        return ", ".join(f"{self.names[a]} = {self.names[offset + b]}"
                         for a, b in zip(self.left_keys, self.right_keys))


@dataclass(frozen=True)
class Join(EquiJoin):
    """A regular equi-join: left's fields then right's; ``condition`` (over both) decides which
    rows of a key match.

    Both inputs (insert-only or changelogs) are kept in keyed state; a retraction on either side
    retracts the rows it joined. An outer join emits a row of its outer side(s) with NULLs while
    it has no match and retracts that row (``-D``) when the first match comes: an updating
    result, as is any join of an updating input."""

    condition: Expr | None = None

    @property
    def updating(self) -> bool:
        return self.kind != "INNER" or super().updating

    def explain(self) -> str:
        cond = f" AND {self.condition.sql()}" if self.condition is not None else ""
        return f"Join(joinType=[{self.kind}], where=[{self.pairs()}{cond}])"


@dataclass(frozen=True)
class TimedJoin(EquiJoin):
    """An equi-join whose rows meet in event time: ``left_time`` and ``right_time`` are field
    indices (right's counted from 0). Insert-only; for INNER and LEFT, left's time stays the
    event-time attribute of the joined rows."""

    left_time: int
    right_time: int

    @property
    def updating(self) -> bool:
        return False

    @property
    def rowtime(self) -> str | None:
        return self.names[self.left_time] if self.kind in ("INNER", "LEFT") else None


@dataclass(frozen=True)
class IntervalJoin(TimedJoin):
    """An equi-join of two insert-only inputs whose ON bounds left's event time by right's:
    ``left_time`` - ``right_time`` (field indices, right's counted from 0) lies in [``lower``,
    ``upper``] ms (``l.t BETWEEN r.t - INTERVAL ... AND r.t + INTERVAL ...``). A row is kept only
    while a row still to come can match it: the state is cleaned as the watermark passes, when an
    outer side's rows that never matched are emitted padded with NULLs. The ``condition`` (time
    bounds included) decides which rows match. Insert-only; for INNER and LEFT, left's time stays
    the event-time attribute (the watermark is delayed by the interval's reach)."""

    condition: Expr
    lower: int
    upper: int

    def explain(self) -> str:
        offset = len(self.left.schema)
        return (f"IntervalJoin(joinType=[{self.kind}], where=[{self.pairs()} AND {self.condition.sql()}], "
                f"leftLowerBound=[{self.lower} ms], leftUpperBound=[{self.upper} ms], "
                f"leftTimeAttribute=[{self.names[self.left_time]}], "
                f"rightTimeAttribute=[{self.names[offset + self.right_time]}])")


@dataclass(frozen=True)
class TemporalJoin(TimedJoin):
    """``left JOIN right FOR SYSTEM_TIME AS OF left.time ON keys``: each left row joined with the
    version of ``right`` (a versioned table: a primary key and an event-time attribute) that was
    valid at the row's time, once the watermark has passed it; LEFT pads rows without one with
    NULLs. The result is insert-only."""

    def explain(self) -> str:
        offset = len(self.left.schema)
        return (f"TemporalJoin(joinType=[{self.kind}], where=[{self.pairs()}], "
                f"period=[{self.names[self.left_time]} AS OF {self.names[offset + self.right_time]}])")


@dataclass(frozen=True)
class ChangelogNormalize(OneInput):
    """An upsert source's scan as a full changelog (-U before +U, -D with the row), keyed by ``keys``."""

    input: RelNode
    keys: tuple[int, ...]

    @property
    def updating(self) -> bool:
        return True

    @property
    def schema(self) -> pa.Schema:
        return self.input.schema

    @property
    def rowtime(self) -> str | None:
        return self.input.rowtime

    def explain(self) -> str:
        return f"ChangelogNormalize(key=[{', '.join(self.schema.names[k] for k in self.keys)}])"


@dataclass(frozen=True)
class LookupJoin(OneInput):
    """``input JOIN dim FOR SYSTEM_TIME AS OF input.proc_time ON keys``: each row joined with the
    rows of the dimension table ``table`` (a lookup source, e.g. jdbc) as they are when the row
    passes, looked up by its ``left_keys`` in the table's columns ``right_keys``; LEFT pads rows
    without a match with NULLs. Insert-only."""

    input: RelNode
    table: CatalogTable
    kind: str  # INNER | LEFT
    left_keys: tuple[int, ...]
    right_keys: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def updating(self) -> bool:
        return False

    @property
    def schema(self) -> pa.Schema:
        types = self.input.schema.types + self.table.physical_schema.types
        return pa.schema([pa.field(n, t) for n, t in zip(self.names, types)])

    def explain(self) -> str:
        right = self.table.physical_schema.names
        pairs = ", ".join(f"{self.names[a]} = {right[b]}" for a, b in zip(self.left_keys, self.right_keys))
        return f"LookupJoin(table=[{self.table.name}], joinType=[{self.kind}], where=[{pairs}])"


@dataclass(frozen=True)
class Navigation:
    """A DEFINE condition's read of a row of the partial match: LAST / FIRST, the ``offset``-th
    last / first row mapped to ``variable`` (the row tested counts as its own variable's last);
    PREV, ``offset`` rows back from the last row of ``variable`` (None: the row tested) among the
    partial match's rows. ``field`` is the input column read."""

    kind: str
    variable: str | None
    field: int
    offset: int


@dataclass(frozen=True)
class PatternVariable:
    """One element of a MATCH_RECOGNIZE pattern: ``name`` repeated ``low`` to ``high`` times (None:
    unbounded), greedy or reluctant; ``define`` is the input field holding its DEFINE condition's
    value for each row (None: any row matches), or, for a condition that reads earlier rows,
    ``navigated`` is the condition over the input's fields followed by one per ``navigation``
    (evaluated as each row is tested)."""

    name: str
    low: int
    high: int | None
    greedy: bool
    define: int | None
    navigated: Expr | None = None
    navigation: tuple[Navigation, ...] = ()


@dataclass(frozen=True)
class Measure:
    """A MEASURES item: ``kind`` (FIRST, LAST, SUM, COUNT, AVG, MIN, MAX) of input field ``field``
    (None for COUNT(*)) over the rows of ``variable`` (None: every row of the match)."""

    name: str
    kind: str
    variable: str | None
    field: int | None
    type: pa.DataType


@dataclass(frozen=True)
class MatchRecognize(OneInput):
    """``MATCH_RECOGNIZE``: per partition, rows in event-time order matched against ``pattern``
    (consecutive rows, as SQL's row pattern matching is), ONE ROW PER MATCH: the partition
    columns, then the measures. Runs on the CEP operator; insert-only."""

    input: RelNode
    partition: tuple[int, ...]
    time: int
    pattern: tuple[PatternVariable, ...]
    measures: tuple[Measure, ...]
    skip: tuple[str, str | None]  # PAST_LAST_ROW | TO_NEXT_ROW | TO_FIRST | TO_LAST, and the variable
    within_ms: int | None

    @property
    def updating(self) -> bool:
        return False

    @property
    def schema(self) -> pa.Schema:
        fields = [self.input.schema.field(i) for i in self.partition]
        return pa.schema(fields + [pa.field(m.name, m.type) for m in self.measures])

    def explain(self) -> str:
        names = self.input.schema.names
        pattern = " ".join(v.name + _quantifier(v) for v in self.pattern)
        measures = ", ".join(f"{m.kind}({m.variable or ''}.{names[m.field] if m.field is not None else '*'}) AS "
                             f"{m.name}" for m in self.measures)
        within = f" WITHIN {self.within_ms} ms" if self.within_ms is not None else ""
        skip = " ".join(filter(None, self.skip))
        return (f"Match(partitionBy=[{', '.join(names[i] for i in self.partition)}], orderBy=[{names[self.time]}], "
                f"measures=[{measures}], pattern=[({pattern}){within}], after=[SKIP {skip}])")


def _quantifier(v: PatternVariable) -> str:
    text = {(1, 1): "", (0, 1): "?", (1, None): "+", (0, None): "*"}.get(
        (v.low, v.high), f"{{{v.low},{'' if v.high is None else v.high}}}")
    return text + ("" if v.greedy or not text else "?")


@dataclass(frozen=True)
class Sink(OneInput):
    """``INSERT INTO table``: the input's rows written by the table's connector."""

    input: RelNode
    table: CatalogTable

    @property
    def schema(self) -> pa.Schema:
        return self.table.physical_schema

    def explain(self) -> str:
        return f"Sink(table=[{self.table.name}], fields=[{', '.join(self.schema.names)}])"

