"""Benchmark the whole pipeline: generate -> bronze -> silver -> gold, per stage, then through Dagster.

    python -m benchmarks.full_pipeline --rows 100000000            # direct calls, then Dagster, then one year
    python -m benchmarks.full_pipeline --rows 10000000 --no-dagster

The direct path calls the functions the assets call (the bronze source, the silver transform and Pandera
model, each gold table's `compute`) and writes through the same storage code. Then the same settings are
materialized through Dagster's jobs (`runs.run_pipeline`), which gives Dagster's overhead as a ratio, and one
year is rematerialized through Dagster, which gives the incremental cost as a ratio of the full run. Each of
these four runs in its own process, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import dagster as dg

from benchmarks.measure import Stage, measured, print_stages
from retail_lakehouse.assets.bronze import YearOfTransactions
from retail_lakehouse.assets.gold import GOLD_TABLES
from retail_lakehouse.assets.silver import clean_year
from retail_lakehouse.definitions import YEARLY_JOB, build_definitions
from retail_lakehouse.generator.calendar import generate_calendar
from retail_lakehouse.generator.products import generate_products
from retail_lakehouse.generator.stores import generate_stores
from retail_lakehouse.runs import execute, release_memory, run_pipeline
from retail_lakehouse.settings import Settings, parse_years
from retail_lakehouse.storage import Lakehouse
from retail_lakehouse.transforms.silver import clean_calendar, clean_products, clean_stores

DIMENSIONS = {"stores", "products", "calendar"}


def layer_bytes(lakehouse: Lakehouse, layer: str) -> int:
    return sum(p.stat().st_size for p in (lakehouse.root / layer).rglob("*.parquet"))


def build_dimensions(settings: Settings, lakehouse: Lakehouse) -> Stage:
    with measured("dimensions (bronze + silver)") as stage:
        dimensions = {
            "stores": (generate_stores(settings.stores, settings.seed, settings.years), clean_stores),
            "products": (generate_products(settings.products, settings.seed, settings.years), clean_products),
            "calendar": (generate_calendar(settings.years, settings.resolved_scenario.holiday_effects), clean_calendar),
        }
        for table, (frame, clean) in dimensions.items():
            lakehouse.write("bronze", table, None, frame, settings.bronze_zstd_level)
            silver = clean(lakehouse.scan("bronze", table)).collect()
            lakehouse.write("silver", table, None, silver, settings.silver_zstd_level)
    return stage


def build_bronze(settings: Settings, lakehouse: Lakehouse) -> Stage:
    with measured(f"bronze: generate + zstd-{settings.bronze_zstd_level}") as stage:
        stage.rows = 0
        for year in settings.years:
            dims = [lakehouse.scan("bronze", t) for t in ("stores", "products", "calendar")]
            chunks = YearOfTransactions(settings, year, *dims).chunks()
            stage.rows += lakehouse.write("bronze", "transactions", year, chunks, settings.bronze_zstd_level).rows
            release_memory()  # as `runs.execute` does after each year's run
        stage.bytes_written = layer_bytes(lakehouse, "bronze")
    return stage


def build_silver(settings: Settings, lakehouse: Lakehouse) -> Stage:
    with measured(f"silver: clean + quarantine, zstd-{settings.silver_zstd_level}") as stage:
        stage.rows = 0
        stores, products = lakehouse.scan("silver", "stores"), lakehouse.scan("silver", "products")
        for year in settings.years:
            result = clean_year(lakehouse.scan("bronze", "transactions", year), stores, products, year)
            for table, frame in {
                "transactions": result.transactions,
                "transactions_quarantine": result.quarantine,
            }.items():
                lakehouse.write("silver", table, year, frame, settings.silver_zstd_level)
            stage.rows += lakehouse.rows("bronze", "transactions", year)
            release_memory()
        stage.bytes_written = layer_bytes(lakehouse, "silver")
    return stage


def build_gold(settings: Settings, lakehouse: Lakehouse) -> Stage:
    with measured(f"gold: {len(GOLD_TABLES)} tables") as stage:
        stage.rows = 0
        for year in settings.years:
            for table in GOLD_TABLES:
                inputs = {
                    name: lakehouse.scan(*key, None if key[1] in DIMENSIONS else year)
                    for name, key in table.inputs.items()
                }
                lakehouse.write("gold", table.name, year, table.compute(inputs, year), settings.gold_zstd_level)
            stage.rows += lakehouse.rows("silver", "transactions", year)
            release_memory()
        stage.bytes_written = layer_bytes(lakehouse, "gold")
    return stage


def direct_pipeline(settings: Settings) -> list[Stage]:
    """generate -> gold by calling the assets' functions directly, one stage per layer."""
    lakehouse = Lakehouse(settings.data_dir)
    return [build(settings, lakehouse) for build in (build_dimensions, build_bronze, build_silver, build_gold)]


