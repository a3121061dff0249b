"""Gold aggregates on hand-built silver lines: sums per grain, exact money, distinct baskets, top products."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
import pytest

from retail_lakehouse.schemas import (
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
    SilverCalendar,
    SilverProducts,
    SilverStores,
    SilverTransactions,
    StoreDailySales,
    TopProductsDaily,
    TopProductsMonthly,
    WeeklySales,
    YearlySales,
    polars_schema,
)
from retail_lakehouse.transforms import gold

# store_id: (name, city, state_code, region, format)
STORES = {
    1: ("Alexanderplatz", "Berlin", "BE", "Ost", "supermarket"),
    2: ("Spandau", "Berlin", "BE", "Ost", "discounter"),
    3: ("Marienplatz", "München", "BY", "Süd", "hypermarket"),
}
# product_id: (name, category, brand)
PRODUCTS = {
    10: ("Bread", "Bakery", "Baker"),
    11: ("Milk", "Dairy & Eggs", "Farm"),
    12: ("Cake", "Bakery", "Baker"),
    13: ("Cheese", "Dairy & Eggs", "Farm"),
    14: ("Roll", "Bakery", "Baker"),
    15: ("Pretzel", "Bakery", "Baker"),
}


def stores_frame() -> pl.LazyFrame:
    """The stores, with an address, coordinates and sales area made from the id."""
    rows = [
        (sid, *attrs, date(2010, 1, 1), f"Hauptstraße {sid}", f"1010{sid}", 52.5 + sid / 100, 13.4, 1000 * sid)
        for sid, attrs in STORES.items()
    ]
    return pl.LazyFrame(rows, schema=polars_schema(SilverStores), orient="row")


def products_frame() -> pl.LazyFrame:
    """The products; 15 (Pretzel) was delisted at the end of April 2024."""
    rows = [
        (pid, f"SKU{pid}", name, cat, cat, brand, Decimal("1.00"), f"40000000000{pid}", "1 Stück", "reduced",
         pid != 15, date(2024, 4, 30) if pid == 15 else None)
        for pid, (name, cat, brand) in PRODUCTS.items()
    ]  # fmt: skip
    return pl.LazyFrame(rows, schema=polars_schema(SilverProducts), orient="row")


def sale(
    transaction_id: int,
    line_number: int = 1,
    *,
    day: date = date(2024, 3, 4),
    store_id: int = 1,
    product_id: int = 10,
    quantity: int = 1,
    unit_price: str = "1.00",
    discount: str = "0.00",
    vat_rate: str = "7.00",
    hour: int = 10,
) -> dict[str, Any]:
    """One silver line with its calendar parts and dimension attributes filled in from the fixtures.

    Every fixture product is food at the reduced rate, 7 %, unless `vat_rate` says otherwise."""
    line_total = quantity * Decimal(unit_price) - Decimal(discount)
    _, _, state_code, region, _ = STORES[store_id]
    return {
        "transaction_id": transaction_id,
        "line_number": line_number,
        "transaction_ts": datetime(day.year, day.month, day.day, hour, 0),
        "store_id": store_id,
        "product_id": product_id,
        "quantity": quantity,
        "unit_price": Decimal(unit_price),
        "discount": Decimal(discount),
        "line_total": line_total,
        "transaction_total": line_total,  # gold does not read it
        "payment_method": "cash",
        "date": day,
        "year": day.year,
        "month": day.month,
        "week_start": day - timedelta(days=day.weekday()),
        "weekday": day.isoweekday(),
        "hour": hour,
        "state_code": state_code,
        "region": region,
        "category": PRODUCTS[product_id][1],
        "vat_rate": Decimal(vat_rate),
        # Silver's per-line VAT, worked out here with Python's decimals: gross * rate / (100 + rate), half up.
        "vat": (line_total * Decimal(vat_rate) / (100 + Decimal(vat_rate))).quantize(Decimal("0.01"), ROUND_HALF_UP),
    }


def silver(*rows: dict[str, Any]) -> pl.LazyFrame:
    return pl.LazyFrame(list(rows), schema=polars_schema(SilverTransactions), orient="row")


def sales() -> pl.LazyFrame:
    """Five baskets in three stores, two months; basket 1 spans Bakery and Dairy."""
    return silver(
        sale(1, 1, product_id=10, quantity=2, unit_price="1.50"),  # 3.00
        sale(1, 2, product_id=11, quantity=1, unit_price="0.10"),  # 0.10
        sale(2, 1, product_id=10, quantity=1, unit_price="0.20"),  # 0.20
        sale(3, 1, store_id=3, product_id=12, unit_price="5.00"),  # 5.00
        sale(4, 1, day=date(2024, 3, 5), store_id=2, product_id=11, quantity=4, discount="0.50"),  # 3.50
        sale(5, 1, day=date(2024, 4, 1), product_id=13, unit_price="10.00"),  # 10.00
    )


def store_daily(lines: pl.LazyFrame | None = None) -> pl.LazyFrame:
    return gold.aggregate_store_daily(sales() if lines is None else lines, stores_frame())


def measures(frame: pl.LazyFrame) -> list[tuple[Any, ...]]:
    """(revenue, units, transactions, lines, avg_basket) per row."""
    return frame.select("revenue", "units", "transactions", "lines", "avg_basket").collect().rows()


def money(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]


def test_store_daily_sums_per_store_and_day() -> None:
    table = store_daily().collect()
    assert table.select("date", "store_id", "store_name", "state_code", "format").rows() == [
        (date(2024, 3, 4), 1, "Alexanderplatz", "BE", "supermarket"),
        (date(2024, 3, 4), 3, "Marienplatz", "BY", "hypermarket"),
        (date(2024, 3, 5), 2, "Spandau", "BE", "discounter"),
        (date(2024, 4, 1), 1, "Alexanderplatz", "BE", "supermarket"),
    ]
    assert measures(table.lazy()) == [
        (Decimal("3.30"), 4, 2, 3, Decimal("1.65")),
        (Decimal("5.00"), 1, 1, 1, Decimal("5.00")),
        (Decimal("3.50"), 4, 1, 1, Decimal("3.50")),
        (Decimal("10.00"), 1, 1, 1, Decimal("10.00")),
    ]


def test_store_daily_carries_address_coordinates_and_sales_area() -> None:
    table = store_daily().collect()
    assert table.select("store_id", "street", "postcode", "latitude", "longitude", "sales_area_m2").rows() == [
        (1, "Hauptstraße 1", "10101", 52.51, 13.4, 1000),
        (3, "Hauptstraße 3", "10103", 52.53, 13.4, 3000),
        (2, "Hauptstraße 2", "10102", 52.52, 13.4, 2000),
        (1, "Hauptstraße 1", "10101", 52.51, 13.4, 1000),
    ]


def test_yearly_monthly_and_weekly_roll_ups() -> None:
    sd = store_daily()
    assert measures(gold.aggregate_yearly(sd)) == [(Decimal("21.80"), 10, 5, 6, Decimal("4.36"))]
    assert gold.aggregate_monthly(sd).select("year", "month").collect().rows() == [(2024, 3), (2024, 4)]
    assert measures(gold.aggregate_monthly(sd)) == [
        (Decimal("11.80"), 9, 4, 5, Decimal("2.95")),
        (Decimal("10.00"), 1, 1, 1, Decimal("10.00")),
    ]
    weekly = gold.aggregate_weekly(sd)
    assert weekly.select("year", "week_start").collect().rows() == [(2024, date(2024, 3, 4)), (2024, date(2024, 4, 1))]
    assert measures(weekly) == measures(gold.aggregate_monthly(sd))  # here each month is one week


def test_daily_counts_a_basket_once_and_rounds_avg_basket() -> None:
    daily = gold.aggregate_daily(store_daily())
    assert daily.select("date", "month", "weekday").collect().rows() == [
        (date(2024, 3, 4), 3, 1),
        (date(2024, 3, 5), 3, 2),
        (date(2024, 4, 1), 4, 1),
    ]
    # 2024-03-04: baskets 1, 2, 3 for 8.30; 8.30 / 3 = 2.7666... -> 2.77.
    assert measures(daily)[0] == (Decimal("8.30"), 5, 3, 4, Decimal("2.77"))


def test_by_region_sums_stores_of_a_state() -> None:
    region = gold.aggregate_by_region(store_daily())
    assert region.select("state_code", "region").collect().rows() == [("BE", "Ost"), ("BY", "Süd")]
    assert measures(region) == [
        (Decimal("16.80"), 9, 4, 5, Decimal("4.20")),
        (Decimal("5.00"), 1, 1, 1, Decimal("5.00")),
    ]


def test_by_category_counts_baskets_per_category() -> None:
    # Rolled up from the daily region x category table: basket 1 (Bakery and Dairy) counts once in each.
    category = gold.aggregate_by_category(gold.aggregate_region_category_daily(sales()))
    assert category.select("category").collect()["category"].to_list() == ["Bakery", "Dairy & Eggs"]
    # Bakery: 3.00 + 0.20 + 5.00 in baskets 1, 2, 3; Dairy: 0.10 + 3.50 + 10.00 in baskets 1, 4, 5.
    assert measures(category) == [
        (Decimal("8.20"), 4, 3, 3, Decimal("2.73")),
        (Decimal("13.60"), 6, 3, 3, Decimal("4.53")),
    ]


def test_region_category_daily_counts_a_basket_in_each_of_its_categories() -> None:
    table = gold.aggregate_region_category_daily(sales()).collect()
    first_day = table.filter(pl.col("date") == date(2024, 3, 4))
    assert first_day.select("state_code", "category", "revenue", "transactions").rows() == [
        ("BE", "Bakery", Decimal("3.20"), 2),
        ("BE", "Dairy & Eggs", Decimal("0.10"), 1),
        ("BY", "Bakery", Decimal("5.00"), 1),
    ]
    # Basket 1 counts in both of its categories (4 in all) but once in the day's total (3).
    assert first_day["transactions"].sum() == 4
    daily = gold.aggregate_daily(store_daily()).collect()
    assert daily.filter(pl.col("date") == date(2024, 3, 4))["transactions"].item() == 3
    assert first_day["revenue"].sum() == Decimal("8.30")


def test_product_monthly_takes_attributes_from_products() -> None:
    table = gold.aggregate_product_monthly(sales(), products_frame())
    assert table.select("month", "product_id", "product_name", "category", "brand").collect().rows() == [
        (3, 10, "Bread", "Bakery", "Baker"),
        (3, 11, "Milk", "Dairy & Eggs", "Farm"),
        (3, 12, "Cake", "Bakery", "Baker"),
        (4, 13, "Cheese", "Dairy & Eggs", "Farm"),
    ]
    assert measures(table) == [
        (Decimal("3.20"), 3, 2, 2, Decimal("1.60")),
        (Decimal("3.60"), 5, 2, 2, Decimal("1.80")),
        (Decimal("5.00"), 1, 1, 1, Decimal("5.00")),
        (Decimal("10.00"), 1, 1, 1, Decimal("10.00")),
    ]


def test_product_tables_carry_ean_unit_size_vat_class_and_delisting() -> None:
    lines = pl.concat([sales(), silver(sale(6, 1, day=date(2024, 4, 2), product_id=15, unit_price="0.70"))])
    monthly = gold.aggregate_product_monthly(lines, products_frame())
    yearly = gold.aggregate_product_yearly(monthly, products_frame()).collect()
    columns = ("product_id", "ean", "unit_size", "vat_class", "is_active", "delisted_on")
    assert yearly.select(columns).rows()[-2:] == [
        (13, "4000000000013", "1 Stück", "reduced", True, None),
        (15, "4000000000015", "1 Stück", "reduced", False, date(2024, 4, 30)),
    ]
    assert "ean" not in monthly.collect_schema()  # once per product and year is enough


def test_vat_sums_silvers_lines_and_net_revenue_is_the_rest() -> None:
    """Silver's VAT per line (gross * rate / (100 + rate), half up) of the sales' lines at 7 %:
    3.00 -> 0.196 -> 0.20; 0.10 -> 0.007 -> 0.01; 0.20 -> 0.013 -> 0.01; 5.00 -> 0.327 -> 0.33;
    3.50 -> 0.229 -> 0.23; 10.00 -> 0.654 -> 0.65. Together 1.43 of 21.80, leaving 20.37 net."""
    yearly = gold.aggregate_yearly(store_daily()).collect()
    assert yearly.select("revenue", "vat", "net_revenue").rows() == [(*money("21.80", "1.43", "20.37"),)]
    monthly = gold.aggregate_monthly(store_daily()).collect()
    assert monthly.select("month", "vat", "net_revenue").rows() == [
        (3, *money("0.78", "11.02")),  # 0.20 + 0.01 + 0.01 + 0.33 + 0.23
        (4, *money("0.65", "9.35")),
    ]
    # Three lines of 0.08 carry 0.005 each, so a cent each: 0.03, where VAT on their sum would be 0.02.
    three = silver(*(sale(9, n, unit_price="0.08") for n in (1, 2, 3)))
    three_yearly = gold.aggregate_yearly(gold.aggregate_store_daily(three, stores_frame())).collect()
    assert three_yearly.select("vat", "net_revenue").row(0) == (Decimal("0.03"), Decimal("0.21"))
    # The standard rate, and the cut of July to December 2020: 1.19 at 19 % holds 0.19, 1.16 at 16 % 0.16.
    standard = silver(
        sale(1, unit_price="1.19", vat_rate="19.00"),
        sale(2, unit_price="1.16", vat_rate="16.00", day=date(2020, 7, 1)),
        sale(3, unit_price="1.05", vat_rate="5.00", day=date(2020, 7, 1)),
    )
    by_year = gold.aggregate_yearly(gold.aggregate_store_daily(standard, stores_frame())).collect()
    assert by_year.select("year", "vat").rows() == [(2020, Decimal("0.21")), (2024, Decimal("0.19"))]


def test_net_revenue_and_vat_add_up_to_revenue_in_every_table() -> None:
    lines = pl.concat([sales(), silver(sale(7, 1, product_id=14, unit_price="2.38", vat_rate="19.00"))])
    sd = gold.aggregate_store_daily(lines, stores_frame())
    tables = [
        sd,
        gold.aggregate_yearly(sd),
        gold.aggregate_monthly(sd),
        gold.aggregate_weekly(sd),
        gold.aggregate_daily(sd),
        gold.aggregate_by_region(sd),
        gold.aggregate_by_category(gold.aggregate_region_category_daily(lines)),
        gold.aggregate_region_category_daily(lines),
        gold.aggregate_product_monthly(lines, products_frame()),
        gold.aggregate_product_yearly(gold.aggregate_product_monthly(lines, products_frame()), products_frame()),
        gold.top_products_monthly(lines, products_frame()),
    ]
    for table in tables:
        assert gold.vat_identity_violations(table).collect().height == 0
        assert table.select(pl.col("vat").sum()).collect().item() == Decimal("1.81")  # 1.43 + 0.38 (2.38 at 19 %)


def test_vat_identity_violations_names_the_rows_that_do_not_add_up() -> None:
    table = pl.LazyFrame(
        {"day": [1, 2], "revenue": money("1.07", "2.14"), "vat": money("0.07", "0.14"),
         "net_revenue": money("1.00", "1.99")},
        schema={"day": pl.Int8, "revenue": REVENUE, "vat": REVENUE, "net_revenue": REVENUE},
    )  # fmt: skip
    assert gold.vat_identity_violations(table).collect()["day"].to_list() == [2]


def test_money_sums_are_exact() -> None:
    lines = silver(
        sale(1, 1, unit_price="0.10"),
        sale(1, 2, unit_price="0.20"),
        *(sale(2, n, unit_price="0.10") for n in range(1, 11)),
    )
    sd = store_daily(lines)
    assert sd.collect()["revenue"].to_list() == [Decimal("1.30")]
    by_category = gold.aggregate_by_category(gold.aggregate_region_category_daily(lines))
    assert by_category.collect()["revenue"].to_list() == [Decimal("1.30")]
    first = silver(sale(1, 1, unit_price="0.10"), sale(1, 2, unit_price="0.20"))
    assert gold.aggregate_yearly(store_daily(first)).collect()["revenue"].item() == Decimal("0.30")


@pytest.mark.parametrize(
    ("revenue", "transactions", "expected"),
    [
        ("10.00", 3, "3.33"),  # 3.333... rounds down
        ("20.00", 3, "6.67"),  # 6.666... rounds up
        ("1.00", 8, "0.13"),  # 0.125: half rounds away from zero
        ("0.05", 2, "0.03"),  # 0.025
        ("-0.05", 2, "-0.03"),  # away from zero on the negative side too
        ("0.01", 3, "0.00"),
        ("9999999999999999.99", 1, "9999999999999999.99"),  # the largest Decimal(18, 2)
    ],
)
def test_avg_basket_rounds_half_away_from_zero(revenue: str, transactions: int, expected: str) -> None:
    frame = pl.DataFrame(
        {"revenue": [Decimal(revenue)], "transactions": [transactions]},
        schema={"revenue": pl.Decimal(18, 2), "transactions": pl.Int64},
    )
    assert frame.select(gold.avg_basket())["avg_basket"].item() == Decimal(expected)


def test_avg_basket_of_a_roll_up_is_not_an_average_of_averages() -> None:
    # Store 1: one basket of 10.00 (avg 10.00); store 2: three baskets of 1.00 (avg 1.00).
    lines = silver(
        sale(1, store_id=1, unit_price="10.00"),
        *(sale(n, store_id=2) for n in (2, 3, 4)),
    )
    # 13.00 / 4 = 3.25, not (10.00 + 1.00) / 2 = 5.50.
    assert gold.aggregate_yearly(store_daily(lines)).collect()["avg_basket"].item() == Decimal("3.25")


def test_roll_ups_equal_direct_aggregation_of_silver() -> None:
    lines = sales()
    sd = store_daily(lines)
    direct_yearly = lines.group_by("year").agg(gold.line_measures()).with_columns(gold.avg_basket())
    assert measures(gold.aggregate_yearly(sd)) == measures(direct_yearly)
    direct_monthly = lines.group_by("year", "month").agg(gold.line_measures()).with_columns(gold.avg_basket())
    assert measures(gold.aggregate_monthly(sd)) == measures(direct_monthly.sort("month"))
    direct_region = lines.group_by("state_code").agg(gold.line_measures()).with_columns(gold.avg_basket())
    assert measures(gold.aggregate_by_region(sd)) == measures(direct_region.sort("state_code"))


def test_week_spanning_new_year_belongs_to_the_partition_year() -> None:
    lines = silver(
        sale(1, day=date(2025, 1, 1)),  # a Wednesday: its week began Monday 2024-12-30
        sale(2, day=date(2025, 1, 5), unit_price="2.00"),
        sale(3, day=date(2025, 1, 6), unit_price="4.00"),
    )
    weekly = gold.aggregate_weekly(store_daily(lines))
    assert weekly.select("year", "week_start", "revenue", "transactions").collect().rows() == [
        (2025, date(2024, 12, 30), Decimal("3.00"), 2),
        (2025, date(2025, 1, 6), Decimal("4.00"), 1),
    ]


def top_sales() -> pl.LazyFrame:
    """March in Berlin, Bakery: 10 and 12 tie at 9.00, 14 has 5.00 over two lines, 15 has 1.00."""
    return silver(
        sale(1, 1, product_id=15, unit_price="1.00"),
        sale(1, 2, product_id=12, quantity=3, unit_price="3.00"),
        sale(2, 1, product_id=14, unit_price="2.00"),
        sale(3, 1, product_id=10, quantity=9),
        sale(4, 1, product_id=14, unit_price="3.00", store_id=2),
        sale(5, 1, product_id=15, unit_price="2.00", store_id=3),  # Bavaria: a group of its own
        sale(6, 1, product_id=11, unit_price="7.00"),  # Dairy: a group of its own
    )


def test_top_products_ranks_by_revenue_then_product_id() -> None:
    top = gold.top_products_monthly(top_sales(), products_frame(), top_n=2).collect()
    assert top.select("state_code", "category", "product_id", "product_name", "revenue").rows() == [
        ("BE", "Bakery", 10, "Bread", Decimal("9.00")),
        ("BE", "Bakery", 12, "Cake", Decimal("9.00")),
        ("BE", "Dairy & Eggs", 11, "Milk", Decimal("7.00")),
        ("BY", "Bakery", 15, "Pretzel", Decimal("2.00")),
    ]


def test_top_products_sums_lines_across_stores_of_the_state() -> None:
    top = gold.top_products_monthly(top_sales(), products_frame(), top_n=3).collect()
    berlin_bakery = top.filter(pl.col("state_code") == "BE", pl.col("category") == "Bakery")
    assert berlin_bakery.select("product_id", "revenue", "units", "lines").rows() == [
        (10, Decimal("9.00"), 9, 1),
        (12, Decimal("9.00"), 3, 1),
        (14, Decimal("5.00"), 2, 2),
    ]


def test_top_products_daily_ranks_per_day_and_category_across_states() -> None:
    """top_sales() is all on Monday 4 March; one more Pretzel (15) on the 5th. States are summed: Pretzel's 4th
    with 1.00 in Berlin plus 2.00 in Bavaria, Roll (14) 3rd with 2.00 + 3.00 in two Berlin stores."""
    lines = pl.concat([top_sales(), silver(sale(7, 1, day=date(2024, 3, 5), product_id=15, unit_price="4.00"))])
    top = gold.top_products_daily(lines, products_frame(), top_n=2).collect()
    assert top.select("date", "category", "product_id", "revenue", "units", "lines").rows() == [
        (date(2024, 3, 4), "Bakery", 10, Decimal("9.00"), 9, 1),  # ties with Cake at 9.00: the lower id first
        (date(2024, 3, 4), "Bakery", 12, Decimal("9.00"), 3, 1),
        (date(2024, 3, 4), "Dairy & Eggs", 11, Decimal("7.00"), 1, 1),
        (date(2024, 3, 5), "Bakery", 15, Decimal("4.00"), 1, 1),
    ]
    assert top.select("year", "month", "product_name", "brand").row(0) == (2024, 3, "Bread", "Baker")
    four = gold.top_products_daily(lines, products_frame(), top_n=4).collect()
    bakery = four.filter(pl.col("date") == date(2024, 3, 4), pl.col("category") == "Bakery")
    assert bakery.select("product_id", "revenue", "lines").rows() == [
        (10, Decimal("9.00"), 1), (12, Decimal("9.00"), 1), (14, Decimal("5.00"), 2), (15, Decimal("3.00"), 2),
    ]  # fmt: skip
    assert (four["net_revenue"] + four["vat"] == four["revenue"]).all()


def test_product_weekly_keeps_each_categorys_best_but_every_product_of_a_week_spanning_new_year() -> None:
    """Week of 4 March 2024: Bakery 10 (3.00) > 12 (2.00) > 14 (1.00), Dairy 11 (0.50); with one per category
    only 10 and 11 stay. The week of 30 December 2024 spans New Year: 2024's rows (10, 12, 14) and 2025's
    (11, 13, both Dairy) all stay, so the two years' parts of it still sum exactly."""
    lines = silver(
        sale(1, 1, product_id=10, unit_price="3.00"),
        sale(2, 1, day=date(2024, 3, 5), product_id=12, unit_price="2.00"),
        sale(3, 1, day=date(2024, 3, 6), product_id=14, unit_price="1.00"),
        sale(4, 1, day=date(2024, 3, 6), product_id=11, unit_price="0.50"),
        sale(5, 1, day=date(2024, 12, 30), product_id=10, unit_price="0.10"),
        sale(6, 1, day=date(2024, 12, 31), product_id=12, unit_price="0.20"),
        sale(6, 2, day=date(2024, 12, 31), product_id=14, unit_price="0.30"),
        sale(7, 1, day=date(2025, 1, 2), product_id=11, unit_price="2.00"),
        sale(8, 1, day=date(2025, 1, 2), product_id=13, unit_price="1.00"),
    )
    table = gold.aggregate_product_weekly(lines, products_frame(), top_n=1).collect()
    monday, new_year = date(2024, 3, 4), date(2024, 12, 30)
    assert table.select("year", "product_id", "week_start", "revenue").rows() == [
        (2024, 10, monday, Decimal("3.00")),
        (2024, 10, new_year, Decimal("0.10")),
        (2024, 11, monday, Decimal("0.50")),
        (2024, 12, new_year, Decimal("0.20")),
        (2024, 14, new_year, Decimal("0.30")),
        (2025, 11, new_year, Decimal("2.00")),
        (2025, 13, new_year, Decimal("1.00")),
    ]
    every = gold.aggregate_product_weekly(lines, products_frame(), top_n=None).collect()
    assert every.filter(pl.col("week_start") == monday)["product_id"].sort().to_list() == [10, 11, 12, 14]


