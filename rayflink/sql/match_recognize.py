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

from rayflink.cep import AfterMatchSkipStrategy, Pattern, PatternProcessFunction
from rayflink.cep.conditions import SimpleCondition
from rayflink.common.time import Duration
from rayflink.sql.logical import MatchRecognize, Measure, PatternVariable


class _Defined(SimpleCondition):
    """A row matches a variable when its DEFINE column is true."""

    def __init__(self, field: int) -> None:
        self.field = field

    def filter(self, value: Any) -> bool:
        return bool(value[self.field])


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


def _stage(pattern: Pattern, v: PatternVariable, last: bool) -> Pattern:
    if v.define is not None:
        pattern = pattern.where(_Defined(v.define))
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


def compile_pattern(node: MatchRecognize) -> Pattern:
    """The CEP pattern of ``node``: its variables in sequence, strictly contiguous."""
    first, *rest = node.pattern
    pattern = _stage(Pattern.begin(first.name, _skip(node)), first, not rest)
    for i, v in enumerate(rest):
        pattern = _stage(pattern.next(v.name), v, i == len(rest) - 1)
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
