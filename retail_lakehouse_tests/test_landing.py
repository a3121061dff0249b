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
