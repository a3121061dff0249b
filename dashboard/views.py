"""Which view the address asks for: the drill-down level, its period, its comparison period and the filters.

The address is the single source of truth (`/?year=2024&month=3&day=12&state=BY&category=Bakery`, or
`/?week=2024-W11`, or `/?view=all`), so a view can be shared and reloaded. Parsing is strict: anything the
lakehouse cannot show raises `BadAddress` with a sentence for the page, never a traceback.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal
from urllib.parse import parse_qs, urlencode

from dashboard.data import NO_FILTERS, Filters
from retail_lakehouse.reference import FEDERAL_STATES
from retail_lakehouse.schemas import CATEGORIES, STATE_CODES

Level = Literal["all", "year", "month", "week", "day"]

STATE_NAMES: dict[str, str] = {code: name for code, name, *_ in FEDERAL_STATES}
MONTH_NAMES = tuple(calendar.month_name)  # index 1..12
MONTH_ABBR = tuple(calendar.month_abbr)
WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class BadAddress(ValueError):
    """The address names a view the lakehouse cannot show; the message is shown on the page."""


@dataclass(frozen=True)
class Period:
    """A closed date range and how to name it."""

    start: date
    end: date
    label: str

    def touches(self, years: Sequence[int]) -> bool:
        """Whether the period has a day in one of `years` (the years gold has)."""
        return self.start.year in years or self.end.year in years


@dataclass(frozen=True)
class View:
    """One drill-down view: `level` and the fields it needs (year; month; day; week's Monday), plus filters."""

    level: Level
    year: int | None = None
    month: int | None = None
    day: date | None = None
    week: date | None = None
    filters: Filters = NO_FILTERS

    @property
    def period(self) -> Period:
        return _period(self)

    def with_filters(self, filters: Filters) -> View:
        return replace(self, filters=filters)

    def search(self) -> str:
        """The address's query string for this view, e.g. `?year=2024&month=3&state=BY`."""
        params: list[tuple[str, str]] = []
        if self.level == "all":
            params.append(("view", "all"))
        elif self.level == "week" and self.week is not None:
            params.append(("week", week_token(self.week)))
        else:
            params.append(("year", str(self.year)))
            if self.month is not None:
                params.append(("month", str(self.month)))
            if self.day is not None:
                params.append(("day", str(self.day.day)))
        params += [("state", s) for s in self.filters.states]
        params += [("category", c) for c in self.filters.categories]
        return "?" + urlencode(params)

    def href(self) -> str:
        return "/" + self.search()


def _period(view: View) -> Period:
    if view.level == "all":
        raise ValueError("the all-years view spans whatever years gold has; use all_years_period")
    if view.level == "year":
        assert view.year is not None
        return Period(date(view.year, 1, 1), date(view.year, 12, 31), str(view.year))
    if view.level == "month":
        assert view.year is not None and view.month is not None
        last = calendar.monthrange(view.year, view.month)[1]
        return Period(
            date(view.year, view.month, 1), date(view.year, view.month, last), f"{MONTH_NAMES[view.month]} {view.year}"
        )
    if view.level == "week":
        assert view.week is not None
        return Period(view.week, view.week + timedelta(days=6), week_label(view.week))
    assert view.day is not None
    return Period(view.day, view.day, day_label(view.day))


def all_years_period(years: Sequence[int]) -> Period:
    return Period(date(min(years), 1, 1), date(max(years), 12, 31), f"{min(years)}–{max(years)}")


def week_label(monday: date) -> str:
    iso = monday.isocalendar()
    sunday = monday + timedelta(days=6)
    return f"Week {iso.week}/{iso.year} ({monday:%d.%m.}–{sunday:%d.%m.%Y})"


def day_label(day: date) -> str:
    return f"{WEEKDAY_ABBR[day.weekday()]} {day:%d.%m.%Y}"


def comparison(view: View) -> tuple[Period, str] | None:
    """The period the key figures are compared with, and how the change is labelled.

    Year: the previous year. Month: the same month a year earlier (seasonality cancels out). Week: the
    week before. Day: the same weekday a week earlier, since weekdays differ far more than weeks do.
    """
    if view.level == "all":
        return None
    if view.level == "year":
        assert view.year is not None
        prior = View("year", view.year - 1)
        return prior.period, f"vs {view.year - 1}"
    if view.level == "month":
        assert view.year is not None and view.month is not None
        prior = View("month", view.year - 1, view.month)
        return prior.period, f"vs {MONTH_ABBR[view.month]} {view.year - 1}"
    if view.level == "week":
        assert view.week is not None
        monday = view.week - timedelta(days=7)
        return View("week", week=monday).period, f"vs week {monday.isocalendar().week}"
    assert view.day is not None
    before = view.day - timedelta(days=7)
    return Period(before, before, day_label(before)), f"vs {day_label(before)} (a week before)"


def breadcrumb(view: View) -> list[tuple[str, View]]:
    """The trail from all years down to `view`, each with the view its link opens (filters kept)."""
    trail: list[tuple[str, View]] = [("All years", View("all"))]
    year, month = view.year, view.month
    if view.level == "week" and view.week is not None:
        thursday = view.week + timedelta(days=3)  # an ISO week belongs to the month and year of its Thursday
        year, month = thursday.year, thursday.month
    if year is not None and view.level != "all":
        trail.append((str(year), View("year", year)))
    if month is not None and year is not None:
        trail.append((MONTH_NAMES[month], View("month", year, month)))
    if view.level == "week" and view.week is not None:
        trail.append((f"Week {view.week.isocalendar().week}", View("week", week=view.week)))
    if view.level == "day" and view.day is not None:
        trail.append((f"{WEEKDAY_ABBR[view.day.weekday()]} {view.day.day}", view))
    return [(label, target.with_filters(view.filters)) for label, target in trail]


def weeks_of_month(year: int, month: int) -> list[date]:
    """The Mondays of the ISO weeks that have at least one day in the month."""
    first = date(year, month, 1)
    monday = first - timedelta(days=first.weekday())
    last = date(year, month, calendar.monthrange(year, month)[1])
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def drill_target(token: object, filters: Filters, years: Sequence[int]) -> View:
    """The view a click on a chart opens: `2024`, `2024-03` or `2024-03-12` (set as the bar's customdata).

    The token comes from the browser, so anything else, or a period gold does not have, is a `BadAddress`.
    """
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise BadAddress(f"{_quoted(token)} is not a year, month or day to open.")
    year, month, day = (int(part) if part else None for part in match.groups())
    assert year is not None  # the pattern requires it
    return _dated_view(year, month, day, filters, years)


def _dated_view(year: int, month: int | None, day: int | None, filters: Filters, years: Sequence[int]) -> View:
    """The year, month or day view of a date's parts, or a `BadAddress` naming what gold does not have.

    A day without a month is the caller's to refuse (addresses say so; click tokens cannot carry one).
    """
    if year not in years:
        raise BadAddress(f"There is no data for {year}; the lakehouse has {_known(years)}.")
    if month is None:
        return View("year", year, filters=filters)
    if not 1 <= month <= 12:
        raise BadAddress(f"There is no month {month}; months run from 1 to 12.")
    if day is None:
        return View("month", year, month, filters=filters)
    return View("day", year, month, _date(year, month, day), filters=filters)


_TOKEN = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)
_WEEK = re.compile(r"(\d{4})-W(\d{1,2})", re.ASCII | re.IGNORECASE)
_QUOTED_MAX = 40


