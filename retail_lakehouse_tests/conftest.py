"""Shared fixtures: a small dataset materialized once per session through the real Dagster definitions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from retail_lakehouse.catalog import Catalog, PublishedTable, table_key
from retail_lakehouse.definitions import build_definitions
from retail_lakehouse.runs import RunOutcome, run_pipeline
from retail_lakehouse.settings import DefectRates, Settings
from retail_lakehouse.storage import Lakehouse
from retail_lakehouse_tests import seaweedfs

E2E_YEARS = (2023, 2024)
E2E_ROWS = 60_000
# Higher than the defaults so that every defect occurs even in this small dataset.
E2E_DEFECT_RATES = DefectRates(
    duplicate=0.004, missing_key=0.002, unknown_product=0.002, non_positive_quantity=0.002,
    non_positive_price=0.002, line_total_mismatch=0.002, transaction_total_mismatch=0.004,
)  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def isolated_dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every run the tests start records into a throwaway Dagster home, never the user's `DAGSTER_HOME`."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        yield home


def small_settings(data_dir: Path | str, **overrides: object) -> Settings:
    """Settings for a dataset that materializes in seconds: two years, 60,000 lines, full dimensions."""
    values: dict[str, object] = {
        "data_dir": data_dir, "rows": E2E_ROWS, "seed": 42, "years": E2E_YEARS, "defect_rates": E2E_DEFECT_RATES,
    }  # fmt: skip
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def write_staged(data_dir: Path, layer: str, table: str, year: int | None, frame: pl.DataFrame) -> int:
    """Commit a hand-made frame as a new (unpublished) version of one year of a table; returns the version."""
    lakehouse = Lakehouse(data_dir)
    published = Catalog(lakehouse).current().table(layer, table)
    version = None if published is None else published.delta_version
    return lakehouse.write(layer, table, year, frame, 3, run_id="hand-made", published_version=version).version


def publish_staged(data_dir: Path, layer: str, table: str) -> None:
    """Publish the newest version of a hand-made table as it is (test data has no audit to pass)."""
    catalog = Catalog(Lakehouse(data_dir))
    head = catalog.lakehouse.head_version(layer, table)
    assert head is not None
    state = PublishedTable(head, catalog.lakehouse.rows_by_year(layer, table, head))
    catalog.commit({table_key(layer, table): state}, "hand-made", f"hand-made {layer}/{table}", catalog.current())


@dataclass(frozen=True)
class MaterializedLakehouse:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    outcomes: list[RunOutcome]

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir


@pytest.fixture(scope="session")
def lakehouse_run(tmp_path_factory: pytest.TempPathFactory) -> MaterializedLakehouse:
    """Every asset materialized for 2023 and 2024 through Dagster, with every asset check."""
    settings = small_settings(tmp_path_factory.mktemp("lakehouse"))
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    outcomes = run_pipeline(defs, settings, instance=instance)
    return MaterializedLakehouse(settings, defs, instance, outcomes)


@pytest.fixture(scope="session")
def materialized_lakehouse(lakehouse_run: MaterializedLakehouse) -> Path:
    """The data dir of the session's materialized lakehouse (every run must have succeeded)."""
    failed = [o for o in lakehouse_run.outcomes if not o.success]
    assert not failed, failed
    return lakehouse_run.data_dir


@pytest.fixture(scope="session")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seaweedfs.ObjectStoreServer]:
    """A SeaweedFS S3 endpoint on loopback ports for the whole session, stopped at its end."""
    server = seaweedfs.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        seaweedfs.stop(server)
