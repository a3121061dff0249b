"""Silver transforms on hand-built bronze rows: each quarantine rule, their precedence, and the outputs' shape."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from retail_lakehouse.schemas import (
    BronzeTransactions,
    SilverCalendar,
    SilverProducts,
    SilverStores,
    SilverTransactions,
    TransactionsQuarantine,
    polars_schema,
)
from retail_lakehouse.settings import QUARANTINE_REASONS
from retail_lakehouse.transforms.silver import (
    QUARANTINE_COLUMNS,
    SILVER_COLUMNS,
    CleanResult,
    _day_columns_of_year,
    _derived_columns,
    clean_calendar,
    clean_products,
    clean_stores,
    clean_transactions,
    find_rejected,
    label_transactions,
    line_vat,
    vat_rate,
)

YEAR = 2024
BRONZE_SCHEMA = polars_schema(BronzeTransactions)


def stores_frame() -> pl.LazyFrame:
    """Store 1 in Berlin, store 2 in Bavaria."""
    return pl.LazyFrame(
        {
            "store_id": [1, 2],
            "store_name": ["Alexanderplatz", "Marienplatz"],
            "city": ["Berlin", "München"],
            "state_code": ["BE", "BY"],
            "region": ["Ost", "Süd"],
            "format": ["supermarket", "discounter"],
            "opened_on": [date(2010, 5, 1), date(2015, 9, 1)],
            "street": ["Alexanderplatz 1", "Marienplatz 8"],
            "postcode": ["10178", "80331"],
            "latitude": [52.5219, 48.1374],
            "longitude": [13.4132, 11.5755],
            "sales_area_m2": [1200, 1000],
        },
        schema=polars_schema(SilverStores),
    )


def products_frame() -> pl.LazyFrame:
    """Product 10 is bread, product 11 is milk."""
    return pl.LazyFrame(
        {
            "product_id": [10, 11],
            "sku": ["B-10", "D-11"],
            "product_name": ["Bread", "Milk"],
            "category": ["Bakery", "Dairy & Eggs"],
            "subcategory": ["Bread", "Milk"],
            "brand": ["Baker", "Farm"],
            "list_price": [Decimal("2.00"), Decimal("1.00")],
            "ean": ["4000000000109", "4000000000116"],
            "unit_size": ["500 g", "1 l"],
            "vat_class": ["reduced", "reduced"],
            "is_active": [True, True],
            "delisted_on": [None, None],
        },
        schema=polars_schema(SilverProducts),
    )


def line(
    transaction_id: int,
    line_number: int = 1,
    *,
    ts: datetime = datetime(2024, 3, 5, 10, 30),
    store_id: int | None = 1,
    product_id: int | None = 10,
    quantity: int = 1,
    unit_price: str = "2.00",
    discount: str = "0.00",
    line_total: str | None = None,
    transaction_total: str | None = None,
    payment_method: str = "cash",
) -> dict[str, Any]:
    """One bronze line; by default valid and the only line of its transaction.

    `line_total` defaults to quantity * unit_price - discount and `transaction_total` to the line total,
    so a test only spells out what it is about.
    """
    computed = quantity * Decimal(unit_price) - Decimal(discount)
    total = Decimal(line_total) if line_total is not None else computed
    return {
        "transaction_id": transaction_id,
        "line_number": line_number,
        "transaction_ts": ts,
        "store_id": store_id,
        "product_id": product_id,
        "quantity": quantity,
        "unit_price": Decimal(unit_price),
        "discount": Decimal(discount),
        "line_total": total,
        "transaction_total": Decimal(transaction_total) if transaction_total is not None else total,
        "payment_method": payment_method,
    }


def bronze(*rows: dict[str, Any]) -> pl.LazyFrame:
    return pl.LazyFrame(list(rows), schema=BRONZE_SCHEMA, orient="row")


def clean(*rows: dict[str, Any], year: int = YEAR) -> tuple[pl.DataFrame, pl.DataFrame]:
    result = clean_transactions(bronze(*rows), stores_frame(), products_frame(), year)
    return result.transactions.collect(), result.quarantine.collect()


def reasons(*rows: dict[str, Any], year: int = YEAR) -> list[str | None]:
    """The reason of every bronze row, in input order (None = goes to silver)."""
    labeled = label_transactions(bronze(*rows), stores_frame(), products_frame(), year).collect()
    return labeled["reason"].to_list()


def mixed_rows() -> list[dict[str, Any]]:
    """A bit of everything: valid lines, every defect, duplicates far from their originals."""
    return [
        line(1, 1, transaction_total="5.00"),
        line(1, 2, product_id=11, quantity=3, unit_price="1.00", transaction_total="5.00"),
        line(2, 1, store_id=None),
        line(3, 1, store_id=7),
        line(4, 1, product_id=99),
        line(5, 1, quantity=0),
        line(6, 1, unit_price="-1.00"),
        line(7, 1, line_total="9.99"),
        line(8, 1, ts=datetime(2025, 1, 1, 0, 0)),
        line(9, 1, transaction_total="1.00"),
        line(10, 1, payment_method="mobile"),
        line(11, 1, ts=datetime(2024, 12, 31, 23, 59, 59), store_id=2),
        line(1, 2, product_id=11, quantity=3, unit_price="1.00", transaction_total="5.00"),
        line(10, 1, payment_method="cash"),
    ]


def test_valid_line_goes_to_silver_enriched_and_typed() -> None:
    silver, quarantine = clean(line(1, ts=datetime(2024, 3, 10, 18, 45), store_id=2, product_id=11))

    assert quarantine.height == 0
    assert silver.schema == polars_schema(SilverTransactions)
    row = silver.row(0, named=True)
    # 2024-03-10 is a Sunday: its ISO week started on Monday 2024-03-04.
    assert row["date"] == date(2024, 3, 10)
    assert row["week_start"] == date(2024, 3, 4)
    assert row["weekday"] == 7
    assert (row["year"], row["month"], row["hour"]) == (2024, 3, 18)
    assert (row["state_code"], row["region"], row["category"]) == ("BY", "Süd", "Dairy & Eggs")
    assert row["vat_rate"] == Decimal("7.00")  # milk: the reduced rate
    assert row["vat"] == Decimal("0.13")  # 2.00 * 7 / 107 = 0.1308...


@pytest.mark.parametrize(
    ("line_total", "rate", "vat"),
    [
        ("3.00", "7.00", "0.20"),  # 0.1963 up
        ("0.08", "7.00", "0.01"),  # 0.0052: a cent per line, so three such lines hold 0.03, not 0.02
        ("0.01", "19.00", "0.00"),  # 0.0016
        ("1.19", "19.00", "0.19"),  # exactly
        ("100.00", "19.00", "15.97"),  # 15.966
        ("1.16", "16.00", "0.16"),  # the 2020 cut, exactly
        ("2.10", "5.00", "0.10"),  # exactly
        ("-3.00", "7.00", "-0.20"),  # a negative amount rounds away from zero too
    ],
)
def test_vat_per_line_is_gross_times_rate_over_100_plus_rate_half_up(line_total, rate, vat) -> None:
    frame = pl.DataFrame(
        {"line_total": [Decimal(line_total)], "vat_rate": [Decimal(rate)]},
        schema={"line_total": pl.Decimal(12, 2), "vat_rate": pl.Decimal(4, 2)},
    )
    assert frame.select(line_vat())["vat"].item() == Decimal(vat)


def test_vat_rate_is_the_rate_of_the_day_and_the_product_class() -> None:
    """Germany's temporary cut: 16 % and 5 % from 1 July to 31 December 2020, 19 % and 7 % either side."""
    products = pl.concat(
        [
            products_frame().collect(),
            products_frame()
            .collect()
            .head(1)
            .with_columns(product_id=pl.lit(12, pl.Int32), category=pl.lit("Beverages"), vat_class=pl.lit("standard")),
        ]
    )
    rows = [
        line(1, ts=datetime(2020, 6, 30, 21, 59), product_id=10),
        line(2, ts=datetime(2020, 6, 30, 21, 59), product_id=12),
        line(3, ts=datetime(2020, 7, 1, 6, 0), product_id=10),
        line(4, ts=datetime(2020, 7, 1, 6, 0), product_id=12),
        line(5, ts=datetime(2020, 12, 31, 13, 59), product_id=12),
    ]
    result = clean_transactions(bronze(*rows), stores_frame(), products.lazy(), 2020).transactions.collect()
    assert result["vat_rate"].to_list() == [Decimal(r) for r in ("7.00", "19.00", "5.00", "16.00", "16.00")]
    after = pl.DataFrame({"transaction_ts": [datetime(2021, 1, 1, 8)] * 2, "vat_class": ["reduced", "standard"]})
    assert after.select(vat_rate())["vat_rate"].to_list() == [Decimal("7.00"), Decimal("19.00")]


