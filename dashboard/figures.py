"""Plotly figures for each view, drawn from the small frames `dashboard.data` returns.

Figures are plain dicts in Plotly's JSON form rather than `plotly.graph_objects`: the graph objects validate
every property on construction, which cost more than reading gold (about 40 ms per page at 100M lines), and
`dcc.Graph` takes either. Revenue becomes a float only here, for plotting; totals and labels are formatted
from Decimal. A bar that drills down or filters carries its target in `customdata` (a period token such as
`2024-03`, or a state code or category), which the callback reads on click.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import plotly.io as pio
import polars as pl

from dashboard.format import PLOTLY_SEPARATORS, change, euros
from dashboard.views import MONTH_ABBR, STATE_NAMES, WEEKDAY_ABBR

Figure = dict[str, Any]

BLUE = "#2563eb"
PALE_BLUE = "#bfdbfe"
GREY = "#cbd5e1"
SUNDAY = "#e2e8f0"
HOLIDAY = "#fed7aa"
HOLIDAY_BAR = "#f97316"
MONEY_HOVER = "%{y:,.0f} €"
TEMPLATE = pio.templates["plotly_white"].to_plotly_json()  # plotly.js needs the template itself, not its name
# The 16 Länder, bundled with the app (dashboard/assets/, served by Dash at /assets/): simplified from
# github.com/isellsoap/deutschlandGeoJSON (2_bundeslaender/4_niedrig.geo.json, public domain, The Unlicense),
# feature ids set to our state codes and coordinates rounded to 3 decimals (36 KB). The browser fetches it
# from this server once; a relative address works under any path prefix.
GEOJSON_FILE = "germany_states.geo.json"
GEOJSON_URL = "assets/" + GEOJSON_FILE
# The basemap topology plotly.js asks for (scope and resolution); assets/plotly_geo_assets.js stubs it.
GEO_SCOPE, GEO_RESOLUTION = "europe", 50
GEO_TOPOLOGY = f"{GEO_SCOPE}_{GEO_RESOLUTION}m"
# Revenue is never negative: an axis from zero, even where every value is zero (Plotly would show -1 to 1).
MONEY_AXIS = {"tickformat": ",.0f", "ticksuffix": " €", "gridcolor": "#eef2f7", "rangemode": "tozero"}


def _figure(traces: list[dict[str, Any]], horizontal: bool = False, **layout: Any) -> Figure:
    """House style; no height or width, since the graphs fill their boxes (sized in the app's layout)."""
    money_axis = "xaxis" if horizontal else "yaxis"
    style = {
        "template": TEMPLATE,
        "separators": PLOTLY_SEPARATORS,
        "margin": {"l": 10, "r": 10, "t": 32, "b": 10},  # room at the top for the toolbar
        "font": {"family": "Inter, system-ui, sans-serif", "size": 12, "color": "#334155"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        "hoverlabel": {"bgcolor": "white"},
        "clickmode": "event",
        "xaxis": {"automargin": True},
        "yaxis": {"automargin": True},
    }
    for axis in ("xaxis", "yaxis"):
        style[axis] |= layout.pop(axis, {}) | (MONEY_AXIS if axis == money_axis else {})
    return {"data": traces, "layout": style | layout}


def _money(values: Sequence[object]) -> list[float]:
    return [float(v) if v is not None else 0.0 for v in values]  # type: ignore[arg-type]


def _revenue_by(frame: pl.DataFrame, key: str) -> dict[Any, float]:
    return dict(zip(frame[key].to_list(), _money(frame["revenue"].to_list()), strict=True))


def _bar(**trace: Any) -> dict[str, Any]:
    return {"type": "bar", "name": "Revenue", "marker": {"color": trace.pop("color", BLUE)}, **trace}


def years_figure(per_year: pl.DataFrame) -> Figure:
    """Revenue per year, each bar labelled with its change against the year before."""
    years = per_year["year"].to_list()
    revenue = per_year["revenue"].to_list()
    by_year = dict(zip(years, revenue, strict=True))
    labels = [change(by_year[y], by_year.get(y - 1)) or "" for y in years]
    bar = _bar(
        x=[str(y) for y in years],
        y=_money(revenue),
        text=labels,
        textposition="outside",
        customdata=[str(y) for y in years],
        hovertemplate="%{x}: " + MONEY_HOVER + " (%{text} vs previous year)<extra></extra>",
    )
    return _figure([bar], xaxis={"type": "category"})


def months_figure(current: pl.DataFrame, previous: pl.DataFrame, year: int) -> Figure:
    """Revenue per month of `year` next to the same months of the year before."""
    months = list(range(1, 13))
    x = [MONTH_ABBR[m] for m in months]
    tokens = [f"{year}-{m:02d}" for m in months]
    bars = []
    for frame, shown_year, color in ((previous, year - 1, GREY), (current, year, BLUE)):
        if frame.height or shown_year == year:
            revenue = _revenue_by(frame, "month")
            bars.append(_bar(
                x=x, y=[revenue.get(m, 0.0) for m in months], name=str(shown_year), color=color, customdata=tokens,
                hovertemplate=f"%{{x}} {shown_year}: {MONEY_HOVER}<extra></extra>",
            ))  # fmt: skip
    return _figure(bars, barmode="group", bargap=0.25, bargroupgap=0.05)


def days_figure(per_day: pl.DataFrame, marks: pl.DataFrame) -> Figure:
    """Revenue per day, Sundays shaded grey and public holidays orange (stores are closed on both).

    `marks` (from `data.calendar_marks`) lists every day of the period, so closed days show as gaps.
    """
    revenue = _revenue_by(per_day, "date")
    days: list[date] = marks["date"].to_list()
    half_day = timedelta(hours=12)  # a bar is centred on its date's midnight

    def edge(day: date, side: int) -> str:
        return (datetime.combine(day, time()) + side * half_day).isoformat()

    colors, notes, shades = [], [], []
    for day, row in zip(days, marks.iter_rows(named=True), strict=True):
        note = ""
        if row["holiday"]:
            everywhere = row["holiday_state_count"] == row["state_count"]
            note = f"{row['holiday']} ({'all states' if everywhere else row['holiday_states']})"
        if row["is_sunday"]:
            note = "Sunday, stores closed" + (f"; {note}" if note else "")
        notes.append(note)
        colors.append(HOLIDAY_BAR if row["holiday"] and not row["is_sunday"] else BLUE)
        if row["is_sunday"] or row["holiday"]:
            shades.append({
                "type": "rect", "xref": "x", "yref": "y domain", "x0": edge(day, -1), "x1": edge(day, 1),
                "y0": 0, "y1": 1, "fillcolor": SUNDAY if row["is_sunday"] else HOLIDAY, "opacity": 0.7,
                "layer": "below", "line": {"width": 0},
            })  # fmt: skip
    bar = _bar(
        x=[d.isoformat() for d in days],
        y=[revenue.get(d, 0.0) for d in days],
        customdata=[d.isoformat() for d in days],
        text=notes,
        textposition="none",
        color=colors,
        hovertemplate="%{x|%a %d.%m.%Y}: " + MONEY_HOVER + "<br>%{text}<extra></extra>",
    )
    xaxis = {"type": "date", "tickformat": "%a<br>%d", "dtick": 86_400_000}
    if days:
        xaxis["range"] = [edge(days[0], -1), edge(days[-1], 1)]
    return _figure([bar], xaxis=xaxis, shapes=shades, bargap=0.15)


def daily_figure(per_day: pl.DataFrame) -> Figure:
    """Revenue per day as a thin line under its 7-day moving average (from `data.daily_revenue`); a click on
    a day opens it. Where the average has no full window it is left out, not drawn as zero."""
    days = [d.isoformat() for d in per_day["date"]]
    average = [None if v is None else float(v) for v in per_day["revenue_7d_avg"]]
    line = {"type": "scatter", "mode": "lines", "x": days, "customdata": days}
    traces = [
        line | {"name": "Revenue per day", "y": _money(per_day["revenue"].to_list()),
                "line": {"color": PALE_BLUE, "width": 1},
                "hovertemplate": "per day: " + MONEY_HOVER + "<extra></extra>"},
        line | {"name": "7-day average", "y": average, "line": {"color": BLUE, "width": 2.5},
                "hovertemplate": "7-day average: " + MONEY_HOVER + "<extra></extra>"},
    ]  # fmt: skip
    return _figure(traces, xaxis={"type": "date", "hoverformat": "%a %d.%m.%Y"}, hovermode="x unified")


def heatmap_figure(per_hour: pl.DataFrame) -> Figure:
    """Revenue per weekday (rows, Monday on top, Sunday kept) and hour (columns, the hours with any sales);
    a blank cell is an hour without sales, not zero drawn as a colour."""
    revenue = {(r["weekday"], r["hour"]): float(r["revenue"]) for r in per_hour.iter_rows(named=True)}
    sold_hours = sorted({hour for _, hour in revenue})
    hours = list(range(sold_hours[0], sold_hours[-1] + 1)) if sold_hours else []
    trace = {
        "type": "heatmap",
        "x": [f"{hour:02d}:00" for hour in hours],
        "y": list(WEEKDAY_ABBR),
        "z": [[revenue.get((weekday, hour)) for hour in hours] for weekday in range(1, 8)],
        "colorscale": [[0, "#eff6ff"], [1, BLUE]],
        "hoverongaps": False,
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"tickformat": ",.0f", "ticksuffix": " €", "thickness": 12},
        "hovertemplate": "%{y} %{x}: %{z:,.0f} €<extra></extra>",
    }
    figure = _figure([trace])
    figure["layout"]["xaxis"] = {"automargin": True, "type": "category"}
    figure["layout"]["yaxis"] = {"automargin": True, "type": "category", "autorange": "reversed"}
    return figure


def stores_figure(stores: pl.DataFrame) -> Figure:
    """The day's top stores by revenue, best on top."""
    rows = list(reversed(stores.rows(named=True)))
    bar = _bar(
        y=[f"{r['store_name']} ({r['state_code']})" for r in rows],
        x=_money([r["revenue"] for r in rows]),
        orientation="h",
        hovertemplate="%{y}: %{x:,.2f} €<extra></extra>",
    )
    return _figure([bar], horizontal=True)


def states_figure(per_state: pl.DataFrame, selected: Sequence[str]) -> Figure:
    """Revenue per federal state (all 16, zero where none), the filtered ones highlighted; click filters."""
    revenue = _revenue_by(per_state, "state_code")
    codes = sorted(STATE_NAMES, key=lambda code: (revenue.get(code, 0.0), code))
    return _breakdown([STATE_NAMES[c] for c in codes], [revenue.get(c, 0.0) for c in codes], codes, selected)


def map_figure(per_state: pl.DataFrame, stores: pl.DataFrame, selected: Sequence[str]) -> Figure:
    """Germany's federal states shaded by revenue (all 16, zero where none), the filtered ones outlined, and the
    stores as dots sized by their revenue; a click on a state, or on a store in it, filters by the state.

    Only the bundled Länder are drawn (no basemap, nothing fetched from the internet); the view fits them.
    """
    revenue = _revenue_by(per_state, "state_code")
    codes = sorted(STATE_NAMES)
    states = {
        "type": "choropleth",
        "geojson": GEOJSON_URL,
        "locations": codes,
        "z": [revenue.get(code, 0.0) for code in codes],
        "zmin": 0,
        "customdata": codes,
        "text": [STATE_NAMES[code] for code in codes],
        "colorscale": [[0, "#eff6ff"], [1, BLUE]],
        "marker": {"line": {"color": ["#0f172a" if code in selected else "white" for code in codes],
                            "width": [2.5 if code in selected else 0.8 for code in codes]}},
        "colorbar": {"tickformat": ",.0f", "ticksuffix": " €", "thickness": 12, "len": 0.8},
        "hovertemplate": "%{text}: %{z:,.0f} €<extra>click to filter</extra>",
        "name": "Revenue",
    }  # fmt: skip
    largest = max(_money(stores["revenue"].to_list()), default=0.0) or 1.0
    dots = {
        "type": "scattergeo",
        "mode": "markers",
        "name": "Stores",
        "lat": stores["latitude"].to_list(),
        "lon": stores["longitude"].to_list(),
        # A store's state code: a click on a store filters by its state (the dots cover much of a state's area).
        "customdata": stores["state_code"].to_list(),
        "text": [
            f"{r['store_name']}, {r['city']} ({r['format']}): {euros(r['revenue'])}"
            for r in stores.iter_rows(named=True)
        ],
        "marker": {
            "size": [4 + 10 * (value / largest) ** 0.5 for value in _money(stores["revenue"].to_list())],
            "color": "#f97316",
            "opacity": 0.8,
            "line": {"color": "white", "width": 0.5},
        },
        "hovertemplate": "%{text}<extra>store</extra>",
    }
    figure = _figure([states, dots], showlegend=False)
    figure["layout"]["geo"] = {
        "visible": False,
        "fitbounds": "locations",
        "projection": {"type": "mercator"},
        "scope": GEO_SCOPE,
        "resolution": GEO_RESOLUTION,
        "bgcolor": "rgba(0,0,0,0)",
    }
    return figure


def categories_figure(per_category: pl.DataFrame, categories: Sequence[str], selected: Sequence[str]) -> Figure:
    """Revenue per category (all of them), the filtered ones highlighted; click filters."""
    revenue = _revenue_by(per_category, "category")
    ordered = sorted(categories, key=lambda c: (revenue.get(c, 0.0), c))
    return _breakdown(list(ordered), [revenue.get(c, 0.0) for c in ordered], list(ordered), selected)


def _breakdown(labels: list[str], values: list[float], keys: list[str], selected: Sequence[str]) -> Figure:
    bar = _bar(
        y=labels,
        x=values,
        customdata=keys,
        orientation="h",
        color=[BLUE if not selected or key in selected else PALE_BLUE for key in keys],
        hovertemplate="%{y}: %{x:,.0f} €<extra>click to filter</extra>",
    )
    return _figure([bar], horizontal=True)
