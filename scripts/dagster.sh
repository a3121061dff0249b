#!/usr/bin/env bash
# The `dagster` command with the project's virtualenv and Dagster home, so its runs show in `dagster dev`:
#   bash scripts/dagster.sh asset materialize -m retail_lakehouse.definitions --select silver/transactions --partition 2023
source "$(dirname "$0")/_env.sh"
exec dagster "$@"
