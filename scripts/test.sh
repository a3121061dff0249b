#!/usr/bin/env bash
# Install, then lint and run every test (unit, end-to-end through Dagster, and the real-browser test).
source "$(dirname "$0")/_env.sh"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser test ..."
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser test needs Debian's chromium at /usr/bin/chromium (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
# The tests record Dagster runs in a throwaway home, never in the user's .dagster_home.
DAGSTER_HOME="$(mktemp -d)"
export DAGSTER_HOME
trap 'rm -rf "$DAGSTER_HOME"' EXIT
ruff check .
ruff format --check .
pytest "$@"
