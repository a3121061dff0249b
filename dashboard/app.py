"""The Dash app: a fixed layout and one callback that renders the whole view from the address and filters.

One callback rather than a chain: the address is the state (level, period, filters), and every input - the
address itself (links, back button, reload), a filter dropdown, a click on a bar - leads to one new address
and one rendering of it. The callback's work is `render_page`, a plain function of the data dir and those
inputs, which the latency benchmark calls directly. Gold is read only through `dashboard.data`.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dash
import flask
import polars as pl
from dash import ALL, Input, Output, State, dcc, html
from werkzeug.exceptions import InternalServerError

from dashboard import data, figures
from dashboard.data import Filters, Totals
from dashboard.format import change, count, euros
from dashboard.responses import SharedResponses, callback_body, with_address
from dashboard.views import (
    MONTH_NAMES,
    STATE_NAMES,
    BadAddress,
    Period,
    View,
    all_years_period,
    anchor_year,
    breadcrumb,
    comparison,
    day_label,
    drill_target,
    known_filters,
    neighbours,
    parse_view,
    picked_view,
    week_label,
    week_token,
    weeks_of_month,
)
from retail_lakehouse.schemas import CATEGORIES, STATE_CODES
from retail_lakehouse.settings import parse_data_root

GRAPHS = ("trend-graph", "daily-graph", "state-graph", "category-graph", "map-graph")
PICKERS = ("year-picker", "month-picker", "week-picker")
# Plotly's toolbar with its PNG download (at twice the size on screen), without the selection tools.
GRAPH_CONFIG = {
    "displayModeBar": True,
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
# Rendered pages kept per process (a page's components and figures, some tens of kB each).
VIEW_CACHE_SIZE = 512
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}
logger = logging.getLogger(__name__)
BACK_LINK = "← Back to the latest year"
FAILED_HINT = "Something went wrong on the server while drawing it; the details are in the server's log."
NO_GOLD_HINT = "Run `bash scripts/run.sh` (the README's run command) to build the gold tables, then reload this page."


def create_app(data_dir: Path, shared: SharedResponses | None = None, warm_further: bool = False) -> dash.Dash:
    """The dashboard on the gold tables under `data_dir` (which may not exist yet: the page then says so).

    With `shared`, the page's answers are kept there for every worker of the server (see `dashboard.responses`)
    and the start-up warms it with the views analysts open most; with `warm_further` too, then with the views
    one click further (`views_one_click_further`), as the served dashboard does.
    """
    data_dir = parse_data_root(data_dir)
    app = dash.Dash(__name__, title="Retail sales · lakehouse", update_title=None)
    app.layout = _layout()
    app.server.register_error_handler(InternalServerError, _unexpected_error)

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
            "map_title": Output("map-title", "children"),
            "map": Output("map-graph", "figure"),
            "tables": Output("tables", "children"),
            "year_options": Output("year-picker", "options"),
            "year_value": Output("year-picker", "value"),
            "month_options": Output("month-picker", "options"),
            "month_value": Output("month-picker", "value"),
            "week_options": Output("week-picker", "options"),
            "week_value": Output("week-picker", "value"),
            "daily_style": Output("daily-card", "style"),
            "daily_title": Output("daily-title", "children"),
            "daily": Output("daily-graph", "figure"),
            "heatmap_style": Output("heatmap-card", "style"),
            "heatmap_title": Output("heatmap-title", "children"),
            "heatmap": Output("heatmap-graph", "figure"),
            "closed": Output("closed", "children"),
            "charts_style": Output("charts", "style"),
            # Cleared after each click, so clicking the same bar again (after going back) fires again.
            "clicks": [Output(graph, "clickData") for graph in GRAPHS],
        },
        inputs={
            "search": Input("url", "search"),
            "states": Input("state-filter", "value"),
            "categories": Input("category-filter", "value"),
            "clicks": [Input(graph, "clickData") for graph in GRAPHS],
            "picks": [Input(picker, "value") for picker in PICKERS],
        },
    )
    def update(search: Any, states: Any, categories: Any, clicks: list[Any], picks: list[Any]) -> dict[str, Any]:
        try:
            inputs = _page_inputs(search, states, categories, clicks, picks, dash.ctx.triggered_id)
            route, outputs = routed_page(data_dir, *inputs)
            flask.g.route = route  # what `_keep_answer` files the answer under
        except Exception:  # the last line of defence: a sentence and a way back, never an HTTP 500
            logger.exception("drawing the view for %r failed", search)
            outputs = _message("This view could not be drawn", [FAILED_HINT])
        return {name: outputs.get(name, dash.no_update) for name in _OUTPUT_NAMES} | {"clicks": [None] * len(GRAPHS)}

    @app.callback(
        Output("download", "data"),
        Input({"type": "csv", "table": ALL}, "n_clicks"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def download(clicks: Any, search: Any) -> Any:
        trigger = dash.ctx.triggered_id
        pressed = dash.ctx.triggered[0].get("value") if dash.ctx.triggered else None
        if not pressed or not isinstance(trigger, dict):
            return dash.no_update  # a button drawn anew (n_clicks None), not pressed
        try:
            found = table_csv(data_dir, search, trigger.get("table"))
        except Exception:  # as for the page: never an HTTP 500
            logger.exception("the CSV of %r for %r failed", trigger, search)
            return dash.no_update
        return dash.no_update if found is None else dcc.send_string(found[1], found[0], type="text/csv")

    if shared is not None:
        _share_answers(app, data_dir, shared)
    start_up = functools.partial(_start_up, app, data_dir, shared, warm_further)
    threading.Thread(target=start_up, name="gold-preload", daemon=True).start()
    return app


def _page_inputs(
    search: Any, states: Any, categories: Any, clicks: list[Any], picks: list[Any], trigger: object
) -> tuple[Any, Any, Any, object, object, object]:
    """`route_page`'s arguments from the main callback's inputs and the id of the one that changed."""
    click = clicks[GRAPHS.index(trigger)] if trigger in GRAPHS else None
    picked = picks[PICKERS.index(trigger)] if trigger in PICKERS else None
    return search, states, categories, trigger, click, picked


def _share_answers(app: dash.Dash, data_dir: Path, shared: SharedResponses) -> None:
    """Answer the main callback from `shared` when any worker has answered the same route, and keep new answers.

    Before Dash reads a callback request, the request's route (`route_page`, a fraction of a millisecond) is
    looked up; only a request exactly as the page sends it (this callback's outputs and inputs, in order) is
    answered this way, everything else goes to Dash as before. After Dash has answered, the answer is filed
    under the route the callback itself took, so what is kept is what was drawn, for the gold it was drawn from.
    """
    output = next(key for key in app.callback_map if key.startswith("..url.search..."))
    expected = [(i["id"], i["property"]) for i in app.callback_map[output]["inputs"]]

    def page_inputs(body: Any) -> tuple[Any, ...] | None:
        if not isinstance(body, dict) or body.get("output") != output:
            return None
        sent, changed = body.get("inputs"), body.get("changedPropIds", [])
        if not isinstance(sent, list) or not all(isinstance(i, dict) for i in sent):
            return None
        if [(i.get("id"), i.get("property")) for i in sent] != expected or not isinstance(changed, list):
            return None
        if not all(isinstance(c, str) for c in changed) or (changed and changed[0].startswith("{")):
            return None  # a pattern id, which Dash would parse: this page has none
        values = [i.get("value") for i in sent]
        trigger = changed[0].rpartition(".")[0] if changed else None
        clicks, picks = values[3 : 3 + len(GRAPHS)], values[3 + len(GRAPHS) :]
        return _page_inputs(*values[:3], clicks, picks, trigger)

    @app.server.before_request
    def _shared_answer() -> flask.Response | None:
        if flask.request.method != "POST" or not flask.request.path.endswith("/_dash-update-component"):
            return None
        inputs = page_inputs(flask.request.get_json(silent=True))
        if inputs is None:
            return None
        with data.one_published_state(data_dir):
            route = route_page(data_dir, *inputs)
        answer = shared.get(route.generation, route.key()) if isinstance(route, Route) else None
        return None if answer is None else flask.Response(answer, mimetype="application/json")

    @app.server.after_request
    def _keep_answer(response: flask.Response) -> flask.Response:
        route = flask.g.pop("route", None)
        if isinstance(route, Route) and response.status_code == 200 and response.mimetype == "application/json":
            answer = response.get_data()
            shared.put(route.generation, route.key(), answer)
            if not route.notes:  # the same view by link and by click: the other one's answer, for a few bytes
                other = replace(route, search=None if route.search is not None else route.view.search())
                derived = with_address(answer, route.search, other.search)
                if derived is not None:
                    shared.put(other.generation, other.key(), derived)
        return response


def _start_up(app: dash.Dash, data_dir: Path, shared: SharedResponses | None, warm_further: bool = False) -> None:
    """Warm the caches off the request path: gold, then the shared answers (the top levels, then, with
    `warm_further`, the views one click further); a file that cannot be read is reported when a view needs it."""
    started = time.perf_counter()
    try:
        partitions = data.preload(data_dir)
        logger.info("preloaded %d gold tables in %.2f s", partitions, time.perf_counter() - started)
        if shared is None or not partitions:
            return
        started = time.perf_counter()
        drawn = warm_answers(app, data_dir, shared)
        logger.info("warmed the shared answers: drew %d views in %.2f s", drawn, time.perf_counter() - started)
        if warm_further:
            started = time.perf_counter()
            drawn = warm_answers(app, data_dir, shared, views_one_click_further)
            logger.info("warmed one click further: drew %d views in %.2f s", drawn, time.perf_counter() - started)
    except Exception as error:  # a background warm-up must never take the server down
        logger.warning("preloading gold under %s stopped: %s", data_dir, error)


def top_views(years: Sequence[int]) -> list[View]:
    """The views every analyst passes through: all years, each year and each month, without filters."""
    return [View("all"), *(View("year", y) for y in years), *(View("month", y, m) for y in years for m in range(1, 13))]


def views_one_click_further(years: Sequence[int]) -> list[View]:
    """The views one click past `top_views`: all years, each year and each month under one federal state or one
    category (one pick in a dropdown), then each day without filters.

    About 4,300 views for six years, drawn at 30 ms each: a minute of both cores at start-up, against the
    fresh draws that otherwise keep both cores busy under load (`benchmarks.dashboard_load`).
    """
    one_filter = [Filters(states=(code,)) for code in STATE_CODES] + [Filters(categories=(c,)) for c in CATEGORIES]
    top = top_views(years)
    filtered = [view.with_filters(filters) for filters in one_filter for view in top]
    days = [View("day", day.year, day.month, day) for year in years for day in _days_of(year)]
    return filtered + days


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def warm_answers(
    app: dash.Dash, data_dir: Path, shared: SharedResponses, views_of: Callable[[Sequence[int]], list[View]] = top_views
) -> int:
    """Post the requests for `views_of(years)` (the views analysts open most) to the app itself, so their answers
    are shared before anyone asks, by address: the answer to the click that opens a view is derived from it.
    Returns how many views this process drew.

    Each view is claimed in `shared` first, so the workers of a server split the drawing between them.
    """
    with data.one_published_state(data_dir):
        generation = data.gold_generation(data_dir)
        missing, years = _gold_overview(str(data_dir), generation)
    if missing:
        return 0
    client = app.server.test_client()
    dependencies = client.get("/_dash-dependencies").get_json()
    drawn = 0
    for view in views_of(years):
        if shared.claim(generation, repr(view)):
            client.post(
                "/_dash-update-component", json=callback_body(dependencies, {"url.search": view.search()}, None)
            )
            drawn += 1
    return drawn


def _unexpected_error(error: InternalServerError) -> tuple[str, int]:
    """What Flask answers when a request raised: a callback request the app cannot parse is the client's error.

    The callback itself never raises (it draws a message instead), so what reaches here from the callback URL
    is a body Dash could not read (missing inputs, wrong shapes), which deserves a 400 and a sentence.
    """
    if flask.request.path.endswith("/_dash-update-component"):
        return "The dashboard could not read this callback request (not what its page sends).", 400
    return f"<p>Something went wrong on the server. <a href='/'>{BACK_LINK}</a></p>", 500


_OUTPUT_NAMES = (
    "search", "states", "categories", "message", "body_style", "breadcrumb", "heading", "steps", "kpis",
    "trend_title", "week_links", "trend", "trend_note", "state_title", "states_figure", "category_title",
    "categories_figure", "tables", "year_options", "year_value", "month_options", "month_value", "week_options",
    "week_value", "daily_style", "daily_title", "daily", "heatmap_style", "heatmap_title", "heatmap", "closed",
    "charts_style", "map_title", "map",
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
            dcc.Download(id="download"),
            html.Main(
                id="body",
                style=HIDDEN,
                children=[
                    html.Div(
                        className="titlebar",
                        children=[html.Nav(id="breadcrumb", className="breadcrumb"), _pickers(), html.Div(id="steps")],
                    ),
                    html.H2(id="heading"),
                    html.Div(id="closed"),
                    html.Div(id="charts", children=[
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
                        html.Section(id="daily-card", className="card", style=HIDDEN, children=[
                            html.H3(id="daily-title"), _graph("daily-graph", height=300),
                        ]),
                        html.Section(id="heatmap-card", className="card", style=HIDDEN, children=[
                            html.H3(id="heatmap-title"), _graph("heatmap-graph", height=300),
                        ]),
                        html.Div(className="grid", children=[card("state-title", "state-graph"),
                                                             card("category-title", "category-graph")]),
                        html.Section(id="map-card", className="card", children=[
                            html.H3(id="map-title"), _graph("map-graph", height=620),
                        ]),
                        html.Div(id="tables", className="grid"),
                    ]),
                ],
            ),
        ],
    )  # fmt: skip


def _pickers() -> html.Div:
    """Straight to a year, a month or a week, beside the drill-down (options and values follow the view)."""

    def picker(picker_id: str, placeholder: str, width: int) -> dcc.Dropdown:
        return dcc.Dropdown(
            id=picker_id,
            options=[],
            placeholder=placeholder,
            clearable=False,
            searchable=False,
            className="picker",
            style={"width": f"{width}px"},
        )

    return html.Div(
        className="pickers",
        children=[picker("year-picker", "Year", 100), picker("month-picker", "Month", 140),
                  picker("week-picker", "Week", 210)],
    )  # fmt: skip


def _graph(graph_id: str, height: int) -> dcc.Graph:
    # A responsive graph fills its box, so the box needs a fixed height (an inline style: Dash sets one).
    config = GRAPH_CONFIG | {"toImageButtonOptions": GRAPH_CONFIG["toImageButtonOptions"] | {"filename": graph_id}}
    return dcc.Graph(id=graph_id, config=config, figure={}, style={"height": f"{height}px"})


def render_page(data_dir: Path, search: str | None, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Everything the page shows for these inputs, keyed like the callback's outputs (see `route_page`)."""
    return routed_page(data_dir, search, *args, **kwargs)[1]


def routed_page(data_dir: Path, search: str | None, *args: Any, **kwargs: Any) -> tuple[Route | None, dict[str, Any]]:
    """`route_page` and the outputs of its view (the route is None when the page shows a message instead), from
    one published state of gold (see `data.one_published_state`)."""
    with data.one_published_state(data_dir):
        route = route_page(data_dir, search, *args, **kwargs)
        if not isinstance(route, Route):
            return None, route
        outputs = dict(_cached_view(str(data_dir), route.generation, route.years, route.view))  # the cached is shared
    outputs["search"] = dash.no_update if route.search is None else route.search
    if route.notes:
        outputs["message"] = _notice(list(route.notes))
    return route, outputs


@dataclass(frozen=True)
class Route:
    """Where the callback's inputs lead on one publication of gold: the view, the address to write and what was
    ignored. The callback's answer follows from it alone, so it is also the key of the answers workers share."""

    generation: str
    years: tuple[int, ...]
    view: View
    search: str | None  # the address to write, None to leave the address as it is
    notes: tuple[str, ...] = ()

    def key(self) -> str:
        """The route as text, the same in every process (a frozen dataclass of strings, numbers and dates)."""
        return repr((self.view, self.search, self.notes))


def route_page(
    data_dir: Path,
    search: str | None,
    states: list[str] | None = None,
    categories: list[str] | None = None,
    trigger: object = None,
    click: object = None,
    picked: object = None,
) -> Route | dict[str, Any]:
    """The view these inputs ask for, or the outputs of a message when there is none to show.

    `trigger` is the id of the component that changed (None on first load), `click` the clicked graph's
    clickData and `picked` the changed picker's value. An address change renders the address as it is
    (rewriting it would add history entries the back button would bounce on); a filter, a click or a picker
    computes the new view and writes its address. Every input comes from the client as it likes: what does
    not make sense gets a sentence, never an exception.
    """
    generation = data.gold_generation(data_dir)
    missing, years = _gold_overview(str(data_dir), generation)
    if missing:
        present = len(data.GOLD_TABLES) - len(missing)
        detail = f"The gold layer under {data_dir}/gold is " + (
            "missing." if not present else f"incomplete (missing: {', '.join(missing)})."
        )
        return _message("No gold tables yet", [detail, html.Br(), _markdown_code(NO_GOLD_HINT)], link=False)

    shown: View | None = None  # the view the address shows, if any
    try:
        view = shown = parse_view(search, years)
    except BadAddress as error:
        if trigger in (None, "url"):
            return _message("This address shows nothing", [str(error)])
        view = View("year", max(years))  # a filter or click on an error page starts afresh

    notes: list[str] = []
    if trigger in ("state-filter", "category-filter"):
        filters, notes = known_filters(states, categories)
        view = view.with_filters(filters)
    elif (trigger == "trend-graph" and view.level != "day") or trigger == "daily-graph":
        token = _clicked(click)
        if token is not None:
            try:
                view = drill_target(token, view.filters, years)
            except BadAddress as error:
                notes.append(str(error))
    elif trigger in ("state-graph", "category-graph", "map-graph"):
        chosen_states, chosen_categories = view.filters.states, view.filters.categories
        if trigger in ("state-graph", "map-graph"):
            chosen_states = _toggle(chosen_states, _clicked(click))
        else:
            chosen_categories = _toggle(chosen_categories, _clicked(click))
        filters, notes = known_filters(list(chosen_states), list(chosen_categories))
        view = view.with_filters(filters)
    elif trigger in PICKERS:
        try:
            view = picked_view(trigger.removesuffix("-picker"), picked, view, years)  # type: ignore[union-attr, arg-type]
        except BadAddress as error:
            notes.append(str(error))

    written = None if trigger in (None, "url") or view == shown else view.search()
    return Route(generation, years, view, written, tuple(notes))


@functools.lru_cache(maxsize=8)
def _gold_overview(data_dir: Path, generation: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The gold tables still missing and the years gold has, once per publication of gold."""
    missing = tuple(data.missing_tables(data_dir))
    return missing, () if missing else tuple(data.available_years(data_dir))


@functools.lru_cache(maxsize=VIEW_CACHE_SIZE)
def _cached_view(data_dir: Path, generation: str, years: tuple[int, ...], view: View) -> dict[str, Any]:
    """The rendered view, kept per process: the same address on the same publication of gold draws the same page.

    `generation` (from `data.gold_generation`) is only a key: a republished gold is a new key, so a stale page
    is never served, and the least recently used pages fall out. Callers must not modify the dict.
    """
    return _render_view(data_dir, years, view)


def clear_view_cache() -> None:
    """Forget the rendered views of this process (the latency benchmark times drawing, not lookups)."""
    _cached_view.cache_clear()


def _clicked(click: object) -> object:
    """The clicked point's customdata (what the bar opens or filters), or None; clickData is what a client sent."""
    if not isinstance(click, dict):
        return None
    points = click.get("points")
    if not isinstance(points, list) or not points or not isinstance(points[0], dict):
        return None
    return points[0].get("customdata")


def _toggle(selected: tuple[object, ...], key: object) -> tuple[object, ...]:
    if key is None or key == "":
        return selected
    return tuple(s for s in selected if s != key) if key in selected else (*selected, key)


def _markdown_code(text: str) -> dcc.Markdown:
    return dcc.Markdown(text, className="hint")


def _message(title: str, body: list[Any], link: bool = True) -> dict[str, Any]:
    children: list[Any] = [html.H2(title), html.Div(body)]
    if link:
        children.append(dcc.Link(BACK_LINK, href="/", className="back"))
    return {"message": html.Div(children, className="card message", id="message-card"), "body_style": HIDDEN}


def _notice(sentences: list[str]) -> html.Div:
    """What was ignored among the inputs, above a view that is still shown."""
    return html.Div(
        [*(html.P(sentence) for sentence in sentences), dcc.Link(BACK_LINK, href="/", className="back")],
        className="card notice",
        id="notice-card",
    )


def _render_view(data_dir: Path, years: Sequence[int], view: View) -> dict[str, Any]:
    filters = view.filters
    period = all_years_period(years) if view.level == "all" else view.period
    totals = data.period_totals(data_dir, period.start, period.end, filters)
    before, after = neighbours(view, years)
    page = {
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
        **_picker_outputs(view, years),
    }
    closed = _closed_day(data_dir, view, totals)
    if closed is not None:  # a sentence instead of empty charts; the charts below stay as they were, hidden
        return page | {"closed": closed, "charts_style": HIDDEN}

    compared = comparison(view)
    previous: tuple[Totals | None, str] | None = None
    if compared is not None:
        prior, label = compared
        previous = (
            data.period_totals(data_dir, prior.start, prior.end, filters) if prior.touches(years) else None,
            label,
        )
    stores = data.top_stores(data_dir, view.day, filters) if view.day is not None else None
    # One read for the bars and the map: every state's revenue, under the category filter only.
    per_state = data.sales_per_state(data_dir, period.start, period.end, Filters(categories=filters.categories))
    return page | {
        "closed": None,
        "charts_style": SHOWN,
        "kpis": _kpis(totals, previous, filters),
        **_trend(data_dir, years, view, period, stores),
        **_daily(data_dir, view, period),
        **_heatmap(data_dir, years, view),
        "state_title": "By federal state" + (" · " + _categories_note(filters) if filters.categories else ""),
        "states_figure": figures.states_figure(per_state, filters.states),
        **_map(data_dir, period, filters, per_state),
        "category_title": "By category" + (" · " + _states_note(filters) if filters.states else ""),
        "categories_figure": figures.categories_figure(
            data.sales_per_category(data_dir, period.start, period.end, Filters(states=filters.states)),
            CATEGORIES,
            filters.categories,
        ),
        "tables": _tables(data_dir, view, period, stores),
    }


def _picker_outputs(view: View, years: Sequence[int]) -> dict[str, Any]:
    """The pickers' choices (the years gold has; the months and ISO weeks of the view's year) and values."""
    anchor = anchor_year(view, years)
    months = range(1, 13) if anchor in years else range(0)
    mondays = [date.fromisocalendar(anchor, w, 1) for w in range(1, date(anchor, 12, 28).isocalendar().week + 1)]
    weeks = [m for m in mondays if View("week", week=m).period.touches(years)]
    week_value = None
    if view.week is not None:
        week_value = week_token(view.week)
    elif view.day is not None and view.day.isocalendar().year == anchor:
        week_value = week_token(view.day - timedelta(days=view.day.weekday()))
    month_value = view.month
    if view.week is not None:
        thursday = view.week + timedelta(days=3)
        month_value = thursday.month if thursday.year == anchor else None
    return {
        "year_options": [{"label": str(y), "value": y} for y in years],
        "year_value": None if view.level == "all" else anchor,
        "month_options": [{"label": MONTH_NAMES[m], "value": m} for m in months],
        "month_value": month_value,
        "week_options": [
            {
                "label": f"Week {m.isocalendar().week} · {m:%d.%m.}–{m + timedelta(days=6):%d.%m.}",
                "value": week_token(m),
            }
            for m in weeks
        ],
        "week_value": week_value,
    }


def _closed_day(data_dir: Path, view: View, totals: Totals) -> html.Div | None:
    """On a day without sales when every store in the filter was closed (Sunday, holiday): a sentence saying so."""
    if view.level != "day" or view.day is None or totals.lines:
        return None
    marks = data.calendar_marks(data_dir, view.day, view.day, view.filters.states)
    if not marks.height or not marks["all_closed"][0]:
        return None
    mark = marks.row(0, named=True)
    if mark["is_sunday"]:
        reason = "a Sunday" + (f" and {mark['holiday']}" if mark["holiday"] else "")
    else:
        reason = f"a public holiday ({mark['holiday']})"
    states = view.filters.states
    where = "every federal state" if not states else ", ".join(STATE_NAMES[s] for s in states)
    sentence = f"{day_label(view.day)} was {reason}: the stores in {where} were closed, so there were no sales."
    return html.Div(html.P(sentence), className="card closed", id="closed-card")


def _map(data_dir: Path, period: Period, filters: Filters, per_state: pl.DataFrame) -> dict[str, Any]:
    """Germany: revenue per federal state (under the category filter) and the stores (in the filtered states)."""
    title = f"Revenue per federal state and the stores, {period.label} · click a state or store to filter"
    if filters.categories:
        title += f" · states: {_categories_note(filters)}; stores: all categories"
    stores = data.store_sales(data_dir, period.start, period.end, filters)
    return {"map_title": title, "map": figures.map_figure(per_state, stores, filters.states)}


def _daily(data_dir: Path, view: View, period: Period) -> dict[str, Any]:
    """Across a year or all years: revenue per day and its 7-day moving average (hidden at the other levels)."""
    if view.level not in ("all", "year"):
        return {"daily_style": HIDDEN, "daily_title": None, "daily": {}}
    per_day = data.daily_revenue(data_dir, period.start, period.end, view.filters)
    title = f"Revenue per day and its {data.MOVING_AVERAGE_DAYS}-day average, {period.label} · click a day"
    return {"daily_style": SHOWN, "daily_title": title, "daily": figures.daily_figure(per_day)}


def _heatmap(data_dir: Path, years: Sequence[int], view: View) -> dict[str, Any]:
    """Across a year or all years: revenue by hour and weekday (hidden at the other levels)."""
    if view.level not in ("all", "year"):
        return {"heatmap_style": HIDDEN, "heatmap_title": None, "heatmap": {}}
    if view.level == "all":
        per_hour, scope = data.sales_per_hour_and_weekday(data_dir), f"{min(years)}–{max(years)}"
    else:
        assert view.year is not None
        per_hour, scope = data.sales_per_hour_and_weekday(data_dir, [view.year]), str(view.year)
    title = f"Revenue by hour and weekday, {scope}"
    if view.filters.active:  # gold's hour table has no states or categories
        title += " · every state and category (the filters do not apply here)"
    return {"heatmap_style": SHOWN, "heatmap_title": title, "heatmap": figures.heatmap_figure(per_hour)}


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


def _trend(
    data_dir: Path, years: Sequence[int], view: View, period: Period, stores: pl.DataFrame | None
) -> dict[str, Any]:
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


def products_in_view(data_dir: Path, view: View, period: Period) -> tuple[pl.DataFrame, str, bool]:
    """The top products table of the view: its rows, what period they cover, and whether they are exact.

    A week and a day show their own products (`product_weekly_sales`, `top_products_daily`) unless states
    are filtered (those tables have none); then they show their month's products, summed by month in gold.
    """
    if view.level == "all":
        year, month, scope = None, None, f"all years ({period.label})"
    elif view.level == "year":
        year, month, scope = view.year, None, str(view.year)
    elif view.level == "month":
        year, month, scope = view.year, view.month, period.label
    elif view.level == "week" and view.week is not None and not view.filters.states:
        products = data.top_products_of_week(data_dir, view.week, view.filters)
        return products, week_label(view.week), True
    elif view.level == "day" and view.day is not None and not view.filters.states:
        return data.top_products_of_day(data_dir, view.day, view.filters), day_label(view.day), True
    else:
        # A week belongs to the month of its Thursday, as ISO weeks belong to the year of theirs.
        anchor = view.day if view.day is not None else period.start + timedelta(days=3)
        year, month = anchor.year, anchor.month
        what = "day" if view.level == "day" else "week"
        scope = f"{MONTH_NAMES[month]} {year} (the selected {what}'s month: products are summed by month)"
    products = data.top_products(data_dir, year, month, view.filters)
    return products, scope, data.top_products_are_exact(month, view.filters)


def _csv_button(table: str) -> html.Button:
    return html.Button(
        "Download CSV", id={"type": "csv", "table": table}, className="download", title="This table as a CSV file"
    )


def _tables(data_dir: Path, view: View, period: Period, stores: pl.DataFrame | None) -> list[Any]:
    filters = view.filters
    products, scope, exact = products_in_view(data_dir, view, period)
    children: list[Any] = [
        html.Section(
            className="card",
            id="top-products",
            children=[
                html.Div(className="card-head", children=[html.H3(f"Top products of {scope}"),
                                                          _csv_button("products")]),
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
                    html.Div(className="card-head", children=[html.H3(_stores_title(period, filters)),
                                                              _csv_button("stores")]),
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


def table_csv(data_dir: Path, search: object, table: object) -> tuple[str, str] | None:
    """`_table_csv` from one published state of gold (see `data.one_published_state`)."""
    with data.one_published_state(data_dir):
        return _table_csv(data_dir, search, table)


def _table_csv(data_dir: Path, search: object, table: object) -> tuple[str, str] | None:
    """The file name and CSV text of a table the view at `search` shows (`products`, or `stores` on a day).

    Exact figures (revenue to the cent, as gold has it), one row per line of the table in view, the rank
    first. None when the address or table name (both from the client) name no table in view.
    """
    generation = data.gold_generation(data_dir)
    missing, years = _gold_overview(str(data_dir), generation)
    try:
        view = parse_view(search, years) if not missing else None
    except BadAddress:
        view = None
    if view is None:
        return None
    period = all_years_period(years) if view.level == "all" else view.period
    if table == "products":
        rows, _, _ = products_in_view(data_dir, view, period)
    elif table == "stores" and view.day is not None:
        rows = data.top_stores(data_dir, view.day, view.filters)
    else:
        return None
    name = _file_stem(view, period) + f"_top-{table}.csv"
    return name, rows.with_row_index("rank", offset=1).write_csv()


def _file_stem(view: View, period: Period) -> str:
    """`2024-03_BY_Bakery`: the period and filters of a view, for a downloaded file's name."""
    if view.level == "all":
        when = f"{period.start.year}-{period.end.year}"
    elif view.level == "week" and view.week is not None:
        when = week_token(view.week)
    else:
        when = {"year": "{:%Y}", "month": "{:%Y-%m}", "day": "{:%Y-%m-%d}"}[view.level].format(period.start)
    parts = [when, *view.filters.states, *view.filters.categories]
    return "_".join(re.sub(r"[^A-Za-z0-9-]+", "-", part).strip("-") for part in parts)


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
