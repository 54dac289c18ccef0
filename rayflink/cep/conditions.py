"""Conditions a pattern stage tests events with: plain callables, ``SimpleCondition``, ``IterativeCondition``."""

from __future__ import annotations

from typing import Any


class Condition:
    """What ``where``, ``or_`` and ``until`` accept besides a plain function: a
    ``SimpleCondition`` (``filter(value)``) or an ``IterativeCondition`` (``filter(value, ctx)``).
    The two are siblings, not parent and child as in Flink's Java, so that each one's ``filter``
    keeps its own signature for the type checker."""


class IterativeCondition(Condition):
    """A condition that may look at the events already matched by the partial match.

    >>> class Rising(IterativeCondition):
    ...     def filter(self, value, ctx):
    ...         prev = ctx.get_events_for_pattern("up")
    ...         return not prev or value["price"] > prev[-1]["price"]
    >>> Pattern.begin("up").where(Rising()).one_or_more()
    """

    def filter(self, value: Any, ctx: Any) -> bool:
        raise NotImplementedError


class SimpleCondition(Condition):
    """A condition on the event alone: implement ``filter(value)``.

    >>> class IsFailedLogin(SimpleCondition):
    ...     def filter(self, value):
    ...         return value["type"] == "login_failed"
    """

    def filter(self, value: Any) -> bool:
        raise NotImplementedError


class SubtypeCondition(SimpleCondition):
    """True for instances of ``subtype`` (``Pattern.subtype(cls)``)."""

    def __init__(self, subtype: type) -> None:
        self.subtype = subtype

    def filter(self, value: Any) -> bool:
        return isinstance(value, self.subtype)


class Context:
    """What an ``IterativeCondition`` sees besides the event (``ctx`` of ``filter(value, ctx)``)."""

    def get_events_for_pattern(self, name: str) -> list:
        """The events the partial match has accepted for stage ``name``, in order."""
        raise NotImplementedError

    def timestamp(self) -> int | None:
        """The timestamp of the event being tested."""
        raise NotImplementedError

    def current_processing_time(self) -> int:
        raise NotImplementedError

    getEventsForPattern = get_events_for_pattern
