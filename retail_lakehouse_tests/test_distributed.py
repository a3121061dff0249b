"""Distributed execution on loopback: two years at once, their steps on two Celery workers, data on S3.

The workers are separate processes that share only the Redis broker, the S3 store (SeaweedFS) and
Dagster's instance folder; the published gold must equal the local, in-process build row for row.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from retail_lakehouse import catalog
from retail_lakehouse.definitions import CELERY_BACKEND, CELERY_BROKER
from retail_lakehouse.resources import PARALLEL_YEARS_TAG
from retail_lakehouse.runs import RunOutcome, run_pipeline_in_parallel
from retail_lakehouse.schemas import GOLD_MODELS
from retail_lakehouse.settings import ObjectStoreSettings, Settings
from retail_lakehouse_tests import celery_cluster
from retail_lakehouse_tests.conftest import E2E_YEARS, MaterializedLakehouse, small_settings
from retail_lakehouse_tests.seaweedfs import ObjectStoreServer

pytestmark = pytest.mark.e2e
PROJECT = Path(__file__).resolve().parents[1]
WORKERS = ("worker1", "worker2")


@pytest.fixture(scope="module")
def distributed_build(
    object_store: ObjectStoreServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, list[RunOutcome], dg.DagsterInstance]]:
    """Redis, two workers and a parallel build of both years; every process is stopped afterwards."""
    folder = tmp_path_factory.mktemp("celery")
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    settings = small_settings(object_store.uri("celery"), executor="celery",
                              object_store=ObjectStoreSettings.from_env(object_store.env()))  # fmt: skip
    broker = celery_cluster.start_redis(folder / "redis")
    services = [broker]
    try:
        urls = {CELERY_BROKER: broker.extra["broker"], CELERY_BACKEND: broker.extra["backend"]}
        config = folder / "celery.yaml"
        config.write_text(
            f"execution:\n  config:\n    broker: {urls[CELERY_BROKER]}\n    backend: {urls[CELERY_BACKEND]}\n"
        )
        python_path = os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))
        env = os.environ | object_store.env() | settings.to_env() | urls | {
            "DAGSTER_HOME": str(home), "PYTHONPATH": python_path,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }  # fmt: skip
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            instance = dg.DagsterInstance.get()
            instance.upgrade()  # its databases created once, before several processes open them at once
            workers = [celery_cluster.start_worker(name, folder / name, env, config) for name in WORKERS]
            services += workers
            celery_cluster.wait_until_ready(workers)
            outcomes = run_pipeline_in_parallel(settings, instance=instance)
            yield settings, outcomes, instance
    finally:
        celery_cluster.stop_all(services)
        assert all(service.stopped for service in services)


def test_both_years_succeed_with_every_check(distributed_build, lakehouse_run: MaterializedLakehouse):
    _, outcomes, _ = distributed_build
    assert [o.label for o in outcomes] == ["dimensions", *map(str, E2E_YEARS)]
    assert all(o.success and not o.problems for o in outcomes), [o.problems for o in outcomes]
    defined_checks = len(lakehouse_run.defs.resolve_asset_graph().asset_check_keys)
    assert [o.checks_passed for o in outcomes[1:]] == [defined_checks] * len(E2E_YEARS)


def test_the_years_ran_at_once_and_their_steps_on_both_workers(distributed_build):
    _, _, instance = distributed_build
    runs = instance.get_runs(filters=dg.RunsFilter(tags={PARALLEL_YEARS_TAG: "true"}))
    assert sorted(r.tags["dagster/partition"] for r in runs) == list(map(str, E2E_YEARS))
    first, second = (instance.get_run_stats(r.run_id) for r in runs)
    assert first.start_time < second.end_time and second.start_time < first.end_time  # the runs overlapped
    workers = set()
    for run in runs:
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            worker = entry.dagster_event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                workers.add(worker.value.split("@")[0])
    assert workers == set(WORKERS)


def test_published_gold_equals_the_local_build_row_for_row(distributed_build, materialized_lakehouse: Path):
    settings, _, _ = distributed_build
    for table in GOLD_MODELS:
        distributed = catalog.scan("gold", table, data_dir=settings.data_dir).collect()
        local = catalog.scan("gold", table, data_dir=materialized_lakehouse).collect()
        assert distributed.height == local.height > 0, table
        assert distributed.sort(distributed.columns).equals(local.sort(local.columns)), table
