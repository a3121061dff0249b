#!/usr/bin/env bash
# Open the Dagster UI on http://127.0.0.1:3000 with every asset (workspace.yaml).
source "$(dirname "$0")/_env.sh"
exec dagster dev -w workspace.yaml "$@"
