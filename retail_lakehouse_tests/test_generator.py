"""The generator: determinism, the realism bands of the foundation issue, and the defect manifest."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import polars as pl
import pytest
from dateutil.easter import easter
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.generator.transactions import TransactionGenerator, _pick
from retail_lakehouse.reference import (
    CATEGORIES,
    CATEGORY_DETAILS,
    FEDERAL_STATES,
    FOOD_CATEGORIES,
    STATE_CODES,
    STORE_FORMAT_DETAILS,
)
from retail_lakehouse.schemas import BronzeProducts, BronzeStores, BronzeTransactions
from retail_lakehouse.settings import DefectRates, Scenario, resolve_scenario
from retail_lakehouse_tests.conftest import E2E_DEFECT_RATES

YEARS = (2020, 2021, 2022, 2023, 2024, 2025)
ROWS = 1_200_000
DEFAULT_RATES = DefectRates()


def make_generator(
    rows: int = ROWS,
    seed: int = 42,
    years: tuple[int, ...] = YEARS,
    rates: DefectRates = DEFAULT_RATES,
    scenario: Scenario | None = None,
):
    scenario = scenario or resolve_scenario("baseline", years)
    stores = generate_stores(500, seed, years)
    products = generate_products(50_000, seed, years)
    calendar = generate_calendar(years, scenario.holiday_effects)
    generator = TransactionGenerator(
        stores, products, calendar, rows=rows, seed=seed, years=years, defect_rates=rates, scenario=scenario
    )
    return generator, stores, products, calendar


@pytest.fixture(scope="module")
def full_run():
    """1.2M lines over six years, with defects; the realism bands are measured on this."""
    generator, stores, products, calendar = make_generator()
    lines = pl.concat([chunk.lines for year in YEARS for chunk in generator.year(year)])
    return lines, stores, products, calendar


@pytest.fixture(scope="module")
def clean_lines(full_run):
    """The lines a correct silver layer would keep: realism is judged on valid sales only."""
    lines, stores, _, _ = full_run
    return (
        lines.unique(maintain_order=True)
        .filter(
            pl.col("store_id").is_not_null(),
            pl.col("product_id").is_between(1, 50_000),
            pl.col("quantity") > 0,
            pl.col("unit_price") > 0,
        )
        .join(stores.select("store_id", "state_code", "opened_on"), on="store_id")
        .with_columns(
            date=pl.col("transaction_ts").dt.date(),
            year=pl.col("transaction_ts").dt.year(),
            month=pl.col("transaction_ts").dt.month(),
        )
    )


def test_dimensions_match_the_contract_and_cover_germany():
    stores = generate_stores(500, 42, YEARS)
    products = generate_products(50_000, 42, YEARS)
    BronzeStores.validate(stores, lazy=True)
    BronzeProducts.validate(products, lazy=True)
    assert stores.height == 500 and products.height == 50_000
    assert set(stores["state_code"]) == set(STATE_CODES)
    assert products["category"].n_unique() == 11
    by_state = dict(stores.group_by("state_code").len().iter_rows())
    assert max(by_state, key=by_state.get) == "NW"  # the most populous state has the most stores
    opened = stores["opened_on"]
    assert (opened < dt.date(2020, 1, 1)).mean() > 0.7  # most stores predate the data
    assert (opened >= dt.date(2020, 1, 1)).sum() > 20  # and some open during the years: part of growth


# Each state's extent (latitude south..north, longitude west..east), from the map, about 5 km to spare:
# a store's coordinates must lie in its own state's box. The city-states' boxes are small and far from
# most others, so a store put in the wrong state would be caught.
STATE_BOXES = {
    "BW": (47.5, 49.85, 7.45, 10.55), "BY": (47.2, 50.6, 8.9, 13.9), "BE": (52.3, 52.7, 13.05, 13.8),
    "BB": (51.3, 53.6, 11.2, 14.8), "HB": (53.0, 53.65, 8.45, 9.05), "HH": (53.35, 53.8, 9.7, 10.35),
    "HE": (49.35, 51.7, 7.7, 10.3), "MV": (53.05, 54.7, 10.55, 14.45), "NI": (51.25, 53.95, 6.6, 11.65),
    "NW": (50.3, 52.55, 5.8, 9.5), "RP": (48.9, 51.0, 6.05, 8.55), "SL": (49.05, 49.7, 6.3, 7.45),
    "SN": (50.15, 51.7, 11.85, 15.05), "ST": (50.9, 53.1, 10.5, 13.25), "SH": (53.35, 55.1, 7.85, 11.35),
    "TH": (50.15, 51.7, 9.85, 12.7),
}  # fmt: skip


def test_stores_lie_in_their_own_state_with_address_and_sales_area():
    stores = generate_stores(500, 42, YEARS)
    for code, (south, north, west, east) in STATE_BOXES.items():
        state = stores.filter(pl.col("state_code") == code)
        assert state.height > 0, code
        assert state["latitude"].is_between(south, north).all(), code
        assert state["longitude"].is_between(west, east).all(), code
        prefixes = [p for s in FEDERAL_STATES if s.code == code for p in s.postcode_prefixes]
        assert state["postcode"].str.slice(0, 2).is_in(prefixes).all(), code
    assert stores.filter(pl.col("state_code") == "BE")["city"].unique().to_list() == ["Berlin"]
    assert {"München", "Köln", "Leipzig"} <= set(stores["city"])  # German names, real towns
    assert stores["postcode"].str.contains(r"^\d{5}$").all()
    assert stores["street"].str.contains(r"^\D+ \d{1,3}$").all()
    for item in STORE_FORMAT_DETAILS:
        area = stores.filter(pl.col("format") == item.name)["sales_area_m2"]
        assert area.is_between(item.min_area_m2, item.max_area_m2).all(), item.name
    assert stores["city"].n_unique() > 150  # spread over towns, not a handful of cities


def _ean_is_valid(code: str) -> bool:
    """GS1: the digits weighted 1, 3, 1, 3, ... from the left, check digit included, sum to a multiple of 10."""
    return len(code) == 13 and sum(int(d) * (1, 3)[i % 2] for i, d in enumerate(code)) % 10 == 0


def test_products_have_valid_eans_unit_sizes_vat_classes_and_delistings():
    products = generate_products(50_000, 42, YEARS)
    assert all(_ean_is_valid(code) for code in products["ean"])
    assert _ean_is_valid("4006381333931") and not _ean_is_valid("4006381333932")  # a real EAN, and a typo
    assert products["ean"].n_unique() == 50_000
    assert products["ean"].str.slice(0, 3).cast(pl.Int32).is_between(400, 440).all()  # GS1 Germany
    vat = dict(zip(CATEGORIES, [c.vat_class for c in CATEGORY_DETAILS], strict=True))
    assert (products["vat_class"] == products["category"].replace_strict(vat)).all()
    assert products["unit_size"].str.len_chars().min() > 0
    assert (products["product_name"].str.contains(products["unit_size"], literal=True)).all()
    delisted = products.filter(pl.col("delisted_on").is_not_null())
    assert (products["is_active"] == products["delisted_on"].is_null()).all()
    assert 0.05 < delisted.height / products.height < 0.12
    last_days = delisted["delisted_on"]
    assert (last_days.dt.month_end() == last_days).all()  # at the end of a month
    assert last_days.dt.year().is_between(YEARS[0], YEARS[-1]).all()


def test_delisted_products_sell_until_their_delisting_and_never_after(clean_lines, full_run):
    products = full_run[2].select("product_id", "delisted_on")
    sold = clean_lines.join(products.filter(pl.col("delisted_on").is_not_null()), on="product_id")
    assert sold.filter(pl.col("date") > pl.col("delisted_on")).height == 0
    assert sold.height > 1_000  # delisted products did sell before their day


def test_same_seed_gives_identical_data_and_another_seed_does_not():
    first, *_ = make_generator(rows=200_000)
    second, *_ = make_generator(rows=200_000)
    other, *_ = make_generator(rows=200_000, seed=7)
    a, b, c = first.month(2023, 3).lines, second.month(2023, 3).lines, other.month(2023, 3).lines
    assert a.equals(b)
    assert not a.equals(c)


@pytest.mark.parametrize(("scenario", "year"), [("baseline", 2024), ("covid-2020", 2020)])
def test_one_year_alone_equals_that_year_of_a_full_run(scenario, year):
    generator, *_ = make_generator(rows=200_000, scenario=resolve_scenario(scenario, YEARS))
    in_full_run = [chunk for each in YEARS for chunk in generator.year(each) if each == year]
    alone, *_ = make_generator(rows=200_000, scenario=resolve_scenario(scenario, YEARS))
    for from_full, from_alone in zip(in_full_run, alone.year(year), strict=True):
        assert from_full.lines.equals(from_alone.lines)
        assert from_full.defects == from_alone.defects


def test_total_lines_are_within_one_percent_of_the_setting(full_run):
    lines, *_ = full_run
    assert abs(lines.height - ROWS) / ROWS < 0.01


def test_chunks_match_the_bronze_contract_and_money_is_exact(full_run):
    lines, *_ = full_run
    BronzeTransactions.validate(lines.head(200_000), lazy=True)
    assert lines.schema["unit_price"] == pl.Decimal(10, 2)
    assert lines.schema["line_total"] == pl.Decimal(12, 2)
    assert lines["transaction_id"].min() // 10**10 >= 2020  # ids carry year and month: unique across years


def test_no_sales_on_sundays_holidays_or_before_opening(clean_lines, full_run):
    calendar = full_run[3]
    sales_days = clean_lines.join(calendar, on=["date", "state_code"], how="left")
    assert sales_days["is_open"].null_count() == 0
    assert sales_days.filter(~pl.col("is_open")).height == 0
    assert sales_days.filter(pl.col("weekday") == 7).height == 0
    assert clean_lines.filter(pl.col("date") < pl.col("opened_on")).height == 0


def test_sales_within_opening_hours_with_lunch_and_after_work_peaks(clean_lines):
    hours = clean_lines.group_by(pl.col("transaction_ts").dt.hour().alias("hour")).len()
    per_hour = dict(hours.iter_rows())
    assert min(per_hour) >= 6 and max(per_hour) <= 21  # between 06:00 and 22:00
    assert per_hour[12] > per_hour[10] and per_hour[12] > per_hour[14]  # lunch peak
    assert per_hour[17] > per_hour[15] and per_hour[17] > per_hour[20]  # after-work peak


def _revenue_cents(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return frame.group_by(*keys).agg((pl.col("line_total").sum() * 100).cast(pl.Int64).alias("cents")).sort(*keys)


def test_december_is_a_quarter_to_a_half_above_the_average_month(clean_lines):
    """German retail: December sells about 1.3 to 1.4 times an average month."""
    monthly = _revenue_cents(clean_lines, "year", "month")
    for year in YEARS:
        months = monthly.filter(pl.col("year") == year)
        december = months.filter(pl.col("month") == 12)["cents"].item()
        assert 1.25 * months["cents"].mean() <= december <= 1.5 * months["cents"].mean(), year


def test_saturday_is_the_strongest_weekday_per_open_day(clean_lines):
    per_day = _revenue_cents(clean_lines, "date").with_columns(weekday=pl.col("date").dt.weekday())
    per_weekday = per_day.group_by("weekday").agg(pl.col("cents").mean()).sort("cents", descending=True)
    assert per_weekday["weekday"][0] == 6


def test_days_before_christmas_and_easter_are_among_the_busiest(clean_lines):
    per_day = _revenue_cents(clean_lines, "date")
    for year in YEARS:
        days = per_day.filter(pl.col("date").dt.year() == year).sort("cents", descending=True)
        top = set(days["date"].head(int(days.height * 0.05)).to_list())  # the busiest 5% of the year's days
        open_days = set(days["date"].to_list())
        before_christmas = max(d for d in open_days if d < dt.date(year, 12, 24))
        holy_saturday = easter(year) - dt.timedelta(days=1)
        assert before_christmas in top, (year, before_christmas)
        assert holy_saturday in top, (year, holy_saturday)


def test_each_year_grows_two_to_twelve_percent(clean_lines):
    yearly = _revenue_cents(clean_lines, "year")["cents"].to_numpy()
    growth = yearly[1:] / yearly[:-1] - 1
    assert np.all((growth >= 0.02) & (growth <= 0.12)), growth


def test_baskets_have_several_lines(clean_lines):
    mean_lines = clean_lines.group_by("transaction_id").len()["len"].mean()
    assert 2.5 <= mean_lines <= 6


def test_top_fifth_of_products_earns_two_thirds_to_most_of_revenue(clean_lines):
    """Grocery: the best-selling fifth of the assortment earns roughly 70 to 80 % of revenue."""
    by_product = _revenue_cents(clean_lines, "product_id").sort("cents", descending=True)
    top = by_product["cents"].head(10_000).sum()  # 20% of 50,000 products
    assert 0.65 <= top / by_product["cents"].sum() <= 0.85


def test_no_product_earns_a_whole_percent_of_revenue(clean_lines):
    by_product = _revenue_cents(clean_lines, "product_id")
    assert by_product["cents"].max() < 0.01 * by_product["cents"].sum()


@pytest.fixture(scope="module")
def price_changes(clean_lines, full_run):
    """Per product and year from 2021: its shelf price's change on the year before, and its revenue the year
    before (the weight). One price per product and year: the dearest, as the VAT cut lowered July-December
    2020's."""
    products = full_run[2].select("product_id", "category")
    prices = clean_lines.group_by("year", "product_id").agg(
        pl.col("unit_price").max().cast(pl.Float64).alias("price"), (pl.col("line_total").sum() * 100).cast(pl.Int64)
    )
    before = prices.with_columns(pl.col("year") + 1).rename({"price": "price_before", "line_total": "weight"})
    return (
        prices.join(before, on=["year", "product_id"])
        .join(products, on="product_id")
        .with_columns(
            change=pl.col("price") / pl.col("price_before") - 1,
            food=pl.col("category").is_in(FOOD_CATEGORIES),
        )
    )


