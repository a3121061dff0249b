"""How busy each store is on each day: the expected number of transactions per store and date.

One multiplicative model over every configured day, computed once (500 stores x 2,192 days is small):
store format and location, weekday, month, the days before Christmas and Easter, the day before a state's
public holiday, volume growth, and whether the store is open at all (Sundays, the state's holidays, days
before the store opened and days outside the scenario's window are zero). The scenario switches the
seasonal parts and the holiday parts on or off.

A new store takes its customers partly from the others: each day's volume is shared among the stores open
that day, so the chain's volume grows by the scenario's growth rate, not faster as stores open.

The model covers every date of the calendar (the configured years and the years after them that daily
deliveries reach) and is scaled so the expected lines over the configured years equal the lines asked for; a
year generated alone therefore gets exactly the traffic it gets in a full run, and a later year goes on
with the same scale and growth. Demand shocks (lockdowns, panic
buying) apply after the scaling, so they change their own days and nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from dateutil.easter import easter

from retail_lakehouse.generator.calendar import month_end
from retail_lakehouse.reference import store_format
from retail_lakehouse.settings import Scenario

# Monday..Sunday; Saturday is the strongest shopping day, Sunday shops are closed by law.
WEEKDAY_FACTOR = np.array([0.88, 0.86, 0.90, 0.98, 1.12, 1.30, 0.0])
SUNDAY_OPEN_FACTOR = 0.75  # a Sunday where shops may open, as in a scenario without holiday effects
# January..December.
MONTH_FACTOR = np.array([0.90, 0.90, 0.97, 1.0, 1.0, 0.98, 0.98, 0.97, 0.96, 1.0, 1.04, 1.165])
BEFORE_HOLIDAY_FACTOR = 1.15
# (month, day) -> factor: the last shopping days before Christmas, and the short days (shops close at 14:00).
CHRISTMAS_FACTORS = (
    {(12, d): 1.3 for d in range(18, 22)}
    | {(12, 22): 1.6, (12, 23): 1.6, (12, 24): 1.2, (12, 31): 1.1}
    | {(12, d): 1.05 for d in range(27, 31)}
)
SHORT_DAYS = ((12, 24), (12, 31))
# Days relative to Easter Sunday: Tuesday and Wednesday of Holy Week, Maundy Thursday, Holy Saturday.
EASTER_FACTORS = {-5: 1.15, -4: 1.15, -3: 1.6, -1: 1.75}


@dataclass(frozen=True)
class MonthTraffic:
    """One month of the model: its dates, short days, and per store and date the expected transactions and
    the factor on the mean basket (1 except during a shock that changes baskets)."""

    dates: np.ndarray
    short_day: np.ndarray
    transactions: np.ndarray  # stores x dates
    basket_factor: np.ndarray  # stores x dates


def national_day_factor(dates: np.ndarray, first_year: int, scenario: Scenario) -> np.ndarray:
    """Weekday x month x events x growth for each date, before per-state holidays and store opening."""
    days = dates.astype("datetime64[D]").astype(object)
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday (index 3)
    weekday_factor = WEEKDAY_FACTOR.copy()
    if not scenario.holiday_effects:
        weekday_factor[6] = SUNDAY_OPEN_FACTOR
    factor = weekday_factor[weekday]
    if scenario.seasonality:
        factor = factor * MONTH_FACTOR[np.array([d.month for d in days]) - 1]
        easters = {year: easter(year) for year in {d.year for d in days}}
        for i, day in enumerate(days):
            factor[i] *= CHRISTMAS_FACTORS.get((day.month, day.day), 1.0)
            factor[i] *= EASTER_FACTORS.get((day - easters[day.year]).days, 1.0)
    years_since_start = (dates - np.datetime64(f"{first_year}-01-01")).astype(np.float64) / 365.25
    return factor * (1.0 + scenario.growth) ** years_since_start


def is_short_day(dates: np.ndarray) -> np.ndarray:
    """Christmas Eve and New Year's Eve: shops close at 14:00."""
    days = dates.astype(object)
    return np.array([(d.month, d.day) in SHORT_DAYS for d in days])


def scaled_baskets(format_basket: np.ndarray, transactions: np.ndarray, mean_lines: float) -> np.ndarray:
    """Per-store mean lines per basket, keeping the formats' differences, so that the mean over all
    transactions (weighted by each store's expected transactions) is `mean_lines`.

    A basket has 1 + Poisson(mean - 1) lines, so the part above one line is what gets scaled.
    """
    current = float((format_basket * transactions).sum() / transactions.sum()) if transactions.sum() else 1.0
    if current <= 1.0:
        return np.full_like(format_basket, mean_lines, dtype=np.float64)
    return 1.0 + (format_basket - 1.0) * (mean_lines - 1.0) / (current - 1.0)


