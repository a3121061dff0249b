"""Gold: one year's silver lines summed to the grains the dashboard reads.

Pure Polars, LazyFrames in and out. Money stays exact: `revenue` is a Decimal sum, and `avg_basket` is
revenue over transactions in integer cents, rounded half away from zero, never through a float.

Revenue is gross (till prices include VAT). Silver carries each line's `vat`, rounded once there
(`transforms.silver.line_vat`); a table's `vat` is the sum of its lines' and `net_revenue` is revenue less
that sum, so `net_revenue + vat == revenue` holds exactly at every grain (`vat_identity_violations` finds rows
where it would not).

The time and region tables are rolled up from `store_daily` (a few hundred thousand rows a year) rather
than re-aggregated from silver (millions): a transaction belongs to exactly one store and day, so its
distinct count adds up across stores and days. Category and product tables cannot be rolled up that way
(one basket spans several categories and products), so they read silver.

Every table's columns come out in the order `schemas.polars_schema(Model)` gives (keys first, measures
last), and rows sorted by their keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pandera.polars as pa
import polars as pl

from retail_lakehouse.measures import avg_basket, cents, rolled_up_measures
from retail_lakehouse.reference import DISCOUNT_BUCKETS, STATE_CODE_ENUM
from retail_lakehouse.schemas import (
    GOLD_MODELS,
    MEASURES,
    REVENUE,
    CalendarDays,
    DailySales,
    DiscountDepthSales,
    HourlyWeekdaySales,
    MonthlySales,
    ProductMonthlySales,
    ProductWeeklySales,
    ProductYearlySales,
    RegionCategoryDailySales,
    SalesByCategory,
    SalesByRegion,
    StoreDailySales,
    TopProductsDaily,
    TopProductsMonthly,
    WeeklySales,
    YearlySales,
    polars_schema,
)

STORE_ATTRIBUTES = (
    "store_name", "city", "state_code", "region", "format", "street", "postcode", "latitude", "longitude",
    "sales_area_m2",
)  # fmt: skip
PRODUCT_ATTRIBUTES = ("product_name", "category", "brand")
# Carried once per product and year (product_yearly_sales), not on every month or week: the bytes add up.
PRODUCT_DETAILS = ("ean", "unit_size", "vat_class", "is_active", "delisted_on")
PRODUCT_ID_SPAN = 1 << 31  # above any Int32 product_id, so revenue * span - product_id never ties
# The products kept per category where gold holds only the best (a day's, a week's): the dashboard shows ten.
TOP_PER_CATEGORY = 10


def line_measures(*names: str) -> list[pl.Expr]:
    """Revenue, units, transactions, lines and VAT of a group of silver lines (or only `names`).

    avg_basket and net_revenue are not among them: both follow from the sums after the group-by
    (`_finish`, `net_revenue`), which spares the group-by a third Decimal sum (13 % of its time).
    """
    measures = {
        "revenue": pl.col("line_total").sum().cast(REVENUE),
        "units": pl.col("quantity").cast(pl.Int64).sum(),
        "transactions": pl.col("transaction_id").n_unique().cast(pl.Int64),
        "lines": pl.len().cast(pl.Int64),
        "vat": pl.col("vat").sum().cast(REVENUE),
    }
    return [expr.alias(name) for name, expr in measures.items() if not names or name in names]


def net_revenue() -> pl.Expr:
    """Revenue less VAT, from a row's own sums: exact, so `net_revenue + vat == revenue` on every row."""
    return (pl.col("revenue") - pl.col("vat")).cast(REVENUE).alias("net_revenue")


