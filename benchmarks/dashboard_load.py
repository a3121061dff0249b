"""Load on the served dashboard: many analysts clicking through the levels at once, over real HTTP.

    python -m benchmarks.dashboard_load /tmp/bench/direct                      # 200 analysts for 60 s
    python -m benchmarks.dashboard_load DATA_DIR --analysts 50 --duration 30 --workers 4 --threads 2

Starts `lakehouse dashboard` (gunicorn) on a free port of 127.0.0.1 against the data dir's gold, waits until
every worker has preloaded gold, then lets each analyst (a thread with its own keep-alive HTTP connection) open
the page as a browser does (the page, its layout and its callback graph, then the first view) and click
through: all years -> a year -> a month -> a day and back up by the breadcrumb, now and then choosing or
clearing a state or category filter, with 1-3 s of thinking between clicks. Every click is the Dash callback
POST a browser sends. Stops at the duration or the request cap, prints p50/p95/max latency per kind of
request and overall, requests/s and errors, and stops the server. Plotly's and Dash's JavaScript bundles,
which a browser fetches once and caches, are not requested. The analysts share the machine with the server,
so on a small machine their own work (threads, JSON) is part of the latency measured.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psutil

from benchmarks.measure import machine, tree_rss
from dashboard import data
from dashboard.responses import callback_body
from dashboard.server import THREADS, default_workers
from retail_lakehouse.schemas import CATEGORIES, STATE_CODES

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 600
REQUEST_TIMEOUT_SECONDS = 60
FILTER_CHANCE = 0.2


@dataclass(frozen=True)
class Result:
    """One request: what it was, how long it took from sending to the last byte, and how it went."""

    kind: str
    seconds: float
    status: int
    error: str | None = None


@dataclass
class Budget:
    """The run's end: a deadline and a cap on requests, shared by every analyst."""

    deadline: float
    max_requests: int
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        """Whether one more request may be sent (and count it)."""
        with self.lock:
            if self.sent >= self.max_requests or time.monotonic() >= self.deadline:
                return False
            self.sent += 1
            return True


class Stop(Exception):
    """The budget is spent: the analyst goes home."""


# The message drawn instead of a view (an address or input gold cannot show), as it appears in an answer.
MESSAGE_CARD = '"id":"message-card"'
_DECODER = json.JSONDecoder()


def output_value(answer: str, component: str, prop: str, missing: Any) -> Any:
    """One output's value in a callback answer (`missing` if the answer leaves it as it is), without parsing the
    rest: the answer is 100-300 kB of figures the analyst's next click does not depend on, and parsing it all
    would cost the load generator, on the server's cores, more than the server takes to send it."""
    key = f'"{component}":{{"{prop}":'
    start = answer.find(key)
    return missing if start < 0 else _DECODER.raw_decode(answer, start + len(key))[0]


