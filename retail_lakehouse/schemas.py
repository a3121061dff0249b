"""The data contract: a Pandera model for every table in every layer.

Column names and types here are relied on by the transforms, the dashboard and outside checks: add columns,
never rename them. Money is `Decimal` everywhere, never a float. Bronze is permissive about the defects it is
meant to carry (nullable keys, non-positive quantities); silver and gold are strict.
"""

from __future__ import annotations

from decimal import Decimal

import pandera.polars as pa
import polars as pl

from retail_lakehouse.reference import (
    CATEGORIES,
    DISCOUNT_BUCKET_NAMES,
    PAYMENT_METHODS,
    QUARANTINE_REASONS,
    REGIONS,
    STATE_CODES,
    STORE_FORMATS,
    VAT_CLASSES,
    VAT_PERCENTS,
)

PRICE = pl.Decimal(10, 2)
LINE_MONEY = pl.Decimal(12, 2)
REVENUE = pl.Decimal(18, 2)
VAT_RATE = pl.Decimal(4, 2)  # percent: 19.00


class _Contract(pa.DataFrameModel):
    class Config:
        strict = True  # no unexpected columns
        coerce = False  # the transforms produce the exact types; a wrong type is a bug to report


# --- bronze ---------------------------------------------------------------------------------------------


class BronzeStores(_Contract):
    """One row per store, as the store master data delivers it."""

    store_id: pl.Int32 = pa.Field(unique=True, ge=1)
    store_name: pl.String
    city: pl.String
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    region: pl.String = pa.Field(isin=REGIONS)
    format: pl.String = pa.Field(isin=STORE_FORMATS)
    opened_on: pl.Date
    street: pl.String
    postcode: pl.String = pa.Field(str_matches=r"^\d{5}$")
    latitude: pl.Float64 = pa.Field(ge=47.2, le=55.1)  # Germany, south to north
    longitude: pl.Float64 = pa.Field(ge=5.8, le=15.1)
    sales_area_m2: pl.Int32 = pa.Field(gt=0)


class BronzeProducts(_Contract):
    """One row per product, as the product master data delivers it."""

    product_id: pl.Int32 = pa.Field(unique=True, ge=1)
    sku: pl.String
    product_name: pl.String
    category: pl.String = pa.Field(isin=CATEGORIES)
    subcategory: pl.String
    brand: pl.String
    list_price: PRICE = pa.Field(ge=0)
    ean: pl.String = pa.Field(str_matches=r"^\d{13}$")
    unit_size: pl.String
    vat_class: pl.String = pa.Field(isin=VAT_CLASSES)
    is_active: pl.Boolean
    delisted_on: pl.Date = pa.Field(nullable=True)  # the last day it was sold; null while it is listed


class BronzeCalendar(_Contract):
    """One row per date and federal state: public holidays and whether shops may open."""

    date: pl.Date
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    weekday: pl.Int8 = pa.Field(ge=1, le=7)
    is_public_holiday: pl.Boolean
    holiday_name: pl.String = pa.Field(nullable=True)
    is_open: pl.Boolean


class BronzeTransactions(_Contract):
    """One row per line item, as the point-of-sale export delivers it, defects included."""

    transaction_id: pl.Int64
    line_number: pl.Int16 = pa.Field(ge=1)
    transaction_ts: pl.Datetime("us")
    store_id: pl.Int32 = pa.Field(nullable=True)
    product_id: pl.Int32 = pa.Field(nullable=True)
    quantity: pl.Int32
    unit_price: PRICE
    discount: PRICE = pa.Field(ge=0)
    line_total: LINE_MONEY
    transaction_total: LINE_MONEY
    payment_method: pl.String = pa.Field(isin=PAYMENT_METHODS)


class DefectManifest(_Contract):
    """One row per year and quarantine reason: how many rows the generator corrupted for that reason."""

    year: pl.Int32
    reason: pl.String = pa.Field(isin=QUARANTINE_REASONS)
    rows: pl.Int64 = pa.Field(ge=0)


