"""The CEP operator in-process: build-time errors, late data, checkpoint/restore and rescale of partial matches."""

from __future__ import annotations

import pickle
import tempfile

import pytest

from rayflink.cep import CEP, AfterMatchSkipStrategy, MalformedPatternException, Pattern
from rayflink.cep.cep import _SelectAdapter
from rayflink.common import Time
from rayflink.datastream import OutputTag, StreamExecutionEnvironment
from rayflink.errors import JobExecutionError
from rayflink.graph.transformations import CepParams, OperatorKind, OperatorSpec
from rayflink.operators.cep_nfa import KeyState
from rayflink.runtime.operator import OperatorContext
from rayflink.runtime.registry import create_operator

LATE = OutputTag("late")
TIMED_OUT = OutputTag("timed-out")


class _Sink:
    def __init__(self) -> None:
        self.values: list = []

    def emit(self, values, timestamps) -> None:
        self.values.extend(values)

    def emit_watermark(self, watermark) -> None:
        pass


def make_op(pattern, subtask: int = 0, parallelism: int = 1):
    ctx = OperatorContext(name="cep", uid="cep-uid", subtask_index=subtask, parallelism=parallelism,
                          max_parallelism=128, attempt=0, config={}, state_key_selectors=(lambda e: e[0],),
                          working_dir=tempfile.mkdtemp())
    fn = _SelectAdapter(lambda m: tuple(e[2] for evs in m.values() for e in evs), False, TIMED_OUT,
                        lambda m, ts: ("timeout", tuple(e[2] for evs in m.values() for e in evs)))
    op = create_operator(OperatorSpec(OperatorKind.CEP, CepParams(pattern, fn, late_tag=LATE)), ctx)
    main, late, timed_out = _Sink(), _Sink(), _Sink()
    op.output.add(main)
    op.output.add(late, LATE)
    op.output.add(timed_out, TIMED_OUT)
    op.open()
    return op, main, late, timed_out


def abc_within(ms: int = 100):
    return (Pattern.begin("a").where(lambda e, _: e[1] == "a").followed_by("b").where(lambda e, _: e[1] == "b")
            .followed_by("c").where(lambda e, _: e[1] == "c").within(ms))


def feed(op, events) -> None:
    """events: (key, kind, id, ts)."""
    op.process_batch([e[:3] for e in events], [e[3] for e in events], 0)


# ---- build-time errors name the stage -----------------------------------------------------------

def test_build_errors_name_the_stage():
    with pytest.raises(MalformedPatternException, match="empty pattern"):
        CEP.pattern(StreamExecutionEnvironment.get_execution_environment().from_collection([1]), None)
    with pytest.raises(MalformedPatternException, match="empty pattern"):
        Pattern.begin("")
    with pytest.raises(MalformedPatternException, match="empty pattern.*'x'.*mandatory"):
        CEP.pattern(None, Pattern.begin("x").optional())
    with pytest.raises(MalformedPatternException, match="stage 'no_b'.*times.*not_next"):
        Pattern.begin("a").not_next("no_b").times(2)
    with pytest.raises(MalformedPatternException, match="stage 'no_b'.*optional.*not_followed_by"):
        Pattern.begin("a").not_followed_by("no_b").optional()
    with pytest.raises(MalformedPatternException, match="stage 'a'.*within.*positive.*0 ms"):
        Pattern.begin("a").within(Time.seconds(0))
    with pytest.raises(MalformedPatternException, match="stage 'b'.*-5"):
        Pattern.begin("a").followed_by("b").within(-5)
    with pytest.raises(MalformedPatternException, match="stage 'a': duplicate stage name"):
        Pattern.begin("a").next("b").followed_by("a")
    with pytest.raises(MalformedPatternException, match="stage 'no_c'.*within"):
        CEP.pattern(None, Pattern.begin("a").not_followed_by("no_c"))
    with pytest.raises(MalformedPatternException, match="stage 'a'.*already set"):
        Pattern.begin("a").times(2).one_or_more()


# ---- event time -------------------------------------------------------------------------------------

def test_events_wait_for_the_watermark_and_late_ones_go_to_the_side_output():
    op, main, late, _ = make_op(abc_within())
    feed(op, [("k", "b", 2, 20), ("k", "a", 1, 10)])
    op.process_watermark(15)                        # only a is behind the watermark
    assert main.values == []
    feed(op, [("k", "c", 3, 30), ("k", "a", 9, 14)])   # 14 <= 15: late
    op.process_watermark(40)
    assert main.values == [(1, 2, 3)]
    assert late.values == [("k", "a", 9)]
    assert op.metrics()["live_partial_matches"] == 0  # followed_by takes the next b and c: done


