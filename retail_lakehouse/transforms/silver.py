"""Silver: bronze cleaned, typed and enriched; every rejected transaction line kept in a quarantine.

Pure Polars: LazyFrames in, LazyFrames out, so the same plan runs on a 10-row test frame and, with the
streaming engine, on a 17M-row year. Every bronze line lands in exactly one of the two outputs, so
`silver + quarantine == bronze` row for row, and the quarantine says why each rejected line was rejected.

The rules, in the order they are applied (the first that fails is the reason; names from
`settings.QUARANTINE_REASONS`):

1. Duplicates of a `(transaction_id, line_number)`: identical copies keep the first and reject the others as
   `duplicate`; copies that differ anywhere are all rejected as `conflicting_duplicate`, since there is no
   telling which one is right.
2. Line rules on the lines that went on: `missing_key`, `unknown_store`, `unknown_product`,
   `non_positive_quantity`, `non_positive_price`, `line_total_mismatch`, `wrong_year`.
3. `transaction_total_mismatch`: the line's `transaction_total` differs from the sum of `line_total` over the
   lines of its transaction that went on after step 1, bad lines included: a bad line does not make the
   receipt's total wrong, a lost or doubled line does.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from retail_lakehouse.schemas import (
    BronzeTransactions,
    SilverCalendar,
    SilverProducts,
    SilverStores,
    SilverTransactions,
    TransactionsQuarantine,
    polars_schema,
)

LINE_KEY = ("transaction_id", "line_number")
BRONZE_COLUMNS: tuple[str, ...] = tuple(polars_schema(BronzeTransactions))
SILVER_COLUMNS: tuple[str, ...] = tuple(polars_schema(SilverTransactions))
QUARANTINE_COLUMNS: tuple[str, ...] = tuple(polars_schema(TransactionsQuarantine))
DERIVED_COLUMNS = ("date", "year", "month", "week_start", "weekday", "hour")
ENRICHED_COLUMNS = ("state_code", "region", "category")
LABELED_COLUMNS: tuple[str, ...] = (*BRONZE_COLUMNS, *DERIVED_COLUMNS, *ENRICHED_COLUMNS, "reason")


# Internal helper columns; the leading underscore keeps them apart from any contract column.
_ROW = "_row"
_FIRST_ROW = "_first_row"
_CONFLICTING = "_conflicting"
_STORE_KNOWN = "_store_known"
_PRODUCT_KNOWN = "_product_known"
_EXCESS_TOTAL = "_excess_total"
_KEPT_LINES_TOTAL = "_kept_lines_total"


@dataclass(frozen=True)
class CleanResult:
    """The two outputs of cleaning one year of transactions; together they hold every bronze line once."""

    transactions: pl.LazyFrame  # SilverTransactions columns, in bronze row order
    quarantine: pl.LazyFrame  # TransactionsQuarantine columns, in bronze row order


def clean_transactions(bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> CleanResult:
    """Split one year's bronze lines into valid silver lines and quarantined lines with their reason.

    Both outputs come from the same labelled plan; sink them together (`pl.collect_all` with
    `sink_parquet(..., lazy=True)`) so that plan runs once.
    """
    labeled = label_transactions(bronze, stores, products, year)
    transactions = labeled.filter(pl.col("reason").is_null()).select(SILVER_COLUMNS)
    quarantine = labeled.filter(pl.col("reason").is_not_null()).select(
        *BRONZE_COLUMNS, "reason", pl.lit(year, dtype=pl.Int32).alias("year")
    )
    return CleanResult(transactions=transactions, quarantine=quarantine)


def label_transactions(bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> pl.LazyFrame:
    """Every bronze line once, in input order, with calendar parts, dimension attributes and a `reason`.

    `reason` is null for a line that passes every rule. Exposed separately from `clean_transactions` so
    counts by reason and the split itself come from one plan.
    """
    rows = bronze.select(BRONZE_COLUMNS).with_row_index(_ROW)
    verdicts = _duplicate_verdicts(rows)
    labeled = (
        rows.join(verdicts, on=LINE_KEY, how="left", nulls_equal=True, maintain_order="left")
        .join(_store_attributes(stores), on="store_id", how="left", maintain_order="left")
        .join(_product_attributes(products), on="product_id", how="left", maintain_order="left")
        .join(
            _kept_line_totals(rows, verdicts),
            on="transaction_id",
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        .with_columns(_reason(year).alias("reason"))
    )
    return labeled.with_columns(_derived_columns()).select(LABELED_COLUMNS)


def _duplicate_verdicts(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per line key that occurs more than once: its first row index and whether copies differ.

    Duplicates are rare (about 0.1% of lines), so the full-width comparison only runs on the lines of
    keys counted more than once; the count itself is one narrow group-by, and nothing relies on copies
    being adjacent (a re-sent file appends them at the end). `n_unique` counts null as a value, so two
    nulls in the same column compare equal.
    """
    repeated_keys = (
        rows.group_by(LINE_KEY).agg(pl.len().alias("_copies")).filter(pl.col("_copies") > 1).select(LINE_KEY)
    )
    compared = [c for c in BRONZE_COLUMNS if c not in LINE_KEY]
    return (
        rows.join(repeated_keys, on=LINE_KEY, how="semi", nulls_equal=True)
        .group_by(LINE_KEY)
        .agg(
            pl.col(_ROW).min().alias(_FIRST_ROW),
            pl.any_horizontal(pl.col(c).n_unique() > 1 for c in compared).alias(_CONFLICTING),
            pl.col("line_total").sum().alias("_copies_total"),
            pl.col("line_total").first().alias("_first_total"),
        )
        .with_columns(
            # The part of these copies' line totals that did not go on after step 1: all of it for
            # conflicting copies, all but the first copy's for identical ones.
            pl.when(pl.col(_CONFLICTING))
            .then(pl.col("_copies_total"))
            .otherwise((pl.col("_copies_total") - pl.col("_first_total")).fill_null(0))
            .alias(_EXCESS_TOTAL)
        )
        .drop("_copies_total", "_first_total")
    )


