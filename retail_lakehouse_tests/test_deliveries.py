"""Daily deliveries: the as-of day, a day's POS export, the years after the configured ones, the sensor."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import dagster as dg
import polars as pl
import pytest

from retail_lakehouse import landing
from retail_lakehouse.cli import main
from retail_lakehouse.definitions import build_definitions
from retail_lakehouse.errors import LandingFileError
from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.generator.transactions import TransactionGenerator
from retail_lakehouse.partitions import YEAR_PARTITIONS
from retail_lakehouse.resources import LakehouseResource
from retail_lakehouse.settings import DefectRates, Settings, SettingsError
from retail_lakehouse.sources import expected_months
from retail_lakehouse.storage import Lakehouse

YEARS = (2024,)
AS_OF = dt.date(2024, 11, 20)
# Defects often enough that a single day has some of each kind, so cutting days must keep them right.
RATES = DefectRates(duplicate=0.01, missing_key=0.004, line_total_mismatch=0.004, transaction_total_mismatch=0.004)


def generator_for(calendar_years: tuple[int, ...], as_of: dt.date | None = None) -> TransactionGenerator:
    stores, products = generate_stores(40, 7, YEARS), generate_products(500, 7, YEARS)
    return TransactionGenerator(
        stores, products, generate_calendar(calendar_years), rows=60_000, seed=7, years=YEARS, defect_rates=RATES,
        as_of=as_of,
    )  # fmt: skip


@pytest.fixture(scope="module")
def generator() -> TransactionGenerator:
    return generator_for((2024, 2025), AS_OF)


def test_a_day_is_that_day_of_its_month_with_its_share_of_the_defects(generator):
    month = generator.month(2024, 11)
    days = [generator.day(dt.date(2024, 11, d)) for d in range(1, 31)]
    assert (
        pl.concat([d.lines for d in days])
        .sort("transaction_id", "line_number")
        .equals(month.lines.sort("transaction_id", "line_number"))
    )
    for reason, rows in month.defects.items():
        assert sum(d.defects[reason] for d in days) == rows, reason
    saturday = generator.day(dt.date(2024, 11, 16))
    assert saturday.lines["transaction_ts"].dt.date().unique().to_list() == [dt.date(2024, 11, 16)]
    assert generator.day(dt.date(2024, 11, 17)).lines.is_empty()  # a Sunday: every store closed
    assert sum(saturday.defects.values()) > 0


def test_the_as_of_day_ends_the_year_and_changes_no_day_before_it(generator):
    chunks = list(generator.year(2024))
    assert [c.month for c in chunks] == list(range(1, 12))
    last_day = chunks[-1].lines["transaction_ts"].dt.date().max()
    assert last_day == AS_OF
    whole = generator_for((2024, 2025))
    assert chunks[0].lines.equals(next(iter(whole.year(2024))).lines)
    assert chunks[-1].lines.equals(whole.month(2024, 11).between(dt.date(2024, 11, 1), AS_OF).lines)


def test_a_calendar_reaching_further_changes_no_configured_day_and_goes_on_after_them():
    short, longer = generator_for((2024,)), generator_for((2024, 2025, 2026))
    assert short.month(2024, 6).lines.equals(longer.month(2024, 6).lines)
    january = longer.month(2025, 1).lines
    assert january.height > 0.7 * longer.month(2024, 1).lines.height
    with pytest.raises(ValueError, match="outside the calendar"):
        short.day(dt.date(2025, 1, 2))


def test_export_writes_whole_months_then_the_days_so_far_and_deliveries_go_on(tmp_path, generator):
    lakehouse = Lakehouse(tmp_path)
    landing.export_year(lakehouse, generator, 2024)
    names = landing.transaction_files(lakehouse, 2024)
    assert names[:10] == [f"pos_2024-{m:02d}.csv" for m in range(1, 11)]
    assert names[10:] == [f"pos_2024-11-{d:02d}.csv" for d in range(1, 21)]
    assert landing.covered_through(lakehouse, 2024) == AS_OF
    assert landing.next_delivery_day(lakehouse) == dt.date(2024, 11, 21)

    landing.deliver_day(lakehouse, generator, dt.date(2024, 11, 21))
    assert landing.next_delivery_day(lakehouse) == dt.date(2024, 11, 22)
    manifest = dict(landing.read_manifest(lakehouse, 2024).select("reason", "rows").iter_rows())
    expected = {r: sum(c.defects[r] for c in generator.year(2024)) + generator.day(dt.date(2024, 11, 21)).defects[r]
                for r in manifest}  # fmt: skip
    assert manifest == expected
    lines = pl.concat(f.lines for f in landing.read_transaction_files(lakehouse, 2024))
    assert lines["transaction_ts"].dt.date().max() == dt.date(2024, 11, 21)

    landing.export_year(lakehouse, generator_for((2024, 2025), dt.date(2024, 11, 30)), 2024)  # a rerun, later
    assert "pos_2024-11.csv" not in landing.transaction_files(lakehouse, 2024)  # no month laid over its days
    assert landing.covered_through(lakehouse, 2024) == dt.date(2024, 11, 30)


def test_no_landing_files_is_a_one_line_error(tmp_path):
    with pytest.raises(LandingFileError, match="no POS files yet"):
        landing.next_delivery_day(Lakehouse(tmp_path))


def test_as_of_is_checked_and_is_not_part_of_the_identity():
    today = dt.date.today()
    settings = Settings(years=(2020, 2021))
    assert settings.effective_as_of == dt.date(2021, 12, 31)
    assert Settings(years=(today.year,)).effective_as_of == today
    assert replace(settings, as_of=dt.date(2021, 3, 1)).identity() == settings.identity()
    with pytest.raises(SettingsError, match=r"LAKEHOUSE_AS_OF=.* is after today"):
        Settings.from_env({"LAKEHOUSE_AS_OF": str(today + dt.timedelta(days=1))})
    with pytest.raises(SettingsError, match="LAKEHOUSE_AS_OF=2019-12-31 is before LAKEHOUSE_YEARS 2020"):
        Settings.from_env({"LAKEHOUSE_AS_OF": "2019-12-31", "LAKEHOUSE_YEARS": "2020-2021"})
    assert settings.calendar_years[-1] == max(2021, today.year) + 1


def test_expected_months_follow_the_as_of_day_and_the_landing_files(tmp_path, generator):
    assert expected_months(Settings(years=YEARS, as_of=AS_OF), 2024) == set(range(1, 12))
    assert expected_months(Settings(years=YEARS, as_of=dt.date(2024, 3, 1), start_date=dt.date(2024, 2, 10)), 2024) == {
        2,
        3,
    }
    lakehouse = Lakehouse(tmp_path)
    landing.export_year(lakehouse, generator_for((2024, 2025), dt.date(2024, 5, 3)), 2024)
    from_landing = Settings(years=YEARS, data_dir=tmp_path, source="landing")
    assert expected_months(from_landing, 2024) == {1, 2, 3, 4, 5}
    assert expected_months(from_landing, 2025) == set()


def test_deliver_refuses_days_after_today(tmp_path, monkeypatch, capsys):
    today = dt.date.today()
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LAKEHOUSE_YEARS", str(today.year))
    folder = tmp_path / "landing" / "transactions" / str(today.year)
    folder.mkdir(parents=True)
    (folder / f"pos_{today.isoformat()}.csv").write_text("header\n")
    assert main(["deliver"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"after today ({today})" in error


def landing_deliveries(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    sensor = build_definitions(Settings()).resolve_sensor_def("landing_deliveries")
    return sensor(context)


def test_the_sensor_adds_a_new_year_and_builds_each_changed_year_once(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    generator = generator_for((2024, 2025))
    landing.export_year(lakehouse, generator, 2024)
    landing.deliver_day(lakehouse, generator, dt.date(2025, 1, 2))
    resource = LakehouseResource(data_dir=str(tmp_path), years="2024", source="landing", stores=40, products=500)
    with dg.instance_for_test() as instance:
        result = landing_deliveries(dg.build_sensor_context(instance=instance, resources={"lakehouse": resource}))
        assert [r.partition_key for r in result.run_requests] == ["2024", "2025"]
        roots = {key.to_user_string() for key in result.run_requests[0].asset_selection}
        assert roots == {"bronze/transactions", "bronze/defect_manifest", "bronze/rejected_lines", "gold/calendar_days"}
        assert [set(r.partition_keys) for r in result.dynamic_partitions_requests] == [{"2024", "2025"}]
        assert all(r.partitions_def_name == YEAR_PARTITIONS for r in result.dynamic_partitions_requests)
        # Bronze of 2024 built from today's files: only 2025 is asked for again.
        digest = landing.year_digest(lakehouse, 2024)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(["bronze", "transactions"], partition="2024", metadata={"landing_digest": digest})
        )
        instance.add_dynamic_partitions(YEAR_PARTITIONS, ["2024", "2025"])
        result = landing_deliveries(dg.build_sensor_context(instance=instance, resources={"lakehouse": resource}))
        assert [r.partition_key for r in result.run_requests] == ["2025"]
        assert result.dynamic_partitions_requests == []


def test_the_sensor_skips_when_bronze_comes_from_the_generator(tmp_path):
    resource = LakehouseResource(data_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        result = landing_deliveries(dg.build_sensor_context(instance=instance, resources={"lakehouse": resource}))
    assert result.run_requests == [] and "not landing" in (result.skip_reason.skip_message or "")