def test_within_prunes_partial_matches_and_reports_them_timed_out():
    op, main, _, timed_out = make_op(abc_within(100))
    feed(op, [(k, "a", i, 10) for i, k in enumerate("xyz")] + [("x", "b", 7, 50)])
    op.process_watermark(60)
    assert op.metrics()["live_partial_matches"] == 3
    op.process_watermark(110)                       # 10 + 100: the window is up
    assert sorted(timed_out.values) == [("timeout", (0, 7)), ("timeout", (1,)), ("timeout", (2,))]
    assert op.metrics()["live_partial_matches"] == 0
    assert op.keyed_backend.keys("_cep-key-state") == []   # no state left behind


# ---- checkpoints ----------------------------------------------------------------------------------------

def test_partial_matches_survive_a_checkpoint_restore_and_a_rescale():
    pattern = abc_within(1000)
    keys = [f"user-{i}" for i in range(40)]
    op, main, _, _ = make_op(pattern)
    feed(op, [(k, "a", (k, 1), 10) for k in keys] + [(k, "b", (k, 2), 20) for k in keys]
         + [(k, "c", (k, 3), 500) for k in keys])   # c still buffered: behind no watermark yet
    op.process_watermark(100)
    assert main.values == []
    snap = pickle.loads(pickle.dumps(op.snapshot_state()))  # as the checkpoint upload would store it
    feed(op, [(keys[0], "c", "after", 600)])        # the snapshot is not changed by later processing
    assert isinstance(pickle.loads(pickle.dumps(snap))["keyed"].states["_cep-key-state"], dict)

    restored = [make_op(pattern, subtask=i, parallelism=2) for i in range(2)]
    for r, *_ in restored:
        r.restore_state([snap])
    live = [r.metrics()["live_partial_matches"] for r, *_ in restored]
    assert sum(live) == 40 and all(live)   # one a-b partial match per key, split by key group
    for r, *_ in restored:
        r.process_watermark(700)
    got = sorted(v for _, m, _, _ in restored for v in m.values)
    assert got == sorted(((k, 1), (k, 2), (k, 3)) for k in keys)


def test_key_state_pickles_flat_and_keeps_shared_prefixes_shared():
    pattern = Pattern.begin("s").where(lambda e, _: e[1] == "s") \
        .followed_by("a").where(lambda e, _: e[1] == "a").one_or_more() \
        .followed_by("b").where(lambda e, _: e[1] == "b")
    op, main, _, _ = make_op(pattern)
    feed(op, [("k", "s", -1, 0)] + [("k", "a", i, i + 1) for i in range(1500)])  # deeper than the recursion limit
    op.process_watermark(5000)
    op.keyed_backend.set_current_key("k")
    ks = op.state.value()
    copy = pickle.loads(pickle.dumps(ks))
    assert isinstance(copy, KeyState) and len(copy.branches) == len(ks.branches) == 1501
    assert len({id(br[1]) for br in copy.branches}) == 1500  # the loop and the wait for b share the last node
    op.process_batch([("k", "b", "end")], [6000], 0)
    op.process_watermark(7000)
    assert len(main.values) == 1500 and max(map(len, main.values)) == 1502


def test_skip_past_last_event_holds_matches_until_earlier_starts_resolve():
    pattern = Pattern.begin("a", AfterMatchSkipStrategy.skip_past_last_event()).where(lambda e, _: e[1] == "a") \
        .one_or_more().followed_by("b").where(lambda e, _: e[1] == "b").within(100)
    op, main, _, _ = make_op(pattern)
    feed(op, [("k", "a", 1, 1), ("k", "a", 2, 2), ("k", "b", 3, 3), ("k", "a", 4, 4), ("k", "b", 5, 5)])
    op.process_watermark(10)
    assert main.values == []           # a@1's loop could still grow: matches wait
    op.process_watermark(200)
    assert main.values == [(1, 2, 3), (4, 5)]


def test_iterative_condition_sees_the_events_already_matched():
    from rayflink.cep import IterativeCondition, SimpleCondition

    class IsA(SimpleCondition):
        def filter(self, value):
            return value[1] == "a"

    class Rising(IterativeCondition):
        def filter(self, value, ctx):
            prev = ctx.get_events_for_pattern("up")
            return value[1] == "a" and (not prev or value[2] > prev[-1][2])

    pattern = Pattern.begin("up").where(IsA()).where(Rising()).times(3).consecutive()
    op, main, _, _ = make_op(pattern)
    feed(op, [("k", "a", v, t) for t, v in enumerate([1, 5, 3, 4, 6, 2])])
    op.process_watermark(100)
    assert main.values == [(3, 4, 6)]


def test_the_missing_timestamp_message_names_the_cep_operator_once():
    op, *_ = make_op(abc_within())
    with pytest.raises(JobExecutionError) as failure:
        op.process_batch([("k", "a", 1)], None, 0)
    message = str(failure.value)
    assert message.startswith("CEP operator 'cep' (uid 'cep-uid', subtask 1/1): record ('k', 'a', 1) has no event "
                              "timestamp")
    assert "operator operator" not in message
