"""Write-audit-publish: readers see published data only, a year is published whole or not at all.

Unit tests drive the catalog on hand-made tables; the end-to-end tests run `lakehouse` in real processes,
kill them with SIGKILL at many moments, race two of them, and feed a year of empty landing files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from retail_lakehouse import catalog, writer
from retail_lakehouse.catalog import Catalog, PublishError, publish, rollback
from retail_lakehouse.definitions import build_definitions
from retail_lakehouse.errors import LakehouseError, StorageError
from retail_lakehouse.runs import execute
from retail_lakehouse.schemas import DIMENSION_MODELS, YEARLY_MODELS
from retail_lakehouse.storage import Lakehouse
from retail_lakehouse_tests.conftest import E2E_ROWS, MaterializedLakehouse, small_settings, write_staged

KEY = "silver/lines"
REQUIRED = {KEY: ["counts_add_up"]}


def lines(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"id": range(start, start + n)})


def audit(root: Path, year: int, passed: bool = True) -> None:
    lakehouse = Lakehouse(root)
    head = lakehouse.head_version("silver", "lines")
    Catalog(lakehouse).record_audit(KEY, head, str(year), "counts_add_up", passed, run_id="test")


def publish_year(root: Path, year: int):
    return publish(Catalog(Lakehouse(root)), [KEY], str(year), REQUIRED, run_id="test", retention_hours=168)


def ids(root: Path, **kwargs) -> list[int]:
    return sorted(catalog.scan("silver", "lines", data_dir=root, **kwargs).collect()["id"])


def test_readers_see_nothing_until_a_year_is_published(tmp_path):
    write_staged(tmp_path, "silver", "lines", 2023, lines(0, 3))
    with pytest.raises(StorageError, match="silver/lines has no published data"):
        catalog.scan("silver", "lines", data_dir=tmp_path)
    audit(tmp_path, 2023)
    snapshot = publish_year(tmp_path, 2023)
    assert snapshot.version == 1 and snapshot.tables[KEY].rows == {"2023": 3}
    assert ids(tmp_path) == [0, 1, 2]


def test_a_version_without_a_passed_audit_is_not_published(tmp_path):
    write_staged(tmp_path, "silver", "lines", 2023, lines(0, 3))
    audit(tmp_path, 2023)
    publish_year(tmp_path, 2023)
    write_staged(tmp_path, "silver", "lines", 2023, lines(10, 5))
    with pytest.raises(PublishError, match=r"nothing published for 2023: silver/lines version 1 has not passed"):
        publish_year(tmp_path, 2023)
    audit(tmp_path, 2023, passed=False)
    with pytest.raises(PublishError, match="has not passed counts_add_up"):
        publish_year(tmp_path, 2023)
    assert ids(tmp_path) == [0, 1, 2]  # readers still on the published state
    audit(tmp_path, 2023, passed=True)
    publish_year(tmp_path, 2023)
    assert ids(tmp_path) == [10, 11, 12, 13, 14]


def test_a_publish_of_one_year_never_carries_another_years_staged_data(tmp_path):
    write_staged(tmp_path, "silver", "lines", 2023, lines(0, 3))
    audit(tmp_path, 2023)
    publish_year(tmp_path, 2023)
    write_staged(tmp_path, "silver", "lines", 2023, lines(50, 1))  # a failed run's leftover, never audited
    write_staged(tmp_path, "silver", "lines", 2024, lines(100, 2))  # undoes the leftover before writing
    audit(tmp_path, 2024)
    publish_year(tmp_path, 2024)
    assert ids(tmp_path, years=[2023]) == [0, 1, 2]
    assert ids(tmp_path, years=[2024]) == [100, 101]


def test_earlier_versions_stay_readable_and_rollback_publishes_them_again(tmp_path):
    for year, (start, n) in [(2023, (0, 3)), (2024, (100, 2)), (2023, (20, 4))]:
        write_staged(tmp_path, "silver", "lines", year, lines(start, n))
        audit(tmp_path, year)
        publish_year(tmp_path, year)
    assert ids(tmp_path) == [20, 21, 22, 23, 100, 101]
    assert ids(tmp_path, version=1) == [0, 1, 2]
    assert ids(tmp_path, version=2) == [0, 1, 2, 100, 101]
    restored = rollback(Catalog(Lakehouse(tmp_path)), 2, run_id="test")
    assert restored.version == 4 and restored.action == "rollback to 2"
    assert ids(tmp_path) == [0, 1, 2, 100, 101]
    with pytest.raises(LakehouseError, match=r"catalog version 9 does not exist \(published versions: 1..4\)"):
        catalog.scan("silver", "lines", data_dir=tmp_path, version=9)
    # The next write starts from what is published (version 2's tables), not from the newest Delta version.
    write_staged(tmp_path, "silver", "lines", 2024, lines(300, 1))
    audit(tmp_path, 2024)
    publish_year(tmp_path, 2024)
    assert ids(tmp_path) == [0, 1, 2, 300]


def test_vacuum_removes_files_no_kept_version_needs(tmp_path):
    for start in (0, 10, 20):
        write_staged(tmp_path, "silver", "lines", 2023, lines(start, 2))
        audit(tmp_path, 2023)
        publish(Catalog(Lakehouse(tmp_path)), [KEY], "2023", REQUIRED, run_id="test", retention_hours=0)
    files = list((tmp_path / "silver" / "lines").glob("year=2023/*.parquet"))
    # Retention 0: only versions published by a snapshot younger than 0 hours (none) and the current one stay.
    assert len(files) == 1
    assert ids(tmp_path) == [20, 21]


def test_the_dataset_identity_is_recorded_once_and_enforced(tmp_path):
    lakehouse = Lakehouse(tmp_path)
    writer.ensure_identity(lakehouse, {"rows": 100, "seed": 1})
    writer.ensure_identity(lakehouse, {"rows": 100, "seed": 1})
    with pytest.raises(writer.DatasetMismatchError) as refused:
        writer.ensure_identity(lakehouse, {"rows": 200, "seed": 1})
    message = str(refused.value)
    assert "rows 200 (recorded 100)" in message and "seed" not in message and "--rebuild" in message
    writer.ensure_identity(lakehouse, {"rows": 200, "seed": 1}, rebuild=True)
    assert writer.recorded_identity(lakehouse) == {"rows": 200, "seed": 1}


# --- end to end, through `lakehouse` in real processes --------------------------------------------------


def cli_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    settings = small_settings(data_dir)
    rates = ",".join(f"{k}={v}" for k, v in vars(settings.defect_rates).items())
    env = os.environ | {
        "LAKEHOUSE_DATA_DIR": str(data_dir),
        "LAKEHOUSE_ROWS": str(E2E_ROWS),
        "LAKEHOUSE_YEARS": "2023-2024",
        "LAKEHOUSE_SEED": "42",
        "LAKEHOUSE_DEFECT_RATES": rates,
        "DAGSTER_HOME": "",
    }
    env.pop("DAGSTER_HOME")  # runs use an ephemeral instance: nothing lands in the user's Dagster home
    return env | overrides


def lakehouse_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "retail_lakehouse.cli", *args]


def year_state(root: Path, year: int) -> dict[str, tuple[int, int]]:
    """(rows, content hash) of every published yearly table's year, and of every dimension."""
    state = {}
    for layer, table in [*YEARLY_MODELS, *DIMENSION_MODELS]:
        years = [year] if (layer, table) in YEARLY_MODELS else None
        frame = catalog.scan(layer, table, years=years, data_dir=root).collect()
        state[f"{layer}/{table}"] = (frame.height, int(frame.hash_rows(seed=1).sum()) if frame.height else 0)
    return state


