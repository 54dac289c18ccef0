"""Table API expressions (PyFlink's ``pyflink.table.expressions``): ``col``, ``lit``, ``call``.

Each ``Expression`` is a SQL expression tree underneath, so the Table API and SQL share one
planner.

>>> (col("price") * 2).alias("twice")
>>> col("amount").sum.alias("total")
>>> lit(1).minutes
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp


def _node(value: Any) -> exp.Expr:
    if isinstance(value, Expression):
        return value.node
    return lit(value).node


class Expression:
    """A column, literal, call, or an operation on them."""

    def __init__(self, node: exp.Expr) -> None:
        self.node = node

    def _binary(self, cls: type, other: Any, reverse: bool = False) -> "Expression":
        left, right = (_node(other), self.node) if reverse else (self.node, _node(other))
        return Expression(cls(this=exp.paren(left, copy=False), expression=exp.paren(right, copy=False)))

    # arithmetic and comparisons
    def __add__(self, other: Any) -> "Expression":
        return self._binary(exp.Add, other)

    def __radd__(self, other: Any) -> "Expression":
        return self._binary(exp.Add, other, True)

    def __sub__(self, other: Any) -> "Expression":
        return self._binary(exp.Sub, other)

    def __rsub__(self, other: Any) -> "Expression":
        return self._binary(exp.Sub, other, True)

    def __mul__(self, other: Any) -> "Expression":
        return self._binary(exp.Mul, other)

    def __rmul__(self, other: Any) -> "Expression":
        return self._binary(exp.Mul, other, True)

    def __truediv__(self, other: Any) -> "Expression":
        return self._binary(exp.Div, other)

    def __mod__(self, other: Any) -> "Expression":
        return self._binary(exp.Mod, other)

    def __neg__(self) -> "Expression":
        return Expression(exp.Neg(this=self.node))

    def __eq__(self, other: Any) -> "Expression":  # type: ignore[override]
        return self._binary(exp.EQ, other)

    def __ne__(self, other: Any) -> "Expression":  # type: ignore[override]
        return self._binary(exp.NEQ, other)

    def __lt__(self, other: Any) -> "Expression":
        return self._binary(exp.LT, other)

    def __le__(self, other: Any) -> "Expression":
        return self._binary(exp.LTE, other)

    def __gt__(self, other: Any) -> "Expression":
        return self._binary(exp.GT, other)

    def __ge__(self, other: Any) -> "Expression":
        return self._binary(exp.GTE, other)

    def __and__(self, other: Any) -> "Expression":
        return self._binary(exp.And, other)

    def __or__(self, other: Any) -> "Expression":
        return self._binary(exp.Or, other)

    def __invert__(self) -> "Expression":
        return Expression(exp.Not(this=self.node))

    __hash__ = None  # type: ignore[assignment]

    # aggregates (properties, as in PyFlink)
    @property
    def sum(self) -> "Expression":
        return Expression(exp.Sum(this=self.node))

    @property
    def count(self) -> "Expression":
        return Expression(exp.Count(this=self.node))

    @property
    def avg(self) -> "Expression":
        return Expression(exp.Avg(this=self.node))

    @property
    def min(self) -> "Expression":
        return Expression(exp.Min(this=self.node))

    @property
    def max(self) -> "Expression":
        return Expression(exp.Max(this=self.node))

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

    @property
    def milli(self) -> "Expression":
        return self._interval("MILLISECOND")

    millis = milli

    @property
    def seconds(self) -> "Expression":
        return self._interval("SECOND")

    second = seconds

    @property
    def minutes(self) -> "Expression":
        return self._interval("MINUTE")

    minute = minutes

    @property
    def hours(self) -> "Expression":
        return self._interval("HOUR")

    hour = hours

    @property
    def days(self) -> "Expression":
        return self._interval("DAY")

    day = days

    # window properties of a group window alias: col("w").start
    @property
    def start(self) -> "Expression":
        return Expression(exp.Anonymous(this="$WINDOW_START", expressions=[self.node]))

    @property
    def end(self) -> "Expression":
        return Expression(exp.Anonymous(this="$WINDOW_END", expressions=[self.node]))

    @property
    def rowtime(self) -> "Expression":
        return Expression(exp.Anonymous(this="$WINDOW_ROWTIME", expressions=[self.node]))

    def alias(self, name: str, *extra_names: str) -> "Expression":
        return Expression(exp.alias_(self.node, name, quoted=True))

    def cast(self, data_type: Any) -> "Expression":
        from rayflink.sql.dialect import Flink

        return Expression(exp.Cast(this=self.node, to=exp.DataType.build(data_type.sql(), dialect=Flink)))

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


def to_node(e: Any) -> exp.Expr:
    """An Expression, or a SQL string, as a SQL expression tree."""
    if isinstance(e, exp.Expr):
        return e
    if isinstance(e, str):
        from rayflink.sql.dialect import parse_expression

        return parse_expression(e)
    return _node(e)
