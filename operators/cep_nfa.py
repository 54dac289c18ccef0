"""The CEP matcher: a pattern compiled into branch templates, and the NFA that runs them per key.

A *partial match* is a path of taken events, stored as immutable linked nodes
``(previous, stage, event_id, timestamp, event)``: partial matches that share a prefix share its
nodes (Flink's SharedBuffer, without reference counting: Python frees unreachable nodes).
A *branch* ``(template id, node, start timestamp, start event id)`` is one way a partial match
can continue; its template says which stage the next taken event belongs to, how events that
are not taken may be skipped (contiguity), and the negations that guard it.

Semantics (what ``tests/cep/brute_force.py`` enumerates): a match takes events in order, stage by
stage, each stage between its minimum and maximum count (or none if optional); an event taken
satisfies its stage's condition (and not its ``until``); between two taken events, the skipped
events must be allowed by the contiguity of the second one's stage (its outer contiguity for a
stage's first event, inner otherwise): strict allows none, relaxed only events that fail its
condition, any allows all; an ``until`` event also ends a loop. ``not_next`` forbids a matching
event right after the previous taken one, ``not_followed_by`` between the two taken events
around it (or, at the end of a pattern, until ``within`` is up); a greedy loop can only be left
on an event it could not take. The last event is at most ``within`` after the first.

Groups (``GroupPattern``) repeat a sequence of stages: a template also counts the iterations done of
each enclosing group (clamped like a stage's count), so the template set stays finite. A group's
first stage takes the group's contiguity on the first iteration and the group's inner contiguity
(``consecutive``/``allow_combinations``) on later ones; an optional group may be skipped as a whole.
Departures from Flink, by choice: the first stage of a group keeps its own inner contiguity for its
own loop (Flink gives it the group's); ``until`` on a group and a group ending in a negation are
refused at build time (Flink accepts them with partial effect); every group iteration takes at
least one event (a group of only optional stages is refused); ``greedy`` on a group is refused, as
in Flink.
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Callable
from typing import Any

from rayflink.cep.conditions import Context, IterativeCondition, SimpleCondition
from rayflink.cep.pattern import GroupPattern, MalformedPatternException, Pattern, Quantifier
from rayflink.cep.skip import NO_SKIP, SKIP_PAST_LAST_EVENT, SKIP_TO_FIRST, SKIP_TO_NEXT

STRICT, NEXT, ANY = 0, 1, 2
_CONTIGUITY = {Quantifier.STRICT: STRICT, Quantifier.SKIP_TILL_NEXT: NEXT, Quantifier.SKIP_TILL_ANY: ANY}
INF = float("inf")


# ---------------------------------------------------------------------------- conditions

def _uses_second_argument(fn: Callable) -> bool:
    """Whether a two-argument function reads its second argument (the context)."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_argcount < 2:
        return True
    name = code.co_varnames[1]
    if name in code.co_cellvars:
        return True
    return any(ins.opname.startswith("LOAD_FAST") and name in (ins.argval if isinstance(ins.argval, tuple)
                                                                 else (ins.argval,))
               for ins in dis.get_instructions(fn))


