"""Where files live in the lake: the one place that names them.

Every data, index, manifest and rejects file gets a name that was never used before (a random
part id), so that no file is ever written over a path a reader may be reading: a query opens a
path more than once, and DuckDB caches Parquet footers by path. Which of these files make up the
lake at a moment is said by the commit log (`loader.snapshot.log`), never by a folder listing.

```
<source>/project=<id>/<table>/upload_date=D/hour=HH/part-<id>.parquet   an hour's rows
<source>/project=<id>/<table>_by_day/upload_date=D/part-<id>.parquet    a compacted day
<source>/project=<id>/_index/<table>/duplicates-<id>.parquet             later copies of keys
<source>/project=<id>/_manifests/<table>/<hour>-<id>.json                an hour's manifest
<source>/project=<id>/_rejects/<table>/<hour>-<id>.jsonl.gz              an hour's rejected lines
<source>/project=<id>/<table>/[<k>=<v>/]snapshot_at=<stamp>/part-<id>.parquet   a snapshot table
<source>/project=<id>/_state/<table>/...                                 the loader's own notes
```

Paths here are relative to the lake's root; `Lake.join` makes them absolute.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from loader.hours import hour_key
from loader.lake import Lake
from loader.object_store import NOTES

#: Suffix of the folder beside a table that holds its compacted days.
DAY_SUFFIX = "_by_day"
#: The snapshot log's table: one JSON record per snapshot run and kind.
SNAPSHOT_LOG = "_snapshots"
#: The folder of the loader's own notes (last run, quotas): the vacuum never touches it.
STATE = NOTES


def part_id() -> str:
    """A name part never used before."""
    return uuid.uuid4().hex[:20]


@dataclass(frozen=True)
class TableLayout:
    """Where one table of one project of one source lives in the lake.

    Attributes:
        lake: The lake.
        source: The source's name, for example `amplitude`.
        project: The project id.
        table: The table's name, for example `events`.
    """

    lake: Lake
    source: str
    project: str
    table: str

    @property
    def key(self) -> str:
        """The table's key in a snapshot: `<source>/project=<id>/<table>`."""
        return f"{self.source}/project={self.project}/{self.table}"

    @property
    def project_root(self) -> str:
        """The project's folder, relative to the lake."""
        return f"{self.source}/project={self.project}"

    def new_hour_file(self, hour: datetime) -> str:
        """A new name for one hour's rows."""
        return (
            f"{self.project_root}/{self.table}/upload_date={hour:%Y-%m-%d}/hour={hour:%H}"
            f"/part-{part_id()}.parquet"
        )

    def new_day_file(self, day: date) -> str:
        """A new name for one compacted upload day."""
        return (
            f"{self.project_root}/{self.table}{DAY_SUFFIX}/upload_date={day:%Y-%m-%d}"
            f"/part-{part_id()}.parquet"
        )

    def new_index_file(self) -> str:
        """A new name for the duplicate index."""
        return f"{self.project_root}/_index/{self.table}/duplicates-{part_id()}.parquet"

    def new_manifest_file(self, hour: datetime) -> str:
        """A new name for one hour's manifest."""
        return f"{self.project_root}/_manifests/{self.table}/{hour_key(hour)}-{part_id()}.json"

    def new_rejects_file(self, hour: datetime) -> str:
        """A new name for one hour's rejected lines."""
        return f"{self.project_root}/_rejects/{self.table}/{hour_key(hour)}-{part_id()}.jsonl.gz"

    def new_snapshot_file(self, stamp: str, part: tuple[str, str] | None = None) -> str:
        """A new name for one snapshot of a snapshot table (optionally one part, a cohort)."""
        level = f"{part[0]}={part[1]}/" if part else ""
        return (
            f"{self.project_root}/{self.table}/{level}snapshot_at={stamp}/part-{part_id()}.parquet"
        )

    def replacement(self, path: str) -> str:
        """A new name beside a file, for a copy of it rewritten (a snapshot table's file)."""
        folder, name = path.rsplit("/", 1)
        suffix = name[name.index(".") :] if "." in name else ""
        return f"{folder}/part-{part_id()}{suffix}"

    def state_file(self, name: str) -> str:
        """A note of the loader's own about this table (not data: readers never read it)."""
        return f"{self.project_root}/{STATE}/{self.table}/{name}"
