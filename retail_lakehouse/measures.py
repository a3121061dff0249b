"""The arithmetic of gold's measures, shared by the gold transforms and by readers that sum gold further.

Money stays exact: sums are Decimal, and `avg_basket` is computed in integer cents and rounded half away from
zero, never through a float. The dashboard re-aggregates gold with exactly these expressions, so a figure it
shows for a filtered period is computed the way gold computes its own grains.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from retail_lakehouse.schemas import REVENUE


def rolled_up_measures() -> list[pl.Expr]:
    """The same measures summed from a finer gold grain whose transactions do not overlap across rows."""
    return [
        pl.col("revenue").sum().cast(REVENUE).alias("revenue"),
        pl.col("units").sum().alias("units"),
        pl.col("transactions").sum().alias("transactions"),
        pl.col("lines").sum().alias("lines"),
        pl.col("vat").sum().cast(REVENUE).alias("vat"),
        pl.col("net_revenue").sum().cast(REVENUE).alias("net_revenue"),
    ]


def cents(money: pl.Expr) -> pl.Expr:
    """A Decimal amount of scale 2 as integer cents: the Decimal's own integer (`to_physical`), exact, with no
    Decimal product per row (a quarter of the time of multiplying by 100)."""
    return money.cast(pl.Decimal(38, 2)).to_physical().cast(pl.Int64)


def money(amount_cents: pl.Expr) -> pl.Expr:
    """Integer cents as a REVENUE Decimal, exactly (casting an integer to Decimal reads it as units, not cents)."""
    return (amount_cents.cast(pl.Decimal(38, 2)) * pl.lit(Decimal("0.01"))).cast(REVENUE)


def avg_basket() -> pl.Expr:
    """Revenue per transaction to the cent, rounded half away from zero, computed in integer cents.

    Recomputed from each grain's own revenue and transactions: an average of averages would weight a
    quiet store-day like a busy one. (Int64 cents hold any Decimal(18, 2).)
    """
    revenue = cents(pl.col("revenue"))
    count = pl.col("transactions")
    rounded = (revenue.abs() * 2 + count) // (count * 2) * revenue.sign()
    return money(rounded).alias("avg_basket")
