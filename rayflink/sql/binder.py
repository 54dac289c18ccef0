"""Binds sqlglot's scalar expressions to the fields of an input: names resolved, types checked."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import pyarrow as pa
from sqlglot import exp

from rayflink.sql.errors import SqlValidationError, closest
from rayflink.sql.expressions import (
    INTERVAL_MS,
    SQL_FUNCTIONS,
    TIME_UNITS,
    Call,
    Col,
    Expr,
    Lit,
    result_type,
)
from rayflink.sql.types import arrow_type, flink_type_name

_BINARY = {
    exp.Add: "add", exp.Sub: "subtract", exp.Mul: "multiply", exp.Div: "divide", exp.Mod: "mod",
    exp.EQ: "equal", exp.NEQ: "not_equal", exp.LT: "less", exp.LTE: "less_equal", exp.GT: "greater",
    exp.GTE: "greater_equal", exp.And: "and", exp.Or: "or", exp.Pow: "power", exp.DPipe: "concat",
}
_UNARY = {
    exp.Upper: "upper", exp.Lower: "lower", exp.Length: "char_length", exp.Abs: "abs", exp.Sqrt: "sqrt",
    exp.Ln: "ln", exp.Exp: "exp", exp.Neg: "negate", exp.Not: "not",
}
_OPERATOR_SQL = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "mod": "%", "equal": "=",
                 "not_equal": "<>", "less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">="}


# the user-defined functions of the TableEnvironment planning now (name in upper case -> udf)
_USER_FUNCTIONS: ContextVar[Mapping[str, Any]] = ContextVar("user_functions", default=MappingProxyType({}))


@contextmanager
def user_functions(functions: Mapping[str, Any]) -> Iterator[None]:
    """Bind calls to ``functions`` (a catalog's udfs) while planning in this block."""
    token = _USER_FUNCTIONS.set(functions)
    try:
        yield
    finally:
        _USER_FUNCTIONS.reset(token)


def position(node: exp.Expr) -> dict:
    """``line``, ``column`` (1-based, where the token starts) and ``token`` of ``node`` for errors."""
    for n in [node, *node.walk()]:
        meta = getattr(n, "meta", None) or {}
        if not meta and isinstance(getattr(n, "this", None), exp.Expr):
            meta = n.this.meta or {}
        if "line" in meta:
            start_col = meta["col"] - (meta.get("end", 0) - meta.get("start", 0))
            return {"line": meta["line"], "column": start_col, "token": node.sql(dialect="risingwave")[:60]}
    return {"token": node.sql(dialect="risingwave")[:60]}


def invalid(message: str, node: exp.Expr) -> SqlValidationError:
    return SqlValidationError(message, **position(node))


class Binder:
    """Turns sqlglot expressions over ``schema`` into typed ``Expr`` s.

    ``replacements`` maps sqlglot subtrees (by their SQL text) to fields, as the planner does for
    group keys and aggregate calls above an aggregation.
    """

    def __init__(self, schema: pa.Schema, replacements: dict[str, int] | None = None,
                 what: str = "the input", aliases: dict[str, dict[str, int]] | None = None) -> None:
        self.schema = schema
        self.replacements = replacements or {}
        self.what = what
        self.aliases = aliases or {}  # table name or alias -> its column names -> field index

    def bind(self, node: exp.Expr) -> Expr:
        key = node.sql(dialect="risingwave")
        if key in self.replacements:
            i = self.replacements[key]
            return Col(i, self.schema.names[i])
        bound = self._bind(node)
        if isinstance(bound, Call):
            self.check(bound, node)
        return bound

    def type_of(self, expr: Expr) -> pa.DataType:
        return result_type(expr, self.schema)

    def check(self, call: Call, node: exp.Expr) -> pa.DataType:
        """The type of ``call``; a type error names the expression and its argument types."""
        try:
            return result_type(call, self.schema)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            types = ", ".join(flink_type_name(result_type(a, self.schema)) for a in call.args)
            op = _OPERATOR_SQL.get(call.name, call.name.upper())
            raise invalid(f"cannot apply {op!r} to arguments of type ({types}) in "
                          f"'{node.sql(dialect='risingwave')[:80]}': {str(exc).splitlines()[0][:120]}", node) from None

    # ---- the cases ------------------------------------------------------------------------

    def _bind(self, node: exp.Expr) -> Expr:  # noqa: C901 - one case per SQL construct
        b = self.bind
        if isinstance(node, exp.Paren):
            return b(node.this)
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
            return self.element(node)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return Lit(node.this, pa.string())
            text = node.this
            if "." in text or "e" in text.lower():
                return Lit(float(text), pa.float64())
            value = int(text)
            return Lit(value, pa.int32() if -2**31 <= value < 2**31 else pa.int64())
        if isinstance(node, exp.Null):
            return Lit(None, pa.null())
        if isinstance(node, exp.Boolean):
            return Lit(bool(node.this), pa.bool_())
        if isinstance(node, exp.Interval):
            return Lit(interval_ms(node), pa.duration("ms"))
        if type(node) in _BINARY:
            name = _BINARY[type(node)]
            return Call(name, (b(node.this), b(node.expression)))
        if type(node) in _UNARY:
            inner = node.this
            if isinstance(node, exp.Not) and isinstance(inner, exp.Is):
                return Call("is_not_null", (b(inner.this),)) if isinstance(inner.expression, exp.Null) \
                    else Call("not", (b(inner),))
            return Call(_UNARY[type(node)], (b(inner),))
        if isinstance(node, exp.Is):
            if isinstance(node.expression, exp.Null):
                return Call("is_null", (b(node.this),))
            raise invalid("only IS NULL / IS NOT NULL are supported", node)
        if isinstance(node, exp.Between):
            value = b(node.this)
            return Call("and", (Call("greater_equal", (value, b(node.args["low"]))),
                                Call("less_equal", (value, b(node.args["high"])))))
        if isinstance(node, exp.In):
            values = [b(v) for v in node.expressions]
            if not all(isinstance(v, Lit) for v in values):
                raise invalid("IN (...) takes constants", node)
            return Call("in", (b(node.this),), tuple(v.value for v in values))
        if isinstance(node, exp.Like):
            pattern = b(node.expression)
            if not isinstance(pattern, Lit):
                raise invalid("LIKE takes a constant pattern", node)
            return Call("like", (b(node.this),), (pattern.value,))
        if isinstance(node, exp.Case):
            args: list[Expr] = []
            for when in node.args.get("ifs") or []:
                args += [b(when.this), b(when.args["true"])]
            default = node.args.get("default")
            args.append(b(default) if default is not None else Lit(None, pa.null()))
            return Call("case", tuple(args))
        if isinstance(node, exp.If):
            false = node.args.get("false")
            return Call("if", (b(node.this), b(node.args["true"]),
                               b(false) if false is not None else Lit(None, pa.null())))
        if isinstance(node, exp.Coalesce):
            return Call("coalesce", tuple(b(a) for a in [node.this, *node.expressions]))
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return Call("cast", (b(node.this),), (arrow_type(node.to),))
        if isinstance(node, exp.JSONValue):
            path = node.args.get("path")
            if not (isinstance(path, exp.Literal) and path.is_string):
                raise invalid("JSON_VALUE takes a constant path, e.g. JSON_VALUE(s, '$.a.b')", node)
            value = Call("json_value", (b(node.this),), (json_path(path.this, node),))
            returning = node.args.get("returning")
            return Call("cast", (value,), (arrow_type(returning),)) if isinstance(returning, exp.DataType) else value
        if isinstance(node, exp.Concat):
            return Call("concat", tuple(b(a) for a in node.expressions))
        if isinstance(node, (exp.Floor, exp.Ceil)):
            unit = node.args.get("to")
            if unit is not None:
                name = TIME_UNITS.get(unit.name.upper())
                if name is None:
                    raise invalid(f"FLOOR/CEIL ... TO {unit.name}: use one of {', '.join(TIME_UNITS)}", node)
                return Call("floor_to" if isinstance(node, exp.Floor) else "ceil_to", (b(node.this),), (name,))
            return Call("floor" if isinstance(node, exp.Floor) else "ceil", (b(node.this),))
        if isinstance(node, exp.Round):
            digits = node.args.get("decimals")
            return Call("round", (b(node.this),), (int(digits.this),) if digits is not None else ())
        if isinstance(node, exp.Substring):
            start = node.args.get("start")
            length = node.args.get("length")
            opts = (int(start.this),) + ((int(length.this),) if length is not None else ())
            return Call("substring", (b(node.this),), opts)
        if isinstance(node, exp.Trim):
            return Call("trim", (b(node.this),))
        if isinstance(node, exp.Extract):
            unit = node.this.name.upper()
            return Call("extract", (b(node.expression),), (TIME_UNITS.get(unit, unit.lower()),))
        if isinstance(node, (exp.Hour, exp.Minute, exp.Second, exp.Year, exp.Month, exp.Day)):
            return Call("extract", (b(node.this),), (type(node).__name__.lower(),))
        if isinstance(node, exp.Anonymous):
            return self.function(node)
        if isinstance(node, exp.Func):  # a function sqlglot knows under another class: go by name
            name = node.sql_name().upper()
            if name in SQL_FUNCTIONS:
                return Call(SQL_FUNCTIONS[name], tuple(b(a) for a in _func_args(node)))
        if isinstance(node, exp.AggFunc):
            raise invalid(f"aggregate function {node.sql_name()} is not allowed here", node)
        raise invalid(f"'{node.sql(dialect='risingwave')[:80]}' is not supported yet", node)

    def column(self, node: exp.Column) -> Expr:
        name = node.name
        names = self.schema.names
        qualifier = node.table
        field = self.row_field(node)
        if field is not None:
            return field
        if qualifier and self.aliases:
            columns = self.aliases.get(qualifier)
            if columns is None:
                raise invalid(f"table or alias {qualifier!r} is not in FROM" + closest(qualifier, self.aliases), node)
            if name not in columns:
                raise invalid(f"column {name!r} not found in {qualifier!r}" + closest(name, columns), node)
            return Col(columns[name], names[columns[name]])
        owners = [a for a, columns in self.aliases.items() if name in columns]
        if len(owners) > 1:
            raise invalid(f"column {name!r} is ambiguous; qualify it: "
                          + " or ".join(f"{a}.{name}" for a in owners), node)
        if len(owners) == 1:
            index = self.aliases[owners[0]][name]
            return Col(index, names[index])
        if name in names:
            return Col(names.index(name), name)
        lowered = [n.lower() for n in names]
        if not node.this.args.get("quoted") and name.lower() in lowered and lowered.count(name.lower()) == 1:
            i = lowered.index(name.lower())
            return Col(i, names[i])
        raise invalid(f"column {name!r} not found in {self.what}" + closest(name, names), node)

    def column_index(self, node: exp.Column, role: str) -> int:
        """The field ``node`` names where only a column will do (``role``: what takes it, for the error)."""
        bound = self.column(node)
        if not isinstance(bound, Col):
            raise invalid(f"{role} takes a column, not a ROW's field; declare a computed column for it "
                          f"(e.g. f AS {node.sql(dialect='risingwave')})", node)
        return bound.index

    def row_field(self, node: exp.Column) -> Expr | None:
        """``person.id`` (or ``t.person.id``): field ``id`` of the ROW column ``person``, where
        ``person`` is a column and not a table or alias in FROM; None otherwise."""
        qualifier, table = node.table, node.args.get("db")
        if not qualifier or (qualifier in self.aliases and table is None):
            return None
        row = exp.Column(this=exp.to_identifier(qualifier), table=table.copy() if table is not None else None)
        try:
            bound = self.column(row)
        except SqlValidationError:
            if table is not None:
                raise
            return None
        row_type = self.type_of(bound)
        if not pa.types.is_struct(row_type):
            raise invalid(f"{qualifier!r} is {flink_type_name(row_type)}, not a ROW: it has no field {node.name!r}",
                          node)
        if row_type.get_field_index(node.name) < 0:
            raise invalid(f"ROW {qualifier!r} has no field {node.name!r}"
                          + closest(node.name, [f.name for f in row_type]), node)
        return Call("row_field", (bound,), (node.name,))

    def element(self, node: exp.Bracket) -> Expr:
        """``tags[1]`` (an ARRAY's element, 1-based as in Flink) or ``m['key']`` (a MAP's value);
        NULL where there is none."""
        container = self.bind(node.this)
        container_type = self.type_of(container)
        index = node.expressions[0]
        if not isinstance(index, exp.Literal):
            raise invalid("an ARRAY index or MAP key must be a constant", node)
        if pa.types.is_list(container_type) and not index.is_string:
            return Call("array_element", (container,), (int(index.this),))  # sqlglot made it 0-based
        if pa.types.is_map(container_type):
            # sqlglot takes a constant integer for a 1-based array index and makes it 0-based: undo it
            key = index.this if index.is_string else int(index.this) + 1
            return Call("map_value", (container,), (key,))
        raise invalid(f"'{node.sql(dialect='risingwave')[:80]}': [] takes an ARRAY and an integer index or a MAP "
                      f"and a key; this is {flink_type_name(container_type)}", node)

    def function(self, node: exp.Anonymous) -> Expr:
        name = node.name.upper()
        args = list(node.expressions)
        udf = node.meta.get("udf") or _USER_FUNCTIONS.get().get(name)  # inline (Table API) or registered
        if udf is not None:
            return Call("udf", tuple(self.bind(a) for a in args), (udf,))
        if name == "TO_TIMESTAMP":
            fmt = self._constant_string(args[1], node) if len(args) > 1 else None
            return Call("to_timestamp", (self.bind(args[0]),), (fmt,) if fmt else ())
        if name == "TO_TIMESTAMP_LTZ":  # epoch milliseconds (precision 3) or seconds (precision 0)
            precision = int(args[1].this) if len(args) > 1 else 3
            return Call("to_timestamp_ltz", (self.bind(args[0]),), (precision,))
        if name == "DATE_FORMAT":
            return Call("date_format", (self.bind(args[0]),), (self._constant_string(args[1], node),))
        if name in ("REPLACE", "REGEXP_REPLACE") and len(args) == 3:
            return Call("replace", (self.bind(args[0]),),
                        (self._constant_string(args[1], node), self._constant_string(args[2], node)))
        if name in SQL_FUNCTIONS:
            return Call(SQL_FUNCTIONS[name], tuple(self.bind(a) for a in args))
        if name in ("TUMBLE_START", "TUMBLE_END", "HOP_START", "HOP_END", "TUMBLE_ROWTIME", "HOP_ROWTIME"):
            raise invalid(f"{name} needs a GROUP BY with the matching {name.split('_')[0]}(...) window", node)
        raise invalid(f"function {name} is not supported yet (nor a function registered with "
                      "create_temporary_function / CREATE TEMPORARY FUNCTION)"
                      + closest(name, [*SQL_FUNCTIONS, *_USER_FUNCTIONS.get(), "TO_TIMESTAMP", "DATE_FORMAT",
                                       "REPLACE"]), node)

    def _constant_string(self, node: exp.Expr, where: exp.Expr) -> str:
        if isinstance(node, exp.Literal) and node.is_string:
            return node.this
        raise invalid(f"'{node.sql()}' must be a string literal", where)


def _func_args(node: exp.Func) -> list[exp.Expr]:
    return [v for k, v in node.args.items() if isinstance(v, exp.Expr) and k in ("this", "expression")] + \
        list(node.expressions)


_JSON_PATH_STEP = re.compile(r"\.([A-Za-z_][\w]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(text: str, node: exp.Expr) -> tuple:
    """A JSON path (``$.a.b``, ``$.a[0]``, ``$['a']``) as its steps: keys (str) and indexes (int)."""
    steps: list = []
    rest = text.strip()
    if not rest.startswith("$"):
        raise invalid(f"JSON path {text!r} must start with '$'", node)
    rest = rest[1:]
    while rest:
        m = _JSON_PATH_STEP.match(rest)
        if m is None:
            raise invalid(f"JSON path {text!r}: cannot read {rest!r} (use .key, ['key'] or [index])", node)
        key, index, quoted, double = m.groups()
        steps.append(int(index) if index is not None else key or quoted or double or "")
        rest = rest[m.end():]
    return tuple(steps)


def interval_ms(node: exp.Interval) -> int:
    """``INTERVAL '5' SECOND`` (or ``'5 SECOND'``) in milliseconds: SECOND, MINUTE, HOUR, DAY and plurals."""
    text = str(node.this.this if isinstance(node.this, exp.Literal) else node.this.sql()).strip()
    unit_node = node.args.get("unit")
    if unit_node is None and " " in text:
        text, unit = text.split(None, 1)
    else:
        unit = unit_node.name if unit_node is not None else "SECOND"
    unit = unit.upper()
    unit = unit[:-1] if unit.endswith("S") and unit[:-1] in INTERVAL_MS else unit
    if unit not in INTERVAL_MS:
        raise invalid(f"interval unit {unit} is not supported; use one of {', '.join(INTERVAL_MS)}", node)
    try:
        amount = float(text)
    except ValueError:
        raise invalid(f"interval value {text!r} must be a number", node) from None
    return int(amount * INTERVAL_MS[unit])


def is_aggregate(node: Any) -> bool:
    return isinstance(node, (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max))
