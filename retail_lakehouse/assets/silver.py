"""Silver assets: cleaned dimensions, and per year the valid transaction lines and the quarantine."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from retail_lakehouse.resources import frame_to_markdown
from retail_lakehouse.schemas import (
    SilverCalendar,
    SilverProducts,
    SilverStores,
    SilverTransactions,
    TransactionsQuarantine,
)
from retail_lakehouse.settings import QUARANTINE_REASONS
from retail_lakehouse.storage import Table
from retail_lakehouse.transforms.silver import (
    CleanResult,
    clean_calendar,
    clean_products,
    clean_stores,
    find_rejected,
    split_transactions,
)

GROUP = "silver"
KINDS = {"polars", "parquet"}


def _dimension(table: str, clean, model, description: str) -> dg.AssetsDefinition:
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


def quarantine_by_reason(quarantine: pl.LazyFrame) -> dict[str, int]:
    """Rows per quarantine reason, every reason listed (zero where none)."""
    counts = dict(quarantine.group_by("reason").len().collect().iter_rows())
    return {reason: int(counts.get(reason, 0)) for reason in QUARANTINE_REASONS}


def clean_year(bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> CleanResult:
    """Both silver outputs of a year, schema-validated, with the rules evaluated once.

    The rejected lines (a fraction of a percent) are collected with the streaming engine, then each output
    is a light pass over bronze. Schema-level validation happens here, before writing (types, columns); the
    data-level contract check runs on the written partition in bounded batches (checks.py), so a full year
    never has to sit in memory.
    """
    rejected = find_rejected(bronze, stores, products, year).collect(engine="streaming")
    result = split_transactions(bronze, stores, products, rejected.lazy(), year)
    return CleanResult(
        SilverTransactions.validate(result.transactions), TransactionsQuarantine.validate(result.quarantine)
    )


def build_silver_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    stores = _dimension("stores", clean_stores, SilverStores, "One row per store, cleaned.")
    products = _dimension("products", clean_products, SilverProducts, "One row per product, cleaned.")
    calendar = _dimension("calendar", clean_calendar, SilverCalendar, "One row per date and federal state.")

    @dg.multi_asset(
        name="silver_transactions",
        outs={
            "transactions": dg.AssetOut(
                key=["silver", "transactions"],
                description="One row per valid transaction line, deduplicated and enriched with date parts, "
                "federal state and category.",
                kinds=KINDS,
            ),
            "quarantine": dg.AssetOut(
                key=["silver", "transactions_quarantine"],
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
    )
    def transactions(
        context: dg.AssetExecutionContext, bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame
    ) -> Iterator[dg.Output[Any]]:
        year = int(context.partition_key)
        cleaned = clean_year(bronze, stores, products, year)
        rows_in = bronze.select(pl.len()).collect().item()
        yield dg.Output(Table(cleaned.transactions, lambda _: {"bronze_rows_in": rows_in}), "transactions")

        def describe_quarantine(written: pl.LazyFrame) -> dict[str, Any]:
            by_reason = quarantine_by_reason(written)
            table = pl.DataFrame({"reason": list(by_reason), "rows": list(by_reason.values())})
            return {"rows_by_reason": dg.MetadataValue.md(frame_to_markdown(table))} | {
                f"quarantined/{reason}": rows for reason, rows in by_reason.items()
            }

        yield dg.Output(Table(cleaned.quarantine, describe_quarantine), "quarantine")

    return [stores, products, calendar, transactions]