def _weighted_change(changes: pl.DataFrame, *keys: str) -> dict:
    summed = changes.group_by(*keys).agg((pl.col("change") * pl.col("weight")).sum() / pl.col("weight").sum())
    return {tuple(row[:-1]) if len(row) > 2 else row[0]: row[-1] for row in summed.iter_rows()}


def test_shelf_prices_rise_with_german_inflation_food_faster(price_changes):
    """Destatis' consumer prices: about 3 % in 2021, 7 % in 2022, 6 % in 2023, 2 % in 2024; food above the rest."""
    headline = _weighted_change(price_changes, "year")
    for year, expected in {2021: 0.03, 2022: 0.07, 2023: 0.06, 2024: 0.02}.items():
        assert abs(headline[year] - expected) <= 0.01, (year, headline[year])
    by_kind = _weighted_change(price_changes, "year", "food")
    for year in (2021, 2022, 2023, 2024, 2025):
        assert by_kind[(year, True)] > by_kind[(year, False)], year
    by_category = _weighted_change(price_changes.filter(pl.col("year") == 2022), "category")
    assert by_category["Dairy & Eggs"] > 0.08 > 0.04 > by_category["Electronics"] > 0


def test_revenue_grows_faster_than_volume_in_the_inflation_years(clean_lines):
    yearly = clean_lines.group_by("year").agg(pl.col("line_total").sum().cast(pl.Float64), pl.col("quantity").sum())
    yearly = yearly.sort("year").with_columns(
        nominal=pl.col("line_total").pct_change(), volume=pl.col("quantity").cast(pl.Float64).pct_change()
    )
    gap = dict(zip(yearly["year"], yearly["nominal"] - yearly["volume"], strict=True))
    assert gap[2022] > 0.04 and gap[2023] > 0.03


