"""Publishing staged hours into the lake's Delta tables, and compacting finished days.

Publishing a batch of hours is, in this order:

1. one transaction on the data table that replaces exactly those hours: their new files are
   added; the files of their old rows are removed (a compacted day that holds other hours too
   is written again without them); the later-copy flags of their keys are set, in the new
   files and in any other hour's file whose copy changed rank (`loader.later_copies`);
2. one transaction on the rejects table that replaces those hours' rejected lines;
3. one row per hour in the load log (`loader.manifest`): the hours are loaded.

A reader of the data table sees each hour whole, before or after step 1, never missing or
doubled. A crash after step 1 leaves hours whose rows are in but which are not loaded: the next
run loads them again and replaces them. Files are put into the lake before the commit that lists
them; a crash leaves them to the vacuum.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction

from loader.catalog import lake_session, quote_list
from loader.delta.commit import Change, commit
from loader.delta.files import add_file, removal
from loader.delta.maintenance import compact
from loader.delta.rewrite import LiveFile, Transform, holds_any, live_files, replace_file
from loader.delta.tables import DeltaTables, TableSpec
from loader.hours import describe_hours
from loader.later_copies import UniqueKey, flagged, rank
from loader.manifest import HourManifest, ManifestStore
from loader.rejected_lines import Scrub, replace_rejects
from loader.snapshot.layout import TableLayout
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: The partition column of an hourly table: the upload day, `YYYY-MM-DD`.
DAY = "upload_date"


@dataclass
class StagedHour:
    """One hour ready to publish.

    Attributes:
        hour: The hour.
        manifest: Its manifest.
        data_file: Its Parquet file on local disk (the key's flag false on every row), or None
            for an hour without rows.
        rejects_file: Its rejected lines as Parquet on local disk (`REJECTS_SPEC` but
            `loaded`), or None if nothing was rejected.
    """

    hour: datetime
    manifest: HourManifest
    data_file: Path | None
    rejects_file: Path | None


@dataclass
class Published:
    """What one publish committed.

    Attributes:
        version: The data table's version.
        later_copies: Later copies among the keys of the hours published.
        erased_rows: Rows of erased users left out.
    """

    version: int | None
    later_copies: int = 0
    erased_rows: int = 0


@dataclass
class _Batch:
    """A batch's files once in the lake, as they stand after each attempt's scrub and flags."""

    adds: list[AddAction] = field(default_factory=list)
    erased: dict[datetime, int] = field(default_factory=dict)  # rows left out, by hour
    later_copies: int = 0


class Publisher:
    """Publishes hours of one table of one project, and compacts its finished days.

    Args:
        layout: Where the table lives.
        spec: What the table is (partitioned by `upload_date`).
        scratch: A local folder for temporary files.
        unique: The table's key, unique across hours once later copies are left out.
        log_retention: The Delta log's retention (a new table's property).
        scrub: Applied to the new files of every commit attempt (a source drops the rows of
            users it erased).
    """

    def __init__(
        self,
        layout: TableLayout,
        spec: TableSpec,
        scratch: Path,
        unique: UniqueKey,
        *,
        log_retention: timedelta,
        scrub: Scrub | None = None,
    ) -> None:
        self.layout = layout
        self.spec = spec
        self.scratch = scratch
        self.unique = unique
        self.log_retention = log_retention
        self.scrub = scrub
        self.tables = DeltaTables(layout.lake)
        self.rejects = layout.sibling(f"{layout.table}_rejects")

    def publish(self, staged: list[StagedHour]) -> Published | None:
        """Publish hours: their rows, their rejected lines, then their load records.

        Args:
            staged: The hours, with files on local disk (moved into the lake).

        Returns:
            What was committed, or None if there was nothing to publish.
        """
        if not staged:
            return None
        hours = [s.hour for s in staged]
        crash_point("publish.before_data")
        files = {s.data_file: s.hour for s in staged if s.data_file is not None}  # a day's: once
        adds = [
            add_file(self.tables, self.layout.key, self.spec, path, _day(hour))
            for path, hour in files.items()
        ]
        batch = _Batch(adds=[self._only(add, set(hours)) for add in adds])
        version = commit(
            self.tables,
            self.layout.key,
            self.spec,
            f"publish {self.layout.table} of project {self.layout.project}:"
            f" {describe_hours(hours)}",
            lambda table: self._change(table, hours, batch),
            log_retention=self.log_retention,
        )
        crash_point("publish.before_rejects")
        self._replace_rejects(staged, loaded=True)
        crash_point("publish.before_manifest")
        for item in staged:
            if batch.erased.get(item.hour):
                item.manifest.rows -= batch.erased[item.hour]
                item.manifest.extra["erased_rows"] = batch.erased[item.hour]
        ManifestStore(self.layout).append(
            [s.manifest for s in staged], self.scratch, log_retention=self.log_retention
        )
        log.info("published %d hour(s) of %s", len(staged), self.layout.table)
        return Published(version, batch.later_copies, sum(batch.erased.values()))

    def _change(self, table: DeltaTable | None, hours: list[datetime], batch: _Batch) -> Change:
        """The hours' transaction, computed from the version it applies to."""
        if self.scrub is not None:  # each hour's manifest says what it left out
            batch.adds, erased = self.scrub(self.layout.key, self.spec, batch.adds)
            for hour, rows in erased.items():
                batch.erased[hour] = batch.erased.get(hour, 0) + rows
        replaced = set(hours)
        current = live_files(table, self.unique.order) if table is not None else []
        lake = self.layout.lake
        ranks = rank(
            self.unique,
            replaced,
            [lake.url(lake.join(self.layout.key, a.path)) for a in batch.adds],
            [lake.url(lake.join(self.layout.key, f.path)) for f in current],
            self.scratch,
            lake.duckdb_filesystem,
        )
        batch.later_copies = ranks.later_total
        change = Change()
        # The new files, with their later copies flagged (rare: only where a key repeats).
        for add in list(batch.adds):
            flags = self._flags_of(add, ranks.later_new)
            if flags:
                file = LiveFile(add.path, add.size, dict(add.partition_values), 0)
                rewritten = self._rewrite(file, set(), flags)
                lake.delete(lake.join(self.layout.key, add.path))  # never committed
                batch.adds.remove(add)
                batch.adds += rewritten.adds
        change.adds += batch.adds
        # The current files: those of replaced hours go; others are rewritten where their rows
        # are of replaced hours too, or where their flags changed.
        for file in current:
            url = lake.url(lake.join(self.layout.key, file.path))
            flips = {(k, h): later for k, h, later in ranks.changed.get(url, [])}
            holds = _may_hold(file, replaced)
            if not holds and not flips:
                continue
            if holds and not flips and file.low == file.high:
                change.removes.append(removal(file.path, file.size, file.partition))
                continue
            if not flips and not holds_any(
                lake, f"{self.layout.key}/{file.path}", self.unique.order, replaced
            ):
                continue  # its range spans the hours, its rows do not (a quiet hour's reload)
            rewritten = self._rewrite(file, replaced, flips)
            change.adds += rewritten.adds
            change.removes += rewritten.removes
        crash_point("publish.before_commit")
        return change

    def _flags_of(
        self, add: AddAction, later: dict[datetime, set[str]]
    ) -> dict[tuple[str, datetime], bool]:
        """The (key, hour) flags to set in one new file (an hour's or a day's), from the ranks."""
        low, high = _range_of(add, self.unique.order)
        if low is None or high is None:
            return {}
        return {(k, h): True for h, keys in later.items() if low <= h <= high for k in keys}

    def _only(self, add: AddAction, hours: set[datetime]) -> AddAction:
        """A new file holding only rows of the hours published (a day's, some hours failed)."""
        low, high = _range_of(add, self.unique.order)
        if low is None or high is None or low == high:
            return add
        lake, order = self.layout.lake, self.unique.order
        outside = {h for h in _hours_between(low, high) if h not in hours}
        if not outside or not holds_any(lake, f"{self.layout.key}/{add.path}", order, outside):
            return add
        kind = self.spec.schema.field(order).type
        wanted = pa.array(sorted(hours), kind)

        def keep(rows: pa.Table) -> pa.Table:
            return rows.filter(pc.is_in(rows.column(order), value_set=wanted))

        file = LiveFile(add.path, add.size, dict(add.partition_values), 0)
        rewritten, _ = replace_file(
            self.tables, self.layout.key, self.spec, file, self.scratch, keep
        )
        lake.delete(lake.join(self.layout.key, add.path))  # never committed
        (kept,) = rewritten.adds
        return kept

    def _rewrite(
        self, file: LiveFile, replaced: set[datetime], flips: dict[tuple[str, datetime], bool]
    ) -> Change:
        """A file written again without the replaced hours' rows, with some flags set."""
        rewritten, _ = replace_file(
            self.tables,
            self.layout.key,
            self.spec,
            file,
            self.scratch,
            self._transform(replaced, flips),
        )
        return rewritten

    def _transform(
        self, replaced: set[datetime], flips: dict[tuple[str, datetime], bool]
    ) -> Transform:
        order = self.unique.order

        def transform(rows: pa.Table) -> pa.Table:
            if replaced:
                values = pa.array(sorted(replaced), rows.schema.field(order).type)
                rows = rows.filter(pc.invert(pc.is_in(rows.column(order), value_set=values)))
            return flagged(self.unique, rows, flips)

        return transform

    def quarantine(self, failed: list[StagedHour]) -> int | None:
        """Keep the rejected lines of hours that failed, where readers look for rejects.

        The hours stay unloaded (their rows are dropped); their rejects replace those of any
        earlier attempt, marked not loaded, until the hour loads.

        Args:
            failed: The hours that failed, with their rejects files on local disk.

        Returns:
            The rejects table's version committed, or None if no hour had a rejects file.
        """
        return self._replace_rejects([s for s in failed if s.rejects_file is not None], False)

    def _replace_rejects(self, staged: list[StagedHour], loaded: bool) -> int | None:
        return replace_rejects(
            self.tables,
            self.rejects,
            [(s.hour, s.rejects_file) for s in staged],
            loaded=loaded,
            scrub=self.scrub,
            log_retention=self.log_retention,
        )

    def compact(self, finished_before: datetime) -> list[date]:
        """Compact every finished day that has more than one file (Delta's `optimize`).

        Args:
            finished_before: Days that end after this moment are not finished (the lag and
                the re-check window may still change them).

        Returns:
            The days compacted.
        """
        table = self.tables.open(self.layout.key)
        if table is None:
            return []
        loaded = ManifestStore(self.layout).loaded_hours()
        files_per_day: dict[str, int] = {}
        for file in live_files(table):
            found = file.partition.get(DAY) or ""
            files_per_day[found] = files_per_day.get(found, 0) + 1
        done = []
        for day in days_due(loaded, finished_before):
            if files_per_day.get(f"{day}", 0) < 2:
                continue
            try:
                compact(table, {DAY: f"{day}"}, f"compact {self.layout.table} of {day}", self.spec)
            except CommitFailedError as exc:  # a publish changed the day meanwhile: next time
                log.info("compacting %s of %s: %s; left for the next run", day, self.layout, exc)
                continue
            done.append(day)
            table.update_incremental()
        if done:
            log.info("compacted %d day(s) of %s", len(done), self.layout.table)
        return done

    def later_copies(self) -> int:
        """Later copies in the table's newest version (files whose statistics say they have)."""
        table = self.tables.open(self.layout.key)
        if table is None:
            return 0
        flag = self.unique.flag
        actions = pa.table(table.get_add_actions(flatten=True))
        if f"max.{flag}" not in actions.column_names:
            return 0
        mask = pc.fill_null(actions[f"max.{flag}"], True)
        paths = actions.filter(mask)["path"].to_pylist()
        if not paths:
            return 0
        lake = self.layout.lake
        urls = [lake.url(lake.join(self.layout.key, p)) for p in paths]
        with lake_session(lake.duckdb_filesystem) as con:
            found = con.execute(
                f"SELECT count(*) FROM read_parquet({quote_list(urls)}, hive_partitioning = false,"
                f" union_by_name = true) WHERE {flag}"
            ).fetchone()
        return int(found[0]) if found else 0


