"""Benchmark the dashboard: the first page cold, then every drill-down callback, p50/p95 per level.

    python -m benchmarks.dashboard_latency --data-dir /tmp/bench/direct            # gold already built there
    python -m benchmarks.dashboard_latency --rows 100000000 --data-dir /tmp/bench   # build gold first if missing

A callback's time is `dashboard.app.render_page` (what the Dash callback runs: reading gold through
`dashboard.data`, building the figures) plus serialising its outputs to JSON as Dash does before sending
them, with the per-process cache of rendered views emptied before each (a repeated view is a cache hit,
timed once at the end). The browser's drawing is not included. Views are visited without filters, with one
state, with one category, and with both, at every level: all years, each year, each month of the latest
year, each ISO week of one month, and every open day of one month, after the preload of every gold partition
that the app runs in the background when it starts (the cold first page is timed before it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import plotly

from benchmarks.full_pipeline import direct_pipeline
from benchmarks.measure import machine, measured
from dashboard import data
from dashboard.app import clear_view_cache, render_page
from dashboard.data import Filters
from dashboard.views import View, weeks_of_month
from retail_lakehouse.settings import Settings, parse_years

FILTERS = {
    "no filter": Filters(),
    "state NW": Filters(states=("NW",)),
    "category Bakery": Filters(categories=("Bakery",)),
    "BY + Beverages": Filters(states=("BY",), categories=("Beverages",)),
}


def callback_seconds(data_dir: Path, search: str, trigger: str | None = "url", cached: bool = False) -> float:
    """One callback: render the view the address asks for and serialise it as Dash would."""
    if not cached:
        clear_view_cache()
    started = time.perf_counter()
    outputs = render_page(data_dir, search, trigger=trigger)
    json.dumps(outputs, cls=plotly.utils.PlotlyJSONEncoder)
    return time.perf_counter() - started


def views_per_level(years: list[int]) -> dict[str, list[View]]:
    """The views to time at each level (without filters; each is then timed under every filter)."""
    latest = years[-1]
    month = 5  # a month with holidays in some states and not in others
    days = [date(latest, month, 1) + timedelta(days=i) for i in range(31)]
    return {
        "1 all years": [View("all")],
        "2 year": [View("year", y) for y in years],
        "3 month": [View("month", latest, m) for m in range(1, 13)],
        "3 week": [View("week", week=monday) for monday in weeks_of_month(latest, month)],
        "4 day": [View("day", d.year, d.month, d) for d in days if d.weekday() != 6],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_views(data_dir: Path, views: list[View], filters: Filters, repeat: int) -> list[float]:
    """Seconds per callback, `repeat` times per view, under `filters`."""
    return [callback_seconds(data_dir, view.with_filters(filters).search()) for view in views for _ in range(repeat)]


def row(level: str, name: str, views: int, seconds: list[float]) -> str:
    p50, p95 = percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000
    return f"{level:<14}{name:<18}{views:>6}{p50:>9.1f}{p95:>9.1f}{max(seconds) * 1000:>9.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a data root with gold (or where to build it)")
    parser.add_argument("--rows", type=int, default=100_000_000, help="lines to generate if gold is missing")
    parser.add_argument("--years", default="2020-2025")
    parser.add_argument("--repeat", type=int, default=3, help="timings per view")
    args = parser.parse_args()

    data_dir = args.data_dir
    if data.missing_tables(data_dir):
        settings = replace(Settings.from_env(), data_dir=data_dir, rows=args.rows, years=parse_years(args.years))
        print(f"no gold under {data_dir}: building it from {args.rows:,} generated lines ...")
        direct_pipeline(settings)
    years = data.available_years(data_dir)
    gold_bytes = sum(p.stat().st_size for p in (data_dir / "gold").rglob("*.parquet"))
    lines = int(data.read_gold(data_dir, "yearly_sales")["lines"].sum())

    print(f"\nDashboard latency on {data_dir}  ({machine()})")
    print(f"gold: {gold_bytes / 2**20:,.1f} MiB for {lines:,} silver lines, years {years[0]}-{years[-1]}")
    with measured("first page") as first:
        cold = callback_seconds(data_dir, "", trigger=None)  # empty cache: every partition read from disk
    peak = first.peak_rss_bytes / 2**30
    print(f"first page, cold (reads gold from disk): {cold * 1000:,.0f} ms, peak RSS {peak:.2f} GB")
    warm = [callback_seconds(data_dir, "", trigger=None) for _ in range(args.repeat)]
    print(f"first page, warm: p50 {statistics.median(warm) * 1000:,.1f} ms")
    with measured("preload") as preload:  # what the app does in the background when it starts
        partitions = data.preload(data_dir)
    print(
        f"preload of every gold partition ({partitions}), as the app does at start: {preload.seconds:,.2f} s, "
        f"peak RSS {preload.peak_rss_bytes / 2**30:.2f} GB\n"
    )

    header = f"{'level':<14}{'filter':<18}{'views':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
    print(header)
    print("-" * len(header))
    for level, views in views_per_level(years).items():
        every_filter: list[float] = []
        for name, filters in FILTERS.items():
            seconds = time_views(data_dir, views, filters, args.repeat)
            every_filter += seconds
            print(row(level, name, len(views), seconds))
        print(row(level, "all filters", len(views), every_filter))
    repeated = [callback_seconds(data_dir, "?year=" + str(years[-1]), cached=True) for _ in range(20)]
    print(f"\na repeated view (answered from the view cache): p50 {statistics.median(repeated) * 1000:,.1f} ms")


if __name__ == "__main__":
    main()