class TrafficModel:
    """Expected transactions per store and date over the calendar's dates (a stores x dates matrix)."""

    def __init__(
        self,
        stores: pl.DataFrame,
        calendar: pl.DataFrame,
        store_traffic: np.ndarray,
        format_basket: np.ndarray,
        years: tuple[int, ...],
        target_lines: float,
        scenario: Scenario,
    ) -> None:
        self.scenario = scenario
        # Every date the calendar holds: the configured years and those deliveries may reach after them.
        self.dates = np.unique(calendar["date"].to_numpy().astype("datetime64[D]"))
        year_of_date = self.dates.astype("datetime64[Y]").astype(np.int64) + 1970
        self.years = tuple(np.unique(year_of_date).tolist())
        configured = np.isin(year_of_date, years)
        self.short_day = is_short_day(self.dates) & scenario.holiday_effects
        n_days = len(self.dates)
        state_codes = sorted(set(calendar["state_code"].to_list()))
        state_row = {code: i for i, code in enumerate(state_codes)}
        open_by_state, before_holiday = self._state_days(calendar, state_codes, n_days)
        store_state = np.array([state_row[c] for c in stores["state_code"].to_list()])
        self.sells_food = np.array([store_format(f).sells_food for f in stores["format"].to_list()], dtype=bool)

        opened = stores["opened_on"].to_numpy().astype("datetime64[D]")
        has_opened = self.dates[None, :] >= opened[:, None]
        weight = store_traffic[:, None] * has_opened
        open_weight = weight.sum(axis=0)
        shared = np.divide(store_traffic.sum(), open_weight, out=np.zeros(n_days), where=open_weight > 0)
        window = (self.dates >= np.datetime64(scenario.first_day)) & (self.dates <= np.datetime64(scenario.last_day))
        if scenario.last_day == dt.date(years[-1], 12, 31):  # a window to the end goes on after the years
            window |= self.dates > np.datetime64(scenario.last_day)
        day = national_day_factor(self.dates, years[0], scenario) * shared * window
        rush = before_holiday & scenario.holiday_effects
        state_factor = np.where(rush, BEFORE_HOLIDAY_FACTOR, 1.0)[store_state]
        intensity = weight * day[None, :] * state_factor * open_by_state[store_state]

        # Scaled on the configured years alone, so a later year of the calendar changes no configured day.
        configured_intensity = intensity[:, configured]
        self.basket_lines = scaled_baskets(format_basket, configured_intensity.sum(axis=1), scenario.basket_size)
        expected_lines = float((configured_intensity * self.basket_lines[:, None]).sum())
        scale = target_lines / expected_lines if expected_lines > 0 else 0.0
        self.transactions_per_day = intensity * scale
        for shock in scenario.shocks:
            days = self._days(shock.first_day, shock.last_day)
            self.transactions_per_day[np.ix_(self.sells_food == shock.food_stores, days)] *= shock.traffic_factor

    def _days(self, first: dt.date, last: dt.date) -> np.ndarray:
        return (self.dates >= np.datetime64(first)) & (self.dates <= np.datetime64(last))

    @staticmethod
    def _state_days(calendar: pl.DataFrame, state_codes: list[str], n_days: int) -> tuple[np.ndarray, ...]:
        """Per state and date: open or not, and whether the next calendar day is a public holiday."""
        ordered = calendar.sort("state_code", "date")
        is_open = ordered["is_open"].to_numpy().reshape(len(state_codes), n_days)
        holiday = ordered["is_public_holiday"].to_numpy().reshape(len(state_codes), n_days)
        before_holiday = np.zeros_like(holiday)
        before_holiday[:, :-1] = holiday[:, 1:]
        return is_open, before_holiday & is_open

    def month(self, year: int, month: int) -> MonthTraffic:
        """The month's dates, short days, expected transactions and basket factors per store and date."""
        days = self._days(dt.date(year, month, 1), month_end(year, month))
        basket_factor = np.ones((len(self.sells_food), int(days.sum())))
        for shock in self.scenario.shocks:
            if shock.basket_factor != 1.0:
                shocked = self._days(shock.first_day, shock.last_day)[days]
                basket_factor[np.ix_(self.sells_food == shock.food_stores, shocked)] *= shock.basket_factor
        return MonthTraffic(self.dates[days], self.short_day[days], self.transactions_per_day[:, days], basket_factor)
