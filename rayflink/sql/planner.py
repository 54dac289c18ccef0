"""From a parsed query to the logical plan: FROM, WHERE, GROUP BY (regular, group windows and
window TVFs), HAVING, OVER aggregations, SELECT, INSERT INTO; names and types are checked on the way."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from rayflink.sql.binder import Binder, interval_ms, invalid, is_aggregate, user_functions
from rayflink.sql.catalog import Catalog, CatalogTable, CatalogView
from rayflink.sql.errors import SqlPlanningError, closest
from rayflink.sql.expressions import Call, Col, Expr, Lit
from rayflink.sql.logical import (
    AggCall,
    Aggregate,
    Calc,
    ChangelogNormalize,
    IntervalJoin,
    Join,
    LookupJoin,
    MatchRecognize,
    Measure,
    Navigation,
    OverAggregate,
    OverFrame,
    PatternVariable,
    Rank,
    RelNode,
    Scan,
    Sink,
    TemporalJoin,
    Union,
    WindowAggregate,
    WindowSpec,
    WindowTableFunction,
)

WINDOW_COLUMNS = ("window_start", "window_end", "window_time")


@dataclass(frozen=True)
class _Windowed:
    """A window TVF in FROM: the input, its time field and the window (aggregated by the GROUP BY)."""

    input: RelNode
    time: str
    window: WindowSpec


class Planner:
    """Plans queries against ``catalog``."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.ctes: list[dict[str, RelNode]] = []  # WITH ... AS (...) of the queries being planned

    # ---- statements ------------------------------------------------------------------------

    def plan_insert(self, node: exp.Insert) -> Sink:
        target = node.this
        name = target.this.name if isinstance(target, exp.Schema) else target.name
        table = self.catalog.get(name)
        if not isinstance(table, CatalogTable):
            raise invalid(f"cannot INSERT INTO view {name!r}; insert into a table", target)
        with user_functions(self.catalog.functions):
            query = self.plan_query(node.expression)
        return Sink(conform(query, table, node), table)

    # ---- queries ---------------------------------------------------------------------------

    def plan_query(self, node: exp.Expr) -> RelNode:
        with user_functions(self.catalog.functions):
            return self._plan_with(node)

    def _plan_with(self, node: exp.Expr) -> RelNode:
        with_ = node.args.get("with_")
        if with_ is None:
            return self._plan_query(node)
        scope: dict[str, RelNode] = {}
        self.ctes.append(scope)
        try:
            for cte in with_.expressions:
                scope[cte.alias] = self.plan_query(cte.this)
            return self._plan_query(node)
        finally:
            self.ctes.pop()

    def _plan_query(self, node: exp.Expr) -> RelNode:
        if isinstance(node, exp.Subquery):
            return self.plan_query(node.this)
        if isinstance(node, exp.Union):
            return self.plan_union(node)
        if not isinstance(node, exp.Select):
            raise invalid(f"{type(node).__name__.upper()} queries are not supported yet; use SELECT", node)
        for unsupported in ("order", "limit", "laterals"):
            if node.args.get(unsupported):
                raise invalid(f"{unsupported.rstrip('s').upper()} is not supported yet", node.args[unsupported]
                              if isinstance(node.args[unsupported], exp.Expr) else node)
        from_ = node.args["from_"].this if node.args.get("from_") else None
        if from_ is None:
            raise invalid("a SELECT needs a FROM clause", node)
        where = node.args.get("where")
        ranked = self.plan_rank(from_, where.this) if where is not None else None
        if ranked is not None:
            source, where = ranked
        else:
            source = self.plan_from(from_)
        match = node.args.get("match")
        if match is not None:
            if isinstance(source, _Windowed):
                raise invalid("MATCH_RECOGNIZE over a window TVF is not supported; match over the table", match)
            source = self.plan_match(source, match)
        windowed = source if isinstance(source, _Windowed) else None
        rel = windowed.input if windowed is not None else source
        alias = match.alias if match is not None and match.alias else _alias(from_)
        aliases = {alias: {n: i for i, n in enumerate(rel.schema.names)}}
        conjuncts = rest = _conjuncts(where.this) if where is not None else []
        for join in node.args.get("joins") or []:
            if windowed is not None:
                raise invalid("a join with a window TVF is not supported yet", join)
            rel, aliases, rest = self.plan_join(rel, aliases, join, rest)
        if rest:  # (what a join took into its condition is not filtered again)
            condition = where.this if len(rest) == len(conjuncts) else functools.reduce(exp.and_, rest)
            rel = filter_(rel, Binder(rel.schema, what=_what(rel), aliases=aliases).bind(condition))
        selects = self.expand_star(node, rel, windowed, aliases)
        if any(s.find(exp.Window) for s in selects):
            return self.plan_over(node, rel, windowed, selects, aliases)
        group = node.args.get("group")
        having = node.args.get("having")
        aggregates = [a for s in selects for a in s.find_all(exp.AggFunc) if is_aggregate(a)]
        if having is not None:
            aggregates += [a for a in having.find_all(exp.AggFunc) if is_aggregate(a)]
        if group is None and not aggregates and not node.args.get("distinct"):
            if windowed is not None:
                if windowed.window.proctime:
                    raise invalid(f"a window TVF on the processing-time attribute {windowed.time!r} is supported in "
                                  "a window aggregation (GROUP BY window_start, window_end) only", from_)
                rel = WindowTableFunction(rel, rel.schema.names.index(windowed.time), windowed.window)
            return project(rel, selects, Binder(rel.schema, what=_what(rel), aliases=aliases))
        group_exprs = list(group.expressions) if group is not None else []
        if node.args.get("distinct"):
            group_exprs += [s.this if isinstance(s, exp.Alias) else s for s in selects]
        return self.plan_aggregate(rel, windowed, group_exprs, aggregates, selects,
                                   having.this if having is not None else None, aliases)

    def expand_star(self, node: exp.Select, rel: RelNode, windowed: _Windowed | None,
                    aliases: dict[str, dict[str, int]]) -> list[exp.Expr]:
        """``*`` and ``t.*`` as the columns they stand for (qualified, so a join's equal names stay apart)."""
        out = []
        for s in node.expressions:
            if isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star)):
                qualifier = s.table if isinstance(s, exp.Column) else ""
                if qualifier and qualifier not in aliases:
                    raise invalid(f"table or alias {qualifier!r} is not in FROM" + closest(qualifier, aliases), s)
                for alias, columns in aliases.items():
                    if not qualifier or alias == qualifier:
                        out += [exp.column(n, table=alias, quoted=True)
                                for n, _ in sorted(columns.items(), key=lambda c: c[1])]
                if windowed is not None and not qualifier:
                    out += [exp.column(n, quoted=True) for n in WINDOW_COLUMNS]
            else:
                out.append(s)
        return out

    def plan_rank(self, from_: exp.Expr, where: exp.Expr) -> tuple[RelNode, exp.Where | None] | None:
        """Top-N: ``FROM (SELECT ..., ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) AS rn FROM ...)
        WHERE rn <= N`` becomes a Rank node; the rest of the WHERE stays (None when not this shape)."""
        inner = from_.this if isinstance(from_, exp.Subquery) else None
        if not isinstance(inner, exp.Select):
            return None
        windows = [s for s in inner.expressions if isinstance(s, exp.Alias) and isinstance(s.this, exp.Window)]
        if not any(isinstance(w.this.this, exp.RowNumber) for w in windows):
            return None  # OVER aggregations: planned with the subquery
        window = windows[0]
        if not isinstance(window.this.this, exp.RowNumber) or len(windows) > 1:
            raise invalid("only one ROW_NUMBER() OVER (...) per query is supported (Top-N), and no OVER "
                          "aggregation next to it", window)
        rank_name = window.alias
        limit, rest = None, []
        for conjunct in _conjuncts(where):
            bound = _rank_limit(conjunct, rank_name)
            if bound is not None and limit is None:
                limit = bound
            else:
                rest.append(conjunct)
        if limit is None:
            raise invalid(f"ROW_NUMBER() needs a limit on {rank_name!r} in the outer WHERE (e.g. "
                          f"{rank_name} <= 3, or {rank_name} = 1 to deduplicate)", where)
        base = inner.copy()
        base.set("expressions", [s for s in base.expressions if s is not None and s.alias != rank_name] or
                 [exp.Star()])
        rel = self.plan_query(base)
        if rel.updating:
            raise SqlPlanningError("Top-N over an updating input is not supported yet")
        binder = Binder(rel.schema, what="the Top-N input")
        over = window.this
        partition = tuple(binder.column_index(p, "PARTITION BY") for p in over.args.get("partition_by") or [])
        order_node = over.args.get("order")
        if order_node is None:
            raise invalid("ROW_NUMBER() OVER (...) needs an ORDER BY", over)
        order = tuple((binder.column_index(o.this, "ORDER BY"), bool(o.args.get("desc")),
                       bool(o.args.get("nulls_first"))) for o in order_node.expressions)
        ranked = Rank(rel, partition, order, limit, rank_name)
        condition = None
        for r in rest:
            condition = r if condition is None else exp.and_(condition, r)
        return ranked, (exp.Where(this=condition) if condition is not None else None)

    def plan_over(self, node: exp.Select, rel: RelNode, windowed: _Windowed | None, selects: list[exp.Expr],
                  aliases: dict[str, dict[str, int]]) -> RelNode:
        """``agg(...) OVER (PARTITION BY ... ORDER BY rowtime ROWS|RANGE ...)`` in the SELECT list: an
        OverAggregate appending the aggregates to each input row, then the projection. As in Flink,
        every OVER call of a SELECT uses the same window."""
        for clause in ("group", "having", "distinct"):
            if node.args.get(clause):
                raise invalid(f"OVER aggregations and {clause.upper()} in one SELECT are not supported; "
                              "aggregate in a subquery", node.args[clause] if isinstance(node.args[clause], exp.Expr)
                              else node)
        if windowed is not None:
            raise invalid("an OVER aggregation over a window TVF is not supported; use the table itself", node)
        if rel.updating:
            raise SqlPlanningError(f"an OVER aggregation needs an insert-only input; it is updating "
                                   f"({_what(rel)}: a GROUP BY result, a LEFT JOIN or a changelog source)")
        named = {w.name: w for w in node.args.get("windows") or []}
        binder = Binder(rel.schema, what=_what(rel), aliases=aliases)
        window: tuple | None = None
        first = ""
        calls: dict[str, exp.Window] = {}
        for s in selects:
            for call in s.find_all(exp.Window):
                resolved, text = self.over_window(call, named, rel, binder)
                if window is None:
                    window, first = resolved, text
                elif resolved != window:
                    raise invalid(f"all OVER aggregations of a SELECT must use the same window; got OVER ({first}) "
                                  f"and OVER ({text})", call)
                calls.setdefault(call.sql(dialect="risingwave"), call)
        assert window is not None  # the caller found an OVER call
        partition, time, frame = window
        width = len(rel.schema)
        pre: list[Expr] = [Col(i, n) for i, n in enumerate(rel.schema.names)]
        agg_calls = []
        for call in calls.values():
            agg = call.this
            if not is_aggregate(agg):
                what = "ROW_NUMBER() OVER is Top-N only: filter on it in an outer query (WHERE rn <= N)" \
                    if isinstance(agg, exp.RowNumber) else \
                    f"{agg.sql(dialect='risingwave')[:40]} OVER is not supported; use COUNT, SUM, AVG, MIN or MAX"
                raise invalid(what, call)
            kind, arg, distinct = _agg_parts(agg)
            index = None
            if arg is not None:
                bound = binder.bind(arg)
                if not isinstance(bound, Col):
                    pre.append(bound)
                index = bound.index if isinstance(bound, Col) else len(pre) - 1
            agg_calls.append((kind, index, distinct))
        if len(pre) > width:
            rel = Calc(rel, tuple(pre), tuple(_unique(list(rel.schema.names) +
                                                      [f"$f{i}" for i in range(width, len(pre))])),
                       tuple(binder.type_of(e) for e in pre))
        aggs = tuple(AggCall(kind, arg, distinct, _agg_type(kind, None if arg is None else rel.schema.field(arg).type))
                     for kind, arg, distinct in agg_calls)
        names = _unique(list(rel.schema.names) + [f"w0$o{i}" for i in range(len(aggs))])[len(rel.schema):]
        over = OverAggregate(rel, partition, time, frame, aggs, tuple(names))
        replacements = {text: len(rel.schema) + i for i, text in enumerate(calls)}
        return project(over, selects, Binder(over.schema, replacements, what=_what(rel), aliases=aliases))

    def over_window(self, call: exp.Window, named: dict[str, exp.Window], rel: RelNode,
                    binder: Binder) -> tuple[tuple[tuple[int, ...], int, OverFrame], str]:
        """The (partition fields, time field, frame) of an OVER call's window (inline or ``OVER w``
        of the WINDOW clause), and the window as written."""
        window: exp.Expr = call
        name = call.args.get("alias")
        if name is not None and not (call.args.get("partition_by") or call.args.get("order")
                                     or call.args.get("spec")):
            if name.name not in named:
                raise invalid(f"window {name.name!r} is not defined; define it in WINDOW {name.name} AS (...)"
                              + closest(name.name, named), call)
            window = named[name.name]
        partition_by = window.args.get("partition_by") or []
        order, spec = window.args.get("order"), window.args.get("spec")
        text = " ".join(p for p in (
            f"PARTITION BY {', '.join(p.sql(dialect='risingwave') for p in partition_by)}" if partition_by else "",
            order.sql(dialect="risingwave").strip() if order is not None else "",
            spec.sql(dialect="risingwave") if spec is not None else "") if p)
        partition = []
        for p in partition_by:
            col = binder.bind(p)
            if not isinstance(col, Col):
                raise invalid(f"an OVER window's PARTITION BY takes columns; got {p.sql()}", p)
            partition.append(col.index)
        ordered = order.expressions if order is not None else []
        by = binder.bind(ordered[0].this) if len(ordered) == 1 and not ordered[0].args.get("desc") else None
        proctime = isinstance(by, Col) and is_proctime(rel, rel.schema.names[by.index])
        if not proctime and (by is None or rel.rowtime is None
                             or by != Col(rel.schema.names.index(rel.rowtime), rel.rowtime)):
            got = f"; got ORDER BY {', '.join(o.sql() for o in ordered)}" if ordered else ""
            raise invalid(f"an OVER window must ORDER BY the input's event-time attribute ascending"
                          f"{f' ({rel.rowtime})' if rel.rowtime else ' (it has none: declare a WATERMARK)'}{got}; "
                          "or a processing-time attribute (a PROCTIME() column)", order or call)
        frame = _over_frame(spec)
        if proctime:
            assert isinstance(by, Col)
            return (tuple(partition), by.index, dataclasses.replace(frame, proctime=True)), text
        return (tuple(partition), rel.schema.names.index(rel.rowtime), frame), text

    def plan_join(self, left: RelNode, aliases: dict[str, dict[str, int]], join: exp.Join,
                  where: list[exp.Expr]) -> tuple[RelNode, dict[str, dict[str, int]], list[exp.Expr]]:
        """An equi-join (INNER, LEFT, RIGHT or FULL) of ``left`` (its tables ``aliases``) and the
        join's table, and the conjuncts of the WHERE (``where``) that are left to filter after it:
        ``FROM a, b WHERE ...`` joins on the conjuncts that only read tables joined so far."""
        side = (join.args.get("side") or "").upper()
        kind = (join.args.get("kind") or "").upper()
        if side not in ("", "LEFT", "RIGHT", "FULL") or kind not in ("", "INNER", "OUTER"):
            raise invalid(f"{' '.join(p for p in (side, kind) if p)} JOIN is not supported yet; use JOIN, "
                          "LEFT JOIN, RIGHT JOIN or FULL JOIN", join)
        right = self.plan_from(join.this)
        if isinstance(right, _Windowed):
            raise invalid("a join with a window TVF is not supported yet", join)
        alias = _alias(join.this)
        if alias in aliases:
            raise invalid(f"{alias!r} appears twice in FROM; give one of them an alias", join.this)
        version = join.this.args.get("version") if isinstance(join.this, exp.Table) else None
        offset = len(left.schema)
        names = _unique(list(left.schema.names) + list(right.schema.names))
        joined = {**aliases, alias: {n: i + offset for i, n in enumerate(right.schema.names)}}
        schema = pa.schema([pa.field(n, t) for n, t in zip(names, left.schema.types + right.schema.types)])
        on = join.args.get("on")
        comma = on is None and not side and not kind and not join.args.get("using")
        if comma:  # FROM a, b WHERE ...: an inner join on the WHERE's conjuncts over a and b
            on_conjuncts = [c for c in where if _reads_only(c, joined)]
            where = [c for c in where if not _reads_only(c, joined)]
        elif on is None:
            raise invalid("a join needs ON with an equality of both sides' columns (cross joins are not "
                          "supported)", join)
        else:
            on_conjuncts = _conjuncts(on)
        binder = Binder(schema, what="the joined tables", aliases=joined)
        left_keys, right_keys, residual = [], [], []
        for conjunct in on_conjuncts:
            bound = binder.bind(conjunct)
            if (isinstance(bound, Call) and bound.name == "equal" and all(isinstance(a, Col) for a in bound.args)
                    and (bound.args[0].index < offset) != (bound.args[1].index < offset)):
                a, b = sorted(bound.args, key=lambda c: c.index)
                if not _same_key_kind(schema.field(a.index).type, schema.field(b.index).type):
                    raise invalid(f"join keys {a.name} and {b.name} differ in type", conjunct)
                left_keys.append(a.index)
                right_keys.append(b.index - offset)
            else:
                residual.append(bound)
        if not left_keys:
            raise invalid(f"a join needs an equality of a column of each side in {'WHERE' if comma else 'ON'} "
                          "(non-equi joins are not supported yet)", on or join)
        if version is not None:
            return self.temporal_join(left, right, side, version, binder, offset, left_keys, right_keys, residual,
                                      names, join), joined, where
        condition = None
        for r in residual:
            condition = r if condition is None else Call("and", (condition, r))
        bounds = None
        if condition is not None and not left.updating and not right.updating \
                and left.rowtime is not None and right.rowtime is not None:
            left_time, right_time = left.schema.names.index(left.rowtime), right.schema.names.index(right.rowtime)
            bounds = time_bounds(residual, left_time, offset + right_time)
        if bounds is not None:
            return IntervalJoin(left, right, side or "INNER", tuple(left_keys), tuple(right_keys), tuple(names),
                                left_time, right_time, condition, *bounds), joined, where
        return Join(left, right, side or "INNER", tuple(left_keys), tuple(right_keys), tuple(names),
                    condition), joined, where

    def temporal_join(self, left: RelNode, right: RelNode, side: str, version: exp.Expr, binder: Binder,
                      offset: int, left_keys: list[int], right_keys: list[int], residual: list[Expr],
                      names: list[str], join: exp.Join) -> TemporalJoin | LookupJoin:
        """``JOIN versioned FOR SYSTEM_TIME AS OF left.time``: an event-time temporal join, or a
        lookup join when the right table is a lookup source (jdbc, redis)."""
        if side not in ("", "LEFT"):
            raise invalid(f"a temporal join is a JOIN or a LEFT JOIN, not a {side} JOIN", join)
        if version.args.get("kind") != "AS OF":
            raise invalid("a temporal join reads FOR SYSTEM_TIME AS OF <the left table's time attribute>", version)
        if left.updating:
            raise SqlPlanningError("the left input of a temporal join must be insert-only; it is updating "
                                   f"({_what(left)})")
        table = right.table if isinstance(right, Scan) else None
        if table is not None and table.lookup:
            if residual:
                raise invalid("a lookup join's ON may only hold equalities of both sides' columns for now; filter "
                              "in WHERE", join.args.get("on"))
            return LookupJoin(left, table, "LEFT" if side == "LEFT" else "INNER", tuple(left_keys),
                              tuple(table.physical_schema.names.index(right.schema.names[k]) for k in right_keys),
                              tuple(names))
        if table is None or not table.primary_key or right.rowtime is None:
            raise invalid(f"{join.this.name!r} is not a versioned table: a temporal join needs a table with a "
                          "PRIMARY KEY and a WATERMARK (an event-time attribute)", join.this)
        time = binder.bind(version.expression)
        if not isinstance(time, Col) or time.index >= offset or left.rowtime != left.schema.names[time.index]:
            raise invalid(f"FOR SYSTEM_TIME AS OF takes the left input's event-time attribute"
                          f"{f' ({left.rowtime})' if left.rowtime else ''}; got {version.expression.sql()}",
                          version.expression)
        key_names = {right.schema.names[k] for k in right_keys}
        if not set(table.primary_key) <= key_names:
            raise invalid(f"a temporal join's ON must equal every PRIMARY KEY column of {table.name!r} "
                          f"({', '.join(table.primary_key)}) to a left column", join.args.get("on"))
        if residual:
            raise invalid("a temporal join's ON may only hold equalities of both sides' columns for now; filter "
                          "in WHERE", join.args.get("on"))
        return TemporalJoin(left, right, "LEFT" if side == "LEFT" else "INNER", tuple(left_keys), tuple(right_keys),
                            tuple(names), time.index, right.schema.names.index(right.rowtime))

    def plan_match(self, rel: RelNode, match: exp.MatchRecognize) -> MatchRecognize:
        """``MATCH_RECOGNIZE (PARTITION BY ... ORDER BY rowtime MEASURES ... PATTERN (...) DEFINE ...)``."""
        if rel.updating:
            raise SqlPlanningError(f"MATCH_RECOGNIZE needs an insert-only input; it is updating ({_what(rel)})")
        binder = Binder(rel.schema, what=_what(rel))
        partition = []
        for p in match.args.get("partition_by") or []:
            col = binder.bind(p)
            if not isinstance(col, Col):
                raise invalid("PARTITION BY takes columns", p)
            partition.append(col.index)
        order = match.args.get("order")
        ordered = order.expressions if order is not None else []
        if (len(ordered) != 1 or ordered[0].args.get("desc") or rel.rowtime is None
                or binder.bind(ordered[0].this) != Col(rel.schema.names.index(rel.rowtime), rel.rowtime)):
            raise invalid(f"MATCH_RECOGNIZE must ORDER BY the input's event-time attribute ascending"
                          f"{f' ({rel.rowtime})' if rel.rowtime else ' (it has none: declare a WATERMARK)'}",
                          order or match)
        rows = match.args.get("rows")
        if rows is not None and rows.name != "ONE ROW PER MATCH":
            raise invalid(f"{rows.name} is not supported; use ONE ROW PER MATCH", match)
        variables = _pattern(match.args.get("pattern"), match)
        names = [v for v, *_ in variables]
        defines: dict[str, Expr] = {}
        navigated: dict[str, tuple[Expr, tuple[Navigation, ...]]] = {}
        for d in match.args.get("define") or []:
            var = d.alias
            if var not in names:
                raise invalid(f"DEFINE {var}: {var!r} is not a variable of the PATTERN ({', '.join(names)})", d)
            navigation: list[Navigation] = []
            condition = d.this.transform(lambda n, v=var, nav=navigation: _navigate(n, v, names, binder, nav))
            if not navigation:  # reads the row tested only: computed for every row ahead of the matching
                defines[var] = binder.bind(condition)
                continue
            slots = [pa.field(f"$nav${i}", rel.schema.field(n.field).type) for i, n in enumerate(navigation)]
            extended = Binder(pa.schema(list(rel.schema) + slots), what=_what(rel))
            navigated[var] = (extended.bind(condition), tuple(navigation))
        # the DEFINE conditions, computed per row in one vectorized Calc ahead of the matching
        width = len(rel.schema)
        fields = {v: width + i for i, v in enumerate(defines)}
        rel = Calc(rel, tuple(Col(i, n) for i, n in enumerate(rel.schema.names)) + tuple(defines.values()),
                   tuple(_unique(list(rel.schema.names) + [f"$define${v}" for v in defines])),
                   tuple(rel.schema.types) + tuple(pa.bool_() for _ in defines))
        pattern = tuple(PatternVariable(v, lo, hi, greedy, fields.get(v), *navigated.get(v, (None, ())))
                        for v, lo, hi, greedy in variables)
        measures = tuple(self.measure(m.this, rel, binder, names) for m in match.args.get("measures") or [])
        if not measures:
            raise invalid("MATCH_RECOGNIZE needs MEASURES (what each match gives)", match)
        skip = _skip(match.args.get("after"), names, match)
        within = match.args.get("within")
        return MatchRecognize(rel, tuple(partition), rel.schema.names.index(rel.rowtime), pattern, measures, skip,
                              interval_ms(within) if within is not None else None)

    def measure(self, node: exp.Expr, rel: RelNode, binder: Binder, names: list[str]) -> Measure:
        if not isinstance(node, exp.Alias):
            raise invalid("each measure needs a name: MEASURES expr AS name", node)
        inner, kind = node.this, "LAST"
        kinds = {exp.First: "FIRST", exp.Last: "LAST", exp.Sum: "SUM", exp.Count: "COUNT", exp.Avg: "AVG",
                 exp.Min: "MIN", exp.Max: "MAX"}
        if type(inner) in kinds:
            kind, inner = kinds[type(inner)], inner.this
        if kind == "COUNT" and isinstance(inner, exp.Star):
            return Measure(node.alias, kind, None, None, pa.int64())
        if not isinstance(inner, exp.Column) or (inner.table and inner.table not in names):
            raise invalid("a measure is var.column, FIRST/LAST(var.column) or SUM/COUNT/AVG/MIN/MAX(var.column), "
                          f"with var a PATTERN variable ({', '.join(names)})", node)
        col = binder.bind(exp.column(inner.name, quoted=True))
        assert isinstance(col, Col)
        t = rel.schema.field(col.index).type
        if kind in ("SUM", "AVG") and not (pa.types.is_integer(t) or pa.types.is_floating(t)
                                           or pa.types.is_decimal(t)):
            raise invalid(f"{kind} needs a numeric column; {inner.name} is {t}", node)
        out = {"COUNT": pa.int64(), "AVG": pa.float64(),
               "SUM": pa.int64() if pa.types.is_integer(t) else pa.float64()}.get(kind, t)
        return Measure(node.alias, kind, inner.table or None, col.index, out)

    def plan_from(self, node: exp.Expr) -> RelNode | _Windowed:
        if isinstance(node, exp.Subquery):
            return self.plan_query(node.this)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous) and node.this.name.upper() == "TABLE":
            return self.plan_window_tvf(node.this.expressions[0])
        if isinstance(node, exp.Table):
            for scope in reversed(self.ctes):
                if node.name in scope:
                    return scope[node.name]
            try:
                obj = self.catalog.get(node.name)
            except Exception as exc:
                raise invalid(str(exc), node) from None
            if isinstance(obj, CatalogView):
                return obj.query if isinstance(obj.query, RelNode) else self.plan_query(obj.query)
            scan = Scan(obj, tuple(obj.schema.names))
            if obj.upsert:
                if not obj.primary_key:
                    raise invalid(f"table {obj.name!r} ('connector' = '{obj.connector()}') needs a PRIMARY KEY: "
                                  "it is read as upserts by key", node)
                return ChangelogNormalize(scan, tuple(scan.schema.names.index(k) for k in obj.primary_key))
            return scan
        raise invalid(f"'{node.sql()[:60]}' is not supported in FROM yet", node)

    def plan_union(self, node: exp.Union) -> RelNode:
        """UNION ALL: the inputs' fields must agree in number and type (UNION, deduplicating, is not supported)."""
        if node.args.get("distinct"):
            raise invalid("UNION (with deduplication) is not supported yet; use UNION ALL", node)
        left, right = self.plan_query(node.this), self.plan_query(node.expression)
        inputs = [*(left.inputs if isinstance(left, Union) else (left,)), right]
        first = inputs[0].schema
        for other in inputs[1:]:
            if len(other.schema) != len(first) or other.schema.types != first.types:
                raise invalid(f"UNION ALL inputs differ: ({_describe(first)}) and ({_describe(other.schema)}); "
                              "CAST them to the same column types", node)
            if other.updating != inputs[0].updating:
                raise invalid("UNION ALL of an updating and an insert-only input is not supported yet", node)
        renamed = [i if i.schema.names == first.names else
                   Calc(i, tuple(Col(k, n) for k, n in enumerate(i.schema.names)), tuple(first.names),
                        tuple(first.types)) for i in inputs]
        return Union(tuple(renamed))

    def plan_window_tvf(self, call: exp.Expr) -> _Windowed:
        name = call.name.upper() if isinstance(call, exp.Anonymous) else ""
        if name not in ("TUMBLE", "HOP", "CUMULATE"):
            raise invalid(f"window table function {name or call.sql()[:40]} is not supported yet; "
                          "use TUMBLE, HOP or CUMULATE (or GROUP BY SESSION(...))", call)
        args = call.expressions
        data, descriptor = args[0], args[1]
        rel = self.plan_from(data)
        if isinstance(rel, _Windowed):
            raise invalid("nested window table functions are not supported", call)
        if not (isinstance(descriptor, exp.Anonymous) and descriptor.name.upper() == "DESCRIPTOR"):
            raise invalid(f"{name}: the second argument must be DESCRIPTOR(time_column)", descriptor)
        time_col = rel.schema.field(Binder(rel.schema, what=_what(rel)).column_index(descriptor.expressions[0],
                                                                                    "DESCRIPTOR"))
        proctime = is_proctime(rel, time_col.name)
        if not proctime:
            check_rowtime(rel, time_col.name, descriptor)
        intervals = [interval_ms(a) for a in args[2:] if isinstance(a, exp.Interval)]
        if name == "TUMBLE":
            window = WindowSpec("TUMBLE", intervals[0], intervals[0], intervals[1] if len(intervals) > 1 else 0,
                                proctime)
        else:  # HOP(data, descriptor, slide, size), CUMULATE(data, descriptor, step, size)
            window = WindowSpec(name, intervals[1], intervals[0], proctime=proctime)
        check_window(window, call)
        return _Windowed(rel, time_col.name, window)

    def plan_aggregate(self, rel: RelNode, windowed: _Windowed | None, group_exprs: list[exp.Expr],
                       aggregates: list[exp.Expr], selects: list[exp.Expr], having: exp.Expr | None,
                       aliases: dict[str, dict[str, int]] | None = None) -> RelNode:
        binder = Binder(rel.schema, what=_what(rel), aliases=aliases)
        window: WindowSpec | None = windowed.window if windowed is not None else None
        time_name = windowed.time if windowed is not None else None
        window_call = None
        keys: list[exp.Expr] = []
        tvf_window_cols = []
        for g in group_exprs:
            if isinstance(g, exp.Anonymous) and g.name.upper() in ("TUMBLE", "HOP", "SESSION"):
                if window is not None:
                    raise invalid("only one window per GROUP BY", g)
                window_call, time_name, window = self.group_window(rel, g)
            elif windowed is not None and isinstance(g, exp.Column) and g.name in WINDOW_COLUMNS:
                tvf_window_cols.append(g.name)
            else:
                keys.append(g)
        if windowed is not None and not {"window_start", "window_end"} <= set(tvf_window_cols):
            raise invalid("a window TVF aggregation must GROUP BY window_start, window_end", group_exprs[0]
                          if group_exprs else selects[0])
        # pre-projection: keys, aggregate arguments, the time field
        pre: list[Expr] = [binder.bind(k) for k in keys]
        pre_names = [k.name if isinstance(k, exp.Column) else f"$f{i}" for i, k in enumerate(keys)]
        calls: list[tuple[str, int | None, bool]] = []
        seen: dict[str, int] = {}
        for a in aggregates:
            text = a.sql(dialect="risingwave")
            if text in seen:
                continue
            seen[text] = len(calls)
            kind, arg, distinct = _agg_parts(a)
            if arg is None:
                calls.append((kind, None, distinct))
            else:
                pre.append(binder.bind(arg))
                pre_names.append(f"$f{len(pre) - 1}")
                calls.append((kind, len(pre) - 1, distinct))
        if window is not None:
            t = Binder(rel.schema).column(exp.column(time_name, quoted=True))
            pre.append(t)
            pre_names.append(time_name)
        pre_names = _unique(pre_names)
        pre_calc = Calc(rel, tuple(pre), tuple(pre_names), tuple(binder.type_of(e) for e in pre))
        if rel.updating and window is not None:
            raise SqlPlanningError("a window aggregation over an updating input (a GROUP BY result or a LEFT "
                                   "JOIN) is not supported; window the insert-only input first")
        agg_calls = tuple(AggCall(kind, arg, distinct, _agg_type(kind, None if arg is None
                                                                   else pre_calc.types[arg]))
                          for kind, arg, distinct in calls)
        key_idx = tuple(range(len(keys)))
        agg_names = [f"$agg{i}" for i in range(len(agg_calls))]
        if window is None:
            agg: RelNode = Aggregate(pre_calc, key_idx, agg_calls, tuple(_unique(pre_names[:len(keys)] + agg_names)))
        else:
            names = _unique(pre_names[:len(keys)] + list(WINDOW_COLUMNS) + agg_names)
            agg = WindowAggregate(pre_calc, len(pre) - 1, window, key_idx, agg_calls, tuple(names))
        # post-projection: group keys, window properties and aggregate calls become fields
        replacements: dict[str, int] = {}
        for i, k in enumerate(keys):
            replacements[k.sql(dialect="risingwave")] = i
        offset = len(keys) + (3 if window is not None else 0)
        for text, i in seen.items():
            replacements[text] = offset + i
        if window is not None:
            for i, col in enumerate(WINDOW_COLUMNS):
                replacements[exp.column(col).sql(dialect="risingwave")] = len(keys) + i
        post = Binder(agg.schema, replacements, what="the GROUP BY's keys and aggregates")
        selects = [self.window_properties(s, window_call, len(keys)) for s in selects]
        for s in selects:
            self.check_grouped(s, replacements, keys)
        if having is None:
            return project(agg, selects, post)
        having = self.window_properties(having, window_call, len(keys))
        self.check_grouped(having, replacements, keys)
        return _filter_last(project(agg, selects, post, extra=[post.bind(having)]))

    def group_window(self, rel: RelNode, call: exp.Anonymous) -> tuple[exp.Anonymous, str, WindowSpec]:
        args = call.expressions
        if not isinstance(args[0], exp.Column):
            raise invalid(f"{call.name}: the first argument must be a time attribute column", call)
        time_col = rel.schema.field(Binder(rel.schema, what=_what(rel)).column_index(args[0], call.name))
        proctime = is_proctime(rel, time_col.name)
        if proctime and call.name.upper() == "SESSION":
            raise invalid(f"SESSION windows in processing time ({time_col.name!r} is a PROCTIME() attribute) are "
                          "not supported yet; use an event-time attribute", call)
        if not proctime:
            check_rowtime(rel, time_col.name, args[0])
        intervals = [interval_ms(a) for a in args[1:] if isinstance(a, exp.Interval)]
        if call.name.upper() in ("TUMBLE", "SESSION"):  # SESSION(time, gap)
            window = WindowSpec(call.name.upper(), intervals[0], intervals[0], proctime=proctime)
        else:  # HOP(time, slide, size)
            window = WindowSpec("HOP", intervals[1], intervals[0], proctime=proctime)
        check_window(window, call)
        return call, time_col.name, window

    def window_properties(self, node: exp.Expr, window_call: exp.Anonymous | None, nkeys: int) -> exp.Expr:
        """TUMBLE_START(...)/TUMBLE_END/TUMBLE_ROWTIME (and HOP_*) become the window's fields."""
        def swap(n: exp.Expr) -> exp.Expr:
            if isinstance(n, exp.Anonymous):
                name = n.name.upper()
                for prefix in ("TUMBLE", "HOP", "SESSION"):
                    for suffix, col in (("_START", "window_start"), ("_END", "window_end"),
                                        ("_ROWTIME", "window_time")):
                        if name == prefix + suffix:
                            if window_call is None or window_call.name.upper() != prefix:
                                raise invalid(f"{name} needs GROUP BY {prefix}(...)", n)
                            return exp.column(col)
            return n
        return node.transform(swap, copy=True)

    def check_grouped(self, node: exp.Expr, replacements: dict[str, int], keys: list[exp.Expr]) -> None:
        """A column outside aggregates and group keys is an error naming it."""
        def visit(n: exp.Expr) -> None:
            if n.sql(dialect="risingwave") in replacements:
                return
            if isinstance(n, exp.Column):
                raise invalid(f"expression {n.sql()!r} is not being grouped; add it to GROUP BY or "
                              "wrap it in an aggregate", n)
            for child in n.iter_expressions():
                visit(child)
        visit(node)


