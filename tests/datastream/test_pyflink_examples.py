"""PyFlink's own example programs (shipped inside apache-flink 2.3, copied unchanged into
``tests/data/pyflink_examples``), run with only ``pyflink`` replaced by ``rayflink``: their
output equals what PyFlink printed (recorded once in ``<example>.expected``)."""

from __future__ import annotations

import logging
import pathlib
import runpy
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "data" / "pyflink_examples"


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
