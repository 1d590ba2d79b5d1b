"""What one sync of a project's events did: the summary the CLI prints and Dagster records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from loader.publish import StagedHour


@dataclass
class SyncReport:
    """What a sync did, for the CLI's summary and Dagster's metadata.

    Attributes:
        project: The project's label.
        hours_loaded: Hours published with rows.
        hours_empty: Hours published as empty (a 404 or no member, past the lag).
        rows: Rows published.
        rejects: Lines rejected.
        bytes_downloaded: Bytes of zips downloaded.
        bytes_json: Decompressed bytes read.
        requests: Export requests made.
        splits: Windows split in half after a size-limit 400 or a 504.
        seconds: Wall time.
        duplicates: Later copies of uuids hidden by the catalog, after the sync.
        unchanged: Hours a re-check exported again and found unchanged (not replaced).
        project_id: The project's id.
        failures: Explanations of hours that failed.
        published: The hours published.
        rows_by_hour: Rows of each published hour.
    """

    project: str
    project_id: str = ""
    hours_loaded: int = 0
    hours_empty: int = 0
    rows: int = 0
    rejects: int = 0
    bytes_downloaded: int = 0
    bytes_json: int = 0
    requests: int = 0
    splits: int = 0
    seconds: float = 0.0
    duplicates: int = 0
    unchanged: int = 0
    failures: list[str] = field(default_factory=list)
    published: list[datetime] = field(default_factory=list)
    rows_by_hour: dict[datetime, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        """Rows published per second of wall time."""
        return self.rows / self.seconds if self.seconds else 0.0

    def count(self, published: list[StagedHour]) -> None:
        """Add hours that were just published."""
        for item in published:
            manifest = item.manifest
            self.published.append(item.hour)
            self.rows_by_hour[item.hour] = manifest.rows
            self.rows += manifest.rows
            self.rejects += manifest.rejects
            self.bytes_json += manifest.bytes_json
            if manifest.rows:
                self.hours_loaded += 1
            else:
                self.hours_empty += 1
