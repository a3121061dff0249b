"""The production server and the view cache: gunicorn workers each preload gold, and a republished gold is
never answered from a cache.

The hand-made gold of test_dashboard_data: the year 2024 sold 43.85 € (shown as "44 €"), March 2024 42.75 €.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dashboard import app as dashboard_app
from dashboard import data
from dashboard.app import create_app, render_page, views_one_click_further, warm_answers
from dashboard.responses import ANSWER_START, SharedResponses, callback_body, with_address
from dashboard.views import View
from retail_lakehouse_tests.conftest import publish_staged, write_staged
from retail_lakehouse_tests.test_dashboard_data import write_hand_made_gold
from retail_lakehouse_tests.test_dashboard_inputs import page_callback

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


def post_page(client: Any, search: str, **clicks: Any) -> bytes:
    """The answer of a test client's app to the page's main callback, as the browser posts it."""
    dependencies = json.loads(client.get("/_dash-dependencies").data)
    response = client.post(
        "/_dash-update-component", json=callback_body(dependencies, *page_callback(search, **clicks))
    )
    assert response.status_code == 200
    return response.data


def wait_for_start_up() -> None:
    """Until the apps' start-up threads (preload and warm-up) are over."""
    for thread in threading.enumerate():
        if thread.name == "gold-preload":
            thread.join(timeout=60)


def started(gold: Path, folder: Path) -> Any:
    """An app answering through the shared folder, once its start-up is over."""
    app = create_app(gold, SharedResponses(folder))
    wait_for_start_up()
    return app


def shared_files(folder: Path) -> dict[str, list[str]]:
    """The answers kept in a shared folder, by gold generation."""
    return {g.name: sorted(f.name for f in g.glob("*.json")) for g in folder.iterdir() if g.is_dir()}


def test_shared_responses_keep_answers_per_generation_and_claim_each_key_once(tmp_path: Path) -> None:
    shared = SharedResponses(tmp_path, max_bytes=1000)
    assert shared.get("1", "a view") is None
    shared.put("1", "a view", b"{}")
    assert shared.get("1", "a view") == b"{}"
    assert shared.get("2", "a view") is None  # another generation of gold: another answer
    assert shared.claim("1", "another view") and not shared.claim("1", "another view")
    assert not shared.claim("1", "a view")  # answered already
    shared.put("2", "a view", b"[]")
    assert shared.get("1", "a view") is None and shared_files(tmp_path) == {"2": [shared_files(tmp_path)["2"][0]]}
    for index in range(10):
        shared.put("2", f"view {index}", b"x" * 200)
    shared.prune("2")
    kept = [shared.get("2", f"view {index}") for index in range(10)]
    assert kept[-1] == b"x" * 200 and sum(k is not None for k in kept) * 200 <= 750  # the newest, within 3/4


def test_an_answer_gets_another_address_only_where_dash_wrote_it() -> None:
    by_address = ANSWER_START + b'"state-filter":{"value":[]}}}'
    by_click = with_address(by_address, None, "?year=2024&month=3")
    assert by_click == ANSWER_START + b'"url":{"search":"?year=2024&month=3"},"state-filter":{"value":[]}}}'
    assert with_address(by_click, "?year=2024&month=3", None) == by_address
    assert with_address(by_click, "?year=2023", None) is None  # not the address it wrote
    assert with_address(by_click, None, "?year=2023") is None  # it does write one
    assert with_address(b'{"response":{}}', None, "?view=all") is None


