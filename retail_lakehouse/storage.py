"""Delta Lake tables under one data root: the only code that reads or writes a table's files.

Layout (a contract): `<root>/<layer>/<table>/` is a Delta table; yearly tables are partitioned by `year`
(`year=YYYY/` folders), the dimensions are not. `<root>/landing/` holds the point-of-sale CSV exports and
`<root>/_catalog/` the published state (catalog.py). Delta commits are atomic: a reader of a version sees all
of a write or none of it, and files of an unfinished write are never part of any version.

A yearly write streams its frames into one Parquet file (pyarrow, in order, compressed on a second thread),
so a year is never held whole in memory, then commits it to Delta as an overwrite of that year's partition.
Which version of a table readers see is not
decided here: the catalog names the published version of every table; what this module writes is staged
until the catalog publishes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

from retail_lakehouse.errors import StorageError

PARTITION_COLUMN = "year"
ROW_GROUP_ROWS = 256 * 1024
TEMP_PREFIX = ".tmp-"
RUN_ID_KEY = "lakehouse.run_id"
WHOLE_TABLE = "all"  # the key of an unpartitioned table's rows in per-year counts

TableData = pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame]
YearKey = int | str | None


@dataclass(frozen=True)
class WrittenTable:
    """One committed write: the table's new Delta version and what the written year (or table) holds."""

    uri: str
    version: int
    rows: int
    bytes: int


