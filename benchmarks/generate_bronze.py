"""Benchmark the generator and the bronze write: lines/s, bytes per line, peak memory.

    python -m benchmarks.generate_bronze --rows 10000000

Runs the code the `bronze/transactions` asset runs (YearOfTransactions streamed into the storage writer,
zstd at the bronze level) for every configured year, and side by side the generator alone (no validation,
no write), so the ratio shows what validation, compression and I/O cost on top of generating.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.measure import measured, print_stages
from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.settings import Settings, parse_years
from retail_lakehouse.sources import YearOfTransactions, transaction_generator
from retail_lakehouse.storage import Lakehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="bronze lines across all years")
    parser.add_argument("--years", default="2020-2025")
    parser.add_argument("--zstd-level", type=int, default=9)
    parser.add_argument("--data-dir", type=Path, help="keep the bronze here (default: a temporary folder)")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-bronze-"))
    settings = replace(Settings.from_env(), data_dir=data_dir, rows=args.rows, years=parse_years(args.years),
                       bronze_zstd_level=args.zstd_level)  # fmt: skip
    lakehouse = Lakehouse(data_dir)
    stages = []
    with measured("dimensions") as stage:
        stores = generate_stores(settings.stores, settings.seed, settings.years)
        products = generate_products(settings.products, settings.seed, settings.years)
        calendar = generate_calendar(settings.years, settings.resolved_scenario.holiday_effects)
    stages.append(stage)

    with measured("peer: generate only, no write") as peer:
        generator = transaction_generator(settings, stores, products, calendar)
        peer.rows = sum(chunk.lines.height for year in settings.years for chunk in generator.year(year))
    stages.append(peer)

    with measured(f"generate + validate + zstd-{args.zstd_level}") as bronze:
        bronze.rows, bronze.bytes_written = 0, 0
        for year in settings.years:
            source = YearOfTransactions(settings, year, stores.lazy(), products.lazy(), calendar.lazy())
            head = lakehouse.head_version("bronze", "transactions")  # nothing is published here: keep every year
            level = settings.bronze_zstd_level
            written = lakehouse.write("bronze", "transactions", year, source.chunks(), level, "benchmark", head)
            bronze.rows += written.rows
            bronze.bytes_written += written.bytes
    bronze.notes["bytes per line"] = f"{bronze.bytes_written / bronze.rows:.2f}"
    bronze.notes["at 100M lines"] = f"{bronze.bytes_written / bronze.rows * 1e8 / 2**30:.2f} GiB of bronze"
    bronze.notes["ratio to the peer (time)"] = f"{bronze.seconds / peer.seconds:.2f}x"
    stages.append(bronze)
    print_stages(stages, f"Generator and bronze, {args.rows:,} lines, years {args.years}")
    if args.data_dir is None:
        shutil.rmtree(data_dir)


if __name__ == "__main__":
    main()
