#!/usr/bin/env bash
# Install, then lint and run every test (unit, end-to-end through Dagster, on S3, on Celery workers, real browser).
source "$(dirname "$0")/_env.sh"

# Debian packages the tests drive: Chromium (the browser test) and Redis (the Celery broker). Installed with
# apt-get when running as root (CI), otherwise named with the command that installs them.
need_debian_package() {  # need_debian_package <binary path> <package> <what needs it>
  [ -x "$1" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's $2 for $3 ..."
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "error: $3 needs Debian's $2 at $1 (sudo apt-get install $2)" >&2
    exit 1
  fi
}
need_debian_package /usr/bin/chromium chromium "the browser test"
need_debian_package /usr/bin/redis-server redis-server "the distributed test"
# The tests record Dagster runs in a throwaway home, never in the user's .dagster_home.
DAGSTER_HOME="$(mktemp -d)"
export DAGSTER_HOME
trap 'rm -rf "$DAGSTER_HOME"' EXIT
ruff check .
ruff format --check .
pytest "$@"
