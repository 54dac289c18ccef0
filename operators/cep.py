"""The keyed CEP operator: buffers events until the watermark passes them, runs the NFA per key.

Each key's partial matches and buffered events are one keyed ``ValueState`` (a ``KeyState``), so
they checkpoint, restore and rescale by key group like any other state. The operator's timers —
when a key's oldest buffered event is passed by the watermark, when its oldest partial match runs
out of ``within`` time — are derived from that state: a heap of ``(time, key)`` kept in memory,
entries checked against the state when they come due (stale ones cost one lookup), and rebuilt
from the keyed state on restore. So a checkpoint holds no separate timer state.
"""

from __future__ import annotations

import bisect
import functools
import heapq
from operator import itemgetter
from typing import Any

from rayflink.cep.cep import _SelectAdapter
from rayflink.clock import current_time_ms
from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.errors import JobExecutionError, truncate
from rayflink.graph.transformations import CepParams, OperatorKind
from rayflink.operators.cep_nfa import NFA, CompiledPattern, KeyState
from rayflink.operators.functions import close_function, open_function, positional_arity, side_output
from rayflink.runtime.operator import NO_RECORD, OneInputStreamOperator
from rayflink.runtime.output import TimestampedCollector
from rayflink.runtime.registry import register_operator
from rayflink.state.backend import KeyedStateSnapshot

STATE = "_cep-key-state"
MAX_TIMESTAMP = 2**63 - 1
_ts_of = itemgetter(0)


class PatternContext:
    """The ``ctx`` of ``process_match`` / ``process_timed_out_match``."""

    __slots__ = ("_op", "_key")

    def __init__(self, op: "CepOperator") -> None:
        self._op = op
        self._key: Any = None

    def timestamp(self) -> int | None:
        return self._op.collector.timestamp

    def current_processing_time(self) -> int:
        return self._op.clock()

    def current_watermark(self) -> int:
        return self._op.current_watermark

    def get_current_key(self) -> Any:
        return self._key

    def output(self, output_tag: OutputTag, value: Any) -> None:
        side_output(self._op.ctx, self._op.collector, output_tag, value)