@pytest.mark.parametrize(
    ("ts", "weekday", "week_start"),
    [
        (datetime(2024, 1, 1, 8), 1, date(2024, 1, 1)),  # a Monday starts its own week
        (datetime(2024, 2, 29, 8), 4, date(2024, 2, 26)),  # leap day, a Thursday
        (datetime(2024, 12, 31, 8), 2, date(2024, 12, 30)),  # week of 2025's ISO week 1
    ],
)
def test_weekday_and_week_start(ts: datetime, weekday: int, week_start: date) -> None:
    silver, _ = clean(line(1, ts=ts))
    assert silver.select("weekday", "week_start").row(0) == (weekday, week_start)


@pytest.mark.parametrize(
    ("defect", "reason"),
    [
        ({"store_id": None}, "missing_key"),
        ({"product_id": None}, "missing_key"),
        ({"store_id": 3}, "unknown_store"),
        ({"product_id": 12}, "unknown_product"),
        ({"quantity": 0}, "non_positive_quantity"),
        ({"quantity": -2}, "non_positive_quantity"),
        ({"unit_price": "0.00"}, "non_positive_price"),
        ({"unit_price": "-2.00"}, "non_positive_price"),
        ({"line_total": "2.01"}, "line_total_mismatch"),
        ({"ts": datetime(2023, 12, 31, 23, 59, 59)}, "wrong_year"),
        ({"ts": datetime(2025, 1, 1, 0, 0)}, "wrong_year"),
    ],
)
def test_each_line_rule(defect: dict[str, Any], reason: str) -> None:
    assert reasons(line(1), line(2, **defect)) == [None, reason]


