"""Bronze parsing of landing CSV: every bad line is kept with its place and reason, good lines as before."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_lakehouse.errors import LandingFileError
from retail_lakehouse.schemas import BronzeTransactions, RejectedLines, polars_schema
from retail_lakehouse.transforms.bronze import parse_landing_csv

SOURCE = "transactions/2023/pos_2023-03.csv"
HEADER = (
    "transaction_id,line_number,transaction_ts,store_id,product_id,quantity,unit_price,discount,line_total,"
    "transaction_total,payment_method"
)
GOOD = "1,1,2023-03-01 08:00:00,5,100,2,1.99,0.00,3.98,3.98,cash"
# Trimmed, an empty (nullable) store, a negative quantity: bronze carries these, silver judges them.
GOOD_LOOSE = " 9 ,2,2023-03-01 08:05:00,,100,-1,1.99,0.50,-2.49,-2.49, mobile "
GOOD_QUOTED = '"14","1","2023-03-01 08:10:00","5","100","2","1.99","0.00","3.98","3.98","cash"'

# (line text, column the error must name or None for a good line); line numbers follow from the order.
ONE_OF_EACH: list[tuple[bytes, str | None]] = [
    (GOOD.encode(), None),  # line 2
    (b"2,1,2023-03-01 08:05:00,5,100,2,1.99,0.00,3.98", "transaction_total"),  # 3: 9 fields
    (b"3,1,2023-03-01 08:05:00,5,100,2,1.99,0.00,3.98,3.98,cash,x", "payment_method"),  # 4: 12 fields
    (b"4,1,2023-03-01 08:05:00,5,100,x7,1.99,0.00,3.98,3.98,cash", "quantity"),  # 5
    (b"5,1,2023-03-01 08:05:00,5,100,2,1.999,0.00,3.98,3.98,cash", "unit_price"),  # 6: three decimals
    (b"6,1,2023-02-30 08:05:00,5,100,2,1.99,0.00,3.98,3.98,cash", "transaction_ts"),  # 7: 30 February
    (b"7,1,2023-03-01 08:05:00,5,100,2,1.99,0.00,3.98,3.98,bitcoin", "payment_method"),  # 8
    (b"8,1,2023-03-01 08:05:00,5,1\x0000,2,1.99,0.00,3.98,3.98,cash", "product_id"),  # 9: NUL byte
    (GOOD_LOOSE.encode(), None),  # 10
    (b"", "transaction_id"),  # 11: empty line
    (b"11,0,2023-03-01 08:05:00,5,100,2,1.99,0.00,3.98,3.98,cash", "line_number"),  # 12: below 1
    (b",1,2023-03-01 08:05:00,5,100,2,1.99,0.00,3.98,3.98,cash", "transaction_id"),  # 13: required, empty
    (b"13,1,2023-03-01 08:05:00,5,100,2,1.99,0.00,3.98,3.98,caf\xe9", "payment_method"),  # 14: Latin-1
    (GOOD_QUOTED.encode(), None),  # 15
    (b'15,1,2023-03-01 08:05:00,5,100,2,"1.99,0.00,3.98,3.98,cash', "unit_price"),  # 16: quote not closed
    (b"16,1,2023-03-01 08:05:00,5,100,2,1.99,-0.01,3.98,3.98,cash", "discount"),  # 17: below 0
    (b"17,1,2023-03-01 09:00:00,5,100,2,1.99,0.0", "line_total"),  # 18: cut off, no terminator
]


def parse(data: bytes | str, share: float = 1.0):
    raw = data.encode() if isinstance(data, str) else data
    return parse_landing_csv(raw, BronzeTransactions, SOURCE, 2023, max_rejected_share=share)


def expected_good() -> pl.DataFrame:
    """GOOD, GOOD_LOOSE and GOOD_QUOTED conformed, worked out by hand."""
    money = [Decimal("3.98"), Decimal("-2.49"), Decimal("3.98")]
    return pl.DataFrame(
        {
            "transaction_id": [1, 9, 14],
            "line_number": [1, 2, 1],
            "transaction_ts": [datetime(2023, 3, 1, 8, 0), datetime(2023, 3, 1, 8, 5), datetime(2023, 3, 1, 8, 10)],
            "store_id": [5, None, 5],
            "product_id": [100, 100, 100],
            "quantity": [2, -1, 2],
            "unit_price": [Decimal("1.99")] * 3,
            "discount": [Decimal("0.00"), Decimal("0.50"), Decimal("0.00")],
            "line_total": money,
            "transaction_total": money,
            "payment_method": ["cash", "mobile", "cash"],
        },
        schema=polars_schema(BronzeTransactions),
    )


def test_each_kind_of_bad_line_is_rejected_with_its_number_and_column():
    data = HEADER.encode() + b"\n" + b"\n".join(line for line, _ in ONE_OF_EACH)  # no final newline
    result = parse(data)
    expected = [(number, column) for number, (_, column) in enumerate(ONE_OF_EACH, start=2) if column]
    assert [(n, e.split(":")[0]) for n, e in result.rejected.select("line_number", "error").iter_rows()] == [
        (number, f"column {column}") for number, column in expected
    ]
    assert result.lines.equals(expected_good())
    assert result.line_count == len(ONE_OF_EACH) == result.lines.height + result.rejected.height
    errors = dict(result.rejected.select("line_number", "error").iter_rows())
    assert errors[5] == "column quantity: cannot read 'x7' as Int32"
    assert errors[6] == "column unit_price: cannot read '1.999' as Decimal(10, 2)"
    assert errors[8] == "column payment_method: 'bitcoin' is not one of cash, girocard, credit_card, mobile"
    assert errors[3] == "column transaction_total: missing, the line has 9 of 11 fields"
    assert "no line terminator" in errors[18] and "8 of 11 fields" in errors[18]
    assert all("\n" not in e for e in errors.values())
    assert set(result.rejected["file"]) == {SOURCE} and set(result.rejected["year"]) == {2023}
    raw = dict(result.rejected.select("line_number", "raw_line").iter_rows())
    assert raw[4] == "3,1,2023-03-01 08:05:00,5,100,2,1.99,0.00,3.98,3.98,cash,x"
    assert raw[11] == ""
    assert raw[14].endswith("caf\ufffd")
    RejectedLines.validate(result.rejected)
    BronzeTransactions.validate(result.lines)


def test_nul_bytes_are_shown_as_replacement_characters_and_name_their_column():
    lines = [GOOD, "\x00\x00\x00", GOOD.replace(",cash", ",ca\x00sh"), GOOD.replace("2023-03-01", "2023-\x0003-01")]
    result = parse(HEADER + "\n" + "\n".join(lines) + "\n")
    assert result.lines.height == 1
    rows = result.rejected.select("line_number", "raw_line", "error").rows()
    assert [(n, e.split(":")[0]) for n, _, e in rows] == [
        (3, "column transaction_id"),
        (4, "column payment_method"),
        (5, "column transaction_ts"),
    ]
    assert [r for _, r, _ in rows] == [
        "\ufffd\ufffd\ufffd",
        GOOD.replace(",cash", ",ca\ufffdsh"),
        GOOD.replace("2023-03-01", "2023-\ufffd03-01"),
    ]
    assert "NUL byte" in rows[1][2]


def test_windows_line_ends_are_read_like_unix_ones():
    good = [GOOD, GOOD_LOOSE, GOOD_QUOTED]
    unix = parse(HEADER + "\n" + "\n".join(good) + "\n")
    windows = parse(HEADER + "\r\n" + "\r\n".join(good) + "\r\n")
    assert windows.rejected.is_empty() and unix.rejected.is_empty()
    assert windows.lines.equals(expected_good()) and unix.lines.equals(expected_good())
    bad = parse(HEADER + "\r\n" + GOOD + "\r\n" + GOOD.replace("cash", "bitcoin") + "\r\n")
    assert bad.rejected.select("line_number", "raw_line").row(0) == (3, GOOD.replace("cash", "bitcoin"))


@pytest.mark.parametrize("data", [HEADER, HEADER + "\n", HEADER + "\r\n", "\ufeff" + HEADER + "\n"])
def test_a_header_only_file_has_no_rows_and_no_error(data):
    result = parse(data)
    assert result.line_count == 0
    assert result.lines.is_empty() and result.lines.schema == polars_schema(BronzeTransactions)
    assert result.rejected.is_empty() and result.rejected.schema == polars_schema(RejectedLines)


def test_a_file_without_final_newline_rejects_its_last_line_as_cut_off():
    last = GOOD.replace("1,1,", "3,1,", 1)
    result = parse(HEADER + "\n" + GOOD + "\n" + GOOD.replace("1,1,", "2,1,", 1) + "\n" + last)
    assert result.lines["transaction_id"].to_list() == [1, 2]
    assert result.rejected.select("line_number", "raw_line").rows() == [(4, last)]
    assert result.rejected["error"][0] == (
        "column payment_method: the last line has no line terminator, the file looks cut off"
    )
    assert result.line_count == 3


def test_a_short_and_a_long_line_are_both_found_when_their_commas_add_up():
    short = GOOD.removesuffix(",cash")  # 10 fields
    long = GOOD.replace("1,1,", "3,1,", 1) + ",extra"  # 12 fields: together as many commas as two good lines
    result = parse("\n".join([HEADER, short, GOOD, long]) + "\n")
    assert result.lines["transaction_id"].to_list() == [1]
    assert result.rejected.select("line_number", "error").rows() == [
        (2, "column payment_method: missing, the line has 10 of 11 fields"),
        (4, "column payment_method: followed by 1 extra field(s), the line has 12 fields"),
    ]


def test_columns_are_read_by_name_in_any_order():
    names = HEADER.split(",")
    values = GOOD.split(",")
    result = parse(",".join(reversed(names)) + "\n" + ",".join(reversed(values)) + "\n")
    assert result.rejected.is_empty()
    assert result.lines.equals(expected_good().head(1))


def lines_with_bad(bad: int, total: int = 100) -> str:
    rows = [GOOD.replace("1,1,", f"{i},1,", 1) for i in range(1, total + 1)]
    for k in range(bad):
        rows[40 + k] = rows[40 + k].replace(",2,1.99,", ",two,1.99,")
    return HEADER + "\n" + "\n".join(rows) + "\n"


def test_a_file_at_the_threshold_is_kept_and_one_above_it_is_refused_as_a_changed_format():
    kept = parse(lines_with_bad(1), share=0.01)  # 1 of 100 lines: exactly 1 %, not more
    assert kept.lines.height == 99
    assert kept.rejected.select("line_number", "error").row(0) == (42, "column quantity: cannot read 'two' as Int32")
    with pytest.raises(LandingFileError) as refused:
        parse(lines_with_bad(2), share=0.01)
    message = str(refused.value)
    assert message.startswith(f"{SOURCE}: refused as a changed format: 2 of 100 data lines")
    assert "line 42: column quantity: cannot read 'two' as Int32" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file, expected a header line"),
        (b"transaction_id,line_number\n1,1\n", r"wrong columns: missing \['transaction_ts'"),
        ((HEADER + ",transaction_id\n").encode(), r"wrong columns: repeated \['transaction_id'\]"),
        (b"\xff\xfe" + HEADER.encode(), "header line is not readable"),
    ],
)
def test_a_wrong_header_stops_the_whole_file_in_one_line(data, message):
    with pytest.raises(LandingFileError, match=message) as error:
        parse(data)
    assert str(error.value).startswith(SOURCE) and "\n" not in str(error.value)


VALID = (HEADER + "\n" + "\n".join([GOOD, GOOD_LOOSE, GOOD_QUOTED, *(GOOD.replace("1,1,", f"{i},1,", 1)
         for i in range(20, 26))]) + "\n").encode()  # fmt: skip
NASTY = st.sampled_from([b",", b"\n", b"\r", b"\r\n", b'"', b"\x00", b"\xff", b"\xe9", b"", b"x", b"-", b".", b"9"])


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """The valid file with a few bytes inserted, deleted or replaced anywhere, the header included."""
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.lists(NASTY, max_size=3).map(b"".join))
        end = at if kind == "insert" else min(len(data), at + draw(st.integers(1, 4)))
        data[at:end] = piece if kind != "delete" else b""
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_any_corruption_keeps_every_line_as_good_or_rejected(data):
    header_end = data.find(b"\n")
    try:
        result = parse(data)
    except LandingFileError:
        # With no threshold only the header can stop a file.
        assert data[: max(header_end, 0)].removesuffix(b"\r") != HEADER.encode()
        return
    body = data[header_end + 1 :] if header_end >= 0 else b""
    data_lines = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    assert result.line_count == data_lines == result.lines.height + result.rejected.height
    numbers = result.rejected["line_number"].to_list()
    assert numbers == sorted(set(numbers)) and all(2 <= n <= data_lines + 1 for n in numbers)
    assert result.lines.schema == polars_schema(BronzeTransactions)
    BronzeTransactions.validate(result.lines)
