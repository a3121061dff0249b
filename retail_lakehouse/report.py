"""The business report of one year: key figures, rankings and data quality, as text, CSV files and one HTML page.

`lakehouse report` prints it and writes it. The figures come from published data only (`catalog.scan`): gold
for the sales figures, the silver quarantine and bronze's rejected landing lines for data quality. The pure
functions here take frames and return frames or figures, so they are tested on hand-made rows; `load_report`
reads, `render_text`, `write_csv_files` and `render_html` present. Money stays Decimal throughout: the CSV
files carry exact amounts (`1234.56`), the text and the HTML German-style ones (`1.234,56 €`), as the
dashboard shows them. The HTML page embeds Plotly's JavaScript, so it opens offline and fetches nothing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl

from retail_lakehouse.catalog import Catalog, Snapshot, scan
from retail_lakehouse.errors import LakehouseError
from retail_lakehouse.formatting import PLOTLY_SEPARATORS, change, count, euros
from retail_lakehouse.reference import FEDERAL_STATES, QUARANTINE_REASONS
from retail_lakehouse.schemas import REVENUE
from retail_lakehouse.storage import Lakehouse

RANKED_MEASURES = ("revenue", "vat", "net_revenue", "units", "transactions", "lines")
SHOWN = 3  # best and worst states and categories printed
SHOWN_PRODUCTS = 5
STATE_NAMES = {state.code: state.name for state in FEDERAL_STATES}


@dataclass(frozen=True)
class YearFigures:
    """The key figures of one year, exactly as gold's `yearly_sales` has them."""

    year: int
    revenue: Decimal
    vat: Decimal
    net_revenue: Decimal
    units: int
    transactions: int
    lines: int
    avg_basket: Decimal


@dataclass(frozen=True)
class Report:
    """Everything the report shows, for `year` (and the year before, where it is published)."""

    year: int
    catalog_version: int
    current: YearFigures
    previous: YearFigures | None
    months: pl.DataFrame  # month, revenue, previous_revenue (null where the year before has none)
    states: pl.DataFrame  # ranked by revenue: rank, state_code, state_name, region, measures
    categories: pl.DataFrame  # ranked by revenue: rank, category, measures
    products: pl.DataFrame  # every product with sales, ranked by revenue
    quarantine: pl.DataFrame  # reason, lines: every reason, zero included
    rejected: pl.DataFrame  # file, lines: landing files with rejected lines


def year_figures(yearly: pl.DataFrame, year: int) -> YearFigures | None:
    """The year's row of `yearly_sales` as figures, or None if the year has no row."""
    rows = yearly.filter(pl.col("year") == year).to_dicts()
    if not rows:
        return None
    row = rows[0]
    return YearFigures(
        year=year,
        revenue=row["revenue"],
        vat=row["vat"],
        net_revenue=row["net_revenue"],
        units=row["units"],
        transactions=row["transactions"],
        lines=row["lines"],
        avg_basket=row["avg_basket"],
    )


def growth_percent(current: Decimal | int, previous: Decimal | int | None) -> Decimal | None:
    """Change against the year before in percent to one decimal, half up; None without a year to compare."""
    if previous is None or Decimal(previous) == 0:
        return None
    ratio = (Decimal(current) - Decimal(previous)) / Decimal(previous) * 100
    return ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def ranked(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """One row per key, best first by revenue (ties by key, so the order is stable), with its 1-based rank.

    `frame` may hold several rows per key (it is summed), so a finer gold table can be ranked too.
    """
    summed = frame.group_by(keys).agg(pl.col(m).sum() for m in RANKED_MEASURES)
    summed = summed.with_columns(pl.col(m).cast(REVENUE) for m in ("revenue", "vat", "net_revenue"))
    ordered = summed.sort(["revenue", *keys], descending=[True] + [False] * len(keys))
    return ordered.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int32))


def states_ranked(by_region: pl.DataFrame) -> pl.DataFrame:
    """`sales_by_region` rows ranked by revenue, with each state's name."""
    frame = ranked(by_region, ["state_code", "region"])
    names = pl.col("state_code").replace_strict(STATE_NAMES, return_dtype=pl.String).alias("state_name")
    return frame.select("rank", "state_code", names, "region", *RANKED_MEASURES)


