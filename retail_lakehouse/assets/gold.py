"""Gold assets: small pre-aggregated tables per year, the only tables the dashboard reads.

One asset per table of `transforms.gold.GOLD_TABLES`; each reads the sources its table names.
"""

import dagster as dg
import polars as pl

from retail_lakehouse.schemas import GOLD_MODELS
from retail_lakehouse.transforms.gold import GOLD_TABLES, SOURCE_TABLES, GoldSources, GoldTable

GROUP = "gold"


def _gold_asset(table: GoldTable, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=["gold", table.name],
        ins={name: dg.AssetIn(list(SOURCE_TABLES[name])) for name in table.inputs},
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"polars", "deltalake"},
        description=(GOLD_MODELS[table.name].__doc__ or "").strip().splitlines()[0],
    )
    def gold_table(context: dg.AssetExecutionContext, **inputs: pl.LazyFrame) -> pl.DataFrame:
        return table.compute(GoldSources(year=int(context.partition_key), **inputs))

    return gold_table


def build_gold_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_gold_asset(table, partitions) for table in GOLD_TABLES]