# ---- helpers -------------------------------------------------------------------------------

def _what(rel: RelNode) -> str:
    if isinstance(rel, Scan):
        return f"table {rel.table.name!r}"
    return "the input"


_PATTERN_ITEM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)(\*|\+|\?|\{(\d*)(,?)(\d*)\})?(\?)?")


def _pattern(node: exp.Expr | None, match: exp.Expr) -> list[tuple[str, int, int | None, bool]]:
    """``A B+ C{2,3}?`` as (variable, low, high, greedy) in order: a sequence of quantified variables."""
    text = node.name if node is not None else ""
    out, at = [], 0
    while at < len(text.rstrip()):
        m = _PATTERN_ITEM.match(text, at)
        if m is None or m.end() == at:
            raise invalid(f"PATTERN ({text}): only a sequence of variables with quantifiers (*, +, ?, {{n}}, {{n,m}}, "
                          "a trailing ? for reluctant) is supported, not alternation, groups or anchors", match)
        name, quant, lo, comma, hi, reluctant = m.groups()
        low, high = {None: (1, 1), "*": (0, None), "+": (1, None), "?": (0, 1)}.get(
            quant, (int(lo or 0), None if comma and not hi else int(hi or lo or 0)))
        out.append((name, low, high, not reluctant))
        at = m.end()
    if not out:
        raise invalid("MATCH_RECOGNIZE needs a PATTERN (...)", match)
    if len({v for v, *_ in out}) != len(out):
        raise invalid(f"PATTERN ({text}): a variable may appear once", match)
    return out


