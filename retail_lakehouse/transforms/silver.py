"""Silver: bronze cleaned, typed and enriched; every rejected transaction line kept in a quarantine.

Pure Polars: LazyFrames in, LazyFrames out, so the same plan runs on a 10-row test frame and, with the
streaming engine, on a 17M-row year. Every bronze line lands in exactly one of the two outputs, so
`silver + quarantine == bronze` row for row, and the quarantine says why each rejected line was rejected.

The rules, in the order they are applied (the first that fails is the reason; names from
`reference.QUARANTINE_REASONS`):

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

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import get_args

import polars as pl

from retail_lakehouse.measures import cents
from retail_lakehouse.reference import VAT_PERIODS, VatClass, VatPeriod
from retail_lakehouse.schemas import (
    LINE_MONEY,
    VAT_RATE,
    BronzeTransactions,
    SilverCalendar,
    SilverProducts,
    SilverStores,
    SilverTransactions,
    TransactionsQuarantine,
    polars_schema,
)
from retail_lakehouse.settings import QUARANTINE_REASONS

LINE_KEY = ("transaction_id", "line_number")
EPOCH = dt.datetime(1970, 1, 1)  # what a timestamp's microseconds count from
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
BRONZE_COLUMNS: tuple[str, ...] = tuple(polars_schema(BronzeTransactions))
SILVER_COLUMNS: tuple[str, ...] = tuple(polars_schema(SilverTransactions))
QUARANTINE_COLUMNS: tuple[str, ...] = tuple(polars_schema(TransactionsQuarantine))
DERIVED_COLUMNS = ("date", "year", "month", "week_start", "weekday", "hour")
ENRICHED_COLUMNS = ("state_code", "region", "category", "vat_rate", "vat")
LABELED_COLUMNS: tuple[str, ...] = (*BRONZE_COLUMNS, *DERIVED_COLUMNS, *ENRICHED_COLUMNS, "reason")


# Internal helper columns; the leading underscore keeps them apart from any contract column.
_ROW = "_row"
_FIRST_ROW = "_first_row"
_CONFLICTING = "_conflicting"
_STORE_KNOWN = "_store_known"
_PRODUCT_KNOWN = "_product_known"
_SUSPECT = "_suspect"
_TOTAL_DIFFERS = "_total_differs"
_ALL_LINES_TOTAL = "_all_lines_total"
_EXCESS_TOTAL = "_excess_total"
_KEPT_LINES_TOTAL = "_kept_lines_total"
REJECTED_COLUMNS: tuple[str, ...] = (*BRONZE_COLUMNS, _ROW, "reason")  # what `find_rejected` collects


@dataclass(frozen=True)
class CleanResult:
    """The two outputs of cleaning one year of transactions; together they hold every bronze line once."""

    transactions: pl.LazyFrame  # SilverTransactions columns, in bronze row order
    quarantine: pl.LazyFrame  # TransactionsQuarantine columns, in bronze row order
    rejected: pl.DataFrame  # what `find_rejected` collected: the quarantined lines, positions and reasons


def clean_transactions(bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> CleanResult:
    """Split one year's bronze lines into valid silver lines and quarantined lines with their reason.

    The rules run once (`find_rejected`, collected: a small frame); silver is then one lazy pass over bronze.
    """
    return split_transactions(bronze, stores, products, find_rejected(bronze, stores, products, year), year)


def find_rejected(bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> pl.DataFrame:
    """Every line that fails a rule, whole: bronze's columns, its position in bronze (`_row`, file order) and
    its reason, in bronze order. Collected in two reads of bronze.

    Rejected lines are a fraction of a percent, so they are small enough to hold: the quarantine is written
    from them, and silver is bronze without their positions. The rules that look at a whole transaction
    (duplicates, the receipt's total) can only fail in a transaction whose summary flags it
    (`_transaction_summaries`: a line number may repeat, or a line's `transaction_total` differs from the sum
    of the lines), a few percent of them. The first read makes the summaries; the second takes the flagged
    transactions' lines, which go through every rule (`_labels`, joins and all) in memory, and every other
    line that fails a line rule where it stands, with no join that has to keep 17M lines in order.
    `label_transactions` applies every rule to every line: the same reasons, a test checks, at several times
    the cost.
    """
    rows = _numbered(bronze)
    summaries = _transaction_summaries(rows)
    flagged = summaries.filter(pl.col(_SUSPECT) | pl.col(_TOTAL_DIFFERS)).select("transaction_id")
    in_flagged = pl.col("transaction_id").is_in(
        flagged.collect(engine="streaming").to_series().implode(), nulls_equal=True
    )
    line_rules_only = rows.with_columns(
        pl.lit(None, dtype=pl.Boolean).alias(_CONFLICTING),
        pl.lit(None, dtype=pl.UInt32).alias(_FIRST_ROW),
        pl.col("transaction_total").alias(_KEPT_LINES_TOTAL),  # as the summary finds it where it did not flag
        _known(pl.col("store_id"), stores.select("store_id")).alias(_STORE_KNOWN),
        _known(pl.col("product_id"), products.select("product_id")).alias(_PRODUCT_KNOWN),
    ).with_columns(_reason(year).alias("reason"))
    # The second read: the flagged transactions' lines, and every other line that fails a line rule.
    lines = line_rules_only.filter(in_flagged | pl.col("reason").is_not_null()).collect(engine="streaming")
    flagged_lines = lines.lazy().filter(in_flagged).select(rows.collect_schema().names())
    every_rule = _failing(_labels(flagged_lines, stores, products, year), year)
    line_rules = lines.lazy().filter(~in_flagged).select(REJECTED_COLUMNS)
    return pl.concat([every_rule, line_rules]).sort(_ROW).collect()


def _failing(labelled: pl.LazyFrame, year: int) -> pl.LazyFrame:
    """The lines of `labelled` that fail a rule, with their reason, in `REJECTED_COLUMNS`."""
    reason = _reason(year).alias("reason")
    return labelled.with_columns(reason).filter(pl.col("reason").is_not_null()).select(REJECTED_COLUMNS)


def _known(key: pl.Expr, ids: pl.LazyFrame) -> pl.Expr:
    """True where `key` is among `ids` (a one-column dimension), null elsewhere, as the dimension joins give."""
    return pl.when(key.is_in(ids.collect().to_series().implode())).then(pl.lit(True))


def split_transactions(
    bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, rejected: pl.DataFrame, year: int
) -> CleanResult:
    """Silver is bronze without the rejected positions, enriched; the quarantine is the rejected lines.

    Both keep bronze's row order. `rejected` comes from `find_rejected` on the same bronze.
    """
    kept = _numbered(bronze).filter(~pl.col(_ROW).is_in(rejected[_ROW].implode()))  # a filter keeps the order
    with_stores = _with_dimension(kept, "store_id", _store_attributes(stores).drop(_STORE_KNOWN).collect())
    with_products = _with_dimension(
        with_stores, "product_id", _product_attributes(products).drop(_PRODUCT_KNOWN).collect()
    )
    transactions = (
        with_products.with_columns(*_day_columns_of_year(year)).with_columns(line_vat()).select(SILVER_COLUMNS)
    )
    quarantine = (
        rejected.lazy()
        .with_columns(pl.lit(year, dtype=pl.Int32).alias("year"))  # the partition's, even for `wrong_year`
        .select(QUARANTINE_COLUMNS)
    )
    return CleanResult(transactions=transactions, quarantine=quarantine, rejected=rejected)


def _with_dimension(lines: pl.LazyFrame, key: str, dimension: pl.DataFrame) -> pl.LazyFrame:
    """`lines` with the dimension's other columns for each line's `key`, in the lines' order. For lines whose
    key is in the dimension (silver's: a line with an unknown key is quarantined).

    Where the keys are dense (ids from 0 to a few times the dimension's size, as the stores' and products'
    are), each column is laid out by key and picked by position (`gather`): no join, so 17M lines keep their
    order for free, where an order-keeping join cost 1.5 s a year. Sparse keys are joined.
    """
    keys = dimension[key]
    if dimension.is_empty() or keys.min() < 0 or keys.max() >= 8 * dimension.height + 1024:
        return lines.join(dimension.lazy(), on=key, how="left", maintain_order="left")
    every_key = pl.DataFrame({key: pl.int_range(keys.max() + 1, dtype=keys.dtype, eager=True)})
    dense = every_key.join(dimension, on=key, how="left", maintain_order="left")
    return lines.with_columns(pl.lit(dense[column]).gather(pl.col(key)).alias(column) for column in dense.columns[1:])


def clean_year(bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> CleanResult:
    """Both silver outputs of a year, schema-validated, with the rules evaluated once.

    The rejected lines (a fraction of a percent) are collected, then silver is one light pass over bronze.
    Schema-level validation happens here, before writing (types, columns); the data-level contract check
    runs on the written partition column by column (`audits.contract_failures`), so a year is never in memory whole.
    """
    result = clean_transactions(bronze, stores, products, year)
    return CleanResult(
        SilverTransactions.validate(result.transactions),
        TransactionsQuarantine.validate(result.quarantine),
        result.rejected,
    )


def quarantine_by_reason(quarantine: pl.LazyFrame) -> dict[str, int]:
    """Rows per quarantine reason, every reason listed (zero where none)."""
    counts = dict(quarantine.group_by("reason").len().collect().iter_rows())
    return {reason: int(counts.get(reason, 0)) for reason in QUARANTINE_REASONS}


def label_transactions(bronze: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> pl.LazyFrame:
    """Every bronze line once, in input order, with calendar parts, dimension attributes and a `reason`.

    `reason` is null for a line that passes every rule. `year` here is the year of `transaction_ts` (it
    differs from the partition's year on `wrong_year` lines).
    """
    labels = _labels(_numbered(bronze), stores, products, year).with_columns(
        _reason(year).alias("reason"), *_derived_columns(), vat_rate()
    )
    return labels.with_columns(line_vat()).select(LABELED_COLUMNS)


def _numbered(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Bronze's columns and each line's position in the file: what tells copies of a duplicate apart."""
    return bronze.select(BRONZE_COLUMNS).with_row_index(_ROW)


def _labels(rows: pl.LazyFrame, stores: pl.LazyFrame, products: pl.LazyFrame, year: int) -> pl.LazyFrame:
    """Numbered bronze lines with what every rule looks at: dimension attributes, duplicate verdicts, kept totals."""
    summaries = _transaction_summaries(rows)
    verdicts = _duplicate_verdicts(rows, summaries)
    return (
        rows.join(
            verdicts.select(*LINE_KEY, _FIRST_ROW, _CONFLICTING),
            on=LINE_KEY,
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        .join(_store_attributes(stores), on="store_id", how="left", maintain_order="left")
        .join(_product_attributes(products), on="product_id", how="left", maintain_order="left")
        .join(
            _kept_line_totals(summaries, verdicts),
            on="transaction_id",
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
    )


def _transaction_summaries(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Per transaction: the sum of all its bronze line totals, whether a line number may repeat in it, and
    whether any line's `transaction_total` differs from that sum (or is missing).

    This is the only group-by over every line, and it is by `transaction_id` alone (a few lines per
    group), which costs far less memory than counting every `(transaction_id, line_number)` key. A line
    number repeats in a transaction exactly when the transaction has more lines than distinct line
    numbers; the distinct count is taken as the popcount of a bitmask of line numbers 0..63 (much cheaper
    than `n_unique` per group), and a transaction with any line number outside 0..63 is simply a suspect
    too. Suspects are only checked exactly afterwards, so a false suspect costs a little work, never a
    wrong verdict.
    """
    line = pl.col("line_number").cast(pl.Int64)
    fits_mask = line.is_between(0, 63)
    total_cents = cents(pl.col("transaction_total"))  # integers compare faster than Decimals (Int128 underneath)
    line_bit = pl.when(fits_mask).then(pl.lit(2, dtype=pl.UInt64).pow(line)).otherwise(pl.lit(0, pl.UInt64))
    return (
        rows.group_by("transaction_id")
        .agg(
            pl.col("line_total").sum().alias(_ALL_LINES_TOTAL),
            pl.len().alias("_lines"),
            line_bit.bitwise_or().alias("_line_bits"),
            (~fits_mask).any().alias("_unmasked_line"),
            total_cents.min().alias("_least_total"),
            total_cents.max().alias("_greatest_total"),
            total_cents.null_count().alias("_missing_totals"),
        )
        .select(
            "transaction_id",
            _ALL_LINES_TOTAL,
            ((pl.col("_lines") > pl.col("_line_bits").bitwise_count_ones()) | pl.col("_unmasked_line")).alias(_SUSPECT),
            (
                (pl.col("_missing_totals") > 0)
                | (pl.col("_least_total") != pl.col("_greatest_total"))
                | (pl.col("_least_total") != cents(pl.col(_ALL_LINES_TOTAL)))
            ).alias(_TOTAL_DIFFERS),
        )
    )


def _duplicate_verdicts(rows: pl.LazyFrame, summaries: pl.LazyFrame) -> pl.LazyFrame:
    """One row per line key that occurs more than once: first row index, whether copies differ, excess.

    Duplicates are rare (about 0.1% of lines), so the exact full-width comparison only runs on the lines
    of suspect transactions, and nothing relies on copies being adjacent (a re-sent file appends them at
    the end). `n_unique` counts null as a value, so two nulls in the same column compare equal.
    `_excess_total` is the part of the copies' line totals that does not go on after step 1: all of it
    for conflicting copies, all but one copy's for identical ones.
    """
    compared = [c for c in BRONZE_COLUMNS if c not in LINE_KEY]
    suspects = summaries.filter(pl.col(_SUSPECT)).select("transaction_id")
    return (
        rows.join(suspects, on="transaction_id", how="semi", nulls_equal=True)
        .group_by(LINE_KEY)
        .agg(
            pl.len().alias("_copies"),
            pl.col(_ROW).min().alias(_FIRST_ROW),
            pl.any_horizontal(pl.col(c).n_unique() > 1 for c in compared).alias(_CONFLICTING),
            pl.col("line_total").sum().alias("_copies_total"),
            pl.col("line_total").first().alias("_one_copy_total"),
        )
        .filter(pl.col("_copies") > 1)
        .select(
            *LINE_KEY,
            _FIRST_ROW,
            _CONFLICTING,
            pl.when(pl.col(_CONFLICTING))
            .then(pl.col("_copies_total"))
            .otherwise((pl.col("_copies_total") - pl.col("_one_copy_total")).fill_null(0))
            .alias(_EXCESS_TOTAL),
        )
    )


def _kept_line_totals(summaries: pl.LazyFrame, verdicts: pl.LazyFrame) -> pl.LazyFrame:
    """Per transaction, the sum of `line_total` over its lines that went on after step 1.

    All lines' sum minus the duplicates' excess, rather than a sum over the labelled lines: the streaming
    engine then need not hold the wide labelled lines back while a second group-by runs over them.
    """
    excess = verdicts.group_by("transaction_id").agg(pl.col(_EXCESS_TOTAL).sum())
    return summaries.join(excess, on="transaction_id", how="left", nulls_equal=True).select(
        "transaction_id",
        (pl.col(_ALL_LINES_TOTAL) - pl.col(_EXCESS_TOTAL).fill_null(0)).alias(_KEPT_LINES_TOTAL),
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
        products.select("product_id", "category", "vat_class")
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


def vat_rate(ts: str = "transaction_ts", vat_class: str = "vat_class") -> pl.Expr:
    """The VAT rate in percent that applied to a line on its day, by its product's VAT class.

    From `reference.VAT_PERIODS`: 19 % and 7 %, and 16 % and 5 % from 1 July to 31 December 2020. Null where
    the product (and so its class) is unknown; such a line is quarantined anyway.
    """
    day, vat_class_of = pl.col(ts).dt.date(), pl.col(vat_class)

    def percent(period: VatPeriod) -> pl.Expr:
        by_class = pl.when(vat_class_of == "standard").then(period.standard)
        return by_class.when(vat_class_of == "reduced").then(period.reduced).cast(VAT_RATE)

    first, *rest = VAT_PERIODS
    rate = pl.when(day.is_between(first.first_day, first.last_day)).then(percent(first))
    for period in rest:
        rate = rate.when(day.is_between(period.first_day, period.last_day)).then(percent(period))
    return rate.otherwise(None).alias("vat_rate")


def line_vat(line_total: str = "line_total", rate: str = "vat_rate") -> pl.Expr:
    """The VAT in a line's gross `line_total` at its `vat_rate`: gross * rate / (100 + rate), rounded half away
    from zero to the cent.

    The one rounding rule for VAT in the lakehouse: gold only sums it, so `net_revenue + vat == revenue` at
    every grain. Computed once per line, here, in integers (cents, and the rate in basis points: 19.00 % is
    1900), never through a float; an Int64 holds any Decimal(12, 2) times 2 * 10,000.
    """
    gross = cents(pl.col(line_total))
    basis_points = cents(pl.col(rate))  # 19.00 % in hundredths of a percent: 1900
    divisor = 10_000 + basis_points
    vat_cents = (gross.abs() * basis_points * 2 + divisor) // (divisor * 2) * gross.sign()
    # Back to Decimal by multiplying: casting an integer to Decimal reads it as units, not cents.
    return (vat_cents.cast(pl.Decimal(38, 2)) * pl.lit(Decimal("0.01"))).cast(LINE_MONEY).alias("vat")


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


def _day_columns_of_year(year: int) -> list[pl.Expr]:
    """`_derived_columns` and `vat_rate` for lines that all lie in `year` (silver's: the `wrong_year` rule took
    the others), picked from a table of the year's days by each line's day number: integer arithmetic and a
    gather per line, where Polars' date functions and the VAT periods' date comparisons on every line cost
    more (1.7 against 2.3 s for a year's silver pass). The table is those same expressions applied to the
    days themselves, so the values are the same. A line outside the year is an error (a negative day number
    fails the cast, a day past the year is out of bounds), never a wrong date.
    """
    first = dt.datetime(year, 1, 1)
    days = pl.datetime_range(first, dt.datetime(year, 12, 31), "1d", time_unit="us", eager=True).to_frame(
        "transaction_ts"
    )
    parts = days.select(_derived_columns()).drop("hour")
    rates = {  # each day's rate per VAT class, as `vat_rate` gives it
        name: days.with_columns(vat_class=pl.lit(name)).select(vat_rate()).to_series() for name in get_args(VatClass)
    }
    timestamp = pl.col("transaction_ts").to_physical()
    day = (timestamp // US_PER_DAY - (first - EPOCH).days).cast(pl.UInt32)
    vat_class = pl.col("vat_class")
    rate, *others = rates
    vat = pl.when(vat_class == rate).then(pl.lit(rates[rate]).gather(day))
    for other in others:
        vat = vat.when(vat_class == other).then(pl.lit(rates[other]).gather(day))
    return [
        *(pl.lit(parts[name]).gather(day).alias(name) for name in parts.columns),
        (timestamp % US_PER_DAY // US_PER_HOUR).cast(pl.Int8).alias("hour"),
        vat.alias("vat_rate"),
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