def assert_whole(state: dict[str, tuple[int, int]], old: dict, new: dict) -> None:
    """A year's tables all old or all new, and the dimensions all old or all new: never a mix."""
    yearly = [f"{layer}/{table}" for layer, table in YEARLY_MODELS]
    dims = [f"{layer}/{table}" for layer, table in DIMENSION_MODELS]
    for group in (yearly, dims):
        picked = {key: state[key] for key in group}
        assert picked in ({k: old[k] for k in group}, {k: new[k] for k in group}), picked


def commits(root: Path) -> int:
    """Delta commits, audit verdicts and catalog snapshots so far: the moments a run changes the data root."""
    return sum(1 for _ in root.glob("*/*/_delta_log/*.json")) + sum(1 for _ in root.glob("_catalog/**/*.json"))


@pytest.mark.e2e
def test_kill_9_at_any_moment_leaves_readers_on_a_whole_published_state(lakehouse_run: MaterializedLakehouse, tmp_path):
    """SIGKILL a rebuild of 2024 (another seed) after its n-th commit, for n across bronze, silver, gold, publish."""
    assert all(o.success for o in lakehouse_run.outcomes)
    lake, reference = tmp_path / "lake", tmp_path / "reference"
    shutil.copytree(lakehouse_run.data_dir, lake)
    shutil.copytree(lakehouse_run.data_dir, reference)
    rebuild = lakehouse_command("run", "--rebuild", "--years", "2024")
    env = cli_env(lake, LAKEHOUSE_SEED="7")
    finished = subprocess.run(rebuild, env=cli_env(reference, LAKEHOUSE_SEED="7"), capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    old, new = year_state(lake, 2024), year_state(reference, 2024)
    assert old != new
    total = commits(reference) - commits(lakehouse_run.data_dir)
    assert total > 40  # dimensions, bronze, silver, gold, their audits and two snapshots
    kill_points = sorted({1, 4, 7, 10, 15, 22, 30, 38, total - 3, total - 1})
    killed_after = []
    dims = {f"{layer}/{table}" for layer, table in DIMENSION_MODELS}
    for n in kill_points:
        start = commits(lake)
        process = subprocess.Popen(rebuild, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while commits(lake) < start + n and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_after.append(commits(lake) - start)
        assert_whole(year_state(lake, 2024), old, new)
        untouched = {k: v for k, v in year_state(lake, 2023).items() if k not in dims}
        assert untouched == {k: v for k, v in year_state(lakehouse_run.data_dir, 2023).items() if k not in dims}
    assert max(killed_after) >= total - 3 and min(killed_after) <= 3, killed_after
    # The next run recovers by itself and publishes the complete new state.
    final = subprocess.run(rebuild, env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert year_state(lake, 2024) == new


@pytest.mark.e2e
def test_a_second_writer_stops_with_one_line_while_the_first_finishes(lakehouse_run: MaterializedLakehouse, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(lakehouse_run.data_dir, lake)
    first = subprocess.Popen(lakehouse_command("run", "--years", "2024"), env=cli_env(lake),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lock = lake / "_catalog" / writer.LOCK_FILE
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(lakehouse_command("run", "--years", "2023"), env=cli_env(lake),
                            capture_output=True, text=True)  # fmt: skip
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1 and "is being written by `lakehouse run`" in second.stderr, second.stderr
    assert [s.action for s in Catalog(Lakehouse(lake)).history()][-2:] == ["publish dimensions", "publish 2024"]


@pytest.mark.e2e
def test_other_settings_on_the_same_data_root_stop_every_entry_point(lakehouse_run: MaterializedLakehouse, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(lakehouse_run.data_dir, lake)
    before = Catalog(Lakehouse(lake)).current()
    refused = subprocess.run(lakehouse_command("run"), env=cli_env(lake, LAKEHOUSE_SEED="43"),
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "seed 43 (recorded 42)" in refused.stderr, refused.stderr
    # The same through Dagster (as the UI or `dagster asset materialize` would run it): the first write stops.
    other = build_definitions(small_settings(lake, rows=E2E_ROWS * 2))
    outcome = execute(other, "yearly", dg.DagsterInstance.ephemeral(), "2024")
    assert not outcome.success
    assert any("rows 120000 (recorded 60000)" in p for p in outcome.problems), outcome.problems
    assert Catalog(Lakehouse(lake)).current() == before


@pytest.mark.e2e
def test_a_year_of_header_only_landing_files_publishes_nothing(tmp_path):
    lake = tmp_path / "lake"
    env = cli_env(lake, LAKEHOUSE_SOURCE="landing")
    for command in (["generate", "--to-landing"], ["run"]):
        done = subprocess.run(lakehouse_command(*command), env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    before = Catalog(Lakehouse(lake)).current()
    for path in (lake / "landing" / "transactions" / "2023").glob("*.csv"):
        path.write_text(path.read_text().splitlines()[0] + "\n")
    failed = subprocess.run(lakehouse_command("run", "--years", "2023"), env=env, capture_output=True, text=True)
    assert failed.returncode == 1
    assert "has_rows failed: 0 rows" in failed.stdout, failed.stdout
    after = Catalog(Lakehouse(lake)).current()
    assert {k: v for k, v in after.tables.items() if k.startswith(("bronze/t", "silver/t", "gold/"))} == {
        k: v for k, v in before.tables.items() if k.startswith(("bronze/t", "silver/t", "gold/"))
    }
    assert catalog.scan("bronze", "transactions", years=[2023], data_dir=lake).collect().height > 20_000


@pytest.mark.e2e
def test_a_subset_run_stages_and_a_later_release_publishes_what_passed(lakehouse_run: MaterializedLakehouse, tmp_path):
    """As from the UI: materialize silver/transactions alone, then (another run, or automation) the release."""
    lake = tmp_path / "lake"
    shutil.copytree(lakehouse_run.data_dir, lake)
    settings = small_settings(lake)
    silver = dg.AssetKey(["silver", "transactions"])
    jobs = [
        dg.define_asset_job("silver_only", selection=dg.AssetSelection.assets(silver)),
        dg.define_asset_job("release_only", selection=dg.AssetSelection.assets(["catalog", "year_release"])),
    ]
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=jobs))
    before = Catalog(Lakehouse(lake)).current()

    staged = execute(defs, "silver_only", dg.DagsterInstance.ephemeral(), "2024")
    assert staged.success and staged.checks_passed >= 4, staged.problems  # silver's own checks ran and passed
    head = Lakehouse(lake).head_version("silver", "transactions")
    assert head > before.tables["silver/transactions"].delta_version
    assert Catalog(Lakehouse(lake)).current() == before  # staged, not visible

    released = execute(defs, "release_only", dg.DagsterInstance.ephemeral(), "2024")
    assert released.success, released.problems
    after = Catalog(Lakehouse(lake)).current()
    assert after.version == before.version + 1
    assert {k for k in after.tables if after.tables[k] != before.tables[k]} == {"silver/transactions"}
    assert after.tables["silver/transactions"].delta_version == head


@pytest.mark.e2e
def test_unreadable_landing_lines_are_kept_with_their_place_and_a_changed_format_is_refused(tmp_path):
    lake = tmp_path / "lake"
    env = cli_env(lake, LAKEHOUSE_SOURCE="landing", LAKEHOUSE_YEARS="2023")
    done = subprocess.run(lakehouse_command("generate", "--to-landing"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    march = lake / "landing" / "transactions" / "2023" / "pos_2023-03.csv"
    lines = march.read_text().splitlines(keepends=True)
    lines[5] = lines[5].rstrip("\n").rsplit(",", 1)[0] + ",bitcoin\n"  # file line 6: unknown payment method
    lines[9] = lines[9].replace(",", ",\x00", 1)  # file line 10: a NUL byte
    march.write_text("".join(lines))

    run = subprocess.run(lakehouse_command("run"), env=env, capture_output=True, text=True)
    lakehouse = Lakehouse(lake)
    rejected = lakehouse.scan("bronze", "rejected_lines", lakehouse.head_version("bronze", "rejected_lines"))
    rows = rejected.select("file", "line_number", "error").collect().rows()
    assert [(f, n) for f, n, _ in rows] == [
        ("transactions/2023/pos_2023-03.csv", 6),
        ("transactions/2023/pos_2023-03.csv", 10),
    ]
    assert "payment_method" in rows[0][2] and "NUL" in rows[1][2], rows
    assert "landing_lines_accounted" not in run.stdout  # landing = bronze + rejected: that check passed
    # The two lines' baskets now disagree with their receipts' totals, so the quarantine no longer matches the
    # generator's manifest: the run says so, and nothing of 2023 is published.
    assert "quarantine_matches_manifest failed" in run.stdout, run.stdout
    assert Catalog(lakehouse).current().table("bronze", "transactions") is None

    lines[20:120] = [line.replace(",", ";") for line in lines[20:120]]  # a changed format: 2 % of the lines
    march.write_text("".join(lines))
    refused = subprocess.run(lakehouse_command("run"), env=env, capture_output=True, text=True)
    assert refused.returncode == 1
    problem = next(line.strip() for line in refused.stdout.splitlines() if "refused as a changed format" in line)
    assert "pos_2023-03.csv" in problem and "line 6" in problem and "Traceback" not in refused.stdout, problem


def test_years_staged_side_by_side_are_each_published_on_their_own(tmp_path):
    """Runs of 2023 and 2024 of one writer stage their years in the same table at once (no reset)."""
    lakehouse = Lakehouse(tmp_path)

    def stage(year: int, frame: pl.DataFrame) -> None:
        lakehouse.write("silver", "lines", year, frame, 3, run_id=f"run {year}", published_version=None, reset=False)

    stage(2023, lines(0, 3))
    stage(2024, lines(100, 2))
    audit(tmp_path, 2024)
    publish_year(tmp_path, 2024)
    assert ids(tmp_path) == [100, 101]  # 2023 is staged in the same version, and not published
    audit(tmp_path, 2023)
    stage(2024, lines(200, 1))  # the 2024 run stages again before 2023 is published
    snapshot = publish_year(tmp_path, 2023)  # 2023's verdict holds: its files are the same in the newer version
    assert ids(tmp_path, years=[2023]) == [0, 1, 2]
    assert ids(tmp_path, years=[2024]) == [100, 101]  # not the newer, unaudited 2024
    assert snapshot.tables[KEY].rows == {"2023": 3, "2024": 2}
    assert snapshot.tables[KEY].years == {"2024": 1}  # 2024 is read from the version it was published at
    assert ids(tmp_path, version=1) == [100, 101]
