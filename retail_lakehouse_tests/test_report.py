"""The business report: pure functions on hand-made rows, and `lakehouse report` on the session's lakehouse.

Expected figures on the materialized lakehouse are summed in the test from published silver lines
(`catalog.scan`), not from the gold tables the report reads, so a report that mis-sums gold would fail.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from retail_lakehouse import catalog
from retail_lakehouse.cli import main
from retail_lakehouse.formatting import count, euros
from retail_lakehouse.reference import FEDERAL_STATES, QUARANTINE_REASONS
from retail_lakehouse.report import (
    growth_percent,
    months_compared,
    quarantine_by_reason,
    ranked,
    rejected_by_file,
    year_figures,
)
from retail_lakehouse.schemas import REVENUE

STATE_NAMES = {state.code: state.name for state in FEDERAL_STATES}


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


# --- pure functions -------------------------------------------------------------------------------------


def test_ranked_sums_per_key_best_first_and_breaks_ties_by_key():
    frame = pl.DataFrame(
        {
            "category": ["Bakery", "Dairy & Eggs", "Bakery", "Household"],
            "revenue": [Decimal("10.00"), Decimal("25.50"), Decimal("15.50"), Decimal("25.50")],
            "vat": [Decimal("0.65"), Decimal("1.67"), Decimal("1.01"), Decimal("4.07")],
            "net_revenue": [Decimal("9.35"), Decimal("23.83"), Decimal("14.49"), Decimal("21.43")],
            "units": [1, 2, 3, 4],
            "transactions": [1, 1, 1, 1],
            "lines": [1, 1, 1, 1],
        },
        schema_overrides={"revenue": REVENUE, "vat": REVENUE, "net_revenue": REVENUE},
    )
    result = ranked(frame, ["category"])
    # Bakery 10.00 + 15.50 = 25.50 ties with the other two; ties go alphabetically.
    assert result.select("rank", "category", "revenue", "units").rows() == [
        (1, "Bakery", Decimal("25.50"), 4),
        (2, "Dairy & Eggs", Decimal("25.50"), 2),
        (3, "Household", Decimal("25.50"), 4),
    ]
    assert result["vat"].to_list() == [Decimal("1.66"), Decimal("1.67"), Decimal("4.07")]


def test_growth_is_percent_to_one_decimal_half_up_and_none_without_a_base():
    assert growth_percent(Decimal("110.00"), Decimal("100.00")) == Decimal("10.0")
    assert growth_percent(Decimal("100.05"), Decimal("100.00")) == Decimal("0.1")  # 0.05 % rounds half up
    assert growth_percent(Decimal("90"), Decimal("120")) == Decimal("-25.0")
    assert growth_percent(Decimal("5"), None) is None
    assert growth_percent(Decimal("5"), Decimal("0")) is None


def test_quarantine_lists_every_reason_in_reference_order_with_zeros():
    quarantine = pl.LazyFrame({"reason": ["duplicate", "missing_key", "duplicate"]})
    result = quarantine_by_reason(quarantine)
    assert result["reason"].to_list() == list(QUARANTINE_REASONS)
    expected = dict.fromkeys(QUARANTINE_REASONS, 0) | {"duplicate": 2, "missing_key": 1}
    assert dict(result.iter_rows()) == expected


def test_rejected_lines_counted_per_file_most_first():
    rejected = pl.LazyFrame({"file": ["b.csv", "a.csv", "b.csv", "c.csv"], "line_number": [2, 3, 4, 9]})
    assert rejected_by_file(rejected).rows() == [("b.csv", 2), ("a.csv", 1), ("c.csv", 1)]
    assert rejected_by_file(pl.LazyFrame(schema={"file": pl.String})).height == 0


def test_months_compared_leaves_months_without_a_year_before_empty():
    monthly = pl.DataFrame(
        {"year": [2023, 2024, 2024], "month": [2, 1, 2], "revenue": [Decimal("5.00"), Decimal("7.00"), Decimal("9.00")]}
    )
    assert months_compared(monthly, 2024).rows() == [(1, Decimal("7.00"), None), (2, Decimal("9.00"), Decimal("5.00"))]


def test_year_figures_is_none_for_a_year_without_a_row():
    yearly = pl.DataFrame({"year": [2023]})
    assert year_figures(yearly, 2024) is None


# --- the command on the materialized lakehouse ------------------------------------------------------------


@pytest.fixture
def published(materialized_lakehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(materialized_lakehouse))
    return materialized_lakehouse


def silver_sums(data_dir: Path, year: int) -> dict[str, object]:
    lines = catalog.scan("silver", "transactions", years=[year], data_dir=data_dir)
    totals = lines.select(
        pl.col("line_total").sum().alias("revenue"),
        pl.col("vat").sum().alias("vat"),
        pl.col("transaction_id").n_unique().alias("transactions"),
    ).collect()
    return totals.to_dicts()[0]


def test_report_figures_equal_sums_of_published_silver(published: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert main(["report", "--out", str(out)]) == 0  # the latest published year: 2024
    text = capsys.readouterr().out

    now, before = silver_sums(published, 2024), silver_sums(published, 2023)
    revenue, vat = Decimal(now["revenue"]), Decimal(now["vat"])
    assert text.startswith("Business report 2024 ")
    growth = (revenue - Decimal(before["revenue"])) / Decimal(before["revenue"]) * 100
    growth_text = f"{'+' if growth > 0 else '−'}{abs(growth):.1f}".replace(".", ",") + " % against 2023"
    assert re.search(rf"Revenue \(gross\) +{re.escape(euros(revenue, cents=True))}   {re.escape(growth_text)}", text)
    assert re.search(rf"VAT +{re.escape(euros(vat, cents=True))} ", text)
    assert re.search(rf"Revenue \(net\) +{re.escape(euros(revenue - vat, cents=True))} ", text)
    assert re.search(rf"Transactions +{re.escape(count(now['transactions']))} ", text)

    by_state = (
        catalog.scan("silver", "transactions", years=[2024], data_dir=published)
        .group_by("state_code")
        .agg(pl.col("line_total").sum().alias("revenue"))
        .sort(["revenue", "state_code"], descending=[True, False])
        .collect()
    )
    best, worst = by_state.row(0), by_state.row(-1)
    assert re.search(rf"best +1\. {STATE_NAMES[best[0]]} \({best[0]}\) +{re.escape(euros(best[1], cents=True))}", text)
    last = by_state.height
    assert re.search(
        rf"worst +{last}\. {STATE_NAMES[worst[0]]} \({worst[0]}\) +{re.escape(euros(worst[1], cents=True))}", text
    )

    states = pl.read_csv(out / "states.csv", infer_schema=False)
    assert [Decimal(v) for v in states["revenue"]] == by_state["revenue"].to_list()
    assert states["state_code"].to_list() == by_state["state_code"].to_list()

    by_product = (
        catalog.scan("silver", "transactions", years=[2024], data_dir=published)
        .group_by("product_id")
        .agg(pl.col("line_total").sum().alias("revenue"))
        .collect()
    )
    products = pl.read_csv(out / "products.csv", infer_schema=False)
    assert products.height == by_product.height
    assert Decimal(products["revenue"][0]) == by_product["revenue"].max()
    assert sum(Decimal(v) for v in products["revenue"]) == revenue

    quarantined = dict(
        catalog.scan("silver", "transactions_quarantine", years=[2024], data_dir=published)
        .group_by("reason")
        .len()
        .collect()
        .iter_rows()
    )
    assert len(quarantined) >= 5  # the session's defect rates make most reasons occur
    every_reason = dict.fromkeys(QUARANTINE_REASONS, 0) | quarantined
    csv = pl.read_csv(out / "quarantine_by_reason.csv", infer_schema=False)
    assert {r: int(n) for r, n in csv.iter_rows()} == every_reason
    for reason, lines in every_reason.items():
        assert re.search(rf"\n  {reason} +{re.escape(count(lines))}\n", text)
    assert f"Quarantined silver lines by reason: {count(sum(quarantined.values()))}" in text

    key = dict(pl.read_csv(out / "key_figures.csv", infer_schema=False).select("figure", "value").iter_rows())
    assert Decimal(key["revenue"]) == revenue and Decimal(key["vat"]) == vat
    assert Decimal(key["net_revenue"]) == revenue - vat


def test_report_writes_csv_files_and_one_page_that_fetches_nothing(published: Path, tmp_path: Path, capsys):
    out = tmp_path / "r"
    assert main(["report", "--year", "2023", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("Business report 2023 ")
    names = {p.name for p in out.iterdir()}
    assert names == {
        "key_figures.csv", "months.csv", "states.csv", "categories.csv", "products.csv",
        "quarantine_by_reason.csv", "rejected_by_file.csv", "report.html",
    }  # fmt: skip
    page = (out / "report.html").read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]*\bsrc\s*=", page) == []  # no script fetched from anywhere
    assert re.findall(r"""<link[^>]*href\s*=\s*["']?https?:""", page) == []
    assert page.count("<script") >= 5 and "Plotly.newPlot" in page  # the charts, with Plotly's code inline
    months = pl.read_csv(out / "months.csv", infer_schema=False)
    assert months["month"].to_list() == [str(m) for m in range(1, 13)]
    assert months["previous_revenue"].null_count() == 12  # 2022 is not published


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--year", "1999"], "error: year 1999 has no published gold (published years: 2023, 2024)"),
        (["--year", "last"], "error: --year 'last' is not a year: give one such as 2024"),
    ],
)
def test_bad_year_is_one_line(published: Path, tmp_path: Path, capsys, argv, message):
    assert main(["report", *argv, "--out", str(tmp_path / "never")]) == 2
    assert one_error_line(capsys) == message
    assert not (tmp_path / "never").exists()


def test_unwritable_folder_is_one_line(published: Path, tmp_path: Path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["report", "--out", str(blocker / "report")]) == 2
    assert one_error_line(capsys).startswith(f"error: cannot write the report into {blocker / 'report'}: ")


def test_no_published_data_is_one_line(tmp_path: Path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "empty"))
    assert main(["report"]) == 2
    assert one_error_line(capsys) == f"error: no published gold in {tmp_path / 'empty'}: run `lakehouse run` first"