def test_steps_built_together_equal_their_tables_built_alone() -> None:
    """Tables built in one step share a group-by (and the product steps take silver a month at a time); each
    must come out as it would alone from the whole year. The week of Monday 27 January 2025 spans two months
    (its lines on the 31st and 1 February), the week of 30 December 2024 began in the year before, basket 3
    holds product 10 twice, and Berlin and Bavaria both sell 10 in January (a basket is in one state: the
    counts add up)."""
    lines = silver(
        sale(1, 1, day=date(2025, 1, 1), product_id=10, unit_price="1.00"),
        sale(6, 1, day=date(2025, 1, 15), product_id=10, unit_price="0.25", store_id=3),
        sale(2, 1, day=date(2025, 1, 31), product_id=10, unit_price="2.00"),
        sale(2, 2, day=date(2025, 1, 31), product_id=11, unit_price="0.50"),
        sale(3, 1, day=date(2025, 2, 1), product_id=10, unit_price="3.00", store_id=3),
        sale(3, 2, day=date(2025, 2, 1), product_id=10, unit_price="3.00", store_id=3),
        sale(4, 1, day=date(2025, 3, 10), product_id=12, quantity=2, unit_price="4.00"),
        sale(5, 1, day=date(2025, 12, 29), product_id=13, unit_price="5.00", store_id=2),
    )
    sources = gold.GoldSources(year=2025, silver=lines, products=products_frame())
    steps = [step for step in gold.GOLD_STEPS if len(step.tables) > 1]
    assert {table.name for step in steps for table in step.tables} == {
        "product_monthly_sales", "top_products_monthly", "product_weekly_sales", "top_products_daily",
    }  # fmt: skip
    built = {name: frame for step in steps for name, frame in step.compute(sources).items()}
    for table in (table for step in steps for table in step.tables):
        alone = table.build(sources).collect()
        assert built[table.name].equals(alone.sort(table.order) if table.order else alone), table.name
    week = built["product_weekly_sales"].filter(pl.col("week_start") == date(2025, 1, 27), pl.col("product_id") == 10)
    assert week.select("revenue", "transactions", "lines").rows() == [(Decimal("8.00"), 2, 3)]
    january = built["product_monthly_sales"].filter(pl.col("month") == 1, pl.col("product_id") == 10)
    assert january.select("revenue", "transactions").rows() == [(Decimal("3.25"), 3)]
    assert built["product_weekly_sales"]["week_start"].min() == date(2024, 12, 30)