class RejectedLines(_Contract):
    """One row per landing line that could not be read into the bronze contract: where it is, its text, and why.

    `line_number` is the physical line in the file (the header is line 1); `raw_line` is the line without its
    terminator, NUL bytes and bytes that are not UTF-8 shown as U+FFFD; `error` names the column.
    """

    file: pl.String
    line_number: pl.Int64 = pa.Field(ge=2)
    raw_line: pl.String
    error: pl.String
    year: pl.Int32


# --- silver ---------------------------------------------------------------------------------------------


class SilverStores(BronzeStores):
    """One row per store, cleaned: trimmed names, one row per store_id."""


class SilverProducts(BronzeProducts):
    """One row per product, cleaned: trimmed names, one row per product_id."""


class SilverCalendar(BronzeCalendar):
    """One row per date and federal state."""


class SilverTransactions(_Contract):
    """One row per valid line item, enriched with calendar parts and dimension attributes."""

    transaction_id: pl.Int64
    line_number: pl.Int16 = pa.Field(ge=1)
    transaction_ts: pl.Datetime("us")
    store_id: pl.Int32
    product_id: pl.Int32
    quantity: pl.Int32 = pa.Field(gt=0)
    unit_price: PRICE = pa.Field(gt=0)
    discount: PRICE = pa.Field(ge=0)
    line_total: LINE_MONEY
    transaction_total: LINE_MONEY
    payment_method: pl.String = pa.Field(isin=PAYMENT_METHODS)
    date: pl.Date
    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    week_start: pl.Date
    weekday: pl.Int8 = pa.Field(ge=1, le=7)
    hour: pl.Int8 = pa.Field(ge=0, le=23)
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    region: pl.String = pa.Field(isin=REGIONS)
    category: pl.String = pa.Field(isin=CATEGORIES)
    # The VAT rate in percent that applied to the line on its day (till prices include it).
    vat_rate: VAT_RATE = pa.Field(isin=[Decimal(rate) for rate in VAT_PERCENTS])
    vat: LINE_MONEY  # the VAT in line_total: line_total * vat_rate / (100 + vat_rate), half up to the cent


class TransactionsQuarantine(BronzeTransactions):
    """One row per rejected bronze line: the bronze columns, why it was rejected, and its partition."""

    reason: pl.String = pa.Field(isin=QUARANTINE_REASONS)
    year: pl.Int32


# --- gold -----------------------------------------------------------------------------------------------


MEASURES = ("revenue", "units", "transactions", "lines", "avg_basket", "vat", "net_revenue")


class _Measures(_Contract):
    revenue: REVENUE  # gross, as the tills take it
    units: pl.Int64
    transactions: pl.Int64 = pa.Field(ge=0)
    lines: pl.Int64 = pa.Field(ge=0)
    avg_basket: REVENUE
    vat: REVENUE  # the VAT in revenue: the sum of silver's per-line vat
    net_revenue: REVENUE  # revenue - vat, so net_revenue + vat == revenue exactly


class YearlySales(_Measures):
    """One row per year."""

    year: pl.Int32


class MonthlySales(_Measures):
    """One row per year and month."""

    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)


class WeeklySales(_Measures):
    """One row per week (starting Monday) and year: a week spanning New Year has a row in each year."""

    year: pl.Int32
    week_start: pl.Date


class DailySales(_Measures):
    """One row per date with sales."""

    date: pl.Date
    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    weekday: pl.Int8 = pa.Field(ge=1, le=7)


class SalesByRegion(_Measures):
    """One row per year and federal state."""

    year: pl.Int32
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    region: pl.String = pa.Field(isin=REGIONS)


class SalesByCategory(_Measures):
    """One row per year and category."""

    year: pl.Int32
    category: pl.String = pa.Field(isin=CATEGORIES)


class StoreDailySales(_Measures):
    """One row per store and date with sales; the base the time and region roll-ups are summed from."""

    date: pl.Date
    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    store_id: pl.Int32
    store_name: pl.String
    city: pl.String
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    region: pl.String = pa.Field(isin=REGIONS)
    format: pl.String = pa.Field(isin=STORE_FORMATS)
    street: pl.String
    postcode: pl.String
    latitude: pl.Float64
    longitude: pl.Float64
    sales_area_m2: pl.Int32


