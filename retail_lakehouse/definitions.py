"""The one Definitions object: every asset, check, resource and job, built from the settings."""

import dagster as dg

from retail_lakehouse.assets.bronze import build_bronze_assets
from retail_lakehouse.assets.gold import build_gold_assets
from retail_lakehouse.assets.silver import build_silver_assets
from retail_lakehouse.checks import build_checks
from retail_lakehouse.partitions import yearly_partitions
from retail_lakehouse.resources import resources_for
from retail_lakehouse.settings import Settings

DIMENSIONS_JOB = "dimensions"
YEARLY_JOB = "yearly"


def build_definitions(settings: Settings) -> dg.Definitions:
    partitions = yearly_partitions(settings)
    assets = [
        *build_bronze_assets(settings, partitions),
        *build_silver_assets(partitions),
        *build_gold_assets(partitions),
    ]
    partitioned = [key for a in assets if a.partitions_def is not None for key in a.keys]
    unpartitioned = [key for a in assets if a.partitions_def is None for key in a.keys]
    jobs = [
        dg.define_asset_job(
            DIMENSIONS_JOB,
            selection=dg.AssetSelection.assets(*unpartitioned),
            description="Stores, products and the calendar, bronze and silver (not partitioned).",
        ),
        dg.define_asset_job(
            YEARLY_JOB,
            selection=dg.AssetSelection.assets(*partitioned),
            description="One year: bronze transactions -> silver -> gold, with every asset check.",
        ),
    ]
    return dg.Definitions(
        assets=assets, asset_checks=build_checks(partitions), jobs=jobs, resources=resources_for(settings)
    )


defs = build_definitions(Settings.from_env())
