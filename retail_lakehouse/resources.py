"""Resources: the lakehouse (settings, tables, catalog) and the IO manager every table asset is stored through.

`LakehouseResource` is the one door to storage for Dagster code: the IO manager, the checks and the publish
steps all ask it. Its fields are the `LAKEHOUSE_*` settings, so the Dagster UI's resources page shows what a
run will build. Assets return a Polars frame, a lazy query or an iterable of frames; the IO manager commits it
as a staged Delta version (after taking the writer lock and checking the dataset identity) and hands
downstream assets the staged partition, limited to the model's columns. A yearly asset reads the dimensions
at their published version, pinned for the run, so a dimension rebuild cannot slip into a year.

For an `s3://` data root the object store's endpoint, credentials and region reach the resource as
`dg.EnvVar`s naming the variables that hold them (`LAKEHOUSE_S3_*`, else the standard `AWS_*`), so the UI,
the run config and the logs show variable names, never a secret; each process resolves them from its own
environment.
"""

import functools
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from retail_lakehouse import writer
from retail_lakehouse.catalog import Catalog, Snapshot, table_key
from retail_lakehouse.errors import StorageError
from retail_lakehouse.schemas import TABLE_MODELS, polars_schema
from retail_lakehouse.settings import OPTIONAL_SETTINGS, ObjectStoreSettings, Settings, SettingsError, is_object_store
from retail_lakehouse.storage import Lakehouse, TableData

PREVIEW_ROWS = 5
# A run tag: this run builds its year while runs of other years of the same writer build theirs (the
# distributed pipeline), so it leaves their staged years alone (see `Lakehouse.write`).
PARALLEL_YEARS_TAG = "lakehouse/parallel_years"