def _leaf(cond: Any) -> tuple[Callable[[Any, Any], bool], bool]:
    """``(fn(event, ctx) -> bool, uses_ctx)`` of a user condition."""
    if isinstance(cond, SimpleCondition):
        f = cond.filter
        return (lambda e, ctx: f(e)), False
    if isinstance(cond, IterativeCondition):
        return cond.filter, True
    try:
        params = [p for p in inspect.signature(cond).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        params = [None, None]
    if len(params) == 1 and params[0].kind != params[0].VAR_POSITIONAL:
        return (lambda e, ctx: cond(e)), False
    return cond, _uses_second_argument(cond)


def compile_condition(tree: Any) -> tuple[Callable[[Any, Any], bool], bool]:
    """The condition tree a Pattern recorded (where/or_) as one callable."""
    if tree is None:
        return (lambda e, ctx: True), False
    if tree[0] == "leaf":
        return _leaf(tree[1])
    (a, ua), (b, ub) = compile_condition(tree[1]), compile_condition(tree[2])
    if tree[0] == "and":
        return (lambda e, ctx: bool(a(e, ctx)) and bool(b(e, ctx))), ua or ub
    return (lambda e, ctx: bool(a(e, ctx)) or bool(b(e, ctx))), ua or ub


# ---------------------------------------------------------------------------- compiled pattern

class Stage:
    """A stage that takes events: its condition, counts and contiguities, and where it sits."""

    __slots__ = ("index", "name", "cond", "until", "min", "max", "optional", "outer", "inner", "greedy",
                 "seq", "pos", "take_guard")

    def __init__(self, index: int, p: Pattern, seq: "Seq", pos: int) -> None:
        q = p.quantifier
        self.index = index
        self.name = p.name
        self.cond = compile_condition(p.condition)[0]
        self.until = compile_condition(p.until_condition)[0] if p.until_condition is not None else None
        self.min = q.times_from
        self.max = q.times_to  # None: unbounded
        self.optional = q.optional
        self.outer = _CONTIGUITY[q.consuming_strategy]
        self.inner = _CONTIGUITY[q.inner_consuming_strategy]
        self.greedy = q.greedy
        self.seq = seq   # the sequence the stage belongs to (the pattern's, or a group's)
        self.pos = pos   # its place in that sequence
        self.take_guard = self.take  # one object, so templates guarded by it compare equal

    def take(self, event: Any, ctx: Any) -> bool:
        return bool(self.cond(event, ctx)) and not (self.until is not None and self.until(event, ctx))


class Group:
    """A group of stages (``GroupPattern``): its sequence, how often it repeats, its contiguities."""

    __slots__ = ("seq", "min", "max", "optional", "outer", "inner", "parent", "pos")

    def __init__(self, p: GroupPattern, parent: "Seq", pos: int) -> None:
        q = p.quantifier
        self.min = q.times_from
        self.max = q.times_to
        self.optional = q.optional
        self.outer = _CONTIGUITY[q.consuming_strategy]
        self.inner = _CONTIGUITY[q.inner_consuming_strategy]
        self.parent = parent
        self.pos = pos
        self.seq: Seq = None  # type: ignore[assignment]


class Seq:
    """A sequence of stages and groups, with the negations between them (``negs_before[t]``: those
    between item t-1 and item t; t == len(items): after the last)."""

    __slots__ = ("items", "negs_before", "group")

    def __init__(self, group: Group | None) -> None:
        self.items: list = []
        self.negs_before: list[list[tuple[str, Callable]]] = [[]]
        self.group = group


class Template:
    """What one branch of a partial match waits for (see the module docstring)."""

    __slots__ = ("id", "stage", "k", "contiguity", "guards", "absence", "final", "twin", "take_tids",
                 "take_final", "ignore_until", "counts")

    def __init__(self, tid: int, stage: Stage | None, k: int, counts: tuple, contiguity: int, guards: tuple,
                 absence: tuple) -> None:
        self.id = tid
        self.stage = stage
        self.k = k
        self.counts = counts      # iterations done of each enclosing group, outermost first
        self.final = stage is None
        self.contiguity = contiguity
        self.ignore_until = stage.until if stage is not None and k > 0 else None
        self.guards = guards      # checked on the first event after the last take: true kills the branch
        self.absence = absence    # checked on every skipped event: true kills the branch
        self.twin = tid           # the same template once the guards have passed
        self.take_tids: tuple = ()
        self.take_final = False


class CompiledPattern:
    """The templates of a pattern, built once per operator (ids are stable across restores)."""

    def __init__(self, pattern: Pattern) -> None:
        from rayflink.cep.cep import validate

        validate(pattern)
        self.pattern = pattern
        self.window = pattern.get_window_size()
        self.skip = pattern.get_after_match_skip_strategy()
        self.stages: list[Stage] = []
        self.top = self._sequence(pattern, None)
        self.names = [s.name for s in self.stages]
        self.templates: list[Template] = []
        self._by_key: dict[tuple, Template] = {}
        self.start_tids, _ = self._entries(self.top, 0, (), None, (), ())
        todo = list(self.templates)
        done: set[int] = set()
        while todo:
            t = todo.pop()
            if t.id in done or t.final:
                continue
            done.add(t.id)
            s = t.stage
            c = self._clamp(s, t.k + 1)
            t.take_tids, t.take_final = self._after_take(s, c, t.counts)
            todo.extend(self.templates[i] for i in t.take_tids)
            todo.append(self.templates[t.twin])

    def _sequence(self, last: Pattern, group: Group | None) -> Seq:
        seq = Seq(group)
        for p in last.stages():
            cs = p.quantifier.consuming_strategy
            if isinstance(p, GroupPattern):
                g = Group(p, seq, len(seq.items))
                seq.items.append(g)
                g.seq = self._sequence(p.raw, g)
            elif cs in (Quantifier.NOT_NEXT, Quantifier.NOT_FOLLOW):
                if not seq.items:
                    raise MalformedPatternException(f"stage {p.name!r}: a pattern cannot begin with a negation")
                seq.negs_before[-1].append(("next" if cs == Quantifier.NOT_NEXT else "follow",
                                            compile_condition(p.condition)[0]))
                continue
            else:
                st = Stage(len(self.stages), p, seq, len(seq.items))
                self.stages.append(st)
                seq.items.append(st)
            seq.negs_before.append([])
        return seq

    @staticmethod
    def _clamp(s: "Stage | Group", c: int) -> int:
        return c if s.max is not None else min(c, s.min)

    def _template(self, stage: Stage | None, k: int, counts: tuple, contiguity: int, guards: tuple,
                  absence: tuple) -> Template:
        key = (None if stage is None else stage.index, k, counts, contiguity, tuple(map(id, guards)),
               tuple(map(id, absence)))
        t = self._by_key.get(key)
        if t is None:
            t = self._by_key[key] = Template(len(self.templates), stage, k, counts, contiguity, guards, absence)
            self.templates.append(t)
            if guards:
                t.twin = self._template(stage, k, counts, contiguity, (), absence).id
        return t

    def _after_take(self, s: Stage, c: int, counts: tuple) -> tuple[tuple, bool]:
        """Where a branch goes once stage ``s`` took its ``c``-th (clamped) event."""
        more = s.max is None or c < s.max
        out: tuple = ()
        if more:
            out = (self._template(s, c, counts, s.inner, (), ()).id,)
        if c < s.min:
            return out, False
        guards = (s.take_guard,) if s.greedy and more else ()
        tids, final_now = self._entries(s.seq, s.pos + 1, counts, None, guards, (), s.name)
        return out + tids, final_now

    def _entries(self, seq: Seq, t: int, counts: tuple, contiguity: int | None, guards: tuple, absence: tuple,
                 after: str = "") -> tuple[tuple, bool]:
        """The templates that can take the next event from item ``t`` of ``seq`` on (skipping optional
        items, leaving or repeating groups at the end of theirs), and whether the match is complete.
        ``contiguity``: that of item ``t`` when inherited from the group it begins."""
        out: list[int] = []
        while True:
            for kind, cond in seq.negs_before[t]:
                if kind == "next":
                    guards = guards + (cond,)
                else:
                    absence = absence + (cond,)
            if t == len(seq.items):
                g = seq.group
                if g is None:
                    if absence and self.window is None:
                        raise MalformedPatternException(
                            f"stage {after!r}: the pattern can end in not_followed_by() after it, "
                            "which needs within(...): the absence is only known once the time is up")
                    if guards or absence:
                        out.append(self._template(None, 0, (), -1, guards, absence).id)
                        return tuple(out), False
                    return tuple(out), True
                done = counts[-1] + 1
                final_now = False
                if g.max is None or done < g.max:
                    tids, _ = self._entries(g.seq, 0, counts[:-1] + (self._clamp(g, done),), g.inner, guards,
                                            absence, after)
                    out.extend(tids)
                if done >= g.min:
                    tids, final_now = self._entries(g.parent, g.pos + 1, counts[:-1], None, guards, absence, after)
                    out.extend(tids)
                return tuple(out), final_now
            item = seq.items[t]
            c = item.outer if contiguity is None else contiguity
            if isinstance(item, Stage):
                out.append(self._template(item, 0, counts, c, guards, absence).id)
            else:
                out.extend(self._entries(item.seq, 0, counts + (0,), c, guards, absence, after)[0])
            if not item.optional:
                return tuple(out), False
            t += 1
            contiguity = None


# ---------------------------------------------------------------------------- per-key state

def _none_holds(conditions: list, event: Any, ctx: Any) -> bool:
    """True when none of ``conditions`` (a stage's absences) holds for ``event``."""
    for condition in conditions:
        if condition(event, ctx):
            return False
    return True


def _rebuild(flat: list, branches: list, pending: list | None, buffer: list, next_id: int,
             timer: int | None, buf_min: int | None = None) -> "KeyState":
    nodes: list = []
    for prev, stage, eid, ts, event in flat:
        nodes.append((None if prev < 0 else nodes[prev], stage, eid, ts, event))
    ks = KeyState()
    ks.branches = [(tid, nodes[n], st, sid) for tid, n, st, sid in branches]
    ks.pending = None if pending is None else [(k, nodes[n]) for k, n in pending]
    ks.buffer = buffer
    ks.next_id = next_id
    ks.timer = timer
    ks.buf_min = buf_min
    return ks


class KeyState:
    """One key's CEP state: live branches, matches held back by a skip strategy, buffered events.

    Pickles flat (nodes listed once, referenced by index), so shared prefixes stay shared and long
    loops do not recurse.
    """

    __slots__ = ("branches", "pending", "buffer", "buf_min", "next_id", "timer")

    def __init__(self) -> None:
        self.branches: list[tuple] = []
        self.pending: list | None = None   # [((start id, end id, ids, stages), node)]: held by a skip strategy
        self.buffer: list[tuple] = []      # event time: [(timestamp, event)] not yet behind the watermark
        self.buf_min: int | None = None    # the smallest timestamp in the buffer
        self.next_id = 0
        self.timer: int | None = None      # when the operator looks at this key again for timeouts

    def is_empty(self) -> bool:
        return not self.branches and not self.pending and not self.buffer

    def frozen(self) -> "KeyState":
        """A copy that later processing does not change (nodes are immutable, so shallow)."""
        ks = KeyState()
        ks.branches = list(self.branches)
        ks.pending = None if self.pending is None else list(self.pending)
        ks.buffer = list(self.buffer)
        ks.next_id, ks.timer, ks.buf_min = self.next_id, self.timer, self.buf_min
        return ks

    def __reduce__(self) -> tuple:
        index: dict[int, int] = {}
        flat: list = []

        def ref(node: Any) -> int:
            chain = []
            n = node
            while n is not None and id(n) not in index:
                chain.append(n)
                n = n[0]
            for n in reversed(chain):
                index[id(n)] = len(flat)
                flat.append((-1 if n[0] is None else index[id(n[0])], n[1], n[2], n[3], n[4]))
            return index[id(node)]

        branches = [(tid, ref(node), st, sid) for tid, node, st, sid in self.branches]
        pending = None if self.pending is None else [(k, ref(node)) for k, node in self.pending]
        return _rebuild, (flat, branches, pending, list(self.buffer), self.next_id, self.timer, self.buf_min)


# ---------------------------------------------------------------------------- matching

class ConditionContext(Context):
    """The ``ctx`` of a condition: the partial match it would extend."""

    __slots__ = ("node", "names", "ts", "clock")

    def __init__(self, names: list[str], clock: Callable[[], int]) -> None:
        self.node: Any = None
        self.names = names
        self.ts: int | None = None
        self.clock = clock

    def get_events_for_pattern(self, name: str) -> list:
        try:
            idx = self.names.index(name)
        except ValueError:
            return []
        out = []
        n = self.node
        while n is not None:
            if n[1] == idx:
                out.append(n[4])
            n = n[0]
        out.reverse()
        return out

    getEventsForPattern = get_events_for_pattern

    def timestamp(self) -> int | None:
        return self.ts

    def current_processing_time(self) -> int:
        return self.clock()


def path(node: Any) -> list[tuple]:
    """The nodes of a partial match, first to last."""
    out = []
    while node is not None:
        out.append(node)
        node = node[0]
    out.reverse()
    return out


class NFA:
    """Runs a compiled pattern over one key's events at a time.

    ``process(ks, ts, event, out)`` feeds the next event (in timestamp order); ``advance(ks, t, out)``
    lets time pass (``within`` timeouts). Results are appended to ``out`` as ``(kind, match, ts)``
    with kind ``MATCH`` or ``TIMED_OUT`` and match ``{stage name: [events]}``.
    """

    MATCH = 0
    TIMED_OUT = 1

    def __init__(self, compiled: CompiledPattern, clock: Callable[[], int]) -> None:
        self.c = compiled
        self.templates = compiled.templates
        self.window = compiled.window
        self.names = compiled.names
        self.ctx = ConditionContext(compiled.names, clock)
        skip = compiled.skip
        self.skip = skip.kind != NO_SKIP
        self.skip_kind = skip.kind
        self.skip_stage = compiled.names.index(skip.pattern_name) if skip.pattern_name in compiled.names else -1
        self.skip_throw = skip.throw_on_miss
        self.start = [compiled.templates[t] for t in compiled.start_tids]

    def materialize(self, node: Any) -> dict[str, list]:
        names = self.names
        out: dict[str, list] = {}
        for n in path(node):
            name = names[n[1]]
            lst = out.get(name)
            if lst is None:
                out[name] = [n[4]]
            else:
                lst.append(n[4])
        return out

    def process(self, ks: KeyState, ts: int, event: Any, out: list) -> None:
        eid = ks.next_id
        ks.next_id = eid + 1
        templates = self.templates
        window = self.window
        ctx = self.ctx
        ctx.ts = ts
        new: list = []
        matches: list = []  # (node, start id, timestamp)
        timed_out: list = []
        for br in ks.branches:
            if window is not None and ts - br[2] >= window:
                timed_out.append(br)
                continue
            tmpl = templates[br[0]]
            node = br[1]
            ctx.node = node
            if tmpl.guards:
                dead = False
                for g in tmpl.guards:
                    if g(event, ctx):
                        dead = True
                        break
                if dead:
                    continue
                tmpl = templates[tmpl.twin]
            if tmpl.final:
                if not tmpl.absence:
                    matches.append((node, br[3], ts))
                elif _none_holds(tmpl.absence, event, ctx):
                    new.append((tmpl.id, node, br[2], br[3]))
                continue
            stage = tmpl.stage
            hit = stage.cond(event, ctx)
            until = stage.until
            if hit and (until is None or not until(event, ctx)):
                taken = (node, stage.index, eid, ts, event)
                for tid in tmpl.take_tids:
                    new.append((tid, taken, br[2], br[3]))
                if tmpl.take_final:
                    matches.append((taken, br[3], ts))
            contiguity = tmpl.contiguity
            if contiguity == ANY or (contiguity == NEXT and not hit):
                iu = tmpl.ignore_until
                if iu is not None and iu(event, ctx):
                    continue
                if not tmpl.absence or _none_holds(tmpl.absence, event, ctx):
                    new.append((tmpl.id, node, br[2], br[3]))
        ctx.node = None
        for tmpl in self.start:
            stage = tmpl.stage
            if stage.cond(event, ctx) and (stage.until is None or not stage.until(event, ctx)):
                taken = (None, stage.index, eid, ts, event)
                for tid in tmpl.take_tids:
                    new.append((tid, taken, ts, eid))
                if tmpl.take_final:
                    matches.append((taken, eid, ts))
        ks.branches = new
        if timed_out:
            matches.extend(self._time_out(timed_out, out))
        if matches or (self.skip and ks.pending):
            self._matched(ks, matches, ts, out)

    def advance(self, ks: KeyState, t: int, out: list) -> None:
        """Time passed ``t`` (a watermark, or the clock): branches older than ``within`` time out."""
        window = self.window
        if window is None or not ks.branches:
            return
        keep, gone = [], []
        for br in ks.branches:
            (gone if t - br[2] >= window else keep).append(br)
        if gone:
            ks.branches = keep
            finals = self._time_out(gone, out)
            if finals or (self.skip and ks.pending):
                self._matched(ks, finals, t, out)

    def _time_out(self, gone: list, out: list) -> list:
        """Report timed-out partial matches (once per path); return the matches of patterns that end
        in not_followed_by, whose time is now up without the forbidden event."""
        window = self.window
        templates = self.templates
        seen: set[int] = set()
        finals = []
        for tid, node, start_ts, sid in gone:
            tmpl = templates[tid]
            if tmpl.final and not tmpl.guards:
                finals.append((node, sid, start_ts + window))
            elif id(node) not in seen:
                seen.add(id(node))
                out.append((NFA.TIMED_OUT, self.materialize(node), start_ts + window))
        return finals

    # ---- after-match skip --------------------------------------------------------------------

    def _matched(self, ks: KeyState, matches: list, ts: int, out: list) -> None:
        if not self.skip:
            for node, _sid, mts in matches:
                out.append((NFA.MATCH, self.materialize(node), mts))
            return
        pending = ks.pending
        if pending is None:
            pending = ks.pending = []
        for node, sid, _mts in matches:
            nodes = path(node)
            ids = tuple(n[2] for n in nodes)
            pending.append(((sid, ids[-1], ids, tuple(n[1] for n in nodes)), node))
        while pending:
            best = min(range(len(pending)), key=lambda i: pending[i][0])
            sid, node = pending[best][0][0], pending[best][1]
            if ks.branches and min(br[3] for br in ks.branches) <= sid:
                break  # an earlier (or same) start is still alive: wait for it
            pending.pop(best)
            out.append((NFA.MATCH, self.materialize(node), ts))
            self._prune(ks, node)
        if not pending:
            ks.pending = None

    def _prune(self, ks: KeyState, node: Any) -> None:
        nodes = path(node)
        kind = self.skip_kind
        if kind == SKIP_TO_NEXT:
            pid, strict = nodes[0][2], False
        elif kind == SKIP_PAST_LAST_EVENT:
            pid, strict = nodes[-1][2], False
        else:
            ids = [n[2] for n in nodes if n[1] == self.skip_stage]
            if not ids:
                if self.skip_throw:
                    raise RuntimeError(f"after-match skip strategy {kind}({self.names[self.skip_stage]!r}): "
                                       "the match has no event for that stage")
                return
            pid, strict = (ids[0] if kind == SKIP_TO_FIRST else ids[-1]), True
        if strict:
            ks.branches = [br for br in ks.branches if not br[3] < pid]
            if ks.pending:
                ks.pending[:] = [m for m in ks.pending if not m[0][0] < pid]
        else:
            ks.branches = [br for br in ks.branches if not br[3] <= pid]
            if ks.pending:
                ks.pending[:] = [m for m in ks.pending if not m[0][0] <= pid]
