"""Where bronze comes from: the synthetic generator (default) or the landing zone's point-of-sale exports.

The bronze assets, the command line and the benchmarks all build bronze through these functions, so what
they measure is what the assets write.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator

import polars as pl

from retail_lakehouse import landing
from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.defects import defect_manifest
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.generator.transactions import TransactionGenerator
from retail_lakehouse.schemas import (
    BronzeCalendar,
    BronzeProducts,
    BronzeStores,
    BronzeTransactions,
    RejectedLines,
    empty_frame,
)
from retail_lakehouse.settings import Settings
from retail_lakehouse.storage import Lakehouse


def transaction_generator(
    settings: Settings, stores: pl.DataFrame, products: pl.DataFrame, calendar: pl.DataFrame
) -> TransactionGenerator:
    """The generator configured from the settings."""
    return TransactionGenerator(
        stores,
        products,
        calendar,
        rows=settings.rows,
        seed=settings.seed,
        years=settings.years,
        defect_rates=settings.defect_rates,
        scenario=settings.resolved_scenario,
        as_of=settings.effective_as_of,
    )


def export_generator(settings: Settings) -> tuple[TransactionGenerator, pl.DataFrame, pl.DataFrame]:
    """The generator with the dimensions it was built on (stores, products): for a landing export."""
    stores = generate_stores(settings.stores, settings.seed, settings.years)
    products = generate_products(settings.products, settings.seed, settings.years)
    return transaction_generator(settings, stores, products, bronze_calendar(settings)), stores, products


def bronze_stores(settings: Settings) -> pl.DataFrame:
    """The store master data, validated against the bronze contract."""
    if settings.source == "landing":
        return BronzeStores.validate(landing.read_stores(Lakehouse.for_settings(settings)), lazy=True)
    return BronzeStores.validate(generate_stores(settings.stores, settings.seed, settings.years), lazy=True)


def bronze_products(settings: Settings) -> pl.DataFrame:
    """The product master data, validated against the bronze contract."""
    if settings.source == "landing":
        return BronzeProducts.validate(landing.read_products(Lakehouse.for_settings(settings)), lazy=True)
    return BronzeProducts.validate(generate_products(settings.products, settings.seed, settings.years), lazy=True)


def bronze_calendar(settings: Settings) -> pl.DataFrame:
    """Public holidays and opening per date and federal state, validated against the bronze contract."""
    calendar = generate_calendar(settings.calendar_years, settings.resolved_scenario.holiday_effects)
    return BronzeCalendar.validate(calendar, lazy=True)


def expected_months(settings: Settings, year: int) -> set[int]:
    """The months of `year` that must have lines: those the scenario's window and the data's last day reach.

    The last day is the as-of day for the generator and the last day the landing files cover for the
    landing zone, so a current year holds the months so far, and a missing file before the last one shows.
    """
    scenario = settings.resolved_scenario
    first = max(dt.date(year, 1, 1), scenario.first_day)
    if settings.source == "landing":
        last = landing.covered_through(Lakehouse.for_settings(settings), year)
    else:
        last = settings.effective_as_of
    if last is not None and scenario.last_day < dt.date(settings.years[-1], 12, 31):  # a window ending early
        last = min(last, scenario.last_day)
    if last is None or last < first:
        return set()
    return set(range(first.month, min(last, dt.date(year, 12, 31)).month + 1))


class YearOfTransactions:
    """A year of bronze transaction lines from the configured source, validated chunk by chunk.

    `chunks()` streams into the writer; `manifest()` is complete once the chunks have been consumed (from
    the generator) or is read from the landing zone's manifest file; so are `rejected()`, the landing lines
    that could not be read (with file, line number and error), and `landing_lines`, every data line read.
    """

    def __init__(
        self, settings: Settings, year: int, stores: pl.LazyFrame, products: pl.LazyFrame, calendar: pl.LazyFrame
    ) -> None:
        self.settings, self.year = settings, year
        self.dimensions = (stores, products, calendar)
        self.lakehouse = Lakehouse.for_settings(settings)
        self.injected: Counter[str] = Counter()
        self.rejected_parts: list[pl.DataFrame] = []
        self.landing_lines = 0

    def chunks(self) -> Iterator[pl.DataFrame]:
        frames = self._from_landing() if self.settings.source == "landing" else self._generated()
        for frame in frames:
            yield BronzeTransactions.validate(frame, lazy=True)

    def _from_landing(self) -> Iterator[pl.DataFrame]:
        share = self.settings.max_rejected_share
        for landing_file in landing.read_transaction_files(self.lakehouse, self.year, max_rejected_share=share):
            self.landing_lines += landing_file.line_count
            if landing_file.rejected.height:
                self.rejected_parts.append(landing_file.rejected)
            yield landing_file.lines

    def rejected(self) -> pl.DataFrame:
        """The landing lines of the year that bronze could not hold, in file and line order."""
        parts = [empty_frame(RejectedLines), *self.rejected_parts]
        return RejectedLines.validate(pl.concat(parts), lazy=True)

    def _generated(self) -> Iterator[pl.DataFrame]:
        generator = transaction_generator(self.settings, *(d.collect() for d in self.dimensions))
        for chunk in generator.year(self.year):
            self.injected.update(chunk.defects)
            yield chunk.lines

    def manifest(self) -> pl.DataFrame:
        if self.settings.source == "landing":
            return landing.read_manifest(self.lakehouse, self.year)
        return defect_manifest(self.year, self.injected)