@dataclass(frozen=True)
class Lakehouse:
    """The Delta tables and the landing zone under one data root."""

    root: Path

    def uri(self, layer: str, table: str) -> str:
        return str(self.root / layer / table)

    def landing(self, *parts: str) -> Path:
        """A path in the landing zone, where point-of-sale exports arrive as CSV files."""
        return self.root.joinpath("landing", *parts)

    def internal(self, *parts: str) -> Path:
        """A path in the data root's own bookkeeping (`_catalog/`), never a table."""
        return self.root.joinpath("_catalog", *parts)

    def _table(self, layer: str, table: str, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(layer, table), version=version)
        except TableNotFoundError:
            return None
        except OSError as error:  # a version whose log was cleaned up, or an unreadable folder
            raise StorageError(f"{layer}/{table}: cannot open version {version}: {first_line(error)}") from None

    def head_version(self, layer: str, table: str) -> int | None:
        """The newest committed version (published or not), or None if the table was never written."""
        delta = self._table(layer, table)
        return None if delta is None else delta.version()

    def scan(self, layer: str, table: str, version: int, years: Iterable[int] | None = None) -> pl.LazyFrame:
        """A lazy scan of one version of a table, limited to `years` (partition pruning) if given."""
        if self._table(layer, table, version) is None:
            raise StorageError(
                f"{layer}/{table} has not been materialized yet: no Delta table at {self.uri(layer, table)}"
            )
        frame = pl.scan_delta(self.uri(layer, table), version=version)
        if years is not None:
            frame = frame.filter(pl.col(PARTITION_COLUMN).is_in(sorted(int(y) for y in years)))
        return frame

    def files(self, layer: str, table: str, version: int | None) -> pl.DataFrame:
        """The data files of a version: path, year (null when unpartitioned), rows and bytes."""
        delta = None if version is None else self._table(layer, table, version)
        if delta is None:
            return pl.DataFrame(schema={"path": pl.String, "year": pl.Int32, "rows": pl.Int64, "bytes": pl.Int64})
        actions = pl.from_arrow(pa.table(delta.get_add_actions(flatten=True)))
        year = (
            pl.col(f"partition.{PARTITION_COLUMN}").cast(pl.Int32)
            if f"partition.{PARTITION_COLUMN}" in actions.columns
            else pl.lit(None, pl.Int32)
        )
        return actions.select("path", year.alias("year"), pl.col("num_records").alias("rows"),
                              pl.col("size_bytes").alias("bytes"))  # fmt: skip

    def rows_by_year(self, layer: str, table: str, version: int | None) -> dict[str, int]:
        """Rows per year of a version (`{"all": n}` for an unpartitioned table), from the Delta log alone."""
        files = self.files(layer, table, version)
        if files.is_empty():
            return {}
        grouped = files.group_by("year").agg(pl.col("rows").sum()).sort("year")
        return {WHOLE_TABLE if y is None else str(y): int(n) for y, n in grouped.iter_rows()}

    def changed_years(self, layer: str, table: str, base: int | None, head: int | None) -> set[str]:
        """Years whose files differ between two versions (`"all"` for an unpartitioned table)."""
        before, after = self.files(layer, table, base), self.files(layer, table, head)

        def by_year(files: pl.DataFrame) -> dict[str, frozenset[str]]:
            grouped = files.group_by("year").agg(pl.col("path"))
            return {WHOLE_TABLE if y is None else str(y): frozenset(p) for y, p in grouped.iter_rows()}

        old, new = by_year(before), by_year(after)
        return {year for year in old.keys() | new.keys() if old.get(year) != new.get(year)}

    def write(
        self,
        layer: str,
        table: str,
        year: YearKey,
        data: TableData,
        zstd_level: int,
        run_id: str,
        published_version: int | None,
    ) -> WrittenTable:
        """Commit a frame, a lazy query (streamed) or an iterable of frames (streamed) as one Delta version.

        A yearly write replaces that year only; the other years of the new version must be the published
        ones, so unpublished leftovers of another run (a failed audit, a killed process) are first undone:
        see `reset_unpublished`. An unpartitioned table is replaced whole.
        """
        uri = self.uri(layer, table)
        if year is not None:
            self.reset_unpublished(layer, table, keep_year=str(year), published_version=published_version)
        partition_values = {} if year is None else {PARTITION_COLUMN: str(int(year))}
        folder = Path(uri) / (f"{PARTITION_COLUMN}={int(year)}" if year is not None else "")
        name = f"part-{uuid.uuid4().hex}.zstd.parquet"
        written = write_frames(folder / name, _frames(data), zstd_level, drop=list(partition_values))
        actions = []
        if written.rows:
            relative = str((folder / name).relative_to(uri))
            stats = json.dumps({"numRecords": written.rows})
            size = (folder / name).stat().st_size
            actions.append(AddAction(relative, size, partition_values, int(time.time() * 1000), True, stats))
        schema = DeltaSchema.from_arrow(written.schema if year is None else _with_partition_column(written.schema))
        commit = CommitProperties(custom_metadata={RUN_ID_KEY: run_id})
        partitioning = [PARTITION_COLUMN] if year is not None else None
        delta = self._table(layer, table)
        if delta is None:
            create_table_with_add_actions(uri, schema, actions, mode="overwrite", partition_by=partitioning,
                                          commit_properties=commit)  # fmt: skip
        else:
            filters = None if year is None else [(PARTITION_COLUMN, "=", str(int(year)))]
            delta.create_write_transaction(actions, mode="overwrite", schema=schema, partition_by=partitioning,
                                           partition_filters=filters, commit_properties=commit)  # fmt: skip
        version = self.head_version(layer, table)
        assert version is not None
        files = self.files(layer, table, version)
        if year is not None:
            files = files.filter(pl.col("year") == int(year))
        return WrittenTable(uri, version, int(files["rows"].sum()), int(files["bytes"].sum()))

    def reset_unpublished(self, layer: str, table: str, keep_year: str, published_version: int | None) -> None:
        """Bring every year but `keep_year` back to the published version before a write of `keep_year`.

        Without this, a later year's publish would also publish what a failed or killed run left in another
        year. Restoring is a metadata-only commit (the published files are still there: vacuum keeps them).
        """
        head = self.head_version(layer, table)
        if head is None or head == published_version:
            return
        stray = self.changed_years(layer, table, published_version, head) - {keep_year}
        if not stray:
            return
        delta = self._table(layer, table)
        assert delta is not None
        if published_version is None:
            delta.delete(f"{PARTITION_COLUMN} <> {int(keep_year)}")
        else:
            delta.restore(published_version)

    def vacuum(self, layer: str, table: str, keep_versions: Iterable[int], retention_hours: int) -> int:
        """Delete files no version in `keep_versions` needs and that were dropped over `retention_hours` ago.

        Also removes files of writes that never committed (a killed run). Returns how many files went.
        """
        delta = self._table(layer, table)
        if delta is None:
            return 0
        removed = delta.vacuum(
            retention_hours=retention_hours,
            dry_run=False,
            enforce_retention_duration=False,
            keep_versions=sorted(set(keep_versions)),
        )
        return len(removed)

    def run_of_version(self, layer: str, table: str, version: int) -> str | None:
        """The run id that committed a version (None for commits not made by a run)."""
        delta = self._table(layer, table)
        if delta is None:
            return None
        for commit in delta.history():
            if commit.get("version") == version:
                return commit.get(RUN_ID_KEY)
        return None


