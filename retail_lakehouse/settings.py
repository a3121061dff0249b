"""One place for configuration: read from `LAKEHOUSE_*` environment variables, defaults that work on a laptop.

The variable names are a contract: the README, the CI script, the tests and the benchmarks set them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

from retail_lakehouse.errors import LakehouseError
from retail_lakehouse.reference import QUARANTINE_REASONS as QUARANTINE_REASONS  # re-exported: older imports

Source = Literal["generator", "landing"]
Executor = Literal["in_process", "celery", "k8s"]
EXECUTORS: tuple[str, ...] = ("in_process", "celery", "k8s")


# How and where the data is stored and guarded, not what it is: changing these keeps the dataset identity.
NOT_IDENTITY = frozenset(
    {
        "data_dir",
        "object_store",
        "executor",
        "bronze_zstd_level",
        "silver_zstd_level",
        "gold_zstd_level",
        "retention_hours",
        "max_volume_change",
        "max_rejected_share",
        "as_of",
    }
)
# Settings without a default value of their own: unset means the scenario's value (or, for `as_of`, a rule).
OPTIONAL_SETTINGS = ("start_date", "end_date", "growth", "seasonality", "holiday_effects", "basket_size", "as_of")
OBJECT_STORE_SCHEMES = ("s3://",)
MASK = "***"


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


DataRoot = Path | str  # a local folder, or an object store URI such as `s3://bucket/prefix`


def parse_data_root(text: str | Path) -> DataRoot:
    """A local path as a `Path`; an `s3://bucket/prefix` URI kept as text (a `Path` would fold its `//`)."""
    if isinstance(text, Path):
        return text
    if text.startswith(OBJECT_STORE_SCHEMES):
        bucket = text.split("://", 1)[1].split("/", 1)[0]
        if not bucket:
            raise SettingsError(f"LAKEHOUSE_DATA_DIR={text!r}: expected s3://bucket or s3://bucket/prefix")
        return text.rstrip("/")
    if "://" in text:
        raise SettingsError(f"LAKEHOUSE_DATA_DIR={text!r}: only local folders and s3://bucket/prefix are supported")
    return Path(text)


def is_object_store(root: DataRoot) -> bool:
    return isinstance(root, str) and root.startswith(OBJECT_STORE_SCHEMES)


@dataclass(frozen=True)
class ObjectStoreSettings:
    """How to reach the object store of an `s3://` data root: endpoint, credentials, region.

    Read from `LAKEHOUSE_S3_ENDPOINT_URL`, `…_ACCESS_KEY_ID`, `…_SECRET_ACCESS_KEY`, `…_REGION` and
    `…_ALLOW_HTTP`, each falling back to the standard AWS variable of the same meaning (`AWS_ENDPOINT_URL`,
    `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`), so one deployment can keep
    the lakehouse's store apart from other AWS tools. Unset credentials leave the AWS SDKs' own chain (instance
    roles, web identity) in charge. The secret is masked wherever this object is shown.
    """

    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    allow_http: bool = False

    def __repr__(self) -> str:
        secret = None if self.secret_access_key is None else MASK
        return (
            f"ObjectStoreSettings(endpoint_url={self.endpoint_url!r}, access_key_id={self.access_key_id!r}, "
            f"secret_access_key={secret!r}, region={self.region!r}, allow_http={self.allow_http!r})"
        )

    def mask(self, text: str) -> str:
        """`text` with the secret replaced by `***` (for messages that quote a library's error)."""
        return text.replace(self.secret_access_key, MASK) if self.secret_access_key else text

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ObjectStoreSettings:
        def get(name: str) -> str | None:
            variable = cls.variable(name, env)
            return None if variable is None else env[variable].strip()

        allow_http = get("ALLOW_HTTP")
        if allow_http is not None and allow_http.lower() not in ("true", "false", "1", "0"):
            raise SettingsError(f"{cls.variable('ALLOW_HTTP', env)}={allow_http!r}: expected true or false")
        return cls(
            endpoint_url=get("ENDPOINT_URL"),
            access_key_id=get("ACCESS_KEY_ID"),
            secret_access_key=get("SECRET_ACCESS_KEY"),
            region=get("REGION"),
            allow_http=allow_http is not None and allow_http.lower() in ("true", "1"),
        )

    @staticmethod
    def variable(name: str, env: Mapping[str, str]) -> str | None:
        """Which variable holds setting `name` (e.g. `SECRET_ACCESS_KEY`) in `env`: the LAKEHOUSE_ one wins."""
        for variable in (f"LAKEHOUSE_S3_{name}", f"AWS_{name}"):
            if (env.get(variable) or "").strip():
                return variable
        return None


@dataclass(frozen=True)
class DemandShock:
    """Days on which the stores that sell food (or those that do not) see more, fewer or no customers.

    `traffic_factor` multiplies the transactions a store would have had (0 closes it); `basket_factor`
    multiplies the lines per basket. Both days are included.
    """

    first_day: dt.date
    last_day: dt.date
    food_stores: bool
    traffic_factor: float
    basket_factor: float = 1.0


@dataclass(frozen=True)
class ScenarioPreset:
    """The generator's knobs as a named scenario sets them; any `LAKEHOUSE_*` knob set explicitly wins."""

    growth: float  # yearly growth of the volume sold (transactions), before prices
    seasonality: bool  # months, category seasons, the weeks before Christmas and Easter
    holiday_effects: bool  # shops closed on Sundays and public holidays, the rush the day before, short days
    basket_size: float  # mean lines per basket
    shocks: tuple[DemandShock, ...] = ()


_BASELINE = ScenarioPreset(growth=0.02, seasonality=True, holiday_effects=True, basket_size=4.0)

# The presets, in one place. covid-2020: panic buying in food stores before the first lockdown, and shops
# that do not sell food closed during Germany's two lockdowns (18 March to 19 April 2020; 16 December 2020
# to 7 March 2021, when click-and-meet reopened them).
SCENARIO_PRESETS: dict[str, ScenarioPreset] = {
    "baseline": _BASELINE,
    "covid-2020": replace(
        _BASELINE,
        shocks=(
            DemandShock(dt.date(2020, 3, 9), dt.date(2020, 3, 21), food_stores=True, traffic_factor=1.25,
                        basket_factor=1.3),
            DemandShock(dt.date(2020, 3, 18), dt.date(2020, 4, 19), food_stores=False, traffic_factor=0.0),
            DemandShock(dt.date(2020, 12, 16), dt.date(2021, 3, 7), food_stores=False, traffic_factor=0.0),
        ),
    ),
    "flat": replace(_BASELINE, growth=0.0, seasonality=False),
}  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    """What the generator simulates, every knob resolved: the preset, overridden by explicit settings."""

    name: str
    first_day: dt.date  # sales happen from this day ...
    last_day: dt.date  # ... to this one, both included
    growth: float
    seasonality: bool
    holiday_effects: bool
    basket_size: float
    shocks: tuple[DemandShock, ...] = ()


def resolve_scenario(
    name: str,
    years: tuple[int, ...],
    *,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    growth: float | None = None,
    seasonality: bool | None = None,
    holiday_effects: bool | None = None,
    basket_size: float | None = None,
) -> Scenario:
    """The preset `name` with every explicitly given knob applied; conflicts are a one-line `SettingsError`."""
    if name not in SCENARIO_PRESETS:
        raise SettingsError(f"LAKEHOUSE_SCENARIO={name!r}: expected one of {', '.join(SCENARIO_PRESETS)}")
    preset = SCENARIO_PRESETS[name]
    first_year, last_year = dt.date(years[0], 1, 1), dt.date(years[-1], 12, 31)
    first_day, last_day = start_date or first_year, end_date or last_year
    span = f"LAKEHOUSE_YEARS {years[0]}..{years[-1]}"
    for variable, day in (("LAKEHOUSE_START_DATE", start_date), ("LAKEHOUSE_END_DATE", end_date)):
        if day is not None and not first_year <= day <= last_year:
            raise SettingsError(f"{variable}={day} is outside {span}")
    if last_day < first_day:
        raise SettingsError(f"LAKEHOUSE_END_DATE={last_day} is before LAKEHOUSE_START_DATE={first_day}")
    if not any(first_day.year <= year <= last_day.year for year in years):
        raise SettingsError(
            f"LAKEHOUSE_START_DATE..LAKEHOUSE_END_DATE ({first_day}..{last_day}) holds no day of {span}"
        )
    if growth is not None and not -0.5 <= growth <= 1.0:
        raise SettingsError(f"LAKEHOUSE_GROWTH={growth} is outside -0.5..1.0 (a yearly rate: 0.02 is 2 %)")
    if basket_size is not None and not 1.0 <= basket_size <= 20.0:
        raise SettingsError(f"LAKEHOUSE_BASKET_SIZE={basket_size} is outside 1..20 (mean lines per basket)")
    scenario = Scenario(
        name=name,
        first_day=first_day,
        last_day=last_day,
        growth=preset.growth if growth is None else growth,
        seasonality=preset.seasonality if seasonality is None else seasonality,
        holiday_effects=preset.holiday_effects if holiday_effects is None else holiday_effects,
        basket_size=preset.basket_size if basket_size is None else basket_size,
        shocks=preset.shocks,
    )
    if preset.shocks and not any(_overlaps(scenario, shock, years) for shock in preset.shocks):
        first, last = min(s.first_day for s in preset.shocks), max(s.last_day for s in preset.shocks)
        raise SettingsError(
            f"LAKEHOUSE_SCENARIO={name} is about {first}..{last}, which {span} "
            f"with the window {first_day}..{last_day} do not reach"
        )
    return scenario


def _overlaps(scenario: Scenario, shock: DemandShock, years: tuple[int, ...]) -> bool:
    first, last = max(scenario.first_day, shock.first_day), min(scenario.last_day, shock.last_day)
    return first <= last and any(first.year <= year <= last.year for year in years)


@dataclass(frozen=True)
class Settings:
    """Everything that varies between a laptop run, CI and a full-scale benchmark."""

    data_dir: DataRoot = Path("data")
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
    retention_hours: int = 168
    max_volume_change: float = 0.5
    # A landing file with more unreadable lines than this share is refused as a changed format, not loaded.
    max_rejected_share: float = 0.01
    # The scenario: a preset name, then knobs that override it (None: the preset's value).
    scenario: str = "baseline"
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    growth: float | None = None
    seasonality: bool | None = None
    holiday_effects: bool | None = None
    basket_size: float | None = None

    def __post_init__(self) -> None:
        """Conflicting scenario knobs fail when the settings are made, not halfway through a run."""
        _ = self.resolved_scenario
        if self.as_of is not None:
            if self.as_of > dt.date.today():
                raise SettingsError(f"LAKEHOUSE_AS_OF={self.as_of} is after today ({dt.date.today()})")
            if self.as_of < dt.date(self.years[0], 1, 1):
                raise SettingsError(f"LAKEHOUSE_AS_OF={self.as_of} is before LAKEHOUSE_YEARS {self.years[0]}")

    object_store: ObjectStoreSettings = field(default_factory=ObjectStoreSettings)
    executor: Executor = "in_process"
    # The day the data reaches: the last day of the last configured year, or today if that is earlier. Not part
    # of the dataset identity: moving it on fills the current year further, and changes no day already there.
    as_of: dt.date | None = None

    @property
    def effective_as_of(self) -> dt.date:
        """`as_of`, or by default the last day of the last configured year but never after today."""
        return self.as_of or min(dt.date(self.years[-1], 12, 31), dt.date.today())

    @property
    def calendar_years(self) -> tuple[int, ...]:
        """The configured years and every year after them up to the one after today (or after the as-of day).

        The calendar and the traffic model reach that far so that a day delivered after the configured years
        (the current year, or a new one from 1 January) has its holidays and its traffic without a rebuild.
        """
        horizon = max(self.years[-1], self.effective_as_of.year, dt.date.today().year) + 1
        return (*self.years, *range(self.years[-1] + 1, horizon + 1))

    @property
    def partition_keys(self) -> list[str]:
        return [str(year) for year in self.years]

    def identity(self) -> dict[str, Any]:
        """The settings that shape the data, as plain JSON values: the dataset identity of a data root.

        Everything but where the data lives and how it is stored or guarded is part of it, so a setting
        added later joins the identity unless it is named in `NOT_IDENTITY`.
        """
        values = {}
        for setting in fields(self):
            if setting.name not in NOT_IDENTITY:
                value = getattr(self, setting.name)
                value = asdict(value) if is_dataclass(value) else value
                values[setting.name] = json.loads(json.dumps(value, default=str))
        return values

    @property
    def resolved_scenario(self) -> Scenario:
        """The scenario the generator simulates: the preset with the explicit knobs applied."""
        return resolve_scenario(
            self.scenario,
            self.years,
            start_date=self.start_date,
            end_date=self.end_date,
            growth=self.growth,
            seasonality=self.seasonality,
            holiday_effects=self.holiday_effects,
            basket_size=self.basket_size,
        )

    def to_env(self) -> dict[str, str]:
        """The `LAKEHOUSE_*` variables that give these settings back (object store credentials excepted)."""
        rates = ",".join(f"{name}={rate}" for name, rate in asdict(self.defect_rates).items())
        return {
            "LAKEHOUSE_DATA_DIR": str(self.data_dir),
            "LAKEHOUSE_ROWS": str(self.rows),
            "LAKEHOUSE_SEED": str(self.seed),
            "LAKEHOUSE_YEARS": ",".join(self.partition_keys),
            "LAKEHOUSE_SOURCE": self.source,
            "LAKEHOUSE_STORES": str(self.stores),
            "LAKEHOUSE_PRODUCTS": str(self.products),
            "LAKEHOUSE_DEFECT_RATES": rates,
            "LAKEHOUSE_BRONZE_ZSTD_LEVEL": str(self.bronze_zstd_level),
            "LAKEHOUSE_SILVER_ZSTD_LEVEL": str(self.silver_zstd_level),
            "LAKEHOUSE_GOLD_ZSTD_LEVEL": str(self.gold_zstd_level),
            "LAKEHOUSE_RETENTION_HOURS": str(self.retention_hours),
            "LAKEHOUSE_MAX_VOLUME_CHANGE": str(self.max_volume_change),
            "LAKEHOUSE_MAX_REJECTED_SHARE": str(self.max_rejected_share),
            "LAKEHOUSE_EXECUTOR": self.executor,
            "LAKEHOUSE_SCENARIO": self.scenario,
        } | {
            f"LAKEHOUSE_{name.upper()}": str(value)
            for name in OPTIONAL_SETTINGS
            if (value := getattr(self, name)) is not None
        }

    @classmethod
    def from_identity(cls, identity: Mapping[str, Any], data_dir: DataRoot) -> Settings:
        """The settings a data root records as its identity (`identity()`), at `data_dir`: what to run it with."""
        env = {"LAKEHOUSE_DATA_DIR": str(data_dir)}
        for name, value in identity.items():
            if value is None:
                continue
            if name == "years":
                value = ",".join(map(str, value))
            elif name == "defect_rates":
                value = ",".join(f"{defect}={rate}" for defect, rate in value.items())
            env[f"LAKEHOUSE_{name.upper()}"] = str(value)
        return cls.from_env(env)

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
        executor = get("LAKEHOUSE_EXECUTOR") or default.executor
        if executor not in EXECUTORS:
            raise SettingsError(f"LAKEHOUSE_EXECUTOR={executor!r}: expected one of {', '.join(EXECUTORS)}")
        return cls(
            data_dir=parse_data_root(get("LAKEHOUSE_DATA_DIR") or default.data_dir),
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
            retention_hours=_int(get, "LAKEHOUSE_RETENTION_HOURS", default.retention_hours, 0, 24 * 3650),
            max_volume_change=_float(get, "LAKEHOUSE_MAX_VOLUME_CHANGE", default.max_volume_change, 0.0, 100.0),
            max_rejected_share=_float(get, "LAKEHOUSE_MAX_REJECTED_SHARE", default.max_rejected_share, 0.0, 1.0),
            scenario=get("LAKEHOUSE_SCENARIO") or default.scenario,
            start_date=_date(get, "LAKEHOUSE_START_DATE"),
            end_date=_date(get, "LAKEHOUSE_END_DATE"),
            growth=_rate(get, "LAKEHOUSE_GROWTH"),
            seasonality=_switch(get, "LAKEHOUSE_SEASONALITY"),
            holiday_effects=_switch(get, "LAKEHOUSE_HOLIDAY_EFFECTS"),
            basket_size=_number(get, "LAKEHOUSE_BASKET_SIZE"),
            object_store=ObjectStoreSettings.from_env(env),
            executor=executor,  # type: ignore[arg-type]
            as_of=_date(get, "LAKEHOUSE_AS_OF"),
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


def _float(get, name: str, default: float, low: float, high: float) -> float:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is outside {low:g}..{high:g}")
    return value


def _date(get, name: str) -> dt.date | None:
    raw = get(name)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a date like 2021-03-01") from None


def _number(get, name: str) -> float | None:
    raw = get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None


def _rate(get, name: str) -> float | None:
    """A rate as a fraction (`0.035`) or in percent (`3.5%`)."""
    raw = get(name)
    if raw is not None and raw.endswith("%"):
        value = _number(lambda _: raw[:-1].strip(), name)
        return None if value is None else value / 100
    return _number(get, name)


def _switch(get, name: str) -> bool | None:
    raw = get(name)
    if raw is None:
        return None
    value = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}
    if raw.lower() not in value:
        raise SettingsError(f"{name}={raw!r}: expected on or off")
    return value[raw.lower()]