def _quoted(raw: object) -> str:
    """`raw` in quotation marks for a one-line message: control characters escaped, cut short (an address can
    be as long and as odd as a client likes)."""
    text = raw if isinstance(raw, str) else repr(raw)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: _QUOTED_MAX * 2])
    return f"“{text if len(text) <= _QUOTED_MAX else text[: _QUOTED_MAX - 1] + '…'}”"


def _known(years: Sequence[int]) -> str:
    return ", ".join(str(y) for y in years)


def _date(year: int, month: int, day: int) -> date:
    """The date, or a `BadAddress` naming the month when it has no such day.

    Callers have checked year and month and bounded `day` to four digits, so `date` can only raise ValueError.
    """
    try:
        return date(year, month, day)
    except ValueError:
        raise BadAddress(f"{MONTH_NAMES[month]} {year} has no day {day}.") from None


def _number(params: dict[str, list[str]], name: str, what: str) -> int | None:
    """The last value of `name` as a whole number of at most four ASCII digits (no `²`, no 20-digit day)."""
    values = params.get(name)
    if not values:
        return None
    raw = values[-1].strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4):
        raise BadAddress(f"{_quoted(raw)} is not a {what}.")
    return int(raw)


def parse_view(search: object, years: Sequence[int]) -> View:
    """The view an address's query string asks for; the latest year's months if it asks for nothing.

    `years` are the years gold has; a year outside them is refused with the list of those it has. The query
    string comes from the browser, so anything that is not a view the lakehouse can show raises `BadAddress`
    (and nothing else): no `²` taken for a digit, no day so large that `date` overflows, no week past 9999.
    """
    if search is not None and not isinstance(search, str):
        raise BadAddress(f"{_quoted(search)} is not an address.")
    params = parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    filters = _parse_filters(params)
    if not years:
        raise BadAddress("The gold tables hold no years yet.")
    known = _known(years)

    if "week" in params:
        if any(k in params for k in ("year", "month", "day")):
            raise BadAddress("Give either a week or a year/month/day, not both.")
        raw = params["week"][-1].strip()
        match = _WEEK.fullmatch(raw)
        if match is None:
            raise BadAddress(f"{_quoted(raw)} is not a week; weeks look like 2024-W11.")
        iso_year, iso_week = int(match[1]), int(match[2])
        # Only a week next to a year gold has can touch it; checking first keeps dates far from date.max.
        if not min(years) - 1 <= iso_year <= max(years) + 1:
            raise BadAddress(f"There is no data for week {raw}; the lakehouse has {known}.")
        try:
            monday = date.fromisocalendar(iso_year, iso_week, 1)
        except ValueError:
            raise BadAddress(f"{_quoted(raw)} is not a week; {iso_year} has no week {iso_week}.") from None
        week = View("week", week=monday, filters=filters)
        if not week.period.touches(years):
            raise BadAddress(f"There is no data for week {raw}; the lakehouse has {known}.")
        return week

    if params.get("view", [""])[-1] == "all":
        return View("all", filters=filters)
    if "view" in params:
        raise BadAddress(f"{_quoted(params['view'][-1])} is not a view; the only one is view=all.")

    year = _number(params, "year", "year")
    month = _number(params, "month", "month")
    day = _number(params, "day", "day")
    if year is None:
        if month is not None or day is not None:
            raise BadAddress("A month or day needs a year, e.g. ?year=2024&month=3.")
        return View("year", max(years), filters=filters)
    if year in years and month is None and day is not None:
        raise BadAddress("A day needs a month, e.g. ?year=2024&month=3&day=12.")
    return _dated_view(year, month, day, filters, years)


