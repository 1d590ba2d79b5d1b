"""Read copies by day: each upload day's hour files rewritten as one file of large row groups.

Hours are the unit of loading: one file each, replaced whole, which keeps reloads and crashes
simple. They are a poor unit of reading. DuckDB pays for every file and every row group it opens,
so ten days of hourly files (240 files) made the analyst queries 4 to 6 times slower than a
native table, and a quiet project's hours are row groups of a few hundred rows. Beside the hour
files the publisher therefore keeps one copy per upload day, with row groups of about DuckDB's
own size, and the catalog reads the copies.

A day's copy is rebuilt from all its hour files whenever one of them changes, under the publish
lock, and replaced in one rename: readers see a day as it was before a publish or after it,
never a mix. A copy can lag its hour files only after a crash between the two; the publisher's
journal names the hours, and recovery rebuilds their days. Days whose hour files have no copy (a
lake written before copies existed) are built on the next run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loader.errors import LoaderError
from loader.lake import TableLayout

log = logging.getLogger(__name__)

#: DuckDB's own row-group size: one scan task per group.
ROW_GROUP_ROWS = 122_880
#: A row group is cut earlier when its rows hold this much (wide rows: 3M events of 2.3 KB make
#: 280 MB per 122,880 rows), which bounds the memory of a rebuild.
ROW_GROUP_BYTES = 96 << 20
_READ_ROWS = 8_192


def days_of(hours: Iterable[datetime]) -> list[date]:
    """Return the upload days of some hours, sorted and without repeats.

    Args:
        hours: Upload hours.

    Returns:
        Their days.
    """
    return sorted({h.date() for h in hours})


class DayFiles:
    """The read copies by day of one table of one project.

    Args:
        layout: Where the table lives.
        scratch: A local folder for files being written.
    """

    def __init__(self, layout: TableLayout, scratch: Path) -> None:
        self.layout = layout
        self.scratch = scratch

    def missing(self) -> list[date]:
        """Return the days that have hour files but no copy.

        Returns:
            The days, sorted.
        """
        lake = self.layout.lake
        with_hours = {_day_of(p) for p in lake.glob(self.layout.data_glob())}
        with_copy = {_day_of(p) for p in lake.glob(self.layout.day_glob())}
        return sorted(with_hours - with_copy)

    def rebuild(self, days: Iterable[date]) -> int:
        """Rewrite the copies of some days from their hour files (a day without any is removed).

        Args:
            days: The days.

        Returns:
            Rows in the rebuilt copies.
        """
        return sum(self._rebuild(day) for day in sorted(set(days)))

    def _rebuild(self, day: date) -> int:
        lake = self.layout.lake
        target = self.layout.day_file(day)
        files = lake.glob(self.layout.hour_files_of(day))
        if not files:
            lake.delete(target)
            return 0
        local = self.scratch / f"day-{uuid.uuid4().hex}.parquet"
        schema = self._schema(day, files)
        rows = 0
        try:
            with pq.ParquetWriter(local, schema, compression="zstd") as writer:
                for group in _row_groups(self._batches(files, schema)):
                    writer.write_table(group, row_group_size=group.num_rows)
                    rows += group.num_rows
        except BaseException:
            local.unlink(missing_ok=True)
            raise
        lake.put(local, target)
        log.debug("rebuilt %s of %s: %d rows, %d hours", self.layout.table, day, rows, len(files))
        return rows

    def _schema(self, day: date, files: list[str]) -> pa.Schema:
        """One schema for the day: hours written by two schema versions get the union of columns."""
        schemas = []
        for path in files:
            with self.layout.lake.fs.open(path, "rb") as handle:
                schemas.append(pq.read_schema(handle))
        if all(s.equals(schemas[0]) for s in schemas[1:]):
            return schemas[0]
        try:
            return pa.unify_schemas(schemas)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise LoaderError(
                f"the hour files of {self.layout.table} on {day} have columns of conflicting"
                f" types and cannot be read as one day ({exc})",
                remedy=(
                    "reload the day's hours with this version: amplitude-loader backfill"
                    f" --start {day:%Y%m%d}T00 --end {day:%Y%m%d}T23 --reload"
                ),
                project=self.layout.project,
                hours=f"{day:%Y-%m-%d}T00 to T23",
            ) from exc

    def _batches(self, files: list[str], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        for path in files:
            with self.layout.lake.fs.open(path, "rb") as handle:
                # One thread: pyarrow's pool still running at interpreter exit has aborted
                # processes here before (see typed_views), and the writer is the slower half.
                for batch in pq.ParquetFile(handle).iter_batches(_READ_ROWS, use_threads=False):
                    yield _conform(batch, schema)


def _row_groups(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Group batches into tables of about `ROW_GROUP_ROWS` rows or `ROW_GROUP_BYTES` bytes."""
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows + _READ_ROWS > ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            yield pa.Table.from_batches(pending)
            pending, rows, size = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Give a batch the day's schema: columns in its order, nulls for columns it lacks."""
    if batch.schema.equals(schema):
        return batch
    columns = [
        batch.column(field.name).cast(field.type)
        if field.name in batch.schema.names
        else pa.nulls(batch.num_rows, field.type)
        for field in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _day_of(path: str) -> date:
    return date.fromisoformat(path.split("upload_date=", 1)[1][:10])