def _navigate(node: exp.Expr, var: str, names: list[str], binder: Binder, out: list[Navigation]) -> exp.Expr:
    """A DEFINE's node with its reads of other rows (``PREV(col[, n])``, ``LAST/FIRST(V.col[, n])``,
    ``V.col`` of another variable V: its last row) replaced by slots ``$nav$i`` (described in ``out``),
    and its reads of the row tested by plain columns."""
    prev = isinstance(node, exp.Anonymous) and node.name.upper() == "PREV"
    if prev or isinstance(node, (exp.Last, exp.First)):
        kind = "PREV" if prev else "LAST" if isinstance(node, exp.Last) else "FIRST"
        args = list(node.expressions) if prev else [node.this] + ([node.expression] if node.expression else [])
        target = args[0] if args else None
        if not isinstance(target, exp.Column) or len(args) > 2 or (target.table and target.table not in names):
            raise invalid(f"{kind} in DEFINE takes a column or var.column of a PATTERN variable ({', '.join(names)}) "
                          "and an optional offset, e.g. PREV(price) or LAST(A.price, 1)", node)
        offset = 1 if prev else 0
        if len(args) == 2:
            if not (isinstance(args[1], exp.Literal) and not args[1].is_string and str(args[1].this).isdigit()):
                raise invalid(f"the offset of {kind} must be a whole number >= 0, got {args[1].sql()}", args[1])
            offset = int(args[1].this)
        variable = target.table or (None if prev else var)
        if prev and variable == var:
            variable = None
        if kind == "LAST" and variable == var and offset == 0:  # the row tested itself
            return exp.column(target.name, quoted=True)
        out.append(Navigation(kind, variable, binder.column_index(exp.column(target.name), kind), offset))
        return exp.column(f"$nav${len(out) - 1}", quoted=True)
    if isinstance(node, exp.Column):
        if node.table and node.table != var:
            if node.table not in names:
                raise invalid(f"DEFINE {var} refers to {node.table}.{node.name}: {node.table!r} is not a PATTERN "
                              f"variable ({', '.join(names)})", node)
            out.append(Navigation("LAST", node.table, binder.column_index(exp.column(node.name), node.table), 0))
            return exp.column(f"$nav${len(out) - 1}", quoted=True)
        return exp.column(node.name, quoted=True)
    return node


