"""Silver + gold in DuckDB SQL beside ours, on the same bronze: time, peak memory, and the same numbers?

    python -m benchmarks.full_pipeline --rows 100000000 --no-dagster --data-dir /tmp/bench   # makes bronze
    python -m benchmarks.duckdb_peer --data-dir /tmp/bench/direct

Then ours again through the path Dagster users take (one `dagster asset materialize` per year, asset checks
and the publish step included), on the same data root. Each engine runs in its own process (peak RSS is that
process's own high-water mark), one after the other,
reading the same bronze and silver dimensions and writing to its own folder. DuckDB gets the same rules, in
SQL: duplicates by (transaction_id, line_number) with the file's row order deciding the first copy, the line
rules in order, the transaction total over the lines that went on after deduplication, each line's VAT rate
and VAT; and all sixteen gold tables, VAT and net revenue included. Then every gold table of both but the
calendar is compared measure by measure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from retail_lakehouse.reference import DISCOUNT_BUCKETS, VAT_PERIODS

BRONZE_COLUMNS = ("transaction_id, line_number, transaction_ts, store_id, product_id, quantity, unit_price, "
                  "discount, line_total, transaction_total, payment_method")  # fmt: skip
PARQUET = "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {level})"
MEASURES = ["revenue", "units", "transactions", "lines", "avg_basket", "vat", "net_revenue"]
TOP_MEASURES = ["revenue", "units", "lines", "vat", "net_revenue"]
# Every gold table but the calendar (copied from silver's), by its keys and the measures it has.
COMPARED_TABLES = {
    "yearly_sales": (["year"], MEASURES),
    "monthly_sales": (["year", "month"], MEASURES),
    "weekly_sales": (["year", "week_start"], MEASURES),
    "daily_sales": (["date"], MEASURES),
    "sales_by_region": (["year", "state_code"], MEASURES),
    "sales_by_category": (["year", "category"], MEASURES),
    "store_daily_sales": (["date", "store_id"], MEASURES),
    "region_category_daily_sales": (["date", "state_code", "category"], MEASURES),
    "product_monthly_sales": (["year", "month", "product_id"], MEASURES),
    "product_yearly_sales": (["year", "product_id"], MEASURES),
    "product_weekly_sales": (["year", "week_start", "product_id"], MEASURES),
    "hourly_weekday_sales": (["year", "weekday", "hour"], MEASURES),
    "discount_depth_sales": (["year", "month", "discount_bucket"], MEASURES),
    "top_products_monthly": (["year", "month", "state_code", "category", "product_id"], TOP_MEASURES),
    "top_products_daily": (["date", "category", "product_id"], TOP_MEASURES),
}

SILVER_SQL = """
CREATE OR REPLACE TEMP TABLE labelled AS
WITH b AS (SELECT * FROM read_parquet('{bronze}', file_row_number = true)),
repeated AS (
    SELECT transaction_id, line_number, min(file_row_number) AS first_row,
           count(DISTINCT row(transaction_ts, store_id, product_id, quantity, unit_price, discount, line_total,
                              transaction_total, payment_method)) > 1 AS conflicting
    FROM b GROUP BY ALL HAVING count(*) > 1
),
step1 AS (
    SELECT b.*, CASE WHEN r.conflicting THEN 'conflicting_duplicate'
                     WHEN r.first_row IS NOT NULL AND b.file_row_number <> r.first_row THEN 'duplicate'
                END AS dup_reason
    FROM b LEFT JOIN repeated r USING (transaction_id, line_number)
),
kept AS (SELECT transaction_id, sum(line_total) AS kept_total FROM step1 WHERE dup_reason IS NULL GROUP BY ALL)
SELECT step1.*, s.state_code, s.region, p.category, p.vat_class,
    CASE
        WHEN dup_reason IS NOT NULL THEN dup_reason
        WHEN step1.store_id IS NULL OR step1.product_id IS NULL THEN 'missing_key'
        WHEN s.store_id IS NULL THEN 'unknown_store'
        WHEN p.product_id IS NULL THEN 'unknown_product'
        WHEN quantity <= 0 THEN 'non_positive_quantity'
        WHEN unit_price <= 0 THEN 'non_positive_price'
        WHEN line_total <> quantity * unit_price - discount THEN 'line_total_mismatch'
        WHEN year(transaction_ts) <> {year} THEN 'wrong_year'
        WHEN transaction_total IS DISTINCT FROM kept.kept_total THEN 'transaction_total_mismatch'
    END AS reason
FROM step1
LEFT JOIN kept USING (transaction_id)
LEFT JOIN read_parquet('{stores}') s ON step1.store_id = s.store_id
LEFT JOIN read_parquet('{products}') p ON step1.product_id = p.product_id;

