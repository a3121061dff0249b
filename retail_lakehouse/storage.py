"""Delta Lake tables under one data root: the only code that reads or writes a table's files.

Layout (a contract): `<root>/<layer>/<table>/` is a Delta table; yearly tables are partitioned by `year`
(`year=YYYY/` folders), the dimensions are not. `<root>/landing/` holds the point-of-sale CSV exports and
`<root>/_catalog/` the published state (catalog.py). Delta commits are atomic: a reader of a version sees all
of a write or none of it, and files of an unfinished write are never part of any version.

A yearly write streams into one Parquet file, so a year is never held whole in memory: a lazy query through
Polars' streaming engine (compressed on every core), frames from a Python generator through pyarrow
(compressed on a second thread while the next frame is made); in order, either way. It then commits it to
Delta as an overwrite of that year's partition. Which version of a table readers see is not decided here:
the catalog names the published version of every table; what this module writes is staged until the catalog
publishes it.

The data root is a local folder or an object store URI, `s3://bucket/prefix` (any S3-compatible store: the
endpoint and credentials come from `ObjectStoreSettings`). Everything else in the project asks this module,
so both work alike: Delta and Polars get the same storage options, and pyarrow's `S3FileSystem` carries the
Parquet writes, the small JSON files, listings and the landing CSVs. What differs, and why:

- Delta commits on S3 use conditional put (`conditional_put=etag`): each commit creates the next
  `_delta_log/<version>.json` with `If-None-Match: *`, so of two writers of the same version exactly one
  wins and the other gets a conflict instead of silently replacing the first. That is correct for any
  number of writers, so it stays correct under the one-writer rule and also guards a writer that lost its
  lease without knowing. Unsafe rename (`AWS_S3_ALLOW_UNSAFE_RENAME`) would be correct only if the
  one-writer rule could never be broken; a locking provider (DynamoDB) needs a second service that
  S3-compatible stores with conditional writes (AWS S3 since 2024, MinIO, R2, SeaweedFS) do not.
- Files that must be created exactly once (the catalog's snapshots) and small records that change only by
  compare-and-swap (the writer lease on S3) need a conditional PUT, which pyarrow's S3 filesystem cannot
  send. Delta's own log is used as the sequencer instead: such a record is a Delta table without data
  files whose commits carry the text, committed without retries, so "create" and "replace the version I
  read" succeed for exactly one writer (see `commit_record`). On a local disk a hard link does the
  exclusive create, as before.
- A local file is written under a temporary name and renamed into place; an S3 object appears whole when
  its upload completes, so it is uploaded only after its content was written in full.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import queue
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

from retail_lakehouse.errors import StorageError
from retail_lakehouse.settings import DataRoot, ObjectStoreSettings, Settings, is_object_store, parse_data_root

PARTITION_COLUMN = "year"
ROW_GROUP_ROWS = 256 * 1024
# The share of rising steps from which a column is stored as deltas (`column_encodings`).
ORDERED_SHARE = 0.99
TEMP_PREFIX = ".tmp-"
RUN_ID_KEY = "lakehouse.run_id"
RECORD_KEY = "lakehouse.record"  # the text of a record (see `commit_record`), in its commit's metadata
RECORD_SCHEMA = DeltaSchema.from_arrow(pa.schema([pa.field("record", pa.string())]))
DEFAULT_REGION = "us-east-1"
COMMIT_ATTEMPTS = 20
WHOLE_TABLE = "all"  # the key of an unpartitioned table's rows in per-year counts

TableData = pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame]
YearKey = int | str | None
Location = Path | str  # a file or folder: a local path, or an object URI `s3://bucket/key` under an S3 root


@dataclass(frozen=True)
class WrittenTable:
    """One committed write: the table's new Delta version and what the written year (or table) holds."""

    uri: str
    version: int
    rows: int
    bytes: int