def test_line_total_is_compared_exactly_with_discount() -> None:
    # 3 * 0.10 - 0.05 = 0.25 exactly; a float would make it 0.25000000000000006.
    ok = line(1, quantity=3, unit_price="0.10", discount="0.05", line_total="0.25")
    off_by_a_cent = line(2, quantity=3, unit_price="0.10", discount="0.05", line_total="0.26")
    assert reasons(ok, off_by_a_cent) == [None, "line_total_mismatch"]


def test_identical_duplicates_keep_the_first_copy() -> None:
    first = line(1, payment_method="girocard")
    silver, quarantine = clean(first, line(2), first, first)

    assert silver["transaction_id"].to_list() == [1, 2]
    assert quarantine["reason"].to_list() == ["duplicate", "duplicate"]
    assert reasons(first, line(2), first, first) == [None, None, "duplicate", "duplicate"]


def test_duplicates_far_apart_are_found() -> None:
    # Transaction 1 is 2.00 + 2.00 = 4.00; its line 2 is re-sent after 38 other transactions.
    original = line(1, 2, product_id=11, transaction_total="4.00")
    rows = [line(1, 1, transaction_total="4.00"), original, *(line(n) for n in range(2, 40)), original]
    labels = reasons(*rows)
    assert labels[-1] == "duplicate"
    assert labels.count(None) == len(rows) - 1


def test_duplicates_of_high_line_numbers_are_found() -> None:
    # 70 lines of 1.00 each: a basket long enough that line numbers pass 63.
    basket = [line(1, n, unit_price="1.00", transaction_total="70.00") for n in range(1, 71)]
    labels = reasons(*basket, basket[68], basket[5])
    assert labels == [None] * 70 + ["duplicate", "duplicate"]


