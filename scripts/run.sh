#!/usr/bin/env bash
# Install, generate the default dataset and materialize every asset for every configured year.
# Settings come from LAKEHOUSE_* variables (see README); defaults: 2M lines, 2020-2025, ./data.
source "$(dirname "$0")/_env.sh"
exec lakehouse run "$@"
