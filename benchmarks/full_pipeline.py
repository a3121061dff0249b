"""Benchmark the whole pipeline: generate -> bronze -> silver -> gold, per stage, then through Dagster.

    python -m benchmarks.full_pipeline --rows 100000000            # direct calls, then Dagster, then one year
    python -m benchmarks.full_pipeline --rows 10000000 --no-dagster

The direct path calls the functions the assets call (the bronze source, the silver transform and Pandera
model, each gold table's `compute`), writes through the same storage code, runs the audits the asset checks
run (`audits.AUDITS`) after each layer and publishes each year: write-audit-publish without Dagster. Then the
same settings are materialized through Dagster's jobs (`runs.run_pipeline`: assets alone, then every asset
and check as `lakehouse run` does), which gives Dagster's overhead as a ratio, and one
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
import polars as pl

from benchmarks.measure import Stage, measured, print_stages
from retail_lakehouse import writer
from retail_lakehouse.audits import StagedYear, audit
from retail_lakehouse.catalog import MAY_BE_EMPTY, Catalog, publish, table_key
from retail_lakehouse.definitions import YEARLY_JOB, build_definitions
from retail_lakehouse.runs import execute, release_memory, run_pipeline
from retail_lakehouse.schemas import TABLE_MODELS, polars_schema
from retail_lakehouse.settings import Settings, parse_years
from retail_lakehouse.sources import YearOfTransactions, bronze_calendar, bronze_products, bronze_stores
from retail_lakehouse.storage import WHOLE_TABLE, Lakehouse, TableData
from retail_lakehouse.transforms.gold import GOLD_STEPS, GOLD_TABLES, SOURCE_TABLES, GoldSources
from retail_lakehouse.transforms.silver import clean_calendar, clean_products, clean_stores, clean_year

RUN_ID = "benchmark"


def layer_bytes(lakehouse: Lakehouse, layer: str) -> int:
    return sum(p.stat().st_size for p in (lakehouse.root / layer).rglob("*.parquet"))


class Direct:
    """The assets' write path without Dagster: staged Delta writes, published per year in one snapshot."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.lakehouse = settings, Lakehouse(settings.data_dir)
        self.catalog = Catalog(self.lakehouse)
        self.written: list[str] = []
        self.audits_passed = 0
        # Recorded as a run would, so that Dagster runs on this data root later (duckdb_peer) use its settings.
        writer.ensure_identity(self.lakehouse, settings.identity())

    def write(self, layer: str, table: str, year: int | None, data: TableData) -> int:
        published = self.catalog.current().table(layer, table)
        level = {"bronze": self.settings.bronze_zstd_level, "silver": self.settings.silver_zstd_level}.get(
            layer, self.settings.gold_zstd_level
        )
        version = None if published is None else published.delta_version
        written = self.lakehouse.write(layer, table, year, data, level, RUN_ID, version)
        self.written.append(table_key(layer, table))
        return written.rows

    def read(self, layer: str, table: str, year: int | None = None) -> pl.LazyFrame:
        head = self.lakehouse.head_version(layer, table)
        assert head is not None, (layer, table)
        columns = list(polars_schema(TABLE_MODELS[(layer, table)]))
        return self.lakehouse.scan(layer, table, head, None if year is None else [year]).select(columns)

    def audit(self, year: int, tables: list[tuple[str, str]]) -> None:
        """Run the audits `lakehouse run` runs as checks on what this year's writes staged; stop at a failure
        (nothing of the year is published then)."""
        staged = StagedYear(self.lakehouse, self.settings, str(year), self.catalog.current())
        verdicts = audit(staged, tables)
        if unaudited := set(tables) - {done.table for done, _ in verdicts}:
            sys.exit(f"no audit of {sorted(unaudited)}: every table the direct path writes has some")
        for failed, verdict in verdicts:
            if not verdict.passed:
                sys.exit(f"{table_key(*failed.table)}:{failed.name} failed for {year}: {verdict.description}")
            self.audits_passed += 1

    def publish(self, year: int | None) -> None:
        which = WHOLE_TABLE if year is None else str(year)
        publish(self.catalog, sorted(set(self.written)), which, {}, RUN_ID, self.settings.retention_hours,
                may_be_empty=MAY_BE_EMPTY)  # fmt: skip
        self.written.clear()