def vat_identity_violations(table: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of a gold table whose `net_revenue + vat` differs from `revenue`: none, if the table is right.

    A pure check for the asset checks to call on any table with the three columns.
    """
    return table.filter((pl.col("net_revenue") + pl.col("vat")) != pl.col("revenue"))


def _date_parts() -> list[pl.Expr]:
    return [
        pl.col("date").dt.year().cast(pl.Int32).alias("year"),
        pl.col("date").dt.month().cast(pl.Int8).alias("month"),
    ]


def _keys(model: type[pa.DataFrameModel]) -> list[str]:
    """The model's key columns (everything but the measures), in table order."""
    return [c for c in polars_schema(model) if c not in MEASURES]


def _finish(summed: pl.LazyFrame, model: type[pa.DataFrameModel], order: list[str] | None = None) -> pl.LazyFrame:
    """Add net_revenue and avg_basket, put the columns in the model's order and the rows in key order (or in
    `order`). A rolled-up table's net_revenue is its revenue less its VAT too, which equals its rows' sum."""
    finished = summed.with_columns(net_revenue(), avg_basket())
    return finished.select(list(polars_schema(model))).sort(order or _keys(model))


def _summarize(lines: pl.LazyFrame, measures: list[pl.Expr], model: type[pa.DataFrameModel]) -> pl.LazyFrame:
    """Sum `lines` to the model's grain (its key columns) and finish the table."""
    return _finish(lines.group_by(_keys(model)).agg(measures), model)


def aggregate_store_daily(silver: pl.LazyFrame, stores: pl.LazyFrame) -> pl.LazyFrame:
    """One row per store and date with sales; store attributes come from the stores dimension.

    Grouped by date and store alone, year and month taken from the date afterwards: two fewer key columns to
    hash on every line."""
    daily = silver.group_by("date", "store_id").agg(line_measures()).with_columns(_date_parts())
    with_stores = daily.join(stores.select("store_id", *STORE_ATTRIBUTES), on="store_id", how="left")
    return _finish(with_stores, StoreDailySales)


def aggregate_yearly(store_daily: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year, rolled up from store_daily."""
    return _summarize(store_daily, rolled_up_measures(), YearlySales)


def aggregate_monthly(store_daily: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year and month, rolled up from store_daily."""
    return _summarize(store_daily, rolled_up_measures(), MonthlySales)


def aggregate_weekly(store_daily: pl.LazyFrame) -> pl.LazyFrame:
    """One row per Monday-started week of the partition's year, rolled up from store_daily.

    A week spanning New Year gets a row in each year's partition, holding that year's days only.
    """
    weeks = store_daily.with_columns(pl.col("date").dt.truncate("1w").alias("week_start"))
    return _summarize(weeks, rolled_up_measures(), WeeklySales)


def aggregate_daily(store_daily: pl.LazyFrame) -> pl.LazyFrame:
    """One row per date with sales, rolled up from store_daily."""
    days = store_daily.with_columns(pl.col("date").dt.weekday().cast(pl.Int8).alias("weekday"))
    return _summarize(days, rolled_up_measures(), DailySales)


def aggregate_by_region(store_daily: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year and federal state, rolled up from store_daily."""
    return _summarize(store_daily, rolled_up_measures(), SalesByRegion)


def aggregate_by_category(region_category_daily: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year and category; `transactions` counts baskets with a line of the category.

    Rolled up from region_category_daily: a basket is at one store on one day, so each (basket, category)
    pair falls in exactly one (date, state, category) row, and the baskets-containing counts add up.
    """
    return _summarize(region_category_daily, rolled_up_measures(), SalesByCategory)


def product_sales_by_state_month(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Each product's sums per year, month and federal state, with net_revenue: one group-by of silver that two
    tables share. `top_products_monthly` ranks it as it is; `product_monthly_sales` adds up its states (a
    basket is in one state, so its distinct count adds up). Built alike for both, the plans are the same, and
    collected together (`GoldStep.compute`) Polars runs the group-by once."""
    # Grouped on the state codes as an Enum: its small integers hash faster than the strings over 17M lines.
    states = silver.with_columns(pl.col("state_code").cast(STATE_CODE_ENUM))
    summed = states.group_by("year", "month", "state_code", "product_id").agg(line_measures())
    return summed.with_columns(net_revenue(), pl.col("state_code").cast(pl.String))


def product_sales_by_day(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Each product's sums per date, with net_revenue: the group-by of silver that `top_products_daily` ranks
    and `product_weekly_sales` adds up to weeks (a basket is on one day). Shared as
    `product_sales_by_state_month` is."""
    return silver.group_by("date", "product_id").agg(line_measures()).with_columns(net_revenue())


def aggregate_product_monthly(silver: pl.LazyFrame, products: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year, month and product with sales; product attributes from the products dimension.

    Rows are ordered by product, then month: a product's months sit together, so its id and name compress to
    runs, which halves the largest gold table (9.2 to 4.2 MB per year at 100M lines).
    """
    by_state = product_sales_by_state_month(silver)
    monthly = by_state.group_by("year", "month", "product_id").agg(rolled_up_measures())
    with_products = monthly.join(products.select("product_id", *PRODUCT_ATTRIBUTES), on="product_id", how="left")
    return _finish(with_products, ProductMonthlySales, order=["year", "product_id", "month"])


def aggregate_product_yearly(product_monthly: pl.LazyFrame, products: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year and product, rolled up from product_monthly (a transaction lies in one month), with
    the product's EAN, unit size, VAT class and listing status from the products dimension."""
    keys = ["year", "product_id", *PRODUCT_ATTRIBUTES]
    yearly = product_monthly.group_by(keys).agg(rolled_up_measures())
    details = products.select("product_id", *PRODUCT_DETAILS).unique("product_id", keep="first")
    return _finish(yearly.join(details, on="product_id", how="left"), ProductYearlySales)


def aggregate_region_category_daily(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per date, federal state and category; transactions do not add up across categories.

    Grouped by the three keys alone, the others derived (year, month from the date; region from the state):
    every extra key column costs hashing 20M lines a year.
    """
    summed = silver.group_by("date", "state_code", "category").agg(*line_measures(), pl.col("region").first())
    return _finish(summed.with_columns(_date_parts()), RegionCategoryDailySales)


def _rank_order() -> pl.Expr:
    """One Int64 per row that orders revenue descending, then product_id ascending (exact: whole cents)."""
    return (pl.col("revenue") * 100).cast(pl.Int64) * PRODUCT_ID_SPAN - pl.col("product_id")


def _is_top(group: list[str], top_n: int) -> pl.Expr:
    """Whether a row is among the `top_n` of its group by revenue (ties by product_id): ranks are exact."""
    return _rank_order().rank("ordinal", descending=True).over(group) <= top_n


def _top_rows(summed: pl.LazyFrame, group: list[str], top_n: int, model: type[pa.DataFrameModel]) -> pl.LazyFrame:
    """The `top_n` rows of each group by revenue, sorted by group then rank, in the model's columns."""
    return (
        summed.filter(_is_top(group, top_n))
        .sort([*group, "revenue", "product_id"], descending=[False] * len(group) + [True, False])
        .select(list(polars_schema(model)))
    )


def top_products_monthly(silver: pl.LazyFrame, products: pl.LazyFrame, top_n: int = 25) -> pl.LazyFrame:
    """The `top_n` products by revenue per year, month, federal state and category; ties by product_id.

    Rows come sorted by group, then by rank (revenue descending, product_id ascending). Lines are summed per
    month, state and product (`product_sales_by_state_month`; the category follows from the product), and only
    the winners are sorted: a single Int64 key orders revenue descending then product_id ascending, so ranks
    within a group are exact.
    """
    group = ["year", "month", "state_code", "category"]
    products = products.select("product_id", *PRODUCT_ATTRIBUTES)
    summed = product_sales_by_state_month(silver).join(products, on="product_id", how="left")
    return _top_rows(summed, group, top_n, TopProductsMonthly)


def top_products_daily(silver: pl.LazyFrame, products: pl.LazyFrame, top_n: int = TOP_PER_CATEGORY) -> pl.LazyFrame:
    """The `top_n` products by revenue per date and category, every state together; ties by product_id.

    Per category rather than per day alone, so that the day's top `top_n` is exact under any category filter
    too: a product among the best `top_n` of some categories has fewer than `top_n` better ones in its own.
    No states (a state-filtered day shows its month's products, which `top_products_monthly` has per state).
    Rows come sorted by date, category, then rank.
    """
    group = ["date", "category"]
    summed = (
        product_sales_by_day(silver)
        .join(products.select("product_id", *PRODUCT_ATTRIBUTES), on="product_id", how="left")
        .with_columns(_date_parts())
    )
    return _top_rows(summed, group, top_n, TopProductsDaily)


def aggregate_hourly_weekday(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year, weekday and hour with sales; a transaction has one time, so counts add up."""
    return _summarize(silver, line_measures(), HourlyWeekdaySales)


def discount_bucket() -> pl.Expr:
    """Each line's discount bucket (`reference.DISCOUNT_BUCKETS`), compared exactly in integer cents."""
    discount, gross = cents(pl.col("discount")), cents(pl.col("quantity") * pl.col("unit_price"))
    (first, _), *rest = DISCOUNT_BUCKETS
    bucket = pl.when(discount <= 0).then(pl.lit(first))
    for name, upper_percent in rest:
        bucket = bucket.when(discount * 100 <= gross * upper_percent).then(pl.lit(name))
    return bucket.otherwise(pl.lit(rest[-1][0])).alias("discount_bucket")


def aggregate_discount_depth(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per year, month and discount bucket with sales; transactions do not add up across buckets."""
    return _summarize(silver.with_columns(discount_bucket()), line_measures(), DiscountDepthSales)


def aggregate_product_weekly(
    silver: pl.LazyFrame, products: pl.LazyFrame, top_n: int | None = TOP_PER_CATEGORY
) -> pl.LazyFrame:
    """One row per ISO week (its Monday, `week_start`) and product among the week's best sellers of its category.

    The dashboard reads this table for a week's top products only, so a week wholly inside the partition's
    year keeps its `top_n` products per category (revenue descending, ties by product_id): exact for the
    week's top `top_n` under any category filter, as in `top_products_daily`, at a few percent of the rows
    (34 of 81.6 MB of gold at 10M lines held every product). A week spanning New Year keeps every product:
    it has a row in each year with that year's days (as weekly_sales does), and only complete rows sum to
    exact totals across the two partitions. `top_n=None` keeps every product of every week.
    Rows are ordered by product, then week, so a product's id and name compress to runs.
    """
    days = product_sales_by_day(silver).with_columns(
        pl.col("date").dt.year().cast(pl.Int32).alias("year"), pl.col("date").dt.truncate("1w").alias("week_start")
    )
    weekly = days.group_by("year", "week_start", "product_id").agg(rolled_up_measures())
    with_products = weekly.join(products.select("product_id", *PRODUCT_ATTRIBUTES), on="product_id", how="left")
    if top_n is not None:
        week_start, year = pl.col("week_start"), pl.col("year")
        spans_new_year = (week_start.dt.year() != year) | ((week_start + pl.duration(days=6)).dt.year() != year)
        with_products = with_products.filter(spans_new_year | _is_top(["year", "week_start", "category"], top_n))
    return _finish(with_products, ProductWeeklySales, order=["year", "product_id", "week_start"])


def calendar_days(calendar: pl.LazyFrame, year: int) -> pl.LazyFrame:
    """One row per date of `year` and federal state, from the silver calendar, sorted by date and state."""
    return (
        calendar.filter(pl.col("date").dt.year() == year)
        .with_columns(pl.lit(year, dtype=pl.Int32).alias("year"))
        .select(list(polars_schema(CalendarDays)))
        .sort("date", "state_code")
    )


def month_by_month(
    silver: pl.LazyFrame, year: int, build: Callable[[pl.LazyFrame], list[pl.LazyFrame]], on: str = "date"
) -> list[pl.DataFrame]:
    """The tables `build` makes from each month's lines of the year in turn (by the date column `on`), each
    table's months concatenated in order.

    For the product tables: grouping a year's lines by product and period keeps every group (and its set of
    distinct transaction ids) in memory at once, up to 1.9 GB for a 17M-line year; one month at a time
    needs a twelfth of it. Each month is collected before the next starts (a lazy concat would run them
    side by side), its tables together, so that a group-by they share runs once. Right for any table whose
    every group lies within one month of `on` (their keys hold `month`, `date`, or `week_start` for
    `on="week_start"`). Silver is stored in time order, so each month's filter reads only that month's row
    groups (Parquet statistics). `on="week_start"` puts the week that began in the December before the year
    into January. Rows come month by month: a table sorted by other keys is sorted again by the caller.
    """
    months: list[list[pl.DataFrame]] = []
    for month in range(1, 13):
        first = date(year, month, 1) if month > 1 else date(year - 1, 12, 1)
        last = date(year, 12, 31) if month == 12 else date(year, month + 1, 1) - timedelta(days=1)
        months.append(pl.collect_all(build(silver.filter(pl.col(on).is_between(first, last))), engine="streaming"))
    return [pl.concat(table) for table in zip(*months, strict=True)]


@dataclass(frozen=True)
class GoldSources:
    """What one year's gold tables are built from; each table names the fields it needs in `GoldTable.inputs`."""

    year: int
    silver: pl.LazyFrame | None = None
    stores: pl.LazyFrame | None = None
    products: pl.LazyFrame | None = None
    calendar: pl.LazyFrame | None = None
    store_daily: pl.LazyFrame | None = None
    product_monthly: pl.LazyFrame | None = None
    region_category_daily: pl.LazyFrame | None = None

    def need(self, name: str) -> pl.LazyFrame:
        frame = getattr(self, name)
        if frame is None:
            raise ValueError(f"gold source {name!r} was not given")
        return frame


SILVER_LINES = ("silver", "transactions")
SOURCE_TABLES: dict[str, tuple[str, str]] = {
    "silver": SILVER_LINES,
    "stores": ("silver", "stores"),
    "products": ("silver", "products"),
    "calendar": ("silver", "calendar"),
    "store_daily": ("gold", "store_daily_sales"),
    "product_monthly": ("gold", "product_monthly_sales"),
    "region_category_daily": ("gold", "region_category_daily_sales"),
}


@dataclass(frozen=True)
class GoldTable:
    """A gold table: its name, the `GoldSources` fields it reads (asset keys in SOURCE_TABLES), how to build it,
    and the keys its rows are sorted by again when it is built month by month (`order`)."""

    name: str
    inputs: tuple[str, ...]
    build: Callable[[GoldSources], pl.LazyFrame]
    order: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoldStep:
    """Gold tables computed together: one Dagster asset, or a multi-asset when it holds several.

    The tables of a step start from the same plan over their sources (`product_sales_by_day`, for one), and
    collected together Polars computes that common part once (`pl.collect_all` eliminates common subplans).
    `by_month` names the date column by which silver is taken a month at a time (`month_by_month`), or None.
    """

    tables: tuple[GoldTable, ...]
    by_month: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for table in self.tables for name in table.inputs))

    def compute(self, sources: GoldSources, names: Collection[str] | None = None) -> dict[str, pl.DataFrame]:
        """The step's tables (or only `names`) for one year, collected and validated against their models."""
        tables = [table for table in self.tables if names is None or table.name in names]
        if self.by_month is None:
            frames = pl.collect_all([table.build(sources) for table in tables], engine="streaming")
        else:
            build = lambda lines: [table.build(replace(sources, silver=lines)) for table in tables]  # noqa: E731
            months = month_by_month(sources.need("silver"), sources.year, build, on=self.by_month)
            frames = [frame.sort(t.order) if t.order else frame for frame, t in zip(months, tables, strict=True)]
        return {
            table.name: GOLD_MODELS[table.name].validate(frame, lazy=True)
            for table, frame in zip(tables, frames, strict=True)
        }


def _table(name: str, inputs: tuple[str, ...], build: Callable[[GoldSources], pl.LazyFrame]) -> GoldStep:
    """A step of one table."""
    return GoldStep((GoldTable(name, inputs, build),))


ProductTable = Callable[[pl.LazyFrame, pl.LazyFrame], pl.LazyFrame]  # (silver, products) -> table


def _product_tables(by_month: str, *tables: tuple[str, ProductTable, tuple[str, ...]]) -> GoldStep:
    """A step of product tables built together from silver and products, silver taken month by month by the
    date column `by_month`; each table is (name, how to build it, the keys to sort its months by again)."""

    def table(name: str, build: ProductTable, order: tuple[str, ...]) -> GoldTable:
        return GoldTable(name, ("silver", "products"), lambda s: build(s.need("silver"), s.need("products")), order)

    return GoldStep(tuple(table(*spec) for spec in tables), by_month=by_month)


# In dependency order (a table after those it rolls up from), so a loop can build them one after another.
GOLD_STEPS: tuple[GoldStep, ...] = (
    _table(
        "store_daily_sales", ("silver", "stores"), lambda s: aggregate_store_daily(s.need("silver"), s.need("stores"))
    ),
    _table("yearly_sales", ("store_daily",), lambda s: aggregate_yearly(s.need("store_daily"))),
    _table("monthly_sales", ("store_daily",), lambda s: aggregate_monthly(s.need("store_daily"))),
    _table("weekly_sales", ("store_daily",), lambda s: aggregate_weekly(s.need("store_daily"))),
    _table("daily_sales", ("store_daily",), lambda s: aggregate_daily(s.need("store_daily"))),
    _table("sales_by_region", ("store_daily",), lambda s: aggregate_by_region(s.need("store_daily"))),
    _table("region_category_daily_sales", ("silver",), lambda s: aggregate_region_category_daily(s.need("silver"))),
    _table(
        "sales_by_category",
        ("region_category_daily",),
        lambda s: aggregate_by_category(s.need("region_category_daily")),
    ),
    # Both from product_sales_by_state_month; the ranked table comes out month after month, already in order.
    _product_tables(
        "date",
        ("product_monthly_sales", aggregate_product_monthly, ("year", "product_id", "month")),
        ("top_products_monthly", top_products_monthly, ()),
    ),
    _table(
        "product_yearly_sales",
        ("product_monthly", "products"),
        lambda s: aggregate_product_yearly(s.need("product_monthly"), s.need("products")),
    ),
    _table("hourly_weekday_sales", ("silver",), lambda s: aggregate_hourly_weekday(s.need("silver"))),
    _table("discount_depth_sales", ("silver",), lambda s: aggregate_discount_depth(s.need("silver"))),
    # Both from product_sales_by_day, taken by the month of each week's Monday so that a week is never split.
    _product_tables(
        "week_start",
        ("product_weekly_sales", aggregate_product_weekly, ("year", "product_id", "week_start")),
        ("top_products_daily", top_products_daily, ()),
    ),
    _table("calendar_days", ("calendar",), lambda s: calendar_days(s.need("calendar"), s.year)),
)
GOLD_TABLES: tuple[GoldTable, ...] = tuple(table for step in GOLD_STEPS for table in step.tables)
