"""German-style figures for people (`1.234.567 €`, `23,45 €`, `+4,3 %`), computed from Decimal, not float.

Shared by the dashboard and the business report (`lakehouse report`), so both print a figure the same way.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Plotly's `separators` layout setting: decimal point first, then the thousands separator.
PLOTLY_SEPARATORS = ",."


def _german(text: str) -> str:
    """Swap the English separators of an already formatted number for German ones."""
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def euros(amount: Decimal | None, cents: bool = False) -> str:
    """`1.234.567 €`, or `23,45 €` with cents; a dash when there is nothing to show."""
    if amount is None:
        return "–"
    places = Decimal("0.01") if cents else Decimal("1")
    rounded = Decimal(amount).quantize(places, rounding=ROUND_HALF_UP)
    return _german(f"{rounded:,.2f}" if cents else f"{rounded:,.0f}") + " €"


def count(value: int | None) -> str:
    """`1.234.567`."""
    return "–" if value is None else _german(f"{value:,d}")


def change(current: Decimal | int | None, previous: Decimal | int | None) -> str | None:
    """Relative change as `+4,3 %`, or None when there is nothing to compare with."""
    if current is None or previous is None or Decimal(previous) == 0:
        return None
    ratio = (Decimal(current) - Decimal(previous)) / Decimal(previous) * 100
    rounded = ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    sign = "+" if rounded > 0 else ("±" if rounded == 0 else "−")
    return f"{sign}{_german(f'{abs(rounded):,.1f}')} %"
