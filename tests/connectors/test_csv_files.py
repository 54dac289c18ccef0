"""CSV files with a schema (PyFlink's CsvSchema, CsvReaderFormat, CsvBulkWriters): the schema's
dialect read and written line by line (unit tests), and one job reading and writing files."""

from __future__ import annotations

import decimal
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rayflink.common import Types, WatermarkStrategy
from rayflink.common.serialization import DeserializationError, SerializationError
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.connectors.file_system import FileSink, FileSource
from rayflink.datastream.formats.csv import CsvBulkWriters, CsvReaderFormat, CsvSchema, CsvSchemaBuilder
from rayflink.table.types import DataTypes

ORDERS = (CsvSchema.builder().add_number_column("id", DataTypes.INT()).add_string_column("name")
          .add_number_column("amount", DataTypes.DOUBLE()).add_boolean_column("paid")
          .add_array_column("tags", "#").build())


def test_the_builder_records_columns_and_dialect():
    builder = CsvSchema.builder().add_number_column("id").add_string_column("name")
    assert isinstance(builder, CsvSchemaBuilder) and builder.size() == len(builder) == 2
    schema = (builder.add_columns_from(ORDERS).set_column_separator("|").set_quote_char("'").set_escape_char("\\")
              .set_null_value("NULL").set_use_header().set_strict_headers().set_skip_first_data_row()
              .set_allow_comments().set_array_element_separator(",").set_line_separator("\r\n").build())
    assert schema.size() == 7 and [c.name for c in schema.columns][:3] == ["id", "name", "id"]
    assert (schema.column_separator, schema.quote_char, schema.escape_char) == ("|", "'", "\\")
    assert schema.null_value == "NULL" and schema.array_element_separator == ","
    assert schema.use_header and schema.strict_headers and schema.skip_first_data_row and schema.allow_comments
    assert CsvSchema.builder().add_columns_from(ORDERS).clear_columns().size() == 0
    no_quotes = CsvSchema.builder().disable_quote_char().disable_escape_char().build()
    assert (no_quotes.quote_char, no_quotes.escape_char) == (None, None)
    for bad in (lambda b: b.set_column_separator("||"), lambda b: b.set_quote_char(""),
                lambda b: b.set_escape_char("ab"), lambda b: b.add_number_column("x", DataTypes.STRING())):
        with pytest.raises(ValueError):
            bad(CsvSchema.builder())


def test_the_type_info_is_a_named_row_of_the_columns():
    assert ORDERS.get_type_info().get_field_names() == ["id", "name", "amount", "paid", "tags"]
    assert repr(ORDERS.get_type_info()) == repr(Types.ROW_NAMED(
        ["id", "name", "amount", "paid", "tags"],
        [Types.INT(), Types.STRING(), Types.DOUBLE(), Types.BOOLEAN(), Types.LIST(Types.STRING())]))
    assert [n for n, _ in ORDERS.row_type.fields] == ["id", "name", "amount", "paid", "tags"]


def test_lines_read_as_rows_with_quotes_nulls_arrays_and_comments():
    schema = (CsvSchema.builder().add_columns_from(ORDERS).add_number_column("price", DataTypes.DECIMAL(10, 2))
              .set_null_value("NULL").set_allow_comments().build())
    rows = schema.parse_lines(['1,"Smith, Ana",9.5,TRUE,a#b,1.25', "# a comment", "2,,,false,,NULL",
                               "3,NULL,1e3,true,x,0"])
    assert [r.as_dict() for r in rows] == [
        {"id": 1, "name": "Smith, Ana", "amount": 9.5, "paid": True, "tags": ["a", "b"],
         "price": decimal.Decimal("1.25")},
        {"id": 2, "name": "", "amount": None, "paid": False, "tags": None, "price": None},
        {"id": 3, "name": None, "amount": 1000.0, "paid": True, "tags": ["x"], "price": decimal.Decimal("0")},
    ]
    assert rows[0][0] == rows[0].id == rows[0]["id"] == 1  # PyFlink's Row: by position, attribute, name
    with pytest.raises(DeserializationError, match=r"column 'id': cannot read 'x1'"):
        ORDERS.parse_lines(["x1,a,1,true,"])
    with pytest.raises(DeserializationError, match="expected 5 columns"):
        ORDERS.parse_lines(["1,a"])
    with pytest.raises(DeserializationError, match="column 'paid'"):
        ORDERS.parse_lines(["1,a,1,yes,"])


