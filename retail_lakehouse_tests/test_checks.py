"""The check helpers on hand-built frames: a contract breach anywhere in a partition is found; a grain holds
only for unique keys without nulls, stored in key order or not."""

from __future__ import annotations

import polars as pl

from retail_lakehouse.audits import StagedYear, contract_failures, grain_verdict
from retail_lakehouse.catalog import EMPTY
from retail_lakehouse.schemas import MonthlySales, YearlySales, polars_schema
from retail_lakehouse.settings import Settings
from retail_lakehouse.storage import Lakehouse


def yearly_rows(count: int) -> pl.DataFrame:
    """`count` valid YearlySales rows (one per year from 1000 on)."""
    schema = polars_schema(YearlySales)
    rows = {name: pl.Series(name, [0] * count).cast(dtype) for name, dtype in schema.items()}
    rows["year"] = pl.Series("year", range(1000, 1000 + count), dtype=schema["year"])
    return pl.DataFrame(rows)


def test_contract_breach_in_any_month_or_in_none_is_found() -> None:
    frame = yearly_rows(10).with_columns(
        pl.when(pl.int_range(pl.len()) == 8).then(-5).otherwise(pl.col("lines")).cast(pl.Int64).alias("lines"),
        pl.Series("month", [1, 1, 2, 5, 12, 12, None, 13, 7, 3], dtype=pl.Int8),
    )
    failures = contract_failures(frame.lazy(), MonthlySales)
    # Row 8 (month 7) has negative lines; the rows of no month (null, 13) are validated too.
    assert sorted(failures.select("column", "check", "failures").rows()) == [
        ("lines", "greater_than_or_equal_to(0)", 1),
        ("month", "less_than_or_equal_to(12)", 1),
        ("month", "not_nullable", 1),
    ]


def test_contract_of_a_valid_partition_has_no_failures() -> None:
    months = yearly_rows(12).with_columns(pl.int_range(1, 13, dtype=pl.Int8).alias("month"))
    assert contract_failures(months.lazy(), MonthlySales).is_empty()
    assert contract_failures(yearly_rows(10).lazy(), YearlySales).is_empty()


def test_contract_of_an_empty_partition_still_checks_the_types() -> None:
    empty = yearly_rows(0).with_columns(pl.col("lines").cast(pl.Float64))
    assert not contract_failures(empty.lazy(), YearlySales).is_empty()


def test_grain_counts_each_duplicated_key_once_and_names_the_first() -> None:
    days = pl.LazyFrame({"date": ["2024-01-03", "2024-01-02", "2024-01-03", "2024-01-02", "2024-01-04"]})
    result = grain_verdict(days.with_columns(pl.col("date").str.to_date()), ("date",))
    assert not result.passed
    assert result.metadata["duplicate_keys"] == 2
    assert "datetime.date(2024, 1, 2)" in (result.description or "")


def test_grain_holds_for_unique_keys_in_key_order_and_in_any_order() -> None:
    lines = pl.LazyFrame({"transaction_id": [1, 1, 2, 3, 3], "line_number": [1, 2, 1, 1, 5]})
    assert grain_verdict(lines, ("transaction_id", "line_number")).passed
    shuffled = lines.collect().sample(fraction=1.0, shuffle=True, seed=3).lazy()
    assert grain_verdict(shuffled.reverse(), ("transaction_id", "line_number")).passed


def test_grain_finds_a_repeated_key_next_to_itself_in_key_order() -> None:
    lines = pl.LazyFrame({"transaction_id": [1, 2, 2, 3], "line_number": [1, 1, 1, 1]})
    result = grain_verdict(lines, ("transaction_id", "line_number"))
    assert not result.passed
    assert result.metadata["duplicate_keys"] == 1
    assert "(2, 1)" in (result.description or "")


def test_grain_finds_a_null_key_in_key_order() -> None:
    lines = pl.LazyFrame({"transaction_id": [1, 2, None], "line_number": [1, 1, 2]})
    result = grain_verdict(lines, ("transaction_id", "line_number"))
    assert not result.passed
    assert result.metadata["null_keys"] == 1


def test_staged_figures_are_taken_once_per_write_of_the_year(tmp_path):
    """Audits share figures of a staged year (a count, a sum) until that year is written again."""
    lakehouse = Lakehouse(tmp_path / "root")

    def write(rows: int) -> None:
        lines = pl.DataFrame({"id": range(rows), "year": [2024] * rows}, schema_overrides={"year": pl.Int32})
        lakehouse.write("bronze", "lines", 2024, lines, zstd_level=3, run_id="test", published_version=None)

    def count() -> int:
        staged = StagedYear(lakehouse, Settings(data_dir=tmp_path / "root"), "2024", EMPTY)
        head = lakehouse.head_version("bronze", "lines")
        assert head is not None
        return staged.figures(("bronze", "lines"), lambda: lakehouse.rows_by_year("bronze", "lines", head)["2024"])

    write(3)
    assert count() == 3
    write(5)
    assert count() == 5
