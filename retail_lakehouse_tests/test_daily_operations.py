"""A delivered day reaches published gold with no click: `dagster dev` (webserver and daemon) on 127.0.0.1,
the landing sensor, declarative automation, every blocking check and the publish step.

The data ends on 30 December 2025; `lakehouse deliver --days 3` brings 31 December, New Year's Day (closed)
and 2 January 2026, so one delivery changes a published year and another starts a new one.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from retail_lakehouse import catalog
from retail_lakehouse.partitions import YEAR_PARTITIONS
from retail_lakehouse.runs import dagster_dev, new_dagster_home
from retail_lakehouse.storage import Lakehouse

pytestmark = pytest.mark.e2e
BOUND_SECONDS = 420  # the daemon ticks every 15 s; a tiny year's runs take seconds each
AUTOMATION = {"landing_deliveries", "lakehouse_automation"}


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    home = new_dagster_home(tmp_path / "dagster_home")
    return os.environ | {
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_DATA_DIR": str(tmp_path / "data"),
        "LAKEHOUSE_YEARS": "2025",
        "LAKEHOUSE_AS_OF": "2025-12-30",
        "LAKEHOUSE_ROWS": "30000",
        "LAKEHOUSE_STORES": "20",
        "LAKEHOUSE_PRODUCTS": "300",
        "LAKEHOUSE_SOURCE": "landing",
    }


def lakehouse_command(environment: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "retail_lakehouse.cli", *args], env=environment,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def published_days(data_dir: str, year: int) -> set[dt.date]:
    snapshot = catalog.Catalog(Lakehouse.at(data_dir)).current()
    daily = snapshot.table("gold", "daily_sales")
    if daily is None or str(year) not in daily.rows:
        return set()
    return set(catalog.scan("gold", "daily_sales", years=[year], data_dir=data_dir).collect()["date"])


def test_a_delivered_day_reaches_published_gold_by_itself(environment, tmp_path, capsys):
    data_dir = environment["LAKEHOUSE_DATA_DIR"]
    lakehouse_command(environment, "generate", "--to-landing")
    lakehouse_command(environment, "run")
    assert max(published_days(data_dir, 2025)) == dt.date(2025, 12, 30)
    before = catalog.Catalog(Lakehouse.at(data_dir)).current().version

    log = tmp_path / "dagster_dev.log"
    new_year, last_day = dt.date(2026, 1, 2), dt.date(2025, 12, 31)
    with dagster_dev(environment, log) as process:
        delivered_at = time.monotonic()
        delivered = lakehouse_command(environment, "deliver", "--days", "3")
        assert "2026-01-02" in delivered
        while not (last_day in published_days(data_dir, 2025) and new_year in published_days(data_dir, 2026)):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - delivered_at < BOUND_SECONDS, "the deliveries were not published in time"
            time.sleep(3)
        seconds = time.monotonic() - delivered_at
    with capsys.disabled():
        print(f"\n  delivered days published by the sensor and automation in {seconds:.0f} s")

    # The published day is the delivered file's: silver + quarantine hold its lines, gold adds up silver.
    landing_file = Path(data_dir, "landing", "transactions", "2025", "pos_2025-12-31.csv")
    delivered_lines = len(landing_file.read_text().splitlines()) - 1
    silver = catalog.scan("silver", "transactions", years=[2025], data_dir=data_dir).filter(pl.col("date") == last_day)
    quarantine = catalog.scan("silver", "transactions_quarantine", years=[2025], data_dir=data_dir).filter(
        pl.col("transaction_ts").dt.date() == last_day
    )
    silver_rows = silver.select(pl.len()).collect().item()
    assert silver_rows + quarantine.select(pl.len()).collect().item() == delivered_lines > 0
    gold = catalog.scan("gold", "daily_sales", years=[2025], data_dir=data_dir).filter(pl.col("date") == last_day)
    assert gold.collect()["revenue"].item() == silver.select(pl.col("line_total").sum()).collect().item()
    assert catalog.Catalog(Lakehouse.at(data_dir)).current().version > before

    with dg.DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance:
        assert set(instance.get_dynamic_partitions(YEAR_PARTITIONS)) == {"2025", "2026"}  # 2026 by itself
        runs = [r for r in instance.get_runs() if r.tags.get("dagster/sensor_name") in AUTOMATION]
        assert {r.tags["dagster/partition"] for r in runs} >= {"2025", "2026"}
        assert {r.tags["dagster/sensor_name"] for r in runs} == AUTOMATION
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.run_id, r.status) for r in runs]
        verdicts = [
            record.event_log_entry.dagster_event.event_specific_data
            for run in runs
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
        ]
        assert len(verdicts) >= 2 * 30 and all(v.passed for v in verdicts)
