"""Async I/O (Flink's ``AsyncWaitOperator``): many ``async_invoke`` calls in flight per subtask.

The calls run on an asyncio event loop of the operator's own (a thread per subtask); the task's
thread submits them and emits their results, so user functions and outputs never race. The
queue holds requests and the watermarks between them, in input order:

- ordered mode emits from the head only, as each request completes, and a watermark when it
  reaches the head;
- unordered mode emits any completed request that no watermark precedes, and a watermark once
  every request before it has been emitted — results never cross a watermark, as in Flink.

At most ``capacity`` requests are in flight; a full queue makes ``process_batch`` wait for one to
complete, which is the operator's backpressure. While requests are in flight the operator asks
the task to call it back every millisecond (``next_processing_time_timer``) to emit what
completed. A checkpoint holds the queue (requests not yet emitted, and watermarks); a restore
sends them again, spread over the new subtasks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from typing import Any

from rayflink.clock import current_time_ms
from rayflink.errors import JobExecutionError
from rayflink.graph.transformations import AsyncFunctionDescriptor, OperatorKind
from rayflink.operators.functions import close_function, open_function
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator

_TIMED_OUT = object()  # what a call that ran out of time resolves to: timeout(value) decides


class _Request:
    __slots__ = ("value", "timestamp", "future")

    def __init__(self, value: Any, timestamp: int | None, future: concurrent.futures.Future) -> None:
        self.value = value
        self.timestamp = timestamp
        self.future = future


class _Watermark:
    __slots__ = ("timestamp",)

    def __init__(self, timestamp: int) -> None:
        self.timestamp = timestamp


@register_operator(OperatorKind.ASYNC_WAIT)
class AsyncWaitOperator(OneInputStreamOperator):
    """Runs an AsyncFunction over each record (see the module docstring)."""

    params: AsyncFunctionDescriptor

    def open(self) -> None:
        self.function = self.params.async_function
        open_function(self.function, self.ctx, self.runtime_context())
        self.queue: deque[_Request | _Watermark] = deque()
        self.in_flight = 0
        self.timeout_s = self.params.timeout_ms / 1000.0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name=f"async-io-{self.ctx.uid}-{self.ctx.subtask_index}")
        self.thread.start()

    # ---- calls ----------------------------------------------------------------------------

    async def _call(self, value: Any) -> Any:
        strategy = self.params.async_retry_strategy
        predicate = strategy.get_retry_predicate()
        on_result, on_exception = predicate.result_predicate(), predicate.exception_predicate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        attempts = 0
        while True:
            attempts += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                return _TIMED_OUT
            try:
                result = await asyncio.wait_for(self.function.async_invoke(value), remaining)
            except TimeoutError:
                return _TIMED_OUT
            except Exception as exc:  # retried when the strategy says so, else it fails the job
                if on_exception is not None and on_exception(exc) and strategy.can_retry(attempts):
                    await asyncio.sleep(strategy.get_backoff_time_millis(attempts) / 1000.0)
                    continue
                raise
            results = [] if result is None else list(result)
            if on_result is not None and on_result(results) and strategy.can_retry(attempts):
                await asyncio.sleep(strategy.get_backoff_time_millis(attempts) / 1000.0)
                continue
            return results

    def _submit(self, value: Any, timestamp: int | None) -> None:
        while self.in_flight >= self.params.capacity:  # full: wait for a call to complete
            pending = [r.future for r in self.queue if isinstance(r, _Request)]
            concurrent.futures.wait(pending, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
            self._emit_completed()
        future = asyncio.run_coroutine_threadsafe(self._call(value), self.loop)
        self.queue.append(_Request(value, timestamp, future))
        self.in_flight += 1

    def _results(self, request: _Request) -> list:
        try:
            outcome = request.future.result()
            if outcome is _TIMED_OUT:
                outcome = self.function.timeout(request.value)
                outcome = [] if outcome is None else list(outcome)
            return outcome
        except JobExecutionError:
            raise
        except Exception as exc:
            raise self.ctx.failure(exc, request.value, what="async_invoke") from exc

    def _emit(self, request: _Request) -> None:
        results = self._results(request)
        self.in_flight -= 1
        if results:
            stamps = None if request.timestamp is None else [request.timestamp] * len(results)
            self.output.emit(results, stamps)

    def _emit_completed(self) -> None:
        queue = self.queue
        if self.params.ordered:
            while queue:
                head = queue[0]
                if isinstance(head, _Watermark):
                    queue.popleft()
                    self._emit_watermark(head.timestamp)
                elif head.future.done():
                    queue.popleft()
                    self._emit(head)
                else:
                    return
            return
        while queue:
            kept: deque[_Request | _Watermark] = deque()
            while queue and isinstance(queue[0], _Request):  # the segment before the first watermark
                request = queue.popleft()
                if request.future.done():
                    self._emit(request)
                else:
                    kept.append(request)
            if kept:
                kept.extend(queue)
                self.queue = kept
                return
            if queue:  # a watermark with nothing before it
                self._emit_watermark(queue.popleft().timestamp)

    def _emit_watermark(self, watermark: int) -> None:
        self.current_watermark = watermark
        self.output.emit_watermark(watermark)

    # ---- the contract ---------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        for i, value in enumerate(values):
            self._submit(value, None if timestamps is None else timestamps[i])
        self._emit_completed()

    def process_watermark(self, watermark: int) -> None:
        if self.queue:
            self.queue.append(_Watermark(watermark))
            self._emit_completed()
        else:
            self._emit_watermark(watermark)

    def next_processing_time_timer(self) -> int | None:
        return current_time_ms() + 1 if self.queue else None

    def on_processing_time(self, now_ms: int) -> None:
        self._emit_completed()

    def end_input(self) -> None:
        while self.queue:  # every call completes (or times out) before the end goes downstream
            pending = [r.future for r in self.queue if isinstance(r, _Request)]
            if pending:
                concurrent.futures.wait(pending, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
            self._emit_completed()

    def snapshot_state(self) -> Any:
        """The queue as input: requests not yet emitted (completed or not) and watermarks, in order."""
        return {"queue": [("w", e.timestamp) if isinstance(e, _Watermark) else ("r", e.value, e.timestamp)
                          for e in self.queue]}

    def restore_state(self, states: list) -> None:
        """Send again the requests of the old subtasks this subtask takes (old subtask k goes to
        new subtask k % parallelism), watermarks dropped: the restored sources send new ones."""
        for k, state in enumerate(states):
            if k % self.ctx.parallelism != self.ctx.subtask_index:
                continue
            for entry in state["queue"]:
                if entry[0] == "r":
                    self._submit(entry[1], entry[2])

    def metrics(self) -> dict[str, int | float]:
        return {"async_requests_in_flight": self.in_flight}

    def close(self) -> None:
        try:
            for entry in getattr(self, "queue", ()):
                if isinstance(entry, _Request):
                    entry.future.cancel()
            loop = getattr(self, "loop", None)
            if loop is not None:
                loop.call_soon_threadsafe(loop.stop)
                self.thread.join(timeout=5)
                if not loop.is_running():
                    loop.close()
            close_function(self.function)
        finally:
            super().close()