COPY (
    SELECT * EXCLUDE (file_row_number), {vat} AS vat FROM (
        SELECT file_row_number, {columns}, CAST(transaction_ts AS DATE) AS date,
               CAST(year(transaction_ts) AS INTEGER) AS year, CAST(month(transaction_ts) AS TINYINT) AS month,
               CAST(date_trunc('week', transaction_ts) AS DATE) AS week_start,
               CAST(isodow(transaction_ts) AS TINYINT) AS weekday, CAST(hour(transaction_ts) AS TINYINT) AS hour,
               state_code, region, category, {vat_rate} AS vat_rate
        FROM labelled WHERE reason IS NULL
    ) ORDER BY file_row_number
) TO '{silver}' {parquet};
COPY (
    SELECT {columns}, reason, CAST({year} AS INTEGER) AS year
    FROM labelled WHERE reason IS NOT NULL ORDER BY file_row_number
) TO '{quarantine}' {parquet};
"""


def vat_rate_sql() -> str:
    """A line's VAT rate by its day and its product's VAT class, from `reference.VAT_PERIODS` (as ours)."""
    day = "CAST(transaction_ts AS DATE)"
    periods = " ".join(
        f"WHEN {day} BETWEEN DATE '{p.first_day}' AND DATE '{p.last_day}' THEN "
        f"CASE vat_class WHEN 'standard' THEN {p.standard} WHEN 'reduced' THEN {p.reduced} END"
        for p in VAT_PERIODS
    )
    return f"CAST(CASE {periods} END AS DECIMAL(4, 2))"


# A line's VAT in its gross total, half away from zero to the cent, in integers (as `silver.line_vat`).
VAT_SQL = (
    "CAST(((abs(CAST(line_total * 100 AS BIGINT)) * CAST(vat_rate * 100 AS BIGINT) * 2 + "
    "10000 + CAST(vat_rate * 100 AS BIGINT)) // ((10000 + CAST(vat_rate * 100 AS BIGINT)) * 2)) "
    "* sign(line_total) * 0.01::DECIMAL(3, 2) AS DECIMAL(12, 2))"
)


def discount_bucket_sql() -> str:
    """A line's discount bucket from `reference.DISCOUNT_BUCKETS`, compared exactly (as `gold.discount_bucket`)."""
    (first, _), *rest = DISCOUNT_BUCKETS
    deeper = " ".join(f"WHEN discount * 100 <= quantity * unit_price * {upper} THEN '{name}'" for name, upper in rest)
    return f"CASE WHEN discount <= 0 THEN '{first}' {deeper} ELSE '{rest[-1][0]}' END"


MEASURE_SQL = ("sum(line_total) AS revenue, CAST(sum(quantity) AS BIGINT) AS units, "
               "count(DISTINCT transaction_id) AS transactions, count(*) AS lines, sum(vat) AS vat")  # fmt: skip
ROLLED_UP_SQL = ("sum(revenue) AS revenue, sum(units) AS units, sum(transactions) AS transactions, "
                 "sum(lines) AS lines, sum(vat) AS vat")  # fmt: skip
