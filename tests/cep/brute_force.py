"""A brute-force CEP matcher: enumerate labelled subsequences of one key's events by the pattern's rules.

Independent of the NFA: it reads a ``Spec`` (stages as plain data), tries every way to assign
events to stages, and keeps the assignments the semantics in ``operators/cep_nfa.py`` allow.
Events are ``(index, letter)``; conditions are sets of letters.

Groups are unrolled: a group repeated m times becomes m copies of its stages (the first stage of the
first copy takes the group's contiguity, that of a later copy the group's inner contiguity), for
every m the group allows up to one more than the number of events (each iteration takes an event);
an optional group also unrolls to nothing. Every unrolled pattern is matched as a flat one; a match
names the stage each event went to, so copies report under their original stage.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

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
class GroupSpec:
    stages: tuple           # StageSpec, GroupSpec, or a negation between two of them
    lo: int = 1
    hi: float = 1
    optional: bool = False
    outer: str = NEXT
    inner: str = NEXT       # between the last event of an iteration and the first of the next
    kind: str = "single"


@dataclass(frozen=True)
class Spec:
    stages: tuple            # StageSpec, GroupSpec, or ("not_next"|"not_followed_by", letters)
    window: int | None = None
    skip: tuple = ("no_skip",)

    def elements(self) -> list:
        """The top-level stages and groups."""
        return [s for s in self.stages if isinstance(s, (StageSpec, GroupSpec))]

    def leaves(self) -> list[StageSpec]:
        """Every stage, those in groups included, in the order they are named s0, s1, ..."""
        def walk(items):
            for s in items:
                if isinstance(s, StageSpec):
                    yield s
                elif isinstance(s, GroupSpec):
                    yield from walk(s.stages)
        return list(walk(self.stages))

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
    p = _build_sequence(spec.stages, skip, [0, 0])
    if spec.window is not None:
        p.within(spec.window)
    return p


def _quantify(p: Pattern, s) -> None:
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


def _build_sequence(items: tuple, skip: AfterMatchSkipStrategy, counters: list) -> Pattern:
    p = None
    for s in items:
        if isinstance(s, (StageSpec, GroupSpec)):
            if isinstance(s, StageSpec):
                what = f"s{counters[0]}"
                counters[0] += 1
            else:
                what = _build_sequence(s.stages, skip, counters)
            if p is None:
                p = Pattern.begin(what, skip)
            else:
                p = {STRICT: p.next, NEXT: p.followed_by, ANY: p.followed_by_any}[s.outer](what)
            if isinstance(s, StageSpec):
                letters = s.letters
                p.where(lambda e, ctx, letters=letters: e[1] in letters)
            _quantify(p, s)
            if isinstance(s, StageSpec):
                if s.greedy:
                    p.greedy()
                if s.until is not None:
                    until = s.until
                    p.until(lambda e, ctx, until=until: e[1] in until)
        else:
            kind, letters = s
            name = f"n{counters[1]}"
            counters[1] += 1
            p = p.not_next(name) if kind == "not_next" else p.not_followed_by(name)
            p.where(lambda e, ctx, letters=letters: e[1] in letters)
    return p


def _unroll(spec: Spec, max_iterations: int) -> list[tuple[tuple, list]]:
    """The flat specs a spec with groups stands for: ``[(stages, ids)]`` with ``ids[j]`` the
    ``(original stage, ((group, iteration), ...))`` of the j-th flat stage."""
    counter = itertools.count()
    groups = itertools.count()

    def number(items):  # stage -> ("stage", sid, spec); group -> ("group", gid, spec, children)
        out = []
        for s in items:
            if isinstance(s, StageSpec):
                out.append(("stage", next(counter), s))
            elif isinstance(s, GroupSpec):
                gid = next(groups)
                out.append(("group", gid, s, number(s.stages)))
            else:
                out.append(("neg", s))
        return out

    def sequence(nodes, inherit, path):  # -> [(flat stages, ids)]
        alts: list[tuple[list, list]] = [([], [])]
        for i, node in enumerate(nodes):
            contiguity = inherit if i == 0 else None
            if node[0] == "neg":
                alts = [(st + [node[1]], ids) for st, ids in alts]
            elif node[0] == "stage":
                s = node[2] if contiguity is None else replace(node[2], outer=contiguity)
                alts = [(st + [s], ids + [(node[1], path)]) for st, ids in alts]
            else:
                options = group(node, contiguity, path)
                alts = [(st + gst, ids + gids) for st, ids in alts for gst, gids in options]
        return alts

    def group(node, inherit, path):
        _, gid, g, children = node
        counts = list(range(g.lo, int(min(g.hi, max_iterations)) + 1))
        if g.optional:
            counts.insert(0, 0)
        out = []
        for m in counts:
            per_iteration = [sequence(children, (inherit or g.outer) if k == 1 else g.inner, path + ((gid, k),))
                             for k in range(1, m + 1)]
            for combo in itertools.product(*per_iteration):
                out.append(([s for st, _ in combo for s in st], [i for _, ids in combo for i in ids]))
        return out

    return [(tuple(st), ids) for st, ids in sequence(number(spec.stages), None, ())]


def brute_force(spec: Spec, events: list[tuple], stamps: list[int]) -> tuple[list, list]:
    """``(matches, timed_out)`` as sorted lists of ``((stage, event index), ...)``; all time passes at the end."""
    if not any(isinstance(s, GroupSpec) for s in spec.stages):
        return _brute_force_flat(spec, events, stamps)
    matches: list = []
    timed_out: set = set()
    for stages, ids in _unroll(spec, len(events) + 1):
        flat = Spec(stages, spec.window, ("no_skip",))
        got, lost = _brute_force_flat(flat, events, stamps, raw=True)
        matches.extend(tuple((ids[j][0], i) for j, i in m) for m in got)
        timed_out.update(tuple((ids[j], i) for j, i in m) for m in lost)  # one partial match per path
    if spec.skip[0] != "no_skip":
        return sorted(_apply_skip(spec, matches)), None
    return sorted(matches), sorted(tuple((sid, i) for (sid, _), i in m) for m in timed_out)


def _brute_force_flat(spec: Spec, events: list[tuple], stamps: list[int], raw: bool = False) -> tuple[list, list]:
    """``brute_force`` of a spec without groups (``raw``: no skip strategy applied, unsorted)."""
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

    if raw:
        return matches, timed_out
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
