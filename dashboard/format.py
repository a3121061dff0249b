"""German-style figures for the dashboard: the core's helpers (`retail_lakehouse.formatting`), as the report uses."""

from __future__ import annotations

from retail_lakehouse.formatting import PLOTLY_SEPARATORS, change, count, euros

__all__ = ["PLOTLY_SEPARATORS", "change", "count", "euros"]