def test_calendar_days_keeps_the_year() -> None:
    calendar = pl.LazyFrame(
        [
            (date(2024, 1, 1), "BY", 1, True, "Neujahr", False),
            (date(2023, 12, 31), "BE", 7, False, None, False),
            (date(2024, 1, 1), "BE", 1, True, "Neujahr", False),
        ],
        schema=polars_schema(SilverCalendar),
        orient="row",
    )
    days = gold.calendar_days(calendar, 2024).collect()
    CalendarDays.validate(days)
    assert days.select("date", "year", "state_code").rows() == [
        (date(2024, 1, 1), 2024, "BE"),
        (date(2024, 1, 1), 2024, "BY"),
    ]


def test_product_yearly_adds_up_a_products_months() -> None:
    # Bread (10) sells in March (3.00 and 0.20, two baskets) and in April (one basket of 3 at 0.70 = 2.10).
    lines = pl.concat([sales(), silver(sale(6, 1, day=date(2024, 4, 2), product_id=10, quantity=3, unit_price="0.70"))])
    yearly = gold.aggregate_product_yearly(gold.aggregate_product_monthly(lines, products_frame()), products_frame())
    assert yearly.select("year", "product_id", "product_name").collect().rows() == [
        (2024, 10, "Bread"), (2024, 11, "Milk"), (2024, 12, "Cake"), (2024, 13, "Cheese"),
    ]  # fmt: skip
    assert measures(yearly)[0] == (Decimal("5.30"), 6, 3, 3, Decimal("1.77"))