def _skip(node: exp.Expr | None, names: list[str], match: exp.Expr) -> tuple[str, str | None]:
    text = node.name.removeprefix("AFTER MATCH SKIP ").strip() if node is not None else "PAST LAST ROW"
    if text in ("PAST LAST ROW", "TO NEXT ROW"):
        return text.replace(" ", "_"), None
    direction, _, var = text.partition(" ")[2].partition(" ")
    if direction not in ("FIRST", "LAST") or var not in names:
        raise invalid(f"AFTER MATCH SKIP {text}: use PAST LAST ROW, TO NEXT ROW, TO FIRST v or TO LAST v with v a "
                      f"PATTERN variable ({', '.join(names)})", match)
    return f"TO_{direction}", var


def _alias(node: exp.Expr) -> str:
    """The name a FROM item is qualified with: its alias, else its table name."""
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):  # TABLE(TUMBLE(TABLE t, ...))
        return node.alias or node.this.expressions[0].expressions[0].name
    return node.alias_or_name


def _rank_limit(node: exp.Expr, rank_name: str) -> int | None:
    """N of ``rn <= N``, ``rn < N + 1``, ``rn = 1`` (also written the other way round), else None."""
    flipped = {exp.GTE: exp.LTE, exp.GT: exp.LT, exp.EQ: exp.EQ}
    kind, left, right = type(node), node.args.get("this"), node.args.get("expression")
    if isinstance(right, exp.Column) and isinstance(left, exp.Literal) and kind in flipped:
        kind, left, right = flipped[kind], right, left
    if not (isinstance(left, exp.Column) and left.name == rank_name and isinstance(right, exp.Literal)
            and not right.is_string):
        return None
    n = int(right.this)
    if kind is exp.LTE:
        return n
    if kind is exp.LT:
        return n - 1
    if kind is exp.EQ and n == 1:
        return 1
    return None


