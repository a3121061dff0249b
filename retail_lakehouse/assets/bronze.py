"""Bronze assets: raw data as zstd Parquet, from the generator (default) or from the landing CSV files."""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from retail_lakehouse import landing
from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.defects import defect_manifest
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.generator.transactions import TransactionGenerator
from retail_lakehouse.resources import frame_to_markdown
from retail_lakehouse.schemas import (
    BronzeCalendar,
    BronzeProducts,
    BronzeStores,
    BronzeTransactions,
    DefectManifest,
)
from retail_lakehouse.settings import Settings
from retail_lakehouse.storage import Lakehouse, Table

GROUP = "bronze"


def transaction_generator(settings: Settings, stores: pl.DataFrame, products: pl.DataFrame,
                          calendar: pl.DataFrame) -> TransactionGenerator:  # fmt: skip
    """The generator configured from the settings (shared by the asset, the CLI and the benchmarks)."""
    return TransactionGenerator(
        stores, products, calendar,
        rows=settings.rows, seed=settings.seed, years=settings.years, defect_rates=settings.defect_rates,
        scenario=settings.resolved_scenario,
    )  # fmt: skip


class YearOfTransactions:
    """A year of bronze transaction lines from the configured source, validated chunk by chunk.

    The asset and the benchmarks stream `chunks()` into the same writer; `manifest()` is complete once the
    chunks have been consumed (from the generator) or read from the landing zone's manifest file.
    """

    def __init__(
        self, settings: Settings, year: int, stores: pl.LazyFrame, products: pl.LazyFrame, calendar: pl.LazyFrame
    ) -> None:
        self.settings, self.year = settings, year
        self.dimensions = (stores, products, calendar)
        self.lakehouse = Lakehouse(settings.data_dir)
        self.injected: Counter[str] = Counter()

    def chunks(self) -> Iterator[pl.DataFrame]:
        from_landing = self.settings.source == "landing"
        frames = landing.read_transactions(self.lakehouse, self.year) if from_landing else self._generated()
        for frame in frames:
            yield BronzeTransactions.validate(frame, lazy=True)

    def _generated(self) -> Iterator[pl.DataFrame]:
        generator = transaction_generator(self.settings, *(d.collect() for d in self.dimensions))
        for chunk in generator.year(self.year):
            self.injected.update(chunk.defects)
            yield chunk.lines

    def manifest(self) -> pl.DataFrame:
        if self.settings.source == "landing":
            return landing.read_manifest(self.lakehouse, self.year)
        return defect_manifest(self.year, self.injected)


def build_bronze_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    lakehouse = Lakehouse(settings.data_dir)
    from_landing = settings.source == "landing"

    @dg.asset(key=["bronze", "stores"], group_name=GROUP, kinds={"polars", "parquet"})
    def stores() -> pl.DataFrame:
        """One row per store (500 across the 16 federal states), as the store master data delivers it."""
        frame = (
            landing.read_stores(lakehouse)
            if from_landing
            else generate_stores(settings.stores, settings.seed, settings.years)
        )
        return BronzeStores.validate(frame, lazy=True)

    @dg.asset(key=["bronze", "products"], group_name=GROUP, kinds={"polars", "parquet"})
    def products() -> pl.DataFrame:
        """One row per product (50,000 in 11 categories), as the product master data delivers it."""
        frame = (
            landing.read_products(lakehouse)
            if from_landing
            else generate_products(settings.products, settings.seed, settings.years)
        )
        return BronzeProducts.validate(frame, lazy=True)

    @dg.asset(key=["bronze", "calendar"], group_name=GROUP, kinds={"polars", "parquet"})
    def calendar() -> pl.DataFrame:
        """One row per date and federal state: public holidays (`holidays` package) and opening."""
        calendar = generate_calendar(settings.years, settings.resolved_scenario.holiday_effects)
        return BronzeCalendar.validate(calendar, lazy=True)

    @dg.multi_asset(
        name="bronze_transactions",
        outs={
            "transactions": dg.AssetOut(
                key=["bronze", "transactions"],
                is_required=False,
                description="One row per transaction line as the point-of-sale export delivers it, defects included.",
                kinds={"polars", "parquet"},
            ),
            "defect_manifest": dg.AssetOut(
                key=["bronze", "defect_manifest"],
                is_required=False,
                description="One row per quarantine reason: rows the generator corrupted for it this year.",
                kinds={"polars", "parquet"},
            ),
        },
        ins={
            "stores": dg.AssetIn(["bronze", "stores"]),
            "products": dg.AssetIn(["bronze", "products"]),
            "calendar": dg.AssetIn(["bronze", "calendar"]),
        },
        partitions_def=partitions,
        group_name=GROUP,
        can_subset=True,  # `--select bronze/transactions` alone must work; the manifest follows the data
    )
    def transactions(
        context: dg.AssetExecutionContext,
        stores: pl.LazyFrame,
        products: pl.LazyFrame,
        calendar: pl.LazyFrame,
    ) -> Iterator[dg.Output[Any]]:
        source = YearOfTransactions(settings, int(context.partition_key), stores, products, calendar)
        selected = context.selected_output_names
        if "transactions" in selected:
            # The IO manager writes the stream before the next output is produced, so the manifest is complete.
            yield dg.Output(
                Table(
                    source.chunks(),
                    lambda _: {"defect_manifest": dg.MetadataValue.md(frame_to_markdown(source.manifest()))},
                ),
                "transactions",
            )
        elif not from_landing:
            for _ in source.chunks():  # the manifest alone: replay the deterministic generator to count
                pass
        if "defect_manifest" in selected:
            yield dg.Output(DefectManifest.validate(source.manifest()), "defect_manifest")

    return [stores, products, calendar, transactions]
