"""How cost grows with volume: seconds and peak memory per year partition at several scales, side by side.

    python -m benchmarks.scaling --rows 10000000,30000000,100000000

Each scale is built from scratch in its own process on the direct path (the assets' functions, Delta writes,
a publish per year), one year at a time; every year's seconds and peak RSS are printed, then per scale the
seconds per million lines. If cost grows linearly, seconds per million lines stay flat across scales and the
peak memory of a year follows its lines, not the number of years.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.full_pipeline import (
    Direct,
    build_bronze_year,
    build_dimensions,
    build_gold_year,
    build_silver_year,
    publish_year,
)
from benchmarks.measure import machine, measured
from retail_lakehouse.settings import Settings, parse_years


def one_scale(rows: int, years: str, root: Path) -> list[dict[str, float]]:
    """Every year of one scale, each measured alone (bronze -> silver -> gold -> publish)."""
    settings = replace(Settings.from_env(), data_dir=root, rows=rows, years=parse_years(years))
    direct = Direct(settings)
    build_dimensions(settings, direct)
    results = []
    for year in settings.years:
        with measured(str(year)) as stage:
            lines = build_bronze_year(settings, direct, year)
            build_silver_year(direct, year)
            build_gold_year(direct, year)
            publish_year(direct, year)
        results.append(
            {"year": year, "lines": lines, "seconds": stage.seconds, "peak_gb": stage.peak_rss_bytes / 2**30}
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000000,30000000,100000000", help="scales, comma-separated")
    parser.add_argument("--years", default="2020-2025")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_scale(args.child, args.years, args.root)))
        return

    print(f"Cost per year partition by scale, direct path with Delta and publish  ({machine()})")
    print(f"{'lines':>13} {'year':>6} {'year lines':>12} {'seconds':>9} {'peak RSS':>10} {'s per M lines':>14}")
    summary = []
    for rows in (int(r) for r in args.rows.split(",")):
        root = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
        command = [sys.executable, "-m", "benchmarks.scaling", "--child", str(rows), "--years", args.years,
                   "--root", str(root)]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True)
        shutil.rmtree(root, ignore_errors=True)
        if finished.returncode:
            sys.exit(f"{rows:,} lines failed: {(finished.stderr.strip().splitlines() or ['?'])[-1]}")
        years = json.loads(finished.stdout.strip().splitlines()[-1])
        for y in years:
            per_million = y["seconds"] / (y["lines"] / 1e6)
            print(f"{rows:>13,} {y['year']:>6} {y['lines']:>12,} {y['seconds']:>9.1f} {y['peak_gb']:>8.2f} GB"
                  f" {per_million:>14.2f}")  # fmt: skip
        total_s = sum(y["seconds"] for y in years)
        total_lines = sum(y["lines"] for y in years)
        summary.append((rows, total_s, max(y["peak_gb"] for y in years), total_s / (total_lines / 1e6)))
    print(f"\n{'lines':>13} {'all years s':>12} {'max year peak':>14} {'s per M lines':>14}")
    for rows, seconds, peak, per_million in summary:
        print(f"{rows:>13,} {seconds:>12.1f} {peak:>11.2f} GB {per_million:>14.2f}")


if __name__ == "__main__":
    main()
