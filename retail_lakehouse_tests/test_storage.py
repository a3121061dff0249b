"""Storage: the layout, atomic writes, and clear errors for what is missing."""

from __future__ import annotations

import polars as pl
import pytest

from retail_lakehouse.errors import StorageError
from retail_lakehouse.storage import TEMP_PREFIX, Lakehouse


def frame(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"id": range(start, start + n), "name": [f"row {i}" for i in range(start, start + n)]})


def test_partitions_are_laid_out_hive_style(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    written = lakehouse.write("bronze", "transactions", 2023, frame(0, 10), zstd_level=9)
    assert written.path == tmp_path / "bronze" / "transactions" / "year=2023" / "data.parquet"
    assert written.rows == 10 and written.bytes == written.path.stat().st_size
    lakehouse.write("bronze", "stores", None, frame(0, 3), zstd_level=9)
    assert (tmp_path / "bronze" / "stores" / "data.parquet").is_file()
    assert lakehouse.years("bronze", "transactions") == [2023]
    assert lakehouse.rows("bronze", "transactions", 2023) == 10


def test_frames_lazy_queries_and_streams_write_the_same_rows(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    expected = frame(0, 1000)
    lakehouse.write("silver", "a", 2023, expected, 3)
    lakehouse.write("silver", "b", 2023, expected.lazy(), 3)
    lakehouse.write("silver", "c", 2023, (frame(i, 100) for i in range(0, 1000, 100)), 3)
    for table in "abc":
        assert lakehouse.scan("silver", table, 2023).collect().equals(expected), table


def test_a_failed_write_leaves_the_previous_partition_readable(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    lakehouse.write("bronze", "transactions", 2023, frame(0, 50), 9)

    def crashing_stream():
        yield frame(1000, 10)
        raise RuntimeError("generator crashed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        lakehouse.write("bronze", "transactions", 2023, crashing_stream(), 9)
    assert lakehouse.scan("bronze", "transactions", 2023).collect().equals(frame(0, 50))
    folder = tmp_path / "bronze" / "transactions" / "year=2023"
    assert [p.name for p in folder.iterdir()] == ["data.parquet"]  # no temporary file left behind


def test_a_stale_temporary_file_from_a_crash_is_invisible_and_cleaned(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    folder = tmp_path / "gold" / "daily_sales" / "year=2024"
    folder.mkdir(parents=True)
    (folder / f"{TEMP_PREFIX}dead-data.parquet.partial").write_bytes(b"half a file")
    assert lakehouse.years("gold", "daily_sales") == []
    lakehouse.write("gold", "daily_sales", 2024, frame(0, 5), 3)
    assert [p.name for p in folder.iterdir()] == ["data.parquet"]


def test_reading_a_missing_partition_says_what_and_where(tmp_path):
    with pytest.raises(StorageError, match=r"silver/transactions year=2031 has not been materialized yet"):
        Lakehouse(tmp_path).scan("silver", "transactions", 2031)
