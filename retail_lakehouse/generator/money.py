"""Exact money: integer cents in NumPy, Decimal columns in Polars. Never a float on the way."""

import numpy as np
import polars as pl
import pyarrow as pa


def decimal_from_cents(cents: np.ndarray, dtype: pl.Decimal) -> pl.Series:
    """A Decimal series (scale 2) whose values are `cents / 100`, exactly.

    Polars casts an integer to Decimal as whole units (5 -> 5.00) and truncates scale-0 division, so the
    128-bit little-endian decimal words are built directly from the cents: low word the value, high word
    its sign.
    """
    if dtype.scale != 2:
        raise ValueError(f"cents need a Decimal of scale 2, not {dtype}")
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    array = pa.Array.from_buffers(pa.decimal128(dtype.precision, 2), len(cents), [None, pa.py_buffer(words)])
    return pl.Series(array)