class LoadedTables:
    """Delta tables already loaded, so a version is read from the log once, not on every call.

    A committed version never changes, so a table loaded at one is kept (the most recent `size`); the newest
    version is found by bringing one loaded table up to date, which reads only the commits since (a load
    from scratch lists and reads the log: about 30 ms against 3 ms on a local S3 store, and the checks and
    the IO manager ask hundreds of times per year).
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.newest: dict[str, DeltaTable] = {}
        self.pinned: OrderedDict[tuple[str, int], DeltaTable] = OrderedDict()
        self.texts: OrderedDict[str, str] = OrderedDict()

    def created_once(self, uri: str, read: Callable[[str], str]) -> str:
        """The text of a record created once and never changed (a snapshot), read at most once."""
        with self.lock:
            text = self.texts.get(uri)
        if text is None:
            text = read(uri)
            with self.lock:
                self.texts[uri] = text
                if len(self.texts) > self.size:
                    self.texts.popitem(last=False)
        return text

    def get(self, uri: str, version: int | None, load: Callable[[], DeltaTable]) -> DeltaTable:
        with self.lock:
            if version is None:
                table = self.newest.get(uri)
                if table is None:
                    table = self.newest[uri] = load()
                else:
                    table.update_incremental()
                return table
            key = (uri, version)
            table = self.pinned.get(key)
            if table is None:
                table = self.pinned[key] = load()
                if len(self.pinned) > self.size:
                    self.pinned.popitem(last=False)
            self.pinned.move_to_end(key)
            return table


@dataclass(frozen=True)
class Lakehouse:
    """The Delta tables, the landing zone and the catalog's files under one data root (local or `s3://`)."""

    root: DataRoot
    object_store: ObjectStoreSettings = field(default_factory=ObjectStoreSettings)
    _loaded: LoadedTables = field(default_factory=lambda: LoadedTables(), init=False, repr=False, compare=False)

    @classmethod
    def at(cls, root: str | Path, object_store: ObjectStoreSettings | None = None) -> Lakehouse:
        """The lakehouse at `root`; an `s3://` root without `object_store` takes it from the environment."""
        parsed = parse_data_root(root)
        if object_store is None:
            object_store = (
                ObjectStoreSettings.from_env(os.environ) if is_object_store(parsed) else ObjectStoreSettings()
            )
        return cls(parsed, object_store)

    @classmethod
    def for_settings(cls, settings: Settings) -> Lakehouse:
        return cls.at(settings.data_dir, settings.object_store)

    @property
    def remote(self) -> bool:
        """Whether the root is in an object store rather than on a local disk."""
        return is_object_store(self.root)

    @property
    def location(self) -> str:
        """The root as people should read it: an absolute local path or the `s3://` URI."""
        return self.root if isinstance(self.root, str) else str(Path(self.root).resolve())

    def join(self, *parts: str) -> Location:
        if isinstance(self.root, str):
            return "/".join([self.root, *parts])
        return self.root.joinpath(*parts)

    def uri(self, layer: str, table: str) -> str:
        return str(self.join(layer, table))

    def landing(self, *parts: str) -> Location:
        """Where point-of-sale exports arrive as CSV files (a `Path` under a local root)."""
        return self.join("landing", *parts)

    def internal(self, *parts: str) -> Location:
        """The data root's own bookkeeping (`_catalog/`), never a table (a `Path` under a local root)."""
        return self.join("_catalog", *parts)

    @functools.cached_property
    def delta_options(self) -> dict[str, str] | None:
        """Storage options for deltalake and Polars (None for a local root); see the module docstring."""
        if not self.remote:
            return None
        store = self.object_store
        options = {"aws_region": store.region or DEFAULT_REGION, "conditional_put": "etag"}
        if store.endpoint_url:
            options["aws_endpoint_url"] = store.endpoint_url
        if store.access_key_id:
            options["aws_access_key_id"] = store.access_key_id
        if store.secret_access_key:
            options["aws_secret_access_key"] = store.secret_access_key
        if store.allow_http:
            options["aws_allow_http"] = "true"
        return options

    @functools.cached_property
    def filesystem(self) -> pafs.FileSystem:
        """pyarrow's file system for the root: local, or S3 with the same endpoint and credentials as Delta."""
        if not self.remote:
            return pafs.LocalFileSystem()
        store = self.object_store
        endpoint = store.endpoint_url
        return pafs.S3FileSystem(
            access_key=store.access_key_id,
            secret_key=store.secret_access_key,
            region=store.region or DEFAULT_REGION,
            endpoint_override=endpoint,
            scheme="http" if endpoint and endpoint.startswith("http://") else "https",
        )

    def _path(self, location: Location) -> str:
        """`location` as pyarrow's file systems name it (`bucket/key` on S3)."""
        return location.split("://", 1)[1] if isinstance(location, str) and "://" in location else str(location)

    def _error(self, what: str, error: BaseException) -> StorageError:
        return StorageError(f"{what}: {self.object_store.mask(first_line(error))}")

    def exists(self) -> bool:
        """Whether anything was ever written under the root."""
        if isinstance(self.root, Path):
            return self.root.is_dir()
        return self.filesystem.get_file_info(self._path(self.root)).type == pafs.FileType.Directory

    def is_file(self, location: Location) -> bool:
        if isinstance(location, Path):
            return location.is_file()
        return self.filesystem.get_file_info(self._path(location)).type == pafs.FileType.File

    def names(self, folder: Location) -> list[str]:
        """The names of the files and folders directly in `folder` (none if it does not exist)."""
        if isinstance(folder, Path):
            return [p.name for p in folder.iterdir()] if folder.is_dir() else []
        selector = pafs.FileSelector(self._path(folder), allow_not_found=True)
        return [info.base_name for info in self.filesystem.get_file_info(selector)]

    def file_sizes(self, folder: Location) -> dict[str, int]:
        """Name -> bytes of the files directly in `folder` (none if it does not exist): what a sensor compares."""
        selector = pafs.FileSelector(self._path(folder), allow_not_found=True)
        infos = self.filesystem.get_file_info(selector)
        return {info.base_name: info.size for info in infos if info.type == pafs.FileType.File}

    def read_bytes(self, location: Location) -> bytes:
        """The whole file; `FileNotFoundError` if it does not exist."""
        if isinstance(location, Path):
            return location.read_bytes()
        with self.filesystem.open_input_stream(self._path(location)) as stream:
            return stream.read()

    def read_text(self, location: Location) -> str:
        return self.read_bytes(location).decode()

    def polars_source(self, location: Location) -> Path | bytes:
        """What Polars' readers take for a file: a local path itself, an object's bytes."""
        return location if isinstance(location, Path) else self.read_bytes(location)

    def write_text(self, location: Location, text: str, atomic: bool = False) -> None:
        """Write a small file. A local one is written in place unless `atomic`; an object always appears whole."""
        if isinstance(location, Path) and not atomic:
            location.parent.mkdir(parents=True, exist_ok=True)
            location.write_text(text)
        elif isinstance(location, Path):
            with atomic_path(location) as temporary:
                temporary.write_text(text)
        else:
            with self.filesystem.open_output_stream(self._path(location)) as sink:
                sink.write(text.encode())

    @contextlib.contextmanager
    def atomic_file(self, location: Location) -> Iterator[Path]:
        """Yield a local temporary path; once written without error it replaces `location` as a whole."""
        if isinstance(location, Path):
            with atomic_path(location) as temporary:
                yield temporary
            return
        with tempfile.TemporaryDirectory(prefix="lakehouse-upload-") as folder:
            temporary = Path(folder) / "upload"
            yield temporary
            with open(temporary, "rb") as source, self.filesystem.open_output_stream(self._path(location)) as sink:
                shutil.copyfileobj(source, sink, length=8 * 1024 * 1024)

    def create_exclusively(self, location: Location, text: str) -> bool:
        """Create `location` holding `text` unless it exists; False if another writer created it first.

        A local file is hard-linked into place; under an S3 root the location is a record (`commit_record`).
        """
        if isinstance(location, Path):
            return create_exclusively(location, text)
        return self.commit_record(location, None, text) is not None

    def read_exclusive(self, location: Location) -> str:
        """The text of something `create_exclusively` made; `FileNotFoundError` if there is none."""
        if isinstance(location, Path):
            return location.read_text()
        return self._loaded.created_once(str(location), self._read_created)

    def _read_created(self, uri: str) -> str:
        record = self.read_record(uri)
        if record is None:
            raise FileNotFoundError(uri)
        return record[1]

    def commit_record(self, location: Location, expected: int | None, text: str) -> int | None:
        """Compare-and-swap a small record: commit `text` as its next version if its newest is `expected`.

        `expected=None` creates the record and fails if it exists. Returns the new version, or None if
        another writer committed first. The record is a Delta table without data files: its commit is the
        conditional PUT of `_delta_log/<version>.json` (see the module docstring), done without retries, so
        no other writer's commit is ever overtaken or rebased.
        """
        uri = str(location)
        commit = CommitProperties(custom_metadata={RECORD_KEY: text}, max_commit_retries=0)
        try:
            if expected is None:
                create_table_with_add_actions(
                    uri, RECORD_SCHEMA, [], mode="error", storage_options=self.delta_options, commit_properties=commit
                )
                return 0
            table = self._loaded.get(uri, None, lambda: DeltaTable(uri, storage_options=self.delta_options))
            if table.version() != expected:
                return None
            table.create_write_transaction([], mode="append", schema=RECORD_SCHEMA, commit_properties=commit)
            return expected + 1
        except CommitFailedError:
            return None
        except TableNotFoundError:
            return None
        except DeltaError as error:
            # Creating over an existing record fails its existence check with a plain DeltaError; a create
            # that lost the race after that check gets the CommitFailedError above.
            if DeltaTable.is_deltatable(uri, storage_options=self.delta_options):
                return None
            raise self._error(f"cannot write {uri}", error) from None
        except OSError as error:
            raise self._error(f"cannot write {uri}", error) from None

    def read_record(self, location: Location) -> tuple[int, str] | None:
        """The newest version of a record and its text, or None if it was never created."""
        uri = str(location)
        try:
            table = self._loaded.get(uri, None, lambda: DeltaTable(uri, storage_options=self.delta_options))
            newest = table.history(1)[0]
        except TableNotFoundError:
            return None
        except OSError as error:
            raise self._error(f"cannot read {uri}", error) from None
        return table.version(), str(newest.get(RECORD_KEY, ""))

    def _table(self, layer: str, table: str, version: int | None = None) -> DeltaTable | None:
        uri = self.uri(layer, table)
        try:
            return self._loaded.get(uri, version, lambda: DeltaTable(uri, version, storage_options=self.delta_options))
        except TableNotFoundError:
            return None
        except OSError as error:  # a version whose log was cleaned up, an unreadable folder or store
            raise self._error(f"{layer}/{table}: cannot open version {version}", error) from None

    def partitioned(self, layer: str, table: str, version: int) -> bool:
        """Whether a version of the table is partitioned by year (the dimensions are not)."""
        delta = self._table(layer, table, version)
        return delta is not None and PARTITION_COLUMN in delta.metadata().partition_columns

    def head_version(self, layer: str, table: str) -> int | None:
        """The newest committed version (published or not), or None if the table was never written."""
        delta = self._table(layer, table)
        return None if delta is None else delta.version()

    def scan(self, layer: str, table: str, version: int, years: Iterable[int] | None = None) -> pl.LazyFrame:
        """A lazy scan of one version of a table, limited to `years` (partition pruning) if given."""
        delta = self._table(layer, table, version)
        if delta is None:
            raise StorageError(
                f"{layer}/{table} has not been materialized yet: no Delta table at {self.uri(layer, table)}"
            )
        frame = pl.scan_delta(delta)
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

    def year_files(self, layer: str, table: str, version: int | None, year: str) -> frozenset[str]:
        """The data files of one year of a version (`"all"`: every file of an unpartitioned table)."""
        files = self.files(layer, table, version)
        if year != WHOLE_TABLE:
            files = files.filter(pl.col("year") == int(year))
        return frozenset(files["path"])

    def fingerprint(self, layer: str, table: str, version: int | None, year: str) -> str:
        """A name for one year's data as a version holds it: the same files give the same name in any version.

        Data files are never changed and their names are unique, so this identifies exactly the rows a check
        audited, whatever other years were committed to the table since.
        """
        paths = "\n".join(sorted(self.year_files(layer, table, version, year)))
        return hashlib.sha256(paths.encode()).hexdigest()[:20]

    def changed_years(self, layer: str, table: str, base: int | None, head: int | None) -> set[str]:
        """Years whose files differ between two versions (`"all"` for an unpartitioned table)."""
        old, new = self._files_by_year(layer, table, base), self._files_by_year(layer, table, head)
        return {year for year in old.keys() | new.keys() if old.get(year) != new.get(year)}

    def _files_by_year(self, layer: str, table: str, version: int | None) -> dict[str, frozenset[str]]:
        grouped = self.files(layer, table, version).group_by("year").agg(pl.col("path"))
        return {WHOLE_TABLE if y is None else str(y): frozenset(p) for y, p in grouped.iter_rows()}

    def write(
        self,
        layer: str,
        table: str,
        year: YearKey,
        data: TableData,
        zstd_level: int,
        run_id: str,
        published_version: int | None,
        published_years: Mapping[str, int] | None = None,
        reset: bool = True,
    ) -> WrittenTable:
        """Commit a frame, a lazy query (streamed) or an iterable of frames (streamed) as one Delta version.

        A yearly write replaces that year only, committed on top of whatever other years' writers
        committed meanwhile. Unless `reset` is off, unpublished leftovers of other years (a failed audit, a
        killed process) are first undone (see `reset_unpublished`), which keeps the newest version tidy; it is
        off for runs of one writer that build several years at once, whose staged years must stay. An
        unpartitioned table is replaced whole.
        """
        try:
            uri = self.uri(layer, table)
            if year is not None and reset:
                published = dict(published_years) if published_years is not None else None
                self.reset_unpublished(layer, table, str(year), published_version, published)
            partition_values = {} if year is None else {PARTITION_COLUMN: str(int(year))}
            relative = f"{PARTITION_COLUMN}={int(year)}/" if year is not None else ""
            relative += f"part-{uuid.uuid4().hex}.zstd.parquet"
            location = self.join(layer, table, *relative.split("/"))
            path = self._path(location)
            if isinstance(data, pl.LazyFrame):
                written = self._sink(location, data, zstd_level, drop=list(partition_values))
            else:
                written = write_frames(path, _frames(data), zstd_level, list(partition_values), self.filesystem)
            actions = []
            if written.rows:
                size = self.filesystem.get_file_info(path).size
                actions.append(
                    AddAction(relative, size, partition_values, int(time.time() * 1000), True, stats(written.rows))
                )
            schema = DeltaSchema.from_arrow(written.schema if year is None else _with_partition_column(written.schema))
            version = self._commit(layer, table, None if year is None else str(int(year)), actions, schema, run_id)
            files = self.files(layer, table, version)
            if year is not None:
                files = files.filter(pl.col("year") == int(year))
            return WrittenTable(uri, version, int(files["rows"].sum()), int(files["bytes"].sum()))
        finally:
            return_freed_memory()  # the next step's peak must not stack on what this write freed

    def _sink(self, location: Location, query: pl.LazyFrame, zstd_level: int, drop: list[str]) -> WrittenFile:
        """Stream a lazy query into one Parquet file with Polars' streaming engine, in the query's row order.

        Polars encodes and compresses row groups on every core while the query runs, where pyarrow's writer
        (`write_frames`) compresses on one thread: a year of silver is written in about half the time, at
        the same size. An empty result leaves no file.
        """
        schema = query.head(0).collect().to_arrow(compat_level=pl.CompatLevel.oldest()).schema
        uri = str(location)
        if isinstance(location, Path):
            location.parent.mkdir(parents=True, exist_ok=True)
        query.drop(drop, strict=False).sink_parquet(
            uri,
            compression="zstd",
            compression_level=zstd_level,
            row_group_size=ROW_GROUP_ROWS,
            storage_options=self.delta_options,
        )
        path = self._path(location)
        rows = pq.read_metadata(path, filesystem=self.filesystem).num_rows
        if not rows:
            self.filesystem.delete_file(path)
        return WrittenFile(rows, schema)

    def _commit(
        self, layer: str, table: str, year: str | None, actions: list[AddAction], schema: DeltaSchema, run_id: str
    ) -> int:
        """Replace one year's files (the whole table if `year` is None) with `actions`; the new version.

        Writers of other years may commit at the same moment. Delta's conflict check does not look at
        partitions here and refuses the later commit, so it is made again on the newer version: replacing
        one year's files is correct on top of any other year's commit.
        """
        uri = self.uri(layer, table)
        commit = CommitProperties(custom_metadata={RUN_ID_KEY: run_id})
        partitioning = [PARTITION_COLUMN] if year is not None else None
        filters = None if year is None else [(PARTITION_COLUMN, "=", year)]
        for attempt in range(COMMIT_ATTEMPTS):
            delta = self._table(layer, table)
            try:
                if delta is None:
                    create_table_with_add_actions(uri, schema, actions, mode="append" if year else "overwrite",
                                                  partition_by=partitioning, storage_options=self.delta_options,
                                                  commit_properties=commit)  # fmt: skip
                    return self.head_version(layer, table) or 0
                delta.create_write_transaction(actions, mode="overwrite", schema=schema, partition_by=partitioning,
                                               partition_filters=filters, commit_properties=commit)  # fmt: skip
                # The newest version: this commit, or a later one of another year (the year's files are the same).
                return self.head_version(layer, table) or 0
            except CommitFailedError:
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))  # another year's writer just committed
        raise AssertionError("unreachable")

    def reset_unpublished(
        self,
        layer: str,
        table: str,
        keep_year: str,
        published_version: int | None,
        published_years: dict[str, int | None] | None = None,
    ) -> None:
        """Bring every year but `keep_year` back to its published files before a write of `keep_year`.

        `published_years` names the version each published year is read from (default: every year of
        `published_version`). Undoing a year commits its published files again (they are still there:
        vacuum keeps them), or none if it was never published.
        """
        head = self.head_version(layer, table)
        if head is None or (head == published_version and published_years is None):
            return
        if published_years is None:  # every year of the published version
            published_years = dict.fromkeys(self._files_by_year(layer, table, published_version), published_version)
        published = {y: self.year_files(layer, table, v, y) for y, v in published_years.items() if v is not None}
        current = self._files_by_year(layer, table, head)
        nothing: frozenset[str] = frozenset()
        stray = {y for y in current.keys() | published.keys() if current.get(y, nothing) != published.get(y, nothing)}
        delta = self._table(layer, table)
        assert delta is not None
        schema = delta.schema()
        for year in sorted(stray - {keep_year}):
            source = published_years.get(year)
            actions = [] if source is None else self._add_actions(layer, table, source, year)
            self._commit(layer, table, year, actions, schema, run_id="reset-unpublished")

    def _add_actions(self, layer: str, table: str, version: int, year: str) -> list[AddAction]:
        """Actions that add one year's files of `version` again (as a restore does)."""
        delta = self._table(layer, table, version)
        assert delta is not None
        actions = pl.from_arrow(pa.table(delta.get_add_actions(flatten=True)))
        rows = actions.filter(pl.col(f"partition.{PARTITION_COLUMN}").cast(pl.Int32) == int(year))
        modified = pl.col("modification_time").cast(pl.Datetime("ms")).dt.epoch("ms")
        columns = rows.select("path", "size_bytes", modified, "num_records").iter_rows()
        return [
            AddAction(path, size, {PARTITION_COLUMN: year}, when, True, stats(records))
            for path, size, when, records in columns
        ]

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