class LakehouseResource(dg.ConfigurableResource):
    """The data root and the settings that shape it (the `LAKEHOUSE_*` variables, same names, same defaults)."""

    data_dir: str = "data"
    rows: int = Settings.rows
    seed: int = Settings.seed
    years: str = ",".join(map(str, Settings.years))
    source: str = Settings.source
    stores: int = Settings.stores
    products: int = Settings.products
    defect_rates: str = ""
    bronze_zstd_level: int = Settings.bronze_zstd_level
    silver_zstd_level: int = Settings.silver_zstd_level
    gold_zstd_level: int = Settings.gold_zstd_level
    retention_hours: int = Settings.retention_hours
    max_volume_change: float = Settings.max_volume_change
    max_rejected_share: float = Settings.max_rejected_share
    scenario: str = Settings.scenario
    # Scenario knobs: empty means the scenario's own value.
    start_date: str = ""
    end_date: str = ""
    growth: str = ""
    seasonality: str = ""
    holiday_effects: str = ""
    basket_size: str = ""
    # The day the data reaches (empty: the last day of the last year, never after today).
    as_of: str = ""
    s3_endpoint_url: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = Field(default="", repr=False)
    s3_region: str = ""
    s3_allow_http: str = ""
    rebuild: bool = False

    @classmethod
    def from_settings(
        cls, settings: Settings, rebuild: bool = False, environment: Mapping[str, str] | None = None
    ) -> "LakehouseResource":
        """The resource for `settings`; a field whose `LAKEHOUSE_*` variable is set in `environment` reads it
        through `dg.EnvVar` instead, so the UI shows where the value comes from and a run reads it afresh."""
        rates = ",".join(f"{name}={rate}" for name, rate in vars(settings.defect_rates).items())
        values: dict[str, Any] = {
            "data_dir": Lakehouse.for_settings(settings).location,
            "rows": settings.rows,
            "seed": settings.seed,
            "years": ",".join(map(str, settings.years)),
            "source": settings.source,
            "stores": settings.stores,
            "products": settings.products,
            "defect_rates": rates,
            "bronze_zstd_level": settings.bronze_zstd_level,
            "silver_zstd_level": settings.silver_zstd_level,
            "gold_zstd_level": settings.gold_zstd_level,
            "retention_hours": settings.retention_hours,
            "max_volume_change": settings.max_volume_change,
            "max_rejected_share": settings.max_rejected_share,
            "scenario": settings.scenario,
        } | {
            name: "" if getattr(settings, name) is None else str(getattr(settings, name)) for name in OPTIONAL_SETTINGS
        }
        for name, value in values.items():
            variable = f"LAKEHOUSE_{name.upper()}"
            if environment is not None and environment.get(variable, "").strip() and isinstance(value, str):
                values[name] = dg.EnvVar(variable)
            elif environment is not None and environment.get(variable, "").strip() and isinstance(value, int):
                values[name] = dg.EnvVar.int(variable)
        store = object_store_fields(settings, os.environ if environment is None else environment)
        return cls(**values, **store, rebuild=rebuild)

    @property
    def settings(self) -> Settings:
        """The same `Settings` the command line builds, parsed and checked the same way."""
        fields = self.model_dump(exclude={"rebuild"})
        return Settings.from_env({f"LAKEHOUSE_{name.upper()}": str(value) for name, value in fields.items()})

    @property
    def lakehouse(self) -> Lakehouse:
        settings = self.settings
        return _lakehouse(settings.data_dir, settings.object_store)

    @property
    def catalog(self) -> Catalog:
        return Catalog(self.lakehouse)

    def zstd_level(self, layer: str) -> int:
        return {"bronze": self.bronze_zstd_level, "silver": self.silver_zstd_level}.get(layer, self.gold_zstd_level)

    def begin_writing(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Before each write: the writer lock (renewed, if a lease), then the dataset identity."""
        lakehouse = self.lakehouse
        writer.acquire(lakehouse, writer_of(run_id, tags))
        writer.ensure_identity(lakehouse, self.settings.identity(), rebuild=self.rebuild)

    def end_writing(self, run_id: str, tags: Mapping[str, str]) -> None:
        """After a run's publish step: give back a writer lease the run holds for itself.

        A run that writes for a command (`writer.WRITER_TAG`) leaves the lease to it: other runs of the
        command may still be writing.
        """
        if writer.WRITER_TAG not in tags:
            writer.release_lease_of(self.lakehouse, writer_of(run_id, tags))

    def pinned_snapshot(self, run_id: str) -> Snapshot:
        """The published state a run reads its dimensions from: the one current at its first such read."""
        with _pin_guard:
            key = (self.data_dir, run_id)
            if key not in _pinned:
                _pinned[key] = self.catalog.current()
            return _pinned[key]


@functools.lru_cache(maxsize=8)
def _lakehouse(root: str | Path, object_store: ObjectStoreSettings) -> Lakehouse:
    """One `Lakehouse` (and so one S3 connection pool) per root, not one per storage call."""
    return Lakehouse.at(root, object_store)


_pinned: dict[tuple[str, str], Snapshot] = {}
_pin_guard = threading.Lock()


class LakehouseIOManager(dg.ConfigurableIOManager):
    """Stores each asset as a Delta table under the data root: yearly ones by `year`, dimensions whole."""

    lakehouse: LakehouseResource

    def handle_output(self, context: dg.OutputContext, obj: TableData) -> None:
        layer, table = context.asset_key.path
        year = context.partition_key if context.has_partition_key else None
        resource = self.lakehouse
        tags = context.step_context.dagster_run.tags
        resource.begin_writing(context.run_id, tags)
        published = resource.catalog.current().table(layer, table)
        started = time.perf_counter()
        with writer.kept_renewed(resource.lakehouse):
            written = resource.lakehouse.write(
                layer,
                table,
                year,
                obj,
                resource.zstd_level(layer),
                run_id=context.run_id,
                published_version=None if published is None else published.delta_version,
                published_years=None if published is None else published.versions(),
                reset=tags.get(PARALLEL_YEARS_TAG) != "true",
            )
        preview = resource.lakehouse.scan(layer, table, written.version, None if year is None else [int(year)])
        context.add_output_metadata(
            {
                "dagster/row_count": dg.MetadataValue.int(written.rows),
                "size": dg.MetadataValue.text(readable_bytes(written.bytes)),
                "bytes": dg.MetadataValue.int(written.bytes),
                "delta_version": dg.MetadataValue.int(written.version),
                "write_seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
                "dagster/uri": dg.MetadataValue.path(written.uri),
                "preview": dg.MetadataValue.md(frame_to_markdown(preview.head(PREVIEW_ROWS).collect())),
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        layer, table = context.asset_key.path
        resource = self.lakehouse
        columns = list(polars_schema(TABLE_MODELS[(layer, table)]))
        if context.has_asset_partitions:
            year = int(context.asset_partition_key)
            head = resource.lakehouse.head_version(layer, table)
            if head is None:
                raise StorageError(f"{layer}/{table} has not been materialized yet (needed for {year})")
            return resource.lakehouse.scan(layer, table, head, [year]).select(columns)
        downstream_is_yearly = context.has_partition_key
        if downstream_is_yearly:
            published = resource.pinned_snapshot(context.step_context.run_id).table(layer, table)
            if published is None:
                raise StorageError(
                    f"{table_key(layer, table)} has not been published yet: materialize the dimensions first "
                    "(`lakehouse run` does)"
                )
            return resource.lakehouse.scan(layer, table, published.delta_version).select(columns)
        head = resource.lakehouse.head_version(layer, table)
        if head is None:
            raise StorageError(f"{table_key(layer, table)} has not been materialized yet")
        return resource.lakehouse.scan(layer, table, head).select(columns)


def frame_to_markdown(frame: pl.DataFrame) -> str:
    """A small Markdown table for the Dagster UI (no pandas needed)."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    body = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *body])


def readable_bytes(count: int) -> str:
    """1536 -> '1.5 KiB': sizes as a person reads them in the UI."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def writer_of(run_id: str, tags: Mapping[str, str]) -> str:
    """Who writes for a run: the command that launched it (`writer.WRITER_TAG`), else the run itself."""
    return tags.get(writer.WRITER_TAG) or f"run {run_id}"


OBJECT_STORE_FIELDS = {
    "s3_endpoint_url": "ENDPOINT_URL",
    "s3_access_key_id": "ACCESS_KEY_ID",
    "s3_secret_access_key": "SECRET_ACCESS_KEY",
    "s3_region": "REGION",
    "s3_allow_http": "ALLOW_HTTP",
}


def object_store_fields(settings: Settings, env: Mapping[str, str]) -> dict[str, Any]:
    """The resource's `s3_*` fields for an `s3://` root: an `EnvVar` per setting found in `env`.

    Endpoint, region and `allow_http` given in code (not in the environment) are passed as they are; a
    secret given in code is refused, because it would show in the run's configuration.
    """
    if not is_object_store(settings.data_dir):
        return {}
    store: ObjectStoreSettings = settings.object_store
    fields: dict[str, Any] = {}
    for name, suffix in OBJECT_STORE_FIELDS.items():
        variable = ObjectStoreSettings.variable(suffix, env)
        if variable is not None:
            fields[name] = dg.EnvVar(variable)
        elif name == "s3_secret_access_key" and store.secret_access_key:
            raise SettingsError("the S3 secret must come from LAKEHOUSE_S3_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY")
        elif name == "s3_allow_http":
            fields[name] = "true" if store.allow_http else ""
        else:
            fields[name] = getattr(store, name.removeprefix("s3_")) or ""
    return fields


def resources_for(
    settings: Settings, rebuild: bool = False, environment: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Every resource, configured from the settings (one place, so every environment is set up alike)."""
    lakehouse = LakehouseResource.from_settings(settings, rebuild=rebuild, environment=environment)
    return {"lakehouse": lakehouse, "io_manager": LakehouseIOManager(lakehouse=lakehouse)}
