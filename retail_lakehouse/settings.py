"""One place for configuration: read from `LAKEHOUSE_*` environment variables, defaults that work on a laptop.

The variable names are a contract: the README, the CI script, the tests and the benchmarks set them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from retail_lakehouse.errors import LakehouseError
from retail_lakehouse.reference import QUARANTINE_REASONS as QUARANTINE_REASONS  # re-exported: older imports

Source = Literal["generator", "landing"]


class SettingsError(LakehouseError):
    """A `LAKEHOUSE_*` variable holds a value the lakehouse cannot use."""


@dataclass(frozen=True)
class DefectRates:
    """Share of clean lines (or, for `transaction_total_mismatch`, of transactions) given each defect.

    Each defect lands on a different transaction and makes exactly the reason of the same name apply.
    Override with `LAKEHOUSE_DEFECT_RATES="duplicate=0.002,missing_key=0"`.
    """

    duplicate: float = 0.0013
    missing_key: float = 0.0003
    unknown_product: float = 0.0002
    non_positive_quantity: float = 0.0004
    non_positive_price: float = 0.0003
    line_total_mismatch: float = 0.0003
    transaction_total_mismatch: float = 0.0005

    @classmethod
    def parse(cls, text: str) -> DefectRates:
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, raw = item.partition("=")
            name = name.strip()
            if name not in known:
                raise SettingsError(
                    f"LAKEHOUSE_DEFECT_RATES: unknown defect {name!r}; known: {', '.join(sorted(known))}"
                )
            try:
                rate = float(raw)
            except ValueError:
                raise SettingsError(f"LAKEHOUSE_DEFECT_RATES: {name}={raw!r} is not a number") from None
            if not 0.0 <= rate <= 0.05:
                raise SettingsError(f"LAKEHOUSE_DEFECT_RATES: {name}={rate} is outside 0..0.05")
            values[name] = rate
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    """Everything that varies between a laptop run, CI and a full-scale benchmark."""

    data_dir: Path = Path("data")
    rows: int = 2_000_000
    seed: int = 42
    years: tuple[int, ...] = (2020, 2021, 2022, 2023, 2024, 2025)
    source: Source = "generator"
    stores: int = 500
    products: int = 50_000
    defect_rates: DefectRates = field(default_factory=DefectRates)
    bronze_zstd_level: int = 9
    silver_zstd_level: int = 3
    gold_zstd_level: int = 9

    @property
    def partition_keys(self) -> list[str]:
        return [str(year) for year in self.years]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        default = cls()

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        source = get("LAKEHOUSE_SOURCE") or default.source
        if source not in ("generator", "landing"):
            raise SettingsError(f"LAKEHOUSE_SOURCE={source!r}: expected 'generator' or 'landing'")
        rates = get("LAKEHOUSE_DEFECT_RATES")
        return cls(
            data_dir=Path(get("LAKEHOUSE_DATA_DIR") or default.data_dir),
            rows=_int(get, "LAKEHOUSE_ROWS", default.rows, low=1_000, high=2_000_000_000),
            seed=_int(get, "LAKEHOUSE_SEED", default.seed, low=0, high=2**32 - 1),
            years=parse_years(get("LAKEHOUSE_YEARS")) if get("LAKEHOUSE_YEARS") else default.years,
            source=source,  # type: ignore[arg-type]
            stores=_int(get, "LAKEHOUSE_STORES", default.stores, low=16, high=100_000),
            products=_int(get, "LAKEHOUSE_PRODUCTS", default.products, low=110, high=10_000_000),
            defect_rates=DefectRates.parse(rates) if rates else default.defect_rates,
            bronze_zstd_level=_int(get, "LAKEHOUSE_BRONZE_ZSTD_LEVEL", default.bronze_zstd_level, 1, 22),
            silver_zstd_level=_int(get, "LAKEHOUSE_SILVER_ZSTD_LEVEL", default.silver_zstd_level, 1, 22),
            gold_zstd_level=_int(get, "LAKEHOUSE_GOLD_ZSTD_LEVEL", default.gold_zstd_level, 1, 22),
        )


def parse_years(text: str) -> tuple[int, ...]:
    """Parse `2020-2025`, `2023` or `2021,2023` into a sorted tuple of distinct years."""
    years: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, sep, last = part.partition("-")
        try:
            low, high = int(first), int(last if sep else first)
        except ValueError:
            raise SettingsError(f"LAKEHOUSE_YEARS={text!r}: expected years like '2020-2025' or '2021,2023'") from None
        if not 1990 <= low <= high <= 2100:
            raise SettingsError(f"LAKEHOUSE_YEARS={text!r}: years must be ascending within 1990..2100")
        years.update(range(low, high + 1))
    if not years:
        raise SettingsError(f"LAKEHOUSE_YEARS={text!r}: no year given")
    return tuple(sorted(years))


def _int(get, name: str, default: int, low: int, high: int) -> int:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is outside {low}..{high}")
    return value
