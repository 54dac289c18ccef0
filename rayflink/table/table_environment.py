"""``TableEnvironment`` / ``StreamTableEnvironment``: the entry point of SQL and the Table API.

>>> t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
>>> t_env.execute_sql("CREATE TABLE src (id INT, v DOUBLE) WITH ('connector' = 'datagen', 'number-of-rows' = '10')")
>>> t_env.execute_sql("SELECT id, v * 2 AS twice FROM src WHERE v > 0").print()
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from rayflink.sql.binder import Binder, invalid
from rayflink.sql.catalog import Catalog, CatalogTable, CatalogView
from rayflink.sql.ddl import create_table
from rayflink.sql.dialect import parse, parse_expression
from rayflink.sql.errors import SqlParseError, SqlPlanningError, SqlValidationError
from rayflink.sql.logical import Calc, RelNode, Sink, WatermarkAssigner
from rayflink.sql.optimizer import explain, optimize
from rayflink.sql.planner import Planner
from rayflink.sql.types import flink_type_name, is_time
from rayflink.table.environment_settings import EnvironmentSettings
from rayflink.table.schema import Schema
from rayflink.table.table_descriptor import TableDescriptor
from rayflink.table.table_result import ResultKind, TableResult, make_row

if TYPE_CHECKING:
    from rayflink.table.table import Table

_COMMAND = re.compile(r"\s*(SHOW|EXPLAIN)\b", re.IGNORECASE)
_OK = pa.schema([pa.field("result", pa.string())])


class TableConfig:
    """Options of SQL jobs at Flink's names (``SET 'key' = 'value'`` writes here), passed to each job."""

    def __init__(self) -> None:
        self._options: dict[str, str] = {}

    def set(self, key: str, value: str) -> "TableConfig":
        self._options[key] = value
        return self

    def get(self, key: str, default: Any = None) -> Any:
        return self._options.get(key, default)

    def to_dict(self) -> dict[str, str]:
        return dict(self._options)


