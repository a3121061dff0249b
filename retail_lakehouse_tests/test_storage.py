"""Storage: Delta tables per layer, one year replaced at a time, unpublished leftovers undone, clear errors."""

from __future__ import annotations

import threading

import polars as pl
import pyarrow.parquet as pq
import pytest

from retail_lakehouse import storage
from retail_lakehouse.errors import StorageError
from retail_lakehouse.storage import Lakehouse, create_exclusively


def frame(start: int, n: int, year: int | None = None) -> pl.DataFrame:
    ids = range(start, start + n)
    columns = {"id": ids, "name": [f"row {i}" for i in ids]}
    return pl.DataFrame(columns | ({} if year is None else {"year": [year] * n}), schema_overrides={"year": pl.Int32})


def write(lakehouse: Lakehouse, table: str, year: int | None, data, published: int | None = None):
    return lakehouse.write("bronze", table, year, data, zstd_level=9, run_id="test", published_version=published)


def test_yearly_tables_are_delta_tables_partitioned_by_year(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    first = write(lakehouse, "transactions", 2023, frame(0, 10))
    second = write(lakehouse, "transactions", 2024, frame(10, 5), published=first.version)
    assert (tmp_path / "bronze" / "transactions" / "_delta_log").is_dir()
    files = sorted((tmp_path / "bronze" / "transactions").glob("year=*/*.parquet"))
    assert [p.parent.name for p in files] == ["year=2023", "year=2024"]
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    assert (first.version, second.version) == (0, 1) and (first.rows, second.rows) == (10, 5)
    assert lakehouse.rows_by_year("bronze", "transactions", second.version) == {"2023": 10, "2024": 5}
    # The partition column is added to frames that lack it, and read back like any column.
    back = lakehouse.scan("bronze", "transactions", second.version, [2024]).collect()
    assert back["year"].to_list() == [2024] * 5 and back["id"].to_list() == list(range(10, 15))


def test_columns_in_order_are_stored_as_deltas_and_read_back_unchanged(tmp_path):
    """Ids and times that (nearly) only go up are delta-encoded; shuffled ids and text keep the dictionary."""
    n = 5000
    ids = list(range(1000, 1000 + n))
    ids[n // 2] = 3  # one value out of place, like an injected duplicate, still leaves the column in order
    shuffled = [(i * 7919) % n for i in range(n)]
    times = pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 1) + pl.duration(minutes=n - 1),
                              "1m", eager=True)  # fmt: skip
    expected = pl.DataFrame({"id": ids, "at": times, "shuffled": shuffled, "name": [f"row {i % 10}" for i in ids]})
    lakehouse = Lakehouse(tmp_path)
    write(lakehouse, "t", 2024, expected)
    (path,) = (tmp_path / "bronze" / "t").glob("year=2024/*.parquet")
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {row_group.column(i).path_in_schema: row_group.column(i).encodings for i in range(4)}
    assert "DELTA_BINARY_PACKED" in encodings["id"] and "DELTA_BINARY_PACKED" in encodings["at"]
    assert "RLE_DICTIONARY" in encodings["shuffled"] and "RLE_DICTIONARY" in encodings["name"]
    assert "DELTA_BINARY_PACKED" not in encodings["shuffled"]
    back = lakehouse.scan("bronze", "t", lakehouse.head_version("bronze", "t")).drop("year").collect()
    assert back.equals(expected)


