"""Asset checks per year partition, run in the UI and in CI. Checks that prove data wrong are blocking.

A blocking check that fails stops the assets downstream of its asset in the same run, so gold is never
built from silver that lost or invented rows.
"""

import warnings
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl

from retail_lakehouse.assets.gold import GOLD_TABLES
from retail_lakehouse.assets.silver import quarantine_by_reason
from retail_lakehouse.resources import LakehouseResource
from retail_lakehouse.schemas import GOLD_MODELS, SilverTransactions, TransactionsQuarantine

# Per-partition checks are a preview feature in Dagster 1.13; we depend on them knowingly, so the warning
# that every definition load would print is noise to the people running the pipeline.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")

ROW_CONSERVATION = "row_conservation"
MATCHES_CONTRACT = "matches_contract"
QUARANTINE_MATCHES_MANIFEST = "quarantine_matches_manifest"
NO_SALES_ON_CLOSED_DAYS = "no_sales_on_closed_days"
RECONCILES_WITH_SILVER = "reconciles_with_silver"

SILVER = ["silver", "transactions"]
QUARANTINE = ["silver", "transactions_quarantine"]
VALIDATION_BATCH_ROWS = 2_000_000
FAILURE_EXAMPLES = 3


def rows(frame: pl.LazyFrame) -> int:
    """Row count; for a Parquet scan Polars reads it from the footer."""
    return frame.select(pl.len()).collect().item()


def contract_failures(frame: pl.LazyFrame, model: type[pa.DataFrameModel]) -> pl.DataFrame:
    """Validate a written partition against its model in bounded batches; one row per (column, check).

    Each row names the column, the check, how many values failed and a few example values.
    """
    failures = []
    total = rows(frame)
    for offset in range(0, max(total, 1), VALIDATION_BATCH_ROWS):
        try:
            model.validate(frame.slice(offset, VALIDATION_BATCH_ROWS).collect(), lazy=True)
        except pa.errors.SchemaErrors as error:
            failures.append(error.failure_cases.select("column", "check", pl.col("failure_case").cast(pl.String)))
    if not failures:
        return pl.DataFrame(schema={"column": pl.String, "check": pl.String, "failures": pl.UInt32,
                                    "examples": pl.String})  # fmt: skip
    return (
        pl.concat(failures)
        .group_by("column", "check", maintain_order=True)
        .agg(pl.len().alias("failures"), pl.col("failure_case").head(FAILURE_EXAMPLES).str.join(", ").alias("examples"))
    )


def contract_result(frame: pl.LazyFrame, model: type[pa.DataFrameModel]) -> dg.AssetCheckResult:
    failures = contract_failures(frame, model)
    summary = "; ".join(f"{c}: {k} failed {n}x, e.g. {e}" for c, k, n, e in failures.iter_rows())
    return dg.AssetCheckResult(
        passed=failures.is_empty(),
        description=summary or f"every row matches {model.__name__}",
        metadata={"failed_checks": failures.height, "model": model.__name__},
    )


