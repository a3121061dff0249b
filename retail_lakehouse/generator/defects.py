"""Known defects, injected at stated rates into a month of clean lines, and counted for the manifest.

Each defect lands on a different transaction and corrupts exactly what its reason describes: where a line's
money changes, the transaction total is recomputed so that only the intended reason applies. The counts are
rows that silver is expected to quarantine, under the reason names silver uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from retail_lakehouse.reference import QUARANTINE_REASONS
from retail_lakehouse.schemas import DefectManifest, polars_schema
from retail_lakehouse.settings import DefectRates

LINE_DEFECTS = (
    "missing_key",
    "unknown_product",
    "non_positive_quantity",
    "non_positive_price",
    "line_total_mismatch",
)


@dataclass
class Lines:
    """A month's lines as NumPy columns (money in integer cents), grouped by transaction."""

    transaction_id: np.ndarray
    line_number: np.ndarray
    ts_us: np.ndarray
    store_id: np.ndarray
    product_id: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    discount: np.ndarray
    line_total: np.ndarray
    payment: np.ndarray
    store_missing: np.ndarray
    product_missing: np.ndarray

    def take(self, index: np.ndarray) -> Lines:
        return Lines(**{name: value[index] for name, value in vars(self).items()})

    def append(self, other: Lines) -> Lines:
        return Lines(**{name: np.concatenate([value, getattr(other, name)]) for name, value in vars(self).items()})


def transaction_totals(line_total: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of line totals per transaction (lines of a transaction are contiguous), exact in int64."""
    return np.add.reduceat(line_total, starts) if len(starts) else np.zeros(0, dtype=np.int64)


def inject_defects(
    lines: Lines,
    starts: np.ndarray,
    sizes: np.ndarray,
    rates: DefectRates,
    n_products: int,
    rng: np.random.Generator,
) -> tuple[Lines, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Corrupt lines in place; return the lines with duplicate copies appended, the transaction totals, and per
    reason the transactions it was injected into with the rows each makes silver quarantine (for the manifest,
    which counts them per day)."""
    n_lines, n_transactions = len(lines.quantity), len(starts)
    wanted = {"duplicate": round(rates.duplicate * n_lines)}
    wanted |= {reason: round(getattr(rates, reason) * n_lines) for reason in LINE_DEFECTS}
    wanted["transaction_total_mismatch"] = round(rates.transaction_total_mismatch * n_transactions)
    # Tiny months cannot host every defect on its own transaction: keep the stated proportions.
    scale = min(1.0, n_transactions / max(sum(wanted.values()), 1))
    wanted = {reason: int(count * scale) for reason, count in wanted.items()}
    chosen = rng.choice(n_transactions, size=sum(wanted.values()), replace=False)
    picked: dict[str, np.ndarray] = {}
    offset = 0
    for reason, count in wanted.items():
        picked[reason] = np.sort(chosen[offset : offset + count])
        offset += count

    def one_line(transactions: np.ndarray) -> np.ndarray:
        return starts[transactions] + (rng.random(len(transactions)) * sizes[transactions]).astype(np.int64)

    rows = one_line(picked["missing_key"])
    store_side = rng.random(len(rows)) < 0.5
    lines.store_missing[rows[store_side]] = True
    lines.product_missing[rows[~store_side]] = True

    rows = one_line(picked["unknown_product"])
    lines.product_id[rows] = n_products + rng.integers(1, 10_000, len(rows))

    rows = one_line(picked["non_positive_quantity"])
    lines.quantity[rows] = -rng.integers(0, 3, len(rows))
    lines.discount[rows] = 0
    lines.line_total[rows] = lines.quantity[rows] * lines.unit_price[rows]

    rows = one_line(picked["non_positive_price"])
    lines.unit_price[rows] = 0
    lines.discount[rows] = 0
    lines.line_total[rows] = 0

    rows = one_line(picked["line_total_mismatch"])
    lines.line_total[rows] += _nonzero_cents(rng, len(rows))

    totals = transaction_totals(lines.line_total, starts)
    broken = picked["transaction_total_mismatch"]
    totals[broken] += _nonzero_cents(rng, len(broken))
    line_totals = np.repeat(totals, sizes)

    copies = one_line(picked["duplicate"])
    injected = {reason: (picked[reason], np.ones(len(picked[reason]), dtype=np.int64)) for reason in picked}
    injected["transaction_total_mismatch"] = (broken, sizes[broken].astype(np.int64))
    # A re-sent file: the copies arrive after the month's other lines, far from their originals.
    return lines.append(lines.take(copies)), np.concatenate([line_totals, line_totals[copies]]), injected


def _nonzero_cents(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1, 1]), n) * rng.integers(1, 500, n)


def defect_manifest(year: int, counts: dict[str, int]) -> pl.DataFrame:
    """The manifest of one year: a row per quarantine reason with the rows injected for it."""
    return pl.DataFrame(
        {"year": [year] * len(QUARANTINE_REASONS), "reason": QUARANTINE_REASONS,
         "rows": [counts.get(reason, 0) for reason in QUARANTINE_REASONS]},
        schema=polars_schema(DefectManifest),
    )  # fmt: skip