def test_manifest_counts_match_what_the_data_shows():
    """Each reason's count, recomputed from the corrupted month by its own definition."""
    rates = asdict(E2E_DEFECT_RATES)
    generator, *_ = make_generator(rows=600_000, rates=E2E_DEFECT_RATES)
    chunk = generator.month(2022, 11)
    lines, manifest = chunk.lines, chunk.defects
    assert all(manifest[reason] > 0 for reason in rates)

    first_copies = lines.unique(maintain_order=True)
    assert lines.height - first_copies.height == manifest["duplicate"]
    gross_less_discount = pl.col("quantity") * pl.col("unit_price") - pl.col("discount")
    observed = {
        "missing_key": first_copies.filter(pl.col("store_id").is_null() | pl.col("product_id").is_null()).height,
        "unknown_product": first_copies.filter(pl.col("product_id") > 50_000).height,
        "non_positive_quantity": first_copies.filter(pl.col("quantity") <= 0).height,
        "non_positive_price": first_copies.filter(pl.col("unit_price") == 0).height,
        "line_total_mismatch": first_copies.filter(pl.col("line_total") != gross_less_discount).height,
    }
    sums = first_copies.group_by("transaction_id").agg(
        pl.col("line_total").sum().alias("lines_sum"), pl.col("transaction_total").first(), pl.len()
    )
    observed["transaction_total_mismatch"] = sums.filter(pl.col("lines_sum") != pl.col("transaction_total"))[
        "len"
    ].sum()
    for reason, count in observed.items():
        assert count == manifest[reason], reason
    assert manifest["conflicting_duplicate"] == manifest["unknown_store"] == manifest["wrong_year"] == 0

    # Each defect on a different transaction; clean lines have consistent totals and money.
    defect_ids = [
        first_copies.filter(pl.col("store_id").is_null() | pl.col("product_id").is_null())["transaction_id"],
        first_copies.filter(pl.col("product_id") > 50_000)["transaction_id"],
        first_copies.filter(pl.col("quantity") <= 0)["transaction_id"],
        first_copies.filter(pl.col("unit_price") == 0)["transaction_id"],
        first_copies.filter(pl.col("line_total") != gross_less_discount)["transaction_id"],
        sums.filter(pl.col("lines_sum") != pl.col("transaction_total"))["transaction_id"],
        lines.filter(lines.is_duplicated())["transaction_id"].unique(),
    ]
    all_ids = pl.concat(defect_ids)
    assert all_ids.n_unique() == all_ids.len()


