"""The `lakehouse` command: bad input gets one line that says what and where, and touches no data."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from retail_lakehouse.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("LAKEHOUSE_ROWS", "LAKEHOUSE_SOURCE", "LAKEHOUSE_DEFECT_RATES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LAKEHOUSE_YEARS", "2023-2024")
    return tmp_path / "data"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_unknown_partition_is_refused_before_anything_runs(environment, capsys):
    assert main(["run", "--years", "2031"]) == 2
    assert one_error_line(capsys) == (
        "error: unknown partition(s) [2031]: the configured years are 2023..2024 (LAKEHOUSE_YEARS)"
    )
    assert not environment.exists()  # no data touched


def test_missing_data_root_says_how_to_make_it(environment, capsys):
    assert main(["summary"]) == 2
    assert one_error_line(capsys).startswith(f"error: data root {environment} does not exist: run `lakehouse run`")


def test_bad_setting_is_one_line(environment, capsys, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ROWS", "a lot")
    assert main(["run"]) == 2
    assert one_error_line(capsys) == "error: LAKEHOUSE_ROWS='a lot' is not a whole number"


def test_missing_landing_files_are_named(environment, capsys, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SOURCE", "landing")
    assert main(["run"]) == 1  # the Dagster run fails; the failing step's reason is one line
    out = capsys.readouterr().out
    assert f"bronze__stores: {environment}/landing/stores.csv: landing file is missing (run `lakehouse generate" in out
    assert "Traceback" not in out


def test_workspace_yaml_loads_every_asset_for_dagster_dev(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, env={"DAGSTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location retail_lakehouse.definitions" in result.stdout + result.stderr


def test_dashboard_binds_to_localhost_without_debug_unless_asked(environment, monkeypatch):
    import dashboard.server

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(dashboard.server, "serve", lambda data_dir, **kw: calls.append({"dir": data_dir, **kw}))
    assert main(["dashboard"]) == 0
    assert main(["dashboard", "--host", "0.0.0.0", "--port", "9000", "--debug", "--workers", "3"]) == 0
    assert calls == [
        {"dir": environment, "host": "127.0.0.1", "port": 8050, "debug": False, "workers": None, "threads": 2},
        {"dir": environment, "host": "0.0.0.0", "port": 9000, "debug": True, "workers": 3, "threads": 2},
    ]


@pytest.mark.parametrize("port", ["99999", "0", "-1", "80a"])
def test_dashboard_port_out_of_range_is_one_line(environment, monkeypatch, capsys, port):
    import dashboard.server

    monkeypatch.setattr(dashboard.server, "serve", lambda *args, **kwargs: pytest.fail("served on a bad port"))
    assert main(["dashboard", f"--port={port}"]) == 2
    assert one_error_line(capsys) == (f"error: --port '{port}' is not a TCP port: give a whole number from 1 to 65535")


def test_dashboard_workers_must_be_positive(environment, monkeypatch, capsys):
    import dashboard.server

    monkeypatch.setattr(dashboard.server, "serve", lambda *args, **kwargs: pytest.fail("served with no workers"))
    assert main(["dashboard", "--workers", "0"]) == 2
    assert one_error_line(capsys) == "error: --workers '0' is not a positive whole number"


def test_dashboard_on_a_port_in_use_is_one_line(environment, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", "--port", str(port)]) == 2
    assert one_error_line(capsys) == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_parallel_years_need_a_distributed_executor_and_an_object_store(environment, capsys, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_EXECUTOR", raising=False)
    assert main(["run", "--parallel"]) == 2
    assert one_error_line(capsys).startswith(
        "error: running years in parallel needs LAKEHOUSE_EXECUTOR=celery (or k8s) and an s3:// LAKEHOUSE_DATA_DIR"
    )
    assert main(["run", "--parallel", "--rebuild"]) == 2
    assert one_error_line(capsys) == "error: --rebuild runs one year at a time: leave out --parallel"
    assert not environment.exists()  # no data touched
