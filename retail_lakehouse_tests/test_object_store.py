"""The lakehouse on an S3-compatible object store (SeaweedFS on loopback), exactly as on a local disk.

The storage primitives an object store lacks (exclusive create, compare-and-swap, a lock) are tested on the
store itself; the end-to-end tests build two years there through Dagster and compare every published table
with the local build of the same settings, row for row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dashboard import data
from dashboard.app import render_page
from retail_lakehouse import catalog, landing, writer
from retail_lakehouse.catalog import Catalog
from retail_lakehouse.cli import main
from retail_lakehouse.definitions import build_definitions
from retail_lakehouse.errors import LandingFileError, StorageError
from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.generator.transactions import TransactionGenerator
from retail_lakehouse.resources import LakehouseResource, resources_for
from retail_lakehouse.runs import RunOutcome, run_pipeline
from retail_lakehouse.schemas import DIMENSION_MODELS, YEARLY_MODELS
from retail_lakehouse.settings import DefectRates, ObjectStoreSettings, Settings, SettingsError
from retail_lakehouse.storage import Lakehouse
from retail_lakehouse_tests.conftest import E2E_YEARS, MaterializedLakehouse, small_settings
from retail_lakehouse_tests.seaweedfs import ObjectStoreServer


def lake(server: ObjectStoreServer, name: str) -> Lakehouse:
    return Lakehouse.at(server.uri(name), server.settings)


def test_a_record_is_created_by_exactly_one_of_many_racing_writers(object_store, request):
    lakehouse = lake(object_store, request.node.name)
    location = lakehouse.internal("snapshots", "00000001.json")
    won: list[str] = []

    def race(name: str) -> None:
        if lakehouse.create_exclusively(location, name):
            won.append(name)

    racers = [threading.Thread(target=race, args=(f"writer {i}",)) for i in range(6)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert len(won) == 1
    assert lakehouse.read_exclusive(location) == won[0]
    assert lakehouse.names(lakehouse.internal("snapshots")) == ["00000001.json"]
    assert not lakehouse.create_exclusively(location, "too late")


def test_a_record_changes_only_on_top_of_the_version_its_writer_read(object_store, request):
    lakehouse = lake(object_store, request.node.name)
    location = lakehouse.internal("record")
    assert lakehouse.read_record(location) is None
    assert lakehouse.commit_record(location, None, "a") == 0
    assert lakehouse.commit_record(location, 0, "b") == 1
    assert lakehouse.commit_record(location, 0, "stale") is None  # another writer's view of version 0
    assert lakehouse.read_record(location) == (1, "b")


def test_the_writer_lease_admits_one_holder_and_names_it_to_the_next(object_store, request):
    first, second = lake(object_store, request.node.name), lake(object_store, request.node.name)
    writer.acquire(first, "`lakehouse run` 1111")
    try:
        with pytest.raises(writer.WriterBusyError) as busy:
            writer.take_lease(second, "run 2222", writer.LEASE_SECONDS)
        message = str(busy.value)
        assert message.startswith(f"{first.location} is being written by `lakehouse run` 1111 (pid ")
        assert "lease until" in message and "\n" not in message
        # Another process of the same holder (a step of the same run elsewhere) shares the lease.
        shared = writer.take_lease(second, "`lakehouse run` 1111", writer.LEASE_SECONDS)
        assert shared.version > 0
    finally:
        writer.release(first)
    taken = writer.take_lease(second, "run 2222", writer.LEASE_SECONDS)  # released: free for the next
    assert taken.holder == "run 2222"


def test_an_expired_lease_is_taken_over_and_its_old_holder_stops(object_store, request):
    slow, next_writer = lake(object_store, request.node.name), lake(object_store, request.node.name)
    lease = writer.take_lease(slow, "run paused", 0.5)
    time.sleep(1.0)  # the holder paused for longer than its term, without renewing
    taken = writer.take_lease(next_writer, "run next", writer.LEASE_SECONDS)
    assert taken.holder == "run next"
    lost = r"run paused lost the writer lease \(run next holds it now\)"
    with lease.guard, pytest.raises(writer.WriterBusyError, match=lost):
        writer.renew(lease)


def test_a_wrong_secret_is_refused_in_one_line_that_does_not_show_it(object_store, request):
    wrong = ObjectStoreSettings(object_store.endpoint_url, object_store.access_key_id, "not-the-secret-42",
                                "us-east-1", True)  # fmt: skip
    lakehouse = Lakehouse.at(object_store.uri(request.node.name), wrong)
    writable = lake(object_store, request.node.name)
    writable.write("bronze", "stores", None, pl.DataFrame({"id": [1]}), 3, run_id="t", published_version=None)
    with pytest.raises(StorageError) as refused:
        lakehouse.head_version("bronze", "stores")
    assert "not-the-secret-42" not in str(refused.value) and "\n" not in str(refused.value)
    assert str(refused.value).startswith("bronze/stores: cannot open version None:")


def test_landing_files_round_trip_through_the_object_store(object_store, request):
    lakehouse = lake(object_store, request.node.name)
    years = (2023,)
    stores, products = generate_stores(40, 42, years), generate_products(500, 42, years)
    generator = TransactionGenerator(
        stores, products, generate_calendar(years), rows=5_000, seed=42, years=years, defect_rates=DefectRates()
    )
    landing.export_dimensions(lakehouse, stores, products)
    landing.export_year(lakehouse, generator, 2023)
    assert landing.read_stores(lakehouse).equals(stores)
    months = list(landing.read_transactions(lakehouse, 2023))
    assert pl.concat(months).equals(pl.concat([chunk.lines for chunk in generator.year(2023)]))
    assert sorted(lakehouse.names(lakehouse.landing("transactions", "2023")))[:2] == [
        "defect_manifest.json", "pos_2023-01.csv"
    ]  # fmt: skip
    empty = lake(object_store, f"{request.node.name}-empty")
    with pytest.raises(LandingFileError, match=r"s3://.*/landing/stores\.csv: landing file is missing"):
        landing.read_stores(empty)


def test_the_resource_gets_variable_names_not_secrets(object_store):
    env = object_store.env()
    settings = small_settings(object_store.uri("resource"), object_store=ObjectStoreSettings.from_env(env))
    resource = LakehouseResource.from_settings(settings, environment=env)
    assert resource.s3_secret_access_key == dg.EnvVar("LAKEHOUSE_S3_SECRET_ACCESS_KEY")
    assert resource.s3_endpoint_url == dg.EnvVar("LAKEHOUSE_S3_ENDPOINT_URL")
    assert object_store.secret_access_key not in repr(resource)
    # A secret that is not in the environment would have to be written into the run's configuration.
    with pytest.raises(SettingsError, match="the S3 secret must come from"):
        LakehouseResource.from_settings(settings, environment={})
    local = resources_for(small_settings(Path("data")))["lakehouse"]
    assert local.s3_secret_access_key == "" and local.s3_endpoint_url == ""


# --- end to end: two years built on the object store through Dagster ------------------------------------


@pytest.fixture(scope="module")
def s3_build(object_store: ObjectStoreServer) -> Iterator[tuple[Settings, list[RunOutcome]]]:
    """Both years materialized and published on S3, credentials only in `LAKEHOUSE_S3_*` variables."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in object_store.env().items():
            patch.setenv(name, value)
        settings = small_settings(
            object_store.uri("e2e"), object_store=ObjectStoreSettings.from_env(object_store.env())
        )
        outcomes = run_pipeline(build_definitions(settings), settings, instance=dg.DagsterInstance.ephemeral())
        patch.setenv("LAKEHOUSE_DATA_DIR", str(settings.data_dir))  # for the command line and the dashboard
        yield settings, outcomes


