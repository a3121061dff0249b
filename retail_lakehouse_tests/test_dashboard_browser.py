"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright over the served app.

Clicks down through all four levels and back up by the breadcrumb, filters by a state and a category,
reloads a shared address, and compares what the page shows with sums computed here straight from gold (or,
for the top products of a week and of a day, from silver's lines), read through `retail_lakehouse.catalog`.
The map of Germany must draw all 16 states from the bundled boundaries without a request leaving 127.0.0.1.
Leaves a screenshot in docs/dashboard.png for the README. No Chromium means a failure, not a skip: the test
exists to prove the page works.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from werkzeug.serving import make_server

from dashboard.app import create_app
from retail_lakehouse import catalog

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def dashboard_data_dir(materialized_lakehouse: Path) -> Path:
    """The gold the browser looks at: the real pipeline's two small years (2023-2024).

    To run without the pipeline, return `write_hand_made_gold(tmp_path_factory.mktemp("gold"))` from
    test_dashboard_data instead (hand-written gold for the same two years).
    """
    return materialized_lakehouse


@pytest.fixture(scope="module")
def base_url(dashboard_data_dir: Path) -> Iterator[str]:
    """The app served on a free port of 127.0.0.1 in a background thread, for the module's tests."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = make_server("127.0.0.1", port, create_app(dashboard_data_dir).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser_page(base_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # an ImportError fails the test: no silent skip

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors
        try:
            yield page
        finally:
            browser.close()


def gold(data_dir: Path, table: str) -> pl.DataFrame:
    """The published gold table, read the way any outside reader would."""
    return catalog.scan("gold", table, data_dir=data_dir).collect()


def money(value: Decimal) -> str:
    """Whole euros, German separators: what the key figures show."""
    whole = int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    return f"{whole:,}".replace(",", ".") + " €"


def number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def best_products(data_dir: Path, start: date, end: date, n: int = 10) -> pl.DataFrame:
    """The `n` best sellers of silver's lines between `start` and `end`: product_id, revenue, units."""
    lines = catalog.scan("silver", "transactions", data_dir=data_dir)
    return (
        lines.filter(pl.col("date").is_between(start, end))
        .group_by("product_id")
        .agg(pl.col("line_total").sum().alias("revenue"), pl.col("quantity").sum().alias("units"))
        .sort(["revenue", "product_id"], descending=[True, False])
        .head(n)
        .collect()
    )


def product_names(data_dir: Path, ids: list[int]) -> list[str]:
    products = catalog.scan("silver", "products", data_dir=data_dir).collect()
    names = dict(products.select("product_id", "product_name").iter_rows())
    return [names[i] for i in ids]


def revenue_where(frame: pl.DataFrame, *conditions: pl.Expr) -> Decimal:
    return frame.filter(*conditions)["revenue"].sum() if conditions else frame["revenue"].sum()


def wait_for_heading(page: Any, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#heading')?.innerText || '').startsWith(t)", arg=text, timeout=TIMEOUT_MS
    )
    page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')")


def wait_for_query(page: Any, fragment: str) -> None:
    """Wait for the address to contain `fragment` (set by history.pushState, which is no page load)."""
    page.wait_for_function("f => location.search.includes(f)", arg=fragment)
    page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')")


def query(page: Any) -> str:
    return page.url.split("?", 1)[1] if "?" in page.url else ""


def kpi(page: Any, index: int) -> tuple[str, str]:
    card = page.locator(".kpi").nth(index)
    return card.locator(".kpi-label").inner_text(), card.locator(".kpi-value").inner_text()


def traces(page: Any, graph: str) -> list[dict[str, Any]]:
    # Plotly draws after Dash renders (and loads itself on first use): wait until the graph has its data.
    page.wait_for_function("id => document.querySelector(`#${id} .js-plotly-plot`)?.data", arg=graph)
    return page.evaluate(
        """id => document.querySelector(`#${id} .js-plotly-plot`).data.map(t => ({
            x: Array.from(t.x), y: Array.from(t.y), customdata: t.customdata ? Array.from(t.customdata) : null}))""",
        graph,
    )


def click_bar(page: Any, graph: str, key: str, trace: int = -1) -> None:
    """Click the bar whose customdata is `key`, with real mouse events at its centre."""
    data = traces(page, graph)
    trace_index = trace % len(data)
    point = data[trace_index]["customdata"].index(key)
    bar = page.locator(f"#{graph} .trace.bars").nth(trace_index).locator(".point").nth(point)
    bar.scroll_into_view_if_needed()  # the mouse only reaches what is inside the viewport
    box = bar.bounding_box()
    assert box is not None and box["height"] > 0 and box["width"] > 0, f"bar {key} is not visible"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_drill_down_filters_and_shared_addresses(browser_page: Any, base_url: str, dashboard_data_dir: Path) -> None:
    page = browser_page
    yearly, monthly, daily = (gold(dashboard_data_dir, t) for t in ("yearly_sales", "monthly_sales", "daily_sales"))
    store_daily = gold(dashboard_data_dir, "store_daily_sales")
    region_category = gold(dashboard_data_dir, "region_category_daily_sales")
    calendar_days = gold(dashboard_data_dir, "calendar_days")
    latest = int(yearly["year"].max())
    year = latest - 1

    # The first page shows the latest year's months, with no click.
    page.goto(base_url + "/")
    wait_for_heading(page, str(latest))
    assert kpi(page, 0) == ("REVENUE", money(revenue_where(yearly, pl.col("year") == latest)))
    months_now = traces(page, "trend-graph")[-1]
    expected_months = dict(monthly.filter(pl.col("year") == latest).select("month", "revenue").iter_rows())
    assert months_now["y"] == pytest.approx([float(expected_months.get(m, 0)) for m in range(1, 13)])

    # Up to all years by the breadcrumb, then down: a year, a month, a week, a day.
    page.get_by_role("link", name="All years").click()
    wait_for_heading(page, "All years")
    assert query(page) == "view=all"
    per_year = traces(page, "trend-graph")[0]
    assert per_year["customdata"] == [str(y) for y in sorted(yearly["year"].to_list())]
    assert per_year["y"] == pytest.approx([float(r) for r in yearly.sort("year")["revenue"]])

    click_bar(page, "trend-graph", str(year))
    wait_for_heading(page, str(year))
    assert query(page) == f"year={year}"
    assert kpi(page, 1) == ("TRANSACTIONS", number(int(yearly.filter(pl.col("year") == year)["transactions"].sum())))

    click_bar(page, "trend-graph", f"{year}-03")
    wait_for_heading(page, f"March {year}")
    assert query(page) == f"year={year}&month=3"
    march = daily.filter(pl.col("year") == year, pl.col("month") == 3)
    days = traces(page, "trend-graph")[0]
    expected_days = dict(march.select("date", "revenue").iter_rows())
    shown_days = [date.fromisoformat(d) for d in days["customdata"]]
    assert shown_days[0] == date(year, 3, 1) and shown_days[-1] == date(year, 3, 31)
    assert days["y"] == pytest.approx([float(expected_days.get(d, 0)) for d in shown_days])
    # Sundays and public holidays (in any state) are shaded: one rectangle each.
    closed = calendar_days.filter(
        pl.col("date").dt.year() == year, pl.col("date").dt.month() == 3,
        (pl.col("weekday") == 7) | pl.col("is_public_holiday"),
    )["date"].n_unique()  # fmt: skip
    assert page.evaluate("() => document.querySelector('#trend-graph .js-plotly-plot').layout.shapes.length") == closed
    assert "Sunday" in page.locator("#trend-note").inner_text()

    page.locator(".week-link", has_text=re.compile(r"^11$")).click()
    monday = date.fromisocalendar(year, 11, 1)
    wait_for_heading(page, f"Week 11/{year}")
    assert query(page) == f"week={year}-W11"
    week = traces(page, "trend-graph")[0]
    assert [date.fromisoformat(d) for d in week["customdata"]] == [date.fromordinal(monday.toordinal() + i)
                                                                   for i in range(7)]  # fmt: skip

    sunday = date.fromordinal(monday.toordinal() + 6)
    busiest = (
        daily.filter(pl.col("date").is_between(monday, sunday)).sort("revenue", descending=True).row(0, named=True)
    )
    day = busiest["date"]
    click_bar(page, "trend-graph", day.isoformat())
    wait_for_heading(page, day.strftime("%a %d.%m.%Y"))
    assert query(page) == f"year={day.year}&month={day.month}&day={day.day}"
    assert kpi(page, 0)[1] == money(busiest["revenue"])
    assert kpi(page, 1)[1] == number(busiest["transactions"])
    top_store = store_daily.filter(pl.col("date") == day).sort(["revenue", "store_id"], descending=[True, False])
    assert page.locator("#top-stores tbody tr").first.locator("td").first.inner_text() == top_store["store_name"][0]
    states_shown = traces(page, "state-graph")[0]
    by_state = dict(
        store_daily.filter(pl.col("date") == day).group_by("state_code").agg(pl.col("revenue").sum()).rows()
    )
    assert dict(zip(states_shown["customdata"], states_shown["x"], strict=True)) == pytest.approx(
        {code: float(by_state.get(code, 0)) for code in states_shown["customdata"]}
    )

    # Back up two levels at once by the breadcrumb.
    page.locator(".breadcrumb").get_by_role("link", name=str(year)).click()
    wait_for_heading(page, str(year))
    assert query(page) == f"year={year}"

    # Filters: a click on a state's bar, then a category's; the figures follow, labelled honestly.
    click_bar(page, "state-graph", "BY")
    wait_for_query(page, "state=BY")
    wait_for_heading(page, str(year))
    by_year = store_daily.filter(pl.col("year") == year, pl.col("state_code") == "BY")
    assert kpi(page, 0)[1] == money(by_year["revenue"].sum())
    assert kpi(page, 1) == ("TRANSACTIONS", number(int(by_year["transactions"].sum())))
    assert "Bayern" in page.locator("#state-filter").inner_text()

    click_bar(page, "category-graph", "Bakery")
    wait_for_query(page, "category=Bakery")
    wait_for_heading(page, str(year))
    bakery = region_category.filter(
        pl.col("year") == year, pl.col("state_code") == "BY", pl.col("category") == "Bakery"
    )
    assert kpi(page, 0)[1] == money(bakery["revenue"].sum())
    assert kpi(page, 1) == ("BASKETS CONTAINING BAKERY", number(int(bakery["transactions"].sum())))
    assert "Bakery" in page.locator("#category-filter").inner_text()
    filtered_months = traces(page, "trend-graph")[-1]
    expected = dict(bakery.group_by("month").agg(pl.col("revenue").sum()).rows())
    assert filtered_months["y"] == pytest.approx([float(expected.get(m, 0)) for m in range(1, 13)])

    # The address is the view: reloading it restores level and filters.
    shared = page.url
    assert query(page) == f"year={year}&state=BY&category=Bakery"
    page.reload()
    wait_for_heading(page, str(year))
    assert page.url == shared
    assert kpi(page, 1) == ("BASKETS CONTAINING BAKERY", number(int(bakery["transactions"].sum())))
    assert "Bayern" in page.locator("#state-filter").inner_text()

    # The back button returns to the unfiltered year.
    page.go_back()
    page.go_back()
    page.wait_for_function("() => !location.search.includes('state=')")
    wait_for_heading(page, f"{year} · all federal states · all categories")
    assert kpi(page, 0)[1] == money(revenue_where(yearly, pl.col("year") == year))

    assert page.errors == []


def pick(page: Any, picker: str, option: str | re.Pattern[str]) -> None:
    """Open a picker (Dash's dropdown) and choose the option with that text."""
    page.locator(f"#{picker}").click()
    page.get_by_role("option", name=option).click()


def test_pickers_daily_line_downloads_and_a_closed_day(
    browser_page: Any, base_url: str, dashboard_data_dir: Path, tmp_path: Path
) -> None:
    page = browser_page
    daily = gold(dashboard_data_dir, "daily_sales")
    products = gold(dashboard_data_dir, "product_monthly_sales")
    years = sorted(daily["year"].unique().to_list())
    year, latest = years[-1], years[-1]

    # The year's daily line: every day of the year, zero where nothing was sold, and the 7-day average
    # (rounded half up to the cent) reaching back into the year before.
    page.goto(base_url + f"/?year={year}")
    wait_for_heading(page, str(year))
    per_day, average = traces(page, "daily-graph")
    first, last = date(year, 1, 1), date(year, 12, 31)
    days = [date.fromordinal(first.toordinal() + i) for i in range((last - first).days + 1)]
    assert [date.fromisoformat(d[:10]) for d in per_day["x"]] == days
    cents = {d: int(r * 100) for d, r in daily.select("date", "revenue").iter_rows()}
    assert per_day["y"] == pytest.approx([cents.get(d, 0) / 100 for d in days])
    recorded = set(years)

    def expected_average(day: date) -> float | None:
        window = [date.fromordinal(day.toordinal() - i) for i in range(7)]
        if any(d.year not in recorded for d in window):
            return None
        return (2 * sum(cents.get(d, 0) for d in window) + 7) // 14 / 100

    assert average["y"] == pytest.approx([expected_average(d) for d in days])

    # The year's hour x weekday heatmap: gold's hourly_weekday_sales cell by cell, blank where nothing sold.
    hourly = gold(dashboard_data_dir, "hourly_weekday_sales").filter(pl.col("year") == year)
    expected_cells = {(w, h): float(r) for w, h, r in hourly.select("weekday", "hour", "revenue").iter_rows()}
    page.wait_for_function("() => document.querySelector('#heatmap-graph .js-plotly-plot')?.data")
    cells = page.evaluate(
        """() => { const t = document.querySelector('#heatmap-graph .js-plotly-plot').data[0];
                   return {x: Array.from(t.x), z: Array.from(t.z, row => Array.from(row))}; }"""
    )
    hours = [int(label[:2]) for label in cells["x"]]
    assert hours == list(range(min(h for _, h in expected_cells), max(h for _, h in expected_cells) + 1))
    shown_cells = {
        (weekday, hours[i]): value
        for weekday, row in enumerate(cells["z"], start=1)
        for i, value in enumerate(row)
        if value is not None
    }
    assert shown_cells == pytest.approx(expected_cells)

    # Straight to March by the month picker, to week 11 by the week picker, back to a year by the year picker.
    pick(page, "month-picker", "March")
    wait_for_query(page, f"year={year}&month=3")
    wait_for_heading(page, f"March {year}")
    pick(page, "week-picker", re.compile(r"^Week 11 ·"))
    wait_for_query(page, f"week={year}-W11")
    wait_for_heading(page, f"Week 11/{year}")
    # The week's own top products (from product_weekly_sales), not its month's: silver's lines of the week agree.
    monday = date.fromisocalendar(year, 11, 1)
    week_products = best_products(dashboard_data_dir, monday, date.fromordinal(monday.toordinal() + 6))
    assert page.locator("#top-products h3").inner_text().startswith(f"Top products of Week 11/{year}")
    rows = page.locator("#top-products tbody tr")
    assert [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())] == product_names(
        dashboard_data_dir, week_products["product_id"].to_list()
    )
    pick(page, "year-picker", str(years[0]))
    wait_for_query(page, f"year={years[0]}")
    wait_for_heading(page, str(years[0]))
    assert query(page) == f"year={years[0]}"

    # The top products of a month as CSV: exact sums of product_monthly_sales, best first.
    page.goto(base_url + f"/?year={latest}&month=3")
    wait_for_heading(page, f"March {latest}")
    with page.expect_download() as download:
        page.locator("#top-products button.download").click()
    assert download.value.suggested_filename == f"{latest}-03_top-products.csv"
    saved = tmp_path / "products.csv"
    download.value.save_as(saved)
    shown = pl.read_csv(saved, schema_overrides={"revenue": pl.String})
    march = (
        products.filter(pl.col("year") == latest, pl.col("month") == 3)
        .group_by("product_id")
        .agg(pl.col("revenue").sum(), pl.col("units").sum())
        .sort(["revenue", "product_id"], descending=[True, False])
        .head(10)
    )
    assert shown["rank"].to_list() == list(range(1, 11))
    assert shown["product_id"].to_list() == march["product_id"].to_list()
    assert [Decimal(r) for r in shown["revenue"]] == march["revenue"].to_list()
    assert shown["units"].to_list() == march["units"].to_list()

    # Plotly's toolbar is there, and its camera saves the chart as a PNG.
    with page.expect_download() as picture:
        page.locator("#trend-graph .modebar-btn[data-title='Download plot as a PNG']").click()
    assert picture.value.suggested_filename == "trend-graph.png"

    # A Sunday: a sentence, and no charts drawn for a day without sales.
    sunday = next(d for d in (date(latest, 3, n) for n in range(1, 8)) if d.isoweekday() == 7)
    page.goto(base_url + f"/?year={latest}&month=3&day={sunday.day}")
    page.wait_for_selector("#closed-card")
    assert page.locator("#closed-card").inner_text() == (
        f"Sun {sunday:%d.%m.%Y} was a Sunday: the stores in every federal state were closed, so there were no sales."
    )
    assert page.locator("#charts").is_hidden()
    assert daily.filter(pl.col("date") == sunday).is_empty()  # gold agrees: nothing sold
    assert page.errors == []


