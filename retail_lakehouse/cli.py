"""The `lakehouse` command: generate, deliver, run, summary, history, rollback, report and dashboard.

Errors the lakehouse knows about (bad settings, malformed files, unknown partitions, missing data) are
printed as one line, `error: ...`, with exit status 2; a failed Dagster run exits with status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from collections.abc import Sequence

from retail_lakehouse.errors import LakehouseError
from retail_lakehouse.settings import Settings, parse_years


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="generate the synthetic dataset")
    generate.add_argument(
        "--to-landing",
        action="store_true",
        help="write the point-of-sale CSV export to <data>/landing instead of building bronze",
    )
    deliver = commands.add_parser(
        "deliver", help="write the next day's point-of-sale export (all stores, one CSV) into the landing zone"
    )
    deliver.add_argument("--days", default="1", help="deliver this many days, never past today (default 1)")
    run = commands.add_parser("run", help="materialize every asset for every configured year through Dagster")
    run.add_argument("--years", help="only these years, e.g. 2023 (default: LAKEHOUSE_YEARS and years delivered later)")
    run.add_argument(
        "--parallel",
        action="store_true",
        help="every year at once, steps on LAKEHOUSE_EXECUTOR's workers (celery or k8s; needs an s3:// data root)",
    )
    run.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild under new settings (records them as the data root's identity; volume guards not enforced)",
    )
    commands.add_parser("summary", help="print published rows per layer and quarantined rows by reason")
    commands.add_parser("history", help="list the published versions: when, which run, rows per year")
    rollback = commands.add_parser("rollback", help="publish an earlier version again, every table together")
    rollback.add_argument("version", type=int, help="a catalog version from `lakehouse history`")
    report = commands.add_parser("report", help="print a year's business report and write it as CSV files and HTML")
    report.add_argument("--year", help="the year to report on (default: the latest published)")
    report.add_argument("--out", help="the folder to write into (default: ./report-<year>)")
    dashboard = commands.add_parser("dashboard", help="serve the dashboard on the gold tables")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", default="8050", help="TCP port from 1 to 65535 (default 8050)")
    dashboard.add_argument(
        "--debug", action="store_true", help="Dash's development server in debug mode (never shared)"
    )
    dashboard.add_argument("--workers", default=None, help="gunicorn worker processes (default: 2 per CPU, at most 4)")
    dashboard.add_argument("--threads", default="2", help="threads per worker (default 2)")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        if args.command == "generate":
            return _generate(settings, to_landing=args.to_landing)
        if args.command == "deliver":
            return _deliver(settings, _positive("--days", args.days))
        if args.command == "run":
            years = parse_years(args.years) if args.years else tuple(_known_years(settings))
            return _run(settings, years, args.rebuild, args.parallel)
        if args.command == "summary":
            _print_summary(settings, _known_years(settings))
            return 0
        if args.command == "history":
            return _history(settings)
        if args.command == "rollback":
            return _rollback(settings, args.version)
        if args.command == "report":
            return _business_report(settings, args.year, args.out)
        from dashboard.server import serve

        port = _tcp_port(args.port)
        workers = None if args.workers is None else _positive("--workers", args.workers)
        threads = _positive("--threads", args.threads)
        serve(settings.data_dir, host=args.host, port=port, debug=args.debug, workers=workers, threads=threads)
        return 0
    except LakehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _known_years(settings: Settings) -> list[int]:
    """The configured years and, from the landing zone, the years deliveries reached after them."""
    from retail_lakehouse.runs import known_years

    return known_years(settings)


def _require_data_root(settings: Settings) -> None:
    from retail_lakehouse.storage import Lakehouse

    lakehouse = Lakehouse.for_settings(settings)
    if not lakehouse.exists():
        raise LakehouseError(f"data root {lakehouse.location} does not exist: run `lakehouse run` first")


def _history(settings: Settings) -> int:
    from retail_lakehouse.catalog import Catalog
    from retail_lakehouse.storage import Lakehouse

    _require_data_root(settings)
    lakehouse = Lakehouse.for_settings(settings)
    snapshots = Catalog(lakehouse).history()
    if not snapshots:
        print(f"nothing published yet in {lakehouse.location}")
    for snapshot in snapshots:
        transactions = snapshot.table("silver", "transactions")
        rows = ", ".join(f"{y}: {n:,}" for y, n in (transactions.rows if transactions else {}).items()) or "-"
        print(f"{snapshot.version:>5}  {snapshot.published_at}  {snapshot.action:<22} run {snapshot.run_id[:8]:<8}  "
              f"silver lines {rows}")  # fmt: skip
    return 0


def _rollback(settings: Settings, version: int) -> int:
    from retail_lakehouse import writer
    from retail_lakehouse.catalog import Catalog, rollback
    from retail_lakehouse.storage import Lakehouse

    _require_data_root(settings)
    lakehouse = Lakehouse.for_settings(settings)
    writer.acquire(lakehouse, f"`lakehouse rollback` {uuid.uuid4().hex[:8]}")
    try:
        snapshot = rollback(Catalog(lakehouse), version, run_id="rollback")
    finally:
        writer.release(lakehouse)
    print(f"published catalog version {snapshot.version}: the tables of version {version}")
    return 0


def _business_report(settings: Settings, year_text: str | None, out: str | None) -> int:
    from pathlib import Path

    from retail_lakehouse.report import load_report, render_text, write_report

    year = None
    if year_text is not None:
        if not year_text.strip().isdigit():
            raise LakehouseError(f"--year {year_text!r} is not a year: give one such as 2024")
        year = int(year_text)
    _require_data_root(settings)
    report = load_report(settings.data_dir, year)
    out_dir = Path(out) if out else Path(f"report-{report.year}")
    written = write_report(report, out_dir)
    print(render_text(report))
    print(f"Wrote {len(written) - 1} CSV files and {written[-1].name} into {out_dir.resolve()}")
    return 0


def _tcp_port(text: str) -> int:
    """The port to listen on; checked here so that `--port 99999` is one line, not a socket traceback."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise LakehouseError(f"--port {text!r} is not a TCP port: give a whole number from 1 to 65535")
    return port