def days_due(loaded: set[datetime], finished_before: datetime) -> list[date]:
    """The days every hour of which is loaded and which ended before a moment."""
    per_day: dict[date, int] = {}
    for hour in loaded:
        per_day[hour.date()] = per_day.get(hour.date(), 0) + 1
    due = []
    for day, count in sorted(per_day.items()):
        end = datetime(day.year, day.month, day.day, tzinfo=finished_before.tzinfo)
        if count == 24 and end + timedelta(days=1) <= finished_before:
            due.append(day)
    return due


def _day(hour: datetime) -> dict[str, str]:
    return {DAY: f"{hour:%Y-%m-%d}"}


def _may_hold(file: LiveFile, hours: set[datetime]) -> bool:
    """Whether a file's range (from the log) may hold rows of some hours."""
    if file.low is None or file.high is None:
        return True
    return any(file.low <= h <= file.high for h in hours)


def _range_of(add: AddAction, order: str) -> tuple[datetime | None, datetime | None]:
    """The first and last hour a new file holds, from its statistics."""
    stats = json.loads(add.stats or "{}")
    found = [stats.get(side, {}).get(order) for side in ("minValues", "maxValues")]
    low, high = (
        datetime.fromisoformat(str(v).replace("Z", "+00:00")) if v else None for v in found
    )
    return low, high


def _hours_between(low: datetime, high: datetime) -> list[datetime]:
    out, hour = [], low
    while hour <= high:
        out.append(hour)
        hour += timedelta(hours=1)
    return out
