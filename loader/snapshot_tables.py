"""Snapshots of slowly changing state (cohorts, a tracking plan): history kept, Delta tables.

Each snapshot of a table is one new Parquet file, added by a commit of its own to the table's
Delta table; every row carries `snapshot_at` and `project_id`, so the catalog can show the
history and the latest state. A snapshot taken again at the same moment (a fixed clock, a
retried run) replaces the first in the same commit, so no key is ever current twice. The
snapshot log table records what each run fetched, skipped or could not fetch, and why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from loader.delta.commit import Change, commit
from loader.delta.files import add_file, removal
from loader.delta.rewrite import live_files
from loader.delta.tables import DeltaTables, TableSpec
from loader.lake import Lake
from loader.snapshot.layout import SNAPSHOT_LOG, TableLayout

_UTC = pa.timestamp("us", tz="UTC")
SNAPSHOT_LOG_SCHEMA = pa.schema(
    [
        ("project_id", pa.int64()),
        ("kind", pa.string()),
        ("snapshot_at", _UTC),
        ("report", pa.string()),  # JSON
        ("rows", pa.int64()),
        ("api_version", pa.int32()),
    ]
)


def stamp(moment: datetime) -> str:
    """Format a snapshot time for names (`20240301T101500Z`).

    Args:
        moment: An aware UTC datetime.

    Returns:
        The stamp.
    """
    return moment.strftime("%Y%m%dT%H%M%SZ")


def lake_schema(schema: pa.Schema) -> pa.Schema:
    """A schema as the lake's files type it: times UTC, JSON as text.

    The times' values are UTC already. Delta has no JSON type, and a reader that checks the
    files' types against the table's (Polars) refuses Arrow's JSON extension.
    """
    return pa.schema([pa.field(f.name, lake_type(f.type), f.nullable) for f in schema])


def lake_type(kind: pa.DataType) -> pa.DataType:
    """One column's type as the lake's files type it (see `lake_schema`)."""
    if pa.types.is_timestamp(kind) and kind.tz is None:
        return _UTC
    if getattr(kind, "extension_name", None) == "arrow.json":
        return pa.string()
    return kind


def snapshot_spec(schema: pa.Schema, part: str | None = None) -> TableSpec:
    """A snapshot table: `snapshot_at` and `project_id`, then its rows' columns (times UTC).

    Args:
        schema: The rows' columns.
        part: A column each snapshot file holds one value of (a cohort's id), if any.
    """
    full = pa.schema([("snapshot_at", _UTC), ("project_id", pa.int64()), *lake_schema(schema)])
    return TableSpec(full, stats=("snapshot_at", *((part,) if part else ())))


class SnapshotWriter:
    """Writes snapshot tables and the snapshot log of one project.

    Args:
        lake: The lake.
        source: The source's name.
        project: The project id.
        snapshot_at: The snapshot's time (UTC), the same for every table of one run.
        scratch: A local folder for files in progress.
        log_retention: The Delta log's retention (a new table's property).
    """

    def __init__(
        self,
        lake: Lake,
        source: str,
        project: str,
        snapshot_at: datetime,
        scratch: Path,
        *,
        log_retention: timedelta = timedelta(days=7),
    ) -> None:
        self.lake = lake
        self.source = source
        self.project = project
        self.snapshot_at = snapshot_at.astimezone(UTC)
        self.scratch = scratch
        self.log_retention = log_retention
        self.tables = DeltaTables(lake)

    def layout(self, table: str) -> TableLayout:
        """Where one snapshot table of this project lives."""
        return TableLayout(self.lake, self.source, self.project, table)

    def write(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        schema: pa.Schema,
        part: tuple[str, str] | None = None,
    ) -> int:
        """Write one snapshot of a table, streaming its batches, and commit it.

        `snapshot_at` and `project_id` are added to every row.

        Args:
            table: The table's name.
            batches: The rows.
            schema: Their schema (without `snapshot_at` and `project_id`).
            part: A (column, value) every row has (one cohort's members): the snapshot at this
                moment of that value alone is replaced.

        Returns:
            Rows written.
        """
        spec = snapshot_spec(schema, part[0] if part else None)
        local, rows = self.write_local(batches, schema)
        self.commit_file(table, spec, local, part)
        return rows

    def commit_file(
        self,
        table: str,
        spec: TableSpec,
        local: Path,
        part: tuple[str, str] | None = None,
        *,
        replace: bool = True,
    ) -> int | None:
        """Commit a local file as this moment's snapshot of a table.

        Args:
            table: The table's name.
            spec: What the table is.
            local: The file, on local disk.
            part: The (column, value) every row has, if any.
            replace: The table's snapshot at this moment (of that value) leaves it; a record
                table (the privacy requests) keeps every file.

        Returns:
            The table's version committed.
        """
        key = self.layout(table).key
        added = add_file(self.tables, key, spec, local)
        moment = self.snapshot_at

        def change(current: DeltaTable | None) -> Change:
            removes = []
            held = live_files(current, "snapshot_at") if current is not None and replace else []
            for file in held:
                if file.low != moment or file.high != moment:
                    continue
                if (
                    part is not None
                    and current is not None
                    and not _holds_only(current, file.path, part)
                ):
                    continue
                removes.append(removal(file.path, file.size, file.partition))
            return Change(adds=[added], removes=removes)

        return commit(
            self.tables,
            key,
            spec,
            f"snapshot {table} of project {self.project} at {stamp(moment)}",
            change,
            log_retention=self.log_retention,
        )

    def write_local(
        self, batches: Iterable[pa.RecordBatch] | pa.Table, schema: pa.Schema
    ) -> tuple[Path, int]:
        """Write rows to a local Parquet file, with `snapshot_at` and `project_id` added.

        Args:
            batches: The rows.
            schema: Their schema (without `snapshot_at` and `project_id`).

        Returns:
            The file and its rows.
        """
        full = snapshot_spec(schema).schema
        local = self.scratch / f"snapshot-{uuid.uuid4().hex}.parquet"
        rows = 0
        source = batches.to_batches() if isinstance(batches, pa.Table) else batches
        with pq.ParquetWriter(local, full, compression="zstd") as writer:
            for batch in source:
                n = batch.num_rows
                columns = [
                    pa.array([self.snapshot_at] * n, _UTC),
                    pa.array([int(self.project)] * n, pa.int64()),
                    *(c.cast(f.type) for c, f in zip(batch.columns, list(full)[2:], strict=True)),
                ]
                writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=full))
                rows += n
        return local, rows

    def log(self, kind: str, record: dict[str, Any]) -> None:
        """Record what a snapshot of one kind did, in the lake's snapshot log.

        Args:
            kind: What was snapshotted (`cohorts`, `taxonomy`, ...).
            record: What happened: counts, what was skipped and why, availability.
        """
        rest = {k: v for k, v in record.items() if k not in ("rows", "api_version", "report")}
        report = record.get("report", rest or None)
        row = {
            "project_id": int(self.project),
            "kind": kind,
            "snapshot_at": self.snapshot_at,
            "report": None if report is None else json.dumps(report, default=str),
            "rows": record.get("rows"),
            "api_version": record.get("api_version"),
        }
        local = self.scratch / f"snapshot-log-{uuid.uuid4().hex}.parquet"
        pq.write_table(pa.Table.from_pylist([row], SNAPSHOT_LOG_SCHEMA), local, compression="zstd")
        spec = TableSpec(SNAPSHOT_LOG_SCHEMA, stats=("snapshot_at", "kind"))
        self.commit_file(SNAPSHOT_LOG, spec, local, ("kind", kind))


def _holds_only(table: DeltaTable, path: str, part: tuple[str, str]) -> bool:
    """Whether a file's statistics say every row has the part's value."""
    actions = pa.table(table.get_add_actions(flatten=True))
    low, high = f"min.{part[0]}", f"max.{part[0]}"
    if low not in actions.column_names:
        return False
    for row in actions.select(["path", low, high]).to_pylist():
        if row["path"] == path:
            return bool(row[low] == part[1] == row[high])
    return False
