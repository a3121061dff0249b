"""The Dash app: a fixed layout and one callback that renders the whole view from the address and filters.

One callback rather than a chain: the address is the state (level, period, filters), and every input - the
address itself (links, back button, reload), a filter dropdown, a click on a bar - leads to one new address
and one rendering of it. The callback's work is `render_page`, a plain function of the data dir and those
inputs, which the latency benchmark calls directly. Gold is read only through `dashboard.data`.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import dash
import polars as pl
from dash import Input, Output, dcc, html

from dashboard import data, figures
from dashboard.data import Filters, Totals
from dashboard.format import change, count, euros
from dashboard.views import (
    MONTH_NAMES,
    STATE_NAMES,
    BadAddress,
    Period,
    View,
    all_years_period,
    breadcrumb,
    comparison,
    drill_target,
    neighbours,
    parse_view,
    week_label,
    weeks_of_month,
)
from retail_lakehouse.schemas import CATEGORIES
from retail_lakehouse.settings import parse_data_root

GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}
GRAPHS = ("trend-graph", "state-graph", "category-graph")
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}
NO_GOLD_HINT = "Run `bash scripts/run.sh` (the README's run command) to build the gold tables, then reload this page."


def create_app(data_dir: Path) -> dash.Dash:
    """The dashboard on the gold tables under `data_dir` (which may not exist yet: the page then says so)."""
    data_dir = parse_data_root(data_dir)
    threading.Thread(target=_preload_gold, args=(data_dir,), name="gold-preload", daemon=True).start()
    app = dash.Dash(__name__, title="Retail sales · lakehouse", update_title=None)
    app.layout = _layout()

    @app.callback(
        output={
            "search": Output("url", "search"),
            "states": Output("state-filter", "value"),
            "categories": Output("category-filter", "value"),
            "message": Output("message", "children"),
            "body_style": Output("body", "style"),
            "breadcrumb": Output("breadcrumb", "children"),
            "heading": Output("heading", "children"),
            "steps": Output("steps", "children"),
            "kpis": Output("kpis", "children"),
            "trend_title": Output("trend-title", "children"),
            "week_links": Output("week-links", "children"),
            "trend": Output("trend-graph", "figure"),
            "trend_note": Output("trend-note", "children"),
            "state_title": Output("state-title", "children"),
            "states_figure": Output("state-graph", "figure"),
            "category_title": Output("category-title", "children"),
            "categories_figure": Output("category-graph", "figure"),
            "tables": Output("tables", "children"),
            # Cleared after each click, so clicking the same bar again (after going back) fires again.
            "clicks": [Output(graph, "clickData") for graph in GRAPHS],
        },
        inputs={
            "search": Input("url", "search"),
            "states": Input("state-filter", "value"),
            "categories": Input("category-filter", "value"),
            "clicks": [Input(graph, "clickData") for graph in GRAPHS],
        },
    )
    def update(search: str | None, states: list[str] | None, categories: list[str] | None, clicks: list[Any]):
        trigger = dash.ctx.triggered_id
        click = clicks[GRAPHS.index(trigger)] if trigger in GRAPHS else None
        outputs = render_page(data_dir, search, states, categories, trigger, click)
        return {name: outputs.get(name, dash.no_update) for name in _OUTPUT_NAMES} | {"clicks": [None] * len(GRAPHS)}

    return app


def _preload_gold(data_dir: Path) -> None:
    """Warm the gold cache off the request path; a file that cannot be read is reported when a view needs it."""
    try:
        data.preload(data_dir)
    except Exception as error:  # a background warm-up must never take the server down
        logging.getLogger(__name__).warning("preloading gold under %s stopped: %s", data_dir, error)


def serve(data_dir: Path, host: str = "127.0.0.1", port: int = 8050, debug: bool = False) -> None:
    """Serve the dashboard until interrupted (localhost only unless `host` says otherwise)."""
    create_app(data_dir).run(host=host, port=port, debug=debug)


_OUTPUT_NAMES = (
    "search", "states", "categories", "message", "body_style", "breadcrumb", "heading", "steps", "kpis",
    "trend_title", "week_links", "trend", "trend_note", "state_title", "states_figure", "category_title",
    "categories_figure", "tables",
)  # fmt: skip


def _layout() -> html.Div:
    def card(title_id: str, graph_id: str) -> html.Section:
        return html.Section(
            className="card",
            children=[html.H3(id=title_id), _graph(graph_id, height=480)],
        )

    return html.Div(
        className="page",
        children=[
            dcc.Location(id="url", refresh=False),
            html.Header(
                className="header",
                children=[
                    html.Div([html.H1("Retail sales"), html.Span("from the lakehouse's gold tables", className="sub")]),
                    html.Div(
                        className="filters",
                        children=[
                            dcc.Dropdown(
                                id="state-filter",
                                options=[{"label": f"{name} ({code})", "value": code} for code, name in
                                         sorted(STATE_NAMES.items(), key=lambda item: item[1])],
                                multi=True,
                                placeholder="All federal states",
                                className="filter",
                            ),
                            dcc.Dropdown(
                                id="category-filter",
                                options=[{"label": c, "value": c} for c in sorted(CATEGORIES)],
                                multi=True,
                                placeholder="All categories",
                                className="filter",
                            ),
                        ],
                    ),
                ],
            ),
            html.Div(id="message"),
            html.Main(
                id="body",
                style=HIDDEN,
                children=[
                    html.Div(
                        className="titlebar",
                        children=[html.Nav(id="breadcrumb", className="breadcrumb"), html.Div(id="steps")],
                    ),
                    html.H2(id="heading"),
                    html.Div(id="kpis", className="kpis"),
                    html.Section(
                        className="card",
                        children=[
                            html.Div(className="card-head", children=[html.H3(id="trend-title"),
                                                                     html.Div(id="week-links")]),
                            _graph("trend-graph", height=360),
                            html.Div(id="trend-note", className="note"),
                        ],
                    ),
                    html.Div(className="grid", children=[card("state-title", "state-graph"),
                                                         card("category-title", "category-graph")]),
                    html.Div(id="tables", className="grid"),
                ],
            ),
        ],
    )  # fmt: skip


def _graph(graph_id: str, height: int) -> dcc.Graph:
    # A responsive graph fills its box, so the box needs a fixed height (an inline style: Dash sets one).
    return dcc.Graph(id=graph_id, config=GRAPH_CONFIG, figure={}, style={"height": f"{height}px"})


# --- rendering ---------------------------------------------------------------------------------------------


def render_page(
    data_dir: Path,
    search: str | None,
    states: list[str] | None = None,
    categories: list[str] | None = None,
    trigger: str | None = None,
    click: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the page shows for these inputs, keyed like the callback's outputs.

    `trigger` is the id of the component that changed (None on first load). An address change renders the
    address as it is (rewriting it would add history entries the back button would bounce on); a filter or a
    click computes the new view and writes its address.
    """
    missing = data.missing_tables(data_dir)
    if missing:
        present = len(data.GOLD_TABLES) - len(missing)
        detail = f"The gold layer under {data_dir}/gold is " + (
            "missing." if not present else f"incomplete (missing: {', '.join(missing)})."
        )
        return _message("No gold tables yet", [detail, html.Br(), _markdown_code(NO_GOLD_HINT)], link=False)

    years = data.available_years(data_dir)
    try:
        view = parse_view(search, years)
    except BadAddress as error:
        if trigger in (None, "url"):
            return _message("This address shows nothing", [str(error)])
        view = View("year", max(years))  # a filter or click on an error page starts afresh

    if trigger in ("state-filter", "category-filter"):
        view = view.with_filters(Filters(tuple(states or ()), tuple(categories or ())))
    elif trigger == "trend-graph" and view.level != "day":
        token = _clicked(click)
        if token:
            view = drill_target(token, view.filters)
    elif trigger == "state-graph":
        view = view.with_filters(Filters(_toggle(view.filters.states, _clicked(click)), view.filters.categories))
    elif trigger == "category-graph":
        view = view.with_filters(Filters(view.filters.states, _toggle(view.filters.categories, _clicked(click))))

    outputs = _render_view(data_dir, years, view)
    outputs["search"] = dash.no_update if trigger in (None, "url") else view.search()
    return outputs


