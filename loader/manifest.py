"""The load log: one row per loaded hour of a table, saying what was loaded and how.

A Delta table of its own beside the table it describes (`<source>/project_<id>/load_log/`),
written by the commit after the one that publishes the hours: an hour is loaded once its row is
in. A crash between the two leaves the hour's rows published but the hour not loaded, so the
next run loads it again and replaces them. Rows are only ever added; the newest row of an hour
is its manifest (`loaded_at`), so the log keeps every reload's record.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loader.catalog import lake_session, quote_list
from loader.delta.commit import Change, commit
from loader.delta.files import add_file
from loader.delta.tables import DeltaTables, TableSpec
from loader.hours import hour_from_key, hour_key
from loader.snapshot.layout import TableLayout

#: The load log's table name, beside the tables it describes.
LOAD_LOG = "load_log"

_UTC = pa.timestamp("us", tz="UTC")
LOAD_LOG_SPEC = TableSpec(
    schema=pa.schema(
        [
            ("project_id", pa.int64()),
            ("table_name", pa.string()),
            ("upload_hour", _UTC),
            ("rows", pa.int64()),
            ("lines_read", pa.int64()),
            ("rejects", pa.int64()),
            ("bytes_downloaded", pa.int64()),
            ("bytes_json", pa.int64()),
            ("bytes_parquet", pa.int64()),
            ("request_id", pa.string()),
            ("request_first_hour", _UTC),
            ("request_last_hour", _UTC),
            ("zip_sha256", pa.string()),
            ("content_sha256", pa.string()),
            ("schema_version", pa.int32()),
            ("loader_version", pa.string()),
            ("loaded_at", _UTC),
            ("seconds", pa.string()),  # JSON
            ("extra", pa.string()),  # JSON
            ("request", pa.string()),  # JSON: the whole record of the export request
        ]
    ),
    stats=("upload_hour", "loaded_at"),
)


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
        """Serialise (pretty JSON bytes)."""
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> HourManifest:
        """Read a manifest written by `to_json` (unknown keys from newer versions are kept)."""
        raw = json.loads(data)
        known = {k: raw.pop(k) for k in list(raw) if k in cls.__dataclass_fields__}
        manifest = cls(**known)
        manifest.extra.update(raw)
        return manifest

    def to_row(self) -> dict[str, Any]:
        """The manifest as a row of the load log."""
        return {
            "project_id": int(self.project),
            "table_name": self.table,
            "upload_hour": self.hour_start,
            "rows": self.rows,
            "lines_read": self.lines_read,
            "rejects": self.rejects,
            "bytes_downloaded": self.bytes_downloaded,
            "bytes_json": self.bytes_json,
            "bytes_parquet": self.bytes_parquet,
            "request_id": self.request.get("id"),
            "request_first_hour": _hour_or_none(self.request.get("first_hour")),
            "request_last_hour": _hour_or_none(self.request.get("last_hour")),
            "zip_sha256": self.request.get("zip_sha256"),
            "content_sha256": self.content_sha256,
            "schema_version": self.schema_version,
            "loader_version": self.loader_version,
            "loaded_at": datetime.fromisoformat(self.loaded_at),
            "seconds": json.dumps(self.seconds, sort_keys=True),
            "extra": json.dumps(self.extra, sort_keys=True, default=str),
            "request": json.dumps(self.request, sort_keys=True, default=str),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> HourManifest:
        """Read a row of the load log."""
        loaded_at = row["loaded_at"]
        return cls(
            project=str(row["project_id"]),
            table=row["table_name"],
            hour=hour_key(row["upload_hour"].replace(tzinfo=None)),
            rows=int(row["rows"]),
            lines_read=int(row["lines_read"]),
            rejects=int(row["rejects"]),
            bytes_json=int(row["bytes_json"]),
            bytes_parquet=int(row["bytes_parquet"]),
            bytes_downloaded=int(row["bytes_downloaded"]),
            request=json.loads(row["request"] or "{}"),
            content_sha256=row["content_sha256"] or "",
            schema_version=int(row["schema_version"]),
            loader_version=row["loader_version"] or "",
            loaded_at=loaded_at.astimezone(UTC).isoformat() if loaded_at else "",
            seconds=json.loads(row["seconds"] or "{}"),
            extra=json.loads(row["extra"] or "{}"),
        )


def _hour_or_none(key: object) -> datetime | None:
    return hour_from_key(key) if isinstance(key, str) and key else None


class ManifestStore:
    """The load log of one table of one project, as of its newest version (read once).

    Args:
        layout: Where the table the log describes lives.
        files: The load log's files to read (a pinned version's); default: the newest.
    """

    def __init__(self, layout: TableLayout, files: list[str] | None = None) -> None:
        self.layout = layout
        self.log_layout = layout.sibling(LOAD_LOG)
        self._files = files
        self._manifests: dict[str, HourManifest] | None = None

    def manifests(self) -> dict[str, HourManifest]:
        """Hour key to the newest manifest of each loaded hour."""
        if self._manifests is None:
            self._manifests = self._read()
        return self._manifests

    def _read(self) -> dict[str, HourManifest]:
        lake = self.layout.lake
        files = self._files
        if files is None:
            tables = DeltaTables(lake)
            table = tables.open(self.log_layout.key)
            files = [] if table is None else tables.files(self.log_layout.key, table)
        if not files:
            return {}
        with lake_session(lake.duckdb_filesystem) as con:
            con.execute("SET TimeZone = 'UTC'")
            result = con.execute(
                f"SELECT * FROM read_parquet({quote_list(files)}, hive_partitioning = false,"
                " union_by_name = true) WHERE table_name = $table"
                " QUALIFY row_number() OVER (PARTITION BY upload_hour ORDER BY loaded_at DESC) = 1",
                {"table": self.layout.table},
            )
            names = [d[0] for d in result.description]
            rows = [dict(zip(names, values, strict=True)) for values in result.fetchall()]
        manifests = [HourManifest.from_row(row) for row in rows]
        return {m.hour: m for m in sorted(manifests, key=lambda m: m.hour)}

    def loaded_hours(self) -> set[datetime]:
        """Every hour the log lists as loaded."""
        return {hour_from_key(key) for key in self.manifests()}

    def read(self, hour: datetime) -> HourManifest | None:
        """One hour's newest manifest, or None if the hour is not loaded."""
        return self.manifests().get(hour_key(hour))

    def append(
        self, manifests: list[HourManifest], scratch: Path, *, log_retention: timedelta
    ) -> int | None:
        """Record hours as loaded (one commit).

        Args:
            manifests: Their manifests.
            scratch: A local folder for the new file.
            log_retention: The Delta log's retention (a new table's property).

        Returns:
            The load log's version committed, or None if there was nothing to record.
        """
        if not manifests:
            return None
        tables = DeltaTables(self.layout.lake)
        local = scratch / f"load-log-{uuid.uuid4().hex}.parquet"
        rows = pa.Table.from_pylist([m.to_row() for m in manifests], LOAD_LOG_SPEC.schema)
        pq.write_table(rows, local, compression="zstd")
        key = self.log_layout.key
        added = add_file(tables, key, LOAD_LOG_SPEC, local)
        hours = ", ".join(sorted(m.hour for m in manifests)[:3])
        self._manifests = None
        return commit(
            tables,
            key,
            LOAD_LOG_SPEC,
            f"record {len(manifests)} hour(s) of {self.layout.table} as loaded ({hours}...)",
            lambda _: Change(adds=[added]),
            log_retention=log_retention,
        )
