"""Plotly figures for each view, drawn from the small frames `dashboard.data` returns.

Revenue becomes a float only here, for plotting; totals and labels are formatted from Decimal. A bar that
drills down or filters carries its target in `customdata` (a period token such as `2024-03`, or a state code
or category), which the callback reads on click.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import plotly.graph_objects as go
import polars as pl

from dashboard.format import PLOTLY_SEPARATORS, change
from dashboard.views import MONTH_ABBR, STATE_NAMES

BLUE = "#2563eb"
PALE_BLUE = "#bfdbfe"
GREY = "#cbd5e1"
SUNDAY = "#e2e8f0"
HOLIDAY = "#fed7aa"
HOLIDAY_BAR = "#f97316"
MONEY_HOVER = "%{y:,.0f} €"


def _layout(fig: go.Figure, horizontal: bool = False) -> go.Figure:
    """House style; no height or width, since the graphs fill their boxes (sized in assets/style.css)."""
    fig.update_layout(
        template="plotly_white",
        separators=PLOTLY_SEPARATORS,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        font={"family": "Inter, system-ui, sans-serif", "size": 12, "color": "#334155"},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hoverlabel={"bgcolor": "white"},
        clickmode="event",
    )
    money_axis = fig.update_xaxes if horizontal else fig.update_yaxes
    money_axis(tickformat=",.0f", ticksuffix=" €", gridcolor="#eef2f7")
    return fig


def _money(values: Sequence[object]) -> list[float]:
    return [float(v) if v is not None else 0.0 for v in values]  # type: ignore[arg-type]


def years_figure(per_year: pl.DataFrame) -> go.Figure:
    """Revenue per year, each bar labelled with its change against the year before."""
    years = per_year["year"].to_list()
    revenue = per_year["revenue"].to_list()
    by_year = dict(zip(years, revenue, strict=True))
    labels = [change(by_year[y], by_year.get(y - 1)) or "" for y in years]
    fig = go.Figure(
        go.Bar(
            x=[str(y) for y in years],
            y=_money(revenue),
            text=labels,
            textposition="outside",
            customdata=[str(y) for y in years],
            marker_color=BLUE,
            name="Revenue",
            hovertemplate="%{x}: " + MONEY_HOVER + " (%{text} vs previous year)<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    return _layout(fig)


def months_figure(current: pl.DataFrame, previous: pl.DataFrame, year: int) -> go.Figure:
    """Revenue per month of `year` next to the same months of the year before."""
    months = list(range(1, 13))
    x = [MONTH_ABBR[m] for m in months]
    tokens = [f"{year}-{m:02d}" for m in months]
    fig = go.Figure()
    if previous.height:
        before = dict(zip(previous["month"].to_list(), _money(previous["revenue"].to_list()), strict=True))
        fig.add_bar(
            x=x,
            y=[before.get(m, 0.0) for m in months],
            name=str(year - 1),
            marker_color=GREY,
            customdata=tokens,
            hovertemplate=f"%{{x}} {year - 1}: {MONEY_HOVER}<extra></extra>",
        )
    now = dict(zip(current["month"].to_list(), _money(current["revenue"].to_list()), strict=True))
    fig.add_bar(
        x=x,
        y=[now.get(m, 0.0) for m in months],
        name=str(year),
        marker_color=BLUE,
        customdata=tokens,
        hovertemplate=f"%{{x}} {year}: {MONEY_HOVER}<extra></extra>",
    )
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    return _layout(fig)


def days_figure(per_day: pl.DataFrame, marks: pl.DataFrame) -> go.Figure:
    """Revenue per day, Sundays shaded grey and public holidays orange (stores are closed on both).

    `marks` (from `data.calendar_marks`) lists every day of the period, so closed days show as gaps.
    """
    revenue = dict(zip(per_day["date"].to_list(), _money(per_day["revenue"].to_list()), strict=True))
    days: list[date] = marks["date"].to_list()
    colors, notes = [], []
    for row in marks.iter_rows(named=True):
        note = ""
        if row["holiday"]:
            everywhere = row["holiday_state_count"] == row["state_count"]
            note = f"{row['holiday']} ({'all states' if everywhere else row['holiday_states']})"
        if row["is_sunday"]:
            note = "Sunday, stores closed" + (f"; {note}" if note else "")
        notes.append(note)
        colors.append(HOLIDAY_BAR if row["holiday"] and not row["is_sunday"] else BLUE)
    fig = go.Figure(
        go.Bar(
            x=[d.isoformat() for d in days],
            y=[revenue.get(d, 0.0) for d in days],
            customdata=[d.isoformat() for d in days],
            text=notes,
            textposition="none",
            marker_color=colors,
            name="Revenue",
            hovertemplate="%{x|%a %d.%m.%Y}: " + MONEY_HOVER + "<br>%{text}<extra></extra>",
        )
    )
    half_day = timedelta(hours=12)  # a bar is centred on its date's midnight

    def edge(day: date, side: int) -> datetime:
        return datetime.combine(day, time()) + side * half_day

    for day, row in zip(days, marks.iter_rows(named=True), strict=True):
        if row["is_sunday"] or row["holiday"]:
            color = SUNDAY if row["is_sunday"] else HOLIDAY
            fig.add_vrect(x0=edge(day, -1), x1=edge(day, 1), fillcolor=color, opacity=0.7, layer="below",
                          line_width=0)  # fmt: skip
    if days:
        fig.update_xaxes(range=[edge(days[0], -1), edge(days[-1], 1)])
    fig.update_xaxes(type="date", tickformat="%a<br>%d", dtick=86_400_000)
    fig.update_layout(bargap=0.15)
    return _layout(fig)


def stores_figure(stores: pl.DataFrame) -> go.Figure:
    """The day's top stores by revenue, best on top."""
    rows = list(reversed(stores.rows(named=True)))
    fig = go.Figure(
        go.Bar(
            y=[f"{r['store_name']} ({r['state_code']})" for r in rows],
            x=_money([r["revenue"] for r in rows]),
            orientation="h",
            marker_color=BLUE,
            name="Revenue",
            hovertemplate="%{y}: %{x:,.2f} €<extra></extra>",
        )
    )
    return _layout(fig, horizontal=True)