def _reads_only(node: exp.Expr, aliases: dict[str, dict[str, int]]) -> bool:
    """Whether every column ``node`` reads is one of the tables ``aliases``."""
    return all(c.name in aliases[c.table] if c.table in aliases else
               not c.table and any(c.name in columns for columns in aliases.values())
               for c in node.find_all(exp.Column))


def _over_frame(spec: exp.WindowSpec | None) -> OverFrame:
    """ROWS n / RANGE INTERVAL ... / UNBOUNDED PRECEDING up to CURRENT ROW (without a frame: RANGE
    UNBOUNDED PRECEDING, SQL's default); other frames are refused naming them."""
    if spec is None:
        return OverFrame("RANGE", None)
    kind, start, end = spec.args.get("kind"), spec.args.get("start"), spec.args.get("end")
    written = spec.sql(dialect="risingwave")
    if end not in (None, "CURRENT ROW") or spec.args.get("start_side") == "FOLLOWING":
        raise invalid(f"OVER frame {written}: only frames from n PRECEDING or UNBOUNDED PRECEDING to CURRENT ROW "
                      "are supported (Flink has no FOLLOWING in OVER aggregations)", spec)
    if start == "UNBOUNDED":
        return OverFrame(kind, None)
    if start == "CURRENT ROW":
        return OverFrame(kind, 0)
    if kind == "ROWS":
        if not (isinstance(start, exp.Literal) and not start.is_string and start.this.isdigit()):
            raise invalid(f"OVER frame {written}: ROWS counts rows, as in ROWS BETWEEN 2 PRECEDING AND CURRENT ROW "
                          "(for a time span use RANGE BETWEEN INTERVAL ... PRECEDING)", spec)
        return OverFrame("ROWS", int(start.this))
    if not isinstance(start, exp.Interval):
        raise invalid(f"OVER frame {written}: RANGE over a time attribute takes an interval, as in RANGE BETWEEN "
                      "INTERVAL '1' HOUR PRECEDING AND CURRENT ROW", spec)
    return OverFrame("RANGE", interval_ms(start))


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _same_key_kind(a: pa.DataType, b: pa.DataType) -> bool:
    """Join keys hash alike when both are integers, or both the same type otherwise."""
    return a == b or (pa.types.is_integer(a) and pa.types.is_integer(b))


