"""Compacted days: each finished upload day's hour files rewritten once as one file.

Hours are the unit of loading: one file each, replaced whole, which keeps reloads and crashes
simple. They are a poor unit of reading. DuckDB pays for every file and every row group it opens,
so ten days of hourly files (240 files) made the analyst queries 2 to 6 times slower than a
native table, and a quiet project's hours are row groups of a few hundred rows. Once a day is
finished (all its hours loaded, past the lag and the re-check window) it is compacted into one
file with row groups of about DuckDB's own size, and readers read that file instead of its hours
(see `loader.publish`). A reload of an hour of a compacted day writes a new day file in the same
commit, and an erasure rewrites the day file without its users (`loader.privacy`); nothing else
ever rewrites a day.

Rows whose time (the table's `order` column, Amplitude's `event_time`) falls before their upload
day, late arrivals from devices that were offline, go after the others, in row groups of their
own. Put one after the other with the rest, a few late rows stretched every row group's time
range back over days, and a time filter could skip none of them; this way all but the late row
groups cover about one day. Within that, rows keep the order of the hour files.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loader.errors import LoaderError
from loader.pipeline import background
from loader.snapshot.layout import TableLayout

log = logging.getLogger(__name__)

#: DuckDB's own row-group size: one scan task per group.
ROW_GROUP_ROWS = 122_880
#: A row group is cut earlier when its rows hold this much in memory, which bounds a rebuild's
#: memory when rows are wide (the benchmark's events take about 1 KB each in Arrow, 120 MB per
#: 122,880 rows; property bags of real projects can be far larger).
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
    """Builds the compacted files of upload days of one table of one project.

    Args:
        layout: Where the table lives.
        scratch: A local folder for files being written.
        order: A UTC timestamp column: rows whose value falls before their upload day go
            last, in row groups of their own. None keeps the hours' rows as they are.
    """

    def __init__(self, layout: TableLayout, scratch: Path, order: str | None = None) -> None:
        self.layout = layout
        self.scratch = scratch
        self.order = order

    def build(self, day: date, hour_files: list[str]) -> tuple[str, int]:
        """Write one day's file from its hour files, under a new name.

        Args:
            day: The upload day.
            hour_files: Its hours' data files (relative to the lake), in hour order.

        Returns:
            The new file (relative to the lake; "" for a day without rows) and its rows.
        """
        lake = self.layout.lake
        files = [lake.join(p) for p in hour_files]
        if not files:
            return "", 0
        local = self.scratch / f"day-{uuid.uuid4().hex}.parquet"
        late = self.scratch / f"late-{uuid.uuid4().hex}.parquet"
        schema, dictionary = self._schema(day, files)
        try:
            with _RowGroups(local, schema, dictionary) as out:
                with _RowGroups(late, schema, dictionary) as late_rows:
                    for table in background(self._read(files, schema), maxsize=_READ_AHEAD):
                        early, table = self._split_late(table, day)
                        late_rows.add(early)
                        out.add(table)
                if late_rows.rows:
                    out.flush()  # the late rows' row groups hold nothing else
                    with late.open("rb") as handle:
                        for table in _tables(handle, schema):
                            out.add(table)
            rows = out.rows
        except BaseException:
            local.unlink(missing_ok=True)
            raise
        finally:
            late.unlink(missing_ok=True)
            # The pool keeps freed pages in this thread's heap, where the next window's
            # staging threads cannot reuse them: a 10-day load grew by 47% without this.
            pa.default_memory_pool().release_unused()
        target = self.layout.new_day_file(day)
        lake.put(local, lake.join(target))
        log.debug("compacted %s of %s: %d rows, %d hours", self.layout.table, day, rows, len(files))
        return target, rows

    def _read(self, files: list[str], schema: pa.Schema) -> Iterator[pa.Table]:
        """Every row of the hour files, in order, in small tables with the day's schema."""
        for path in files:
            with self.layout.lake.table_files.open(path, "rb") as handle:
                yield from _tables(handle, schema)

    def _split_late(self, table: pa.Table, day: date) -> tuple[pa.Table, pa.Table]:
        """Split rows whose time is before the upload day (late arrivals) from the others."""
        if not self.order:
            return table.slice(0, 0), table
        column = table.column(self.order)
        start = pa.scalar(datetime.combine(day, time()), column.type)
        late = pc.fill_null(pc.less(column, start), False)
        if not pc.any(late).as_py():
            return table.slice(0, 0), table
        return table.filter(late), table.filter(pc.invert(late))

    def _schema(self, day: date, files: list[str]) -> tuple[pa.Schema, list[str]]:
        """The day's schema, and the columns its newest hour file gave a dictionary.

        Hours written by two schema versions get the union of their columns.
        """
        schemas = []
        for path in files:
            with self.layout.lake.table_files.open(path, "rb") as handle:
                parquet = pq.ParquetFile(handle)
                schemas.append(parquet.schema_arrow)
                dictionary = dictionary_columns(parquet.metadata)
        if all(s.equals(schemas[0]) for s in schemas[1:]):
            return schemas[0], dictionary
        try:
            return pa.unify_schemas(schemas), dictionary
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


