"""Gold assets: small pre-aggregated tables per year, the only tables the dashboard reads.

One asset per step of `transforms.gold.GOLD_STEPS`: an asset for a table built alone, a multi-asset (any of
its tables selectable) for tables built together from one group-by of silver. Each reads the sources its
tables name.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from retail_lakehouse.schemas import GOLD_MODELS
from retail_lakehouse.transforms.gold import GOLD_STEPS, SOURCE_TABLES, GoldSources, GoldStep

GROUP = "gold"
KINDS = {"polars", "deltalake"}


def _description(table: str) -> str:
    return (GOLD_MODELS[table].__doc__ or "").strip().splitlines()[0]


def _gold_asset(step: GoldStep, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    ins = {name: dg.AssetIn(list(SOURCE_TABLES[name])) for name in step.inputs}
    if len(step.tables) == 1:
        (table,) = step.tables

        @dg.asset(
            key=["gold", table.name],
            ins=ins,
            partitions_def=partitions,
            group_name=GROUP,
            kinds=KINDS,
            description=_description(table.name),
        )
        def gold_table(context: dg.AssetExecutionContext, **inputs: pl.LazyFrame) -> pl.DataFrame:
            return step.compute(GoldSources(year=int(context.partition_key), **inputs))[table.name]

        return gold_table

    @dg.multi_asset(
        name="gold__" + "__".join(table.name for table in step.tables),
        outs={
            table.name: dg.AssetOut(
                key=["gold", table.name], is_required=False, kinds=KINDS, description=_description(table.name)
            )
            for table in step.tables
        },
        ins=ins,
        partitions_def=partitions,
        group_name=GROUP,
        can_subset=True,  # each table can be selected alone; selected together they share the group-by
    )
    def gold_tables(context: dg.AssetExecutionContext, **inputs: pl.LazyFrame) -> Iterator[dg.Output[pl.DataFrame]]:
        sources = GoldSources(year=int(context.partition_key), **inputs)
        for name, frame in step.compute(sources, context.selected_output_names).items():
            yield dg.Output(frame, name)

    return gold_tables


def build_gold_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_gold_asset(step, partitions) for step in GOLD_STEPS]
