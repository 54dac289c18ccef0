"""The keyed window operator: window contents as keyed state per window, triggers, evictors, lateness.

Follows Flink's ``WindowOperator``/``EvictingWindowOperator``: the contents of a window are
keyed state with the window as namespace; session windows keep a merging-window set per key;
trigger timers and cleanup timers live in the ``InternalTimerService`` with the window as namespace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rayflink.clock import current_time_ms
from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    ReducingStateDescriptor,
    ValueStateDescriptor,
)
from rayflink.datastream.window import (
    MAX_TIMESTAMP,
    EventTimeTrigger,
    MergeCallbackFunction,
    MergingWindowAssigner,
    SlidingEventTimeWindows,
    TimeWindow,
    TumblingEventTimeWindows,
    WindowAssigner,
)
from rayflink.errors import JobExecutionError, truncate
from rayflink.graph.transformations import OperatorKind, WindowParams
from rayflink.operators.functions import close_function, open_function, positional_arity, resolve
from rayflink.operators.keyed import aggregation
from rayflink.runtime.operator import NO_RECORD, OneInputStreamOperator
from rayflink.runtime.output import TimestampedCollector
from rayflink.runtime.registry import register_operator

CONTENTS = "_window-contents"
SLICES = "_window-slices"  # sliced sliding windows: per key, {slice end: accumulator}
SLICED = "slices"  # the timer namespace of a sliced window operator's window ends
MERGING_WINDOWS = "_merging-window-set"


class _Scoped:
    """A state object whose every call runs in one namespace (a window, or none for global state)."""

    __slots__ = ("_backend", "_state", "_namespace")

    def __init__(self, backend: Any, state: Any, namespace: Any) -> None:
        self._backend = backend
        self._state = state
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._state, name)
        if not callable(attr):
            return attr
        backend, namespace = self._backend, self._namespace

        def scoped(*args: Any, **kwargs: Any) -> Any:
            previous = backend.current_namespace
            backend.set_current_namespace(namespace)
            try:
                return attr(*args, **kwargs)
            finally:
                backend.set_current_namespace(previous)

        return scoped


class KeyedStateStore:
    """``context.window_state()`` / ``context.global_state()``: state of the current key in one namespace."""

    __slots__ = ("_backend", "_namespace")

    def __init__(self, backend: Any, namespace: Any) -> None:
        self._backend = backend
        self._namespace = namespace

    def get_state(self, descriptor: Any) -> Any:
        return _Scoped(self._backend, self._backend.get_partitioned_state(descriptor), self._namespace)

    get_list_state = get_map_state = get_reducing_state = get_aggregating_state = get_state


class AssignerContext(WindowAssigner.WindowAssignerContext):
    """The third argument of ``assign_windows`` (PyFlink's ``WindowAssignerContext``): the
    processing time of the batch being assigned, and the operator's runtime context."""

    def __init__(self, op: "WindowOperator") -> None:
        self.op = op
        self.now = 0

    def get_current_processing_time(self) -> int:
        return self.now

    def get_runtime_context(self) -> Any:
        return self.op.runtime_context()


class TriggerContext:
    """The ``ctx`` a trigger sees: clocks, timers and state of the current key and window."""

    __slots__ = ("_op", "window", "merged_windows")

    def __init__(self, op: "WindowOperator") -> None:
        self._op = op
        self.window: Any = None
        self.merged_windows: list = []

    def get_current_processing_time(self) -> int:
        return self._op.clock()

    def get_current_watermark(self) -> int:
        return self._op.current_watermark

    def _key(self) -> Any:
        return self._op.keyed_backend.current_key

    def register_event_time_timer(self, time: int) -> None:
        self._op.timers.event_time.add(int(time), self._key(), self.window)

    def delete_event_time_timer(self, time: int) -> None:
        self._op.timers.event_time.remove(int(time), self._key(), self.window)

    def register_processing_time_timer(self, time: int) -> None:
        self._op.timers.processing_time.add(int(time), self._key(), self.window)

    def delete_processing_time_timer(self, time: int) -> None:
        self._op.timers.processing_time.remove(int(time), self._key(), self.window)

    def get_partitioned_state(self, descriptor: Any) -> Any:
        backend = self._op.keyed_backend
        return _Scoped(backend, backend.get_partitioned_state(descriptor), self.window)

    def merge_partitioned_state(self, descriptor: Any) -> None:
        """(``on_merge`` only) merge the state of the merged windows into the new window."""
        state = self._op.keyed_backend.get_partitioned_state(descriptor)
        merge = getattr(state, "merge_namespaces", None)
        if merge is None:
            raise JobExecutionError(f"{self._op.ctx.describe()}: merge_partitioned_state({descriptor.name!r}) "
                                    "needs a list, reducing or aggregating state")
        merge(self.window, self.merged_windows)


class WindowContext:
    """The ``context`` of a ProcessWindowFunction (and of evictors)."""

    __slots__ = ("_op", "_window", "_key")

    def __init__(self, op: "WindowOperator", key: Any, window: Any) -> None:
        self._op = op
        self._key = key
        self._window = window

    def window(self) -> Any:
        return self._window

    def current_watermark(self) -> int:
        return self._op.current_watermark

    def current_processing_time(self) -> int:
        return self._op.clock()

    def window_state(self) -> KeyedStateStore:
        return KeyedStateStore(self._op.keyed_backend, self._window)

    def global_state(self) -> KeyedStateStore:
        return KeyedStateStore(self._op.keyed_backend, None)

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self._op.collector.output(output_tag, value, self._window.max_timestamp())

    def get_current_key(self) -> Any:
        return self._key


class MergingWindowSet:
    """Flink's MergingWindowSet: for one key, each (session) window -> the window its state lives under.

    Merging keeps the state of one of the merged windows in place (no copy of the contents):
    the result window maps to that state window.
    """

    def __init__(self, assigner: MergingWindowAssigner, mapping: dict) -> None:
        self.assigner = assigner
        self.mapping = mapping

    def state_window(self, window: Any) -> Any:
        return self.mapping.get(window)

    def retire_window(self, window: Any) -> None:
        if self.mapping.pop(window, None) is None:
            raise JobExecutionError(f"window {window!r} is not in the merging window set")

    def add_window(self, new_window: Any, merge: Callable[[Any, list, Any, list], None]) -> Any:
        """Add ``new_window``, merge what overlaps, call ``merge`` per merge; return the window it ended in."""
        results: list[tuple[Any, list]] = []
        self.assigner.merge_windows(list(self.mapping) + [new_window], MergeCallbackFunction(
            lambda to_merge, merged: results.append((merged, list(to_merge)))))
        result_window = new_window
        merged_new_window = False
        for merge_result, merged_windows in results:
            if new_window in merged_windows:
                merged_windows.remove(new_window)
                merged_new_window = True
                result_window = merge_result
            state_window = self.mapping[merged_windows[0]]
            merged_state_windows = [self.mapping.pop(w) for w in merged_windows if w in self.mapping]
            self.mapping[merge_result] = state_window
            merged_state_windows.remove(state_window)
            if not (len(merged_windows) == 1 and merged_windows[0] == merge_result):
                merge(merge_result, merged_windows, state_window, merged_state_windows)
        if not results or (result_window == new_window and not merged_new_window):
            self.mapping[result_window] = result_window
        return result_window


@register_operator(OperatorKind.WINDOW)
class WindowOperator(OneInputStreamOperator):
    """Runs ``window(assigner)[.trigger][.evictor][.allowed_lateness][.side_output_late_data].<function>``
    (see ``WindowParams``)."""

    params: WindowParams

    def open(self) -> None:
        p = self.params
        self.assigner = p.assigner
        self.trigger = p.trigger or self.assigner.get_default_trigger()
        self.evictor = p.evictor
        self.lateness = int(p.allowed_lateness or 0)
        self.late_tag: OutputTag | None = p.late_tag
        self.function = p.function
        self.style = p.style
        self.event_time = self.assigner.is_event_time()
        self.merging = isinstance(self.assigner, MergingWindowAssigner)
        self.clock: Callable[[], int] = current_time_ms
        self.num_late_records_dropped = 0
        self.keyed_backend = self.keyed_state_backend()
        self.timers = self.internal_timer_service()
        self.selector = self.ctx.state_key_selectors[0]
        self.collector = TimestampedCollector(self.output)
        self._open_contents(p.incremental)
        if self.function is not None:
            open_function(self.function, self.ctx, self.runtime_context())
            method = "process" if self.style in ("process", "process_all") else "apply"
            self.window_fn = resolve(self.function, method)
            arity = positional_arity(self.window_fn)
            self.fn_collects = arity == -1 or arity > (2 if self.style in ("process_all", "apply_all") else 3)
            self.fn_clear = getattr(self.function, "clear", None) if self.style in ("process", "process_all") \
                else None
        self.merging_state = (self.keyed_backend.get_partitioned_state(ValueStateDescriptor(MERGING_WINDOWS, None))
                              if self.merging else None)
        self.trigger_ctx = TriggerContext(self)
        self.assigner_ctx = AssignerContext(self)
        self.fast = (not self.merging and self.evictor is None and type(self.trigger) is EventTimeTrigger
                     and isinstance(self.assigner, (TumblingEventTimeWindows, SlidingEventTimeWindows)))
        self.sliced = (self.fast and isinstance(self.assigner, SlidingEventTimeWindows) and not self.list_contents
                       and self.lateness == 0 and self.assigner.slide <= self.assigner.size
                       and (self.reduce_fn is not None or _merges(self.agg)))
        if self.sliced:
            self.slice_size = math.gcd(self.assigner.size, self.assigner.slide)
            self.slices = self.keyed_backend.get_partitioned_state(ValueStateDescriptor(SLICES, None))

    def _open_contents(self, incremental: Any) -> None:
        """The keyed state holding each window's contents: an accumulator, a reduced value or a list."""
        self.reduce_fn = None
        self.agg = None
        if incremental is not None:
            kind, fn = incremental
            if kind == "aggregate":
                self.agg = fn
                open_function(fn, self.ctx, self.runtime_context())
            else:
                self.reduce_fn = resolve(fn, "reduce") if kind == "reduce" else aggregation(kind, fn)
                if kind == "reduce":
                    open_function(fn, self.ctx, self.runtime_context())
        backend = self.keyed_backend
        if self.evictor is not None or incremental is None:
            self.list_contents = True
            self.contents = backend.get_partitioned_state(ListStateDescriptor(CONTENTS, None))
        elif self.agg is not None:
            self.list_contents = False
            self.contents = backend.get_partitioned_state(AggregatingStateDescriptor(CONTENTS, self.agg, None))
        else:
            self.list_contents = False
            self.contents = backend.get_partitioned_state(ReducingStateDescriptor(CONTENTS, self.reduce_fn, None))

    def metrics(self) -> dict[str, int | float]:
        return {"num_late_records_dropped": self.num_late_records_dropped}

    # ---- records ------------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        if self.event_time and (timestamps is None or None in timestamps):
            self._missing_timestamp(values, timestamps)
        try:
            if self.sliced:
                self._process_sliced(values, timestamps)
            elif self.fast:
                self._process_fast(values, timestamps)
            else:
                self._process_each(values, timestamps)
        except JobExecutionError:
            raise
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what="the window operator") from exc
        self.collector.flush()

    def _missing_timestamp(self, values: list, timestamps: list | None) -> None:
        i = 0 if timestamps is None else timestamps.index(None)
        raise JobExecutionError(
            f"window {self.ctx.describe()}: record {truncate(values[i], 100)} has no event "
            f"timestamp, but {type(self.assigner).__name__} needs one; assign timestamps with a "
            "WatermarkStrategy(...).with_timestamp_assigner(...) on the source or with "
            "assign_timestamps_and_watermarks(...) before the window",
            operator=self.ctx.name, uid=self.ctx.uid, subtask=self.ctx.subtask_index,
            record=truncate(values[i]))

    def _process_fast(self, values: list, timestamps: list) -> None:
        """Event-time tumbling/sliding windows with the default trigger: whole batches, one state
        access and one timer per (key, window) of the batch."""
        selector, wm, lateness = self.selector, self.current_watermark, self.lateness
        assigner = self.assigner
        groups: dict[tuple, list] = {}
        late: list[int] = []
        list_contents = self.list_contents
        if isinstance(assigner, TumblingEventTimeWindows):
            size, offset = assigner.size, assigner.offset
            windows: dict[int, TimeWindow] = {}
            for i, value in enumerate(values):
                ts = timestamps[i]
                start = ts - (ts - offset + size) % size
                if start + size - 1 + lateness <= wm:
                    late.append(i)
                    continue
                w = windows.get(start)
                if w is None:
                    w = windows[start] = TimeWindow(start, start + size)
                gk = (selector(value), w)
                item = (value, ts) if list_contents else value
                g = groups.get(gk)
                if g is None:
                    groups[gk] = [item]
                else:
                    g.append(item)
        else:
            for i, value in enumerate(values):
                ts = timestamps[i]
                ws = assigner.assign_windows(value, ts, self.assigner_ctx)  # event time: no clock read
                live = [w for w in ws if w.end - 1 + lateness > wm]
                if not live:
                    late.append(i)
                    continue
                key = selector(value)
                item = (value, ts) if list_contents else value
                for w in live:
                    g = groups.get((key, w))
                    if g is None:
                        groups[(key, w)] = [item]
                    else:
                        g.append(item)
        backend, contents, event_timers = self.keyed_backend, self.contents, self.timers.event_time
        for (key, w), items in groups.items():
            backend.set_current_key(key)
            backend.set_current_namespace(w)
            max_ts = w.end - 1
            if max_ts > wm:
                if list_contents:
                    contents.add_all(items)
                else:
                    add = contents.add
                    for item in items:
                        add(item)
                event_timers.add(max_ts, key, w)
            else:  # late but within the allowed lateness: every element fires the window again
                for item in items:
                    contents.add(item)
                    self._emit_window(key, w, w, self._contents_of(w))
            if lateness:
                event_timers.add(max_ts + lateness, key, w)
        backend.set_current_namespace(None)
        if late:
            self._late([values[i] for i in late], [timestamps[i] for i in late])

    # ---- sliced sliding windows (Flink SQL's slicing window operator) ---------------------------------

    def _process_sliced(self, values: list, timestamps: list) -> None:
        """Sliding windows that share work: each record updates one accumulator, that of its slice
        (``gcd(size, slide)`` long) and key; a window's result merges its slices when it fires.

        A 7-day window sliding by 1 hour keeps one accumulator per key and hour instead of 168,
        and a record costs one ``add`` instead of 168. Used for ``aggregate`` (with ``merge``) and
        ``reduce`` on event-time sliding windows with the default trigger and no allowed lateness;
        the results equal the unsliced operator's for associative functions (Flink SQL's contract).
        """
        assigner, g, wm = self.assigner, self.slice_size, self.current_watermark
        size, slide, offset = assigner.size, assigner.slide, assigner.offset
        selector = self.selector
        per_key: dict[Any, dict[int, list]] = {}
        late: list[int] = []
        for i, value in enumerate(values):
            ts = timestamps[i]
            last_end = ts - (ts - offset + slide) % slide + size  # the last window holding ts ends here
            if last_end - 1 <= wm:
                late.append(i)
                continue
            slice_end = ts - (ts - offset + g) % g + g
            slices = per_key.setdefault(selector(value), {})
            items = slices.get(slice_end)
            if items is None:
                slices[slice_end] = [value]
            else:
                items.append(value)
        backend, state, timers = self.keyed_backend, self.slices, self.timers.event_time
        agg, reduce_fn = self.agg, self.reduce_fn
        for key, slices in per_key.items():
            backend.set_current_key(key)
            stored = state.value()
            stored = {} if stored is None else dict(stored)
            for slice_end, items in slices.items():
                acc = stored.get(slice_end)
                if agg is not None:
                    if acc is None:
                        acc = agg.create_accumulator()
                    for v in items:
                        acc = agg.add(v, acc)
                else:
                    start = 0
                    if acc is None:
                        acc, start = items[0], 1
                    for v in items[start:]:
                        acc = reduce_fn(acc, v)
                if slice_end not in stored:
                    timers.add(self._first_live_end(slice_end, wm) - 1, key, SLICED)
                stored[slice_end] = acc
            state.update(stored)
        if late:
            self._late([values[i] for i in late], [timestamps[i] for i in late])

    def _first_live_end(self, slice_end: int, watermark: int) -> int:
        """The end of the first window holding the slice that ends at ``slice_end`` and has not fired."""
        slide = self.assigner.slide
        align = self.assigner.offset + self.assigner.size  # window ends are align + k * slide
        end = slice_end + (align - slice_end) % slide
        if end - 1 <= watermark:
            end = watermark + 1 + (align - watermark - 1) % slide
            if end - 1 <= watermark:
                end += slide
        return end

    def _fire_slices(self, ts: int, key: Any) -> None:
        """The window ending at ``ts + 1`` fires for ``key``: merge its slices, emit, drop the slices
        no later window holds, and set the timer of the next window that holds one."""
        backend = self.keyed_backend
        backend.set_current_key(key)
        backend.set_current_namespace(None)
        stored = self.slices.value()
        if not stored:
            return
        size, slide = self.assigner.size, self.assigner.slide
        end = ts + 1
        members = sorted((se, acc) for se, acc in stored.items() if end - size < se <= end)
        if members:
            if self.agg is not None:
                acc = self.agg.create_accumulator()
                for _, a in members:
                    acc = self.agg.merge(acc, a)
                result = self.agg.get_result(acc)
            else:
                result = members[0][1]
                for _, a in members[1:]:
                    result = self.reduce_fn(result, a)
            window = TimeWindow(end - size, end)
            self.collector.timestamp = window.max_timestamp()
            self._apply(key, window, [result])
            if self.function is not None and self.fn_clear is not None:
                self.fn_clear(WindowContext(self, key, window))
        keep = {se: a for se, a in stored.items() if se > end + slide - size}
        if keep:
            self.slices.update(keep)
            self.timers.event_time.add(max(end + slide, self._first_live_end(min(keep), ts)) - 1, key, SLICED)
        else:
            self.slices.clear()

    def _process_each(self, values: list, timestamps: list | None) -> None:
        selector, backend = self.selector, self.keyed_backend
        now = self.clock()
        assigner_ctx = self.assigner_ctx
        assigner_ctx.now = now
        late_values: list = []
        late_stamps: list = []
        for i, value in enumerate(values):
            ts = None if timestamps is None else timestamps[i]
            key = selector(value)
            backend.set_current_key(key)
            backend.set_current_namespace(None)  # state the assigner keeps (count windows) is the key's
            windows = self.assigner.assign_windows(value, ts, assigner_ctx)
            if self.merging:
                skipped = self._add_merging(key, value, ts, windows)
            else:
                skipped = True
                for w in windows:
                    if self._is_window_late(w):
                        continue
                    skipped = False
                    self._add_and_trigger(key, w, w, value, ts)
            if skipped and self.event_time and ts + self.lateness <= self.current_watermark:
                late_values.append(value)
                late_stamps.append(ts)
        backend.set_current_namespace(None)
        if late_values:
            self._late(late_values, late_stamps)

    def _add_merging(self, key: Any, value: Any, ts: int | None, windows: list) -> bool:
        backend = self.keyed_backend
        backend.set_current_namespace(None)
        mapping = self.merging_state.value()
        window_set = MergingWindowSet(self.assigner, dict(mapping) if mapping else {})
        skipped = True
        for w in windows:
            actual = window_set.add_window(w, lambda result, merged, state_w, merged_state_ws:
                                           self._merge(key, result, merged, state_w, merged_state_ws))
            if self._is_window_late(actual):
                window_set.retire_window(actual)
                continue
            skipped = False
            self._add_and_trigger(key, actual, window_set.state_window(actual), value, ts)
        self._persist(window_set)
        return skipped

    def _persist(self, window_set: MergingWindowSet) -> None:
        self.keyed_backend.set_current_namespace(None)
        self.merging_state.update(window_set.mapping or None)

    def _merge(self, key: Any, result: Any, merged: list, state_window: Any, merged_state_windows: list) -> None:
        if self.event_time and result.max_timestamp() + self.lateness <= self.current_watermark:
            raise JobExecutionError(f"window {self.ctx.describe()}: merging produced window {result!r} "
                                    "whose end is already behind the watermark")
        ctx = self.trigger_ctx
        ctx.window, ctx.merged_windows = result, merged
        self.trigger.on_merge(result, ctx)
        for m in merged:
            ctx.window = m
            self.trigger.clear(m, ctx)
            self._delete_cleanup_timer(key, m)
        ctx.merged_windows = []
        if merged_state_windows:
            self.contents.merge_namespaces(state_window, merged_state_windows)

    def _add_and_trigger(self, key: Any, window: Any, state_window: Any, value: Any, ts: int | None) -> None:
        backend = self.keyed_backend
        backend.set_current_namespace(state_window)
        self.contents.add((value, ts) if self.list_contents else value)
        ctx = self.trigger_ctx
        ctx.window = window
        self._act_on(self.trigger.on_element(value, ts, window, ctx), key, window, state_window)
        self._register_cleanup_timer(key, window)

    def _act_on(self, result: Any, key: Any, window: Any, state_window: Any) -> None:
        """Do what the trigger said: emit the window's contents (FIRE), then clear them (PURGE)."""
        backend = self.keyed_backend
        if result.is_fire():
            backend.set_current_namespace(state_window)
            contents = self._contents_of(state_window)
            if contents is not None:
                self._emit_window(key, window, state_window, contents)
        if result.is_purge():
            backend.set_current_namespace(state_window)
            self.contents.clear()

    # ---- lateness and cleanup -----------------------------------------------------------------

    def _cleanup_time(self, window: Any) -> int:
        max_ts = window.max_timestamp()
        if not self.event_time:
            return max_ts
        t = max_ts + self.lateness
        return t if t <= MAX_TIMESTAMP else MAX_TIMESTAMP

    def _is_window_late(self, window: Any) -> bool:
        return self.event_time and self._cleanup_time(window) <= self.current_watermark

    def _register_cleanup_timer(self, key: Any, window: Any) -> None:
        t = self._cleanup_time(window)
        if t == MAX_TIMESTAMP:
            return
        (self.timers.event_time if self.event_time else self.timers.processing_time).add(t, key, window)

    def _delete_cleanup_timer(self, key: Any, window: Any) -> None:
        t = self._cleanup_time(window)
        if t != MAX_TIMESTAMP:
            (self.timers.event_time if self.event_time else self.timers.processing_time).remove(t, key, window)

    def _late(self, values: list, stamps: list) -> None:
        if self.late_tag is not None:
            self.collector.output_all(self.late_tag, values, stamps)
        else:
            self.num_late_records_dropped += len(values)

    # ---- firing ----------------------------------------------------------------------------

    def _contents_of(self, state_window: Any) -> Any:
        """The window's contents under the current key (namespace already set); None when empty."""
        if self.list_contents:
            return self.contents.get() or None
        return self.contents.get()

    def _emit_window(self, key: Any, window: Any, state_window: Any, contents: Any) -> None:
        """Evaluate the window function on ``contents`` and collect the results at ``window.max_timestamp()``."""
        self.collector.timestamp = window.max_timestamp()
        if self.list_contents:
            elements = list(contents)
            wctx = WindowContext(self, key, window)
            if self.evictor is not None:
                self.evictor.evict_before(elements, len(elements), window, wctx)
            values = [v for v, _ in elements]
            if self.agg is not None:  # as Flink: aggregate over what the evictor left, even nothing
                acc = self.agg.create_accumulator()
                for v in values:
                    acc = self.agg.add(v, acc)
                inputs = [self.agg.get_result(acc)]
            elif self.reduce_fn is not None:
                acc = values[0] if values else None
                for v in values[1:]:
                    acc = self.reduce_fn(acc, v)
                inputs = [] if acc is None else [acc]
            else:
                inputs = values
            if inputs or self.function is not None:
                self._apply(key, window, inputs)
            if self.evictor is not None:
                self.evictor.evict_after(elements, len(elements), window, wctx)
                self.keyed_backend.set_current_namespace(state_window)
                self.contents.update(elements)
        else:
            self._apply(key, window, [contents])

    def _apply(self, key: Any, window: Any, inputs: list) -> None:
        out = self.collector
        if self.function is None:
            out.collect_all(inputs)
            return
        style, fn = self.style, self.window_fn
        backend = self.keyed_backend
        previous = backend.current_namespace
        try:
            if style == "process":
                returned = fn(key, WindowContext(self, key, window), inputs, out) if self.fn_collects \
                    else fn(key, WindowContext(self, key, window), inputs)
            elif style == "process_all":
                returned = fn(WindowContext(self, key, window), inputs, out) if self.fn_collects \
                    else fn(WindowContext(self, key, window), inputs)
            elif style == "apply":
                returned = fn(key, window, inputs, out) if self.fn_collects else fn(key, window, inputs)
            else:
                returned = fn(window, inputs, out) if self.fn_collects else fn(window, inputs)
        except JobExecutionError:
            raise
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what=f"the window function on {window!r} for key "
                                                         f"{truncate(key, 80)}") from exc
        finally:
            backend.set_current_namespace(previous)
        if returned is not None:
            out.collect_all(returned)

    def _on_timer(self, ts: int, key: Any, window: Any, event_time: bool) -> None:
        if window == SLICED:
            self._fire_slices(ts, key)
            return
        backend = self.keyed_backend
        backend.set_current_key(key)
        window_set = None
        if self.merging:
            backend.set_current_namespace(None)
            mapping = self.merging_state.value()
            window_set = MergingWindowSet(self.assigner, dict(mapping) if mapping else {})
            state_window = window_set.state_window(window)
            if state_window is None:
                return  # a timer of a window merged away whose trigger did not delete it
        else:
            state_window = window
        backend.set_current_namespace(state_window)
        contents = self._contents_of(state_window)
        if contents is not None:
            ctx = self.trigger_ctx
            ctx.window = window
            result = (self.trigger.on_event_time(ts, window, ctx) if event_time
                      else self.trigger.on_processing_time(ts, window, ctx))
            self._act_on(result, key, window, state_window)
        if event_time == self.event_time and ts == self._cleanup_time(window):
            self._clear_all_state(key, window, state_window, window_set)
        if window_set is not None:
            self._persist(window_set)
        backend.set_current_namespace(None)

    def _clear_all_state(self, key: Any, window: Any, state_window: Any, window_set: MergingWindowSet | None) -> None:
        backend = self.keyed_backend
        backend.set_current_namespace(state_window)
        self.contents.clear()
        ctx = self.trigger_ctx
        ctx.window = window
        self.trigger.clear(window, ctx)
        if self.function is not None and self.fn_clear is not None:
            self.fn_clear(WindowContext(self, key, window))
        if window_set is not None:
            window_set.retire_window(window)

    def process_watermark(self, watermark: int) -> None:
        self.current_watermark = watermark
        if len(self.timers.event_time):
            self._fire_timers(self.timers.event_time, watermark, True)
        self.output.emit_watermark(watermark)

    def _fire_timers(self, timers: Any, time: int, event_time: bool) -> None:
        """Run the timers of ``timers`` due at ``time``; a failure is the window trigger's."""
        try:
            for ts, key, window in timers.pop_due(time):
                self._on_timer(ts, key, window, event_time)
        except JobExecutionError:
            raise
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what="the window trigger") from exc
        self.collector.flush()

    def next_processing_time_timer(self) -> int | None:
        return self.timers.processing_time.peek()

    def on_processing_time(self, now_ms: int) -> None:
        self._fire_timers(self.timers.processing_time, now_ms, False)

    def end_input(self) -> None:
        if self.ctx.batch_mode:  # BATCH: no watermarks flow; the end of input completes event time
            self.process_watermark(MAX_TIMESTAMP)

    # ---- state ------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            for fn in (self.params.function, self.agg):
                if fn is not None:
                    close_function(fn)
        finally:
            super().close()


def _merges(agg: Any) -> bool:
    """Whether an AggregateFunction implements ``merge`` (the base class's raises)."""
    from rayflink.datastream.functions import AggregateFunction

    merge = getattr(type(agg), "merge", None)
    return callable(merge) and merge is not getattr(AggregateFunction, "merge", None)