def test_strict_headers_must_name_the_columns_in_order():
    strict = CsvSchema.builder().add_columns_from(ORDERS).set_use_header().set_strict_headers().build()
    strict.check_header("id,name,amount,paid,tags")
    with pytest.raises(ValueError, match="does not name the schema's columns"):
        strict.check_header("name,id,amount,paid,tags")
    CsvSchema.builder().add_columns_from(ORDERS).set_use_header().build().check_header("anything")


CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n#"), max_size=8)


@given(st.integers(-10**9, 10**9), CELL, st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
       st.booleans(), st.lists(st.text(alphabet="abc,|\"", min_size=1, max_size=3), max_size=3))
def test_a_written_row_reads_back_as_it_was(id_, name, amount, paid, tags):
    for schema in (ORDERS, CsvSchema.builder().add_columns_from(ORDERS).set_column_separator("|")
                   .set_escape_char("\\").build()):
        line = schema.format_row((id_, name, amount, paid, tags))
        [row] = schema.parse_lines([line])
        assert tuple(row) == (id_, name, amount, paid, tags or None), line


def test_records_of_another_shape_are_refused_when_written():
    assert ORDERS.format_row({"id": 1, "name": "a", "amount": None, "paid": False, "tags": ["x", "y"]}) == \
        "1,a,,false,x#y"
    with pytest.raises(SerializationError, match="has 2 fields"):
        ORDERS.format_row((1, "a"))
    with pytest.raises(SerializationError, match="expected a Row"):
        ORDERS.format_row(42)
    with pytest.raises(ValueError, match="header lines are not written"):
        CsvBulkWriters.for_schema(CsvSchema.builder().add_columns_from(ORDERS).set_use_header().build())


def test_the_reader_format_and_the_bulk_writer_plug_into_file_source_and_sink(tmp_path):
    fmt = CsvReaderFormat.for_schema(ORDERS)
    assert fmt.type_info.get_field_names() == ["id", "name", "amount", "paid", "tags"]
    assert [r.id for r in fmt.decode([b"1,a,2,true,x", b"2,b,3,false,y"])] == [1, 2]
    builder = FileSink.for_bulk_format(str(tmp_path), CsvBulkWriters.for_schema(ORDERS))
    assert isinstance(builder, FileSink.BulkFormatBuilder)
    sink = builder.build()
    assert sink.bulk is None and sink.rolling_policy.part_size is None  # lines, rolled at checkpoints
    assert sink.encoder.encode((1, "a", 2.0, True, ["x"])) == b"1,a,2.0,true,x\n"
    with pytest.raises(TypeError, match="expected ParquetBulkWriters, AvroBulkWriters or CsvBulkWriters"):
        FileSink.for_bulk_format(str(tmp_path), object())


@pytest.mark.integration
def test_a_job_reads_csv_files_of_a_schema_and_writes_csv_part_files(tmp_path):
    # Given two CSV files with a header, a row to skip and comments,
    src = tmp_path / "in"
    src.mkdir()
    header = "id|name|amount|paid|tags\n"
    (src / "a.csv").write_text(header + "0|skipped|0|false|\n1|ana|9.5|true|x#y\n# note\n2|bo|1|false|\n")
    (src / "b.csv").write_text(header + "0|skipped|0|false|\n3|'c|d'|2.5|true|z\n")
    schema = (CsvSchema.builder().add_columns_from(ORDERS).set_column_separator("|").set_quote_char("'")
              .set_use_header().set_strict_headers().set_skip_first_data_row().set_allow_comments().build())
    out = tmp_path / "out"
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    source = FileSource.for_record_stream_format(CsvReaderFormat.for_schema(schema), str(src)).build()
    rows = env.from_source(source, WatermarkStrategy.no_watermarks(), "csv")
    # when a job doubles the amounts and writes the rows with the default CSV dialect,
    doubled = rows.map(lambda r: (r.id, r.name, r.amount * 2, r.paid, r.tags), output_type=ORDERS.get_type_info())
    doubled.sink_to(FileSink.for_bulk_format(str(out), CsvBulkWriters.for_schema(ORDERS)).build())
    env.execute("csv files")
    # then every data row (not the header, the skipped row or the comment) is written once.
    lines = sorted(line for name in os.listdir(out) for line in (out / name).read_text().splitlines())
    assert lines == ["1,ana,19.0,true,x#y", "2,bo,2.0,false,", "3,c|d,5.0,true,z"]
