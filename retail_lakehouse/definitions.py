"""The one Definitions object: every asset, check, resource and job, built from the settings."""

from __future__ import annotations

import dagster as dg

from retail_lakehouse.assets.bronze import build_bronze_assets
from retail_lakehouse.partitions import yearly_partitions
from retail_lakehouse.resources import io_manager_for
from retail_lakehouse.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    partitions = yearly_partitions(settings)
    assets = [*build_bronze_assets(settings, partitions)]
    return dg.Definitions(assets=assets, resources={"io_manager": io_manager_for(settings)})


defs = build_definitions(Settings.from_env())