# The best sellers' sums: no distinct transactions (ours has none in these tables either).
TOP_SQL = "sum(line_total) AS revenue, CAST(sum(quantity) AS BIGINT) AS units, count(*) AS lines, sum(vat) AS vat"
PRODUCT_NAMES = "(SELECT product_id, product_name, brand FROM read_parquet('{products}')) p"
# Exact, in integer cents, half up: DuckDB's DECIMAL / BIGINT goes through a double and drifts by a cent.
AVG_BASKET_SQL = "((CAST(revenue * 100 AS HUGEINT) * 2 + transactions) // (2 * transactions)) * 0.01::DECIMAL(3, 2)"
GOLD_SQL = {
    "store_daily_sales": "SELECT sd.*, s.store_name, s.city, s.state_code, s.region, s.format FROM store_daily sd "
    "JOIN read_parquet('{stores}') s USING (store_id)",
    "yearly_sales": f"SELECT year, {ROLLED_UP_SQL} FROM store_daily GROUP BY ALL",
    "monthly_sales": f"SELECT year, month, {ROLLED_UP_SQL} FROM store_daily GROUP BY ALL",
    "weekly_sales": f"SELECT year, CAST(date_trunc('week', date) AS DATE) AS week_start, {ROLLED_UP_SQL} "
    "FROM store_daily GROUP BY ALL",
    "daily_sales": f"SELECT date, year, month, CAST(isodow(date) AS TINYINT) AS weekday, {ROLLED_UP_SQL} "
    "FROM store_daily GROUP BY ALL",
    "sales_by_region": f"SELECT year, s.state_code, s.region, {ROLLED_UP_SQL} FROM store_daily "
    "JOIN read_parquet('{stores}') s USING (store_id) GROUP BY ALL",
    "product_monthly_sales": f"SELECT year, month, product_id, p.product_name, category, p.brand, {MEASURE_SQL} "
    f"FROM read_parquet('{{silver}}') JOIN {PRODUCT_NAMES} USING (product_id) GROUP BY ALL",
    "product_yearly_sales": f"SELECT year, product_id, product_name, category, brand, {ROLLED_UP_SQL} "
    "FROM read_parquet('{product_monthly}') GROUP BY ALL",
    "region_category_daily_sales": f"SELECT date, year, month, state_code, region, category, {MEASURE_SQL} "
    "FROM read_parquet('{silver}') GROUP BY ALL",
    "sales_by_category": f"SELECT year, category, {ROLLED_UP_SQL} FROM read_parquet('{{region_category}}') "
    "GROUP BY ALL",
    "top_products_monthly": "SELECT year, month, state_code, category, product_id, p.product_name, p.brand, "
    f"revenue, units, lines, vat FROM (SELECT * FROM (SELECT year, month, state_code, category, product_id, {TOP_SQL} "
    "FROM read_parquet('{silver}') GROUP BY ALL) QUALIFY row_number() OVER (PARTITION BY year, month, "
    f"state_code, category ORDER BY revenue DESC, product_id) <= 25) JOIN {PRODUCT_NAMES} USING (product_id)",
    "hourly_weekday_sales": f"SELECT year, weekday, hour, {MEASURE_SQL} FROM read_parquet('{{silver}}') GROUP BY ALL",
    "discount_depth_sales": f"SELECT year, month, {discount_bucket_sql()} AS discount_bucket, {MEASURE_SQL} "
    "FROM read_parquet('{silver}') GROUP BY ALL",
    # A week's ten best per category, every product in a week that spans New Year (as ours keeps them).
    "product_weekly_sales": "SELECT * FROM (SELECT year, week_start, product_id, p.product_name, category, "
    f"p.brand, {MEASURE_SQL} FROM read_parquet('{{silver}}') JOIN {PRODUCT_NAMES} USING (product_id) GROUP BY ALL) "
    "QUALIFY row_number() OVER (PARTITION BY year, week_start, category ORDER BY revenue DESC, product_id) <= 10 "
    "OR year(week_start) <> year OR year(week_start + 6) <> year",
    "top_products_daily": "SELECT date, year, month, category, product_id, p.product_name, p.brand, revenue, units, "
    f"lines, vat FROM (SELECT * FROM (SELECT date, year, month, category, product_id, {TOP_SQL} "
    "FROM read_parquet('{silver}') GROUP BY ALL) QUALIFY row_number() OVER (PARTITION BY date, category "
    f"ORDER BY revenue DESC, product_id) <= 10) JOIN {PRODUCT_NAMES} USING (product_id)",
    "calendar_days": "SELECT date, CAST(year(date) AS INTEGER) AS year, state_code, weekday, is_public_holiday, "
    "holiday_name, is_open FROM read_parquet('{calendar}') WHERE year(date) = {year}",
}


def published_file(data_dir: Path, layer: str, table: str, year: int | None = None) -> str:
    """The Parquet file of a table's published version (of one year), for DuckDB's `read_parquet`.

    DuckDB's Delta extension is downloaded at run time, which this machine cannot do; the file list from the
    Delta log is exactly what the extension would read.
    """
    from retail_lakehouse.catalog import Catalog
    from retail_lakehouse.storage import Lakehouse

    lakehouse = Lakehouse(data_dir)
    published = Catalog(lakehouse).current().table(layer, table)
    assert published is not None, (layer, table)
    files = lakehouse.files(layer, table, published.delta_version)
    if year is not None:
        files = files.filter(files["year"] == year)
    assert files.height == 1, f"{layer}/{table} {year}: expected one file per write, found {files.height}"
    return str(data_dir / layer / table / files["path"][0])