def test_duplicates_arrive_far_from_their_originals():
    """Copies come as a late re-send after the month's regular lines, not next to their originals."""
    generator, *_ = make_generator(rows=300_000, rates=DefectRates(duplicate=0.01))
    chunk = generator.month(2021, 5)
    lines = chunk.lines.with_row_index()
    copies = lines.filter(pl.struct(pl.exclude("index")).is_duplicated())
    regular_lines = lines.height - chunk.defects["duplicate"]
    positions = copies.group_by("transaction_id", "line_number").agg(
        pl.col("index").min().alias("original"), pl.col("index").max().alias("copy")
    )
    assert positions["copy"].min() >= regular_lines
    assert positions["original"].max() < regular_lines
    assert (positions["copy"] - positions["original"]).median() > regular_lines / 10


NO_DEFECTS = DefectRates(**dict.fromkeys(asdict(DEFAULT_RATES), 0.0))


def generated(rows: int, years: tuple[int, ...], scenario: Scenario) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every line of `years` without defects, with date, weekday and the store's format; and the calendar."""
    generator, stores, _, calendar = make_generator(rows=rows, years=years, rates=NO_DEFECTS, scenario=scenario)
    lines = pl.concat([chunk.lines for year in years for chunk in generator.year(year)])
    lines = lines.join(stores.select("store_id", "format"), on="store_id").with_columns(
        date=pl.col("transaction_ts").dt.date(),
        weekday=pl.col("transaction_ts").dt.weekday(),
        cents=(pl.col("line_total") * 100).cast(pl.Int64),
    )
    return lines, calendar


