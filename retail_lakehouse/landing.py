"""The landing zone: CSV files as a point-of-sale export delivers them, written and read back.

Layout: `landing/stores.csv`, `landing/products.csv`, and per year `landing/transactions/<year>/` with one
file per month (`pos_<year>-<month>.csv`, header row, `.` decimals, empty for missing values) and the
generator's `defect_manifest.json`. Reading conforms every file to the bronze contract or stops with a
one-line error naming the file, the line and the column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import polars as pl

from retail_lakehouse.errors import LandingFileError
from retail_lakehouse.generator.defects import defect_manifest
from retail_lakehouse.generator.transactions import TransactionGenerator
from retail_lakehouse.schemas import BronzeProducts, BronzeStores, BronzeTransactions, polars_schema
from retail_lakehouse.storage import Lakehouse, Location
from retail_lakehouse.transforms.bronze import TIMESTAMP_FORMAT, conform_columns

MANIFEST_FILE = "defect_manifest.json"


def month_file(lakehouse: Lakehouse, year: int, month: int) -> Location:
    return lakehouse.landing("transactions", str(year), f"pos_{year}-{month:02d}.csv")


def write_csv(lakehouse: Lakehouse, frame: pl.DataFrame, path: Location) -> None:
    with lakehouse.atomic_file(path) as temporary:
        frame.write_csv(temporary, datetime_format=TIMESTAMP_FORMAT, date_format="%Y-%m-%d")


def export_dimensions(lakehouse: Lakehouse, stores: pl.DataFrame, products: pl.DataFrame) -> None:
    write_csv(lakehouse, stores, lakehouse.landing("stores.csv"))
    write_csv(lakehouse, products, lakehouse.landing("products.csv"))


def export_year(lakehouse: Lakehouse, generator: TransactionGenerator, year: int) -> int:
    """Write a year's monthly POS files and its defect manifest; returns the lines written."""
    lines = 0
    counts: dict[str, int] = {}
    for chunk in generator.year(year):
        write_csv(lakehouse, chunk.lines, month_file(lakehouse, year, chunk.month))
        lines += chunk.lines.height
        for reason, rows in chunk.defects.items():
            counts[reason] = counts.get(reason, 0) + rows
    manifest = lakehouse.landing("transactions", str(year), MANIFEST_FILE)
    with lakehouse.atomic_file(manifest) as temporary:
        temporary.write_text(json.dumps({"year": year, "rows_by_reason": counts}, indent=2))
    return lines


def read_csv(lakehouse: Lakehouse, path: Location, schema: pl.Schema) -> pl.DataFrame:
    """Read one landing file as text and conform it to `schema`."""
    if not lakehouse.is_file(path):
        raise LandingFileError(f"{path}: landing file is missing (run `lakehouse generate --to-landing`)")
    try:
        raw = pl.read_csv(lakehouse.polars_source(path), infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LandingFileError(f"{path}: malformed CSV: {first_line}") from None
    return conform_columns(raw, schema, str(path))


def read_stores(lakehouse: Lakehouse) -> pl.DataFrame:
    return read_csv(lakehouse, lakehouse.landing("stores.csv"), polars_schema(BronzeStores))


def read_products(lakehouse: Lakehouse) -> pl.DataFrame:
    return read_csv(lakehouse, lakehouse.landing("products.csv"), polars_schema(BronzeProducts))


def read_transactions(lakehouse: Lakehouse, year: int) -> Iterator[pl.DataFrame]:
    """The year's monthly files in order, one conformed frame at a time."""
    schema = polars_schema(BronzeTransactions)
    for month in range(1, 13):
        yield read_csv(lakehouse, month_file(lakehouse, year, month), schema)


def read_manifest(lakehouse: Lakehouse, year: int) -> pl.DataFrame:
    path = lakehouse.landing("transactions", str(year), MANIFEST_FILE)
    try:
        counts = json.loads(lakehouse.read_text(path))["rows_by_reason"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LandingFileError(f"{path}: unreadable defect manifest ({type(error).__name__})") from None
    return defect_manifest(year, counts)
