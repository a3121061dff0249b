"""The landing zone: CSV files as a point-of-sale export delivers them, written and read back.

Layout: `landing/stores.csv`, `landing/products.csv`, and per year `landing/transactions/<year>/` with one
file per whole month (`pos_<year>-<month>.csv`, header row, `.` decimals, empty for missing values) and one
per delivered day (`pos_<year>-<month>-<day>.csv`: the month that has not ended yet, and each day
`lakehouse deliver` adds), with the generator's `defect_manifest.json` and one `defect_manifest_<date>.json`
per delivered day.
Transaction files are read line by line against the bronze contract: a line that cannot be read becomes a
rejected line with its file, number, text and reason, and a file with too many of them is refused with a
one-line error naming the file, the line and the column. Every path goes through `Lakehouse`, so the landing
zone works on a local disk and on an object store alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import polars as pl

from retail_lakehouse.errors import LandingFileError
from retail_lakehouse.generator.calendar import month_end
from retail_lakehouse.generator.defects import defect_manifest
from retail_lakehouse.generator.transactions import TransactionChunk, TransactionGenerator
from retail_lakehouse.schemas import BronzeProducts, BronzeStores, BronzeTransactions, polars_schema
from retail_lakehouse.settings import Settings
from retail_lakehouse.storage import Lakehouse, Location
from retail_lakehouse.transforms.bronze import TIMESTAMP_FORMAT, conform_columns, parse_landing_csv

MANIFEST_FILE = "defect_manifest.json"
LANDING_DIGEST = "landing_digest"  # bronze metadata: the `year_digest` a year was built from
MANIFEST_PREFIX = "defect_manifest"  # a delivered day's manifest: `defect_manifest_<date>.json`
_POS_FILE = re.compile(r"pos_(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?\.csv")
_MISSING = "landing file is missing (run `lakehouse generate --to-landing`)"


@dataclass(frozen=True)
class LandingFile:
    """One transaction file of the landing zone, read against the bronze contract."""

    name: str  # relative to the landing root, e.g. `transactions/2023/pos_2023-03.csv`
    lines: pl.DataFrame  # `BronzeTransactions`, in file order
    rejected: pl.DataFrame  # `RejectedLines`, by line number
    line_count: int  # data lines in the file: lines.height + rejected.height


def month_file(lakehouse: Lakehouse, year: int, month: int) -> Location:
    return lakehouse.landing("transactions", str(year), f"pos_{year}-{month:02d}.csv")


def write_csv(lakehouse: Lakehouse, frame: pl.DataFrame, path: Location) -> None:
    with lakehouse.atomic_file(path) as temporary:
        frame.write_csv(temporary, datetime_format=TIMESTAMP_FORMAT, date_format="%Y-%m-%d")


def export_dimensions(lakehouse: Lakehouse, stores: pl.DataFrame, products: pl.DataFrame) -> None:
    write_csv(lakehouse, stores, lakehouse.landing("stores.csv"))
    write_csv(lakehouse, products, lakehouse.landing("products.csv"))


def day_file(lakehouse: Lakehouse, day: dt.date) -> Location:
    return lakehouse.landing("transactions", str(day.year), f"pos_{day.isoformat()}.csv")


def export_year(lakehouse: Lakehouse, generator: TransactionGenerator, year: int) -> int:
    """Write a year's POS files up to the generator's as-of day and its defect manifest; returns the lines.

    A whole month is one monthly file; the month of the as-of day, which has not ended, is the daily files of
    its days so far, as `deliver_day` writes them, so that later deliveries go on from the next day (and so is
    a month that already has daily files: a rerun never lays a monthly file over delivered days).
    """
    lines = 0
    counts: Counter[str] = Counter()
    delivered = {month for month, day in _pos_periods(lakehouse, year) if day is not None}
    for chunk in generator.year(year):
        first, end = dt.date(year, chunk.month, 1), month_end(year, chunk.month)
        last = min(end, generator.as_of or end)
        if last < end or chunk.month in delivered:
            for day in (first + dt.timedelta(days=n) for n in range((last - first).days + 1)):
                lines += _write_day(lakehouse, chunk.between(day, day), day)
            continue
        write_csv(lakehouse, chunk.lines, month_file(lakehouse, year, chunk.month))
        lines += chunk.lines.height
        counts.update(chunk.defects)
    _write_manifest(lakehouse, lakehouse.landing("transactions", str(year), MANIFEST_FILE), year, counts)
    return lines


def deliver_day(lakehouse: Lakehouse, generator: TransactionGenerator, day: dt.date) -> int:
    """Write one day's point-of-sale export of all stores (and its manifest); returns the lines written."""
    return _write_day(lakehouse, generator.day(day), day)


