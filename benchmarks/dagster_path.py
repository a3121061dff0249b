"""One year through the path Dagster users take against `lakehouse run`, side by side, as a ratio.

    python -m benchmarks.dagster_path --rows 10000000            # builds the data first, then compares
    python -m benchmarks.dagster_path --data-dir /path --rows 100000000 --rounds 2

The Dagster path is `dagster asset materialize --select 'bronze/transactions*' --partition YEAR`: a fresh
process loading the code location and running the year's assets, checks and release with the project's
default executor, as a run launched from the UI does. The CLI path is `lakehouse run --years YEAR`. Both
rebuild the same year on the same data root, taking turns; whole-process wall time and peak RSS are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import psutil

from benchmarks.measure import tree_rss
from retail_lakehouse.partitions import add_years
from retail_lakehouse.runs import new_dagster_home
from retail_lakehouse.settings import parse_years


def timed(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of a command's whole process tree."""
    with tempfile.TemporaryFile(mode="w+") as log:  # Dagster logs a lot: a pipe nobody reads would block it
        started = time.perf_counter()
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=log, text=True)
        peak = 0
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, tree_rss(watched))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if process.returncode:
            log.seek(0)
            sys.exit(f"{' '.join(command[:3])} failed: {(log.read().strip().splitlines() or ['?'])[-1]}")
    return seconds, peak / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--years", default="2020-2025")
    parser.add_argument("--data-dir", type=Path, help="an existing data root built with these settings")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-dagster-"))
    home = new_dagster_home(Path(tempfile.mkdtemp(prefix="bench-dagster-home-")))
    environment = os.environ | {
        "LAKEHOUSE_DATA_DIR": str(root), "LAKEHOUSE_ROWS": str(args.rows), "LAKEHOUSE_YEARS": args.years,
        "DAGSTER_HOME": str(home),
    }  # fmt: skip
    bin_dir = Path(sys.executable).parent
    if args.data_dir is None:
        print(f"building {args.rows:,} lines into {root} ...", flush=True)
        timed([str(bin_dir / "lakehouse"), "run"], environment)
    year = str(parse_years(args.years)[-1])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        add_years(instance, [year])  # a data root built elsewhere: its year is not yet this instance's partition
    commands = {
        "lakehouse run": [str(bin_dir / "lakehouse"), "run", "--years", year],
        "dagster asset materialize": [str(bin_dir / "dagster"), "asset", "materialize", "-m",
                                      "retail_lakehouse.definitions", "--select", "bronze/transactions*",
                                      "--partition", year],
    }  # fmt: skip
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, command in commands.items():
            results[name].append(timed(command, environment))
            print(f"  {name:<27} {results[name][-1][0]:7.1f} s  peak {results[name][-1][1]:.2f} GB", flush=True)
    cli = statistics.median(s for s, _ in results["lakehouse run"])
    ui = statistics.median(s for s, _ in results["dagster asset materialize"])
    print(f"\nOne year ({year}) of {args.rows:,} lines over {args.years}, medians of {args.rounds} rounds")
    print(f"lakehouse run: {cli:.1f} s; dagster asset materialize: {ui:.1f} s")
    print(f"Dagster path / CLI path (time): {ui / cli:.3f}")


if __name__ == "__main__":
    main()