def _positive(option: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise LakehouseError(f"{option} {text!r} is not a positive whole number")
    return value


def _generate(settings: Settings, to_landing: bool) -> int:
    if not to_landing:
        from retail_lakehouse.definitions import build_definitions
        from retail_lakehouse.runs import execute, instance_for_runs

        defs, instance = build_definitions(settings), instance_for_runs()
        outcome = execute(defs, "dimensions", instance)
        _report(outcome)
        return 0 if outcome.success else 1

    from retail_lakehouse import landing
    from retail_lakehouse.sources import export_generator
    from retail_lakehouse.storage import Lakehouse

    lakehouse = Lakehouse.for_settings(settings)
    generator, stores, products = export_generator(settings)
    landing.export_dimensions(lakehouse, stores, products)
    for year in settings.years:
        started = time.perf_counter()
        lines = landing.export_year(lakehouse, generator, year)
        print(f"  {year}: {lines:>12,} lines -> {lakehouse.landing('transactions', str(year))} "
              f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    print("Landing files written. Build bronze from them with LAKEHOUSE_SOURCE=landing lakehouse run")
    return 0


def _deliver(settings: Settings, days: int) -> int:
    """Write the next `days` days' POS exports into the landing zone, up to today at most."""
    from retail_lakehouse import landing
    from retail_lakehouse.sources import export_generator
    from retail_lakehouse.storage import Lakehouse

    lakehouse = Lakehouse.for_settings(settings)
    first, today = landing.next_delivery_day(lakehouse), dt.date.today()
    if first > today:
        raise LakehouseError(f"the next day to deliver, {first}, is after today ({today}): nothing to deliver yet")
    if first.year > settings.calendar_years[-1]:
        raise LakehouseError(f"{first} is after the calendar's last year {settings.calendar_years[-1]}")
    generator, _, _ = export_generator(settings)
    delivered = [first + dt.timedelta(days=n) for n in range(days) if first + dt.timedelta(days=n) <= today]
    for day in delivered:
        lines = landing.deliver_day(lakehouse, generator, day)
        print(f"  {day}: {lines:>10,} lines -> {landing.day_file(lakehouse, day)}", flush=True)
    if len(delivered) < days:
        print(f"Stopped at today ({today}): {days - len(delivered)} day(s) not delivered")
    return 0


def _run(settings: Settings, years: tuple[int, ...], rebuild: bool, parallel: bool = False) -> int:
    from retail_lakehouse.storage import Lakehouse

    print(f"Materializing {len(years)} year(s) {years[0]}..{years[-1]} from {settings.source}, "
          f"{settings.rows:,} lines in all, into {Lakehouse.for_settings(settings).location}", flush=True)  # fmt: skip
    from retail_lakehouse.definitions import build_definitions
    from retail_lakehouse.runs import run_pipeline, run_pipeline_in_parallel

    started = time.perf_counter()
    if parallel:
        if rebuild:
            raise LakehouseError("--rebuild runs one year at a time: leave out --parallel")
        outcomes = run_pipeline_in_parallel(settings, years, progress=_report)
    else:
        defs = build_definitions(settings, rebuild=rebuild)
        outcomes = run_pipeline(defs, settings, years, progress=_report, rebuild=rebuild)
    if outcomes[0].success:
        _print_summary(settings, years)
    failed = [o for o in outcomes if not o.success]
    print(f"{'FAILED' if failed else 'Done'} in {time.perf_counter() - started:.1f} s "
          f"({sum(o.checks_passed for o in outcomes)} asset checks passed)")  # fmt: skip
    return 1 if failed else 0


def _report(outcome) -> None:
    status = "ok" if outcome.success else "FAILED"
    print(f"  {outcome.label:<11} {status:<7} {outcome.seconds:6.1f} s  {outcome.checks_passed} checks passed",
          flush=True)  # fmt: skip
    for problem in outcome.problems:
        print(f"      {problem}", flush=True)


def _print_summary(settings: Settings, years: Sequence[int]) -> None:
    import polars as pl

    from retail_lakehouse.runs import summary

    _require_data_root(settings)
    table = summary(settings.data_dir, years)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   thousands_separator=True, tbl_width_chars=200, fmt_str_lengths=60):  # fmt: skip
        print(table)


if __name__ == "__main__":
    sys.exit(main())