def test_nonsense_address_shows_a_message_and_a_way_back(browser_page: Any, base_url: str) -> None:
    page = browser_page
    page.goto(base_url + "/?year=2024&month=13")
    page.wait_for_selector("#message-card")
    assert "There is no month 13" in page.locator("#message-card").inner_text()
    assert "Traceback" not in page.content()
    page.get_by_role("link", name="Back to the latest year").click()
    page.wait_for_function("() => document.querySelector('#message-card') === null")
    assert page.errors == []


def test_a_month_renders_as_a_whole_page(browser_page: Any, base_url: str, dashboard_data_dir: Path, tmp_path) -> None:
    """The README's picture is made at a realistic scale by `scripts/screenshots.py`; here, at test scale."""
    page = browser_page
    latest = int(gold(dashboard_data_dir, "yearly_sales")["year"].max())
    page.goto(base_url + f"/?year={latest}&month=5")
    wait_for_heading(page, f"May {latest}")
    page.wait_for_timeout(500)  # let Plotly finish its transitions
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def test_map_of_germany_and_the_top_products_of_a_day(
    browser_page: Any, base_url: str, dashboard_data_dir: Path, tmp_path: Path
) -> None:
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    store_daily = gold(dashboard_data_dir, "store_daily_sales")
    year = int(store_daily["year"].max())
    march = store_daily.filter(pl.col("year") == year, pl.col("month") == 3)

    # March's map: every state shaded by its revenue in store_daily_sales, every store that sold a dot.
    page.goto(base_url + f"/?year={year}&month=3")
    wait_for_heading(page, f"March {year}")
    page.wait_for_function("() => document.querySelectorAll('#map-graph path.choroplethlocation').length === 16")
    shown = page.evaluate(
        """() => { const [states, stores] = document.querySelector('#map-graph .js-plotly-plot').data;
                   return {codes: Array.from(states.locations), z: Array.from(states.z),
                           lat: Array.from(stores.lat), lon: Array.from(stores.lon)}; }"""
    )
    by_state = dict(march.group_by("state_code").agg(pl.col("revenue").sum()).rows())
    assert len(shown["codes"]) == 16
    assert dict(zip(shown["codes"], shown["z"], strict=True)) == pytest.approx(
        {code: float(by_state.get(code, 0)) for code in shown["codes"]}
    )
    places = march.select("store_id", "latitude", "longitude").unique("store_id")
    assert sorted(zip(shown["lat"], shown["lon"], strict=True)) == sorted(places.select("latitude", "longitude").rows())
    assert page.locator("#map-graph .scattergeo .point").count() == places.height
    outside = [url for url in requested if not url.startswith((base_url, "data:", "blob:"))]
    assert outside == []  # boundaries and plotly.js's basemap stub come from this server

    # A click in Bayern (its shape, or one of its stores drawn over it) filters by it, as a click on its bar does.
    bavaria = page.locator("#map-graph path.choroplethlocation").nth(shown["codes"].index("BY"))
    bavaria.scroll_into_view_if_needed()
    box = bavaria.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_for_query(page, "state=BY")
    wait_for_heading(page, f"March {year}")
    bavarian_stores = march.filter(pl.col("state_code") == "BY")["store_id"].n_unique()
    page.wait_for_function(
        "n => document.querySelector('#map-graph .js-plotly-plot')?.data?.[1]?.lat?.length === n",
        arg=bavarian_stores,
    )

    # The busiest day of March: its own top products (top_products_daily), checked against silver's lines.
    daily = gold(dashboard_data_dir, "daily_sales").filter(pl.col("year") == year, pl.col("month") == 3)
    day = daily.sort(["revenue", "date"], descending=[True, False])["date"][0]
    page.goto(base_url + f"/?year={year}&month=3&day={day.day}")
    wait_for_heading(page, day.strftime("%a %d.%m.%Y"))
    assert page.locator("#top-products h3").inner_text().startswith(f"Top products of {day:%a %d.%m.%Y}")
    expected = best_products(dashboard_data_dir, day, day)
    rows = page.locator("#top-products tbody tr")
    assert [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())] == product_names(
        dashboard_data_dir, expected["product_id"].to_list()
    )
    with page.expect_download() as download:
        page.locator("#top-products button.download").click()
    assert download.value.suggested_filename == f"{day:%Y-%m-%d}_top-products.csv"
    saved = tmp_path / "day.csv"
    download.value.save_as(saved)
    csv = pl.read_csv(saved, schema_overrides={"revenue": pl.String})
    assert csv["product_id"].to_list() == expected["product_id"].to_list()
    assert [Decimal(r) for r in csv["revenue"]] == expected["revenue"].to_list()
    assert csv["units"].to_list() == expected["units"].to_list()
    assert page.errors == []
