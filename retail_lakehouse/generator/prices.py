"""Shelf prices over time: list prices drift with German consumer price inflation, by year and category.

A product's `list_price` is its shelf price in 2020, the base year. In a later year the till charges it raised
by its category's inflation since 2020, rounded to a price ending in 9 cents as shelf prices are; an earlier
year lowers it the same way. Food rose faster than other goods, most in 2022 and 2023 (Destatis' consumer
price index: about 3 % in 2021, 7 % in 2022, 6 % in 2023, 2 % in 2024 overall, food higher), so revenue grows
faster than the volume sold in those years.

Till prices include VAT. When the rate changes, the tills pass the change on: from 1 July to 31 December 2020
(16 % and 5 % instead of 19 % and 7 %) a price is the year's shelf price times (100 + 16) / (100 + 19), or
(100 + 5) / (100 + 7), rounded half up to the cent, as most German grocers did.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from retail_lakehouse.generator.products import CATEGORY_MODELS
from retail_lakehouse.reference import category, vat_percent

BASE_YEAR = 2020
# Yearly change of shelf prices in percent: (food, non-food). A category's own rate is this times its
# `inflation` factor (products.py).
INFLATION_PERCENT: dict[int, tuple[float, float]] = {
    2021: (3.3, 2.5),
    2022: (8.5, 4.5),
    2023: (7.5, 3.5),
    2024: (2.3, 1.5),
    2025: (2.5, 1.8),
}
OTHER_YEARS_PERCENT = (2.0, 1.5)  # years outside the table: about the ECB's target


def price_index(year: int, is_food: bool, inflation: float) -> float:
    """A category's price level in `year` relative to the base year (1.0 in 2020)."""
    level = 1.0
    for each in range(min(year, BASE_YEAR) + 1, max(year, BASE_YEAR) + 1):
        food, non_food = INFLATION_PERCENT.get(each, OTHER_YEARS_PERCENT)
        change = 1.0 + (food if is_food else non_food) * inflation / 100
        level = level * change if year > BASE_YEAR else level / change
    return level


def shelf_cents(list_cents: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Prices raised (or lowered) by `level` and rounded to the nearest price ending in 9 cents (at least 0.19)."""
    return np.maximum(np.round((list_cents + 1) * level / 10).astype(np.int64) * 10 - 1, 19)


def with_vat_change(cents: np.ndarray, rate_percent: int, base_percent: int) -> np.ndarray:
    """Gross prices at `base_percent` VAT re-priced at `rate_percent`, rounded half up to the cent."""
    if rate_percent == base_percent:
        return cents
    return (cents * (100 + rate_percent) * 2 + (100 + base_percent)) // ((100 + base_percent) * 2)


class PriceBook:
    """The till price of every product in each month, in integer cents (products in `product_id` order)."""

    def __init__(self, products: pl.DataFrame) -> None:
        products = products.sort("product_id")
        self.list_cents = (products["list_price"] * 100).cast(pl.Int64).to_numpy()
        index = {model.name: i for i, model in enumerate(CATEGORY_MODELS)}
        self.category_index = products["category"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
        self.standard_rate = products["vat_class"].to_numpy() == "standard"
        self._years: dict[int, np.ndarray] = {}

    def month(self, year: int, month: int) -> np.ndarray:
        """The year's shelf prices with the VAT of the month's first day (rates change on the first of a month)."""
        shelf = self.year(year)
        day, base = dt.date(year, month, 1), dt.date(BASE_YEAR, 1, 1)
        prices = shelf
        for vat_class, chosen in (("standard", self.standard_rate), ("reduced", ~self.standard_rate)):
            rate, base_rate = vat_percent(vat_class, day), vat_percent(vat_class, base)
            if rate != base_rate:
                prices = np.where(chosen, with_vat_change(shelf, rate, base_rate), prices)
        return prices

    def year(self, year: int) -> np.ndarray:
        """The shelf prices of `year` at the base year's VAT."""
        if year not in self._years:
            levels = np.array([price_index(year, category(m.name).is_food, m.inflation) for m in CATEGORY_MODELS])
            self._years[year] = shelf_cents(self.list_cents, levels[self.category_index])
        return self._years[year]