def test_months_are_empty_outside_the_date_window_and_full_inside():
    years = (2022, 2023)
    scenario = resolve_scenario("baseline", years, start_date=dt.date(2022, 11, 15), end_date=dt.date(2023, 2, 10))
    lines, _ = generated(400_000, years, scenario)
    generator, *_ = make_generator(rows=400_000, years=years, rates=NO_DEFECTS, scenario=scenario)
    assert generator.month(2023, 6).lines.height == 0
    assert lines["date"].min() == dt.date(2022, 11, 15)  # a Tuesday: open
    assert lines["date"].max() == dt.date(2023, 2, 10)  # a Friday
    assert abs(lines.height - 400_000) / 400_000 < 0.01  # the lines asked for, all inside the window


@pytest.mark.parametrize("mean_lines", [2.5, 4.0, 6.0])
def test_basket_size_sets_the_mean_lines_per_basket(mean_lines):
    scenario = resolve_scenario("baseline", (2023,), basket_size=None if mean_lines == 4.0 else mean_lines)
    lines, _ = generated(200_000, (2023,), scenario)
    assert lines.group_by("transaction_id").len()["len"].mean() == pytest.approx(mean_lines, abs=0.05)


def test_growth_sets_the_yearly_volume_growth_and_new_stores_do_not_add_to_it():
    """With 10 % growth a year's lines are 1.10 times the year before's, calendar differences aside: the
    same two years without growth give the calendar's own ratio (2024 has two more shopping days)."""
    years = (2023, 2024)
    ratio = {}
    for growth in (0.0, 0.10):
        lines, _ = generated(600_000, years, resolve_scenario("flat", years, growth=growth))
        per_year = lines.group_by(pl.col("date").dt.year()).len().sort("date")["len"]
        ratio[growth] = per_year[1] / per_year[0]
    assert ratio[0.0] == pytest.approx(1.0, abs=0.02)
    assert ratio[0.10] / ratio[0.0] == pytest.approx(1.10, abs=0.02)