def _write_day(lakehouse: Lakehouse, chunk: TransactionChunk, day: dt.date) -> int:
    write_csv(lakehouse, chunk.lines, day_file(lakehouse, day))
    manifest = lakehouse.landing("transactions", str(day.year), f"{MANIFEST_PREFIX}_{day.isoformat()}.json")
    _write_manifest(lakehouse, manifest, day.year, chunk.defects)
    return chunk.lines.height


def _write_manifest(lakehouse: Lakehouse, path: Location, year: int, counts: Mapping[str, int]) -> None:
    with lakehouse.atomic_file(path) as temporary:
        temporary.write_text(json.dumps({"year": year, "rows_by_reason": dict(counts)}, indent=2))


def landing_years(lakehouse: Lakehouse) -> list[int]:
    """The years with a folder of transaction files in the landing zone, ascending."""
    return sorted(int(name) for name in lakehouse.names(lakehouse.landing("transactions")) if name.isdigit())


def covered_through(lakehouse: Lakehouse, year: int) -> dt.date | None:
    """The last day the year's POS files cover (a monthly file covers its month), or None without files."""
    ends = [month_end(year, month) if day is None else dt.date(year, month, day)
            for month, day in _pos_periods(lakehouse, year)]  # fmt: skip
    return max(ends, default=None)


def next_delivery_day(lakehouse: Lakehouse) -> dt.date:
    """The day after the last one the landing zone covers: what a daily export delivers next."""
    covered = [day for year in landing_years(lakehouse) if (day := covered_through(lakehouse, year))]
    if not covered:
        folder = lakehouse.landing("transactions")
        raise LandingFileError(f"{folder}: no POS files yet (run `lakehouse generate --to-landing`)")
    return max(covered) + dt.timedelta(days=1)


def year_digest(lakehouse: Lakehouse, year: int) -> str:
    """A digest of the names and sizes of the year's landing files: it changes when a file arrives or changes.

    Bronze records it (`LANDING_DIGEST`) so that the delivery sensor knows what each year was built from.
    """
    sizes = lakehouse.file_sizes(lakehouse.landing("transactions", str(year)))
    return hashlib.sha256(json.dumps(sorted(sizes.items())).encode()).hexdigest()[:16]


def landing_fingerprint(lakehouse: Lakehouse) -> dict[str, str]:
    """Per landing year (as a partition key), its `year_digest`."""
    return {str(year): year_digest(lakehouse, year) for year in landing_years(lakehouse)}


def read_csv(lakehouse: Lakehouse, path: Location, schema: pl.Schema) -> pl.DataFrame:
    """Read one landing file as text and conform it to `schema`."""
    if not lakehouse.is_file(path):
        raise LandingFileError(f"{path}: {_MISSING}")
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


def transaction_files(lakehouse: Lakehouse, year: int) -> list[str]:
    """The names of every CSV file of the year's landing folder, sorted (monthly and daily files sort by date)."""
    folder = lakehouse.landing("transactions", str(year))
    return sorted(name for name in lakehouse.names(folder) if name.endswith(".csv"))


def landing_months(lakehouse: Lakehouse, year: int) -> list[int]:
    """The months of `year` with at least one POS file (`pos_<year>-<month>[-<day>].csv`), ascending.

    For a completeness guard: a month without a file would otherwise just be a month without sales.
    """
    return sorted({month for month, _ in _pos_periods(lakehouse, year)})


