"""CREATE TABLE: sqlglot's tree to a ``CatalogTable`` (columns, computed columns, WATERMARK,
PRIMARY KEY ... NOT ENFORCED, PARTITIONED BY, WITH options), checked before it enters the catalog."""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from rayflink.sql.binder import Binder, invalid
from rayflink.sql.catalog import CatalogTable, Column, WatermarkSpec
from rayflink.sql.dialect import Flink, MetadataColumnConstraint
from rayflink.sql.types import arrow_type, is_time


def create_table(node: exp.Create) -> CatalogTable:
    """The table a ``CREATE TABLE`` statement declares."""
    schema = node.this
    if not isinstance(schema, exp.Schema):
        raise invalid("CREATE TABLE needs a column list: CREATE TABLE t (id INT, ...) WITH (...)", node)
    name = schema.this.name
    columns: list[Column] = []
    computed: list[tuple[int, exp.Expr]] = []
    watermark_node = None
    primary_key: tuple[str, ...] = ()
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            constraint = next((c.args["kind"] for c in item.args.get("constraints") or []
                               if isinstance(c.args.get("kind"), exp.ComputedColumnConstraint)), None)
            if constraint is not None:
                computed.append((len(columns), constraint.this))
                columns.append(Column(item.name, pa.null(), constraint.this.sql(dialect=Flink)))
            else:
                if item.args.get("kind") is None:
                    raise invalid(f"column {item.name!r} needs a type", item)
                metadata = next((c.args["kind"] for c in item.args.get("constraints") or []
                                 if isinstance(c.args.get("kind"), MetadataColumnConstraint)), None)
                key = None if metadata is None else (metadata.this.this if metadata.this is not None else item.name)
                columns.append(Column(item.name, arrow_type(item.args["kind"]), metadata=key,
                                      virtual=bool(metadata is not None and metadata.args.get("virtual"))))
                for c in item.args.get("constraints") or []:
                    if isinstance(c.args.get("kind"), exp.PrimaryKeyColumnConstraint):
                        primary_key = (item.name,)
        elif isinstance(item, exp.WatermarkColumnConstraint):
            watermark_node = item
        elif isinstance(item, exp.PrimaryKey):
            primary_key = tuple(e.name for e in item.expressions)
        else:
            raise invalid(f"'{item.sql()[:60]}' is not supported in CREATE TABLE", item)
    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise invalid(f"table {name!r}: column {duplicates[0]!r} is declared twice", schema)
    physical = pa.schema([pa.field(c.name, c.type) for c in columns if c.physical])
    for index, expr in computed:
        binder = Binder(physical, what=f"table {name!r}")
        columns[index] = Column(columns[index].name, binder.type_of(binder.bind(expr)), columns[index].expr)
    for key in primary_key:
        if key not in names:
            raise invalid(f"PRIMARY KEY column {key!r} is not a column of {name!r}", schema)
    watermark = None
    if watermark_node is not None:
        full = pa.schema([pa.field(c.name, c.type) for c in columns])
        binder = Binder(full, what=f"table {name!r}")
        rowtime = full.field(binder.column_index(watermark_node.this, "WATERMARK FOR"))
        if not is_time(rowtime.type):
            raise invalid(f"WATERMARK FOR {rowtime.name}: the column must be TIMESTAMP(3) or TIMESTAMP_LTZ(3)",
                          watermark_node)
        wm_type = binder.type_of(binder.bind(watermark_node.expression))
        if not is_time(wm_type):
            raise invalid("the WATERMARK expression must give a TIMESTAMP, e.g. ts - INTERVAL '5' SECOND",
                          watermark_node)
        watermark = WatermarkSpec(rowtime.name, watermark_node.expression.sql(dialect=Flink))
    options = {}
    partition_keys: tuple[str, ...] = ()
    props = node.args.get("properties")
    for p in props.expressions if props is not None else []:
        if isinstance(p, exp.PartitionedByProperty):
            partition_keys = _partition_keys(name, p, columns)
        elif type(p) is exp.Property:  # a WITH option: 'key' = 'value'
            key = p.this.this if isinstance(p.this, exp.Literal) else p.this.name
            value = p.args["value"]
            options[str(key)] = value.this if isinstance(value, exp.Literal) else value.sql()
        elif not isinstance(p, (exp.SchemaCommentProperty, exp.TemporaryProperty)):  # COMMENT documents the
            # table only; every table of the catalog lives as long as its TableEnvironment (TEMPORARY)
            raise invalid(f"table {name!r}: {type(p).__name__} is not supported in CREATE TABLE "
                          "(supported: PRIMARY KEY, WATERMARK, PARTITIONED BY (...), WITH (...))", p)
    return CatalogTable(name, tuple(columns), options, watermark, primary_key, partition_keys)


def _partition_keys(name: str, node: exp.PartitionedByProperty, columns: list[Column]) -> tuple[str, ...]:
    """``PARTITIONED BY (a, b)``: physical columns of the table, each named once."""
    keys = tuple(e.name for e in node.this.expressions) if isinstance(node.this, exp.Schema) else ()
    if not keys or any(not isinstance(e, (exp.Identifier, exp.Column)) for e in node.this.expressions):
        raise invalid(f"table {name!r}: PARTITIONED BY takes column names, e.g. PARTITIONED BY (dt)", node)
    physical = [c.name for c in columns if c.physical]
    for key in keys:
        if key not in physical:
            what = "is not a physical column" if key in [c.name for c in columns] else "is not a column"
            raise invalid(f"table {name!r}: PARTITIONED BY column {key!r} {what} of the table", node)
    if len(set(keys)) != len(keys):
        raise invalid(f"table {name!r}: PARTITIONED BY names a column twice: {', '.join(keys)}", node)
    return keys
