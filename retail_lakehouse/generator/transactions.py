"""Transactions: baskets of several lines, generated a month at a time with NumPy, defects included.

A month is the unit of work and of randomness: its stream is seeded by (seed, year, month), so any year or
month can be generated alone and equals the same month of a full run, and memory holds one month at most.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from retail_lakehouse.generator.defects import Lines, inject_defects
from retail_lakehouse.generator.money import decimal_from_cents
from retail_lakehouse.generator.prices import PriceBook
from retail_lakehouse.generator.products import category_season, product_popularity
from retail_lakehouse.generator.seeds import rng_for
from retail_lakehouse.generator.stores import store_traffic
from retail_lakehouse.generator.traffic import TrafficModel
from retail_lakehouse.reference import FOOD_CATEGORIES, PAYMENT_METHOD_ENUM, PAYMENT_METHODS, QUARANTINE_REASONS
from retail_lakehouse.schemas import LINE_MONEY, PRICE
from retail_lakehouse.settings import DefectRates, Scenario, resolve_scenario

# Share of transactions per opening hour 06:00..21:00: a lunch peak and a stronger after-work peak.
HOUR_WEIGHTS = np.array([0.4, 1.2, 2.0, 2.8, 3.4, 4.0, 5.2, 5.0, 3.6, 3.6, 4.6, 5.8, 5.6, 4.2, 2.6, 1.2])
FIRST_HOUR = 6
SHORT_DAY_HOURS = 8  # 06:00-14:00 on Christmas Eve and New Year's Eve
MAX_BASKET_LINES = 60
MAX_QUANTITY = 12
MORE_UNITS = 0.28  # the chance of buying one more unit, for items up to MORE_UNITS_BELOW_CENTS ...
MORE_UNITS_BELOW_CENTS = 300  # ... and falling with the square root of the price above it
DISCOUNTED_SHARE = 0.12
DISCOUNT_PERCENTS = np.array([10, 20, 25, 30, 50])
# Payment shares in 2020 (cash, girocard, credit card, mobile) and their yearly drift away from cash.
PAYMENT_2020 = np.array([0.46, 0.38, 0.10, 0.06])
PAYMENT_DRIFT = np.array([-0.035, 0.0, 0.01, 0.025])
US_PER_DAY = 86_400_000_000
GUIDE_BINS_PER_WEIGHT = 4  # guide bins per product weight (`_pick`): most draws need no step forward
_PAYMENT_METHODS = pl.Series(PAYMENT_METHODS, dtype=PAYMENT_METHOD_ENUM)


@dataclass(frozen=True)
class TransactionChunk:
    """Bronze transaction lines of one month (or of the days of it that have happened), and per day and
    quarantine reason the rows its defects cause (`date`, `reason`, `rows`)."""

    year: int
    month: int
    lines: pl.DataFrame
    injected: pl.DataFrame

    @property
    def defects(self) -> dict[str, int]:
        """The rows per quarantine reason that the chunk's defects cause: its part of the manifest."""
        totals = self.injected.group_by("reason").agg(pl.col("rows").sum())
        return dict.fromkeys(QUARANTINE_REASONS, 0) | dict(totals.iter_rows())

    def between(self, first: dt.date, last: dt.date) -> TransactionChunk:
        """The lines and defects of the days `first`..`last` (both included), in the month's order.

        A day cut from a month equals that day of the month generated whole, because the month is always
        generated whole: a POS export of a day is what the day would have been anyway.
        """
        day = pl.col("transaction_ts").dt.date()
        return TransactionChunk(
            self.year,
            self.month,
            self.lines.filter(day.is_between(first, last)),
            self.injected.filter(pl.col("date").is_between(first, last)),
        )


