"""Products: 50,000 in 11 categories, log-normal prices per category, Zipf-like popularity, a few delisted."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from retail_lakehouse.generator.money import decimal_from_cents
from retail_lakehouse.generator.seeds import rng_for
from retail_lakehouse.reference import category
from retail_lakehouse.schemas import PRICE, BronzeProducts, polars_schema


@dataclass(frozen=True)
class CategoryModel:
    """How the generator makes and sells a category's products (its VAT class and food flag: `reference`)."""

    name: str
    code: str
    share_of_products: float
    popularity: float  # how often a basket line is from this category, relative
    median_price: float  # EUR
    price_sigma: float
    subcategories: tuple[str, ...]
    brands: tuple[str, ...]
    # Demand by month (Jan..Dec) relative to the category's average: gifts in December, drinks in summer.
    season: tuple[float, ...] = (1.0,) * 12
    # Price inflation relative to the food or non-food rate of a year (see prices.py): butter and milk rose
    # faster than food on average in 2022, electronics slower than other goods.
    inflation: float = 1.0
    unit_sizes: tuple[str, ...] = ("1 Stück",)  # how the package is sold, as the shelf label says it


CATEGORY_MODELS: tuple[CategoryModel, ...] = (
    CategoryModel("Fresh Produce", "FP", 0.08, 1.6, 1.8, 0.5, ("Fruit", "Vegetables", "Herbs", "Salad"),
             ("Nordstern", "Grünland", "Bauernglück", "Sonnenhof"), inflation=1.1,
             unit_sizes=("1 Stück", "250 g", "500 g", "1 kg", "2 kg", "Bund")),
    CategoryModel("Dairy & Eggs", "DE", 0.08, 1.5, 1.9, 0.5, ("Milk", "Cheese", "Yogurt", "Butter", "Eggs"),
             ("Nordstern", "Alpenhof", "Weidegold", "Milchland"), inflation=1.2,
             unit_sizes=("150 g", "200 g", "250 g", "500 g", "1 l", "10 Stück")),
    CategoryModel("Bakery", "BA", 0.05, 1.2, 2.0, 0.5, ("Bread", "Rolls", "Cakes", "Pretzels"),
             ("Nordstern", "Backstube", "Kornmeister"),
             unit_sizes=("1 Stück", "4 Stück", "6 Stück", "400 g", "500 g", "750 g")),
    CategoryModel("Meat & Fish", "MF", 0.07, 0.9, 5.5, 0.6, ("Poultry", "Pork", "Beef", "Sausages", "Fish"),
             ("Nordstern", "Landmetzger", "Küstenfang"),
             (0.95, 0.95, 0.97, 1.0, 1.05, 1.1, 1.12, 1.1, 1.0, 0.95, 0.95, 0.95),
             unit_sizes=("150 g", "200 g", "300 g", "400 g", "500 g", "1 kg")),
    CategoryModel("Beverages", "BV", 0.12, 1.3, 2.5, 0.8, ("Water", "Soft Drinks", "Beer", "Wine", "Coffee", "Tea"),
             ("Nordstern", "Bergquelle", "Brauhaus", "Rebenhang", "Röstwerk"),
             (0.9, 0.9, 0.95, 1.0, 1.08, 1.15, 1.2, 1.15, 1.0, 0.95, 0.9, 0.92), inflation=0.85,
             unit_sizes=("0,33 l", "0,5 l", "0,75 l", "1 l", "1,5 l", "6 x 1,5 l", "500 g")),
    CategoryModel("Snacks & Sweets", "SS", 0.10, 1.0, 1.9, 0.5, ("Chocolate", "Chips", "Cookies", "Gum", "Nuts"),
             ("Nordstern", "Süßwerk", "Knusperland"),
             (0.92, 0.94, 0.98, 1.05, 0.95, 0.92, 0.9, 0.9, 0.95, 1.0, 1.1, 1.3), inflation=0.95,
             unit_sizes=("40 g", "100 g", "125 g", "175 g", "200 g", "300 g")),
    CategoryModel("Frozen Food", "FF", 0.07, 0.7, 3.0, 0.5, ("Pizza", "Vegetables", "Ice Cream", "Ready Meals"),
             ("Nordstern", "Eiskristall", "Ofenfrisch"),
             (0.95, 0.95, 0.95, 1.0, 1.05, 1.1, 1.15, 1.1, 1.0, 0.95, 0.9, 0.9), inflation=0.9,
             unit_sizes=("300 g", "350 g", "450 g", "750 g", "1 kg", "900 ml")),
    CategoryModel("Household", "HH", 0.09, 0.6, 4.0, 0.6, ("Cleaning", "Paper", "Laundry", "Dishwashing"),
             ("Nordstern", "Blitzblank", "Frischwind"), inflation=1.2,
             unit_sizes=("1 Stück", "8 Rollen", "10 Rollen", "500 ml", "1 l", "1,35 kg")),
    CategoryModel("Personal Care", "PC", 0.10, 0.6, 3.5, 0.7, ("Hair", "Skin", "Oral Care", "Baby", "Deodorant"),
             ("Nordstern", "Pflegezeit", "Naturella"), inflation=1.1,
             unit_sizes=("50 ml", "75 ml", "100 ml", "250 ml", "300 ml", "1 Stück")),
    CategoryModel("Electronics", "EL", 0.10, 0.12, 25.0, 1.0, ("Accessories", "Small Appliances", "Media", "Batteries"),
             ("Voltmann", "Techniko", "Klangwerk"),
             (0.85, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.95, 1.0, 1.05, 1.2, 1.7), inflation=0.5,
             unit_sizes=("1 Stück", "2 Stück", "4 Stück", "8 Stück")),
    CategoryModel("Home & Garden", "HG", 0.14, 0.25, 12.0, 0.9, ("Kitchen", "Garden", "Toys", "Stationery", "Decor"),
             ("Nordstern", "Gartenfreund", "Wohnidee", "Spielwelt"),
             (0.75, 0.8, 1.0, 1.15, 1.2, 1.1, 1.0, 0.95, 0.95, 0.95, 1.05, 1.35),
             unit_sizes=("1 Stück", "2 Stück", "3 Stück", "5 l", "10 l", "20 l")),
)  # fmt: skip

