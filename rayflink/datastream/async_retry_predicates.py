"""Predicates for async I/O retry strategies, at PyFlink's path ``pyflink.datastream.async_retry_predicates``.

A retry strategy's ``result_predicate`` gets the results of an attempt, its ``exception_predicate``
the exception an attempt raised; either returning True asks for another attempt.

>>> import functools
>>> retry_on_timeouts = functools.partial(exception_type_predicate, expected_error_type=TimeoutError)
>>> retry_on_timeouts(TimeoutError()), retry_on_timeouts(ValueError())
(True, False)
"""

from __future__ import annotations

from typing import Any

__all__ = ["empty_result_predicate", "exception_type_predicate", "has_exception_predicate"]


def empty_result_predicate(result: list | None) -> bool:
    """True for no result: None or an empty list."""
    return not result


def has_exception_predicate(error: BaseException | None) -> bool:
    """True when the attempt raised."""
    return error is not None


def exception_type_predicate(error: BaseException | None, expected_error_type: type[BaseException] | Any) -> bool:
    """True when the attempt raised an ``expected_error_type`` (a class or a tuple of classes)."""
    return isinstance(error, expected_error_type)
