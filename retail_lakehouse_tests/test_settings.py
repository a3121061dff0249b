"""Settings: the LAKEHOUSE_* variables, their defaults, and one-line errors for nonsense."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from retail_lakehouse.settings import SCENARIO_PRESETS, Settings, SettingsError


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


def test_the_default_scenario_is_the_baseline_over_whole_years():
    scenario = Settings.from_env({"LAKEHOUSE_YEARS": "2021-2023"}).resolved_scenario
    assert scenario.name == "baseline"
    assert (scenario.first_day, scenario.last_day) == (dt.date(2021, 1, 1), dt.date(2023, 12, 31))
    assert scenario.seasonality and scenario.holiday_effects
    assert scenario.growth == SCENARIO_PRESETS["baseline"].growth
    assert scenario.basket_size == 4.0
    assert scenario.shocks == ()


def test_explicit_knobs_override_the_preset():
    settings = Settings.from_env(
        {
            "LAKEHOUSE_SCENARIO": "flat",
            "LAKEHOUSE_GROWTH": "3.5%",
            "LAKEHOUSE_HOLIDAY_EFFECTS": "off",
            "LAKEHOUSE_BASKET_SIZE": "5.5",
            "LAKEHOUSE_START_DATE": "2021-03-01",
            "LAKEHOUSE_END_DATE": "2024-06-30",
        }
    )
    scenario = settings.resolved_scenario
    assert scenario.name == "flat"
    assert scenario.growth == pytest.approx(0.035)  # explicit, although flat has none
    assert scenario.seasonality is False  # from the flat preset
    assert scenario.holiday_effects is False
    assert scenario.basket_size == 5.5
    assert (scenario.first_day, scenario.last_day) == (dt.date(2021, 3, 1), dt.date(2024, 6, 30))
    assert (
        Settings.from_env({"LAKEHOUSE_GROWTH": "0.05", "LAKEHOUSE_SEASONALITY": "off"}).resolved_scenario.growth == 0.05
    )


def test_covid_scenario_closes_non_food_stores_in_both_lockdowns():
    shocks = Settings.from_env({"LAKEHOUSE_SCENARIO": "covid-2020"}).resolved_scenario.shocks
    closures = [(s.first_day, s.last_day) for s in shocks if not s.food_stores and s.traffic_factor == 0]
    assert closures == [(dt.date(2020, 3, 18), dt.date(2020, 4, 19)), (dt.date(2020, 12, 16), dt.date(2021, 3, 7))]
    hoarding = [s for s in shocks if s.food_stores]
    assert len(hoarding) == 1 and hoarding[0].first_day.month == 3 and hoarding[0].traffic_factor > 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKEHOUSE_SCENARIO": "boom"}, "LAKEHOUSE_SCENARIO='boom': expected one of baseline, covid-2020, flat"),
        ({"LAKEHOUSE_START_DATE": "2023-06-01", "LAKEHOUSE_END_DATE": "2023-05-31"},
         "LAKEHOUSE_END_DATE=2023-05-31 is before LAKEHOUSE_START_DATE=2023-06-01"),
        ({"LAKEHOUSE_YEARS": "2021-2022", "LAKEHOUSE_START_DATE": "2020-12-01"},
         "LAKEHOUSE_START_DATE=2020-12-01 is outside LAKEHOUSE_YEARS 2021..2022"),
        ({"LAKEHOUSE_YEARS": "2021,2023", "LAKEHOUSE_START_DATE": "2022-02-01", "LAKEHOUSE_END_DATE": "2022-11-30"},
         "holds no day of LAKEHOUSE_YEARS"),
        ({"LAKEHOUSE_END_DATE": "31.12.2023"}, "LAKEHOUSE_END_DATE='31.12.2023' is not a date like 2021-03-01"),
        ({"LAKEHOUSE_SEASONALITY": "maybe"}, "LAKEHOUSE_SEASONALITY='maybe': expected on or off"),
        ({"LAKEHOUSE_GROWTH": "fast"}, "LAKEHOUSE_GROWTH='fast' is not a number"),
        ({"LAKEHOUSE_GROWTH": "300%"}, "LAKEHOUSE_GROWTH=3.0 is outside -0.5..1.0"),
        ({"LAKEHOUSE_BASKET_SIZE": "0.5"}, "LAKEHOUSE_BASKET_SIZE=0.5 is outside 1..20"),
        ({"LAKEHOUSE_SCENARIO": "covid-2020", "LAKEHOUSE_YEARS": "2023-2024"},
         "LAKEHOUSE_SCENARIO=covid-2020 is about 2020-03-09..2021-03-07"),
    ],
)  # fmt: skip
def test_conflicting_scenario_settings_get_a_one_line_error(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)) as error:
        Settings.from_env(env)
    assert "\n" not in str(error.value)


def test_conflicts_are_caught_when_settings_are_made_directly_too():
    with pytest.raises(SettingsError, match="is before"):
        Settings(start_date=dt.date(2024, 2, 1), end_date=dt.date(2024, 1, 1))


def test_an_s3_data_root_is_kept_as_a_uri_and_other_schemes_are_refused():
    settings = Settings.from_env({"LAKEHOUSE_DATA_DIR": "s3://sales-lake/retail/"})
    assert settings.data_dir == "s3://sales-lake/retail"  # a Path would fold the `//`
    with pytest.raises(SettingsError, match="only local folders and s3://bucket/prefix") as error:
        Settings.from_env({"LAKEHOUSE_DATA_DIR": "gs://bucket/lake"})
    assert "\n" not in str(error.value)
    with pytest.raises(SettingsError, match="expected s3://bucket"):
        Settings.from_env({"LAKEHOUSE_DATA_DIR": "s3:///lake"})


def test_lakehouse_s3_variables_win_over_the_standard_aws_ones():
    store = Settings.from_env(
        {
            "AWS_ENDPOINT_URL": "https://s3.eu-central-1.amazonaws.com",
            "AWS_ACCESS_KEY_ID": "AKIA-AWS",
            "AWS_SECRET_ACCESS_KEY": "aws-secret",
            "AWS_REGION": "eu-central-1",
            "LAKEHOUSE_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "LAKEHOUSE_S3_SECRET_ACCESS_KEY": "lakehouse-secret",
            "LAKEHOUSE_S3_ALLOW_HTTP": "true",
        }
    ).object_store
    assert store.endpoint_url == "http://127.0.0.1:9000" and store.secret_access_key == "lakehouse-secret"
    assert store.access_key_id == "AKIA-AWS" and store.region == "eu-central-1"  # not overridden: AWS_ ones
    assert store.allow_http is True
    with pytest.raises(SettingsError, match="AWS_ALLOW_HTTP='maybe': expected true or false"):
        Settings.from_env({"AWS_ALLOW_HTTP": "maybe"})


def test_the_secret_never_shows_in_settings_or_the_dataset_identity():
    settings = Settings.from_env({"LAKEHOUSE_S3_SECRET_ACCESS_KEY": "do-not-print-me", "AWS_ACCESS_KEY_ID": "AKIA1"})
    assert "do-not-print-me" not in repr(settings) and "do-not-print-me" not in str(settings.object_store)
    assert "secret_access_key='***'" in repr(settings.object_store) and "AKIA1" in repr(settings.object_store)
    assert "object_store" not in settings.identity()  # where the data lives is not what it is
    assert settings.object_store.mask("signature for do-not-print-me failed") == "signature for *** failed"


def test_settings_give_back_the_variables_they_were_read_from():
    env = {
        "LAKEHOUSE_DATA_DIR": "s3://lake/retail", "LAKEHOUSE_ROWS": "1000000", "LAKEHOUSE_YEARS": "2021,2023-2024",
        "LAKEHOUSE_DEFECT_RATES": "duplicate=0.01", "LAKEHOUSE_EXECUTOR": "celery", "LAKEHOUSE_GOLD_ZSTD_LEVEL": "5",
    }  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.executor == "celery"
    assert Settings.from_env(settings.to_env()) == settings
    assert "SECRET" not in " ".join(settings.to_env())  # credentials travel in their own variables only
    with pytest.raises(SettingsError, match="LAKEHOUSE_EXECUTOR='spark': expected one of in_process, celery, k8s"):
        Settings.from_env({"LAKEHOUSE_EXECUTOR": "spark"})
