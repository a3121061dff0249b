"""How busy each store is on each day: the expected number of transactions per store and date.

One multiplicative model over every configured day, computed once (500 stores x 2,192 days is small):
store format and location, weekday, month, the days before Christmas and Easter, the day before a state's
public holiday, organic growth, and whether the store is open at all (Sundays, the state's holidays, and
days before the store opened are zero). It is scaled so the expected total over every configured year
equals the lines asked for; a year generated alone therefore gets exactly the traffic it gets in a full run.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from dateutil.easter import easter

# Monday..Sunday; Saturday is the strongest shopping day, Sunday shops are closed by law.
WEEKDAY_FACTOR = np.array([0.88, 0.86, 0.90, 0.98, 1.12, 1.30, 0.0])
# January..December.
MONTH_FACTOR = np.array([0.88, 0.88, 0.96, 1.0, 1.0, 0.98, 0.97, 0.97, 0.96, 1.0, 1.06, 1.30])
ORGANIC_GROWTH_PER_YEAR = 0.035
BEFORE_HOLIDAY_FACTOR = 1.15
# (month, day) -> factor: the last shopping days before Christmas, and the short days (shops close at 14:00).
CHRISTMAS_FACTORS = (
    {(12, d): 1.6 for d in range(18, 24)} | {(12, 24): 1.3, (12, 31): 1.2} | {(12, d): 1.1 for d in range(27, 31)}
)
SHORT_DAYS = ((12, 24), (12, 31))
# Days relative to Easter Sunday: Tuesday and Wednesday of Holy Week, Maundy Thursday, Holy Saturday.
EASTER_FACTORS = {-5: 1.15, -4: 1.15, -3: 1.6, -1: 1.75}


def all_dates(years: tuple[int, ...]) -> np.ndarray:
    """Every date of the configured years, as datetime64[D]."""
    return np.concatenate([np.arange(np.datetime64(f"{y}-01-01"), np.datetime64(f"{y + 1}-01-01")) for y in years])


def national_day_factor(dates: np.ndarray, first_year: int) -> np.ndarray:
    """Weekday x month x events x growth for each date, before per-state holidays and store opening."""
    days = dates.astype("datetime64[D]").astype(object)
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday (index 3)
    month = np.array([d.month for d in days]) - 1
    factor = WEEKDAY_FACTOR[weekday] * MONTH_FACTOR[month]
    easters = {year: easter(year) for year in {d.year for d in days}}
    for i, day in enumerate(days):
        factor[i] *= CHRISTMAS_FACTORS.get((day.month, day.day), 1.0)
        factor[i] *= EASTER_FACTORS.get((day - easters[day.year]).days, 1.0)
    years_since_start = (dates - np.datetime64(f"{first_year}-01-01")).astype(np.float64) / 365.25
    return factor * (1.0 + ORGANIC_GROWTH_PER_YEAR) ** years_since_start


def is_short_day(dates: np.ndarray) -> np.ndarray:
    """Christmas Eve and New Year's Eve: shops close at 14:00."""
    days = dates.astype(object)
    return np.array([(d.month, d.day) in SHORT_DAYS for d in days])


class TrafficModel:
    """Expected transactions per store and date over all configured years (a stores x dates matrix)."""

    def __init__(
        self,
        stores: pl.DataFrame,
        calendar: pl.DataFrame,
        store_traffic: np.ndarray,
        basket_lines: np.ndarray,
        years: tuple[int, ...],
        target_lines: float,
    ) -> None:
        self.dates = all_dates(years)
        self.short_day = is_short_day(self.dates)
        n_days = len(self.dates)
        state_codes = sorted(set(calendar["state_code"].to_list()))
        state_row = {code: i for i, code in enumerate(state_codes)}
        open_by_state, before_holiday = self._state_days(calendar, state_codes, n_days)
        store_state = np.array([state_row[c] for c in stores["state_code"].to_list()])

        opened = stores["opened_on"].to_numpy().astype("datetime64[D]")
        is_open = open_by_state[store_state] & (self.dates[None, :] >= opened[:, None])
        day = national_day_factor(self.dates, years[0])
        state_factor = np.where(before_holiday, BEFORE_HOLIDAY_FACTOR, 1.0)[store_state]
        intensity = store_traffic[:, None] * day[None, :] * state_factor * is_open
        expected_lines = float((intensity * basket_lines[:, None]).sum())
        self.transactions_per_day = intensity * (target_lines / expected_lines)

    @staticmethod
    def _state_days(calendar: pl.DataFrame, state_codes: list[str], n_days: int) -> tuple[np.ndarray, ...]:
        """Per state and date: open or not, and whether the next calendar day is a public holiday."""
        ordered = calendar.sort("state_code", "date")
        is_open = ordered["is_open"].to_numpy().reshape(len(state_codes), n_days)
        holiday = ordered["is_public_holiday"].to_numpy().reshape(len(state_codes), n_days)
        before_holiday = np.zeros_like(holiday)
        before_holiday[:, :-1] = holiday[:, 1:]
        return is_open, before_holiday & is_open

    def month(self, year: int, month: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The month's dates, their short-day flags, and the stores x dates expected transactions."""
        start = np.datetime64(dt.date(year, month, 1), "D")
        end = np.datetime64(dt.date(year + month // 12, month % 12 + 1, 1), "D")
        days = (self.dates >= start) & (self.dates < end)
        return self.dates[days], self.short_day[days], self.transactions_per_day[:, days]
