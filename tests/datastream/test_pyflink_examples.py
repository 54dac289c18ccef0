"""PyFlink's own example programs (shipped inside apache-flink 2.3, copied unchanged into
``tests/data/third_party/pyflink_examples``), run with only ``pyflink`` replaced by ``rayflink``: their
output equals what PyFlink printed (recorded once in ``<example>.expected``)."""

from __future__ import annotations

import logging
import pathlib
import runpy
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "data" / "third_party" / "pyflink_examples"


@pytest.mark.integration
@pytest.mark.parametrize("example", ["basic_operations", "tumbling_count_window", "tumbling_time_window",
                                     "sliding_time_window", "session_with_gap_window",
                                     "session_with_dynamic_gap_window"])
def test_pyflink_example_gives_pyflinks_output(example, tmp_path, monkeypatch, capsys):
    source = (EXAMPLES / f"{example}.py").read_text()
    program = tmp_path / f"{example}.py"
    program.write_text(source.replace("pyflink", "rayflink"))  # the import swap, nothing else
    monkeypatch.setattr(sys, "argv", [str(program)])
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)  # keep pytest's log handlers
    runpy.run_path(str(program), run_name="__main__")
    assert capsys.readouterr().out.splitlines() == (EXAMPLES / f"{example}.expected").read_text().splitlines()


@pytest.mark.integration
@pytest.mark.parametrize("example", ["table_over_window", "table_tumble_window", "table_session_window"])
def test_pyflink_table_example_prints_pyflinks_rows(example, tmp_path, monkeypatch, capsys):
    """The Table API's ``windowing/`` examples (TableDescriptor, from_data_stream with a Schema and a
    watermark, Over/Tumble/Session windows, FLOAT, the print connector): PyFlink's rows, in the
    order the windows fire (the order of rows of one firing is not fixed)."""
    source = (EXAMPLES / f"{example}.py").read_text()
    program = tmp_path / f"{example}.py"
    program.write_text(source.replace("pyflink", "rayflink"))
    monkeypatch.setattr(sys, "argv", [str(program)])
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    runpy.run_path(str(program), run_name="__main__")
    expected = (EXAMPLES / f"{example}.expected").read_text().splitlines()
    assert sorted(capsys.readouterr().out.splitlines()) == sorted(expected)


def test_pyflink_kafka_row_field_extractor_example_writes_its_rows(kafka_broker, tmp_path, monkeypatch):
    """PyFlink's ``connectors/kafka_row_field_extractor_example.py``: only the import swap, and
    ``localhost:9092`` pointed at the test broker. Every row lands with field 0 as key, 1 as value."""
    kafka_broker.create_topic("row-extractor-example", 3)
    source = (EXAMPLES / "kafka_row_field_extractor_example.py").read_text()
    program = tmp_path / "kafka_row_field_extractor_example.py"
    program.write_text(source.replace("pyflink", "rayflink").replace("localhost:9092", kafka_broker.bootstrap_servers))
    monkeypatch.setattr(sys, "argv", [str(program)])
    namespace = runpy.run_path(str(program), run_name="__main__")
    expected = sorted((bytes(row[0]), bytes(row[1])) for row in namespace["create_sample_data"]())
    consumer = kafka_broker.consumer(**{"auto.offset.reset": "earliest"})
    consumer.subscribe(["row-extractor-example"])
    got: list = []
    try:
        for _ in range(100):  # polls of up to 1 s until every record arrived
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got.append((msg.key(), msg.value()))
            if len(got) >= len(expected):
                break
    finally:
        consumer.close()
    assert sorted(got) == expected
