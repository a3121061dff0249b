"""The yearly partitions: one per year with data, added as years appear rather than fixed in code.

Dynamic partitions let a new year become a partition by itself: the landing sensor adds it when the first
day of the year is delivered, and `lakehouse run` adds the years it runs. Keys stay `"2024"`, so asset
keys, the storage layout (`year=2024`) and the data contract are what they were with static partitions.
"""

from collections.abc import Iterable

import dagster as dg

YEAR_PARTITIONS = "year"


def yearly_partitions() -> dg.DynamicPartitionsDefinition:
    """The one partitions definition of every yearly asset, check and job."""
    return dg.DynamicPartitionsDefinition(name=YEAR_PARTITIONS)


def missing_years(instance: dg.DagsterInstance, years: Iterable[int | str]) -> list[str]:
    """The years (as partition keys) that are not yet partitions of `instance`."""
    known = set(instance.get_dynamic_partitions(YEAR_PARTITIONS))
    return sorted({str(year) for year in years} - known)


def add_years(instance: dg.DagsterInstance, years: Iterable[int | str]) -> None:
    """Make `years` partitions of `instance` (those it has already are left alone)."""
    if missing := missing_years(instance, years):
        instance.add_dynamic_partitions(YEAR_PARTITIONS, missing)