def test_every_table_matches_its_model_and_column_order() -> None:
    lines, sd = sales(), store_daily()
    tables = {
        StoreDailySales: sd,
        YearlySales: gold.aggregate_yearly(sd),
        MonthlySales: gold.aggregate_monthly(sd),
        WeeklySales: gold.aggregate_weekly(sd),
        DailySales: gold.aggregate_daily(sd),
        SalesByRegion: gold.aggregate_by_region(sd),
        SalesByCategory: gold.aggregate_by_category(gold.aggregate_region_category_daily(lines)),
        ProductMonthlySales: gold.aggregate_product_monthly(lines, products_frame()),
        ProductYearlySales: gold.aggregate_product_yearly(
            gold.aggregate_product_monthly(lines, products_frame()), products_frame()
        ),
        RegionCategoryDailySales: gold.aggregate_region_category_daily(lines),
        TopProductsMonthly: gold.top_products_monthly(lines, products_frame()),
        HourlyWeekdaySales: gold.aggregate_hourly_weekday(lines),
        DiscountDepthSales: gold.aggregate_discount_depth(lines),
        ProductWeeklySales: gold.aggregate_product_weekly(lines, products_frame()),
        TopProductsDaily: gold.top_products_daily(lines, products_frame()),
    }
    for model, frame in tables.items():
        collected = frame.collect(engine="streaming")
        assert collected.schema == polars_schema(model), model.__name__
        model.validate(collected, lazy=True)
        assert collected.equals(frame.collect(engine="in-memory")), model.__name__


