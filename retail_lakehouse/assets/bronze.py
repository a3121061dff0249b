"""Bronze assets: raw data as Delta tables (zstd), from the generator (default) or the landing CSV files."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from retail_lakehouse.landing import LANDING_DIGEST, year_digest
from retail_lakehouse.resources import LakehouseResource, frame_to_markdown
from retail_lakehouse.schemas import DefectManifest
from retail_lakehouse.sources import YearOfTransactions, bronze_calendar, bronze_products, bronze_stores

GROUP = "bronze"
KINDS = {"polars", "deltalake"}


def build_bronze_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(key=["bronze", "stores"], group_name=GROUP, kinds=KINDS)
    def stores(lakehouse: LakehouseResource) -> pl.DataFrame:
        """One row per store (500 across the 16 federal states), as the store master data delivers it."""
        return bronze_stores(lakehouse.settings)

    @dg.asset(key=["bronze", "products"], group_name=GROUP, kinds=KINDS)
    def products(lakehouse: LakehouseResource) -> pl.DataFrame:
        """One row per product (50,000 in 11 categories), as the product master data delivers it."""
        return bronze_products(lakehouse.settings)

    @dg.asset(key=["bronze", "calendar"], group_name=GROUP, kinds=KINDS)
    def calendar(lakehouse: LakehouseResource) -> pl.DataFrame:
        """One row per date and federal state: public holidays (`holidays` package) and opening."""
        return bronze_calendar(lakehouse.settings)

    @dg.multi_asset(
        name="bronze_transactions",
        outs={
            "transactions": dg.AssetOut(
                key=["bronze", "transactions"],
                is_required=False,
                description="One row per transaction line as the point-of-sale export delivers it, defects included.",
                kinds=KINDS,
            ),
            "defect_manifest": dg.AssetOut(
                key=["bronze", "defect_manifest"],
                is_required=False,
                description="One row per quarantine reason: rows the generator corrupted for it this year.",
                kinds=KINDS,
            ),
            "rejected_lines": dg.AssetOut(
                key=["bronze", "rejected_lines"],
                is_required=False,
                description="One row per landing line that could not be read into bronze: file, line, text, error.",
                kinds=KINDS,
            ),
        },
        ins={
            "stores": dg.AssetIn(["bronze", "stores"]),
            "products": dg.AssetIn(["bronze", "products"]),
            "calendar": dg.AssetIn(["bronze", "calendar"]),
        },
        partitions_def=partitions,
        group_name=GROUP,
        can_subset=True,  # `--select bronze/transactions` alone must work; the others follow the data
    )
    def transactions(
        context: dg.AssetExecutionContext,
        lakehouse: LakehouseResource,
        stores: pl.LazyFrame,
        products: pl.LazyFrame,
        calendar: pl.LazyFrame,
    ) -> Iterator[dg.Output[Any]]:
        settings = lakehouse.settings
        year = int(context.partition_key)
        source = YearOfTransactions(settings, year, stores, products, calendar)
        selected = context.selected_output_names
        if "transactions" in selected:
            # Taken before reading: a file arriving meanwhile makes the delivery sensor build the year again.
            landing = settings.source == "landing"
            built_from = {LANDING_DIGEST: year_digest(lakehouse.lakehouse, year)} if landing else {}
            # The IO manager writes the stream before the next output is produced, so the manifest is complete.
            yield dg.Output(source.chunks(), "transactions", metadata=built_from)
        else:
            for _ in source.chunks():  # the manifest or rejected lines alone: read the source through to count
                pass
        if "defect_manifest" in selected:
            manifest = DefectManifest.validate(source.manifest())
            yield dg.Output(manifest, "defect_manifest", metadata={"rows_by_reason": frame_to_markdown(manifest)})
        if "rejected_lines" in selected:
            rejected = source.rejected()
            metadata = {"landing_lines": source.landing_lines, "rejected": rejected.height}
            yield dg.Output(rejected, "rejected_lines", metadata=metadata)

    return [stores, products, calendar, transactions]