# A share of the assortment is delisted during the years, at the end of a month; it sells up to that day.
DELISTED_SHARE = 0.08
# Popularity is Zipf-Mandelbrot, 1 / (rank + offset) ** exponent: the offset flattens the head, so the top
# fifth of the assortment earns about three quarters of revenue and no single product a whole percent of it.
ZIPF_EXPONENT = 0.9
ZIPF_OFFSET = 60
# Within a category the cheaper products sell more often: popularity falls with price ** -elasticity.
PRICE_ELASTICITY = 0.3


def _split(total: int, shares: np.ndarray) -> np.ndarray:
    """Integer counts summing to `total`, proportional to `shares` (largest remainder)."""
    quota = shares / shares.sum() * total
    counts = np.floor(quota).astype(np.int64)
    counts[np.argsort(-(quota - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def generate_products(n_products: int, seed: int, years: tuple[int, ...]) -> pl.DataFrame:
    """One row per product: id, SKU, EAN, name, category, brand, unit size, VAT class, a list price in Decimal
    (its 2020 shelf price), and for the few delisted during `years`, the last day they were sold."""
    rng = rng_for(seed, "products")
    counts = _split(n_products, np.array([c.share_of_products for c in CATEGORY_MODELS]))
    category_index = np.repeat(np.arange(len(CATEGORY_MODELS)), counts)
    rng.shuffle(category_index)
    product_id = np.arange(1, n_products + 1, dtype=np.int32)

    median = np.array([c.median_price for c in CATEGORY_MODELS])[category_index]
    sigma = np.array([c.price_sigma for c in CATEGORY_MODELS])[category_index]
    euros = median * rng.lognormal(0.0, sigma)
    # Shelf prices end in 9 cents: 1.99, 2.49, 24.99.
    price_cents = np.maximum(np.round(euros * 10).astype(np.int64) * 10 - 1, 19)

    names, subcategories, brands, skus, sizes, eans = [], [], [], [], [], []
    sub_pick, brand_pick, size_pick = rng.random((3, n_products))
    for i, cat in enumerate(category_index):
        model = CATEGORY_MODELS[cat]
        sub = model.subcategories[int(sub_pick[i] * len(model.subcategories))]
        brand = model.brands[int(brand_pick[i] ** 1.5 * len(model.brands))]
        size = model.unit_sizes[int(size_pick[i] * len(model.unit_sizes))]
        subcategories.append(sub)
        brands.append(brand)
        sizes.append(size)
        names.append(f"{brand} {sub} {size} #{i + 1}")
        skus.append(f"DE-{model.code}-{i + 1:07d}")
        eans.append(ean13(brand, i + 1))
    delisted = rng.random(n_products) < DELISTED_SHARE
    last_days = _month_ends(years)
    delisted_on = pl.Series("delisted_on", last_days[rng.integers(0, len(last_days), n_products)], dtype=pl.Date)
    names_by_index = [CATEGORY_MODELS[c].name for c in category_index]
    return pl.DataFrame(
        {
            "product_id": product_id,
            "sku": skus,
            "product_name": names,
            "category": names_by_index,
            "subcategory": subcategories,
            "brand": brands,
            "list_price": decimal_from_cents(price_cents, PRICE),
            "ean": eans,
            "unit_size": sizes,
            "vat_class": [category(name).vat_class for name in names_by_index],
            "is_active": ~delisted,
            "delisted_on": delisted_on.scatter(np.flatnonzero(~delisted), None),
        },
        schema=polars_schema(BronzeProducts),
    )


def ean13(brand: str, item: int) -> str:
    """A valid EAN-13: a German GS1 prefix (400-439) by brand, the item number, and the check digit.

    The prefix and brand code take four digits and the item eight, so every product id up to 99,999,999 gets
    its own code.
    """
    body = f"4{zlib.crc32(brand.encode()) % 400:03d}{item:08d}"
    return body + str(ean_check_digit(body))


def ean_check_digit(body: str) -> int:
    """GS1's check digit for 12 digits: weights 1 and 3 alternating from the left, up to a multiple of 10."""
    total = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(body))
    return (10 - total % 10) % 10


def _month_ends(years: tuple[int, ...]) -> np.ndarray:
    """The last day of every month of `years`, as datetime64[D]."""
    firsts = np.array([np.datetime64(f"{year}-{month:02d}-01") for year in years for month in range(1, 13)])
    return (firsts.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1


def product_popularity(products: pl.DataFrame, seed: int) -> np.ndarray:
    """Relative chance that a basket line is each product (before the month's seasonality and delistings).

    Zipf-Mandelbrot over a random ranking of the whole assortment, scaled by the category's popularity and
    damped for products dear for their category, so a minority of products earns most of the revenue, as in
    real retail, without one bestseller earning a noticeable share of the total.
    """
    rng = rng_for(seed, "popularity")
    rank = rng.permutation(products.height) + 1
    by_name = {c.name: c.popularity / c.share_of_products for c in CATEGORY_MODELS}
    median = {c.name: c.median_price for c in CATEGORY_MODELS}
    category_weight = products["category"].replace_strict(by_name, return_dtype=pl.Float64).to_numpy()
    relative_price = (
        products["list_price"].cast(pl.Float64) / products["category"].replace_strict(median, return_dtype=pl.Float64)
    ).to_numpy()
    return category_weight * (rank + ZIPF_OFFSET) ** -ZIPF_EXPONENT * relative_price**-PRICE_ELASTICITY


def category_season(products: pl.DataFrame) -> np.ndarray:
    """A (12, n_products) array: each product's demand factor per month from its category."""
    index = {c.name: i for i, c in enumerate(CATEGORY_MODELS)}
    cat = products["category"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
    season = np.array([c.season for c in CATEGORY_MODELS])  # (11, 12)
    return season[cat].T