def test_conflicting_duplicates_quarantine_every_copy() -> None:
    a = line(1, payment_method="cash")
    rows = [a, line(2), line(1, payment_method="mobile"), a]
    assert reasons(*rows) == ["conflicting_duplicate", None, "conflicting_duplicate", "conflicting_duplicate"]


def test_duplicates_compare_nulls_as_equal() -> None:
    no_store = line(1, store_id=None)
    assert reasons(no_store, no_store) == ["missing_key", "duplicate"]
    assert reasons(no_store, line(1, store_id=1)) == ["conflicting_duplicate", "conflicting_duplicate"]


def test_first_failing_rule_is_the_reason() -> None:
    assert reasons(line(1, store_id=None, quantity=0)) == ["missing_key"]
    assert reasons(line(1, store_id=9, product_id=99)) == ["unknown_store"]
    assert reasons(line(1, quantity=-1, unit_price="0.00")) == ["non_positive_quantity"]
    assert reasons(line(1, ts=datetime(2023, 6, 1), line_total="7.00")) == ["line_total_mismatch"]
    bad_price = line(1, unit_price="0.00")
    assert reasons(bad_price, bad_price) == ["non_positive_price", "duplicate"]


def test_transaction_total_counts_lines_quarantined_by_line_rules() -> None:
    # 2.00 + 3.00 (unknown product, still part of the receipt) + 5.00 = 10.00.
    rows = [
        line(1, 1, transaction_total="10.00"),
        line(1, 2, product_id=99, quantity=3, unit_price="1.00", transaction_total="10.00"),
        line(1, 3, quantity=5, unit_price="1.00", transaction_total="10.00"),
    ]
    assert reasons(*rows) == [None, "unknown_product", None]


def test_transaction_total_ignores_extra_copies_and_conflicting_lines() -> None:
    rows = [
        # Transaction 1: 2.00 + 3.00 = 5.00; the extra copy of line 2 must not count twice.
        line(1, 1, transaction_total="5.00"),
        line(1, 2, quantity=3, unit_price="1.00", transaction_total="5.00"),
        # Transaction 2: line 1's copies conflict, so only line 2 (3.00) went on: 5.00 does not match.
        line(2, 1, transaction_total="5.00"),
        line(2, 2, quantity=3, unit_price="1.00", transaction_total="5.00"),
        # Transaction 3: the same, but its total (3.00) is the sum of what went on.
        line(3, 1, transaction_total="3.00"),
        line(3, 2, quantity=3, unit_price="1.00", transaction_total="3.00"),
        line(1, 2, quantity=3, unit_price="1.00", transaction_total="5.00"),
        line(2, 1, transaction_total="5.00", payment_method="mobile"),
        line(3, 1, transaction_total="3.00", payment_method="mobile"),
    ]
    assert reasons(*rows) == [
        None,
        None,
        "conflicting_duplicate",
        "transaction_total_mismatch",
        "conflicting_duplicate",
        None,
        "duplicate",
        "conflicting_duplicate",
        "conflicting_duplicate",
    ]


def test_transaction_total_mismatch_marks_only_lines_that_passed() -> None:
    rows = [
        line(1, 1, transaction_total="9.00"),
        line(1, 2, quantity=0, transaction_total="9.00"),
        line(1, 3, transaction_total="9.00"),
    ]
    assert reasons(*rows) == ["transaction_total_mismatch", "non_positive_quantity", "transaction_total_mismatch"]


def test_every_bronze_row_lands_exactly_once() -> None:
    rows = mixed_rows()
    silver, quarantine = clean(*rows)

    assert silver.height + quarantine.height == len(rows)
    assert silver.select("transaction_id", "line_number").rows() == [(1, 1), (1, 2), (11, 1)]
    assert quarantine.select("transaction_id", "reason").rows() == [
        (2, "missing_key"),
        (3, "unknown_store"),
        (4, "unknown_product"),
        (5, "non_positive_quantity"),
        (6, "non_positive_price"),
        (7, "line_total_mismatch"),
        (8, "wrong_year"),
        (9, "transaction_total_mismatch"),
        (10, "conflicting_duplicate"),
        (1, "duplicate"),
        (10, "conflicting_duplicate"),
    ]
    assert set(quarantine["reason"]) <= set(QUARANTINE_REASONS)