def quarantine_by_reason(quarantine: pl.LazyFrame) -> pl.DataFrame:
    """Quarantined silver lines per reason, every reason listed (zero where none), in the reference order."""
    counted = quarantine.group_by("reason").agg(pl.len().cast(pl.Int64).alias("lines")).collect()
    reasons = pl.DataFrame({"reason": list(QUARANTINE_REASONS)})
    joined = reasons.join(counted, on="reason", how="left", maintain_order="left")
    return joined.with_columns(pl.col("lines").fill_null(0))


def rejected_by_file(rejected: pl.LazyFrame) -> pl.DataFrame:
    """Rejected landing lines per file, most first (ties by file name); only files with rejected lines."""
    counted = rejected.group_by("file").agg(pl.len().cast(pl.Int64).alias("lines")).collect()
    return counted.sort(["lines", "file"], descending=[True, False])


def months_compared(monthly: pl.DataFrame, year: int) -> pl.DataFrame:
    """Revenue per month of `year` next to the same month a year before (null where that has no row)."""
    current = monthly.filter(pl.col("year") == year).select("month", "revenue")
    previous = monthly.filter(pl.col("year") == year - 1).select("month", pl.col("revenue").alias("previous_revenue"))
    return current.join(previous, on="month", how="left").sort("month")


def published_years(snapshot: Snapshot) -> list[int]:
    """The years gold's `yearly_sales` has published rows for, ascending."""
    published = snapshot.table("gold", "yearly_sales")
    if published is None:
        return []
    return sorted(int(year) for year, rows in published.rows.items() if year.isdigit() and rows > 0)


def load_report(data_dir: Path, year: int | None = None) -> Report:
    """Read the published tables the report needs; `year` defaults to the latest published one."""
    lakehouse = Lakehouse.at(data_dir)
    snapshot = Catalog(lakehouse).current()
    years = published_years(snapshot)
    if not years:
        raise LakehouseError(f"no published gold in {lakehouse.location}: run `lakehouse run` first")
    if year is None:
        year = years[-1]
    elif year not in years:
        raise LakehouseError(f"year {year} has no published gold (published years: {', '.join(map(str, years))})")

    def gold(table: str, wanted: list[int]) -> pl.DataFrame:
        return scan("gold", table, years=wanted, data_dir=data_dir).collect()

    def optional(layer: str, table: str) -> pl.LazyFrame | None:
        if snapshot.table(layer, table) is None:
            return None
        return scan(layer, table, years=[year], data_dir=data_dir)

    both = [y for y in (year - 1, year) if y in years]
    yearly = gold("yearly_sales", both)
    current = year_figures(yearly, year)
    assert current is not None  # `year` is in the published years of this very table
    quarantine = optional("silver", "transactions_quarantine")
    rejected = optional("bronze", "rejected_lines")
    return Report(
        year=year,
        catalog_version=snapshot.version,
        current=current,
        previous=year_figures(yearly, year - 1),
        months=months_compared(gold("monthly_sales", both), year),
        states=states_ranked(gold("sales_by_region", [year])),
        categories=ranked(gold("sales_by_category", [year]), ["category"]),
        products=ranked(gold("product_yearly_sales", [year]), ["product_id", "product_name", "category", "brand"]),
        quarantine=quarantine_by_reason(quarantine if quarantine is not None else _no_rows("reason")),
        rejected=rejected_by_file(rejected if rejected is not None else _no_rows("file")),
    )


def _no_rows(column: str) -> pl.LazyFrame:
    return pl.LazyFrame(schema={column: pl.String})


