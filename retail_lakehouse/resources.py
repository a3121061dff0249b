"""Resources: the Parquet IO manager that every bronze, silver and gold asset is stored through.

Assets return a Polars frame, a lazy query or an iterable of frames; the IO manager writes it atomically
to the layout in `storage.py` (asset key `["silver", "transactions"]` and partition `2023` become
`silver/transactions/year=2023/data.parquet`) and hands downstream assets a lazy scan of their partition.
"""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import polars as pl

from retail_lakehouse.settings import Settings
from retail_lakehouse.storage import Lakehouse, Table, TableData

PREVIEW_ROWS = 5


class LakehouseIOManager(dg.ConfigurableIOManager):
    """Stores each asset as Hive-style, zstd-compressed Parquet under the data root."""

    data_dir: str
    bronze_zstd_level: int = 9
    silver_zstd_level: int = 3
    gold_zstd_level: int = 9

    @property
    def lakehouse(self) -> Lakehouse:
        return Lakehouse(Path(self.data_dir))

    def _zstd_level(self, layer: str) -> int:
        return {"bronze": self.bronze_zstd_level, "silver": self.silver_zstd_level}.get(layer, self.gold_zstd_level)

    def handle_output(self, context: dg.OutputContext, obj: Table | TableData) -> None:
        layer, table = context.asset_key.path
        year = context.partition_key if context.has_partition_key else None
        output = obj if isinstance(obj, Table) else Table(obj)
        started = time.perf_counter()
        written = self.lakehouse.write(layer, table, year, output.data, self._zstd_level(layer))
        scan = pl.scan_parquet(written.path)
        described = dict(output.describe(scan)) if output.describe else {}
        context.add_output_metadata(
            described
            | {
                "dagster/row_count": dg.MetadataValue.int(written.rows),
                "bytes": dg.MetadataValue.int(written.bytes),
                "write_seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
                "path": dg.MetadataValue.path(str(written.path)),
                "preview": dg.MetadataValue.md(frame_to_markdown(scan.head(PREVIEW_ROWS).collect())),
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        layer, table = context.asset_key.path
        year = context.asset_partition_key if context.has_asset_partitions else None
        return self.lakehouse.scan(layer, table, year)


class LakehouseResource(dg.ConfigurableResource):
    """Read access to the tables for code that is not an asset input (checks that read their own asset)."""

    data_dir: str

    @property
    def lakehouse(self) -> Lakehouse:
        return Lakehouse(Path(self.data_dir))


def frame_to_markdown(frame: pl.DataFrame) -> str:
    """A small Markdown table for the Dagster UI (no pandas needed)."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    body = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *body])


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """Every resource, configured from the settings (one place, so every environment is set up alike)."""
    data_dir = str(settings.data_dir.resolve())
    return {
        "io_manager": LakehouseIOManager(
            data_dir=data_dir,
            bronze_zstd_level=settings.bronze_zstd_level,
            silver_zstd_level=settings.silver_zstd_level,
            gold_zstd_level=settings.gold_zstd_level,
        ),
        "lakehouse": LakehouseResource(data_dir=data_dir),
    }
