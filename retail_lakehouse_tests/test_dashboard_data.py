"""The dashboard's data access on hand-made gold: sums per level, filters, comparisons, reloads, missing gold.

The gold below is small enough to add up in one's head. Two states (BY, NW), two categories, two products
(1 "Bread" in Bakery, 2 "Cola" in Beverages), two stores (1 in BY, 2 in NW). Line by line, per date, state
and category (revenue, units, baskets containing the category, lines):

    2024-03-05  BY Bakery     7.00  2  1  1
    2024-03-12  BY Bakery    10.50  3  2  2   } store 1 had 3 baskets that day: one held bread and cola
    2024-03-12  BY Beverages 20.25  4  2  3   }
    2024-03-12  NW Bakery     5.00  1  1  1
    2024-04-02  NW Beverages  1.10  1  1  1
    2023-03-14  NW Beverages 30.00  5  3  3

Every coarser table is written from these sums by hand, as the pipeline would produce them.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dashboard import data
from dashboard.app import render_page
from dashboard.data import Filters
from dashboard.format import change, count, euros
from dashboard.views import BadAddress, View, comparison, parse_view
from retail_lakehouse.schemas import GOLD_MODELS, polars_schema
from retail_lakehouse_tests.conftest import publish_staged, write_staged

D = Decimal
STATE_NAMES = {"BY": "Bayern", "NW": "Nordrhein-Westfalen"}
STORES = {1: ("Markt München", "München", "BY"), 2: ("Markt Köln", "Köln", "NW")}
PLACES = {1: (48.137, 11.575), 2: (50.938, 6.96)}  # latitude, longitude
PRODUCTS = {1: ("Bread", "Bakery", "Backhaus"), 2: ("Cola", "Beverages", "Brause")}
HOLIDAYS = {date(2024, 1, 6): ("Epiphany", ("BY",)), date(2024, 3, 29): ("Good Friday", ("BY", "NW"))}


def measures(revenue: str, units: int, transactions: int, lines: int) -> dict[str, Any]:
    avg = (D(revenue) / transactions).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    return {"revenue": D(revenue), "units": units, "transactions": transactions, "lines": lines, "avg_basket": avg}


def write_table(data_dir: Path, table: str, rows: list[dict[str, Any]]) -> None:
    """Write and publish `rows` as the table's year partitions, with the contract's exact column types."""
    schema = polars_schema(GOLD_MODELS[table])
    frame = pl.DataFrame([{name: row.get(name) for name in schema} for row in rows], schema=schema, orient="row")
    for (year,), part in frame.group_by("year"):
        write_staged(data_dir, "gold", table, year, part)
        publish_staged(data_dir, "gold", table)  # each year published before the next is written, as runs do


def dated(day: date, **values: Any) -> dict[str, Any]:
    return {"date": day, "year": day.year, "month": day.month, "weekday": day.isoweekday(), **values}


def write_hand_made_gold(data_dir: Path) -> Path:
    """The gold described in the module docstring, in the contract's layout."""
    mar5, mar12, apr2, mar14_23 = date(2024, 3, 5), date(2024, 3, 12), date(2024, 4, 2), date(2023, 3, 14)
    rcd = [
        (mar5, "BY", "Bakery", measures("7.00", 2, 1, 1)),
        (mar12, "BY", "Bakery", measures("10.50", 3, 2, 2)),
        (mar12, "BY", "Beverages", measures("20.25", 4, 2, 3)),
        (mar12, "NW", "Bakery", measures("5.00", 1, 1, 1)),
        (apr2, "NW", "Beverages", measures("1.10", 1, 1, 1)),
        (mar14_23, "NW", "Beverages", measures("30.00", 5, 3, 3)),
    ]
    write_table(data_dir, "region_category_daily_sales", [
        dated(d, state_code=s, region=STATE_NAMES[s], category=c, **m) for d, s, c, m in rcd
    ])  # fmt: skip
    store_days = [
        (mar5, 1, measures("7.00", 2, 1, 1)),
        (mar12, 1, measures("30.75", 7, 3, 5)),
        (mar12, 2, measures("5.00", 1, 1, 1)),
        (apr2, 2, measures("1.10", 1, 1, 1)),
        (mar14_23, 2, measures("30.00", 5, 3, 3)),
    ]
    write_table(data_dir, "store_daily_sales", [
        dated(d, store_id=s, store_name=STORES[s][0], city=STORES[s][1], state_code=STORES[s][2],
              region=STATE_NAMES[STORES[s][2]], format="supermarket", latitude=PLACES[s][0],
              longitude=PLACES[s][1], **m)
        for d, s, m in store_days
    ])  # fmt: skip
    write_table(data_dir, "daily_sales", [
        dated(mar5, **measures("7.00", 2, 1, 1)),
        dated(mar12, **measures("35.75", 8, 4, 6)),
        dated(apr2, **measures("1.10", 1, 1, 1)),
        dated(mar14_23, **measures("30.00", 5, 3, 3)),
    ])  # fmt: skip
    write_table(data_dir, "weekly_sales", [
        {"year": 2024, "week_start": date(2024, 3, 4), **measures("7.00", 2, 1, 1)},
        {"year": 2024, "week_start": date(2024, 3, 11), **measures("35.75", 8, 4, 6)},
        {"year": 2024, "week_start": date(2024, 4, 1), **measures("1.10", 1, 1, 1)},
        {"year": 2023, "week_start": date(2023, 3, 13), **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    write_table(data_dir, "monthly_sales", [
        {"year": 2024, "month": 3, **measures("42.75", 10, 5, 7)},
        {"year": 2024, "month": 4, **measures("1.10", 1, 1, 1)},
        {"year": 2023, "month": 3, **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    write_table(data_dir, "yearly_sales", [
        {"year": 2024, **measures("43.85", 11, 6, 8)},
        {"year": 2023, **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    write_table(data_dir, "sales_by_region", [
        {"year": 2024, "state_code": "BY", "region": "Bayern", **measures("37.75", 9, 4, 6)},
        {"year": 2024, "state_code": "NW", "region": "Nordrhein-Westfalen", **measures("6.10", 2, 2, 2)},
        {"year": 2023, "state_code": "NW", "region": "Nordrhein-Westfalen", **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    write_table(data_dir, "sales_by_category", [
        {"year": 2024, "category": "Bakery", **measures("22.50", 6, 4, 4)},
        {"year": 2024, "category": "Beverages", **measures("21.35", 5, 3, 4)},
        {"year": 2023, "category": "Beverages", **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip

    def product(pid: int) -> dict[str, Any]:
        name, category, brand = PRODUCTS[pid]
        return {"product_id": pid, "product_name": name, "category": category, "brand": brand}

    write_table(data_dir, "product_monthly_sales", [
        {"year": 2024, "month": 3, **product(1), **measures("22.50", 6, 4, 4)},
        {"year": 2024, "month": 3, **product(2), **measures("20.25", 4, 2, 3)},
        {"year": 2024, "month": 4, **product(2), **measures("1.10", 1, 1, 1)},
        {"year": 2023, "month": 3, **product(2), **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    write_table(data_dir, "product_yearly_sales", [
        {"year": 2024, **product(1), **measures("22.50", 6, 4, 4)},
        {"year": 2024, **product(2), **measures("21.35", 5, 3, 4)},
        {"year": 2023, **product(2), **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    top = [
        (2024, 3, "BY", 1, "17.50", 5, 3),
        (2024, 3, "NW", 1, "5.00", 1, 1),
        (2024, 3, "BY", 2, "20.25", 4, 3),
        (2024, 4, "NW", 2, "1.10", 1, 1),
        (2023, 3, "NW", 2, "30.00", 5, 3),
    ]
    write_table(data_dir, "top_products_monthly", [
        {"year": y, "month": m, "state_code": s, **product(p), "revenue": D(r), "units": u, "lines": n}
        for y, m, s, p, r, u, n in top
    ])  # fmt: skip
    # The day's best per category, every state together: 12 March's bread is BY's 10.50 and NW's 5.00.
    write_table(data_dir, "top_products_daily", [
        dated(d, **product(p), revenue=D(r), units=u, lines=n)
        for d, p, r, u, n in [(mar5, 1, "7.00", 2, 1), (mar12, 1, "15.50", 4, 3), (mar12, 2, "20.25", 4, 3),
                              (apr2, 2, "1.10", 1, 1), (mar14_23, 2, "30.00", 5, 3)]
    ])  # fmt: skip
    # Every sale above was on a Tuesday, without discount. Hours: 5 March at 9:00, 12 March at 10:00, 2 April at
    # 17:00, 14 March 2023 at 10:00.
    write_table(data_dir, "hourly_weekday_sales", [
        {"year": 2024, "weekday": 2, "hour": 9, **measures("7.00", 2, 1, 1)},
        {"year": 2024, "weekday": 2, "hour": 10, **measures("35.75", 8, 4, 6)},
        {"year": 2024, "weekday": 2, "hour": 17, **measures("1.10", 1, 1, 1)},
        {"year": 2023, "weekday": 2, "hour": 10, **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    write_table(data_dir, "discount_depth_sales", [
        {"year": 2024, "month": 3, "discount_bucket": "none", **measures("42.75", 10, 5, 7)},
        {"year": 2024, "month": 4, "discount_bucket": "none", **measures("1.10", 1, 1, 1)},
        {"year": 2023, "month": 3, "discount_bucket": "none", **measures("30.00", 5, 3, 3)},
    ])  # fmt: skip
    weekly_products = [
        (date(2024, 3, 4), 10, 1, "7.00", 2, 1, 1),
        (date(2024, 3, 11), 11, 1, "15.50", 4, 3, 3),
        (date(2024, 3, 11), 11, 2, "20.25", 4, 2, 3),
        (date(2024, 4, 1), 14, 2, "1.10", 1, 1, 1),
        (date(2023, 3, 13), 11, 2, "30.00", 5, 3, 3),
    ]
    write_table(data_dir, "product_weekly_sales", [
        {"year": w.year, "week_start": w, "iso_week": iso, **product(p), **measures(r, u, t, n)}
        for w, iso, p, r, u, t, n in weekly_products
    ])  # fmt: skip
    days = [date(2023, 1, 1) + timedelta(days=i) for i in range(731)]
    write_table(data_dir, "calendar_days", [
        {"date": d, "year": d.year, "state_code": s, "weekday": d.isoweekday(),
         "is_public_holiday": s in HOLIDAYS.get(d, ("", ()))[1],
         "holiday_name": HOLIDAYS[d][0] if s in HOLIDAYS.get(d, ("", ()))[1] else None,
         "is_open": d.isoweekday() != 7 and s not in HOLIDAYS.get(d, ("", ()))[1]}
        for d in days for s in ("BY", "NW")
    ])  # fmt: skip
    return data_dir


@pytest.fixture
def gold(tmp_path: Path) -> Path:
    return write_hand_made_gold(tmp_path / "data")


def rows(frame: pl.DataFrame, *columns: str) -> list[tuple[Any, ...]]:
    return frame.select(columns).rows()


MARCH_2024 = (date(2024, 3, 1), date(2024, 3, 31))


def test_years_and_yearly_sums(gold: Path) -> None:
    assert data.missing_tables(gold) == []
    assert data.available_years(gold) == [2023, 2024]
    assert rows(data.sales_per_year(gold), "year", "revenue", "transactions") == [
        (2023, D("30.00"), 3), (2024, D("43.85"), 6),
    ]  # fmt: skip


def test_state_filter_keeps_exact_transactions(gold: Path) -> None:
    by = Filters(states=("BY",))
    # Store 1's baskets: 1 on 5 March, 3 on 12 March (one of them with bread and cola counted once).
    assert rows(data.sales_per_year(gold, by), "year", "revenue", "transactions") == [(2024, D("37.75"), 4)]
    assert rows(data.sales_per_day(gold, *MARCH_2024, by), "date", "revenue", "transactions", "avg_basket") == [
        (date(2024, 3, 5), D("7.00"), 1, D("7.00")),
        (date(2024, 3, 12), D("30.75"), 3, D("10.25")),
    ]
    nw = Filters(states=("NW",))
    assert rows(data.sales_per_month(gold, 2024, nw), "month", "revenue", "units") == [
        (3, D("5.00"), 1),
        (4, D("1.10"), 1),
    ]


def test_category_filter_counts_baskets_containing_the_category(gold: Path) -> None:
    bakery = Filters(categories=("Bakery",))
    assert rows(data.sales_per_year(gold, bakery), "year", "revenue", "transactions") == [(2024, D("22.50"), 4)]
    # Both categories: revenue adds up to the whole month, but the basket holding bread and cola counts twice.
    both = data.period_totals(gold, *MARCH_2024, Filters(categories=("Bakery", "Beverages")))
    assert (both.revenue, both.transactions, both.units, both.lines) == (D("42.75"), 6, 10, 7)
    exact = data.period_totals(gold, *MARCH_2024)
    assert (exact.revenue, exact.transactions, exact.avg_basket) == (D("42.75"), 5, D("8.55"))


def test_state_and_category_filters_combine(gold: Path) -> None:
    totals = data.period_totals(gold, *MARCH_2024, Filters(states=("BY",), categories=("Bakery",)))
    assert (totals.revenue, totals.transactions, totals.units) == (D("17.50"), 3, 5)


def test_breakdowns_by_state_and_category(gold: Path) -> None:
    bakery = Filters(categories=("Bakery",))
    assert rows(data.sales_per_state(gold, *MARCH_2024, bakery), "state_code", "revenue") == [
        ("BY", D("17.50")), ("NW", D("5.00")),
    ]  # fmt: skip
    whole_2024 = (date(2024, 1, 1), date(2024, 12, 31))
    assert rows(data.sales_per_state(gold, *whole_2024), "state_code", "revenue", "transactions") == [
        ("BY", D("37.75"), 4), ("NW", D("6.10"), 2),
    ]  # fmt: skip
    assert rows(data.sales_per_category(gold, *whole_2024), "category", "revenue") == [
        ("Bakery", D("22.50")), ("Beverages", D("21.35")),
    ]  # fmt: skip
    nw = Filters(states=("NW",))
    assert rows(data.sales_per_category(gold, *whole_2024, nw), "category", "revenue") == [
        ("Bakery", D("5.00")), ("Beverages", D("1.10")),
    ]  # fmt: skip


def test_all_years_totals_sum_the_years(gold: Path) -> None:
    totals = data.period_totals(gold, date(2023, 1, 1), date(2024, 12, 31))
    assert (totals.revenue, totals.transactions, totals.units) == (D("73.85"), 9, 16)


def test_previous_period_of_a_month_is_the_same_month_a_year_earlier(gold: Path) -> None:
    view = parse_view("?year=2024&month=3", [2023, 2024])
    compared = comparison(view)
    assert compared is not None
    prior, label = compared
    assert (prior.start, prior.end, label) == (date(2023, 3, 1), date(2023, 3, 31), "vs Mar 2023")
    before = data.period_totals(gold, prior.start, prior.end)
    now = data.period_totals(gold, view.period.start, view.period.end)
    assert change(now.revenue, before.revenue) == "+42,5 %"  # 42.75 / 30.00 = 1.425
    assert change(now.transactions, before.transactions) == "+66,7 %"  # 5 / 3


def test_previous_period_of_a_day_is_the_same_weekday_a_week_earlier(gold: Path) -> None:
    compared = comparison(View("day", 2024, 3, date(2024, 3, 12)))
    assert compared is not None
    assert compared[0].start == compared[0].end == date(2024, 3, 5)
    now = data.period_totals(gold, date(2024, 3, 12), date(2024, 3, 12))
    before = data.period_totals(gold, date(2024, 3, 5), date(2024, 3, 5))
    assert change(now.revenue, before.revenue) == "+410,7 %"  # 35.75 / 7.00 = 5.107


def test_top_products_and_stores(gold: Path) -> None:
    assert rows(data.top_products(gold, 2024, 3), "product_name", "revenue") == [
        ("Bread", D("22.50")), ("Cola", D("20.25")),
    ]  # fmt: skip
    by = Filters(states=("BY",))
    assert rows(data.top_products(gold, 2024, 3, by), "product_name", "revenue") == [
        ("Cola", D("20.25")), ("Bread", D("17.50")),
    ]  # fmt: skip
    assert data.top_products_are_exact(3, by)
    assert not data.top_products_are_exact(None, by)
    assert not data.top_products_are_exact(3, Filters(states=("BY", "NW")))
    assert rows(data.top_products(gold, None), "product_name", "revenue") == [
        ("Cola", D("51.35")), ("Bread", D("22.50")),
    ]  # fmt: skip
    assert rows(data.top_products(gold, 2024), "product_name", "units") == [("Bread", 6), ("Cola", 5)]
    assert rows(data.top_stores(gold, date(2024, 3, 12)), "store_id", "revenue") == [(1, D("30.75")), (2, D("5.00"))]


def test_calendar_marks_holidays_per_state_and_sundays(gold: Path) -> None:
    marks = data.calendar_marks(gold, date(2024, 1, 6), date(2024, 1, 7))
    assert rows(marks, "date", "holiday", "holiday_states", "is_sunday", "all_closed") == [
        (date(2024, 1, 6), "Epiphany", "BY", False, False),
        (date(2024, 1, 7), None, "", True, True),
    ]
    assert rows(data.calendar_marks(gold, date(2024, 1, 6), date(2024, 1, 6), ["NW"]), "holiday") == [(None,)]
    good_friday = data.calendar_marks(gold, date(2024, 3, 29), date(2024, 3, 29))
    assert rows(good_friday, "holiday", "all_closed") == [("Good Friday", True)]


def test_a_republished_table_is_reloaded_and_an_unpublished_one_never_shown(gold: Path) -> None:
    assert data.sales_per_year(gold)["revenue"].to_list() == [D("30.00"), D("43.85")]
    changed = data.read_gold(gold, "yearly_sales", [2024]).with_columns(
        pl.lit(D("99.99")).cast(pl.Decimal(18, 2)).alias("revenue")
    )
    write_staged(gold, "gold", "yearly_sales", 2024, changed)
    assert data.sales_per_year(gold)["revenue"].to_list() == [D("30.00"), D("43.85")]  # written, not published
    publish_staged(gold, "gold", "yearly_sales")
    assert data.sales_per_year(gold)["revenue"].to_list() == [D("30.00"), D("99.99")]


def test_all_years_sums_kept_between_views_follow_a_republished_table(gold: Path) -> None:
    assert rows(data.top_products(gold, None), "product_name", "revenue") == [
        ("Cola", D("51.35")), ("Bread", D("22.50")),
    ]  # fmt: skip
    assert data.store_sales(gold, date(2023, 1, 1), date(2024, 12, 31))["revenue"].sum() == D("73.85")
    bread = data.read_gold(gold, "product_yearly_sales", [2024]).with_columns(
        pl.when(pl.col("product_name") == "Bread").then(D("100.00")).otherwise(pl.col("revenue"))
        .cast(pl.Decimal(18, 2)).alias("revenue")
    )  # fmt: skip
    write_staged(gold, "gold", "product_yearly_sales", 2024, bread)
    publish_staged(gold, "gold", "product_yearly_sales")
    assert rows(data.top_products(gold, None), "product_name", "revenue") == [
        ("Bread", D("100.00")), ("Cola", D("51.35")),
    ]  # fmt: skip


def test_preloaded_gold_is_served_without_reading_files_again(gold: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data.preload(gold) == len(data.GOLD_TABLES)

    def no_reads(*args: Any, **kwargs: Any) -> pl.DataFrame:
        raise AssertionError("a preloaded table was read from disk again")

    monkeypatch.setattr(data.Lakehouse, "scan", no_reads)
    assert data.sales_per_year(gold)["revenue"].to_list() == [D("30.00"), D("43.85")]
    assert rows(data.sales_per_state(gold, *MARCH_2024), "state_code", "revenue") == [
        ("BY", D("37.75")),
        ("NW", D("5.00")),
    ]


def test_missing_gold_is_reported_not_raised(tmp_path: Path) -> None:
    assert data.missing_tables(tmp_path / "nowhere") == list(data.GOLD_TABLES)
    assert data.read_gold(tmp_path / "nowhere", "yearly_sales").is_empty()
    page = render_page(tmp_path / "nowhere", "")
    assert "bash scripts/run.sh" in str(page["message"]) and page["body_style"] == {"display": "none"}


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("?year=2019", "no data for 2019"),
        ("?year=2024&month=13", "no month 13"),
        ("?year=2024&month=2&day=30", "February 2024 has no day 30"),
        ("?year=abc", "“abc” is not a year"),
        ("?year=2024&month=x", "not a month"),
        ("?month=3", "needs a year"),
        ("?week=2024-W99", "not a week"),
        ("?state=XX", "Unknown federal state"),
        ("?category=Toys", "Unknown category"),
    ],
)
def test_nonsense_addresses_are_refused_with_a_message(gold: Path, search: str, message: str) -> None:
    with pytest.raises(BadAddress, match=message):
        parse_view(search, [2023, 2024])
    page = render_page(gold, search)
    assert message in str(page["message"]) and "Back to the latest year" in str(page["message"])


def test_addresses_round_trip_and_default_to_the_latest_year() -> None:
    assert parse_view("", [2023, 2024]) == View("year", 2024)
    for search in (
        "?view=all",
        "?year=2023",
        "?year=2024&month=3&state=BY&state=NW",
        "?year=2024&month=3&day=12&category=Dairy+%26+Eggs",
        "?week=2024-W11",
    ):
        assert parse_view(search, [2023, 2024]).search() == search


def test_rendering_a_filtered_month_shows_the_hand_made_figures(gold: Path) -> None:
    page = render_page(gold, "?year=2024&month=3&state=BY", trigger=None)
    assert page["states"] == ["BY"] and page["body_style"] == {}
    kpis = str(page["kpis"])
    # Store 1 in March: 37.75 € (shown in whole euros), 4 baskets, 37.75 / 4 = 9.4375 per basket.
    assert "38 €" in kpis and "'4'" in kpis and "9,44 €" in kpis


def test_figures_are_formatted_the_german_way() -> None:
    assert euros(D("1234567.49")) == "1.234.567 €"
    assert euros(D("1234567.50")) == "1.234.568 €"
    assert euros(D("23.45"), cents=True) == "23,45 €"
    assert count(1234567) == "1.234.567"
    assert change(D("90"), D("100")) == "−10,0 %"
    assert change(1, 0) is None