def _clicked(click: dict[str, Any] | None) -> str | None:
    points = (click or {}).get("points") or []
    return points[0].get("customdata") if points else None


def _toggle(selected: tuple[str, ...], key: str | None) -> tuple[str, ...]:
    if not key:
        return selected
    return tuple(s for s in selected if s != key) if key in selected else (*selected, key)


def _markdown_code(text: str) -> dcc.Markdown:
    return dcc.Markdown(text, className="hint")


def _message(title: str, body: list[Any], link: bool = True) -> dict[str, Any]:
    children: list[Any] = [html.H2(title), html.Div(body)]
    if link:
        children.append(dcc.Link("← Back to the latest year", href="/", className="back"))
    return {"message": html.Div(children, className="card message", id="message-card"), "body_style": HIDDEN}


def _render_view(data_dir: Path, years: list[int], view: View) -> dict[str, Any]:
    filters = view.filters
    period = all_years_period(years) if view.level == "all" else view.period
    totals = data.period_totals(data_dir, period.start, period.end, filters)
    compared = comparison(view)
    previous: tuple[Totals | None, str] | None = None
    if compared is not None:
        prior, label = compared
        previous = (
            data.period_totals(data_dir, prior.start, prior.end, filters) if prior.touches(years) else None,
            label,
        )

    stores = data.top_stores(data_dir, view.day, filters) if view.day is not None else None
    before, after = neighbours(view, years)
    return {
        "message": None,
        "body_style": SHOWN,
        "states": list(filters.states),
        "categories": list(filters.categories),
        "breadcrumb": _breadcrumb(view),
        "heading": _heading(view, period),
        "steps": [
            dcc.Link("‹ " + _step_label(before), href=before.href(), className="step") if before else None,
            dcc.Link(_step_label(after) + " ›", href=after.href(), className="step") if after else None,
        ],
        "kpis": _kpis(totals, previous, filters),
        **_trend(data_dir, years, view, period, stores),
        "state_title": "By federal state" + (" · " + _categories_note(filters) if filters.categories else ""),
        "states_figure": figures.states_figure(
            data.sales_per_state(data_dir, period.start, period.end, Filters(categories=filters.categories)),
            filters.states,
        ),
        "category_title": "By category" + (" · " + _states_note(filters) if filters.states else ""),
        "categories_figure": figures.categories_figure(
            data.sales_per_category(data_dir, period.start, period.end, Filters(states=filters.states)),
            CATEGORIES,
            filters.categories,
        ),
        "tables": _tables(data_dir, view, period, stores),
    }


