"""The production server and the view cache: gunicorn workers each preload gold, and a republished gold is
never answered from a cache.

The hand-made gold of test_dashboard_data: the year 2024 sold 43.85 € (shown as "44 €"), March 2024 42.75 €.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dashboard import app as dashboard_app
from dashboard import data
from dashboard.app import render_page
from retail_lakehouse_tests.conftest import publish_staged, write_staged
from retail_lakehouse_tests.test_dashboard_data import write_hand_made_gold
from retail_lakehouse_tests.test_dashboard_inputs import callback_body, page_callback

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 90


def republish_yearly_revenue(data_dir: Path, year: int, revenue: str) -> None:
    """Write a new version of the year's yearly_sales and publish it, as the pipeline does."""
    frame = data.read_gold(data_dir, "yearly_sales", [year])
    changed = frame.with_columns(pl.lit(Decimal(revenue)).cast(frame.schema["revenue"]).alias("revenue"))
    write_staged(data_dir, "gold", "yearly_sales", year, changed)
    publish_staged(data_dir, "gold", "yearly_sales")


def revenue_kpi(outputs: dict[str, Any]) -> str:
    """The revenue key figure as the page shows it."""
    return re.search(r"'Revenue'.*?'([^']*€)'", str(outputs["kpis"]))[1]  # type: ignore[index]


def test_gold_generation_changes_only_when_gold_is_republished(tmp_path: Path) -> None:
    gold = write_hand_made_gold(tmp_path / "data")
    first = data.gold_generation(gold)
    assert data.gold_generation(gold) == first
    data.read_gold(gold, "yearly_sales")  # reading is not publishing
    assert data.gold_generation(gold) == first
    write_staged(gold, "gold", "yearly_sales", 2024, data.read_gold(gold, "yearly_sales", [2024]).head(0))
    assert data.gold_generation(gold) == first  # written but not published: readers see no change
    republish_yearly_revenue(gold, 2024, "99.99")
    assert data.gold_generation(gold) != first


def test_repeated_views_come_from_the_cache_until_gold_is_republished(tmp_path: Path) -> None:
    gold = write_hand_made_gold(tmp_path / "data")
    assert revenue_kpi(render_page(gold, "?year=2024")) == "44 €"  # 43.85
    hits = dashboard_app._cached_view.cache_info().hits
    assert revenue_kpi(render_page(gold, "?year=2024")) == "44 €"
    assert dashboard_app._cached_view.cache_info().hits == hits + 1
    republish_yearly_revenue(gold, 2024, "99.99")
    assert revenue_kpi(render_page(gold, "?year=2024")) == "100 €"
    # Another address, another cache entry: the filtered view is drawn from the filtered gold.
    assert revenue_kpi(render_page(gold, "?year=2024&state=NW")) == "6 €"  # 5.00 + 1.10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """`lakehouse dashboard` with two gunicorn workers on a free port: base URL, data dir and its log."""
    gold = write_hand_made_gold(tmp_path_factory.mktemp("served") / "data")
    log = gold.parent / "server.log"
    port = free_port()
    env = os.environ | {"LAKEHOUSE_DATA_DIR": str(gold), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "retail_lakehouse.cli", "dashboard", "--port", str(port), "--workers", "2"]
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while len(re.findall(r"\[(\d+)\] \[INFO\] dashboard.app: preloaded", log.read_text())) < 2:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the workers did not preload gold in time:\n" + log.read_text()
            time.sleep(0.2)
        yield base, gold, log
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_gunicorn_workers_each_preload_gold_and_answer(served: tuple[str, Path, Path]) -> None:
    base, _, log = served
    text = log.read_text()
    assert "Using worker: gthread" in text and f"Listening at: {base}" in text
    preloaded = re.findall(r"\[(\d+)\] \[INFO\] dashboard.app: preloaded (\d+) gold tables", text)
    assert len({pid for pid, _ in preloaded}) == 2  # one preload per worker process
    assert {count for _, count in preloaded} == {str(len(data.GOLD_TABLES))}
    with urllib.request.urlopen(base + "/?year=2024&month=3", timeout=30) as response:
        assert response.status == 200 and b"_dash-renderer" in response.read()


def test_a_republished_gold_is_served_by_every_worker(served: tuple[str, Path, Path]) -> None:
    base, gold, _ = served
    with urllib.request.urlopen(base + "/_dash-dependencies", timeout=30) as response:
        dependencies = json.loads(response.read())
    body = callback_body(dependencies, *page_callback("?year=2024"))

    def revenues(times: int) -> set[str]:
        shown = set()
        for _ in range(times):  # several requests, so both workers (and their caches) answer
            status, answer = post_json(base + "/_dash-update-component", body)
            assert status == 200
            shown.add(re.search(r"\d+ €", json.dumps(answer["response"]["kpis"], ensure_ascii=False))[0])
        return shown

    assert revenues(8) == {"44 €"}
    republish_yearly_revenue(gold, 2024, "99.99")
    assert revenues(8) == {"100 €"}


def test_the_load_benchmarks_analysts_click_through_every_level_without_errors(served: tuple[str, Path, Path]) -> None:
    """The load benchmark's simulated analysts, briefly and with little thinking: every request they send (the
    page, its callback graph, every level down and back, filters) is answered with a view (no timing asserted)."""
    from benchmarks.dashboard_load import simulate

    base, _, _ = served
    results, _ = simulate(base, [2023, 2024], analysts=3, duration=4, max_requests=300, think=(0.02, 0.1))
    assert [r for r in results if r.error is not None] == []
    kinds = {r.kind for r in results}
    assert {"page", "first view", "all years", "year", "month", "day", "back to month", "back to year"} <= kinds
