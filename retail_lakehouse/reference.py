"""Reference data of a German grocery retailer, in one place: the closed sets every layer agrees on.

Federal states, product categories, store formats, payment methods, VAT rates and quarantine reasons are
defined here once. The schemas validate against them (`isin`), the generator draws from them and the
dashboard names things with them. Stored columns stay `pl.String` (Delta Lake has no enum type); the
`pl.Enum` dtypes at the end are for in-memory work, where a fixed, small set of values should be compact and
sort in its natural order rather than alphabetically.

Each set has one name: the records (`FEDERAL_STATES`, `CATEGORY_DETAILS`, `STORE_FORMAT_DETAILS`) and the
values a column holds (`STATE_CODES`, `CATEGORIES`, `STORE_FORMATS`, ...), derived from the records.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, NamedTuple

import polars as pl

VatClass = Literal["reduced", "standard"]


class FederalState(NamedTuple):
    """A German federal state (Bundesland)."""

    code: str  # ISO 3166-2:DE without the country prefix
    name: str
    region: str  # the compass region retail reports group states into
    population_millions: float  # Destatis, end of 2022
    postcode_prefixes: tuple[str, ...]  # the two-digit postal regions (Leitregionen) that lie mostly in the state


class Category(NamedTuple):
    """A product category: its VAT class, and whether it is food (what grocers sold through the lockdowns)."""

    name: str
    vat_class: VatClass
    is_food: bool


class StoreFormat(NamedTuple):
    """A store format: the word on its sign, whether it sells food, and its usual sales area."""

    name: str
    sign: str
    sells_food: bool
    min_area_m2: int
    max_area_m2: int


class VatPeriod(NamedTuple):
    """The VAT rates in percent that applied from `first_day` to `last_day`, both included."""

    first_day: dt.date
    last_day: dt.date
    reduced: int
    standard: int


REGIONS: tuple[str, ...] = ("Nord", "Ost", "Süd", "West")

FEDERAL_STATES: tuple[FederalState, ...] = (
    FederalState("BW", "Baden-Württemberg", "Süd", 11.28,
                 ("68", "69", "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "88", "89")),
    FederalState("BY", "Bayern", "Süd", 13.37,
                 ("80", "81", "82", "83", "84", "85", "86", "87", "90", "91", "92", "93", "94", "95", "96", "97")),
    FederalState("BE", "Berlin", "Ost", 3.76, ("10", "12", "13")),
    FederalState("BB", "Brandenburg", "Ost", 2.57, ("03", "14", "15", "16")),
    FederalState("HB", "Bremen", "Nord", 0.68, ("27", "28")),
    FederalState("HH", "Hamburg", "Nord", 1.89, ("20", "21", "22")),
    FederalState("HE", "Hessen", "West", 6.39, ("34", "35", "36", "60", "61", "63", "64", "65")),
    FederalState("MV", "Mecklenburg-Vorpommern", "Nord", 1.63, ("17", "18", "19")),
    FederalState("NI", "Niedersachsen", "Nord", 8.14, ("26", "27", "29", "30", "31", "37", "38", "49")),
    FederalState("NW", "Nordrhein-Westfalen", "West", 18.14,
                 ("32", "33", "40", "41", "42", "44", "45", "46", "47", "48", "50", "51", "52", "53", "57", "58",
                  "59")),
    FederalState("RP", "Rheinland-Pfalz", "West", 4.16, ("54", "55", "56", "67")),
    FederalState("SL", "Saarland", "West", 0.99, ("66",)),
    FederalState("SN", "Sachsen", "Ost", 4.09, ("01", "02", "04", "08", "09")),
    FederalState("ST", "Sachsen-Anhalt", "Ost", 2.19, ("06", "39")),
    FederalState("SH", "Schleswig-Holstein", "Nord", 2.95, ("23", "24", "25")),
    FederalState("TH", "Thüringen", "Ost", 2.13, ("07", "98", "99")),
)  # fmt: skip

CATEGORY_DETAILS: tuple[Category, ...] = (
    Category("Fresh Produce", "reduced", True),
    Category("Dairy & Eggs", "reduced", True),
    Category("Bakery", "reduced", True),
    Category("Meat & Fish", "reduced", True),
    Category("Beverages", "standard", True),  # drinks other than milk carry the standard rate
    Category("Snacks & Sweets", "reduced", True),
    Category("Frozen Food", "reduced", True),
    Category("Household", "standard", False),
    Category("Personal Care", "standard", False),
    Category("Electronics", "standard", False),
    Category("Home & Garden", "standard", False),
)

# Sales areas after the usual German trade definitions (EHI): a hypermarket (SB-Warenhaus) has 5,000 m2 or
# more, a supermarket 400 to 2,500, a discounter mostly 800 to 1,400, a convenience store a few hundred, a
# specialist store (Fachmarkt: household, care, electronics, home and garden; no food) 800 to 4,000.
STORE_FORMAT_DETAILS: tuple[StoreFormat, ...] = (
    StoreFormat("hypermarket", "Center", True, 5_000, 12_000),
    StoreFormat("supermarket", "Markt", True, 800, 2_500),
    StoreFormat("discounter", "Discount", True, 800, 1_400),
    StoreFormat("convenience", "Express", True, 100, 400),
    StoreFormat("specialist", "Fachmarkt", False, 800, 4_000),
)

PAYMENT_METHODS: tuple[str, ...] = ("cash", "girocard", "credit_card", "mobile")

# How deep a line's discount goes, as a share of its gross (quantity times unit price): each bucket holds
# discounts above the previous bucket's upper bound up to and including its own, in percent.
DISCOUNT_BUCKETS: tuple[tuple[str, int], ...] = (
    ("none", 0),
    ("up_to_10", 10),
    ("10_to_20", 20),
    ("20_to_30", 30),
    ("30_to_50", 50),
    ("over_50", 100),
)

VAT_CLASSES: tuple[str, ...] = ("reduced", "standard")

# German VAT (Umsatzsteuer) since the reduced rate reached 7 %: the temporary cut of the second half of 2020
# is the one the data's years meet.
VAT_PERIODS: tuple[VatPeriod, ...] = (
    VatPeriod(dt.date(1983, 7, 1), dt.date(1992, 12, 31), 7, 14),
    VatPeriod(dt.date(1993, 1, 1), dt.date(1998, 3, 31), 7, 15),
    VatPeriod(dt.date(1998, 4, 1), dt.date(2006, 12, 31), 7, 16),
    VatPeriod(dt.date(2007, 1, 1), dt.date(2020, 6, 30), 7, 19),
    VatPeriod(dt.date(2020, 7, 1), dt.date(2020, 12, 31), 5, 16),
    VatPeriod(dt.date(2021, 1, 1), dt.date(9999, 12, 31), 7, 19),
)

# Reasons silver gives for quarantining a row, in the order the rules are applied. The generator's defect
# manifest uses the same names, so a check can compare the two reason by reason.
QUARANTINE_REASONS: tuple[str, ...] = (
    "duplicate",
    "conflicting_duplicate",
    "missing_key",
    "unknown_store",
    "unknown_product",
    "non_positive_quantity",
    "non_positive_price",
    "line_total_mismatch",
    "wrong_year",
    "transaction_total_mismatch",
)

VAT_PERCENTS: tuple[int, ...] = tuple(sorted({rate for p in VAT_PERIODS for rate in (p.reduced, p.standard)}))
STATE_CODES: tuple[str, ...] = tuple(state.code for state in FEDERAL_STATES)
CATEGORIES: tuple[str, ...] = tuple(category.name for category in CATEGORY_DETAILS)
FOOD_CATEGORIES: tuple[str, ...] = tuple(category.name for category in CATEGORY_DETAILS if category.is_food)
STORE_FORMATS: tuple[str, ...] = tuple(store_format.name for store_format in STORE_FORMAT_DETAILS)
DISCOUNT_BUCKET_NAMES: tuple[str, ...] = tuple(name for name, _ in DISCOUNT_BUCKETS)

STATE_CODE_ENUM = pl.Enum(STATE_CODES)
REGION_ENUM = pl.Enum(REGIONS)
CATEGORY_ENUM = pl.Enum(CATEGORIES)
STORE_FORMAT_ENUM = pl.Enum(STORE_FORMATS)
PAYMENT_METHOD_ENUM = pl.Enum(PAYMENT_METHODS)
VAT_CLASS_ENUM = pl.Enum(VAT_CLASSES)
QUARANTINE_REASON_ENUM = pl.Enum(QUARANTINE_REASONS)
DISCOUNT_BUCKET_ENUM = pl.Enum(DISCOUNT_BUCKET_NAMES)


def federal_state(code: str) -> FederalState:
    """The federal state with ISO code `code` (KeyError for an unknown code)."""
    return {state.code: state for state in FEDERAL_STATES}[code]


def category(name: str) -> Category:
    """The category called `name` (KeyError for an unknown name)."""
    return {item.name: item for item in CATEGORY_DETAILS}[name]


def store_format(name: str) -> StoreFormat:
    """The store format called `name` (KeyError for an unknown name)."""
    return {item.name: item for item in STORE_FORMAT_DETAILS}[name]


def vat_percent(vat_class: VatClass, day: dt.date) -> int:
    """The VAT rate in percent that applied to a sale of `vat_class` on `day`."""
    for period in VAT_PERIODS:
        if period.first_day <= day <= period.last_day:
            return period.reduced if vat_class == "reduced" else period.standard
    raise ValueError(f"no German VAT rate is known for {day}")