def _kept_line_totals(rows: pl.LazyFrame, verdicts: pl.LazyFrame) -> pl.LazyFrame:
    """Per transaction, the sum of `line_total` over its lines that went on after step 1.

    Summed over all bronze lines minus the duplicates' excess rather than over the labelled lines: the sum
    then reads two narrow columns straight from the source, and the streaming engine need not hold the
    wide labelled lines back while the sum is computed.
    """
    excess = verdicts.group_by("transaction_id").agg(pl.col(_EXCESS_TOTAL).sum())
    return (
        rows.group_by("transaction_id")
        .agg(pl.col("line_total").sum().alias(_KEPT_LINES_TOTAL))
        .join(excess, on="transaction_id", how="left", nulls_equal=True)
        .select(
            "transaction_id",
            (pl.col(_KEPT_LINES_TOTAL) - pl.col(_EXCESS_TOTAL).fill_null(0)).alias(_KEPT_LINES_TOTAL),
        )
    )


def _store_attributes(stores: pl.LazyFrame) -> pl.LazyFrame:
    """The store columns silver carries, one row per store so the join cannot multiply lines."""
    return (
        stores.select("store_id", "state_code", "region")
        .unique("store_id", keep="first", maintain_order=True)
        .with_columns(pl.lit(True).alias(_STORE_KNOWN))
    )


def _product_attributes(products: pl.LazyFrame) -> pl.LazyFrame:
    """The product columns silver carries, one row per product so the join cannot multiply lines."""
    return (
        products.select("product_id", "category")
        .unique("product_id", keep="first", maintain_order=True)
        .with_columns(pl.lit(True).alias(_PRODUCT_KNOWN))
    )


def _reason(year: int) -> pl.Expr:
    """The first failing rule for a line, or null.

    A null in a checked column fails its rule (`fill_null(True)`): silver is strict, and a line that
    cannot be shown valid is quarantined rather than let through.
    """
    computed_total = pl.col("quantity") * pl.col("unit_price") - pl.col("discount")
    rules: list[tuple[str, pl.Expr]] = [
        ("conflicting_duplicate", pl.col(_CONFLICTING).fill_null(False)),
        ("duplicate", (pl.col(_ROW) != pl.col(_FIRST_ROW)).fill_null(False)),
        ("missing_key", pl.col("store_id").is_null() | pl.col("product_id").is_null()),
        ("unknown_store", pl.col(_STORE_KNOWN).is_null()),
        ("unknown_product", pl.col(_PRODUCT_KNOWN).is_null()),
        ("non_positive_quantity", (pl.col("quantity") <= 0).fill_null(True)),
        ("non_positive_price", (pl.col("unit_price") <= 0).fill_null(True)),
        ("line_total_mismatch", pl.col("line_total").ne_missing(computed_total)),
        ("wrong_year", (pl.col("transaction_ts").dt.year() != year).fill_null(True)),
        ("transaction_total_mismatch", pl.col("transaction_total").ne_missing(pl.col(_KEPT_LINES_TOTAL))),
    ]
    first, *rest = rules
    chain = pl.when(first[1]).then(pl.lit(first[0]))
    for reason, failed in rest:
        chain = chain.when(failed).then(pl.lit(reason))
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _derived_columns() -> list[pl.Expr]:
    """Calendar parts of `transaction_ts`, typed as the contract says; gold groups by these."""
    ts = pl.col("transaction_ts")
    date = ts.dt.date()
    return [
        date.alias("date"),
        ts.dt.year().cast(pl.Int32).alias("year"),
        ts.dt.month().cast(pl.Int8).alias("month"),
        date.dt.truncate("1w").alias("week_start"),  # Polars weeks start on Monday, as ISO weeks do
        ts.dt.weekday().cast(pl.Int8).alias("weekday"),
        ts.dt.hour().cast(pl.Int8).alias("hour"),
    ]


def clean_stores(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Silver stores: trimmed strings, one row per `store_id` (the first delivered), sorted by it."""
    return _clean_dimension(bronze, ("store_id",), tuple(polars_schema(SilverStores)))


def clean_products(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Silver products: trimmed strings, one row per `product_id` (the first delivered), sorted by it."""
    return _clean_dimension(bronze, ("product_id",), tuple(polars_schema(SilverProducts)))


def clean_calendar(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Silver calendar: trimmed strings, one row per date and state (the first delivered), sorted by them."""
    return _clean_dimension(bronze, ("date", "state_code"), tuple(polars_schema(SilverCalendar)))


def _clean_dimension(bronze: pl.LazyFrame, key: tuple[str, ...], columns: tuple[str, ...]) -> pl.LazyFrame:
    """Trim before deduplicating, so keys that differ only by padding count as one.

    Rows with a null key are kept, not dropped: the silver model rejects them loudly, which beats losing a
    store silently.
    """
    return (
        bronze.select(columns)
        .with_columns(pl.col(pl.String).str.strip_chars())
        .unique(list(key), keep="first", maintain_order=True)
        .sort(list(key))
    )