def test_hourly_weekday_sums_per_weekday_and_hour() -> None:
    """The sales' baskets are at 10:00 on Mondays (1, 2, 3 and 5) and a Tuesday (4); one more at 18:00."""
    lines = pl.concat([sales(), silver(sale(6, 1, day=date(2024, 3, 4), hour=18, unit_price="2.00"))])
    table = gold.aggregate_hourly_weekday(lines).collect()
    assert table.select("year", "weekday", "hour").rows() == [(2024, 1, 10), (2024, 1, 18), (2024, 2, 10)]
    assert measures(table.lazy()) == [
        (Decimal("18.30"), 6, 4, 5, Decimal("4.58")),  # 3.00 + 0.10 + 0.20 + 5.00 + 10.00 over 4 baskets
        (Decimal("2.00"), 1, 1, 1, Decimal("2.00")),
        (Decimal("3.50"), 4, 1, 1, Decimal("3.50")),
    ]


def test_discount_depth_buckets_by_share_of_gross() -> None:
    """Discounts as a share of quantity * unit price; each bucket includes its upper bound."""
    lines = silver(
        sale(1, 1, unit_price="2.00"),  # none
        sale(2, 1, unit_price="2.00", discount="0.20"),  # exactly 10 %: up to 10
        sale(2, 2, quantity=4, unit_price="1.00", discount="0.50"),  # 12.5 %
        sale(3, 1, unit_price="3.00", discount="1.50"),  # exactly 50 %: 30 to 50
        sale(4, 1, unit_price="1.00", discount="0.60"),  # 60 %
    )
    table = gold.aggregate_discount_depth(lines).collect()
    assert table.select("discount_bucket", "revenue", "transactions", "lines").sort("discount_bucket").rows() == [
        ("10_to_20", Decimal("3.50"), 1, 1),
        ("30_to_50", Decimal("1.50"), 1, 1),
        ("none", Decimal("2.00"), 1, 1),
        ("over_50", Decimal("0.40"), 1, 1),
        ("up_to_10", Decimal("1.80"), 1, 1),
    ]


def test_product_weekly_sums_per_iso_week_and_product() -> None:
    """2024-03-04 and -05 fall in the ISO week of Monday 4 March, 2024-04-01 in that of 1 April; 2024-12-31's
    week starts on the 30th (ISO week 1 of 2025), but its row stays in 2024 (as weekly_sales does)."""
    lines = pl.concat([sales(), silver(sale(6, 1, day=date(2024, 12, 31), product_id=10, unit_price="0.50"))])
    table = gold.aggregate_product_weekly(lines, products_frame()).collect()
    assert table.select("year", "product_id", "week_start", "revenue", "transactions").rows() == [
        (2024, 10, date(2024, 3, 4), Decimal("3.20"), 2),
        (2024, 10, date(2024, 12, 30), Decimal("0.50"), 1),
        (2024, 11, date(2024, 3, 4), Decimal("3.60"), 2),
        (2024, 12, date(2024, 3, 4), Decimal("5.00"), 1),
        (2024, 13, date(2024, 4, 1), Decimal("10.00"), 1),
    ]
    assert table.select("product_name", "category").row(0) == ("Bread", "Bakery")
