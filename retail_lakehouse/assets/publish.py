"""The publish steps of write-audit-publish: what makes a year's tables, or the dimensions, visible to readers.

Each depends on every table it publishes, so in a run it comes last and is skipped when any of their steps
or blocking checks failed. It publishes the staged versions in one catalog snapshot, after making sure each
passed all of its checks (the verdicts recorded in the catalog), whichever run wrote them.
"""

from collections.abc import Mapping, Sequence

import dagster as dg
import polars as pl

from retail_lakehouse import writer
from retail_lakehouse.catalog import MAY_BE_EMPTY, publish, table_key
from retail_lakehouse.resources import LakehouseResource, frame_to_markdown
from retail_lakehouse.storage import WHOLE_TABLE

GROUP = "catalog"


def _published(snapshot_version: int, tables: Mapping[str, int]) -> dict[str, dg.MetadataValue]:
    listing = pl.DataFrame({"table": list(tables), "delta_version": list(tables.values())})
    return {
        "catalog_version": dg.MetadataValue.int(snapshot_version),
        "published_tables": dg.MetadataValue.md(frame_to_markdown(listing)),
    }


def build_publish_assets(
    partitions: dg.PartitionsDefinition,
    dimensions: Sequence[dg.AssetKey],
    yearly: Sequence[dg.AssetKey],
    required_checks: Mapping[str, list[str]],
) -> list[dg.AssetsDefinition]:
    dimension_tables = [table_key(*key.path) for key in dimensions]
    yearly_tables = [table_key(*key.path) for key in yearly]

    @dg.asset(key=["catalog", "dimension_release"], deps=list(dimensions), group_name=GROUP, kinds={"deltalake"})
    def dimension_release(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        """The published stores, products and calendar: every dimension table made visible together."""
        lakehouse.begin_writing(context.run_id, context.run.tags)
        with writer.kept_renewed(lakehouse.lakehouse):
            snapshot = publish(lakehouse.catalog, dimension_tables, WHOLE_TABLE, required_checks, context.run_id,
                               lakehouse.retention_hours)  # fmt: skip
        lakehouse.end_writing(context.run_id, context.run.tags)
        versions = {key: snapshot.tables[key].delta_version for key in dimension_tables}
        return dg.MaterializeResult(metadata=_published(snapshot.version, versions))

    @dg.asset(
        key=["catalog", "year_release"],
        deps=list(yearly),
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"deltalake"},
    )
    def year_release(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        """One year's published tables, bronze to gold, made visible together once every check passed."""
        lakehouse.begin_writing(context.run_id, context.run.tags)
        year = context.partition_key
        with writer.kept_renewed(lakehouse.lakehouse):
            snapshot = publish(lakehouse.catalog, yearly_tables, year, required_checks, context.run_id,
                               lakehouse.retention_hours, may_be_empty=MAY_BE_EMPTY)  # fmt: skip
        lakehouse.end_writing(context.run_id, context.run.tags)
        versions = {key: snapshot.tables[key].delta_version for key in yearly_tables if key in snapshot.tables}
        rows = {key: snapshot.tables[key].rows.get(year, 0) for key in yearly_tables if key in snapshot.tables}
        metadata = _published(snapshot.version, versions) | {
            "dagster/row_count": rows[table_key("silver", "transactions")]
        }
        return dg.MaterializeResult(metadata=metadata)

    return [dimension_release, year_release]