Picker = Literal["year", "month", "week"]


def anchor_year(view: View, years: Sequence[int]) -> int:
    """The year the pickers offer months and weeks of: the view's (a week's ISO year), else the latest."""
    if view.week is not None:
        return view.week.isocalendar().year
    return view.year if view.year is not None else max(years)


def week_token(monday: date) -> str:
    """`2024-W11`: how an address and the week picker name an ISO week."""
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def picked_view(picker: Picker, value: object, view: View, years: Sequence[int]) -> View:
    """The view a year, month or week picker opens, filters kept: the address it would write, parsed.

    The year picker opens that year, the month picker that month of the pickers' year (`anchor_year`), the
    week picker that ISO week. Going through `parse_view` means a value no menu offers (sent by hand) is a
    `BadAddress` like any other address.
    """
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadAddress(f"{_quoted(value)} is not a {picker} to open.")
    if picker == "year":
        params: list[tuple[str, object]] = [("year", value)]
    elif picker == "month":
        params = [("year", anchor_year(view, years)), ("month", value)]
    else:
        params = [("week", value)]
    params += [("state", s) for s in view.filters.states] + [("category", c) for c in view.filters.categories]
    return parse_view("?" + urlencode(params), years)


def _parse_filters(params: dict[str, list[str]]) -> Filters:
    states = tuple(dict.fromkeys(params.get("state", [])))
    categories = tuple(dict.fromkeys(params.get("category", [])))
    unknown_states = [s for s in states if s not in STATE_CODES]
    if unknown_states:
        raise BadAddress(f"Unknown federal state {_quoted(unknown_states[0])}; use codes like BY or NW.")
    unknown_categories = [c for c in categories if c not in CATEGORIES]
    if unknown_categories:
        raise BadAddress(f"Unknown category {_quoted(unknown_categories[0])}.")
    return Filters(states=states, categories=categories)


def known_filters(states: object, categories: object) -> tuple[Filters, list[str]]:
    """Filters from the dropdowns' values as a client sent them, and a sentence for each value dropped.

    The dropdowns only offer known codes, but a callback request can carry anything: a string instead of a
    list, numbers, unknown codes. Known values are kept in order (once each); the rest are explained.
    """
    kept: dict[str, list[str]] = {"state": [], "category": []}
    dropped: list[str] = []
    for kind, values, allowed in (("state", states, STATE_CODES), ("category", categories, CATEGORIES)):
        items = [values] if isinstance(values, str) else values if isinstance(values, list | tuple) else []
        if values is not None and not isinstance(values, str | list | tuple):
            dropped.append(f"Ignored the {kind} filter {_quoted(values)}: it is not a list of names.")
        for item in items:
            if isinstance(item, str) and item in allowed:
                if item not in kept[kind]:
                    kept[kind].append(item)
            else:
                what = "federal state" if kind == "state" else "category"
                dropped.append(f"Ignored the unknown {what} {_quoted(item)}.")
    return Filters(tuple(kept["state"]), tuple(kept["category"])), dropped


def neighbours(view: View, years: Sequence[int]) -> tuple[View | None, View | None]:
    """The views just before and after `view` at the same level (None outside the years gold has)."""
    if view.level == "all":
        return None, None
    if view.level == "year":
        assert view.year is not None
        candidates = [View("year", view.year - 1), View("year", view.year + 1)]
    elif view.level == "month":
        assert view.year is not None and view.month is not None
        index = view.year * 12 + view.month - 1
        candidates = [View("month", i // 12, i % 12 + 1) for i in (index - 1, index + 1)]
    elif view.level == "week":
        assert view.week is not None
        candidates = [View("week", week=view.week + timedelta(days=d)) for d in (-7, 7)]
    else:
        assert view.day is not None
        days = [view.day + timedelta(days=d) for d in (-1, 1)]
        candidates = [View("day", d.year, d.month, d) for d in days]

    def inside(candidate: View) -> View | None:
        return candidate.with_filters(view.filters) if candidate.period.touches(years) else None

    before, after = candidates
    return inside(before), inside(after)
