"""Bronze: bring raw input to the contract's column names and types, and nothing more.

Landing files arrive as text; conforming them here (rather than trusting the CSV reader's guesses) gives one
clear message naming the column and an offending value when a file is malformed.

`parse_landing_csv` reads a point-of-sale file line by line in the sense that matters: every physical line
either becomes a conformed row or a rejected line with its number, text and a sentence naming the column, so
one bad line neither stops a year nor vanishes. It is vectorised: the bytes are checked for structure with
NumPy, well-formed lines go through Polars' CSV reader in one call, and only rejected lines are touched by
Python code.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandera.polars as pa
import polars as pl

from retail_lakehouse.errors import LandingFileError
from retail_lakehouse.schemas import RejectedLines, empty_frame, polars_schema

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

_NEWLINE, _COMMA, _QUOTE, _NUL = 10, 44, 34, 0
_VALUE = "\x1fvalue:"  # prefix of the parsed twin of each text column; cannot clash with a header name
_LINE = "\x1fline"
_BAD = "\x1fbad"
_UTF8_BLOCK = 4_096  # lines decoded together when looking for the ones that are not UTF-8


def conform_columns(raw: pl.DataFrame, schema: pl.Schema, source: str) -> pl.DataFrame:
    """Cast a frame of text columns to `schema` strictly; a one-line error names what is wrong and where.

    Empty text is a missing value. `source` (a file name) only goes into the error message.
    """
    _check_columns(raw.columns, schema, source)
    columns = []
    for name, dtype in schema.items():
        text = raw[name].cast(pl.String).str.strip_chars().replace("", None)
        parsed = text.to_frame(name).select(_parse(pl.col(name), dtype)).to_series()
        bad = parsed.is_null() & text.is_not_null()
        if bad.any():
            row = int(bad.arg_max())  # type: ignore[arg-type]
            raise LandingFileError(
                f"{source}: line {row + 2}: column {name}: cannot read {text[row]!r} as {_type_name(dtype)}"
            )
        columns.append(parsed.alias(name))
    return pl.DataFrame(columns)


@dataclass(frozen=True)
class ParsedCsv:
    """One landing file read against the contract: the good lines conformed, the others as rejected lines."""

    lines: pl.DataFrame  # the model's columns and types, in file order
    rejected: pl.DataFrame  # `RejectedLines`, by line number
    line_count: int  # data lines in the file (the header not counted): lines.height + rejected.height


def parse_landing_csv(
    data: bytes, model: type[pa.DataFrameModel], source: str, year: int, *, max_rejected_share: float
) -> ParsedCsv:
    """Read a CSV file's bytes into the model's rows, rejecting each line that cannot be read.

    A line is rejected for a wrong number of fields, a value that does not parse as its column's type (money
    with more decimals than the type holds included), a value the model does not allow (a missing required
    value, one outside `isin`, or below/above a bound), NUL bytes or bytes that are not UTF-8, an unclosed
    quote, and, for the last line, a missing line terminator (a file cut off mid-transfer). Good lines are
    conformed exactly as `conform_columns` does. A wrong header, or more rejected lines than
    `max_rejected_share` of the data lines (the export's format has changed; loading the rest would silently
    drop most of the file), raise `LandingFileError` with one line. `source` names the file in rejected rows
    and messages; `year` goes into the rejected rows.
    """
    schema = polars_schema(model)
    rules = _column_rules(model)
    header_end = data.find(b"\n")
    names = _header(data if header_end < 0 else data[:header_end], source)
    _check_columns(names, schema, source)
    if header_end < 0 or header_end + 1 == len(data):
        return ParsedCsv(empty_frame(model), empty_frame(RejectedLines), 0)
    lines = _Lines(data, header_end + 1, names, source)
    fields, line_index = lines.read()
    checked = _check_values(fields, line_index, names, schema, rules, keep_text=False)
    suspect = checked.get_column(_BAD).to_numpy() | (line_index == lines.unterminated)
    # The few suspect rows are checked again keeping their text, for the sentences; the rest never need it.
    suspects = _check_values(fields.filter(suspect), line_index[suspect], names, schema, rules, keep_text=True)
    rejected_mask = lines.broken.copy()
    rejected_mask[line_index[suspect]] = True
    rejected_index = np.flatnonzero(rejected_mask).tolist()
    if len(rejected_index) > max_rejected_share * lines.count:
        first = rejected_index[0]
        raise LandingFileError(
            f"{source}: refused as a changed format: {len(rejected_index):,} of {lines.count:,} data lines "
            f"({len(rejected_index) / lines.count:.1%}) cannot be read, more than the {max_rejected_share:.1%} "
            f"allowed (LAKEHOUSE_MAX_REJECTED_SHARE); the first is line {first + 2}: "
            f"{_errors(lines, suspects, rules, [first])[first]}"
        )
    errors = _errors(lines, suspects, rules, rejected_index)
    rejected = pl.DataFrame(
        {
            "file": [source] * len(rejected_index),
            "line_number": [index + 2 for index in rejected_index],
            "raw_line": [lines.display(index) for index in rejected_index],
            "error": [errors[index] for index in rejected_index],
            "year": [year] * len(rejected_index),
        },
        schema=polars_schema(RejectedLines),
    )
    good = checked.filter(~suspect) if suspect.any() else checked
    return ParsedCsv(good.select(pl.col(_VALUE + c).alias(c) for c in schema), rejected, lines.count)


class _Lines:
    """The physical lines after the header: how many, where each starts and ends, which are broken as a whole.

    A line is broken (rejected before its values are looked at) if it has NUL bytes, bytes that are not
    UTF-8, a quote that the CSV rules cannot close, the wrong number of fields, or is the last line and has
    no terminator. A clean file costs a few passes over its bytes and one call of Polars' CSV reader; only
    when that shortcut fails is each line's shape worked out, still over the whole body at once. Per-line
    Python runs only for lines with quotes (a rare export style) and for the sentences of rejected lines.
    """

    def __init__(self, data: bytes, offset: int, names: Sequence[str], source: str) -> None:
        self.data, self.offset, self.names, self.source = data, offset, list(names), source
        self.buffer = np.frombuffer(data, dtype=np.uint8, offset=offset)  # the body, not copied
        self.terminated = data.endswith(b"\n")
        self.count = int(np.count_nonzero(self.buffer == _NEWLINE)) + (0 if self.terminated else 1)
        self.unterminated = -1 if self.terminated else self.count - 1
        self.nul, self.not_utf8, self.quoted, self.wrong_count = (np.zeros(self.count, dtype=bool) for _ in range(4))
        self.quoted_rows: dict[int, list[str]] = {}
        self.quote_errors: dict[int, str] = {}
        self.broken = np.zeros(self.count, dtype=bool)  # set by `read`

    @cached_property
    def starts(self) -> np.ndarray:
        """Where each line starts in the body."""
        return np.concatenate(([0], np.flatnonzero(self.buffer == _NEWLINE) + 1))[: self.count]

    @cached_property
    def ends(self) -> np.ndarray:
        """Where each line ends in the body (exclusive, before its terminator)."""
        return np.append(self.starts[1:] - 1, len(self.buffer) - (1 if self.terminated else 0))

    def read(self) -> tuple[pl.DataFrame, np.ndarray]:
        """The text fields of every line that has the right shape, and each row's line index, in file order."""
        frame = self._read_whole() if self._looks_plain() else None
        if frame is not None:
            plain = np.arange(self.count)
        else:
            self._find_broken_lines()
            keep = ~(self.nul | self.not_utf8 | self.quoted | self.wrong_count)
            plain = np.flatnonzero(keep)
            lengths = np.append(self.starts[1:], len(self.buffer)) - self.starts
            try:
                frame = self._read_plain(self.buffer[np.repeat(keep, lengths)].tobytes(), plain.size)
            except (pl.exceptions.PolarsError, _Misaligned) as error:
                raise LandingFileError(f"{self.source}: lines cannot be split into fields ({error})") from None
        self.broken = self.nul | self.not_utf8 | self.wrong_count
        self.broken[list(self.quote_errors)] = True
        if not self.terminated:
            self.broken[self.unterminated] = True
        if self.quoted_rows:
            quoted = np.fromiter(self.quoted_rows, dtype=np.int64, count=len(self.quoted_rows))
            rows = pl.DataFrame(list(self.quoted_rows.values()), schema=self.names, orient="row")
            order = np.argsort(np.concatenate((plain, quoted)), kind="stable")
            frame, plain = pl.concat([frame, rows])[order], np.concatenate((plain, quoted))[order]
        return frame, plain

    def display(self, index: int) -> str:
        """The line's text for a person: no terminator, NULs and bytes that are not UTF-8 as U+FFFD."""
        return self._raw(index).decode("utf-8", errors="replace").replace("\x00", "\ufffd")

    def message(self, index: int) -> str | None:
        """Why the line is broken as a whole, or None if its fields are there to be checked."""
        raw = self._raw(index)
        if self.nul[index]:
            nul = raw.index(b"\x00")
            return f"column {self._column_at(raw, nul)}: NUL byte in {_field_at(raw, nul)!r}"
        if self.not_utf8[index]:
            bad = _first_invalid_utf8(raw)
            return f"column {self._column_at(raw, bad)}: bytes that are not UTF-8 text in {_field_at(raw, bad)!r}"
        if index in self.quote_errors:
            return self.quote_errors[index]
        if self.wrong_count[index]:
            return self._count_message(raw, raw.count(b",") + 1)
        return None

    def _looks_plain(self) -> bool:
        """No NUL, no quote, and as many commas as lines with the right number of fields would have."""
        return (
            self.data.find(b"\x00", self.offset) < 0
            and self.data.find(b'"', self.offset) < 0
            and int(np.count_nonzero(self.buffer == _COMMA)) == self.count * (len(self.names) - 1)
        )

    def _read_whole(self) -> pl.DataFrame | None:
        """The whole body in one read, if every line has the right number of fields and is UTF-8.

        With the comma total right, a short line implies a long one, and the reader refuses long lines (and
        bytes that are not UTF-8); then the lines are looked at one by one instead.
        """
        try:
            return self._read_plain(self.data, self.count, skip_header=True)
        except (pl.exceptions.PolarsError, _Misaligned):
            return None

    def _find_broken_lines(self) -> None:
        self.nul = self._lines_with(b"\x00", _NUL)
        self.not_utf8 = self._lines_not_utf8()
        self.quoted = self._lines_with(b'"', _QUOTE) & ~self.nul & ~self.not_utf8
        for index in np.flatnonzero(self.quoted).tolist():
            self._read_quoted(index)
        commas = np.flatnonzero(self.buffer == _COMMA)
        fields = np.diff(np.searchsorted(commas, np.append(self.starts, len(self.buffer)))) + 1
        self.wrong_count = (fields != len(self.names)) & ~(self.nul | self.not_utf8 | self.quoted)

    def _read_plain(self, text: bytes, rows: int, skip_header: bool = False) -> pl.DataFrame:
        if rows == 0:
            return pl.DataFrame(schema=dict.fromkeys(self.names, pl.String))
        # No quote character: these lines hold none, and it keeps one physical line per row.
        frame = pl.read_csv(
            text,
            has_header=False,
            skip_lines=1 if skip_header else 0,
            new_columns=self.names,
            infer_schema=False,
            quote_char=None,
        )
        if frame.height != rows:
            raise _Misaligned(f"the CSV reader found {frame.height} rows in {rows} lines")
        return frame

    def _raw(self, index: int) -> bytes:
        raw = self.data[self.offset + self.starts[index] : self.offset + self.ends[index]]
        return raw[:-1] if raw.endswith(b"\r") else raw

    def _lines_with(self, needle: bytes, byte: int) -> np.ndarray:
        found = np.zeros(self.count, dtype=bool)
        if self.data.find(needle, self.offset) >= 0:
            found[np.searchsorted(self.starts, np.flatnonzero(self.buffer == byte), side="right") - 1] = True
        return found

    def _lines_not_utf8(self) -> np.ndarray:
        found = np.zeros(self.count, dtype=bool)
        for block in range(0, self.count, _UTF8_BLOCK):  # whole blocks first: only failing blocks line by line
            last = min(block + _UTF8_BLOCK, self.count) - 1
            if not _is_utf8(self.buffer[self.starts[block] : self.ends[last]].tobytes()):
                for index in range(block, last + 1):
                    found[index] = not _is_utf8(self._raw(index))
        return found

    def _read_quoted(self, index: int) -> None:
        """A line with quotes is read by the csv module: an export that quotes its fields is still read."""
        raw = self._raw(index)
        try:
            row = next(csv.reader([raw.decode("utf-8")], strict=True), [""])
        except csv.Error:
            column = self._column_at(raw, raw.index(b'"'))
            self.quote_errors[index] = f"column {column}: a quote opens here and is not closed properly"
            return
        if len(row) != len(self.names):
            self.quote_errors[index] = self._count_message(raw, len(row))
        else:
            self.quoted_rows[index] = row

    def _column_at(self, raw: bytes, position: int) -> str:
        index = raw[:position].count(b",")
        return self.names[index] if index < len(self.names) else f"{index + 1} (after the last column)"

    def _count_message(self, raw: bytes, found: int) -> str:
        expected = len(self.names)
        if found == 1 and not raw.strip():
            return f"column {self.names[0]}: empty line, expected {expected} fields"
        if found < expected:
            return f"column {self.names[found]}: missing, the line has {found} of {expected} fields"
        return f"column {self.names[-1]}: followed by {found - expected} extra field(s), the line has {found} fields"


