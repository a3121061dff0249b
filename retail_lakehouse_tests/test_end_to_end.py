"""End to end through Dagster: a small dataset materialized for two years, every asset check run."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from retail_lakehouse import audits, catalog
from retail_lakehouse.catalog import Catalog
from retail_lakehouse.definitions import YEARLY_JOB, build_definitions
from retail_lakehouse.runs import execute
from retail_lakehouse.schemas import YEARLY_MODELS
from retail_lakehouse.storage import Lakehouse
from retail_lakehouse_tests.conftest import (
    E2E_ROWS,
    E2E_YEARS,
    MaterializedLakehouse,
    small_settings,
    write_staged,
)

pytestmark = pytest.mark.e2e


def published(data_dir: Path, layer: str, table: str, year: int) -> pl.DataFrame:
    return catalog.scan(layer, table, years=[year], data_dir=data_dir).collect()


def data_files(root: Path, year: int) -> dict[str, str]:
    """Digest of every data file of a year, by table (the files of the published versions only)."""
    snapshot = Catalog(Lakehouse(root)).current()
    digests = {}
    for key, state in snapshot.tables.items():
        files = Lakehouse(root).files(*key.split("/"), state.delta_version).filter(pl.col("year") == year)
        for path in files["path"]:
            digests[f"{key}/{path.split('/')[0]}"] = hashlib.sha256((root / key / path).read_bytes()).hexdigest()
    return digests


def test_every_run_succeeds_and_every_check_passes(lakehouse_run: MaterializedLakehouse):
    assert [o.label for o in lakehouse_run.outcomes] == ["dimensions", *map(str, E2E_YEARS)]
    assert all(o.success for o in lakehouse_run.outcomes), [o.problems for o in lakehouse_run.outcomes]
    defined_checks = len(lakehouse_run.defs.resolve_asset_graph().asset_check_keys)
    for outcome in lakehouse_run.outcomes[1:]:
        assert outcome.problems == []
        assert outcome.checks_passed == defined_checks  # every check ran for every year, and passed


def test_every_table_is_published_for_every_year(lakehouse_run: MaterializedLakehouse):
    snapshot = Catalog(Lakehouse(lakehouse_run.data_dir)).current()
    for layer, table in YEARLY_MODELS:
        state = snapshot.table(layer, table)
        assert state is not None, (layer, table)
        if (layer, table) == ("bronze", "rejected_lines"):  # generated lines are always readable: published empty
            assert state.rows == {} and published(lakehouse_run.data_dir, layer, table, 2023).is_empty()
            continue
        assert set(state.rows) == {str(y) for y in E2E_YEARS}, (layer, table)
        assert {y for y in published(lakehouse_run.data_dir, layer, table, 2023)["year"]} == {2023}
    bronze_rows = sum(snapshot.table("bronze", "transactions").rows.values())
    assert abs(bronze_rows - E2E_ROWS) / E2E_ROWS < 0.01
    assert [s.action for s in Catalog(Lakehouse(lakehouse_run.data_dir)).history()] == [
        "publish dimensions", "publish 2023", "publish 2024"
    ]  # fmt: skip


def test_bronze_is_a_zstd_delta_table_partitioned_by_year(lakehouse_run: MaterializedLakehouse):
    import pyarrow.parquet as pq

    table = lakehouse_run.data_dir / "bronze" / "transactions"
    assert (table / "_delta_log").is_dir()
    files = sorted(table.glob("year=2023/*.parquet"))
    assert len(files) == 1
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_gold_adds_up_to_silver_to_the_cent(lakehouse_run: MaterializedLakehouse):
    root = lakehouse_run.data_dir
    for year in E2E_YEARS:
        silver = published(root, "silver", "transactions", year)
        yearly = published(root, "gold", "yearly_sales", year)
        assert yearly["revenue"].item() == silver["line_total"].sum()
        assert yearly["units"].item() == silver["quantity"].sum()
        assert yearly["transactions"].item() == silver["transaction_id"].n_unique()
        by_category = published(root, "gold", "sales_by_category", year)
        assert by_category["revenue"].sum() == silver["line_total"].sum()


def test_quarantine_holds_exactly_the_injected_defects(lakehouse_run: MaterializedLakehouse):
    root = lakehouse_run.data_dir
    for year in E2E_YEARS:
        manifest = dict(published(root, "bronze", "defect_manifest", year).select("reason", "rows").rows())
        found = dict(published(root, "silver", "transactions_quarantine", year).group_by("reason").len().rows())
        assert {r: n for r, n in manifest.items() if n} == found
        assert found["duplicate"] > 0 and found["transaction_total_mismatch"] > 0


def test_rebuilding_one_year_leaves_the_other_years_byte_identical(lakehouse_run: MaterializedLakehouse):
    root = lakehouse_run.data_dir
    other_before, rebuilt_before = data_files(root, 2023), data_files(root, 2024)
    outcome = execute(lakehouse_run.defs, YEARLY_JOB, lakehouse_run.instance, "2024")
    assert outcome.success, outcome.problems
    assert data_files(root, 2023) == other_before  # the same files, untouched
    rebuilt = data_files(root, 2024)
    assert rebuilt.keys() == rebuilt_before.keys()
    assert sorted(rebuilt.values()) == sorted(rebuilt_before.values())  # new files, the same bytes


def test_corrupted_bronze_fails_conservation_and_publishes_nothing(lakehouse_run: MaterializedLakehouse, tmp_path):
    """A row appears in bronze after silver was built: the check catches it, gold and the publish do not run."""
    shutil.copytree(lakehouse_run.data_dir, tmp_path / "lake")
    settings = small_settings(tmp_path / "lake")
    before = Catalog(Lakehouse(settings.data_dir)).current()
    bronze = catalog.scan("bronze", "transactions", years=[2023], data_dir=settings.data_dir).drop("year").collect()
    write_staged(settings.data_dir, "bronze", "transactions", 2023, pl.concat([bronze, bronze.tail(1)]))
    gold_head = Lakehouse(settings.data_dir).head_version("gold", "yearly_sales")

    verify_then_gold = dg.define_asset_job(
        "verify_then_gold",
        selection=dg.AssetSelection.checks_for_assets(dg.AssetKey(["silver", "transactions"]))
        | dg.AssetSelection.groups("gold", "catalog"),
    )
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[verify_then_gold]))
    outcome = execute(defs, "verify_then_gold", dg.DagsterInstance.ephemeral(), "2023")

    assert not outcome.success
    assert any(audits.ROW_CONSERVATION in p and "+1 rows unaccounted" in p for p in outcome.problems), outcome.problems
    assert Lakehouse(settings.data_dir).head_version("gold", "yearly_sales") == gold_head  # gold was not rebuilt
    assert Catalog(Lakehouse(settings.data_dir)).current() == before  # and nothing was published


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
    for layer, table in [("bronze", "transactions"), ("bronze", "defect_manifest"), ("gold", "daily_sales")]:
        from_landing = published(settings.data_dir, layer, table, 2023)
        assert from_landing.equals(published(lakehouse_run.data_dir, layer, table, 2023)), (layer, table)
