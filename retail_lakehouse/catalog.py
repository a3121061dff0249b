"""The published state of the lakehouse, and the reader API: `scan` returns published data only.

Write-audit-publish: runs write new Delta versions of tables (staged, invisible to readers), blocking checks
audit what was written and record their verdicts here, and a publish step makes every table of a year (or
the dimensions) visible in one atomic step: a new catalog snapshot naming the published Delta version of
every table. Snapshots are numbered files `_catalog/snapshots/<version>.json`, each created exclusively and
never changed, so the newest one is the published state; a kill at any moment leaves either the previous
snapshot or the complete new one. `history` lists them and `rollback` publishes an earlier one again.

Years are independent: a year's publish takes only that year's files of a table, from the newest version,
and records which version each published year is read from. So runs of several years at once (one writer,
many workers) may stage their years in the same tables side by side, and each publishes its own year when
its checks passed; while all published years are as the newest version has them (a run at a time), a
table is published as that one version, as before.

Under an `s3://` root the same names are records created by a conditional commit (see storage.py), and the
audit verdicts are objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from retail_lakehouse.errors import LakehouseError, StorageError
from retail_lakehouse.storage import WHOLE_TABLE, Lakehouse, Location

SNAPSHOT_DIGITS = 8
SNAPSHOT_NAME = re.compile(r"^(\d{8})\.json$")
PUBLISH_ATTEMPTS = 20


# Yearly tables that can rightly hold no rows for a year (a clean year has no quarantine and no unreadable
# landing lines): a publish does not refuse them for being empty.
MAY_BE_EMPTY = ("silver/transactions_quarantine", "bronze/rejected_lines")


class PublishError(LakehouseError):
    """A publish was refused: something the year needs is missing or did not pass its audit."""


class PublishConflict(PublishError):
    """Another publish created the next catalog version first."""


@dataclass(frozen=True)
class PublishedTable:
    """One table in a snapshot: its published Delta version and rows per year (`all` if unpartitioned).

    `years` names the version a published year is read from where that is not `delta_version` (a year
    published while another year's run had staged data in the table); only years in `rows` are published.
    """

    delta_version: int
    rows: dict[str, int] = field(default_factory=dict)
    years: dict[str, int] = field(default_factory=dict)

    def version_of(self, year: str) -> int:
        return self.years.get(year, self.delta_version)

    def versions(self) -> dict[str, int]:
        """The version each published year (or `all`) is read from."""
        return {year: self.version_of(year) for year in self.rows}


@dataclass(frozen=True)
class Snapshot:
    """One published state of every table."""

    version: int
    published_at: str
    run_id: str
    action: str
    tables: dict[str, PublishedTable]

    def to_json(self) -> str:
        raw = asdict(self)
        for table in raw["tables"].values():
            if not table["years"]:
                del table["years"]  # every year at `delta_version`: written as before years could differ
        return json.dumps(raw, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        raw = json.loads(text)
        tables = {key: PublishedTable(**value) for key, value in raw.pop("tables").items()}
        return cls(tables=tables, **raw)

    def table(self, layer: str, table: str) -> PublishedTable | None:
        return self.tables.get(table_key(layer, table))


EMPTY = Snapshot(version=0, published_at="", run_id="", action="nothing published yet", tables={})


def table_key(layer: str, table: str) -> str:
    return f"{layer}/{table}"


def split_key(key: str) -> tuple[str, str]:
    layer, _, table = key.partition("/")
    return layer, table


@dataclass(frozen=True)
class Catalog:
    """The snapshots and audit verdicts of one data root."""

    lakehouse: Lakehouse

    @property
    def _snapshots(self) -> Location:
        return self.lakehouse.internal("snapshots")

    def _snapshot_location(self, version: int) -> Location:
        return self.lakehouse.internal("snapshots", f"{version:0{SNAPSHOT_DIGITS}d}.json")

    def versions(self) -> list[int]:
        names = self.lakehouse.names(self._snapshots)
        return sorted(int(m.group(1)) for name in names if (m := SNAPSHOT_NAME.match(name)))

    def current(self) -> Snapshot:
        versions = self.versions()
        return self.snapshot(versions[-1]) if versions else EMPTY

    def snapshot(self, version: int) -> Snapshot:
        try:
            text = self.lakehouse.read_exclusive(self._snapshot_location(version))
        except FileNotFoundError:
            known = self.versions()
            span = f"{known[0]}..{known[-1]}" if known else "none yet"
            raise LakehouseError(f"catalog version {version} does not exist (published versions: {span})") from None
        return Snapshot.from_json(text)

    def history(self) -> list[Snapshot]:
        return [self.snapshot(v) for v in self.versions()]

    def commit(self, changes: Mapping[str, PublishedTable], run_id: str, action: str, base: Snapshot) -> Snapshot:
        """Publish `changes` on top of `base` as the next snapshot; refused if another publish came first."""
        snapshot = Snapshot(
            version=base.version + 1,
            published_at=datetime.now(UTC).isoformat(timespec="seconds"),
            run_id=run_id,
            action=action,
            tables=dict(base.tables) | dict(changes),
        )
        if not self.lakehouse.create_exclusively(self._snapshot_location(snapshot.version), snapshot.to_json()):
            raise PublishConflict(f"another publish created catalog version {snapshot.version} first; run again")
        return snapshot

    def read(
        self, layer: str, table: str, years: Iterable[int] | None = None, snapshot: Snapshot | None = None
    ) -> pl.LazyFrame:
        """The published rows of a table in `snapshot` (default: the current one), of `years` if given."""
        snapshot = self.current() if snapshot is None else snapshot
        published = snapshot.table(layer, table)
        if published is None:
            raise StorageError(
                f"{layer}/{table} has no published data in {self.lakehouse.location}: run `lakehouse run` first"
            )
        if WHOLE_TABLE in published.rows or not self.lakehouse.partitioned(layer, table, published.delta_version):
            return self.lakehouse.scan(layer, table, published.delta_version, years)
        wanted = {y for y in published.rows if years is None or int(y) in {int(w) for w in years}}
        by_version: dict[int, list[int]] = {}
        for year in sorted(wanted):
            by_version.setdefault(published.version_of(year), []).append(int(year))
        if not by_version:
            return self.lakehouse.scan(layer, table, published.delta_version, [])
        return pl.concat([self.lakehouse.scan(layer, table, v, ys) for v, ys in sorted(by_version.items())])

    # --- audits: verdicts of blocking checks on a staged version ---------------------------------------

    def _audit_path(self, key: str, delta_version: int, year: str, check: str) -> Location:
        """Where a verdict on one year of a version is kept: named by that year's files, not by the version.

        So a verdict still holds after another year's writer committed to the same table.
        """
        audited = self.lakehouse.fingerprint(*split_key(key), delta_version, year)
        return self.lakehouse.internal("audits", *key.split("/"), audited, year, f"{check}.json")

    def record_audit(self, key: str, delta_version: int, year: str, check: str, passed: bool, run_id: str) -> None:
        path = self._audit_path(key, delta_version, year, check)
        self.lakehouse.write_text(path, json.dumps({"passed": passed, "run_id": run_id}))

    def audit_passed(self, key: str, delta_version: int, year: str, check: str) -> bool:
        path = self._audit_path(key, delta_version, year, check)
        try:
            return bool(json.loads(self.lakehouse.read_text(path))["passed"])
        except (OSError, ValueError, KeyError):
            return False


def publish(
    catalog: Catalog,
    tables: Iterable[str],
    year: str,
    required_checks: Mapping[str, Iterable[str]],
    run_id: str,
    retention_hours: int,
    may_be_empty: Iterable[str] = (),
) -> Snapshot:
    """Publish the staged `year` of `tables` (`all` for the dimensions) in one snapshot.

    A table takes part if the year's files in its newest version differ from the published ones. Refused,
    with nothing published, if a taking-part year lacks a passed verdict of any of its required checks, or
    if a table would still have no data for the year afterwards (except `may_be_empty` tables: a quarantine
    can be empty). Only the year is published: other years' staged data in the same version stays
    unpublished. If another year's publish comes first, this one is worked out again on top of it.
    Returns the new snapshot (or the current one if nothing changed).
    """
    tables, may_be_empty = list(tables), set(may_be_empty)
    for _ in range(PUBLISH_ATTEMPTS):
        base = catalog.current()
        changes = _year_changes(catalog, base, tables, year, required_checks, may_be_empty)
        if not changes:
            return base
        what = "dimensions" if year == WHOLE_TABLE else year
        try:
            snapshot = catalog.commit(changes, run_id, f"publish {what}", base)
        except PublishConflict:
            continue
        vacuum(catalog, changes, retention_hours)
        return snapshot
    raise PublishError(f"nothing published for {year}: other publishes kept coming first; run again")


def _year_changes(
    catalog: Catalog,
    base: Snapshot,
    tables: list[str],
    year: str,
    required_checks: Mapping[str, Iterable[str]],
    may_be_empty: set[str],
) -> dict[str, PublishedTable]:
    lakehouse = catalog.lakehouse
    changes: dict[str, PublishedTable] = {}
    problems: list[str] = []
    for key in tables:
        layer, table = split_key(key)
        published = base.tables.get(key)
        head = lakehouse.head_version(layer, table)
        was = None if published is None or year not in published.rows else published.version_of(year)
        first = published is None and head is not None  # even a table written empty (no rejected lines at all)
        if head is not None and (
            first or lakehouse.year_files(layer, table, head, year) != lakehouse.year_files(layer, table, was, year)
        ):
            failed = [c for c in required_checks.get(key, ()) if not catalog.audit_passed(key, head, year, c)]
            if failed:
                problems.append(f"{key} version {head} has not passed {', '.join(failed)}")
            else:
                changes[key] = _with_year(lakehouse, key, published, year, head)
        state = changes.get(key, published)
        if key not in may_be_empty and (state is None or year not in state.rows):
            problems.append(f"{key} has no data for {year}")
    if problems:
        raise PublishError(f"nothing published for {year}: " + "; ".join(problems))
    return changes


def _with_year(
    lakehouse: Lakehouse, key: str, published: PublishedTable | None, year: str, head: int
) -> PublishedTable:
    """`published` with `year` as version `head` has it; one version if every other year is alike there."""
    layer, table = split_key(key)
    head_rows = lakehouse.rows_by_year(layer, table, head)
    if year == WHOLE_TABLE:
        return PublishedTable(head, head_rows)
    rows = {y: n for y, n in (published.rows if published else {}).items() if y != year}
    if head_rows.get(year):
        rows[year] = head_rows[year]
    others = {y: published.version_of(y) for y in rows if y != year} if published else {}
    differ = {
        y: v
        for y, v in others.items()
        if v != head and lakehouse.year_files(layer, table, v, y) != lakehouse.year_files(layer, table, head, y)
    }
    return PublishedTable(head, rows, differ)


def vacuum(catalog: Catalog, tables: Iterable[str], retention_hours: int) -> int:
    """Delete old files of `tables`, keeping every version a snapshot younger than the retention names.

    So `rollback` to any snapshot within the retention period finds its files, and readers holding the
    previous snapshot keep working.
    """
    cutoff = datetime.now(UTC) - timedelta(hours=retention_hours)
    recent = [s for s in catalog.history() if datetime.fromisoformat(s.published_at) >= cutoff]
    current = catalog.current()
    removed = 0
    for key in tables:
        keep = {v for s in [*recent, current] if key in s.tables for v in {s.tables[key].delta_version,
                                                                            *s.tables[key].years.values()}}  # fmt: skip
        head = catalog.lakehouse.head_version(*split_key(key))
        if head is not None:
            keep.add(head)
        removed += catalog.lakehouse.vacuum(*split_key(key), keep_versions=keep, retention_hours=retention_hours)
    return removed


def rollback(catalog: Catalog, version: int, run_id: str) -> Snapshot:
    """Publish the tables of an earlier snapshot again, all together, as a new snapshot."""
    current = catalog.current()
    target = catalog.snapshot(version)
    if version == current.version:
        raise LakehouseError(f"catalog version {version} is already the published state")
    lakehouse = catalog.lakehouse
    for key, state in target.tables.items():
        for year, year_version in state.versions().items():
            if not lakehouse.year_files(*split_key(key), year_version, year) and state.rows.get(year):
                raise LakehouseError(f"catalog version {version} cannot be restored: {key} files were vacuumed")
    dropped = {key for key in current.tables if key not in target.tables}
    if dropped:
        raise LakehouseError(f"catalog version {version} lacks tables published since ({', '.join(sorted(dropped))})")
    return catalog.commit(target.tables, run_id, f"rollback to {version}", current)


def scan(
    layer: str,
    table: str,
    *,
    years: Iterable[int] | None = None,
    data_dir: str | Path | None = None,
    version: int | None = None,
) -> pl.LazyFrame:
    """The published rows of a table (`layer` and `table` as in the asset keys), lazily.

    `years` limits a yearly table to those years; `version` reads an earlier published state (a catalog
    version from `lakehouse history`); `data_dir` defaults to `LAKEHOUSE_DATA_DIR`. Data a run wrote but
    did not publish is never returned.
    """
    if data_dir is None:
        from retail_lakehouse.settings import Settings

        lakehouse = Lakehouse.for_settings(Settings.from_env())
    else:
        lakehouse = Lakehouse.at(data_dir)
    catalog = Catalog(lakehouse)
    snapshot = catalog.current() if version is None else catalog.snapshot(version)
    return catalog.read(layer, table, years, snapshot)
