"""The one place an events hour's manifest is built: for an hour with rows and for one without.

Every manifest of the events table names the export request it came from (`ExportRequest`), so
that `loaded` and the re-check can tell which download each hour's rows are from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from loader import __version__
from loader.amplitude.schema import LATER_COPY, PLAIN_COLUMNS, SCHEMA_VERSION, arrow_schema
from loader.delta.tables import TableSpec
from loader.hours import hour_key
from loader.later_copies import UniqueKey
from loader.manifest import HourManifest
from loader.planner import Window
from loader.publish import DAY, StagedHour

#: The source's name in the lake, and its events table.
SOURCE = "amplitude"
TABLE = "events"
#: An event is its uuid within its project (a table per project); the earliest upload hour's
#: copy is the one shown, the others are flagged.
UNIQUE = UniqueKey("uuid", "upload_hour", LATER_COPY)
#: The events table: partitioned by upload day; the log describes the times and the flag (no
#: column that names a user).
EVENTS_SPEC = TableSpec(
    schema=pa.schema([*arrow_schema(), (DAY, pa.date32())]),
    partition_by=(DAY,),
    stats=("upload_hour", "event_time", LATER_COPY),
    plain=tuple(sorted(PLAIN_COLUMNS)),
)


@dataclass
class ExportRequest:
    """One export request and what came back, as much as its hours' manifests record.

    Attributes:
        project_id: The configured project.
        window: The hours that were asked for.
        request_id: An id for this export request.
        loaded_at: The load's timestamp.
        zip_path: The downloaded archive (None when Amplitude had no data: HTTP 404).
        zip_sha256: Its digest.
        zip_bytes: Its size.
    """

    project_id: int
    window: Window
    request_id: str
    loaded_at: datetime
    zip_path: Path | None = None
    zip_sha256: str = ""
    zip_bytes: int = 0

    @property
    def archive(self) -> Path:
        """The downloaded zip: only a request that returned one is staged."""
        if self.zip_path is None:
            raise ValueError(f"export request {self.request_id} returned no archive to stage")
        return self.zip_path

    def record(self) -> dict[str, Any]:
        """The request as a manifest's `request` field records it."""
        record: dict[str, Any] = {
            "id": self.request_id,
            "first_hour": hour_key(self.window.first),
            "last_hour": hour_key(self.window.last),
        }
        if self.zip_path is None:
            record["status"] = 404
        else:
            record.update(zip_sha256=self.zip_sha256, zip_bytes=self.zip_bytes)
        return record


@dataclass
class HourFacts:
    """What staging learnt about one hour's rows (all zero for an hour without data).

    Attributes:
        rows: Rows written.
        lines_read: Non-blank lines read.
        rejects: Lines rejected, repeated uuids included.
        repeated: uuids repeated within the hour (counted in `rejects` too).
        bytes_json: Decompressed bytes of the hour's members.
        bytes_parquet: Size of the data file.
        bytes_downloaded: The hour's share of the download.
        content_sha256: Fingerprint of the hour's members.
        members: Each member's name, CRC-32 and size.
        unknown_keys: Top-level keys outside the schema.
        rows_outside_hour: Rows whose server_upload_time is outside the hour.
        write_seconds: Time spent writing the hour's files.
    """

    rows: int = 0
    lines_read: int = 0
    rejects: int = 0
    repeated: int = 0
    bytes_json: int = 0
    bytes_parquet: int = 0
    bytes_downloaded: int = 0
    content_sha256: str = ""
    members: list[dict[str, object]] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)
    rows_outside_hour: int = 0
    write_seconds: float | None = None


def events_manifest(request: ExportRequest, hour: datetime, facts: HourFacts) -> HourManifest:
    """Describe one hour of the events table.

    Args:
        request: The export request the hour came from.
        hour: The upload hour.
        facts: What staging found (`HourFacts()` for an hour without data).

    Returns:
        The manifest.
    """
    return HourManifest(
        project=str(request.project_id),
        table=TABLE,
        hour=hour_key(hour),
        rows=facts.rows,
        lines_read=facts.lines_read,
        rejects=facts.rejects,
        bytes_json=facts.bytes_json,
        bytes_parquet=facts.bytes_parquet,
        bytes_downloaded=facts.bytes_downloaded,
        request=request.record(),
        content_sha256=facts.content_sha256,
        schema_version=SCHEMA_VERSION,
        loader_version=__version__,
        seconds={} if facts.write_seconds is None else {"write": round(facts.write_seconds, 3)},
        extra={
            "duplicates_in_hour": facts.repeated,
            "members": facts.members,
            "unknown_keys": facts.unknown_keys,
            "rows_outside_hour": facts.rows_outside_hour,
        },
    )


def empty_hours(request: ExportRequest, hours: list[datetime]) -> list[StagedHour]:
    """Stage hours of a request that Amplitude answered with "no data" (HTTP 404).

    Args:
        request: The request, without a zip.
        hours: Its hours to record as empty.

    Returns:
        One staged hour without files per hour.
    """
    return [StagedHour(h, events_manifest(request, h, HourFacts()), None, None) for h in hours]


def fingerprint(members: list[tuple[object, object, object]]) -> str:
    """Digest of an hour's members (name, CRC-32, size); empty for an hour without members.

    A re-check compares it with the manifest's `content_sha256` before reading any member.
    """
    if not members:
        return ""
    return hashlib.sha256(json.dumps(members).encode()).hexdigest()
