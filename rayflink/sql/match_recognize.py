"""MATCH_RECOGNIZE on the CEP operator: the logical ``MatchRecognize`` as a CEP ``Pattern`` over the
input's rows, and the function that turns each match into its row of partition columns and measures.

The rows reach the CEP operator as ``Row`` s stamped with their event time (the ORDER BY column)
and keyed by the PARTITION BY columns; the DEFINE conditions were computed per row ahead of it
(the input's boolean ``$define$`` columns), so a stage's condition reads one field. Variables
follow each other strictly (``next``), as rows of a SQL pattern do; quantified variables are
consecutive, greedy unless written reluctant (``B+?``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from rayflink.cep import AfterMatchSkipStrategy, Pattern, PatternProcessFunction
from rayflink.cep.conditions import IterativeCondition, SimpleCondition
from rayflink.common.time import Duration
from rayflink.sql.expressions import Expr, evaluate
from rayflink.sql.logical import MatchRecognize, Measure, Navigation, PatternVariable
from rayflink.sql.optimizer import field_uses


class _Defined(SimpleCondition):
    """A row matches a variable when its DEFINE column is true."""

    def __init__(self, field: int) -> None:
        self.field = field

    def filter(self, value: Any) -> bool:
        return bool(value[self.field])


class _Navigated(IterativeCondition):
    """A DEFINE condition that reads rows of the partial match (PREV, LAST, FIRST, another
    variable's columns): those values are looked up as the row is tested, then the condition is
    evaluated over the row and them, as a one-row batch."""

    def __init__(self, variable: str, condition: Expr, navigation: tuple[Navigation, ...], schema: pa.Schema,
                 order: tuple[str, ...]) -> None:
        self.variable = variable
        self.condition = condition
        self.navigation = navigation
        self.schema = schema  # the input's fields, then one per navigation
        self.order = order  # the pattern's variables in order: the partial match's rows in time order
        self.width = len(schema) - len(navigation)
        whole, parts = field_uses([condition])
        used = whole | set(parts)
        self.nulls = [None if i in used else pa.nulls(1, f.type) for i, f in enumerate(schema)]

    def filter(self, value: Any, ctx: Any) -> bool:
        values = list(value[:self.width]) + [self._read(n, value, ctx) for n in self.navigation]
        arrays = [pa.array([v], type=f.type) if null is None else null
                  for v, f, null in zip(values, self.schema, self.nulls)]
        result = evaluate(self.condition, pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        return (result[0] if isinstance(result, (pa.Array, pa.ChunkedArray)) else result).as_py() is True

    def _read(self, n: Navigation, row: Any, ctx: Any) -> Any:
        if n.kind == "PREV":  # the partial match's rows, then the row tested; back from the anchor
            labelled = [(name, r) for name in self.order for r in ctx.get_events_for_pattern(name)]
            labelled.append((self.variable, row))
            anchor = len(labelled) - 1 if n.variable is None else \
                max((i for i, (name, _r) in enumerate(labelled) if name == n.variable), default=-1)
            at = anchor - n.offset
            return labelled[at][1][n.field] if anchor >= 0 and at >= 0 else None
        mapped = list(ctx.get_events_for_pattern(n.variable))
        if n.variable == self.variable:
            mapped.append(row)
        at = len(mapped) - 1 - n.offset if n.kind == "LAST" else n.offset
        return mapped[at][n.field] if 0 <= at < len(mapped) else None


class PartitionKey:
    """The key of a row: its PARTITION BY values (``()`` without PARTITION BY: one partition)."""

    def __init__(self, fields: tuple[int, ...]) -> None:
        self.fields = fields

    def __call__(self, row: Any) -> Any:
        return tuple(row[i] for i in self.fields)


def _skip(node: MatchRecognize) -> AfterMatchSkipStrategy:
    kind, variable = node.skip
    if kind == "TO_NEXT_ROW":
        return AfterMatchSkipStrategy.skip_to_next()
    if kind == "PAST_LAST_ROW" or variable is None:
        return AfterMatchSkipStrategy.skip_past_last_event()
    return (AfterMatchSkipStrategy.skip_to_first if kind == "TO_FIRST" else AfterMatchSkipStrategy.skip_to_last)(
        variable)


def _stage(pattern: Pattern, v: PatternVariable, last: bool, node: MatchRecognize) -> Pattern:
    if v.define is not None:
        pattern = pattern.where(_Defined(v.define))
    elif v.navigated is not None:
        fields = list(node.input.schema)[:_input_width(node)]
        slots = [pa.field(f"$nav${i}", fields[n.field].type) for i, n in enumerate(v.navigation)]
        pattern = pattern.where(_Navigated(v.name, v.navigated, v.navigation, pa.schema(fields + slots),
                                           tuple(p.name for p in node.pattern)))
    if (v.low, v.high) == (1, 1):
        return pattern
    if (v.low, v.high) == (0, 1):
        return pattern.optional()
    if v.high is None:
        pattern = pattern.times_or_more(v.low) if v.low > 1 else pattern.one_or_more()
        if v.low == 0:
            pattern = pattern.optional()
    else:
        pattern = pattern.times(max(v.low, 1), v.high) if v.low != v.high else pattern.times(v.low)
        if v.low == 0:
            pattern = pattern.optional()
    pattern = pattern.consecutive()
    # greedy applies where the count may vary; a greedy last stage would never end a match (it
    # waits for a row that does not match it)
    varies = v.high is None or v.high > max(v.low, 1)
    return pattern.greedy() if v.greedy and varies and not last else pattern


def _input_width(node: MatchRecognize) -> int:
    """The fields of the rows matched before the DEFINE columns computed ahead of the matching."""
    return min((v.define for v in node.pattern if v.define is not None), default=len(node.input.schema))


def compile_pattern(node: MatchRecognize) -> Pattern:
    """The CEP pattern of ``node``: its variables in sequence, strictly contiguous."""
    first, *rest = node.pattern
    pattern = _stage(Pattern.begin(first.name, _skip(node)), first, not rest, node)
    for i, v in enumerate(rest):
        pattern = _stage(pattern.next(v.name), v, i == len(rest) - 1, node)
    if node.within_ms is not None:
        pattern = pattern.within(Duration.of_millis(node.within_ms))
    return pattern


class MatchMeasures(PatternProcessFunction):
    """Each match as one tuple: its partition columns, then its measures."""

    def __init__(self, partition: tuple[int, ...], measures: tuple[Measure, ...], order: tuple[str, ...]) -> None:
        self.partition = partition
        self.measures = measures
        self.order = order  # the pattern's variables, in pattern order

    def process_match(self, match: dict[str, list], ctx: Any, out: Any) -> None:
        every = [row for name in self.order for row in match.get(name, ())]
        first = every[0]
        values = [first[i] for i in self.partition]
        for m in self.measures:
            rows = every if m.variable is None else match.get(m.variable, [])
            values.append(_measure(m, rows))
        out.collect(tuple(values))


def _measure(m: Measure, rows: list) -> Any:
    if m.kind == "COUNT":
        return len(rows) if m.field is None else sum(r[m.field] is not None for r in rows)
    if m.kind in ("FIRST", "LAST"):
        return (rows[0] if m.kind == "FIRST" else rows[-1])[m.field] if rows else None
    present = [r[m.field] for r in rows if r[m.field] is not None]
    if not present:
        return None
    if m.kind == "SUM":
        return sum(present)
    if m.kind == "AVG":
        return float(sum(present)) / len(present)
    return min(present) if m.kind == "MIN" else max(present)