def test_quarantine_keeps_bronze_values_and_partition_year() -> None:
    late = line(8, ts=datetime(2025, 1, 1, 0, 0), store_id=None)
    _, quarantine = clean(late)

    assert quarantine.schema == polars_schema(TransactionsQuarantine)
    row = quarantine.row(0, named=True)
    assert row["year"] == YEAR
    assert row["store_id"] is None
    assert row["transaction_ts"] == datetime(2025, 1, 1, 0, 0)
    assert row["reason"] == "missing_key"


def test_outputs_validate_against_the_contract() -> None:
    silver, quarantine = clean(*mixed_rows())
    SilverTransactions.validate(silver, lazy=True)
    TransactionsQuarantine.validate(quarantine, lazy=True)
    assert list(silver.columns) == list(polars_schema(SilverTransactions))
    assert list(quarantine.columns) == list(polars_schema(TransactionsQuarantine))


def test_empty_bronze_gives_empty_outputs_with_the_contract_types() -> None:
    silver, quarantine = clean()
    assert silver.height == quarantine.height == 0
    assert silver.schema == polars_schema(SilverTransactions)
    assert quarantine.schema == polars_schema(TransactionsQuarantine)


def test_label_transactions_keeps_every_row_in_order() -> None:
    rows = mixed_rows()
    labeled = label_transactions(bronze(*rows), stores_frame(), products_frame(), YEAR).collect()
    assert labeled.height == len(rows)
    assert labeled.columns[-1] == "reason"
    assert_frame_equal(labeled.select(list(BRONZE_SCHEMA)), bronze(*rows).collect())


def test_streaming_engine_gives_the_same_result() -> None:
    result: CleanResult = clean_transactions(bronze(*mixed_rows()), stores_frame(), products_frame(), YEAR)
    for frame in (result.transactions, result.quarantine):
        assert_frame_equal(frame.collect(engine="streaming"), frame.collect(engine="in-memory"))
    together = pl.collect_all([result.transactions, result.quarantine], engine="streaming")
    assert_frame_equal(together[0], result.transactions.collect(engine="in-memory"))
    assert_frame_equal(together[1], result.quarantine.collect(engine="in-memory"))


def test_split_holds_every_line_where_every_rule_applied_to_every_line_puts_it() -> None:
    """The asset's path: the rules run once (`find_rejected`: two reads, transaction rules only where flagged),
    then bronze is split by position. `label_transactions` applies every rule to every line: silver is its
    lines without a reason, the quarantine those with one (in the partition's year), both in bronze order."""
    lines, stores, products = bronze(*mixed_rows()), stores_frame(), products_frame()
    result = clean_transactions(lines, stores, products, YEAR)
    labeled = label_transactions(lines, stores, products, YEAR).collect()
    assert result.rejected.height == 11  # the eleven quarantined lines of mixed_rows
    expected_silver = labeled.filter(pl.col("reason").is_null()).select(SILVER_COLUMNS)
    assert_frame_equal(result.transactions.collect(), expected_silver)
    expected_quarantine = labeled.filter(pl.col("reason").is_not_null()).with_columns(pl.lit(YEAR).alias("year"))
    assert_frame_equal(result.quarantine.collect(), expected_quarantine.select(QUARANTINE_COLUMNS), check_dtypes=False)


