"""The calendar: one row per date and federal state, with public holidays from the `holidays` package.

German shop-closing law: stores are closed on Sundays and on their state's public holidays. A scenario
without holiday effects (`LAKEHOUSE_HOLIDAY_EFFECTS=off`) opens them every day; the holidays are still named.
"""

from __future__ import annotations

import datetime as dt

import holidays
import polars as pl

from retail_lakehouse.reference import FEDERAL_STATES
from retail_lakehouse.schemas import BronzeCalendar, polars_schema


def generate_calendar(years: tuple[int, ...], holiday_effects: bool = True) -> pl.DataFrame:
    """Every date of `years` for every state: weekday, public holiday and whether shops may open."""
    rows = []
    for state in FEDERAL_STATES:
        state_holidays = holidays.Germany(subdiv=state.code, years=years)
        for year in years:
            day = dt.date(year, 1, 1)
            while day.year == year:
                name = state_holidays.get(day)
                weekday = day.isoweekday()
                is_open = not holiday_effects or (weekday != 7 and name is None)
                rows.append((day, state.code, weekday, name is not None, name, is_open))
                day += dt.timedelta(days=1)
    return pl.DataFrame(rows, schema=polars_schema(BronzeCalendar), orient="row").sort("date", "state_code")


def month_end(year: int, month: int) -> dt.date:
    """The last day of a month."""
    return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