def run_duckdb(data_dir: Path, out: Path, years: list[int]) -> dict[str, float]:
    import duckdb

    from retail_lakehouse.settings import Settings

    settings = Settings.from_env()  # the same zstd levels as ours

    def target(layer: str, table: str, year: int) -> Path:
        return out / layer / table / f"year={year}" / "data.parquet"

    connection = duckdb.connect()
    connection.execute(f"SET temp_directory = '{out / 'duckdb_tmp'}'")
    dims = {t: published_file(data_dir, "silver", t) for t in ("stores", "products", "calendar")}
    timings = {"silver": 0.0, "gold": 0.0}
    for year in years:
        silver, quarantine = (target("silver", t, year) for t in ("transactions", "transactions_quarantine"))
        for path in (silver, quarantine):
            path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        connection.execute(SILVER_SQL.format(
            bronze=published_file(data_dir, "bronze", "transactions", year), year=year,
            stores=dims["stores"], products=dims["products"], columns=BRONZE_COLUMNS,
            silver=silver, quarantine=quarantine, parquet=PARQUET.format(level=settings.silver_zstd_level),
            vat_rate=vat_rate_sql(), vat=VAT_SQL,
        ))  # fmt: skip
        timings["silver"] += time.perf_counter() - started

        started = time.perf_counter()
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE store_daily AS SELECT date, year, month, store_id, {MEASURE_SQL} "
            f"FROM read_parquet('{silver}') GROUP BY ALL"
        )
        rolled_up_from = {  # gold tables that later queries read back, by their name in GOLD_SQL
            "product_monthly": target("gold", "product_monthly_sales", year),
            "region_category": target("gold", "region_category_daily_sales", year),
        }
        for table, query in GOLD_SQL.items():
            path = target("gold", table, year)
            path.parent.mkdir(parents=True, exist_ok=True)
            select = query.format(silver=silver, year=year, **rolled_up_from, **dims)
            if table.startswith("top_products"):  # no transactions, so no average basket
                select = f"SELECT *, revenue - vat AS net_revenue FROM ({select})"
            elif table != "calendar_days":
                select = f"SELECT *, {AVG_BASKET_SQL} AS avg_basket, revenue - vat AS net_revenue FROM ({select})"
            connection.execute(f"COPY ({select}) TO '{path}' {PARQUET.format(level=settings.gold_zstd_level)}")
        timings["gold"] += time.perf_counter() - started
    return timings


def run_ours(data_dir: Path, out: Path, years: list[int]) -> dict[str, float]:
    from dataclasses import replace

    from benchmarks.full_pipeline import Direct, build_gold_year, build_silver_year, publish_year
    from benchmarks.measure import measured
    from retail_lakehouse.catalog import EMPTY, Catalog
    from retail_lakehouse.settings import Settings
    from retail_lakehouse.storage import Lakehouse

    copied = ["bronze/transactions", "silver/stores", "silver/products", "silver/calendar"]
    for key in copied:  # the same bronze and dimensions, published at the same versions
        shutil.copytree(data_dir / key, out / key)
    published = Catalog(Lakehouse(data_dir)).current().tables
    Catalog(Lakehouse(out)).commit({k: published[k] for k in copied}, "benchmark", "copied inputs", EMPTY)
    direct = Direct(replace(Settings.from_env(), data_dir=out, years=tuple(years)))
    timings = {"silver": 0.0, "gold": 0.0}
    for year in years:
        with measured("silver") as silver:
            build_silver_year(direct, year)
        with measured("gold") as gold:
            build_gold_year(direct, year)
            publish_year(direct, year)
        timings["silver"] += silver.seconds
        timings["gold"] += gold.seconds
    return timings


def compare_gold(ours: Path, duckdb_out: Path, years: list[int]) -> list[str]:
    """Join each compared gold table of both engines on its keys; report every measure that differs."""
    import polars as pl

    from retail_lakehouse import catalog

    problems = []
    for table, (keys, measures) in COMPARED_TABLES.items():
        for year in years:
            a = catalog.scan("gold", table, years=[year], data_dir=ours).select(*keys, *measures).collect()
            b = pl.read_parquet(duckdb_out / "gold" / table / f"year={year}" / "data.parquet").select(*keys, *measures)
            b = b.with_columns([pl.col(c).cast(a.schema[c]) for c in [*keys, *measures]])
            joined = a.join(b, on=keys, how="full", suffix="_duckdb", coalesce=True)
            for measure in measures:
                differing = joined.filter(pl.col(measure).ne_missing(pl.col(f"{measure}_duckdb"))).height
                if differing:
                    problems.append(f"{table} {year}: {measure} differs in {differing} of {joined.height} rows")
    return problems