def test_workers_answer_from_each_others_answers_exactly_as_drawn(tmp_path: Path) -> None:
    gold = write_hand_made_gold(tmp_path / "data")
    folder = tmp_path / "shared"
    folder.mkdir()
    first, second = (started(gold, folder).server.test_client() for _ in range(2))  # two workers, one folder
    warmed = len(shared_files(folder)[data.gold_generation(gold)])
    day = {"trend-graph": {"points": [{"customdata": "2024-03-12"}]}}  # a day: not among the warmed views
    drawn = post_page(first, "?year=2024&month=3", **day)
    # The click's answer, and the answer to the day's address derived from it (they differ in the address only).
    assert len(shared_files(folder)[data.gold_generation(gold)]) == warmed + 2
    dashboard_app.clear_view_cache()
    misses = dashboard_app._cached_view.cache_info().misses
    shared = post_page(second, "?year=2024&month=3", **day)
    by_address = post_page(second, "?year=2024&month=3&day=12")
    assert shared == drawn and dashboard_app._cached_view.cache_info().misses == misses  # not drawn again
    assert json.loads(shared)["response"]["url"] == {"search": "?year=2024&month=3&day=12"}
    assert "url" not in json.loads(by_address)["response"]
    dashboard_app.clear_view_cache()
    plain = create_app(gold).server.test_client()  # no shared folder: Dash draws and serialises each answer
    assert post_page(plain, "?year=2024&month=3", **day) == drawn
    assert post_page(plain, "?year=2024&month=3&day=12") == by_address


def test_a_republished_gold_is_never_answered_from_the_shared_answers(tmp_path: Path) -> None:
    gold = write_hand_made_gold(tmp_path / "data")
    folder = tmp_path / "shared"
    folder.mkdir()
    client = started(gold, folder).server.test_client()

    def revenue() -> str:
        answer = json.loads(post_page(client, "?year=2024"))["response"]["kpis"]
        return re.search(r"\d+ €", json.dumps(answer, ensure_ascii=False))[0]  # type: ignore[index]

    before = data.gold_generation(gold)
    assert revenue() == "44 €" and revenue() == "44 €"
    republish_yearly_revenue(gold, 2024, "99.99")
    assert revenue() == "100 €"
    assert list(shared_files(folder)) == [data.gold_generation(gold)] != [before]  # the old answers are gone


def test_the_warm_up_draws_the_top_levels_once_across_workers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gold = write_hand_made_gold(tmp_path / "data")
    folder = tmp_path / "shared"
    folder.mkdir()
    caplog.set_level(logging.INFO, logger="dashboard.app")
    apps = [create_app(gold, SharedResponses(folder)) for _ in range(2)]  # two workers, each warming at start-up
    wait_for_start_up()
    years = data.available_years(gold)
    drawn = [int(n) for n in re.findall(r"warmed the shared answers: drew (\d+) views", caplog.text)]
    assert len(drawn) == 2 and sum(drawn) == 1 + len(years) * 13  # all years, the years, their months: once each
    # Each view by its address and by a click that opens it.
    assert len(shared_files(folder)[data.gold_generation(gold)]) == 2 * (1 + len(years) * 13)
    assert warm_answers(apps[0], gold, SharedResponses(folder)) == 0
    dashboard_app.clear_view_cache()
    misses = dashboard_app._cached_view.cache_info().misses
    client = apps[1].server.test_client()
    post_page(client, "?year=2024&month=3")
    post_page(client, "?view=all", **{"trend-graph": {"points": [{"customdata": "2023"}]}})
    assert dashboard_app._cached_view.cache_info().misses == misses


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


def test_the_views_one_click_further_are_every_filtered_top_view_and_every_day() -> None:
    views = views_one_click_further([2023, 2024])
    single_filters = 16 + 11  # one federal state or one category
    top = 1 + 2 + 2 * 12  # all years, the years, their months
    assert len(views) == len(set(views)) == single_filters * top + 365 + 366
    assert View("month", 2024, 3, filters=data.Filters(states=("BY",))) in views
    assert View("all", filters=data.Filters(categories=("Bakery",))) in views
    assert View("day", 2024, 2, date(2024, 2, 29)) in views and View("day", 2023, 12, date(2023, 12, 31)) in views
    assert all(view.filters == data.NO_FILTERS for view in views if view.level == "day")


def test_the_served_dashboard_warms_the_views_one_click_further_once(served: tuple[str, Path, Path]) -> None:
    """Each worker takes its part of the further warm-up; between them every view is drawn exactly once."""
    _, _, log = served
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(done := re.findall(r"warmed one click further: drew (\d+) views", log.read_text())) < 2:
        assert time.monotonic() < deadline, "the workers did not warm the views one click further:\n" + log.read_text()
        time.sleep(0.5)
    assert sum(int(n) for n in done) == len(views_one_click_further([2023, 2024]))


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