def _describe(schema: pa.Schema) -> str:
    from rayflink.sql.types import flink_type_name

    return ", ".join(f"{f.name} {flink_type_name(f.type)}" for f in schema)


def _unique(names: list[str]) -> list[str]:
    out, seen = [], {}
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


_FLIPPED = {"greater_equal": "less_equal", "greater": "less", "less_equal": "greater_equal", "less": "greater"}


def time_bounds(conjuncts: list[Expr], left_time: int, right_time: int) -> tuple[int, int] | None:
    """(lower, upper): the bounds in ms on left time - right time that the join's non-equi
    conjuncts set (``l.t BETWEEN r.t - INTERVAL a AND r.t + INTERVAL b``, ``l.t >= r.t``, ...,
    either side first), or None when they do not bound it on both sides (no interval join)."""
    def shifted(e: Expr) -> tuple[int, int] | None:  # field + constant ms
        if isinstance(e, Col):
            return e.index, 0
        if isinstance(e, Call) and e.name in ("add", "subtract") and isinstance(e.args[0], Col) \
                and isinstance(e.args[1], Lit) and e.args[1].type == pa.duration("ms"):
            return e.args[0].index, e.args[1].value if e.name == "add" else -e.args[1].value
        return None

    lower = upper = None
    pending = list(conjuncts)
    while pending:
        c = pending.pop()
        if not isinstance(c, Call):
            continue
        if c.name == "and":
            pending += c.args
            continue
        if c.name not in _FLIPPED:
            continue
        a, b = shifted(c.args[0]), shifted(c.args[1])
        if a is None or b is None or {a[0], b[0]} != {left_time, right_time}:
            continue
        op = c.name if a[0] == left_time else _FLIPPED[c.name]
        if a[0] != left_time:
            a, b = b, a
        bound = b[1] - a[1]  # left time <op> right time + bound
        if op in ("greater_equal", "greater"):
            bound += op == "greater"
            lower = bound if lower is None else max(lower, bound)
        else:
            bound -= op == "less"
            upper = bound if upper is None else min(upper, bound)
    return None if lower is None or upper is None else (lower, upper)


