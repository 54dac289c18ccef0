"""Timers of keyed operators: event time and processing time, deduplicated, kept per key group."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

from rayflink.state.key_groups import assign_key_group


class _TimerQueue:
    """A min-heap of (timestamp, key, namespace) with deduplication and lazy deletion."""

    def __init__(self) -> None:
        self._heap: list = []
        self._live: set = set()
        self._seq = itertools.count()

    def add(self, timestamp: int, key: Any, namespace: Any) -> None:
        entry = (timestamp, key, namespace)
        if entry not in self._live:
            self._live.add(entry)
            heapq.heappush(self._heap, (timestamp, next(self._seq), key, namespace))

    def remove(self, timestamp: int, key: Any, namespace: Any) -> None:
        self._live.discard((timestamp, key, namespace))

    def peek(self) -> int | None:
        heap = self._heap
        while heap and (heap[0][0], heap[0][2], heap[0][3]) not in self._live:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, time: int) -> Iterator[tuple[int, Any, Any]]:
        """Timers with timestamp <= ``time`` in order; ones registered meanwhile are included."""
        heap = self._heap
        while heap and heap[0][0] <= time:
            ts, _, key, ns = heapq.heappop(heap)
            entry = (ts, key, ns)
            if entry in self._live:
                self._live.discard(entry)
                yield entry

    def entries(self) -> list[tuple[int, Any, Any]]:
        return list(self._live)

    def __len__(self) -> int:
        return len(self._live)


class InternalTimerService:
    """Event-time and processing-time timers of one keyed operator subtask."""

    def __init__(self, max_parallelism: int, key_groups: range) -> None:
        self.max_parallelism = max_parallelism
        self.key_groups = key_groups
        self.event_time = _TimerQueue()
        self.processing_time = _TimerQueue()

    def snapshot(self) -> dict[str, dict[int, list]]:
        """Timers grouped by key group, in a backend-independent shape."""
        out: dict[str, dict[int, list]] = {"event": {}, "processing": {}}
        for domain, q in (("event", self.event_time), ("processing", self.processing_time)):
            for ts, key, ns in q.entries():
                kg = assign_key_group(key, self.max_parallelism)
                out[domain].setdefault(kg, []).append((ts, key, ns))
        return out

    def restore(self, snapshots: list[dict[str, dict[int, list]]]) -> None:
        """Load the timers of the key groups this subtask owns."""
        owned = self.key_groups
        for snap in snapshots:
            for domain, q in (("event", self.event_time), ("processing", self.processing_time)):
                for kg, timers in snap.get(domain, {}).items():
                    if kg in owned:
                        for ts, key, ns in timers:
                            q.add(ts, key, ns)