def build_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=SILVER,
        name=ROW_CONSERVATION,
        partitions_def=partitions,
        blocking=True,
        additional_ins={"bronze": dg.AssetIn(["bronze", "transactions"]), "quarantine": dg.AssetIn(QUARANTINE)},
    )
    def row_conservation(
        transactions: pl.LazyFrame, bronze: pl.LazyFrame, quarantine: pl.LazyFrame
    ) -> dg.AssetCheckResult:
        """Check that every bronze row is in exactly one of silver or the quarantine: the counts add up."""
        counts = {"bronze": rows(bronze), "silver": rows(transactions), "quarantine": rows(quarantine)}
        lost = counts["bronze"] - counts["silver"] - counts["quarantine"]
        return dg.AssetCheckResult(
            passed=lost == 0,
            description=f"bronze {counts['bronze']} = silver {counts['silver']} + quarantine "
            f"{counts['quarantine']}" + ("" if lost == 0 else f"; {lost:+d} rows unaccounted for"),
            metadata=counts | {"unaccounted": lost},
        )

    @dg.asset_check(asset=SILVER, name=MATCHES_CONTRACT, partitions_def=partitions, blocking=True)
    def silver_contract(transactions: pl.LazyFrame) -> dg.AssetCheckResult:
        """Check that every silver row matches the SilverTransactions model (types, ranges, allowed values)."""
        return contract_result(transactions, SilverTransactions)

    @dg.asset_check(asset=QUARANTINE, name=MATCHES_CONTRACT, partitions_def=partitions, blocking=True)
    def quarantine_contract(transactions_quarantine: pl.LazyFrame) -> dg.AssetCheckResult:
        """Check that every quarantined row matches the TransactionsQuarantine model and has a known reason."""
        return contract_result(transactions_quarantine, TransactionsQuarantine)

    @dg.asset_check(
        asset=QUARANTINE,
        name=QUARANTINE_MATCHES_MANIFEST,
        partitions_def=partitions,
        blocking=True,
        additional_ins={"manifest": dg.AssetIn(["bronze", "defect_manifest"])},
    )
    def matches_manifest(transactions_quarantine: pl.LazyFrame, manifest: pl.LazyFrame) -> dg.AssetCheckResult:
        """Check that the quarantine holds, reason by reason, exactly the rows the generator corrupted."""
        expected = dict(manifest.select("reason", "rows").collect().iter_rows())
        found = quarantine_by_reason(transactions_quarantine)
        differences = {r: found[r] - expected.get(r, 0) for r in found if found[r] != expected.get(r, 0)}
        return dg.AssetCheckResult(
            passed=not differences,
            description="every reason matches the manifest" if not differences else f"found - expected: {differences}",
            metadata={f"found/{r}": n for r, n in found.items()} | {f"expected/{r}": n for r, n in expected.items()},
        )

    @dg.asset_check(
        asset=SILVER,
        name=NO_SALES_ON_CLOSED_DAYS,
        partitions_def=partitions,
        blocking=True,
        additional_ins={"calendar": dg.AssetIn(["silver", "calendar"])},
    )
    def no_closed_day_sales(transactions: pl.LazyFrame, calendar: pl.LazyFrame) -> dg.AssetCheckResult:
        """Check that silver has no sales on a Sunday or on a public holiday of the store's federal state."""
        closed = (
            transactions.select("date", "state_code", "transaction_id")
            .join(calendar.select("date", "state_code", "is_open"), on=["date", "state_code"], how="left")
            .filter(~pl.col("is_open").fill_null(False))
        )
        examples = closed.group_by("date", "state_code").len().sort("len", descending=True).head(5).collect()
        count = int(examples["len"].sum()) if examples.height else 0
        return dg.AssetCheckResult(
            passed=examples.is_empty(),
            description="no sales on closed days"
            if examples.is_empty()
            else f"sales on closed days, e.g. {examples.rows()}",
            metadata={"lines_on_closed_days_top5": count},
        )

    return [row_conservation, silver_contract, quarantine_contract, matches_manifest, no_closed_day_sales,
            *[_reconciles_with_silver(table, partitions) for table in GOLD_MEASURE_TABLES]]  # fmt: skip


# Tables that hold the full measures of the year (a top-N table holds a subset and is not reconciled).
GOLD_MEASURE_TABLES = [t.name for t in GOLD_TABLES if "avg_basket" in GOLD_MODELS[t.name].to_schema().columns]


def _reconciles_with_silver(table: str, partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=["gold", table],
        name=RECONCILES_WITH_SILVER,
        partitions_def=partitions,
        blocking=True,
        additional_ins={"silver": dg.AssetIn(SILVER)},
    )
    def reconciles(
        context: dg.AssetCheckExecutionContext, lakehouse: LakehouseResource, silver: pl.LazyFrame
    ) -> dg.AssetCheckResult:
        gold = lakehouse.lakehouse.scan("gold", table, context.partition_key)
        gold_totals = _totals(gold)
        silver_totals = _totals(silver.rename({"line_total": "revenue", "quantity": "units"}))
        return dg.AssetCheckResult(
            passed=gold_totals == silver_totals,
            description=f"gold {gold_totals} vs silver {silver_totals}",
            metadata={f"gold/{k}": str(v) for k, v in gold_totals.items()}
            | {f"silver/{k}": str(v) for k, v in silver_totals.items()},
        )

    reconciles.__doc__ = f"Check that gold/{table} revenue, units and lines equal silver's to the cent."
    return reconciles


def _totals(frame: pl.LazyFrame) -> dict[str, Any]:
    has_lines = "lines" in frame.collect_schema()
    lines = pl.col("lines").sum() if has_lines else pl.len()
    return (
        frame.select(pl.col("revenue").sum(), pl.col("units").cast(pl.Int64).sum(), lines.alias("lines"))
        .collect()
        .row(0, named=True)
    )
