"""Settings: the LAKEHOUSE_* variables, their defaults, and one-line errors for nonsense."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.settings import Settings, SettingsError


def test_defaults_work_on_a_laptop():
    settings = Settings.from_env({})
    assert settings.data_dir == Path("data")
    assert settings.rows == 2_000_000
    assert settings.seed == 42
    assert settings.years == (2020, 2021, 2022, 2023, 2024, 2025)
    assert settings.source == "generator"
    assert settings.max_rejected_share == 0.01


def test_variables_override_defaults():
    settings = Settings.from_env(
        {
            "LAKEHOUSE_DATA_DIR": "/srv/lake",
            "LAKEHOUSE_ROWS": "100_000_000",
            "LAKEHOUSE_SEED": "7",
            "LAKEHOUSE_YEARS": "2021,2023-2024",
            "LAKEHOUSE_SOURCE": "landing",
            "LAKEHOUSE_DEFECT_RATES": "duplicate=0.01, missing_key=0",
            "LAKEHOUSE_MAX_REJECTED_SHARE": "0.05",
        }
    )
    assert settings.data_dir == Path("/srv/lake")
    assert settings.rows == 100_000_000
    assert settings.seed == 7
    assert settings.years == (2021, 2023, 2024)
    assert settings.partition_keys == ["2021", "2023", "2024"]
    assert settings.source == "landing"
    assert settings.defect_rates.duplicate == 0.01 and settings.defect_rates.missing_key == 0
    assert settings.max_rejected_share == 0.05


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LAKEHOUSE_ROWS", "lots", "LAKEHOUSE_ROWS='lots' is not a whole number"),
        ("LAKEHOUSE_ROWS", "5", "LAKEHOUSE_ROWS=5 is outside"),
        ("LAKEHOUSE_YEARS", "2025-2020", "years must be ascending"),
        ("LAKEHOUSE_YEARS", "twenty", "expected years like"),
        ("LAKEHOUSE_SOURCE", "s3", "expected 'generator' or 'landing'"),
        ("LAKEHOUSE_DEFECT_RATES", "typo=0.1", "unknown defect 'typo'"),
        ("LAKEHOUSE_MAX_REJECTED_SHARE", "1%", "LAKEHOUSE_MAX_REJECTED_SHARE='1%' is not a number"),
        ("LAKEHOUSE_MAX_REJECTED_SHARE", "1.5", "LAKEHOUSE_MAX_REJECTED_SHARE=1.5 is outside 0..1"),
        ("LAKEHOUSE_MAX_REJECTED_SHARE", "nan", "LAKEHOUSE_MAX_REJECTED_SHARE=nan is outside 0..1"),
    ],
)
def test_nonsense_gets_a_one_line_error(name, value, message):
    with pytest.raises(SettingsError, match=message) as error:
        Settings.from_env({name: value})
    assert "\n" not in str(error.value)