def stats(rows: int) -> str:
    """A data file's statistics as Delta records them (the row count is all the catalog needs)."""
    return json.dumps({"numRecords": rows})


def _frames(data: pl.DataFrame | Iterable[pl.DataFrame]) -> Iterable[pl.DataFrame]:
    return [data] if isinstance(data, pl.DataFrame) else data


def _with_partition_column(schema: pa.Schema) -> pa.Schema:
    if PARTITION_COLUMN in schema.names:
        return schema
    return schema.append(pa.field(PARTITION_COLUMN, pa.int32()))


@dataclass(frozen=True)
class WrittenFile:
    rows: int
    schema: pa.Schema  # the frames' schema, the partition column included where they carried it


def return_freed_memory() -> None:
    """Give the memory a write freed back to the system. pyarrow's pool and glibc's arenas keep it otherwise,
    and the next step's peak stacks on top: in one process running the assets of two 100M-line years, the
    memory held between steps rose to 1.6 GB with it kept, against 1.1 GB given back after every write
    (peak 2.11 against 1.89 GB, in the same time). Costs about a millisecond; Python's own garbage is
    `runs.release_memory`'s, between runs, as a collection costs 0.15 s in a process that loaded Dagster."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def write_frames(
    path: Path | str,
    frames: Iterable[pl.DataFrame],
    zstd_level: int,
    drop: list[str],
    filesystem: pafs.FileSystem | None = None,
) -> WrittenFile:
    """Write frames, in order, to one Parquet file with pyarrow, compressing on a second thread.

    Delta's own writer reorders a stream's batches across threads; this one keeps bronze's row order (which
    silver's dedupe and byte-identical reruns rely on), makes smaller files for this data (the ids and
    timestamps in order are stored as deltas, `column_encodings`) and overlaps compression with producing the
    next frame. The queue holds one frame: the writer is the slower side, so a second queued frame only held
    memory (a 17M-line year of bronze peaked at 1.32-1.36 GB with two, 1.13-1.15 GB with one, in the same
    time). `drop` names columns that live in the file's path (the partition column) rather than in the file.
    An empty input writes no file. `filesystem` (default: the local disk) is where `path` is; S3 uploads the
    file in parts as it grows.
    """
    pending: queue.Queue[pa.Table | None] = queue.Queue(maxsize=1)
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
                if filesystem is None or isinstance(filesystem, pafs.LocalFileSystem):
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(
                    str(path),
                    table.schema,
                    compression="zstd",
                    compression_level=zstd_level,
                    filesystem=filesystem,
                    **column_encodings(frame.drop(drop, strict=False)),
                )
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


def column_encodings(frame: pl.DataFrame) -> dict[str, Any]:
    """pyarrow writer options that store the integer and time columns in `frame` that are (nearly) in order
    (bronze's transaction ids and timestamps, say, with the injected duplicates out of place) as their deltas,
    and dictionary-encode the rest as pyarrow does.

    Deltas of ordered values take a few bits each where a dictionary of millions of distinct ids takes the
    values' full width, and zstd-9 then has a quarter less to compress: a year of bronze (17M lines) is
    written in 10 % less CPU time (8.5 against 9.5 s) and 22 % smaller (139 against 177 MB). Only the encoding
    differs; every reader decodes the same values.
    The first frame decides for the file, so the same frames always give the same bytes.
    """
    ordered = [
        series.name
        for series in frame.iter_columns()
        if (series.dtype.is_integer() or series.dtype.is_temporal()) and _mostly_rising(series.to_physical())
    ]
    if not ordered:
        return {}
    return {
        "use_dictionary": [name for name in frame.columns if name not in ordered],
        "column_encoding": dict.fromkeys(ordered, "DELTA_BINARY_PACKED"),
    }


def _mostly_rising(values: pl.Series) -> bool:
    """Whether at least 99 % of the steps from one value to the next do not go down."""
    steps = values.diff().drop_nulls()
    return steps.len() > 0 and (steps >= 0).sum() >= ORDERED_SHARE * steps.len()


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
