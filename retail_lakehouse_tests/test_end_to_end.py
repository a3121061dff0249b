"""End to end through Dagster: a small dataset materialized for two years, every asset check run."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from retail_lakehouse import checks
from retail_lakehouse.definitions import YEARLY_JOB, build_definitions
from retail_lakehouse.runs import execute
from retail_lakehouse.schemas import GOLD_MODELS
from retail_lakehouse.storage import Lakehouse
from retail_lakehouse_tests.conftest import E2E_ROWS, E2E_YEARS, MaterializedLakehouse, small_settings

pytestmark = pytest.mark.e2e


def file_digests(root: Path, year: int) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.glob(f"*/*/year={year}/*"))
    }


def test_every_run_succeeds_and_every_check_passes(lakehouse_run: MaterializedLakehouse):
    assert [o.label for o in lakehouse_run.outcomes] == ["dimensions", *map(str, E2E_YEARS)]
    assert all(o.success for o in lakehouse_run.outcomes), [o.problems for o in lakehouse_run.outcomes]
    defined_checks = len(lakehouse_run.defs.resolve_asset_graph().asset_check_keys)
    for outcome in lakehouse_run.outcomes[1:]:
        assert outcome.problems == []
        assert outcome.checks_passed == defined_checks  # every check ran for every year, and passed


def test_every_table_is_written_for_every_year(lakehouse_run: MaterializedLakehouse):
    lakehouse = Lakehouse(lakehouse_run.data_dir)
    tables = [("bronze", "transactions"), ("bronze", "defect_manifest"), ("silver", "transactions"),
              ("silver", "transactions_quarantine"), *[("gold", t) for t in GOLD_MODELS]]  # fmt: skip
    for layer, table in tables:
        assert lakehouse.years(layer, table) == list(E2E_YEARS), (layer, table)
    bronze_rows = sum(lakehouse.rows("bronze", "transactions", y) for y in E2E_YEARS)
    assert abs(bronze_rows - E2E_ROWS) / E2E_ROWS < 0.01


def test_bronze_is_zstd_parquet(lakehouse_run: MaterializedLakehouse):
    import pyarrow.parquet as pq

    path = Lakehouse(lakehouse_run.data_dir).path("bronze", "transactions", 2023)
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert column.compression == "ZSTD"


def test_gold_adds_up_to_silver_to_the_cent(lakehouse_run: MaterializedLakehouse):
    lakehouse = Lakehouse(lakehouse_run.data_dir)
    for year in E2E_YEARS:
        silver = lakehouse.scan("silver", "transactions", year).collect()
        yearly = lakehouse.scan("gold", "yearly_sales", year).collect()
        assert yearly["revenue"].item() == silver["line_total"].sum()
        assert yearly["units"].item() == silver["quantity"].sum()
        assert yearly["transactions"].item() == silver["transaction_id"].n_unique()
        by_category = lakehouse.scan("gold", "sales_by_category", year).collect()
        assert by_category["revenue"].sum() == silver["line_total"].sum()


def test_quarantine_holds_exactly_the_injected_defects(lakehouse_run: MaterializedLakehouse):
    lakehouse = Lakehouse(lakehouse_run.data_dir)
    for year in E2E_YEARS:
        manifest = dict(lakehouse.scan("bronze", "defect_manifest", year).select("reason", "rows").collect().rows())
        found = dict(
            lakehouse.scan("silver", "transactions_quarantine", year).group_by("reason").len().collect().rows()
        )
        assert {r: n for r, n in manifest.items() if n} == found
        assert found["duplicate"] > 0 and found["transaction_total_mismatch"] > 0


def test_rebuilding_one_year_leaves_the_other_years_byte_identical(lakehouse_run: MaterializedLakehouse):
    root = lakehouse_run.data_dir
    other_before, rebuilt_before = file_digests(root, 2023), file_digests(root, 2024)
    mtimes_before = {p: (root / p).stat().st_mtime_ns for p in other_before}
    outcome = execute(lakehouse_run.defs, YEARLY_JOB, lakehouse_run.instance, "2024")
    assert outcome.success, outcome.problems
    assert file_digests(root, 2023) == other_before
    assert {p: (root / p).stat().st_mtime_ns for p in other_before} == mtimes_before  # not even rewritten
    rebuilt = file_digests(root, 2024)
    assert rebuilt.keys() == rebuilt_before.keys()
    assert all((root / p).stat().st_mtime_ns > max(mtimes_before.values()) for p in rebuilt)
    assert rebuilt == rebuilt_before  # re-running a partition gives the same result


def test_corrupted_bronze_fails_conservation_and_blocks_gold(lakehouse_run: MaterializedLakehouse, tmp_path):
    """A row appears in bronze after silver was built: the check catches it and gold is not rebuilt."""
    shutil.copytree(lakehouse_run.data_dir, tmp_path / "lake")
    settings = small_settings(tmp_path / "lake")
    lakehouse = Lakehouse(settings.data_dir)
    bronze = lakehouse.scan("bronze", "transactions", 2023).collect()
    lakehouse.write("bronze", "transactions", 2023, pl.concat([bronze, bronze.tail(1)]), zstd_level=3)
    # Every gold table built from silver transactions (calendar_days comes from the calendar, not blocked).
    gold_files = [p for p in sorted(settings.data_dir.glob("gold/*/year=2023/*")) if "calendar_days" not in str(p)]
    gold_written_at = [p.stat().st_mtime_ns for p in gold_files]

    verify_then_gold = dg.define_asset_job(
        "verify_then_gold",
        selection=dg.AssetSelection.checks_for_assets(dg.AssetKey(["silver", "transactions"]))
        | dg.AssetSelection.groups("gold"),
    )
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[verify_then_gold]))
    outcome = execute(defs, "verify_then_gold", dg.DagsterInstance.ephemeral(), "2023")

    assert not outcome.success
    assert any(checks.ROW_CONSERVATION in p and "+1 rows unaccounted" in p for p in outcome.problems), outcome.problems
    assert len(gold_files) == len(GOLD_MODELS) - 1
    assert [p.stat().st_mtime_ns for p in gold_files] == gold_written_at  # gold was not rebuilt


def test_bronze_from_landing_files_equals_bronze_from_the_generator(lakehouse_run: MaterializedLakehouse, tmp_path):
    from retail_lakehouse.cli import main

    settings = small_settings(tmp_path / "lake", source="landing")
    env = {"LAKEHOUSE_DATA_DIR": str(settings.data_dir), "LAKEHOUSE_YEARS": "2023-2024",
           "LAKEHOUSE_ROWS": str(E2E_ROWS)}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setenv("LAKEHOUSE_DEFECT_RATES", ",".join(f"{k}={v}" for k, v in vars(settings.defect_rates).items()))
        assert main(["generate", "--to-landing"]) == 0
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    assert execute(defs, "dimensions", instance).success
    outcome = execute(defs, YEARLY_JOB, instance, "2023")
    assert outcome.success, outcome.problems
    from_landing, generated = Lakehouse(settings.data_dir), Lakehouse(lakehouse_run.data_dir)
    for layer, table in [("bronze", "transactions"), ("bronze", "defect_manifest"), ("gold", "daily_sales")]:
        assert from_landing.scan(layer, table, 2023).collect().equals(generated.scan(layer, table, 2023).collect())
