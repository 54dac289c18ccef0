"""``Pattern``: the stages of a CEP pattern, their conditions, quantifiers and contiguity (Flink's API).

A pattern is recorded, not run: ``CEP.pattern(keyed_stream, pattern)`` hands it to the CEP operator,
which compiles it into an NFA.

>>> fraud = (Pattern.begin("failed").where(lambda e, ctx: e["type"] == "login_failed")
...          .times(3).consecutive()
...          .followed_by("purchase").where(lambda e, ctx: e["type"] == "purchase")
...          .within(Time.minutes(5)))
"""

from __future__ import annotations

from typing import Any

from rayflink.cep.conditions import IterativeCondition, SubtypeCondition
from rayflink.cep.skip import AfterMatchSkipStrategy
from rayflink.errors import GraphBuildError


class MalformedPatternException(GraphBuildError):
    """The pattern cannot be compiled; the message names the stage and what to change."""


class Quantifier:
    """How many events a stage takes, and how its events may be spread (Flink's ``Quantifier``)."""

    # consuming strategies: between this stage and the previous one, and inside a looping stage
    STRICT = "STRICT"                  # next() / consecutive()
    SKIP_TILL_NEXT = "SKIP_TILL_NEXT"  # followed_by() / the default inside loops
    SKIP_TILL_ANY = "SKIP_TILL_ANY"    # followed_by_any() / allow_combinations()
    NOT_NEXT = "NOT_NEXT"              # not_next()
    NOT_FOLLOW = "NOT_FOLLOW"          # not_followed_by()

    def __init__(self, consuming_strategy: str) -> None:
        self.consuming_strategy = consuming_strategy
        self.inner_consuming_strategy = Quantifier.SKIP_TILL_NEXT
        self.kind = "SINGLE"  # SINGLE | TIMES | LOOPING
        self.times_from = 1
        self.times_to: int | None = 1  # None: unbounded
        self.optional = False
        self.greedy = False

    def __repr__(self) -> str:
        to = "inf" if self.times_to is None else self.times_to
        flags = "".join([" optional" if self.optional else "", " greedy" if self.greedy else ""])
        return (f"Quantifier({self.kind} {self.times_from}..{to}{flags}, {self.consuming_strategy}, "
                f"inner {self.inner_consuming_strategy})")


def _as_millis(window: Any, stage: str) -> int:
    if hasattr(window, "to_milliseconds"):
        ms = window.to_milliseconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        ms = window
    else:
        raise MalformedPatternException(f"stage {stage!r}: within() takes a Time, a Duration or milliseconds, "
                                        f"got {type(window).__name__}")
    return int(ms)


