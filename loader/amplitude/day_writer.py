"""Whole finished days of a backfill, each written as one file: every row encoded once.

An hourly load writes an hour's file, and Delta's compaction writes the finished day again as
one file: two encodes of every row, and the hour files written to the lake for nothing. A
backfill of days that are already finished needs neither: when an export window holds every
hour of a finished day, the day's hours go, in hour order, into one file of row groups of the
hours' own rows (each sorted by `event_time`), which is published as the day's only file.
Each hour's manifest counts its share of the file's bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loader.amplitude.schema import dictionary_columns
from loader.delta.maintenance import ROW_GROUP_ROWS
from loader.manifest import HourManifest


@dataclass
class _Day:
    """One day's file while its hours come in."""

    path: Path
    writer: pq.ParquetWriter | None = None
    rows: int = 0
    manifests: list[HourManifest] = field(default_factory=list)


class DayFileWriter:
    """Writes the hours of some days into one file per day.

    Args:
        scratch: A local folder for the files.
        days: The days written whole (every hour in the window, the day finished).
    """

    def __init__(self, scratch: Path, days: Collection[date]) -> None:
        self.scratch = scratch
        self.days = frozenset(days)
        self._open: dict[date, _Day] = {}

    def wants(self, hour: datetime) -> bool:
        """Whether an hour's rows go into its day's file."""
        return hour.date() in self.days

    def _day(self, hour: datetime) -> _Day:
        day = hour.date()
        if day not in self._open:
            self._open[day] = _Day(self.scratch / f"day-{uuid.uuid4().hex}.parquet")
        return self._open[day]

    def add(self, hour: datetime, table: pa.Table) -> Path:
        """Append an hour's rows (sorted, typed as the lake types them) to its day's file."""
        day = self._day(hour)
        if day.writer is None:
            day.writer = pq.ParquetWriter(
                day.path,
                table.schema,
                compression="zstd",
                use_dictionary=dictionary_columns(table.column_names),
            )
        elif not table.schema.equals(day.writer.schema):
            table = table.cast(day.writer.schema)  # a spilled hour, written by DuckDB
        day.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        day.rows += table.num_rows
        return day.path

    def add_file(self, hour: datetime, path: Path) -> Path:
        """Append an hour written to a file of its own (an hour too big for memory)."""
        parquet = pq.ParquetFile(path)
        target = self._day(hour).path
        for group in range(parquet.num_row_groups):
            target = self.add(hour, parquet.read_row_group(group, use_threads=False))
        path.unlink(missing_ok=True)
        return target

    def count(self, hour: datetime, manifest: HourManifest) -> None:
        """Give an hour's manifest its share of the day file's bytes once the file is done."""
        if self.wants(hour) and manifest.rows:
            self._day(hour).manifests.append(manifest)

    def close(self) -> None:
        """Finish every day's file."""
        for day in self._open.values():
            if day.writer is not None:
                day.writer.close()
            size = day.path.stat().st_size if day.path.exists() else 0
            for manifest in day.manifests:
                manifest.bytes_parquet = round(size * manifest.rows / day.rows) if day.rows else 0
        self._open.clear()