def key_figures(report: Report) -> pl.DataFrame:
    """The key figures as rows: exact values of the year and the year before, and the change in percent."""
    previous = report.previous
    rows = []
    for name in ("revenue", "vat", "net_revenue", "units", "transactions", "lines", "avg_basket"):
        value = getattr(report.current, name)
        before = None if previous is None else getattr(previous, name)
        percent = growth_percent(value, before)
        rows.append(
            (name, str(value), None if before is None else str(before), None if percent is None else str(percent))
        )
    schema = {"figure": pl.String, "value": pl.String, "previous_year": pl.String, "change_percent": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


# --- presenting ---------------------------------------------------------------------------------------


def _against(current: Decimal | int, previous: Decimal | int | None, year: int) -> str:
    text = change(current, previous)
    return f"{text} against {year - 1}" if text else f"no {year - 1} to compare with"


def _ranking_lines(frame: pl.DataFrame, label: str, shown: int) -> list[str]:
    total = frame.height
    rows = frame.to_dicts()
    picked = rows if total <= 2 * shown else rows[:shown] + rows[-shown:]
    lines = []
    for row in picked:
        tag = "best " if row["rank"] <= shown else "worst"
        lines.append(f"  {tag} {row['rank']:>5}. {label.format(**row):<46} {euros(row['revenue'], cents=True):>20}")
    return lines


def render_text(report: Report) -> str:
    """The report as the terminal shows it: key figures, rankings and data quality, German-style money."""
    now, year = report.current, report.year

    def previous(name: str) -> Decimal | int | None:
        return None if report.previous is None else getattr(report.previous, name)

    lines = [
        f"Business report {year} (published catalog version {report.catalog_version})",
        f"  Revenue (gross)  {euros(now.revenue, cents=True):>20}   {_against(now.revenue, previous('revenue'), year)}",
        f"  VAT              {euros(now.vat, cents=True):>20}   {_against(now.vat, previous('vat'), year)}",
        f"  Revenue (net)    {euros(now.net_revenue, cents=True):>20}   "
        f"{_against(now.net_revenue, previous('net_revenue'), year)}",
        f"  Transactions     {count(now.transactions):>20}   "
        f"{_against(now.transactions, previous('transactions'), year)}",
        f"  Average basket   {euros(now.avg_basket, cents=True):>20}   "
        f"{_against(now.avg_basket, previous('avg_basket'), year)}",
        f"  Units            {count(now.units):>20}   {_against(now.units, previous('units'), year)}",
        "Federal states by revenue (gross):",
        *_ranking_lines(report.states, "{state_name} ({state_code})", SHOWN),
        "Categories by revenue (gross):",
        *_ranking_lines(report.categories, "{category}", SHOWN),
        f"Products by revenue (gross), of {count(report.products.height)} with sales:",
        *_ranking_lines(report.products, "{product_name}", SHOWN_PRODUCTS),
        f"Quarantined silver lines by reason: {count(int(report.quarantine['lines'].sum()))}",
        *(f"  {row['reason']:<28} {count(row['lines']):>12}" for row in report.quarantine.to_dicts()),
        f"Rejected landing lines by file: {count(int(report.rejected['lines'].sum()))}",
        *(f"  {row['file']:<60} {count(row['lines']):>12}" for row in report.rejected.to_dicts()),
    ]
    return "\n".join(lines)


def csv_frames(report: Report) -> dict[str, pl.DataFrame]:
    """The CSV files of the report by file name: exact figures, rank first where ranked."""
    return {
        "key_figures.csv": key_figures(report),
        "months.csv": report.months,
        "states.csv": report.states,
        "categories.csv": report.categories,
        "products.csv": report.products,
        "quarantine_by_reason.csv": report.quarantine,
        "rejected_by_file.csv": report.rejected,
    }


def _figure_html(traces: list[dict[str, object]], title: str, first: bool, horizontal: bool = False) -> str:
    import plotly.graph_objects as go

    figure = go.Figure(data=traces)
    figure.update_layout(
        title=title,
        separators=PLOTLY_SEPARATORS,
        template="plotly_white",
        height=max(360, 24 * max((len(t.get("y", [])) for t in traces), default=0)) if horizontal else 400,
        margin={"l": 220 if horizontal else 60, "r": 20, "t": 60, "b": 40},
    )
    if horizontal:
        figure.update_yaxes(autorange="reversed")
    return figure.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False})


def _floats(values: list[Decimal | None]) -> list[float | None]:
    """Decimal to float for drawing only; every figure in a table or file stays exact."""
    return [None if v is None else float(v) for v in values]


