"""The seed views of issue 13.5 on the hand-made gold of test_dashboard_data: the daily line with its 7-day
average, closed days in a sentence, CSV downloads of the table in view, the year/month/week pickers, the hour x
weekday heatmap and a week's own top products.

Sales in that gold, by day: 2023-03-14 30.00 €; 2024-03-05 7.00 €; 2024-03-12 35.75 €; 2024-04-02 1.10 €, all
Tuesdays, at 10:00, 9:00, 10:00 and 17:00. By ISO week and product: week 10/2024 Bread 7.00 € (2 units);
week 11/2024 Bread 15.50 € (4), Cola 20.25 € (4); week 14/2024 Cola 1.10 € (1); week 11/2023 Cola 30.00 € (5).
Holidays: Epiphany (6 January 2024) in BY only, Good Friday (29 March 2024) in BY and NW.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dash
import polars as pl
import pytest

from dashboard import data
from dashboard.app import _picker_outputs, render_page, table_csv
from dashboard.data import Filters
from dashboard.views import BadAddress, View, picked_view
from retail_lakehouse_tests.test_dashboard_data import measures, write_hand_made_gold, write_table

D = Decimal
YEARS = [2023, 2024]


@pytest.fixture(scope="module")
def gold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hand_made_gold(tmp_path_factory.mktemp("views") / "data")


def test_daily_revenue_has_every_day_and_a_seven_day_average(gold: Path) -> None:
    rows = data.daily_revenue(gold, date(2024, 3, 10), date(2024, 3, 19)).rows()
    assert [r[0] for r in rows] == [date(2024, 3, d) for d in range(10, 20)]
    assert {r[0]: r[1] for r in rows}[date(2024, 3, 12)] == D("35.75")
    assert {r[0]: r[1] for r in rows}[date(2024, 3, 13)] == D("0.00")  # no sales: zero, not missing
    average = {r[0]: r[2] for r in rows}
    assert average[date(2024, 3, 11)] == D("1.00")  # 5..11 March: 7.00 / 7
    assert average[date(2024, 3, 12)] == D("5.11")  # 6..12 March: 35.75 / 7 = 5.107
    assert average[date(2024, 3, 18)] == D("5.11")  # 12..18 March
    assert average[date(2024, 3, 19)] == D("0.00")  # 13..19 March


def test_the_average_needs_seven_recorded_days(gold: Path) -> None:
    first_days = data.daily_revenue(gold, date(2023, 1, 1), date(2023, 1, 8))["revenue_7d_avg"].to_list()
    assert first_days == [None] * 6 + [D("0.00"), D("0.00")]  # 2022 is not in gold: no full window before 7 Jan
    # 1 January 2024 reaches back into 2023, which gold has: a full window.
    assert data.daily_revenue(gold, date(2024, 1, 1), date(2024, 1, 1))["revenue_7d_avg"].to_list() == [D("0.00")]


def test_a_filtered_daily_line_adds_up_the_filtered_sales(gold: Path) -> None:
    nw = data.daily_revenue(gold, date(2024, 3, 12), date(2024, 4, 2), Filters(states=("NW",)))
    assert nw["revenue"].sum() == D("6.10")  # 5.00 on 12 March, 1.10 on 2 April
    assert nw.row(by_predicate=pl.col("date") == date(2024, 3, 18), named=True)["revenue_7d_avg"] == D("0.71")  # 5/7


def test_the_year_and_all_years_views_draw_the_daily_line(gold: Path) -> None:
    year = render_page(gold, "?year=2024")
    assert year["daily_style"] == {} and "7-day average, 2024" in year["daily_title"]
    per_day, average = year["daily"]["data"]
    assert len(per_day["x"]) == 366 and per_day["x"][0] == "2024-01-01"  # a leap year
    assert sum(per_day["y"]) == pytest.approx(43.85)
    assert average["y"][per_day["x"].index("2024-03-12")] == pytest.approx(5.11)
    everything = render_page(gold, "?view=all")
    assert len(everything["daily"]["data"][0]["x"]) == 365 + 366
    assert render_page(gold, "?year=2024&month=3")["daily_style"] == {"display": "none"}


def test_a_click_on_the_daily_line_opens_the_day(gold: Path) -> None:
    click = {"points": [{"customdata": "2024-03-12"}]}
    assert render_page(gold, "?year=2024", None, None, "daily-graph", click)["search"] == "?year=2024&month=3&day=12"


@pytest.mark.parametrize(
    ("search", "sentence"),
    [
        ("?year=2024&month=1&day=7", "Sun 07.01.2024 was a Sunday: the stores in every federal state were closed"),
        ("?year=2024&month=3&day=29", "Fri 29.03.2024 was a public holiday (Good Friday): the stores in every"),
        ("?year=2024&month=1&day=6&state=BY", "Sat 06.01.2024 was a public holiday (Epiphany): the stores in Bayern"),
    ],
)
def test_a_closed_day_says_so_instead_of_drawing_empty_charts(gold: Path, search: str, sentence: str) -> None:
    page = render_page(gold, search)
    assert sentence in str(page["closed"]) and page["charts_style"] == {"display": "none"}
    assert "kpis" not in page and "trend" not in page  # nothing drawn behind the sentence


def test_a_day_closed_only_somewhere_else_is_drawn(gold: Path) -> None:
    page = render_page(gold, "?year=2024&month=1&day=6")  # Epiphany in BY, but NW's stores were open
    assert page["closed"] is None and page["charts_style"] == {}
    assert page["trend"]["layout"]["xaxis"]["rangemode"] == "tozero"  # no sales: an axis from 0 €, not -1 €


def test_csv_of_the_top_products_in_view(gold: Path) -> None:
    name, text = table_csv(gold, "?year=2024&month=3", "products")  # type: ignore[misc]
    assert name == "2024-03_top-products.csv"
    assert text.splitlines() == [
        "rank,product_id,product_name,brand,category,revenue,units",
        "1,1,Bread,Backhaus,Bakery,22.50,6",
        "2,2,Cola,Brause,Beverages,20.25,4",
    ]
    name, text = table_csv(gold, "?year=2024&state=BY&category=Beverages", "products")  # type: ignore[misc]
    assert name == "2024_BY_Beverages_top-products.csv" and text.splitlines()[1:] == [
        "1,2,Cola,Brause,Beverages,20.25,4"
    ]


def test_csv_of_the_top_stores_of_a_day(gold: Path) -> None:
    name, text = table_csv(gold, "?year=2024&month=3&day=12&category=Dairy+%26+Eggs", "stores")  # type: ignore[misc]
    assert name == "2024-03-12_Dairy-Eggs_top-stores.csv"
    assert text.splitlines() == [
        "rank,store_id,store_name,city,state_code,format,revenue,units,transactions,lines,avg_basket",
        "1,1,Markt München,München,BY,supermarket,30.75,7,3,5,10.25",
        "2,2,Markt Köln,Köln,NW,supermarket,5.00,1,1,1,5.00",
    ]


@pytest.mark.parametrize(
    ("search", "table"),
    [("?year=²", "products"), ("?year=2024", "stores"), ("?year=2024", "customers"), (12, {"a": 1}), (None, None)],
)
def test_csv_of_no_table_in_view_is_none(gold: Path, search: Any, table: Any) -> None:
    assert table_csv(gold, search, table) is None


def test_pickers_open_a_year_a_month_or_a_week_with_the_filters_kept() -> None:
    by = Filters(states=("BY",))
    march = View("month", 2024, 3, filters=by)
    assert picked_view("year", 2023, march, YEARS) == View("year", 2023, filters=by)
    assert picked_view("month", 5, View("year", 2023, filters=by), YEARS) == View("month", 2023, 5, filters=by)
    assert picked_view("week", "2024-W11", march, YEARS) == View("week", week=date(2024, 3, 11), filters=by)
    assert picked_view("month", 1, View("all"), YEARS) == View("month", 2024, 1)  # the latest year's months


@pytest.mark.parametrize(
    ("picker", "value", "message"),
    [
        ("month", 13, "There is no month 13"),
        ("year", 2019, "There is no data for 2019"),
        ("week", "2024-W60", "2024 has no week 60"),
        ("year", True, "“True” is not a year to open"),
        ("week", ["2024-W11"], "is not a week to open"),
    ],
)
def test_a_picker_value_no_menu_offers_is_refused(picker: Any, value: Any, message: str) -> None:
    with pytest.raises(BadAddress, match=message):
        picked_view(picker, value, View("year", 2024), YEARS)


def test_pickers_show_the_view_and_offer_its_year() -> None:
    week = _picker_outputs(View("week", week=date(2024, 3, 11)), YEARS)
    assert (week["year_value"], week["month_value"], week["week_value"]) == (2024, 3, "2024-W11")
    assert [o["value"] for o in week["year_options"]] == [2023, 2024]
    assert len(week["month_options"]) == 12 and len(week["week_options"]) == 52
    assert week["week_options"][10] == {"label": "Week 11 · 11.03.–17.03.", "value": "2024-W11"}
    day = _picker_outputs(View("day", 2024, 3, date(2024, 3, 14)), YEARS)
    assert (day["year_value"], day["month_value"], day["week_value"]) == (2024, 3, "2024-W11")
    everything = _picker_outputs(View("all"), YEARS)
    assert (everything["year_value"], everything["month_value"], everything["week_value"]) == (None, None, None)


def test_a_picker_changes_the_address(gold: Path) -> None:
    page = render_page(gold, "?year=2024&state=NW", None, None, "week-picker", None, "2024-W14")
    assert page["search"] == "?week=2024-W14&state=NW" and page["heading"][0].startswith("Week 14/2024")
    refused = render_page(gold, "?year=2024", None, None, "month-picker", None, "13")
    assert "There is no month 13" in str(refused["message"]) and refused["search"] is dash.no_update


def test_hours_and_weekdays_of_a_year_and_of_all_years(gold: Path) -> None:
    columns = ("weekday", "hour", "revenue", "transactions", "avg_basket")
    assert data.sales_per_hour_and_weekday(gold, [2024]).select(columns).rows() == [
        (2, 9, D("7.00"), 1, D("7.00")),
        (2, 10, D("35.75"), 4, D("8.94")),  # 35.75 / 4 = 8.9375
        (2, 17, D("1.10"), 1, D("1.10")),
    ]
    assert data.sales_per_hour_and_weekday(gold).select(columns).rows() == [
        (2, 9, D("7.00"), 1, D("7.00")),
        (2, 10, D("65.75"), 7, D("9.39")),  # 2023's 30.00 in 3 baskets added: 65.75 / 7 = 9.3928...
        (2, 17, D("1.10"), 1, D("1.10")),
    ]


def test_the_year_and_all_years_views_draw_the_heatmap(gold: Path) -> None:
    year = render_page(gold, "?year=2024")
    assert year["heatmap_style"] == {} and year["heatmap_title"] == "Revenue by hour and weekday, 2024"
    (cells,) = year["heatmap"]["data"]
    assert cells["y"] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert cells["x"] == [f"{h:02d}:00" for h in range(9, 18)]  # 9:00 to 17:00, the hours between blank
    tuesday = [None] * 9
    tuesday[0], tuesday[1], tuesday[8] = 7.0, 35.75, 1.1
    assert cells["z"] == [[None] * 9, tuesday] + [[None] * 9] * 5
    everything = render_page(gold, "?view=all&state=BY")
    assert everything["heatmap_title"] == (
        "Revenue by hour and weekday, 2023–2024 · every state and category (the filters do not apply here)"
    )
    assert everything["heatmap"]["data"][0]["z"][1][1] == 65.75
    for search in ("?year=2024&month=3", "?week=2024-W11", "?year=2024&month=3&day=12"):
        assert render_page(gold, search)["heatmap_style"] == {"display": "none"}


def test_a_week_shows_its_own_top_products(gold: Path) -> None:
    def named(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
        return frame.select("product_name", "revenue", "units").rows()

    # March's top product is Bread (22.50 €), but in week 11 Cola sold more.
    assert named(data.top_products_of_week(gold, date(2024, 3, 11))) == [
        ("Cola", D("20.25"), 4),
        ("Bread", D("15.50"), 4),
    ]
    assert named(data.top_products_of_week(gold, date(2024, 3, 4))) == [("Bread", D("7.00"), 2)]
    bakery = Filters(categories=("Bakery",))
    assert named(data.top_products_of_week(gold, date(2024, 3, 11), bakery)) == [("Bread", D("15.50"), 4)]
    assert data.top_products_of_week(gold, date(2024, 3, 18)).height == 0
    name, text = table_csv(gold, "?week=2024-W11", "products")  # type: ignore[misc]
    assert name == "2024-W11_top-products.csv" and text.splitlines()[1:] == [
        "1,2,Cola,Brause,Beverages,20.25,4",
        "2,1,Bread,Backhaus,Bakery,15.50,4",
    ]
    assert "Top products of Week 11/2024 (11.03.–17.03.2024)" in str(render_page(gold, "?week=2024-W11")["tables"])


def test_a_state_filtered_week_shows_its_months_products(gold: Path) -> None:
    # product_weekly_sales has no states: BY's March from top_products_monthly (Cola 20.25 €, Bread 17.50 €).
    _, text = table_csv(gold, "?week=2024-W11&state=BY", "products")  # type: ignore[misc]
    assert text.splitlines()[1:] == ["1,2,Cola,Brause,Beverages,20.25,4", "2,1,Bread,Backhaus,Bakery,17.50,5"]
    assert "Top products of March 2024 (the selected week's month" in str(
        render_page(gold, "?week=2024-W11&state=BY")["tables"]
    )


def test_a_week_across_new_year_sums_both_years_partitions(tmp_path: Path) -> None:
    monday = date(2024, 12, 30)  # week 1 of 2025: Monday and Tuesday in 2024, the rest in 2025
    bread = {"product_id": 1, "product_name": "Bread", "category": "Bakery", "brand": "Backhaus"}
    cola = {"product_id": 2, "product_name": "Cola", "category": "Beverages", "brand": "Brause"}
    write_table(tmp_path, "product_weekly_sales", [
        {"year": 2024, "week_start": monday, **bread, **measures("5.00", 2, 1, 1)},
        {"year": 2025, "week_start": monday, **bread, **measures("3.00", 1, 1, 1)},
        {"year": 2025, "week_start": monday, **cola, **measures("6.00", 3, 2, 2)},
    ])  # fmt: skip
    products = data.top_products_of_week(tmp_path, monday)
    assert products.select("product_name", "revenue", "units").rows() == [
        ("Bread", D("8.00"), 3),
        ("Cola", D("6.00"), 3),
    ]


def test_a_day_shows_its_own_top_products(gold: Path) -> None:
    def named(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
        return frame.select("product_name", "revenue", "units").rows()

    # March's top product is Bread (22.50 €), but on the 12th Cola sold more than Bread (10.50 BY + 5.00 NW).
    assert named(data.top_products_of_day(gold, date(2024, 3, 12))) == [
        ("Cola", D("20.25"), 4),
        ("Bread", D("15.50"), 4),
    ]
    bakery = Filters(categories=("Bakery",))
    assert named(data.top_products_of_day(gold, date(2024, 3, 12), bakery)) == [("Bread", D("15.50"), 4)]
    assert data.top_products_of_day(gold, date(2024, 3, 13)).height == 0
    with pytest.raises(ValueError, match="no federal states"):
        data.top_products_of_day(gold, date(2024, 3, 12), Filters(states=("BY",)))
    with pytest.raises(ValueError, match="a top 11 would not be exact"):
        data.top_products_of_day(gold, date(2024, 3, 12), n=11)
    name, text = table_csv(gold, "?year=2024&month=3&day=12", "products")  # type: ignore[misc]
    assert name == "2024-03-12_top-products.csv" and text.splitlines()[1:] == [
        "1,2,Cola,Brause,Beverages,20.25,4",
        "2,1,Bread,Backhaus,Bakery,15.50,4",
    ]
    assert "Top products of Tue 12.03.2024" in str(render_page(gold, "?year=2024&month=3&day=12")["tables"])
    # With a state: the month's products in that state (BY's March: Cola 20.25 €, Bread 17.50 €), said so.
    _, text = table_csv(gold, "?year=2024&month=3&day=12&state=BY", "products")  # type: ignore[misc]
    assert text.splitlines()[1:] == ["1,2,Cola,Brause,Beverages,20.25,4", "2,1,Bread,Backhaus,Bakery,17.50,5"]
    assert "(the selected day's month" in str(render_page(gold, "?year=2024&month=3&day=12&state=BY")["tables"])


def test_stores_with_their_places_and_the_periods_revenue(gold: Path) -> None:
    march = data.store_sales(gold, date(2024, 3, 1), date(2024, 3, 31))
    assert march.select("store_id", "city", "state_code", "latitude", "longitude", "revenue").rows() == [
        (1, "München", "BY", 48.137, 11.575, D("37.75")),  # 7.00 on the 5th, 30.75 on the 12th
        (2, "Köln", "NW", 50.938, 6.96, D("5.00")),
    ]
    assert data.store_sales(gold, date(2024, 3, 1), date(2024, 3, 31), Filters(states=("NW",)))[
        "store_id"
    ].to_list() == [2]
    assert data.store_sales(gold, date(2023, 1, 1), date(2023, 12, 31))["revenue"].to_list() == [D("30.00")]


def test_the_map_shades_every_state_and_marks_the_stores(gold: Path) -> None:
    page = render_page(gold, "?year=2024&month=3&state=BY&category=Bakery")
    assert page["map_title"] == (
        "Revenue per federal state and the stores, March 2024 · click a state or store to filter · "
        "states: Bakery only; stores: all categories"
    )
    states, stores = page["map"]["data"]
    assert states["type"] == "choropleth" and states["geojson"] == "assets/germany_states.geo.json"
    assert len(states["locations"]) == 16
    shaded = dict(zip(states["locations"], states["z"], strict=True))
    # Bakery in March 2024: BY 7.00 + 10.50, NW 5.00; the other 14 states nothing.
    assert shaded == {code: {"BY": 17.5, "NW": 5.0}.get(code, 0.0) for code in states["locations"]}
    widths = dict(zip(states["locations"], states["marker"]["line"]["width"], strict=True))
    assert widths["BY"] > widths["NW"]  # the filtered state is outlined
    # Only BY's store, with its whole March (all categories).
    assert (stores["lat"], stores["lon"]) == ([48.137], [11.575])
    assert stores["text"] == ["Markt München, München (supermarket): 38 €"]
    geo = page["map"]["layout"]["geo"]
    assert geo["fitbounds"] == "locations" and geo["visible"] is False
    # A click on a state's shape filters by it, as a click on its bar does; a click on nothing changes nothing.
    click = {"points": [{"customdata": "NW"}]}
    assert render_page(gold, "?year=2024&month=3", None, None, "map-graph", click)["search"] == (
        "?year=2024&month=3&state=NW"
    )
    assert stores["customdata"] == ["BY"]  # a click on the store filters by its state
    assert render_page(gold, "?year=2024&month=3", None, None, "map-graph", {"points": [{}]})["search"] is (
        dash.no_update
    )


def test_the_bundled_map_has_each_state_once_small_and_inside_germany() -> None:
    import json

    from dashboard import figures
    from retail_lakehouse.reference import STATE_CODES

    assets = Path(figures.__file__).parent / "assets"
    path = assets / figures.GEOJSON_FILE
    assert path.stat().st_size < 300_000
    collection = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(f["id"] for f in collection["features"]) == sorted(STATE_CODES)
    assert "public domain" in collection["source"]
    for feature in collection["features"]:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        points = [point for polygon in polygons for ring in polygon for point in ring]
        assert all(5.8 <= lon <= 15.1 and 47.2 <= lat <= 55.1 for lon, lat in points), feature["id"]
    # plotly.js's basemap topology under the name the map asks for is stubbed locally, never downloaded.
    assert f'"{figures.GEO_TOPOLOGY}"' in (assets / "plotly_geo_assets.js").read_text(encoding="utf-8")