class ProductMonthlySales(_Measures):
    """One row per year, month and product with sales."""

    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    product_id: pl.Int32
    product_name: pl.String
    category: pl.String = pa.Field(isin=CATEGORIES)
    brand: pl.String


class ProductYearlySales(_Measures):
    """One row per year and product with sales: the dashboard's top products of a year or of all years."""

    year: pl.Int32
    product_id: pl.Int32
    product_name: pl.String
    category: pl.String = pa.Field(isin=CATEGORIES)
    brand: pl.String
    ean: pl.String
    unit_size: pl.String
    vat_class: pl.String = pa.Field(isin=VAT_CLASSES)
    is_active: pl.Boolean
    delisted_on: pl.Date = pa.Field(nullable=True)


class RegionCategoryDailySales(_Measures):
    """One row per date, federal state and category: the dashboard's filtered drill-down reads this.

    `transactions` counts transactions with at least one line of the category, so it does not add up
    across categories (a basket spans several); revenue, units and lines do.
    """

    date: pl.Date
    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    region: pl.String = pa.Field(isin=REGIONS)
    category: pl.String = pa.Field(isin=CATEGORIES)


class TopProductsMonthly(_Contract):
    """The 25 best-selling products by revenue per year, month, federal state and category."""

    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    category: pl.String = pa.Field(isin=CATEGORIES)
    product_id: pl.Int32
    product_name: pl.String
    brand: pl.String
    revenue: REVENUE
    units: pl.Int64
    lines: pl.Int64
    vat: REVENUE
    net_revenue: REVENUE


class TopProductsDaily(_Contract):
    """The 10 best-selling products by revenue per date and category, all federal states together."""

    date: pl.Date
    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    category: pl.String = pa.Field(isin=CATEGORIES)
    product_id: pl.Int32
    product_name: pl.String
    brand: pl.String
    revenue: REVENUE
    units: pl.Int64
    lines: pl.Int64
    vat: REVENUE
    net_revenue: REVENUE


class HourlyWeekdaySales(_Measures):
    """One row per year, weekday and hour of the day with sales: when customers shop."""

    year: pl.Int32
    weekday: pl.Int8 = pa.Field(ge=1, le=7)
    hour: pl.Int8 = pa.Field(ge=0, le=23)


class DiscountDepthSales(_Measures):
    """One row per year, month and discount bucket (the discount as a share of a line's gross) with sales.

    `transactions` counts baskets with a line in the bucket, so it does not add up across buckets.
    """

    year: pl.Int32
    month: pl.Int8 = pa.Field(ge=1, le=12)
    discount_bucket: pl.String = pa.Field(isin=DISCOUNT_BUCKET_NAMES)


class ProductWeeklySales(_Measures):
    """One row per ISO week (its Monday) and product among the week's 10 best of its category, in the year.

    A week spanning New Year keeps every product with sales in the partition's year, so that the two years'
    rows of it sum exactly; the measures are the product's whole week (or its part of the year), never cut.
    """

    year: pl.Int32
    week_start: pl.Date
    product_id: pl.Int32
    product_name: pl.String
    category: pl.String = pa.Field(isin=CATEGORIES)
    brand: pl.String


class CalendarDays(_Contract):
    """One row per date of the year and federal state: open or closed, and the holiday's name."""

    date: pl.Date
    year: pl.Int32
    state_code: pl.String = pa.Field(isin=STATE_CODES)
    weekday: pl.Int8 = pa.Field(ge=1, le=7)
    is_public_holiday: pl.Boolean
    holiday_name: pl.String = pa.Field(nullable=True)
    is_open: pl.Boolean


