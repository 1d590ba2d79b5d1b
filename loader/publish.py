"""Publishing staged hours into the lake, so that readers and crashes never see half of it.

Order, all under the table's publish lock:

0. a marker names each schema version about to appear (`_state/<table>/schema_version=<n>`), so
   readers know whether all files share one schema, and never believe so wrongly;
1. a journal names the hours about to change;
2. each hour's data file replaces the old one in one rename (an empty hour deletes it);
3. its rejects file, then its manifest, are written: the manifest marks the hour loaded;
4. the duplicate index is recomputed for the keys of those hours;
5. the read copies of their days are rebuilt (`loader.day_files`): readers see the new hours here;
6. the journal is removed.

A crash before 3 leaves the hour unloaded, so the next run loads it again. A crash between 2 and
6 leaves the journal, and the next run finishes steps 4 and 5 before doing anything else.

The index is refreshed before the copies so that a later copy of a key is hidden before it
becomes visible, not after.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loader.day_files import DayFiles, days_of
from loader.dedupe import DuplicateIndex
from loader.hours import hour_key
from loader.lake import TableLayout
from loader.manifest import HourManifest, ManifestStore
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

JOURNAL = "publishing.json"
#: Prefix of the markers that name the schema versions of a table's data files.
SCHEMA_MARKER = "schema_version="
LOCK = "publish.lock"


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


class Publisher:
    """Publishes hours of one table of one project.

    Args:
        layout: Where the table lives.
        scratch: A local folder for temporary files.
        key: The table's key column, unique across hours in the catalog.
        order: The column each hour file is sorted by, which the day copies keep (optional).
    """

    def __init__(
        self, layout: TableLayout, scratch: Path, key: str = "uuid", order: str | None = None
    ) -> None:
        self.layout = layout
        self.scratch = scratch
        self.manifests = ManifestStore(layout)
        self.duplicates = DuplicateIndex(layout, key=key)
        self.days = DayFiles(layout, scratch, order)
        self._journal = layout.state_file(JOURNAL)
        self._lock = layout.state_file(LOCK)

    def recover(self) -> bool:
        """Finish a publish that a crash interrupted, and build the day copies that are missing.

        Returns:
            True if a publish was interrupted.
        """
        lake = self.layout.lake
        with lake.lock(self._lock):
            interrupted = lake.exists(self._journal)
            if interrupted:
                hours = [
                    datetime.fromisoformat(h) for h in json.loads(lake.read_bytes(self._journal))
                ]
                log.warning("finishing an interrupted publish of %d hour(s)", len(hours))
                self.duplicates.refresh(hours, self.scratch)
                self.days.rebuild(days_of(hours))
                lake.delete(self._journal)
            missing = self.days.missing()
            if missing:
                log.warning(
                    "building the read copies of %d day(s) of %s (%s to %s)",
                    len(missing),
                    self.layout.table,
                    missing[0],
                    missing[-1],
                )
                self.days.rebuild(missing)
            return interrupted

    def publish(self, staged: list[StagedHour]) -> int:
        """Publish hours atomically, one by one, then refresh the duplicate index and day copies.

        Args:
            staged: The hours, with files on local disk (moved into the lake).

        Returns:
            How many later copies of keys the duplicate index lists afterwards.
        """
        if not staged:
            return 0
        lake = self.layout.lake
        hours = [s.hour for s in staged]
        with lake.lock(self._lock):
            # An empty hour that had no file changes no day: quiet hours rewrite nothing.
            changed = [
                s.hour
                for s in staged
                if s.data_file is not None or lake.exists(self.layout.data_file(s.hour))
            ]
            for version in sorted({s.manifest.schema_version for s in staged if s.data_file}):
                marker = self.layout.state_file(f"{SCHEMA_MARKER}{version}")
                if not lake.exists(marker):
                    lake.write_bytes(marker, b"")
            lake.write_bytes(self._journal, json.dumps([h.isoformat() for h in hours]).encode())
            for item in staged:
                self._publish_hour(item)
            crash_point("publish.before_duplicates")
            count = self.duplicates.refresh(hours, self.scratch)
            crash_point("publish.before_days")
            self.days.rebuild(days_of(changed))
            lake.delete(self._journal)
        log.info("published %d hour(s) of %s", len(staged), self.layout.table)
        return count

    def _publish_hour(self, item: StagedHour) -> None:
        lake = self.layout.lake
        data_path = self.layout.data_file(item.hour)
        rejects_path = self.layout.rejects_file(item.hour)
        crash_point("publish.before_data")
        if item.data_file is None:
            lake.delete(data_path)
        else:
            lake.put(item.data_file, data_path)
        crash_point("publish.before_manifest")
        if item.rejects_file is None:
            lake.delete(rejects_path)
        else:
            lake.put(item.rejects_file, rejects_path)
        self.manifests.write(item.manifest)
        log.debug("published %s hour %s", self.layout.table, hour_key(item.hour))
