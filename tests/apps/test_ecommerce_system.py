"""The README's first command: ``python -m rayflink.apps.ecommerce`` runs the whole system on
embedded defaults and its results (Delta tables, dashboard files) match the generator's ground truth."""

from __future__ import annotations

import json
import os

import pytest

from rayflink.apps.ecommerce.__main__ import main, read_table
from rayflink.apps.ecommerce.config import AppConfig

pytestmark = pytest.mark.integration  # every test here runs jobs on Ray


def test_the_whole_system_runs_on_embedded_defaults(tmp_path, capsys):
    # given the first command with a shorter run (12 minutes of a 5-minute day) into a temporary folder,
    options = [f"ecommerce.sink.delta-path={tmp_path}/delta", f"ecommerce.sink.dashboard-path={tmp_path}/dash",
               "ecommerce.day=5 min", "ecommerce.generator.duration=12 min",
               "ecommerce.generator.clicks-per-second=50", "ecommerce.generator.fraud-bursts-per-hour=15"]
    argv = [arg for option in options for arg in ("-D", option)]
    # when it runs twice (a second run replaces the first one's output),
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    # then it reports revenue equal to the ground truth, and the injected fraud caught,
    assert "windows, equal to the generator's ground truth" in out
    cfg = AppConfig.from_options(dict(o.split("=", 1) for o in ["ecommerce." + x.split("ecommerce.", 1)[1]
                                                                  for x in options]))
    assert len(read_table(cfg, "revenue_per_region")) == 5 * 12
    fraud_line = next(line for line in out.splitlines() if line.startswith("fraud: "))
    caught, injected = fraud_line.split(", ")[1].split(" injected")[0].split(" of ")
    assert caught == injected and int(injected) > 0
    # and the Delta tables and dashboard files exist: alerts printed as they came.
    for table in ("revenue_per_region", "conversion", "revenue_dips", "fraud_alerts", "purchases_enriched"):
        assert read_table(cfg, table)
    files = sorted(os.listdir(tmp_path / "dash"))
    assert {f.rsplit("-", 1)[0] for f in files} == {"revenue-revenue", "conversion-revenue", "alerts-revenue",
                                                     "alerts-fraud"}
    rows = [r for f in files if f.startswith("revenue-")
            for r in json.loads((tmp_path / "dash" / f).read_text())["rows"]]
    assert rows and max(r["window_start"] for r in rows) == cfg.generator.start_ms + 11 * 60_000
    assert "> {'kind': 'fraud'" in out and "> {'kind': 'revenue-dip'" in out


def test_rayflink_run_submits_the_fraud_app_with_its_yaml(tmp_path, capsys):
    from rayflink.cli import main as rayflink

    conf = os.path.join(os.path.dirname(__file__), "..", "..", "apps", "ecommerce", "conf", "embedded.yaml")
    script = os.path.join(os.path.dirname(__file__), "..", "..", "apps", "ecommerce", "fraud.py")
    assert rayflink(["run", "--conf", conf, "-D", f"ecommerce.sink.delta-path={tmp_path}/delta",
                     "-D", f"ecommerce.sink.dashboard-path={tmp_path}/dash",
                     "-D", "ecommerce.generator.duration=11 min",
                     "-D", "ecommerce.generator.fraud-bursts-per-hour=20", script]) == 0
    cfg = AppConfig.from_options({"ecommerce.sink.delta-path": f"{tmp_path}/delta"})
    alerts = read_table(cfg, "fraud_alerts")
    assert alerts and all(a["total"] > 1500 for a in alerts)
    assert "> {'kind': 'fraud'" in capsys.readouterr().out


def test_the_generator_cli_writes_its_ground_truth(tmp_path, capsys):
    from rayflink.apps.ecommerce.generate import GroundTruth
    from rayflink.apps.ecommerce.generate import main as generate

    path = tmp_path / "truth.json"
    assert generate(["--duration", "900", "--day", "300", "--truth", str(path)]) == 0
    truth = GroundTruth.from_json(json.loads(path.read_text()))
    assert len(truth.revenue_cents) == 5 * 15 and truth.fraud_bursts and truth.dips
    assert "ground truth:" in capsys.readouterr().out