def dictionary_columns(metadata: pq.FileMetaData) -> list[str]:
    """The columns a Parquet file encodes with a dictionary, to write a copy the same way.

    The writer of the source file chose them by measurement (a dictionary shrinks repeated values
    and wastes time and space on unique ones); a file without row groups tells nothing: none.
    """
    if not metadata.num_row_groups:
        return []
    group = metadata.row_group(0)
    return [
        group.column(i).path_in_schema
        for i in range(group.num_columns)
        if any("DICTIONARY" in e for e in group.column(i).encodings)
    ]


class _RowGroups:
    """A Parquet file written in row groups of about `ROW_GROUP_ROWS` rows or `ROW_GROUP_BYTES`."""

    def __init__(self, path: Path, schema: pa.Schema, dictionary: list[str]) -> None:
        self.path = path
        self.schema = schema
        self.dictionary = dictionary
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = self._pending_bytes = 0

    def __enter__(self) -> _RowGroups:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.flush()
        if self._writer is not None:
            self._writer.close()

    def add(self, table: pa.Table) -> None:
        """Add rows; a row group is written once enough are pending."""
        if not table.num_rows:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self._pending_bytes += table.nbytes
        self.rows += table.num_rows
        if self._pending_rows + _READ_ROWS > ROW_GROUP_ROWS or (
            self._pending_bytes >= ROW_GROUP_BYTES
        ):
            self.flush()

    def flush(self) -> None:
        """Write the pending rows as a row group."""
        if not self._pending:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self.path, self.schema, compression="zstd", use_dictionary=self.dictionary
            )
        group = pa.concat_tables(self._pending)
        self._writer.write_table(group, row_group_size=group.num_rows)
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0


#: Tables (of `_READ_ROWS` rows) read ahead of the writer, so that decoding the hours and
#: encoding the day overlap on two cores (decoding Parquet and reading a file release the GIL).
#: Measured on a day of 3,000,000 events: 12.3 to 12.8 s without, 10.6 to 11.8 s with 4
#: (+80 MB), 8.6 to 9.5 s with 8 (+120 MB), 8.1 to 8.5 s with 16 (+200 MB).
_READ_AHEAD = 8


def _tables(handle: BinaryIO, schema: pa.Schema) -> Iterator[pa.Table]:
    """Read a Parquet file in small tables with the day's schema."""
    # One thread: pyarrow's pool still running at interpreter exit has aborted processes
    # here before (see typed_views), and the writer is the slower half anyway.
    for batch in pq.ParquetFile(handle).iter_batches(_READ_ROWS, use_threads=False):
        if batch.num_rows:
            yield pa.Table.from_batches([_conform(batch, schema)])


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
