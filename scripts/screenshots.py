"""The README's pictures, made the way a user would see them (headless Chromium, Debian's package):

    .venv/bin/python scripts/screenshots.py dashboard --data-dir /big/lakehouse   # docs/dashboard.png
    .venv/bin/python scripts/screenshots.py dagster                               # docs/dagster_daily.png

`dashboard` serves a data root's published gold (a realistic scale: 100M lines) with `lakehouse dashboard`
and photographs December of its last year. `dagster` builds a small dataset from the landing zone, starts
`dagster dev`, delivers three days (a new year among them), waits until the sensor and automation have
published them, and photographs the runs page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from retail_lakehouse import catalog
from retail_lakehouse.runs import dagster_dev, free_port, new_dagster_home
from retail_lakehouse.storage import Lakehouse

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def photograph(url: str, path: Path, wait_for_text: str, width: int = 1400) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(url)
        page.get_by_text(wait_for_text).first.wait_for(timeout=60_000)
        page.wait_for_timeout(2_000)  # charts and tables finish drawing
        skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit newsletter dialog
        if skip.count():
            skip.first.click()
            page.wait_for_timeout(500)
        page.screenshot(path=str(path), full_page=True)
        browser.close()
    print(f"wrote {path}")


def lakehouse(environment: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "retail_lakehouse.cli", *args], env=environment, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def dashboard(data_dir: Path) -> None:
    years = catalog.Catalog(Lakehouse.at(data_dir)).current().table("gold", "yearly_sales")
    if years is None:
        sys.exit(f"{data_dir}: no published gold")
    last = max(int(year) for year in years.rows)
    port = free_port()
    environment = os.environ | {"LAKEHOUSE_DATA_DIR": str(data_dir)}
    server = subprocess.Popen([sys.executable, "-m", "retail_lakehouse.cli", "dashboard", "--port", str(port)],
                              env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        photograph(f"http://127.0.0.1:{port}/?year={last}&month=12", DOCS / "dashboard.png", f"December {last}")
    finally:
        server.terminate()
        server.wait()


def dagster() -> None:
    root = Path(tempfile.mkdtemp(prefix="screenshot-dagster-"))
    new_dagster_home(root / "home")
    environment = os.environ | {
        "DAGSTER_HOME": str(root / "home"), "LAKEHOUSE_DATA_DIR": str(root / "data"), "LAKEHOUSE_YEARS": "2025",
        "LAKEHOUSE_AS_OF": "2025-12-30", "LAKEHOUSE_ROWS": "200000", "LAKEHOUSE_SOURCE": "landing",
    }  # fmt: skip
    lakehouse(environment, "generate", "--to-landing")
    lakehouse(environment, "run")
    port = free_port()
    with dagster_dev(environment, root / "dagster_dev.log", port):
        wait_for(f"http://127.0.0.1:{port}/server_info")
        lakehouse(environment, "deliver", "--days", "3")
        published = catalog.Catalog(Lakehouse.at(root / "data"))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            daily = published.current().table("gold", "daily_sales")
            if daily is not None and "2026" in daily.rows and daily.rows["2025"] > 300:
                break
            time.sleep(3)
        time.sleep(5)
        photograph(f"http://127.0.0.1:{port}/runs", DOCS / "dagster_daily.png", "lakehouse_automation")
    print(f"published {dt.date(2025, 12, 31)} and {dt.date(2026, 1, 2)} by the sensor and automation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("picture", choices=["dashboard", "dagster"])
    parser.add_argument("--data-dir", type=Path, help="for `dashboard`: a data root with published gold")
    args = parser.parse_args()
    if args.picture == "dashboard":
        if args.data_dir is None:
            sys.exit("dashboard needs --data-dir (a data root with published gold)")
        dashboard(args.data_dir)
    else:
        dagster()


if __name__ == "__main__":
    main()