def _table(frame: pl.DataFrame, columns: dict[str, str], money: tuple[str, ...] = ("revenue",)) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())
    body = []
    for row in frame.to_dicts():
        cells = []
        for name in columns:
            value = row[name]
            text = euros(value, cents=True) if name in money else count(value) if isinstance(value, int) else value
            cells.append(f"<td>{html.escape(str(text))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Report) -> str:
    """One self-contained page: key figures, charts (Plotly's JavaScript inlined once) and ranking tables."""
    year = report.year
    months = report.months
    month_traces = [{"type": "bar", "name": str(year), "x": months["month"].to_list(),
                     "y": _floats(months["revenue"].to_list())}]  # fmt: skip
    if report.previous is not None:
        before = _floats(months["previous_revenue"].to_list())
        month_traces.insert(0, {"type": "bar", "name": str(year - 1), "x": months["month"].to_list(), "y": before,
                                "marker": {"color": "#bbb"}})  # fmt: skip
    top = report.products.head(20)

    def bars(frame: pl.DataFrame, label: str) -> list[dict[str, object]]:
        return [{"type": "bar", "orientation": "h", "y": frame[label].to_list(),
                 "x": _floats(frame["revenue"].to_list())}]  # fmt: skip

    charts = [
        _figure_html(month_traces, f"Revenue (gross) per month, {year} against {year - 1}", first=True),
        _figure_html(bars(report.states, "state_name"), "Revenue (gross) by federal state", False, horizontal=True),
        _figure_html(bars(report.categories, "category"), "Revenue (gross) by category", False, horizontal=True),
        _figure_html(bars(top, "product_name"), "Top 20 products by revenue (gross)", False, horizontal=True),
        _figure_html([{"type": "bar", "x": report.quarantine["reason"].to_list(),
                       "y": report.quarantine["lines"].to_list()}], "Quarantined silver lines by reason", False),
    ]  # fmt: skip
    figures = key_figures(report)
    labels = {"revenue": "Revenue (gross)", "vat": "VAT", "net_revenue": "Revenue (net)", "units": "Units",
              "transactions": "Transactions", "lines": "Lines", "avg_basket": "Average basket"}  # fmt: skip
    money = {"revenue", "vat", "net_revenue", "avg_basket"}
    key_rows = []
    for row in figures.to_dicts():
        name = row["figure"]

        def shown(value: str | None, name: str = name) -> str:
            if value is None:
                return "–"
            return euros(Decimal(value), cents=True) if name in money else count(int(value))

        previous = None if report.previous is None else getattr(report.previous, name)
        key_rows.append(
            f"<tr><td>{labels[name]}</td><td>{shown(row['value'])}</td><td>{shown(row['previous_year'])}</td>"
            f"<td>{change(getattr(report.current, name), previous) or '–'}</td></tr>"
        )
    rejected = (
        _table(report.rejected, {"file": "File", "lines": "Lines"})
        if report.rejected.height
        else "<p>No landing line was rejected.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Business report {year}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>Business report {year}</h1>
<p>Published data only (catalog version {report.catalog_version}). Money is gross unless it says net; exact figures
are in the CSV files next to this page.</p>
<h2>Key figures</h2>
<table><thead><tr><th></th><th>{year}</th><th>{year - 1}</th><th>Change</th></tr></thead>
<tbody>{"".join(key_rows)}</tbody></table>
{charts[0]}
<h2>Federal states</h2>{charts[1]}
{
        _table(
            report.states,
            {
                "rank": "Rank",
                "state_name": "State",
                "region": "Region",
                "revenue": "Revenue (gross)",
                "net_revenue": "Revenue (net)",
                "transactions": "Transactions",
            },
            ("revenue", "net_revenue"),
        )
    }
<h2>Categories</h2>{charts[2]}
{
        _table(
            report.categories,
            {
                "rank": "Rank",
                "category": "Category",
                "revenue": "Revenue (gross)",
                "net_revenue": "Revenue (net)",
                "units": "Units",
            },
            ("revenue", "net_revenue"),
        )
    }
<h2>Products</h2>{charts[3]}
<h3>Best 10</h3>{
        _table(
            report.products.head(10),
            {
                "rank": "Rank",
                "product_name": "Product",
                "category": "Category",
                "revenue": "Revenue (gross)",
                "units": "Units",
            },
        )
    }
<h3>Worst 10 (of products with sales)</h3>
{
        _table(
            report.products.tail(10),
            {
                "rank": "Rank",
                "product_name": "Product",
                "category": "Category",
                "revenue": "Revenue (gross)",
                "units": "Units",
            },
        )
    }
<h2>Data quality</h2>{charts[4]}
{_table(report.quarantine, {"reason": "Quarantine reason", "lines": "Lines"}, ())}
<h3>Rejected landing lines by file</h3>{rejected}
</body></html>
"""


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """Write the CSV files and `report.html` into `out_dir` (created if needed); the paths written."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in csv_frames(report).items():
            frame.write_csv(out_dir / name)
            written.append(out_dir / name)
        page = out_dir / "report.html"
        page.write_text(render_html(report), encoding="utf-8")
        written.append(page)
    except OSError as error:
        raise LakehouseError(f"cannot write the report into {out_dir}: {error.strerror or error}") from None
    return written
