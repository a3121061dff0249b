"""Running the asset graph through Dagster: the dimensions once, then one run per year partition.

`lakehouse run`, the end-to-end tests and the benchmarks all come through here, so what they measure and
test is what the Dagster UI would run: the same jobs, the same IO manager, the same blocking checks and
publish steps. The command holds the data root's writer lock from its first run to its last.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from retail_lakehouse import catalog, errors, landing, writer
from retail_lakehouse.definitions import DIMENSIONS_JOB, YEARLY_JOB, build_definitions
from retail_lakehouse.errors import LakehouseError
from retail_lakehouse.partitions import add_years
from retail_lakehouse.resources import PARALLEL_YEARS_TAG
from retail_lakehouse.settings import QUARANTINE_REASONS, Settings, is_object_store
from retail_lakehouse.storage import Lakehouse, return_freed_memory

# Failures are reported as one line each by `execute`; Dagster's own console log would add stack traces.
LAKEHOUSE_ERRORS = {
    name
    for module in (errors, writer, catalog)
    for name, value in vars(module).items()
    if isinstance(value, type) and issubclass(value, LakehouseError)
}
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
GOLD_TABLES_FOR_SUMMARY = ("yearly_sales", "store_daily_sales", "product_monthly_sales")


@dataclass
class RunOutcome:
    """One Dagster run: what it was for, whether it succeeded, and why not."""

    label: str
    success: bool
    seconds: float
    checks_passed: int = 0
    problems: list[str] = field(default_factory=list)


def instance_for_runs() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs then show in `dagster dev`), else ephemeral."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def check_years(settings: Settings, years: Iterable[int] | None, known: list[int] | None = None) -> list[int]:
    """The requested years (None: all of `known`), or a one-line error naming the ones that are not partitions.

    A partition is a configured year or, reading from the landing zone, a year deliveries have reached
    (`known`, worked out here if not given).
    """
    known = known_years(settings) if known is None else known
    years = known if years is None else list(years)
    unknown = [y for y in years if y not in known]
    if unknown:
        delivered = ", and the years the landing zone has files for" if settings.source == "landing" else ""
        raise LakehouseError(
            f"unknown partition(s) {unknown}: the configured years are {settings.partition_keys[0]}.."
            f"{settings.partition_keys[-1]} (LAKEHOUSE_YEARS){delivered}"
        )
    return years


def known_years(settings: Settings) -> list[int]:
    """The years that are partitions: the configured ones, and those the landing zone has files for."""
    delivered = landing.landing_years(Lakehouse.for_settings(settings)) if settings.source == "landing" else []
    return sorted(set(settings.years) | set(delivered))


def execute(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> RunOutcome:
    started = time.perf_counter()
    if partition_key is not None:
        add_years(instance, [partition_key])
    locks_before = writer.held()
    try:
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, partition_key=partition_key, raise_on_error=False, run_config=QUIET_LOGS, tags=tags
        )
    finally:
        writer.release_all_but(locks_before)  # a run's lock ends with the run, as a run's process would
    outcome = outcome_of(partition_key or job_name, result.success, time.perf_counter() - started, result.all_events)
    del result
    release_memory()
    return outcome


def outcome_of(label: str, success: bool, seconds: float, events: Iterable[dg.DagsterEvent]) -> RunOutcome:
    """A run's outcome from its events: failed steps (one line each) and asset check verdicts."""
    outcome = RunOutcome(label, success, seconds)
    for event in events:
        if event.is_step_failure and event.step_failure_data:
            if event.step_failure_data.error.cls_name == "DagsterAssetCheckFailedError":
                continue  # reported below, with the check's own description
            outcome.problems.append(f"{event.step_key}: {root_cause(event.step_failure_data.error)}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            if evaluation.passed:
                outcome.checks_passed += 1
            else:
                outcome.problems.append(
                    f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed: "
                    f"{evaluation.description or ''}"
                )
    return outcome


def release_memory() -> None:
    """Give freed memory back to the system between runs.

    pyarrow's pool and glibc's arenas keep what a run freed; without this, each year's run in the same
    process stacked its peak on the last (measured at 100M lines: 5.8 GB after six years against 2.7 GB for
    one year alone).
    """
    gc.collect()
    return_freed_memory()


def root_cause(error: Any) -> str:
    """The innermost error of Dagster's wrapping, as one line (the lakehouse's own errors without a class)."""
    while error.cause is not None:
        error = error.cause
    message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name or "error"
    qualified_name, _, text = message.partition(": ")
    if error.cls_name in LAKEHOUSE_ERRORS and qualified_name.endswith(str(error.cls_name)) and text:
        return text  # our errors already say what and where
    return message


def run_pipeline(
    defs: dg.Definitions,
    settings: Settings,
    years: Iterable[int] | None = None,
    instance: dg.DagsterInstance | None = None,
    progress: Callable[[RunOutcome], None] = lambda outcome: None,
    rebuild: bool = False,
) -> list[RunOutcome]:
    """Materialize and publish the dimensions, then every requested year (default: `known_years`).

    Stops before any run if another process is writing to the data root, or if the data root was built with
    other settings (unless `rebuild`, which records the new ones).
    """
    known = known_years(settings)
    years = check_years(settings, years, known)
    instance = instance or instance_for_runs()
    add_years(instance, known)  # every year shows in the UI, not only those run now
    lakehouse = Lakehouse.for_settings(settings)
    holder = f"`lakehouse run` {uuid.uuid4().hex[:8]}"
    writer.acquire(lakehouse, holder)
    tags = {writer.WRITER_TAG: holder}
    try:
        with writer.kept_renewed(lakehouse):
            writer.ensure_identity(lakehouse, settings.identity(), rebuild=rebuild)
            outcomes = [execute(defs, DIMENSIONS_JOB, instance, tags=tags)]
            progress(outcomes[-1])
            if outcomes[-1].success:
                for year in years:
                    outcomes.append(execute(defs, YEARLY_JOB, instance, str(year), tags=tags))
                    progress(outcomes[-1])
        return outcomes
    finally:
        writer.release(lakehouse)


def run_pipeline_in_parallel(
    settings: Settings,
    years: Iterable[int] | None = None,
    instance: dg.DagsterInstance | None = None,
    progress: Callable[[RunOutcome], None] = lambda outcome: None,
    module: str = "retail_lakehouse.definitions",
) -> list[RunOutcome]:
    """Like `run_pipeline`, but every year's run at once, their steps on the configured executor's workers.

    For `LAKEHOUSE_EXECUTOR=celery` (or `k8s`) and an `s3://` data root, the only storage the workers share.
    The dimensions (one small job) are built in this process first. Each year's run is then started as
    `dagster job execute` (its run coordinator, which hands the steps to the executor) against the
    persistent instance of `DAGSTER_HOME`, which the workers must share too (in production: Postgres).
    This process holds the writer lease from the first run to the last; the runs write under it
    (`writer.WRITER_TAG`) and stage their years side by side (`PARALLEL_YEARS_TAG`), each publishing its own
    year when its checks passed.
    """
    years = check_years(settings, years)
    if settings.executor == "in_process" or not is_object_store(settings.data_dir):
        raise LakehouseError(
            "running years in parallel needs LAKEHOUSE_EXECUTOR=celery (or k8s) and an s3:// LAKEHOUSE_DATA_DIR"
        )
    instance = instance or dg.DagsterInstance.get()
    lakehouse = Lakehouse.for_settings(settings)
    holder = f"`lakehouse run --parallel` {uuid.uuid4().hex[:8]}"
    writer.acquire(lakehouse, holder)
    tags = {writer.WRITER_TAG: holder}
    try:
        with writer.kept_renewed(lakehouse), tempfile.TemporaryDirectory(prefix="lakehouse-runs-") as folder:
            writer.ensure_identity(lakehouse, settings.identity())
            outcomes = [execute(build_definitions(replace(settings, executor="in_process")), DIMENSIONS_JOB,
                                instance, tags=tags)]  # fmt: skip
            progress(outcomes[-1])
            if outcomes[-1].success:
                add_years(instance, years)
                year_tags = tags | {PARALLEL_YEARS_TAG: "true"}
                launched = [LaunchedRun.start(settings, module, Path(folder), YEARLY_JOB, str(year), year_tags)
                            for year in years]  # fmt: skip
                for run in launched:
                    outcomes.append(run.finish(instance))
                    progress(outcomes[-1])
        return outcomes
    finally:
        writer.release(lakehouse)


@dataclass
class LaunchedRun:
    """A run started as `dagster job execute` in the background: its coordinator process and its tags."""

    label: str
    tags: dict[str, str]
    process: subprocess.Popen
    log: Path
    started: float

    @classmethod
    def start(
        cls, settings: Settings, module: str, folder: Path, job: str, partition: str | None, tags: dict[str, str]
    ) -> LaunchedRun:
        run_tags = tags | ({"dagster/partition": partition} if partition else {})
        label = partition or job
        config, log = folder / f"{label}.yaml", folder / f"{label}.log"
        config.write_text(json.dumps(QUIET_LOGS))
        command = [sys.executable, "-m", "dagster", "job", "execute", "-m", module, "-j", job,
                   "--tags", json.dumps(run_tags), "-c", str(config)]  # fmt: skip
        with open(log, "wb") as output:
            env = os.environ | settings.to_env()
            process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        return cls(label, run_tags, process, log, time.perf_counter())

    def finish(self, instance: dg.DagsterInstance) -> RunOutcome:
        """Wait for the run to end and read its outcome from the instance."""
        self.process.wait()
        seconds = time.perf_counter() - self.started
        runs = instance.get_runs(filters=dg.RunsFilter(tags=self.tags))
        if not runs:
            last = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return RunOutcome(self.label, False, seconds, problems=[f"the run did not start: {last[0]}"])
        events = [entry.dagster_event for entry in instance.all_logs(runs[0].run_id) if entry.dagster_event]
        return outcome_of(self.label, runs[0].status == dg.DagsterRunStatus.SUCCESS, seconds, events)


def summary(data_dir: Path | str, years: Iterable[int]) -> pl.DataFrame:
    """Published rows per layer and quarantined rows by reason (one row each), per year and in total."""
    snapshot = catalog.Catalog(Lakehouse.at(data_dir)).current()

    def rows(layer: str, table: str, year: int) -> int:
        published = snapshot.table(layer, table)
        return 0 if published is None else published.rows.get(str(year), 0)

    columns: dict[str, list[int]] = {}
    for year in years:
        by_reason = dict.fromkeys(QUARANTINE_REASONS, 0)
        if rows("silver", "transactions_quarantine", year):
            scan = catalog.scan("silver", "transactions_quarantine", years=[year], data_dir=data_dir)
            by_reason |= dict(scan.group_by("reason").len().collect().iter_rows())
        columns[str(year)] = [
            rows("bronze", "transactions", year),
            rows("silver", "transactions", year),
            rows("silver", "transactions_quarantine", year),
            sum(rows("gold", table, year) for table in GOLD_TABLES_FOR_SUMMARY),
            *by_reason.values(),
        ]
    labels = [
        "bronze rows",
        "silver rows",
        "quarantine rows",
        "gold rows (3 largest tables)",
        *(f"  quarantined: {reason}" for reason in QUARANTINE_REASONS),
    ]
    table = pl.DataFrame({"": labels} | columns)
    return table.with_columns(pl.sum_horizontal(pl.exclude("")).alias("total"))


# The instance settings of the project's Dagster home (as `scripts/_env.sh` writes them): one run at a time,
# runs of a data root writing under one lock; freshness policies evaluated.
_INSTANCE_YAML = """telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
freshness:
  enabled: true
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_dagster_home(folder: Path) -> Path:
    """A Dagster home at `folder` (made if missing) with the project's instance settings, for the benchmarks,
    scripts and tests that run Dagster away from the user's own home."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(_INSTANCE_YAML)
    return folder


@contextlib.contextmanager
def dagster_dev(environment: dict[str, str], log_path: Path, port: int | None = None) -> Iterator[subprocess.Popen]:
    """`dagster dev` (webserver, daemon and their children) on 127.0.0.1 (a free port by default), for tests,
    benchmarks and screenshots that watch the sensors and automation work; stopped with everything it started."""
    port = port or free_port()
    command = [sys.executable, "-m", "dagster", "dev", "-m", "retail_lakehouse.definitions",
               "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
