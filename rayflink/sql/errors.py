"""SQL errors: each names the statement's line and column, the offending token and what to do."""

from __future__ import annotations

import difflib
from typing import Iterable

from rayflink.errors import RayflinkError


class SqlError(RayflinkError, ValueError):
    """A statement cannot be parsed, validated or planned (Flink's ``SqlParserException``/``ValidationException``)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 token: str | None = None) -> None:
        where = f" (line {line}, column {column}" + (f", at {token!r})" if token else ")") if line else ""
        super().__init__(message + where)
        self.line = line
        self.column = column
        self.token = token


class SqlParseError(SqlError):
    """The text is not valid Flink SQL."""


class SqlValidationError(SqlError):
    """The statement parses but names something unknown or mixes types."""


class SqlPlanningError(SqlError):
    """The query is valid but cannot run as asked (an updating query into an append-only sink, ...)."""


def closest(name: str, candidates: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the candidate closest to ``name``, or a list of what exists."""
    options = list(candidates)
    lowered = {c.lower(): c for c in options}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    if match:
        return f"; did you mean {lowered[match[0]]!r}?"
    if options:
        shown = ", ".join(repr(o) for o in sorted(options)[:10])
        return f"; available: {shown}"
    return ""
