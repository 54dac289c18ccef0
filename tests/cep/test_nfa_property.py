"""The NFA against the brute-force matcher: random patterns (quantifiers, contiguity, negations, greedy,
until, within, skip strategies, groups of patterns) on random event sequences give the same matches
and timeouts."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rayflink.cep import MalformedPatternException
from rayflink.operators.cep_nfa import NFA, CompiledPattern, KeyState
from tests.cep.brute_force import ANY, INF, NEXT, STRICT, GroupSpec, Spec, StageSpec, brute_force, build_pattern

LETTERS = "abc"
letters = st.frozensets(st.sampled_from(LETTERS), min_size=1, max_size=2)
contiguity = st.sampled_from([STRICT, NEXT, ANY])


@st.composite
def stage_specs(draw, first: bool) -> StageSpec:
    kind, lo, hi = _quantifier(draw, ["single", "single", "times", "loop"])
    looping = kind != "single"
    return StageSpec(
        letters=draw(letters), lo=lo, hi=hi, kind=kind,
        optional=draw(st.booleans()) and draw(st.booleans()),
        outer=NEXT if first else draw(contiguity),
        inner=draw(contiguity) if looping else NEXT,
        greedy=(kind == "loop" or (kind == "times" and lo != hi)) and draw(st.integers(0, 3)) == 0,
        until=draw(st.none() | letters) if kind == "loop" and draw(st.booleans()) else None,
    )


def _quantifier(draw, kinds=("single", "times", "loop")) -> tuple:
    """``(kind, lo, hi)``: a single stage, ``times(lo, hi)`` or a loop of at least ``lo``."""
    kind = draw(st.sampled_from(list(kinds)))
    lo, hi = 1, 1
    if kind == "times":
        lo = draw(st.integers(1, 2))
        hi = draw(st.integers(lo, 3))
    elif kind == "loop":
        lo, hi = draw(st.integers(1, 2)), INF
    return kind, lo, hi


@st.composite
def group_specs(draw, first: bool, nested: bool = False) -> GroupSpec:
    """A group of one or two stages (or, rarely, a group of a stage and a bounded group)."""
    items: list = []
    for i in range(draw(st.integers(1, 2))):
        if i > 0 and draw(st.integers(0, 4)) == 0:
            items.append((draw(st.sampled_from(["not_next", "not_followed_by"])), draw(letters)))
        if i > 0 and not nested and draw(st.integers(0, 5)) == 0:
            items.append(draw(group_specs(first=False, nested=True)))
        else:
            items.append(draw(stage_specs(first=(i == 0))))
    if all(s.optional for s in items if not isinstance(s, tuple)):
        items[0] = StageSpec(letters=draw(letters))
    kind, lo, hi = _quantifier(draw)
    if (nested or any(isinstance(s, GroupSpec) for s in items)) and kind != "single":
        kind, lo, hi = "times", 1, 2  # the brute force unrolls every iteration count: keep nesting small
    return GroupSpec(stages=tuple(items), lo=lo, hi=hi, kind=kind,
                     optional=draw(st.booleans()) and draw(st.booleans()),
                     outer=NEXT if first else draw(contiguity),
                     inner=draw(contiguity) if kind != "single" else NEXT)


@st.composite
def specs(draw, groups: bool = False) -> Spec:
    n = draw(st.integers(1, 2 if groups else 3))
    stages: list = []
    for i in range(n):
        if i > 0 and draw(st.integers(0, 3)) == 0:
            stages.append((draw(st.sampled_from(["not_next", "not_followed_by"])), draw(letters)))
        if groups and (i == n - 1 and not any(isinstance(s, GroupSpec) for s in stages) or draw(st.booleans())):
            stages.append(draw(group_specs(first=(i == 0))))
        else:
            stages.append(draw(stage_specs(first=(i == 0))))
    window = draw(st.none() | st.integers(2, 8))
    if draw(st.integers(0, 4)) == 0:
        stages.append((draw(st.sampled_from(["not_next", "not_followed_by"])), draw(letters)))
        if stages[-1][0] == "not_followed_by" and window is None:
            window = draw(st.integers(2, 8))
    named = len(Spec(tuple(stages)).leaves())
    skip = draw(st.sampled_from([("no_skip",), ("no_skip",), ("skip_to_next",), ("skip_past_last_event",),
                                 ("skip_to_first", f"s{draw(st.integers(0, named - 1))}"),
                                 ("skip_to_last", f"s{draw(st.integers(0, named - 1))}")]))
    if skip[0] != "no_skip" and window is None:
        window = draw(st.integers(2, 8))  # with a skip strategy, matches wait for earlier partial matches
    spec = Spec(tuple(stages), window, skip)
    if all(s.optional for s in spec.elements()):
        first = stages[0]
        stages[0] = replace(first, optional=False)
        spec = Spec(tuple(stages), window, skip)
    return spec


def compile_or_reject(spec: Spec) -> CompiledPattern:
    try:
        return CompiledPattern(build_pattern(spec))
    except MalformedPatternException:
        assume(False)


def run_nfa(spec: Spec, events: list, stamps: list) -> tuple[list, list]:
    nfa = NFA(compile_or_reject(spec), clock=lambda: 0)
    ks = KeyState()
    out: list = []
    for e, ts in zip(events, stamps):
        nfa.process(ks, ts, e, out)
    nfa.advance(ks, 2**62, out)
    as_tuple = lambda m: tuple(sorted(((int(name[1:]), e[0]) for name, evs in m.items() for e in evs),  # noqa: E731
                                      key=lambda x: x[1]))
    matches = sorted(as_tuple(m) for kind, m, _ in out if kind == NFA.MATCH)
    timed_out = sorted(as_tuple(m) for kind, m, _ in out if kind == NFA.TIMED_OUT)
    assert not ks.branches and not ks.pending or spec.window is None
    return matches, timed_out


def check(spec: Spec, word: str, gaps: list) -> None:
    events = [(i, ch) for i, ch in enumerate(word)]
    stamps, t = [], 0
    for i in range(len(events)):
        t += gaps[i]
        stamps.append(t)
    got_matches, got_timeouts = run_nfa(spec, events, stamps)
    want_matches, want_timeouts = brute_force(spec, events, stamps)
    assert got_matches == want_matches, (spec, word, stamps)
    if want_timeouts is not None:
        assert got_timeouts == want_timeouts, (spec, word, stamps)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), word=st.text(LETTERS, min_size=0, max_size=8),
       gaps=st.lists(st.integers(0, 2), min_size=8, max_size=8))
def test_nfa_equals_brute_force(spec, word, gaps):
    check(spec, word, gaps)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(groups=True), word=st.text(LETTERS, min_size=0, max_size=7),
       gaps=st.lists(st.integers(0, 2), min_size=8, max_size=8))
def test_nfa_equals_brute_force_with_groups(spec, word, gaps):
    check(spec, word, gaps)