def _breadcrumb(view: View) -> list[Any]:
    trail = breadcrumb(view)
    items: list[Any] = []
    for index, (label, target) in enumerate(trail):
        if index:
            items.append(html.Span("›", className="sep"))
        last = index == len(trail) - 1
        items.append(html.Span(label, className="crumb current") if last else
                     dcc.Link(label, href=target.href(), className="crumb"))  # fmt: skip
    return items


def _step_label(view: View) -> str:
    if view.level == "week" and view.week is not None:
        return f"Week {view.week.isocalendar().week}"
    return view.period.label


def _heading(view: View, period: Period) -> list[Any]:
    filters = view.filters
    scope = [
        ", ".join(STATE_NAMES[s] for s in filters.states) if filters.states else "all federal states",
        ", ".join(filters.categories) if filters.categories else "all categories",
    ]
    title = f"All years, {period.label}" if view.level == "all" else period.label
    return [title, html.Span(" · " + " · ".join(scope), className="scope")]


def _states_note(filters: Filters) -> str:
    return "in " + ", ".join(filters.states)


def _categories_note(filters: Filters) -> str:
    return ", ".join(filters.categories) + " only"


def _kpis(totals: Totals, previous: tuple[Totals | None, str] | None, filters: Filters) -> list[Any]:
    cats = filters.categories
    if not cats:
        baskets, basket_help = "Transactions", "Receipts at the tills"
        average = "Average basket"
    elif len(cats) == 1:
        baskets, basket_help = f"Baskets containing {cats[0]}", "Transactions with at least one line of it"
        average = f"Avg. {cats[0]} spend per basket"
    else:
        baskets = f"Baskets containing each of {len(cats)} categories, summed"
        basket_help = "A basket with lines from two selected categories counts twice"
        average = "Avg. spend per category basket"

    def figure(label: str, value: str, now: Any, prior: Any, help_text: str = "") -> html.Div:
        if previous is None:
            delta, css = "", "delta"
        elif previous[0] is None:
            delta, css = f"no data {previous[1]}", "delta"
        else:
            rel = change(now, prior)
            delta = f"{rel} {previous[1]}" if rel else f"– {previous[1]}"
            css = "delta up" if rel and rel.startswith("+") else ("delta down" if rel and rel[0] == "−" else "delta")
        return html.Div(
            className="kpi",
            title=help_text,
            children=[html.Div(label, className="kpi-label"), html.Div(value, className="kpi-value"),
                      html.Div(delta, className=css)],
        )  # fmt: skip

    prior = previous[0] if previous and previous[0] else None
    return [
        figure("Revenue", euros(totals.revenue), totals.revenue, prior and prior.revenue),
        figure(baskets, count(totals.transactions), totals.transactions, prior and prior.transactions, basket_help),
        figure(average, euros(totals.avg_basket, cents=True), totals.avg_basket, prior and prior.avg_basket),
        figure("Units sold", count(totals.units), totals.units, prior and prior.units),
    ]


def _stores_title(period: Period, filters: Filters) -> str:
    return f"Top stores on {period.label}" + (" (all categories)" if filters.categories else "")


