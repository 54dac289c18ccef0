"""Group windows of the Table API (PyFlink's ``pyflink.table.window``): ``Tumble``, ``Slide``, ``Session``.

>>> Tumble.over(lit(1).minutes).on(col("ts")).alias("w")
>>> Slide.over(lit(10).minutes).every(lit(1).minutes).on(col("ts")).alias("w")
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
