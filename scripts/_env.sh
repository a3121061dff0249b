# Shared by the scripts: find Python 3.11+, create .venv and install the project (with dev extras) once,
# reinstalling only when pyproject.toml changes. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
export DAGSTER_HOME="${DAGSTER_HOME:-$ROOT/.dagster_home}"
mkdir -p "$DAGSTER_HOME"
# One run at a time: runs of a data root write under one lock, so a backfill over every year queues its runs
# (one year in memory at once) instead of starting them together and failing all but one. Freshness
# policies (gold turns stale after a day without a delivery) are evaluated only where enabled.
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cat > "$DAGSTER_HOME/dagster.yaml" <<'YAML'
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
YAML
grep -q '^freshness:' "$DAGSTER_HOME/dagster.yaml" || printf 'freshness:\n  enabled: true\n' >> "$DAGSTER_HOME/dagster.yaml"

find_python() {
  for candidate in python3.11 python3.12 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 or 3.12 is needed and none was found on PATH" >&2
  return 1
}

if [ ! -f "$VENV/.installed" ] || [ "$ROOT/pyproject.toml" -nt "$VENV/.installed" ]; then
  PYTHON="$(find_python)"
  echo "Installing into $VENV (first time takes about two minutes) ..."
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  touch "$VENV/.installed"
fi
export PATH="$VENV/bin:$PATH"
