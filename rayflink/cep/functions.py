"""What a user runs on a match: select/flat-select functions, ``PatternProcessFunction``, timeout handlers."""

from __future__ import annotations

from typing import Any


class PatternProcessFunction:
    """Called once per match with ``{stage name: [events]}``; emits through ``out`` or side outputs.

    >>> class Alert(PatternProcessFunction):
    ...     def process_match(self, match, ctx, out):
    ...         out.collect((match["failed"][0]["user"], ctx.timestamp()))
    """

    def open(self, runtime_context: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def process_match(self, match: dict[str, list], ctx: Any, out: Any) -> None:
        raise NotImplementedError


class TimedOutPartialMatchHandler:
    """Mix into a ``PatternProcessFunction`` to receive partial matches that ran out of ``within`` time.

    >>> class Alert(PatternProcessFunction, TimedOutPartialMatchHandler):
    ...     def process_match(self, match, ctx, out): ...
    ...     def process_timed_out_match(self, match, ctx):
    ...         ctx.output(TIMED_OUT, match)  # e.g. "no confirmation within 10 minutes"
    """

    def process_timed_out_match(self, match: dict[str, list], ctx: Any) -> None:
        raise NotImplementedError


class PatternSelectFunction:
    """``select(match) -> value``."""

    def select(self, match: dict[str, list]) -> Any:
        raise NotImplementedError


class PatternFlatSelectFunction:
    """``flat_select(match, out)``: emit any number of values with ``out.collect``."""

    def flat_select(self, match: dict[str, list], out: Any) -> None:
        raise NotImplementedError


class PatternTimeoutFunction:
    """``timeout(match, timeout_timestamp) -> value`` for a timed-out partial match."""

    def timeout(self, match: dict[str, list], timeout_timestamp: int) -> Any:
        raise NotImplementedError


class PatternFlatTimeoutFunction:
    """``timeout(match, timeout_timestamp, out)``: emit any number of values for a timed-out match."""

    def timeout(self, match: dict[str, list], timeout_timestamp: int, out: Any) -> None:
        raise NotImplementedError
