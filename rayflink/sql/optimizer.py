"""Rewrite rules on the logical plan: adjacent Calcs merge, constant expressions fold, and a Scan
reads only the fields that the plan above it uses (projection push-down)."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from rayflink.sql.expressions import Call, Col, Expr, Lit, evaluate
from rayflink.sql.logical import Calc, IntervalJoin, Join, RelNode, Scan, Union, explain_tree


def explain(plan: RelNode) -> str:
    """Flink's EXPLAIN layout: the abstract syntax tree and the optimized plan."""
    return ("== Abstract Syntax Tree ==\n" + explain_tree(plan)
            + "\n\n== Optimized Physical Plan ==\n" + explain_tree(optimize(plan)))


def optimize(node: RelNode) -> RelNode:
    """Apply every rule bottom-up until nothing changes."""
    node = _children(node, optimize)
    if isinstance(node, Calc):
        node = fold_calc(node)
        if isinstance(node.input, Calc):
            return optimize(merge_calcs(node, node.input))
        if isinstance(node.input, Scan):
            return prune_scan(node, node.input)
    return node


def _children(node: RelNode, fn) -> RelNode:
    if not node.inputs:
        return node
    if isinstance(node, Union):
        return Union(tuple(fn(i) for i in node.inputs))
    if isinstance(node, (Join, IntervalJoin)):
        return dataclasses.replace(node, left=fn(node.left), right=fn(node.right))
    new = fn(node.inputs[0])
    return node if new is node.inputs[0] else dataclasses.replace(node, input=new)


def substitute(expr: Expr, projections: tuple[Expr, ...]) -> Expr:
    """``expr`` with each field reference replaced by the expression that computes that field."""
    if isinstance(expr, Col):
        return projections[expr.index]
    if isinstance(expr, Call):
        return Call(expr.name, tuple(substitute(a, projections) for a in expr.args), expr.options)
    return expr


def merge_calcs(upper: Calc, lower: Calc) -> Calc:
    """Calc(Calc(x)) -> Calc(x): the upper's expressions over the lower's, conditions AND-ed."""
    projections = tuple(substitute(e, lower.projections) for e in upper.projections)
    condition = lower.condition
    if upper.condition is not None:
        moved = substitute(upper.condition, lower.projections)
        condition = moved if condition is None else Call("and", (condition, moved))
    return Calc(lower.input, projections, upper.names, upper.types, condition)


def fold(expr: Expr) -> Expr:
    """``expr`` with every call of constants replaced by its value (``1 + 2`` -> ``3``)."""
    if not isinstance(expr, Call):
        return expr
    args = tuple(fold(a) for a in expr.args)
    if expr.name in ("and", "or"):  # TRUE AND x = x, FALSE AND x = FALSE; dually for OR
        unit = expr.name == "and"
        for a, b in (args, args[::-1]):
            if isinstance(a, Lit) and a.value is unit:
                return b
            if isinstance(a, Lit) and a.value is (not unit):
                return a
    call = Call(expr.name, args, expr.options)
    if args and all(isinstance(a, Lit) for a in args):
        try:
            value = evaluate(call, _EMPTY)
        except (pa.ArrowException, ValueError, TypeError):
            return call  # left to fail (or not) at run time, naming the row
        if isinstance(value, pa.Scalar):
            return Lit(value.as_py(), value.type)
    return call


_EMPTY = pa.RecordBatch.from_pylist([], schema=pa.schema([]))


def fold_calc(calc: Calc) -> Calc:
    """A Calc with its constant expressions folded; a condition that folds to TRUE is dropped."""
    condition = None if calc.condition is None else fold(calc.condition)
    if isinstance(condition, Lit) and condition.value is True:
        condition = None
    return Calc(calc.input, tuple(fold(e) for e in calc.projections), calc.names, calc.types, condition)


def field_uses(exprs: list[Expr]) -> tuple[set[int], dict[int, set[str]]]:
    """The fields ``exprs`` read whole, and those they read only through their ROW fields
    (``person.id``): for each such field, the names of its fields read."""
    whole: set[int] = set()
    parts: dict[int, set[str]] = {}

    def visit(e: Expr) -> None:
        if isinstance(e, Col):
            whole.add(e.index)
        elif isinstance(e, Call):
            if e.name == "row_field" and isinstance(e.args[0], Col):
                parts.setdefault(e.args[0].index, set()).add(e.options[0])
                return
            for a in e.args:
                visit(a)

    for e in exprs:
        visit(e)
    return whole, {i: names for i, names in parts.items() if i not in whole}


def _renumber(expr: Expr, mapping: dict[int, int]) -> Expr:
    if isinstance(expr, Col):
        return Col(mapping[expr.index], expr.name)
    if isinstance(expr, Call):
        return Call(expr.name, tuple(_renumber(a, mapping) for a in expr.args), expr.options)
    return expr


def prune_scan(calc: Calc, scan: Scan) -> Calc:
    """The scan keeps the fields the Calc reads (and its event-time attribute), and of a ROW read only
    through its fields, those fields."""
    whole, parts = field_uses(list(calc.projections) + ([calc.condition] if calc.condition is not None else []))
    keep = [i for i, name in enumerate(scan.fields) if i in whole or i in parts or name == scan.rowtime]
    subfields = tuple((scan.fields[i], tuple(sorted(parts[i]))) for i in keep if i in parts)
    if len(keep) == len(scan.fields) and subfields == scan.subfields:
        return calc
    mapping = {old: new for new, old in enumerate(keep)}
    pruned = Scan(scan.table, tuple(scan.fields[i] for i in keep), subfields)
    return Calc(pruned, tuple(_renumber(e, mapping) for e in calc.projections), calc.names, calc.types,
                None if calc.condition is None else _renumber(calc.condition, mapping))