class TransactionGenerator:
    """Generates the transaction lines of any year of the calendar, month by month, up to the as-of day.

    `years` are the configured years, over which `rows` lines are spread; a later year of the calendar (the
    one deliveries reach after them) goes on with the same volume, growth and prices.
    """

    def __init__(
        self,
        stores: pl.DataFrame,
        products: pl.DataFrame,
        calendar: pl.DataFrame,
        *,
        rows: int,
        seed: int,
        years: tuple[int, ...],
        defect_rates: DefectRates,
        scenario: Scenario | None = None,
        as_of: dt.date | None = None,
    ) -> None:
        self.seed = seed
        self.as_of = as_of
        self.years = years
        self.rates = defect_rates
        self.scenario = scenario or resolve_scenario("baseline", years)
        stores = stores.sort("store_id")
        products = products.sort("product_id")
        self.store_ids = stores["store_id"].to_numpy()
        self.product_ids = products["product_id"].to_numpy()
        self.prices = PriceBook(products)
        self.popularity = product_popularity(products, seed)
        self.season = category_season(products) if self.scenario.seasonality else np.ones((12, products.height))
        # A delisted product sells through the month of its delisting day (the last of a month), then never.
        last_month = products.select(pl.col("delisted_on").dt.year() * 12 + pl.col("delisted_on").dt.month() - 1)
        self.last_month_sold = last_month.to_series().fill_null(np.iinfo(np.int32).max).to_numpy()
        # Stores that sell no food sell from the non-food part of the assortment only.
        self.non_food_products = np.flatnonzero(~products["category"].is_in(FOOD_CATEGORIES).to_numpy())
        traffic, format_basket = store_traffic(stores, seed)
        clean_lines = rows / (1.0 + defect_rates.duplicate)
        self.traffic = TrafficModel(stores, calendar, traffic, format_basket, years, clean_lines, self.scenario)
        self.basket_lines = self.traffic.basket_lines

    def year(self, year: int) -> Iterator[TransactionChunk]:
        """The year's months in order up to the as-of day (the last month cut there); one month in memory."""
        if year not in self.traffic.years:
            raise ValueError(f"year {year} is outside the calendar's years {self.traffic.years}")
        for month in range(1, 13):
            if self.as_of is not None and dt.date(year, month, 1) > self.as_of:
                return
            chunk = self.month(year, month)
            if self.as_of is not None and (year, month) == (self.as_of.year, self.as_of.month):
                chunk = chunk.between(dt.date(year, month, 1), self.as_of)
            yield chunk

    def day(self, day: dt.date) -> TransactionChunk:
        """One day's lines, as a daily point-of-sale export delivers them: the day of its month."""
        if day.year not in self.traffic.years:
            raise ValueError(f"{day} is outside the calendar's years {self.traffic.years}")
        return self.month(day.year, day.month).between(day, day)

    def month(self, year: int, month: int) -> TransactionChunk:
        rng = rng_for(self.seed, "transactions", year, month)
        traffic = self.traffic.month(year, month)
        dates, short_day = traffic.dates, traffic.short_day

        per_store_day = rng.poisson(traffic.transactions)
        store_index, day_index = np.nonzero(per_store_day)
        counts = per_store_day[store_index, day_index]
        tx_store = np.repeat(store_index, counts)
        tx_day = np.repeat(day_index, counts)

        hour = self._hours(rng, short_day[tx_day])
        second_of_day = hour * 3600 + rng.integers(0, 3600, len(hour))
        day_us = dates.astype("datetime64[D]").astype(np.int64) * US_PER_DAY
        ts_us = day_us[tx_day] + second_of_day * 1_000_000
        order = np.lexsort((tx_store, ts_us))  # a POS export lists a month's receipts by time
        tx_store, tx_day, ts_us = tx_store[order], tx_day[order], ts_us[order]
        n_tx = len(ts_us)

        basket_mean = self.basket_lines[tx_store] * traffic.basket_factor[tx_store, tx_day]
        sizes = np.minimum(1 + rng.poisson(basket_mean - 1.0), MAX_BASKET_LINES)
        starts = (np.cumsum(sizes) - sizes).astype(np.int64)  # empty for a month without sales
        payment = self._payment(rng, year, n_tx)

        line_tx = np.repeat(np.arange(n_tx), sizes)
        n_lines = len(line_tx)
        weights = self.popularity * self.season[month - 1] * (self.last_month_sold >= year * 12 + month - 1)
        product_index = self._products(weights, rng.random(n_lines), self.traffic.sells_food[tx_store][line_tx])
        price = self.prices.month(year, month)[product_index]
        # Several units of a cheap item, rarely of a dear one: the chance of one more unit falls with price.
        one_more = MORE_UNITS * np.minimum(1.0, np.sqrt(MORE_UNITS_BELOW_CENTS / price))
        quantity = np.minimum(rng.geometric(1.0 - one_more), MAX_QUANTITY)
        gross = quantity * price
        percent = np.where(rng.random(n_lines) < DISCOUNTED_SHARE, rng.choice(DISCOUNT_PERCENTS, n_lines), 0)
        discount = (gross * percent + 50) // 100

        lines = Lines(
            transaction_id=((year * 100 + month) * 10**8 + 1 + line_tx).astype(np.int64),
            line_number=(np.arange(n_lines) - np.repeat(starts, sizes) + 1).astype(np.int16),
            ts_us=ts_us[line_tx],
            store_id=self.store_ids[tx_store][line_tx],
            product_id=self.product_ids[product_index].astype(np.int64),
            quantity=quantity.astype(np.int64),
            unit_price=price,
            discount=discount,
            line_total=gross - discount,
            payment=payment[line_tx],
            store_missing=np.zeros(n_lines, dtype=bool),
            product_missing=np.zeros(n_lines, dtype=bool),
        )
        lines, totals, injected = inject_defects(lines, starts, sizes, self.rates, len(self.product_ids), rng)
        return TransactionChunk(year, month, _to_frame(lines, totals), _injected_by_day(injected, dates[tx_day]))

    def _products(self, weights: np.ndarray, draw: np.ndarray, food_store: np.ndarray) -> np.ndarray:
        """The product of each line: by `weights` over the whole assortment in stores that sell food, over
        the non-food products elsewhere (one uniform draw per line either way)."""
        product_index = _pick(weights, draw)
        if not food_store.all():
            elsewhere = ~food_store
            product_index[elsewhere] = self.non_food_products[_pick(weights[self.non_food_products], draw[elsewhere])]
        return product_index

    @staticmethod
    def _hours(rng: np.random.Generator, short: np.ndarray) -> np.ndarray:
        full = np.cumsum(HOUR_WEIGHTS) / HOUR_WEIGHTS.sum()
        early = np.cumsum(HOUR_WEIGHTS[:SHORT_DAY_HOURS]) / HOUR_WEIGHTS[:SHORT_DAY_HOURS].sum()
        draw = rng.random(len(short))
        hour = np.where(short, np.searchsorted(early, draw), np.searchsorted(full, draw))
        return FIRST_HOUR + np.minimum(hour, len(HOUR_WEIGHTS) - 1)

    @staticmethod
    def _payment(rng: np.random.Generator, year: int, n: int) -> np.ndarray:
        shares = np.clip(PAYMENT_2020 + PAYMENT_DRIFT * (year - 2020), 0.02, None)
        cdf = np.cumsum(shares) / shares.sum()
        return np.minimum(np.searchsorted(cdf, rng.random(n)), len(shares) - 1).astype(np.int8)