def states_figure(per_state: pl.DataFrame, selected: Sequence[str]) -> go.Figure:
    """Revenue per federal state (all 16, zero where none), the filtered ones highlighted; click filters."""
    revenue = dict(zip(per_state["state_code"].to_list(), _money(per_state["revenue"].to_list()), strict=True))
    codes = sorted(STATE_NAMES, key=lambda code: (revenue.get(code, 0.0), code))
    return _breakdown([STATE_NAMES[c] for c in codes], [revenue.get(c, 0.0) for c in codes], codes, selected)


def categories_figure(per_category: pl.DataFrame, categories: Sequence[str], selected: Sequence[str]) -> go.Figure:
    """Revenue per category (all of them), the filtered ones highlighted; click filters."""
    revenue = dict(zip(per_category["category"].to_list(), _money(per_category["revenue"].to_list()), strict=True))
    ordered = sorted(categories, key=lambda c: (revenue.get(c, 0.0), c))
    return _breakdown(list(ordered), [revenue.get(c, 0.0) for c in ordered], list(ordered), selected)


def _breakdown(labels: list[str], values: list[float], keys: list[str], selected: Sequence[str]) -> go.Figure:
    colors = [BLUE if not selected or key in selected else PALE_BLUE for key in keys]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=values,
            customdata=keys,
            orientation="h",
            marker_color=colors,
            name="Revenue",
            hovertemplate="%{y}: %{x:,.0f} €<extra>click to filter</extra>",
        )
    )
    return _layout(fig, horizontal=True)
