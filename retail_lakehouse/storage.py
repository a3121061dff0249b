"""The storage layout and atomic Parquet writes: the only code that builds a path under the data root.

Layout (a contract): `<root>/<layer>/<table>/year=<YYYY>/data.parquet` for a yearly partition and
`<root>/<layer>/<table>/data.parquet` for an unpartitioned table. A file is written under a hidden temporary
name in the same folder, flushed to disk and renamed into place, so a reader sees the old file or the new
one, never half a file; a crash leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from retail_lakehouse.errors import StorageError

DATA_FILE = "data.parquet"
TEMP_PREFIX = ".tmp-"
ROW_GROUP_ROWS = 256 * 1024

TableData = pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame]


@dataclass(frozen=True)
class Table:
    """Data to store, and how to describe it once written (metadata that needs the data to be consumed).

    A streamed table can only be counted or summarised after it has been written, so the summary is a
    function of the written file (or of state the stream filled in, such as a defect manifest).
    """

    data: TableData
    describe: Callable[[pl.LazyFrame], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    rows: int
    bytes: int


@dataclass(frozen=True)
class Lakehouse:
    """The tables under one data root."""

    root: Path

    def path(self, layer: str, table: str, year: int | str | None = None) -> Path:
        folder = self.root / layer / table
        return (folder if year is None else folder / f"year={year}") / DATA_FILE

    def exists(self, layer: str, table: str, year: int | str | None = None) -> bool:
        return self.path(layer, table, year).is_file()

    def landing(self, *parts: str) -> Path:
        """A path in the landing zone, where point-of-sale exports arrive as CSV files."""
        return self.root.joinpath("landing", *parts)

    def years(self, layer: str, table: str) -> list[int]:
        """The years that have a written partition, ascending."""
        folder = self.root / layer / table
        if not folder.is_dir():
            return []
        return sorted(
            int(p.parent.name.removeprefix("year="))
            for p in folder.glob(f"year=*/{DATA_FILE}")
            if p.parent.name.removeprefix("year=").isdigit()
        )

    def scan(self, layer: str, table: str, year: int | str | None = None) -> pl.LazyFrame:
        """A lazy scan of one table or partition; a clear error if it has not been written yet."""
        path = self.path(layer, table, year)
        if not path.is_file():
            where = f"{layer}/{table}" + ("" if year is None else f" year={year}")
            raise StorageError(f"{where} has not been materialized yet: expected {path}")
        return pl.scan_parquet(path, hive_partitioning=False)

    def rows(self, layer: str, table: str, year: int | str | None = None) -> int:
        """Row count from the Parquet footer, without reading data."""
        self.scan(layer, table, year)  # the clear error if missing
        return pq.ParquetFile(self.path(layer, table, year)).metadata.num_rows

    def write(self, layer: str, table: str, year: int | str | None, data: TableData, zstd_level: int) -> WrittenFile:
        """Write a frame, a lazy query (streamed) or an iterable of frames (streamed), atomically."""
        path = self.path(layer, table, year)
        with atomic_path(path) as temporary:
            if isinstance(data, pl.LazyFrame):
                data.sink_parquet(
                    temporary, compression="zstd", compression_level=zstd_level, row_group_size=ROW_GROUP_ROWS
                )
            elif isinstance(data, pl.DataFrame):
                write_frames(temporary, [data], zstd_level)
            else:
                write_frames(temporary, data, zstd_level)
        return WrittenFile(path, pq.ParquetFile(path).metadata.num_rows, path.stat().st_size)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success flush it to disk and rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f"{TEMP_PREFIX}*"):
        stale.unlink(missing_ok=True)  # left by an earlier crash; never visible to readers
    temporary = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}.partial"
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        temporary.unlink(missing_ok=True)


def write_frames(path: Path, frames: Iterable[pl.DataFrame], zstd_level: int) -> int:
    """Write frames to one Parquet file with pyarrow, compressing on a second thread; returns rows.

    pyarrow's writer makes smaller files than Polars' for this data (it does not dictionary-encode the
    sorted id and timestamp columns), and compressing on another thread overlaps with producing the next
    frame. The queue holds at most two frames, so memory stays bounded however many frames come.
    """
    pending: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []
    rows = 0

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
            if writer is None:
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
    if writer is None:
        raise StorageError(f"nothing to write to {path}: no frame was given")
    return rows