def build_dimensions(settings: Settings, direct: Direct) -> Stage:
    with measured("dimensions (bronze + silver)") as stage:
        dimensions = {
            "stores": (bronze_stores(settings), clean_stores),
            "products": (bronze_products(settings), clean_products),
            "calendar": (bronze_calendar(settings), clean_calendar),
        }
        for table, (frame, clean) in dimensions.items():
            direct.write("bronze", table, None, frame)
            direct.write("silver", table, None, clean(direct.read("bronze", table)).collect())
        direct.publish(None)
    return stage


def build_bronze_year(settings: Settings, direct: Direct, year: int) -> int:
    dims = [direct.read("bronze", t) for t in ("stores", "products", "calendar")]
    source = YearOfTransactions(settings, year, *dims)
    rows = direct.write("bronze", "transactions", year, source.chunks())
    direct.write("bronze", "defect_manifest", year, source.manifest())
    release_memory()  # as `runs.execute` does after each year's run
    return rows


def build_silver_year(direct: Direct, year: int) -> None:
    stores, products = direct.read("silver", "stores"), direct.read("silver", "products")
    result = clean_year(direct.read("bronze", "transactions", year), stores, products, year)
    direct.write("silver", "transactions", year, result.transactions)
    direct.write("silver", "transactions_quarantine", year, result.quarantine)
    release_memory()


def build_gold_year(direct: Direct, year: int) -> None:
    """Every gold table of the year, written (staged); `publish_year` publishes them."""
    for step in GOLD_STEPS:
        sources = {
            name: direct.read(*SOURCE_TABLES[name], None if name in DIMENSIONS else year) for name in step.inputs
        }
        for table, frame in step.compute(GoldSources(year=year, **sources)).items():
            direct.write("gold", table, year, frame)


def publish_year(direct: Direct, year: int) -> None:
    """The year's tables written in this process, published together."""
    direct.publish(year)
    release_memory()


def build_year(settings: Settings, direct: Direct, year: int, stages: dict[str, Stage]) -> None:
    """One year, write-audit-publish: each layer written, then audited (the checks `lakehouse run` runs
    between the layers, timed into their own stage), then the year published (timed with gold)."""

    def step(name: str, work: Callable[[], object]) -> None:
        with measured(name) as stage:
            work()
        stages[name].seconds += stage.seconds
        stages[name].peak_rss_bytes = max(stages[name].peak_rss_bytes, stage.peak_rss_bytes)

    rows: list[int] = []
    step("bronze", lambda: rows.append(build_bronze_year(settings, direct, year)))
    step("audits", lambda: direct.audit(year, [("bronze", "transactions"), ("bronze", "defect_manifest")]))
    step("silver", lambda: build_silver_year(direct, year))
    step("audits", lambda: direct.audit(year, [("silver", "transactions"), ("silver", "transactions_quarantine")]))
    step("gold", lambda: build_gold_year(direct, year))
    step("audits", lambda: direct.audit(year, [("gold", table.name) for table in GOLD_TABLES]))
    step("gold", lambda: publish_year(direct, year))
    stages["bronze"].rows = (stages["bronze"].rows or 0) + rows[0]
    for name in ("silver", "audits", "gold"):
        stages[name].rows = stages["bronze"].rows


DIMENSIONS = {"stores", "products", "calendar"}


def direct_pipeline(settings: Settings) -> list[Stage]:
    """generate -> gold by calling the assets' functions directly, one stage per layer, published per year."""
    direct = Direct(settings)
    stages = {
        "bronze": Stage(f"bronze: generate + zstd-{settings.bronze_zstd_level}"),
        "silver": Stage(f"silver: clean + quarantine, zstd-{settings.silver_zstd_level}"),
        "gold": Stage(f"gold: {len(GOLD_TABLES)} tables + publish"),
        "audits": Stage("audits: the checks' own, per layer"),
    }
    dimensions = build_dimensions(settings, direct)
    for year in settings.years:
        build_year(settings, direct, year, stages)
    for layer in ("bronze", "silver", "gold"):
        stages[layer].bytes_written = layer_bytes(direct.lakehouse, layer)
    # The direct path writes no rejected lines (generated lines cannot be unreadable): their two checks are not run.
    stages["audits"].notes["audits passed"] = str(direct.audits_passed)
    return [dimensions, *stages.values()]


