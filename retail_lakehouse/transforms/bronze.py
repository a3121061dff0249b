"""Bronze: bring raw input to the contract's column names and types, and nothing more.

Landing files arrive as text; conforming them here (rather than trusting the CSV reader's guesses) gives one
clear message naming the column and an offending value when a file is malformed.
"""

from __future__ import annotations

import polars as pl

from retail_lakehouse.errors import LandingFileError

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def conform_columns(raw: pl.DataFrame, schema: pl.Schema, source: str) -> pl.DataFrame:
    """Cast a frame of text columns to `schema` strictly; a one-line error names what is wrong and where.

    Empty text is a missing value. `source` (a file name) only goes into the error message.
    """
    missing = [c for c in schema if c not in raw.columns]
    unexpected = [c for c in raw.columns if c not in schema]
    if missing or unexpected:
        raise LandingFileError(
            f"{source}: wrong columns: missing {missing or 'none'}, unexpected {unexpected or 'none'}"
        )
    columns = []
    for name, dtype in schema.items():
        text = raw[name].cast(pl.String).str.strip_chars().replace("", None)
        parsed = _parse(text, dtype)
        bad = parsed.is_null() & text.is_not_null()
        if bad.any():
            row = int(bad.arg_max())  # type: ignore[arg-type]
            raise LandingFileError(f"{source}: line {row + 2}: column {name}: cannot read {text[row]!r} as {dtype}")
        columns.append(parsed.alias(name))
    return pl.DataFrame(columns)


def _parse(text: pl.Series, dtype: pl.DataType) -> pl.Series:
    if dtype == pl.String:
        return text
    if dtype == pl.Boolean:
        return text.str.to_lowercase().replace_strict({"true": True, "false": False}, default=None,
                                                       return_dtype=pl.Boolean)  # fmt: skip
    if dtype == pl.Date:
        return text.str.to_date("%Y-%m-%d", strict=False)
    if isinstance(dtype, pl.Decimal):
        # Exact money: more decimals than the type holds is a malformed value, not something to round.
        well_formed = text.str.contains(rf"^-?\d+(\.\d{{1,{dtype.scale}}})?$")
        parsed = text.cast(dtype, strict=False)
        return parsed.zip_with(well_formed.fill_null(True), pl.Series([None] * len(text), dtype=dtype))
    if isinstance(dtype, pl.Datetime):
        return text.str.to_datetime(TIMESTAMP_FORMAT, time_unit=dtype.time_unit, strict=False)
    return text.cast(dtype, strict=False)
