"""Windows of the Table API (PyFlink's ``pyflink.table.window``): the group windows ``Tumble``,
``Slide``, ``Session``, and ``Over`` windows.

>>> Tumble.over(lit(1).minutes).on(col("ts")).alias("w")
>>> Slide.over(lit(10).minutes).every(lit(1).minutes).on(col("ts")).alias("w")
>>> Over.partition_by(col("user")).order_by(col("ts")).preceding(row_interval(2)).alias("w")
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from rayflink.table.expressions import Expression


@dataclass(frozen=True)
class GroupWindow:
    """A window over the time attribute ``time``, named ``alias`` in group_by and select."""

    kind: str  # TUMBLE | HOP | SESSION
    size: Expression
    slide: Expression | None = None
    time: Expression | None = None
    alias_name: str | None = None

    def call(self) -> exp.Anonymous:
        """The SQL group window function: TUMBLE(ts, size) or HOP(ts, slide, size)."""
        args = [self.time.node, self.slide.node, self.size.node] if self.kind == "HOP" else \
            [self.time.node, self.size.node]
        return exp.Anonymous(this=self.kind, expressions=[a.copy() for a in args])


class _WindowBuilder:
    def __init__(self, kind: str, size: Expression, slide: Expression | None = None) -> None:
        self._kind, self._size, self._slide, self._time = kind, size, slide, None

    def every(self, slide: Expression) -> "_WindowBuilder":
        self._slide = slide
        return self

    def on(self, time_field: Expression) -> "_WindowBuilder":
        self._time = time_field
        return self

    def alias(self, alias: str) -> GroupWindow:
        if self._time is None:
            raise ValueError(f"{self._kind.title()} window: call .on(col('<time attribute>')) before .alias()")
        if self._kind == "HOP" and self._slide is None:
            raise ValueError("Slide window: call .every(<interval>) before .alias()")
        return GroupWindow(self._kind, self._size, self._slide, self._time, alias)


class Tumble:
    """Tumbling event-time windows of a fixed size."""

    @staticmethod
    def over(size: Expression) -> _WindowBuilder:
        return _WindowBuilder("TUMBLE", size)


class Slide:
    """Sliding (hopping) event-time windows: ``over(size).every(slide)``."""

    @staticmethod
    def over(size: Expression) -> _WindowBuilder:
        return _WindowBuilder("HOP", size)


class Session:
    """Session windows: a key's rows closer than ``gap`` to each other share a window."""

    @staticmethod
    def with_gap(gap: Expression) -> _WindowBuilder:
        return _WindowBuilder("SESSION", gap)


@dataclass(frozen=True)
class OverWindow:
    """An over window named ``alias_name``: rows ordered by the time attribute ``order``, per
    ``partition`` key, each with a frame from ``preceding`` to the current row."""

    partition: tuple[Expression, ...]
    order: Expression
    preceding: Expression
    alias_name: str

    def window(self) -> exp.Window:
        """The window as SQL's ``WINDOW alias AS (PARTITION BY ... ORDER BY ... ROWS|RANGE ...)``."""
        bound = self.preceding.node
        name = bound.name if isinstance(bound, exp.Anonymous) else ""
        if name in ("$UNBOUNDED_ROW", "$UNBOUNDED_RANGE"):
            start: object = "UNBOUNDED"
        elif name in ("$CURRENT_ROW", "$CURRENT_RANGE"):
            start = "CURRENT ROW"
        else:
            start = bound.expressions[0].copy() if name == "$ROW_INTERVAL" else bound.copy()
        kind = "ROWS" if name in ("$ROW_INTERVAL", "$UNBOUNDED_ROW", "$CURRENT_ROW") else "RANGE"
        spec = exp.WindowSpec(kind=kind, start=start, start_side=None if start == "CURRENT ROW" else "PRECEDING",
                              end="CURRENT ROW")
        return exp.Window(this=exp.to_identifier(self.alias_name), partition_by=[p.node.copy() for p in self.partition],
                          order=exp.Order(expressions=[exp.Ordered(this=self.order.node.copy())]), spec=spec)


class _OverBuilder:
    def __init__(self, partition: tuple[Expression, ...]) -> None:
        self._partition = partition
        self._order: Expression | None = None
        self._preceding: Expression | None = None

    def order_by(self, order_by: Expression) -> "_OverBuilder":
        """Order the rows by the time attribute ``order_by`` (ascending)."""
        self._order = order_by
        return self

    def preceding(self, preceding: Expression) -> "_OverBuilder":
        """The frame's start: ``row_interval(n)``, an interval (``lit(1).hours``), ``UNBOUNDED_ROW``,
        ``UNBOUNDED_RANGE``, ``CURRENT_ROW`` or ``CURRENT_RANGE`` (without it: ``UNBOUNDED_RANGE``)."""
        self._preceding = preceding
        return self

    def following(self, following: Expression) -> "_OverBuilder":
        """The frame's end: only ``CURRENT_ROW`` or ``CURRENT_RANGE``, as Flink has it."""
        node = following.node
        if not (isinstance(node, exp.Anonymous) and node.name in ("$CURRENT_ROW", "$CURRENT_RANGE")):
            raise ValueError(f"Over window: following({node.sql()}) is not supported; over windows end at "
                             "CURRENT_ROW (or CURRENT_RANGE)")
        return self

    def alias(self, alias: str) -> OverWindow:
        if self._order is None:
            raise ValueError("Over window: call .order_by(col('<time attribute>')) before .alias()")
        from rayflink.table.expressions import UNBOUNDED_RANGE

        return OverWindow(self._partition, self._order, self._preceding or UNBOUNDED_RANGE, alias)


class Over:
    """Over windows (``Table.over_window``): each row with aggregates of the rows before it.

    >>> orders.over_window(Over.partition_by(col("user")).order_by(col("ts")).preceding(row_interval(2))
    ...                    .alias("w")).select(col("user"), col("amount").sum.over(col("w")))
    """

    @staticmethod
    def partition_by(*partition_by: Expression) -> _OverBuilder:
        return _OverBuilder(partition_by)

    @staticmethod
    def order_by(order_by: Expression) -> _OverBuilder:
        return _OverBuilder(()).order_by(order_by)
