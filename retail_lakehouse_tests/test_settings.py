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


def test_variables_override_defaults():
    settings = Settings.from_env(
        {
            "LAKEHOUSE_DATA_DIR": "/srv/lake",
            "LAKEHOUSE_ROWS": "100_000_000",
            "LAKEHOUSE_SEED": "7",
            "LAKEHOUSE_YEARS": "2021,2023-2024",
            "LAKEHOUSE_SOURCE": "landing",
            "LAKEHOUSE_DEFECT_RATES": "duplicate=0.01, missing_key=0",
        }
    )
    assert settings.data_dir == Path("/srv/lake")
    assert settings.rows == 100_000_000
    assert settings.seed == 7
    assert settings.years == (2021, 2023, 2024)
    assert settings.partition_keys == ["2021", "2023", "2024"]
    assert settings.source == "landing"
    assert settings.defect_rates.duplicate == 0.01 and settings.defect_rates.missing_key == 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LAKEHOUSE_ROWS", "lots", "LAKEHOUSE_ROWS='lots' is not a whole number"),
        ("LAKEHOUSE_ROWS", "5", "LAKEHOUSE_ROWS=5 is outside"),
        ("LAKEHOUSE_YEARS", "2025-2020", "years must be ascending"),
        ("LAKEHOUSE_YEARS", "twenty", "expected years like"),
        ("LAKEHOUSE_SOURCE", "s3", "expected 'generator' or 'landing'"),
        ("LAKEHOUSE_DEFECT_RATES", "typo=0.1", "unknown defect 'typo'"),
    ],
)
def test_nonsense_gets_a_one_line_error(name, value, message):
    with pytest.raises(SettingsError, match=message) as error:
        Settings.from_env({name: value})
    assert "\n" not in str(error.value)


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
