"""Silver assets: cleaned dimensions, and per year the valid transaction lines and the quarantine."""

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl

from retail_lakehouse.resources import frame_to_markdown
from retail_lakehouse.schemas import SilverCalendar, SilverProducts, SilverStores
from retail_lakehouse.transforms.silver import (
    clean_calendar,
    clean_products,
    clean_stores,
    clean_year,
    quarantine_by_reason,
)

GROUP = "silver"
KINDS = {"polars", "deltalake"}


def _dimension(
    table: str, clean: Callable[[pl.LazyFrame], pl.LazyFrame], model: type[pa.DataFrameModel], description: str
) -> dg.AssetsDefinition:
    @dg.asset(
        key=["silver", table],
        ins={"bronze": dg.AssetIn(["bronze", table])},
        group_name=GROUP,
        kinds=KINDS,
        description=description,
    )
    def dimension(bronze: pl.LazyFrame) -> pl.DataFrame:
        return model.validate(clean(bronze).collect(), lazy=True)

    return dimension


def build_silver_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    stores = _dimension("stores", clean_stores, SilverStores, "One row per store, cleaned.")
    products = _dimension("products", clean_products, SilverProducts, "One row per product, cleaned.")
    calendar = _dimension("calendar", clean_calendar, SilverCalendar, "One row per date and federal state.")

    @dg.multi_asset(
        name="silver_transactions",
        outs={
            "transactions": dg.AssetOut(
                key=["silver", "transactions"],
                is_required=False,
                description="One row per valid transaction line, deduplicated and enriched with date parts, "
                "federal state and category.",
                kinds=KINDS,
            ),
            "quarantine": dg.AssetOut(
                key=["silver", "transactions_quarantine"],
                is_required=False,
                description="One row per rejected bronze line, with the reason it was rejected.",
                kinds=KINDS,
            ),
        },
        ins={
            "bronze": dg.AssetIn(["bronze", "transactions"]),
            "stores": dg.AssetIn(["silver", "stores"]),
            "products": dg.AssetIn(["silver", "products"]),
        },
        partitions_def=partitions,
        group_name=GROUP,
        can_subset=True,  # either output alone can be selected; both come from the same deterministic split
    )
    def transactions(
        context: dg.AssetExecutionContext, bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame
    ) -> Iterator[dg.Output[Any]]:
        cleaned = clean_year(bronze, stores, products, int(context.partition_key))
        if "transactions" in context.selected_output_names:
            rows_in = bronze.select(pl.len()).collect().item()
            yield dg.Output(cleaned.transactions, "transactions", metadata={"bronze_rows_in": rows_in})
        if "quarantine" in context.selected_output_names:
            by_reason = quarantine_by_reason(cleaned.rejected.lazy())  # collected already: nothing is read again
            table = pl.DataFrame({"reason": list(by_reason), "rows": list(by_reason.values())})
            metadata = {"rows_by_reason": dg.MetadataValue.md(frame_to_markdown(table))} | {
                f"quarantined/{reason}": rows for reason, rows in by_reason.items()
            }
            yield dg.Output(cleaned.quarantine, "quarantine", metadata=metadata)

    return [stores, products, calendar, transactions]
