"""Publishing staged hours into the lake: one commit per batch of hours, and compaction.

Readers and crashes see a batch whole or not at all:

1. each hour's data, rejects and manifest files are written under new names (nothing that a
   reader may be reading is ever written over);
2. the commit (`loader.snapshot.log`) applies the hours to the newest snapshot: a new duplicate
   index for the keys of those hours, and a new file for every compacted day whose hours
   changed; then the snapshot's record is created, the one atomic step.

A crash before the record leaves the previous snapshot as it was: the hours are not loaded and
the next run loads them again; the files written for nothing are removed by the vacuum. Once a
day is finished (every hour loaded, past the lag and the re-check window) it is compacted once
into one file for readers (`loader.day_files`); until then readers read its hour files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from loader.day_files import DayFiles, days_of
from loader.hours import describe_hours, hour_key
from loader.manifest import HourManifest, ManifestStore
from loader.snapshot.duplicates import DuplicateIndex, UniqueKey
from loader.snapshot.layout import TableLayout
from loader.snapshot.log import CommitLog
from loader.snapshot.state import HourEntry, Snapshot, TableState, with_hours
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)


@dataclass
class StagedHour:
    """One hour ready to publish.

    Attributes:
        hour: The hour.
        manifest: Its manifest.
        data_file: Its Parquet file on local disk, or None for an hour without rows.
        rejects_file: Its gzipped rejects on local disk, or None if nothing was rejected.
    """

    hour: datetime
    manifest: HourManifest
    data_file: Path | None
    rejects_file: Path | None


#: Removes rows that must not enter the lake (erased users) from some new files of a table's
#: state, as of the snapshot a commit applies to: (base, state, new files) -> state.
Scrub = Callable[[Snapshot, TableState, Collection[str]], TableState]


def days_due(state: TableState, finished_before: datetime) -> list[date]:
    """The days to compact: every hour loaded, not compacted yet, ended before a moment.

    Args:
        state: A table's state.
        finished_before: Days that end after this are not finished.

    Returns:
        The days, oldest first.
    """
    per_day: dict[str, int] = {}
    for key in state.hours:
        per_day[key[:10]] = per_day.get(key[:10], 0) + 1
    due = []
    for day, hours in sorted(per_day.items()):
        start = date.fromisoformat(day)
        end = datetime(start.year, start.month, start.day, tzinfo=finished_before.tzinfo)
        if hours == 24 and day not in state.days and end + timedelta(days=1) <= finished_before:
            due.append(start)
    return due


class Publisher:
    """Publishes hours of one table of one project, and compacts its finished days.

    Args:
        layout: Where the table lives.
        scratch: A local folder for temporary files.
        unique: The table's key, unique across hours in the catalog.
        order: The column each hour file is sorted by, which the day files keep (optional).
        scrub: Applied to the new files of every commit, before the index and the day files
            are made from them (a source drops the rows of users it erased).
    """

    def __init__(
        self,
        layout: TableLayout,
        scratch: Path,
        unique: UniqueKey,
        order: str | None = None,
        scrub: Scrub | None = None,
    ) -> None:
        self.scrub = scrub
        self.layout = layout
        self.scratch = scratch
        self.log = CommitLog(layout.lake)
        self.duplicates = DuplicateIndex(layout, unique)
        self.days = DayFiles(layout, scratch, order)

    def publish(self, staged: list[StagedHour]) -> Snapshot | None:
        """Publish hours in one commit.

        Args:
            staged: The hours, with files on local disk (moved into the lake).

        Returns:
            The snapshot committed, or None if there was nothing to publish.
        """
        if not staged:
            return None
        key = self.layout.key
        hours = [s.hour for s in staged]
        with self.log.locked():
            entries = {hour_key(s.hour): self._put(s) for s in staged}
            crash_point("publish.before_commit")

            def change(base: Snapshot) -> dict[str, TableState]:
                before = base.table(key)
                after = with_hours(before, entries)
                if self.scrub is not None:
                    new = {f for e in entries.values() for f in e.files()}
                    after = self.scrub(base, after, new)
                if any(h in before.quarantine for h in entries):  # loaded now: released
                    kept = {h: f for h, f in before.quarantine.items() if h not in entries}
                    after = replace(after, quarantine=kept)
                # An empty hour that had no rows changes no data: quiet hours rewrite nothing.
                moved = [
                    h for h in hours if _data(after, h) is not None or _data(before, h) is not None
                ]
                if moved:
                    crash_point("publish.before_index")
                    index, rows = self.duplicates.refresh(moved, before, after, self.scratch)
                    after = replace(after, index=index, index_rows=rows)
                rebuilt = {}
                for day in days_of(moved):
                    if str(day) in after.days:  # compacted: a new file, in this same commit
                        crash_point("publish.before_days")
                        rebuilt[str(day)] = self.days.build(day, after.hour_files(day))[0]
                return {key: replace(after, days={**after.days, **rebuilt})}

            snapshot = self.log.commit(
                f"publish {self.layout.table} of project {self.layout.project}:"
                f" {describe_hours(hours)}",
                change,
            )
        log.info("published %d hour(s) of %s", len(staged), self.layout.table)
        return snapshot

    def quarantine(self, failed: list[StagedHour]) -> Snapshot | None:
        """Keep the rejected lines of hours that failed, where readers look for rejects.

        The hours stay unloaded (their rows are dropped); their rejects replace those of any
        earlier failed attempt, and are released when the hour loads.

        Args:
            failed: The hours that failed, with their rejects files on local disk.

        Returns:
            The snapshot committed, or None if no hour had a rejects file.
        """
        held = [s for s in failed if s.rejects_file is not None]
        if not held:
            return None
        key, lake = self.layout.key, self.layout.lake
        with self.log.locked():
            files = {}
            for item in held:
                assert item.rejects_file is not None
                files[hour_key(item.hour)] = self.layout.new_rejects_file(item.hour)
                lake.put(item.rejects_file, lake.join(files[hour_key(item.hour)]))

            def change(base: Snapshot) -> dict[str, TableState]:
                state = base.table(key)
                state = replace(state, quarantine={**state.quarantine, **files})
                if self.scrub is not None:
                    state = self.scrub(base, state, set(files.values()))
                return {key: state}

            return self.log.commit(
                f"quarantine the rejects of {self.layout.table} of project"
                f" {self.layout.project}: {describe_hours(s.hour for s in held)}",
                change,
            )

    def compact(self, finished_before: datetime) -> list[date]:
        """Compact every finished day that is not compacted yet, in one commit.

        Args:
            finished_before: Days that end after this moment are not finished (the lag and
                the re-check window may still change them).

        Returns:
            The days compacted.
        """
        key = self.layout.key
        if not days_due(self.log.latest().table(key), finished_before):
            return []
        done: list[date] = []

        def change(base: Snapshot) -> dict[str, TableState]:
            state = base.table(key)
            built = {}
            done.clear()
            for day in days_due(state, finished_before):
                crash_point("compact.before_day")
                built[str(day)] = self.days.build(day, state.hour_files(day))[0]
                done.append(day)
            return {key: replace(state, days={**state.days, **built})}

        self.log.commit(f"compact {self.layout.table} of project {self.layout.project}", change)
        log.info("compacted %d day(s) of %s", len(done), self.layout.table)
        return done

    def _put(self, item: StagedHour) -> HourEntry:
        """Write one hour's files into the lake under new names; they count once committed."""
        lake = self.layout.lake
        crash_point("publish.before_data")
        data = rejects = None
        if item.data_file is not None:
            data = self.layout.new_hour_file(item.hour)
            lake.put(item.data_file, lake.join(data))
        if item.rejects_file is not None:
            rejects = self.layout.new_rejects_file(item.hour)
            lake.put(item.rejects_file, lake.join(rejects))
        crash_point("publish.before_manifest")
        manifest = ManifestStore(self.layout).write(item.manifest)
        return HourEntry(
            manifest=manifest,
            data=data,
            rejects=rejects,
            rows=item.manifest.rows,
            rejected=item.manifest.rejects,
            schema_version=item.manifest.schema_version,
            content_sha256=item.manifest.content_sha256,
        )


def _data(state: TableState, hour: datetime) -> str | None:
    entry = state.hours.get(hour_key(hour))
    return entry.data if entry else None
