"""``CEP.pattern(keyed_stream, pattern)`` and ``PatternStream``: apply a pattern, then say what a match emits."""

from __future__ import annotations

from typing import Any

from rayflink.cep.functions import PatternProcessFunction
from rayflink.cep.pattern import MalformedPatternException, Pattern, Quantifier
from rayflink.cep.skip import SKIP_TO_FIRST, SKIP_TO_LAST
from rayflink.errors import GraphBuildError
from rayflink.graph.transformations import CepParams, OperatorKind, OperatorSpec


class CEP:
    """Entry point of complex event processing.

    >>> alerts = CEP.pattern(events.key_by(lambda e: e["user"]), fraud).select(lambda m: m["purchase"][0])
    """

    @staticmethod
    def pattern(input: Any, pattern: Pattern, comparator: Any = None) -> "PatternStream":
        """Detect ``pattern`` in ``input`` (per key on a KeyedStream, else over the whole stream).

        ``comparator(a, b) -> int`` orders events with equal timestamps (default: arrival order).
        Raises ``MalformedPatternException`` when the pattern cannot be compiled.
        """
        validate(pattern)
        return PatternStream(input, pattern, comparator)


def validate(pattern: Any) -> None:
    """Build-time checks of a whole pattern (those of single stages run as it is built)."""
    if not isinstance(pattern, Pattern):
        raise MalformedPatternException(f"empty pattern: CEP.pattern() needs a Pattern built with "
                                        f"Pattern.begin(name), got {type(pattern).__name__}")
    stages = pattern.stages()
    negations = (Quantifier.NOT_NEXT, Quantifier.NOT_FOLLOW)
    takers = [p for p in stages if p.quantifier.consuming_strategy not in negations]
    if all(p.quantifier.optional for p in takers):
        raise MalformedPatternException(f"empty pattern {pattern!r}: every stage is optional, so it would match "
                                        f"no events; make {takers[0]._what()} mandatory")
    last = stages[-1]
    if last.quantifier.consuming_strategy == Quantifier.NOT_FOLLOW and pattern.get_window_size() is None:
        raise MalformedPatternException(f"stage {last.name!r}: a pattern ending in not_followed_by() needs "
                                        "within(...): the absence is only known once the time is up")
    skip = pattern.get_after_match_skip_strategy()
    if skip.kind in (SKIP_TO_FIRST, SKIP_TO_LAST) and skip.pattern_name not in [
            p.name for p in pattern.leaf_stages() if p.quantifier.consuming_strategy not in negations]:
        raise MalformedPatternException(f"after-match skip strategy {skip.kind}({skip.pattern_name!r}): no stage "
                                        f"of that name in {pattern!r}")


class _SelectAdapter(PatternProcessFunction):
    """Runs select/flat_select (and their timeout functions) as a PatternProcessFunction."""

    def __init__(self, fn: Any, flat: bool, timeout_tag: Any = None, timeout_fn: Any = None) -> None:
        self.fn = fn
        self.flat = flat
        self.timeout_tag = timeout_tag
        self.timeout_fn = timeout_fn


class PatternStream:
    """A pattern applied to a stream; ``select``/``flat_select``/``process`` say what a match emits."""

    def __init__(self, input: Any, pattern: Pattern, comparator: Any = None) -> None:
        self._input = input
        self._pattern = pattern
        self._comparator = comparator
        self._processing_time = False
        self._late_tag: Any = None

    def in_processing_time(self) -> "PatternStream":
        """Match events in arrival order, with ``within`` measured on the wall clock."""
        self._processing_time = True
        return self

    def in_event_time(self) -> "PatternStream":
        """(default) Match events in timestamp order as the watermark passes them."""
        self._processing_time = False
        return self

    def side_output_late_data(self, output_tag: Any) -> "PatternStream":
        """Emit events that arrive behind the watermark to ``output_tag`` instead of dropping them."""
        self._late_tag = output_tag
        return self

    def process(self, pattern_process_function: Any, output_type: Any = None) -> Any:
        """Run a ``PatternProcessFunction`` on every match (and, if it is a ``TimedOutPartialMatchHandler``,
        on every timed-out partial match)."""
        if not callable(getattr(pattern_process_function, "process_match", None)):
            raise GraphBuildError(f"process(): expected a PatternProcessFunction, got "
                                  f"{type(pattern_process_function).__name__}")
        return self._build(pattern_process_function, output_type)

    def select(self, *args: Any, output_type: Any = None) -> Any:
        """``select(fn)`` or ``select(timeout_tag, timeout_fn, fn)``: one value per match.

        ``fn`` is ``lambda match: ...`` or a PatternSelectFunction; ``timeout_fn(match, timestamp)``
        turns a timed-out partial match into a value of the side output ``timeout_tag``.
        """
        return self._select(args, False, output_type)

    def flat_select(self, *args: Any, output_type: Any = None) -> Any:
        """``flat_select(fn)`` or ``flat_select(timeout_tag, timeout_fn, fn)``: ``fn(match, out)``."""
        return self._select(args, True, output_type)

    def _select(self, args: tuple, flat: bool, output_type: Any) -> Any:
        method = "flat_select" if flat else "select"
        if len(args) == 1:
            tag, timeout_fn, fn = None, None, args[0]
        elif len(args) == 3:
            tag, timeout_fn, fn = args
        elif len(args) == 2 and not callable(args[1]) and not hasattr(args[1], method):
            fn, output_type = args  # select(fn, output_type)
            tag = timeout_fn = None
        else:
            raise GraphBuildError(f"{method}(): takes (fn) or (timeout_tag, timeout_fn, fn), got {len(args)} "
                                  "arguments")
        fn = getattr(fn, method, fn)
        if not callable(fn):
            raise GraphBuildError(f"{method}(): expected a function of the match, got {type(fn).__name__}")
        if timeout_fn is not None:
            timeout_fn = getattr(timeout_fn, "timeout", timeout_fn)
        return self._build(_SelectAdapter(fn, flat, tag, timeout_fn), output_type)

    def _build(self, function: Any, output_type: Any) -> Any:
        from rayflink.datastream.data_stream import KeyedStream

        params = CepParams(pattern=self._pattern, function=function, processing_time=bool(self._processing_time),
                           late_tag=self._late_tag, comparator=self._comparator)
        spec = OperatorSpec(OperatorKind.CEP, params)
        stream = self._input
        if isinstance(stream, KeyedStream):
            return stream._keyed("CepOperator", spec, output_type)
        # Flink runs a non-keyed pattern in one subtask, as one key
        keyed = stream.key_by(_whole_stream)
        out = keyed._keyed("GlobalCepOperator", spec, output_type)
        out._t.parallelism = 1
        return out

    inProcessingTime = in_processing_time
    inEventTime = in_event_time
    sideOutputLateData = side_output_late_data
    flatSelect = flat_select


def _whole_stream(value: Any) -> int:
    return 0
