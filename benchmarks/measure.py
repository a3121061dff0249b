"""Measuring a stage: wall seconds and peak RSS of the whole process tree, sampled on a thread."""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil

SAMPLE_SECONDS = 0.02


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    rows: int | None = None
    bytes_written: int | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds else None


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


@contextlib.contextmanager
def measured(name: str) -> Iterator[Stage]:
    """Time the block and sample the process tree's RSS every 20 ms; the peak goes into the stage."""
    stage = Stage(name)
    process = psutil.Process(os.getpid())
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            stage.peak_rss_bytes = max(stage.peak_rss_bytes, tree_rss(process))
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        yield stage
    finally:
        stage.seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        stage.peak_rss_bytes = max(stage.peak_rss_bytes, tree_rss(process))


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def print_stages(stages: list[Stage], title: str) -> None:
    print(f"\n{title}  ({machine()})")
    header = f"{'stage':<34}{'seconds':>9}{'rows':>14}{'rows/s':>13}{'peak RSS':>11}{'written':>11}"
    print(header)
    print("-" * len(header))
    for s in stages:
        rows = f"{s.rows:,}" if s.rows is not None else "-"
        rate = f"{s.rows_per_second:,.0f}" if s.rows_per_second else "-"
        written = f"{s.bytes_written / 2**20:,.1f} MB" if s.bytes_written is not None else "-"
        print(f"{s.name:<34}{s.seconds:>9.2f}{rows:>14}{rate:>13}{s.peak_rss_bytes / 2**30:>9.2f} GB{written:>11}")
        for key, value in s.notes.items():
            print(f"    {key}: {value}")
