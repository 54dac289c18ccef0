"""``Pattern``: the stages of a CEP pattern, their conditions, quantifiers and contiguity (Flink's API).

A pattern is recorded, not run: ``CEP.pattern(keyed_stream, pattern)`` hands it to the CEP operator,
which compiles it into an NFA.

>>> fraud = (Pattern.begin("failed").where(lambda e, ctx: e["type"] == "login_failed")
...          .times(3).consecutive()
...          .followed_by("purchase").where(lambda e, ctx: e["type"] == "purchase")
...          .within(Time.minutes(5)))

Passing a pattern instead of a name to ``begin``/``next``/``followed_by``/``followed_by_any`` appends
a ``GroupPattern``: the quantifiers then apply to the whole inner sequence.
"""

from __future__ import annotations

from typing import Any, NoReturn

from rayflink.cep.conditions import Condition, SubtypeCondition
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
        raise MalformedPatternException(f"{stage}: within() takes a Time, a Duration or milliseconds, "
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
                                            "needs its own name (groups included)")
        self.name: str = name
        self.previous = previous
        self.quantifier = Quantifier(consuming_strategy)
        self.condition: Any = None   # None | ("leaf", cond) | ("and", a, b) | ("or", a, b)
        self.until_condition: Any = None
        self.window_ms: int | None = None
        self.skip_strategy = skip_strategy

    # ---- building --------------------------------------------------------------------------

    @staticmethod
    def begin(name: "str | Pattern", after_match_skip_strategy: AfterMatchSkipStrategy | None = None) -> "Pattern":
        """Start a pattern with stage ``name``, or with a group when given a pattern (optionally with an
        after-match skip strategy; a group's own skip strategy is ignored, as in Flink)."""
        skip = after_match_skip_strategy or AfterMatchSkipStrategy.no_skip()
        if not isinstance(skip, AfterMatchSkipStrategy):
            what = f"stage {name!r}" if isinstance(name, str) else "group"
            raise MalformedPatternException(f"{what}: begin() takes an AfterMatchSkipStrategy, "
                                            f"got {type(skip).__name__}")
        if isinstance(name, Pattern):
            return GroupPattern(name, None, Quantifier.SKIP_TILL_NEXT, skip)
        return Pattern(name, None, Quantifier.SKIP_TILL_NEXT, skip)

    def _append(self, name: "str | Pattern", strategy: str) -> "Pattern":
        if isinstance(name, Pattern):
            if strategy in (Quantifier.NOT_NEXT, Quantifier.NOT_FOLLOW):
                kind = "not_next" if strategy == Quantifier.NOT_NEXT else "not_followed_by"
                raise MalformedPatternException(f"{self._what()}: {kind}() takes a stage name, not a group "
                                                f"{name!r}; a negation tests one event")
            return GroupPattern(name, self, strategy, self.skip_strategy)
        return Pattern(name, self, strategy, self.skip_strategy)

    def next(self, name: "str | Pattern") -> "Pattern":
        """Append a stage (or a group) whose first event must directly follow the previous stage."""
        return self._append(name, Quantifier.STRICT)

    def followed_by(self, name: "str | Pattern") -> "Pattern":
        """Append a stage (or a group) whose first event is the next matching one (relaxed contiguity)."""
        return self._append(name, Quantifier.SKIP_TILL_NEXT)

    def followed_by_any(self, name: "str | Pattern") -> "Pattern":
        """Append a stage (or a group) whose first event may be any later matching one."""
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
            raise MalformedPatternException(f"{self._what()}: until() applies to a looping stage; "
                                            "call one_or_more() or times_or_more() first")
        if self.until_condition is not None:
            raise MalformedPatternException(f"{self._what()}: until() is already set")
        self.until_condition = self._leaf(condition, "until")
        return self

    def _leaf(self, condition: Any, method: str) -> tuple:
        if isinstance(condition, Condition) or callable(condition):
            return ("leaf", condition)
        raise MalformedPatternException(f"{self._what()}: {method}() takes a function (event, ctx) -> bool "
                                        f"or a SimpleCondition/IterativeCondition, got {type(condition).__name__}")

    # ---- quantifiers --------------------------------------------------------------------------

    def _check_quantifiable(self, method: str) -> Quantifier:
        q = self.quantifier
        if q.consuming_strategy in (Quantifier.NOT_NEXT, Quantifier.NOT_FOLLOW):
            kind = "not_next" if q.consuming_strategy == Quantifier.NOT_NEXT else "not_followed_by"
            raise MalformedPatternException(f"{self._what()}: {method}() cannot be applied to a {kind} "
                                            "stage; a negation takes no events")
        return q

    def _set_kind(self, method: str, kind: str, lo: int, hi: int | None) -> "Pattern":
        q = self._check_quantifiable(method)
        if q.kind != "SINGLE":
            raise MalformedPatternException(f"{self._what()}: {method}(): a quantifier is already set "
                                            f"({q!r}); use one of times/one_or_more/times_or_more")
        q.kind, q.times_from, q.times_to = kind, lo, hi
        return self

    def times(self, times: int, to: int | None = None) -> "Pattern":
        """Exactly ``times`` events, or between ``times`` and ``to`` (inclusive)."""
        lo, hi = (times, times) if to is None else (times, to)
        for v in (lo, hi):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise MalformedPatternException(f"{self._what()}: times() needs counts >= 1, got "
                                                f"{times!r}, {to!r}; use optional() for zero")
        if hi < lo:
            raise MalformedPatternException(f"{self._what()}: times({lo}, {hi}): the upper bound is "
                                            "below the lower one")
        return self._set_kind("times", "TIMES", lo, hi)

    def one_or_more(self) -> "Pattern":
        """One or more events (a looping stage)."""
        return self._set_kind("one_or_more", "LOOPING", 1, None)

    def times_or_more(self, times: int) -> "Pattern":
        """``times`` or more events (a looping stage)."""
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise MalformedPatternException(f"{self._what()}: times_or_more() needs a count >= 1, "
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
            raise MalformedPatternException(f"{self._what()}: greedy() applies to one_or_more(), "
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
            raise MalformedPatternException(f"{self._what()}: {method}() applies to a stage with "
                                            "times(), one_or_more() or times_or_more()")
        q.inner_consuming_strategy = strategy
        return self

    def within(self, window: Any) -> "Pattern":
        """A match must complete within ``window`` (Time/Duration/ms) of its first event."""
        ms = _as_millis(window, self._what())
        if ms <= 0:
            raise MalformedPatternException(f"{self._what()}: within() needs a positive time, got {ms} ms")
        self.window_ms = ms
        return self

    def _what(self) -> str:
        return f"stage {self.name!r}"

    # ---- reading ------------------------------------------------------------------------------

    def stages(self) -> list["Pattern"]:
        """The stages from the first to this one (a group is one of them)."""
        out = []
        p: Pattern | None = self
        while p is not None:
            out.append(p)
            p = p.previous
        return out[::-1]

    def leaf_stages(self) -> list["Pattern"]:
        """The stages from the first to this one, with groups replaced by their stages (recursively)."""
        out: list[Pattern] = []
        for p in self.stages():
            out.extend(p._leaves())
        return out

    def _leaves(self) -> list["Pattern"]:
        return [self]

    def stage_names(self) -> list[str]:
        """The names of all stages, those inside groups included."""
        return [p.name for p in self.leaf_stages()]

    def get_name(self) -> str:
        return self.name

    def get_previous(self) -> "Pattern | None":
        return self.previous

    def get_quantifier(self) -> Quantifier:
        return self.quantifier

    def get_window_size(self) -> int | None:
        """The smallest ``within`` of the pattern (groups included), in ms (None: no time limit)."""
        sizes = [p.window_ms for p in self._all() if p.window_ms is not None]
        return min(sizes) if sizes else None

    def _all(self) -> list["Pattern"]:
        """Every stage and group, nested ones included."""
        out: list[Pattern] = []
        for p in self.stages():
            out.append(p)
            if isinstance(p, GroupPattern):
                out.extend(p.raw._all())
        return out

    def get_after_match_skip_strategy(self) -> AfterMatchSkipStrategy:
        return self.skip_strategy

    def _describe(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Pattern({' -> '.join(p._describe() for p in self.stages())})"

    # camelCase spellings of Flink's Java API, so ported code runs unchanged
    followedBy = followed_by
    followedByAny = followed_by_any
    notNext = not_next
    notFollowedBy = not_followed_by
    oneOrMore = one_or_more
    timesOrMore = times_or_more
    allowCombinations = allow_combinations


class GroupPattern(Pattern):
    """A pattern sequence used as one stage: quantifiers apply to the whole sequence (Flink's ``GroupPattern``).

    Built by passing a pattern to ``Pattern.begin``/``next``/``followed_by``/``followed_by_any``.
    ``times``/``one_or_more``/``times_or_more``/``optional``/``consecutive``/``allow_combinations``
    repeat or skip the whole group; ``consecutive``/``allow_combinations`` set the contiguity between
    the last event of one iteration and the first of the next. A match reports the group's events
    under the inner stage names, each name's events in order across iterations.

    >>> login = Pattern.begin("fail").where(is_failed).next("retry").where(is_retry)
    >>> p = Pattern.begin(login).times(2).followed_by("buy").where(is_purchase)
    >>> # a match: {"fail": [f1, f2], "retry": [r1, r2], "buy": [b]}

    Raises ``MalformedPatternException`` for a group that begins or ends with a negation, whose
    stages are all optional, that shares a stage name with the pattern around it, and for
    ``where``/``or_``/``subtype``/``greedy``/``until`` on a group (Flink refuses the first four;
    ``until`` on a group is not supported here).
    """

    def __init__(self, raw: Pattern, previous: "Pattern | None", consuming_strategy: str,
                 skip_strategy: AfterMatchSkipStrategy) -> None:
        if not isinstance(raw, Pattern):
            raise MalformedPatternException(f"empty group: a group is a pattern built with Pattern.begin(name), "
                                            f"got {type(raw).__name__}")
        inner = raw.stages()
        negations = (Quantifier.NOT_NEXT, Quantifier.NOT_FOLLOW)
        for at, p in (("begin", inner[0]), ("end", inner[-1])):
            if not isinstance(p, GroupPattern) and p.quantifier.consuming_strategy in negations:
                raise MalformedPatternException(
                    f"stage {p.name!r}: a group cannot {at} with a negation; put the not_next()/not_followed_by() "
                    f"{'after the stage that comes before the group' if at == 'begin' else 'after the group'}")
        takers = [p for p in inner if isinstance(p, GroupPattern) or p.quantifier.consuming_strategy not in negations]
        if all(p.quantifier.optional for p in takers):
            raise MalformedPatternException(f"group {raw!r}: every stage of a group is optional, so an iteration "
                                            f"could take no events; make {takers[0]._what()} mandatory")
        if previous is not None:
            clash = sorted(set(raw.stage_names()) & set(previous.stage_names()))
            if clash:
                raise MalformedPatternException(f"stage {clash[0]!r}: duplicate stage name, both inside the group "
                                                f"{raw!r} and before it; every stage of a pattern needs its own name")
        self.raw = raw
        self.name = "(" + " -> ".join(p._describe() for p in inner) + ")"
        self.previous = previous
        self.quantifier = Quantifier(consuming_strategy)
        self.condition = None
        self.until_condition = None
        self.window_ms = None
        self.skip_strategy = skip_strategy

    def _what(self) -> str:
        return f"group {self.name}"

    def _leaves(self) -> list[Pattern]:
        return self.raw.leaf_stages()

    def _describe(self) -> str:
        q = self.quantifier
        if q.kind == "SINGLE":
            rep = ""
        elif q.times_to is None:
            rep = "+" if q.times_from == 1 else f"{{{q.times_from},}}"
        else:
            rep = f"{{{q.times_from}}}" if q.times_from == q.times_to else f"{{{q.times_from},{q.times_to}}}"
        return self.name + rep + ("?" if q.optional else "")

    def get_raw_pattern(self) -> Pattern:
        """The inner pattern sequence (its last stage)."""
        return self.raw

    def _refuse(self, method: str, hint: str) -> NoReturn:
        raise MalformedPatternException(f"{self._what()}: {method}() is not applicable to a group; {hint}")

    def where(self, condition: Any) -> "Pattern":
        self._refuse("where", "put the condition on the group's stages")

    def or_(self, condition: Any) -> "Pattern":
        self._refuse("or_", "put the condition on the group's stages")

    def subtype(self, subtype: type) -> "Pattern":
        self._refuse("subtype", "put the condition on the group's stages")

    def until(self, condition: Any) -> "Pattern":
        self._refuse("until", "put until() on a looping stage inside the group")

    def greedy(self) -> "Pattern":
        self._refuse("greedy", "as in Flink, only a looping stage can be greedy")

    getRawPattern = get_raw_pattern
