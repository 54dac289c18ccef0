"""After-match skip strategies: which partial matches a completed match discards (Flink's names)."""

from __future__ import annotations

from dataclasses import dataclass

NO_SKIP = "NO_SKIP"
SKIP_TO_NEXT = "SKIP_TO_NEXT"
SKIP_PAST_LAST_EVENT = "SKIP_PAST_LAST_EVENT"
SKIP_TO_FIRST = "SKIP_TO_FIRST"
SKIP_TO_LAST = "SKIP_TO_LAST"


@dataclass(frozen=True)
class AfterMatchSkipStrategy:
    """How many matches one event may take part in.

    ``no_skip()`` every match; ``skip_to_next()`` drops partial matches that started with the
    match's first event; ``skip_past_last_event()`` drops those that started inside the match;
    ``skip_to_first(name)`` / ``skip_to_last(name)`` drop those that started before the first /
    last event of stage ``name``. With a skip strategy, matches are emitted in the order they
    started, once no earlier-started partial match is alive.

    >>> Pattern.begin("a", AfterMatchSkipStrategy.skip_past_last_event()).where(is_a)
    """

    kind: str = NO_SKIP
    pattern_name: str | None = None
    throw_on_miss: bool = False

    @staticmethod
    def no_skip() -> "AfterMatchSkipStrategy":
        return AfterMatchSkipStrategy(NO_SKIP)

    @staticmethod
    def skip_to_next() -> "AfterMatchSkipStrategy":
        return AfterMatchSkipStrategy(SKIP_TO_NEXT)

    @staticmethod
    def skip_past_last_event() -> "AfterMatchSkipStrategy":
        return AfterMatchSkipStrategy(SKIP_PAST_LAST_EVENT)

    @staticmethod
    def skip_to_first(pattern_name: str) -> "AfterMatchSkipStrategy":
        return AfterMatchSkipStrategy(SKIP_TO_FIRST, pattern_name)

    @staticmethod
    def skip_to_last(pattern_name: str) -> "AfterMatchSkipStrategy":
        return AfterMatchSkipStrategy(SKIP_TO_LAST, pattern_name)

    def throw_exception_on_miss(self) -> "AfterMatchSkipStrategy":
        """(skip_to_first/last) fail the job when a match has no event for the named stage."""
        return AfterMatchSkipStrategy(self.kind, self.pattern_name, True)

    def is_skip_strategy(self) -> bool:
        return self.kind != NO_SKIP

    noSkip = no_skip
    skipToNext = skip_to_next
    skipPastLastEvent = skip_past_last_event
    skipToFirst = skip_to_first
    skipToLast = skip_to_last
