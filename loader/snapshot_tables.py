"""Snapshots of slowly changing state (cohorts, a tracking plan): history kept, one file a table.

Each snapshot of a table is one new Parquet file (see `loader.snapshot.layout` for where), made
part of the lake by a commit of its own; every row carries `snapshot_at` and `project_id`, so
the catalog can show the history and the latest state. A snapshot log records what each run
fetched, skipped or could not fetch, and why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loader.lake import Lake
from loader.snapshot.layout import SNAPSHOT_LOG, TableLayout, part_id
from loader.snapshot.log import CommitLog
from loader.snapshot.state import with_files


def stamp(moment: datetime) -> str:
    """Format a snapshot time for paths (`20240301T101500Z`).

    Args:
        moment: An aware UTC datetime.

    Returns:
        The stamp.
    """
    return moment.strftime("%Y%m%dT%H%M%SZ")


class SnapshotWriter:
    """Writes snapshot tables and the snapshot log of one project.

    Args:
        lake: The lake.
        source: The source's name.
        project: The project id.
        snapshot_at: The snapshot's time (UTC), the same for every table of one run.
        scratch: A local folder for files in progress.
    """

    def __init__(
        self, lake: Lake, source: str, project: str, snapshot_at: datetime, scratch: Path
    ) -> None:
        self.lake = lake
        self.source = source
        self.project = project
        self.snapshot_at = snapshot_at
        self.scratch = scratch
        self.commits = CommitLog(lake)

    def layout(self, table: str) -> TableLayout:
        """Where one snapshot table of this project lives."""
        return TableLayout(self.lake, self.source, self.project, table)

    def _add(self, table: str, path: str, put: Callable[[str], None], replacing: str) -> None:
        """Put a new file into the lake and commit it to its table, in place of `replacing`.

        Both under the commit lock, so that a vacuum never takes the file for one that a crash
        left uncommitted. The files under the prefix `replacing` (this snapshot's moment) leave
        the table in the same commit: a snapshot taken again at the same moment (the demo's
        fixed clock, a retried run) replaces the first, and no key is ever current twice.
        """
        key = self.layout(table).key
        with self.commits.locked():
            put(self.lake.join(path))
            self.commits.commit(
                f"snapshot {table} of project {self.project} at {stamp(self.snapshot_at)}",
                lambda base: {key: with_files(base.table(key), [path], replacing)},
            )

    def write(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        schema: pa.Schema,
        part: tuple[str, str] | None = None,
    ) -> int:
        """Write one snapshot of a table, streaming its batches, and publish it atomically.

        `snapshot_at` and `project_id` are added to every row.

        Args:
            table: The table's name.
            batches: The rows.
            schema: Their schema (without `snapshot_at` and `project_id`).
            part: An optional (key, value) folder level.

        Returns:
            Rows written.
        """
        local, rows = self.write_local(batches, schema)
        path = self.layout(table).new_snapshot_file(stamp(self.snapshot_at), part)
        moment = path.rsplit("/", 1)[0] + "/"  # .../[part=value/]snapshot_at=<stamp>/
        self._add(table, path, lambda target: self.lake.put(local, target), moment)
        return rows

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
        full = pa.schema([("snapshot_at", pa.timestamp("us")), ("project_id", pa.int64()), *schema])
        local = self.scratch / f"snapshot-{uuid.uuid4().hex}.parquet"
        rows = 0
        naive = self.snapshot_at.replace(tzinfo=None)
        source = batches.to_batches() if isinstance(batches, pa.Table) else batches
        with pq.ParquetWriter(local, full, compression="zstd") as writer:
            for batch in source:
                n = batch.num_rows
                columns = [
                    pa.array([naive] * n, pa.timestamp("us")),
                    pa.array([int(self.project)] * n, pa.int64()),
                    *batch.columns,
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
        entry = {
            "project_id": int(self.project),
            "kind": kind,
            "snapshot_at": self.snapshot_at.isoformat(),
            **record,
        }
        moment = (
            f"{self.layout(SNAPSHOT_LOG).project_root}/{SNAPSHOT_LOG}/{kind}"
            f"/{stamp(self.snapshot_at)}-"
        )
        path = f"{moment}{part_id()}.json"
        data = json.dumps(entry, indent=1, default=str).encode()
        self._add(SNAPSHOT_LOG, path, lambda target: self.lake.write_bytes(target, data), moment)