class _Misaligned(Exception):
    """The CSV reader did not return one row per well-formed line (it would shift every line number)."""


def _field_at(raw: bytes, position: int) -> str:
    """The text of the field holding byte `position`, undecodable bytes escaped."""
    return raw.split(b",")[raw[:position].count(b",")].decode("utf-8", "backslashreplace")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _first_invalid_utf8(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return len(raw)


@dataclass(frozen=True)
class _Rule:
    """What the model asks of one column's values beyond their type: line-level checks only."""

    dtype: pl.DataType
    nullable: bool
    allowed: tuple[str, ...] | None  # `isin`
    bounds: tuple[tuple[str, dict], ...]  # (Pandera check name, its statistics), for the checks in `_outside`


def _column_rules(model: type[pa.DataFrameModel]) -> dict[str, _Rule]:
    """The model's checks that one line can fail (nullable, isin, bounds); table-level ones stay with Pandera."""
    schema, rules = polars_schema(model), {}
    for name, column in model.to_schema().columns.items():
        allowed = next((tuple(c.statistics["allowed_values"]) for c in column.checks if c.name == "isin"), None)
        bounds = tuple((c.name, dict(c.statistics)) for c in column.checks if c.name in _BOUND_CHECKS)
        rules[name] = _Rule(schema[name], column.nullable, allowed, bounds)
    return rules


_BOUND_CHECKS = ("greater_than_or_equal_to", "greater_than", "less_than_or_equal_to", "less_than", "in_range")


def _outside(value: pl.Expr, check: str, stats: dict) -> pl.Expr:
    low, high = stats.get("min_value"), stats.get("max_value")
    if check == "greater_than_or_equal_to":
        return value < low
    if check == "greater_than":
        return value <= low
    if check == "less_than_or_equal_to":
        return value > high
    if check == "less_than":
        return value >= high
    below = value < low if stats["include_min"] else value <= low
    return below | (value > high if stats["include_max"] else value >= high)


def _bound_sentence(check: str, stats: dict) -> str:
    low, high = stats.get("min_value"), stats.get("max_value")
    return {
        "greater_than_or_equal_to": f"is less than {low}",
        "greater_than": f"is not greater than {low}",
        "less_than_or_equal_to": f"is greater than {high}",
        "less_than": f"is not less than {high}",
    }.get(check, f"is outside {low}..{high}")


def _problems(name: str, rule: _Rule) -> list[tuple[pl.Expr, Callable[[str | None], str]]]:
    """Each way a column's value can be wrong: (where it is, the sentence for a text), in checking order."""
    text, value = pl.col(name), pl.col(_VALUE + name)
    found: list[tuple[pl.Expr, Callable[[str | None], str]]] = []
    if not rule.nullable:
        found.append((text.is_null(), lambda _: "empty, but a value is required"))
    found.append((value.is_null() & text.is_not_null(), lambda t: f"cannot read {t!r} as {_type_name(rule.dtype)}"))
    if rule.allowed is not None:
        allowed = ", ".join(rule.allowed)
        found.append((~value.is_in(rule.allowed), lambda t: f"{t!r} is not one of {allowed}"))
    for check, stats in rule.bounds:
        sentence = _bound_sentence(check, stats)
        found.append((_outside(value, check, stats), lambda t, sentence=sentence: f"{t} {sentence}"))
    return [(condition.fill_null(False), say) for condition, say in found]


def _check_values(
    fields: pl.DataFrame,
    line_index: np.ndarray,
    names: Sequence[str],
    schema: pl.Schema,
    rules: dict[str, _Rule],
    *,
    keep_text: bool,
) -> pl.DataFrame:
    """Each row's parsed value per column, its line index and whether any value is wrong (and its trimmed text).

    One column at a time, so that only one column's trimmed text exists at once next to the file's fields.
    """
    columns: list[pl.Series] = []
    bad = np.zeros(fields.height, dtype=bool)
    for c in names:
        checked = (
            fields.lazy()
            .select(pl.col(c).str.strip_chars().replace("", None))
            .with_columns(_parse(pl.col(c), schema[c]).alias(_VALUE + c))
            .select(
                *([pl.col(c)] if keep_text else []),
                pl.col(_VALUE + c),
                pl.any_horizontal(condition for condition, _ in _problems(c, rules[c])).alias(_BAD),
            )
            .collect()
        )
        bad |= checked.get_column(_BAD).to_numpy()
        columns.extend(checked.drop(_BAD).get_columns())
    return pl.DataFrame([*columns, pl.Series(_LINE, line_index, dtype=pl.Int64), pl.Series(_BAD, bad)])


def _errors(lines: _Lines, suspects: pl.DataFrame, rules: dict[str, _Rule], indices: Sequence[int]) -> dict[int, str]:
    """One sentence for each line in `indices`: why it is broken, else its first wrong value in file order."""
    names, wanted = lines.names, list(indices)
    problems = {c: _problems(c, rules[c]) for c in names}
    codes = suspects.filter(pl.col(_LINE).is_in(wanted)).select(
        pl.col(_LINE),
        *(pl.col(c) for c in names),
        *(
            pl.coalesce([pl.when(condition).then(pl.lit(k)) for k, (condition, _) in enumerate(problems[c])]).alias(
                _BAD + c
            )
            for c in names
        ),
    )
    errors: dict[int, str] = {}
    for row in codes.iter_rows(named=True):
        for c in names:
            if row[_BAD + c] is not None:
                errors[row[_LINE]] = f"column {c}: {problems[c][row[_BAD + c]][1](row[c])}"
                break
    for index in indices:
        structural = lines.message(index)
        if structural is not None:
            errors[index] = structural
        if index == lines.unterminated:
            cut = "the last line has no line terminator, the file looks cut off"
            errors[index] = f"{errors[index]}; {cut}" if index in errors else f"column {names[-1]}: {cut}"
    return errors


def _header(raw: bytes, source: str) -> list[str]:
    try:
        line = raw.decode("utf-8-sig").removesuffix("\r")
        return next(csv.reader([line], strict=True), [])
    except (UnicodeDecodeError, csv.Error):
        raise LandingFileError(f"{source}: the header line is not readable CSV text") from None


def _check_columns(names: Sequence[str], schema: pl.Schema, source: str) -> None:
    if not names:
        raise LandingFileError(f"{source}: empty file, expected a header line with {list(schema)}")
    missing = [c for c in schema if c not in names]
    unexpected = [c for c in names if c not in schema]
    if missing or unexpected:
        raise LandingFileError(
            f"{source}: wrong columns: missing {missing or 'none'}, unexpected {unexpected or 'none'}"
        )
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise LandingFileError(f"{source}: wrong columns: repeated {repeated}")


def _type_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"Decimal({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return "a timestamp (YYYY-MM-DD HH:MM:SS)"
    if dtype == pl.Date:
        return "a date (YYYY-MM-DD)"
    if dtype == pl.Boolean:
        return "true or false"
    return str(dtype)


def _parse(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Text (trimmed, empty already missing) to `dtype`; what does not parse becomes null."""
    if dtype == pl.String:
        return text
    if dtype == pl.Boolean:
        return text.str.to_lowercase().replace_strict({"true": True, "false": False}, default=None,
                                                       return_dtype=pl.Boolean)  # fmt: skip
    if dtype == pl.Date:
        return text.str.to_date("%Y-%m-%d", strict=False)
    if isinstance(dtype, pl.Decimal):
        # Exact money: more decimals than the type holds is a malformed value, not something to round.
        well_formed = text.str.contains(rf"^-?\d+(\.\d{{1,{dtype.scale}}})?$").fill_null(True)
        return pl.when(well_formed).then(text.cast(dtype, strict=False))
    if isinstance(dtype, pl.Datetime):
        return text.str.to_datetime(TIMESTAMP_FORMAT, time_unit=dtype.time_unit, strict=False)
    return text.cast(dtype, strict=False)