@register_operator(OperatorKind.CEP)
class CepOperator(OneInputStreamOperator):
    """Runs ``CEP.pattern(keyed_stream, pattern).select/flat_select/process(...)`` (see ``CepParams``)."""

    params: CepParams

    def open(self) -> None:
        p = self.params
        self.clock = current_time_ms
        try:
            self.compiled = CompiledPattern(p.pattern)
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what="compiling the pattern") from exc
        self.nfa = NFA(self.compiled, self.clock)
        self.window = self.compiled.window
        self.processing_time = bool(p.processing_time)
        self.late_tag: OutputTag | None = p.late_tag
        comparator = p.comparator
        self.sort_key = (_ts_of if comparator is None else
                         (lambda item, k=functools.cmp_to_key(comparator): (item[0], k(item[1]))))  # noqa: B008 - made once
        self.keyed_backend = self.keyed_state_backend()
        self.state = self.keyed_backend.get_partitioned_state(ValueStateDescriptor(STATE, None))
        self.due: list[tuple[int, Any]] = []  # heap of (time, key): event time, or the clock in processing time
        self.selector = self.ctx.state_key_selectors[0]
        self.function = fn = p.function
        open_function(fn, self.ctx, self.runtime_context())
        self.pctx = PatternContext(self)
        self.num_late_records_dropped = 0
        self.live_partials = 0
        self.max_live_partials = 0
        self.collector = TimestampedCollector(self.output)
        self.timeout_collector: TimestampedCollector | None = None
        if isinstance(fn, _SelectAdapter):
            self.on_match = self._select_match
            self.on_timeout = self._select_timeout if fn.timeout_tag is not None else None
            self.select_collects = fn.flat and (positional_arity(fn.fn) >= 2 or positional_arity(fn.fn) == -1)
            if fn.timeout_tag is not None:
                self.timeout_collector = TimestampedCollector(self.output, side_tag=fn.timeout_tag)
        else:
            self.on_match = self._process_match
            handler = getattr(fn, "process_timed_out_match", None)
            self.on_timeout = self._process_timeout if callable(handler) else None
            self.process_collects = positional_arity(fn.process_match) != 2

    def metrics(self) -> dict[str, int | float]:
        return {"live_partial_matches": self.live_partials, "max_live_partial_matches": self.max_live_partials,
                "num_late_records_dropped": self.num_late_records_dropped}

    # ---- records ------------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        try:
            if self.processing_time:
                self._process_now(values)
            else:
                if timestamps is None or None in timestamps:
                    self._missing_timestamp(values, timestamps)
                self._buffer(values, timestamps)
        except JobExecutionError:
            raise
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what="the CEP operator") from exc
        self._flush()

    def _buffer(self, values: list, timestamps: list) -> None:
        """Event time: keep each event in its key's buffer until the watermark passes it."""
        backend, state, selector, due = self.keyed_backend, self.state, self.selector, self.due
        push = heapq.heappush
        wm = self.current_watermark
        late: list[int] = []
        for i, value in enumerate(values):
            ts = timestamps[i]
            if ts <= wm:
                late.append(i)
                continue
            key = selector(value)
            backend.set_current_key(key)
            ks = state.value()
            if ks is None:
                ks = KeyState()
            buf_min = ks.buf_min
            if buf_min is None or ts < buf_min:
                ks.buf_min = ts
                push(due, (ts, key))
            ks.buffer.append((ts, value))
            state.update(ks)
        if late:
            if self.late_tag is not None:
                self.collector.output_all(self.late_tag, [values[i] for i in late], [timestamps[i] for i in late])
            else:
                self.num_late_records_dropped += len(late)

    def _process_now(self, values: list) -> None:
        """Processing time: match in arrival order, stamped with the clock."""
        backend, state, selector, nfa = self.keyed_backend, self.state, self.selector, self.nfa
        out: list = []
        for value in values:
            key = selector(value)
            backend.set_current_key(key)
            ks = state.value() or KeyState()
            before = len(ks.branches)
            now = self.clock()
            nfa.process(ks, now, value, out)
            if out:
                self._emit(key, out)
            self._settle(key, ks, before, now)

    def _missing_timestamp(self, values: list, timestamps: list | None) -> None:
        i = 0 if timestamps is None else timestamps.index(None)
        raise JobExecutionError(
            f"CEP {self.ctx.describe()}: record {truncate(values[i], 100)} has no event timestamp; "
            "assign timestamps with a WatermarkStrategy(...).with_timestamp_assigner(...) or match in "
            "processing time with CEP.pattern(...).in_processing_time()",
            operator=self.ctx.name, uid=self.ctx.uid, subtask=self.ctx.subtask_index, record=truncate(values[i]))

    # ---- time ---------------------------------------------------------------------------

    def process_watermark(self, watermark: int) -> None:
        self.current_watermark = watermark
        if self.due and self.due[0][0] <= watermark and not self.processing_time:
            self._fire_due(watermark)
        self.output.emit_watermark(watermark)

    def _fire_due(self, now: int) -> None:
        try:
            self._run_due(now)
        except JobExecutionError:
            raise
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what="the CEP operator") from exc
        self._flush()

    def _run_due(self, now: int) -> None:
        """Run every key with a buffered event or a ``within`` deadline at or before ``now``."""
        backend, state, nfa, due = self.keyed_backend, self.state, self.nfa, self.due
        pop = heapq.heappop
        sort_key = self.sort_key
        out: list = []
        while due and due[0][0] <= now:
            key = pop(due)[1]
            backend.set_current_key(key)
            ks = state.value()
            if ks is None:
                continue  # a stale entry of a key whose state is gone
            before = len(ks.branches)
            buf_min = ks.buf_min
            if buf_min is not None and buf_min <= now:
                buf = ks.buffer
                if len(buf) > 1:
                    buf.sort(key=sort_key)
                if buf[-1][0] <= now:
                    ready, ks.buffer, ks.buf_min = buf, [], None
                else:
                    cut = bisect.bisect_right(buf, now, key=_ts_of)
                    ready, ks.buffer = buf[:cut], buf[cut:]
                    ks.buf_min = ks.buffer[0][0]
                    heapq.heappush(due, (ks.buf_min, key))
                for ts, value in ready:
                    nfa.process(ks, ts, value, out)
            if ks.branches:
                nfa.advance(ks, now, out)
            if out:
                self._emit(key, out)
            self._settle(key, ks, before, now)

    def _settle(self, key: Any, ks: KeyState, before: int, now: int) -> None:
        """After a key ran: count its partial matches, schedule its next timeout, store or drop its state."""
        branches = ks.branches
        after = len(branches)
        if after != before:
            self.live_partials += after - before
            if self.live_partials > self.max_live_partials:
                self.max_live_partials = self.live_partials
        if not branches and not ks.buffer and not ks.pending:
            self.state.clear()
            return
        window = self.window
        if window is not None and branches and (ks.timer is None or ks.timer <= now):
            # deadlines only move later (partial matches start in order), so an earlier entry stays valid
            ks.timer = min(br[2] for br in branches) + window
            heapq.heappush(self.due, (ks.timer, key))
        self.state.update(ks)

    def next_processing_time_timer(self) -> int | None:
        return self.due[0][0] if self.processing_time and self.due else None

    def on_processing_time(self, now_ms: int) -> None:
        if self.processing_time:
            self._fire_due(now_ms)

    def end_input(self) -> None:
        if self.ctx.batch_mode:  # BATCH: no watermarks flow; the end of input completes event time
            self.process_watermark(MAX_TIMESTAMP)

    # ---- results --------------------------------------------------------------------------

    def _emit(self, key: Any, out: list) -> None:
        on_match, on_timeout = self.on_match, self.on_timeout
        self.pctx._key = key
        collector, timeout_collector = self.collector, self.timeout_collector
        for kind, match, ts in out:
            collector.timestamp = ts
            if timeout_collector is not None:
                timeout_collector.timestamp = ts
            try:
                if kind == NFA.MATCH:
                    on_match(match, ts)
                elif on_timeout is not None:
                    on_timeout(match, ts)
            except JobExecutionError:
                raise
            except Exception as exc:
                what = "the pattern function" if kind == NFA.MATCH else "the timed-out match handler"
                raise self.ctx.failure(exc, NO_RECORD, what=f"{what} on {truncate(match, 120)}") from exc
        out.clear()

    def _select_match(self, match: dict, ts: int) -> None:
        fn, out = self.function, self.collector
        if not fn.flat:
            out.collect(fn.fn(match))
        elif self.select_collects:
            fn.fn(match, out)
        else:
            returned = fn.fn(match)
            if returned is not None:
                out.collect_all(returned)

    def _select_timeout(self, match: dict, ts: int) -> None:
        fn, out = self.function, self.timeout_collector
        if fn.flat:
            fn.timeout_fn(match, ts, out)
        else:
            out.collect(fn.timeout_fn(match, ts))

    def _process_match(self, match: dict, ts: int) -> None:
        out = self.collector
        if self.process_collects:
            self.function.process_match(match, self.pctx, out)
        else:
            returned = self.function.process_match(match, self.pctx)
            if returned is not None:
                out.collect_all(returned)

    def _process_timeout(self, match: dict, ts: int) -> None:
        self.function.process_timed_out_match(match, self.pctx)

    def _flush(self) -> None:
        self.collector.flush()
        if self.timeout_collector is not None:
            self.timeout_collector.flush()

    # ---- state ------------------------------------------------------------------------------

    def snapshot_state(self) -> Any:
        snap = self.keyed_backend.snapshot()
        if type(snap) is KeyedStateSnapshot and STATE in snap.states:
            # the heap backend hands out the live objects; freeze them for the asynchronous upload
            # (RocksDB's snapshot is a native checkpoint of pickled bytes: nothing to freeze, and
            # reading its states here would load every entry on the task thread)
            entries = snap.states[STATE]["entries"]
            for kg, rows in entries.items():
                entries[kg] = [(k, ns, v.frozen() if isinstance(v, KeyState) else v) for k, ns, v in rows]
        return {"keyed": snap}

    def restore_state(self, states: Any) -> None:
        if not states:
            return
        backend = self.keyed_backend
        backend.restore([s["keyed"] for s in states])
        live = 0
        due = self.due
        for key in backend.keys(STATE):
            backend.set_current_key(key)
            ks = self.state.value()
            if ks is None:
                continue
            live += len(ks.branches)
            if ks.buf_min is not None:
                due.append((ks.buf_min, key))
            ks.timer = None
            if self.window is not None and ks.branches:
                ks.timer = min(br[2] for br in ks.branches) + self.window
                due.append((ks.timer, key))
            self.state.update(ks)
        heapq.heapify(due)
        self.live_partials = self.max_live_partials = live

    def close(self) -> None:
        try:
            close_function(self.params.function)
        finally:
            super().close()