def test_sparse_product_ids_are_enriched_as_dense_ones() -> None:
    """Silver picks dimension columns by position where ids are dense (0 up to a few times the dimension's
    size) and joins them where they are not (EAN-like ids): the same lines either way, in bronze order."""
    sparse_id = 2_000_000_000
    products = products_frame().collect()
    sparse = products.with_columns(pl.col("product_id").replace({11: sparse_id}))
    receipt = {"transaction_total": "4.00"}  # two lines of 2.00
    rows = [line(1, 1, **receipt), line(1, 2, product_id=11, **receipt)]
    rows += [line(2, 1, store_id=2, **receipt), line(2, 2, store_id=2, product_id=11, **receipt)]
    sparse_rows = [row | {"product_id": sparse_id} if row["product_id"] == 11 else row for row in rows]
    dense_silver = clean_transactions(bronze(*rows), stores_frame(), products.lazy(), YEAR).transactions.collect()
    sparse_silver = clean_transactions(bronze(*sparse_rows), stores_frame(), sparse.lazy(), YEAR).transactions
    assert_frame_equal(sparse_silver.collect().drop("product_id"), dense_silver.drop("product_id"))
    assert dense_silver.select("store_id", "state_code", "category").rows() == [
        (1, "BE", "Bakery"), (1, "BE", "Dairy & Eggs"), (2, "BY", "Bakery"), (2, "BY", "Dairy & Eggs"),
    ]  # fmt: skip


