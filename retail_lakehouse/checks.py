"""Asset checks per year partition, run in the UI and in CI: the audit of write-audit-publish.

Each check runs one audit of `audits.AUDITS` (what it judges lives there, without Dagster). Every check is
blocking: a failure stops the assets downstream in the same run, the publish step included. Each verdict
is also recorded in the catalog against the Delta version it audited, so a publish (in this run or a later
one) publishes only versions whose every check passed.
"""

import warnings

import dagster as dg

from retail_lakehouse.audits import AUDITS, Audit, StagedYear
from retail_lakehouse.catalog import table_key
from retail_lakehouse.resources import LakehouseResource

# Per-partition checks are a preview feature in Dagster 1.13; we depend on them knowingly, so the warning
# that every definition load would print is noise to the people running the pipeline.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")


def build_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    return [_asset_check(audit, partitions) for audit in AUDITS]


def _asset_check(audit: Audit, partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=list(audit.table),
        name=audit.name,
        description=audit.description,
        partitions_def=partitions,
        blocking=True,
        additional_deps=[list(table) for table in audit.reads],
    )
    def check(context: dg.AssetCheckExecutionContext, lakehouse: LakehouseResource) -> dg.AssetCheckResult:
        store, year = lakehouse.lakehouse, context.partition_key
        staged = StagedYear(store, lakehouse.settings, year, lakehouse.pinned_snapshot(context.run.run_id),
                            lakehouse.rebuild)  # fmt: skip
        verdict = audit.judge(staged)
        # Recorded against the staged version it judged, so that a publish can require it.
        version = store.head_version(*audit.table)
        if version is not None:
            lakehouse.catalog.record_audit(
                table_key(*audit.table), version, year, audit.name, verdict.passed, context.run.run_id
            )
        return dg.AssetCheckResult(passed=verdict.passed, description=verdict.description, metadata=verdict.metadata)

    return check


def required_checks(checks: list[dg.AssetChecksDefinition]) -> dict[str, list[str]]:
    """Check names per table key: what a staged version must have passed before it is published."""
    required: dict[str, list[str]] = {}
    for definition in checks:
        for key in definition.check_keys:
            required.setdefault(table_key(*key.asset_key.path), []).append(key.name)
    return required
