"""Reference data: one definition of each closed set, used alike by the contract, the generator and the dashboard."""

from __future__ import annotations

import datetime as dt
import itertools

import pandera.errors
import polars as pl
import pytest

from dashboard.views import STATE_NAMES
from retail_lakehouse import reference, schemas, settings
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.reference import (
    CATEGORY_DETAILS,
    FEDERAL_STATES,
    STORE_FORMAT_DETAILS,
    VAT_PERIODS,
    vat_percent,
)


def test_each_set_is_defined_once_and_imported_from_there():
    assert settings.QUARANTINE_REASONS is reference.QUARANTINE_REASONS
    assert schemas.CATEGORIES is reference.CATEGORIES
    assert schemas.STATE_CODES is reference.STATE_CODES
    assert schemas.PAYMENT_METHODS is reference.PAYMENT_METHODS
    assert {s.code: s.name for s in FEDERAL_STATES} == STATE_NAMES
    assert STATE_NAMES["BY"] == "Bayern"


def test_sixteen_states_in_four_regions():
    codes = [state.code for state in FEDERAL_STATES]
    assert len(codes) == len(set(codes)) == 16
    by_region = {region: {s.code for s in FEDERAL_STATES if s.region == region} for region in reference.REGIONS}
    assert by_region["Süd"] == {"BW", "BY"}
    assert by_region["Ost"] == {"BE", "BB", "SN", "ST", "TH"}
    assert by_region["Nord"] == {"HB", "HH", "MV", "NI", "SH"}
    assert by_region["West"] == {"HE", "NW", "RP", "SL"}
    assert 82 < sum(s.population_millions for s in FEDERAL_STATES) < 86  # Germany: about 84 million
    for state in FEDERAL_STATES:
        assert state.postcode_prefixes and all(len(p) == 2 and p.isdigit() for p in state.postcode_prefixes)


def test_food_is_taxed_at_the_reduced_rate_except_drinks():
    reduced = {c.name for c in CATEGORY_DETAILS if c.vat_class == "reduced"}
    food = {c.name for c in CATEGORY_DETAILS if c.is_food}
    assert reduced == food - {"Beverages"}
    assert reference.category("Electronics") == ("Electronics", "standard", False)
    assert set(reference.FOOD_CATEGORIES) == food


def test_store_formats_have_sales_area_bands():
    for item in STORE_FORMAT_DETAILS:
        assert 0 < item.min_area_m2 < item.max_area_m2
    assert reference.store_format("hypermarket").min_area_m2 >= 5_000  # SB-Warenhaus by definition
    assert reference.store_format("convenience").max_area_m2 <= 400


@pytest.mark.parametrize(
    ("day", "reduced", "standard"),
    [
        (dt.date(2020, 6, 30), 7, 19),
        (dt.date(2020, 7, 1), 5, 16),
        (dt.date(2020, 12, 31), 5, 16),
        (dt.date(2021, 1, 1), 7, 19),
        (dt.date(2025, 12, 31), 7, 19),
        (dt.date(2006, 12, 31), 7, 16),
    ],
)
def test_vat_rate_on_the_day(day, reduced, standard):
    assert vat_percent("reduced", day) == reduced
    assert vat_percent("standard", day) == standard


def test_vat_periods_follow_each_other_without_gap():
    for before, after in itertools.pairwise(VAT_PERIODS):
        assert after.first_day == before.last_day + dt.timedelta(days=1)


def test_enums_keep_the_reference_order_in_memory():
    frame = pl.DataFrame({"category": ["Home & Garden", "Bakery", "Fresh Produce"]})
    ordered = frame.with_columns(pl.col("category").cast(reference.CATEGORY_ENUM)).sort("category")
    assert ordered["category"].to_list() == ["Fresh Produce", "Bakery", "Home & Garden"]
    assert reference.STATE_CODE_ENUM.categories.to_list() == list(reference.STATE_CODES)
    with pytest.raises(pl.exceptions.InvalidOperationError):
        pl.Series(["Toys"]).cast(reference.CATEGORY_ENUM)


def test_the_contract_rejects_a_value_outside_the_reference():
    stores = generate_stores(20, 42, (2024,))
    schemas.BronzeStores.validate(stores)
    with pytest.raises(pandera.errors.SchemaError):
        schemas.BronzeStores.validate(stores.with_columns(pl.lit("Mitte").alias("region")))
    with pytest.raises(pandera.errors.SchemaError):
        schemas.BronzeStores.validate(stores.with_columns(pl.lit("outlet").alias("format")))