def test_flat_has_december_like_any_month_and_keeps_the_week():
    """Without seasonality a December day sells what the same weekday sells all year. December's total then
    differs from the average month only by its calendar: December 2021 and 2023 have 26 and 24 shopping days
    with their weekday mix worth within 3 % of the average month's, so December is within 5 % of it."""
    years = (2021, 2023)
    lines, _ = generated(1_200_000, years, resolve_scenario("flat", years))
    daily = lines.group_by("date", "weekday").agg(pl.len().alias("lines"))
    daily = daily.with_columns(year=pl.col("date").dt.year(), december=pl.col("date").dt.month() == 12)
    for year in years:
        days = daily.filter(pl.col("year") == year)
        by_weekday = days.group_by("weekday").agg(
            pl.col("lines").filter(pl.col("december")).mean().alias("december"), pl.col("lines").mean().alias("all")
        )
        assert abs((by_weekday["december"] / by_weekday["all"]).mean() - 1) < 0.05, year
        monthly = days.group_by(pl.col("date").dt.month()).agg(pl.col("lines").sum())
        december = monthly.filter(pl.col("date") == 12)["lines"].item()
        assert abs(december / monthly["lines"].mean() - 1) < 0.05, year
    per_weekday = lines.group_by("weekday").agg(pl.len()).sort("len", descending=True)
    assert per_weekday["weekday"][0] == 6  # Saturday still strongest
    assert 7 not in per_weekday["weekday"].to_list()  # and Sundays still closed


def test_without_holiday_effects_shops_open_every_day():
    scenario = resolve_scenario("baseline", (2023,), holiday_effects=False)
    lines, calendar = generated(200_000, (2023,), scenario)
    assert calendar["is_open"].all()
    assert lines["date"].n_unique() == 365  # Sundays, Christmas and Easter Monday included
    per_day = lines.group_by("date", "weekday").len().group_by("weekday").agg(pl.col("len").mean()).sort("len")
    assert per_day["weekday"][0] == 7  # a Sunday is open, and the quietest day
    assert per_day["weekday"][-1] == 6


@pytest.fixture(scope="module")
def covid_and_baseline():
    """2020 and 2021, once as the baseline and once as covid-2020, month by month."""
    years = (2020, 2021)
    runs = {}
    for name in ("baseline", "covid-2020"):
        generator, stores, *_ = make_generator(
            rows=1_000_000, years=years, rates=NO_DEFECTS, scenario=resolve_scenario(name, years)
        )
        runs[name] = {(y, m): generator.month(y, m).lines for y in years for m in range(1, 13)}
    food_stores = stores.filter(pl.col("format") != "specialist")["store_id"]
    return runs, food_stores


SHOCKED_MONTHS = {(2020, 3), (2020, 4), (2020, 12), (2021, 1), (2021, 2), (2021, 3)}


