"""``WatermarkStrategy``: how a source assigns event timestamps and generates watermarks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayflink.errors import GraphBuildError


class TimestampAssigner(ABC):
    """Extracts the event timestamp (ms) of a record."""

    @abstractmethod
    def extract_timestamp(self, value: Any, record_timestamp: int | None) -> int:
        """The event time of ``value``; ``record_timestamp`` is the source's own (e.g. Kafka's)."""


class WatermarkOutput:
    """Where a WatermarkGenerator reports progress."""

    def __init__(self) -> None:
        self.watermark: int | None = None
        self.idle = False

    def emit_watermark(self, watermark: Any) -> None:
        ts = getattr(watermark, "timestamp", watermark)
        self.idle = False
        if self.watermark is None or ts > self.watermark:
            self.watermark = int(ts)

    def mark_idle(self) -> None:
        self.idle = True

    def mark_active(self) -> None:
        self.idle = False


class WatermarkGenerator(ABC):
    """Generates watermarks from the events it sees (``on_event``) and on a period."""

    @abstractmethod
    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        """Called for every record."""

    @abstractmethod
    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        """Called every ``pipeline.auto-watermark-interval`` ms."""


class BoundedOutOfOrdernessWatermarks(WatermarkGenerator):
    """Watermark = highest timestamp seen - max out-of-orderness - 1."""

    def __init__(self, out_of_orderness_ms: int) -> None:
        self.delay = out_of_orderness_ms
        self.max_timestamp: int | None = None

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        if self.max_timestamp is None or event_timestamp > self.max_timestamp:
            self.max_timestamp = event_timestamp

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        if self.max_timestamp is not None:
            output.emit_watermark(self.max_timestamp - self.delay - 1)


@dataclass(frozen=True)
class WatermarkAlignment:
    """What ``with_watermark_alignment`` recorded (milliseconds)."""

    watermark_group: str
    max_allowed_drift_ms: int
    update_interval_ms: int


class WatermarkStrategy:
    """PyFlink's ``WatermarkStrategy``.

    >>> WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5)) \\
    ...     .with_timestamp_assigner(lambda event, ts: event["ts"]) \\
    ...     .with_idleness(Duration.of_minutes(1))
    """

    def __init__(self, generator_factory: Callable[[], WatermarkGenerator] | None,
                 timestamp_assigner: Any = None, idleness_ms: int | None = None,
                 alignment: "WatermarkAlignment | None" = None) -> None:
        self.generator_factory = generator_factory
        self.timestamp_assigner = timestamp_assigner
        self.idleness_ms = idleness_ms
        self.alignment = alignment

    @staticmethod
    def no_watermarks() -> "WatermarkStrategy":
        """No event time progress (processing-time jobs)."""
        return WatermarkStrategy(None)

    @staticmethod
    def for_monotonous_timestamps() -> "WatermarkStrategy":
        """Timestamps only increase: the watermark follows the latest one."""
        return WatermarkStrategy(lambda: BoundedOutOfOrdernessWatermarks(0))

    @staticmethod
    def for_bounded_out_of_orderness(max_out_of_orderness: Any) -> "WatermarkStrategy":
        """Records arrive at most ``max_out_of_orderness`` (a Duration) late."""
        delay = _millis(max_out_of_orderness, "for_bounded_out_of_orderness")
        if delay < 0:
            raise GraphBuildError(f"for_bounded_out_of_orderness: the bound must be >= 0, got {delay} ms")
        return WatermarkStrategy(lambda: BoundedOutOfOrdernessWatermarks(delay))

    @staticmethod
    def for_generator(generator_supplier: Callable[..., WatermarkGenerator]) -> "WatermarkStrategy":
        """A custom WatermarkGenerator, made per source split by ``generator_supplier()``."""
        return WatermarkStrategy(generator_supplier)

    def with_timestamp_assigner(self, timestamp_assigner: Any) -> "WatermarkStrategy":
        """A ``TimestampAssigner`` or a function ``(value, record_timestamp) -> ms``."""
        if not (callable(timestamp_assigner) or callable(getattr(timestamp_assigner, "extract_timestamp", None))):
            raise GraphBuildError("with_timestamp_assigner(): expected a TimestampAssigner or a function "
                                  f"(value, record_timestamp) -> int, got {type(timestamp_assigner).__name__}")
        return WatermarkStrategy(self.generator_factory, timestamp_assigner, self.idleness_ms, self.alignment)

    def with_idleness(self, idle_timeout: Any) -> "WatermarkStrategy":
        """Mark a split idle after ``idle_timeout`` without records, so it no longer holds back the watermark."""
        ms = _millis(idle_timeout, "with_idleness")
        if ms <= 0:
            raise GraphBuildError(f"with_idleness: the timeout must be > 0, got {ms} ms")
        return WatermarkStrategy(self.generator_factory, self.timestamp_assigner, ms, self.alignment)

    def with_watermark_alignment(self, watermark_group: str, max_allowed_watermark_drift: Any,
                                 update_interval: Any = None) -> "WatermarkStrategy":
        """Flink's watermark alignment: the source subtasks of ``watermark_group`` (across every
        source using it) stop reading while their watermark is more than
        ``max_allowed_watermark_drift`` ahead of the group's slowest member, and read on once it
        has caught up; each reports its watermark every ``update_interval`` (default 1 s). An
        idle or finished subtask holds nobody back. Recorded as ``strategy.alignment``.

        >>> WatermarkStrategy.for_monotonous_timestamps() \\
        ...     .with_watermark_alignment("orders", Duration.of_seconds(20), Duration.of_seconds(1))

        Raises GraphBuildError for an empty group, a negative drift or an update interval <= 0.
        """
        if not isinstance(watermark_group, str) or not watermark_group:
            raise GraphBuildError(f"with_watermark_alignment(): the watermark group must be a non-empty str, "
                                  f"got {watermark_group!r:.80}")
        drift = _millis(max_allowed_watermark_drift, "with_watermark_alignment")
        interval = 1000 if update_interval is None else _millis(update_interval, "with_watermark_alignment")
        if drift < 0 or interval <= 0:
            raise GraphBuildError(f"with_watermark_alignment(): the drift must be >= 0 and the update interval "
                                  f"> 0, got {drift} ms and {interval} ms")
        return WatermarkStrategy(self.generator_factory, self.timestamp_assigner, self.idleness_ms,
                                 WatermarkAlignment(watermark_group, drift, interval))

    def assigner_function(self) -> Callable[[Any, int | None], int] | None:
        assigner = self.timestamp_assigner
        if assigner is None:
            return None
        extract = getattr(assigner, "extract_timestamp", None)
        return extract if callable(extract) else assigner


def _millis(duration: Any, where: str) -> int:
    to_ms = getattr(duration, "to_milliseconds", None)
    if callable(to_ms):
        return int(to_ms())
    if isinstance(duration, (int, float)):
        return int(duration)
    raise GraphBuildError(f"{where}: expected a Duration, got {type(duration).__name__}")
