"""Manifests: one JSON file per loaded hour, saying what was loaded and how.

An hour is loaded exactly when the newest snapshot lists it (see `loader.snapshot`); its entry
names its manifest, data and rejects files, all written before the commit that lists them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from loader.hours import hour_from_key, hour_key
from loader.snapshot.layout import TableLayout
from loader.snapshot.log import CommitLog
from loader.snapshot.state import HourEntry, Snapshot, TableState


@dataclass
class HourManifest:
    """What is known about one loaded hour.

    Attributes:
        project: Project id.
        table: Table name.
        hour: The upload hour, `YYYY-MM-DDTHH` (UTC).
        rows: Rows in the data file (0 for an empty hour).
        lines_read: Non-blank lines read from the export.
        rejects: Lines rejected (malformed, or a uuid repeated within the hour).
        bytes_json: Decompressed bytes of the hour's members.
        bytes_parquet: Size of the data file.
        bytes_downloaded: This hour's share of its export request's download.
        request: The export request the hour came from: its first and last hour, id, zip sha256.
        content_sha256: Digest of the hour's rows, to tell whether a re-export changed anything.
        schema_version: Version of the table's column set.
        loader_version: Version of the loader that wrote it.
        loaded_at: When the hour was published (ISO, UTC).
        seconds: Timings of the hour's steps.
        extra: Anything else a source records (members, top-level keys seen, ...).
    """

    project: str
    table: str
    hour: str
    rows: int
    lines_read: int
    rejects: int
    bytes_json: int
    bytes_parquet: int
    bytes_downloaded: int
    request: dict[str, Any]
    content_sha256: str
    schema_version: int
    loader_version: str
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    seconds: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hour_start(self) -> datetime:
        """The hour as a datetime."""
        return hour_from_key(self.hour)

    def to_json(self) -> bytes:
        """Serialise for the lake.

        Returns:
            Pretty JSON bytes.
        """
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> HourManifest:
        """Read a manifest written by `to_json` (unknown keys from newer versions are kept).

        Args:
            data: The manifest's bytes.

        Returns:
            The manifest.
        """
        raw = json.loads(data)
        known = {k: raw.pop(k) for k in list(raw) if k in cls.__dataclass_fields__}
        manifest = cls(**known)
        manifest.extra.update(raw)
        return manifest


class ManifestStore:
    """Reads and writes the manifests of one table of one project, as of one snapshot.

    Args:
        layout: Where the table lives.
        snapshot: The snapshot to read (default: the newest committed one).
    """

    def __init__(self, layout: TableLayout, snapshot: Snapshot | None = None) -> None:
        self.layout = layout
        self._snapshot = snapshot

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot read (the newest when this store first needed it)."""
        if self._snapshot is None:
            self._snapshot = CommitLog(self.layout.lake).latest()
        return self._snapshot

    @property
    def state(self) -> TableState:
        """The table as of the snapshot."""
        return self.snapshot.table(self.layout.key)

    def loaded_hours(self) -> set[datetime]:
        """Return every hour the snapshot lists as loaded.

        Returns:
            The loaded hours.
        """
        return {hour_from_key(key) for key in self.state.hours}

    def entry(self, hour: datetime) -> HourEntry | None:
        """Return what the snapshot lists for one hour, or None if it is not loaded."""
        return self.state.hours.get(hour_key(hour))

    def read(self, hour: datetime) -> HourManifest | None:
        """Read one hour's manifest.

        Args:
            hour: The hour.

        Returns:
            The manifest, or None if the hour is not loaded.
        """
        entry = self.entry(hour)
        if entry is None:
            return None
        lake = self.layout.lake
        return HourManifest.from_json(lake.read_bytes(lake.join(entry.manifest)))

    def write(self, manifest: HourManifest) -> str:
        """Write a manifest under a new name; it counts once a commit lists it.

        Args:
            manifest: The manifest.

        Returns:
            Its path, relative to the lake.
        """
        hour = manifest.hour_start
        assert manifest.hour == hour_key(hour)
        path = self.layout.new_manifest_file(hour)
        self.layout.lake.write_bytes(self.layout.lake.join(path), manifest.to_json())
        return path