def _frames(data: TableData) -> Iterable[pl.DataFrame]:
    if isinstance(data, pl.LazyFrame):
        return data.collect_batches(chunk_size=ROW_GROUP_ROWS)
    if isinstance(data, pl.DataFrame):
        return [data]
    return data


def _with_partition_column(schema: pa.Schema) -> pa.Schema:
    if PARTITION_COLUMN in schema.names:
        return schema
    return schema.append(pa.field(PARTITION_COLUMN, pa.int32()))


@dataclass(frozen=True)
class WrittenFile:
    rows: int
    schema: pa.Schema  # the frames' schema, the partition column included where they carried it


def write_frames(path: Path, frames: Iterable[pl.DataFrame], zstd_level: int, drop: list[str]) -> WrittenFile:
    """Write frames, in order, to one Parquet file with pyarrow, compressing on a second thread.

    Delta's own writer reorders a stream's batches across threads; this one keeps bronze's row order (which
    silver's dedupe and byte-identical reruns rely on), makes smaller files for this data (it does not
    dictionary-encode the sorted id and timestamp columns) and overlaps compression with producing the
    next frame. The queue holds at most two frames, so memory stays bounded. `drop` names columns that
    live in the file's path (the partition column) rather than in the file. An empty input writes no file.
    """
    pending: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []
    rows = 0
    schema: pa.Schema | None = None

    def consume(writer: pq.ParquetWriter) -> None:
        try:
            while (table := pending.get()) is not None:
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        except BaseException as error:  # handed to the producer, which raises it
            failure.append(error)
            while pending.get() is not None:
                pass

    writer: pq.ParquetWriter | None = None
    worker: threading.Thread | None = None
    try:
        for frame in frames:
            table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
            schema = schema or table.schema
            table = table.drop_columns([c for c in drop if c in table.column_names])
            if table.num_rows == 0:
                continue
            if writer is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(path, table.schema, compression="zstd", compression_level=zstd_level)
                worker = threading.Thread(target=consume, args=(writer,), daemon=True)
                worker.start()
            if failure:
                break
            pending.put(table)
            rows += table.num_rows
    finally:
        if worker is not None:
            pending.put(None)
            worker.join()
        if writer is not None:
            writer.close()
    if failure:
        raise failure[0]
    if schema is None:
        raise StorageError(f"nothing to write to {path}: no frame was given")
    return WrittenFile(rows, schema)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success flush it to disk and rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}.partial"
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def create_exclusively(path: Path, text: str) -> bool:
    """Write `path` with `text` only if it does not exist yet, atomically; False if another writer won.

    The content is written and flushed under a temporary name, then hard-linked into place: a link fails
    when the name exists, so two writers can never both create the same file, and a reader never sees half.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}.partial"
    try:
        temporary.write_text(text)
        _fsync(temporary)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        _fsync_directory(path.parent)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
