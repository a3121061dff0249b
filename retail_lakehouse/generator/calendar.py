"""The calendar: one row per date and federal state, with public holidays from the `holidays` package.

German shop-closing law: stores are closed on Sundays and on their state's public holidays.
"""

from __future__ import annotations

import datetime as dt

import holidays
import polars as pl

from retail_lakehouse.reference import FEDERAL_STATES
from retail_lakehouse.schemas import BronzeCalendar, polars_schema


def generate_calendar(years: tuple[int, ...]) -> pl.DataFrame:
    """Every date of `years` for every state: weekday, public holiday and whether shops may open."""
    rows = []
    for state in FEDERAL_STATES:
        state_holidays = holidays.Germany(subdiv=state.code, years=years)
        for year in years:
            day = dt.date(year, 1, 1)
            while day.year == year:
                name = state_holidays.get(day)
                weekday = day.isoweekday()
                rows.append((day, state.code, weekday, name is not None, name, weekday != 7 and name is None))
                day += dt.timedelta(days=1)
    return pl.DataFrame(rows, schema=polars_schema(BronzeCalendar), orient="row").sort("date", "state_code")
