"""Manifests: one JSON file per loaded hour, the loader's only state.

An hour is loaded exactly when its manifest exists. The manifest is written after the hour's
data file, so a crash in between leaves an hour that is simply loaded again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from loader.hours import hour_key
from loader.lake import TableLayout


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
        return datetime.strptime(self.hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)

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
    """Reads and writes the manifests of one table of one project.

    Args:
        layout: Where the table lives.
    """

    def __init__(self, layout: TableLayout) -> None:
        self.layout = layout

    def loaded_hours(self) -> set[datetime]:
        """Return every hour that has a manifest, from one folder listing.

        Returns:
            The loaded hours.
        """
        hours = set()
        for name in self.layout.lake.names(self.layout.manifest_dir):
            if name.endswith(".json") and len(name) == len("2024-01-01T00.json"):
                hours.add(datetime.strptime(name[:-5], "%Y-%m-%dT%H").replace(tzinfo=UTC))
        return hours

    def read(self, hour: datetime) -> HourManifest | None:
        """Read one hour's manifest.

        Args:
            hour: The hour.

        Returns:
            The manifest, or None if the hour is not loaded.
        """
        path = self.layout.manifest_file(hour)
        try:
            return HourManifest.from_json(self.layout.lake.read_bytes(path))
        except FileNotFoundError:
            return None

    def write(self, manifest: HourManifest) -> None:
        """Publish a manifest atomically.

        Args:
            manifest: The manifest.
        """
        hour = manifest.hour_start
        assert manifest.hour == hour_key(hour)
        self.layout.lake.write_bytes(self.layout.manifest_file(hour), manifest.to_json())

    def delete(self, hour: datetime) -> None:
        """Forget an hour (it will be loaded again).

        Args:
            hour: The hour.
        """
        self.layout.lake.delete(self.layout.manifest_file(hour))
