"""Gold assets: small pre-aggregated tables per year, the only tables the dashboard reads.

The time and region tables roll up from `gold/store_daily_sales` (a transaction belongs to exactly one store
and day, so counts add up and silver is scanned once for them), the yearly category table from the daily
region x category one, and the yearly product table from the monthly one; the rest read silver.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dagster as dg
import polars as pl

from retail_lakehouse.schemas import GOLD_MODELS
from retail_lakehouse.transforms import gold

GROUP = "gold"
SILVER = ["silver", "transactions"]
PRODUCTS = ["silver", "products"]
STORE_DAILY = ["gold", "store_daily_sales"]
PRODUCT_MONTHLY = ["gold", "product_monthly_sales"]
REGION_CATEGORY_DAILY = ["gold", "region_category_daily_sales"]


@dataclass(frozen=True)
class GoldTable:
    name: str
    build: Callable[..., pl.LazyFrame]  # a transform from gold.py; its parameters are named like `inputs`
    inputs: dict[str, list[str]]  # parameter name -> upstream asset key
    needs_year: bool = False

    def compute(self, inputs: Mapping[str, pl.LazyFrame], year: int) -> pl.DataFrame:
        """The table for one year, collected and validated against its model (gold tables are small)."""
        extra = {"year": year} if self.needs_year else {}
        return GOLD_MODELS[self.name].validate(self.build(**inputs, **extra).collect(), lazy=True)


# In dependency order (a table after those it rolls up from), so the benchmarks can build them in a loop.
GOLD_TABLES = (
    GoldTable("store_daily_sales", gold.aggregate_store_daily, {"silver": SILVER, "stores": ["silver", "stores"]}),
    GoldTable("yearly_sales", gold.aggregate_yearly, {"store_daily": STORE_DAILY}),
    GoldTable("monthly_sales", gold.aggregate_monthly, {"store_daily": STORE_DAILY}),
    GoldTable("weekly_sales", gold.aggregate_weekly, {"store_daily": STORE_DAILY}),
    GoldTable("daily_sales", gold.aggregate_daily, {"store_daily": STORE_DAILY}),
    GoldTable("sales_by_region", gold.aggregate_by_region, {"store_daily": STORE_DAILY}),
    GoldTable("region_category_daily_sales", gold.aggregate_region_category_daily, {"silver": SILVER}),
    GoldTable("sales_by_category", gold.aggregate_by_category, {"region_category_daily": REGION_CATEGORY_DAILY}),
    GoldTable("product_monthly_sales", gold.aggregate_product_monthly, {"silver": SILVER, "products": PRODUCTS}),
    GoldTable(
        "product_yearly_sales",
        gold.aggregate_product_yearly,
        {"product_monthly": PRODUCT_MONTHLY, "products": PRODUCTS},
    ),
    GoldTable("top_products_monthly", gold.top_products_monthly, {"silver": SILVER, "products": PRODUCTS}),
    GoldTable("calendar_days", gold.calendar_days, {"calendar": ["silver", "calendar"]}, needs_year=True),
    GoldTable("hourly_weekday_sales", gold.aggregate_hourly_weekday, {"silver": SILVER}),
    GoldTable("discount_depth_sales", gold.aggregate_discount_depth, {"silver": SILVER}),
    GoldTable("product_weekly_sales", gold.aggregate_product_weekly, {"silver": SILVER, "products": PRODUCTS}),
)


def _gold_asset(table: GoldTable, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    model = GOLD_MODELS[table.name]

    @dg.asset(
        key=["gold", table.name],
        ins={name: dg.AssetIn(key) for name, key in table.inputs.items()},
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"polars", "parquet"},
        description=(model.__doc__ or "").strip().splitlines()[0],
    )
    def gold_table(context: dg.AssetExecutionContext, **inputs: pl.LazyFrame) -> pl.DataFrame:
        return table.compute(inputs, int(context.partition_key))

    return gold_table


def build_gold_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_gold_asset(table, partitions) for table in GOLD_TABLES]
