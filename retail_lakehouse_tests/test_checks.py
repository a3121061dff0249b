"""The check helpers on hand-built frames: a contract breach anywhere in a partition is found, in any batch."""

from __future__ import annotations

import polars as pl
import pytest

from retail_lakehouse import checks
from retail_lakehouse.checks import contract_failures, grain_result
from retail_lakehouse.schemas import YearlySales, polars_schema


def yearly_rows(count: int) -> pl.DataFrame:
    """`count` valid YearlySales rows (one per year from 1000 on)."""
    schema = polars_schema(YearlySales)
    rows = {name: pl.Series(name, [0] * count).cast(dtype) for name, dtype in schema.items()}
    rows["year"] = pl.Series("year", range(1000, 1000 + count), dtype=schema["year"])
    return pl.DataFrame(rows)


def test_contract_breach_in_a_later_batch_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "VALIDATION_BATCH_ROWS", 3)
    frame = yearly_rows(10).with_columns(
        pl.when(pl.int_range(pl.len()) == 8).then(-5).otherwise(pl.col("lines")).cast(pl.Int64).alias("lines")
    )
    failures = contract_failures(frame.lazy(), YearlySales)
    assert failures.select("column", "failures", "examples").rows() == [("lines", 1, "-5")]


def test_contract_of_a_valid_partition_has_no_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "VALIDATION_BATCH_ROWS", 3)
    assert contract_failures(yearly_rows(10).lazy(), YearlySales).is_empty()


def test_contract_of_an_empty_partition_still_checks_the_types() -> None:
    empty = yearly_rows(0).with_columns(pl.col("lines").cast(pl.Float64))
    assert not contract_failures(empty.lazy(), YearlySales).is_empty()


def test_grain_counts_each_duplicated_key_once_and_names_the_first() -> None:
    days = pl.LazyFrame({"date": ["2024-01-03", "2024-01-02", "2024-01-03", "2024-01-02", "2024-01-04"]})
    result = grain_result(days.with_columns(pl.col("date").str.to_date()), ("date",))
    assert not result.passed
    assert result.metadata["duplicate_keys"].value == 2
    assert "datetime.date(2024, 1, 2)" in (result.description or "")