def _injected_by_day(injected: dict[str, tuple[np.ndarray, np.ndarray]], tx_date: np.ndarray) -> pl.DataFrame:
    """Rows per day and reason, from the transactions each defect went into (`tx_date`: each one's date)."""
    parts = [
        pl.DataFrame(
            {"date": tx_date[transactions], "reason": reason, "rows": rows},
            schema={"date": pl.Date, "reason": pl.String, "rows": pl.Int64},
        )
        for reason, (transactions, rows) in injected.items()
    ]
    return pl.concat(parts).group_by("date", "reason").agg(pl.col("rows").sum()).sort("date", "reason")


def _pick(weights: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Indices drawn with probability proportional to `weights`, from uniform draws in [0, 1).

    The same indices as a binary search of each draw in the cumulative weights
    (`np.searchsorted(cdf, draw * total, side="right")`), in a quarter of the time for a month's lines among
    50,000 products: a guide table (`_guide`) gives each draw, in one lookup, an index at or before its answer,
    from where a few steps forward, taken only for the draws that need them, reach it.
    """
    cdf = np.cumsum(weights)
    values = draw * cdf[-1]
    bins = GUIDE_BINS_PER_WEIGHT * len(cdf)
    index = _guide(cdf, bins)[np.minimum((draw * bins).astype(np.int64), bins - 1)]
    last = len(cdf) - 1
    behind = np.flatnonzero((index <= last) & (cdf[np.minimum(index, last)] <= values))
    while behind.size:  # the answer is the first index whose cumulative weight exceeds the value
        index[behind] += 1
        ahead = index[behind]
        behind = behind[(ahead <= last) & (cdf[np.minimum(ahead, last)] <= values[behind])]
    return np.minimum(index, last)


def _guide(cdf: np.ndarray, bins: int) -> np.ndarray:
    """For each of `bins` equal slices of the draws [0, 1), the search's answer for a value just below the least
    any draw in the slice can give (shrunk by a relative 1e-9 against rounding), so never past the answer."""
    lowest = np.arange(bins) / bins * cdf[-1] * (1 - 1e-9)
    return np.searchsorted(cdf, lowest, side="right")


def _to_frame(lines: Lines, totals: np.ndarray) -> pl.DataFrame:
    """The bronze transactions frame: exact Decimal money, nullable keys."""
    store_id = pl.Series("store_id", lines.store_id, dtype=pl.Int32)
    product_id = pl.Series("product_id", lines.product_id, dtype=pl.Int32)
    return pl.DataFrame(
        [
            pl.Series("transaction_id", lines.transaction_id, dtype=pl.Int64),
            pl.Series("line_number", lines.line_number, dtype=pl.Int16),
            pl.Series("transaction_ts", lines.ts_us, dtype=pl.Int64).cast(pl.Datetime("us")),
            store_id.scatter(np.flatnonzero(lines.store_missing), None),
            product_id.scatter(np.flatnonzero(lines.product_missing), None),
            pl.Series("quantity", lines.quantity, dtype=pl.Int32),
            decimal_from_cents(lines.unit_price, PRICE).alias("unit_price"),
            decimal_from_cents(lines.discount, PRICE).alias("discount"),
            decimal_from_cents(lines.line_total, LINE_MONEY).alias("line_total"),
            decimal_from_cents(totals, LINE_MONEY).alias("transaction_total"),
            _PAYMENT_METHODS.gather(lines.payment).cast(pl.String).alias("payment_method"),
        ]
    )