def dagster_path(data_dir: Path, years: list[int]) -> tuple[float, float]:
    """Silver and gold of every year the way a Dagster user rebuilds them: `dagster asset materialize --select
    'silver/transactions*'` per year (checks and publish included), with the settings the data root records.
    Whole-process seconds (summed) and the highest peak RSS of one year's process tree, in GB."""
    import dagster as dg

    from benchmarks.dagster_path import timed
    from retail_lakehouse.partitions import add_years
    from retail_lakehouse.runs import new_dagster_home
    from retail_lakehouse.settings import Settings
    from retail_lakehouse.storage import Lakehouse
    from retail_lakehouse.writer import recorded_identity

    home = new_dagster_home(Path(tempfile.mkdtemp(prefix="bench-peer-home-")))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        add_years(instance, years)
    identity = recorded_identity(Lakehouse(data_dir))
    if identity is None:
        sys.exit(f"{data_dir}: no recorded settings (_catalog/dataset.json): build it with benchmarks.full_pipeline")
    environment = os.environ | Settings.from_identity(identity, data_dir).to_env() | {"DAGSTER_HOME": str(home)}
    dagster = str(Path(sys.executable).parent / "dagster")
    total, peak = 0.0, 0.0
    for year in years:
        seconds, rss = timed([dagster, "asset", "materialize", "-m", "retail_lakehouse.definitions",
                              "--select", "silver/transactions*", "--partition", str(year)], environment)  # fmt: skip
        total, peak = total + seconds, max(peak, rss)
    return total, peak


def child(engine: str, data_dir: Path, out: Path, years: list[int]) -> None:
    timings = (run_duckdb if engine == "duckdb" else run_ours)(data_dir, out, years)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(timings | {"peak_rss_bytes": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a data root with bronze and silver dimensions")
    parser.add_argument("--out", type=Path, help="where both engines write (default: <data-dir>/../peer)")
    parser.add_argument("--engine", choices=["duckdb", "ours"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    from retail_lakehouse.catalog import Catalog
    from retail_lakehouse.storage import Lakehouse

    bronze = Catalog(Lakehouse(args.data_dir)).current().table("bronze", "transactions")
    if bronze is None:
        sys.exit(f"{args.data_dir}: no published bronze; build it first (`lakehouse run`)")
    years = sorted(int(year) for year in bronze.rows)
    out = args.out or args.data_dir.parent / "peer"
    if args.engine:
        child(args.engine, args.data_dir, out / args.engine, years)
        return

    shutil.rmtree(out, ignore_errors=True)
    results = {}
    for engine in ("duckdb", "ours"):
        (out / engine).mkdir(parents=True)
        command = [sys.executable, "-m", "benchmarks.duckdb_peer", "--engine", engine,
                   "--data-dir", str(args.data_dir), "--out", str(out)]  # fmt: skip
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode:
            sys.exit(f"{engine} failed: {finished.stderr.strip().splitlines()[-1]}")
        results[engine] = json.loads(finished.stdout.strip().splitlines()[-1]) | {
            "process_seconds": time.perf_counter() - started
        }
    lines = sum(bronze.rows.values())
    print(f"\nSilver + gold on the same bronze ({lines:,} lines, {len(years)} years), each engine in its own process")
    print(f"{'engine':<10}{'silver s':>10}{'gold s':>10}{'total s':>10}{'peak RSS':>12}")
    for engine, r in results.items():
        total = r["silver"] + r["gold"]
        print(
            f"{engine:<10}{r['silver']:>10.2f}{r['gold']:>10.2f}{total:>10.2f}{r['peak_rss_bytes'] / 2**30:>10.2f} GB"
        )
    ours, duck = results["ours"], results["duckdb"]
    print(f"ratio ours/DuckDB: time {(ours['silver'] + ours['gold']) / (duck['silver'] + duck['gold']):.2f}, "
          f"silver {ours['silver'] / duck['silver']:.2f}, gold {ours['gold'] / duck['gold']:.2f}, "
          f"peak memory {ours['peak_rss_bytes'] / duck['peak_rss_bytes']:.2f}")  # fmt: skip
    dagster_seconds, dagster_peak = dagster_path(args.data_dir, years)
    duck_total = duck["silver"] + duck["gold"]
    print(f"{'dagster':<10}{'':>20}{dagster_seconds:>10.2f}{dagster_peak:>10.2f} GB   (silver + gold + checks + "
          f"publish, `dagster asset materialize` per year, whole processes)")  # fmt: skip
    print(
        f"ratio DuckDB/ours (x faster): direct {duck_total / (ours['silver'] + ours['gold']):.2f}, "
        f"through Dagster {duck_total / dagster_seconds:.2f}"
    )
    problems = compare_gold(out / "ours", out / "duckdb", years)
    compared = ", ".join(COMPARED_TABLES)
    print(f"gold numbers ({compared}): " + ("identical" if not problems else "DIFFERENT"))
    for problem in problems[:20]:
        print(f"    {problem}")


if __name__ == "__main__":
    main()
