"""PyFlink's ``Time`` and ``Duration``: spans of time, in milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _millis(factory: str, n: object, unit_ms: int) -> int:
    """``n`` units of ``unit_ms`` as whole milliseconds; a TypeError naming the factory for a non-number
    (``Time.seconds('5')`` would otherwise build a span of a thousand fives)."""
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise TypeError(f"{factory}(n): n must be an int or a float, got {n!r} ({type(n).__name__})")
    return int(n * unit_ms)


class _Unit:
    """A factory of spans of ``n`` units of ``unit_ms`` on the class it is set in: ``Time.seconds(n)``,
    ``Duration.of_hours(n)``."""

    def __init__(self, unit_ms: int) -> None:
        self.unit_ms = unit_ms

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner, self.name = owner, name

    def __get__(self, obj: object, objtype: type | None = None) -> Callable[[int], Any]:
        owner, unit_ms, where = self.owner, self.unit_ms, f"{self.owner.__name__}.{self.name}"

        def span(n: int) -> Any:
            return owner(_millis(where, n, unit_ms))

        span.__name__, span.__qualname__ = self.name, where
        span.__annotations__ = {"n": "int", "return": owner.__name__}
        return span


@dataclass(frozen=True)
class _Span:
    """A span of time in whole milliseconds."""

    millis: int

    def to_milliseconds(self) -> int:
        return self.millis


@dataclass(frozen=True)
class Time(_Span):
    """A span of time, as in PyFlink's ``pyflink.common.time.Time``.

    >>> Time.hours(24).to_milliseconds()
    86400000
    """

    milliseconds = _Unit(1)
    seconds = _Unit(1000)
    minutes = _Unit(60_000)
    hours = _Unit(3_600_000)
    days = _Unit(86_400_000)


@dataclass(frozen=True)
class Duration(_Span):
    """A span of time, as in PyFlink's ``pyflink.common.Duration``.

    >>> Duration.of_seconds(5).to_milliseconds()
    5000
    """

    of_millis = _Unit(1)
    of_seconds = _Unit(1000)
    of_minutes = _Unit(60_000)
    of_hours = _Unit(3_600_000)

    @staticmethod
    def of_nanos(n: int) -> "Duration":
        """A duration of ``n`` nanoseconds (kept in whole milliseconds, rounded down)."""
        return Duration(int(n // 1_000_000))

    of_days = _Unit(86_400_000)


@dataclass(frozen=True, order=True)
class Instant:
    """A point in time: ``seconds`` since the epoch and ``nanos`` within the second, as PyFlink's
    ``pyflink.common.Instant``.

    >>> Instant.of_epoch_milli(1500).to_epoch_milli()
    1500
    """

    seconds: int
    nanos: int = 0

    @staticmethod
    def of_epoch_milli(epoch_milli: int) -> "Instant":
        secs, millis = divmod(int(epoch_milli), 1000)
        return Instant(secs, millis * 1_000_000)

    def to_epoch_milli(self) -> int:
        return self.seconds * 1000 + self.nanos // 1_000_000

    def __repr__(self) -> str:
        return f"Instant<{self.seconds}, {self.nanos}>"