@st.composite
def messy_bronze(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Lines of a few transactions with every kind of defect: copies (equal and not, anywhere in the file),
    repeated line numbers, unknown or missing keys, wrong amounts and totals, lines of another year."""
    rows = []
    for _ in range(draw(st.integers(1, 14))):
        defect = draw(st.sampled_from([None, None, None, "store", "product", "amount", "year"]))
        quantity = draw(st.sampled_from([1, 2, 3] if defect != "amount" else [0, -1]))
        price = draw(st.sampled_from(["2.00", "1.25"]))
        rows.append(
            line(
                draw(st.sampled_from([1, 2, 3, None])),
                draw(st.integers(1, 3)),
                ts=datetime(2023, 12, 31, 23, 59) if defect == "year" else datetime(2024, 3, 5, 10, 30),
                store_id=draw(st.sampled_from([9, None])) if defect == "store" else draw(st.sampled_from([1, 2])),
                product_id=draw(st.sampled_from([99, None])) if defect == "product" else 10,
                quantity=quantity,
                unit_price=price,
                line_total=str(quantity * Decimal(price) + draw(st.sampled_from([0, 0, 0, 1]))),
                transaction_total=draw(st.sampled_from([None, "2.00", "4.00", "6.00"])),
            )
        )
    for _ in range(draw(st.integers(0, 4))):  # re-sent copies, some altered, appended anywhere
        copy = dict(draw(st.sampled_from(rows)))
        if draw(st.booleans()):
            copy["payment_method"] = "card"
        rows.insert(draw(st.integers(0, len(rows))), copy)
    # Receipt totals: mostly the sum of the transaction's lines, as a till prints it.
    sums: dict[int | None, Decimal] = {}
    for row in rows:
        sums[row["transaction_id"]] = sums.get(row["transaction_id"], Decimal(0)) + row["line_total"]
    for row in rows:
        if row["transaction_total"] == Decimal("2.00") or draw(st.booleans()):
            row["transaction_total"] = sums[row["transaction_id"]]
    return rows


@settings(max_examples=150, deadline=None)
@given(messy_bronze())
def test_find_rejected_gives_every_rule_its_reason(rows: list[dict[str, Any]]) -> None:
    """`find_rejected` applies the transaction rules only to flagged transactions; `label_transactions` applies
    every rule to every line. Both must reject the same positions for the same reasons."""
    lines, stores, products = bronze(*rows), stores_frame(), products_frame()
    every_rule = label_transactions(lines, stores, products, YEAR).with_row_index("_row")
    expected = every_rule.filter(pl.col("reason").is_not_null()).select("_row", "reason").collect()
    assert_frame_equal(find_rejected(lines, stores, products, YEAR).select("_row", "reason"), expected)


def test_clean_stores_trims_dedupes_and_sorts() -> None:
    raw = pl.LazyFrame(
        {
            "store_id": [2, 1, 2],
            "store_name": ["  Marienplatz ", "Alexanderplatz", "Second copy"],
            "city": ["München", " Berlin", "München"],
            "state_code": ["BY ", "BE", "BY"],
            "region": ["Süd", "Ost", "Süd"],
            "format": ["discounter", "supermarket", "discounter"],
            "opened_on": [date(2015, 9, 1), date(2010, 5, 1), date(2015, 9, 1)],
            "street": [" Marienplatz 8", "Alexanderplatz 1", "Marienplatz 8"],
            "postcode": ["80331", "10178", "80331"],
            "latitude": [48.1374, 52.5219, 48.1374],
            "longitude": [11.5755, 13.4132, 11.5755],
            "sales_area_m2": [1000, 1200, 1000],
        },
        schema=polars_schema(SilverStores),
    )
    cleaned = clean_stores(raw).collect()

    SilverStores.validate(cleaned)
    assert cleaned.select("store_id", "store_name", "city", "state_code", "street", "latitude").rows() == [
        (1, "Alexanderplatz", "Berlin", "BE", "Alexanderplatz 1", 52.5219),
        (2, "Marienplatz", "München", "BY", "Marienplatz 8", 48.1374),
    ]


def test_clean_products_trims_dedupes_and_sorts() -> None:
    raw = pl.concat([products_frame(), products_frame()]).with_columns(
        pl.col("product_name") + " ", pl.col("product_id").reverse()
    )
    cleaned = clean_products(raw).collect()

    SilverProducts.validate(cleaned)
    # Reversing ids gives 11, 10, 11, 10: the first row delivered for 10 is Milk's, for 11 Bread's.
    assert cleaned.select("product_id", "product_name").rows() == [(10, "Milk"), (11, "Bread")]


def test_clean_calendar_one_row_per_date_and_state() -> None:
    raw = pl.LazyFrame(
        {
            "date": [date(2024, 1, 2), date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 1)],
            "state_code": ["BE", "BY", "BE", "BE"],
            "weekday": [2, 1, 1, 1],
            "is_public_holiday": [False, True, True, True],
            "holiday_name": [None, " Neujahr ", "Neujahr", "Duplicate"],
            "is_open": [True, False, False, False],
        },
        schema=polars_schema(SilverCalendar),
    )
    cleaned = clean_calendar(raw).collect()

    SilverCalendar.validate(cleaned)
    assert cleaned.select("date", "state_code", "holiday_name").rows() == [
        (date(2024, 1, 1), "BE", "Neujahr"),
        (date(2024, 1, 1), "BY", "Neujahr"),
        (date(2024, 1, 2), "BE", None),
    ]


@settings(max_examples=40, deadline=None)
@given(
    year=st.integers(2019, 2031),
    moments=st.lists(st.tuples(st.integers(0, 366 * 86_400 - 1), st.sampled_from(["standard", "reduced"])), min_size=1),
)
def test_calendar_parts_and_vat_rates_looked_up_by_day_equal_those_worked_out_per_line(year, moments):
    """Silver picks each line's date parts and VAT rate from a table of its year's days; Polars' own date
    functions and `vat_rate` on every line give the same values (leap days, New Year's weeks, the 2020 VAT cut)."""
    stamped = [(datetime(year, 1, 1) + timedelta(seconds=s), vat_class) for s, vat_class in moments]
    in_year = [(ts, vat_class) for ts, vat_class in stamped if ts.year == year] or [(datetime(year, 12, 31), "reduced")]
    lines = pl.LazyFrame(in_year, schema={"transaction_ts": pl.Datetime("us"), "vat_class": pl.String}, orient="row")
    looked_up = lines.with_columns(_day_columns_of_year(year)).collect()
    worked_out = lines.with_columns(*_derived_columns(), vat_rate()).collect()
    assert_frame_equal(looked_up, worked_out)


def test_a_line_outside_the_year_is_an_error_not_a_wrong_date():
    for outside in (datetime(YEAR - 1, 12, 31, 23), datetime(YEAR + 1, 1, 1)):
        lines = pl.LazyFrame({"transaction_ts": [outside], "vat_class": ["standard"]})
        with pytest.raises(pl.exceptions.PolarsError):
            lines.with_columns(_day_columns_of_year(YEAR)).collect()
