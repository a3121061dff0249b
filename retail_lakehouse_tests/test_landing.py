"""Landing: the CSV export reads back to exactly the generator's bronze, and bad files get clear errors."""

from __future__ import annotations

import pytest

from retail_lakehouse import landing
from retail_lakehouse.errors import LandingFileError
from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.generator.transactions import TransactionGenerator
from retail_lakehouse.settings import DefectRates
from retail_lakehouse.storage import Lakehouse

YEARS = (2023,)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    lakehouse = Lakehouse(tmp_path_factory.mktemp("lake"))
    stores, products = generate_stores(500, 42, YEARS), generate_products(2_000, 42, YEARS)
    generator = TransactionGenerator(
        stores, products, generate_calendar(YEARS), rows=40_000, seed=42, years=YEARS, defect_rates=DefectRates()
    )
    landing.export_dimensions(lakehouse, stores, products)
    landing.export_year(lakehouse, generator, 2023)
    return lakehouse, stores, products, generator


def test_landing_files_read_back_to_the_generated_tables(exported):
    lakehouse, stores, products, generator = exported
    assert landing.read_stores(lakehouse).equals(stores)
    assert landing.read_products(lakehouse).equals(products)
    chunks = list(generator.year(2023))
    for from_csv, chunk in zip(landing.read_transactions(lakehouse, 2023), chunks, strict=True):
        assert from_csv.equals(chunk.lines)
    manifest = landing.read_manifest(lakehouse, 2023)
    expected = {reason: sum(c.defects[reason] for c in chunks) for reason in chunks[0].defects}
    assert dict(manifest.select("reason", "rows").iter_rows()) == expected


def test_one_file_per_month_with_a_header(exported):
    lakehouse = exported[0]
    files = sorted(lakehouse.landing("transactions", "2023").glob("pos_*.csv"))
    assert [f.name for f in files] == [f"pos_2023-{m:02d}.csv" for m in range(1, 13)]
    assert files[0].read_text().splitlines()[0].startswith("transaction_id,line_number,transaction_ts")


def test_a_malformed_value_names_file_line_and_column(tmp_path, exported):
    source = exported[0].landing("stores.csv").read_text().splitlines()
    source[3] = source[3].replace(source[3].split(",")[0], "three", 1)
    bad = Lakehouse(tmp_path)
    bad.landing().mkdir(parents=True)
    bad.landing("stores.csv").write_text("\n".join(source))
    with pytest.raises(LandingFileError, match=r"stores\.csv: line 4: column store_id: cannot read 'three'"):
        landing.read_stores(bad)


def test_wrong_columns_and_broken_csv_are_reported_in_one_line(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    lakehouse.landing().mkdir(parents=True)
    lakehouse.landing("products.csv").write_text("product_id,name\n1,Milk\n")
    with pytest.raises(LandingFileError, match=r"wrong columns: missing \['sku'"):
        landing.read_products(lakehouse)
    lakehouse.landing("stores.csv").write_text('store_id,store_name\n1,"unterminated\n2,x,y,z\n')
    with pytest.raises(LandingFileError) as error:
        landing.read_stores(lakehouse)
    assert "stores.csv" in str(error.value) and "\n" not in str(error.value)


def test_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(LandingFileError, match="landing file is missing"):
        next(landing.read_transactions(Lakehouse(tmp_path), 2023))


def test_money_with_too_many_decimals_is_malformed_not_rounded(tmp_path, exported):
    lakehouse = exported[0]
    text = landing.month_file(lakehouse, 2023, 1).read_text().splitlines()
    fields = text[1].split(",")
    fields[6] = fields[6] + "9"  # unit_price 1.99 -> 1.999
    bad = Lakehouse(tmp_path)
    path = landing.month_file(bad, 2023, 1)
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([text[0], ",".join(fields)]))
    with pytest.raises(LandingFileError, match="line 2: column unit_price"):
        next(landing.read_transactions(bad, 2023))


def test_each_file_comes_with_its_rejected_lines_and_good_lines_in_name_order(tmp_path, exported):
    source = exported[0]
    lakehouse = Lakehouse(tmp_path)
    folder = lakehouse.landing("transactions", "2023")
    folder.mkdir(parents=True)
    march = landing.month_file(source, 2023, 3).read_text().splitlines(keepends=True)
    (folder / "pos_2023-03.csv").write_text("".join(march[:6]))
    bad = march[3].split(",")
    bad[5] = "x7"  # quantity
    daily = [march[0], march[6], ",".join(bad), march[7]]
    (folder / "pos_2023-03-31.csv").write_text("".join(daily))
    (folder / "pos_2023-01.csv").write_text(march[0])

    files = list(landing.read_transaction_files(lakehouse, 2023, max_rejected_share=0.5))  # 1 of 3 lines is bad

    assert [f.name for f in files] == [
        "transactions/2023/pos_2023-01.csv",
        "transactions/2023/pos_2023-03-31.csv",
        "transactions/2023/pos_2023-03.csv",
    ]
    assert [(f.line_count, f.lines.height, f.rejected.height) for f in files] == [(0, 0, 0), (3, 2, 1), (5, 5, 0)]
    rejected = files[1].rejected
    assert rejected.select("file", "line_number", "year").row(0) == ("transactions/2023/pos_2023-03-31.csv", 3, 2023)
    assert rejected["error"][0].startswith("column quantity: cannot read 'x7' as Int32")
    assert rejected["raw_line"][0] == ",".join(bad).rstrip("\n")
    march_lines = landing.read_csv(source, landing.month_file(source, 2023, 3), files[2].lines.schema)
    assert files[2].lines.equals(march_lines.head(5))
    assert files[1].lines.equals(march_lines.slice(5, 2))
    assert landing.landing_months(lakehouse, 2023) == [1, 3]


def test_generated_files_have_no_rejected_lines(exported):
    lakehouse, *_, generator = exported
    files = list(landing.read_transaction_files(lakehouse, 2023))
    chunks = list(generator.year(2023))
    assert [f.rejected.height for f in files] == [0] * 12
    assert [f.line_count for f in files] == [c.lines.height for c in chunks]
    assert landing.landing_months(lakehouse, 2023) == list(range(1, 13))


def test_the_strict_reader_stops_at_a_missing_month_or_a_bad_line(tmp_path, exported):
    source = exported[0]
    lakehouse = Lakehouse(tmp_path)
    folder = lakehouse.landing("transactions", "2023")
    folder.mkdir(parents=True)
    for month in (1, 2, 4):
        (folder / f"pos_2023-{month:02d}.csv").write_bytes(landing.month_file(source, 2023, month).read_bytes())
    frames = landing.read_transactions(lakehouse, 2023)
    assert next(frames).height > 0 and next(frames).height > 0
    with pytest.raises(LandingFileError, match=r"pos_2023-03\.csv: landing file is missing"):
        next(frames)

    text = landing.month_file(source, 2023, 3).read_text().splitlines(keepends=True)
    text[150] = text[150].replace(",", ",,", 1)  # 12 fields: one line in thousands, under the 1 % threshold
    (folder / "pos_2023-03.csv").write_text("".join(text))
    with pytest.raises(LandingFileError, match=r"transactions/2023/pos_2023-03\.csv: line 151: column payment_method"):
        list(landing.read_transactions(lakehouse, 2023))