def _pos_periods(lakehouse: Lakehouse, year: int) -> list[tuple[int, int | None]]:
    """The period of each of the year's POS files, by its name: (month, day), the day None for a monthly file."""
    periods = []
    for name in transaction_files(lakehouse, year):
        match = _POS_FILE.fullmatch(name)
        if match and int(match["year"]) == year and 1 <= int(match["month"]) <= 12:
            periods.append((int(match["month"]), None if match["day"] is None else int(match["day"])))
    return periods


def count_data_lines(lakehouse: Lakehouse, year: int) -> int:
    """Data lines (all but the header) of the year's transaction files, counted from the bytes alone.

    What row conservation at the landing edge compares with: bronze rows + rejected lines must equal it.
    """
    total = 0
    for name in transaction_files(lakehouse, year):
        data = lakehouse.read_bytes(lakehouse.landing("transactions", str(year), name))
        lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        total += max(lines - 1, 0)
    return total


def read_transaction_files(
    lakehouse: Lakehouse, year: int, max_rejected_share: float = Settings.max_rejected_share
) -> Iterator[LandingFile]:
    """The year's transaction files in name order, each as its conformed lines and its rejected lines.

    Reads every `*.csv` of the folder, whatever its period; which months are covered is `landing_months`'s
    question. A file with a wrong header, or with more than `max_rejected_share` of its lines rejected,
    raises `LandingFileError`.
    """
    for name in transaction_files(lakehouse, year):
        yield _read_transaction_file(lakehouse, name, year, max_rejected_share)


def read_transactions(lakehouse: Lakehouse, year: int) -> Iterator[pl.DataFrame]:
    """The year's files in name order, one conformed frame at a time; strict: any rejected line stops it.

    For callers that have nowhere to keep rejected lines (bronze keeps them in `bronze/rejected_lines`, so it
    reads `read_transaction_files`). Every month must have a file; a missing one stops the reading when the
    files reach it.
    """
    missing = [m for m in range(1, 13) if m not in landing_months(lakehouse, year)]
    for name in transaction_files(lakehouse, year):
        match = _POS_FILE.fullmatch(name)
        if missing and match and int(match["month"]) > missing[0]:
            break
        landing_file = _read_transaction_file(lakehouse, name, year, Settings.max_rejected_share)
        if landing_file.rejected.height:
            first = landing_file.rejected.row(0, named=True)
            raise LandingFileError(f"{landing_file.name}: line {first['line_number']}: {first['error']}")
        yield landing_file.lines
    if missing:
        raise LandingFileError(f"{month_file(lakehouse, year, missing[0])}: {_MISSING}")


def _read_transaction_file(lakehouse: Lakehouse, file_name: str, year: int, max_rejected_share: float) -> LandingFile:
    name = f"transactions/{year}/{file_name}"
    try:
        data = lakehouse.read_bytes(lakehouse.landing("transactions", str(year), file_name))
    except OSError as error:
        raise LandingFileError(f"{name}: cannot be read ({error.strerror or type(error).__name__})") from None
    parsed = parse_landing_csv(data, BronzeTransactions, name, year, max_rejected_share=max_rejected_share)
    return LandingFile(name, parsed.lines, parsed.rejected, parsed.line_count)


def read_manifest(lakehouse: Lakehouse, year: int) -> pl.DataFrame:
    """The year's defect manifest: the bulk export's and every delivered day's, added up."""
    folder = lakehouse.landing("transactions", str(year))
    names = sorted(n for n in lakehouse.names(folder) if n.startswith(MANIFEST_PREFIX) and n.endswith(".json"))
    if not names:
        raise LandingFileError(f"{lakehouse.landing('transactions', str(year), MANIFEST_FILE)}: {_MISSING}")
    counts: Counter[str] = Counter()
    for name in names:
        path = lakehouse.landing("transactions", str(year), name)
        try:
            counts.update(json.loads(lakehouse.read_text(path))["rows_by_reason"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LandingFileError(f"{path}: unreadable defect manifest ({type(error).__name__})") from None
    return defect_manifest(year, counts)
