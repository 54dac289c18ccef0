"""PyFlink's ``Time`` and ``Duration``: spans of time, in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass


def _millis(factory: str, n: object, unit_ms: int) -> int:
    """``n`` units of ``unit_ms`` as whole milliseconds; a TypeError naming the factory for a non-number
    (``Time.seconds('5')`` would otherwise build a span of a thousand fives)."""
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise TypeError(f"{factory}(n): n must be an int or a float, got {n!r} ({type(n).__name__})")
    return int(n * unit_ms)


@dataclass(frozen=True)
class Time:
    """A span of time, as in PyFlink's ``pyflink.common.time.Time``.

    >>> Time.hours(24).to_milliseconds()
    86400000
    """

    millis: int

    @staticmethod
    def milliseconds(n: int) -> "Time":
        return Time(_millis("Time.milliseconds", n, 1))

    @staticmethod
    def seconds(n: int) -> "Time":
        return Time(_millis("Time.seconds", n, 1000))

    @staticmethod
    def minutes(n: int) -> "Time":
        return Time(_millis("Time.minutes", n, 60_000))

    @staticmethod
    def hours(n: int) -> "Time":
        return Time(_millis("Time.hours", n, 3_600_000))

    @staticmethod
    def days(n: int) -> "Time":
        return Time(_millis("Time.days", n, 86_400_000))

    def to_milliseconds(self) -> int:
        return self.millis


@dataclass(frozen=True)
class Duration:
    """A span of time, as in PyFlink's ``pyflink.common.Duration``.

    >>> Duration.of_seconds(5).to_milliseconds()
    5000
    """

    millis: int

    @staticmethod
    def of_millis(n: int) -> "Duration":
        return Duration(_millis("Duration.of_millis", n, 1))

    @staticmethod
    def of_seconds(n: int) -> "Duration":
        return Duration(_millis("Duration.of_seconds", n, 1000))

    @staticmethod
    def of_minutes(n: int) -> "Duration":
        return Duration(_millis("Duration.of_minutes", n, 60_000))

    @staticmethod
    def of_hours(n: int) -> "Duration":
        return Duration(_millis("Duration.of_hours", n, 3_600_000))

    @staticmethod
    def of_nanos(n: int) -> "Duration":
        """A duration of ``n`` nanoseconds (kept in whole milliseconds, rounded down)."""
        return Duration(int(n // 1_000_000))

    @staticmethod
    def of_days(n: int) -> "Duration":
        return Duration(_millis("Duration.of_days", n, 86_400_000))

    def to_milliseconds(self) -> int:
        return self.millis


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