class TableEnvironment:
    """Parses, plans and runs SQL statements and Table API programs on rayflink's runtime."""

    def __init__(self, settings: EnvironmentSettings, env: Any = None) -> None:
        from rayflink.datastream import StreamExecutionEnvironment
        from rayflink.datastream.execution_mode import RuntimeExecutionMode

        self._settings = settings
        self._env = env or StreamExecutionEnvironment.get_execution_environment()
        if not settings.is_streaming_mode():
            self._env.set_runtime_mode(RuntimeExecutionMode.BATCH)
        self._catalog = Catalog()
        self._anonymous_tables = 0  # tables registered for descriptors used without a name
        self._unnamed_views = 0  # views registered for tables named in SQL by str(table)
        self._planner = Planner(self._catalog)
        self._config = TableConfig()

    @staticmethod
    def create(environment_settings: EnvironmentSettings | None = None) -> "TableEnvironment":
        """A TableEnvironment in STREAMING (the default) or BATCH mode."""
        return TableEnvironment(environment_settings or EnvironmentSettings.in_streaming_mode())

    def get_config(self) -> TableConfig:
        return self._config

    # ---- statements ----------------------------------------------------------------------

    def execute_sql(self, statement: str) -> TableResult:
        """Run one statement: CREATE/DROP TABLE or VIEW, SHOW TABLES, DESCRIBE, SET, EXPLAIN,
        SELECT (returns its rows as they come) or INSERT INTO (returns at once; ``.wait()`` blocks)."""
        if re.fullmatch(r"\s*SET\s*;?\s*", statement, re.IGNORECASE):  # SET alone lists the options
            schema = pa.schema([pa.field("key", pa.string()), pa.field("value", pa.string())])
            return TableResult(ResultKind.SUCCESS_WITH_CONTENT, schema,
                               rows=[make_row(schema.names, [k, v]) for k, v in sorted(self._config.to_dict().items())])
        command = _COMMAND.match(statement)
        if command is not None:
            return self._command(command.group(1).upper(), statement[command.end():], statement)
        # Flink's SYSTEM functions live in the one namespace of temporary functions here
        node = self._parse_one(re.sub(r"\bTEMPORARY\s+SYSTEM\s+FUNCTION\b", "TEMPORARY FUNCTION", statement,
                                      flags=re.IGNORECASE))
        if isinstance(node, exp.Create):
            return self._create(node)
        if isinstance(node, exp.Drop) and (node.args.get("kind") or "").upper() == "FUNCTION":
            for function in node.args.get("tables") or [node.this]:
                self._catalog.drop_function(function.name, if_exists=bool(node.args.get("exists")))
            return _ok()
        if isinstance(node, exp.Drop):
            kind = (node.args.get("kind") or "TABLE").upper()
            for table in node.args.get("tables") or [node.this]:
                self._catalog.drop(table.name, view=kind == "VIEW", if_exists=bool(node.args.get("exists")))
            return _ok()
        if isinstance(node, exp.Describe):
            return self._describe(node.this)
        if isinstance(node, exp.Set):
            return self._set(node)
        if isinstance(node, exp.Insert):
            return self._run([self._planner.plan_insert(node)], "insert-into_" + node.this.name)
        if isinstance(node, (exp.Select, exp.Subquery, exp.Union)):
            return self._select(self._planner.plan_query(node))
        raise invalid(f"{type(node).__name__.upper()} statements are not supported; use CREATE TABLE/VIEW, "
                      "DROP, DESCRIBE, SHOW TABLES, SET, EXPLAIN, SELECT or INSERT INTO", node)

    def sql_query(self, query: str) -> "Table":
        """A Table of a SELECT, for the Table API or for ``execute()``."""
        from rayflink.table.table import Table

        return Table(self, self._planner.plan_query(self._parse_one(query)))

    def create_statement_set(self) -> "StatementSet":
        """Several INSERTs run as one job (``add_insert_sql``, ``add_insert``, ``execute``)."""
        return StatementSet(self)

    def from_path(self, path: str) -> "Table":
        """The Table of a catalog table or view."""
        from rayflink.table.table import Table

        return Table(self, self._planner.plan_from(exp.to_table(path)))

    def from_elements(self, elements: list, schema: Any = None) -> "Table":
        """A Table of ``elements`` (tuples, lists or dicts); ``schema`` is a list of column names or
        ``DataTypes.ROW([DataTypes.FIELD(name, type), ...])`` (types inferred from the values without one).

        >>> t_env.from_elements([(1, "Hi"), (2, "Hello")], ["id", "text"])
        """
        from rayflink.sql.logical import Values
        from rayflink.table.table import Table
        from rayflink.table.types import RowType

        rows = [list(e.values()) if isinstance(e, dict) else list(e) for e in elements]
        if isinstance(schema, RowType):
            arrow_schema = schema.schema()
        else:
            names = list(schema) if schema is not None else (
                list(elements[0]) if elements and isinstance(elements[0], dict)
                else [f"_{i + 1}" for i in range(len(rows[0]) if rows else 0)])
            inferred = pa.Table.from_pylist([dict(zip(names, r)) for r in rows])
            arrow_schema = pa.schema([pa.field(n, pa.int32() if pa.types.is_integer(t) and all(
                -2**31 <= v < 2**31 for v in inferred.column(n).to_pylist() if v is not None) else t)
                for n, t in zip(names, inferred.schema.types)])
        try:
            table = pa.Table.from_pylist([dict(zip(arrow_schema.names, r)) for r in rows], schema=arrow_schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SqlValidationError(f"from_elements: the elements do not fit the schema {arrow_schema}: "
                                     f"{exc}") from None
        return Table(self, Values(table))

    def create_temporary_table(self, path: str, descriptor: TableDescriptor, ignoreIfExists: bool = False) -> None:
        """Register the table ``descriptor`` declares under ``path`` (as its CREATE TABLE would).

        >>> t_env.create_temporary_table("words", TableDescriptor.for_connector("datagen")
        ...     .schema(Schema.new_builder().column("word", DataTypes.STRING()).build())
        ...     .option("number-of-rows", "10").build())
        """
        self.execute_sql(descriptor.ddl(path, temporary=True, if_not_exists=ignoreIfExists))

    def create_table(self, path: str, descriptor: TableDescriptor, ignoreIfExists: bool = False) -> None:
        """Register the table ``descriptor`` declares under ``path`` (tables live as long as this environment)."""
        self.execute_sql(descriptor.ddl(path, if_not_exists=ignoreIfExists))

    def from_descriptor(self, descriptor: TableDescriptor) -> "Table":
        """The Table of an anonymous table ``descriptor`` declares."""
        return self.from_path(self._anonymous(descriptor))

    def _anonymous(self, descriptor: TableDescriptor) -> str:
        """Register ``descriptor`` under a new name (``anonymous_<connector>$<n>``) and return it."""
        self._anonymous_tables += 1
        name = f"anonymous_{descriptor.options.get('connector', 'table')}${self._anonymous_tables}"
        self.create_temporary_table(name, descriptor)
        return name

    def _unnamed_view(self, table: "Table") -> str:
        """Register ``table`` as a view under a new name (``UnnamedTable$<n>``) and return it."""
        name = f"UnnamedTable${self._unnamed_views}"
        self._unnamed_views += 1
        self.create_temporary_view(name, table)
        return name

    def create_temporary_view(self, view_path: str, table: "Table") -> None:
        """Register ``table`` under ``view_path`` for SQL."""
        self._catalog.create(CatalogView(view_path, table._plan), replace=True)

    def create_temporary_function(self, path: str, function: Any) -> None:
        """Register a ``udf`` under ``path`` for SQL (``SELECT path(...)``)."""
        self._catalog.create_function(path, _as_udf(function, path))

    def create_temporary_system_function(self, name: str, function: Any) -> None:
        """Register a ``udf`` under ``name`` for SQL (as a temporary function: one namespace here)."""
        self._catalog.create_function(name, _as_udf(function, name))

    def drop_temporary_function(self, path: str) -> bool:
        return self._catalog.drop_function(path)

    def drop_temporary_system_function(self, name: str) -> bool:
        return self._catalog.drop_function(name)

    def list_user_defined_functions(self) -> list[str]:
        return sorted(name.lower() for name in self._catalog.functions)

    def list_tables(self) -> list[str]:
        return self._catalog.tables()

    def list_views(self) -> list[str]:
        return self._catalog.views()

    def explain_sql(self, statement: str) -> str:
        """The logical plan and the optimized plan of a query or INSERT."""
        node = self._parse_one(statement)
        plan = self._planner.plan_insert(node) if isinstance(node, exp.Insert) else self._planner.plan_query(node)
        return explain(plan)

    # ---- internals ---------------------------------------------------------------------------

    def _parse_one(self, statement: str) -> exp.Expr:
        try:
            nodes = parse(statement)
        except sqlglot.errors.ParseError as exc:
            first = exc.errors[0] if exc.errors else {}
            raise SqlParseError(f"SQL parse failed: {first.get('description', str(exc))}",
                                line=first.get("line"), column=first.get("col"),
                                token=first.get("highlight")) from None
        except sqlglot.errors.TokenError as exc:
            raise SqlParseError(f"SQL parse failed: {exc}") from None
        if len(nodes) != 1:
            raise SqlParseError(f"execute_sql takes one statement, got {len(nodes)}; run them one by one "
                                "or use create_statement_set() for several INSERTs")
        return nodes[0]

    def _command(self, word: str, rest: str, statement: str) -> TableResult:
        if word == "SHOW" and rest.strip().upper() in ("TABLES", "VIEWS"):
            names = self._catalog.tables() if rest.strip().upper() == "TABLES" else self._catalog.views()
            schema = pa.schema([pa.field("table name" if "TABLES" in rest.upper() else "view name", pa.string())])
            return TableResult(ResultKind.SUCCESS_WITH_CONTENT, schema,
                               rows=[make_row(schema.names, [n]) for n in names])
        if word == "EXPLAIN":
            text = self.explain_sql(re.sub(r"^\s*PLAN\s+FOR\b", "", rest, flags=re.IGNORECASE))
            schema = pa.schema([pa.field("result", pa.string())])
            return TableResult(ResultKind.SUCCESS_WITH_CONTENT, schema, rows=[make_row(["result"], [text])])
        raise SqlParseError(f"statement {statement.strip()[:60]!r} is not supported; use SHOW TABLES, "
                            "SHOW VIEWS or EXPLAIN <query>")

    def _create(self, node: exp.Create) -> TableResult:
        kind = (node.args.get("kind") or "").upper()
        exists = bool(node.args.get("exists"))
        if kind == "TABLE":
            self._catalog.create(create_table(node), if_not_exists=exists)
        elif kind == "VIEW":
            self._planner.plan_query(node.expression)  # validated now, planned where it is used
            self._catalog.create(CatalogView(node.this.name, node.expression), if_not_exists=exists,
                                 replace=bool(node.args.get("replace")))
        elif kind == "FUNCTION":
            from rayflink.table.udf import load_function

            language = next((p.this.name.upper() for p in (node.args.get("properties") or exp.Properties()).expressions
                             if isinstance(p, exp.LanguageProperty)), "PYTHON")
            if language != "PYTHON":
                raise invalid(f"CREATE FUNCTION ... LANGUAGE {language}: only Python functions run here", node)
            path = node.expression.this if isinstance(node.expression, exp.Literal) else node.expression.sql()
            self._catalog.create_function(node.this.name, load_function(path, node.this.name), if_not_exists=exists)
        else:
            raise invalid(f"CREATE {kind} is not supported; use CREATE TABLE, VIEW or TEMPORARY FUNCTION", node)
        return _ok()

    def _describe(self, target: exp.Expr) -> TableResult:
        obj = self._catalog.get(target.name)
        names = ["name", "type", "null", "key", "extras", "watermark"]
        rows = []
        if isinstance(obj, CatalogTable):
            for c in obj.columns:
                rows.append(make_row(names, [
                    c.name, flink_type_name(c.type), c.name not in obj.primary_key,
                    f"PRI({', '.join(obj.primary_key)})" if c.name in obj.primary_key else None,
                    f"AS {c.expr}" if c.expr else f"METADATA FROM '{c.metadata}'{' VIRTUAL' if c.virtual else ''}"
                    if c.metadata else None,
                    obj.watermark.expr if obj.watermark and obj.watermark.rowtime == c.name else None]))
        else:
            plan = obj.query if isinstance(obj.query, RelNode) else self._planner.plan_query(obj.query)
            for f in plan.schema:
                rows.append(make_row(names, [f.name, flink_type_name(f.type), True, None, None, None]))
        schema = pa.schema([pa.field(n, pa.string()) for n in names])
        return TableResult(ResultKind.SUCCESS_WITH_CONTENT, schema, rows=rows)

    def _set(self, node: exp.Set) -> TableResult:
        for item in node.expressions:
            eq = item.this
            if not isinstance(eq, exp.EQ):
                raise invalid("SET takes 'key' = 'value'", item)
            key = eq.this.this if isinstance(eq.this, exp.Literal) else eq.this.sql()
            value = eq.expression.this if isinstance(eq.expression, exp.Literal) else eq.expression.sql()
            self._config.set(str(key), str(value))
        return _ok()

    def _prepare_env(self) -> Any:
        from rayflink.common.configuration import Configuration

        self._env.get_config().add_all(Configuration(self._config.to_dict()))
        return self._env

    def _run(self, sinks: list[Sink], job_name: str) -> TableResult:
        from rayflink.sql.translate import translate

        env = self._prepare_env()
        translate([optimize(sink) for sink in sinks], env)
        client = env.execute_async(job_name)
        return TableResult(ResultKind.SUCCESS_WITH_CONTENT,
                           pa.schema([pa.field(f"default_catalog.default_database.{s.table.name}", pa.int64())
                                      for s in sinks]), job_client=client)

    def _select(self, plan: RelNode, job_name: str = "collect") -> TableResult:
        from rayflink.sql.translate import translate

        env = self._prepare_env()
        stream = translate([optimize(plan)], env)[0]
        batches = env._execute_and_collect(stream, job_name, None)
        return TableResult(ResultKind.SUCCESS_WITH_CONTENT, plan.schema, job_client=batches.client,
                           batches=batches, updating=plan.updating and self._settings.is_streaming_mode())


class StreamTableEnvironment(TableEnvironment):
    """A TableEnvironment over a given StreamExecutionEnvironment (its parallelism, checkpoints, ...)."""

    @staticmethod
    def create(stream_execution_environment: Any = None,
               environment_settings: EnvironmentSettings | None = None) -> "StreamTableEnvironment":
        from rayflink.common import config_options as options
        from rayflink.datastream import StreamExecutionEnvironment

        env = stream_execution_environment or StreamExecutionEnvironment.get_execution_environment()
        mode = options.get(env.get_config().to_dict(), options.RUNTIME_MODE)
        settings = environment_settings or EnvironmentSettings(mode != "BATCH")
        return StreamTableEnvironment(settings, env)


    def from_data_stream(self, data_stream: Any, schema: Any = None) -> "Table":
        """A Table of a DataStream's records (Rows, tuples or dicts); the columns come from ``schema``
        (``DataTypes.ROW([...])``) or from the stream's ``Types.ROW`` / ``Types.ROW_NAMED`` type
        (fields ``f0``, ``f1``, ... when unnamed), which a ``Schema`` may select, cast, add computed
        columns to and give a watermark:

        >>> t_env.from_data_stream(ds, Schema.new_builder()
        ...     .column_by_expression("ts", "CAST(f0 AS TIMESTAMP(3))").column("f1", DataTypes.STRING())
        ...     .watermark("ts", "ts - INTERVAL '3' SECOND").build())
        """
        from rayflink.sql.logical import DataStreamScan
        from rayflink.table.table import Table
        from rayflink.table.types import RowType

        if data_stream.get_execution_environment() is not self._env:
            raise SqlValidationError("from_data_stream: the stream belongs to another StreamExecutionEnvironment; "
                                     "create the table environment with StreamTableEnvironment.create(env)")
        if isinstance(schema, RowType):
            return Table(self, DataStreamScan(data_stream, schema.schema()))
        type_info = data_stream.get_type()
        struct = getattr(type_info, "arrow_type", None)
        if not isinstance(struct, pa.StructType) or struct.num_fields == 0:
            raise SqlValidationError("from_data_stream: give the columns, as DataTypes.ROW([...]) or as the "
                                     "stream's output type Types.ROW([...]) / Types.ROW_NAMED([...], [...])")
        scan = DataStreamScan(data_stream, pa.schema(list(struct)))
        return Table(self, scan if schema is None else _declared(scan, schema))

    def to_data_stream(self, table: "Table") -> Any:
        """The rows of an insert-only table as a DataStream of ``Row``."""
        if table._plan.updating and self._settings.is_streaming_mode():
            raise SqlPlanningError("to_data_stream: the table is updating (its rows change: "
                                   f"{table._plan.explain()}); use to_changelog_stream")
        return self.to_changelog_stream(table)

    def to_changelog_stream(self, table: "Table") -> Any:
        """The table's changelog as a DataStream of ``Row`` with their ``RowKind``; a table with an
        event-time attribute gives each row its value as the record's timestamp, as Flink does."""
        from rayflink.graph.transformations import OperatorKind, OperatorSpec, SqlRowsParams
        from rayflink.sql.translate import translate

        plan = optimize(table._plan)
        stream = translate([plan], self._prepare_env())[0]
        rowtime = plan.schema.names.index(plan.rowtime) if plan.rowtime is not None else None
        return stream._one_input("To Rows", OperatorSpec(OperatorKind.SQL_BATCHES_TO_ROWS, SqlRowsParams(rowtime)),
                                 None)


def _declared(scan: RelNode, schema: Schema) -> RelNode:
    """A DataStream's table as ``schema`` declares it: its physical columns (all the stream's fields
    when it names none; cast to the declared types), computed columns and watermark, in
    declaration order."""
    columns = schema.columns()
    bad = [c for c in columns if c.kind == "metadata"]
    if bad:
        raise SqlValidationError(f"from_data_stream: column {bad[0].name!r} is a metadata column; a DataStream "
                                 "has no connector metadata")
    for c in columns:
        if c.kind == "physical" and c.name not in scan.schema.names:
            raise SqlValidationError(f"from_data_stream: the stream has no field {c.name!r} (its fields: "
                                     f"{', '.join(scan.schema.names)})")
    # each column's name and its SQL over the stream's fields
    items = [(c.name, f"CAST(`{c.name}` AS {c.sql})" if c.kind == "physical" else c.sql) for c in columns]
    if not any(c.kind == "physical" for c in columns):
        items = [(n, f"`{n}`") for n in scan.schema.names] + items
    binder = Binder(scan.schema, what="from_data_stream")
    exprs = [binder.bind(parse_expression(sql)) for _name, sql in items]
    calc = Calc(scan, tuple(exprs), tuple(n for n, _sql in items), tuple(binder.type_of(e) for e in exprs))
    watermark = schema.watermark()
    if watermark is None:
        return calc
    rowtime, expr = watermark
    if rowtime not in calc.schema.names or not is_time(calc.schema.field(rowtime).type):
        raise SqlValidationError(f"from_data_stream: the watermark's column {rowtime!r} must be a TIMESTAMP(3) or "
                                 f"TIMESTAMP_LTZ(3) column ({calc.schema})")
    return WatermarkAssigner(calc, rowtime, Binder(calc.schema, what="from_data_stream").bind(parse_expression(expr)))


def _as_udf(function: Any, name: str) -> Any:
    from rayflink.table.udf import UserDefinedScalarFunctionWrapper

    if not isinstance(function, UserDefinedScalarFunctionWrapper):
        raise SqlValidationError(f"function {name!r}: register a function made by udf(..., result_type=...), "
                                 f"got {type(function).__name__}")
    return function


class StatementSet:
    """INSERT statements run together as one job."""

    def __init__(self, t_env: TableEnvironment) -> None:
        self._t_env = t_env
        self._sinks: list[Sink] = []

    def add_insert_sql(self, statement: str) -> "StatementSet":
        node = self._t_env._parse_one(statement)
        if not isinstance(node, exp.Insert):
            raise SqlValidationError("add_insert_sql takes an INSERT INTO statement")
        self._sinks.append(self._t_env._planner.plan_insert(node))
        return self

    def add_insert(self, target_path_or_descriptor: str | TableDescriptor, table: "Table",
                   overwrite: bool = False) -> "StatementSet":
        """Add the insert of ``table`` into a catalog table, or into the table a descriptor declares."""
        self._sinks.append(table._sink(target_path_or_descriptor))
        return self

    def explain(self) -> str:
        return "\n\n".join(explain(s) for s in self._sinks)

    def execute(self) -> TableResult:
        if not self._sinks:
            raise SqlValidationError("the statement set is empty; add_insert_sql(...) first")
        sinks, self._sinks = self._sinks, []
        return self._t_env._run(sinks, "insert-into_" + "_".join(s.table.name for s in sinks))


def _ok() -> TableResult:
    return TableResult(ResultKind.SUCCESS, _OK, rows=[make_row(["result"], ["OK"])])
