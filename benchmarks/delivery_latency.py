"""From a delivered day to the dashboard showing it: `dagster dev`'s sensor and automation, no click.

    python -m benchmarks.delivery_latency --rows 2000000
    python -m benchmarks.delivery_latency --rows 100000000 --data-dir /big/lakehouse   # built once, reused

Builds the dataset from the landing zone up to 30 December of the last year (or reuses `--data-dir`), starts
`dagster dev` on 127.0.0.1, delivers the next day with `lakehouse deliver`, and prints how long the day took
to be published (the catalog names it) and to be in the dashboard's data (the same reads the views make),
with the runs the sensor and automation started and how long each took.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from dashboard import data
from retail_lakehouse.runs import dagster_dev, new_dagster_home
from retail_lakehouse.settings import parse_years

AUTOMATION = {"landing_deliveries", "lakehouse_automation"}


def lakehouse(environment: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "retail_lakehouse.cli", *args], env=environment,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        sys.exit(f"lakehouse {' '.join(args)} failed: {(done.stderr or done.stdout).strip().splitlines()[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--years", default="2020-2025")
    parser.add_argument("--data-dir", type=Path, help="a data root built by an earlier run of this benchmark")
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()

    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    home = new_dagster_home(Path(tempfile.mkdtemp(prefix="bench-delivery-home-")))
    last_year = parse_years(args.years)[-1]
    environment = os.environ | {
        "LAKEHOUSE_DATA_DIR": str(root), "LAKEHOUSE_ROWS": str(args.rows), "LAKEHOUSE_YEARS": args.years,
        "LAKEHOUSE_AS_OF": f"{last_year}-12-30", "LAKEHOUSE_SOURCE": "landing", "DAGSTER_HOME": str(home),
    }  # fmt: skip
    if not (root / "landing").exists():
        print(f"building {args.rows:,} lines from the landing zone into {root} ...", flush=True)
        lakehouse(environment, "generate", "--to-landing")
        lakehouse(environment, "run")
    day = dt.date(last_year, 12, 31)
    with dagster_dev(environment, home / "dagster_dev.log") as process:
        time.sleep(20)  # the webserver and daemon start (not part of a delivery's latency)
        delivered = time.perf_counter()
        lakehouse(environment, "deliver")
        published = None
        while time.perf_counter() - delivered < args.timeout and process.poll() is None:
            if published is None and day in set(data.sales_per_day(root, day, day)["date"]):
                published = time.perf_counter() - delivered
                break
            time.sleep(1)
        with dg.DagsterInstance.from_config(str(home)) as instance:  # let the run finish (vacuum after publish)
            busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
            while instance.get_runs(filters=dg.RunsFilter(statuses=busy)) and process.poll() is None:
                time.sleep(1)
    if published is None:
        sys.exit(f"{day} was not published within {args.timeout} s (see {home / 'dagster_dev.log'})")
    print(f"\n{args.rows:,} lines over {args.years}: {day} delivered -> in the dashboard's data in {published:.1f} s")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in reversed(instance.get_runs()):
            if run.tags.get("dagster/sensor_name") in AUTOMATION:
                record = instance.get_run_record_by_id(run.run_id)
                took = (record.end_time or 0) - (record.start_time or 0)
                print(
                    f"  run {run.run_id[:8]} by {run.tags['dagster/sensor_name']:<20} {run.tags['dagster/partition']}"
                    f"  {len(run.asset_selection or ()):>2} assets  {took:6.1f} s in the run, {run.status.value}"
                )


if __name__ == "__main__":
    main()