def _trend(data_dir: Path, years: list[int], view: View, period: Period, stores: pl.DataFrame | None) -> dict[str, Any]:
    """The main chart: years, a year's months, a month's or week's days, or a day's top stores."""
    filters = view.filters
    week_links: list[Any] = []
    note: Any = None
    if view.level == "all":
        title = "Revenue per year, with the change against the year before · click a year"
        figure = figures.years_figure(data.sales_per_year(data_dir, filters))
    elif view.level == "year":
        assert view.year is not None
        prior_year = view.year - 1
        previous = data.sales_per_month(data_dir, prior_year, filters) if prior_year in years else None
        title = f"Revenue per month, {view.year}" + (f" vs {prior_year}" if previous is not None else "")
        title += " · click a month"
        current = data.sales_per_month(data_dir, view.year, filters)
        figure = figures.months_figure(current, previous if previous is not None else current.clear(), view.year)
    elif view.level in ("month", "week"):
        title = "Revenue per day · click a day"
        figure = figures.days_figure(
            data.sales_per_day(data_dir, period.start, period.end, filters),
            data.calendar_marks(data_dir, period.start, period.end, filters.states),
        )
        note = "Grey: Sunday · orange: public holiday " + (
            f"in {', '.join(filters.states)}" if filters.states else "in at least one state (hover for which)"
        ) + " · stores are closed on both."  # fmt: skip
        if view.level == "month":
            assert view.year is not None and view.month is not None
            week_links = [html.Span("Weeks:", className="weeks-label")] + [
                dcc.Link(f"{monday.isocalendar().week}", href=View("week", week=monday, filters=filters).href(),
                         className="week-link", title=week_label(monday))
                for monday in weeks_of_month(view.year, view.month)
            ]  # fmt: skip
    else:
        assert view.day is not None and stores is not None
        title = _stores_title(period, filters)
        figure = figures.stores_figure(stores)
        marks = data.calendar_marks(data_dir, view.day, view.day, filters.states)
        closed = marks.filter(marks["all_closed"]) if marks.height else marks
        if closed.height:
            row = closed.row(0, named=True)
            note = f"Stores were closed: {'Sunday' if row['is_sunday'] else row['holiday']}."
        elif marks.height and marks["holiday"][0]:
            note = f"Public holiday in {marks['holiday_states'][0]}: {marks['holiday'][0]} (stores there closed)."
    return {"trend_title": title, "trend": figure, "week_links": week_links, "trend_note": note}


def _tables(data_dir: Path, view: View, period: Period, stores: pl.DataFrame | None) -> list[Any]:
    filters = view.filters
    if view.level == "all":
        year, month, scope = None, None, f"all years ({period.label})"
    elif view.level == "year":
        year, month, scope = view.year, None, str(view.year)
    elif view.level == "month":
        year, month, scope = view.year, view.month, period.label
    else:
        # A week belongs to the month of its Thursday, as ISO weeks belong to the year of theirs.
        anchor = view.day if view.day is not None else period.start + timedelta(days=3)
        year, month = anchor.year, anchor.month
        what = "day" if view.level == "day" else "week"
        scope = f"{MONTH_NAMES[month]} {year} (the selected {what}'s month: products are summed by month)"
    products = data.top_products(data_dir, year, month, filters)
    exact = data.top_products_are_exact(month, filters)
    title = f"Top products of {scope}"
    children: list[Any] = [
        html.Section(
            className="card",
            id="top-products",
            children=[
                html.H3(title),
                _table(
                    ["#", "Product", "Brand", "Category", "Revenue", "Units"],
                    [
                        [str(i), r["product_name"], r["brand"], r["category"], euros(r["revenue"], cents=True),
                         count(r["units"])]
                        for i, r in enumerate(products.iter_rows(named=True), start=1)
                    ],
                    numeric=(0, 4, 5),
                ),
                None if exact else html.P(
                    "With several states or months selected, these are summed from each state's monthly top 25 "
                    "per category: a product's figures can be lower than its true sales.", className="note"),
            ],
        )
    ]  # fmt: skip
    if stores is not None:
        children.append(
            html.Section(
                className="card",
                id="top-stores",
                children=[
                    html.H3(_stores_title(period, filters)),
                    _table(
                        ["Store", "City", "State", "Format", "Revenue", "Transactions", "Avg. basket"],
                        [
                            [r["store_name"], r["city"], r["state_code"], r["format"], euros(r["revenue"], cents=True),
                             count(r["transactions"]), euros(r["avg_basket"], cents=True)]
                            for r in stores.iter_rows(named=True)
                        ],
                        numeric=(4, 5, 6),
                    ),
                ],
            )
        )  # fmt: skip
    return children


def _table(header: list[str], rows: list[list[str]], numeric: tuple[int, ...]) -> html.Table | html.P:
    if not rows:
        return html.P("No sales in this period.", className="note")

    def cell(tag: type[html.Td] | type[html.Th], index: int, text: str) -> html.Td | html.Th:
        return tag(text, className="num" if index in numeric else None)

    return html.Table(
        className="table",
        children=[
            html.Thead(html.Tr([cell(html.Th, i, h) for i, h in enumerate(header)])),
            html.Tbody([html.Tr([cell(html.Td, i, v) for i, v in enumerate(row)]) for row in rows]),
        ],
    )