@pytest.mark.e2e
def test_every_run_on_s3_succeeds_and_every_check_passes(s3_build, lakehouse_run: MaterializedLakehouse):
    outcomes = s3_build[1]
    assert [o.label for o in outcomes] == ["dimensions", *map(str, E2E_YEARS)]
    assert all(o.success and not o.problems for o in outcomes), [o.problems for o in outcomes]
    defined_checks = len(lakehouse_run.defs.resolve_asset_graph().asset_check_keys)
    assert [o.checks_passed for o in outcomes[1:]] == [defined_checks] * len(E2E_YEARS)


@pytest.mark.e2e
def test_every_published_table_on_s3_equals_the_local_build_row_for_row(s3_build, materialized_lakehouse: Path):
    settings, _ = s3_build
    for layer, table in [*YEARLY_MODELS, *DIMENSION_MODELS]:
        on_s3 = catalog.scan(layer, table, data_dir=settings.data_dir).collect()
        local = catalog.scan(layer, table, data_dir=materialized_lakehouse).collect()
        assert on_s3.height == local.height > 0 or table in ("transactions_quarantine", "rejected_lines"), (
            layer,
            table,
        )
        assert on_s3.sort(on_s3.columns).equals(local.sort(local.columns)), (layer, table)


@pytest.mark.e2e
def test_the_dashboard_serves_gold_from_s3(s3_build, materialized_lakehouse: Path):
    root = str(s3_build[0].data_dir)
    assert data.missing_tables(root) == [] and data.available_years(root) == list(E2E_YEARS)
    for table in ("yearly_sales", "store_daily_sales", "top_products_monthly"):
        assert data.read_gold(root, table).equals(data.read_gold(materialized_lakehouse, table)), table
    page = render_page(root, "?year=2024&month=3")
    assert page["body_style"] != {"display": "none"} and "March 2024" in str(page["heading"])