def is_proctime(rel: RelNode, name: str) -> bool:
    """Whether field ``name`` of ``rel`` is a processing-time attribute: a computed column
    ``AS PROCTIME()`` of the scanned table, or ``PROCTIME()`` in a projection, passed on as is."""
    if isinstance(rel, Scan):
        column = next((c for c in rel.table.columns if c.name == name), None)
        return column is not None and column.expr is not None and \
            re.sub(r"\s", "", column.expr).upper() == "PROCTIME()"
    if isinstance(rel, Calc) and name in rel.names:
        expr = rel.projections[rel.names.index(name)]
        if isinstance(expr, Col):
            return is_proctime(rel.input, rel.input.schema.names[expr.index])
        return isinstance(expr, Call) and expr.name == "proctime"
    return False


def check_rowtime(rel: RelNode, name: str, node: exp.Expr) -> None:
    if rel.rowtime != name:
        hint = f"the event-time attribute is {rel.rowtime!r}" if rel.rowtime else \
            "declare one with WATERMARK FOR <column> AS ... in CREATE TABLE"
        raise invalid(f"column {name!r} is not an event-time attribute; {hint}", node)


def check_window(window: WindowSpec, node: exp.Expr) -> None:
    if window.size_ms <= 0 or window.slide_ms <= 0:
        raise invalid("window size and slide must be positive intervals", node)
    if window.kind == "HOP" and window.size_ms < window.slide_ms:
        raise invalid(f"HOP window size {window.size_ms} ms is shorter than its slide {window.slide_ms} ms: rows "
                      "between two windows would belong to none", node)
    if window.kind == "CUMULATE" and window.size_ms % window.slide_ms:
        raise invalid(f"CUMULATE window size {window.size_ms} ms must be a multiple of its step "
                      f"{window.slide_ms} ms", node)