GOLD_MODELS: dict[str, type[_Contract]] = {
    "yearly_sales": YearlySales,
    "monthly_sales": MonthlySales,
    "weekly_sales": WeeklySales,
    "daily_sales": DailySales,
    "sales_by_region": SalesByRegion,
    "sales_by_category": SalesByCategory,
    "store_daily_sales": StoreDailySales,
    "product_monthly_sales": ProductMonthlySales,
    "product_yearly_sales": ProductYearlySales,
    "region_category_daily_sales": RegionCategoryDailySales,
    "top_products_monthly": TopProductsMonthly,
    "calendar_days": CalendarDays,
    "hourly_weekday_sales": HourlyWeekdaySales,
    "discount_depth_sales": DiscountDepthSales,
    "product_weekly_sales": ProductWeeklySales,
    "top_products_daily": TopProductsDaily,
}
# Gold tables that hold only the best-selling products, not the whole year's sales: they do not sum to silver.
TOP_PRODUCT_TABLES = frozenset({"top_products_monthly", "top_products_daily", "product_weekly_sales"})


def empty_frame(model: type[pa.DataFrameModel]) -> pl.DataFrame:
    """An empty frame with the model's exact columns and types (for tests and for empty partitions)."""
    return pl.DataFrame(schema=polars_schema(model))


def polars_schema(model: type[pa.DataFrameModel]) -> pl.Schema:
    """The model's columns and Polars types, keys first and gold measures last (the order tables are written)."""
    columns = model.to_schema().columns
    ordered = sorted(columns, key=lambda name: name in MEASURES)
    return pl.Schema({name: columns[name].dtype.type for name in ordered})


# Every stored table by (layer, table), as in the asset keys: what the IO manager hands downstream is exactly
# the model's columns, and what the catalog publishes per year.
DIMENSION_MODELS: dict[tuple[str, str], type[_Contract]] = {
    ("bronze", "stores"): BronzeStores,
    ("bronze", "products"): BronzeProducts,
    ("bronze", "calendar"): BronzeCalendar,
    ("silver", "stores"): SilverStores,
    ("silver", "products"): SilverProducts,
    ("silver", "calendar"): SilverCalendar,
}
YEARLY_MODELS: dict[tuple[str, str], type[_Contract]] = {
    ("bronze", "transactions"): BronzeTransactions,
    ("bronze", "defect_manifest"): DefectManifest,
    ("bronze", "rejected_lines"): RejectedLines,
    ("silver", "transactions"): SilverTransactions,
    ("silver", "transactions_quarantine"): TransactionsQuarantine,
    **{("gold", name): model for name, model in GOLD_MODELS.items()},
}
TABLE_MODELS = DIMENSION_MODELS | YEARLY_MODELS

# The key of each table that has one (dbt's `unique` + `not_null`): one row per value of these columns. Bronze
# and the quarantine have none (they keep duplicates on purpose).
GRAINS: dict[tuple[str, str], tuple[str, ...]] = {
    ("bronze", "stores"): ("store_id",),
    ("bronze", "products"): ("product_id",),
    ("bronze", "calendar"): ("date", "state_code"),
    ("silver", "stores"): ("store_id",),
    ("silver", "products"): ("product_id",),
    ("silver", "calendar"): ("date", "state_code"),
    ("bronze", "defect_manifest"): ("year", "reason"),
    ("bronze", "rejected_lines"): ("file", "line_number"),
    ("silver", "transactions"): ("transaction_id", "line_number"),
    ("gold", "yearly_sales"): ("year",),
    ("gold", "monthly_sales"): ("year", "month"),
    ("gold", "weekly_sales"): ("year", "week_start"),
    ("gold", "daily_sales"): ("date",),
    ("gold", "sales_by_region"): ("year", "state_code"),
    ("gold", "sales_by_category"): ("year", "category"),
    ("gold", "store_daily_sales"): ("store_id", "date"),
    ("gold", "product_monthly_sales"): ("year", "month", "product_id"),
    ("gold", "product_yearly_sales"): ("year", "product_id"),
    ("gold", "region_category_daily_sales"): ("date", "state_code", "category"),
    ("gold", "top_products_monthly"): ("year", "month", "state_code", "category", "product_id"),
    ("gold", "calendar_days"): ("date", "state_code"),
    ("gold", "hourly_weekday_sales"): ("year", "weekday", "hour"),
    ("gold", "discount_depth_sales"): ("year", "month", "discount_bucket"),
    ("gold", "product_weekly_sales"): ("year", "week_start", "product_id"),
    ("gold", "top_products_daily"): ("date", "product_id"),
}
