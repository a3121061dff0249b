"""The asset graph as a data engineer sees it in the UI: keys, partitions, checks, jobs."""

from __future__ import annotations

import dagster as dg
import pytest

from retail_lakehouse import audits
from retail_lakehouse.definitions import DIMENSIONS_JOB, YEARLY_JOB, build_definitions
from retail_lakehouse.partitions import YEAR_PARTITIONS
from retail_lakehouse.schemas import GOLD_MODELS
from retail_lakehouse.settings import Settings

DIMENSIONS = {"stores", "products", "calendar"}


def asset_keys(defs: dg.Definitions) -> dict[str, dg.AssetsDefinition]:
    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}


def test_every_layer_has_its_assets_under_the_contract_keys(tmp_path):
    keys = set(asset_keys(build_definitions(Settings(data_dir=tmp_path))))
    expected = (
        {f"bronze/{t}" for t in DIMENSIONS | {"transactions", "defect_manifest", "rejected_lines"}}
        | {f"silver/{t}" for t in DIMENSIONS | {"transactions", "transactions_quarantine"}}
        | {f"gold/{t}" for t in GOLD_MODELS}
        | {"catalog/dimension_release", "catalog/year_release"}
    )
    assert keys == expected


def test_fact_tables_are_partitioned_by_year_and_dimensions_are_not(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path, years=(2021, 2022, 2023)))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(YEAR_PARTITIONS, ["2021", "2022", "2023"])
        for key, node in asset_keys(defs).items():
            if key.split("/")[1] in DIMENSIONS or key == "catalog/dimension_release":
                assert node.partitions_def is None, key
            else:
                keys = node.partitions_def.get_partition_keys(dynamic_partitions_store=instance)
                assert keys == ["2021", "2022", "2023"], key


def test_silver_gold_and_the_release_follow_bronze_by_automation_and_gold_has_a_freshness_policy(tmp_path):
    nodes = asset_keys(build_definitions(Settings(data_dir=tmp_path)))
    automated = {key for key, node in nodes.items() if node.automation_condition is not None}
    assert automated == {key for key in nodes if key.startswith(("silver/transactions", "gold/"))} | {
        "catalog/year_release"
    }
    assert {key for key, node in nodes.items() if node.freshness_policy is not None} == {
        key for key in nodes if key.startswith("gold/")
    }


def test_checks_cover_conservation_contract_manifest_calendar_and_gold(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path))
    graph = defs.resolve_asset_graph()
    names = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("silver/transactions", audits.ROW_CONSERVATION) in names
    assert ("silver/transactions", audits.MATCHES_CONTRACT) in names
    assert ("silver/transactions", audits.NO_SALES_ON_CLOSED_DAYS) in names
    assert ("silver/transactions_quarantine", audits.QUARANTINE_MATCHES_MANIFEST) in names
    reconciled = {t.removeprefix("gold/") for t, name in names if name == audits.RECONCILES_WITH_SILVER}
    # Every table that holds a whole year's measures; the top-N tables (product_weekly_sales among them since
    # it keeps each week's best) hold a subset by design.
    assert reconciled == {
        "yearly_sales", "monthly_sales", "weekly_sales", "daily_sales", "sales_by_region", "sales_by_category",
        "store_daily_sales", "product_monthly_sales", "product_yearly_sales", "region_category_daily_sales",
        "hourly_weekday_sales", "discount_depth_sales",
    }  # fmt: skip
    assert all(graph.get_check_spec(key).blocking for key in graph.asset_check_keys)


def test_every_yearly_table_is_published_by_the_year_release_and_audited(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path))
    graph = defs.resolve_asset_graph()
    release = dg.AssetKey(["catalog", "year_release"])
    yearly = {k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None and k != release}
    assert graph.get(release).parent_keys == yearly
    audited = {k.asset_key for k in graph.asset_check_keys}
    assert yearly <= audited  # a publish needs every yearly table's staged version to have passed its checks


def test_jobs_split_dimensions_from_yearly_partitions(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path))
    assert defs.resolve_job_def(YEARLY_JOB).partitions_def is not None
    assert defs.resolve_job_def(DIMENSIONS_JOB).partitions_def is None


def test_every_asset_has_a_description_for_the_ui(tmp_path):
    for key, node in asset_keys(build_definitions(Settings(data_dir=tmp_path))).items():
        assert node.description and node.description.strip(), key


def test_the_executor_is_chosen_by_the_settings(tmp_path, monkeypatch):
    from dagster_celery import celery_executor

    from retail_lakehouse.definitions import CELERY_BACKEND, CELERY_BROKER, executor_for
    from retail_lakehouse.settings import SettingsError

    assert executor_for(Settings(data_dir=tmp_path)) is dg.in_process_executor
    monkeypatch.delenv(CELERY_BROKER, raising=False)
    monkeypatch.delenv(CELERY_BACKEND, raising=False)
    with pytest.raises(SettingsError, match="LAKEHOUSE_EXECUTOR=celery needs LAKEHOUSE_CELERY_BROKER and"):
        executor_for(Settings(data_dir=tmp_path, executor="celery"))
    monkeypatch.setenv(CELERY_BROKER, "redis://127.0.0.1:6379/0")
    monkeypatch.setenv(CELERY_BACKEND, "redis://127.0.0.1:6379/1")
    assert executor_for(Settings(data_dir=tmp_path, executor="celery")).name == celery_executor.name