class Pattern:
    """One stage of a pattern, linked to the stages before it.

    ``where``/``or_``/``until``, the quantifiers and ``within`` change this (the last) stage and
    return it; ``next``/``followed_by``/``followed_by_any``/``not_next``/``not_followed_by`` append
    a stage and return the new one.

    >>> Pattern.begin("start").where(lambda e, ctx: e > 0).next("end").where(lambda e, ctx: e < 0)

    Raises ``MalformedPatternException`` (a ``GraphBuildError``) for an empty or duplicate stage
    name, a quantifier on a ``not_`` stage, ``within`` <= 0, or a quantifier given twice.
    """

    def __init__(self, name: str, previous: "Pattern | None", consuming_strategy: str,
                 skip_strategy: AfterMatchSkipStrategy) -> None:
        if not isinstance(name, str) or not name:
            where = f" after stage {previous.name!r}" if previous is not None else ""
            raise MalformedPatternException(f"empty pattern{where}: a stage needs a non-empty name, got {name!r}")
        if previous is not None and name in previous.stage_names():
            raise MalformedPatternException(f"stage {name!r}: duplicate stage name; every stage of a pattern "
                                            "needs its own name")
        self.name = name
        self.previous = previous
        self.quantifier = Quantifier(consuming_strategy)
        self.condition: Any = None   # None | ("leaf", cond) | ("and", a, b) | ("or", a, b)
        self.until_condition: Any = None
        self.window_ms: int | None = None
        self.skip_strategy = skip_strategy

    # ---- building --------------------------------------------------------------------------

    @staticmethod
    def begin(name: str, after_match_skip_strategy: AfterMatchSkipStrategy | None = None) -> "Pattern":
        """Start a pattern with stage ``name`` (optionally with an after-match skip strategy)."""
        skip = after_match_skip_strategy or AfterMatchSkipStrategy.no_skip()
        if not isinstance(skip, AfterMatchSkipStrategy):
            raise MalformedPatternException(f"stage {name!r}: begin() takes an AfterMatchSkipStrategy, "
                                            f"got {type(skip).__name__}")
        return Pattern(name, None, Quantifier.SKIP_TILL_NEXT, skip)

    def _append(self, name: str, strategy: str) -> "Pattern":
        return Pattern(name, self, strategy, self.skip_strategy)

    def next(self, name: str) -> "Pattern":
        """Append a stage whose first event must directly follow the previous stage (strict contiguity)."""
        return self._append(name, Quantifier.STRICT)

    def followed_by(self, name: str) -> "Pattern":
        """Append a stage whose first event is the next matching one (relaxed contiguity)."""
        return self._append(name, Quantifier.SKIP_TILL_NEXT)

    def followed_by_any(self, name: str) -> "Pattern":
        """Append a stage whose first event may be any later matching one (non-deterministic relaxed)."""
        return self._append(name, Quantifier.SKIP_TILL_ANY)

    def not_next(self, name: str) -> "Pattern":
        """The event right after the previous stage must not match this stage's condition."""
        return self._append(name, Quantifier.NOT_NEXT)

    def not_followed_by(self, name: str) -> "Pattern":
        """No event between the previous and the next stage may match this stage's condition."""
        return self._append(name, Quantifier.NOT_FOLLOW)

    # ---- conditions ---------------------------------------------------------------------------

    def where(self, condition: Any) -> "Pattern":
        """AND ``condition`` (``lambda event, ctx: ...``, a SimpleCondition or IterativeCondition)."""
        leaf = self._leaf(condition, "where")
        self.condition = leaf if self.condition is None else ("and", self.condition, leaf)
        return self

    def or_(self, condition: Any) -> "Pattern":
        """OR ``condition`` with the conditions given so far."""
        leaf = self._leaf(condition, "or_")
        self.condition = leaf if self.condition is None else ("or", self.condition, leaf)
        return self

    def subtype(self, subtype: type) -> "Pattern":
        """Only events that are instances of ``subtype``."""
        return self.where(SubtypeCondition(subtype))

    def until(self, condition: Any) -> "Pattern":
        """(looping stages) stop the loop at the first event matching ``condition``."""
        if self.quantifier.kind != "LOOPING":
            raise MalformedPatternException(f"stage {self.name!r}: until() applies to a looping stage; "
                                            "call one_or_more() or times_or_more() first")
        if self.until_condition is not None:
            raise MalformedPatternException(f"stage {self.name!r}: until() is already set")
        self.until_condition = self._leaf(condition, "until")
        return self

    def _leaf(self, condition: Any, method: str) -> tuple:
        if isinstance(condition, IterativeCondition) or callable(condition):
            return ("leaf", condition)
        raise MalformedPatternException(f"stage {self.name!r}: {method}() takes a function (event, ctx) -> bool "
                                        f"or a SimpleCondition/IterativeCondition, got {type(condition).__name__}")

    # ---- quantifiers --------------------------------------------------------------------------

    def _check_quantifiable(self, method: str) -> Quantifier:
        q = self.quantifier
        if q.consuming_strategy in (Quantifier.NOT_NEXT, Quantifier.NOT_FOLLOW):
            kind = "not_next" if q.consuming_strategy == Quantifier.NOT_NEXT else "not_followed_by"
            raise MalformedPatternException(f"stage {self.name!r}: {method}() cannot be applied to a {kind} "
                                            "stage; a negation takes no events")
        return q

    def _set_kind(self, method: str, kind: str, lo: int, hi: int | None) -> "Pattern":
        q = self._check_quantifiable(method)
        if q.kind != "SINGLE":
            raise MalformedPatternException(f"stage {self.name!r}: {method}(): a quantifier is already set "
                                            f"({q!r}); use one of times/one_or_more/times_or_more")
        q.kind, q.times_from, q.times_to = kind, lo, hi
        return self

    def times(self, times: int, to: int | None = None) -> "Pattern":
        """Exactly ``times`` events, or between ``times`` and ``to`` (inclusive)."""
        lo, hi = (times, times) if to is None else (times, to)
        for v in (lo, hi):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise MalformedPatternException(f"stage {self.name!r}: times() needs counts >= 1, got "
                                                f"{times!r}, {to!r}; use optional() for zero")
        if hi < lo:
            raise MalformedPatternException(f"stage {self.name!r}: times({lo}, {hi}): the upper bound is "
                                            "below the lower one")
        return self._set_kind("times", "TIMES", lo, hi)

    def one_or_more(self) -> "Pattern":
        """One or more events (a looping stage)."""
        return self._set_kind("one_or_more", "LOOPING", 1, None)

    def times_or_more(self, times: int) -> "Pattern":
        """``times`` or more events (a looping stage)."""
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise MalformedPatternException(f"stage {self.name!r}: times_or_more() needs a count >= 1, "
                                            f"got {times!r}")
        return self._set_kind("times_or_more", "LOOPING", times, None)

    def optional(self) -> "Pattern":
        """The stage may also take no event at all."""
        self._check_quantifiable("optional").optional = True
        return self

    def greedy(self) -> "Pattern":
        """(looping stages) take as many events as possible before moving on."""
        q = self._check_quantifiable("greedy")
        if q.kind != "LOOPING" and not (q.kind == "TIMES" and q.times_from != q.times_to):
            raise MalformedPatternException(f"stage {self.name!r}: greedy() applies to one_or_more(), "
                                            "times_or_more() or times(from, to)")
        q.greedy = True
        return self

    def consecutive(self) -> "Pattern":
        """(looping/times stages) the stage's events must follow each other directly."""
        return self._inner(Quantifier.STRICT, "consecutive")

    def allow_combinations(self) -> "Pattern":
        """(looping/times stages) any combination of the stage's matching events."""
        return self._inner(Quantifier.SKIP_TILL_ANY, "allow_combinations")

    def _inner(self, strategy: str, method: str) -> "Pattern":
        q = self._check_quantifiable(method)
        if q.kind == "SINGLE":
            raise MalformedPatternException(f"stage {self.name!r}: {method}() applies to a stage with "
                                            "times(), one_or_more() or times_or_more()")
        q.inner_consuming_strategy = strategy
        return self

    def within(self, window: Any) -> "Pattern":
        """A match must complete within ``window`` (Time/Duration/ms) of its first event."""
        ms = _as_millis(window, self.name)
        if ms <= 0:
            raise MalformedPatternException(f"stage {self.name!r}: within() needs a positive time, got {ms} ms")
        self.window_ms = ms
        return self

    # ---- reading ------------------------------------------------------------------------------

    def stages(self) -> list["Pattern"]:
        """The stages from the first to this one."""
        out = []
        p: Pattern | None = self
        while p is not None:
            out.append(p)
            p = p.previous
        return out[::-1]

    def stage_names(self) -> list[str]:
        return [p.name for p in self.stages()]

    def get_name(self) -> str:
        return self.name

    def get_previous(self) -> "Pattern | None":
        return self.previous

    def get_quantifier(self) -> Quantifier:
        return self.quantifier

    def get_window_size(self) -> int | None:
        """The smallest ``within`` of the pattern, in ms (None: no time limit)."""
        sizes = [p.window_ms for p in self.stages() if p.window_ms is not None]
        return min(sizes) if sizes else None

    def get_after_match_skip_strategy(self) -> AfterMatchSkipStrategy:
        return self.skip_strategy

    def __repr__(self) -> str:
        return f"Pattern({' -> '.join(self.stage_names())})"

    # camelCase spellings of Flink's Java API, so ported code runs unchanged
    followedBy = followed_by
    followedByAny = followed_by_any
    notNext = not_next
    notFollowedBy = not_followed_by
    oneOrMore = one_or_more
    timesOrMore = times_or_more
    allowCombinations = allow_combinations