@pytest.mark.e2e
def test_history_and_rollback_on_s3_work_from_the_command_line(s3_build, capsys):
    settings, _ = s3_build
    assert main(["history"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[2:4] for line in listed] == [
        ["publish", "dimensions"],
        ["publish", "2023"],
        ["publish", "2024"],
    ]
    before_2024 = catalog.scan("gold", "daily_sales", data_dir=settings.data_dir).collect()
    assert main(["rollback", "2"]) == 0
    assert "published catalog version 4: the tables of version 2" in capsys.readouterr().out
    rolled_back = catalog.scan("gold", "daily_sales", data_dir=settings.data_dir).collect()
    assert sorted(rolled_back["year"].unique()) == [2023]
    assert rolled_back.equals(before_2024.filter(pl.col("year") == 2023))
    assert main(["rollback", "3"]) == 0  # and forward again: every year back
    assert catalog.scan("gold", "daily_sales", data_dir=settings.data_dir).collect().equals(before_2024)
    actions = [s.action for s in Catalog(Lakehouse.for_settings(settings)).history()]
    assert actions[-2:] == ["rollback to 2", "rollback to 3"]
    writer_lease = Lakehouse.for_settings(settings).read_record(
        Lakehouse.for_settings(settings).internal("writer.lease")
    )
    assert writer_lease is not None and '"holder": null' in writer_lease[1]  # every writer released it


@pytest.mark.e2e
def test_a_second_writer_on_s3_stops_with_one_line_naming_the_lease_holder(s3_build, object_store):
    settings, _ = s3_build
    lakehouse = Lakehouse.for_settings(settings)
    before = Catalog(lakehouse).current()
    writer.acquire(lakehouse, "`lakehouse run` holder-of-the-test")
    try:
        env = os.environ | object_store.env() | {"LAKEHOUSE_DATA_DIR": str(settings.data_dir)}
        second = subprocess.run([sys.executable, "-m", "retail_lakehouse.cli", "rollback", "2"], env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        writer.release(lakehouse)
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1, second.stderr
    assert f"{settings.data_dir} is being written by `lakehouse run` holder-of-the-test (pid" in second.stderr
    assert Catalog(lakehouse).current() == before
