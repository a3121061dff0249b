"""What runs without a click: deliveries noticed by a sensor, the rest of a year by declarative automation.

- `landing_deliveries` (a sensor, on by default) lists the landing zone's POS files per year. A year whose
  files differ from those its bronze was last built from (the digest bronze records in its metadata) gets
  a run of its root assets (bronze, and gold's calendar days); a year that is not yet a partition (a
  delivery on 1 January) is added first.
- Silver carries `FOLLOWS_BRONZE` (eager, once bronze's blocking checks passed), gold and the year's release
  eager: after the bronze run, the automation sensor requests the rest of the year in one run, checks and
  publish step included, so a delivered day reaches the dashboard by itself.
- `daily_delivery` (a schedule, off by default) does the same at 06:00 where sensors are off: the whole
  yearly job for the year of the newest delivery.
- Gold carries a freshness policy: a day without a delivery turns it stale in the UI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from retail_lakehouse import landing
from retail_lakehouse.landing import LANDING_DIGEST
from retail_lakehouse.partitions import missing_years, yearly_partitions
from retail_lakehouse.resources import PARALLEL_YEARS_TAG, LakehouseResource

BRONZE_TRANSACTIONS = dg.AssetKey(["bronze", "transactions"])
SENSOR_SECONDS = 15
# Runs started by the sensor, the schedule and automation build one year each, and other years' runs may have
# staged theirs in the same tables meanwhile (bronze of 2025 waiting for its silver while 2026's bronze is
# written): these years stay staged instead of being undone as a killed run's leftovers would be.
YEAR_BY_YEAR = {PARALLEL_YEARS_TAG: "true"}
# Eager: silver, gold and the release in one run once bronze is there; silver never on top of a bronze whose
# blocking checks failed (the release would refuse it anyway). Within the run, blocking checks stop the rest.
FOLLOWS_BRONZE = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
# A delivery a day: warn after a day and a few hours without one, fail after two.
GOLD_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=50), warn_window=dt.timedelta(hours=26))


def with_automation(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Silver, gold and the year's release follow bronze by themselves; gold also says when it is stale."""
    layer = spec.key.path[0]
    if spec.partitions_def is None or layer == "bronze":
        return spec
    condition = FOLLOWS_BRONZE if layer == "silver" else dg.AutomationCondition.eager()
    if layer == "gold":
        return spec.replace_attributes(automation_condition=condition, freshness_policy=GOLD_FRESHNESS)
    return spec.replace_attributes(automation_condition=condition)


def built_from(instance: dg.DagsterInstance, year: str) -> str | None:
    """The landing digest the year's newest bronze was built from (None: never built from the landing zone)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BRONZE_TRANSACTIONS, asset_partitions=[year]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get(LANDING_DIGEST)
    return None if value is None else str(value.value)


def build_automation(
    yearly_job: dg.UnresolvedAssetJobDefinition, year_roots: Sequence[dg.AssetKey]
) -> tuple[list[dg.SensorDefinition], list[dg.ScheduleDefinition]]:
    """The delivery sensor, the automation sensor, and the schedule that stands in for both where sensors are off.

    `year_roots` are the yearly assets that read no other yearly asset (bronze, and gold's calendar days): what
    the delivery sensor builds; everything else of the year follows them by automation.
    """

    @dg.sensor(
        name="landing_deliveries",
        target=dg.AssetSelection.assets(*year_roots),
        minimum_interval_seconds=SENSOR_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Builds a year's bronze when its landing files change; silver, gold and the release follow.",
    )
    def landing_deliveries(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        settings = lakehouse.settings
        if settings.source != "landing":
            return dg.SensorResult(skip_reason="LAKEHOUSE_SOURCE is not landing: no deliveries to watch")
        digests = landing.landing_fingerprint(lakehouse.lakehouse)
        new_years = missing_years(context.instance, [*settings.years, *digests])
        requests = [
            dg.RunRequest(run_key=f"{year}-{digest}", partition_key=year, asset_selection=year_roots, tags=YEAR_BY_YEAR)
            for year, digest in sorted(digests.items())
            if built_from(context.instance, year) != digest
        ]
        partitions = [yearly_partitions().build_add_request(new_years)] if new_years else []
        skip = None if requests else "every landing year's bronze is built from its current files"
        return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partitions, skip_reason=skip)

    @dg.schedule(
        name="daily_delivery",
        cron_schedule="0 6 * * *",
        job=yearly_job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Where sensors are off: each morning, the whole year of the newest delivery, then published.",
    )
    def daily_delivery(context: dg.ScheduleEvaluationContext, lakehouse: LakehouseResource) -> dg.RunRequest:
        newest = landing.next_delivery_day(lakehouse.lakehouse) - dt.timedelta(days=1)
        year = str(newest.year)
        if missing_years(context.instance, [year]):
            context.instance.add_dynamic_partitions(yearly_partitions().name, [year])
        return dg.RunRequest(run_key=f"{year}-{newest}", partition_key=year, tags=YEAR_BY_YEAR)

    automation = dg.AutomationConditionSensorDefinition(
        "lakehouse_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=SENSOR_SECONDS,
        run_tags=YEAR_BY_YEAR,
        description="Silver, gold and the release follow a new bronze, once its blocking checks passed.",
    )
    return [landing_deliveries, automation], [daily_delivery]
