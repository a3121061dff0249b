"""The one Definitions object: every asset, check, resource and job, built from the settings."""

import os
from collections.abc import Mapping

import dagster as dg

from retail_lakehouse.assets.bronze import build_bronze_assets
from retail_lakehouse.assets.gold import build_gold_assets
from retail_lakehouse.assets.publish import build_publish_assets
from retail_lakehouse.assets.silver import build_silver_assets
from retail_lakehouse.automation import build_automation, with_automation
from retail_lakehouse.checks import build_checks, required_checks
from retail_lakehouse.partitions import yearly_partitions
from retail_lakehouse.resources import resources_for
from retail_lakehouse.settings import Settings, SettingsError

DIMENSIONS_JOB = "dimensions"
YEARLY_JOB = "yearly"


def build_definitions(
    settings: Settings, rebuild: bool = False, environment: Mapping[str, str] | None = None
) -> dg.Definitions:
    """Everything Dagster loads; `environment` (the process's, for the code location) makes the resource's
    fields `EnvVar`s wherever a `LAKEHOUSE_*` variable is set."""
    partitions = yearly_partitions()
    tables = [*build_bronze_assets(partitions), *build_silver_assets(partitions), *build_gold_assets(partitions)]
    yearly = [key for a in tables if a.partitions_def is not None for key in a.keys]
    dimensions = [key for a in tables if a.partitions_def is None for key in a.keys]
    checks = build_checks(partitions)
    dimension_release, year_release = build_publish_assets(partitions, dimensions, yearly, required_checks(checks))
    jobs = [
        dg.define_asset_job(
            DIMENSIONS_JOB,
            selection=dg.AssetSelection.assets(*dimensions, dimension_release),
            description="Stores, products and the calendar, bronze and silver (not partitioned), then published.",
        ),
        dg.define_asset_job(
            YEARLY_JOB,
            selection=dg.AssetSelection.assets(*yearly, year_release),
            description="One year: bronze transactions -> silver -> gold, every asset check, then published.",
        ),
    ]
    assets = dg.map_asset_specs(with_automation, [*tables, dimension_release, year_release])
    year_roots = [key for a in tables if a.partitions_def for key in a.keys if not set(a.asset_deps[key]) & set(yearly)]
    sensors, schedules = build_automation(jobs[1], year_roots)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        sensors=sensors,
        schedules=schedules,
        resources=resources_for(settings, rebuild=rebuild, environment=environment),
        executor=executor_for(settings),
    )


CELERY_BROKER = "LAKEHOUSE_CELERY_BROKER"
CELERY_BACKEND = "LAKEHOUSE_CELERY_BACKEND"


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """Where a run's steps execute (`LAKEHOUSE_EXECUTOR`).

    `in_process` (the default): one process per run, so a year's steps share one start-up (Dagster, Polars,
    this code) instead of paying it per step (measured: 2.2x faster for one 10M-line year). `celery`: each
    step is a task for Celery workers (`dagster-celery`), reached through the broker and result backend in
    `LAKEHOUSE_CELERY_BROKER` and `LAKEHOUSE_CELERY_BACKEND` (read by Dagster as environment variables, so
    a broker password stays out of the run's configuration). `k8s`: each step is a Kubernetes Job
    (`dagster-k8s`, the `k8s` extra). The other two only make sense with an object store as the data root,
    which is all the steps share.
    """
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "celery":
        missing = [name for name in (CELERY_BROKER, CELERY_BACKEND) if not os.environ.get(name)]
        if missing:
            raise SettingsError(f"LAKEHOUSE_EXECUTOR=celery needs {' and '.join(missing)} (e.g. redis://host:6379/0)")
        from dagster_celery import celery_executor

        return celery_executor.configured({"broker": {"env": CELERY_BROKER}, "backend": {"env": CELERY_BACKEND}})
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError:
        raise SettingsError("LAKEHOUSE_EXECUTOR=k8s needs dagster-k8s (the k8s extra)") from None
    return k8s_job_executor


defs = build_definitions(Settings.from_env(), environment=os.environ)