def test_a_yearly_write_replaces_only_its_year_and_earlier_versions_stay_readable(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    v0 = write(lakehouse, "t", 2023, frame(0, 10)).version
    v1 = write(lakehouse, "t", 2024, frame(100, 3), published=v0).version
    v2 = write(lakehouse, "t", 2024, frame(200, 4), published=v1).version
    assert lakehouse.scan("bronze", "t", v2).collect().sort("id")["id"].to_list() == [*range(10), *range(200, 204)]
    assert lakehouse.scan("bronze", "t", v1, [2024]).collect()["id"].to_list() == [100, 101, 102]
    assert lakehouse.changed_years("bronze", "t", v1, v2) == {"2024"}


def test_frames_lazy_queries_and_streams_write_the_same_rows(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    expected = frame(0, 1000)
    version = write(lakehouse, "a", 2023, expected).version
    version = write(lakehouse, "b", 2023, expected.lazy()).version
    streamed = write(lakehouse, "c", 2023, (expected.slice(i, 100) for i in range(0, 1000, 100)))
    assert streamed.rows == 1000
    for table in ("a", "b", "c"):
        head = lakehouse.head_version("bronze", table)
        assert lakehouse.scan("bronze", table, head).drop("year").collect().equals(expected), table
    assert version == 0


def test_unpublished_years_of_another_run_are_undone_before_a_write(tmp_path):
    """A failed run left 2023 staged; the next write of 2024 must not carry it into what gets published."""
    lakehouse = Lakehouse(tmp_path)
    published = write(lakehouse, "t", 2023, frame(0, 3)).version
    write(lakehouse, "t", 2023, frame(50, 7), published=published)  # staged, never published
    head = write(lakehouse, "t", 2024, frame(100, 2), published=published).version
    rows = lakehouse.scan("bronze", "t", head).collect().sort("id")["id"].to_list()
    assert rows == [0, 1, 2, 100, 101]
    assert lakehouse.changed_years("bronze", "t", published, head) == {"2024"}


def test_a_never_published_table_keeps_only_the_year_being_written(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    write(lakehouse, "t", 2023, frame(0, 3))
    head = write(lakehouse, "t", 2024, frame(10, 2)).version
    assert lakehouse.rows_by_year("bronze", "t", head) == {"2024": 2}


def test_a_failed_write_commits_nothing(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    version = write(lakehouse, "t", 2023, frame(0, 10)).version

    def broken():
        yield frame(100, 5)
        raise RuntimeError("source died half way")

    with pytest.raises(RuntimeError):
        write(lakehouse, "t", 2023, broken(), published=version)
    assert lakehouse.head_version("bronze", "t") == version
    assert lakehouse.scan("bronze", "t", version).collect()["id"].to_list() == list(range(10))


def test_every_write_gives_its_memory_back_whether_it_succeeds_or_fails(tmp_path, monkeypatch):
    """The next step's peak must not stack on what this write freed (`storage.return_freed_memory`)."""
    given_back = []
    monkeypatch.setattr(storage, "return_freed_memory", lambda: given_back.append("write"))
    lakehouse = Lakehouse(tmp_path)
    write(lakehouse, "t", 2023, frame(0, 10))
    assert given_back == ["write"]
    with pytest.raises(StorageError):
        write(lakehouse, "t", 2023, iter([]))
    assert given_back == ["write", "write"]


def test_dimensions_are_replaced_whole(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    write(lakehouse, "stores", None, frame(0, 3))
    head = write(lakehouse, "stores", None, frame(7, 2)).version
    assert lakehouse.scan("bronze", "stores", head).collect()["id"].to_list() == [7, 8]
    assert lakehouse.rows_by_year("bronze", "stores", head) == {"all": 2}


def test_reading_a_missing_table_says_what_and_where(tmp_path):
    with pytest.raises(StorageError, match=r"bronze/transactions has not been materialized yet: no Delta table at"):
        Lakehouse(tmp_path).scan("bronze", "transactions", 0)
    assert Lakehouse(tmp_path).head_version("bronze", "transactions") is None


def test_exclusive_create_lets_exactly_one_writer_win(tmp_path):
    target = tmp_path / "snapshots" / "00000001.json"
    assert create_exclusively(target, "first")
    assert not create_exclusively(target, "second")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["00000001.json"]  # no temporary file left behind


def test_writers_of_different_years_may_commit_at_the_same_moment(tmp_path):
    write(Lakehouse(tmp_path), "t", 2022, frame(0, 1))
    failures: list[BaseException] = []

    def year_writer(year: int) -> None:
        lakehouse = Lakehouse(tmp_path)  # one per writer, as in separate processes
        try:
            for attempt in range(4):
                rows = frame(year * 100, attempt + 1)
                lakehouse.write("bronze", "t", year, rows, 3, run_id=str(year), published_version=None, reset=False)
        except BaseException as error:
            failures.append(error)

    writers = [threading.Thread(target=year_writer, args=(year,)) for year in (2023, 2024)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert failures == []
    lakehouse = Lakehouse(tmp_path)
    head = lakehouse.head_version("bronze", "t")
    assert lakehouse.rows_by_year("bronze", "t", head) == {"2022": 1, "2023": 4, "2024": 4}  # each year's last write
