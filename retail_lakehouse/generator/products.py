"""Products: 50,000 in 11 categories, log-normal prices per category, Zipf-like popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from retail_lakehouse.generator.money import decimal_from_cents
from retail_lakehouse.generator.seeds import rng_for
from retail_lakehouse.schemas import PRICE


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


CATEGORY_MODELS: tuple[CategoryModel, ...] = (
    CategoryModel("Fresh Produce", "FP", 0.08, 1.6, 1.8, 0.5, ("Fruit", "Vegetables", "Herbs", "Salad"),
             ("Nordstern", "Grünland", "Bauernglück", "Sonnenhof"), inflation=1.1),
    CategoryModel("Dairy & Eggs", "DE", 0.08, 1.5, 1.9, 0.5, ("Milk", "Cheese", "Yogurt", "Butter", "Eggs"),
             ("Nordstern", "Alpenhof", "Weidegold", "Milchland"), inflation=1.2),
    CategoryModel("Bakery", "BA", 0.05, 1.2, 2.0, 0.5, ("Bread", "Rolls", "Cakes", "Pretzels"),
             ("Nordstern", "Backstube", "Kornmeister")),
    CategoryModel("Meat & Fish", "MF", 0.07, 0.9, 5.5, 0.6, ("Poultry", "Pork", "Beef", "Sausages", "Fish"),
             ("Nordstern", "Landmetzger", "Küstenfang"),
             (0.95, 0.95, 0.97, 1.0, 1.05, 1.1, 1.12, 1.1, 1.0, 0.95, 0.95, 0.95)),
    CategoryModel("Beverages", "BV", 0.12, 1.3, 2.5, 0.8, ("Water", "Soft Drinks", "Beer", "Wine", "Coffee", "Tea"),
             ("Nordstern", "Bergquelle", "Brauhaus", "Rebenhang", "Röstwerk"),
             (0.9, 0.9, 0.95, 1.0, 1.08, 1.15, 1.2, 1.15, 1.0, 0.95, 0.9, 0.92), inflation=0.85),
    CategoryModel("Snacks & Sweets", "SS", 0.10, 1.0, 1.9, 0.5, ("Chocolate", "Chips", "Cookies", "Gum", "Nuts"),
             ("Nordstern", "Süßwerk", "Knusperland"),
             (0.92, 0.94, 0.98, 1.05, 0.95, 0.92, 0.9, 0.9, 0.95, 1.0, 1.1, 1.3), inflation=0.95),
    CategoryModel("Frozen Food", "FF", 0.07, 0.7, 3.0, 0.5, ("Pizza", "Vegetables", "Ice Cream", "Ready Meals"),
             ("Nordstern", "Eiskristall", "Ofenfrisch"),
             (0.95, 0.95, 0.95, 1.0, 1.05, 1.1, 1.15, 1.1, 1.0, 0.95, 0.9, 0.9), inflation=0.9),
    CategoryModel("Household", "HH", 0.09, 0.6, 4.0, 0.6, ("Cleaning", "Paper", "Laundry", "Dishwashing"),
             ("Nordstern", "Blitzblank", "Frischwind"), inflation=1.2),
    CategoryModel("Personal Care", "PC", 0.10, 0.6, 3.5, 0.7, ("Hair", "Skin", "Oral Care", "Baby", "Deodorant"),
             ("Nordstern", "Pflegezeit", "Naturella"), inflation=1.1),
    CategoryModel("Electronics", "EL", 0.10, 0.12, 25.0, 1.0, ("Accessories", "Small Appliances", "Media", "Batteries"),
             ("Voltmann", "Techniko", "Klangwerk"),
             (0.85, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.95, 1.0, 1.05, 1.2, 1.7), inflation=0.5),
    CategoryModel("Home & Garden", "HG", 0.14, 0.25, 12.0, 0.9, ("Kitchen", "Garden", "Toys", "Stationery", "Decor"),
             ("Nordstern", "Gartenfreund", "Wohnidee", "Spielwelt"),
             (0.75, 0.8, 1.0, 1.15, 1.2, 1.1, 1.0, 0.95, 0.95, 0.95, 1.05, 1.35)),
)  # fmt: skip

SIZES = ("250 g", "500 g", "1 kg", "1 l", "0,5 l", "6er", "Family", "Bio", "Classic", "Premium")
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


def generate_products(n_products: int, seed: int) -> pl.DataFrame:
    """One row per product: id, SKU, name, category, subcategory, brand and a list price in Decimal."""
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

    names, subcategories, brands, skus = [], [], [], []
    sub_pick, brand_pick, size_pick = rng.random((3, n_products))
    for i, cat in enumerate(category_index):
        category = CATEGORY_MODELS[cat]
        sub = category.subcategories[int(sub_pick[i] * len(category.subcategories))]
        brand = category.brands[int(brand_pick[i] ** 1.5 * len(category.brands))]
        subcategories.append(sub)
        brands.append(brand)
        names.append(f"{brand} {sub} {SIZES[int(size_pick[i] * len(SIZES))]} #{i + 1}")
        skus.append(f"DE-{category.code}-{i + 1:07d}")
    return pl.DataFrame(
        {
            "product_id": product_id,
            "sku": skus,
            "product_name": names,
            "category": [CATEGORY_MODELS[c].name for c in category_index],
            "subcategory": subcategories,
            "brand": brands,
            "list_price": decimal_from_cents(price_cents, PRICE),
        }
    )


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
