"""Table API expressions (PyFlink's ``pyflink.table.expressions``): ``col``, ``lit``, ``call``, and
the frame bounds of over windows (``row_interval``, ``UNBOUNDED_ROW``, ``UNBOUNDED_RANGE``,
``CURRENT_ROW``, ``CURRENT_RANGE``).

Each ``Expression`` is a SQL expression tree underneath, so the Table API and SQL share one
planner.

>>> (col("price") * 2).alias("twice")
>>> col("amount").sum.alias("total")
>>> lit(1).minutes
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp


def _node(value: Any) -> exp.Expr:
    if isinstance(value, Expression):
        return value.node
    return lit(value).node


def _operator(cls: type, reverse: bool = False) -> Callable[["Expression", Any], "Expression"]:
    """A binary operator method: ``self <op> other`` (``other <op> self`` when ``reverse``)."""

    def operator(self: Expression, other: Any) -> Expression:
        return self._binary(cls, other, reverse)

    return operator


def _applied(cls: type) -> Any:
    """A property: ``cls`` applied to the expression (an aggregate: ``col("a").sum``)."""
    return property(lambda self: Expression(cls(this=self.node)))


def _interval_of(unit: str) -> Any:
    """A property: the literal as an interval of ``unit`` (``lit(5).seconds``)."""
    return property(lambda self: self._interval(unit))


def _window_property(function: str) -> Any:
    """A property of a group window alias (``col("w").start``): ``function`` of the window."""
    return property(lambda self: Expression(exp.Anonymous(this=function, expressions=[self.node])))


class Expression:
    """A column, literal, call, or an operation on them."""

    def __init__(self, node: exp.Expr) -> None:
        self.node = node

    def _binary(self, cls: type, other: Any, reverse: bool = False) -> "Expression":
        left, right = (_node(other), self.node) if reverse else (self.node, _node(other))
        return Expression(cls(this=exp.paren(left, copy=False), expression=exp.paren(right, copy=False)))

    # arithmetic and comparisons: ``col("a") + 1``, ``2 * col("a")``, ``col("a") >= 5``
    __add__, __radd__ = _operator(exp.Add), _operator(exp.Add, reverse=True)
    __sub__, __rsub__ = _operator(exp.Sub), _operator(exp.Sub, reverse=True)
    __mul__, __rmul__ = _operator(exp.Mul), _operator(exp.Mul, reverse=True)
    __truediv__ = _operator(exp.Div)
    __mod__ = _operator(exp.Mod)
    __eq__ = _operator(exp.EQ)  # type: ignore[assignment]
    __ne__ = _operator(exp.NEQ)  # type: ignore[assignment]
    __lt__ = _operator(exp.LT)
    __le__ = _operator(exp.LTE)
    __gt__ = _operator(exp.GT)
    __ge__ = _operator(exp.GTE)
    __and__ = _operator(exp.And)
    __or__ = _operator(exp.Or)

    def __neg__(self) -> "Expression":
        return Expression(exp.Neg(this=self.node))

    def __invert__(self) -> "Expression":
        return Expression(exp.Not(this=self.node))

    __hash__ = None  # type: ignore[assignment]

    # aggregates (properties, as in PyFlink): ``col("amount").sum``
    sum = _applied(exp.Sum)
    count = _applied(exp.Count)
    avg = _applied(exp.Avg)
    min = _applied(exp.Min)
    max = _applied(exp.Max)

    @property
    def is_null(self) -> "Expression":
        return Expression(exp.Is(this=self.node, expression=exp.Null()))

    @property
    def is_not_null(self) -> "Expression":
        return Expression(exp.Not(this=exp.Is(this=self.node, expression=exp.Null())))

    # intervals: lit(5).seconds
    def _interval(self, unit: str) -> "Expression":
        value = self.node.this if isinstance(self.node, exp.Literal) else self.node.sql()
        return Expression(exp.Interval(this=exp.Literal.string(str(value)), unit=exp.var(unit)))

    milli = millis = _interval_of("MILLISECOND")
    seconds = second = _interval_of("SECOND")
    minutes = minute = _interval_of("MINUTE")
    hours = hour = _interval_of("HOUR")
    days = day = _interval_of("DAY")

    # window properties of a group window alias: col("w").start
    start = _window_property("$WINDOW_START")
    end = _window_property("$WINDOW_END")
    rowtime = _window_property("$WINDOW_ROWTIME")

    def alias(self, name: str, *extra_names: str) -> "Expression":
        return Expression(exp.alias_(self.node, name, quoted=True))

    def over(self, alias: "Expression") -> "Expression":
        """This aggregate over the over window named ``alias`` (``Table.over_window``):
        ``col("amount").sum.over(col("w"))``."""
        return Expression(exp.Window(this=self.node, alias=exp.to_identifier(alias.node.name)))

    def cast(self, data_type: Any) -> "Expression":
        from rayflink.sql.dialect import Flink

        return Expression(exp.Cast(this=self.node, to=exp.DataType.build(data_type.sql(), dialect=Flink)))

    def json_value(self, path: str, returning_type: Any = None) -> "Expression":
        """``JSON_VALUE(this, path [RETURNING type])``: the scalar at ``path`` of this JSON string
        (as ``returning_type``, default STRING): ``col("data").json_value("$.addr.city")``."""
        from rayflink.sql.dialect import Flink

        returning = None if returning_type is None else exp.DataType.build(returning_type.sql(), dialect=Flink)
        return Expression(exp.JSONValue(this=self.node, path=exp.Literal.string(path), returning=returning))

    def __repr__(self) -> str:
        return self.node.sql()


def col(name: str) -> Expression:
    """The column ``name``."""
    return Expression(exp.column(name, quoted=True))


def lit(value: Any, data_type: Any = None) -> Expression:
    """A constant (``data_type`` casts it)."""
    if isinstance(value, bool):
        node: exp.Expr = exp.Boolean(this=value)
    elif value is None:
        node = exp.Null()
    elif isinstance(value, (int, float)):
        node = exp.Literal.number(value)
    else:
        node = exp.Literal.string(str(value))
    e = Expression(node)
    return e.cast(data_type) if data_type is not None else e


def call(f: Any, *args: Any) -> Expression:
    """The function ``f`` (``call("UPPER", col("name"))``): a built-in or registered one by name, or a
    ``udf`` itself."""
    if isinstance(f, str):
        return Expression(exp.Anonymous(this=f.upper(), expressions=[_node(a) for a in args]))
    node = exp.Anonymous(this=repr(f).upper(), expressions=[_node(a) for a in args])
    node.meta["udf"] = f
    return Expression(node)


def row_interval(rows: int) -> Expression:
    """``rows`` rows before the current one: an over window's ``preceding`` (a ROWS frame)."""
    return Expression(exp.Anonymous(this="$ROW_INTERVAL", expressions=[exp.Literal.number(rows)]))


# the bounds of an over window's frame (``Over...preceding(UNBOUNDED_RANGE)``), as in PyFlink
UNBOUNDED_ROW = Expression(exp.Anonymous(this="$UNBOUNDED_ROW"))
UNBOUNDED_RANGE = Expression(exp.Anonymous(this="$UNBOUNDED_RANGE"))
CURRENT_ROW = Expression(exp.Anonymous(this="$CURRENT_ROW"))
CURRENT_RANGE = Expression(exp.Anonymous(this="$CURRENT_RANGE"))


def to_node(e: Any) -> exp.Expr:
    """An Expression, or a SQL string, as a SQL expression tree."""
    if isinstance(e, exp.Expr):
        return e
    if isinstance(e, str):
        from rayflink.sql.dialect import parse_expression

        return parse_expression(e)
    return _node(e)