def _agg_parts(node: exp.Expr) -> tuple[str, exp.Expr | None, bool]:
    kind = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}[type(node)]
    arg = node.this
    distinct = isinstance(arg, exp.Distinct)
    if distinct:
        arg = arg.expressions[0]
    if kind == "count" and (arg is None or isinstance(arg, exp.Star)):
        return "count_star", None, False
    return kind, arg, distinct


def _agg_type(kind: str, arg: pa.DataType | None) -> pa.DataType:
    if kind in ("count", "count_star"):
        return pa.int64()
    if kind == "sum" and pa.types.is_integer(arg):
        return pa.int64()
    return arg


def filter_(rel: RelNode, condition: Expr) -> Calc:
    """All fields of ``rel`` where ``condition`` holds."""
    schema = rel.schema
    return Calc(rel, tuple(Col(i, n) for i, n in enumerate(schema.names)), tuple(schema.names),
                tuple(schema.types), condition)


def project(rel: RelNode, selects: list[exp.Expr], binder: Binder | None = None,
            extra: list[Expr] | None = None) -> Calc:
    """``SELECT selects`` over ``rel`` (names from aliases, columns, else ``EXPR$n`` as Flink)."""
    binder = binder or Binder(rel.schema, what=_what(rel))
    exprs, names = [], []
    for i, s in enumerate(selects):
        inner = s.this if isinstance(s, exp.Alias) else s
        exprs.append(binder.bind(inner))
        names.append(s.alias if isinstance(s, exp.Alias) else inner.name if isinstance(inner, exp.Column)
                     else f"EXPR${i}")
    for e in extra or []:
        exprs.append(e)
        names.append("$cond")
    return Calc(rel, tuple(exprs), tuple(_unique(names)), tuple(binder.type_of(e) for e in exprs))


def _filter_last(calc: Calc) -> Calc:
    """HAVING: a Calc whose last projection is the condition becomes the condition."""
    return Calc(calc.input, calc.projections[:-1], calc.names[:-1], calc.types[:-1], calc.projections[-1])


def conform(query: RelNode, table: CatalogTable, where: exp.Expr) -> RelNode:
    """The query's fields cast to the sink table's physical columns (same count, in order)."""
    target = table.physical_schema
    have = query.schema
    if len(have) != len(target):
        raise invalid(f"INSERT INTO {table.name}: the query has {len(have)} columns "
                      f"({', '.join(have.names)}) but the table has {len(target)} "
                      f"({', '.join(target.names)})", where)
    exprs = []
    for i, (h, t) in enumerate(zip(have, target)):
        col = Col(i, h.name)
        exprs.append(col if h.type == t.type else Call("cast", (col,), (t.type,)))
    return Calc(query, tuple(exprs), tuple(target.names), tuple(target.types))