def dagster_assets_only(settings: Settings, direct_seconds: float) -> list[Stage]:
    """Every asset through Dagster's jobs, without the checks: Dagster's own overhead against direct calls.

    The yearly release is left out: it publishes only what passed the checks, so without them it refuses.
    """
    base = build_definitions(settings)
    graph = base.resolve_asset_graph()
    release = dg.AssetKey(["catalog", "year_release"])
    partitioned = [
        key for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None and key != release
    ]
    assets_only = dg.define_asset_job(
        "yearly_assets_only", selection=dg.AssetSelection.assets(*partitioned).without_checks()
    )
    defs = dg.Definitions.merge(base, dg.Definitions(jobs=[assets_only]))
    instance = dg.DagsterInstance.ephemeral()
    with measured("Dagster, assets only") as stage:
        outcomes = [execute(defs, "dimensions", instance)]
        # Staged, not published (nothing was audited), and each run sets other years' staged rows back.
        lakehouse, stage.rows = Lakehouse(settings.data_dir), 0
        for year in settings.years:
            outcomes.append(execute(defs, assets_only.name, instance, str(year)))
            head = lakehouse.head_version("bronze", "transactions")
            stage.rows += lakehouse.rows_by_year("bronze", "transactions", head).get(str(year), 0)
    stage.notes["runs succeeded"] = f"{sum(o.success for o in outcomes)} of {len(outcomes)}"
    stage.notes["Dagster / direct (time)"] = f"{stage.seconds / direct_seconds:.3f}x"
    return [stage]


def dagster_with_checks(settings: Settings, audited_seconds: float) -> list[Stage]:
    """`lakehouse run`'s path: every asset and every asset check, year by year, against the direct path's
    write-audit-publish (the same writes and audits without Dagster)."""
    defs, instance = build_definitions(settings), dg.DagsterInstance.ephemeral()
    with measured("Dagster, with every asset check") as stage:
        outcomes = run_pipeline(defs, settings, instance=instance)
        stage.rows = _bronze_rows(settings)
    stage.notes["runs succeeded"] = f"{sum(o.success for o in outcomes)} of {len(outcomes)}"
    stage.notes["checks passed"] = str(sum(o.checks_passed for o in outcomes))
    stage.notes["Dagster / direct write-audit-publish (time)"] = f"{stage.seconds / audited_seconds:.3f}x"
    return [stage]


def dagster_one_year(settings: Settings, all_years_seconds: float) -> list[Stage]:
    """The latest year rematerialized (bronze -> gold, with checks) over a lakehouse built by the run before."""
    defs, instance = build_definitions(settings), dg.DagsterInstance.ephemeral()
    year = str(settings.years[-1])
    with measured(f"one year ({year}), with checks") as stage:
        outcome = execute(defs, YEARLY_JOB, instance, year)
        stage.rows = _bronze_rows(settings, [int(year)])
    stage.notes["succeeded"] = str(outcome.success)
    stage.notes["one year / all years (time)"] = f"{stage.seconds / all_years_seconds:.3f}"
    return [stage]


def _bronze_rows(settings: Settings, years: list[int] | None = None) -> int:
    published = Catalog(Lakehouse(settings.data_dir)).current().table("bronze", "transactions")
    return sum(published.rows.get(str(year), 0) for year in (years or settings.years)) if published else 0


def direct(settings: Settings, _: float) -> list[Stage]:
    """The direct path's stages, a total without the audits (comparable with earlier revisions, which had
    none) and the total of write-audit-publish, which `lakehouse run` is measured against."""
    stages = direct_pipeline(settings)
    written = [stage for stage in stages if not stage.name.startswith("audits")]
    totals = [Stage(name, seconds=sum(s.seconds for s in parts), peak_rss_bytes=max(s.peak_rss_bytes for s in parts),
                    rows=stages[1].rows)
              for name, parts in ((DIRECT_TOTAL, written), (DIRECT_AUDITED_TOTAL, stages))]  # fmt: skip
    return [*stages, *totals]


DIRECT_TOTAL = "total, direct calls"
DIRECT_AUDITED_TOTAL = "total, direct write-audit-publish"


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
        totals = {stage.name: stage.seconds for stage in stages}
        # Assets alone against the direct writes, every check against the direct writes and audits, one
        # year against all years with checks.
        for name, baseline in (("dagster-assets", DIRECT_TOTAL), ("dagster-checks", DIRECT_AUDITED_TOTAL),
                               ("dagster-one-year", "Dagster, with every asset check")):  # fmt: skip
            stages += run_configuration(name, root, args.rows, args.years, totals[baseline])
            totals[stages[-1].name] = stages[-1].seconds
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