class Analyst:
    """One person at the dashboard: a keep-alive connection, the page's state (address, filters) and a random habit."""

    def __init__(self, base: str, years: list[int], budget: Budget, think: tuple[float, float], seed: int) -> None:
        self.base = base
        self.years = years
        self.budget = budget
        self.think_range = think
        self.random = random.Random(seed)
        self.connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=REQUEST_TIMEOUT_SECONDS)
        self.results: list[Result] = []
        self.dependencies: list[dict[str, Any]] = []
        self.search = ""
        self.states: list[str] = []
        self.categories: list[str] = []

    def request(self, kind: str, method: str, path: str, body: bytes | None = None) -> bytes | None:
        """One request on the analyst's keep-alive connection (a browser's), timed to the answer's last byte.

        `http.client` rather than `requests`: the same HTTP/1.1 bytes for a fraction of the client's CPU, which
        on a small machine is taken from the server being measured.
        """
        if not self.budget.take():
            raise Stop
        headers = {"Content-Type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body, headers)
            response = self.connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()  # the next request opens a new connection, as a browser's would
            self.results.append(Result(kind, time.perf_counter() - started, 0, type(error).__name__))
            return None
        seconds = time.perf_counter() - started
        error = None if response.status == 200 else f"HTTP {response.status}"
        self.results.append(Result(kind, seconds, response.status, error))
        return answer if error is None else None

    def get(self, kind: str, path: str) -> bytes | None:
        return self.request(kind, "GET", path)

    def callback(self, kind: str, changed: str | None, **values: Any) -> None:
        """Post the page's callback as the browser would after a click, and take the address it writes."""
        inputs = {
            "url.search": self.search,
            "state-filter.value": self.states,
            "category-filter.value": self.categories,
        }
        body = json.dumps(callback_body(self.dependencies, inputs | values, changed)).encode()
        answer = self.request(kind, "POST", "/_dash-update-component", body)
        if answer is None:
            return
        text = answer.decode()
        if MESSAGE_CARD in text:
            self.results[-1] = Result(kind, self.results[-1].seconds, 200, "a message instead of the view")
        self.search = output_value(text, "url", "search", self.search)
        self.states = output_value(text, "state-filter", "value", self.states) or []
        self.categories = output_value(text, "category-filter", "value", self.categories) or []

    def think(self) -> None:
        seconds = self.random.uniform(*self.think_range)
        if time.monotonic() + seconds >= self.budget.deadline:
            raise Stop
        time.sleep(seconds)

    def open_page(self) -> None:
        """A first visit: the page, its layout and callback graph, then the view of the empty address."""
        self.get("page", "/")
        self.get("page", "/_dash-layout")
        answer = self.get("page", "/_dash-dependencies")
        if answer is None:
            raise Stop
        self.dependencies = json.loads(answer)
        self.callback("first view", None)

    def goto(self, kind: str, search: str) -> None:
        """A link (breadcrumb, back button): the address changes, the callback draws it."""
        self.search = search
        self.callback(kind, "url.search", **{"url.search": search})

    def click(self, kind: str, token: str) -> None:
        """A click on the main chart's bar `token` (a year, month or day)."""
        self.callback(kind, "trend-graph.clickData", **{"trend-graph.clickData": {"points": [{"customdata": token}]}})

    def maybe_filter(self) -> None:
        """Now and then: choose a state or category in a dropdown, or clear the filters."""
        if self.random.random() >= FILTER_CHANCE:
            return
        self.think()
        choice = self.random.random()
        if (self.states or self.categories) and choice < 0.4:
            self.states, self.categories = [], []
        elif choice < 0.7:
            self.states = [self.random.choice(STATE_CODES)]
        else:
            self.categories = [self.random.choice(CATEGORIES)]
        self.callback("filter", "state-filter.value")

    def drill(self) -> None:
        """All years -> a year -> a month -> a day, then back up one level at a time."""
        year = self.random.choice(self.years)
        month = self.random.randint(1, 12)
        day = date(year, month, self.random.randint(1, 28))
        self.think()
        self.goto("all years", "?view=all" + self.filter_query())
        self.maybe_filter()
        for kind, token in (("year", str(year)), ("month", f"{year}-{month:02d}"), ("day", day.isoformat())):
            self.think()
            self.click(kind, token)
            self.maybe_filter()
        for kind, search in (("back to month", f"?year={year}&month={month}"), ("back to year", f"?year={year}")):
            self.think()
            self.goto(kind, search + self.filter_query())

    def filter_query(self) -> str:
        """The filters as the page writes them into its address (`Dairy & Eggs` needs its escapes)."""
        pairs = [("state", s) for s in self.states] + [("category", c) for c in self.categories]
        return "&" + urlencode(pairs) if pairs else ""

    def run(self, start_within: float) -> None:
        time.sleep(self.random.uniform(0, start_within))  # people do not all arrive in the same second
        try:
            with contextlib.suppress(Stop):
                self.open_page()
                while True:
                    self.drill()
        finally:
            self.connection.close()


def simulate(
    base: str,
    years: list[int],
    analysts: int,
    duration: float,
    max_requests: int,
    think: tuple[float, float] = (1.0, 3.0),
    seed: int = 1,
) -> tuple[list[Result], float]:
    """Run the analysts against the dashboard at `base` until the duration or the cap; their requests and the
    wall seconds it took."""
    started = time.monotonic()
    budget = Budget(deadline=started + duration, max_requests=max_requests)
    people = [Analyst(base, years, budget, think, seed * 100_003 + i) for i in range(analysts)]
    threads = [threading.Thread(target=p.run, args=(min(think[1], duration / 4),), daemon=True) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + REQUEST_TIMEOUT_SECONDS)
    return [r for p in people for r in p.results], time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(data_dir: Path, workers: int, threads: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`lakehouse dashboard` on a free port until the block ends; ready when every worker has preloaded gold and
    taken its part in warming the shared answers, one click further included (as a server that has been up a
    while would have). Prints how long that took and how many views the workers drew."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="dashboard-load-", suffix=".log")[1])
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = os.environ | {"LAKEHOUSE_DATA_DIR": str(data_dir), "PYTHONPATH": path}
    command = [sys.executable, "-m", "retail_lakehouse.cli", "dashboard", "--port", str(port)]
    command += ["--workers", str(workers), "--threads", str(threads)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        launched = time.monotonic()
        while len(re.findall(r"dashboard.app: warmed one click further", log.read_text(errors="replace"))) < workers:
            if server.poll() is not None or time.monotonic() > launched + STARTUP_SECONDS:
                raise SystemExit("the dashboard did not start:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        drawn = sum(int(n) for n in re.findall(r"drew (\d+) views", log.read_text(errors="replace")))
        print(f"start-up: gold preloaded and {drawn:,} views drawn in {time.monotonic() - launched:.1f} s")
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.unlink(missing_ok=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(results: list[Result], seconds: float) -> str:
    """Latency per kind and overall, requests per second and errors, as a table."""
    header = f"{'request':<16}{'count':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'errors':>8}"
    lines = [header, "-" * len(header)]
    kinds = sorted({r.kind for r in results}, key=[r.kind for r in results].index)
    for kind, group in [(k, [r for r in results if r.kind == k]) for k in kinds] + [("all", results)]:
        ms = [r.seconds * 1000 for r in group]
        errors = sum(r.error is not None for r in group)
        row = f"{kind:<16}{len(group):>8}{percentile(ms, 0.5):>9.1f}{percentile(ms, 0.95):>9.1f}{max(ms):>9.1f}"
        lines.append(row + f"{errors:>8}")
    ok = [r for r in results if r.error is None]
    lines.append(f"\n{len(results):,} requests in {seconds:.1f} s: {len(results) / seconds:,.1f} requests/s, "
                 f"{len(ok) / seconds:,.1f} answered/s, {len(results) - len(ok)} errors")  # fmt: skip
    for error in sorted({r.error for r in results if r.error}):
        lines.append(f"  {sum(r.error == error for r in results):>6} x {error}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="a data root with gold (LAKEHOUSE_DATA_DIR of a run)")
    parser.add_argument("--analysts", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--max-requests", type=int, default=50_000, help="stop after this many requests")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    if data.missing_tables(args.data_dir):
        raise SystemExit(f"no complete gold under {args.data_dir}: build it first with `lakehouse run`")
    years = data.available_years(args.data_dir)
    lines = int(data.read_gold(args.data_dir, "yearly_sales")["lines"].sum())
    print(f"Dashboard under load on {args.data_dir}  ({machine()})")
    print(f"gold: {lines:,} silver lines, years {years[0]}-{years[-1]}; {args.analysts} analysts for "
          f"{args.duration:.0f} s (cap {args.max_requests:,} requests), gunicorn {args.workers} worker(s) x "
          f"{args.threads} threads")  # fmt: skip
    with served(args.data_dir, args.workers, args.threads) as (base, server):
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.5):
                peak[0] = max(peak[0], tree_rss(psutil.Process(server.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        results, seconds = simulate(base, years, args.analysts, args.duration, args.max_requests, seed=args.seed)
        done.set()
    print(f"server peak RSS (all workers): {peak[0] / 2**20:,.0f} MiB\n")
    print(report(results, seconds))
    if results:
        callbacks = [r.seconds for r in results if r.kind not in ("page",)]
        print(f"callbacks only: p50 {statistics.median(callbacks) * 1000:,.1f} ms, "
              f"p95 {percentile(callbacks, 0.95) * 1000:,.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
