#!/usr/bin/env bash
# Serve the dashboard on http://127.0.0.1:8050 (options: --host, --port, --debug).
source "$(dirname "$0")/_env.sh"
exec lakehouse dashboard "$@"
