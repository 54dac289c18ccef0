"""``AsyncDataStream``: apply an ``AsyncFunction`` to a stream (PyFlink's async I/O API)."""

from __future__ import annotations

from typing import Any

from rayflink.errors import GraphBuildError
from rayflink.graph.transformations import AsyncFunctionDescriptor, OperatorKind, OperatorSpec


def _named(function: Any, name: str, doc: str) -> Any:
    function.__name__ = name
    function.__qualname__ = f"AsyncDataStream.{name}"
    function.__doc__ = doc
    return function


def _waiting(name: str, ordered: bool, doc: str) -> Any:
    """An ``AsyncDataStream`` entry point without retries, keeping the input's order or not."""

    def wait(data_stream: Any, async_function: Any, timeout: Any, capacity: int = 100,
             output_type: Any = None) -> Any:
        return _async_wait(data_stream, async_function, timeout, None, capacity, output_type, ordered=ordered)

    return _named(wait, name, doc)


def _waiting_with_retry(name: str, ordered: bool) -> Any:
    """An ``AsyncDataStream`` entry point with an ``async_retry_strategy``, keeping the input's order or not."""

    def wait_with_retry(data_stream: Any, async_function: Any, timeout: Any, async_retry_strategy: Any,
                        capacity: int = 100, output_type: Any = None) -> Any:
        return _async_wait(data_stream, async_function, timeout, async_retry_strategy, capacity, output_type,
                           ordered=ordered)

    plain = name.removesuffix("_with_retry")
    return _named(wait_with_retry, name, f"``{plain}``, attempting a call again as ``async_retry_strategy`` says.")


class AsyncDataStream:
    """Async I/O: ``async_invoke`` runs for many records at once; results come back unordered
    (as they complete, never across a watermark) or in the input's order.

    >>> enriched = AsyncDataStream.unordered_wait(orders, LookupUser(), Time.seconds(2), capacity=100)
    """

    # PyFlink's four entry points differ only in the order kept and in taking a retry strategy
    unordered_wait = staticmethod(_waiting(
        "unordered_wait", False, "Emit each record's results as soon as they complete (watermarks still order them)."))
    unordered_wait_with_retry = staticmethod(_waiting_with_retry("unordered_wait_with_retry", False))
    ordered_wait = staticmethod(_waiting("ordered_wait", True, "Emit results in the order of the input records."))
    ordered_wait_with_retry = staticmethod(_waiting_with_retry("ordered_wait_with_retry", True))


def _millis(timeout: Any) -> int:
    if hasattr(timeout, "to_milliseconds"):
        return int(timeout.to_milliseconds())
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return int(timeout)
    raise GraphBuildError(f"async I/O timeout: expected a Time or Duration (or milliseconds), got {timeout!r:.80}")


def _async_wait(stream: Any, function: Any, timeout: Any, retry: Any, capacity: int, output_type: Any,
                ordered: bool) -> Any:
    from rayflink.datastream.async_retry_strategies import NO_RETRY_STRATEGY
    from rayflink.datastream.functions import AsyncFunction, AsyncRetryStrategy

    if not isinstance(function, AsyncFunction):
        raise GraphBuildError(f"async I/O needs an AsyncFunction with 'async def async_invoke(value)', "
                              f"got {type(function).__name__}")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        raise GraphBuildError(f"async I/O capacity must be a positive int, not {capacity!r}")
    timeout_ms = _millis(timeout)
    if timeout_ms <= 0:
        raise GraphBuildError(f"async I/O timeout must be positive, not {timeout_ms} ms")
    if retry is not None and not isinstance(retry, AsyncRetryStrategy):
        raise GraphBuildError(f"async I/O retry: expected an AsyncRetryStrategy, got {type(retry).__name__}")
    mode = AsyncFunctionDescriptor.OutputMode.ORDERED if ordered else AsyncFunctionDescriptor.OutputMode.UNORDERED
    params = AsyncFunctionDescriptor(function, timeout_ms, capacity, retry or NO_RETRY_STRATEGY, mode)
    name = "Async Wait (ordered)" if ordered else "Async Wait (unordered)"
    return stream._one_input(name, OperatorSpec(OperatorKind.ASYNC_WAIT, params), output_type)
