"""The dashboard's only door to the lakehouse: plain functions that read gold and return small Polars frames.

Gold is read as the catalog publishes it (`<data_dir>/gold/<table>/`, Delta tables, at the published version),
never what a run has written but not yet published. Each table is read whole once per published version and
served from memory after that (gold is small and read on every click); a publish makes the next read load
the new version.
Caches above this module (rendered views) key on `gold_generation`, the one answer to "has gold been
republished?", so that a new publication is never served from an old cache.

Which table answers a question depends on the filters, because transactions only add up where baskets
cannot overlap: without a category filter they are exact (a basket belongs to one store and day), so the
time tables or `store_daily_sales` answer. With a category filter, `region_category_daily_sales` answers, and
its `transactions` are baskets *containing* the category: summed over several categories they overcount
baskets spanning them, which the dashboard labels rather than hides. Revenue, units and lines add up anywhere.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from retail_lakehouse.catalog import Catalog, Snapshot
from retail_lakehouse.measures import avg_basket, rolled_up_measures
from retail_lakehouse.schemas import GOLD_MODELS, REVENUE, empty_frame, polars_schema
from retail_lakehouse.storage import Lakehouse
from retail_lakehouse.transforms.gold import TOP_PER_CATEGORY

GOLD_TABLES: tuple[str, ...] = tuple(GOLD_MODELS)
MEASURE_COLUMNS = ("revenue", "units", "transactions", "lines", "avg_basket")


@dataclass(frozen=True)
class Filters:
    """Federal states and categories to keep; empty means all."""

    states: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.states or self.categories)


NO_FILTERS = Filters()


@dataclass(frozen=True)
class Totals:
    """The key figures of one period. `transactions` are baskets containing the categories if filtered."""

    revenue: Decimal
    transactions: int
    units: int
    lines: int

    @property
    def avg_basket(self) -> Decimal | None:
        """Revenue per transaction to the cent, half away from zero (as gold rounds it); None without sales."""
        if not self.transactions:
            return None
        return (self.revenue / self.transactions).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- reading published gold, with a cache keyed on the published version ---------------------------------

Kept = TypeVar("Kept")
_kept_values: dict[tuple[str, str], tuple[object, Any]] = {}  # see `_kept`
_cache_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _lakehouse(data_dir: str) -> Lakehouse:
    """The lakehouse at a local folder or `s3://` root (credentials from the environment), made once."""
    return Lakehouse.at(data_dir)


def _catalog(data_dir: Path | str) -> Catalog:
    return Catalog(_lakehouse(str(data_dir)))


# The published state a view is rendered from (set by `one_published_state`), per thread and request.
_pinned: contextvars.ContextVar[tuple[str, Snapshot] | None] = contextvars.ContextVar("pinned", default=None)


@contextlib.contextmanager
def one_published_state(data_dir: Path) -> Iterator[None]:
    """Read every table inside from the snapshot current on entry: a view never mixes two published states
    (a publish landing mid-view shows on the next view), and the catalog is read once per view, not per table."""
    token = _pinned.set((str(data_dir), _catalog(data_dir).current()))
    try:
        yield
    finally:
        _pinned.reset(token)


def _snapshot(data_dir: Path | str) -> Snapshot:
    pinned = _pinned.get()
    return pinned[1] if pinned is not None and pinned[0] == str(data_dir) else _catalog(data_dir).current()


def gold_generation(data_dir: Path) -> str:
    """A token that changes whenever gold is republished (the catalog's version): what caches key on."""
    return str(_snapshot(data_dir).version)


def published_years(data_dir: Path, table: str) -> list[int]:
    """The years the published version of a gold table has rows for, ascending."""
    published = _snapshot(data_dir).table("gold", table)
    return [] if published is None else sorted(int(y) for y in published.rows if y.isdigit())


def _read_table(data_dir: Path, table: str) -> dict[int, pl.DataFrame]:
    """The published table by year, from memory if that version was read before (gold is small)."""
    snapshot = _snapshot(data_dir)
    if snapshot.table("gold", table) is None:
        return {}

    def read() -> dict[int, pl.DataFrame]:
        columns = list(polars_schema(GOLD_MODELS[table]))
        frame = _catalog(data_dir).read("gold", table, snapshot=snapshot).select(columns).collect()
        return {year: part for (year,), part in frame.partition_by("year", as_dict=True, maintain_order=True).items()}

    return _kept(data_dir, table, f"table {table}", read)


def read_gold(data_dir: Path, table: str, years: Iterable[int] | None = None) -> pl.DataFrame:
    """The table's published rows for `years` (all years if None); a republished table is read again."""
    by_year = _read_table(data_dir, table)
    wanted = sorted(by_year) if years is None else sorted(set(years) & by_year.keys())
    if not wanted:
        return empty_frame(GOLD_MODELS[table])
    return pl.concat([by_year[year] for year in wanted]) if len(wanted) > 1 else by_year[wanted[0]]


def preload(data_dir: Path) -> int:
    """Read every published gold table into the cache and return how many were read.

    The app calls this in the background when it starts: gold is small (80 MB at 100M lines), and a cold
    read of six years of a table costs a first visitor a few hundred milliseconds that warm reads do not.
    The sums the all-years view keeps (`_kept`) are worked out here too.
    """
    tables = [table for table in GOLD_TABLES if published_years(data_dir, table)]
    for table in tables:
        _read_table(data_dir, table)
    if "store_daily_sales" in tables and "product_yearly_sales" in tables:
        years = published_years(data_dir, "store_daily_sales")
        store_sales(data_dir, date(years[0], 1, 1), date(years[-1], 12, 31))
        top_products(data_dir, None)
        for year in years:
            _state_days(data_dir, year)
    return len(tables)


def missing_tables(data_dir: Path) -> list[str]:
    """Gold tables without any partition file: the dashboard cannot show anything until this is empty."""
    return [table for table in GOLD_TABLES if not published_years(data_dir, table)]


def available_years(data_dir: Path) -> list[int]:
    """The years with sales in gold, ascending."""
    return sorted(read_gold(data_dir, "yearly_sales")["year"].unique().to_list())


def _summed(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Sum the measures to `keys` and recompute avg_basket as gold does (an average of averages would be wrong)."""
    summed = frame.group_by(keys).agg(rolled_up_measures())
    return summed.with_columns(avg_basket()).select(*keys, *MEASURE_COLUMNS).sort(keys)


def _keep(frame: pl.DataFrame, filters: Filters) -> pl.DataFrame:
    """Rows of the filtered states and categories (only the filter columns the table has)."""
    if filters.states and "state_code" in frame.columns:
        frame = frame.filter(pl.col("state_code").is_in(filters.states))
    if filters.categories and "category" in frame.columns:
        frame = frame.filter(pl.col("category").is_in(filters.categories))
    return frame


def _between(frame: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    return frame.filter(pl.col("date").is_between(start, end))


def _years(start: date, end: date) -> range:
    return range(start.year, end.year + 1)


def _whole_years(start: date, end: date) -> bool:
    return (start.month, start.day, end.month, end.day) == (1, 1, 12, 31)


def _daily_source(data_dir: Path, start: date, end: date, filters: Filters) -> pl.DataFrame:
    """Daily-grain rows for the period: the finest table that still gives exact transactions."""
    if filters.categories:
        table = "region_category_daily_sales"
    elif filters.states:  # a day per state, summed from its stores once per published version
        state_days = pl.concat([_state_days(data_dir, year) for year in _years(start, end)])
        return _keep(_between(state_days, start, end), filters)
    else:
        table = "daily_sales"
    return _keep(_between(read_gold(data_dir, table, _years(start, end)), start, end), filters)


def _state_days(data_dir: Path, year: int) -> pl.DataFrame:
    """A year's sales per date and federal state (a transaction is at one store: its counts add up)."""

    def summed() -> pl.DataFrame:
        stores = read_gold(data_dir, "store_daily_sales", [year])
        return stores.group_by("date", "state_code").agg(rolled_up_measures()).sort("date", "state_code")

    return _kept(data_dir, "store_daily_sales", f"state days of {year}", summed)


def sales_per_year(data_dir: Path, filters: Filters = NO_FILTERS) -> pl.DataFrame:
    """One row per year: year and the measures."""
    if filters.categories:
        rows = _keep(read_gold(data_dir, "region_category_daily_sales"), filters)
    elif filters.states:
        rows = _keep(read_gold(data_dir, "sales_by_region"), filters)
    else:
        return read_gold(data_dir, "yearly_sales").select("year", *MEASURE_COLUMNS).sort("year")
    return _summed(rows, ["year"])


def sales_per_month(data_dir: Path, year: int, filters: Filters = NO_FILTERS) -> pl.DataFrame:
    """One row per month of `year` with sales: year, month and the measures."""
    if filters.categories:
        rows = _keep(read_gold(data_dir, "region_category_daily_sales", [year]), filters)
    elif filters.states:
        rows = _keep(read_gold(data_dir, "store_daily_sales", [year]), filters)
    else:
        monthly = read_gold(data_dir, "monthly_sales", [year])
        return monthly.select("year", "month", *MEASURE_COLUMNS).sort("month")
    return _summed(rows, ["year", "month"])


def sales_per_day(data_dir: Path, start: date, end: date, filters: Filters = NO_FILTERS) -> pl.DataFrame:
    """One row per date with sales between `start` and `end` (inclusive): date and the measures."""
    return _summed(_daily_source(data_dir, start, end, filters), ["date"])


MOVING_AVERAGE_DAYS = 7


def daily_revenue(data_dir: Path, start: date, end: date, filters: Filters = NO_FILTERS) -> pl.DataFrame:
    """One row per calendar day from `start` to `end`: date, revenue and revenue_7d_avg.

    Days without sales (Sundays, holidays) are zero, so the average is the last seven days' revenue over
    seven: it smooths the week's rhythm away. The days before `start` come from gold as well, so the first
    days have a full window; where the window reaches before the years gold has, the average is null rather
    than diluted by days nobody recorded. Exact: summed in integer cents, the average rounded half up.
    """
    window = MOVING_AVERAGE_DAYS
    first = start - timedelta(days=window - 1)
    sold = sales_per_day(data_dir, first, end, filters).select("date", (pl.col("revenue") * 100).cast(pl.Int64))
    recorded = set(available_years(data_dir))
    days = pl.DataFrame({"date": pl.date_range(first, end, "1d", eager=True)})
    cents = pl.col("revenue")
    return (
        days.join(sold, on="date", how="left")
        .with_columns(
            pl.when(pl.col("date").dt.year().is_in(list(recorded))).then(cents.fill_null(0)).otherwise(None)
        )
        .with_columns(cents.rolling_sum(window, min_samples=window).alias("sum_7d"))
        .filter(pl.col("date") >= start)
        .select(
            "date",
            (cents.cast(pl.Decimal(18, 2)) / 100).cast(REVENUE).alias("revenue"),
            # Half up in integer cents: floor(sum / 7 + 1/2) = (2 * sum + 7) // 14.
            ((pl.col("sum_7d") * 2 + window) // (2 * window)).cast(pl.Decimal(18, 2)).truediv(100).cast(REVENUE)
            .alias("revenue_7d_avg"),
        )
    )  # fmt: skip


def period_totals(data_dir: Path, start: date, end: date, filters: Filters = NO_FILTERS) -> Totals:
    """The key figures of the dates `start`..`end` (inclusive) under the filters."""
    if _whole_years(start, end) and not filters.active:
        rows = read_gold(data_dir, "yearly_sales").filter(pl.col("year").is_in(list(_years(start, end))))
    else:
        rows = _daily_source(data_dir, start, end, filters)
    revenue = rows["revenue"].sum()
    return Totals(
        revenue=Decimal(revenue if revenue is not None else 0).quantize(Decimal("0.01")),
        transactions=int(rows["transactions"].sum() or 0),
        units=int(rows["units"].sum() or 0),
        lines=int(rows["lines"].sum() or 0),
    )


def sales_per_state(data_dir: Path, start: date, end: date, filters: Filters = NO_FILTERS) -> pl.DataFrame:
    """One row per federal state with sales in the period: state_code, region and the measures."""
    if filters.categories:
        rows = _between(read_gold(data_dir, "region_category_daily_sales", _years(start, end)), start, end)
    elif _whole_years(start, end):
        rows = read_gold(data_dir, "sales_by_region", _years(start, end))
    else:
        rows = _between(read_gold(data_dir, "store_daily_sales", _years(start, end)), start, end)
    return _summed(_keep(rows, filters), ["state_code", "region"])


def sales_per_category(data_dir: Path, start: date, end: date, filters: Filters = NO_FILTERS) -> pl.DataFrame:
    """One row per category with sales in the period; transactions are baskets containing the category."""
    if _whole_years(start, end) and not filters.states:
        rows = read_gold(data_dir, "sales_by_category", _years(start, end))
    else:
        rows = _between(read_gold(data_dir, "region_category_daily_sales", _years(start, end)), start, end)
    return _summed(_keep(rows, filters), ["category"])


def top_products_are_exact(month: int | None, filters: Filters) -> bool:
    """Whether `top_products` gives true totals rather than lower bounds.

    Without a state filter, `product_monthly_sales` has every product. With one, only each state's
    monthly top 25 per category exists: for one state and one month the overall top 25 is all there
    (a product in it cannot have 25 better ones in its own category), but summing several states or
    months misses a product's sales wherever it was outside the top 25.
    """
    return not filters.states or (len(filters.states) == 1 and month is not None)


def top_products(
    data_dir: Path, year: int | None, month: int | None = None, filters: Filters = NO_FILTERS, n: int = 10
) -> pl.DataFrame:
    """The `n` products with the most revenue in the year, month or (year None) all years.

    Columns: product_id, product_name, brand, category, revenue, units; ties broken by product_id.
    """
    if year is None and not filters.states:  # all years: each product's totals, summed once per version
        return _best_products(_keep(_kept(data_dir, "product_yearly_sales", "products of all years",
                                             lambda: _product_totals(data_dir)), filters), n)  # fmt: skip
    if filters.states:
        table = "top_products_monthly"
    else:  # a year: the yearly table has a twelfth of the monthly one's rows
        table = "product_yearly_sales" if month is None else "product_monthly_sales"
    rows = _keep(read_gold(data_dir, table, None if year is None else [year]), filters)
    if month is not None:
        rows = rows.filter(pl.col("month") == month)
    return _best_products(rows, n)


def _product_totals(data_dir: Path) -> pl.DataFrame:
    """Every product's revenue and units over all published years, with its name, brand and category."""
    rows = read_gold(data_dir, "product_yearly_sales")
    names = rows.select("product_id", "product_name", "brand", "category").unique("product_id", keep="last")
    totals = rows.group_by("product_id").agg(pl.col("revenue").sum().cast(REVENUE), pl.col("units").sum())
    return totals.join(names, on="product_id")


def top_products_of_week(data_dir: Path, monday: date, filters: Filters = NO_FILTERS, n: int = 10) -> pl.DataFrame:
    """The `n` products with the most revenue in the ISO week starting `monday` (columns as `top_products`).

    From `product_weekly_sales`, which has categories but no states (with a state filter, use `top_products`
    of the week's month instead) and keeps each category's best `TOP_PER_CATEGORY` of a week: the week's top
    `n` up to that many is exact under any category filter. A week spanning New Year has every product's rows
    in both years' partitions; both are summed.
    """
    _exact_for(n, "product_weekly_sales")
    if filters.states:
        raise ValueError("product_weekly_sales has no federal states: a state-filtered week has no exact products")
    years = {monday.year, (monday + timedelta(days=6)).year}
    rows = _keep(read_gold(data_dir, "product_weekly_sales", years), filters)
    return _best_products(rows.filter(pl.col("week_start") == monday), n)


def top_products_of_day(data_dir: Path, day: date, filters: Filters = NO_FILTERS, n: int = 10) -> pl.DataFrame:
    """The `n` products with the most revenue on `day` itself (columns as `top_products`).

    From `top_products_daily`, each category's best `TOP_PER_CATEGORY` of the day with every state together:
    exact under any category filter; with a state filter, use `top_products` of the day's month instead.
    """
    _exact_for(n, "top_products_daily")
    if filters.states:
        raise ValueError("top_products_daily has no federal states: a state-filtered day has no exact products")
    rows = _keep(read_gold(data_dir, "top_products_daily", [day.year]), filters)
    return _best_products(rows.filter(pl.col("date") == day), n)


def _exact_for(n: int, table: str) -> None:
    if n > TOP_PER_CATEGORY:
        raise ValueError(f"{table} keeps the best {TOP_PER_CATEGORY} per category: a top {n} would not be exact")


def _best_products(rows: pl.DataFrame, n: int) -> pl.DataFrame:
    # Sum by the integer id alone (grouping by the name columns too costs several times more at 100M lines),
    # then look up the names of the `n` winners.
    best = (
        rows.group_by("product_id")
        .agg(pl.col("revenue").sum().cast(REVENUE), pl.col("units").sum().cast(pl.Int64))
        .top_k(n, by=["revenue", "product_id"], reverse=[False, True])
    )
    names = (
        rows.filter(pl.col("product_id").is_in(best["product_id"].implode()))
        .select("product_id", "product_name", "brand", "category")
        .unique("product_id")
    )
    return (
        best.join(names, on="product_id")
        .select("product_id", "product_name", "brand", "category", "revenue", "units")
        .sort(["revenue", "product_id"], descending=[True, False])
    )


def sales_per_hour_and_weekday(data_dir: Path, years: Iterable[int] | None = None) -> pl.DataFrame:
    """One row per weekday (1 = Monday) and hour with sales in `years` (all years if None), with the measures.

    `hourly_weekday_sales` has neither states nor categories, so this is always the whole chain's pattern.
    """
    return _summed(read_gold(data_dir, "hourly_weekday_sales", years), ["weekday", "hour"])


def top_stores(data_dir: Path, day: date, filters: Filters = NO_FILTERS, n: int = 10) -> pl.DataFrame:
    """The `n` stores with the most revenue on `day` (all categories: store_daily_sales has none)."""
    rows = _keep(read_gold(data_dir, "store_daily_sales", [day.year]), Filters(states=filters.states))
    return (
        rows.filter(pl.col("date") == day)
        .sort(["revenue", "store_id"], descending=[True, False])
        .head(n)
        .select("store_id", "store_name", "city", "state_code", "format", *MEASURE_COLUMNS)
    )


def store_sales(data_dir: Path, start: date, end: date, filters: Filters = NO_FILTERS) -> pl.DataFrame:
    """One row per store with sales in the period, where it is and what it took: store_id, store_name, city,
    state_code, format, latitude, longitude, revenue (all categories: store_daily_sales has none).

    Limited to the filtered states. The coordinates are the stores dimension's, carried by store_daily_sales.
    """
    if _whole_years(start, end):  # all years: add up each year's store totals, worked out once per version
        rows = pl.concat([_store_year(data_dir, year) for year in _years(start, end)])
    else:
        rows = _between(read_gold(data_dir, "store_daily_sales", _years(start, end)), start, end)
    return _per_store(_keep(rows, Filters(states=filters.states)))


def _per_store(rows: pl.DataFrame) -> pl.DataFrame:
    place = ("store_name", "city", "state_code", "format", "latitude", "longitude")
    return (
        rows.group_by("store_id")
        .agg(*(pl.col(c).last() for c in place), pl.col("revenue").sum().cast(REVENUE))
        .sort("store_id")
    )


def _store_year(data_dir: Path, year: int) -> pl.DataFrame:
    """A year's revenue per store (500 rows), worked out once per published version of store_daily_sales."""
    return _kept(data_dir, "store_daily_sales", f"stores of {year}",
                    lambda: _per_store(read_gold(data_dir, "store_daily_sales", [year])))  # fmt: skip


def _kept(data_dir: Path, table: str, name: str, compute: Callable[[], Kept]) -> Kept:
    """What `compute()` makes of gold `table` (the table read by year, or a small frame of sums over it), kept
    under `name` until that table is republished: gold is read once per published version, and the views'
    sums over all years are not redone on every first view."""
    published = _snapshot(data_dir).table("gold", table)
    version = None if published is None else tuple(sorted(published.versions().items())) or published.delta_version
    key = (str(data_dir), name)
    with _cache_lock:
        cached = _kept_values.get(key)
    if cached is None or cached[0] != version:
        cached = (version, compute())
        with _cache_lock:
            _kept_values[key] = cached
    return cached[1]


def calendar_marks(data_dir: Path, start: date, end: date, states: Iterable[str] = ()) -> pl.DataFrame:
    """One row per date of the period: weekday, is_sunday, holiday (name), holiday_states, all_closed.

    Limited to `states` if given. `all_closed` says no store in them may open (Sunday, nationwide holiday).
    """
    rows = _between(read_gold(data_dir, "calendar_days", _years(start, end)), start, end)
    states = tuple(states)
    if states:
        rows = rows.filter(pl.col("state_code").is_in(states))
    holiday = pl.col("is_public_holiday")
    return (
        rows.group_by("date")
        .agg(
            pl.col("weekday").first(),
            pl.col("holiday_name").filter(holiday).drop_nulls().unique().sort().str.join(" / ").alias("holiday"),
            pl.col("state_code").filter(holiday).sort().str.join(", ").alias("holiday_states"),
            holiday.sum().alias("holiday_state_count"),
            pl.len().alias("state_count"),
            (~pl.col("is_open")).all().alias("all_closed"),
        )
        .with_columns(
            (pl.col("weekday") == 7).alias("is_sunday"),
            pl.when(pl.col("holiday") == "").then(None).otherwise(pl.col("holiday")).alias("holiday"),
        )
        .sort("date")
    )
