"""Stores: 500 of them spread over the 16 federal states in proportion to population, in real towns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from retail_lakehouse.generator.places import pick_places, postcode, spread, street
from retail_lakehouse.generator.seeds import rng_for
from retail_lakehouse.reference import FEDERAL_STATES, STORE_FORMATS, store_format
from retail_lakehouse.schemas import BronzeStores, polars_schema


@dataclass(frozen=True)
class FormatModel:
    """How a store format trades in the generator: its share of stores, traffic and basket size."""

    share_of_stores: float
    daily_transactions: float  # relative to the other formats
    basket_lines: float  # mean lines per basket


FORMAT_MODELS: dict[str, FormatModel] = {
    "hypermarket": FormatModel(0.09, 3.0, 5.5),
    "supermarket": FormatModel(0.38, 1.5, 4.0),
    "discounter": FormatModel(0.33, 1.2, 3.2),
    "convenience": FormatModel(0.14, 0.6, 2.0),
    "specialist": FormatModel(0.06, 0.7, 1.8),
}
SHARE_OPENED_DURING_YEARS = 0.15
FIRST_OPENING = dt.date(1995, 1, 1)


def stores_per_state(n_stores: int) -> dict[str, int]:
    """Split `n_stores` over the states by population (largest remainder), at least one per state."""
    population = np.array([state.population_millions for state in FEDERAL_STATES])
    spare = n_stores - len(FEDERAL_STATES)
    quota = population / population.sum() * spare
    counts = np.floor(quota).astype(int)
    counts[np.argsort(-(quota - counts), kind="stable")[: spare - counts.sum()]] += 1
    return {state.code: int(count) + 1 for state, count in zip(FEDERAL_STATES, counts, strict=True)}


def generate_stores(n_stores: int, seed: int, years: tuple[int, ...]) -> pl.DataFrame:
    """One row per store; most opened before the first year, some during the years (part of growth)."""
    rng = rng_for(seed, "stores")
    regions = {state.code: state.region for state in FEDERAL_STATES}
    state_codes = np.repeat(list(stores_per_state(n_stores)), list(stores_per_state(n_stores).values()))
    formats = list(STORE_FORMATS)
    format_share = np.array([FORMAT_MODELS[f].share_of_stores for f in formats])
    drawn_formats = rng.choice(formats, size=n_stores, p=format_share / format_share.sum())

    first_day = dt.date(years[0], 1, 1)
    span_before = (first_day - FIRST_OPENING).days
    span_during = (dt.date(years[-1], 12, 31) - first_day).days
    opens_during = rng.random(n_stores) < SHARE_OPENED_DURING_YEARS
    offset = np.where(
        opens_during,
        span_before + rng.integers(0, span_during, n_stores),
        rng.integers(0, span_before, n_stores),
    )
    places = pick_places(list(state_codes), rng.random(n_stores))
    angle, radius, street_name, house, digits, area = rng.random((6, n_stores))

    rows = []
    per_city: dict[str, int] = {}
    for i, (place, fmt) in enumerate(zip(places, drawn_formats, strict=True)):
        per_city[place.city] = per_city.get(place.city, 0) + 1
        details = store_format(fmt)
        latitude, longitude = spread(place, 2 * np.pi * angle[i], radius[i])
        # Sales areas cluster at the small end of a format's band: many ordinary stores, a few large ones.
        sales_area = details.min_area_m2 + (details.max_area_m2 - details.min_area_m2) * area[i] ** 1.5
        rows.append(
            (
                i + 1,
                f"Nordstern {details.sign} {place.city} {per_city[place.city]}",
                place.city,
                place.state_code,
                regions[place.state_code],
                fmt,
                FIRST_OPENING + dt.timedelta(days=int(offset[i])),
                street(street_name[i], house[i]),
                postcode(place, int(digits[i] * 1000)),
                latitude,
                longitude,
                int(round(sales_area, -1)),
            )
        )
    return pl.DataFrame(rows, schema=polars_schema(BronzeStores), orient="row")


def store_traffic(stores: pl.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected daily transactions (relative) and mean basket lines per store.

    The store's format sets the level; its sales area against the format's usual one, and a hidden factor
    for its location, spread the stores of one format, so there are clear top stores. Derived from the seed,
    not stored: it is the generator's hidden truth.
    """
    rng = rng_for(seed, "store_traffic")
    formats = stores["format"].to_list()
    location = rng.lognormal(mean=0.0, sigma=0.25, size=len(formats))
    usual_area = np.array([(store_format(f).min_area_m2 + store_format(f).max_area_m2) / 2 for f in formats])
    size = np.sqrt(stores["sales_area_m2"].to_numpy() / usual_area)
    traffic = np.array([FORMAT_MODELS[f].daily_transactions for f in formats]) * location * size
    basket = np.array([FORMAT_MODELS[f].basket_lines for f in formats])
    return traffic, basket