def dagster_assets_only(settings: Settings, direct_seconds: float) -> list[Stage]:
    """Every asset through Dagster's jobs, without the checks: Dagster's own overhead against direct calls."""
    base = build_definitions(settings)
    graph = base.resolve_asset_graph()
    partitioned = [key for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None]
    assets_only = dg.define_asset_job(
        "yearly_assets_only", selection=dg.AssetSelection.assets(*partitioned).without_checks()
    )
    defs = dg.Definitions.merge(base, dg.Definitions(jobs=[assets_only]))
    instance = dg.DagsterInstance.ephemeral()
    with measured("Dagster, assets only") as stage:
        outcomes = [execute(defs, "dimensions", instance)]
        outcomes += [execute(defs, assets_only.name, instance, str(year)) for year in settings.years]
        stage.rows = _bronze_rows(settings)
    stage.notes["runs succeeded"] = f"{sum(o.success for o in outcomes)} of {len(outcomes)}"
    stage.notes["Dagster / direct (time)"] = f"{stage.seconds / direct_seconds:.3f}x"
    return [stage]


def dagster_with_checks(settings: Settings, assets_only_seconds: float) -> list[Stage]:
    """`lakehouse run`'s path: every asset and every asset check, year by year."""
    defs, instance = build_definitions(settings), dg.DagsterInstance.ephemeral()
    with measured("Dagster, with every asset check") as stage:
        outcomes = run_pipeline(defs, settings, instance=instance)
        stage.rows = _bronze_rows(settings)
    stage.notes["runs succeeded"] = f"{sum(o.success for o in outcomes)} of {len(outcomes)}"
    stage.notes["checks passed"] = str(sum(o.checks_passed for o in outcomes))
    stage.notes["with checks / assets only (time)"] = f"{stage.seconds / assets_only_seconds:.3f}x"
    return [stage]


def dagster_one_year(settings: Settings, all_years_seconds: float) -> list[Stage]:
    """The latest year rematerialized (bronze -> gold, with checks) over a lakehouse built by the run before."""
    defs, instance = build_definitions(settings), dg.DagsterInstance.ephemeral()
    year = str(settings.years[-1])
    with measured(f"one year ({year}), with checks") as stage:
        outcome = execute(defs, YEARLY_JOB, instance, year)
        stage.rows = Lakehouse(settings.data_dir).rows("bronze", "transactions", year)
    stage.notes["succeeded"] = str(outcome.success)
    stage.notes["one year / all years (time)"] = f"{stage.seconds / all_years_seconds:.3f}"
    return [stage]


def _bronze_rows(settings: Settings) -> int:
    lakehouse = Lakehouse(settings.data_dir)
    return sum(lakehouse.rows("bronze", "transactions", year) for year in settings.years)


def direct(settings: Settings, _: float) -> list[Stage]:
    stages = direct_pipeline(settings)
    total = Stage("total, direct calls", seconds=sum(s.seconds for s in stages),
                  peak_rss_bytes=max(s.peak_rss_bytes for s in stages), rows=stages[1].rows)  # fmt: skip
    return [*stages, total]


# Each configuration runs in a fresh process, so one's memory (which Polars' allocator keeps) does not
# inflate the next one's peak; the data folder and the seconds to compare with are passed along.
CONFIGURATIONS: dict[str, tuple[Callable[[Settings, float], list[Stage]], str]] = {
    "direct": (direct, "direct"),
    "dagster-assets": (dagster_assets_only, "dagster/assets_only"),
    "dagster-checks": (dagster_with_checks, "dagster/with_checks"),
    "dagster-one-year": (dagster_one_year, "dagster/with_checks"),
}


def run_configuration(name: str, root: Path, rows: int, years: str, baseline: float) -> list[Stage]:
    """Run one configuration in a child process and read back its stages."""
    command = [sys.executable, "-m", "benchmarks.full_pipeline", "--configuration", name, "--rows", str(rows),
               "--years", years, "--data-dir", str(root), "--baseline", str(baseline)]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode:
        sys.exit(f"{name} failed: {(finished.stderr.strip().splitlines() or ['no output'])[-1]}")
    return [Stage(**stage) for stage in json.loads(finished.stdout.strip().splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--years", default="2020-2025")
    parser.add_argument("--data-dir", type=Path, help="where to build (default: a temporary folder, removed)")
    parser.add_argument("--no-dagster", action="store_true", help="skip the Dagster and incremental runs")
    parser.add_argument("--configuration", choices=CONFIGURATIONS, help=argparse.SUPPRESS)  # in a child
    parser.add_argument("--baseline", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    if args.configuration:
        run, folder = CONFIGURATIONS[args.configuration]
        settings = replace(Settings.from_env(), data_dir=root / folder, rows=args.rows, years=parse_years(args.years))
        print(json.dumps([asdict(stage) for stage in run(settings, args.baseline)]))
        return

    stages = run_configuration("direct", root, args.rows, args.years, 0.0)
    if not args.no_dagster:
        baseline = stages[-1].seconds
        for name in ("dagster-assets", "dagster-checks", "dagster-one-year"):
            stages += run_configuration(name, root, args.rows, args.years, baseline)
            baseline = stages[-1].seconds
    print_stages(
        stages, f"Full pipeline, {args.rows:,} lines, years {args.years}, each configuration in its own process"
    )
    lakehouse = Lakehouse(root / "direct")
    sizes = {layer: layer_bytes(lakehouse, layer) / 2**20 for layer in ("bronze", "silver", "gold")}
    print("\nsizes: " + ", ".join(f"{layer} {mib:,.1f} MiB" for layer, mib in sizes.items()))
    if args.data_dir is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
