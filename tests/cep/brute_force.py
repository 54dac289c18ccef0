"""A brute-force CEP matcher: enumerate labelled subsequences of one key's events by the pattern's rules.

Independent of the NFA: it reads a ``Spec`` (stages as plain data), tries every way to assign
events to stages, and keeps the assignments the semantics in ``operators/cep_nfa.py`` allow.
Events are ``(index, letter)``; conditions are sets of letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rayflink.cep import AfterMatchSkipStrategy, Pattern

INF = float("inf")
STRICT, NEXT, ANY = "strict", "next", "any"


@dataclass(frozen=True)
class StageSpec:
    letters: frozenset
    lo: int = 1
    hi: float = 1           # INF: a loop
    optional: bool = False
    outer: str = NEXT       # contiguity to the previous stage (ignored for the first)
    inner: str = NEXT       # contiguity inside the stage
    greedy: bool = False
    until: frozenset | None = None
    kind: str = "single"    # single | times | loop (how the pattern is built)


@dataclass(frozen=True)
class Spec:
    stages: tuple            # StageSpec, or ("not_next"|"not_followed_by", letters)
    window: int | None = None
    skip: tuple = ("no_skip",)

    def elements(self) -> list[StageSpec]:
        return [s for s in self.stages if isinstance(s, StageSpec)]

    def negs_before(self) -> list[list[tuple]]:
        out: list[list[tuple]] = [[]]
        for s in self.stages:
            if isinstance(s, StageSpec):
                out.append([])
            else:
                out[-1].append(s)
        return out


def build_pattern(spec: Spec) -> Pattern:
    """The rayflink Pattern a spec describes (stage names s0, s1, ...; negations n0, n1, ...)."""
    skip = {"no_skip": AfterMatchSkipStrategy.no_skip, "skip_to_next": AfterMatchSkipStrategy.skip_to_next,
            "skip_past_last_event": AfterMatchSkipStrategy.skip_past_last_event,
            "skip_to_first": AfterMatchSkipStrategy.skip_to_first,
            "skip_to_last": AfterMatchSkipStrategy.skip_to_last}[spec.skip[0]](*spec.skip[1:])
    p = None
    ei = ni = 0
    for s in spec.stages:
        if isinstance(s, StageSpec):
            name = f"s{ei}"
            ei += 1
            if p is None:
                p = Pattern.begin(name, skip)
            else:
                p = {STRICT: p.next, NEXT: p.followed_by, ANY: p.followed_by_any}[s.outer](name)
            letters = s.letters
            p.where(lambda e, ctx, letters=letters: e[1] in letters)
            if s.kind == "times":
                p.times(s.lo, int(s.hi))
            elif s.kind == "loop":
                p.one_or_more() if s.lo == 1 else p.times_or_more(s.lo)
            if s.optional:
                p.optional()
            if s.kind != "single":
                if s.inner == STRICT:
                    p.consecutive()
                elif s.inner == ANY:
                    p.allow_combinations()
            if s.greedy:
                p.greedy()
            if s.until is not None:
                until = s.until
                p.until(lambda e, ctx, until=until: e[1] in until)
        else:
            kind, letters = s
            name = f"n{ni}"
            ni += 1
            p = p.not_next(name) if kind == "not_next" else p.not_followed_by(name)
            p.where(lambda e, ctx, letters=letters: e[1] in letters)
    if spec.window is not None:
        p.within(spec.window)
    return p


def brute_force(spec: Spec, events: list[tuple], stamps: list[int]) -> tuple[list, list]:
    """``(matches, timed_out)`` as sorted lists of ``((stage, event index), ...)``; all time passes at the end."""
    st = spec.elements()
    n_st = len(st)
    negs = spec.negs_before()
    W = spec.window if spec.window is not None else INF
    n = len(events)
    letter = [e[1] for e in events]

    def cond(j, i):
        return letter[i] in st[j].letters

    def take(j, i):
        return cond(j, i) and not (st[j].until is not None and letter[i] in st[j].until)

    matches: list[tuple] = []
    timed_out: list[tuple] = []

    def branches(j, c):
        """(target stage or None for the end, guard letter-sets, absence letter-sets, greedy stage)."""
        s = st[j]
        out = []
        if c < s.hi:
            out.append((j, (), (), None))
        if c >= s.lo:
            guards, absence = [], []
            greedy = j if s.greedy and c < s.hi else None
            t = j + 1
            while True:
                for kind, letters in negs[t]:
                    (guards if kind == "not_next" else absence).append(letters)
                if t == n_st:
                    out.append((None, tuple(guards), tuple(absence), greedy))
                    break
                out.append((t, tuple(guards), tuple(absence), greedy))
                if not st[t].optional:
                    break
                t += 1
        return out

    def guard_hit(guards, greedy, i):
        return any(letter[i] in g for g in guards) or (greedy is not None and take(greedy, i))

    def extend(taken, j, c):
        p = taken[-1][1]
        start_ts = stamps[taken[0][1]]
        alive = False  # some non-final branch survives until the window is up
        for t, guards, absence, greedy in branches(j, c):
            has_guard = bool(guards) or greedy is not None
            if t is None:
                if not has_guard and not absence:
                    matches.append(tuple(taken))
                    continue
                in_time = [i for i in range(p + 1, n) if stamps[i] - start_ts < W]
                if has_guard:
                    if not in_time:
                        alive = W != INF  # waits for the next event, which never comes in time
                        continue
                    if guard_hit(guards, greedy, in_time[0]):
                        continue
                if not absence:
                    matches.append(tuple(taken))
                elif not any(letter[i] in a for i in in_time for a in absence):
                    matches.append(tuple(taken))
                continue
            contiguity = st[t].inner if t == j else st[t].outer
            survived = True
            for q in range(p + 1, n):
                if stamps[q] - start_ts >= W:
                    break
                if q == p + 1 and guard_hit(guards, greedy, q):
                    survived = False
                    break
                if take(t, q):
                    extend(taken + [(t, q)], t, c + 1 if t == j else 1)
                # can this branch skip event q?
                if contiguity == STRICT or (contiguity == NEXT and cond(t, q)):
                    survived = False
                    break
                if t == j and st[j].until is not None and letter[q] in st[j].until:
                    survived = False
                    break
                if any(letter[q] in a for a in absence):
                    survived = False
                    break
            if survived and W != INF:
                alive = True
        if alive:
            timed_out.append(tuple(taken))

    for i0 in range(n):
        for j0 in range(n_st):
            if take(j0, i0):
                extend([(j0, i0)], j0, 1)
            if not st[j0].optional:
                break

    if spec.skip[0] != "no_skip":
        matches = _apply_skip(spec, matches)
        timed_out = None  # not modelled under pruning
    return sorted(matches), (None if timed_out is None else sorted(timed_out))


def _apply_skip(spec: Spec, matches: list) -> list:
    """Emit in (start, end, events) order, each emitted match pruning those its strategy discards."""
    kind = spec.skip[0]
    target = int(spec.skip[1][1:]) if len(spec.skip) > 1 else None
    todo = sorted(matches, key=lambda m: (m[0][1], m[-1][1], tuple(i for _, i in m), tuple(s for s, _ in m)))
    out = []
    while todo:
        m = todo.pop(0)
        out.append(m)
        ids = [i for _, i in m]
        if kind == "skip_to_next":
            todo = [x for x in todo if not x[0][1] <= ids[0]]
        elif kind == "skip_past_last_event":
            todo = [x for x in todo if not x[0][1] <= ids[-1]]
        else:
            mine = [i for s, i in m if s == target]
            if mine:
                pid = mine[0] if kind == "skip_to_first" else mine[-1]
                todo = [x for x in todo if not x[0][1] < pid]
    return out
