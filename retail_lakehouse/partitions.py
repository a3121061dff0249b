"""The yearly partitions, defined once from the settings: one partition per configured year."""

import dagster as dg

from retail_lakehouse.settings import Settings


def yearly_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    """Return one static partition per configured year.

    Static keys (rather than a time window) let `LAKEHOUSE_YEARS` name any set of years, and make eager
    automation consider every updated year, not only the latest window.
    """
    return dg.StaticPartitionsDefinition(settings.partition_keys)
