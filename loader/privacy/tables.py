"""Erasing users from every file of a table's state: the states a commit writes.

An hourly table holds a user's rows in its hour files, its compacted day files, its duplicate
index (the keys of later copies), its hours' rejected lines and the rejects of hours that
failed; a snapshot table in its snapshot files (history included). `StateEraser` rewrites each
file that holds an erased row (`loader.privacy.files`) and returns the table's new state, which
the caller commits. A commit may compute its change again on a newer snapshot (another writer
was first): each file is rewritten once, and the new state is made from what was done.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from loader.lake import Lake
from loader.manifest import HourManifest, ManifestStore
from loader.privacy.erased import ErasedIds
from loader.privacy.files import (
    Rewritten,
    count_erased_records,
    count_erased_rows,
    drop_keys,
    rewrite_parquet,
    rewrite_records,
)
from loader.snapshot.layout import TableLayout
from loader.snapshot.state import HourEntry, TableState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasableTable:
    """How a table's rows name users.

    Attributes:
        ids: Kind of id (`amplitude_id`, `user_id`, ...) to the column that holds it.
        time: The column compared with an erased id's cutoff (when the row arrived).
        key: Columns that name a row in the table's duplicate index (hourly tables).
        rejects_time: The field of a rejected line's record that holds its time.
    """

    ids: Mapping[str, str]
    time: str
    key: tuple[str, ...] = ()
    rejects_time: str = "upload_hour"


@dataclass
class TableErasure:
    """What erasing one table did.

    Attributes:
        rows: Part of the table (`rows`, `day_files`, `duplicate_index`, `rejects`, ...) to
            rows or records removed.
        files: Files rewritten (a file left empty counts: it is dropped).
    """

    rows: Counter[str] = field(default_factory=Counter)
    files: int = 0


class StateEraser:
    """Erases users from the files of one table of one project.

    Args:
        layout: Where the table lives (names for the new files).
        table: How its rows name users.
        erased: The ids to erase.
        scratch: A local folder for files being written.
    """

    def __init__(
        self, layout: TableLayout, table: ErasableTable, erased: ErasedIds, scratch: Path
    ) -> None:
        self.layout = layout
        self.table = table
        self.erased = erased
        self.scratch = scratch
        # Old file to (new file, "" if left empty; what was done), None if it held no one.
        self._done: dict[str, tuple[str, Rewritten] | None] = {}
        self._manifests: dict[str, str] = {}

    def erase(
        self, state: TableState, only: Collection[str] | None = None
    ) -> tuple[TableState, TableErasure]:
        """Return the state without the erased users' rows, and what was removed.

        Args:
            state: The table's state.
            only: Rewrite only these files (a load's new hours; the duplicate index is then
                left to the load, which computes it anew); None: every file.

        Returns:
            The new state (equal to `state` if nothing was erased) and the counts.
        """
        report = TableErasure()
        if not self.erased:
            return state, report

        def wanted(path: str | None) -> bool:
            return bool(path) and (only is None or path in only)

        days = dict(state.days)
        clean_days = set()  # a day file holds its hours' rows: if it holds no one, they do not
        for day, path in state.days.items():
            done = self._parquet(path, "day_files", report) if wanted(path) else None
            if done is not None:
                days[day] = done[0]
            elif only is None:
                clean_days.add(day)
        hours = dict(state.hours)
        keys: list[pa.Table] = []
        for hour, entry in state.hours.items():
            clean = hour[:10] in clean_days
            data = (
                self._parquet(entry.data, "rows", report)
                if wanted(entry.data) and not clean
                else None
            )
            rejects = self._records(entry.rejects, report) if wanted(entry.rejects) else None
            if data is not None and data[1].keys is not None:
                keys.append(data[1].keys)
            if data is not None or rejects is not None:
                hours[hour] = self._entry(hour, entry, data, rejects)
        quarantine = dict(state.quarantine)
        for hour, path in state.quarantine.items():
            if wanted(path) and (done := self._records(path, report)) is not None:
                quarantine[hour] = done[0]
        files = []
        for path in state.files:
            done = self._parquet(path, "rows", report) if wanted(path) else None
            files.append(path if done is None else done[0])
        index, index_rows = state.index, state.index_rows
        if only is None and state.index and keys:
            found = self._index(state.index, pa.concat_tables(keys), report)
            if found is not None:
                index, index_rows = found[0] or None, found[1].rows
        new = replace(
            state,
            hours=hours,
            days=days,
            quarantine={h: p for h, p in quarantine.items() if p},
            files=tuple(p for p in files if p),
            index=index,
            index_rows=index_rows,
        )
        return new, report

    def _parquet(
        self, path: str | None, part: str, report: TableErasure
    ) -> tuple[str, Rewritten] | None:
        """Rewrite a Parquet file of the table (once); count what it removed."""
        assert path
        if path not in self._done:
            done = rewrite_parquet(
                self.layout.lake,
                path,
                self.erased,
                self.table.ids,
                self.table.time,
                self.scratch,
                self.table.key if part == "rows" else (),
            )
            self._done[path] = None if done is None else (self._put(path, done), done)
        return self._count(path, part, report)

    def _records(self, path: str | None, report: TableErasure) -> tuple[str, Rewritten] | None:
        """Rewrite a file of rejected lines (once); count what it removed."""
        assert path
        if path not in self._done:
            done = rewrite_records(
                self.layout.lake,
                path,
                self.erased,
                self.table.ids.keys(),
                self.table.rejects_time,
                self.scratch,
            )
            self._done[path] = None if done is None else (self._put(path, done), done)
        return self._count(path, "rejects", report)

    def _index(
        self, path: str, keys: pa.Table, report: TableErasure
    ) -> tuple[str, Rewritten] | None:
        """Rewrite the duplicate index without the erased rows' keys (once)."""
        if path not in self._done:
            done = drop_keys(self.layout.lake, path, keys, self.scratch)
            self._done[path] = None if done is None else (self._put(path, done), done)
        return self._count(path, "duplicate_index", report)

    def _count(self, path: str, part: str, report: TableErasure) -> tuple[str, Rewritten] | None:
        done = self._done[path]
        if done is not None:
            report.rows[part] += done[1].removed
            report.files += 1
        return done

    def _put(self, old: str, done: Rewritten) -> str:
        """Move a rewritten file into the lake under a new name ("" for a file left empty)."""
        if done.local is None:
            return ""
        lake = self.layout.lake
        new = self.layout.replacement(old)
        lake.put(done.local, lake.join(new))
        return new

    def _entry(
        self,
        hour: str,
        entry: HourEntry,
        data: tuple[str, Rewritten] | None,
        rejects: tuple[str, Rewritten] | None,
    ) -> HourEntry:
        """An hour's entry after its files were rewritten, with a manifest that says so."""
        key = f"{entry.manifest}#{data and data[0]}#{rejects and rejects[0]}"
        if key not in self._manifests:
            lake = self.layout.lake
            manifest = HourManifest.from_json(lake.read_bytes(lake.join(entry.manifest)))
            if data is not None:
                manifest.rows = data[1].rows
                manifest.bytes_parquet = lake.files(lake.join(data[0]))[0].size if data[0] else 0
                manifest.extra["erased_rows"] = manifest.extra.get("erased_rows", 0) + (
                    data[1].removed
                )
            if rejects is not None:
                manifest.rejects -= rejects[1].removed
                manifest.extra["erased_rejects"] = manifest.extra.get("erased_rejects", 0) + (
                    rejects[1].removed
                )
            self._manifests[key] = ManifestStore(self.layout).write(manifest)
            log.debug("hour %s: rewrote its files without erased users", hour)
        return replace(
            entry,
            manifest=self._manifests[key],
            data=(data[0] or None) if data is not None else entry.data,
            rows=data[1].rows if data is not None else entry.rows,
            rejects=(rejects[0] or None) if rejects is not None else entry.rejects,
            rejected=entry.rejected - rejects[1].removed if rejects is not None else entry.rejected,
        )


def erased_rows_left(
    lake: Lake, table: ErasableTable, state: TableState, erased: ErasedIds
) -> Counter[str]:
    """Rows and rejected lines of erased users that a table's state still holds (a check).

    Args:
        lake: The lake.
        table: How the table's rows name users.
        state: The table's state.
        erased: The erased ids.

    Returns:
        Part of the table to rows left (empty when none is).
    """
    left: Counter[str] = Counter()
    if not erased:
        return left
    for path in [*state.read_files(), *state.files]:
        left["rows"] += count_erased_rows(lake, path, erased, table.ids, table.time)
    rejects = [e.rejects for e in state.hours.values() if e.rejects]
    for path in [*rejects, *state.quarantine.values()]:
        left["rejects"] += count_erased_records(
            lake, path, erased, table.ids.keys(), table.rejects_time
        )
    return +left
