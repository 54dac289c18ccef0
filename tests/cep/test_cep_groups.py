"""Groups of patterns (``GroupPattern``): quantifiers over a whole sequence, matches reported under the
inner stage names, and the build-time errors for groups that cannot work."""

from __future__ import annotations

import pickle

import pytest

from rayflink.cep import CEP, AfterMatchSkipStrategy, GroupPattern, MalformedPatternException, Pattern
from rayflink.operators.cep_nfa import NFA, CompiledPattern, KeyState


def kind(k: str):
    return lambda e, _: e[1] == k


def matches(pattern: Pattern, word: str) -> list[dict]:
    """Run ``pattern`` over events ``(index, letter)`` of ``word`` (one per ms); matches as
    ``{stage: [event index, ...]}``, in the order they were emitted."""
    nfa = NFA(CompiledPattern(pattern), clock=lambda: 0)
    ks = KeyState()
    out: list = []
    for i, ch in enumerate(word):
        nfa.process(ks, i, (i, ch), out)
    nfa.advance(ks, 2**62, out)
    return [{name: [e[0] for e in evs] for name, evs in m.items()} for k, m, _ in out if k == NFA.MATCH]


def test_a_group_repeated_twice_reports_each_stage_across_iterations():
    # a failed login directly followed by a retry, twice, then a purchase
    attempt = Pattern.begin("fail").where(kind("f")).next("retry").where(kind("r"))
    pattern = Pattern.begin(attempt).times(2).followed_by("buy").where(kind("b"))
    assert isinstance(pattern.get_previous(), GroupPattern)
    #                        0123456
    assert matches(pattern, "frxfrob") == [{"fail": [0, 3], "retry": [1, 4], "buy": [6]}]
    assert matches(pattern, "frxfxrb") == []   # the second retry does not directly follow its failure


def test_a_looping_group_with_consecutive_iterations():
    ab = Pattern.begin("a").where(kind("a")).next("b").where(kind("b"))
    pattern = Pattern.begin(ab).one_or_more().consecutive().next("c").where(kind("c"))
    #                   01234567
    assert sorted(matches(pattern, "ababcabc"), key=lambda m: m["c"] + m["a"]) == [
        {"a": [0, 2], "b": [1, 3], "c": [4]},
        {"a": [2], "b": [3], "c": [4]},
        {"a": [5], "b": [6], "c": [7]},
    ]
    assert matches(pattern, "abxabc") == [{"a": [3], "b": [4], "c": [5]}]  # x breaks the consecutive loop


def test_an_optional_group_between_two_stages():
    middle = Pattern.begin("m1").where(kind("m")).followed_by("m2").where(kind("n"))
    pattern = (Pattern.begin("start").where(kind("s")).followed_by(middle).optional()
               .followed_by("end").where(kind("e")))
    assert matches(pattern, "se") == [{"start": [0], "end": [1]}]
    assert matches(pattern, "smne") == [{"start": [0], "m1": [1], "m2": [2], "end": [3]}, {"start": [0], "end": [3]}]


def test_groups_nest_and_the_skip_strategy_names_an_inner_stage():
    inner = Pattern.begin("b").where(kind("b")).times(1, 2).consecutive()
    group = Pattern.begin("a").where(kind("a")).next(inner)
    pattern = Pattern.begin(group, AfterMatchSkipStrategy.skip_past_last_event()).times(2).next("c").where(kind("c"))
    #                   012345
    assert matches(pattern, "abbabc") == [{"a": [0, 3], "b": [1, 2, 4], "c": [5]}]


def test_partial_matches_inside_a_group_survive_a_snapshot():
    attempt = Pattern.begin("fail").where(kind("f")).next("retry").where(kind("r"))
    nfa = NFA(CompiledPattern(Pattern.begin(attempt).times(2).followed_by("buy").where(kind("b"))), clock=lambda: 0)
    ks, out = KeyState(), []
    for i, ch in enumerate("frf"):
        nfa.process(ks, i, (i, ch), out)
    restored = pickle.loads(pickle.dumps(ks))
    # a fresh compile (a restored operator) gives the same template ids
    nfa2 = NFA(CompiledPattern(Pattern.begin(Pattern.begin("fail").where(kind("f")).next("retry").where(kind("r")))
                               .times(2).followed_by("buy").where(kind("b"))), clock=lambda: 0)
    for i, ch in [(3, "r"), (4, "b")]:
        nfa2.process(restored, i, (i, ch), out)
    assert [{k: [e[0] for e in v] for k, v in m.items()} for _, m, _ in out] == [
        {"fail": [0, 2], "retry": [1, 3], "buy": [4]}]


def test_build_errors_for_groups_name_the_stage():
    ab = lambda: Pattern.begin("a").where(kind("a")).next("b").where(kind("b"))  # noqa: E731
    with pytest.raises(MalformedPatternException, match=r"group \(a -> b\): greedy\(\).*Flink"):
        Pattern.begin(ab()).one_or_more().greedy()
    with pytest.raises(MalformedPatternException, match=r"group \(a -> b\): where\(\).*group's stages"):
        Pattern.begin("x").followed_by(ab()).where(kind("a"))
    with pytest.raises(MalformedPatternException, match=r"group \(a -> b\): until\(\)"):
        Pattern.begin(ab()).one_or_more().until(kind("c"))
    with pytest.raises(MalformedPatternException, match="stage 'a': duplicate stage name.*inside the group"):
        Pattern.begin("a").followed_by(ab())
    with pytest.raises(MalformedPatternException, match="stage 'b': duplicate stage name"):
        Pattern.begin(ab()).times(2).followed_by("b")
    with pytest.raises(MalformedPatternException, match="stage 'no_c': a group cannot end with a negation"):
        Pattern.begin("x").next(ab().not_next("no_c"))
    with pytest.raises(MalformedPatternException, match="every stage of a group is optional.*stage 'a'"):
        Pattern.begin("x").next(Pattern.begin("a").optional().followed_by("b").optional())
    with pytest.raises(MalformedPatternException, match="stage 'x': not_next\\(\\) takes a stage name"):
        Pattern.begin("x").not_next(ab())
    with pytest.raises(MalformedPatternException, match=r"group \(a -> b\): times\(\) needs counts >= 1"):
        Pattern.begin(ab()).times(0)
    with pytest.raises(MalformedPatternException, match=r"empty pattern.*group \(a -> b\).*mandatory"):
        CEP.pattern(None, Pattern.begin(ab()).optional())
    # within inside a group counts like any other: the smallest one applies
    assert Pattern.begin("x").followed_by(ab().within(50)).followed_by("y").within(80).get_window_size() == 50
