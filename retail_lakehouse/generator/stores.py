"""Stores: 500 of them spread over the 16 federal states in proportion to population."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from retail_lakehouse.generator.seeds import rng_for
from retail_lakehouse.reference import FEDERAL_STATES, STORE_FORMATS, store_format
from retail_lakehouse.schemas import BronzeStores, polars_schema

# The larger cities of each state, largest first.
STATE_CITIES: dict[str, tuple[str, ...]] = {
    "BW": ("Stuttgart", "Mannheim", "Karlsruhe", "Freiburg", "Heidelberg", "Ulm"),
    "BY": ("München", "Nürnberg", "Augsburg", "Regensburg", "Würzburg", "Ingolstadt"),
    "BE": ("Berlin",),
    "BB": ("Potsdam", "Cottbus", "Brandenburg an der Havel", "Frankfurt (Oder)"),
    "HB": ("Bremen", "Bremerhaven"),
    "HH": ("Hamburg",),
    "HE": ("Frankfurt am Main", "Wiesbaden", "Kassel", "Darmstadt", "Offenbach"),
    "MV": ("Rostock", "Schwerin", "Neubrandenburg", "Stralsund"),
    "NI": ("Hannover", "Braunschweig", "Oldenburg", "Osnabrück", "Wolfsburg"),
    "NW": ("Köln", "Düsseldorf", "Dortmund", "Essen", "Duisburg", "Bochum", "Münster", "Bielefeld", "Bonn"),
    "RP": ("Mainz", "Ludwigshafen", "Koblenz", "Trier", "Kaiserslautern"),
    "SL": ("Saarbrücken", "Neunkirchen", "Homburg"),
    "SN": ("Leipzig", "Dresden", "Chemnitz", "Zwickau"),
    "ST": ("Halle (Saale)", "Magdeburg", "Dessau-Roßlau"),
    "SH": ("Kiel", "Lübeck", "Flensburg", "Neumünster"),
    "TH": ("Erfurt", "Jena", "Gera", "Weimar"),
}


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
    city_pick = rng.random(n_stores)

    rows = []
    per_city: dict[str, int] = {}
    for i, (code, fmt) in enumerate(zip(state_codes, drawn_formats, strict=True)):
        cities = STATE_CITIES[code]
        # Bigger cities get more stores: the first-listed city is the state's largest.
        city = cities[min(int(len(cities) * city_pick[i] ** 1.8), len(cities) - 1)]
        per_city[city] = per_city.get(city, 0) + 1
        rows.append(
            (
                i + 1,
                f"Nordstern {store_format(fmt).sign} {city} {per_city[city]}",
                city,
                code,
                regions[code],
                fmt,
                FIRST_OPENING + dt.timedelta(days=int(offset[i])),
            )
        )
    return pl.DataFrame(rows, schema=polars_schema(BronzeStores), orient="row")


def store_traffic(stores: pl.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected daily transactions (relative) and mean basket lines per store.

    The store's format sets the level; a per-store factor (location, size) spreads stores of one format,
    so there are clear top stores. Derived from the seed, not stored: it is the generator's hidden truth.
    """
    rng = rng_for(seed, "store_traffic")
    formats = stores["format"].to_list()
    location = rng.lognormal(mean=0.0, sigma=0.3, size=len(formats))
    traffic = np.array([FORMAT_MODELS[f].daily_transactions for f in formats]) * location
    basket = np.array([FORMAT_MODELS[f].basket_lines for f in formats])
    return traffic, basket
