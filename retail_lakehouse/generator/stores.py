"""Stores: 500 of them spread over the 16 federal states in proportion to population."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from retail_lakehouse.generator.seeds import rng_for
from retail_lakehouse.schemas import BronzeStores, polars_schema

# (code, name, population in millions (2022), larger cities)
FEDERAL_STATES: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("BW", "Baden-Württemberg", 11.28, ("Stuttgart", "Mannheim", "Karlsruhe", "Freiburg", "Heidelberg", "Ulm")),
    ("BY", "Bayern", 13.37, ("München", "Nürnberg", "Augsburg", "Regensburg", "Würzburg", "Ingolstadt")),
    ("BE", "Berlin", 3.76, ("Berlin",)),
    ("BB", "Brandenburg", 2.57, ("Potsdam", "Cottbus", "Brandenburg an der Havel", "Frankfurt (Oder)")),
    ("HB", "Bremen", 0.68, ("Bremen", "Bremerhaven")),
    ("HH", "Hamburg", 1.89, ("Hamburg",)),
    ("HE", "Hessen", 6.39, ("Frankfurt am Main", "Wiesbaden", "Kassel", "Darmstadt", "Offenbach")),
    ("MV", "Mecklenburg-Vorpommern", 1.63, ("Rostock", "Schwerin", "Neubrandenburg", "Stralsund")),
    ("NI", "Niedersachsen", 8.14, ("Hannover", "Braunschweig", "Oldenburg", "Osnabrück", "Wolfsburg")),
    ("NW", "Nordrhein-Westfalen", 18.14,
     ("Köln", "Düsseldorf", "Dortmund", "Essen", "Duisburg", "Bochum", "Münster", "Bielefeld", "Bonn")),
    ("RP", "Rheinland-Pfalz", 4.16, ("Mainz", "Ludwigshafen", "Koblenz", "Trier", "Kaiserslautern")),
    ("SL", "Saarland", 0.99, ("Saarbrücken", "Neunkirchen", "Homburg")),
    ("SN", "Sachsen", 4.09, ("Leipzig", "Dresden", "Chemnitz", "Zwickau")),
    ("ST", "Sachsen-Anhalt", 2.19, ("Halle (Saale)", "Magdeburg", "Dessau-Roßlau")),
    ("SH", "Schleswig-Holstein", 2.95, ("Kiel", "Lübeck", "Flensburg", "Neumünster")),
    ("TH", "Thüringen", 2.13, ("Erfurt", "Jena", "Gera", "Weimar")),
)  # fmt: skip

# format -> (share of stores, relative daily transactions, mean lines per basket, name in the store's sign)
STORE_FORMATS: dict[str, tuple[float, float, float, str]] = {
    "hypermarket": (0.10, 3.0, 5.5, "Center"),
    "supermarket": (0.40, 1.5, 4.0, "Markt"),
    "discounter": (0.35, 1.2, 3.2, "Discount"),
    "convenience": (0.15, 0.6, 2.0, "Express"),
}
SHARE_OPENED_DURING_YEARS = 0.15
FIRST_OPENING = dt.date(1995, 1, 1)


def stores_per_state(n_stores: int) -> dict[str, int]:
    """Split `n_stores` over the states by population (largest remainder), at least one per state."""
    population = np.array([state[2] for state in FEDERAL_STATES])
    spare = n_stores - len(FEDERAL_STATES)
    quota = population / population.sum() * spare
    counts = np.floor(quota).astype(int)
    counts[np.argsort(-(quota - counts), kind="stable")[: spare - counts.sum()]] += 1
    return {state[0]: int(count) + 1 for state, count in zip(FEDERAL_STATES, counts, strict=True)}


def generate_stores(n_stores: int, seed: int, years: tuple[int, ...]) -> pl.DataFrame:
    """One row per store; most opened before the first year, some during the years (part of growth)."""
    rng = rng_for(seed, "stores")
    states = {code: (name, cities) for code, name, _, cities in FEDERAL_STATES}
    state_codes = np.repeat(list(stores_per_state(n_stores)), list(stores_per_state(n_stores).values()))
    formats = list(STORE_FORMATS)
    format_share = np.array([STORE_FORMATS[f][0] for f in formats])
    store_format = rng.choice(formats, size=n_stores, p=format_share / format_share.sum())

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
    for i, (code, fmt) in enumerate(zip(state_codes, store_format, strict=True)):
        region, cities = states[code]
        # Bigger cities get more stores: the first-listed city is the state's largest.
        city = cities[min(int(len(cities) * city_pick[i] ** 1.8), len(cities) - 1)]
        per_city[city] = per_city.get(city, 0) + 1
        rows.append(
            (
                i + 1,
                f"Nordstern {STORE_FORMATS[fmt][3]} {city} {per_city[city]}",
                city,
                code,
                region,
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
    traffic = np.array([STORE_FORMATS[f][1] for f in formats]) * location
    basket = np.array([STORE_FORMATS[f][2] for f in formats])
    return traffic, basket
