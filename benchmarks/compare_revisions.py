"""Two revisions of this project side by side: the direct pipeline of each, alternately, on the same machine.

    python -m benchmarks.compare_revisions --base 38cd0a5 --rows 100000000 --rounds 2

Each revision is checked out into a temporary git worktree and runs `benchmarks.full_pipeline --no-dagster`
from it (with the same virtualenv), base and this checkout taking turns so that a busy period of the machine
hits both. Prints every round's per-stage seconds and peak memory, and the median ratio this / base.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGE_LINE = re.compile(r"^(?P<stage>\S.*?)\s{2,}(?P<seconds>\d+\.\d+)\s.*?(?P<rss>\d+\.\d+) GB")


def run_pipeline(checkout: Path, rows: int, years: str) -> dict[str, tuple[float, float]]:
    """Seconds and peak GB per stage of one direct run from `checkout`."""
    command = [sys.executable, "-m", "benchmarks.full_pipeline", "--no-dagster", "--rows", str(rows), "--years", years]
    environment = os.environ | {"PYTHONPATH": str(checkout)}  # that checkout's code, not the installed one
    finished = subprocess.run(command, cwd=checkout, capture_output=True, text=True, env=environment)
    if finished.returncode:
        sys.exit(f"{checkout}: {(finished.stderr.strip().splitlines() or ['failed'])[-1]}")
    stages = {}
    for line in finished.stdout.splitlines():
        if match := STAGE_LINE.match(line):
            stages[match["stage"].strip()] = (float(match["seconds"]), float(match["rss"]))
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="38cd0a5", help="the revision to compare with (default: before Delta)")
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--years", default="2020-2025")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-base-") as folder:
        base = Path(folder) / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.base], check=True,
                       capture_output=True)  # fmt: skip
        try:
            totals: dict[str, list[float]] = {"base": [], "this": []}
            peaks: dict[str, list[float]] = {"base": [], "this": []}
            for round_number in range(1, args.rounds + 1):
                for name, checkout in (("base", base), ("this", REPO)):
                    stages = run_pipeline(checkout, args.rows, args.years)
                    total = stages["total, direct calls"]
                    totals[name].append(total[0])
                    peaks[name].append(total[1])
                    listing = ", ".join(
                        f"{stage} {s:.1f} s" for stage, (s, _) in stages.items() if "total" not in stage
                    )
                    summary = f"total {total[0]:7.1f} s, peak {total[1]:.2f} GB"
                    print(f"round {round_number} {name:<4} {summary}  ({listing})", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], capture_output=True)
    base_s, this_s = statistics.median(totals["base"]), statistics.median(totals["this"])
    print(f"\n{args.rows:,} lines, years {args.years}, direct path, medians of {args.rounds} rounds")
    print(f"base {args.base}: {base_s:.1f} s, peak {max(peaks['base']):.2f} GB")
    print(f"this checkout: {this_s:.1f} s, peak {max(peaks['this']):.2f} GB")
    print(f"ratio this / base (time): {this_s / base_s:.3f}")


if __name__ == "__main__":
    main()
