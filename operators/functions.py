"""Adapting user functions (lambdas or function classes) to plain callables, and locating failures."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from rayflink.datastream.output_tag import OutputTag
from rayflink.errors import JobExecutionError
from rayflink.runtime.operator import OperatorContext


def resolve(function: Any, method: str) -> Callable:
    """``function.method`` for a function class, else the callable itself."""
    bound = getattr(function, method, None)
    if callable(bound) and not inspect.isfunction(function):
        return bound
    return function


def open_function(function: Any, ctx: OperatorContext, runtime_context: Any) -> None:
    """Call ``open(runtime_context)`` on a rich function, naming the operator if it fails."""
    opener = getattr(function, "open", None)
    if callable(opener) and not inspect.isfunction(function):
        try:
            opener(runtime_context)
        except Exception as exc:
            raise ctx.failure(exc, what="open()") from exc


def close_function(function: Any) -> None:
    """Call ``close()`` on a rich function (its exceptions propagate: the task decides)."""
    closer = getattr(function, "close", None)
    if callable(closer) and not inspect.isfunction(function):
        closer()


def positional_arity(fn: Callable) -> int:
    """How many positional arguments ``fn`` takes (bound ``self`` excluded); -1 for *args."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    count = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return -1
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def failed_record(ctx: OperatorContext, values: list, consumed: Iterator, exc: Exception) -> Exception:
    """The failure of a per-record function that raised on a record of ``values`` while iterating
    ``consumed`` (an iterator over ``values``): the record is the last one the iterator gave out,
    so the function is never called again to find it."""
    index = len(values) - consumed.__length_hint__() - 1
    return ctx.failure(exc, values[index] if 0 <= index < len(values) else None)



def side_output(ctx: OperatorContext, out: Any, output_tag: Any, value: Any) -> None:
    """``ctx.output(output_tag, value)`` of a function's context: ``value`` to the side output through
    ``out``; anything but an ``OutputTag`` fails naming the operator."""
    if not isinstance(output_tag, OutputTag):
        raise JobExecutionError(f"{ctx.describe()}: ctx.output() needs an OutputTag, got {output_tag!r:.100}")
    out.output(output_tag, value)