def test_covid_leaves_every_month_outside_its_shocks_as_it_was(covid_and_baseline):
    runs, _ = covid_and_baseline
    for month, lines in runs["baseline"].items():
        assert lines.equals(runs["covid-2020"][month]) is (month not in SHOCKED_MONTHS), month


def test_covid_closes_non_food_stores_in_the_lockdowns(covid_and_baseline):
    runs, food_stores = covid_and_baseline
    lockdowns = (pl.col("date").is_between(dt.date(2020, 3, 18), dt.date(2020, 4, 19))) | (
        pl.col("date").is_between(dt.date(2020, 12, 16), dt.date(2021, 3, 7))
    )

    def non_food_lines(name: str) -> pl.DataFrame:
        lines = pl.concat(runs[name][month] for month in sorted(SHOCKED_MONTHS))
        dated = lines.with_columns(date=pl.col("transaction_ts").dt.date())
        return dated.filter(~pl.col("store_id").is_in(food_stores.implode()))

    assert non_food_lines("baseline").filter(lockdowns).height > 100
    assert non_food_lines("covid-2020").filter(lockdowns).height == 0
    assert non_food_lines("covid-2020").filter(~lockdowns).height > 100  # open again between and after


def test_covid_hoarding_fills_food_stores_in_march_2020(covid_and_baseline):
    """Panic buying from 9 to 21 March 2020: 1.25 times the trips with 1.3 times the lines, so about 1.6
    times the lines; the first week of March is untouched."""
    runs, food_stores = covid_and_baseline

    def food_lines(name: str, first: int, last: int) -> int:
        lines = runs[name][(2020, 3)].filter(pl.col("store_id").is_in(food_stores.implode()))
        return lines.filter(pl.col("transaction_ts").dt.day().is_between(first, last)).height

    assert food_lines("covid-2020", 9, 21) / food_lines("baseline", 9, 21) == pytest.approx(1.625, abs=0.1)
    assert food_lines("covid-2020", 2, 7) / food_lines("baseline", 2, 7) == pytest.approx(1.0, abs=0.08)


def test_tills_pass_the_2020_vat_cut_on(clean_lines, full_run):
    """From July to December 2020 a price is the first half's times 116/119 (standard) or 105/107 (reduced),
    rounded half up to the cent; in January 2021 the old prices are back, raised by that year's inflation."""
    products = full_run[2].select("product_id", "vat_class")
    year_2020 = clean_lines.filter(pl.col("year") == 2020).join(products, on="product_id")
    halves = year_2020.group_by("product_id", "vat_class", second_half=pl.col("month") >= 7).agg(
        pl.col("unit_price").unique()
    )
    assert halves["unit_price"].list.len().max() == 1  # one price per product and half
    prices = halves.with_columns(pl.col("unit_price").list.first()).pivot(
        "second_half", index=["product_id", "vat_class"], values="unit_price"
    )
    both = prices.drop_nulls()
    assert both.height > 1_000
    for product_id, vat_class, first, second in both.select("product_id", "vat_class", "false", "true").iter_rows():
        normal, cut = (19, 16) if vat_class == "standard" else (7, 5)
        expected = (first * (100 + cut) / (100 + normal)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert second == expected, (product_id, vat_class, first, second)


@settings(max_examples=60, deadline=None)
@given(
    weights=hnp.arrays(np.float64, st.integers(1, 3000), elements=st.one_of(st.just(0.0), st.floats(1e-6, 1e6))),
    seed=st.integers(0, 2**32 - 1),
)
def test_product_picks_are_those_of_a_binary_search_of_the_cumulative_weights(weights, seed):
    """The guide-table pick gives each draw the index a plain binary search gives (so the data is unchanged),
    zero weights (delisted products) and draws at the very ends of [0, 1) included."""
    draws = np.random.default_rng(seed).random(5000)
    draws[:2] = [0.0, np.nextafter(1.0, 0.0)]
    cdf = np.cumsum(weights)
    searched = np.minimum(np.searchsorted(cdf, draws * cdf[-1], side="right"), len(cdf) - 1)
    assert np.array_equal(_pick(weights, draws), searched)
